// A run's nodes folded from its raw events (GET .../events): the one source of inputs,
// outputs, progress, thinking text, prompts and timings that the run view shows.

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export const isTerminal = (status) => TERMINAL.has(status);

function blankNode(id, definition = {}) {
  return {
    id, name: definition.name || id, type: definition.type || '', after: definition.after || [],
    status: 'scheduled', attempt: 0, input: undefined, output: undefined, error: null,
    progress: null, message: '', prompt: null, thinking: '', startedAt: null,
    finishedAt: null, durationMs: null, resumedBy: null,
  };
}

export class RunState {
  constructor(definition) {
    this.nodes = new Map();
    this.events = [];
    this.position = 0;
    this.runStartedAt = null;
    this.runFinishedAt = null;
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
      case 'RunCreated': this.runStartedAt = this.runStartedAt || at; return;
      case 'RunStarted': this.runStartedAt = at; return;
      case 'RunCompleted': case 'RunFailed': case 'RunCancelled': this.runFinishedAt = at; return;
      default: break;
    }
    if (typeof d.nodeId !== 'string') return;
    const node = this.node(d.nodeId);
    switch (event.type) {
      case 'NodeStarted':
        Object.assign(node, {
          status: 'running', attempt: d.attempt || node.attempt + 1, input: d.input,
          startedAt: at, finishedAt: null, durationMs: null, error: null, progress: null, message: '',
        });
        if (d.nodeName) node.name = d.nodeName;
        if (d.nodeType) node.type = d.nodeType;
        break;
      case 'NodeProgress':
        node.progress = d.progress;
        node.message = d.message || '';
        break;
      case 'NodeThinking':
        node.thinking += d.text || '';
        break;
      case 'NodeCompleted':
        Object.assign(node, { status: 'completed', output: d.output, finishedAt: at, progress: node.progress === null ? null : 100 });
        node.durationMs = d.durationMs ?? node.durationMs;
        break;
      case 'NodeFailed':
        node.error = d.error;
        node.finishedAt = at;
        node.status = d.willRetry ? 'scheduled' : 'failed';
        break;
      case 'NodeSkipped': node.status = 'skipped'; node.finishedAt = at; break;
      case 'NodeWaiting': node.status = 'waiting'; node.prompt = d.prompt ?? null; break;
      case 'NodeResumed': node.status = 'running'; node.resumedBy = d.by || null; node.prompt = null; break;
      case 'NodeCancelled': node.status = 'cancelled'; node.finishedAt = at; break;
      default: break;
    }
    if (node.startedAt && node.finishedAt && node.durationMs === null) {
      node.durationMs = Date.parse(node.finishedAt) - Date.parse(node.startedAt);
    }
  }

  /** The nodes in definition order, then any the definition did not name. */
  list() {
    return [...this.nodes.values()];
  }
}
