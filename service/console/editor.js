// Creating and editing a workflow definition as JSON: checked as you type (the API's JSON
// Schema, then the graph rules), drawn as a graph preview, saved as a new version (or a new
// workflow). What the API still refuses (its 422 names the nodes) is shown beside the draft.

import { ApiError, get, post, put } from './api.js';
import { debounce, errorBox, h, replace, shortId } from './dom.js';
import { checkDraft } from './definitioncheck.js';
import { workflowGraph } from './graph.js';
import { navigate } from './app.js';
import { ROLE } from './vocabulary.js';

const CHECK_DELAY_MS = 250;
const STARTER = {
  $schema: '/api/v1/schemas/workflow.json',
  name: 'New workflow',
  nodes: [
    { id: 'start', type: 'transform', params: { value: { hello: '{{inputs.name}}' } } },
    { id: 'done', type: 'noop', after: ['start'] },
  ],
};

function problemItem(problem) {
  const where = [problem.nodeId, problem.path].filter(Boolean).join(' · ');
  return h('li', { dataset: { nodeId: problem.nodeId || '' } },
    where ? h('strong', { class: 'mono' }, `${where}: `) : null, problem.message);
}

/** The API's 422 details as problems, so they read like the ones found in the page. */
function refusal(err) {
  const errors = (err.details && err.details.errors) || [];
  if (!errors.length) return [{ nodeId: null, path: '', message: err.message }];
  return errors.map((e) => ({ nodeId: e.nodeId || null, path: e.path || '', message: e.message }));
}

function workspacePicker(session) {
  const spaces = (session.me.workspaces || []).filter((ws) => session.can(ws.id, ROLE.EDITOR));
  if (!spaces.length) return null;
  return h('select', { name: 'workspaceId', id: 'editor-workspace' },
    spaces.map((ws) => h('option', { value: ws.id }, ws.name)));
}

/** `#/workflows/new` (workflowId null) and `#/workflows/{id}/edit`. */
export function editorView(workflowId) {
  return async (el, session) => {
    const workflow = workflowId ? (await get(`/api/v1/workflows/${workflowId}`)).data : null;
    const picker = workflow ? null : workspacePicker(session);
    const allowed = workflow ? session.can(workflow.workspaceId, ROLE.EDITOR) : Boolean(picker);
    const title = workflow ? h('h1', {}, `Edit ${workflow.name}`, h('span', { class: 'muted mono' }, ` ${shortId(workflow.id)}`)) : h('h1', {}, 'New workflow');
    if (!allowed) {
      replace(el, h('div', { class: 'page-head' }, title),
        h('p', { class: 'muted', id: 'editor-refused' }, 'Editing workflows needs the editor role in this workspace.'));
      return null;
    }
    const original = JSON.stringify(workflow ? workflow.definition : STARTER, null, 2);
    const text = h('textarea', { id: 'definition-editor', rows: 26, spellcheck: 'false', 'aria-label': 'Workflow definition (JSON)' }, original);
    const status = h('span', { id: 'editor-status', class: 'muted' }, 'Checking…');
    const problemsList = h('ul', { id: 'editor-problems', class: 'problems' });
    const saveButton = h('button', { type: 'button', id: 'save-workflow', disabled: true }, workflow ? `Save as version ${workflow.latestVersion + 1}` : 'Create workflow');
    const saveMessage = h('div', { id: 'save-problem' });
    const preview = h('div', { class: 'draft-preview' });
    let draft = { value: null, problems: [] };
    let checked = 0;

    const drawPreview = () => {
      const nodes = draft.value && Array.isArray(draft.value.nodes)
        ? draft.value.nodes.filter((n) => n && typeof n.id === 'string') : [];
      if (!nodes.length) { replace(preview, h('p', { class: 'muted' }, 'The graph appears once the draft has nodes.')); return; }
      const graph = workflowGraph(nodes, { id: 'draft-graph' });
      graph.mark(draft.problems.map((p) => p.nodeId).filter(Boolean));
      replace(preview, graph.el);
    };
    const showProblems = (problems, heading) => {
      replace(problemsList, problems.map(problemItem));
      replace(status, problems.length ? `${heading}: ${problems.length} problem${problems.length === 1 ? '' : 's'}` : 'No problems found');
      status.className = problems.length ? 'bad-text' : 'ok-text';
    };
    const check = async () => {
      const ticket = ++checked;
      let result;
      try {
        result = await checkDraft(text.value);
      } catch (err) {
        replace(saveMessage, errorBox(err));
        return;
      }
      if (ticket !== checked) return; // a later keystroke's check wins
      draft = result;
      showProblems(draft.problems, 'Not saved');
      saveButton.disabled = draft.problems.length > 0 || (workflow && text.value === original);
      drawPreview();
    };
    const checkSoon = debounce(check, CHECK_DELAY_MS);
    text.addEventListener('input', () => { replace(saveMessage); status.className = 'muted'; replace(status, 'Checking…'); checkSoon(); });

    saveButton.addEventListener('click', async () => {
      saveButton.disabled = true;
      replace(saveMessage);
      try {
        const saved = workflow
          ? (await put(`/api/v1/workflows/${workflow.id}`, draft.value)).data
          : (await post('/api/v1/workflows', { ...draft.value, workspaceId: picker.value })).data;
        navigate(`#/workflows/${saved.id}?version=${saved.version}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) {
          draft = { ...draft, problems: refusal(err) };
          showProblems(draft.problems, 'Refused by the server');
          replace(saveMessage, h('div', { class: 'error', role: 'alert' }, 'The server refused this definition: ', err.message));
          drawPreview();
        } else {
          replace(saveMessage, errorBox(err));
          saveButton.disabled = false;
        }
      }
    });

    replace(el,
      h('div', { class: 'page-head' }, title,
        workflow ? h('a', { href: `#/workflows/${workflow.id}`, class: 'button secondary' }, 'Back to the workflow') : null),
      h('section', { class: 'card editor' },
        h('div', { class: 'editor-pane' },
          picker ? h('label', {}, 'Workspace', picker) : null,
          h('label', {}, 'Definition (JSON; checked against ', h('a', { href: '/api/v1/schemas/workflow.json', target: '_blank', rel: 'noopener' }, 'the workflow schema'), ' as you type)', text)),
        h('div', { class: 'editor-side' },
          h('div', { class: 'editor-actions' }, saveButton, status),
          saveMessage, problemsList,
          h('h3', {}, 'Preview'), preview)));
    check();
    return () => checkSoon.cancel();
  };
}
