// timeline-input.js - the Timeline's mouse, wheel and keyboard: drag to pan,
// shift-drag to select a range, wheel to zoom (shift+wheel, or the wheel
// over the names, scrolls rows), hover for a tooltip, click to select, and
// the keys W/S/A/D/0/Z/Escape, ? (help), Alt+Left (back to the previous
// selection).
// It changes the view only through the actions it is given (timeline.js),
// and reads the model (timeline-model.js) for coordinates and hit testing.

import { LABEL_W } from './timeline-model.js';

/**
 * Wires input on canvas (inside scroller) to actions:
 *   zoomBy(f, atNs?), panBy(frac), setWindow(a, b), reset(), zoomToSelection(),
 *   escape(), selectionChanged(usable), select(hit), showTip(hit, x, y),
 *   hideTip(), scheduleDraw(), scrolled(), toggleHelp(), back(), search?().
 * Returns detach(), which removes every listener outside the view's own DOM.
 */
export function attachInput(m, canvas, scroller, act) {
  let drag = null;
  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };

  canvas.addEventListener('mousedown', (e) => {
    if (e.button !== 0) return;
    canvas.focus();
    const { x, y } = local(e);
    drag = { x0: x, y0: y, v0: m.v0, v1: m.v1, moved: false, select: e.shiftKey && x >= LABEL_W };
    if (drag.select) {
      m.selection = { s: m.tOf(x), e: m.tOf(x) };
      act.selectionChanged(false);
    }
  });
  const onMove = (e) => {
    const { x, y } = local(e);
    if (drag) {
      if (Math.abs(x - drag.x0) > 3) drag.moved = true;
      if (drag.select) {
        m.selection.e = m.tOf(Math.max(LABEL_W, Math.min(m.width, x)));
        act.scheduleDraw();
      } else if (drag.moved) {
        const dt = ((x - drag.x0) / m.plotW()) * (drag.v1 - drag.v0);
        m.panning = true; // moves in a row (timeline.js draws each frame)
        act.setWindow(drag.v0 - dt, drag.v1 - dt);
        canvas.style.cursor = 'grabbing';
      }
      act.hideTip();
      return;
    }
    if (e.target !== canvas) return;
    m.hover = m.hit(x, y);
    canvas.style.cursor = m.hover && m.hover.kind !== 'outside' ? 'pointer' : 'default';
    act.showTip(m.hover, x, y);
  };
  window.addEventListener('mousemove', onMove);
  const onUp = (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    m.panning = false;
    canvas.style.cursor = 'default';
    if (d.select) {
      if (m.selection && Math.abs(m.xOf(m.selection.e) - m.xOf(m.selection.s)) > 3) act.selectionChanged(true);
      else m.selection = null;
      act.scheduleDraw();
      return;
    }
    if (!d.moved && e.target === canvas) {
      const { x, y } = local(e);
      act.select(m.hit(x, y));
    }
  };
  window.addEventListener('mouseup', onUp);
  canvas.addEventListener('mouseleave', () => act.hideTip());
  // The wheel: about 2x per notch (a notch is 100 px, or 3 lines), anchored
  // at the pointer in both directions. Over the names column, or with
  // Shift, it scrolls the rows instead.
  canvas.addEventListener('wheel', (e) => {
    const { x } = local(e);
    e.preventDefault();
    act.hideTip();
    if (e.shiftKey || x < LABEL_W) {
      scroller.scrollTop += e.shiftKey ? (e.deltaY || e.deltaX) : e.deltaY;
      return;
    }
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      act.panBy(e.deltaX / m.plotW());
      return;
    }
    const notches = e.deltaMode === 1 ? e.deltaY / 3 : e.deltaMode === 2 ? e.deltaY : e.deltaY / 100;
    const f = 2 ** Math.max(-3, Math.min(3, notches));
    act.zoomBy(f, m.tOf(x));
  }, { passive: false });
  scroller.addEventListener('scroll', () => act.scrolled());
  // W/S: a press zooms one step (1.4x); held, the zoom goes on smoothly,
  // frame by frame, faster the longer the key is down (holdZoomRate), until
  // it is released, as in Chrome's tracing and Perfetto. The key's own
  // auto-repeat is ignored: the frames drive it.
  let hold = null; // {key, dir, t0, last, raf}
  const anchor = () => (m.hover && m.hover.t !== undefined ? m.hover.t : undefined);
  const frame = (now) => {
    if (!hold) return;
    const dt = Math.min(0.1, Math.max(0, (now - hold.last) / 1000));
    hold.last = now;
    if (now - hold.t0 >= HOLD_DELAY_MS && dt > 0) act.zoomBy(Math.exp(hold.dir * holdZoomRate(now - hold.t0) * dt), anchor());
    hold.raf = requestAnimationFrame(frame);
  };
  const startHold = (key, dir) => {
    stopHold();
    act.zoomBy(dir < 0 ? 0.7 : 1 / 0.7, anchor());
    const now = performance.now();
    hold = { key, dir, t0: now, last: now, raf: requestAnimationFrame(frame) };
    m.zoomHeld = key;
  };
  const stopHold = () => {
    if (!hold) return;
    cancelAnimationFrame(hold.raf);
    hold = null;
    m.zoomHeld = null;
  };
  const onKeyUp = (e) => {
    if (hold && e.key.toLowerCase() === hold.key) stopHold();
  };
  const onKey = (e) => {
    if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    if (e.altKey && e.key === 'ArrowLeft') {
      act.back();
      e.preventDefault();
      return;
    }
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 'f' && act.search) {
      act.search();
      e.preventDefault();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (e.key === '?') act.toggleHelp();
    else if (e.key === '/' && act.search) act.search();
    else if (k === 'w' || k === 's') {
      if (!e.repeat || !hold) startHold(k, k === 'w' ? -1 : 1);
    }
    else if (k === 'a') act.panBy(-0.15);
    else if (k === 'd') act.panBy(0.15);
    else if (k === '0') act.reset();
    else if (k === 'z') act.zoomToSelection();
    else if (k === 'escape') act.escape();
    else return;
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);
  document.addEventListener('keyup', onKeyUp);
  window.addEventListener('blur', stopHold);

  return function detach() {
    stopHold();
    window.removeEventListener('mousemove', onMove);
    window.removeEventListener('mouseup', onUp);
    document.removeEventListener('keydown', onKey);
    document.removeEventListener('keyup', onKeyUp);
    window.removeEventListener('blur', stopHold);
  };
}

/** A held W/S zooms on after this long (a press alone is one step). */
export const HOLD_DELAY_MS = 120;

/**
 * How fast a held W/S zooms after heldMs: the window shrinks (or grows) by
 * e^rate a second. It starts at 1.5 (about 1.5x in the first quarter
 * second: fine control) and rises smoothly to 7 after a second (about 5x
 * in the next quarter second: across a 10 M-event trace in two seconds).
 */
export function holdZoomRate(heldMs) {
  const t = Math.min(1, Math.max(0, heldMs / 1000));
  return 1.5 + 5.5 * t * t * (3 - 2 * t);
}
