/*
 * timeline.c - see timeline.h. One pass over each thread's events builds its
 * state transitions, regions, logs, wakes and task events; a second step
 * pairs tasks across threads, links thread creations, and merges the
 * transitions into coarser levels of detail.
 *
 * Memory: a state transition is one uint64_t (time << 8 | flags): a blocking
 * event (WAIT or SYSCALL, 10-17 bytes in the file) costs two, 16 bytes; the
 * coarser levels add at most as much again, usually far less.
 */
#include "timeline.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ST_MERGED 0x80u
#define PK(t, flags) ((uint64_t)(t) << 8 | (flags))
#define PK_T(v) ((int64_t)((v) >> 8))
#define PK_ST(v) ((unsigned)((v)&0x7f))
#define PK_MERGED(v) (((v)&ST_MERGED) != 0)
#define NO_THREAD UINT32_MAX
#define MAX_DEPTH 256 /* deeper regions are counted in the deepest lane */

const char *ctrace_tl_state_name(unsigned state) {
  switch (state) {
#define CTRACE__ST_NAME(name, code, str)                                                           \
  case code:                                                                                       \
    return str;
    CTRACE_TL_STATES(CTRACE__ST_NAME)
#undef CTRACE__ST_NAME
  default:
    return "outside";
  }
}

/* ---- memory ---- */

/*
 * Asks for transparent huge pages on a big block. Building the index of 10M
 * events touches ~250 MB of fresh memory; with 4 KiB pages that is 60000
 * page faults, which on the virtual machines this was measured on cost more
 * than the indexing itself (10M events: 4.8 s CPU with, 2.2 s without).
 * Only a hint: where THP is off it does nothing.
 */
#define HUGE_MIN (4u << 20)
static void hint_huge(void *p, size_t n) {
  if (!p || n < HUGE_MIN)
    return;
  uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
  uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
  if (e > a)
    madvise((void *)a, e - a, MADV_HUGEPAGE);
}
/* A block for n bytes; a big one aligned to 2 MiB so that huge pages can
 * back all of it (realloc and free work on it as on any other). */
static void *big_malloc(size_t n) {
  if (n < HUGE_MIN)
    return malloc(n);
  void *p = NULL;
  if (posix_memalign(&p, 2u << 20, n) != 0)
    return NULL;
  hint_huge(p, n);
  return p;
}

/* ---- growable arrays ---- */
struct vec {
  void *v;
  size_t n, cap, size;
};
static void *vec_push(struct vec *a) {
  if (a->n == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 64;
    void *nv = realloc(a->v, nc * a->size);
    if (!nv)
      return NULL;
    hint_huge(nv, nc * a->size);
    a->v = nv;
    a->cap = nc;
  }
  return (char *)a->v + a->size * a->n++;
}
/* Gives the array's memory to the caller, trimmed. */
static void *vec_take(struct vec *a, size_t *bytes) {
  void *v = a->v;
  if (a->n && a->n < a->cap) {
    void *nv = realloc(v, a->n * a->size);
    if (nv)
      v = nv;
  }
  if (!a->n) {
    free(v);
    v = NULL;
  }
  *bytes += a->n * a->size;
  a->v = NULL;
  a->cap = 0;
  return v;
}

/* ---- time of a transition array ---- */
static int64_t tr_time(const struct ctrace_timeline *tl, uint64_t v) { return PK_T(v) + tl->start_ns; }

struct task_ev {
  uint64_t id, parent;
  int64_t t;
  uint32_t name, thread;
  uint32_t end;
};

struct create_ev {
  uint64_t link;
  int64_t t;
  uint32_t thread;
};

struct tid_idx {
  uint32_t tid, idx;
};

/* Appends a transition at t to state; keeps the array strictly increasing in
 * time with no two neighbours in the same state. */
static int push_tr(struct vec *tr, int64_t t0, int64_t t, unsigned state) {
  uint64_t *v = tr->v;
  if (tr->n) {
    uint64_t last = v[tr->n - 1];
    if (PK_T(last) == t - t0) {
      tr->n--;
      if (tr->n && PK_ST(v[tr->n - 1]) == state)
        return 0;
    } else if (PK_ST(last) == state) {
      return 0;
    }
  }
  uint64_t *p = vec_push(tr);
  if (!p)
    return -1;
  *p = PK(t - t0, state);
  return 0;
}

static unsigned wait_state(uint64_t reason) {
  const char *cls = ctrace__wait_reason_class(reason);
  if (cls && strcmp(cls, "sleep") == 0)
    return CTRACE_ST_SLEEP;
  return CTRACE_ST_SYNC;
}

static unsigned syscall_state(uint64_t cls) {
  switch (cls) {
  case CTRACE_SC_FILE:
    return CTRACE_ST_IO;
  case CTRACE_SC_NET:
    return CTRACE_ST_NET;
  case CTRACE_SC_POLL:
    return CTRACE_ST_POLL;
  default:
    return CTRACE_ST_SYSCALL;
  }
}

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
  struct vec *v;
  int64_t t0;
  int oom;
};
static void level_emit(void *arg, int64_t s, int64_t e, unsigned st, unsigned merged,
                       uint32_t n) {
  struct level_out *o = arg;
  uint64_t *p = vec_push(o->v);
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
                       struct merger *m) {
  int64_t tend = tl->threads[th].last_ns;
  if (!lv->n)
    return;
  for (size_t i = tr_lower(tl, lv, a); i < lv->n; i++) {
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

static int build_levels(struct ctrace_timeline *tl, uint32_t th, size_t *bytes) {
  struct ctrace_tl_level *lv = tl->levels[th];
  int64_t w = 1024; /* ns; each level 8 times coarser: 1 us .. 17 s */
  unsigned k = 1;
  while (k < CTRACE_TL_MAX_LEVELS && lv[k - 1].n > 512 && w < (int64_t)1 << 40) {
    struct vec out = {.size = sizeof(uint64_t)};
    struct level_out o = {&out, tl->start_ns, 0};
    struct merger m = {.w = w, .fn = level_emit, .arg = &o};
    level_iter(tl, th, &lv[k - 1], tl->threads[th].first_ns, tl->threads[th].last_ns + 1, &m);
    merger_flush(&m);
    if (o.oom) {
      free(out.v);
      return -1;
    }
    w *= 8;
    if (out.n > lv[k - 1].n / 2) {
      /* Not worth its memory: querying the finer level costs at most twice
       * as much. Try the next width from the same level. */
      free(out.v);
      continue;
    }
    lv[k].v = vec_take(&out, bytes);
    lv[k].n = out.n;
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
  level_iter(tl, thread, &tl->levels[thread][k], a, b, &m);
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
    int acc = 0;
    int64_t as = 0, ae = 0;
    uint32_t an = 0;
    const struct ctrace_tl_region *first = NULL;
    for (size_t k = l; k < j && tl->regions[k].start < b; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      int64_t s = rg->start < a ? a : rg->start, e = rg->end > b ? b : rg->end;
      if (e - s >= min_width) {
        if (acc)
          fn(arg, an == 1 ? first : NULL, as, ae, depth, an);
        acc = 0;
        fn(arg, rg, s, e, depth, 1);
        continue;
      }
      if (acc && s - ae < min_width) {
        ae = e > ae ? e : ae;
        an++;
        continue;
      }
      if (acc)
        fn(arg, an == 1 ? first : NULL, as, ae, depth, an);
      acc = 1;
      as = s;
      ae = e;
      an = 1;
      first = rg;
    }
    if (acc)
      fn(arg, an == 1 ? first : NULL, as, ae, depth, an);
    i = j;
  }
}

/* Orders one thread's regions by (depth, start) in O(n): they were
 * collected as they ended, and regions of one depth end in the order they
 * start (they are disjoint), so a stable counting sort by depth is enough. */
static int depth_sort(struct ctrace_tl_region *v, size_t n) {
  size_t count[MAX_DEPTH + 1] = {0};
  for (size_t i = 0; i < n; i++)
    count[v[i].depth + 1]++;
  for (unsigned d = 1; d <= MAX_DEPTH; d++)
    count[d] += count[d - 1];
  struct ctrace_tl_region *tmp = big_malloc(n * sizeof *tmp);
  if (!tmp)
    return -1;
  for (size_t i = 0; i < n; i++)
    tmp[count[v[i].depth]++] = v[i];
  memcpy(v, tmp, n * sizeof *tmp);
  free(tmp);
  return 0;
}

/* ---- lookups ---- */
int64_t ctrace_timeline_thread(const struct ctrace_timeline *tl, uint32_t tid) {
  /* O(threads): fine while threads are at most a few thousand. */
  for (uint32_t i = 0; i < tl->nthreads; i++)
    if (tl->threads[i].tid == tid)
      return i;
  return -1;
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

/* ---- building ---- */
static int cmp_task_ev(const void *a, const void *b) {
  const struct task_ev *x = a, *y = b;
  if (x->id != y->id)
    return x->id < y->id ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return x->t < y->t ? -1 : x->t > y->t;
}
static int cmp_task_start(const void *a, const void *b) {
  const struct ctrace_tl_task *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}
static int cmp_touch(const void *a, const void *b) {
  const struct ctrace_tl_touch *x = a, *y = b;
  if (x->task != y->task)
    return x->task < y->task ? -1 : 1;
  if (x->thread != y->thread)
    return x->thread < y->thread ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}
static int cmp_wake(const void *a, const void *b) {
  const struct ctrace_tl_wake *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->waker < y->waker ? -1 : x->waker > y->waker;
}
static int cmp_create(const void *a, const void *b) {
  const struct create_ev *x = a, *y = b;
  return x->link < y->link ? -1 : x->link > y->link;
}
static int cmp_tid(const void *a, const void *b) {
  const struct tid_idx *x = a, *y = b;
  return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* The touches of one thread's scan: a few recent (task, index) pairs, so
 * that a task's many events on one thread extend one touch instead of each
 * adding one (which then had to be sorted away). */
#define TOUCH_CACHE 8
struct touch_cache {
  uint64_t task[TOUCH_CACHE];
  size_t idx[TOUCH_CACHE];
  unsigned next;
};

static int add_touch(struct vec *touches, struct touch_cache *tc, uint64_t task,
                     uint32_t thread, int64_t t) {
  if (!task)
    return 0;
  for (unsigned k = 0; k < TOUCH_CACHE; k++)
    if (tc->task[k] == task) {
      struct ctrace_tl_touch *p = (struct ctrace_tl_touch *)touches->v + tc->idx[k];
      if (t > p->last)
        p->last = t;
      if (t < p->first)
        p->first = t;
      return 0;
    }
  struct ctrace_tl_touch *p = vec_push(touches);
  if (!p)
    return -1;
  *p = (struct ctrace_tl_touch){.task = task, .thread = thread, .first = t, .last = t};
  tc->task[tc->next] = task;
  tc->idx[tc->next] = touches->n - 1;
  tc->next = (tc->next + 1) % TOUCH_CACHE;
  return 0;
}

struct open_region {
  int64_t start;
  uint64_t task;
  uint32_t name;
};

/* One thread's events: transitions, regions, logs, wakes, task events. */
/* What scanning one thread gives; threads are scanned in parallel, each
 * into its own, then joined in thread order. */
struct scan_out {
  struct vec regions, logs, peers, wakes, tev, touches, creates;
  size_t bytes; /* of the levels */
};

struct scan_shared {
  struct ctrace_timeline *tl;
  struct scan_out *outs;
  const uint32_t *order; /* threads, most events first */
  _Atomic uint32_t next;
  _Atomic uint64_t done;
  _Atomic int failed;
  ctrace_tl_progress progress; /* called by the calling thread only */
  void *arg;
  uint64_t total;
};

static int scan_thread(struct ctrace_timeline *tl, uint32_t i, struct scan_out *o,
                       struct scan_shared *sh, int caller) {
  struct vec *regions = &o->regions, *logs = &o->logs, *peers = &o->peers, *wakes = &o->wakes,
             *tasks = &o->tev, *touches = &o->touches, *creates = &o->creates;
  const ctrace_reader *r = tl->r;
  struct ctrace_tl_thread *th = &tl->threads[i];
  int64_t t0 = tl->start_ns;
  struct vec tr = {.size = sizeof(uint64_t)};
  /* room for the worst case (every event a blocking one: two transitions),
   * trimmed at the end: no copying while growing */
  const struct ctrace_thread_info *ti = ctrace_reader_thread(r, th->index);
  tr.cap = 2 * ti->nevents + 4;
  tr.v = big_malloc(tr.cap * tr.size);
  if (!tr.v)
    return -1;
  struct open_region stack[MAX_DEPTH]; /* 6 KiB */
  unsigned depth = 0, lost_depth = 0;
  struct touch_cache tcache;
  memset(&tcache, 0, sizeof tcache);
  uint64_t nev = 0;
  if (push_tr(&tr, t0, th->first_ns, CTRACE_ST_RUNNING) < 0)
    goto oom;
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, th->index);
  while (ctrace_cursor_next(&c, &ev)) {
    if ((++nev & 0xffff) == 0) {
      uint64_t d = atomic_fetch_add(&sh->done, 0x10000) + 0x10000;
      if (caller && sh->progress)
        sh->progress(sh->arg, d, sh->total);
    }
    int64_t t = ctrace_reader_ns(r, ev.ticks);
    if (t < th->first_ns)
      t = th->first_ns;
    if (t > th->last_ns)
      t = th->last_ns;
    switch (ev.kind) {
    case CTRACE_EV_WAIT:
    case CTRACE_EV_SYSCALL:
    case CTRACE_EV_PENDING: {
      /* PENDING: blocked from its start to the thread's end (its time) */
      uint64_t dur = ev.kind == CTRACE_EV_WAIT ? ev.f[2] : ev.f[4];
      unsigned st = ev.kind == CTRACE_EV_WAIT      ? wait_state(ev.f[0])
                    : ev.kind == CTRACE_EV_SYSCALL ? syscall_state(ev.f[1])
                    : ev.f[0]                      ? wait_state(ev.f[0])
                                                   : syscall_state(ev.f[2]);
      int64_t s = dur < ev.ticks ? ctrace_reader_ns(r, ev.ticks - dur) : th->first_ns;
      int64_t last = tr.n ? tr_time(tl, ((uint64_t *)tr.v)[tr.n - 1]) : th->first_ns;
      if (s < last) /* overlaps what came before (nested calls, skewed clocks) */
        s = last;
      if (t <= s)
        break;
      if (push_tr(&tr, t0, s, st) < 0 || push_tr(&tr, t0, t, CTRACE_ST_RUNNING) < 0)
        goto oom;
      break;
    }
    case CTRACE_EV_WAKE: {
      struct ctrace_tl_wake *w = vec_push(wakes);
      if (!w)
        goto oom;
      *w = (struct ctrace_tl_wake){.t = t, .object = ev.f[1], .waker = i,
                                   .woken_tid = (uint32_t)ev.f[0], .reason = (uint32_t)ev.f[2]};
      break;
    }
    case CTRACE_EV_REGION_BEGIN:
      if (depth < MAX_DEPTH)
        stack[depth++] = (struct open_region){t, ev.f[0], (uint32_t)ev.f[1]};
      else
        lost_depth++;
      if (add_touch(touches, &tcache, ev.f[0], i, t) < 0)
        goto oom;
      break;
    case CTRACE_EV_REGION_END:
      if (lost_depth) {
        lost_depth--;
      } else if (depth) {
        depth--;
        struct ctrace_tl_region *rg = vec_push(regions);
        if (!rg)
          goto oom;
        *rg = (struct ctrace_tl_region){.start = stack[depth].start, .end = t,
                                        .task = stack[depth].task, .name = stack[depth].name,
                                        .depth = (uint16_t)depth};
        if (add_touch(touches, &tcache, stack[depth].task, i, t) < 0)
          goto oom;
      }
      break;
    case CTRACE_EV_LOG: {
      struct ctrace_tl_log *l = vec_push(logs);
      if (!l)
        goto oom;
      *l = (struct ctrace_tl_log){.t = t, .task = ev.f[0], .msg = ev.blob, .msg_len = ev.blob_len,
                                  .category = (uint32_t)ev.f[1], .thread = i};
      if (add_touch(touches, &tcache, ev.f[0], i, t) < 0)
        goto oom;
      break;
    }
    case CTRACE_EV_TASK_BEGIN:
    case CTRACE_EV_TASK_END: {
      struct task_ev *te = vec_push(tasks);
      if (!te)
        goto oom;
      int end = ev.kind == CTRACE_EV_TASK_END;
      *te = (struct task_ev){.id = ev.f[0], .parent = end ? 0 : ev.f[1], .t = t,
                             .name = end ? 0 : (uint32_t)ev.f[2], .thread = i, .end = end};
      if (add_touch(touches, &tcache, ev.f[0], i, t) < 0)
        goto oom;
      break;
    }
    case CTRACE_EV_SOCKADDR: {
      struct ctrace_tl_peer *pe = vec_push(peers);
      if (!pe)
        goto oom;
      *pe = (struct ctrace_tl_peer){.t = t, .fd = (uint32_t)ev.f[0], .thread = i, .addr = ev.blob,
                                    .len = ev.blob_len};
      break;
    }
    case CTRACE_EV_THREAD_CREATE: {
      struct create_ev *ce = vec_push(creates);
      if (!ce)
        goto oom;
      *ce = (struct create_ev){ev.f[0], t, i};
      break;
    }
    default:
      break;
    }
  }
  /* regions still open when the thread (or the trace) ended */
  while (depth) {
    depth--;
    struct ctrace_tl_region *rg = vec_push(regions);
    if (!rg)
      goto oom;
    *rg = (struct ctrace_tl_region){.start = stack[depth].start, .end = th->last_ns,
                                    .task = stack[depth].task, .name = stack[depth].name,
                                    .depth = (uint16_t)depth, .open = 1};
  }
  /* the last transition may sit at the thread's end: drop it */
  while (tr.n > 1 && tr_time(tl, ((uint64_t *)tr.v)[tr.n - 1]) >= th->last_ns)
    tr.n--;
  tl->levels[i][0].v = vec_take(&tr, &o->bytes);
  tl->levels[i][0].n = tr.n;
  tl->levels[i][0].min_width = 0;
  uint64_t per[CTRACE_ST_COUNT] = {0};
  ctrace_timeline_breakdown(tl, i, th->first_ns, th->last_ns, per);
  memcpy(th->state_ns, per, sizeof per);
  return build_levels(tl, i, &o->bytes);
oom:
  free(tr.v);
  return -1;
}

/* Takes threads to scan until none is left; the calling thread (caller = 1)
 * alone reports progress. */
static void scan_loop(struct scan_shared *sh, int caller) {
  for (;;) {
    uint32_t k = atomic_fetch_add(&sh->next, 1);
    if (k >= sh->tl->nthreads || atomic_load(&sh->failed))
      break;
    uint32_t i = sh->order[k];
    if (scan_thread(sh->tl, i, &sh->outs[i], sh, caller) < 0)
      atomic_store(&sh->failed, 1);
  }
}

static void *scan_worker(void *arg) {
  scan_loop(arg, 0);
  return NULL;
}

/* Appends the parts of outs (field at offset off, in thread order) into one
 * vec; the parts are freed. off_out[i] (may be NULL) gets where thread i's
 * part starts. */
static int join(struct vec *all, struct scan_out *outs, uint32_t nt, size_t off,
                size_t *off_out) {
  size_t n = 0;
  for (uint32_t i = 0; i < nt; i++)
    n += ((struct vec *)((char *)&outs[i] + off))->n;
  all->n = 0;
  all->cap = n;
  all->v = n ? big_malloc(n * all->size) : NULL;
  if (n && !all->v)
    return -1;
  for (uint32_t i = 0; i < nt; i++) {
    struct vec *p = (struct vec *)((char *)&outs[i] + off);
    if (off_out)
      off_out[i] = all->n;
    if (p->n)
      memcpy((char *)all->v + all->n * all->size, p->v, p->n * all->size);
    all->n += p->n;
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
  }
  if (off_out)
    off_out[nt] = all->n;
  return 0;
}

static int pair_tasks(struct ctrace_timeline *tl, struct vec *tev, struct vec *touches) {
  struct task_ev *e = tev->v;
  if (tev->n) /* qsort's pointer must not be NULL, even for 0 items */
    qsort(e, tev->n, sizeof *e, cmp_task_ev);
  struct vec tasks = {.size = sizeof(struct ctrace_tl_task)};
  for (size_t i = 0; i < tev->n;) {
    size_t j = i;
    while (j < tev->n && e[j].id == e[i].id)
      j++;
    /* [i, j): begins first (sorted by end flag), then ends */
    if (!e[i].end) {
      struct ctrace_tl_task *t = vec_push(&tasks);
      if (!t)
        goto oom;
      *t = (struct ctrace_tl_task){.id = e[i].id, .parent = e[i].parent, .name = e[i].name,
                                   .begin_thread = e[i].thread, .end_thread = NO_THREAD,
                                   .open = 1, .start = e[i].t, .end = tl->end_ns};
      if (e[j - 1].end) {
        t->end = e[j - 1].t < t->start ? t->start : e[j - 1].t;
        t->end_thread = e[j - 1].thread;
        t->open = 0;
      }
    } /* an end without a begin: the task began before the trace; left out */
    i = j;
  }
  free(tev->v);
  tev->v = NULL;
  tl->tasks = vec_take(&tasks, &tl->bytes);
  tl->ntasks = tasks.n;
  if (tl->ntasks) /* qsort's pointer must not be NULL, even for 0 items */
    qsort(tl->tasks, tl->ntasks, sizeof *tl->tasks, cmp_task_start);

  /* the long tasks apart, so that a window finds the others by binary search */
  int64_t long_dur = (tl->end_ns - tl->start_ns) / 64;
  size_t nl = 0;
  for (size_t i = 0; i < tl->ntasks; i++)
    nl += tl->tasks[i].open || tl->tasks[i].end - tl->tasks[i].start > long_dur;
  tl->long_tasks = malloc((nl ? nl : 1) * sizeof *tl->long_tasks);
  if (!tl->long_tasks)
    return -1;
  tl->bytes += nl * sizeof *tl->long_tasks;
  for (size_t i = 0; i < tl->ntasks; i++) {
    int64_t d = tl->tasks[i].end - tl->tasks[i].start;
    if (tl->tasks[i].open || d > long_dur)
      tl->long_tasks[tl->nlong_tasks++] = (uint32_t)i;
    else if (d > tl->task_maxdur)
      tl->task_maxdur = d;
  }

  /* touches: one per (task, thread), from first to last */
  struct ctrace_tl_touch *tc = touches->v;
  if (touches->n) /* qsort's pointer must not be NULL, even for 0 items */
    qsort(tc, touches->n, sizeof *tc, cmp_touch);
  size_t n = 0;
  for (size_t i = 0; i < touches->n; i++) {
    if (n && tc[n - 1].task == tc[i].task && tc[n - 1].thread == tc[i].thread) {
      if (tc[i].last > tc[n - 1].last)
        tc[n - 1].last = tc[i].last;
      continue;
    }
    tc[n++] = tc[i];
  }
  touches->n = n;
  tl->touches = vec_take(touches, &tl->bytes);
  tl->ntouches = n;
  for (size_t i = 0; i < tl->ntasks; i++) {
    struct ctrace_tl_task *t = &tl->tasks[i];
    size_t lo = 0, hi = tl->ntouches;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (tl->touches[mid].task < t->id)
        lo = mid + 1;
      else
        hi = mid;
    }
    size_t k = lo;
    while (k < tl->ntouches && tl->touches[k].task == t->id)
      k++;
    t->touch = (uint32_t)lo;
    t->ntouch = (uint32_t)(k - lo);
  }
  return 0;
oom:
  free(tasks.v);
  return -1;
}

static int link_creates(struct ctrace_timeline *tl, struct vec *cv) {
  struct create_ev *c = cv->v;
  if (cv->n) /* qsort's pointer must not be NULL, even for 0 items */
    qsort(c, cv->n, sizeof *c, cmp_create);
  struct vec out = {.size = sizeof(struct ctrace_tl_create)};
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(tl->r, tl->threads[i].index);
    if (!ti->start_link)
      continue;
    size_t lo = 0, hi = cv->n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (c[mid].link < ti->start_link)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo == cv->n || c[lo].link != ti->start_link)
      continue;
    struct ctrace_tl_create *p = vec_push(&out);
    if (!p) {
      free(out.v);
      return -1;
    }
    *p = (struct ctrace_tl_create){c[lo].t, tl->threads[i].first_ns, c[lo].thread, i};
  }
  tl->creates = vec_take(&out, &tl->bytes);
  tl->ncreates = out.n;
  return 0;
}

int ctrace_timeline_build(const ctrace_reader *r, ctrace_tl_progress progress, void *arg,
                          struct ctrace_timeline **out) {
  struct ctrace_timeline *tl = calloc(1, sizeof *tl);
  struct vec regions = {.size = sizeof(struct ctrace_tl_region)};
  struct vec logs = {.size = sizeof(struct ctrace_tl_log)};
  struct vec peers = {.size = sizeof(struct ctrace_tl_peer)};
  struct vec wakes = {.size = sizeof(struct ctrace_tl_wake)};
  struct vec tev = {.size = sizeof(struct task_ev)};
  struct vec touches = {.size = sizeof(struct ctrace_tl_touch)};
  struct vec creates = {.size = sizeof(struct create_ev)};
  struct tid_idx *tids = NULL;
  struct scan_out *outs = NULL;
  uint32_t *order = NULL;
  if (!tl)
    return -ENOMEM;
  tl->r = r;
  uint32_t nt = ctrace_reader_nthreads(r);
  tl->start_ns = ctrace_reader_ns(r, ctrace_reader_first_ticks(r));
  tl->end_ns = ctrace_reader_ns(r, ctrace_reader_last_ticks(r));
  if (tl->start_ns > 0)
    tl->start_ns = 0;
  if (tl->end_ns < tl->start_ns)
    tl->end_ns = tl->start_ns;
  tl->nthreads = nt;
  tl->threads = calloc(nt ? nt : 1, sizeof *tl->threads);
  tl->levels = calloc(nt ? nt : 1, sizeof *tl->levels);
  tl->nlevels = calloc(nt ? nt : 1, 1);
  tl->region_off = calloc(nt + 1, sizeof *tl->region_off);
  tl->log_off = calloc(nt + 1, sizeof *tl->log_off);
  tl->max_depth = calloc(nt ? nt : 1, sizeof *tl->max_depth);
  tids = malloc((nt ? nt : 1) * sizeof *tids);
  if (!tl->threads || !tl->levels || !tl->nlevels || !tl->region_off || !tl->log_off ||
      !tl->max_depth || !tids)
    goto oom;
  tl->bytes = sizeof *tl + nt * (sizeof *tl->threads + sizeof *tl->levels + 1 +
                                 2 * sizeof(size_t) + sizeof(uint16_t));
  for (uint32_t i = 0; i < nt; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(r, i);
    struct ctrace_tl_thread *th = &tl->threads[i];
    th->tid = ti->tid;
    th->index = i;
    th->first_ns = ctrace_reader_ns(r, ti->first);
    th->last_ns = ti->exited ? ctrace_reader_ns(r, ti->last) : tl->end_ns;
    if (th->last_ns < th->first_ns)
      th->last_ns = th->first_ns;
    th->created_by = ti->created_by;
    th->exited = ti->exited;
    th->dropped = ti->dropped;
    tids[i] = (struct tid_idx){ti->tid, i};
  }
  /* Each thread's scan gets room for its share of what the validating pass
   * counted (no copying while growing, when threads are alike). */
  static const struct {
    size_t off;
    unsigned k1, k2;
  } room[] = {
      {offsetof(struct scan_out, regions), CTRACE_EV_REGION_BEGIN, 0},
      {offsetof(struct scan_out, logs), CTRACE_EV_LOG, 0},
      {offsetof(struct scan_out, peers), CTRACE_EV_SOCKADDR, 0},
      {offsetof(struct scan_out, wakes), CTRACE_EV_WAKE, 0},
      {offsetof(struct scan_out, tev), CTRACE_EV_TASK_BEGIN, CTRACE_EV_TASK_END},
      {offsetof(struct scan_out, creates), CTRACE_EV_THREAD_CREATE, 0},
  };
  uint64_t total = ctrace_reader_nevents(r);
  outs = calloc(nt ? nt : 1, sizeof *outs);
  order = malloc((nt ? nt : 1) * sizeof *order);
  if (!outs || !order)
    goto oom;
  for (uint32_t i = 0; i < nt; i++) {
    struct scan_out *o = &outs[i];
    o->regions.size = sizeof(struct ctrace_tl_region);
    o->logs.size = sizeof(struct ctrace_tl_log);
    o->peers.size = sizeof(struct ctrace_tl_peer);
    o->wakes.size = sizeof(struct ctrace_tl_wake);
    o->tev.size = sizeof(struct task_ev);
    o->touches.size = sizeof(struct ctrace_tl_touch);
    o->creates.size = sizeof(struct create_ev);
    uint64_t mine = ctrace_reader_thread(r, i)->nevents;
    for (size_t k = 0; k < sizeof room / sizeof room[0]; k++) {
      struct vec *a = (struct vec *)((char *)o + room[k].off);
      uint64_t all = ctrace_reader_nevents_kind(r, room[k].k1) +
                     (room[k].k2 ? ctrace_reader_nevents_kind(r, room[k].k2) : 0);
      size_t want = total ? (size_t)((double)all * (double)mine / (double)total * 1.05) + 16 : 16;
      if (!all)
        continue;
      a->v = big_malloc(want * a->size);
      if (!a->v)
        goto oom;
      a->cap = want;
    }
    order[i] = i;
  }
  /* biggest threads first, so that the last one to finish is a small one */
  for (uint32_t i = 1; i < nt; i++)
    for (uint32_t j = i; j > 0 && ctrace_reader_thread(r, order[j])->nevents >
                                      ctrace_reader_thread(r, order[j - 1])->nevents; j--) {
      uint32_t x = order[j];
      order[j] = order[j - 1];
      order[j - 1] = x;
    }
  struct scan_shared sh = {.tl = tl, .outs = outs, .order = order, .progress = progress,
                           .arg = arg, .total = total};
  /* one helper thread beside the caller: the machines this runs on have a
   * few cores, and the stats pass may be using another */
  pthread_t helper;
  int helping = nt > 1 && pthread_create(&helper, NULL, scan_worker, &sh) == 0;
  scan_loop(&sh, 1);
  if (helping)
    pthread_join(helper, NULL);
  if (atomic_load(&sh.failed))
    goto oom;
  for (uint32_t i = 0; i < nt; i++)
    tl->bytes += outs[i].bytes;
  if (join(&regions, outs, nt, offsetof(struct scan_out, regions), tl->region_off) < 0 ||
      join(&logs, outs, nt, offsetof(struct scan_out, logs), NULL) < 0 ||
      join(&peers, outs, nt, offsetof(struct scan_out, peers), NULL) < 0 ||
      join(&wakes, outs, nt, offsetof(struct scan_out, wakes), NULL) < 0 ||
      join(&tev, outs, nt, offsetof(struct scan_out, tev), NULL) < 0 ||
      join(&touches, outs, nt, offsetof(struct scan_out, touches), NULL) < 0 ||
      join(&creates, outs, nt, offsetof(struct scan_out, creates), NULL) < 0)
    goto oom;
  free(outs);
  outs = NULL;
  free(order);
  order = NULL;
  if (progress)
    progress(arg, total, total);

  /* regions: grouped by thread as scanned; each thread's by (depth, start) */
  tl->nregions = regions.n;
  tl->regions = vec_take(&regions, &tl->bytes);
  for (uint32_t i = 0; i < nt; i++) {
    size_t lo = tl->region_off[i], hi = tl->region_off[i + 1];
    if (hi > lo && depth_sort(tl->regions + lo, hi - lo) < 0)
      goto oom;
    for (size_t k = lo; k < hi; k++)
      if (tl->regions[k].depth + 1u > tl->max_depth[i])
        tl->max_depth[i] = (uint16_t)(tl->regions[k].depth + 1u);
  }
  /* logs: already by (thread, t) since threads were scanned in order */
  tl->nlogs = logs.n;
  tl->logs = vec_take(&logs, &tl->bytes);
  for (size_t k = 0; k < tl->nlogs; k++)
    tl->log_off[tl->logs[k].thread + 1]++;
  for (uint32_t i = 0; i < nt; i++)
    tl->log_off[i + 1] += tl->log_off[i];
  tl->npeers = peers.n;
  tl->peers = vec_take(&peers, &tl->bytes);
  /* wakes: by time, with the woken thread's index */
  qsort(tids, nt, sizeof *tids, cmp_tid);
  tl->nwakes = wakes.n;
  tl->wakes = vec_take(&wakes, &tl->bytes);
  for (size_t k = 0; k < tl->nwakes; k++) {
    struct tid_idx key = {tl->wakes[k].woken_tid, 0};
    const struct tid_idx *f = nt ? bsearch(&key, tids, nt, sizeof *tids, cmp_tid) : NULL;
    tl->wakes[k].woken = f ? f->idx : NO_THREAD;
  }
  if (tl->nwakes)
    qsort(tl->wakes, tl->nwakes, sizeof *tl->wakes, cmp_wake);
  if (pair_tasks(tl, &tev, &touches) < 0 || link_creates(tl, &creates) < 0)
    goto oom;
  free(creates.v);
  free(tids);
  *out = tl;
  return 0;
oom:
  free(regions.v);
  free(logs.v);
  free(peers.v);
  free(wakes.v);
  free(tev.v);
  free(touches.v);
  free(creates.v);
  free(tids);
  if (outs)
    for (uint32_t i = 0; i < tl->nthreads; i++) {
      struct vec *vs[] = {&outs[i].regions, &outs[i].logs, &outs[i].peers, &outs[i].wakes,
                          &outs[i].tev, &outs[i].touches, &outs[i].creates};
      for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++)
        free(vs[k]->v);
    }
  free(outs);
  free(order);
  ctrace_timeline_free(tl);
  return -ENOMEM;
}

void ctrace_timeline_free(struct ctrace_timeline *tl) {
  if (!tl)
    return;
  for (uint32_t i = 0; tl->levels && i < tl->nthreads; i++)
    for (unsigned k = 0; k < CTRACE_TL_MAX_LEVELS; k++)
      free(tl->levels[i][k].v);
  free(tl->levels);
  free(tl->nlevels);
  free(tl->threads);
  free(tl->regions);
  free(tl->region_off);
  free(tl->max_depth);
  free(tl->tasks);
  free(tl->long_tasks);
  free(tl->touches);
  free(tl->logs);
  free(tl->log_off);
  free(tl->wakes);
  free(tl->creates);
  free(tl->peers);
  free(tl);
}

/* ---- latency statistics and instances ---- */
struct item {
  uint32_t name;
  int64_t dur;
  size_t idx;
};
static int cmp_item_name_dur(const void *a, const void *b) {
  const struct item *x = a, *y = b;
  if (x->name != y->name)
    return x->name < y->name ? -1 : 1;
  return x->dur < y->dur ? -1 : x->dur > y->dur;
}
static int cmp_item_dur_desc(const void *a, const void *b) {
  const struct item *x = a, *y = b;
  if (x->dur != y->dur)
    return x->dur > y->dur ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static struct item *collect(const struct ctrace_timeline *tl, int regions, size_t *n) {
  size_t cap = regions ? tl->nregions : tl->ntasks;
  struct item *v = big_malloc((cap ? cap : 1) * sizeof *v);
  if (!v)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < cap; i++) {
    if (regions) {
      if (tl->regions[i].open)
        continue;
      v[k++] = (struct item){tl->regions[i].name, tl->regions[i].end - tl->regions[i].start, i};
    } else {
      if (tl->tasks[i].open)
        continue;
      v[k++] = (struct item){tl->tasks[i].name, tl->tasks[i].end - tl->tasks[i].start, i};
    }
  }
  *n = k;
  return v;
}

static int64_t pct(const struct item *v, size_t n, double p) {
  size_t r = (size_t)ceil(p * (double)n);
  if (r < 1)
    r = 1;
  return v[r - 1].dur;
}

long ctrace_timeline_latency(const struct ctrace_timeline *tl, int regions,
                             struct ctrace_tl_latency **out) {
  size_t n;
  struct item *v = collect(tl, regions, &n);
  if (!v)
    return -ENOMEM;
  qsort(v, n, sizeof *v, cmp_item_name_dur);
  size_t groups = 0;
  for (size_t i = 0; i < n; i++)
    groups += i == 0 || v[i].name != v[i - 1].name;
  struct ctrace_tl_latency *L = calloc(groups ? groups : 1, sizeof *L);
  if (!L) {
    free(v);
    return -ENOMEM;
  }
  size_t g = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j].name == v[i].name)
      j++;
    struct ctrace_tl_latency *l = &L[g++];
    size_t c = j - i;
    l->name = v[i].name;
    l->count = c;
    l->min = v[i].dur;
    l->max = v[j - 1].dur;
    l->p50 = pct(v + i, c, 0.50);
    l->p90 = pct(v + i, c, 0.90);
    l->p99 = pct(v + i, c, 0.99);
    /* log-spaced buckets from min to max: latencies spread over decades */
    double lo = l->min > 0 ? (double)l->min : 1.0, hi = (double)l->max + 1.0;
    unsigned nb = l->max > l->min ? CTRACE_TL_HIST_BUCKETS : 1;
    if (c < nb)
      nb = c < 4 ? (l->max > l->min ? 4 : 1) : (unsigned)c;
    l->nbuckets = nb;
    double ratio = log(hi / lo);
    for (unsigned b = 0; b < nb; b++) {
      l->lo[b] = b == 0 ? l->min : (int64_t)(lo * exp(ratio * b / nb));
      l->hi[b] = b + 1 == nb ? l->max + 1 : (int64_t)(lo * exp(ratio * (b + 1) / nb));
    }
    for (size_t k = i; k < j; k++) {
      unsigned b = 0;
      while (b + 1 < nb && v[k].dur >= l->hi[b])
        b++;
      l->hist[b]++;
    }
    i = j;
  }
  free(v);
  *out = L;
  return (long)groups;
}

long ctrace_timeline_instances(const struct ctrace_timeline *tl, int regions, uint32_t name,
                               size_t limit, struct ctrace_tl_instance **out) {
  size_t n;
  struct item *v = collect(tl, regions, &n);
  if (!v)
    return -ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i].name == name)
      v[k++] = v[i];
  qsort(v, k, sizeof *v, cmp_item_dur_desc);
  if (k > limit)
    k = limit;
  struct ctrace_tl_instance *I = calloc(k ? k : 1, sizeof *I);
  if (!I) {
    free(v);
    return -ENOMEM;
  }
  for (size_t i = 0; i < k; i++) {
    struct ctrace_tl_instance *in = &I[i];
    in->name = name;
    if (regions) {
      const struct ctrace_tl_region *rg = &tl->regions[v[i].idx];
      in->id = v[i].idx;
      in->start = rg->start;
      in->end = rg->end;
      uint32_t th = ctrace_timeline_region_thread(tl, v[i].idx);
      in->tids[0] = tl->threads[th].tid;
      in->ntids = 1;
      ctrace_timeline_breakdown(tl, th, rg->start, rg->end, in->breakdown);
    } else {
      const struct ctrace_tl_task *t = &tl->tasks[v[i].idx];
      in->id = t->id;
      in->start = t->start;
      in->end = t->end;
      for (uint32_t j = 0; j < t->ntouch; j++) {
        const struct ctrace_tl_touch *tc = &tl->touches[t->touch + j];
        if (in->ntids < 16)
          in->tids[in->ntids++] = tl->threads[tc->thread].tid;
        int64_t a = tc->first < t->start ? t->start : tc->first;
        int64_t b = tc->last > t->end ? t->end : tc->last;
        ctrace_timeline_breakdown(tl, tc->thread, a, b, in->breakdown);
      }
    }
  }
  free(v);
  *out = I;
  return (long)k;
}
