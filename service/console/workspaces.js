// Workspaces: the list of the caller's workspaces, and one workspace's settings: its members
// (admins add them, change their roles and remove them), its secrets (editors and admins
// set and delete them; their values are never read back) and its retention (the policy in
// force and what retention last pruned, for every member).

import { del, get, post, put, qs } from './api.js';
import { errorBox, fmtTime, h, replace, shortId } from './dom.js';
import { LIMITS, ROLE, ROLE_RANK } from './vocabulary.js';

const ROLES = Object.keys(ROLE_RANK); // lowest first

export function workspacesView() {
  return async (el) => {
    const { data } = await get(`/api/v1/workspaces${qs({ limit: LIMITS.MAX_PAGE_LIMIT })}`);
    replace(el, h('div', { class: 'page-head' }, h('h1', {}, 'Workspaces')),
      h('section', { class: 'card' }, h('table', { id: 'workspaces-table' },
        h('thead', {}, h('tr', {}, ['Name', 'Id', 'Your role', 'Created'].map((t) => h('th', {}, t)))),
        h('tbody', {}, data.map((ws) => h('tr', { dataset: { workspaceId: ws.id } },
          h('td', {}, h('a', { href: `#/workspaces/${encodeURIComponent(ws.id)}` }, ws.name)),
          h('td', { class: 'mono' }, ws.id.length > 12 ? shortId(ws.id) : ws.id),
          h('td', {}, ws.role), h('td', {}, fmtTime(ws.createdAt))))))));
    return null;
  };
}

/** A button that asks once more before `action` ("… for good" or "Keep"). */
function confirmButton(label, action) {
  const ask = h('button', { type: 'button', class: 'danger ask' }, label);
  const sure = h('button', { type: 'button', class: 'danger confirm', hidden: true }, `${label} for good`);
  const keep = h('button', { type: 'button', class: 'secondary keep', hidden: true }, 'Keep');
  const show = (asking) => { ask.hidden = asking; sure.hidden = !asking; keep.hidden = !asking; };
  ask.addEventListener('click', () => show(true));
  keep.addEventListener('click', () => show(false));
  sure.addEventListener('click', () => { show(false); action(); });
  return h('span', { class: 'confirm-button' }, ask, sure, ' ', keep);
}

function membersCard(workspaceId, session) {
  const base = `/api/v1/workspaces/${encodeURIComponent(workspaceId)}/members`;
  const isAdmin = session.can(workspaceId, ROLE.ADMIN);
  const list = h('div', { id: 'members' });
  const message = h('div', { class: 'form-message', id: 'members-message' });
  const act = async (work) => {
    try { await work(); replace(message); } catch (err) { replace(message, errorBox(err)); }
    await load();
  };
  const roleSelect = (chosen, attrs = {}) => h('select', { name: 'role', ...attrs },
    ROLES.map((role) => h('option', { value: role, selected: role === chosen }, role)));
  async function load() {
    try {
      const { data, pagination } = await get(`${base}${qs({ limit: LIMITS.MAX_PAGE_LIMIT })}`);
      replace(list, h('table', { id: 'members-table' },
        h('thead', {}, h('tr', {}, ['User', 'Role', ...(isAdmin ? [''] : [])].map((t) => h('th', {}, t)))),
        h('tbody', {}, data.map((m) => h('tr', { dataset: { userId: m.userId, username: m.username, role: m.role } },
          h('td', {}, m.username, m.userId === session.me.id ? h('span', { class: 'muted' }, ' (you)') : null),
          h('td', { class: 'member-role' }, isAdmin
            ? roleSelect(m.role, { class: 'change-role', onchange: (event) => act(() => post(base, { userId: m.userId, role: event.target.value })) })
            : m.role),
          isAdmin ? h('td', {}, confirmButton('Remove', () => act(() => del(`${base}/${m.userId}`)))) : null)))),
      pagination && pagination.totalPages > 1 ? h('p', { class: 'muted' }, `The first ${data.length} of ${pagination.total} members.`) : null);
    } catch (err) {
      replace(list, errorBox(err));
    }
  }
  let form = null;
  if (isAdmin) {
    const username = h('input', { name: 'username', id: 'member-username', required: true, placeholder: 'username' });
    const role = roleSelect(ROLE.VIEWER, { id: 'member-role' });
    form = h('form', { class: 'inline-form', id: 'member-form' }, username, role,
      h('button', { type: 'submit', id: 'add-member' }, 'Add member'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      act(async () => { await post(base, { username: username.value.trim(), role: role.value }); username.value = ''; });
    });
  }
  load();
  return h('section', { class: 'card', id: 'members-card' }, h('h2', {}, 'Members'), list, message,
    form || h('p', { class: 'muted' }, 'Adding and removing members needs the admin role in this workspace.'));
}

function secretsCard(workspaceId, session) {
  const base = `/api/v1/workspaces/${encodeURIComponent(workspaceId)}/secrets`;
  if (!session.can(workspaceId, ROLE.EDITOR)) {
    return h('section', { class: 'card', id: 'secrets-card' }, h('h2', {}, 'Secrets'),
      h('p', { class: 'muted' }, 'Secrets are shown to editors and admins of this workspace.'));
  }
  const list = h('div', { id: 'secrets' });
  const message = h('div', { class: 'form-message', id: 'secrets-message' });
  const act = async (work) => {
    try { await work(); replace(message); } catch (err) { replace(message, errorBox(err)); }
    await load();
  };
  async function load() {
    try {
      const { data } = await get(base);
      replace(list, data.length
        ? h('table', { id: 'secrets-table' },
          h('thead', {}, h('tr', {}, ['Name', 'Used as', 'Updated', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, data.map((s) => h('tr', { dataset: { name: s.name } },
            h('td', { class: 'mono' }, s.name), h('td', { class: 'mono muted' }, `{{secrets.${s.name}}}`),
            h('td', {}, fmtTime(s.updatedAt)),
            h('td', {}, confirmButton('Delete', () => act(() => del(`${base}/${encodeURIComponent(s.name)}`))))))))
        : h('p', { class: 'muted', id: 'no-secrets' }, 'No secrets yet.'));
    } catch (err) {
      replace(list, errorBox(err));
    }
  }
  const name = h('input', { name: 'name', id: 'secret-name', required: true, placeholder: 'NAME', autocomplete: 'off' });
  const value = h('input', { name: 'value', id: 'secret-value', type: 'password', required: true, placeholder: 'value (never shown again)', autocomplete: 'new-password' });
  const form = h('form', { class: 'inline-form', id: 'secret-form' }, name, value,
    h('button', { type: 'submit', id: 'set-secret' }, 'Set secret'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      await put(`${base}/${encodeURIComponent(name.value.trim())}`, { value: value.value });
      name.value = '';
      value.value = '';
    });
  });
  load();
  return h('section', { class: 'card', id: 'secrets-card' }, h('h2', {}, 'Secrets'),
    h('p', { class: 'muted small' }, 'Read by {{secrets.NAME}} in node params and by signed webhooks; stored encrypted, their values never leave the server.'),
    list, message, form);
}

const RETENTION_LIMITS = [
  ['maxAgeDays', 'Runs finished longer ago than', (v) => `${v.toLocaleString()} days`],
  ['maxRuns', 'Runs kept at most', (v) => v.toLocaleString()],
  ['maxBytes', 'Event data kept at most', (v) => `${v.toLocaleString()} bytes`],
];

function retentionCard(workspaceId) {
  const body = h('div', { id: 'retention' });
  (async () => {
    try {
      const { data } = await get(`/api/v1/workspaces/${encodeURIComponent(workspaceId)}/retention`);
      const last = data.lastPruned;
      replace(body,
        h('p', { id: 'retention-source', dataset: { source: data.source } }, data.source === 'workspace'
          ? 'This workspace\'s own policy.' : 'The service-wide default (this workspace has no policy of its own).'),
        h('table', { id: 'retention-table' }, h('tbody', {}, RETENTION_LIMITS.map(([key, label, show]) =>
          h('tr', { dataset: { limit: key } }, h('th', {}, label),
            h('td', {}, data[key] === null ? h('span', { class: 'muted' }, 'no limit') : show(data[key])))))),
        last
          ? h('p', { id: 'retention-last', dataset: { position: String(last.position) } },
            `Last pruned ${fmtTime(last.prunedAt)}: ${last.runs.toLocaleString()} runs, `,
            `${last.events.toLocaleString()} events, archived in `, h('span', { class: 'mono' }, last.archive),
            ` (log position ${last.position}).`)
          : h('p', { class: 'muted', id: 'retention-last' }, 'Nothing pruned yet.'));
    } catch (err) {
      replace(body, errorBox(err));
    }
  })();
  return h('section', { class: 'card', id: 'retention-card' }, h('h2', {}, 'Retention'),
    h('p', { class: 'muted small' }, 'Finished runs beyond the policy are archived, then their event data is pruned; every event\'s chain header stays.'),
    body);
}

export function workspaceView(workspaceId) {
  return async (el, session) => {
    const { data } = await get(`/api/v1/workspaces${qs({ limit: LIMITS.MAX_PAGE_LIMIT })}`);
    const workspace = data.find((ws) => ws.id === workspaceId);
    if (!workspace) {
      replace(el, errorBox({ message: 'Workspace not found (or not yours)', status: 404 }));
      return null;
    }
    replace(el, h('div', { class: 'page-head' }, h('h1', {}, workspace.name),
      h('span', { class: 'muted' }, `your role: ${workspace.role}`)),
    membersCard(workspaceId, session), secretsCard(workspaceId, session), retentionCard(workspaceId));
    return null;
  };
}
