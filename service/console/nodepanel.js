// The panel a click on a graph node opens: everything the run's log says about that node
// (status, attempt, duration, progress, prompt, errors, an agent's thinking and answer text,
// tool calls and token usage, input and output).

import { badge, between, fmtDuration, fmtTime, h, jsonView, shortId } from './dom.js';
import { nodeUsage, pendingToolCall } from './runstate.js';
import { pendingCallSection, toolCallsSection, usageFact } from './toolcalls.js';
import { NODE_STATUS } from './vocabulary.js';

// The node statuses a run can be retried from.
const RETRYABLE = new Set([NODE_STATUS.FAILED, NODE_STATUS.CANCELLED]);

const asText = (value) => (typeof value === 'string' ? value : JSON.stringify(value));

/**
 * The panel of one node (a RunState node); `onClose` hides it. `onRetry` (given when the
 * caller may rerun a finished run) starts a rerun from this node if it failed or was
 * cancelled. `decision(call)` (given when the caller may decide tool calls) returns the
 * form that decides the tool call the node waits on.
 */
export function nodePanel(node, { onClose, onRetry = null, decision = null }) {
  const running = node.status === NODE_STATUS.RUNNING;
  const usage = nodeUsage(node);
  const pending = pendingToolCall(node);
  const duration = node.durationMs ?? (node.startedAt && running ? between(node.startedAt, null) : null);
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Node'), h('dd', { class: 'mono' }, node.id),
    h('dt', {}, 'Type'), h('dd', {}, node.type || '—'),
    h('dt', {}, 'Status'), h('dd', { class: 'panel-status' }, badge(node.status)),
    h('dt', {}, 'Attempt'), h('dd', { class: 'panel-attempt' }, node.attempt ? String(node.attempt) : '—'),
    h('dt', {}, 'Started'), h('dd', {}, fmtTime(node.startedAt)),
    h('dt', {}, 'Duration'), h('dd', { class: 'panel-duration' }, fmtDuration(duration)),
    node.progress !== null && node.progress !== undefined
      ? [h('dt', {}, 'Progress'), h('dd', {}, `${Math.round(node.progress)}%${node.message ? ` · ${node.message}` : ''}`)]
      : null,
    node.resumedBy ? [h('dt', {}, 'Answered by'), h('dd', {}, node.resumedBy)] : null,
    usage ? usageFact(usage, 'panel-usage') : null);
  const sections = [];
  if (node.reusedFrom) {
    sections.push(h('p', { class: 'reused-note' }, 'Not run again: output reused from ',
      h('a', { href: `#/runs/${node.reusedFrom.runId}` }, `run ${shortId(node.reusedFrom.runId)}`),
      `, event #${node.reusedFrom.position}.`));
  }
  if (onRetry && RETRYABLE.has(node.status)) {
    sections.push(h('button', { type: 'button', id: 'retry-from-here', dataset: { node: node.id }, onclick: () => onRetry(node.id) }, 'Retry from here'));
  }
  if (node.status === NODE_STATUS.SKIPPED) {
    sections.push(h('p', { class: 'muted' }, 'Skipped: it lies on a branch the run did not take.'));
  }
  if (pending) {
    sections.push(pendingCallSection(pending, decision ? decision(pending) : null));
  } else if (node.prompt !== null && node.prompt !== undefined) {
    sections.push(h('div', { class: 'prompt' }, h('strong', {}, 'Waiting for: '), asText(node.prompt)));
  }
  if (node.error) {
    sections.push(h('div', { class: 'error node-error', role: 'alert' }, `Attempt ${node.attempt} failed: `, asText(node.error)));
  }
  if (node.thinking) {
    sections.push(h('div', { class: 'thinking' }, h('h4', {}, 'Thinking'), h('pre', { class: 'thinking-text' }, node.thinking)));
  }
  if (node.answer) {
    sections.push(h('div', { class: 'answer' }, h('h4', {}, running ? 'Answer (so far)' : 'Answer'),
      h('pre', { class: 'answer-text', dataset: { call: node.answerCall } }, node.answer)));
  }
  if (node.toolCalls && node.toolCalls.length) sections.push(toolCallsSection(node.toolCalls));
  sections.push(h('div', { class: 'io' },
    h('div', { class: 'panel-input' }, h('h4', {}, 'Input'), jsonView(node.input, 'input')),
    h('div', { class: 'panel-output' }, h('h4', {}, 'Output'), jsonView(node.output, 'output'))));
  return h('aside', { class: 'node-panel', id: 'node-panel', dataset: { nodeId: node.id, status: node.status } },
    h('div', { class: 'node-panel-head' },
      h('h3', {}, node.name || node.id),
      h('button', { type: 'button', class: 'secondary', id: 'node-panel-close', onclick: onClose }, 'Close')),
    facts, sections);
}
