/*
 * critpath.c - see critpath.h: the backward walk over state spans and
 * wake-up edges, the words for each segment, and the aggregate over the
 * instances of a name.
 *
 * The timeline's raw spans give where each state begins and ends (they are
 * the state machine's spans, neighbours of one state merged); the calls
 * inside a blocked raw span, with their reason, object, fd and stack, are
 * recovered by running the state machine again over the thread's events of
 * that span only, started at the span's start: the machine clips a call's
 * start to the previous span's end, which is exactly where the raw span
 * begins, so it gives the very calls it gave when the timeline was built.
 */
#include "critpath.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../base/vec.h"
#include "flows.h"

#define NO_THREAD UINT32_MAX
/* A WAKE is stamped before the release and the WAIT ends after it; the
 * slack covers ns rounding of two clocks' conversions (as /api/event). */
#define WAKE_SLACK_NS 100000
/* Zero-length hand-offs in a row before a wake is not followed (two
 * threads waking each other at the same ns would loop). */
#define MAX_ZERO_JUMPS 16

/* A wait that a wake-up may end: anything but running on (or for) a CPU. */
static int is_wait(unsigned st) {
  return st != CTRACE_ST_RUNNING && st != CTRACE_ST_RUNNABLE && st != CTRACE_ST_NOT_RECORDED &&
         st < CTRACE_ST_COUNT;
}

/* ---- events of a thread by time ---- */

typedef int (*ev_fn)(void *arg, const ctrace_event *ev, int64_t ns);

/*
 * A walk asks for a thread's events near a time once per blocked call on
 * its path (and once per wake-up's stack). Decoding from the start of the
 * batch that holds the time each time decoded the same batches over and
 * over on a long path (a batch holds thousands of events). Instead, the
 * first time a walk touches a batch it decodes it once, keeping a copy of
 * the cursor every MARK_EVERY events with the time of the event it
 * decodes next (a cursor is a value: a copy resumes there); later asks
 * start at the last mark before the time. Memory: about 2 bytes per event
 * of the batches the walk touched, freed with the walk.
 */
#define MARK_EVERY 64

struct ev_mark {
  int64_t ns; /* of the event the cursor decodes next */
  ctrace_cursor c;
};
struct ev_batch {
  struct ev_mark *m; /* in the thread's event order */
  uint32_t n;
  uint8_t built;
  uint8_t sorted; /* its events' times never go back: marks may be searched */
  int64_t max_ns; /* its latest event's time */
};
struct ev_cache {
  const struct ctrace_timeline *tl;
  struct ev_batch **th; /* per timeline thread, per batch position; NULL until asked */
  int oom;              /* then every ask decodes as without the cache */
};

static void ev_cache_free(struct ev_cache *ec) {
  if (!ec->th)
    return;
  for (uint32_t t = 0; t < ec->tl->nthreads; t++) {
    if (!ec->th[t])
      continue;
    uint32_t nb = ctrace_reader_thread(ec->tl->r, ec->tl->threads[t].index)->nbatches;
    for (uint32_t k = 0; k < nb; k++)
      free(ec->th[t][k].m);
    free(ec->th[t]);
  }
  free(ec->th);
  ec->th = NULL;
}

/* The marks of batch position bpos of thread th (its events are those a
 * cursor at the batch's start decodes before it reaches the next batch),
 * decoded on the first ask; NULL when out of memory. */
static const struct ev_batch *ev_batch(struct ev_cache *ec, uint32_t th, uint32_t bpos) {
  const struct ctrace_timeline *tl = ec->tl;
  if (ec->oom)
    return NULL;
  if (!ec->th && !(ec->th = calloc(tl->nthreads, sizeof *ec->th)))
    goto oom;
  uint32_t ri = tl->threads[th].index;
  const struct ctrace_thread_info *ti = ctrace_reader_thread(tl->r, ri);
  if (!ec->th[th] && !(ec->th[th] = calloc(ti->nbatches ? ti->nbatches : 1, sizeof **ec->th)))
    goto oom;
  struct ev_batch *eb = &ec->th[th][bpos];
  if (eb->built)
    return eb;
  struct ctrace_vec marks = {.size = sizeof(struct ev_mark)};
  ctrace_cursor c;
  ctrace_cursor_init(&c, tl->r, ri);
  ctrace_cursor_seek_batch(&c, bpos);
  ctrace_event ev;
  int64_t max = INT64_MIN;
  int sorted = 1;
  ctrace_cursor here; /* a cursor is large (1.4's repeated fields): copied at marks only */
  for (uint32_t k = 0; c.p && c.batch == bpos; k++) {
    if (k % MARK_EVERY == 0)
      here = c;
    if (!ctrace_cursor_next(&c, &ev))
      break;
    int64_t t = ctrace_reader_ns(tl->r, ev.ticks);
    if (t < max)
      sorted = 0;
    else
      max = t;
    if (k % MARK_EVERY == 0) {
      struct ev_mark *m = ctrace_vec_push(&marks);
      if (!m) {
        ctrace_vec_free(&marks);
        goto oom;
      }
      m->ns = t;
      m->c = here;
    }
  }
  eb->m = marks.v;
  eb->n = (uint32_t)marks.n;
  eb->sorted = (uint8_t)sorted;
  eb->max_ns = max;
  eb->built = 1;
  return eb;
oom:
  ec->oom = 1;
  return NULL;
}

/* Calls fn for thread th's events in [a, b], in order, until it returns
 * non-zero; with one_more, for the first event after b too: the end of a
 * call that a raw span cut short (with scheduling data a wait's span ends
 * at its wake-up, the WAIT event at the return). Reads from one batch
 * before the first that can hold a. With a cache (NULL: none), starts at
 * the last mark before the first event at or after a: the events skipped
 * are all before a, so fn sees exactly what it sees without the cache. */
static void events_between(const struct ctrace_timeline *tl, struct ev_cache *ec, uint32_t th,
                           int64_t a, int64_t b, int one_more, ev_fn fn, void *arg) {
  const ctrace_reader *r = tl->r;
  uint32_t ri = tl->threads[th].index;
  const struct ctrace_thread_info *ti = ctrace_reader_thread(r, ri);
  uint64_t tk = ctrace_reader_ticks(r, a > 0 ? a : 0);
  uint32_t lo = 0, hi = ti->nbatches;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ctrace_reader_batch(r, ti->batches[mid])->last < tk)
      lo = mid + 1;
    else
      hi = mid;
  }
  ctrace_cursor c;
  ctrace_cursor_init(&c, r, ri);
  uint32_t first = lo ? lo - 1 : 0;
  int placed = 0;
  /* Past every batch whose events are all before a (b >= a: none of them
   * is after b either, so none would be seen), to a mark in the first
   * that has one at or after a: the last mark before a when its times are
   * in order, else its first. */
  for (uint32_t k = first; ec && a <= b && k < ti->nbatches; k++) {
    const struct ev_batch *eb = ev_batch(ec, th, k);
    if (!eb)
      break;
    if (!eb->n || eb->max_ns < a)
      continue;
    uint32_t j = 0;
    if (eb->sorted) {
      uint32_t l = 0, h = eb->n; /* the first mark at or after a */
      while (l < h) {
        uint32_t mid = l + (h - l) / 2;
        if (eb->m[mid].ns < a)
          l = mid + 1;
        else
          h = mid;
      }
      j = l ? l - 1 : 0;
    }
    c = eb->m[j].c;
    placed = 1;
    break;
  }
  if (!placed) {
    if (ec && !ec->oom && a <= b)
      return; /* every event is before a */
    ctrace_cursor_seek_batch(&c, first);
  }
  ctrace_event ev;
  while (ctrace_cursor_next(&c, &ev)) {
    int64_t t = ctrace_reader_ns(r, ev.ticks);
    if (t > b) {
      if (one_more && t >= a)
        fn(arg, &ev, t);
      break;
    }
    if (t >= a && fn(arg, &ev, t))
      break;
  }
}

/* ---- the calls of a blocked raw span ---- */

struct calls {
  uint32_t th;
  int64_t s, e;
  unsigned state;
  int valid;
  struct ctrace_vec v; /* struct ctrace_span, in time order */
  int oom;
};

static void on_call(void *arg, const struct ctrace_span *sp) {
  struct calls *c = arg;
  if (sp->state != c->state || sp->end <= sp->start)
    return;
  struct ctrace_span *p = ctrace_vec_push(&c->v);
  if (!p) {
    c->oom = 1;
    return;
  }
  *p = *sp;
  if (p->start < c->s)
    p->start = c->s;
  if (p->end > c->e)
    p->end = c->e;
}

static int feed(void *arg, const ctrace_event *ev, int64_t ns) {
  (void)ns;
  ctrace_states_event(arg, ev);
  return 0;
}

/* Fills c with the calls of raw span [s, e] of thread th in state (cached:
 * the walk asks for the same span once per call in it). 0 or -ENOMEM. */
static int index_calls(const struct ctrace_cp_index *ix, struct calls *c, uint32_t th, int64_t s,
                       int64_t e);
static int span_calls(const struct ctrace_timeline *tl, const struct ctrace_cp_index *ix,
                      struct ev_cache *ec, struct calls *c, uint32_t th, int64_t s, int64_t e,
                      unsigned state) {
  if (c->valid && c->th == th && c->s == s && c->e == e)
    return 0;
  c->valid = 0;
  c->v.n = 0;
  c->th = th;
  c->s = s;
  c->e = e;
  c->state = state;
  c->oom = 0;
  if (ix) {
    int rc = index_calls(ix, c, th, s, e);
    c->valid = rc == 0;
    return rc;
  }
  struct ctrace_states m;
  ctrace_states_init(&m, s, ctrace_states_reader_clock, tl->r, on_call, c);
  events_between(tl, ec, th, s, e, 1, feed, &m);
  if (m.pending)
    ctrace_states_finish(&m, e);
  if (c->oom)
    return -ENOMEM;
  c->valid = 1;
  return 0;
}

/* ---- the index of calls, for many walks ---- */

struct ix_wake {
  int64_t t;
  uint64_t tid, object, stack;
};
struct ix_thread {
  struct ctrace_span *calls; /* the machine's non-empty blocking spans, in order */
  size_t ncalls;
  struct ix_wake *wakes; /* WAKEs this thread recorded, in order */
  size_t nwakes;
};
struct ctrace_cp_index {
  uint32_t n;
  struct ix_thread *th;
};

struct ix_build {
  struct ctrace_vec calls;
  int oom;
};
static void on_ix_span(void *arg, const struct ctrace_span *sp) {
  struct ix_build *b = arg;
  if (sp->state == CTRACE_ST_RUNNING || sp->end <= sp->start)
    return;
  struct ctrace_span *p = ctrace_vec_push(&b->calls);
  if (!p)
    b->oom = 1;
  else
    *p = *sp;
}

int ctrace_critpath_index_build(const struct ctrace_timeline *tl, struct ctrace_cp_index **out) {
  struct ctrace_cp_index *ix = calloc(1, sizeof *ix);
  if (!ix)
    return -ENOMEM;
  ix->th = calloc(tl->nthreads ? tl->nthreads : 1, sizeof *ix->th);
  if (!ix->th) {
    free(ix);
    return -ENOMEM;
  }
  ix->n = tl->nthreads;
  const ctrace_reader *r = tl->r;
  for (uint32_t t = 0; t < tl->nthreads; t++) {
    struct ix_build b = {{.size = sizeof(struct ctrace_span)}, 0};
    struct ctrace_vec wakes = {.size = sizeof(struct ix_wake)};
    struct ctrace_states m;
    ctrace_states_init(&m, tl->threads[t].first_ns, ctrace_states_reader_clock, r, on_ix_span, &b);
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, tl->threads[t].index);
    while (ctrace_cursor_next(&c, &ev) && !b.oom) {
      ctrace_states_event(&m, &ev);
      if (ev.kind == CTRACE_EV_WAKE) {
        struct ctrace_ev_wake wk = CTRACE_EV(wake, &ev);
        struct ix_wake *w = ctrace_vec_push(&wakes);
        if (!w)
          b.oom = 1;
        else
          *w = (struct ix_wake){ctrace_reader_ns(r, ev.ticks), wk.tid, wk.object, wk.stack};
      }
    }
    ctrace_states_finish(&m, tl->threads[t].last_ns);
    ix->th[t].calls = b.calls.v;
    ix->th[t].ncalls = b.calls.n;
    ix->th[t].wakes = wakes.v;
    ix->th[t].nwakes = wakes.n;
    if (b.oom) {
      ctrace_critpath_index_free(ix);
      return -ENOMEM;
    }
  }
  *out = ix;
  return 0;
}

void ctrace_critpath_index_free(struct ctrace_cp_index *ix) {
  if (!ix)
    return;
  for (uint32_t t = 0; t < ix->n; t++) {
    free(ix->th[t].calls);
    free(ix->th[t].wakes);
  }
  free(ix->th);
  free(ix);
}

/* The calls of raw span [s, e] from the index: those overlapping it. */
static int index_calls(const struct ctrace_cp_index *ix, struct calls *c, uint32_t th, int64_t s,
                       int64_t e) {
  const struct ix_thread *it = &ix->th[th];
  size_t lo = 0, hi = it->ncalls;
  while (lo < hi) { /* the first call ending after s */
    size_t mid = lo + (hi - lo) / 2;
    if (it->calls[mid].end <= s)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t k = lo; k < it->ncalls && it->calls[k].start < e; k++) {
    if (it->calls[k].state != c->state)
      continue;
    struct ctrace_span *p = ctrace_vec_push(&c->v);
    if (!p)
      return -ENOMEM;
    *p = it->calls[k];
    if (p->start < s)
      p->start = s;
    if (p->end > e)
      p->end = e;
  }
  return 0;
}

static uint64_t index_wake_stack(const struct ctrace_cp_index *ix, uint32_t th, int64_t t,
                                 uint64_t tid, uint64_t object) {
  const struct ix_thread *it = &ix->th[th];
  size_t lo = 0, hi = it->nwakes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (it->wakes[mid].t < t - 1000)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t k = lo; k < it->nwakes && it->wakes[k].t <= t + 1000; k++)
    if (it->wakes[k].tid == tid && it->wakes[k].object == object)
      return it->wakes[k].stack;
  return 0;
}

/* ---- data edges ---- */

struct cp_edge {
  int64_t to_ns, from_ns; /* end of the read; end of the write that fed it (shared: of the
                           * wait; the release that ended it) */
  uint32_t from;          /* the writer (releaser): timeline thread index */
  int32_t to_fd;          /* the read's fd; -1 for a shared object's wake-up */
};
struct ctrace_cp_data {
  uint32_t n;
  struct {
    struct cp_edge *v; /* by to_ns, then from_ns (flows.h's order) */
    size_t n;
  } *th;
};

int ctrace_critpath_data_build(const struct ctrace_timeline *tl, const struct ctrace_flows *f,
                               struct ctrace_cp_data **out) {
  *out = NULL;
  struct ctrace_cp_data *d = calloc(1, sizeof *d);
  uint32_t nr = ctrace_reader_nthreads(tl->r);
  uint32_t *of = malloc((nr + 1) * sizeof *of); /* reader thread -> timeline thread */
  if (d)
    d->th = calloc(tl->nthreads + 1, sizeof *d->th);
  if (!d || !d->th || !of)
    goto oom;
  d->n = tl->nthreads;
  for (uint32_t i = 0; i < nr; i++)
    of[i] = NO_THREAD;
  for (uint32_t t = 0; t < tl->nthreads; t++)
    if (tl->threads[t].index < nr)
      of[tl->threads[t].index] = t;
  size_t *cap = calloc(tl->nthreads + 1, sizeof *cap);
  if (!cap)
    goto oom;
  for (size_t i = 0; i < f->n; i++) { /* count, then fill in flows.h's order */
    const struct ctrace_flow *fl = &f->v[i];
    if ((fl->kind == CTRACE_FLOW_DATA || fl->kind == CTRACE_FLOW_WAKE) &&
        fl->to_thread < nr && fl->from_thread < nr && of[fl->to_thread] != NO_THREAD &&
        of[fl->from_thread] != NO_THREAD)
      cap[of[fl->to_thread]]++;
  }
  for (uint32_t t = 0; t < tl->nthreads; t++)
    if (cap[t] && !(d->th[t].v = malloc(cap[t] * sizeof *d->th[t].v))) {
      free(cap);
      goto oom;
    }
  free(cap);
  for (size_t i = 0; i < f->n; i++) {
    const struct ctrace_flow *fl = &f->v[i];
    if ((fl->kind != CTRACE_FLOW_DATA && fl->kind != CTRACE_FLOW_WAKE) ||
        fl->to_thread >= nr || fl->from_thread >= nr || of[fl->to_thread] == NO_THREAD ||
        of[fl->from_thread] == NO_THREAD)
      continue;
    uint32_t t = of[fl->to_thread];
    d->th[t].v[d->th[t].n++] =
        (struct cp_edge){ctrace_reader_ns(tl->r, fl->to_ticks), ctrace_reader_ns(tl->r, fl->from_ticks),
                         of[fl->from_thread], fl->kind == CTRACE_FLOW_WAKE ? -1 : fl->to_fd};
  }
  free(of);
  *out = d;
  return 0;
oom:
  free(of);
  ctrace_critpath_data_free(d);
  return -ENOMEM;
}

void ctrace_critpath_data_free(struct ctrace_cp_data *d) {
  if (!d)
    return;
  if (d->th)
    for (uint32_t t = 0; t < d->n; t++)
      free(d->th[t].v);
  free(d->th);
  free(d);
}

/* Where thread th's next wait begins after t (or its life ends): a few raw
 * spans (running and runnable ones alternate after a wake-up). */
static int64_t next_wait(const struct ctrace_timeline *tl, uint32_t th, int64_t t) {
  int64_t s, e;
  unsigned st;
  for (int k = 0; k < 64; k++) {
    if (ctrace_timeline_span_at(tl, th, t, &s, &e, &st) < 0)
      return t;
    if (is_wait(st) && s >= t)
      return s;
    t = e > t ? e : t + 1;
  }
  return t;
}

/* A poll's edges: those of the first read after it, on any fd. */
#define ANY_FD INT32_MIN

/* The end of thread th's wait at t when it is a read (I/O or network
 * state), or of the first read after waits outside any recorded call, else
 * where the thread's next recorded wait begins. */
static int64_t read_end(const struct ctrace_timeline *tl, uint32_t th, int64_t t) {
  int64_t s, e;
  unsigned st;
  /* past waits no call explains (scheduling data: a page fault, a lock
   * inside libc), which are not the thread's next wait */
  for (int k = 0; k < 16 && ctrace_timeline_span_at(tl, th, t, &s, &e, &st) == 0 && s == t;
       k++) {
    if (st == CTRACE_ST_NET || st == CTRACE_ST_IO)
      return e;
    if (st != CTRACE_ST_BLOCKED_NOT_INTERPOSED)
      break;
    t = next_wait(tl, th, e);
  }
  return t;
}

/* The write whose data ended read call c of thread th (or poll call c: the
 * data of the first read the thread made after it, before its next wait),
 * or the release of a
 * process-shared object that ended wait c (flows.h pairs them; the WAKE
 * records of such a release cannot name the waiter), or NULL. The call
 * returned at c's end, or, with scheduling data (c then ends at the
 * wake-up), before the thread's next wait: its edges are the first on c's
 * fd (-1: a shared wait) from then on, all at one to_ns; of those, the
 * earliest write (the data the read waited for) when it came inside the
 * wait. */
static const struct cp_edge *data_edge(const struct ctrace_timeline *tl,
                                       const struct ctrace_cp_data *d, uint32_t th,
                                       const struct ctrace_span *c, int64_t from) {
  if (!d || th >= d->n || !d->th[th].n)
    return NULL;
  int32_t fd;
  if (c->kind == CTRACE_EV_SYSCALL && c->state == CTRACE_ST_POLL && c->result > 0)
    fd = ANY_FD; /* the fds it waited on are not recorded: the read that followed */
  else if (c->kind == CTRACE_EV_SYSCALL && c->result > 0)
    fd = (int32_t)c->fd;
  else if (c->kind == CTRACE_EV_WAIT && c->reason != CTRACE_WAIT_SLEEP &&
           c->reason != CTRACE_WAIT_JOIN && c->reason != CTRACE_WAIT_CHILD)
    fd = -1;
  else
    return NULL;
  const struct cp_edge *v = d->th[th].v;
  size_t n = d->th[th].n, lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid].to_ns < c->end)
      lo = mid + 1;
    else
      hi = mid;
  }
  int64_t lim = -1;
  for (size_t k = lo; k < n; k++) {
    if (v[k].to_ns > c->end && lim < 0) {
      lim = next_wait(tl, th, c->end);
      if (fd == ANY_FD) /* that wait may be the read itself (long enough to record) */
        lim = read_end(tl, th, lim);
    }
    if (v[k].to_ns > c->end && v[k].to_ns > lim)
      break;
    if (fd == ANY_FD ? v[k].to_fd < 0 : v[k].to_fd != fd)
      continue;
    const struct cp_edge *best = NULL; /* the read's edges: same to_ns and fd */
    for (size_t j = k; j < n && v[j].to_ns == v[k].to_ns; j++)
      if (v[j].to_fd == v[k].to_fd && (!best || v[j].from_ns < best->from_ns))
        best = &v[j];
    return best->from_ns > from && best->from != th ? best : NULL;
  }
  return NULL;
}

/* ---- lookups ---- */

/* The wake-up that ended call sp of thread th, or NULL: the last WAKE naming
 * th inside the call, on the call's object when it is a WAIT. */
static const struct ctrace_tl_wake *waker_of(const struct ctrace_timeline *tl, uint32_t th,
                                             const struct ctrace_span *sp) {
  const struct ctrace_tl_wake *best = NULL, *any = NULL;
  for (size_t i = ctrace_timeline_wake_lower(tl, sp->start);
       i < tl->nwakes && tl->wakes[i].t <= sp->end + WAKE_SLACK_NS; i++) {
    const struct ctrace_tl_wake *w = &tl->wakes[i];
    if (w->woken != th || w->waker == th)
      continue;
    any = w;
    if (sp->kind != CTRACE_EV_WAIT || w->object == sp->object)
      best = w;
  }
  return best ? best : (sp->kind == CTRACE_EV_WAIT && sp->object ? NULL : any);
}

/* A join's thread: the traced thread other than th that exited last inside
 * the join (inferred: see critpath.h). */
static uint32_t joined_thread(const struct ctrace_timeline *tl, uint32_t th,
                              const struct ctrace_span *sp) {
  uint32_t best = NO_THREAD;
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_tl_thread *t = &tl->threads[i];
    if (i == th || !t->exited || t->last_ns < sp->start || t->last_ns > sp->end)
      continue;
    if (best == NO_THREAD || t->last_ns > tl->threads[best].last_ns)
      best = i;
  }
  return best;
}

/* A wait for a child process's thread: of the traced processes that are
 * children of th's process (the pid asked for, when one was), the thread
 * that ended last inside the wait (inferred, as for a join). */
static uint32_t child_thread(const struct ctrace_timeline *tl, uint32_t th,
                             const struct ctrace_span *sp) {
  if (!tl->nprocs)
    return NO_THREAD;
  uint32_t me = tl->procs[ctrace_timeline_thread_process(tl, th)].pid;
  int64_t want = (int64_t)sp->object;
  uint32_t best = NO_THREAD;
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_tl_thread *t = &tl->threads[i];
    const struct ctrace_tl_process *p = &tl->procs[ctrace_timeline_thread_process(tl, i)];
    if (p->ppid != me || p->pid == me || (want > 0 && p->pid != (uint64_t)want) ||
        t->last_ns < sp->start || t->last_ns > sp->end)
      continue;
    if (best == NO_THREAD || t->last_ns > tl->threads[best].last_ns)
      best = i;
  }
  return best;
}

struct find_stack {
  uint8_t kind;
  uint64_t f0, f1; /* fields to match (WAKE: tid, object; THREAD_CREATE: unused) */
  int64_t t;
  int64_t best_d;
  uint64_t stack;
};
static int on_find_stack(void *arg, const ctrace_event *ev, int64_t ns) {
  struct find_stack *f = arg;
  if (ev->kind != f->kind)
    return 0;
  uint64_t stack = 0;
  if (ev->kind == CTRACE_EV_WAKE) {
    struct ctrace_ev_wake w = CTRACE_EV(wake, ev);
    if (w.tid != f->f0 || w.object != f->f1)
      return 0;
    stack = w.stack;
  } else if (ev->kind == CTRACE_EV_THREAD_CREATE) {
    stack = CTRACE_EV(thread_create, ev).stack;
  }
  int64_t d = ns > f->t ? ns - f->t : f->t - ns;
  if (d < f->best_d) {
    f->best_d = d;
    f->stack = stack;
  }
  return 0;
}
/* The stack of the event of kind on thread th nearest to t (within 1 us). */
static uint64_t stack_near(const struct ctrace_timeline *tl, struct ev_cache *ec, uint32_t th,
                           int64_t t, uint8_t kind, uint64_t f0, uint64_t f1) {
  struct find_stack f = {kind, f0, f1, t, INT64_MAX, 0};
  events_between(tl, ec, th, t - 1000, t + 1000, 0, on_find_stack, &f);
  return f.stack;
}

static const struct ctrace_tl_create *creation_of(const struct ctrace_timeline *tl, uint32_t th) {
  for (size_t i = 0; i < tl->ncreates; i++) /* O(threads): once per thread start on the path */
    if (tl->creates[i].child == th)
      return &tl->creates[i];
  return NULL;
}

struct deepest {
  const struct ctrace_tl_region *rg;
  unsigned depth;
};
static void on_region(void *arg, const struct ctrace_tl_region *region, int64_t start, int64_t end,
                      unsigned depth, uint32_t n) {
  (void)start, (void)end, (void)n;
  struct deepest *d = arg;
  if (region && (!d->rg || depth >= d->depth)) {
    d->rg = region;
    d->depth = depth;
  }
}
/* The innermost region of thread th around ns t - 1 .. t. */
static uint32_t region_at(const struct ctrace_timeline *tl, uint32_t th, int64_t t) {
  struct deepest d = {NULL, 0};
  ctrace_timeline_regions(tl, th, t - 1, t, 1, on_region, &d);
  return d.rg ? d.rg->name : 0;
}

/* ---- the walk ---- */

struct walk {
  const struct ctrace_timeline *tl;
  struct ctrace_vec segs; /* pushed in reverse time order */
  struct calls calls;
  struct ev_cache ec; /* the marks of the batches the walk read */
  /* a hand-off waiting for the next segment pushed (the one it came from) */
  int pending;
  uint32_t p_next;
  unsigned p_via, p_flags;
  uint64_t p_stack;
};

static int push(struct walk *w, const struct ctrace_cp_seg *s) {
  if (s->end <= s->start)
    return 0;
  struct ctrace_cp_seg *prev = w->segs.n ? (struct ctrace_cp_seg *)w->segs.v + w->segs.n - 1 : NULL;
  /* Calls in a row that nothing ended, of one kind and fd: one segment. */
  if (prev && !w->pending && (s->flags & CTRACE_CP_NO_WAKER) && prev->flags == s->flags &&
      prev->thread == s->thread && prev->state == s->state && prev->kind == s->kind &&
      prev->reason == s->reason && prev->call == s->call && prev->fd == s->fd &&
      prev->object == s->object && prev->start == s->end) {
    prev->start = s->start;
    prev->ncalls += s->ncalls;
    return 0;
  }
  struct ctrace_cp_seg *p = ctrace_vec_push(&w->segs);
  if (!p)
    return -ENOMEM;
  *p = *s;
  if (w->pending) {
    p->flags |= CTRACE_CP_HANDOFF | w->p_flags;
    p->next = w->p_next;
    p->via = w->p_via;
    if (!p->stack || p->state == CTRACE_ST_RUNNING)
      p->stack = w->p_stack;
    w->pending = 0;
  }
  p->region = p->thread == NO_THREAD ? 0 : region_at(w->tl, p->thread, p->end);
  return 0;
}

static void handoff(struct walk *w, uint32_t from, unsigned via, unsigned flags, uint64_t stack) {
  w->pending = 1;
  w->p_next = from;
  w->p_via = via;
  w->p_flags = flags;
  w->p_stack = stack;
}

static struct ctrace_cp_seg seg_of_call(uint32_t th, const struct ctrace_span *c, int64_t s,
                                        int64_t e) {
  struct ctrace_cp_seg g = {.start = s, .end = e, .thread = th, .state = c->state, .ncalls = 1,
                            .kind = c->kind, .reason = c->reason, .call = c->call, .cls = c->cls,
                            .object = c->object, .fd = c->fd, .stack = c->stack};
  if (c->flags & CTRACE_SPAN_AT_END)
    g.flags |= CTRACE_CP_AT_END;
  return g;
}

int ctrace_critpath(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                    uint32_t thread, int64_t start, int64_t end, struct ctrace_cp *out) {
  return ctrace_critpath_ix(tl, NULL, data, thread, start, end, out);
}

int ctrace_critpath_ix(const struct ctrace_timeline *tl, const struct ctrace_cp_index *ix,
                       const struct ctrace_cp_data *data, uint32_t thread, int64_t start,
                       int64_t end, struct ctrace_cp *out) {
  memset(out, 0, sizeof *out);
  if (thread >= tl->nthreads || end < start)
    return -EINVAL;
  struct walk w = {.tl = tl, .ec = {.tl = tl}};
  w.segs.size = sizeof(struct ctrace_cp_seg);
  w.calls.v.size = sizeof(struct ctrace_span);
  int rc = 0, zero_jumps = 0;
  int64_t cur = end;
  uint32_t th = thread;
  while (cur > start && rc == 0) {
    const struct ctrace_tl_thread *T = &tl->threads[th];
    if (cur > T->last_ns) { /* only where the walk begins: after the thread ended */
      struct ctrace_cp_seg g = {.start = T->last_ns > start ? T->last_ns : start, .end = cur,
                                .thread = th, .state = CTRACE_ST_OUTSIDE, .flags = CTRACE_CP_OUTSIDE};
      rc = push(&w, &g);
      cur = g.start;
      continue;
    }
    if (cur <= T->first_ns) { /* before the thread's first event */
      const struct ctrace_tl_create *cr = creation_of(tl, th);
      if (cr && cr->parent < tl->nthreads && cr->t_create < cur) {
        int64_t s = cr->t_create > start ? cr->t_create : start;
        struct ctrace_cp_seg g = {.start = s, .end = cur, .thread = th,
                                  .state = CTRACE_ST_OUTSIDE, .flags = CTRACE_CP_STARTING};
        rc = push(&w, &g);
        uint64_t stack =
            stack_near(tl, &w.ec, cr->parent, cr->t_create, CTRACE_EV_THREAD_CREATE, 0, 0);
        handoff(&w, th, CTRACE_CP_VIA_CREATE, 0, stack);
        cur = s;
        th = cr->parent;
        continue;
      }
      struct ctrace_cp_seg g = {.start = start, .end = cur, .thread = th,
                                .state = CTRACE_ST_OUTSIDE, .flags = CTRACE_CP_OUTSIDE};
      rc = push(&w, &g);
      break;
    }
    int64_t s, e;
    unsigned st;
    if (ctrace_timeline_span_at(tl, th, cur - 1, &s, &e, &st) < 0) {
      struct ctrace_cp_seg g = {.start = start, .end = cur, .thread = th,
                                .state = CTRACE_ST_OUTSIDE, .flags = CTRACE_CP_OUTSIDE};
      rc = push(&w, &g);
      break;
    }
    int64_t s0 = s > start ? s : start;
    if (!is_wait(st)) {
      struct ctrace_cp_seg g = {.start = s0, .end = cur, .thread = th, .state = st};
      rc = push(&w, &g);
      cur = s0;
      continue;
    }
    rc = span_calls(tl, ix, &w.ec, &w.calls, th, s, e, st);
    if (rc < 0)
      break;
    /* the call containing cur - 1 (calls tile the raw span) */
    const struct ctrace_span *cv = w.calls.v.v, *c = NULL;
    for (size_t k = w.calls.v.n; k-- > 0;)
      if (cv[k].start < cur && cv[k].end >= cur) {
        c = &cv[k];
        break;
      }
    struct ctrace_span whole = {.start = s, .end = e, .state = st};
    if (!c)
      c = &whole; /* no event found (a damaged trace): the span without details */
    int64_t cs0 = c->start > start ? c->start : start;
    /* who ended it */
    uint32_t to = NO_THREAD;
    int64_t tw = 0;
    unsigned via = CTRACE_CP_VIA_NONE, iflags = 0;
    uint64_t hstack = 0;
    const struct ctrace_tl_wake *wk = waker_of(tl, th, c);
    const struct cp_edge *de = NULL;
    if (wk && wk->waker < tl->nthreads) {
      to = wk->waker;
      tw = wk->t;
      via = CTRACE_CP_VIA_WAKE;
    } else if ((de = data_edge(tl, data, th, c, cs0)) != NULL) {
      to = de->from;
      tw = de->from_ns;
      via = de->to_fd < 0 ? CTRACE_CP_VIA_WAKE : CTRACE_CP_VIA_DATA;
    } else if (c->kind && (c->reason == CTRACE_WAIT_JOIN || c->reason == CTRACE_WAIT_CHILD)) {
      to = c->reason == CTRACE_WAIT_JOIN ? joined_thread(tl, th, c) : child_thread(tl, th, c);
      if (to != NO_THREAD) {
        tw = tl->threads[to].last_ns;
        via = CTRACE_CP_VIA_EXIT;
        iflags = CTRACE_CP_INFERRED;
      }
    }
    if (to != NO_THREAD) {
      if (tw > cur)
        tw = cur;
      if (tw < cs0)
        tw = cs0;
      if (tw == cur && ++zero_jumps > MAX_ZERO_JUMPS)
        to = NO_THREAD;
    }
    if (to != NO_THREAD) {
      struct ctrace_cp_seg g = seg_of_call(th, c, tw, cur);
      g.flags |= CTRACE_CP_AFTER_WAKE | iflags | (via == CTRACE_CP_VIA_DATA ? CTRACE_CP_DATA : 0);
      g.woken_by = to;
      rc = push(&w, &g);
      if (tw < cur)
        zero_jumps = 0;
      if (via == CTRACE_CP_VIA_WAKE && wk)
        hstack = ix ? index_wake_stack(ix, to, wk->t, tl->threads[th].tid, wk->object)
                    : stack_near(tl, &w.ec, to, wk->t, CTRACE_EV_WAKE, tl->threads[th].tid,
                                 wk->object);
      handoff(&w, th, via, iflags, hstack);
      cur = tw;
      th = to;
      continue;
    }
    struct ctrace_cp_seg g = seg_of_call(th, c, cs0, cur);
    if (st != CTRACE_ST_SLEEP && st != CTRACE_ST_IO)
      g.flags |= CTRACE_CP_NO_WAKER;
    rc = push(&w, &g);
    cur = cs0;
  }
  ctrace_vec_free(&w.calls.v);
  ev_cache_free(&w.ec);
  if (rc < 0) {
    ctrace_vec_free(&w.segs);
    return rc;
  }
  /* reverse into time order */
  struct ctrace_cp_seg *v = w.segs.v;
  for (size_t i = 0, j = w.segs.n; i + 1 < j; i++, j--) {
    struct ctrace_cp_seg t = v[i];
    v[i] = v[j - 1];
    v[j - 1] = t;
  }
  /* The woken thread's first segment after a hand-off is its time after the
   * wake, whatever state: with scheduling data a wait ends at its wake-up
   * and the time after it is runnable (waiting for a CPU), then running. */
  for (size_t i = 0; i + 1 < w.segs.n; i++)
    if ((v[i].flags & CTRACE_CP_HANDOFF) && v[i + 1].thread == v[i].next &&
        !(v[i + 1].flags & CTRACE_CP_AFTER_WAKE)) {
      v[i + 1].flags |= CTRACE_CP_AFTER_WAKE;
      v[i + 1].woken_by = v[i].thread;
    }
  out->v = v;
  out->n = w.segs.n;
  out->start = start;
  out->end = end;
  out->thread = thread;
  return 0;
}

int ctrace_critpath_task(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                         uint64_t id, struct ctrace_cp *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < tl->ntasks; i++) {
    const struct ctrace_tl_task *t = &tl->tasks[i];
    if (t->id != id)
      continue;
    uint32_t th = t->end_thread != NO_THREAD ? t->end_thread : t->begin_thread;
    if (th >= tl->nthreads)
      return -ENOENT;
    return ctrace_critpath(tl, data, th, t->start, t->end, out);
  }
  return -ENOENT;
}

int ctrace_critpath_region(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                           size_t k, struct ctrace_cp *out) {
  memset(out, 0, sizeof *out);
  if (k >= tl->nregions)
    return -ENOENT;
  const struct ctrace_tl_region *rg = &tl->regions[k];
  return ctrace_critpath(tl, data, ctrace_timeline_region_thread(tl, k), rg->start, rg->end, out);
}

int ctrace_critpath_span(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                         uint32_t thread, int64_t t, struct ctrace_cp *out) {
  memset(out, 0, sizeof *out);
  int64_t s, e;
  unsigned st;
  if (ctrace_timeline_span_at(tl, thread, t, &s, &e, &st) < 0)
    return -ENOENT;
  return ctrace_critpath(tl, data, thread, s, e, out);
}

void ctrace_critpath_free(struct ctrace_cp *cp) {
  free(cp->v);
  memset(cp, 0, sizeof *cp);
}

/* ---- words ---- */

const char *ctrace_cp_label(const struct ctrace_cp_seg *s) {
  if (s->flags & CTRACE_CP_STARTING)
    return "starting";
  if (s->flags & CTRACE_CP_OUTSIDE)
    return "not_traced";
  return ctrace_state_name(s->state);
}

static void peer_text(const struct ctrace_tl_peer *pe, char *buf, size_t size) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, pe->addr, pe->len < sizeof ss ? pe->len : sizeof ss);
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET && pe->len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6 && pe->len >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
  } else if (ss.ss_family == AF_UNIX) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t max = pe->len > off ? pe->len - off : 0;
    if (max > sizeof un->sun_path - 1)
      max = sizeof un->sun_path - 1;
    snprintf(buf, size, "unix:%.*s", (int)strnlen(un->sun_path, max), un->sun_path);
  } else {
    snprintf(buf, size, "family %u", ss.ss_family);
  }
}

static uint32_t tid_of(const struct ctrace_timeline *tl, uint32_t th) {
  return th < tl->nthreads ? tl->threads[th].tid : 0;
}

const char *ctrace_cp_describe(const struct ctrace_timeline *tl, const struct ctrace_cp_seg *s,
                               char *buf, size_t size) {
  char what[160] = "", peer[128] = "", calls[32] = "";
  uint32_t tid = tid_of(tl, s->thread);
  if (s->ncalls > 1)
    snprintf(calls, sizeof calls, " (%" PRIu32 " calls)", s->ncalls);
  if (s->flags & CTRACE_CP_STARTING) {
    snprintf(buf, size, "thread %u created, not running yet", tid);
    return buf;
  }
  if (s->flags & CTRACE_CP_OUTSIDE) {
    snprintf(buf, size, "not traced: outside the life of thread %u in the trace", tid);
    return buf;
  }
  if (!is_wait(s->state)) {
    if ((s->flags & CTRACE_CP_AFTER_WAKE) && !(s->flags & CTRACE_CP_HANDOFF))
      /* with scheduling data: the time after a wake-up, waiting for a CPU */
      snprintf(buf, size, "%s: woken by thread %u", ctrace_state_name(s->state),
               tid_of(tl, s->woken_by));
    else if (!(s->flags & CTRACE_CP_HANDOFF))
      snprintf(buf, size, "%s", ctrace_state_name(s->state));
    else
      snprintf(buf, size, "%s, then %s thread %u", ctrace_state_name(s->state),
               s->via == CTRACE_CP_VIA_CREATE ? "created"
               : s->via == CTRACE_CP_VIA_EXIT
                   ? (ctrace_timeline_thread_process(tl, s->thread) !=
                              ctrace_timeline_thread_process(tl, s->next)
                          ? "exited, ending the wait for a child of"
                          : "exited, ending the join of")
               : s->via == CTRACE_CP_VIA_DATA ? "wrote the data read by"
                                              : "woke",
               tid_of(tl, s->next));
    return buf;
  }
  if (s->kind == CTRACE_EV_WAIT || (s->kind == CTRACE_EV_PENDING && s->reason)) {
    if (s->reason == CTRACE_WAIT_SLEEP)
      snprintf(what, sizeof what, "asleep");
    else if (s->reason == CTRACE_WAIT_JOIN)
      snprintf(what, sizeof what, "joining a thread");
    else if (s->reason == CTRACE_WAIT_CHILD && (int64_t)s->object == -1)
      snprintf(what, sizeof what, "waiting for any child process");
    else if (s->reason == CTRACE_WAIT_CHILD)
      snprintf(what, sizeof what, "waiting for child process %" PRId64, (int64_t)s->object);
    else
      snprintf(what, sizeof what, "blocked on %s 0x%" PRIx64, ctrace__wait_reason_name(s->reason),
               s->object);
  } else if (s->kind == CTRACE_EV_SYSCALL || s->kind == CTRACE_EV_PENDING) {
    if (s->cls == CTRACE_SC_POLL)
      snprintf(what, sizeof what, "%s", ctrace__syscall_name(s->call));
    else
      snprintf(what, sizeof what, "%s on fd %d", ctrace__syscall_name(s->call), (int)(int32_t)s->fd);
    const struct ctrace_tl_peer *pe =
        s->cls == CTRACE_SC_NET ? ctrace_timeline_peer(tl, s->thread, (uint32_t)s->fd, s->end) : NULL;
    if (pe) {
      peer_text(pe, peer, sizeof peer);
      size_t n = strlen(what);
      snprintf(what + n, sizeof what - n, " (%s)", peer);
    }
  } else {
    snprintf(what, sizeof what, "%s", ctrace_state_name(s->state));
  }
  const char *end = "";
  char tail[160] = "";
  if (s->flags & CTRACE_CP_AFTER_WAKE) {
    const char *other = s->woken_by < tl->nthreads && ctrace_timeline_thread_process(tl, s->thread) !=
                                                           ctrace_timeline_thread_process(tl, s->woken_by)
                            ? " (another process)"
                            : "";
    snprintf(tail, sizeof tail, ": woken by thread %u%s, then resuming", tid_of(tl, s->woken_by),
             other);
    if (s->flags & CTRACE_CP_DATA)
      snprintf(tail, sizeof tail, ": data written by thread %u%s, then resuming",
               tid_of(tl, s->woken_by), other);
    else if ((s->flags & CTRACE_CP_INFERRED) && s->reason == CTRACE_WAIT_CHILD)
      snprintf(tail, sizeof tail,
               ": child process %u ended (inferred: the last traced child to end before the wait "
               "returned), then resuming",
               tl->procs[ctrace_timeline_thread_process(tl, s->woken_by)].pid);
    else if (s->flags & CTRACE_CP_INFERRED)
      snprintf(tail, sizeof tail,
               ": joined thread %u exited (inferred: the last traced thread to exit before the "
               "join returned), then resuming",
               tid_of(tl, s->woken_by));
    end = tail;
  } else if (s->flags & CTRACE_CP_NO_WAKER) {
    switch (s->state) {
    case CTRACE_ST_NET:
      end = s->call == CTRACE_CALL_accept || s->call == CTRACE_CALL_accept4
                ? ": the connecting peer is not traced"
            : ctrace_flow_is_write_call(s->call)
                ? ": no traced read made room for it (the other end is not traced, or it did"
                  " not wait for one)"
                : ": no traced write supplied it (the other end is not traced, or the data was"
                  " there)";
      break;
    case CTRACE_ST_POLL:
      end = ": what made its fds ready is not traced";
      break;
    case CTRACE_ST_SYNC:
      end = s->reason == CTRACE_WAIT_JOIN    ? ": no traced thread exited while it waited"
            : s->reason == CTRACE_WAIT_CHILD ? ": no traced child process ended while it waited"
                                             : ": no recorded release woke it (another process, a timeout or a lost race)";
      break;
    default:
      end = ": what ended it is not traced";
    }
  }
  snprintf(buf, size, "%s%s%s%s", what, calls, end,
           s->flags & CTRACE_CP_AT_END ? " (still in progress when the trace ended)" : "");
  return buf;
}

/* ---- aggregate ---- */

static int agg_add(struct ctrace_cp_agg *a, uint32_t tname, uint32_t tid, unsigned state,
                   uint64_t stack, uint64_t ns) {
  /* O(entries) per segment; entries stay few (thread names x states x
   * stacks on critical paths), fine below some thousands. */
  for (size_t i = 0; i < a->n; i++) {
    struct ctrace_cp_agg_entry *e = &a->v[i];
    if (e->thread_name == tname && e->state == state && e->stack == stack &&
        (tname || e->tid == tid)) {
      e->ns += ns;
      e->count++;
      return 0;
    }
  }
  if (a->n == a->cap) {
    size_t nc = a->cap ? 2 * a->cap : 64;
    struct ctrace_cp_agg_entry *nv = realloc(a->v, nc * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    a->v = nv;
    a->cap = nc;
  }
  a->v[a->n++] = (struct ctrace_cp_agg_entry){tname, tid, state, stack, ns, 1};
  return 0;
}

static int cmp_agg(const void *x, const void *y) {
  const struct ctrace_cp_agg_entry *a = x, *b = y;
  if (a->ns != b->ns)
    return a->ns > b->ns ? -1 : 1;
  return a->stack < b->stack ? -1 : a->stack > b->stack;
}

int ctrace_critpath_aggregate(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                              int regions, uint32_t name, struct ctrace_cp_agg *out) {
  memset(out, 0, sizeof *out);
  /* Many walks: the calls of every thread indexed once (one pass over the
   * trace) beat decoding a batch per blocked call on each path. */
  struct ctrace_cp_index *ix;
  int irc = ctrace_critpath_index_build(tl, &ix);
  if (irc < 0)
    return irc;
  size_t n = regions ? tl->nregions : tl->ntasks;
  for (size_t i = 0; i < n; i++) {
    struct ctrace_cp cp;
    int rc;
    if (regions) {
      if (tl->regions[i].name != name || tl->regions[i].open)
        continue;
      rc = ctrace_critpath_ix(tl, ix, data, ctrace_timeline_region_thread(tl, i),
                              tl->regions[i].start, tl->regions[i].end, &cp);
    } else {
      const struct ctrace_tl_task *t = &tl->tasks[i];
      if (t->name != name || t->open)
        continue;
      uint32_t th = t->end_thread != NO_THREAD ? t->end_thread : t->begin_thread;
      rc = ctrace_critpath_ix(tl, ix, data, th, t->start, t->end, &cp);
    }
    if (rc < 0) {
      ctrace_critpath_index_free(ix);
      ctrace_critpath_agg_free(out);
      return rc;
    }
    out->instances++;
    out->total_ns += (uint64_t)(cp.end - cp.start);
    for (size_t k = 0; k < cp.n && rc == 0; k++) {
      const struct ctrace_cp_seg *s = &cp.v[k];
      uint64_t ns = (uint64_t)(s->end - s->start);
      unsigned st = s->flags & (CTRACE_CP_OUTSIDE | CTRACE_CP_STARTING) ? CTRACE_ST_COUNT : s->state;
      out->state_ns[st] += ns;
      uint32_t tname = 0;
      if (s->thread < tl->nthreads)
        tname = ctrace_reader_thread(tl->r, tl->threads[s->thread].index)->name;
      rc = agg_add(out, tname, tid_of(tl, s->thread), st, s->stack, ns);
    }
    ctrace_critpath_free(&cp);
    if (rc < 0) {
      ctrace_critpath_index_free(ix);
      ctrace_critpath_agg_free(out);
      return rc;
    }
  }
  ctrace_critpath_index_free(ix);
  if (out->n)
    qsort(out->v, out->n, sizeof *out->v, cmp_agg);
  return 0;
}

void ctrace_critpath_agg_free(struct ctrace_cp_agg *a) {
  free(a->v);
  memset(a, 0, sizeof *a);
}

/* ---- time per thread ---- */

struct by_thread {
  uint32_t thread;
  size_t first; /* index of its first segment */
  uint64_t ns;
};
static int cmp_by_thread(const void *x, const void *y) {
  const struct by_thread *a = x, *b = y;
  if (a->thread != b->thread)
    return a->thread < b->thread ? -1 : 1;
  return a->first < b->first ? -1 : a->first > b->first;
}
static int cmp_by_first(const void *x, const void *y) {
  const struct by_thread *a = x, *b = y;
  return a->first < b->first ? -1 : a->first > b->first;
}

long ctrace_cp_by_thread(const struct ctrace_cp *cp, struct ctrace_cp_thread_ns **out) {
  *out = NULL;
  if (!cp->n)
    return 0;
  struct by_thread *v = malloc(cp->n * sizeof *v);
  if (!v)
    return -ENOMEM;
  for (size_t i = 0; i < cp->n; i++)
    v[i] = (struct by_thread){cp->v[i].thread, i, (uint64_t)(cp->v[i].end - cp->v[i].start)};
  qsort(v, cp->n, sizeof *v, cmp_by_thread);
  size_t m = 0; /* one per thread: its first segment, its time */
  for (size_t i = 0; i < cp->n; i++) {
    if (m && v[m - 1].thread == v[i].thread)
      v[m - 1].ns += v[i].ns;
    else
      v[m++] = v[i];
  }
  qsort(v, m, sizeof *v, cmp_by_first);
  struct ctrace_cp_thread_ns *r = malloc(m * sizeof *r);
  if (!r) {
    free(v);
    return -ENOMEM;
  }
  for (size_t i = 0; i < m; i++)
    r[i] = (struct ctrace_cp_thread_ns){v[i].thread, v[i].ns};
  free(v);
  *out = r;
  return (long)m;
}

/* ---- the one-line summary ---- */

static void human(int64_t ns, char *buf, size_t size) {
  if (ns < 1000)
    snprintf(buf, size, "%" PRId64 " ns", ns);
  else if (ns < 1000000)
    snprintf(buf, size, "%.1f us", (double)ns / 1e3);
  else if (ns < 1000000000)
    snprintf(buf, size, "%.1f ms", (double)ns / 1e6);
  else
    snprintf(buf, size, "%.2f s", (double)ns / 1e9);
}

struct group {
  uint32_t thread, region;
  const char *label;
  int64_t ns;
};

const char *ctrace_cp_summary(const struct ctrace_timeline *tl, const struct ctrace_cp *cp,
                              char *buf, size_t size) {
  /* groups of (label, thread, region), the largest first; O(n^2) over the
   * segments of one chain, fine for the hundreds a chain has */
  struct group g[8];
  size_t ng = 0;
  int64_t rest = 0;
  struct group *all = calloc(cp->n ? cp->n : 1, sizeof *all);
  size_t na = 0;
  for (size_t i = 0; all && i < cp->n; i++) {
    const struct ctrace_cp_seg *s = &cp->v[i];
    const char *label = ctrace_cp_label(s);
    size_t k = 0;
    while (k < na && !(all[k].thread == s->thread && all[k].region == s->region &&
                       strcmp(all[k].label, label) == 0))
      k++;
    if (k == na)
      all[na++] = (struct group){s->thread, s->region, label, 0};
    all[k].ns += s->end - s->start;
  }
  for (size_t i = 0; i < na; i++) { /* the 3 largest, by selection */
    size_t best = i;
    for (size_t k = i + 1; k < na; k++)
      if (all[k].ns > all[best].ns)
        best = k;
    struct group t = all[i];
    all[i] = all[best];
    all[best] = t;
    if (i < 3)
      g[ng++] = all[i];
    else
      rest += all[i].ns;
  }
  free(all);
  char d[32];
  human(cp->end - cp->start, d, sizeof d);
  size_t n = (size_t)snprintf(buf, size, "of %s:", d);
  for (size_t i = 0; i < ng && n < size; i++) {
    char name[64] = "", region[96] = "";
    human(g[i].ns, d, sizeof d);
    if (g[i].thread < tl->nthreads) {
      const struct ctrace_thread_info *ti = ctrace_reader_thread(tl->r, tl->threads[g[i].thread].index);
      char nm[48];
      ctrace_reader_strcpy(tl->r, ti->name, nm, sizeof nm);
      snprintf(name, sizeof name, " on %s%s%u%s", nm, nm[0] ? " (tid " : "tid ",
               tl->threads[g[i].thread].tid, nm[0] ? ")" : "");
    }
    if (g[i].region) {
      char rn[80];
      ctrace_reader_strcpy(tl->r, g[i].region, rn, sizeof rn);
      snprintf(region, sizeof region, " in %s", rn);
    }
    n += (size_t)snprintf(buf + n, size - n, "%s %s %s%s%s", i ? "," : "", d, g[i].label, name,
                          region);
  }
  if (rest && n < size) {
    human(rest, d, sizeof d);
    snprintf(buf + n, size - n, ", %s other", d);
  }
  return buf;
}
