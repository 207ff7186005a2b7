// One run, live: a graph of its nodes (click one for its panel), a table of nodes with status,
// attempt, duration, progress, thinking, input/output, a timeline, and the actions the
// caller's workspace role allows (cancel, approve/reject).
// Frames from the run's EventSource (which resumes by itself) trigger a fetch of the new
// raw events after the last position seen; progress and an agent's answer text have no v1
// frame, so while a node is running the raw events are also read once a second.

import { get, post, qs, runEvents } from './api.js';
import {
  badge, between, debounce, errorBox, fmtDuration, fmtTime, h, jsonView, replace, shortId,
} from './dom.js';
import { follow, liveIndicator } from './live.js';
import { workflowGraph } from './graph.js';
import { nodePanel } from './nodepanel.js';
import { navigate } from './app.js';
import { RunState, isTerminal, pendingToolCall, runUsage } from './runstate.js';
import { toolCallDecision, usageFact } from './toolcalls.js';
import { CANCEL_OUTCOME, LIMITS, NODE_STATUS, ROLE, TRIGGER } from './vocabulary.js';

const PROGRESS_POLL_MS = 1000;
const STREAM_EVENTS = ['workflow-run', 'activity-run', 'thinking', 'result', 'error'];

function summary(run, state) {
  const usage = runUsage(state.list());
  return h('section', { class: 'card run-summary' },
    h('dl', { class: 'facts' },
      h('dt', {}, 'Workflow'), h('dd', {}, h('a', { href: `#/workflows/${run.workflowId}` }, run.workflowName || run.workflowId), ` · version ${run.workflowVersion}`),
      h('dt', {}, 'Run id'), h('dd', { class: 'mono' }, run.id),
      h('dt', {}, 'Created'), h('dd', {}, fmtTime(run.createdAt)),
      run.triggeredBy && run.triggeredBy.kind !== TRIGGER.API ? [h('dt', {}, 'Started by'), h('dd', { id: 'triggered-by' },
        h('a', { href: `#/runs${qs({ triggeredBy: run.triggeredBy.kind, triggerId: run.triggeredBy.id })}` },
          `${run.triggeredBy.kind} ${shortId(run.triggeredBy.id)}`),
        h('span', { class: 'muted' }, ' (its other runs)'))] : null,
      h('dt', {}, 'Finished'), h('dd', {}, fmtTime(run.finishedAt)),
      h('dt', {}, 'Duration'), h('dd', { id: 'run-duration' }, fmtDuration(between(run.startedAt || state.runStartedAt, run.finishedAt))),
      usage ? usageFact(usage, 'run-usage') : null,
      run.cancelReason ? [h('dt', {}, 'Cancel reason'), h('dd', { id: 'cancel-reason' }, run.cancelReason)] : null,
      run.rerunOf ? [h('dt', {}, 'Rerun of'), h('dd', { id: 'rerun-of' },
        h('a', { href: `#/runs/${run.rerunOf.runId}`, class: 'mono' }, shortId(run.rerunOf.runId)),
        run.rerunOf.fromNode ? ` from ${run.rerunOf.fromNode}` : ' (whole run)')] : null,
      run.reruns && run.reruns.length ? [h('dt', {}, 'Reruns'), h('dd', { id: 'reruns' },
        run.reruns.map((id, i) => [i ? ', ' : '', h('a', { href: `#/runs/${id}`, class: 'mono' }, shortId(id))]))] : null),
    run.error ? h('div', { class: 'error', role: 'alert', id: 'run-error' }, 'Run failed: ', typeof run.error === 'string' ? run.error : JSON.stringify(run.error)) : null,
    h('div', { class: 'io' },
      h('div', {}, h('h3', {}, 'Inputs'), jsonView(Object.fromEntries((run.inputs || []).map((i) => [i.name, i.value])), 'inputs')),
      h('div', {}, h('h3', {}, 'Output'), run.outputs === null || run.outputs === undefined ? h('span', { class: 'muted' }, '—') : jsonView(run.outputs, 'output'))));
}

function cancelForm(run, onDone) {
  const reason = h('input', { name: 'reason', maxlength: LIMITS.MAX_REASON_CHARS, placeholder: 'Why cancel? (optional)', id: 'cancel-reason-input' });
  const button = h('button', { type: 'submit', class: 'danger', id: 'cancel-run' }, 'Cancel run');
  const message = h('span', { class: 'form-message' });
  const form = h('form', { class: 'inline-form', id: 'cancel-form' }, reason, button, message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const { data } = await post('/api/v1/workflow-runs/cancel', { runIds: [run.id], reason: reason.value || undefined });
      const outcome = data.results[0];
      replace(message, outcome.status === CANCEL_OUTCOME.CANCELLED ? 'Cancelling…' : `Not cancelled: ${outcome.message || outcome.status}`);
      onDone();
    } catch (err) {
      replace(message, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** Start a rerun of `runId` (whole, or from `fromNode`) and open it. */
async function startRerun(runId, body, message) {
  try {
    const { data } = await post(`/api/v1/workflow-runs/${runId}/rerun`, body);
    navigate(`#/runs/${data.id}`);
  } catch (err) {
    replace(message, errorBox(err));
  }
}

function rerunForm(run) {
  const version = h('select', { name: 'version', id: 'rerun-version' },
    h('option', { value: 'original' }, `version ${run.workflowVersion} (as it ran)`),
    h('option', { value: 'latest' }, 'the latest version'));
  const message = h('span', { class: 'form-message' });
  const button = h('button', { type: 'submit', id: 'rerun-run' }, 'Rerun');
  const form = h('form', { class: 'inline-form', id: 'rerun-form' }, button, h('label', {}, 'With', version), message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    await startRerun(run.id, { version: version.value }, message);
    button.disabled = false;
  });
  return form;
}

function approvalForm(runId, node, onDone) {
  const comment = h('input', { name: 'comment', placeholder: 'Comment (optional)', maxlength: 500 });
  const message = h('span', { class: 'form-message' });
  const answer = (approved) => async () => {
    for (const b of buttons) b.disabled = true;
    try {
      const data = comment.value ? { comment: comment.value } : {};
      await post(`/api/v1/workflow-runs/${runId}/nodes/${encodeURIComponent(node.id)}/resume`, { approved, data });
      replace(message, approved ? 'Approved.' : 'Rejected.');
      onDone();
    } catch (err) {
      replace(message, errorBox(err));
      for (const b of buttons) b.disabled = false;
    }
  };
  const buttons = [
    h('button', { type: 'button', class: 'approve', onclick: answer(true), dataset: { node: node.id } }, 'Approve'),
    h('button', { type: 'button', class: 'danger reject', onclick: answer(false), dataset: { node: node.id } }, 'Reject'),
  ];
  return h('div', { class: 'approval' }, comment, buttons, message);
}

function ganttBar(node, state, runFinishedAt) {
  if (!node.startedAt || !state.runStartedAt) return h('div', { class: 'gantt' });
  const start = Date.parse(state.runStartedAt);
  const end = runFinishedAt ? Date.parse(runFinishedAt) : Date.now();
  const span = Math.max(1, end - start);
  const from = Date.parse(node.startedAt) - start;
  const to = (node.finishedAt ? Date.parse(node.finishedAt) : end) - start;
  const left = Math.min(100, Math.max(0, (from / span) * 100));
  const width = Math.max(0.8, Math.min(100 - left, ((to - from) / span) * 100));
  return h('div', { class: 'gantt', title: `${fmtTime(node.startedAt)} → ${fmtTime(node.finishedAt)}` },
    h('div', { class: `gantt-bar status-${node.status}`, style: { left: `${left}%`, width: `${width}%` } }));
}

function progressBar(node) {
  if (node.progress === null || node.progress === undefined) return h('span', { class: 'muted' }, '—');
  const pct = Math.round(Math.max(0, Math.min(100, node.progress)));
  return h('div', { class: 'progress', title: node.message || `${pct}%` },
    h('progress', { max: 100, value: pct }), h('span', { class: 'progress-label' }, `${pct}%`));
}

function nodeRows(node, ctx) {
  const duration = node.durationMs ?? (node.startedAt && node.status === NODE_STATUS.RUNNING ? between(node.startedAt, null) : null);
  const row = h('tr', { class: 'node-row', dataset: { nodeId: node.id, status: node.status } },
    h('td', {}, h('strong', {}, node.name), node.name !== node.id ? h('span', { class: 'muted mono' }, ` ${node.id}`) : null,
      h('div', { class: 'muted small' }, node.type)),
    h('td', { class: 'node-status' }, badge(node.status)),
    h('td', { class: 'node-attempt' }, node.attempt ? String(node.attempt) : '—'),
    h('td', { class: 'node-duration' }, fmtDuration(duration)),
    h('td', { class: 'node-progress' }, progressBar(node)),
    h('td', { class: 'node-timeline' }, ganttBar(node, ctx.state, ctx.run.finishedAt)));
  const extra = [];
  const call = pendingToolCall(node);
  if (call) {
    // A tool call is decided in the node's panel, where its arguments can be edited.
    extra.push(h('div', { class: 'prompt' }, h('strong', {}, 'Waiting for approval of tool call '),
      h('span', { class: 'mono' }, call.name), ' ',
      h('button', { type: 'button', class: 'secondary open-panel', dataset: { node: node.id }, onclick: () => ctx.select(node.id) },
        ctx.canRun ? 'Decide in its panel' : 'Show it')));
  } else if (node.status === NODE_STATUS.WAITING) {
    extra.push(h('div', { class: 'prompt' }, h('strong', {}, 'Waiting for approval: '), node.prompt ? String(typeof node.prompt === 'string' ? node.prompt : JSON.stringify(node.prompt)) : ''));
    if (ctx.canRun) {
      if (!ctx.approvals.has(node.id)) ctx.approvals.set(node.id, approvalForm(ctx.run.id, node, ctx.refreshSoon));
      extra.push(ctx.approvals.get(node.id));
    } else {
      extra.push(h('p', { class: 'muted' }, 'You need the runner role in this workspace to answer.'));
    }
  }
  if (node.error) extra.push(h('div', { class: 'error node-error', role: 'alert' }, `Attempt ${node.attempt} failed: `, typeof node.error === 'string' ? node.error : JSON.stringify(node.error)));
  if (node.resumedBy) extra.push(h('p', { class: 'muted small' }, `Answered by ${node.resumedBy}`));
  if (node.thinking) extra.push(h('div', { class: 'thinking' }, h('h4', {}, 'Thinking'), h('pre', { class: 'thinking-text' }, node.thinking)));
  if (node.input !== undefined || node.output !== undefined) {
    extra.push(h('div', { class: 'io' },
      h('div', {}, h('h4', {}, 'Input'), jsonView(node.input, 'input')),
      h('div', {}, h('h4', {}, 'Output'), jsonView(node.output, 'output'))));
  }
  if (!extra.length) return [row];
  return [row, h('tr', { class: 'node-detail', dataset: { nodeId: node.id } }, h('td', { colspan: 6 }, extra))];
}

function describe(event) {
  const d = event.data || {};
  const bits = [];
  if (d.attempt) bits.push(`attempt ${d.attempt}`);
  if (d.progress !== undefined) bits.push(`${Math.round(d.progress)}%`);
  if (d.message) bits.push(d.message);
  if (d.text) bits.push(`“${d.text}”`);
  if (d.error) bits.push(typeof d.error === 'string' ? d.error : JSON.stringify(d.error));
  if (d.reason) bits.push(`reason: ${d.reason}`);
  if (d.by) bits.push(`by ${d.by}`);
  if (d.durationMs !== undefined) bits.push(fmtDuration(d.durationMs));
  return bits.join(' · ');
}

function timeline(state) {
  return h('ol', { class: 'timeline', id: 'run-timeline' }, state.events.map((e) => h('li', { dataset: { type: e.type } },
    h('span', { class: 'mono muted' }, `#${e.position}`),
    h('span', { class: 'muted' }, new Date(e.recordedAt).toLocaleTimeString(undefined, { hour12: false })),
    h('strong', {}, e.type), e.data && e.data.nodeId ? h('span', { class: 'mono' }, e.data.nodeId) : null,
    h('span', { class: 'muted' }, describe(e)))));
}

/** Keep the open/closed state of <details> across a re-render. */
function openKeys(el) {
  return new Set([...el.querySelectorAll('details[open]')].map((d) => d.closest('[data-node-id]')?.dataset.nodeId + (d.querySelector('summary')?.textContent || '')));
}
function restoreOpen(el, keys) {
  for (const d of el.querySelectorAll('details')) {
    if (keys.has(d.closest('[data-node-id]')?.dataset.nodeId + (d.querySelector('summary')?.textContent || ''))) d.open = true;
  }
}

export function runView(runId) {
  return async (el, session) => {
    let run = (await get(`/api/v1/workflow-runs/${runId}`)).data;
    let definition = null;
    try {
      definition = (await get(`/api/v1/workflows/${run.workflowId}/versions/${run.workflowVersion}`)).data.definition;
    } catch { definition = null; }
    const state = new RunState(definition);
    state.apply(await runEvents(runId));
    const canRun = session.can(run.workspaceId, ROLE.RUNNER);
    const live = liveIndicator();
    const head = h('div', { class: 'page-head' });
    const summaryBox = h('div');
    const actions = h('div');
    const graphBox = h('section', { class: 'card graph-card' });
    const panelBox = h('div', { class: 'node-panel-box' });
    const nodesBox = h('section', { class: 'card' });
    const timelineBox = h('section', { class: 'card' });
    const approvals = new Map();
    const decisions = new Map(); // JSON [nodeId, callId] -> the form deciding that tool call
    let cancelBox = null;
    let rerunBox = null;
    let refreshSoon = () => {};
    // The graph is drawn once from the definition (or, without one, the nodes the log named).
    let selected = null;
    const panelMessage = h('div', { class: 'form-message' });
    const retry = (nodeId) => startRerun(run.id, { fromNode: nodeId }, panelMessage);
    const decision = (nodeId) => (call) => {
      const key = JSON.stringify([nodeId, call.id]);
      if (!decisions.has(key)) decisions.set(key, toolCallDecision(run.id, nodeId, call, () => refreshSoon()));
      return decisions.get(key);
    };
    const showPanel = () => {
      const close = () => { selected = null; graph.select(null); showPanel(); };
      // Growing text (thinking, the answer) stays scrolled to its end, unless the reader
      // scrolled up.
      const growing = ['.thinking-text', '.answer-text'];
      const atEnd = growing.map((sel) => {
        const pre = panelBox.querySelector(sel);
        return !pre || pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      });
      replace(panelBox, selected
        ? [nodePanel(state.node(selected), {
          onClose: close,
          onRetry: canRun && isTerminal(run.status) ? retry : null,
          decision: canRun ? decision(selected) : null,
        }), panelMessage] : null);
      growing.forEach((sel, i) => {
        const pre = panelBox.querySelector(sel);
        if (pre && atEnd[i]) pre.scrollTop = pre.scrollHeight;
      });
    };
    const select = (nodeId) => { selected = nodeId; graph.select(nodeId); showPanel(); };
    const graph = workflowGraph((definition && definition.nodes) || state.list(), {
      id: 'run-graph',
      onSelect: select,
    });
    replace(graphBox, h('h2', {}, 'Graph'), graph.el, panelBox);

    const render = () => {
      replace(head, h('h1', {}, 'Run ', h('span', { class: 'mono' }, shortId(run.id))),
        h('span', { id: 'run-status' }, badge(run.status)), isTerminal(run.status) ? null : live,
        session.me.isAdmin ? h('a', { href: `#/audit/${run.id}`, class: 'button secondary' }, 'Raw events & hashes') : null);
      replace(summaryBox, summary(run, state));
      if (canRun && !isTerminal(run.status)) {
        cancelBox = cancelBox || h('section', { class: 'card actions' }, h('h2', {}, 'Actions'), cancelForm(run, () => refreshSoon()));
        replace(actions, cancelBox);
      } else if (canRun) {
        rerunBox = rerunBox || h('section', { class: 'card actions' }, h('h2', {}, 'Actions'), rerunForm(run),
          h('p', { class: 'muted small' }, 'Or open a failed or cancelled node in the graph to retry from there.'));
        replace(actions, rerunBox);
      } else {
        replace(actions, !isTerminal(run.status)
          ? h('p', { class: 'muted' }, 'You can watch this run; cancelling or approving needs the runner role.') : null);
      }
      const open = openKeys(nodesBox);
      for (const id of [...approvals.keys()]) if (state.node(id).status !== NODE_STATUS.WAITING) approvals.delete(id);
      for (const key of [...decisions.keys()]) {
        const [nodeId, callId] = JSON.parse(key);
        if (pendingToolCall(state.node(nodeId))?.id !== callId) decisions.delete(key);
      }
      const openPanel = (nodeId) => { select(nodeId); panelBox.scrollIntoView({ block: 'nearest' }); };
      const ctx = { run, state, canRun, approvals, refreshSoon, select: openPanel };
      replace(nodesBox, h('h2', {}, 'Nodes'),
        h('table', { class: 'nodes', id: 'nodes-table' },
          h('thead', {}, h('tr', {}, ['Node', 'Status', 'Attempt', 'Duration', 'Progress', 'Timeline'].map((t) => h('th', {}, t)))),
          h('tbody', {}, state.list().map((node) => nodeRows(node, ctx)))));
      restoreOpen(nodesBox, open);
      replace(timelineBox, h('h2', {}, 'Timeline'), timeline(state));
      graph.update(state.list());
      const panelOpen = openKeys(panelBox);
      showPanel();
      restoreOpen(panelBox, panelOpen);
    };

    let close = () => {};
    let busy = null;
    let again = false;
    const refresh = async () => {
      if (busy) { again = true; return busy; }
      busy = (async () => {
        try {
          const [events, detail] = await Promise.all([runEvents(runId, state.position), get(`/api/v1/workflow-runs/${runId}`)]);
          state.apply(events);
          run = detail.data;
          render();
          if (isTerminal(run.status)) close();
        } catch (err) {
          replace(actions, errorBox(err));
        }
      })();
      await busy;
      busy = null;
      if (again) { again = false; refresh(); }
      return null;
    };
    refreshSoon = debounce(refresh, 60);

    replace(el, head, summaryBox, actions, graphBox, nodesBox, timelineBox);
    render();
    if (!isTerminal(run.status)) {
      const handlers = Object.fromEntries(STREAM_EVENTS.map((name) => [name, () => refreshSoon()]));
      // Start after what the raw events already showed; later reconnects send Last-Event-ID.
      close = follow(`/api/v1/workflow-runs/${runId}/stream?lastEventId=${state.position}`, handlers, live.update);
    }
    const poll = setInterval(() => {
      if (!isTerminal(run.status) && state.list().some((n) => n.status === NODE_STATUS.RUNNING)) refresh();
    }, PROGRESS_POLL_MS);
    return () => { close(); clearInterval(poll); refreshSoon.cancel(); };
  };
}
