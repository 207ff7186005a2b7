// The console's shell: who is signed in, the header, and a hash router over the views.

import { ApiError, get, post } from './api.js';
import { errorBox, h, parseHashQuery, replace } from './dom.js';
import { loginView } from './login.js';
import { runsView } from './runs.js';
import { runView } from './run.js';
import { workflowsView, workflowView } from './workflows.js';
import { auditView } from './audit.js';
import { editorView } from './editor.js';
import { diffView } from './versiondiff.js';
import { workspaceView, workspacesView } from './workspaces.js';
import { ROLE, ROLE_RANK } from './vocabulary.js';


/** What every view gets: the caller, their roles, navigation and the main element. */
export const session = {
  me: null,
  roleIn(workspaceId) {
    if (!this.me) return null;
    if (this.me.isAdmin) return ROLE.ADMIN;
    const ws = (this.me.workspaces || []).find((w) => w.id === workspaceId);
    return ws ? ws.role : null;
  },
  /** The caller holds at least `role` in the workspace (runner may cancel and approve). */
  can(workspaceId, role) {
    return (ROLE_RANK[this.roleIn(workspaceId)] || 0) >= ROLE_RANK[role];
  },
  async refresh() {
    try {
      this.me = (await get('/api/v1/auth/me')).data;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      this.me = null;
    }
    renderHeader();
    return this.me;
  },
};

const main = () => document.getElementById('main');
let cleanup = null;

function renderHeader() {
  const me = session.me;
  document.getElementById('nav').hidden = !me;
  document.getElementById('who').hidden = !me;
  for (const link of document.querySelectorAll('[data-admin-only]')) link.hidden = !(me && me.isAdmin);
  document.getElementById('who-name').textContent = me ? `${me.username}${me.isAdmin ? ' (admin)' : ''}` : '';
}

function markSection(section) {
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.dataset.section === section);
  }
}

const ROUTES = [
  [/^runs\/([0-9a-f-]{36})$/i, 'runs', (m, q) => runView(m[1], q)],
  [/^runs$/, 'runs', (m, q) => runsView(q)],
  [/^workflows\/new$/, 'workflows', () => editorView(null)],
  [/^workflows\/([0-9a-f-]{36})\/edit$/i, 'workflows', (m) => editorView(m[1])],
  [/^workflows\/([0-9a-f-]{36})\/diff$/i, 'workflows', (m, q) => diffView(m[1], q)],
  [/^workflows\/([0-9a-f-]{36})$/i, 'workflows', (m, q) => workflowView(m[1], q)],
  [/^workflows$/, 'workflows', (m, q) => workflowsView(q)],
  [/^workspaces\/([A-Za-z0-9-]{1,64})$/, 'workspaces', (m) => workspaceView(m[1])],
  [/^workspaces$/, 'workspaces', () => workspacesView()],
  [/^audit(?:\/([0-9a-f-]{36}))?$/i, 'audit', (m, q) => auditView(m[1] || q.runId || '', q)],
];

export async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  const el = main();
  if (!session.me) {
    markSection(null);
    cleanup = loginView(el, async () => { await session.refresh(); route(); });
    return;
  }
  const target = path || 'runs';
  for (const [pattern, section, view] of ROUTES) {
    const match = target.match(pattern);
    if (!match) continue;
    markSection(section);
    replace(el);
    try {
      cleanup = await view(match, parseHashQuery(query))(el, session);
    } catch (err) {
      replace(el, errorBox(err));
    }
    return;
  }
  replace(el, h('p', {}, 'Nothing here. ', h('a', { href: '#/runs' }, 'Go to the runs.')));
}

export function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

async function start() {
  document.getElementById('logout').addEventListener('click', async () => {
    try { await post('/api/v1/auth/logout'); } finally {
      session.me = null;
      renderHeader();
      navigate('#/runs');
    }
  });
  window.addEventListener('hashchange', route);
  try {
    await session.refresh();
  } catch (err) {
    replace(main(), errorBox(err));
    return;
  }
  route();
}

start();
