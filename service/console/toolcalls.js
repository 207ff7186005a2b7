// An agent's tool calls in the node panel: the call it waits on (name and arguments, and for
// runners approve, approve with edited arguments, or reject with a reason), the calls it
// made, and the tokens its model calls used.

import { post } from './api.js';
import { badge, compactJson, errorBox, h, jsonView, replace } from './dom.js';
import { LIMITS, TOOL_DECISION, USAGE_FIELDS } from './vocabulary.js';

const asText = (value) => (typeof value === 'string' ? value : JSON.stringify(value));

/** The edited arguments: [value, problem]; they must stay a JSON object. */
function parseArgs(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return [null, `The arguments are not valid JSON: ${err.message}`];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [null, 'The arguments must be a JSON object'];
  }
  return [value, null];
}

const sameJson = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The form that decides `call` (runner role): the arguments in a JSON editor, "Approve"
 * (which sends the edited arguments once they differ from the model's) and "Reject" with a
 * reason. `onDone` runs after the API recorded the decision.
 */
export function toolCallDecision(runId, nodeId, call, onDone) {
  const original = call.args ?? {};
  const args = h('textarea', { class: 'tool-args', name: 'args', rows: 6, spellcheck: 'false' }, JSON.stringify(original, null, 2));
  const reason = h('input', { class: 'tool-reason', name: 'reason', maxlength: LIMITS.MAX_REASON_CHARS, placeholder: 'Why reject? (told to the model)' });
  const problem = h('div', { class: 'form-message tool-problem' });
  const message = h('span', { class: 'form-message tool-message' });
  const approve = h('button', { type: 'button', class: 'approve approve-tool' }, 'Approve');
  const reject = h('button', { type: 'button', class: 'danger reject-tool' }, 'Reject');
  const check = () => {
    const [value, bad] = parseArgs(args.value);
    replace(problem, bad ? h('div', { class: 'error' }, bad) : null);
    approve.disabled = Boolean(bad);
    approve.textContent = !bad && !sameJson(value, original) ? 'Approve with edited arguments' : 'Approve';
    return [value, bad];
  };
  args.addEventListener('input', check);
  const decide = async (decision) => {
    const body = { decision };
    if (decision === TOOL_DECISION.APPROVE) {
      const [value, bad] = check();
      if (bad) return;
      if (!sameJson(value, original)) body.args = value;
    }
    if (reason.value) body.reason = reason.value;
    approve.disabled = true;
    reject.disabled = true;
    try {
      await post(`/api/v1/workflow-runs/${runId}/nodes/${encodeURIComponent(nodeId)}/tool-calls/${encodeURIComponent(call.id)}`, body);
      replace(message, decision === TOOL_DECISION.APPROVE ? 'Approved.' : 'Rejected.');
      onDone();
    } catch (err) {
      replace(message, errorBox(err));
      reject.disabled = false;
      check();
    }
  };
  approve.addEventListener('click', () => decide(TOOL_DECISION.APPROVE));
  reject.addEventListener('click', () => decide(TOOL_DECISION.REJECT));
  return h('div', { class: 'tool-decision' },
    h('label', {}, 'Arguments (edit them to run the call with yours)', args), problem,
    h('div', { class: 'approval' }, approve, reason, reject, message));
}

/** The call the node waits on; `decision` is the form, or null for those who may not decide. */
export function pendingCallSection(call, decision) {
  return h('div', { class: 'pending-tool-call', dataset: { callId: call.id } },
    h('h4', {}, 'Tool call waiting for approval'),
    h('p', {}, h('strong', { class: 'mono pending-tool-name' }, call.name), h('span', { class: 'muted mono small' }, ` ${call.id}`)),
    decision || [h('div', { class: 'pending-tool-args' }, jsonView(call.args, 'arguments')),
      h('p', { class: 'muted' }, 'Approving or rejecting needs the runner role in this workspace.')]);
}

/** The calls the node made, with their status, arguments and result. */
export function toolCallsSection(calls) {
  return h('div', { class: 'tool-calls' }, h('h4', {}, 'Tool calls'),
    h('table', { id: 'tool-calls' },
      h('thead', {}, h('tr', {}, ['Tool', 'Status', 'Arguments', 'Result'].map((t) => h('th', {}, t)))),
      h('tbody', {}, calls.map((call) => h('tr', { dataset: { callId: call.id } },
        h('td', { class: 'mono' }, call.name), h('td', {}, badge(call.status)),
        h('td', {}, compactJson(call.args)),
        h('td', {}, call.error ? h('span', { class: 'bad-text' }, asText(call.error)) : compactJson(call.output)))))));
}

/** "1,234 prompt · 56 completion · 0 reasoning · 0 cached (2 model calls)". */
export function usageText(usage) {
  const parts = USAGE_FIELDS.map((name) => `${(usage[name] || 0).toLocaleString('en')} ${name.replace(/Tokens$/, '')}`);
  const calls = `${usage.calls} model call${usage.calls === 1 ? '' : 's'}`;
  return `${parts.join(' · ')} (${calls}${usage.estimated ? ', estimated' : ''})`;
}

/** The usage as a fact list entry, its figures in data attributes for a reader or a test. */
export function usageFact(usage, id) {
  return [h('dt', {}, 'Tokens'), h('dd', {
    class: 'usage', id,
    dataset: { prompt: usage.promptTokens, completion: usage.completionTokens, reasoning: usage.reasoningTokens, cached: usage.cachedTokens, calls: usage.calls },
  }, usageText(usage))];
}
