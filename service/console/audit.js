// Audit (administrators): verify the hash chain, and read raw events with positions and
// hashes — one run's, or the whole log page by page.

import { get, qs, runEvents } from './api.js';
import { compactJson, errorBox, fmtTime, h, replace } from './dom.js';
import { navigate } from './app.js';
import { checkpointPanel } from './checkpoints.js';

const PAGE = 100;

function verifyPanel() {
  const result = h('div', { id: 'verify-result' });
  const button = h('button', { type: 'button', id: 'verify-chain' }, 'Verify the chain');
  button.addEventListener('click', async () => {
    button.disabled = true;
    replace(result, h('p', { class: 'muted' }, 'Verifying…'));
    try {
      const { data } = await get('/api/v1/audit/verify');
      replace(result, data.ok
        ? h('div', { class: 'ok', dataset: { ok: 'true' } },
          h('strong', {}, '✓ The chain holds. '), `${data.checked} events checked, head at position ${data.head}.`,
          data.headHash ? h('div', { class: 'mono small' }, 'Head hash (keep it to detect truncation): ', data.headHash) : null,
          h('div', { class: 'muted small' }, `Verified ${fmtTime(data.verifiedAt)}`))
        : h('div', { class: 'error', role: 'alert', dataset: { ok: 'false' } },
          h('strong', {}, '✗ The chain is broken '), `at position ${data.firstBadPosition}: ${data.reason}. `,
          `${data.checked} events checked before it.`));
    } catch (err) {
      replace(result, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  setTimeout(() => button.click(), 0);
  return h('section', { class: 'card' }, h('h2', {}, 'Hash chain'), button, result);
}

function eventsTable(events) {
  if (!events.length) return h('p', { class: 'muted' }, 'No events.');
  return h('table', { class: 'events', id: 'events-table' },
    h('thead', {}, h('tr', {}, ['Position', 'Stream', 'Version', 'Type', 'Recorded', 'Data', 'Previous hash', 'Hash'].map((t) => h('th', {}, t)))),
    h('tbody', {}, events.map((e) => h('tr', { dataset: { position: e.position } },
      h('td', { class: 'mono' }, String(e.position)),
      h('td', { class: 'mono' }, h('a', { href: `#/audit/${e.stream}` }, e.stream.slice(0, 8))),
      h('td', {}, String(e.version)),
      h('td', {}, e.type),
      h('td', {}, fmtTime(e.recordedAt)),
      h('td', { class: 'event-data' }, compactJson(e.data)),
      h('td', { class: 'mono hash', title: e.prevHash }, e.prevHash.slice(0, 16) + '…'),
      h('td', { class: 'mono hash', title: e.hash }, e.hash.slice(0, 16) + '…')))));
}

export function auditView(runId, query) {
  return async (el, session) => {
    if (!session.me.isAdmin) {
      replace(el, errorBox({ message: 'The audit view is for administrators.', status: 403 }));
      return null;
    }
    const runInput = h('input', { name: 'runId', placeholder: 'Run id (empty: the whole log)', value: runId, size: 40 });
    const form = h('form', { class: 'inline-form' }, runInput, h('button', { type: 'submit' }, 'Show events'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      navigate(runInput.value.trim() ? `#/audit/${runInput.value.trim()}` : '#/audit');
    });
    const box = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
    replace(el, h('div', { class: 'page-head' }, h('h1', {}, 'Audit')), verifyPanel(), checkpointPanel(),
      h('section', { class: 'card' }, h('h2', {}, runId ? 'Raw events of one run' : 'The whole log'), form,
        runId ? h('p', {}, h('a', { href: `#/runs/${runId}` }, 'Open the run view')) : null, box));
    try {
      if (runId) {
        replace(box, eventsTable(await runEvents(runId)));
      } else {
        const after = Number(query.after || 0);
        const { data, headers } = await get(`/api/v1/events${qs({ after, limit: PAGE })}`);
        const next = headers.get('X-Next-After');
        replace(box, eventsTable(data), h('div', { class: 'pager' },
          after > 0 ? h('a', { class: 'button secondary', href: `#/audit${qs({ after: Math.max(0, after - PAGE) })}` }, '← Earlier') : null,
          data.length === PAGE ? h('a', { class: 'button secondary', href: `#/audit${qs({ after: next })}` }, 'Later →') : null));
      }
    } catch (err) {
      replace(box, errorBox(err));
    }
    return null;
  };
}
