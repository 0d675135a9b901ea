/*
 * states.c - see states.h: the thread-state machine. O(1) per event, no
 * allocation.
 *
 * What a trace recorded decides the state of time outside recorded calls
 * (ctrace_states_known, ctrace_states_gap): RUNNING when blocking calls
 * were recorded, NOT_RECORDED when not (recording=api). Scheduler data, when
 * a trace has it, is one more case of the same input.
 */
#include "states.h"

#include <string.h>

const char *ctrace_state_name(unsigned state) {
  switch (state) {
#define ST_NAME(name, code, key, reported, doc)                                                    \
  case code:                                                                                       \
    return key;
    CTRACE_STATES(ST_NAME)
#undef ST_NAME
  default:
    return "outside";
  }
}

int ctrace_state_reported(unsigned state) {
  switch (state) {
#define ST_REP(name, code, key, reported, doc)                                                     \
  case code:                                                                                       \
    return reported;
    CTRACE_STATES(ST_REP)
#undef ST_REP
  default:
    return 0;
  }
}

int ctrace_state_from_call(unsigned state) {
  switch (state) {
  case CTRACE_ST_SYNC:
  case CTRACE_ST_NET:
  case CTRACE_ST_IO:
  case CTRACE_ST_POLL:
  case CTRACE_ST_SLEEP:
  case CTRACE_ST_SYSCALL:
    return 1;
  default:
    return 0;
  }
}

/* Blocking calls in the trace, whoever recorded them (a generator of
 * synthetic traces writes them without the preload). */
static uint64_t nblocking(const ctrace_reader *r) {
  return ctrace_reader_nevents_kind(r, CTRACE_EV_WAIT) +
         ctrace_reader_nevents_kind(r, CTRACE_EV_SYSCALL) +
         ctrace_reader_nevents_kind(r, CTRACE_EV_PENDING);
}

unsigned ctrace_states_known(const ctrace_reader *r) {
  const char *rec = r ? ctrace_reader_property(r, "recording") : NULL;
  /* "preload", or nothing said (1.0, 1.1), or blocking calls in the trace
   * all the same: blocking calls were recorded */
  if (rec && strcmp(rec, "api") == 0 && !nblocking(r))
    return 0;
  return CTRACE_KNOWN_BLOCKING;
}

const char *ctrace_states_recorded_text(const ctrace_reader *r) {
  const char *rec = ctrace_reader_property(r, "recording");
  if (!rec)
    return "not stated by this trace (format 1.0 or 1.1): time outside recorded calls counts as "
           "running";
  if (strcmp(rec, "api") == 0 && nblocking(r))
    return "tasks, regions, logs, blocking calls (written through libctrace, without ctrace run)";
  if (strcmp(rec, "api") == 0)
    return "tasks, regions, logs (API only: blocking calls not recorded)";
  if (strcmp(rec, "preload") == 0)
    return "threads, blocking calls (sync, sleep, file and network I/O, polling), "
           "processes, tasks, regions, logs (ctrace run)";
  return "unknown";
}

unsigned ctrace_state_of_wait(uint64_t reason) {
  return strcmp(ctrace__wait_reason_class(reason), "sleep") == 0 ? CTRACE_ST_SLEEP
                                                                  : CTRACE_ST_SYNC;
}

unsigned ctrace_state_of_syscall(uint64_t cls) {
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

int64_t ctrace_states_reader_clock(const void *reader, uint64_t ticks) {
  return ctrace_reader_ns(reader, ticks);
}

void ctrace_states_sum_span(void *row, const struct ctrace_span *sp) {
  uint64_t *sum = row;
  if (sp->end > sp->start && sp->state < CTRACE_ST_COUNT)
    sum[sp->state] += (uint64_t)(sp->end - sp->start);
}

static int64_t now(const struct ctrace_states *m, uint64_t ticks) {
  return m->clock ? m->clock(m->clock_ctx, ticks) : (int64_t)ticks;
}

void ctrace_states_init(struct ctrace_states *m, int64_t first_ns, ctrace_states_clock clock,
                        const void *clock_ctx, ctrace_span_fn fn, void *arg) {
  memset(m, 0, sizeof *m);
  m->clock = clock;
  m->clock_ctx = clock_ctx;
  m->fn = fn;
  m->arg = arg;
  m->first = m->last = first_ns;
  m->known = clock == ctrace_states_reader_clock ? ctrace_states_known(clock_ctx)
                                                 : CTRACE_KNOWN_BLOCKING;
}

void ctrace_states_set_known(struct ctrace_states *m, unsigned known) { m->known = known; }

unsigned ctrace_states_gap(const struct ctrace_states *m) {
  return m->known & CTRACE_KNOWN_BLOCKING ? CTRACE_ST_RUNNING : CTRACE_ST_NOT_RECORDED;
}

/* Start of a call that lasted dur ticks until ticks (T - dur taken as
 * tick 0 when dur > T, as docs/FORMAT.md says). A call that is the thread's
 * first event began before the thread was seen: its span goes back to where
 * the call began, and the thread's life with it, but not before the trace's
 * start: a call begun earlier is clipped there and flagged
 * CTRACE_SPAN_BEFORE_START (a trace started while the thread was blocked).
 * Any later call starts no earlier than the thread's first event and the
 * previous span's end (whatever a corrupt dur says). */
static int64_t call_start(struct ctrace_states *m, uint64_t ticks, uint64_t dur,
                          unsigned *flags) {
  int64_t s = now(m, dur <= ticks ? ticks - dur : 0);
  if (m->nev != 1)
    return s < m->last ? m->last : s;
  int64_t floor = m->first < 0 ? m->first : 0; /* the trace's start (0), or an earlier event */
  if (s < floor || dur > ticks) { /* before the trace, or before tick 0 */
    s = s < floor ? floor : s;
    *flags |= CTRACE_SPAN_BEFORE_START;
  }
  if (s < m->first)
    m->first = m->last = s; /* the thread was there, blocked, before its first event */
  return s < m->last ? m->last : s;
}

int64_t ctrace_states_begin(const struct ctrace_states *m) { return m->first; }

/* ---- scheduling data: spans split by the thread's on-CPU intervals ---- */

void ctrace_states_set_oncpu(struct ctrace_states *m, const struct ctrace_oncpu *iv, uint32_t n) {
  m->cpu = iv;
  m->ncpu = iv ? n : 0;
  m->icpu = 0;
}

void ctrace_states_set_wakes(struct ctrace_states *m, const uint64_t *ticks, uint32_t n) {
  m->wake = ticks;
  m->nwake = ticks ? n : 0;
  m->iwake = 0;
}

void ctrace_states_use_sched(struct ctrace_states *m, const ctrace_reader *r, uint32_t ti) {
  const struct ctrace_oncpu *iv;
  uint32_t n = ctrace_reader_oncpu(r, ti, &iv);
  ctrace_states_set_oncpu(m, iv, n);
  const uint64_t *wk;
  uint32_t nw = ctrace_reader_wakes(r, ti, &wk);
  ctrace_states_set_wakes(m, wk, nw);
}

static int64_t iv_start(const struct ctrace_states *m, uint32_t i) { return now(m, m->cpu[i].start); }
static int64_t iv_end(const struct ctrace_states *m, uint32_t i) { return now(m, m->cpu[i].end); }

/* Skips the intervals that end at or before t (spans come in time order). */
static void skip_to(struct ctrace_states *m, int64_t t) {
  while (m->icpu < m->ncpu && iv_end(m, m->icpu) <= t)
    m->icpu++;
}

/* The state off a CPU before interval i: how the thread left the one before. */
static unsigned off_cpu_state(const struct ctrace_states *m, uint32_t i) {
  /* Before its first interval: the thread was on a CPU when the kernel's
   * records began (the interval's start is a lower bound), and before
   * that the trace knows what it knows without them; or no record says. */
  if (i == 0)
    return m->ncpu && m->cpu[0].start_unknown ? ctrace_states_gap(m) : CTRACE_ST_NOT_RECORDED;
  switch (m->cpu[i - 1].left) {
  case CTRACE_SCHED_LEFT_PREEMPTED:
    return CTRACE_ST_RUNNABLE;
  case CTRACE_SCHED_LEFT_BLOCKED:
    return CTRACE_ST_BLOCKED_NOT_INTERPOSED;
  case CTRACE_SCHED_LEFT_AT_STOP:
    return CTRACE_ST_RUNNING; /* on the CPU when recording stopped */
  default:
    return CTRACE_ST_NOT_RECORDED; /* the switch-out was lost */
  }
}

/* Time outside blocking calls, [a, b): RUNNING on a CPU, else what the last
 * switch-out says. */
static void split_running(struct ctrace_states *m, int64_t a, int64_t b) {
  for (int64_t x = a; x < b;) {
    skip_to(m, x);
    unsigned st;
    int64_t to;
    if (m->icpu < m->ncpu && iv_start(m, m->icpu) <= x) {
      st = CTRACE_ST_RUNNING;
      to = iv_end(m, m->icpu);
    } else {
      st = off_cpu_state(m, m->icpu);
      to = m->icpu < m->ncpu ? iv_start(m, m->icpu) : b;
    }
    if (to > b)
      to = b;
    struct ctrace_span s = {.start = x, .end = to, .state = st};
    m->fn(m->arg, &s);
    x = to;
  }
}

/* When the wait sp ended, if known: a sleep's asked length, or the first
 * recorded wake-up inside a sync wait. */
static int wait_ended(struct ctrace_states *m, const struct ctrace_span *sp, int64_t *woke) {
  if (sp->kind != CTRACE_EV_WAIT || sp->end <= sp->start)
    return 0;
  if (sp->state == CTRACE_ST_SLEEP) {
    *woke = sp->start + (int64_t)sp->object; /* object: the ns asked for */
    return sp->object != 0;
  }
  while (m->iwake < m->nwake && now(m, m->wake[m->iwake]) < sp->start)
    m->iwake++;
  if (m->iwake >= m->nwake || now(m, m->wake[m->iwake]) > sp->end)
    return 0;
  *woke = now(m, m->wake[m->iwake++]);
  return 1;
}

/* Where the blocking span sp stops being the call's state (*w): the latest
 * bound of the wake-up that ended it, the start of the on-CPU interval that
 * follows the last voluntary switch-out inside the call (a switch-in that
 * is not the return from a preemption); in a call that never left the CPU
 * voluntarily (it did not block), its first preemption (from there it was
 * runnable, then running). 0 when neither happened inside the call. Moves
 * no cursor of m. */
static int wake_bound(const struct ctrace_states *m, const struct ctrace_span *sp, int64_t *w) {
  int found = 0;
  int64_t preempted = INT64_MAX;
  for (uint32_t j = m->icpu; j < m->ncpu && iv_start(m, j) < sp->end; j++) {
    int64_t out = iv_end(m, j);
    if (out <= sp->start || out >= sp->end || j + 1 >= m->ncpu)
      continue;
    if (m->cpu[j].left == CTRACE_SCHED_LEFT_BLOCKED) {
      *w = iv_start(m, j + 1);
      found = 1;
    } else if (m->cpu[j].left == CTRACE_SCHED_LEFT_PREEMPTED && out < preempted) {
      preempted = out;
    }
  }
  if (!found && preempted != INT64_MAX) {
    *w = preempted;
    found = 1;
  }
  return found && *w > sp->start && *w < sp->end;
}

/* A blocking system call (file I/O, network, polling, other calls: no
 * recorded wake-up or asked length ends them; waits keep their span):
 * the call up to its wake-up's latest bound, or up to its first preemption
 * when it never blocked (wake_bound), then what the switches say to the
 * return: RUNNING on a CPU, RUNNABLE after a preemption. Without either
 * (it never left the CPU, or is still blocked at the end) the call as it
 * is. */
static void split_tail(struct ctrace_states *m, const struct ctrace_span *sp) {
  int64_t w;
  if (sp->kind != CTRACE_EV_SYSCALL || (sp->flags & CTRACE_SPAN_AT_END) || sp->end <= sp->start) {
    m->fn(m->arg, sp);
    return;
  }
  skip_to(m, sp->start);
  if (!wake_bound(m, sp, &w)) {
    m->fn(m->arg, sp);
    return;
  }
  struct ctrace_span s = *sp;
  s.end = w;
  m->fn(m->arg, &s);
  split_running(m, w, sp->end);
}

/* A wait whose end is known (wait_ended): the wait, RUNNABLE until back on
 * a CPU, then RUNNING to the return. Other blocking spans: split_tail. */
static void split_blocking(struct ctrace_states *m, const struct ctrace_span *sp) {
  int64_t woke;
  if (!wait_ended(m, sp, &woke)) {
    split_tail(m, sp);
    return;
  }
  skip_to(m, woke);
  uint32_t i = m->icpu;
  int64_t back = i < m->ncpu ? iv_start(m, i) : sp->end;
  if (woke >= sp->end || back <= woke || back > sp->end) {
    m->fn(m->arg, sp);
    return;
  }
  struct ctrace_span s = *sp;
  s.end = woke;
  m->fn(m->arg, &s);
  struct ctrace_span q = {.start = woke, .end = back, .state = CTRACE_ST_RUNNABLE};
  m->fn(m->arg, &q);
  if (back < sp->end)
    split_running(m, back, sp->end);
}

static void emit(struct ctrace_states *m, const struct ctrace_span *sp) {
  if (!m->ncpu)
    m->fn(m->arg, sp);
  else if ((sp->state == CTRACE_ST_RUNNING || sp->state == CTRACE_ST_NOT_RECORDED) && !sp->kind)
    split_running(m, sp->start, sp->end); /* the kernel knows, whatever the preload saw */
  else
    split_blocking(m, sp);
}

/* Reports RUNNING up to sp->start, then sp (whose end is at least its start). */
static void report(struct ctrace_states *m, struct ctrace_span *sp) {
  if (sp->start > m->last) {
    struct ctrace_span run = {.start = m->last, .end = sp->start, .state = ctrace_states_gap(m)};
    emit(m, &run);
  }
  if (sp->end < sp->start)
    sp->end = sp->start;
  emit(m, sp);
  m->last = sp->end;
}

void ctrace_states_event(struct ctrace_states *m, const ctrace_event *ev) {
  if (m->exited)
    return; /* after THREAD_EXIT: outside the thread's life */
  m->nev++;
  struct ctrace_span sp = {.kind = ev->kind};
  switch (ev->kind) {
  case CTRACE_EV_WAIT: {
    struct ctrace_ev_wait w = CTRACE_EV(wait, ev);
    sp.state = ctrace_state_of_wait(w.reason);
    sp.reason = w.reason;
    sp.object = w.object;
    sp.stack = w.stack;
    sp.start = call_start(m, ev->ticks, w.dur, &sp.flags);
    sp.end = now(m, ev->ticks);
    break;
  }
  case CTRACE_EV_SYSCALL: {
    struct ctrace_ev_syscall c = CTRACE_EV(syscall, ev);
    sp.state = ctrace_state_of_syscall(c.class);
    sp.call = c.call;
    sp.cls = c.class;
    sp.fd = c.fd;
    sp.result = c.result;
    sp.stack = c.stack;
    sp.start = call_start(m, ev->ticks, c.dur, &sp.flags);
    sp.end = now(m, ev->ticks);
    break;
  }
  case CTRACE_EV_PENDING: {
    /* reported at finish, when the thread's end is known */
    struct ctrace_ev_pending p = CTRACE_EV(pending, ev);
    sp.state = p.reason ? ctrace_state_of_wait(p.reason) : ctrace_state_of_syscall(p.class);
    sp.flags = CTRACE_SPAN_AT_END;
    sp.reason = p.reason;
    sp.call = p.reason ? 0 : p.call;
    sp.cls = p.reason ? 0 : p.class;
    sp.object = p.reason ? p.object : 0;
    sp.stack = p.stack;
    sp.start = call_start(m, ev->ticks, p.dur, &sp.flags);
    m->pend = sp;
    m->pending = 1;
    return;
  }
  case CTRACE_EV_THREAD_EXIT:
    m->exited = 1;
    m->exit_ns = now(m, ev->ticks);
    if (m->exit_ns < m->last)
      m->exit_ns = m->last;
    return;
  default:
    return;
  }
  m->pending = 0; /* a call returned after all: the PENDING before it is stale */
  report(m, &sp);
}

int64_t ctrace_states_finish(struct ctrace_states *m, int64_t end_ns) {
  int64_t end = m->exited ? m->exit_ns : end_ns;
  if (end < m->last)
    end = m->last;
  if (m->pending) {
    m->pending = 0;
    if (m->pend.start > end)
      m->pend.start = end;
    m->pend.end = end;
    report(m, &m->pend);
  } else if (end > m->last) {
    struct ctrace_span run = {.start = m->last, .end = end, .state = ctrace_states_gap(m)};
    emit(m, &run);
    m->last = end;
  }
  return end;
}

int64_t ctrace_states_thread(const ctrace_reader *r, uint32_t ti, ctrace_span_fn fn, void *arg) {
  const struct ctrace_thread_info *th = ctrace_reader_thread(r, ti);
  struct ctrace_states m;
  ctrace_states_init(&m, ctrace_reader_ns(r, th->first), ctrace_states_reader_clock, r, fn, arg);
  ctrace_states_use_sched(&m, r, ti);
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, ti);
  while (ctrace_cursor_next(&c, &ev))
    ctrace_states_event(&m, &ev);
  return ctrace_states_finish(&m, ctrace_reader_ns(r, ctrace_reader_thread_end(r, ti)));
}
