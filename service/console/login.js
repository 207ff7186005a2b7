// Sign in with a username and password (the API sets the session cookie).

import { post } from './api.js';
import { errorBox, h, replace } from './dom.js';

export function loginView(el, onSignedIn) {
  const message = h('div', { class: 'form-message' });
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card login', id: 'login-form' },
    h('h1', {}, 'Sign in to runstream'),
    h('label', {}, 'Username', username),
    h('label', {}, 'Password', password),
    button, message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    replace(message);
    try {
      await post('/api/v1/auth/login', { username: username.value, password: password.value });
      await onSignedIn();
    } catch (err) {
      replace(message, errorBox(err));
      button.disabled = false;
    }
  });
  replace(el, form);
  username.focus();
  return null;
}
