// timeline-overview.js - the strip above the Timeline that shows the whole
// trace: at each pixel, the mix of states of the threads alive then
// (stacked, running at the bottom), the tasks' density as a line, and the
// window shown below as a box. Click or drag in it to move the window there
// (its width kept). Data: a whole-trace /api/timeline answer (the first
// answer of the view when it is the whole trace, so the first paint costs
// no second request).
import { STATE_OF_BYTE, LABEL_W } from './timeline-model.js';

export const OVERVIEW_H = 36;

/**
 * An overview of model m on canvas. color: state key -> CSS colour.
 * act: {moveTo(centerNs)}. Returns {setData(d), draw(), detach()}.
 */
export function createOverview(m, canvas, color, act) {
  let bins = null; // Float64Array px * nstates
  let px = 0;
  let taskLine = null;
  // the whole trace's picture, which only the data and the width change:
  // drawn once into a canvas of its own and copied on each draw (drawing it
  // again rasterized thousands of rectangles on every zoom and pan step)
  let strip = null;
  const nst = STATE_OF_BYTE.length;

  const x0 = () => LABEL_W;
  const w = () => Math.max(10, m.width - LABEL_W);
  const span = () => Math.max(1, m.T1 - m.home);
  const xOf = (t) => x0() + ((t - m.home) / span()) * w();
  const tOf = (x) => m.home + ((x - x0()) / w()) * span();

  function setData(d) {
    px = Math.max(1, Math.round(w()));
    bins = new Float64Array(px * nst);
    const per = span() / px;
    for (const row of d.rows.values()) {
      const sp = row.spans; // columns (timeline-model.js)
      for (let j = 0; j < sp.length; j++) {
        let a = Math.max(0, (sp.s[j] - m.home) / per), b = Math.min(px, (sp.e[j] - m.home) / per);
        const st = sp.state[j];
        while (a < b) {
          const i = Math.floor(a), next = Math.min(b, i + 1);
          bins[i * nst + st] += next - a;
          a = next;
        }
      }
    }
    strip = null;
    taskLine = new Float64Array(px);
    for (const t of d.tasks) {
      const a = Math.max(0, Math.floor((t.s - m.home) / per)), b = Math.min(px - 1, Math.floor((t.e - m.home) / per));
      for (let i = a; i <= b; i++) taskLine[i]++;
    }
    draw();
  }

  function drawStrip(g, dpr, W) {
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, OVERVIEW_H);
    g.fillStyle = '#fafbfc';
    g.fillRect(0, 0, W, OVERVIEW_H);
    g.fillStyle = '#1d2430';
    g.font = '600 12px system-ui, sans-serif';
    g.textBaseline = 'middle';
    g.fillText('Whole trace', 10, OVERVIEW_H / 2);
    if (bins) {
      const scale = w() / px, left = x0(), bw = Math.max(1, scale);
      // state by state, so that each colour is set once (a colour set per
      // rectangle cost ~100 ms on a wide strip); y: each pixel's top so far
      const total = new Float64Array(px);
      const y = new Float64Array(px).fill(OVERVIEW_H - 2);
      for (let i = 0; i < px; i++) for (let st = 0; st < nst; st++) total[i] += bins[i * nst + st];
      for (let st = 0; st < nst; st++) {
        g.fillStyle = color[STATE_OF_BYTE[st]] || '#999';
        for (let i = 0; i < px; i++) {
          const v = bins[i * nst + st];
          if (v <= 0) continue;
          const hgt = (v / total[i]) * (OVERVIEW_H - 4);
          y[i] -= hgt;
          g.fillRect(left + i * scale, y[i], bw, hgt);
        }
      }
      let max = 0;
      for (const v of taskLine) max = Math.max(max, v);
      if (max > 0) {
        g.strokeStyle = 'rgba(29, 36, 48, 0.7)';
        g.beginPath();
        for (let i = 0; i < px; i++) g.lineTo(x0() + i * scale, OVERVIEW_H - 3 - (taskLine[i] / max) * (OVERVIEW_H - 8));
        g.stroke();
      }
    }
  }

  function draw() {
    const dpr = m.dpr || 1;
    const W = m.width;
    if (canvas.width !== Math.floor(W * dpr)) {
      canvas.width = Math.floor(W * dpr);
      canvas.height = Math.floor(OVERVIEW_H * dpr);
      canvas.style.width = `${W}px`;
      canvas.style.height = `${OVERVIEW_H}px`;
    }
    const g = canvas.getContext('2d');
    if (!strip || strip.width !== canvas.width || strip.height !== canvas.height) {
      strip = document.createElement('canvas');
      strip.width = canvas.width;
      strip.height = canvas.height;
      drawStrip(strip.getContext('2d'), dpr, W);
    }
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.drawImage(strip, 0, 0);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    // the window: the rest dimmed, the window outlined
    const a = Math.max(x0(), xOf(m.v0)), b = Math.min(W, Math.max(a + 2, xOf(m.v1)));
    g.fillStyle = 'rgba(255, 255, 255, 0.6)';
    g.fillRect(x0(), 0, a - x0(), OVERVIEW_H);
    g.fillRect(b, 0, W - b, OVERVIEW_H);
    g.strokeStyle = '#1f5fbf';
    g.lineWidth = 2;
    g.strokeRect(a, 1, b - a, OVERVIEW_H - 2);
    g.lineWidth = 1;
    canvas.dataset.window = `${Math.round(a)}-${Math.round(b)}`;
  }

  let dragging = false;
  const local = (e) => e.clientX - canvas.getBoundingClientRect().left;
  const onDown = (e) => {
    if (e.button !== 0 || local(e) < x0()) return;
    dragging = true;
    act.moveTo(tOf(local(e)));
    e.preventDefault();
  };
  const onMove = (e) => {
    if (dragging) act.moveTo(tOf(Math.max(x0(), Math.min(m.width, local(e)))));
  };
  const onUp = () => { dragging = false; };
  canvas.addEventListener('mousedown', onDown);
  window.addEventListener('mousemove', onMove);
  window.addEventListener('mouseup', onUp);

  return {
    setData,
    draw,
    hasData: () => !!bins,
    /** Client x of time t in the strip (for tests). */
    clientX: (t) => canvas.getBoundingClientRect().left + xOf(t),
    detach() {
      window.removeEventListener('mousemove', onMove);
      window.removeEventListener('mouseup', onUp);
    },
  };
}
