// A workflow drawn as an SVG graph (layout from graphlayout.js), with pan (drag), zoom
// (wheel, buttons) and a fit button. A run's view feeds it node states, which only change
// classes and texts in place, so a live update never resets where the reader has panned.

import { fmtDuration, h } from './dom.js';
import { BOX, layout } from './graphlayout.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const PAD = 24;
const MIN_SCALE = 0.2;
const MAX_SCALE = 2.5;
const READABLE_SCALE = 0.6; // fitting never shrinks text below this; pan to see the rest
const MAX_VIEW_HEIGHT = 520;
const CLICK_SLOP_PX = 4;
const NAME_CHARS = 24;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const cut = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A smooth path through `points`, leaving and entering each one horizontally. */
function pathThrough(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i += 1) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const bend = Math.max(12, (x1 - x0) / 2);
    d += ` C${x0 + bend},${y0} ${x1 - bend},${y1} ${x1},${y1}`;
  }
  return d;
}

function nodeBox(node, place) {
  const title = node.name && node.name !== node.id ? `${node.name} (${node.id})` : node.id;
  const progressTrack = svg('rect', { class: 'gnode-track', x: 10, y: BOX.HEIGHT - 12, width: BOX.WIDTH - 20, height: 4, rx: 2 });
  const progressFill = svg('rect', { class: 'gnode-fill', x: 10, y: BOX.HEIGHT - 12, width: 0, height: 4, rx: 2 });
  const group = svg('g', { class: 'gnode', transform: `translate(${place.x},${place.y})`, 'data-node-id': node.id, tabindex: 0, role: 'button' },
    svg('title', {}, title),
    svg('rect', { class: 'gnode-box', width: BOX.WIDTH, height: BOX.HEIGHT, rx: 8 }),
    svg('text', { class: 'gnode-name', x: 10, y: 20 }, cut(node.name || node.id, NAME_CHARS)),
    svg('text', { class: 'gnode-type', x: BOX.WIDTH - 10, y: 20, 'text-anchor': 'end' }, cut(node.type || '', 14)),
    svg('text', { class: 'gnode-facts', x: 10, y: 39 }, ''),
    progressTrack, progressFill);
  group.parts = { facts: group.querySelector('.gnode-facts'), track: progressTrack, fill: progressFill };
  return group;
}

function edgeLine(edge) {
  const group = svg('g', { class: 'gedge', 'data-from': edge.from, 'data-to': edge.to },
    svg('path', { d: pathThrough(edge.points) }));
  if (edge.branch !== null) {
    // Beside the target end: two branches leave one point, but never reach the same one.
    const [x, y] = edge.points[edge.points.length - 1];
    group.append(svg('text', { class: `gedge-label branch-${edge.branch}`, x: x - 6, y: y - 6, 'text-anchor': 'end' }, String(edge.branch)));
  }
  return group;
}

/**
 * The graph of `definitionNodes`. `onSelect(id)` is called when a node is clicked (or
 * chosen with Enter). Returns `{el, update(nodeStates), select(id), mark(ids), fit()}`.
 */
export function workflowGraph(definitionNodes, { onSelect = null, id = 'graph' } = {}) {
  const placed = layout(definitionNodes);
  const world = svg('g', { class: 'graph-world' });
  const edgesLayer = svg('g', { class: 'graph-edges' });
  const nodesLayer = svg('g', { class: 'graph-nodes' });
  world.append(edgesLayer, nodesLayer);
  const canvas = svg('svg', { class: 'graph-canvas', role: 'img', 'aria-label': 'workflow graph' }, world);
  const boxes = new Map();
  const edgeEls = [];
  for (const edge of placed.edges) {
    const line = edgeLine(edge);
    edgeEls.push({ edge, line });
    edgesLayer.append(line);
  }
  for (const node of definitionNodes) {
    const place = placed.nodes.get(node.id);
    if (!place || boxes.has(node.id)) continue;
    const box = nodeBox(node, place);
    boxes.set(node.id, box);
    nodesLayer.append(box);
  }

  let view = { x: PAD, y: PAD, k: 1 };
  const apply = () => world.setAttribute('transform', `translate(${view.x},${view.y}) scale(${view.k})`);
  const zoomAt = (factor, cx, cy) => {
    const k = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.k * factor));
    view = { x: cx - ((cx - view.x) * k) / view.k, y: cy - ((cy - view.y) * k) / view.k, k };
    apply();
    frame.dataset.zoom = k.toFixed(2);
  };
  const zoomIn = h('button', { type: 'button', class: 'secondary', title: 'Zoom in', 'aria-label': 'Zoom in' }, '+');
  const zoomOut = h('button', { type: 'button', class: 'secondary', title: 'Zoom out', 'aria-label': 'Zoom out' }, '−');
  const fitButton = h('button', { type: 'button', class: 'secondary graph-fit', title: 'Fit to view' }, 'Fit');
  const frame = h('div', { class: 'graph', id, dataset: { zoom: '1.00' } },
    canvas, h('div', { class: 'graph-tools' }, zoomIn, zoomOut, fitButton));

  const fit = () => {
    const width = frame.clientWidth || 900;
    const height = Math.min(MAX_VIEW_HEIGHT, placed.height * 1 + 2 * PAD);
    frame.style.height = `${Math.max(160, height)}px`;
    const k = Math.min(1, (width - 2 * PAD) / Math.max(1, placed.width), (Math.max(160, height) - 2 * PAD) / Math.max(1, placed.height));
    const scale = Math.max(READABLE_SCALE, Math.min(MAX_SCALE, k));
    view = { x: PAD, y: PAD, k: scale };
    if (placed.width * scale < width - 2 * PAD) view.x = (width - placed.width * scale) / 2;
    apply();
    frame.dataset.zoom = scale.toFixed(2);
  };
  zoomIn.addEventListener('click', () => zoomAt(1.25, frame.clientWidth / 2, frame.clientHeight / 2));
  zoomOut.addEventListener('click', () => zoomAt(0.8, frame.clientWidth / 2, frame.clientHeight / 2));
  fitButton.addEventListener('click', fit);
  canvas.addEventListener('wheel', (event) => {
    event.preventDefault();
    const rect = canvas.getBoundingClientRect();
    zoomAt(event.deltaY < 0 ? 1.1 : 1 / 1.1, event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });

  // Drag anywhere to pan; a press that barely moved on a node is a click on it.
  let drag = null;
  canvas.addEventListener('pointerdown', (event) => {
    drag = { sx: event.clientX, sy: event.clientY, x: view.x, y: view.y, moved: false };
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.sx;
    const dy = event.clientY - drag.sy;
    if (Math.abs(dx) + Math.abs(dy) > CLICK_SLOP_PX) drag.moved = true;
    if (!drag.moved) return;
    view = { ...view, x: drag.x + dx, y: drag.y + dy };
    apply();
  });
  canvas.addEventListener('pointerup', (event) => {
    const moved = drag && drag.moved;
    drag = null;
    if (moved || !onSelect) return;
    // Pointer capture retargets the event to the canvas: find the node under the pointer.
    const under = document.elementFromPoint(event.clientX, event.clientY);
    const box = under && under.closest('.gnode');
    if (box) onSelect(box.dataset.nodeId);
  });
  canvas.addEventListener('keydown', (event) => {
    const box = event.target.closest && event.target.closest('.gnode');
    if (box && onSelect && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      onSelect(box.dataset.nodeId);
    }
  });

  /** Show each node's status, attempt, duration and progress (a RunState's nodes). */
  let selected = null;
  const update = (states) => {
    const statusOf = new Map();
    for (const state of states) {
      const box = boxes.get(state.id);
      if (!box) continue;
      statusOf.set(state.id, state.status);
      box.setAttribute('class', `gnode status-${state.status}${state.reusedFrom ? ' reused' : ''}${state.id === selected ? ' selected' : ''}`);
      box.dataset.status = state.status;
      box.dataset.reused = state.reusedFrom ? 'true' : '';
      const facts = [state.reusedFrom ? `${state.status} (reused)` : state.status];
      if (state.attempt) facts.push(`attempt ${state.attempt}`);
      if (state.durationMs !== null && state.durationMs !== undefined) facts.push(fmtDuration(state.durationMs));
      box.parts.facts.textContent = facts.join(' · ');
      const hasProgress = state.progress !== null && state.progress !== undefined;
      const pct = hasProgress ? Math.max(0, Math.min(100, state.progress)) : 0;
      box.parts.track.classList.toggle('shown', hasProgress);
      box.parts.fill.setAttribute('width', String(((BOX.WIDTH - 20) * pct) / 100));
      box.dataset.progress = hasProgress ? String(Math.round(pct)) : '';
    }
    for (const { edge, line } of edgeEls) {
      line.setAttribute('class', `gedge to-${statusOf.get(edge.to) || 'none'}`);
    }
  };
  const select = (nodeId) => {
    selected = nodeId;
    for (const [boxId, box] of boxes) box.classList.toggle('selected', boxId === nodeId);
  };
  /** Outline the nodes a draft's problems name (the editor's preview). */
  const mark = (nodeIds) => {
    const named = new Set(nodeIds);
    for (const [boxId, box] of boxes) box.classList.toggle('problem', named.has(boxId));
  };
  // Fit once the frame has a width (it is attached after this returns).
  requestAnimationFrame(fit);
  return { el: frame, update, select, mark, fit };
}
