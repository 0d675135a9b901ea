// timeline-draw.js - paints the Timeline's canvas from its model
// (timeline-model.js): the ruler, the task lanes, the process headers, each
// thread's states, regions and logs, the wake-up and creation arrows, the
// selected task's threads and the shift-drag selection.
// Not here: what is where (the model), events (timeline-input.js).
import { formatDuration } from './format.js';
import { stateLabel } from './states.js';
import {
  STATE_OF_BYTE, LABEL_W, RULER_H, STATE_H, LOG_H, REGION_H, ROW_PAD, PROC_H, TASK_H, TASK_HEAD, COUNTER_H,
  tickLabel, niceStep, hashHue, rowKey,
} from './timeline-model.js';
import { drawProcHeader, drawProcLinks, drawFlows } from './timeline-procs.js';

const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';

/** Black or white, whichever reads better on the colour #rrggbb. */
function textOn(hex) {
  const v = parseInt(String(hex || '#999999').slice(1), 16);
  const lum = 0.2126 * ((v >> 16) & 255) + 0.7152 * ((v >> 8) & 255) + 0.0722 * (v & 255);
  return lum > 140 ? '#1d2430' : '#ffffff';
}

/** Fits text into maxW pixels (with an ellipsis) and draws it; nothing when too narrow. */
function label(g, text, x, y, maxW, colorText = '#1d2430') {
  if (maxW < 14) return;
  g.fillStyle = colorText;
  let s = text;
  if (g.measureText(s).width > maxW) {
    while (s.length > 1 && g.measureText(`${s}…`).width > maxW) s = s.slice(0, -1);
    s = `${s}…`;
    if (s.length <= 2) return;
  }
  g.fillText(s, x, y);
}

// A region's colours by name: cool light blues, lighter than any state
// (the strings built once per name, not once per region per frame).
const REGION_COLORS = new Map();
function regionColors(name) {
  let c = REGION_COLORS.get(name);
  if (!c) {
    const hue = 195 + (hashHue(name) % 50);
    c = { fill: `hsl(${hue} 40% 86%)`, selFill: `hsl(${hue} 40% 70%)`, stroke: `hsl(${hue} 35% 60%)`, selStroke: `hsl(${hue} 35% 30%)` };
    if (REGION_COLORS.size > 10000) REGION_COLORS.clear();
    REGION_COLORS.set(name, c);
  }
  return c;
}

function arrow(g, x0, y0, x1, y1, col, dashed, lineWidth = 1.5, head = 7) {
  g.strokeStyle = col;
  g.fillStyle = col;
  g.lineWidth = lineWidth;
  g.setLineDash(dashed ? [4, 3] : []);
  g.beginPath();
  g.moveTo(x0, y0);
  g.lineTo(x1, y1);
  g.stroke();
  g.setLineDash([]);
  const a = Math.atan2(y1 - y0, x1 - x0);
  g.beginPath();
  g.moveTo(x1, y1);
  g.lineTo(x1 - head * Math.cos(a - 0.45), y1 - head * Math.sin(a - 0.45));
  g.lineTo(x1 - head * Math.cos(a + 0.45), y1 - head * Math.sin(a + 0.45));
  g.closePath();
  g.fill();
  g.lineWidth = 1;
}

/**
 * A painter of canvas for model m. color maps a state key to its CSS colour.
 * Returns draw(), which paints the whole visible canvas at m.scrollTop.
 */
export function createPainter(m, canvas, color) {
  let hatchPattern = null;
  function hatch(g) {
    if (hatchPattern) return hatchPattern;
    const c = document.createElement('canvas');
    c.width = 8;
    c.height = 8;
    const x = c.getContext('2d');
    x.fillStyle = '#f1f3f6';
    x.fillRect(0, 0, 8, 8);
    x.strokeStyle = '#d5dae1';
    x.beginPath();
    x.moveTo(0, 8);
    x.lineTo(8, 0);
    x.stroke();
    hatchPattern = g.createPattern(c, 'repeat');
    return hatchPattern;
  }

  function ticks() {
    const step = niceStep(((m.v1 - m.v0) / m.plotW()) * 110);
    const out = [];
    for (let t = Math.ceil(m.v0 / step) * step; t <= m.v1; t += step) out.push(t);
    return { step, out };
  }

  function drawGrid(g, scrollY) {
    const { out } = ticks();
    g.strokeStyle = '#eceff3';
    g.lineWidth = 1;
    g.beginPath();
    for (const t of out) {
      const x = Math.round(m.xOf(t)) + 0.5;
      g.moveTo(x, scrollY + RULER_H);
      g.lineTo(x, scrollY + m.height);
    }
    g.stroke();
  }

  function drawRuler(g) {
    const { width } = m;
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, width, RULER_H);
    g.strokeStyle = '#c5cbd3';
    g.beginPath();
    g.moveTo(0, RULER_H - 0.5);
    g.lineTo(width, RULER_H - 0.5);
    g.stroke();
    const { step, out } = ticks();
    g.fillStyle = '#5b6573';
    g.textAlign = 'left';
    let lastEnd = LABEL_W;
    for (const t of out) {
      const x = m.xOf(t);
      if (x < LABEL_W) continue;
      g.beginPath();
      g.moveTo(Math.round(x) + 0.5, RULER_H - 8);
      g.lineTo(Math.round(x) + 0.5, RULER_H);
      g.stroke();
      const text = tickLabel(t, step, Math.max(Math.abs(m.v0), Math.abs(m.v1), step));
      const w = g.measureText(text).width;
      if (x + 4 >= lastEnd + 8 && x + 4 + w < width) {
        g.fillText(text, x + 4, RULER_H / 2 - 2);
        lastEnd = x + 4 + w;
      }
    }
    g.fillStyle = '#1d2430';
    g.font = '600 12px system-ui, sans-serif';
    g.fillText('Time since trace start', 10, RULER_H / 2 - 2);
    g.font = '12px system-ui, sans-serif';
  }

  function drawProcess(g, p) {
    if (p.tree) return drawProcHeader(g, m, p); // a process tree (timeline-procs.js)
    g.fillStyle = '#eef1f5';
    g.fillRect(0, p.y, m.width, PROC_H);
    g.fillStyle = '#1d2430';
    g.font = '600 12px system-ui, sans-serif';
    g.textAlign = 'left';
    g.fillText(p.label, 10, p.y + PROC_H / 2);
    g.font = '12px system-ui, sans-serif';
  }

  // a task's colour by its name: warm, apart from the states' colours (a
  // few names, thousands of tasks: the strings are made once)
  const taskFills = new Map();
  function taskFill(name, sel) {
    const key = sel ? `\u0001${name}` : name;
    let f = taskFills.get(key);
    if (!f) {
      if (taskFills.size > 4096) taskFills.clear();
      f = `hsl(${25 + (hashHue(name) % 40)} 70% ${sel ? 66 : 82}%)`;
      taskFills.set(key, f);
    }
    return f;
  }

  function drawTasks(g) {
    const { width, selected } = m;
    const y0 = m.tasksY;
    g.fillStyle = '#fafbfc';
    g.fillRect(0, y0, width, TASK_HEAD + m.taskLanes * (TASK_H + 2) + 6);
    g.fillStyle = '#1d2430';
    g.font = '600 12px system-ui, sans-serif';
    g.textAlign = 'left';
    g.fillText('Tasks', 10, y0 + 10);
    g.font = '12px system-ui, sans-serif';
    if (!m.data) return;
    if (m.data.tasks.length === 0 || (m.summary && m.summary.tasks > 4000 && m.data.tasks.length < m.summary.tasks)) {
      // the server leaves out tasks narrower than a pixel when there are many
      const text = m.data.tasks.length === 0
        ? (m.summary && m.summary.tasks > 4000 ? 'Tasks here are shorter than a pixel: zoom in to see them' : 'No task in this window')
        : 'Tasks shorter than a pixel are not drawn: zoom in to see them';
      g.fillStyle = '#5b6573';
      g.font = 'italic 12px system-ui, sans-serif';
      g.textAlign = 'right';
      g.fillText(text, width - 10, y0 + 10);
      g.textAlign = 'left';
      g.font = '12px system-ui, sans-serif';
      m.tasksNote = text;
    } else {
      m.tasksNote = '';
    }
    const labelEnd = [];
    for (const { task, lane } of m.taskLayout) {
      const x0 = Math.max(LABEL_W, m.xOf(task.s));
      const x1 = Math.min(width, m.xOf(task.e));
      if (x1 < LABEL_W || x0 > width) continue;
      const y = m.taskLaneY(lane);
      const w = Math.max(1, x1 - x0);
      const sel = selected && selected.kind === 'task' && selected.id === task.id;
      g.fillStyle = taskFill(task.name, sel);
      g.fillRect(x0, y, w, TASK_H);
      if (sel) {
        g.strokeStyle = '#1f5fbf';
        g.lineWidth = 2;
        g.strokeRect(x0 + 1, y + 1, w - 2, TASK_H - 2);
        g.lineWidth = 1;
      }
      // a label only where it overlaps no other (the last lane takes the
      // tasks that fit nowhere else, so they may overlap there)
      if (w > 30 && x0 >= (labelEnd[lane] || 0)) {
        label(g, task.name, x0 + 4, y + TASK_H / 2, w - 8);
        labelEnd[lane] = x1;
      }
    }
    g.strokeStyle = '#dde1e6';
    g.beginPath();
    const yb = m.taskLaneY(m.taskLanes) + 5.5;
    g.moveTo(0, yb);
    g.lineTo(width, yb);
    g.stroke();
  }

  // Counter tracks: the value as a step line over a light area, scaled to
  // the counter's range over the whole trace; the name and the range on the
  // left.
  function drawCounters(g) {
    m.counters.forEach((c, i) => {
      const y0 = m.countersY + i * COUNTER_H;
      g.fillStyle = '#fcfcfd';
      g.fillRect(0, y0, m.width, COUNTER_H);
      g.strokeStyle = '#eceff3';
      g.beginPath();
      g.moveTo(0, y0 + COUNTER_H - 0.5);
      g.lineTo(m.width, y0 + COUNTER_H - 0.5);
      g.stroke();
      g.textAlign = 'left';
      label(g, c.name, 12, y0 + 11, LABEL_W - 20, '#1d2430');
      g.font = '11px ui-monospace, "DejaVu Sans Mono", monospace';
      label(g, `${c.min.toLocaleString()} – ${c.max.toLocaleString()}`, 12, y0 + 24, LABEL_W - 20, '#5b6573');
      g.font = '12px system-ui, sans-serif';
      const lo = Math.min(0, c.min), hi = c.max > lo ? c.max : lo + 1;
      const yOf = (v) => y0 + COUNTER_H - 4 - ((v - lo) / (hi - lo)) * (COUNTER_H - 8);
      if (!c.points.length) return;
      g.save();
      g.beginPath();
      g.rect(LABEL_W, y0, m.width - LABEL_W, COUNTER_H);
      g.clip();
      const end = Math.min(m.v1, m.T1);
      drawSteps(g, c.points, m.xOf(end), yOf, yOf(lo));
      g.lineWidth = 1;
      g.restore();
    });
  }

  // A counter's step line over its area, as rectangles per pixel column:
  // in each column the range of values in force (a vertical bar; a flat
  // stretch of columns is one bar) and the area under the last one. Filled
  // paths through every point (several thousand at full width, up to 4 a
  // pixel) cost the browser most of a zoom step to rasterize.
  function drawSteps(g, P, xe, yOf, yBottom) {
    const X0 = Math.max(LABEL_W - 1, Math.floor(m.xOf(P[0][0]))), X1 = Math.min(m.width + 1, Math.ceil(xe));
    const n = X1 - X0;
    if (n <= 0) return;
    const lo = new Float64Array(n).fill(NaN), hi = new Float64Array(n), last = new Float64Array(n);
    for (let k = 0; k < P.length; k++) {
      const v = P[k][1];
      const a = Math.max(X0, Math.floor(m.xOf(P[k][0])));
      const b = Math.min(X1, k + 1 < P.length ? Math.max(a + 1, Math.ceil(m.xOf(P[k + 1][0]))) : X1);
      for (let x = a; x < b; x++) {
        const i = x - X0;
        if (Number.isNaN(lo[i])) {
          lo[i] = v;
          hi[i] = v;
        } else if (v < lo[i]) lo[i] = v;
        else if (v > hi[i]) hi[i] = v;
        last[i] = v;
      }
    }
    g.fillStyle = 'rgba(51, 34, 136, 0.16)';
    for (let i = 0; i < n;) {
      if (Number.isNaN(lo[i])) { i++; continue; }
      let j = i + 1;
      while (j < n && !Number.isNaN(lo[j]) && last[j] === last[i]) j++;
      const y = yOf(last[i]);
      g.fillRect(X0 + i, y, j - i, yBottom - y);
      i = j;
    }
    g.fillStyle = '#332288';
    // a column's bar reaches the value the column before ended on: the step
    for (let i = n - 1; i > 0; i--) {
      if (Number.isNaN(lo[i]) || Number.isNaN(lo[i - 1])) continue;
      const p = last[i - 1];
      if (p < lo[i]) lo[i] = p;
      else if (p > hi[i]) hi[i] = p;
    }
    for (let i = 0; i < n;) {
      if (Number.isNaN(lo[i])) { i++; continue; }
      let j = i + 1;
      if (lo[i] === hi[i]) while (j < n && lo[j] === lo[i] && hi[j] === lo[i]) j++;
      const yt = yOf(hi[i]), yb = yOf(lo[i]);
      g.fillRect(X0 + i, yt - 0.75, j - i, yb - yt + 1.5);
      i = j;
    }
  }

  // A group of threads of one name: the share of its members in each state
  // at each pixel, stacked (running at the bottom), and "name ×N" with an
  // arrow that opens it.
  function drawGroup(g, grp) {
    const { width } = m;
    g.fillStyle = '#f6f8fb';
    g.fillRect(0, grp.y, width, grp.h);
    g.strokeStyle = '#eceff3';
    g.beginPath();
    g.moveTo(0, grp.y + grp.h - 0.5);
    g.lineTo(width, grp.y + grp.h - 0.5);
    g.stroke();
    const ys = grp.y + ROW_PAD + LOG_H;
    g.textAlign = 'left';
    g.font = '600 12px system-ui, sans-serif';
    label(g, grp.label || `${grp.open ? '▾' : '▸'} ${grp.name || '(unnamed)'} ×${grp.members.length}`, 12, ys + STATE_H / 2, LABEL_W - 20, '#1d2430');
    g.font = '12px system-ui, sans-serif';
    const px = Math.max(1, Math.ceil(m.plotW()));
    const nst = STATE_OF_BYTE.length;
    const bins = new Float64Array(px * nst);
    const per = (m.v1 - m.v0) / m.plotW();
    for (const x of grp.members) {
      const row = m.rowsByTid.get(rowKey(x));
      if (!row) continue;
      const sp = row.spans;
      for (let j = 0; j < sp.length; j++) {
        let a = Math.max(0, (sp.s[j] - m.v0) / per), b = Math.min(px, (sp.e[j] - m.v0) / per);
        const st = sp.state[j];
        while (a < b) {
          const i = Math.floor(a), next = Math.min(b, i + 1);
          if (i >= 0 && i < px) bins[i * nst + st] += next - a;
          a = next;
        }
      }
    }
    // each pixel: the mix of states of the members alive there
    for (let i = 0; i < px; i++) {
      let y = ys + STATE_H;
      let n = 0;
      for (let st = 0; st < nst; st++) n += bins[i * nst + st];
      if (n <= 0) {
        g.fillStyle = hatch(g);
        g.fillRect(LABEL_W + i, ys, 1, STATE_H);
        continue;
      }
      for (let st = 0; st < nst; st++) {
        const v = bins[i * nst + st];
        if (v <= 0) continue;
        const hgt = (v / n) * STATE_H;
        g.fillStyle = color[STATE_OF_BYTE[st]] || '#999';
        g.fillRect(LABEL_W + i, y - hgt, 1, hgt);
        y -= hgt;
      }
    }
  }

  function drawThread(g, t) {
    if (t.group) {
      drawGroup(g, t);
      return;
    }
    const { width, selected } = m;
    const row = m.rowsByTid.get(rowKey(t));
    const hl = m.highlight.has(t.tid);
    if (hl) {
      g.fillStyle = '#e7effb';
      g.fillRect(0, t.y, width, t.h);
    }
    // separator
    g.strokeStyle = '#eceff3';
    g.beginPath();
    g.moveTo(0, t.y + t.h - 0.5);
    g.lineTo(width, t.y + t.h - 0.5);
    g.stroke();
    // label column
    g.textAlign = 'left';
    const ys = t.y + ROW_PAD + LOG_H;
    g.font = hl ? '600 12px system-ui, sans-serif' : '12px system-ui, sans-serif';
    if (t.pinned) {
      g.fillStyle = '#1f5fbf';
      g.beginPath();
      g.arc(6, ys + STATE_H / 2, 3, 0, 2 * Math.PI);
      g.fill();
    }
    // in a process tree the label names the process too: pid:tid (timeline-procs.js)
    const idText = m.multiProc ? `${t.pid}:${t.tid}` : String(t.tid);
    const ind = m.multiProc && !t.pinned ? Math.min(((m.procList[t.proc] || {}).depth || 0), 8) * 14 : 0;
    label(g, t.name || '(unnamed)', (t.inGroup ? 24 : 12) + ind, ys + STATE_H / 2, LABEL_W - 80 - ind - (m.multiProc ? 40 : 0), '#1d2430');
    g.font = '11px ui-monospace, "DejaVu Sans Mono", monospace';
    g.fillStyle = '#5b6573';
    g.textAlign = 'right';
    g.fillText(idText, LABEL_W - 10, ys + STATE_H / 2);
    g.textAlign = 'left';
    g.font = '12px system-ui, sans-serif';
    g.save();
    g.beginPath();
    g.rect(LABEL_W, t.y, width - LABEL_W, t.h);
    g.clip();
    // outside the thread's life
    const xa = m.xOf(t.first), xb = m.xOf(t.last);
    g.fillStyle = hatch(g);
    if (xa > LABEL_W) g.fillRect(LABEL_W, ys, Math.min(xa, width) - LABEL_W, STATE_H);
    if (xb < width) g.fillRect(Math.max(xb, LABEL_W), ys, width - Math.max(xb, LABEL_W), STATE_H);
    if (row) {
      // Neighbouring spans of one state are drawn as one rectangle (at full
      // width most spans are a pixel wide, and most neighbours alike), and
      // fillStyle, which parses its string, is set only when it changes.
      let lastState = -1;
      let runState = -1, run0 = 0, run1 = 0;
      const flush = () => {
        if (runState < 0) return;
        if (runState !== lastState) {
          g.fillStyle = color[STATE_OF_BYTE[runState]] || '#999';
          lastState = runState;
        }
        g.fillRect(run0, ys, run1 - run0, STATE_H);
        runState = -1;
      };
      // the spans' columns (timeline-model.js), read in place
      const sp = row.spans, S = sp.s, E = sp.e, ST = sp.state, MG = sp.merged;
      const k = LABEL_W - (m.v0 * m.plotW()) / (m.v1 - m.v0), per = m.plotW() / (m.v1 - m.v0);
      for (let i = 0, n = sp.length; i < n; i++) {
        const x0 = k + S[i] * per, x1 = k + E[i] * per;
        if (x1 < LABEL_W || x0 > width) continue;
        const state = ST[i];
        const xe = x0 + Math.max(1, x1 - x0);
        if (state === runState && x0 <= run1) {
          if (xe > run1) run1 = xe;
        } else {
          flush();
          runState = state;
          run0 = x0;
          run1 = xe;
        }
        // a name inline where it fits: the call, else the state
        if (x1 - x0 >= 60 && !MG[i] && state !== 0) {
          flush();
          const key = STATE_OF_BYTE[state];
          const a = Math.max(x0, LABEL_W), b = Math.min(x1, width);
          label(g, m.spanName(t.tid, sp.at(i)) || stateLabel(key), a + 4, ys + STATE_H / 2, b - a - 8, textOn(color[key]));
          lastState = -1;
        }
      }
      flush();
      // selected span outline
      if (selected && selected.kind === 'span' && selected.tid === t.tid) {
        g.strokeStyle = '#1d2430';
        g.lineWidth = 2;
        const x0 = m.xOf(selected.s), x1 = m.xOf(selected.e);
        g.strokeRect(x0 + 1, ys + 1, Math.max(2, x1 - x0 - 2), STATE_H - 2);
        g.lineWidth = 1;
      }
      // regions
      let lastFill = '', lastStroke = '';
      // merged regions (all one grey) that touch, drawn as one rectangle
      let mDepth = -1, m0 = 0, m1 = 0;
      const flushMerged = () => {
        if (mDepth < 0) return;
        if (lastFill !== '#b8c2cf') g.fillStyle = lastFill = '#b8c2cf';
        g.fillRect(m0, ys + STATE_H + 2 + mDepth * REGION_H + 1, m1 - m0, REGION_H - 2);
        mDepth = -1;
      };
      // merged regions (most, at a wide zoom) read from the columns in
      // place; an object only for each region drawn on its own
      const RG = row.regions, cols = RG.flags !== undefined; // columns, or the first format's objects
      for (let i = 0, n = RG.length; i < n; i++) {
        if (cols ? RG.flags[i] & 2 : RG[i].merged) {
          const x0 = Math.max(LABEL_W - 2, m.xOf(cols ? RG.s[i] : RG[i].s));
          const x1 = Math.min(width + 2, m.xOf(cols ? RG.e[i] : RG[i].e));
          if (x1 < x0) continue;
          const w = Math.max(1, x1 - x0);
          const depth = cols ? RG.depth[i] : RG[i].depth;
          if (depth === mDepth && x0 <= m1) {
            if (x0 + w > m1) m1 = x0 + w;
          } else {
            flushMerged();
            mDepth = depth;
            m0 = x0;
            m1 = x0 + w;
          }
          continue;
        }
        const r = cols ? RG.at(i) : RG[i];
        // a region that never ended on a thread that lost events after it
        // began: its end was lost there, not at the end of the trace
        const lost = r.open ? m.dropAfter(t.tid, r.s) : null;
        const x0 = Math.max(LABEL_W - 2, m.xOf(r.s));
        const x1 = Math.min(width + 2, m.xOf(lost ? Math.max(r.s, lost.start) : r.e));
        if (x1 < x0) continue;
        const y = ys + STATE_H + 2 + r.depth * REGION_H;
        const w = Math.max(1, x1 - x0);
        flushMerged();
        const sel = selected && selected.kind === 'region' && selected.tid === t.tid && selected.s === r.s;
        const c = regionColors(r.name);
        const fill = sel ? c.selFill : c.fill;
        if (lastFill !== fill) g.fillStyle = lastFill = fill;
        g.fillRect(x0, y + 1, w, REGION_H - 2);
        const stroke = sel ? c.selStroke : c.stroke;
        if (lastStroke !== stroke) g.strokeStyle = lastStroke = stroke;
        g.lineWidth = sel ? 2 : 1;
        if (w > 2) g.strokeRect(x0 + 0.5, y + 1.5, w - 1, REGION_H - 3);
        g.lineWidth = 1;
        if (lost && x1 < width) {
          // a torn edge where the end was lost
          g.strokeStyle = lastStroke = '#b00020';
          g.beginPath();
          for (let k = 0; k <= 4; k++) g.lineTo(x1 + (k % 2 ? 3 : 0), y + 1 + (k * (REGION_H - 2)) / 4);
          g.stroke();
        }
        if (w > 24) {
          label(g, r.name + (lost ? ' (end lost)' : r.open ? ' (not ended)' : ''), Math.max(x0, LABEL_W) + 4, y + REGION_H / 2, Math.min(x1, width) - Math.max(x0, LABEL_W) - 8, '#1d2430');
          lastFill = '';
        }
      }
      flushMerged();
      // events lost here: a red band over the state strip, at least 3 px wide
      for (const d of m.drops.get(t.tid) || []) {
        if (d.end < m.v0 || d.start > m.v1) continue;
        let xa = m.xOf(d.start), xb = m.xOf(d.end);
        if (xb - xa < 3) { const c = (xa + xb) / 2; xa = c - 1.5; xb = c + 1.5; }
        g.fillStyle = 'rgba(176, 0, 32, 0.35)';
        g.fillRect(xa, ys - 2, xb - xa, STATE_H + 4);
        g.strokeStyle = '#b00020';
        g.lineWidth = 1.5;
        g.strokeRect(xa, ys - 2, xb - xa, STATE_H + 4);
        g.lineWidth = 1;
        g.fillStyle = '#b00020';
        g.beginPath();
        g.moveTo((xa + xb) / 2 - 5, t.y + ROW_PAD - 4);
        g.lineTo((xa + xb) / 2 + 5, t.y + ROW_PAD - 4);
        g.lineTo((xa + xb) / 2, t.y + ROW_PAD + LOG_H - 2);
        g.closePath();
        g.fill();
      }
      // logs: triangles, or thin ticks where they crowd
      const dense = row.logs.length > m.plotW() / 12;
      g.fillStyle = dense ? '#8a94a3' : '#1d2430';
      const LT = row.logs.t;
      const y = t.y + ROW_PAD;
      if (dense) {
        // a tick a pixel column, each its own rectangle: one path of
        // thousands of rectangles costs the rasterizer tens of ms a frame
        let lastX = -1;
        for (let i = 0, n = row.logs.length; i < n; i++) {
          const x = Math.floor(m.xOf(LT ? LT[i] : row.logs[i].t));
          if (x === lastX) continue;
          lastX = x;
          g.fillRect(x, y + 1, 1, LOG_H - 2);
        }
      } else {
        g.beginPath(); // every triangle of the row in one path, filled once
        for (let i = 0, n = row.logs.length; i < n; i++) {
          const x = m.xOf(LT ? LT[i] : row.logs[i].t);
          g.moveTo(x - 4, y);
          g.lineTo(x + 4, y);
          g.lineTo(x, y + LOG_H - 1);
          g.closePath();
        }
        g.fill();
      }
    }
    g.restore();
  }

  function drawEdges(g) {
    const { data, selected } = m;
    if (!data) return;
    g.save();
    g.beginPath();
    g.rect(LABEL_W, 0, m.width - LABEL_W, m.totalH);
    g.clip();
    // creations: light and thin, under everything else's attention
    for (const c of m.createsShown()) {
      const y0 = m.rowY(c.parent), y1 = m.rowY(c.child);
      if (y0 === null || y1 === null) continue;
      const sel = selected && selected.kind === 'create' && selected.tid === c.parent && Math.abs(selected.ns - c.t0) < 1;
      arrow(g, m.xOf(c.t0), y0, m.xOf(c.t1), y1 + (y1 > y0 ? -STATE_H / 2 : STATE_H / 2), sel ? '#1f5fbf' : 'rgba(31,95,191,0.45)', true, sel ? 1.5 : 1, 5);
    }
    // too many to draw one by one: one arrow per creator's burst, from its
    // first creation to the farthest created row, ticked at each and counted;
    // labels beside the creator's row, biggest bundle first, none over another
    const labels = [];
    for (const b of m.createBundles().sort((p, q) => q.n - p.n)) {
      const y0 = m.rowY(b.parent);
      if (y0 === null) continue;
      const ys = b.children.map((c) => m.rowY(c)).filter((y) => y !== null);
      if (!ys.length) continue;
      const far = ys.reduce((f, y) => (Math.abs(y - y0) > Math.abs(f - y0) ? y : f), ys[0]);
      const x0 = m.xOf(b.t0), x1 = Math.max(x0 + 6, m.xOf(b.t1));
      g.save();
      g.strokeStyle = 'rgba(31,95,191,0.55)';
      g.lineWidth = 2;
      g.beginPath();
      for (const y of ys) {
        g.moveTo(x0, y);
        g.lineTo(x0 + 4, y);
      }
      g.stroke();
      g.restore();
      arrow(g, x0, y0, x1, far + (far > y0 ? -STATE_H / 2 : STATE_H / 2), 'rgba(31,95,191,0.55)', true, 2, 5);
      const label = `${b.n.toLocaleString()} thread${b.n === 1 ? '' : 's'} created`;
      g.font = '11px system-ui, sans-serif';
      const box = { x: x0 + 6, y: y0 + (far > y0 ? STATE_H / 2 + 2 : -STATE_H / 2 - 17), w: g.measureText(label).width + 6, h: 15 };
      if (labels.some((o) => box.x < o.x + o.w && o.x < box.x + box.w && box.y < o.y + o.h && o.y < box.y + box.h)) continue;
      labels.push(box);
      g.fillStyle = 'rgba(255,255,255,0.85)';
      g.fillRect(box.x, box.y, box.w, box.h);
      g.fillStyle = '#1f5fbf';
      g.fillText(label, box.x + 3, box.y + 11);
    }
    for (const w of m.wakesShown()) {
      const y0 = m.rowY(w.from), y1 = m.rowY(w.to);
      if (y0 === null || y1 === null) continue;
      const x = m.xOf(w.t);
      const sel = selected && selected.kind === 'wake' && selected.tid === w.from && Math.abs(selected.ns - w.t) < 1;
      arrow(g, x, y0, x, y1 + (y1 > y0 ? -STATE_H / 2 : STATE_H / 2), sel ? '#d1495b' : 'rgba(29,36,48,0.55)', false);
    }
    g.restore();
  }

  function drawSelectedTask(g) {
    const { selected } = m;
    if (!selected || selected.kind !== 'task' || !selected.touches) return;
    g.save();
    g.beginPath();
    g.rect(LABEL_W, 0, m.width - LABEL_W, m.totalH);
    g.clip();
    const lane = m.taskLayout.find((x) => x.task.id === selected.id);
    const ty = lane ? m.taskLaneY(lane.lane) + TASK_H : m.tasksY;
    for (const tc of selected.touches) {
      const t = m.thread(tc.tid);
      if (!t) continue;
      const x0 = m.xOf(Math.max(tc.first, selected.s)), x1 = m.xOf(Math.min(tc.last, selected.e));
      const y = t.y + ROW_PAD + LOG_H - 3;
      g.strokeStyle = '#1f5fbf';
      g.lineWidth = 2;
      g.strokeRect(x0, y, Math.max(2, x1 - x0), STATE_H + 6);
      g.setLineDash([3, 3]);
      g.beginPath();
      g.moveTo(x0, ty);
      g.lineTo(x0, y);
      g.stroke();
      g.setLineDash([]);
    }
    g.restore();
  }

  // The matches of the search: a gold band over what matched (a task in its
  // lane, a region, the span of a call, a log's mark, a thread's name), the
  // current one outlined; and a tick on the ruler for each (drawRulerMatches).
  function drawMatches(g) {
    m.searchMarks = [];
    const s = m.search;
    if (!s || !s.matches.length) return;
    const cur = s.index >= 0 ? s.matches[s.index] : null;
    const top = m.scrollTop + RULER_H, bottom = m.scrollTop + m.height;
    for (const mt of s.matches) {
      if (mt.end_ns < m.v0 || mt.start_ns > m.v1) continue;
      let x0 = Math.max(LABEL_W, m.xOf(mt.start_ns)), x1 = Math.min(m.width, m.xOf(mt.end_ns));
      if (x1 - x0 < 6) { const c = (x0 + x1) / 2; x0 = c - 3; x1 = c + 3; }
      let y, hgt;
      if (mt.kind === 'task') {
        const tl = m.taskLayout.find((x) => x.task.id === mt.id);
        if (!tl) continue;
        y = m.taskLaneY(tl.lane);
        hgt = TASK_H;
      } else {
        const t = m.thread(mt.tid);
        if (!t) continue;
        const ys = t.y + ROW_PAD + LOG_H;
        if (t.group) { y = ys; hgt = STATE_H; } // in a closed group: on its strip
        else if (mt.kind === 'region') { y = ys + STATE_H + 2 + (mt.depth || 0) * REGION_H; hgt = REGION_H; }
        else if (mt.kind === 'log') { y = t.y + ROW_PAD - 2; hgt = LOG_H + 2; }
        else if (mt.kind === 'thread') { x0 = 4; x1 = LABEL_W - 4; y = ys - 2; hgt = STATE_H + 4; }
        else { y = ys; hgt = STATE_H; }
      }
      if (y + hgt < top || y > bottom) continue;
      const isCur = cur === mt;
      g.fillStyle = 'rgba(255, 200, 0, 0.45)';
      g.fillRect(x0 - 1, y - 1, x1 - x0 + 2, hgt + 2);
      g.strokeStyle = isCur ? '#1f5fbf' : '#a67c00';
      g.lineWidth = isCur ? 2.5 : 1.5;
      g.strokeRect(x0 - 1, y - 1, x1 - x0 + 2, hgt + 2);
      g.lineWidth = 1;
      if (m.searchMarks.length < 2000) m.searchMarks.push({ kind: mt.kind, tid: mt.tid, id: mt.id, current: isCur, x: (x0 + x1) / 2, y: y + hgt / 2 });
    }
  }

  function drawRulerMatches(g) {
    const s = m.search;
    if (!s || !s.matches.length) return;
    g.fillStyle = '#c99700';
    let last = -1;
    for (const mt of s.matches) {
      if (mt.end_ns < m.v0 || mt.start_ns > m.v1) continue;
      const x = Math.round(Math.max(LABEL_W, m.xOf(mt.start_ns)));
      if (x === last) continue;
      last = x;
      g.beginPath();
      g.moveTo(x - 4, RULER_H);
      g.lineTo(x + 4, RULER_H);
      g.lineTo(x, RULER_H - 7);
      g.closePath();
      g.fill();
    }
  }

  function drawSelection(g) {
    const { selection } = m;
    if (!selection) return;
    const x0 = Math.max(LABEL_W, m.xOf(Math.min(selection.s, selection.e)));
    const x1 = Math.min(m.width, m.xOf(Math.max(selection.s, selection.e)));
    g.fillStyle = 'rgba(31,95,191,0.12)';
    g.fillRect(x0, 0, x1 - x0, m.height);
    g.strokeStyle = 'rgba(31,95,191,0.7)';
    g.strokeRect(x0 + 0.5, 0.5, x1 - x0 - 1, m.height - 1);
    const text = formatDuration(Math.abs(selection.e - selection.s));
    g.font = '600 12px system-ui, sans-serif';
    const w = g.measureText(text).width + 10;
    g.fillStyle = '#1f5fbf';
    g.fillRect((x0 + x1) / 2 - w / 2, 4, w, 20);
    g.fillStyle = '#fff';
    g.textAlign = 'center';
    g.fillText(text, (x0 + x1) / 2, 14);
    g.textAlign = 'left';
    g.font = '12px system-ui, sans-serif';
  }

  function draw() {
    const { width, height, dpr } = m;
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = FONT;
    g.textBaseline = 'middle';
    const scrollY = m.scrollTop;
    // rows (under the ruler, scrolled)
    g.save();
    g.beginPath();
    g.rect(0, RULER_H, width, height - RULER_H);
    g.clip();
    g.translate(0, -scrollY);
    drawGrid(g, scrollY);
    if (m.taskLanes) drawTasks(g);
    if (m.counters.length) drawCounters(g);
    for (const p of m.procs) drawProcess(g, p);
    for (const t of m.threads) {
      if (t.y + t.h < scrollY + RULER_H || t.y > scrollY + height) continue;
      drawThread(g, t);
    }
    if (m.samplesLayer) m.samplesLayer(g); // CPU samples (timeline-samples.js)
    drawEdges(g);
    drawProcLinks(g, m);
    drawFlows(g, m);
    drawSelectedTask(g);
    drawMatches(g);
    if (m.overlay) m.overlay(g); // e.g. a critical path (critpath.js)
    g.restore();
    drawRuler(g);
    drawRulerMatches(g);
    drawSelection(g);
  }

  // While a step's answer is on its way: the image last drawn (snap, in
  // device pixels, of the window a0..b0) stretched so that its times land
  // where they are in the window now, under a ruler drawn for the window
  // now; the names column stays as it is. One drawImage, whatever the
  // trace: the answer's draw replaces it.
  draw.stretch = (snap, a0, b0) => {
    const { width, height, dpr } = m;
    const g = canvas.getContext('2d');
    const plotW = width - LABEL_W;
    const span = m.v1 - m.v0;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.save();
    g.beginPath();
    g.rect(LABEL_W, RULER_H, plotW, height - RULER_H);
    g.clip();
    g.clearRect(LABEL_W, RULER_H, plotW, height - RULER_H);
    g.drawImage(snap, LABEL_W * dpr, RULER_H * dpr, plotW * dpr, (height - RULER_H) * dpr,
      LABEL_W + ((a0 - m.v0) / span) * plotW, RULER_H, ((b0 - a0) / span) * plotW, height - RULER_H);
    g.restore();
    g.font = FONT;
    g.textBaseline = 'middle';
    drawRuler(g);
    drawRulerMatches(g);
  };
  return draw;
}
