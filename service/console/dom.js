// Small DOM helpers: build elements, format values, show JSON and errors.

/** h('div', {class: 'x', onclick: fn}, 'text', child) — children may be nested arrays. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'style' && typeof value === 'object') {
      // CSSOM, not a style attribute: the CSP forbids inline style attributes.
      Object.assign(el.style, value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value') {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const shortId = (id) => (id ? String(id).slice(0, 8) : '');

export function fmtTime(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { hour12: false });
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function between(startIso, endIso) {
  if (!startIso) return null;
  const end = endIso ? Date.parse(endIso) : Date.now();
  return end - Date.parse(startIso);
}

export function badge(status) {
  return h('span', { class: `badge status-${status || 'unknown'}`, dataset: { status: status || '' } }, status || '—');
}

const COLLAPSE_CHARS = 400;
const COLLAPSE_LINES = 12;

/** JSON in a <pre>; large values start collapsed behind a <details>. */
export function jsonView(value, label = 'value') {
  if (value === undefined) return h('span', { class: 'muted' }, '—');
  const text = JSON.stringify(value, null, 2);
  const pre = h('pre', { class: 'json' }, text);
  if (text.length <= COLLAPSE_CHARS && text.split('\n').length <= COLLAPSE_LINES) return pre;
  return h('details', { class: 'json-large' },
    h('summary', {}, `${label}: ${text.length.toLocaleString()} characters — show`), pre);
}

/** One line of JSON, cut to `max` characters, opening to the full value. */
export function compactJson(value, max = 60) {
  const line = JSON.stringify(value);
  if (line.length <= max) return h('code', { class: 'json-line' }, line);
  return h('details', { class: 'json-large' },
    h('summary', { class: 'mono' }, `${line.slice(0, max)}…`), h('pre', { class: 'json' }, JSON.stringify(value, null, 2)));
}

export function errorBox(err) {
  const message = err && err.message ? err.message : String(err);
  const status = err && err.status ? ` (${err.status})` : '';
  return h('div', { class: 'error', role: 'alert' }, message + status);
}

/** Run `fn` at most once per `ms`, after the last call (trailing debounce). */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function parseHashQuery(query) {
  return Object.fromEntries(new URLSearchParams(query || ''));
}

/** Inputs must be a JSON object; returns [value, problem]. */
export function parseInputs(text) {
  if (!text.trim()) return [{}, null];
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return [null, `Not valid JSON: ${err.message}`];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [null, 'Inputs must be a JSON object, like {"name": "value"}'];
  }
  return [value, null];
}
