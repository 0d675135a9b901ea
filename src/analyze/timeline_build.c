/*
 * timeline_build.c - builds the timeline (timeline.h). A counting pass over
 * each thread's events places its part of the regions, logs, peers, wakes,
 * task events and creations in the index's arrays; then one pass over each
 * thread's events (threads shared by the caller and one helper thread)
 * feeds its state machine (states.h) for the state transitions, writes
 * those parts in place, and builds its levels of detail; then, once,
 * across threads: the parts closed up, wakes put in time order (merging the
 * threads' runs), creation links resolved with a hash table, the processes,
 * and then the tasks paired by id and their touches (pair_tasks, from the
 * threads' parts, numbering ids instead of sorting the events).
 */
#include "timeline_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../base/hash.h"
#include "states.h"
#include "timeline_cache.h"
#include "../base/sort.h"
#include "../base/vec.h"

#define MAX_DEPTH 256 /* deeper regions are counted in the deepest lane */
#define tr_time ctrace__tr_time

/* A TASK_BEGIN, and a TASK_END (apart: smaller) */
struct task_ev {
  uint64_t id, parent;
  int64_t t;
  uint32_t name, thread;
};
struct task_end_ev {
  uint64_t id;
  int64_t t;
  uint32_t thread, pad;
};

struct create_ev {
  uint64_t link;
  int64_t t;
  uint32_t thread;
};

/* A thread and its event count, for ordering the scans. */
struct by_size {
  uint64_t nevents;
  uint32_t idx;
};

/* Appends a transition at t to state; keeps the array strictly increasing in
 * time with no two neighbours in the same state. */
static int push_tr(struct ctrace_vec *tr, int64_t t0, int64_t t, unsigned state) {
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
  uint64_t *p = ctrace_vec_push(tr);
  if (!p)
    return -1;
  *p = PK(t - t0, state);
  return 0;
}

/* Copies one thread's regions into dst ordered by (depth, start), in O(n):
 * they were collected as they ended, and regions of one depth end in the
 * order they start (they are disjoint), so a stable counting sort by depth
 * is enough. Done while joining the threads' parts: the regions are copied
 * once, not joined and then sorted through a scratch copy. */
static void depth_sort_into(struct ctrace_tl_region *dst, const struct ctrace_tl_region *v,
                            size_t n) {
  size_t count[MAX_DEPTH + 1] = {0};
  for (size_t i = 0; i < n; i++)
    count[v[i].depth + 1]++;
  for (unsigned d = 1; d <= MAX_DEPTH; d++)
    count[d] += count[d - 1];
  for (size_t i = 0; i < n; i++)
    dst[count[v[i].depth]++] = v[i];
}

/* ---- building ---- */

/* wakes by (t, waker) */
#define WAKE_LESS(x, y) ((x)->t != (y)->t ? (x)->t < (y)->t : (x)->waker < (y)->waker)
CTRACE_RUN_SORT_TYPED(sort_wakes, struct ctrace_tl_wake, WAKE_LESS)
static int cmp_by_size(const void *a, const void *b) {
  const struct by_size *x = a, *y = b;
  if (x->nevents != y->nevents)
    return x->nevents > y->nevents ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
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

static int add_touch(struct ctrace_vec *touches, struct touch_cache *tc, uint64_t task,
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
  struct ctrace_tl_touch *p = ctrace_vec_push(touches);
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

/* What scanning one thread gives; threads are scanned in parallel, each
 * into its own. Its regions, logs, peers, wakes, task events and creations
 * go straight into the index's arrays (the D_* arrays below): each thread's part
 * at the place a counting pass over its events gave it (in thread order),
 * so that nothing is joined (copied into fresh memory) afterwards; the
 * touches and process events (few, or fewer than their events) are its
 * own vectors, joined later. */
struct scan_out {
  struct ctrace_vec regions, logs, peers, wakes, tev, tend, touches, creates;
  struct ctrace_vec procevs; /* FORK, EXEC, EXIT, SIGNAL (timeline_proc.c) */
  size_t bytes; /* of the levels */
};

/* The kinds whose events each give at most one element of an array
 * written in place (ctrace_timeline_build counts them per thread first):
 * the array's field in struct scan_out and its element size. */
enum { D_REGIONS, D_LOGS, D_PEERS, D_WAKES, D_TEV, D_TEND, D_CREATES, D_N };
static const size_t direct_off[D_N] = {
    offsetof(struct scan_out, regions), offsetof(struct scan_out, logs),
    offsetof(struct scan_out, peers),   offsetof(struct scan_out, wakes),
    offsetof(struct scan_out, tev),     offsetof(struct scan_out, tend),
    offsetof(struct scan_out, creates)};
static const size_t direct_size[D_N] = {
    sizeof(struct ctrace_tl_region), sizeof(struct ctrace_tl_log),
    sizeof(struct ctrace_tl_peer),   sizeof(struct ctrace_tl_wake),
    sizeof(struct task_ev),          sizeof(struct task_end_ev),
    sizeof(struct create_ev)};
static struct ctrace_vec *direct_vec(struct scan_out *o, unsigned d) {
  return (struct ctrace_vec *)((char *)o + direct_off[d]);
}
/* Which array an event kind's element goes to, or D_N. */
static unsigned direct_of(unsigned kind) {
  switch (kind) {
  case CTRACE_EV_REGION_BEGIN:
    return D_REGIONS;
  case CTRACE_EV_LOG:
    return D_LOGS;
  case CTRACE_EV_SOCKADDR:
    return D_PEERS;
  case CTRACE_EV_WAKE:
    return D_WAKES;
  case CTRACE_EV_TASK_BEGIN:
    return D_TEV;
  case CTRACE_EV_TASK_END:
    return D_TEND;
  case CTRACE_EV_THREAD_CREATE:
    return D_CREATES;
  default:
    return D_N;
  }
}

/* A new element of an array written in place: its room was counted, so
 * it is never full (NULL if it were: the build fails rather than writes
 * past it). */
static void *direct_push(struct ctrace_vec *a) {
  if (a->n == a->cap)
    return NULL;
  return (char *)a->v + a->size * a->n++;
}

struct scan_shared {
  struct ctrace_timeline *tl;
  struct scan_out *outs;
  uint64_t (*counts)[D_N]; /* per thread: the counting pass's (scan_loop) */
  int counting;            /* the pass the workers run */
  const uint32_t *order; /* threads, most events first */
  _Atomic uint32_t next;
  _Atomic uint64_t done;
  _Atomic int failed;
  ctrace_tl_progress progress; /* called by the calling thread only */
  void *arg;
  uint64_t total;
  uint64_t *state_ns; /* the stats' time by state per thread, or NULL */
  struct ctrace_tl_spill *spill; /* or NULL (timeline_cache.h) */
};

/* The state machine's spans, as transitions of one thread. */
struct tr_out {
  struct ctrace_vec *tr;
  int64_t t0;
  int64_t at_end; /* start of a span flagged CTRACE_SPAN_AT_END */
  int before;     /* saw a span flagged CTRACE_SPAN_BEFORE_START */
  int oom;
  uint64_t *sum; /* time by state of the spans, or NULL (ctrace_timeline_build_states) */
};
static void on_span(void *arg, const struct ctrace_span *sp) {
  struct tr_out *o = arg;
  if (sp->end <= sp->start) /* an empty call: no time in any state */
    return;
  if (o->sum)
    ctrace_states_sum_span(o->sum, sp); /* as the stats sum it */
  if (sp->flags & CTRACE_SPAN_AT_END)
    o->at_end = sp->start;
  if (sp->flags & CTRACE_SPAN_BEFORE_START)
    o->before = 1;
  if (push_tr(o->tr, o->t0, sp->start, sp->state) < 0)
    o->oom = 1;
}

static int push_procev(struct ctrace_vec *v, const ctrace_event *ev, int64_t t, uint32_t i) {
  struct ctrace_tl_procev *p = ctrace_vec_push(v);
  if (!p)
    return -1;
  *p = (struct ctrace_tl_procev){.t = t, .thread = i, .kind = ev->kind};
  if (ev->kind == CTRACE_EV_FORK) {
    p->arg = CTRACE_EV(fork, ev).child_pid;
    p->stack = CTRACE_EV(fork, ev).stack;
  } else if (ev->kind == CTRACE_EV_EXEC) {
    p->arg = CTRACE_EV(exec, ev).path;
    p->stack = CTRACE_EV(exec, ev).stack;
  } else if (ev->kind == CTRACE_EV_EXIT) {
    p->arg = (uint64_t)CTRACE_EV(exit, ev).status;
  } else {
    p->arg = CTRACE_EV(signal, ev).signo;
  }
  return 0;
}

/* Scans thread i into o: its states (through the state machine), regions,
 * logs, peers, wakes, task events, touches and creations; then its levels
 * of detail. Runs on the caller or the helper thread; regions and
 * lscratch are that thread's scratch (the regions as they end, before
 * their ordering by depth into o's place; the levels being merged). 0 or
 * -1 (out of memory). */
static int scan_thread(struct ctrace_timeline *tl, uint32_t i, struct scan_out *o,
                       struct scan_shared *sh, int caller, struct ctrace_vec *regions,
                       struct ctrace_vec *lscratch) {
  struct ctrace_vec *logs = &o->logs, *peers = &o->peers, *wakes = &o->wakes,
             *tasks = &o->tev, *touches = &o->touches, *creates = &o->creates;
  regions->n = 0;
  if (ctrace_vec_reserve(regions, o->regions.cap) < 0)
    return -1;
  const ctrace_reader *r = tl->r;
  struct ctrace_tl_thread *th = &tl->threads[i];
  int64_t t0 = tl->start_ns;
  struct ctrace_vec tr = {.size = sizeof(uint64_t)};
  /* room for the worst case (every event a blocking one: two transitions),
   * trimmed at the end: no copying while growing */
  const struct ctrace_thread_info *ti = ctrace_reader_thread(r, th->index);
  tr.cap = 2 * ti->nevents + 4;
  tr.v = ctrace__tl_alloc(tr.cap * tr.size);
  if (!tr.v)
    return -1;
  struct open_region stack[MAX_DEPTH]; /* 6 KiB */
  unsigned depth = 0, lost_depth = 0;
  struct touch_cache tcache;
  memset(&tcache, 0, sizeof tcache);
  uint64_t nev = 0;
  struct tr_out to = {.tr = &tr, .t0 = t0, .at_end = INT64_MAX,
                      .sum = sh->state_ns ? sh->state_ns + (size_t)i * CTRACE_ST_COUNT : NULL};
  struct ctrace_states sm;
  ctrace_states_init(&sm, th->first_ns, ctrace_states_reader_clock, r, on_span, &to);
  ctrace_states_use_sched(&sm, r, th->index);
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
    /* states: only from the state machine */
    ctrace_states_event(&sm, &ev);
    if (to.oom)
      goto oom;
    switch (ev.kind) {
    case CTRACE_EV_WAKE: {
      struct ctrace_ev_wake wk = CTRACE_EV(wake, &ev);
      struct ctrace_tl_wake *w = direct_push(wakes);
      if (!w)
        goto oom;
      /* the thread that had the tid then (tids are reused) */
      int64_t woken = wk.tid <= UINT32_MAX
                          ? ctrace_reader_thread_index_at(r, (uint32_t)wk.tid, ev.ticks)
                          : -1;
      *w = (struct ctrace_tl_wake){.t = t, .object = wk.object, .waker = i,
                                   .woken = woken >= 0 ? (uint32_t)woken : NO_THREAD,
                                   .woken_tid = (uint32_t)wk.tid, .reason = (uint32_t)wk.reason};
      break;
    }
    case CTRACE_EV_REGION_BEGIN: {
      struct ctrace_ev_region_begin rb = CTRACE_EV(region_begin, &ev);
      if (depth < MAX_DEPTH)
        stack[depth++] = (struct open_region){t, rb.task, (uint32_t)rb.name};
      else
        lost_depth++;
      if (add_touch(touches, &tcache, rb.task, i, t) < 0)
        goto oom;
      break;
    }
    case CTRACE_EV_REGION_END:
      if (lost_depth) {
        lost_depth--;
      } else if (depth) {
        depth--;
        struct ctrace_tl_region *rg = ctrace_vec_push(regions);
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
      struct ctrace_tl_log *l = direct_push(logs);
      if (!l)
        goto oom;
      struct ctrace_ev_log lg = CTRACE_EV(log, &ev);
      *l = (struct ctrace_tl_log){.t = t, .task = lg.task, .msg = ev.blob, .msg_len = ev.blob_len,
                                  .category = (uint32_t)lg.category, .thread = i};
      if (add_touch(touches, &tcache, lg.task, i, t) < 0)
        goto oom;
      break;
    }
    case CTRACE_EV_TASK_BEGIN: {
      struct task_ev *te = direct_push(tasks);
      if (!te)
        goto oom;
      struct ctrace_ev_task_begin tb = CTRACE_EV(task_begin, &ev);
      *te = (struct task_ev){.id = tb.task, .parent = tb.parent, .t = t,
                             .name = (uint32_t)tb.name, .thread = i};
      if (add_touch(touches, &tcache, tb.task, i, t) < 0)
        goto oom;
      break;
    }
    case CTRACE_EV_TASK_END: {
      struct task_end_ev *te = direct_push(&o->tend);
      if (!te)
        goto oom;
      uint64_t id = CTRACE_EV(task_end, &ev).task;
      *te = (struct task_end_ev){.id = id, .t = t, .thread = i};
      if (add_touch(touches, &tcache, id, i, t) < 0)
        goto oom;
      break;
    }
    case CTRACE_EV_SOCKADDR: {
      struct ctrace_tl_peer *pe = direct_push(peers);
      if (!pe)
        goto oom;
      *pe = (struct ctrace_tl_peer){.t = t, .fd = (uint32_t)CTRACE_EV(sockaddr, &ev).fd,
                                    .thread = i, .addr = ev.blob,
                                    .len = ev.blob_len};
      break;
    }
    case CTRACE_EV_THREAD_CREATE: {
      struct create_ev *ce = direct_push(creates);
      if (!ce)
        goto oom;
      *ce = (struct create_ev){CTRACE_EV(thread_create, &ev).link, t, i};
      break;
    }
    case CTRACE_EV_FORK:
    case CTRACE_EV_EXEC:
    case CTRACE_EV_EXIT:
    case CTRACE_EV_SIGNAL:
      if (push_procev(&o->procevs, &ev, t, i) < 0)
        goto oom;
      break;
    default:
      break;
    }
  }
  /* The stats' sums end the thread where the reader does (its last event
   * when it exited, else the trace's end), the timeline at its process's
   * end: when those differ, a copy of the machine ends the sums there. */
  int64_t stats_end = ctrace_reader_ns(r, ctrace_reader_thread_end(r, th->index));
  if (to.sum && stats_end != th->last_ns) {
    struct ctrace_states copy = sm;
    copy.fn = ctrace_states_sum_span;
    copy.arg = to.sum;
    ctrace_states_finish(&copy, stats_end);
    to.sum = NULL;
  }
  /* the thread's end: its exit, else the end of the trace; a call still in
   * progress then is its last span */
  int64_t end = ctrace_states_finish(&sm, th->last_ns);
  if (to.oom)
    goto oom;
  if (end < th->last_ns)
    th->last_ns = end > th->first_ns ? end : th->first_ns;
  th->at_end_ns = to.at_end;
  /* a first call that began before the thread's first event moves its
   * begin back (to the trace's start at most) */
  if (ctrace_states_begin(&sm) < th->first_ns)
    th->first_ns = ctrace_states_begin(&sm);
  th->began_before = (uint32_t)to.before;
  if (!tr.n && push_tr(&tr, t0, th->first_ns, ctrace_states_gap(&sm)) < 0)
    goto oom;
  /* regions still open when the thread (or the trace) ended */
  while (depth) {
    depth--;
    struct ctrace_tl_region *rg = ctrace_vec_push(regions);
    if (!rg)
      goto oom;
    *rg = (struct ctrace_tl_region){.start = stack[depth].start, .end = th->last_ns,
                                    .task = stack[depth].task, .name = stack[depth].name,
                                    .depth = (uint16_t)depth, .open = 1};
  }
  /* the regions into their place, by (depth, start); a region past
   * MAX_DEPTH was not kept: the place can have room left (closed later) */
  if (regions->n > o->regions.cap)
    goto oom;
  depth_sort_into(o->regions.v, regions->v, regions->n);
  o->regions.n = regions->n;
  for (size_t k = 0; k < regions->n; k++)
    if (((struct ctrace_tl_region *)regions->v)[k].depth + 1u > tl->max_depth[i])
      tl->max_depth[i] = (uint16_t)(((struct ctrace_tl_region *)regions->v)[k].depth + 1u);
  /* the last transition may sit at the thread's end: drop it */
  while (tr.n > 1 && tr_time(tl, ((uint64_t *)tr.v)[tr.n - 1]) >= th->last_ns)
    tr.n--;
  tl->levels[i][0].v = ctrace_vec_take(&tr, &tl->levels[i][0].n, &o->bytes);
  tl->levels[i][0].min_width = 0;
  uint64_t per[CTRACE_ST_COUNT] = {0};
  ctrace_timeline_breakdown(tl, i, th->first_ns, th->last_ns, per);
  memcpy(th->state_ns, per, sizeof per);
  return ctrace__timeline_build_levels(tl, i, &o->bytes, lscratch);
oom:
  free(tr.v);
  return -1;
}

/* Takes threads to scan until none is left; the calling thread (caller = 1)
 * alone reports progress. */
static void scan_loop(struct scan_shared *sh, int caller) {
  /* the scratch of this worker's threads, reused */
  struct ctrace_vec regions = CTRACE_VEC(struct ctrace_tl_region);
  struct ctrace_vec levels = CTRACE_VEC(uint64_t);
  for (;;) {
    uint32_t k = atomic_fetch_add(&sh->next, 1);
    if (k >= sh->tl->nthreads || atomic_load(&sh->failed))
      break;
    uint32_t i = sh->order[k];
    if (sh->counting) { /* how many elements each array gets from thread i */
      ctrace_cursor c;
      ctrace_event ev;
      ctrace_cursor_init(&c, sh->tl->r, sh->tl->threads[i].index);
      while (ctrace_cursor_next(&c, &ev)) {
        unsigned d = direct_of(ev.kind);
        if (d < D_N)
          sh->counts[i][d]++;
      }
    } else if (scan_thread(sh->tl, i, &sh->outs[i], sh, caller, &regions, &levels) < 0) {
      atomic_store(&sh->failed, 1);
    } else if (sh->spill) { /* the thread's levels are complete */
      for (unsigned lv = 0; lv < sh->tl->nlevels[i]; lv++)
        ctrace__tl_spill(sh->spill, sh->tl->levels[i][lv].v,
                         sh->tl->levels[i][lv].n * sizeof(uint64_t));
    }
  }
  ctrace_vec_free(&regions);
  ctrace_vec_free(&levels);
}

static void *scan_worker(void *arg) {
  scan_loop(arg, 0);
  return NULL;
}

/* Appends the parts of outs (field at offset off, in thread order) into one
 * vec; the parts are freed. off_out[i] (may be NULL) gets where thread i's
 * part starts. */
static int join(struct ctrace_vec *all, struct scan_out *outs, uint32_t nt, size_t off,
                size_t *off_out) {
  size_t n = 0;
  for (uint32_t i = 0; i < nt; i++)
    n += ((struct ctrace_vec *)((char *)&outs[i] + off))->n;
  all->n = 0;
  all->cap = n;
  all->v = n ? ctrace__big_malloc(n * all->size) : NULL;
  if (n && !all->v)
    return -1;
  for (uint32_t i = 0; i < nt; i++) {
    struct ctrace_vec *p = (struct ctrace_vec *)((char *)&outs[i] + off);
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

/* ---- tasks and touches, from the scans' parts (in thread order) ---- */

/*
 * Task ids to numbers in id order. The recorder numbers tasks per process
 * (pid << 32 | a counter): when the trace's ids fill most of a few such
 * ranges, an id's number is its place in its range (no table: the parts
 * are read in order, not at random); else a hash table gives each id its
 * rank among the ids.
 */
#define ID_RANGES 16
struct idnum {
  uint32_t nr; /* ranges; 0: the table */
  uint64_t hi[ID_RANGES], lo[ID_RANGES];
  size_t off[ID_RANGES + 1];
  struct ctrace_hash h; /* id -> rank, when not in ranges */
  size_t n;             /* numbers: 0 .. n - 1 */
};

static int64_t idnum_get(const struct idnum *m, uint64_t id) {
  if (!m->nr)
    return ctrace_hash_get(&m->h, id);
  uint64_t hi = id >> 32, lo = id & 0xffffffffu;
  for (uint32_t r = 0; r < m->nr; r++)
    if (m->hi[r] == hi)
      return lo >= m->lo[r] && lo - m->lo[r] < m->off[r + 1] - m->off[r]
                 ? (int64_t)(m->off[r] + (lo - m->lo[r]))
                 : -1;
  return -1;
}

struct id_rank {
  uint64_t id;
  uint32_t k;
};
static int cmp_id_rank(const void *a, const void *b) {
  const struct id_rank *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Numbers for the ids of the touches (every task event touched its id). */
static int idnum_build(struct idnum *m, const struct scan_out *outs, uint32_t nt, size_t ntouch) {
  memset(m, 0, sizeof *m);
  uint64_t lmax[ID_RANGES];
  uint32_t nr = 0, last = 0;
  int ranges = 1;
  for (uint32_t i = 0; i < nt && ranges; i++) {
    const struct ctrace_tl_touch *p = outs[i].touches.v;
    for (size_t k = 0; k < outs[i].touches.n; k++) {
      uint64_t hi = p[k].task >> 32, lo = p[k].task & 0xffffffffu;
      uint32_t r = last;
      if (r >= nr || m->hi[r] != hi)
        for (r = 0; r < nr && m->hi[r] != hi; r++)
          ;
      if (r == nr) {
        if (nr == ID_RANGES) {
          ranges = 0;
          break;
        }
        m->hi[nr] = hi;
        m->lo[nr] = lmax[nr] = lo;
        nr++;
      }
      last = r;
      if (lo < m->lo[r])
        m->lo[r] = lo;
      if (lo > lmax[r])
        lmax[r] = lo;
    }
  }
  if (ranges && nr) {
    for (uint32_t x = 1; x < nr; x++) /* by hi: numbers in id order */
      for (uint32_t y = x; y && m->hi[y - 1] > m->hi[y]; y--) {
        uint64_t t;
        t = m->hi[y], m->hi[y] = m->hi[y - 1], m->hi[y - 1] = t;
        t = m->lo[y], m->lo[y] = m->lo[y - 1], m->lo[y - 1] = t;
        t = lmax[y], lmax[y] = lmax[y - 1], lmax[y - 1] = t;
      }
    size_t total = 0;
    for (uint32_t r = 0; r < nr; r++) {
      m->off[r] = total;
      total += lmax[r] - m->lo[r] + 1;
    }
    m->off[nr] = total;
    if (total <= 2 * ntouch + 4096) { /* mostly filled */
      m->nr = nr;
      m->n = total;
      return 0;
    }
  }
  if (!ntouch)
    return 0;
  /* the table: ids numbered as first seen, then ranked */
  size_t want = 64;
  while (want < 2 * ntouch)
    want *= 2;
  m->h.s = calloc(want, sizeof *m->h.s);
  if (!m->h.s)
    return -1;
  m->h.cap = want;
  struct ctrace_vec ids = CTRACE_VEC(struct id_rank);
  for (uint32_t i = 0; i < nt; i++) {
    const struct ctrace_tl_touch *p = outs[i].touches.v;
    for (size_t k = 0; k < outs[i].touches.n; k++) {
      int put = ctrace_hash_put(&m->h, p[k].task, (uint32_t)ids.n);
      if (put < 0)
        goto oom;
      if (put) {
        struct id_rank *e = ctrace_vec_push(&ids);
        if (!e)
          goto oom;
        *e = (struct id_rank){p[k].task, (uint32_t)(ids.n - 1)};
      }
    }
  }
  struct id_rank *e = ids.v;
  qsort(e, ids.n, sizeof *e, cmp_id_rank);
  uint32_t *rank = malloc(ids.n * sizeof *rank);
  if (!rank)
    goto oom;
  for (size_t k = 0; k < ids.n; k++)
    rank[e[k].k] = (uint32_t)k;
  for (size_t j = 0; j < m->h.cap; j++)
    if (m->h.s[j].key)
      m->h.s[j].val = rank[m->h.s[j].val];
  free(rank);
  m->n = ids.n;
  ctrace_vec_free(&ids);
  return 0;
oom:
  ctrace_vec_free(&ids);
  ctrace_hash_free(&m->h);
  return -1;
}

static int cmp_touch_in_task(const void *a, const void *b) {
  const struct ctrace_tl_touch *x = a, *y = b;
  if (x->thread != y->thread)
    return x->thread < y->thread ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}
/* tasks by (start, id) */
#define TASK_LESS(x, y) ((x)->start != (y)->start ? (x)->start < (y)->start : (x)->id < (y)->id)
CTRACE_RUN_SORT_TYPED(sort_tasks, struct ctrace_tl_task, TASK_LESS)

/*
 * Tasks and touches from the scans' parts (outs[i].tev, .tend, .touches; freed
 * here), without sorting the events: what sorting them by (id, end, time)
 * and taking each id's first begin and last end gave, found in one pass:
 * of an id's begins, the earliest (the first of equal times, in thread then
 * event order), of its ends, the latest (the last of equal times). The
 * touches are placed by their id's number (counting sort, stable), then
 * each id's few are ordered by (thread, first) and merged per thread. Tasks
 * end sorted by (start, id), touches by (task, thread): the same arrays as
 * sorting everything gave. Memory the arrays hold is added to *bytes. 0 or
 * -1 (out of memory).
 */
static int pair_tasks(struct ctrace_timeline *tl, struct scan_out *outs, uint32_t nt,
                      void **tev_block, void **tend_block, size_t *bytes) {
  struct idnum m;
  size_t *goff = NULL;
  struct ctrace_tl_touch *tc = NULL;
  const struct task_ev **bi = NULL;
  const struct task_end_ev **ei = NULL;
  struct ctrace_tl_task *tasks = NULL;
  size_t ntouch = 0;
  for (uint32_t i = 0; i < nt; i++)
    ntouch += outs[i].touches.n;
  if (idnum_build(&m, outs, nt, ntouch) < 0)
    return -1;
  size_t nid = m.n;
  /* each id's earliest begin and latest end (id 0, never touched, apart) */
  bi = calloc(nid + 1, sizeof *bi);
  ei = calloc(nid + 1, sizeof *ei);
  if (!bi || !ei)
    goto oom;
  for (uint32_t i = 0; i < nt; i++) {
    const struct task_ev *e = outs[i].tev.v;
    for (size_t k = 0; k < outs[i].tev.n; k++) {
      int64_t num = e[k].id ? idnum_get(&m, e[k].id) : (int64_t)nid;
      if (num < 0) /* cannot be: every task event touched its id */
        num = (int64_t)nid;
      if (!bi[num] || e[k].t < bi[num]->t)
        bi[num] = &e[k];
    }
    const struct task_end_ev *x = outs[i].tend.v;
    for (size_t k = 0; k < outs[i].tend.n; k++) {
      int64_t num = x[k].id ? idnum_get(&m, x[k].id) : (int64_t)nid;
      if (num < 0)
        num = (int64_t)nid;
      if (!ei[num] || x[k].t >= ei[num]->t)
        ei[num] = &x[k];
    }
  }
  /* the tasks (an id with a begin), in id order, then by (start, id): the
   * recorder numbers a process's tasks as they begin, so that order is
   * mostly the start order already */
  size_t ntask = 0;
  for (size_t k = 0; k <= nid; k++)
    ntask += bi[k] != NULL;
  tasks = ntask ? ctrace__tl_alloc(ntask * sizeof *tasks) : NULL;
  if (ntask && !tasks)
    goto oom;
  size_t at = 0;
  for (size_t q = 0; q <= nid; q++) {
    size_t k = q ? q - 1 : nid; /* id 0 first: the smallest id */
    if (!bi[k])
      continue;
    const struct task_ev *b = bi[k];
    struct ctrace_tl_task *t = &tasks[at++];
    *t = (struct ctrace_tl_task){.id = b->id, .parent = b->parent, .name = b->name,
                                 .begin_thread = b->thread, .end_thread = NO_THREAD,
                                 .open = 1, .start = b->t, .end = tl->end_ns};
    if (ei[k]) {
      const struct task_end_ev *e = ei[k];
      t->end = e->t < t->start ? t->start : e->t;
      t->end_thread = e->thread;
      t->open = 0;
    }
    t->touch = (uint32_t)k; /* its number, until the touches are placed */
  }
  for (uint32_t i = 0; i < nt; i++) {
    outs[i].tev.v = outs[i].tend.v = NULL;
    outs[i].tev.n = outs[i].tev.cap = outs[i].tend.n = outs[i].tend.cap = 0;
  }
  free(*tev_block); /* the threads' parts were in them */
  free(*tend_block);
  *tev_block = *tend_block = NULL;
  free((void *)bi);
  free((void *)ei);
  bi = NULL;
  ei = NULL;
  if (sort_tasks(tasks, ntask) < 0)
    goto oom;
  tl->tasks = tasks;
  tl->ntasks = ntask;
  tasks = NULL;
  *bytes += ntask * sizeof *tl->tasks;

  /* the long tasks apart, so that a window finds the others by binary search */
  int64_t long_dur = (tl->end_ns - tl->start_ns) / 64;
  size_t nl = 0;
  for (size_t i = 0; i < tl->ntasks; i++)
    nl += tl->tasks[i].open || tl->tasks[i].end - tl->tasks[i].start > long_dur;
  tl->long_tasks = malloc((nl ? nl : 1) * sizeof *tl->long_tasks);
  if (!tl->long_tasks)
    goto oom;
  *bytes += nl * sizeof *tl->long_tasks;
  for (size_t i = 0; i < tl->ntasks; i++) {
    int64_t d = tl->tasks[i].end - tl->tasks[i].start;
    if (tl->tasks[i].open || d > long_dur)
      tl->long_tasks[tl->nlong_tasks++] = (uint32_t)i;
    else if (d > tl->task_maxdur)
      tl->task_maxdur = d;
  }
  /* touches placed by their id's number, stable (after the tasks: the
   * task events' parts are freed by then); then each id's ordered and
   * merged */
  goff = calloc(nid + 2, sizeof *goff);
  tc = ctrace__tl_alloc((ntouch ? ntouch : 1) * sizeof *tc);
  if (!goff || !tc)
    goto oom;
  for (uint32_t i = 0; i < nt; i++) {
    const struct ctrace_tl_touch *p = outs[i].touches.v;
    for (size_t k = 0; k < outs[i].touches.n; k++)
      goff[idnum_get(&m, p[k].task) + 1]++;
  }
  for (size_t k = 0; k < nid; k++)
    goff[k + 1] += goff[k];
  for (uint32_t i = 0; i < nt; i++) {
    struct ctrace_vec *v = &outs[i].touches;
    const struct ctrace_tl_touch *p = v->v;
    for (size_t k = 0; k < v->n; k++)
      tc[goff[idnum_get(&m, p[k].task)]++] = p[k];
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
  }
  /* goff[r] is now the end of number r's touches: merge them in place,
   * leaving goff[r] .. goff[r + 1] as its merged range */
  size_t n = 0, g0 = 0;
  for (size_t r = 0; r < nid; r++) {
    size_t g1 = goff[r];
    struct ctrace_tl_touch *g = tc + g0;
    size_t gn = g1 - g0;
    if (gn > 1) {
      if (gn <= 16) { /* insertion sort (stable): most tasks have a few */
        for (size_t x = 1; x < gn; x++) {
          struct ctrace_tl_touch v = g[x];
          size_t y = x;
          while (y && cmp_touch_in_task(&g[y - 1], &v) > 0) {
            g[y] = g[y - 1];
            y--;
          }
          g[y] = v;
        }
      } else {
        qsort(g, gn, sizeof *g, cmp_touch_in_task);
      }
    }
    goff[r] = n;
    for (size_t x = 0; x < gn; x++) {
      if (x && tc[n - 1].thread == g[x].thread) {
        if (g[x].last > tc[n - 1].last)
          tc[n - 1].last = g[x].last;
        continue;
      }
      tc[n++] = g[x];
    }
    g0 = g1;
  }
  goff[nid] = n;
  {
    struct ctrace_vec tv = {.v = tc, .n = n, .cap = ntouch, .size = sizeof *tc};
    tc = NULL;
    tl->touches = ctrace_vec_take(&tv, &tl->ntouches, bytes);
  }

  /* each task's touches: its number's range */
  for (size_t i = 0; i < tl->ntasks; i++) {
    struct ctrace_tl_task *t = &tl->tasks[i];
    size_t k = t->touch;
    t->touch = k < nid ? (uint32_t)goff[k] : 0; /* id 0: none, where they would start */
    t->ntouch = k < nid ? (uint32_t)(goff[k + 1] - goff[k]) : 0;
  }
  free(goff);
  ctrace_hash_free(&m.h);
  return 0;
oom:
  ctrace_hash_free(&m.h);
  free(goff);
  free(tc);
  free((void *)bi);
  free((void *)ei);
  free(tasks);
  return -1;
}

/* Pairs each thread's THREAD_START link with the THREAD_CREATE of the same
 * link, through a hash table of the creations: O(threads + creations). A
 * link created twice (not expected) keeps its first creation. */
static int link_creates(struct ctrace_timeline *tl, struct ctrace_vec *cv) {
  const struct create_ev *c = cv->v;
  struct ctrace_hash by_link = {0};
  struct ctrace_vec out = CTRACE_VEC(struct ctrace_tl_create);
  for (size_t k = 0; k < cv->n; k++)
    if (c[k].link && ctrace_hash_put(&by_link, c[k].link, (uint32_t)k) < 0)
      goto oom;
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(tl->r, tl->threads[i].index);
    int64_t k = ti->start_link ? ctrace_hash_get(&by_link, ti->start_link) : -1;
    if (k < 0)
      continue;
    struct ctrace_tl_create *p = ctrace_vec_push(&out);
    if (!p)
      goto oom;
    *p = (struct ctrace_tl_create){c[k].t, tl->threads[i].first_ns, c[k].thread, i};
  }
  ctrace_hash_free(&by_link);
  tl->creates = ctrace_vec_take(&out, &tl->ncreates, &tl->bytes);
  return 0;
oom:
  ctrace_hash_free(&by_link);
  ctrace_vec_free(&out);
  return -1;
}


int ctrace_timeline_build(const ctrace_reader *r, ctrace_tl_progress progress, void *arg,
                          struct ctrace_timeline **out) {
  return ctrace_timeline_build_states(r, progress, arg, NULL, out);
}

int ctrace_timeline_build_states(const ctrace_reader *r, ctrace_tl_progress progress, void *arg,
                                 uint64_t *state_ns, struct ctrace_timeline **out) {
  return ctrace_timeline_build_spill(r, progress, arg, state_ns, NULL, out);
}

int ctrace_timeline_build_spill(const ctrace_reader *r, ctrace_tl_progress progress, void *arg,
                                uint64_t *state_ns, struct ctrace_tl_spill *spill,
                                struct ctrace_timeline **out) {
  struct ctrace_timeline *tl = calloc(1, sizeof *tl);
  /* the arrays written in place (D_*), each the threads' parts in thread
   * order */
  struct ctrace_vec all[D_N];
  for (unsigned d = 0; d < D_N; d++)
    all[d] = (struct ctrace_vec){.size = direct_size[d]};
  struct ctrace_vec procevs = {.size = sizeof(struct ctrace_tl_procev)};
  uint64_t(*counts)[D_N] = NULL;
  struct by_size *bysize = NULL;
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
  if (!tl->threads || !tl->levels || !tl->nlevels || !tl->region_off || !tl->log_off ||
      !tl->max_depth)
    goto oom;
  tl->bytes = sizeof *tl + nt * (sizeof *tl->threads + sizeof *tl->levels + 1 +
                                 2 * sizeof(size_t) + sizeof(uint16_t));
  for (uint32_t i = 0; i < nt; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(r, i);
    struct ctrace_tl_thread *th = &tl->threads[i];
    th->tid = ti->tid;
    th->index = i;
    th->first_ns = ctrace_reader_ns(r, ti->first);
    th->last_ns = ti->exited ? ctrace_reader_ns(r, ti->last) : ctrace__timeline_proc_end(tl, ti);
    if (th->last_ns < th->first_ns)
      th->last_ns = th->first_ns;
    th->created_by = ti->created_by;
    th->exited = ti->exited;
    th->dropped = ti->dropped;
    th->at_end_ns = INT64_MAX;
    if (ti->tid && ctrace_hash_put(&tl->by_tid, ti->tid, i) < 0)
      goto oom;
  }
  uint64_t total = ctrace_reader_nevents(r);
  outs = calloc(nt ? nt : 1, sizeof *outs);
  order = malloc((nt ? nt : 1) * sizeof *order);
  bysize = malloc((nt ? nt : 1) * sizeof *bysize);
  counts = calloc(nt ? nt : 1, sizeof *counts);
  if (!outs || !order || !bysize || !counts)
    goto oom;
  for (uint32_t i = 0; i < nt; i++) {
    struct scan_out *o = &outs[i];
    for (unsigned d = 0; d < D_N; d++)
      direct_vec(o, d)->size = direct_size[d];
    o->touches.size = sizeof(struct ctrace_tl_touch);
    o->procevs.size = sizeof(struct ctrace_tl_procev);
    bysize[i] = (struct by_size){ctrace_reader_thread(r, i)->nevents, i};
  }
  /* biggest threads first, so that the last one to finish is a small one
   * (ties in thread order): O(n log n) */
  if (nt > 1)
    qsort(bysize, nt, sizeof *bysize, cmp_by_size);
  for (uint32_t i = 0; i < nt; i++)
    order[i] = bysize[i].idx;
  free(bysize);
  bysize = NULL;
  struct scan_shared sh = {.tl = tl, .outs = outs, .counts = counts, .order = order,
                           .progress = progress, .arg = arg, .total = total,
                           .state_ns = state_ns, .spill = spill};
  /* One helper thread beside the caller (the machines this runs on have a
   * few cores, and the stats pass may be using another), for each of two
   * passes: counting, then scanning. The counting pass decodes every event
   * once more (a few ns each) so that the scan writes each element once,
   * into its place in the index: per-thread vectors joined afterwards were
   * each written twice, into fresh memory both times, and fresh pages cost
   * more than decoding (a page fault is ~20 us on the virtual machines this
   * was measured on: 10 M events, ~100 MB less of them) */
  for (sh.counting = 1; sh.counting >= 0; sh.counting--) {
    atomic_store(&sh.next, 0);
    pthread_t helper;
    int helping = nt > 1 && pthread_create(&helper, NULL, scan_worker, &sh) == 0;
    scan_loop(&sh, 1);
    if (helping)
      pthread_join(helper, NULL);
    if (atomic_load(&sh.failed))
      goto oom;
    if (!sh.counting)
      break;
    /* each array's room: the counts, and each thread's part in it */
    for (unsigned d = 0; d < D_N; d++) {
      size_t n = 0;
      for (uint32_t i = 0; i < nt; i++)
        n += counts[i][d];
      all[d].cap = n;
      all[d].v = n ? ctrace__tl_alloc(n * all[d].size) : NULL;
      if (n && !all[d].v)
        goto oom;
      n = 0;
      for (uint32_t i = 0; i < nt; i++) {
        struct ctrace_vec *p = direct_vec(&outs[i], d);
        p->v = all[d].v ? (char *)all[d].v + n * all[d].size : NULL;
        p->n = 0;
        p->cap = counts[i][d];
        n += counts[i][d];
      }
    }
  }
  free(counts);
  counts = NULL;
  for (uint32_t i = 0; i < nt; i++)
    tl->bytes += outs[i].bytes;
  /* every event read: the caller may let the trace's pages go (view.c) */
  if (progress)
    progress(arg, total, total);
  /* the parts written in place, closed up where one had room left (a
   * region deeper than MAX_DEPTH: none usually, and then nothing moves) */
  for (unsigned d = 0; d < D_N; d++) {
    size_t n = 0;
    for (uint32_t i = 0; i < nt; i++) {
      struct ctrace_vec *p = direct_vec(&outs[i], d);
      if (p->n && p->v != (char *)all[d].v + n * all[d].size)
        memmove((char *)all[d].v + n * all[d].size, p->v, p->n * all[d].size);
      if (d == D_REGIONS)
        tl->region_off[i] = n;
      else if (d == D_LOGS)
        tl->log_off[i] = n;
      n += p->n;
      if (d != D_TEV && d != D_TEND) { /* pair_tasks reads those as they are */
        p->v = NULL;
        p->n = p->cap = 0;
      }
    }
    tl->region_off[nt] = d == D_REGIONS ? n : tl->region_off[nt];
    tl->log_off[nt] = d == D_LOGS ? n : tl->log_off[nt];
    all[d].n = n;
  }
  if (join(&procevs, outs, nt, offsetof(struct scan_out, procevs), NULL) < 0)
    goto oom;

  /* regions: grouped by thread, each thread's by (depth, start) (scan_thread) */
  tl->regions = ctrace_vec_take(&all[D_REGIONS], &tl->nregions, &tl->bytes);
  /* logs: by (thread, t) since threads were scanned in order */
  tl->logs = ctrace_vec_take(&all[D_LOGS], &tl->nlogs, &tl->bytes);
  tl->peers = ctrace_vec_take(&all[D_PEERS], &tl->npeers, &tl->bytes);
  /* wakes: by time (the woken thread's index was found in the scan) */
  tl->wakes = ctrace_vec_take(&all[D_WAKES], &tl->nwakes, &tl->bytes);
  if (sort_wakes(tl->wakes, tl->nwakes) < 0)
    goto oom;
  if (link_creates(tl, &all[D_CREATES]) < 0 || ctrace__timeline_procs(tl, &procevs) < 0)
    goto oom;
  /* The tasks and touches (from the parts as they are: tev, touches) after
   * the joins, not beside them on a second thread: their numbers and sort
   * buffers beside the joins' copies were the build's peak of memory
   * (29 MB more at 10 M events, for 0.3-0.5 s of wall on two cores) */
  size_t task_bytes = 0;
  if (pair_tasks(tl, outs, nt, &all[D_TEV].v, &all[D_TEND].v, &task_bytes) < 0)
    goto oom;
  tl->bytes += task_bytes;
  free(outs);
  outs = NULL;
  free(order);
  order = NULL;
  free(all[D_CREATES].v);
  *out = tl;
  return 0;
oom:
  for (unsigned d = 0; d < D_N; d++) /* the threads' parts are in these */
    free(all[d].v);
  free(procevs.v);
  free(bysize);
  free(counts);
  if (outs)
    for (uint32_t i = 0; i < tl->nthreads; i++) {
      free(outs[i].touches.v);
      free(outs[i].procevs.v);
    }
  free(outs);
  free(order);
  if (spill) /* fresh memory where the file's pages were, for free */
    ctrace_timeline_unadopt(spill->a);
  ctrace_timeline_free(tl);
  return -ENOMEM;
}

void ctrace__tl_free(const struct ctrace_timeline *tl, void *p) {
  /* <=: an empty section at the file's end points at its end */
  if (!tl->map_lo || (uintptr_t)p < (uintptr_t)tl->map_lo || (uintptr_t)p > (uintptr_t)tl->map_hi)
    free(p);
}

void ctrace_timeline_free(struct ctrace_timeline *tl) {
  if (!tl)
    return;
  for (uint32_t i = 0; tl->levels && i < tl->nthreads; i++)
    for (unsigned k = 0; k < CTRACE_TL_MAX_LEVELS; k++)
      ctrace__tl_free(tl, tl->levels[i][k].v);
  free(tl->levels);
  free(tl->nlevels);
  free(tl->threads);
  ctrace__tl_free(tl, tl->regions);
  free(tl->region_off);
  free(tl->max_depth);
  ctrace__tl_free(tl, tl->tasks);
  ctrace__tl_free(tl, tl->long_tasks);
  ctrace__tl_free(tl, tl->touches);
  free(tl->logs);
  free(tl->log_off);
  ctrace__tl_free(tl, tl->wakes);
  ctrace__tl_free(tl, tl->creates);
  free(tl->peers);
  ctrace__timeline_procs_free(tl);
  ctrace_hash_free(&tl->by_tid);
  free(tl);
}
