// A layered (Sugiyama-style) layout of a workflow's nodes by their `after` edges, left to
// right: each node sits one layer right of its furthest predecessor, edges that skip layers
// pass through invisible points so they route around boxes, and a few barycentre sweeps
// order each layer to keep crossings down. Pure data in, coordinates out: no DOM here.

export const BOX = Object.freeze({ WIDTH: 190, HEIGHT: 64, GAP_X: 70, GAP_Y: 22 });
const ORDER_SWEEPS = 8;

/** The edges of a definition: `{from, to, branch}` with branch true, false or null. */
export function edgesOf(nodes) {
  const edges = [];
  for (const node of nodes) {
    for (const ref of node.after || []) {
      if (typeof ref === 'string') edges.push({ from: ref, to: node.id, branch: null });
      else if (ref && typeof ref.node === 'string') {
        edges.push({ from: ref.node, to: node.id, branch: typeof ref.branch === 'boolean' ? ref.branch : null });
      }
    }
  }
  return edges;
}

/**
 * The ids on a cycle, in definition order (as the API names them: Kahn's algorithm leaves
 * what sits on or behind a cycle, and of those the ones that reach themselves are on one).
 * Edges to ids that do not exist are ignored here: they are a problem of their own.
 */
export function cycleMembers(nodes) {
  const ids = new Set(nodes.map((n) => n.id));
  const indegree = new Map([...ids].map((id) => [id, 0]));
  const successors = new Map([...ids].map((id) => [id, []]));
  for (const edge of edgesOf(nodes)) {
    if (!ids.has(edge.from) || !ids.has(edge.to)) continue;
    successors.get(edge.from).push(edge.to);
    indegree.set(edge.to, indegree.get(edge.to) + 1);
  }
  const queue = [...ids].filter((id) => indegree.get(id) === 0);
  const freed = new Set(queue);
  while (queue.length) {
    for (const next of successors.get(queue.shift())) {
      indegree.set(next, indegree.get(next) - 1);
      if (indegree.get(next) === 0 && !freed.has(next)) { freed.add(next); queue.push(next); }
    }
  }
  const stuck = new Set([...ids].filter((id) => !freed.has(id)));
  const reachesItself = (start) => {
    const stack = [...successors.get(start)];
    const seen = new Set();
    while (stack.length) {
      const current = stack.pop();
      if (current === start) return true;
      if (seen.has(current) || !stuck.has(current)) continue;
      seen.add(current);
      stack.push(...successors.get(current));
    }
    return false;
  };
  return [...stuck].filter(reachesItself);
}

/** Each node's layer: 0 for sources, else one more than its furthest predecessor. */
function assignLayers(ids, edges) {
  const preds = new Map(ids.map((id) => [id, []]));
  for (const edge of edges) preds.get(edge.to).push(edge.from);
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0; // a cycle: callers refuse those, the drawing still ends
    visiting.add(id);
    let d = 0;
    for (const p of preds.get(id)) d = Math.max(d, depth(p) + 1);
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  for (const id of ids) depth(id);
  return layer;
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Reorder each layer by the median position of its neighbours in the layer before. */
function orderLayers(layers, up, down) {
  const position = new Map();
  const remember = () => layers.forEach((row) => row.forEach((id, i) => position.set(id, i)));
  remember();
  for (let sweep = 0; sweep < ORDER_SWEEPS; sweep += 1) {
    const forward = sweep % 2 === 0;
    const range = forward ? layers.map((_, i) => i).slice(1) : layers.map((_, i) => i).reverse().slice(1);
    for (const i of range) {
      const neighbours = forward ? up : down;
      const keyed = layers[i].map((id, index) => {
        const m = median((neighbours.get(id) || []).map((n) => position.get(n)));
        return { id, key: m === null ? index : m, index };
      });
      keyed.sort((a, b) => a.key - b.key || a.index - b.index);
      layers[i] = keyed.map((k) => k.id);
      layers[i].forEach((id, index) => position.set(id, index));
    }
  }
}

/**
 * Lay out `nodes` (definition nodes: id, after). Returns `{nodes: Map id -> {x, y, layer}},
 * edges: [{from, to, branch, points: [[x, y], ...]}], width, height}`; x and y are a box's
 * top-left corner.
 */
export function layout(nodes) {
  const ids = nodes.map((n) => n.id).filter((id, i, all) => all.indexOf(id) === i);
  const known = new Set(ids);
  const edges = edgesOf(nodes).filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  const layerOf = assignLayers(ids, edges);

  // Long edges get one waypoint per layer they cross, so ordering treats them as nodes.
  const up = new Map(ids.map((id) => [id, []]));
  const down = new Map(ids.map((id) => [id, []]));
  const chains = edges.map((edge, index) => {
    const chain = [edge.from];
    for (let l = layerOf.get(edge.from) + 1; l < layerOf.get(edge.to); l += 1) {
      const waypoint = `\u0000${index}:${l}`;
      layerOf.set(waypoint, l);
      up.set(waypoint, []);
      down.set(waypoint, []);
      chain.push(waypoint);
    }
    chain.push(edge.to);
    for (let i = 1; i < chain.length; i += 1) {
      up.get(chain[i]).push(chain[i - 1]);
      down.get(chain[i - 1]).push(chain[i]);
    }
    return chain;
  });
  const depth = Math.max(0, ...layerOf.values()) + 1;
  const layers = Array.from({ length: depth }, () => []);
  for (const [id, l] of layerOf) layers[l].push(id);
  orderLayers(layers, up, down);

  // y: each box as near its predecessors' middle as the boxes above it allow.
  const rowHeight = BOX.HEIGHT + BOX.GAP_Y;
  const y = new Map();
  const heightOf = (id) => (known.has(id) ? BOX.HEIGHT : 0);
  layers.forEach((row, l) => {
    let next = 0;
    for (const id of row) {
      const wanted = l === 0 ? next : median(up.get(id).map((p) => y.get(p) + heightOf(p) / 2 - heightOf(id) / 2));
      const top = Math.max(next, wanted === null ? next : wanted);
      y.set(id, top);
      next = top + (known.has(id) ? rowHeight : BOX.GAP_Y);
    }
  });
  const placed = new Map();
  let height = BOX.HEIGHT;
  for (const [id, l] of layerOf) {
    const x = l * (BOX.WIDTH + BOX.GAP_X);
    if (known.has(id)) placed.set(id, { x, y: y.get(id), layer: l });
    height = Math.max(height, y.get(id) + heightOf(id));
  }
  const routed = edges.map((edge, index) => {
    const chain = chains[index];
    // A waypoint is a straight run across its layer, in the gap its ordering kept free.
    const points = chain.flatMap((id, i) => {
      const x = layerOf.get(id) * (BOX.WIDTH + BOX.GAP_X);
      if (i === 0) return [[x + BOX.WIDTH, y.get(id) + BOX.HEIGHT / 2]];
      if (i === chain.length - 1) return [[x, y.get(id) + BOX.HEIGHT / 2]];
      return [[x, y.get(id) + BOX.GAP_Y / 2], [x + BOX.WIDTH, y.get(id) + BOX.GAP_Y / 2]];
    });
    return { ...edge, points };
  });
  return { nodes: placed, edges: routed, width: depth * (BOX.WIDTH + BOX.GAP_X) - BOX.GAP_X, height };
}
