// flamegraph.js - a flame graph (drawn top-down, as an icicle) of blocking
// stacks: the root is all blocked time, each row below splits its parent by
// the next frame towards the blocking call; a box's width is its blocked
// time. Click a box to zoom into it, the breadcrumb to zoom out. Boxes are
// HTML elements positioned in percent, so the graph follows the page width
// and labels are clipped with an ellipsis instead of overlapping.
import { h } from './dom.js';
import { formatCount, formatDuration, formatPercent } from './format.js';

const ROW_H = 24; // px per depth; matches .flame-node height + gap

/**
 * Build the call tree. stacks: [{total_ns, count, frames (innermost first)}].
 * Frames with the same function (and file) under the same parent merge.
 */
export function buildTree(stacks) {
  const root = { name: 'all', file: '', line: 0, total: 0, count: 0, children: new Map(), depth: 0 };
  for (const s of stacks) {
    const t = Number(s.total_ns) || 0;
    const c = Number(s.count) || 0;
    root.total += t;
    root.count += c;
    let node = root;
    const frames = s.frames || [];
    for (let i = frames.length - 1; i >= 0; i--) {
      const f = frames[i] || {};
      const name =
        f.function && f.function !== '??'
          ? f.function
          : f.object
            ? `${String(f.object).split('/').pop()}+${f.offset}`
            : '??';
      const key = `${name}\u0000${f.file || ''}`;
      let child = node.children.get(key);
      if (!child) {
        child = { name, file: f.file || '', line: f.line || 0, total: 0, count: 0, children: new Map(), depth: node.depth + 1, parent: node };
        node.children.set(key, child);
      }
      child.total += t;
      child.count += c;
      node = child;
    }
  }
  return root;
}

// Warm colours by a hash of the name: the same function keeps its colour
// across renders, neighbours usually differ.
function colourOf(name) {
  let x = 2166136261;
  for (let i = 0; i < name.length; i++) x = Math.imul(x ^ name.charCodeAt(i), 16777619);
  const u = (x >>> 0) / 4294967296;
  const hue = 8 + u * 42; // red-orange-yellow
  const light = 68 + ((x >>> 8) & 15);
  return `hsl(${hue.toFixed(0)} 85% ${light}%)`;
}

function depthOf(node) {
  let d = 0;
  for (const c of node.children.values()) d = Math.max(d, 1 + depthOf(c));
  return d;
}

/**
 * flameGraph(root, {grandTotal, kindLabel, rootLabel}) -> element; draws root's
 * subtree and redraws itself on zoom.
 */
export function flameGraph(tree, opts = {}) {
  const wrap = h('div', { class: 'flame-wrap' });
  const crumbs = h('div', { class: 'breadcrumb' });
  const area = h('div', { class: 'flame', role: 'tree', 'aria-label': 'flame graph of blocked time' });
  wrap.append(crumbs, area);
  const grand = opts.grandTotal || tree.total;

  function tip(n) {
    const where = n.file ? `\n${n.file}${n.line ? `:${n.line}` : ''}` : '';
    return `${n.name}${where}\n${formatDuration(n.total)} blocked (${formatPercent(n.total, grand)} of all), ${formatCount(n.count)} event${n.count === 1 ? '' : 's'}`;
  }

  function draw(focus) {
    // breadcrumb from the root to the focused node
    const path = [];
    for (let n = focus; n; n = n.parent) path.unshift(n);
    crumbs.replaceChildren(
      h('span', { class: 'muted' }, 'Zoom:'),
      ...path.flatMap((n, i) => [
        ...(i ? [h('span', { class: 'muted' }, '›')] : []),
        i === path.length - 1 ? h('strong', null, i ? n.name : 'all stacks') : h('button', { type: 'button', onclick: () => draw(n) }, i ? n.name : 'all stacks'),
      ]),
    );
    const nodes = [];
    const base = focus.depth;
    const scale = focus.total || 1;
    const minPct = 0.05; // skip boxes under 0.05% of the width: invisible anyway
    function place(n, leftPct) {
      const w = (100 * n.total) / scale;
      if (w < minPct) return;
      const el = h(
        'div',
        {
          class: `flame-node${n === focus && !n.parent ? ' root' : ''}`,
          role: 'treeitem',
          title: tip(n),
          style: `left:${leftPct}%;width:${w}%;top:${(n.depth - base) * ROW_H}px;${n.parent ? `background:${colourOf(n.name)}` : ''}`,
        },
        h('span', { class: 'flame-label' }, n.parent ? n.name : `${opts.rootLabel || 'all blocked time'}${opts.kindLabel ? ` (${opts.kindLabel})` : ''}: ${formatDuration(n.total)}`),
      );
      el.addEventListener('click', () => draw(n));
      nodes.push(el);
      let x = leftPct;
      const kids = [...n.children.values()].sort((a, b) => b.total - a.total);
      for (const c of kids) {
        place(c, x);
        x += (100 * c.total) / scale;
      }
    }
    place(focus, 0);
    area.style.height = `${(depthOf(focus) + 1) * ROW_H}px`;
    area.replaceChildren(...nodes);
  }
  draw(tree);
  return wrap;
}
