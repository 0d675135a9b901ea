/*
 * timeline_lod.c - levels of detail of the timeline: each thread's raw state
 * transitions, merged into coarser levels (8x apart, kept when they halve
 * the span count), and the span queries answered from them: a window and a
 * pixel width give spans no narrower than a pixel, runs of narrower ones
 * merged into one with the state that took most of their time.
 *
 * Memory: a state transition is one uint64_t (time << 8 | flags); the
 * coarser levels add at most as much again, usually far less.
 */
#include "timeline_int.h"

#include <string.h>

#include "../base/vec.h"

#define tr_time ctrace__tr_time

/* ---- merging narrow spans (levels and queries) ---- */
struct merger {
  int64_t w;
  int active;
  int64_t s, e;
  uint64_t per[CTRACE_ST_COUNT];
  uint32_t n;
  unsigned st0, m0; /* the first span's state and flag, when n == 1 */
  ctrace_tl_span_fn fn;
  void *arg;
};

static void merger_flush(struct merger *m) {
  if (!m->active)
    return;
  m->active = 0;
  if (m->n == 1) {
    m->fn(m->arg, m->s, m->e, m->st0, m->m0, 1);
    return;
  }
  unsigned best = 0;
  for (unsigned i = 1; i < CTRACE_ST_COUNT; i++)
    if (m->per[i] > m->per[best])
      best = i;
  m->fn(m->arg, m->s, m->e, best, 1, m->n);
}

static void merger_add(struct merger *m, int64_t s, int64_t e, unsigned st, unsigned merged,
                       uint32_t n) {
  if (e <= s)
    return;
  if (e - s >= m->w) {
    merger_flush(m);
    m->fn(m->arg, s, e, st, merged, n);
    return;
  }
  if (!m->active) {
    m->active = 1;
    m->s = s;
    m->n = 0;
    m->st0 = st;
    m->m0 = merged;
    memset(m->per, 0, sizeof m->per);
  }
  m->e = e;
  m->per[st < CTRACE_ST_COUNT ? st : 0] += (uint64_t)(e - s);
  m->n += n;
  if (m->e - m->s >= m->w)
    merger_flush(m);
}

struct level_out {
  struct ctrace_vec *v;
  int64_t t0;
  int oom;
  size_t limit; /* more transitions than this: the level is not kept */
  int over;     /* set once it has more: the iteration stops */
};
static void level_emit(void *arg, int64_t s, int64_t e, unsigned st, unsigned merged,
                       uint32_t n) {
  struct level_out *o = arg;
  (void)e;
  (void)n;
  if (o->v->n >= o->limit) {
    o->over = 1;
    return;
  }
  uint64_t *p = ctrace_vec_push(o->v);
  if (!p) {
    o->oom = 1;
    return;
  }
  *p = PK(s - o->t0, st | (merged ? ST_MERGED : 0));
}

/* Iterates the spans of level lv of thread th clipped to [a, b]. */
static size_t tr_lower(const struct ctrace_timeline *tl, const struct ctrace_tl_level *lv,
                       int64_t t) {
  /* index of the last transition at or before t (0 if none) */
  size_t lo = 0, hi = lv->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tr_time(tl, lv->v[mid]) <= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo ? lo - 1 : 0;
}

static void level_iter(const struct ctrace_timeline *tl, uint32_t th,
                       const struct ctrace_tl_level *lv, int64_t a, int64_t b,
                       struct merger *m, const int *stop) {
  int64_t tend = tl->threads[th].last_ns;
  if (!lv->n)
    return;
  for (size_t i = tr_lower(tl, lv, a); i < lv->n; i++) {
    if (stop && *stop)
      break;
    int64_t s = tr_time(tl, lv->v[i]);
    if (s >= b)
      break;
    int64_t e = i + 1 < lv->n ? tr_time(tl, lv->v[i + 1]) : tend;
    if (s < a)
      s = a;
    if (e > b)
      e = b;
    merger_add(m, s, e, PK_ST(lv->v[i]), PK_MERGED(lv->v[i]), 1);
  }
}

int ctrace__timeline_build_levels(struct ctrace_timeline *tl, uint32_t th, size_t *bytes,
                                  struct ctrace_vec *scratch) {
  struct ctrace_tl_level *lv = tl->levels[th];
  int64_t w = 1024; /* ns; each level 8 times coarser: 1 us .. 17 s */
  unsigned k = 1;
  while (k < CTRACE_TL_MAX_LEVELS && lv[k - 1].n > 512 && w < (int64_t)1 << 40) {
    /* A level is kept only with at most half the transitions of the one
     * below: room for that many at once, and the merging stops as soon as
     * there would be more. It is merged into the scratch (the caller's,
     * for all its threads: a level tried and not kept costs no fresh
     * pages) and copied out when kept. */
    struct level_out o = {scratch, tl->start_ns, 0, lv[k - 1].n / 2, 0};
    scratch->n = 0;
    if (ctrace_vec_reserve(scratch, o.limit + 1) < 0)
      return -1;
    struct merger m = {.w = w, .fn = level_emit, .arg = &o};
    level_iter(tl, th, &lv[k - 1], tl->threads[th].first_ns, tl->threads[th].last_ns + 1, &m,
               &o.over);
    merger_flush(&m);
    if (o.oom)
      return -1;
    w *= 8;
    if (o.over || scratch->n > lv[k - 1].n / 2) {
      /* Not worth its memory: querying the finer level costs at most twice
       * as much. Try the next width from the same level. */
      continue;
    }
    uint64_t *v = scratch->n ? ctrace__tl_alloc(scratch->n * sizeof *v) : NULL;
    if (scratch->n && !v)
      return -1;
    if (scratch->n)
      memcpy(v, scratch->v, scratch->n * sizeof *v);
    lv[k].v = v;
    lv[k].n = scratch->n;
    *bytes += scratch->n * sizeof *v;
    lv[k].min_width = w / 8;
    k++;
  }
  tl->nlevels[th] = (uint8_t)k;
  return 0;
}

void ctrace_timeline_spans(const struct ctrace_timeline *tl, uint32_t thread, int64_t a,
                           int64_t b, int64_t min_width, ctrace_tl_span_fn fn, void *arg) {
  if (thread >= tl->nthreads || b <= a)
    return;
  const struct ctrace_tl_thread *t = &tl->threads[thread];
  if (a < t->first_ns)
    a = t->first_ns;
  if (b > t->last_ns)
    b = t->last_ns;
  if (b <= a)
    return;
  unsigned k = 0;
  while (k + 1 < tl->nlevels[thread] && tl->levels[thread][k + 1].min_width <= min_width)
    k++;
  struct merger m = {.w = min_width > 0 ? min_width : 1, .fn = fn, .arg = arg};
  level_iter(tl, thread, &tl->levels[thread][k], a, b, &m, NULL);
  merger_flush(&m);
}

void ctrace_timeline_breakdown(const struct ctrace_timeline *tl, uint32_t thread, int64_t a,
                               int64_t b, uint64_t out[CTRACE_ST_COUNT]) {
  if (thread >= tl->nthreads)
    return;
  const struct ctrace_tl_level *lv = &tl->levels[thread][0];
  const struct ctrace_tl_thread *t = &tl->threads[thread];
  if (a < t->first_ns)
    a = t->first_ns;
  if (b > t->last_ns)
    b = t->last_ns;
  if (b <= a || !lv->n)
    return;
  for (size_t i = tr_lower(tl, lv, a); i < lv->n; i++) {
    int64_t s = tr_time(tl, lv->v[i]);
    if (s >= b)
      break;
    int64_t e = i + 1 < lv->n ? tr_time(tl, lv->v[i + 1]) : t->last_ns;
    if (s < a)
      s = a;
    if (e > b)
      e = b;
    if (e > s)
      out[PK_ST(lv->v[i])] += (uint64_t)(e - s);
  }
}

int ctrace_timeline_span_at(const struct ctrace_timeline *tl, uint32_t thread, int64_t t,
                            int64_t *start, int64_t *end, unsigned *state) {
  if (thread >= tl->nthreads)
    return -1;
  const struct ctrace_tl_thread *th = &tl->threads[thread];
  const struct ctrace_tl_level *lv = &tl->levels[thread][0];
  if (!lv->n || t < th->first_ns || t >= th->last_ns)
    return -1;
  size_t i = tr_lower(tl, lv, t);
  *start = tr_time(tl, lv->v[i]);
  *end = i + 1 < lv->n ? tr_time(tl, lv->v[i + 1]) : th->last_ns;
  *state = PK_ST(lv->v[i]);
  return 0;
}

