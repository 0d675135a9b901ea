// timeline-input.js - the Timeline's mouse, wheel and keyboard: drag to pan,
// shift-drag to select a range, wheel to zoom (shift+wheel scrolls rows),
// hover for a tooltip, click to select, and the keys W/S/A/D/0/Z/Escape.
// It changes the view only through the actions it is given (timeline.js),
// and reads the model (timeline-model.js) for coordinates and hit testing.

import { LABEL_W } from './timeline-model.js';

/**
 * Wires input on canvas (inside scroller) to actions:
 *   zoomBy(f, atNs?), panBy(frac), setWindow(a, b), reset(), zoomToSelection(),
 *   clearSelection(), selectionChanged(usable), select(hit), showTip(hit, x, y),
 *   hideTip(), scheduleDraw(), scrolled().
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
  canvas.addEventListener('wheel', (e) => {
    const { x } = local(e);
    if (e.shiftKey) {
      scroller.scrollTop += e.deltaY || e.deltaX;
      e.preventDefault();
      return;
    }
    e.preventDefault();
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      act.panBy(e.deltaX / m.plotW());
      return;
    }
    const f = Math.exp(Math.max(-1, Math.min(1, e.deltaY * (e.deltaMode ? 0.05 : 0.002))));
    act.zoomBy(f, x >= LABEL_W ? m.tOf(x) : undefined);
  }, { passive: false });
  scroller.addEventListener('scroll', () => act.scrolled());
  const onKey = (e) => {
    if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (k === 'w') act.zoomBy(0.7, m.hover && m.hover.t !== undefined ? m.hover.t : undefined);
    else if (k === 's') act.zoomBy(1 / 0.7);
    else if (k === 'a') act.panBy(-0.15);
    else if (k === 'd') act.panBy(0.15);
    else if (k === '0') act.reset();
    else if (k === 'z') act.zoomToSelection();
    else if (k === 'escape') act.clearSelection();
    else return;
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);

  return function detach() {
    window.removeEventListener('mousemove', onMove);
    window.removeEventListener('mouseup', onUp);
    document.removeEventListener('keydown', onKey);
  };
}
