// A workflow's schedules, on its page: each one's cron, time zone, next fire times, last runs
// and whether it is enabled; editors of the workspace create, pause, resume and delete them
// (everyone else reads them). The API counts the fire times; the page only shows them.

import { del, get, patch, post, qs } from './api.js';
import { badge, errorBox, h, parseInputs, replace, shortId } from './dom.js';
import { ROLE, SCHEDULE, TRIGGER } from './vocabulary.js';

// Fire times move on and runs start by themselves: read the list again this often.
const REFRESH_MS = 15000;
const CRON_HELP = 'Five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly';

/** "2026-03-29T03:00:00+02:00" as the wall time it names in the schedule's zone. */
export function zonedTime(iso) {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.exec(iso || '');
  return m ? `${m[1]} ${m[2]} ${m[3] === 'Z' ? 'UTC' : m[3]}` : (iso || '—');
}

function timeZones() {
  try { return Intl.supportedValuesOf('timeZone'); } catch { return []; }
}

function createForm(workflowId, onCreated) {
  const cron = h('input', { name: 'cron', id: 'schedule-cron', required: true, placeholder: '*/5 * * * *', title: CRON_HELP });
  const zones = h('datalist', { id: 'schedule-zones' }, timeZones().map((zone) => h('option', { value: zone })));
  const timezone = h('input', { name: 'timezone', id: 'schedule-timezone', list: 'schedule-zones', value: SCHEDULE.DEFAULT.timezone });
  const choice = (name, id, words, chosen) => h('select', { name, id },
    words.map((word) => h('option', { value: word, selected: word === chosen }, word)));
  const overlap = choice('overlap', 'schedule-overlap', SCHEDULE.OVERLAP, SCHEDULE.DEFAULT.overlap);
  const catchUp = choice('catchUp', 'schedule-catch-up', SCHEDULE.CATCH_UP, SCHEDULE.DEFAULT.catchUp);
  const inputs = h('textarea', { name: 'inputs', id: 'schedule-inputs', rows: 2, spellcheck: 'false' }, '{}');
  const enabled = h('input', { type: 'checkbox', name: 'enabled', id: 'schedule-enabled', checked: true });
  const problem = h('div', { class: 'form-message', id: 'schedule-problem' });
  const button = h('button', { type: 'submit', id: 'add-schedule' }, 'Add schedule');
  const form = h('form', { class: 'schedule-form', id: 'schedule-form' },
    h('div', { class: 'schedule-fields' },
      h('label', {}, 'Cron', cron), h('label', {}, 'Time zone', timezone, zones),
      h('label', { title: 'A fire time while the previous run has not finished' }, 'Overlap', overlap),
      h('label', { title: 'Fire times missed while the service was down' }, 'Catch up', catchUp),
      h('label', { class: 'checkbox' }, h('span', {}, 'Enabled'), enabled)),
    h('label', {}, 'Inputs of its runs (a JSON object)', inputs),
    h('p', { class: 'muted small' }, CRON_HELP, '.'), button, problem);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const [values, bad] = parseInputs(inputs.value);
    if (bad) { replace(problem, h('div', { class: 'error' }, bad)); return; }
    button.disabled = true;
    try {
      await post(`/api/v1/workflows/${workflowId}/schedules`, {
        cron: cron.value.trim(), timezone: timezone.value.trim() || SCHEDULE.DEFAULT.timezone,
        overlap: overlap.value, catchUp: catchUp.value, inputs: values, enabled: enabled.checked,
      });
      cron.value = '';
      replace(problem);
      await onCreated();
    } catch (err) {
      replace(problem, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function lastRuns(schedule) {
  if (!schedule.lastRuns.length) return h('span', { class: 'muted' }, 'none yet');
  return [h('ul', { class: 'plain-list last-runs' }, schedule.lastRuns.map((run) => h('li', { dataset: { runId: run.runId } },
    h('a', { href: `#/runs/${run.runId}`, class: 'mono' }, shortId(run.runId)), ' ', badge(run.status),
    h('span', { class: 'muted small' }, ` fired ${zonedTime(run.fireTime)}`)))),
  h('a', { class: 'small all-runs', href: `#/runs${qs({ triggeredBy: TRIGGER.SCHEDULE, triggerId: schedule.id })}` }, 'all its runs')];
}

/**
 * The Schedules card of one workflow; `close()` stops its refreshing. Editors (and admins)
 * of the workflow's workspace get the form and the buttons; the API checks the role again.
 */
export function schedulesCard(workflow, session) {
  const base = `/api/v1/workflows/${workflow.id}/schedules`;
  const canEdit = session.can(workflow.workspaceId, ROLE.EDITOR);
  const list = h('div', { id: 'schedules' });
  const message = h('div', { class: 'form-message', id: 'schedules-message' });
  const confirming = new Set(); // ids whose Delete was clicked once

  const act = async (work) => {
    try {
      await work();
      replace(message);
    } catch (err) {
      replace(message, errorBox(err));
    }
    await load();
  };

  const actions = (schedule) => {
    const toggle = h('button', {
      type: 'button', class: 'secondary toggle-schedule',
      onclick: () => act(() => patch(`${base}/${schedule.id}`, { enabled: !schedule.enabled })),
    }, schedule.enabled ? 'Pause' : 'Resume');
    if (!confirming.has(schedule.id)) {
      return [toggle, ' ', h('button', {
        type: 'button', class: 'danger delete-schedule',
        onclick: () => { confirming.add(schedule.id); render(lastSeen); },
      }, 'Delete')];
    }
    return [toggle, ' ', h('button', {
      type: 'button', class: 'danger confirm-delete',
      onclick: () => { confirming.delete(schedule.id); act(() => del(`${base}/${schedule.id}`)); },
    }, 'Delete for good'), ' ', h('button', {
      type: 'button', class: 'secondary keep-schedule',
      onclick: () => { confirming.delete(schedule.id); render(lastSeen); },
    }, 'Keep')];
  };

  let lastSeen = [];
  const render = (schedules) => {
    lastSeen = schedules;
    if (!schedules.length) {
      replace(list, h('p', { class: 'muted', id: 'no-schedules' }, 'No schedules: runs start only when someone starts them.'));
      return;
    }
    const head = ['Cron', 'Time zone', 'Next fire times', 'Last runs', 'Overlap · catch up', 'State'];
    replace(list, h('table', { id: 'schedules-table' },
      h('thead', {}, h('tr', {}, [...head, ...(canEdit ? [''] : [])].map((t) => h('th', {}, t)))),
      h('tbody', {}, schedules.map((s) => h('tr', { dataset: { scheduleId: s.id, enabled: String(s.enabled) } },
        h('td', { class: 'mono schedule-cron' }, s.cron),
        h('td', { class: 'schedule-timezone' }, s.timezone),
        h('td', { class: 'schedule-next' }, s.enabled && s.nextFireTimes.length
          ? h('ol', { class: 'plain-list' }, s.nextFireTimes.map((t) => h('li', { class: 'mono', dataset: { at: t } }, zonedTime(t))))
          : h('span', { class: 'muted' }, s.enabled ? 'no more' : 'paused')),
        h('td', { class: 'schedule-runs' }, lastRuns(s)),
        h('td', { class: 'small' }, `${s.overlap} · ${s.catchUp}`),
        h('td', { class: 'schedule-state' }, h('span', { class: `badge ${s.enabled ? 'schedule-enabled' : 'schedule-paused'}` },
          s.enabled ? 'enabled' : 'paused')),
        canEdit ? h('td', { class: 'schedule-actions' }, actions(s)) : null)))));
  };

  async function load() {
    try {
      render((await get(base)).data);
    } catch (err) {
      replace(list, errorBox(err));
    }
  }

  const el = h('section', { class: 'card', id: 'schedules-card' }, h('h2', {}, 'Schedules'), list, message,
    canEdit ? h('details', { class: 'new-schedule', open: true }, h('summary', {}, 'New schedule'), createForm(workflow.id, load))
      : h('p', { class: 'muted' }, 'Adding, pausing and deleting schedules needs the editor role in this workspace.'));
  load();
  const timer = setInterval(load, REFRESH_MS);
  return { el, close: () => clearInterval(timer) };
}
