// The runs list: v1 filters and pages, per-workflow status counts, both kept live by the
// run status feed (GET /api/v1/workflow-runs/stream).

import { get, qs } from './api.js';
import { badge, between, debounce, errorBox, fmtDuration, fmtTime, h, replace, shortId } from './dom.js';
import { follow, liveIndicator } from './live.js';
import { navigate } from './app.js';
import { LIMITS, RUN_STATUSES, TRIGGER } from './vocabulary.js';

const MAX_COUNTED_WORKFLOWS = 20;

/** Every workflow the caller can see, across their workspaces. */
export async function visibleWorkflows(session) {
  const lists = await Promise.all((session.me.workspaces || []).map(async (ws) => {
    const { data } = await get(`/api/v1/workflows${qs({ workspaceId: ws.id, limit: LIMITS.MAX_PAGE_LIMIT })}`);
    return data.map((wf) => ({ ...wf, workspaceName: ws.name }));
  }));
  return lists.flat().sort((a, b) => a.name.localeCompare(b.name));
}

function filterBar(query, workflows) {
  const workflow = h('select', { name: 'workflowId' },
    h('option', { value: '' }, 'All workflows'),
    workflows.map((wf) => h('option', { value: wf.id, selected: wf.id === query.workflowId }, wf.name)));
  const status = h('select', { name: 'status' },
    h('option', { value: '' }, 'Any status'),
    RUN_STATUSES.map((s) => h('option', { value: s, selected: s === query.status }, s)));
  const search = h('input', { name: 'search', type: 'search', maxlength: LIMITS.MAX_SEARCH_CHARS, placeholder: 'Workflow name contains…', value: query.search || '' });
  const trigger = h('select', { name: 'triggeredBy' },
    h('option', { value: '' }, 'Anything'),
    Object.values(TRIGGER).map((kind) => h('option', { value: kind, selected: kind === query.triggeredBy }, triggerWords[kind])));
  const limit = h('select', { name: 'limit' },
    [10, 25, 50, LIMITS.MAX_PAGE_LIMIT].map((n) => h('option', { value: n, selected: String(n) === (query.limit || '25') }, `${n} per page`)));
  const form = h('form', { class: 'filters', id: 'run-filters' },
    h('label', {}, 'Workflow', workflow), h('label', {}, 'Status', status),
    h('label', {}, 'Started by', trigger),
    h('label', {}, 'Search', search), h('label', {}, 'Page size', limit),
    h('button', { type: 'submit' }, 'Apply'),
    query.triggerId ? h('span', { class: 'muted', id: 'trigger-filter' }, `Only runs of ${query.triggeredBy || 'trigger'} `,
      h('span', { class: 'mono' }, shortId(query.triggerId)), ' · ',
      h('a', { href: `#/runs${qs({ workflowId: query.workflowId, triggeredBy: query.triggeredBy })}` }, 'show all')) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    // A trigger id stays only while its kind is still the one chosen.
    const triggerId = trigger.value === query.triggeredBy ? query.triggerId : undefined;
    navigate(`#/runs${qs({ workflowId: workflow.value, status: status.value, triggeredBy: trigger.value, triggerId, search: search.value.trim(), limit: limit.value })}`);
  });
  return form;
}

const triggerWords = { [TRIGGER.API]: 'a person or client', [TRIGGER.SCHEDULE]: 'a schedule', [TRIGGER.WEBHOOK]: 'a webhook' };

/** Who started the run: "you", a user id, or the schedule or webhook that did. */
export function startedBy(run, me) {
  const trigger = run.triggeredBy;
  if (trigger && trigger.kind !== TRIGGER.API) return `${trigger.kind} ${shortId(trigger.id)}`;
  return run.createdBy === me.id ? 'you' : shortId(run.createdBy) || '—';
}

function runRow(run, me) {
  return h('tr', { dataset: { runId: run.id } },
    h('td', {}, h('a', { href: `#/runs/${run.id}`, class: 'mono' }, shortId(run.id))),
    h('td', {}, run.workflowName || shortId(run.workflowId), h('span', { class: 'muted' }, ` v${run.workflowVersion}`)),
    h('td', { class: 'run-status' }, badge(run.status)),
    h('td', {}, fmtTime(run.createdAt)),
    h('td', {}, fmtDuration(between(run.startedAt || run.createdAt, run.finishedAt))),
    h('td', { class: 'muted run-by' }, startedBy(run, me)));
}

function countsTable(workflows, counts) {
  if (!workflows.length) return h('p', { class: 'muted' }, 'No workflows yet.');
  return h('table', { class: 'counts', id: 'run-counts' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Workflow'), RUN_STATUSES.map((s) => h('th', {}, s)), h('th', {}, 'total'))),
    h('tbody', {}, workflows.map((wf) => {
      const c = counts.get(wf.id);
      return h('tr', { dataset: { workflowId: wf.id } },
        h('td', {}, h('a', { href: `#/runs${qs({ workflowId: wf.id })}` }, wf.name)),
        RUN_STATUSES.map((s) => h('td', { class: `count count-${s}`, dataset: { status: s } }, c ? String(c.counts[s] ?? 0) : '…')),
        h('td', { class: 'count count-total' }, c ? String(c.total) : '…'));
    })));
}

function pager(query, pagination) {
  const page = pagination.page;
  const link = (p, text) => h('a', { href: `#/runs${qs({ ...query, page: p })}`, class: 'button secondary' }, text);
  return h('div', { class: 'pager' },
    page > 1 ? link(page - 1, '← Previous') : null,
    h('span', { class: 'muted', id: 'run-page' }, `Page ${page} of ${Math.max(1, pagination.totalPages)} · ${pagination.total} runs`),
    page < pagination.totalPages ? link(page + 1, 'Next →') : null);
}

export function runsView(query) {
  return async (el, session) => {
    const workflows = await visibleWorkflows(session);
    const counted = () => (query.workflowId ? workflows.filter((w) => w.id === query.workflowId) : workflows)
      .slice(0, MAX_COUNTED_WORKFLOWS);
    const counts = new Map();
    const live = liveIndicator();
    const countsBox = h('section', { class: 'card' }, h('h2', {}, 'Status counts'), countsTable(counted(), counts));
    const listBox = h('div', {}, h('p', { class: 'muted' }, 'Loading runs…'));
    replace(el,
      h('div', { class: 'page-head' }, h('h1', {}, 'Runs'), live),
      filterBar(query, workflows), countsBox,
      h('section', { class: 'card' }, h('h2', {}, 'Runs'), listBox));

    const loadList = async () => {
      try {
        const { data, pagination } = await get(`/api/v1/workflow-runs${qs({
          workflowId: query.workflowId, status: query.status, search: query.search,
          triggeredBy: query.triggeredBy, triggerId: query.triggerId,
          page: query.page, limit: query.limit || 25,
        })}`);
        const table = data.length
          ? h('table', { class: 'runs', id: 'runs-table' },
            h('thead', {}, h('tr', {}, ['Run', 'Workflow', 'Status', 'Created', 'Duration', 'By'].map((t) => h('th', {}, t)))),
            h('tbody', {}, data.map((run) => runRow(run, session.me))))
          : h('p', { class: 'muted', id: 'runs-empty' }, 'No runs match.');
        replace(listBox, table, pager(query, pagination));
      } catch (err) {
        replace(listBox, errorBox(err));
      }
    };
    const loadCounts = async (ids) => {
      await Promise.all(ids.map(async (id) => {
        try {
          counts.set(id, (await get(`/api/v1/workflow-runs/dashboard/${id}`)).data);
        } catch { counts.delete(id); }
      }));
      replace(countsBox, h('h2', {}, 'Status counts'), countsTable(counted(), counts));
    };
    const dirty = new Set();
    const reloadSoon = debounce(() => {
      const ids = [...dirty].filter((id) => counted().some((w) => w.id === id));
      dirty.clear();
      loadList();
      if (ids.length) loadCounts(ids);
    }, 250);

    const close = follow(`/api/v1/workflow-runs/stream${qs({ workflowId: query.workflowId })}`, {
      // Listing after the feed is open means no change can fall between the two.
      open: () => { loadList(); loadCounts(counted().map((w) => w.id)); },
      'workflow-run': (change) => {
        const cell = listBox.querySelector(`tr[data-run-id="${change.workflowRunId}"] .run-status`);
        if (cell) replace(cell, badge(change.status));
        dirty.add(change.workflowId);
        reloadSoon();
      },
    }, live.update);
    return () => { close(); reloadSoon.cancel(); };
  };
}
