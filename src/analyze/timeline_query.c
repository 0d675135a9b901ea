/*
 * timeline_query.c - the queries of the timeline other than state spans:
 * regions of a window (merged per depth below a pixel), tasks overlapping
 * a window, wake-ups and logs by time, who woke a thread, peers of a
 * socket, and lookups of threads and strings.
 */
#include "timeline_int.h"

#include <string.h>

#include "../base/hash.h"

/* ---- regions ---- */

void ctrace_timeline_regions(const struct ctrace_timeline *tl, uint32_t thread, int64_t a,
                             int64_t b, int64_t min_width, ctrace_tl_region_fn fn, void *arg) {
  if (thread >= tl->nthreads || b <= a)
    return;
  size_t lo = tl->region_off[thread], hi = tl->region_off[thread + 1];
  if (min_width < 1)
    min_width = 1;
  size_t i = lo;
  while (i < hi) {
    unsigned depth = tl->regions[i].depth;
    size_t j = i, jh = hi; /* the end of this depth: binary search */
    while (j < jh) {
      size_t mid = j + (jh - j) / 2;
      if (tl->regions[mid].depth <= depth)
        j = mid + 1;
      else
        jh = mid;
    }
    /* [i, j): one depth, disjoint, sorted by start and so by end */
    size_t l = i, h = j;
    while (l < h) {
      size_t mid = l + (h - l) / 2;
      if (tl->regions[mid].end <= a)
        l = mid + 1;
      else
        h = mid;
    }
    /* Runs of narrow regions less than min_width apart are merged into one
     * piece. A run is extended by binary search, not region by region:
     * every region that starts before the run's end + min_width joins it
     * (regions of one depth are disjoint and sorted), and only the last of
     * them can be wide (it then ends the run and is drawn on its own). Each
     * two searches move the run's end by min_width or more, so a window
     * costs O(pixels x log n), not O(regions in it). */
    size_t k = l;
    while (k < j && tl->regions[k].start < b) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      int64_t s = rg->start < a ? a : rg->start, e = rg->end > b ? b : rg->end;
      if (e - s >= min_width) {
        fn(arg, rg, s, e, depth, 1);
        k++;
        continue;
      }
      const struct ctrace_tl_region *first = rg;
      int64_t ae = e;
      size_t n = 1;
      k++;
      for (;;) {
        int64_t until = ae + min_width < b ? ae + min_width : b;
        size_t q = k, qh = j; /* the first region starting at or after until */
        while (q < qh) {
          size_t mid = q + (qh - q) / 2;
          if (tl->regions[mid].start < until)
            q = mid + 1;
          else
            qh = mid;
        }
        if (q == k)
          break;
        const struct ctrace_tl_region *lr = &tl->regions[q - 1];
        int64_t ls = lr->start < a ? a : lr->start, le = lr->end > b ? b : lr->end;
        if (le - ls >= min_width) { /* wide: ends the run, drawn next */
          if (q - 1 > k) {
            int64_t pe = tl->regions[q - 2].end > b ? b : tl->regions[q - 2].end;
            ae = pe > ae ? pe : ae;
            n += q - 1 - k;
          }
          k = q - 1;
          break;
        }
        ae = le > ae ? le : ae;
        n += q - k;
        k = q;
      }
      fn(arg, n == 1 ? first : NULL, s, ae, depth, (uint32_t)n);
    }
    i = j;
  }
}

/* ---- lookups ---- */
int64_t ctrace_timeline_thread(const struct ctrace_timeline *tl, uint32_t tid) {
  return ctrace_hash_get(&tl->by_tid, tid);
}

int64_t ctrace_timeline_thread_at(const struct ctrace_timeline *tl, uint32_t tid, int64_t ns) {
  /* timeline thread i is the reader's thread i */
  return ctrace_reader_thread_index_at(tl->r, tid, ctrace_reader_ticks(tl->r, ns));
}

void ctrace_timeline_tasks(const struct ctrace_timeline *tl, int64_t a, int64_t b,
                           ctrace_tl_task_fn fn, void *arg) {
  for (size_t k = 0; k < tl->nlong_tasks; k++) {
    const struct ctrace_tl_task *t = &tl->tasks[tl->long_tasks[k]];
    if (t->start <= b && t->end >= a && fn(arg, t) < 0)
      return;
  }
  /* the others start at most task_maxdur before a */
  size_t lo = 0, hi = tl->ntasks;
  int64_t from = a - tl->task_maxdur;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tl->tasks[mid].start < from)
      lo = mid + 1;
    else
      hi = mid;
  }
  int64_t long_dur = (tl->end_ns - tl->start_ns) / 64;
  for (size_t k = lo; k < tl->ntasks && tl->tasks[k].start <= b; k++) {
    const struct ctrace_tl_task *t = &tl->tasks[k];
    if (t->open || t->end - t->start > long_dur || t->end < a)
      continue;
    if (fn(arg, t) < 0)
      return;
  }
}

size_t ctrace_timeline_wake_lower(const struct ctrace_timeline *tl, int64_t t) {
  size_t lo = 0, hi = tl->nwakes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tl->wakes[mid].t < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

size_t ctrace_timeline_log_lower(const struct ctrace_timeline *tl, uint32_t thread, int64_t t) {
  size_t lo = tl->log_off[thread], hi = tl->log_off[thread + 1];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tl->logs[mid].t < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

const struct ctrace_tl_wake *ctrace_timeline_woken_by(const struct ctrace_timeline *tl,
                                                      uint32_t thread, int64_t a, int64_t b) {
  /* The last one: a thread woken while others take the lock first waits
   * on, and only the last wake-up ended its wait. */
  const struct ctrace_tl_wake *last = NULL;
  for (size_t i = ctrace_timeline_wake_lower(tl, a); i < tl->nwakes && tl->wakes[i].t <= b; i++)
    if (tl->wakes[i].woken == thread)
      last = &tl->wakes[i];
  return last;
}

uint32_t ctrace_timeline_region_thread(const struct ctrace_timeline *tl, size_t k) {
  uint32_t lo = 0, hi = tl->nthreads;
  while (lo < hi) { /* the last thread whose range starts at or before k */
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (mid < tl->nthreads && tl->region_off[mid] <= k)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

const struct ctrace_tl_peer *ctrace_timeline_peer(const struct ctrace_timeline *tl,
                                                  uint32_t thread, uint32_t fd, int64_t t) {
  /* O(peers): SOCKADDR records are one per connection, and this runs per click. */
  const struct ctrace_tl_peer *best = NULL;
  for (size_t i = 0; i < tl->npeers; i++) {
    const struct ctrace_tl_peer *p = &tl->peers[i];
    if (p->fd != fd || p->t > t)
      continue;
    if (!best || (p->thread == thread && best->thread != thread) ||
        ((p->thread == thread) == (best->thread == thread) && p->t >= best->t))
      best = p;
  }
  return best;
}

uint32_t ctrace_timeline_find_string(const struct ctrace_timeline *tl, const char *s, size_t len) {
  uint32_t n = ctrace_reader_nstrings(tl->r);
  for (uint32_t id = 1; id <= n; id++) {
    const struct ctrace_string *st = ctrace_reader_string(tl->r, id);
    if (st && st->len == len && memcmp(st->s, s, len) == 0)
      return id;
  }
  return 0;
}

