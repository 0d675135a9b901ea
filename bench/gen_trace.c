/*
 * gen_trace.c - writes a synthetic trace of about N events through the real
 * recorder (record.h: ctrace__enter / ctrace__ev / ctrace__leave), for the
 * viewer's benchmarks and tests: traces of any size and known shape, made
 * in seconds (`ctrace run` records real programs, at their own pace).
 *
 * Usage: gen_trace [--spread | --mix] FILE [N [THREADS]]
 *        (default 100000 events, 4 workers)
 *
 * Each worker thread serves "requests": a task with regions (handle >
 * db.query, parse), a log, network, file and poll system calls, a mutex
 * wait ended by a WAKE from the previous worker, now and then a sleep. Every 8th
 * task ends on the next worker (a task that crosses threads). Times are
 * virtual: each event gets a made-up duration (microseconds to
 * milliseconds, deterministic from a seed), so a trace of 10M events spans
 * tens of seconds while being written in a few. CTRACE_CLOCK=monotonic makes
 * ticks nanoseconds so that virtual ticks convert exactly.
 *
 * --mix (the viewer's benchmark, bench/view_bench.mjs) adds what a real
 * server's trace also holds: a counter per worker ("queue.depth", every
 * other request) and one shared ("inflight"), and now and then a DROPPED
 * record (events lost, as when the recorder's memory budget is spent);
 * THREADS may then be up to 1024 (default 4).
 *
 * --spread spreads the N events over THREADS short-lived threads (any
 * number: 40,000 is fine), for the reader's and the indexer's scaling
 * benchmarks (bench/open_bench.c). The main thread creates them with
 * ctrace_pthread_create() (creation links), at most 64 alive at once, and
 * names each one from outside with a THREAD_NAME carrying the worker's tid
 * (a name set from another thread, as pthread_setname_np does); each worker
 * serves requests like the ones above (no wake-ups) until it has recorded
 * its share of events.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctrace.h"
#include "../src/record/record.h"

struct worker {
  int id, n;
  uint64_t events; /* iterations to run (every worker the same: they run in rounds) */
  uint64_t t0;     /* virtual start, ns */
  uint32_t seed;
  pthread_t th;
};

static uint32_t rnd(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}
/* A duration in ns, log-uniform-ish between lo and hi. */
static uint64_t dur(uint32_t *s, uint64_t lo, uint64_t hi) {
  uint64_t span = hi - lo;
  uint32_t r = rnd(s);
  uint64_t x = (uint64_t)(r % 1000);
  return lo + span * x * x / 1000000; /* skewed towards short */
}

#define MAXW 1024
static int mix; /* --mix */
static uint32_t tids[MAXW]; /* of the workers, for WAKE events */
static pthread_barrier_t ready;

#define EMIT_BEGIN(kind, time)                                                 \
  struct ctrace__thread *t = ctrace__enter();                                  \
  if (!t)                                                                      \
    return;                                                                    \
  uint8_t *p = ctrace__ev(t, (kind), (time))

static void ev_task_begin(uint64_t now, uint64_t id, uint32_t name) {
  EMIT_BEGIN(CTRACE_EV_TASK_BEGIN, now);
  p = ctrace__put_task(t, p, id);
  p = ctrace__put_task(t, p, 0);
  p = ctrace__put_uvarint(p, name);
  p = ctrace__put_uvarint(p, 0);
  ctrace__leave(t, p);
}
static void ev_task_end(uint64_t now, uint64_t id) {
  EMIT_BEGIN(CTRACE_EV_TASK_END, now);
  p = ctrace__put_task(t, p, id);
  ctrace__leave(t, p);
}
static void ev_region_begin(uint64_t now, uint64_t task, uint32_t name) {
  EMIT_BEGIN(CTRACE_EV_REGION_BEGIN, now);
  p = ctrace__put_task(t, p, task);
  p = ctrace__put_uvarint(p, name);
  p = ctrace__put_uvarint(p, 0);
  ctrace__leave(t, p);
}
static void ev_region_end(uint64_t now) {
  EMIT_BEGIN(CTRACE_EV_REGION_END, now);
  ctrace__leave(t, p);
}
static void ev_wait(uint64_t now, uint64_t reason, uint64_t object, uint64_t d, uint32_t stack) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint8_t *p = ctrace__ev_span(t, CTRACE_EV_WAIT, now, d);
  p = ctrace__put_uvarint(p, reason);
  p = ctrace__put_object(t, p, object);
  p = ctrace__put_uvarint(p, d);
  p = ctrace__put_uvarint(p, stack);
  ctrace__leave(t, p);
}
static void ev_wake(uint64_t now, uint32_t tid, uint64_t object, uint32_t stack) {
  EMIT_BEGIN(CTRACE_EV_WAKE, now);
  p = ctrace__put_wake_tid(t, p, tid);
  p = ctrace__put_object(t, p, object);
  p = ctrace__put_uvarint(p, CTRACE_WAIT_MUTEX);
  p = ctrace__put_uvarint(p, stack);
  ctrace__leave(t, p);
}
static void ev_syscall(uint64_t now, uint64_t call, uint64_t cls, uint64_t fd, int64_t res,
                       uint64_t d, uint32_t stack) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint8_t *p = ctrace__ev_span(t, CTRACE_EV_SYSCALL, now, d);
  p = ctrace__put_uvarint(p, call);
  p = ctrace__put_uvarint(p, cls);
  p = ctrace__put_uvarint(p, fd);
  p = ctrace__put_result(t, p, res);
  p = ctrace__put_uvarint(p, d);
  p = ctrace__put_uvarint(p, stack);
  ctrace__leave(t, p);
}
static void ev_log(uint64_t now, uint64_t task, uint32_t cat, const char *msg) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  size_t len = strlen(msg);
  if (ctrace__reserve(t, len + 10) < 0) {
    ctrace__leave_empty(t);
    return;
  }
  uint8_t *p = ctrace__ev(t, CTRACE_EV_LOG, now);
  p = ctrace__put_task(t, p, task);
  p = ctrace__put_uvarint(p, cat);
  p = ctrace__put_uvarint(p, 0);
  p = ctrace__put_uvarint(p, len);
  memcpy(p, msg, len);
  ctrace__leave(t, p + len);
}
static void ev_sockaddr(uint64_t now, uint64_t fd, int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(0x0a000001u + (uint32_t)port % 200); /* 10.0.0.x */
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  if (ctrace__reserve(t, sizeof a + 10) < 0) {
    ctrace__leave_empty(t);
    return;
  }
  uint8_t *p = ctrace__ev(t, CTRACE_EV_SOCKADDR, now);
  p = ctrace__put_uvarint(p, fd);
  p = ctrace__put_uvarint(p, CTRACE_CALL_accept);
  p = ctrace__put_uvarint(p, sizeof a);
  memcpy(p, &a, sizeof a);
  ctrace__leave(t, p + sizeof a);
}

static void ev_counter(uint64_t now, uint32_t name, int64_t value) {
  EMIT_BEGIN(CTRACE_EV_COUNTER, now);
  p = ctrace__put_uvarint(p, name);
  p = ctrace__put_uvarint(p, ctrace__zigzag(value));
  ctrace__leave(t, p);
}
static void ev_dropped(uint64_t now, uint64_t count, uint64_t first_dt) {
  EMIT_BEGIN(CTRACE_EV_DROPPED, now);
  p = ctrace__put_uvarint(p, count);
  p = ctrace__put_uvarint(p, first_dt);
  ctrace__leave(t, p);
}

/* Interned ids, looked up once per thread (the ids are per trace). */
struct names {
  uint32_t request, handle, db, parse, http, depth, inflight;
};
static uint32_t sid(const char *s) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return 0;
  uint32_t id = ctrace__name_sid_cached(t, s);
  ctrace__leave_empty(t);
  return id;
}
static uint32_t __attribute__((noinline)) stack_at(int depth) {
  if (depth > 0)
    return stack_at(depth - 1);
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return 0;
  uint32_t id = ctrace__stack_here(t, __builtin_frame_address(0));
  ctrace__leave_empty(t);
  return id;
}

/*
 * One iteration of a worker is first planned (events with virtual times,
 * starting at the round's common start time), then, once every worker has
 * published when its mutex wait ends, written with a WAKE from the previous
 * worker placed just before that end: wake-ups line up with the waits they
 * end, as in a real trace. Between rounds a worker polls (epoll_wait).
 */
enum { G_TB, G_TE, G_RB, G_RE, G_WAIT, G_WAKE, G_SYS, G_LOG, G_SOCK, G_CTR, G_DROP };
struct gev {
  uint64_t t;
  uint8_t kind;
  uint64_t a, b, c, d;
  int64_t res;
  uint32_t stack;
};
#define MAXG 32

static uint64_t wait_end[2][MAXW], iter_end[2][MAXW];

static void plan(struct gev *g, int *n, uint64_t t, uint8_t kind, uint64_t a, uint64_t b,
                 uint64_t c, uint64_t d, int64_t res, uint32_t stack) {
  if (*n < MAXG)
    g[(*n)++] = (struct gev){t, kind, a, b, c, d, res, stack};
}

static void *work(void *arg) {
  struct worker *w = arg;
  char name[32];
  snprintf(name, sizeof name, "worker-%d", w->id);
  ctrace_thread_set_name(name);
  struct names nm = {sid("request"), sid("handle"), sid("db.query"), sid("parse"), sid("http"),
                     sid("queue.depth"), sid("inflight")};
  uint32_t stacks[4] = {stack_at(0), stack_at(1), stack_at(2), stack_at(3)};
  tids[w->id] = ctrace__gettid();
  pthread_barrier_wait(&ready);
  uint32_t *s = &w->seed;
  uint64_t round = w->t0, last = w->t0;
  const uint64_t mutex = 0x55d0c0de1000ull;
  struct gev g[MAXG];
  char msg[64];
  for (uint64_t j = 0; j < w->events; j++) { /* events: iterations here; the same for all */
    int n = 0, slot = (int)(j & 1);
    uint64_t now = round + dur(s, 0, 20000);
    if (now > last + 1000) /* idle since the last request: polling */
      plan(g, &n, now, G_SYS, CTRACE_CALL_epoll_wait, CTRACE_SC_POLL, 4, now - last - 500, 1,
           stacks[0]);
    uint64_t task = (1ull << 40) + j * (uint64_t)w->n + (uint64_t)w->id;
    uint64_t fd = 5 + j % 32;
    if (j < 32 || j % 64 == 0) /* a new connection on fd */
      plan(g, &n, now, G_SOCK, fd, (uint64_t)(40000 + j % 1000), 0, 0, 0, 0);
    plan(g, &n, now += dur(s, 500, 3000), G_TB, task, nm.request, 0, 0, 0, 0);
    if (mix && j % 2 == 0)
      plan(g, &n, now + 100, G_CTR, nm.depth, 0, 0, 0, (int64_t)(rnd(s) % 64), 0);
    if (mix && j % 16 == 3)
      plan(g, &n, now + 150, G_CTR, nm.inflight, 0, 0, 0, (int64_t)(j % 200), 0);
    if (mix && j % 1000 == 999)
      plan(g, &n, now + 200, G_DROP, 1 + rnd(s) % 500, 1000 + rnd(s) % 100000, 0, 0, 0, 0);
    plan(g, &n, now += dur(s, 200, 2000), G_RB, task, nm.handle, 0, 0, 0, 0);
    if (j % 4 == 0)
      plan(g, &n, now += 300, G_LOG, task, nm.http, j, 0, 0, 0);
    uint64_t d = dur(s, 2000, 400000);
    plan(g, &n, now += d + 1000, G_SYS, CTRACE_CALL_recv, CTRACE_SC_NET, fd, d, 512, stacks[0]);
    plan(g, &n, now += dur(s, 500, 5000), G_RB, task, nm.db, 0, 0, 0, 0);
    d = dur(s, 1000, 200000);
    plan(g, &n, now += d + 500, G_WAIT, CTRACE_WAIT_MUTEX, mutex, d, 0, 0, stacks[1]);
    wait_end[slot][w->id] = now;
    d = dur(s, 5000, 900000);
    plan(g, &n, now += d + 2000, G_SYS, CTRACE_CALL_read, CTRACE_SC_FILE, 3, d, 4096, stacks[2]);
    plan(g, &n, now += dur(s, 1000, 20000), G_RE, 0, 0, 0, 0, 0, 0);
    plan(g, &n, now += dur(s, 300, 3000), G_RB, task, nm.parse, 0, 0, 0, 0);
    plan(g, &n, now += dur(s, 2000, 60000), G_RE, 0, 0, 0, 0, 0, 0);
    d = dur(s, 500, 20000);
    plan(g, &n, now += d + 1000, G_SYS, CTRACE_CALL_send, CTRACE_SC_NET, fd, d, 2048, stacks[0]);
    plan(g, &n, now += dur(s, 500, 5000), G_RE, 0, 0, 0, 0, 0, 0);
    if (!(j % 8 == 7 && w->n > 1)) /* every 8th task is ended by the next worker */
      plan(g, &n, now += dur(s, 200, 2000), G_TE, task, 0, 0, 0, 0, 0);
    if (j % 8 == 0 && j >= 8 && w->n > 1) {
      int prev = (w->id + w->n - 1) % w->n;
      plan(g, &n, now += 500, G_TE, (1ull << 40) + (j - 1) * (uint64_t)w->n + (uint64_t)prev, 0,
           0, 0, 0, 0);
    }
    if (j % 16 == 5) {
      d = dur(s, 100000, 5000000);
      plan(g, &n, now += d, G_WAIT, CTRACE_WAIT_SLEEP, 0, d, 0, 0, stacks[1]);
    }
    if (j % 50 == 0) {
      d = dur(s, 1000, 30000);
      plan(g, &n, now += d, G_SYS, CTRACE_CALL_close, CTRACE_SC_OTHER, fd, d, 0, stacks[2]);
    }
    iter_end[slot][w->id] = now;
    pthread_barrier_wait(&ready);
    /* wake the next worker just before its wait ends (if that is later than
     * our round start; with one worker, no wakes) */
    int next = (w->id + 1) % w->n;
    uint64_t wt = wait_end[slot][next] - 200;
    uint64_t next_round = 0;
    for (int k = 0; k < w->n; k++)
      if (iter_end[slot][k] > next_round)
        next_round = iter_end[slot][k];
    int wake_at = -1;
    if (w->n > 1) {
      wake_at = n;
      for (int k = 0; k < n; k++)
        if (g[k].t > wt) {
          wake_at = k;
          break;
        }
    }
    for (int k = 0; k <= n; k++) {
      if (k == wake_at) {
        ev_wake(wt, tids[next], mutex, stacks[3]);
      }
      if (k == n)
        break;
      const struct gev *e = &g[k];
      switch (e->kind) {
      case G_TB: ev_task_begin(e->t, e->a, (uint32_t)e->b); break;
      case G_TE: ev_task_end(e->t, e->a); break;
      case G_RB: ev_region_begin(e->t, e->a, (uint32_t)e->b); break;
      case G_RE: ev_region_end(e->t); break;
      case G_WAIT: ev_wait(e->t, e->a, e->b, e->c, e->stack); break;
      case G_SYS: ev_syscall(e->t, e->a, e->b, e->c, e->res, e->d, e->stack); break;
      case G_LOG:
        snprintf(msg, sizeof msg, "GET /item/%llu", (unsigned long long)e->c);
        ev_log(e->t, e->a, (uint32_t)e->b, msg);
        break;
      case G_SOCK: ev_sockaddr(e->t, e->a, (int)e->b); break;
      case G_CTR: ev_counter(e->t, (uint32_t)e->a, e->res); break;
      case G_DROP: ev_dropped(e->t, e->a, e->b < e->t ? e->b : 0); break;
      }
    }
    last = now;
    round = next_round + 1000;
  }
  return NULL;
}

/* ---- --spread: many short-lived threads ---- */

struct spread {
  uint64_t events; /* to record */
  uint32_t seed, tid;
  pthread_t th;
};

/* THREAD_NAME of another thread, recorded on this one. */
static void ev_thread_name(uint32_t tid, uint32_t name) {
  EMIT_BEGIN(CTRACE_EV_THREAD_NAME, ctrace__now());
  p = ctrace__put_uvarint(p, tid);
  p = ctrace__put_uvarint(p, name);
  ctrace__leave(t, p);
}

static void *spread_work(void *arg) {
  struct spread *w = arg;
  w->tid = ctrace__gettid();
  struct names nm = {sid("request"), sid("handle"), sid("db.query"), sid("parse"), sid("http"),
                     0, 0};
  uint32_t stack = stack_at(1);
  uint32_t *s = &w->seed;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1000;
  const uint64_t mutex = 0x55d0c0de1000ull;
  uint64_t done = 4; /* THREAD_START, THREAD_EXIT, and the creator's THREAD_CREATE, THREAD_NAME */
  char msg[64];
  for (uint64_t j = 0; done + 7 <= w->events; j++) { /* to the nearest 14 */
    uint64_t task = ((uint64_t)w->tid << 24) + j + 1, fd = 5 + j % 32, d;
    ev_syscall(now += dur(s, 1000, 50000), CTRACE_CALL_epoll_wait, CTRACE_SC_POLL, 4, 1,
               dur(s, 500, 20000), stack);
    ev_task_begin(now += dur(s, 500, 3000), task, nm.request);
    ev_region_begin(now += dur(s, 200, 2000), task, nm.handle);
    snprintf(msg, sizeof msg, "GET /item/%llu", (unsigned long long)j);
    ev_log(now += 300, task, nm.http, msg);
    d = dur(s, 2000, 400000);
    ev_syscall(now += d + 1000, CTRACE_CALL_recv, CTRACE_SC_NET, fd, 512, d, stack);
    ev_region_begin(now += dur(s, 500, 5000), task, nm.db);
    d = dur(s, 1000, 200000);
    ev_wait(now += d + 500, CTRACE_WAIT_MUTEX, mutex, d, stack);
    d = dur(s, 5000, 900000);
    ev_syscall(now += d + 2000, CTRACE_CALL_read, CTRACE_SC_FILE, 3, 4096, d, stack);
    ev_region_end(now += dur(s, 1000, 20000));
    ev_region_begin(now += dur(s, 300, 3000), task, nm.parse);
    ev_region_end(now += dur(s, 2000, 60000));
    d = dur(s, 500, 20000);
    ev_syscall(now += d + 1000, CTRACE_CALL_send, CTRACE_SC_NET, fd, 2048, d, stack);
    ev_region_end(now += dur(s, 500, 5000));
    ev_task_end(now += dur(s, 200, 2000), task);
    done += 14;
  }
  return NULL;
}

static int spread_main(uint64_t n, long nth) {
  enum { WAVE = 64 };
  struct spread w[WAVE];
  char name[32];
  uint64_t left = n;
  for (long i = 0; i < nth;) {
    int k = 0;
    for (; k < WAVE && i < nth; k++, i++) {
      uint64_t share = left / (uint64_t)(nth - i);
      /* what spread_work will record: 4 + 14 per iteration, rounded */
      uint64_t iters = share >= 11 ? (share - 11) / 14 + 1 : 0;
      left -= left < 4 + 14 * iters ? left : 4 + 14 * iters;
      w[k] = (struct spread){.events = share, .seed = 2463534242u + (uint32_t)i * 7919u};
      if (ctrace_pthread_create(&w[k].th, NULL, spread_work, &w[k]) != 0) {
        fprintf(stderr, "gen_trace: cannot create thread %ld\n", i);
        return 1;
      }
    }
    for (int j = 0; j < k; j++) {
      pthread_join(w[j].th, NULL);
      snprintf(name, sizeof name, "worker-%ld", i - k + j);
      ev_thread_name(w[j].tid, sid(name));
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  /* Synthetic events of known shape: the kernel's view of this process's
   * real scheduling would not match their made-up times. */
  setenv("CTRACE_SCHED", "off", 0);
  int spread = argc > 1 && strcmp(argv[1], "--spread") == 0;
  mix = argc > 1 && strcmp(argv[1], "--mix") == 0;
  if (spread || mix) {
    argv++;
    argc--;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: gen_trace [--spread | --mix] FILE [EVENTS [THREADS]]\n");
    return 2;
  }
  uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
  long nth = argc > 3 ? strtol(argv[3], NULL, 10) : 4;
  if (spread) {
    if (nth < 1 || nth > 1000000) {
      fprintf(stderr, "gen_trace: THREADS must be 1..1000000\n");
      return 2;
    }
    setenv("CTRACE_CLOCK", "monotonic", 1);
    setenv("CTRACE_MEMORY_MB", "1024", 0);
    int err = ctrace_start_path(argv[1]);
    if (err) {
      fprintf(stderr, "gen_trace: %s\n", ctrace_strerror(err));
      return 1;
    }
    ctrace_thread_set_name("main");
    int rc = spread_main(n, nth);
    err = ctrace_stop();
    if (err) {
      fprintf(stderr, "gen_trace: %s\n", ctrace_strerror(err));
      return 1;
    }
    return rc;
  }
  if (nth < 1 || nth > (mix ? MAXW : 64)) {
    fprintf(stderr, "gen_trace: THREADS must be 1..%d\n", mix ? MAXW : 64);
    return 2;
  }
  setenv("CTRACE_CLOCK", "monotonic", 1);
  setenv("CTRACE_MEMORY_MB", "1024", 0); /* do not drop while the writer catches up */
  int err = ctrace_start_path(argv[1]);
  if (err) {
    fprintf(stderr, "gen_trace: %s\n", ctrace_strerror(err));
    return 1;
  }
  ctrace_thread_set_name("main");
  static struct worker w[MAXW];
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t t0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 50000000; /* after the threads started */
  for (int i = 0; i < nth; i++) {
    /* about 14.4 events per iteration of a worker */
    uint64_t per = mix ? 150 : 144; /* --mix: about 15.0 */
    w[i] = (struct worker){.id = i, .n = (int)nth, .events = (n * 10 + per * (uint64_t)nth - 1) / (per * (uint64_t)nth),
                           .t0 = t0 + (uint64_t)i * 137000, .seed = 2463534242u + (uint32_t)i * 7919u};
  }
  pthread_barrier_init(&ready, NULL, (unsigned)nth);
  for (int i = 0; i < nth; i++)
    ctrace_pthread_create(&w[i].th, NULL, work, &w[i]);
  for (int i = 0; i < nth; i++)
    pthread_join(w[i].th, NULL);
  err = ctrace_stop();
  if (err) {
    fprintf(stderr, "gen_trace: %s\n", ctrace_strerror(err));
    return 1;
  }
  return 0;
}
