// histogram.js - latency histograms as SVG: a large one with axes and
// percentile markers for the selected task or region, and a tiny sparkline
// for table rows. Buckets come from the server ({lo_ns, hi_ns, count}) and
// are drawn with equal widths in bucket order, whatever their spans (the
// server may use log-spaced buckets); labels are thinned so none overlap.
import { svg } from './dom.js';
import { formatDuration, formatDurationStep, formatCount } from './format.js';

const CHAR_W = 6.4; // approximate width of one 11px label character, to keep labels apart

/** Where value falls on the x axis, interpolating inside its bucket; null when outside. */
function xOf(buckets, value, x0, bw) {
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i];
    if (value >= b.lo_ns && value <= b.hi_ns) {
      const f = b.hi_ns > b.lo_ns ? (value - b.lo_ns) / (b.hi_ns - b.lo_ns) : 0.5;
      return x0 + (i + f) * bw;
    }
  }
  return null;
}

/**
 * histogramChart(buckets, {markers: [{label, ns}], width, height, maxCount}) -> <svg>.
 * The SVG scales to its container's width (viewBox); text stays readable
 * because the default width matches a typical panel.
 */
export function histogramChart(buckets, opts = {}) {
  const W = opts.width || 720;
  const H = opts.height || 210;
  const left = 44;
  const right = 16;
  const markerBand = 30; // percentile labels live in their own band above the plot (two rows)
  const countBand = 16; // room above the tallest bar for its count
  const top = markerBand + 6;
  const bottom = 34;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const barMaxH = plotH - countBand;
  const root = svg('svg', { class: 'histogram', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'latency histogram' });
  const n = buckets.length;
  if (n === 0) return root;
  const maxCount = opts.maxCount || Math.max(1, ...buckets.map((b) => Number(b.count) || 0)); // a shared scale to overlay two
  const bw = plotW / n;
  const base = top + plotH;

  // y axis: 0 and the largest count, at the height of the tallest bar
  root.append(svg('line', { class: 'axis', x1: left, y1: base, x2: left + plotW, y2: base }));
  const yMax = svg('text', { x: left - 8, y: base - barMaxH + 4, 'text-anchor': 'end' });
  yMax.textContent = formatCount(maxCount);
  const y0 = svg('text', { x: left - 8, y: base + 4, 'text-anchor': 'end' });
  y0.textContent = '0';
  root.append(yMax, y0);

  const gap = Math.min(2, bw * 0.15);
  buckets.forEach((b, i) => {
    const c = Number(b.count) || 0;
    const bh = c ? Math.max(1, (c / maxCount) * barMaxH) : 0;
    const rect = svg('rect', { class: 'bar', x: left + i * bw + gap / 2, y: base - bh, width: Math.max(1, bw - gap), height: bh });
    const t = svg('title', {});
    t.textContent = `${formatDuration(b.lo_ns)} – ${formatDuration(b.hi_ns)}: ${formatCount(c)}`;
    rect.append(t);
    root.append(rect);
    const label = formatCount(c);
    if (c > 0 && bw >= label.length * CHAR_W + 4) {
      const tl = svg('text', { class: 'bar-label', x: left + (i + 0.5) * bw, y: base - bh - 4, 'text-anchor': 'middle' });
      tl.textContent = label;
      root.append(tl);
    }
  });

  // x labels at bucket edges: the first and last always, the others only
  // where they fit between their neighbours and say something new
  const edges = [];
  // each edge gets the precision of its narrower neighbouring bucket: enough
  // to tell it from its neighbours, no more (log-spaced buckets differ 1000x)
  const widthOf = (i) => (i >= 0 && i < n ? Math.max(1, buckets[i].hi_ns - buckets[i].lo_ns) : Infinity);
  for (let i = 0; i <= n; i++) {
    const ns = i < n ? buckets[i].lo_ns : buckets[n - 1].hi_ns;
    edges.push({ x: left + i * bw, text: formatDurationStep(ns, Math.min(widthOf(i - 1), widthOf(i))) });
  }
  const lastW = edges[n].text.length * CHAR_W;
  let lastRight = -Infinity;
  let lastText = null;
  edges.forEach((e, i) => {
    const w = e.text.length * CHAR_W;
    const anchor = i === 0 ? 'start' : i === n ? 'end' : 'middle';
    const l = anchor === 'start' ? e.x : anchor === 'end' ? e.x - w : e.x - w / 2;
    if (i > 0 && i < n) {
      if (l < lastRight + 12 || e.text === lastText) return;
      if (l + w > edges[n].x - lastW - 12) return; // keep room for the last label
    }
    const el = svg('text', { x: e.x, y: base + 18, 'text-anchor': anchor });
    el.textContent = e.text;
    root.append(el, svg('line', { class: 'axis', x1: e.x, y1: base, x2: e.x, y2: base + 5 }));
    lastRight = l + w;
    lastText = e.text;
  });

  // percentile markers: dashed lines; markers at the same place share one
  // label ("p90 p99"); labels that would touch are dropped (the line stays,
  // with its tooltip)
  const placed = [];
  for (const m of opts.markers || []) {
    if (m.ns === undefined || m.ns === null) continue;
    const x = xOf(buckets, Number(m.ns), left, bw);
    if (x === null) continue;
    const same = placed.find((p) => Math.abs(p.x - x) < 1);
    if (same) {
      same.labels.push(m.label);
      same.tips.push(`${m.label}: ${formatDuration(m.ns)}`);
    } else {
      placed.push({ x, labels: [m.label], tips: [`${m.label}: ${formatDuration(m.ns)}`] });
    }
  }
  const rowRight = [-Infinity, -Infinity]; // right end of the last label in each row
  for (const p of placed.sort((a, b) => a.x - b.x)) {
    const line = svg('line', { class: 'marker', x1: p.x, y1: top - 2, x2: p.x, y2: base });
    const lt = svg('title', {});
    lt.textContent = p.tips.join(', ');
    line.append(lt);
    root.append(line);
    const text = p.labels.join(' ');
    const w = text.length * CHAR_W;
    const tx = Math.min(Math.max(p.x, left + w / 2), left + plotW - w / 2);
    const row = rowRight.findIndex((r) => tx - w / 2 >= r + 8);
    if (row < 0) continue; // no room in either row: the line keeps its tooltip
    rowRight[row] = tx + w / 2;
    const el = svg('text', { class: 'marker-label', x: tx, y: markerBand - 4 - row * 13, 'text-anchor': 'middle' });
    el.textContent = text;
    const t = svg('title', {});
    t.textContent = p.tips.join(', ');
    el.append(t);
    root.append(el);
  }
  return root;
}

/** A 80x20 sparkline of bucket counts, for a table cell. */
export function histogramSpark(buckets, width = 80, height = 20) {
  const root = svg('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true' });
  const n = buckets.length;
  if (!n) return root;
  const maxCount = Math.max(1, ...buckets.map((b) => Number(b.count) || 0));
  const bw = width / n;
  buckets.forEach((b, i) => {
    const c = Number(b.count) || 0;
    const bh = c ? Math.max(1.5, (c / maxCount) * height) : 0;
    root.append(svg('rect', { class: 'bar', x: i * bw + 0.5, y: height - bh, width: Math.max(0.8, bw - 1), height: bh }));
  });
  return root;
}
