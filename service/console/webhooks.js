// A workflow's webhooks, on its page: each one's URL, how deliveries are authenticated,
// its response mode, whether it is enabled, and its last deliveries with their outcome;
// editors of the workspace create, enable, disable and delete them (everyone else reads).

import { del, get, patch, post, qs } from './api.js';
import { errorBox, fmtTime, h, replace, shortId } from './dom.js';
import { ROLE, TRIGGER, WEBHOOK } from './vocabulary.js';

const REFRESH_MS = 15000;
const LAST_DELIVERIES = 5;

/** The absolute address a sender posts to. */
const hookUrl = (webhook) => new URL(webhook.url, location.origin).href;

function authText(webhook) {
  if (webhook.auth === WEBHOOK.AUTH.HMAC && webhook.hmac) {
    const m = webhook.hmac;
    return `hmac ${m.algorithm} ${m.format} in ${m.header} · secret ${m.secret}`;
  }
  if (webhook.auth === WEBHOOK.AUTH.TOKEN && webhook.token) {
    return `token in ${webhook.token.header} · secret ${webhook.token.secret}`;
  }
  return `${webhook.auth}: anyone with the URL`;
}

function deliveriesList(deliveries) {
  if (deliveries === undefined) return h('span', { class: 'muted' }, '…');
  if (deliveries === null) return h('span', { class: 'muted' }, 'shown to editors');
  if (!deliveries.length) return h('span', { class: 'muted' }, 'none yet');
  return h('ul', { class: 'plain-list deliveries' }, deliveries.map((d) => h('li', {
    dataset: { deliveryId: d.id, status: d.status, signature: d.signature },
  },
  h('span', { class: `badge ${d.status < 300 ? 'status-completed' : 'status-failed'}` }, String(d.status)), ' ',
  h('span', { class: 'small delivery-signature' }, d.signature), ' ',
  d.runId ? h('a', { href: `#/runs/${d.runId}`, class: 'mono' }, shortId(d.runId)) : h('span', { class: 'muted small' }, 'no run'),
  d.repeat ? h('span', { class: 'muted small' }, ' (repeat)') : null,
  h('span', { class: 'muted small' }, ` ${d.method} ${fmtTime(d.receivedAt)}`),
  d.message ? h('div', { class: 'muted small delivery-message' }, d.message) : null)));
}

function createForm(workflow, onCreated) {
  const choice = (name, id, words, chosen) => h('select', { name, id },
    words.map((word) => h('option', { value: word, selected: word === chosen }, word)));
  const D = WEBHOOK.DEFAULT;
  const auth = choice('auth', 'webhook-auth', Object.values(WEBHOOK.AUTH), WEBHOOK.AUTH.HMAC);
  const mode = choice('responseMode', 'webhook-mode', WEBHOOK.RESPONSE_MODES, D.responseMode);
  const secrets = h('datalist', { id: 'webhook-secrets' });
  const secret = h('input', { name: 'secret', id: 'webhook-secret', list: 'webhook-secrets', placeholder: 'a workspace secret', autocomplete: 'off' });
  const format = choice('format', 'webhook-format', Object.values(WEBHOOK.FORMAT), D.hmac.format);
  const header = h('input', { name: 'header', id: 'webhook-header', placeholder: D.hmac.header });
  const prefix = h('input', { name: 'prefix', id: 'webhook-prefix', value: D.hmac.prefix });
  const idempotency = h('input', { name: 'idempotencyHeader', id: 'webhook-idempotency', placeholder: 'e.g. X-GitHub-Delivery' });
  const methods = WEBHOOK.METHODS.map((method) => h('input', {
    type: 'checkbox', name: 'methods', value: method, checked: D.methods.includes(method), dataset: { method },
  }));
  const enabled = h('input', { type: 'checkbox', name: 'enabled', id: 'webhook-enabled', checked: true });
  const hmacOnly = [h('label', {}, 'Format', format), h('label', {}, 'Prefix', prefix)];
  const credentials = h('div', { class: 'schedule-fields webhook-credentials' },
    h('label', {}, 'Secret', secret, secrets), h('label', {}, 'Header', header), hmacOnly);
  // The header and prefix left as they are take the API's defaults for what is chosen.
  let prefixTouched = false;
  prefix.addEventListener('input', () => { prefixTouched = true; });
  const fit = () => {
    const kind = auth.value;
    credentials.hidden = kind === WEBHOOK.AUTH.NONE;
    for (const el of hmacOnly) el.hidden = kind !== WEBHOOK.AUTH.HMAC;
    const stripe = format.value === WEBHOOK.FORMAT.STRIPE;
    header.placeholder = kind === WEBHOOK.AUTH.TOKEN ? D.token.header : (stripe ? D.stripe.header : D.hmac.header);
    if (!prefixTouched) prefix.value = stripe ? D.stripe.prefix : D.hmac.prefix;
  };
  auth.addEventListener('change', fit);
  format.addEventListener('change', fit);
  fit();
  get(`/api/v1/workspaces/${encodeURIComponent(workflow.workspaceId)}/secrets`)
    .then(({ data }) => replace(secrets, data.map((s) => h('option', { value: s.name }))))
    .catch(() => {});
  const problem = h('div', { class: 'form-message', id: 'webhook-problem' });
  const button = h('button', { type: 'submit', id: 'add-webhook' }, 'Add webhook');
  const form = h('form', { class: 'schedule-form', id: 'webhook-form' },
    h('div', { class: 'schedule-fields' },
      h('label', {}, 'Authentication', auth), h('label', {}, 'Response', mode),
      h('label', {}, 'Idempotency header', idempotency),
      h('span', { class: 'methods' }, 'Methods', methods.map((box) => h('label', { class: 'checkbox' }, h('span', {}, box.value), box))),
      h('label', { class: 'checkbox' }, h('span', {}, 'Enabled'), enabled)),
    credentials,
    h('p', { class: 'muted small' }, 'HMAC and token webhooks name a workspace secret (set on the workspace\'s page); its value never leaves the server.'),
    button, problem);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      auth: auth.value, responseMode: mode.value, enabled: enabled.checked,
      methods: methods.filter((box) => box.checked).map((box) => box.value),
    };
    if (idempotency.value.trim()) body.idempotencyHeader = idempotency.value.trim();
    if (auth.value !== WEBHOOK.AUTH.NONE) {
      const settings = { secret: secret.value.trim() };
      if (header.value.trim()) settings.header = header.value.trim();
      if (auth.value === WEBHOOK.AUTH.HMAC) {
        settings.format = format.value;
        if (prefix.value || format.value !== WEBHOOK.FORMAT.STRIPE) settings.prefix = prefix.value;
      }
      body[auth.value] = settings;
    }
    button.disabled = true;
    try {
      const { data } = await post(`/api/v1/workflows/${workflow.id}/webhooks`, body);
      replace(problem);
      await onCreated(data);
    } catch (err) {
      replace(problem, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/**
 * The Webhooks card of one workflow; `close()` stops its refreshing. Editors (and admins)
 * of the workflow's workspace get the form and the buttons; the API checks the role again.
 */
export function webhooksCard(workflow, session) {
  const base = `/api/v1/workflows/${workflow.id}/webhooks`;
  const canEdit = session.can(workflow.workspaceId, ROLE.EDITOR);
  const list = h('div', { id: 'webhooks' });
  const message = h('div', { class: 'form-message', id: 'webhooks-message' });
  const created = h('div', { id: 'webhook-created' });
  const confirming = new Set();
  let shown = [];
  const deliveries = new Map();

  const act = async (work) => {
    try { await work(); replace(message); } catch (err) { replace(message, errorBox(err)); }
    await load();
  };

  const actions = (webhook) => {
    const toggle = h('button', {
      type: 'button', class: 'secondary toggle-webhook',
      onclick: () => act(() => patch(`${base}/${webhook.id}`, { enabled: !webhook.enabled })),
    }, webhook.enabled ? 'Disable' : 'Enable');
    if (!confirming.has(webhook.id)) {
      return [toggle, ' ', h('button', {
        type: 'button', class: 'danger delete-webhook',
        onclick: () => { confirming.add(webhook.id); render(); },
      }, 'Delete')];
    }
    return [toggle, ' ', h('button', {
      type: 'button', class: 'danger confirm-delete',
      onclick: () => { confirming.delete(webhook.id); act(() => del(`${base}/${webhook.id}`)); },
    }, 'Delete for good'), ' ', h('button', {
      type: 'button', class: 'secondary keep-webhook',
      onclick: () => { confirming.delete(webhook.id); render(); },
    }, 'Keep')];
  };

  function render() {
    if (!shown.length) {
      replace(list, h('p', { class: 'muted', id: 'no-webhooks' }, 'No webhooks: nothing outside starts this workflow.'));
      return;
    }
    const head = ['URL', 'Authentication', 'Response', 'Last deliveries', 'State'];
    replace(list, h('table', { id: 'webhooks-table' },
      h('thead', {}, h('tr', {}, [...head, ...(canEdit ? [''] : [])].map((t) => h('th', {}, t)))),
      h('tbody', {}, shown.map((w) => h('tr', { dataset: { webhookId: w.id, enabled: String(w.enabled) } },
        h('td', { class: 'webhook-url' }, h('code', { class: 'json-line' }, hookUrl(w)),
          h('div', {}, h('a', { class: 'small all-runs', href: `#/runs${qs({ triggeredBy: TRIGGER.WEBHOOK, triggerId: w.id })}` }, 'all its runs'))),
        h('td', { class: 'webhook-auth small' }, authText(w)),
        h('td', { class: 'small' }, w.responseMode),
        h('td', { class: 'webhook-deliveries' }, deliveriesList(deliveries.get(w.id))),
        h('td', { class: 'webhook-state' }, h('span', { class: `badge ${w.enabled ? 'schedule-enabled' : 'schedule-paused'}` },
          w.enabled ? 'enabled' : 'disabled')),
        canEdit ? h('td', { class: 'schedule-actions' }, actions(w)) : null)))));
  }

  async function load() {
    try {
      shown = (await get(base)).data;
      // The API shows deliveries to editors only (they carry what senders sent).
      await Promise.all(shown.map(async (w) => {
        if (!canEdit) { deliveries.set(w.id, null); return; }
        try {
          deliveries.set(w.id, (await get(`${base}/${w.id}/deliveries${qs({ limit: LAST_DELIVERIES })}`)).data);
        } catch { deliveries.delete(w.id); }
      }));
      render();
    } catch (err) {
      replace(list, errorBox(err));
    }
  }

  const onCreated = async (webhook) => {
    replace(created, h('div', { class: 'ok', id: 'webhook-made' }, 'Send deliveries to ', h('code', {}, hookUrl(webhook))));
    await load();
  };

  const el = h('section', { class: 'card', id: 'webhooks-card' }, h('h2', {}, 'Webhooks'), list, message, created,
    canEdit ? h('details', { class: 'new-schedule' }, h('summary', {}, 'New webhook'), createForm(workflow, onCreated))
      : h('p', { class: 'muted' }, 'Adding, disabling and deleting webhooks needs the editor role in this workspace.'));
  load();
  const timer = setInterval(load, REFRESH_MS);
  return { el, close: () => clearInterval(timer) };
}
