// What the editor checks as you type: the definition against the JSON Schema the API
// publishes, then the graph rules a schema cannot say (the API checks both again on save,
// and its 422 answers name what these miss, such as templates reading nodes not upstream).

import { ApiError } from './api.js';
import { cycleMembers } from './graphlayout.js';
import { validate } from './jsonschema.js';

const SCHEMA_URL = '/api/v1/schemas/workflow.json';
const BRANCHING_TYPE = 'condition'; // the one node type whose edges may name a branch
let schemaOnce = null;

async function fetchSchema() {
  // The schema is a bare document, not a `{data}` answer, so not read through api().
  const resp = await fetch(SCHEMA_URL, { credentials: 'same-origin', headers: { Accept: 'application/schema+json' } });
  if (!resp.ok) throw new ApiError(resp.status, 'error', `the workflow schema could not be read (${resp.status})`);
  return resp.json();
}

/** The workflow JSON Schema, fetched once per page load. */
export function workflowSchema() {
  if (!schemaOnce) schemaOnce = fetchSchema().catch((err) => { schemaOnce = null; throw err; });
  return schemaOnce;
}

/** `nodes[3].params.ms` -> the id of nodes[3], when it has one. */
function nodeIdAt(definition, path) {
  const match = /^nodes\[(\d+)\]/.exec(path);
  if (!match) return null;
  const node = definition.nodes[Number(match[1])];
  return node && typeof node.id === 'string' ? node.id : null;
}

/** The graph rules, worded as the API words them: `{nodeId, message}` each. */
export function graphProblems(nodes) {
  const problems = [];
  const byId = new Map();
  for (const node of nodes) {
    if (byId.has(node.id)) problems.push({ nodeId: node.id, message: 'duplicate node id' });
    else byId.set(node.id, node);
  }
  for (const node of nodes) {
    const seen = new Set();
    for (const ref of node.after || []) {
      const from = typeof ref === 'string' ? ref : ref && ref.node;
      if (typeof from !== 'string') continue;
      if (!byId.has(from)) problems.push({ nodeId: node.id, message: `after names unknown node '${from}'` });
      else if (from === node.id) problems.push({ nodeId: node.id, message: 'a node cannot come after itself' });
      else if (seen.has(from)) problems.push({ nodeId: node.id, message: `after names '${from}' twice` });
      else if (typeof ref === 'object' && typeof ref.branch === 'boolean' && byId.get(from).type !== BRANCHING_TYPE) {
        problems.push({ nodeId: node.id, message: `branch edge from '${from}', which is not a condition` });
      }
      seen.add(from);
    }
  }
  const selfLoops = new Set(problems.filter((p) => p.message.startsWith('a node cannot')).map((p) => p.nodeId));
  const withoutSelfLoops = nodes.map((n) => ({ ...n, after: (n.after || []).filter((r) => (typeof r === 'string' ? r : r && r.node) !== n.id) }));
  for (const nodeId of cycleMembers(withoutSelfLoops)) {
    if (!selfLoops.has(nodeId)) problems.push({ nodeId, message: 'node is part of a cycle' });
  }
  return problems;
}

/**
 * Every problem of the draft `text`: `{value, problems: [{nodeId, path, message}]}`; value
 * is the parsed definition (null when the text is not JSON).
 */
export async function checkDraft(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { value: null, problems: [{ nodeId: null, path: '', message: `Not valid JSON: ${err.message}` }] };
  }
  const schema = await workflowSchema();
  const problems = validate(schema, value).map((p) => ({ nodeId: nodeIdAt(value, p.path), ...p }));
  const nodes = value && Array.isArray(value.nodes) ? value.nodes.filter((n) => n && typeof n.id === 'string') : [];
  if (!problems.some((p) => p.path === 'nodes' || p.path === '')) problems.push(...graphProblems(nodes).map((p) => ({ path: '', ...p })));
  return { value, problems };
}
