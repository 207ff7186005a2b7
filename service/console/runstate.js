// A run's nodes folded from its raw events (GET .../events): the one source of inputs,
// outputs, progress, thinking and answer text, tool calls, model usage, prompts and timings
// that the run view shows.

import { EVENT, NODE_STATUS, NODE_STATUS_AFTER, TERMINAL_RUN_STATUSES, USAGE_FIELDS } from './vocabulary.js';

const TERMINAL = new Set(TERMINAL_RUN_STATUSES);

export const isTerminal = (status) => TERMINAL.has(status);

function blankNode(id, definition = {}) {
  return {
    id, name: definition.name || id, type: definition.type || '', after: definition.after || [],
    status: NODE_STATUS.PENDING, attempt: 0, input: undefined, output: undefined, error: null,
    progress: null, message: '', prompt: null, thinking: '', startedAt: null,
    finishedAt: null, durationMs: null, resumedBy: null, reusedFrom: null, toolCalls: [],
    modelCalls: [], answer: '', answerCall: null,
  };
}

export class RunState {
  constructor(definition) {
    this.nodes = new Map();
    this.events = [];
    this.position = 0;
    this.runStartedAt = null;
    this.runFinishedAt = null;
    this.rerunOf = null; // RunCreated's rerunOf: {runId, fromNode, reused: {nodeId: position}}
    for (const node of (definition && definition.nodes) || []) {
      this.nodes.set(node.id, blankNode(node.id, node));
    }
  }

  node(id) {
    if (!this.nodes.has(id)) this.nodes.set(id, blankNode(id));
    return this.nodes.get(id);
  }

  apply(events) {
    for (const event of events) {
      if (event.position <= this.position) continue;
      this.position = event.position;
      this.events.push(event);
      this.applyOne(event);
    }
  }

  applyOne(event) {
    const d = event.data || {};
    const at = event.recordedAt;
    switch (event.type) {
      case EVENT.RUN_CREATED:
        this.runStartedAt = this.runStartedAt || at;
        this.rerunOf = d.rerunOf || null;
        return;
      case EVENT.RUN_STARTED: this.runStartedAt = at; return;
      case EVENT.RUN_COMPLETED: case EVENT.RUN_FAILED: case EVENT.RUN_CANCELLED: this.runFinishedAt = at; return;
      default: break;
    }
    if (typeof d.nodeId !== 'string') return;
    const node = this.node(d.nodeId);
    switch (event.type) {
      case EVENT.NODE_STARTED:
        Object.assign(node, {
          attempt: d.attempt || node.attempt + 1, input: d.input,
          startedAt: at, finishedAt: null, durationMs: null, error: null, progress: null, message: '',
          // A new attempt answers its model call again from the start.
          answer: '', answerCall: null,
        });
        if (d.nodeName) node.name = d.nodeName;
        if (d.nodeType) node.type = d.nodeType;
        break;
      case EVENT.NODE_PROGRESS:
        node.progress = d.progress;
        node.message = d.message || '';
        break;
      case EVENT.NODE_THINKING:
        node.thinking += d.text || '';
        break;
      case EVENT.NODE_ANSWER_DELTA:
        // The answer of the node's current model call: a later call's text starts over.
        if (d.call !== node.answerCall) { node.answerCall = d.call; node.answer = ''; }
        node.answer += d.text || '';
        break;
      case EVENT.NODE_CHECKPOINT: {
        // An agent records each finished tool call as {kind: 'tool', id, record}, and each
        // model call answered with tool calls as {kind: 'answer', message, usage}.
        const step = d.data || {};
        if (step.kind === 'tool' && step.record) {
          node.toolCalls = [...node.toolCalls.filter((c) => c.id !== step.record.id), step.record];
        } else if (step.kind === 'answer' && step.usage) {
          node.modelCalls = [...node.modelCalls, step.usage];
        }
        break;
      }
      case EVENT.NODE_COMPLETED:
        Object.assign(node, { output: d.output, finishedAt: at, progress: node.progress === null ? null : 100 });
        node.durationMs = d.durationMs ?? node.durationMs;
        // A rerun's copy of the original's output: where it came from.
        if (this.rerunOf && this.rerunOf.reused && d.nodeId in this.rerunOf.reused) {
          node.reusedFrom = { runId: this.rerunOf.runId, position: this.rerunOf.reused[d.nodeId] };
        }
        break;
      case EVENT.NODE_FAILED: node.error = d.error; node.finishedAt = at; break;
      case EVENT.NODE_SKIPPED: node.finishedAt = at; break;
      case EVENT.NODE_WAITING: node.prompt = d.prompt ?? null; break;
      case EVENT.NODE_RESUMED: node.resumedBy = d.by || null; node.prompt = null; break;
      case EVENT.NODE_CANCELLED: node.finishedAt = at; break;
      default: break;
    }
    // The status from the server's table; a failure that will be retried waits for its next attempt.
    const status = NODE_STATUS_AFTER[event.type];
    if (status) node.status = event.type === EVENT.NODE_FAILED && d.willRetry ? NODE_STATUS.PENDING : status;
    if (node.startedAt && node.finishedAt && node.durationMs === null) {
      node.durationMs = Date.parse(node.finishedAt) - Date.parse(node.startedAt);
    }
  }

  /** The nodes in definition order, then any the definition did not name. */
  list() {
    return [...this.nodes.values()];
  }
}

/** Token counts summed over `usages` ({promptTokens, ...}), with `calls` and `estimated`. */
function sumUsage(usages) {
  const total = Object.fromEntries(USAGE_FIELDS.map((name) => [name, 0]));
  let calls = 0;
  let estimated = false;
  for (const usage of usages) {
    for (const name of USAGE_FIELDS) total[name] += Number(usage[name]) || 0;
    calls += usage.calls ?? 1;
    estimated = estimated || Boolean(usage.estimated);
  }
  return { ...total, calls, estimated };
}

/**
 * A node's model usage: its output's sum once it finished, before that the calls its
 * checkpoints recorded so far; null for a node that called no model.
 */
export function nodeUsage(node) {
  const output = node.output;
  if (output && typeof output === 'object' && output.usage && typeof output.usage === 'object') {
    return sumUsage([output.usage]);
  }
  return node.modelCalls.length ? sumUsage(node.modelCalls) : null;
}

/** The usage of every node of the run that called a model, summed; null if none did. */
export function runUsage(nodes) {
  const usages = nodes.map(nodeUsage).filter(Boolean);
  return usages.length ? sumUsage(usages) : null;
}

/** The tool call an agent node waits on ({id, name, args}), or null. */
export function pendingToolCall(node) {
  const call = node.status === NODE_STATUS.WAITING && node.prompt && typeof node.prompt === 'object'
    ? node.prompt.toolCall : null;
  return call && typeof call === 'object' && typeof call.id === 'string' ? call : null;
}
