// Workflows: the list, one definition (its graph, its versions, links to edit it and to compare
// versions), starting a run with JSON inputs, its schedules (schedules.js) and its webhooks
// (webhooks.js).

import { get, qs, startRun } from './api.js';
import { errorBox, fmtTime, h, jsonView, parseInputs, replace, shortId } from './dom.js';
import { workflowGraph } from './graph.js';
import { schedulesCard } from './schedules.js';
import { webhooksCard } from './webhooks.js';
import { visibleWorkflows } from './runs.js';
import { navigate } from './app.js';
import { ROLE } from './vocabulary.js';

export function workflowsView() {
  return async (el, session) => {
    const workflows = await visibleWorkflows(session);
    const canCreate = (session.me.workspaces || []).some((ws) => session.can(ws.id, ROLE.EDITOR));
    replace(el, h('div', { class: 'page-head' }, h('h1', {}, 'Workflows'),
      canCreate ? h('a', { href: '#/workflows/new', class: 'button', id: 'new-workflow' }, 'New workflow') : null),
      h('section', { class: 'card' }, workflows.length
        ? h('table', { id: 'workflows-table' },
          h('thead', {}, h('tr', {}, ['Name', 'Workspace', 'Version', 'Nodes', 'Updated', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, workflows.map((wf) => h('tr', { dataset: { workflowId: wf.id } },
            h('td', {}, h('a', { href: `#/workflows/${wf.id}` }, wf.name)),
            h('td', {}, wf.workspaceName),
            h('td', {}, `v${wf.version}`),
            h('td', {}, String((wf.definition.nodes || []).length)),
            h('td', {}, fmtTime(wf.updatedAt)),
            h('td', {}, h('a', { href: `#/runs${qs({ workflowId: wf.id })}` }, 'runs'))))))
        : h('p', { class: 'muted' }, 'No workflows you can see yet.')));
    return null;
  };
}

function startForm(workflow) {
  const inputs = h('textarea', { name: 'inputs', rows: 5, spellcheck: 'false', id: 'run-inputs' }, '{}');
  const problem = h('div', { class: 'form-message', id: 'inputs-problem' });
  const button = h('button', { type: 'submit', id: 'start-run' }, 'Start run');
  const check = () => {
    const [, err] = parseInputs(inputs.value);
    replace(problem, err ? h('div', { class: 'error' }, err) : null);
    button.disabled = Boolean(err);
    return !err;
  };
  inputs.addEventListener('input', check);
  const form = h('form', { class: 'start-run', id: 'start-form' },
    h('label', {}, 'Inputs (a JSON object, read by {{inputs.x}})', inputs), problem, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!check()) return;
    button.disabled = true;
    try {
      const runId = await startRun(workflow.id, parseInputs(inputs.value)[0]);
      navigate(`#/runs/${runId}`);
    } catch (err) {
      replace(problem, errorBox(err));
      button.disabled = false;
    }
  });
  return form;
}

export function workflowView(workflowId, query) {
  return async (el, session) => {
    const workflow = (await get(`/api/v1/workflows/${workflowId}`)).data;
    const chosen = Number(query.version || workflow.version);
    let shown = workflow;
    if (chosen !== workflow.version) shown = (await get(`/api/v1/workflows/${workflowId}/versions/${chosen}`)).data;
    const canRun = session.can(workflow.workspaceId, ROLE.RUNNER);
    const canEdit = session.can(workflow.workspaceId, ROLE.EDITOR);
    const versions = h('nav', { class: 'versions' }, 'Versions: ', (workflow.versions || []).map((v) => h('a', {
      href: `#/workflows/${workflowId}${qs({ version: v })}`, class: v === chosen ? 'active' : '',
    }, `v${v}`)), (workflow.versions || []).length > 1
      ? h('a', { href: `#/workflows/${workflowId}/diff${qs({ from: Math.max(1, chosen - 1), to: chosen })}`, id: 'compare-versions', class: 'compare' }, 'Compare versions')
      : null);
    const nodes = (shown.definition.nodes || []);
    const schedules = schedulesCard(workflow, session);
    const webhooks = webhooksCard(workflow, session);
    const nodeBox = h('div', { class: 'node-panel-box' });
    const graph = workflowGraph(nodes, {
      id: 'workflow-graph',
      onSelect: (nodeId) => {
        graph.select(nodeId);
        replace(nodeBox, h('aside', { class: 'node-panel', id: 'node-panel', dataset: { nodeId } },
          h('h3', {}, nodeId), jsonView(nodes.find((n) => n.id === nodeId), 'node')));
      },
    });
    replace(el,
      h('div', { class: 'page-head' }, h('h1', {}, workflow.name), h('span', { class: 'muted mono' }, shortId(workflow.id)),
        h('a', { href: `#/runs${qs({ workflowId })}`, class: 'button secondary' }, 'Runs of this workflow'),
        canEdit ? h('a', { href: `#/workflows/${workflowId}/edit`, class: 'button', id: 'edit-workflow' }, 'Edit') : null),
      h('section', { class: 'card' }, h('h2', {}, 'Start a run'),
        canRun ? startForm(workflow) : h('p', { class: 'muted' }, 'Starting runs needs the runner role in this workspace.')),
      h('section', { class: 'card' }, h('h2', {}, `Definition (version ${chosen})`), versions,
        graph.el, nodeBox,
        h('table', { class: 'nodes' },
          h('thead', {}, h('tr', {}, ['Node', 'Type', 'After'].map((t) => h('th', {}, t)))),
          h('tbody', {}, nodes.map((n) => h('tr', {},
            h('td', {}, h('strong', {}, n.name || n.id), ' ', h('span', { class: 'muted mono' }, n.id)),
            h('td', {}, n.type),
            h('td', {}, (n.after || []).map((a) => (typeof a === 'string' ? a : `${a.node} (${a.branch})`)).join(', ') || '—'))))),
        h('details', {}, h('summary', {}, 'JSON'), h('pre', { class: 'json', id: 'definition-json' }, JSON.stringify(shown.definition, null, 2)))),
      schedules.el, webhooks.el);
    return () => { schedules.close(); webhooks.close(); };
  };
}

