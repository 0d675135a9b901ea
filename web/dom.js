// dom.js - a tiny helper to build DOM nodes in code without innerHTML, so
// names coming from a trace (thread names, function names, which are
// untrusted) are always inserted as text, never parsed as HTML.

/**
 * h('div', {class: 'x', title: 't', onclick: fn}, child, ...) -> Element.
 * Children may be strings, numbers, nodes, arrays, or null/false (skipped).
 * Attributes named on* with a function become event listeners; `dataset`
 * takes an object; other values are set with setAttribute (true -> "").
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.append(c);
    else el.append(String(c));
  }
}

/** An SVG element with attributes (no children helper: SVG here is small). */
export function svg(tag, attrs) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

/** The "Loading…" line every view shows until its data arrives. */
export function loading(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, text);
}

/** A friendly empty state: a title line and an explanation. */
export function emptyState(title, text) {
  return h('div', { class: 'empty-state' }, h('strong', null, title), text ? h('span', null, text) : null);
}
