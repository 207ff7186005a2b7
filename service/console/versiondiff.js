// Two versions of a workflow side by side as a line diff of their definitions (pretty
// JSON, keys in the order they were written), unchanged stretches folded away.

import { get, qs } from './api.js';
import { h, replace } from './dom.js';
import { navigate } from './app.js';

const CONTEXT_LINES = 3;
const MAX_TABLE_CELLS = 4_000_000; // past this the middle is shown as removed then added

/** `[{op: ' ' | '-' | '+', text}]` turning lines `a` into lines `b` (longest common subsequence). */
export function lineDiff(a, b) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA -= 1; endB -= 1; }
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const middle = [];
  if (midA.length * midB.length > MAX_TABLE_CELLS) {
    middle.push(...midA.map((text) => ({ op: '-', text })), ...midB.map((text) => ({ op: '+', text })));
  } else {
    // lcs[i][j]: the longest common subsequence of midA[i:] and midB[j:].
    const lcs = Array.from({ length: midA.length + 1 }, () => new Uint32Array(midB.length + 1));
    for (let i = midA.length - 1; i >= 0; i -= 1) {
      for (let j = midB.length - 1; j >= 0; j -= 1) {
        lcs[i][j] = midA[i] === midB[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < midA.length || j < midB.length) {
      if (i < midA.length && j < midB.length && midA[i] === midB[j]) { middle.push({ op: ' ', text: midA[i] }); i += 1; j += 1; }
      else if (j < midB.length && (i === midA.length || lcs[i][j + 1] >= lcs[i + 1][j])) { middle.push({ op: '+', text: midB[j] }); j += 1; }
      else { middle.push({ op: '-', text: midA[i] }); i += 1; }
    }
  }
  return [...a.slice(0, start).map((text) => ({ op: ' ', text })), ...middle,
    ...a.slice(endA).map((text) => ({ op: ' ', text }))];
}

function rendered(lines) {
  const changed = lines.map((line) => line.op !== ' ');
  const near = (i) => changed.slice(Math.max(0, i - CONTEXT_LINES), i + CONTEXT_LINES + 1).some(Boolean);
  const out = [];
  let folded = 0;
  const flush = () => {
    if (folded) out.push(h('div', { class: 'diff-fold muted' }, `… ${folded} unchanged line${folded === 1 ? '' : 's'}`));
    folded = 0;
  };
  lines.forEach((line, i) => {
    if (!near(i)) { folded += 1; return; }
    flush();
    const kind = { ' ': 'same', '-': 'del', '+': 'add' }[line.op];
    out.push(h('div', { class: `diff-line diff-${kind}` }, `${line.op} ${line.text}`));
  });
  flush();
  return out;
}

const pretty = (definition) => JSON.stringify(definition, null, 2).split('\n');

/** `#/workflows/{id}/diff?from=&to=`: what changed between two versions. */
export function diffView(workflowId, query) {
  return async (el) => {
    const workflow = (await get(`/api/v1/workflows/${workflowId}`)).data;
    const versions = workflow.versions || [workflow.version];
    const to = Number(query.to || workflow.latestVersion);
    const from = Number(query.from || Math.max(1, to - 1));
    const [older, newer] = await Promise.all([from, to].map(async (v) => (await get(`/api/v1/workflows/${workflowId}/versions/${v}`)).data));
    const lines = lineDiff(pretty(older.definition), pretty(newer.definition));
    const added = lines.filter((l) => l.op === '+').length;
    const removed = lines.filter((l) => l.op === '-').length;
    const picker = (name, chosen) => h('select', { name, id: `diff-${name}` },
      versions.map((v) => h('option', { value: v, selected: v === chosen }, `v${v}`)));
    const fromPick = picker('from', from);
    const toPick = picker('to', to);
    const form = h('form', { class: 'filters', id: 'diff-form' },
      h('label', {}, 'From', fromPick), h('label', {}, 'To', toPick), h('button', { type: 'submit' }, 'Compare'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      navigate(`#/workflows/${workflowId}/diff${qs({ from: fromPick.value, to: toPick.value })}`);
    });
    replace(el,
      h('div', { class: 'page-head' }, h('h1', {}, `${workflow.name}: v${from} → v${to}`),
        h('a', { href: `#/workflows/${workflowId}`, class: 'button secondary' }, 'Back to the workflow')),
      form,
      h('section', { class: 'card' },
        h('p', { id: 'diff-summary', class: 'muted' }, added || removed ? `${added} line${added === 1 ? '' : 's'} added, ${removed} removed` : 'The two versions are the same.'),
        h('div', { class: 'diff', id: 'version-diff' }, rendered(lines))));
    return null;
  };
}
