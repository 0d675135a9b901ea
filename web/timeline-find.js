// timeline-find.js - the Timeline's search box: names of tasks, regions,
// threads and calls and log messages, asked of /api/search (docs/API.md);
// a count, next / previous (Enter, Shift+Enter) that zoom to each match and
// select it, and the matches for the painter to highlight (m.search). The
// server sends the matches in pages of LIMIT (its "next" token asks for the
// following one): stepping past the last loaded match, or "more", loads the
// next page, so every match can be reached ("5,001 of 12,345").
// Opened with / or Ctrl-F (timeline-input.js); Escape clears it.
// Not here: the drawing (timeline-draw.js), the window and the details
// panel (timeline.js, reached through the actions given).
import { h } from './dom.js';

const LIMIT = 5000; // matches a page

/**
 * A search bar for model m. act: {api, setWindow(a, b), revealRow(tid),
 * loadDetails(q), highlight(tids), scheduleDraw(), root}. Returns
 * {el, focus(), next(), prev(), state()}.
 */
export function createSearch(m, act) {
  const input = h('input', {
    type: 'search', class: 'tl-search', placeholder: 'Search names, logs, calls (/)', spellcheck: 'false',
    'aria-label': 'Search task, region, thread and call names and log messages', 'data-action': 'search',
  });
  const count = h('span', { class: 'tl-search-count', 'aria-live': 'polite' });
  const prevBtn = h('button', { type: 'button', class: 'tl-btn', title: 'Previous match (Shift+Enter)', 'aria-label': 'Previous match', 'data-action': 'search-prev', disabled: true, onclick: () => step(-1) }, '↑');
  const nextBtn = h('button', { type: 'button', class: 'tl-btn', title: 'Next match (Enter)', 'aria-label': 'Next match', 'data-action': 'search-next', disabled: true, onclick: () => step(1) }, '↓');
  const moreBtn = h('button', { type: 'button', class: 'tl-btn tl-search-more', title: 'Load the next matches', 'data-action': 'search-more', hidden: true, onclick: () => loadMore() }, 'more');
  const el = h('span', { class: 'tl-searchbar', role: 'search' }, input, prevBtn, nextBtn, count, moreBtn);
  let timer = 0;
  let token = 0;

  function setState(s) {
    act.root.dataset.search = s;
  }

  function label() {
    const s = m.search;
    if (!s) {
      count.textContent = '';
      return;
    }
    if (!s.total) {
      count.textContent = 'no match';
      count.title = '';
    } else {
      const at = s.index >= 0 ? `${(s.index + 1).toLocaleString()} of ` : '';
      const partial = s.matches.length < s.total;
      count.textContent = `${at}${s.total.toLocaleString()} match${s.total === 1 ? '' : 'es'}${partial ? ` (${s.matches.length.toLocaleString()} loaded)` : ''}`;
      count.title = Object.entries(s.counts || {}).filter(([, n]) => n).map(([k, n]) => `${n.toLocaleString()} ${k}${n === 1 ? '' : 's'}`).join(', ');
    }
    prevBtn.disabled = nextBtn.disabled = !s.matches.length;
    moreBtn.hidden = !s.next;
  }

  // The next page of matches, appended; resolves to false when there is none.
  let more = null;
  function loadMore() {
    const s = m.search;
    if (!s || !s.next) return Promise.resolve(false);
    if (more) return more;
    const my = token;
    setState('loading');
    more = act.api
      .getJSON('/api/search', { q: s.q, limit: LIMIT, after: s.next })
      .then((d) => {
        if (my !== token || m.search !== s) return false;
        s.matches = s.matches.concat(d.matches);
        s.next = d.next;
        s.total = d.total;
        label();
        setState('ready');
        act.scheduleDraw();
        return true;
      })
      .catch((e) => {
        if (my === token) {
          count.textContent = `search failed: ${e.message}`;
          setState('error');
        }
        return false;
      })
      .finally(() => {
        more = null;
      });
    return more;
  }

  async function run(q) {
    const my = ++token;
    if (!q) {
      m.search = null;
      label();
      setState('idle');
      act.scheduleDraw();
      return;
    }
    setState('loading');
    try {
      const d = await act.api.getJSON('/api/search', { q, limit: LIMIT });
      if (my !== token) return;
      m.search = { q, matches: d.matches, total: d.total, counts: d.counts, truncated: d.truncated, next: d.next || null, index: -1 };
      label();
      setState('ready');
    } catch (e) {
      if (my !== token) return;
      m.search = null;
      count.textContent = `search failed: ${e.message}`;
      setState('error');
    }
    act.scheduleDraw();
  }

  // Zooms to a match (a few times its length around it; an instant gets
  // 1 ms), brings its row into view and selects it.
  function goTo(mt) {
    const dur = Math.max(mt.end_ns - mt.start_ns, 0);
    const pad = Math.max(dur / 2, 500000);
    act.setWindow(mt.start_ns - pad, mt.end_ns + pad);
    if (mt.tid) act.revealRow(mt.tid);
    if (mt.kind === 'task') act.loadDetails({ kind: 'task', id: mt.id });
    else if (mt.kind === 'region') act.loadDetails({ kind: 'region', tid: mt.tid, ns: mt.start_ns });
    else if (mt.kind === 'log') act.loadDetails({ kind: 'log', tid: mt.tid, ns: mt.start_ns });
    else if (mt.kind === 'call') act.loadDetails({ kind: 'span', tid: mt.tid, ns: Math.round((mt.start_ns + mt.end_ns) / 2) });
    else if (mt.kind === 'thread') act.highlight([mt.tid]);
  }

  async function step(dir) {
    const s = m.search;
    if (!s || !s.matches.length) return;
    // past the last loaded match: the next page first, when there is one
    if (dir > 0 && s.index === s.matches.length - 1 && s.next) await loadMore();
    if (m.search !== s) return;
    const n = s.matches.length;
    if (s.index < 0) {
      // the first match at or after the window's start (going forward), or the last before its end
      const i = dir > 0 ? s.matches.findIndex((x) => x.end_ns >= m.v0) : s.matches.findLastIndex((x) => x.start_ns <= m.v1);
      s.index = i >= 0 ? i : (dir > 0 ? 0 : n - 1);
    } else {
      s.index = (s.index + dir + n) % n;
    }
    label();
    goTo(s.matches[s.index]);
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    setState('typing');
    timer = setTimeout(() => run(input.value.trim()), 200);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      const q = input.value.trim();
      if (!m.search || m.search.q !== q) {
        clearTimeout(timer);
        run(q).then(() => step(e.shiftKey ? -1 : 1));
      } else {
        step(e.shiftKey ? -1 : 1);
      }
    } else if (e.key === 'Escape') {
      e.preventDefault();
      input.value = '';
      clearTimeout(timer);
      run('');
      input.blur();
    }
  });

  return {
    el,
    focus() {
      input.focus();
      input.select();
    },
    next: () => step(1),
    prev: () => step(-1),
    cancel() {
      clearTimeout(timer);
      token++;
    },
    loadMore,
    /** Selects loaded match i (and goes to it), as stepping does. */
    goToIndex(i) {
      const s = m.search;
      if (!s || i < 0 || i >= s.matches.length) return;
      s.index = i;
      label();
      goTo(s.matches[i]);
    },
    state: () => (m.search ? { q: m.search.q, total: m.search.total, loaded: m.search.matches.length, next: m.search.next, counts: m.search.counts, index: m.search.index, current: m.search.index >= 0 ? m.search.matches[m.search.index] : null, label: count.textContent } : null),
  };
}
