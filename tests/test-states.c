/*
 * test-states.c - the thread-state machine (src/analyze/states.c) alone:
 * hand-built event streams of one thread, with ticks taken as ns, and the
 * exact sequence of spans expected, written "state start-end" with a '*'
 * for a call still in progress at the end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../src/analyze/chrome.h"
#include "../src/analyze/profile.h"
#include "../src/analyze/states.h"
#include "../src/analyze/timeline.h"
#include "../src/serve/view.h"
#include "hand-trace.h"
#include "task.h"

struct seq {
  char s[2048];
  size_t n;
};

static void on_span(void *arg, const struct ctrace_span *sp) {
  struct seq *q = arg;
  int k = snprintf(q->s + q->n, sizeof q->s - q->n, "%s%s%s %lld-%lld%s", q->n ? " | " : "",
                   sp->flags & CTRACE_SPAN_BEFORE_START ? "^" : "", ctrace_state_name(sp->state),
                   (long long)sp->start, (long long)sp->end,
                   sp->flags & CTRACE_SPAN_AT_END ? "*" : "");
  if (k > 0 && (size_t)k < sizeof q->s - q->n)
    q->n += (size_t)k;
}

/* An event of kind at ticks with its fields in table order. */
static ctrace_event ev(unsigned kind, uint64_t ticks, unsigned nf, ...) {
  ctrace_event e;
  memset(&e, 0, sizeof e);
  e.kind = (uint8_t)kind;
  e.ticks = ticks;
  e.tid = 7;
  e.nfields = (uint8_t)nf;
  va_list ap;
  va_start(ap, nf);
  for (unsigned i = 0; i < nf; i++)
    e.f[i] = va_arg(ap, uint64_t);
  va_end(ap);
  return e;
}
#define WAIT(t, reason, obj, dur) ev(CTRACE_EV_WAIT, t, 4, (uint64_t)(reason), (uint64_t)(obj), (uint64_t)(dur), (uint64_t)0)
#define SYSCALL(t, call, cls, dur)                                                                 \
  ev(CTRACE_EV_SYSCALL, t, 6, (uint64_t)(call), (uint64_t)(cls), (uint64_t)3, (uint64_t)0,         \
     (uint64_t)(dur), (uint64_t)0)
#define PENDING(t, reason, call, cls, dur)                                                         \
  ev(CTRACE_EV_PENDING, t, 6, (uint64_t)(reason), (uint64_t)(call), (uint64_t)(cls),              \
     (uint64_t)0x1000, (uint64_t)(dur), (uint64_t)9)

/* Runs the machine over evs (first event: first) and ends it at end. */
static int64_t run(const ctrace_event *evs, size_t n, int64_t first, int64_t end, struct seq *q) {
  struct ctrace_states m;
  memset(q, 0, sizeof *q);
  ctrace_states_init(&m, first, NULL, NULL, on_span, q);
  for (size_t i = 0; i < n; i++)
    ctrace_states_event(&m, &evs[i]);
  return ctrace_states_finish(&m, end);
}
#define RUN(evs, first, end, q) run(evs, sizeof evs / sizeof evs[0], first, end, q)

TEST_IMPL(states_waits_and_syscalls_in_order) {
  ctrace_event evs[] = {
      ev(CTRACE_EV_THREAD_START, 0, 1, (uint64_t)5),
      WAIT(10, CTRACE_WAIT_MUTEX, 0xa0, 5),
      SYSCALL(20, CTRACE_CALL_read, CTRACE_SC_FILE, 3),
      SYSCALL(30, CTRACE_CALL_poll, CTRACE_SC_POLL, 2),
      SYSCALL(35, CTRACE_CALL_recv, CTRACE_SC_NET, 1),
      SYSCALL(45, 99, CTRACE_SC_OTHER, 4),
      WAIT(60, CTRACE_WAIT_SLEEP, 0, 10),
      WAIT(70, CTRACE_WAIT_COND, 0xb0, 10), /* starts where the sleep ended */
  };
  struct seq q;
  ASSERT_EQ(RUN(evs, 0, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "running 0-5 | sync 5-10 | running 10-17 | io 17-20 | running 20-28 | "
                     "poll 28-30 | running 30-34 | net 34-35 | running 35-41 | syscall 41-45 | "
                     "running 45-50 | sleep 50-60 | sync 60-70 | running 70-100");
  return 0;
}

TEST_IMPL(states_call_in_progress_at_end) {
  /* a socket call that began at 60 and had not returned at stop (90) */
  ctrace_event evs[] = {
      WAIT(10, CTRACE_WAIT_MUTEX, 0xa0, 5),
      PENDING(90, 0, CTRACE_CALL_recv, CTRACE_SC_NET, 30),
  };
  struct seq q;
  ASSERT_EQ(RUN(evs, 0, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "running 0-5 | sync 5-10 | running 10-60 | net 60-100*");

  /* a wait (reason != 0) in progress: the span runs to the trace's end */
  ctrace_event w[] = {
      PENDING(40, CTRACE_WAIT_COND, 0, 0, 25),
  };
  ASSERT_EQ(RUN(w, 0, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "running 0-15 | sync 15-100*");

  /* a call that returned after all: the PENDING before it is stale */
  ctrace_event r[] = {
      PENDING(40, 0, CTRACE_CALL_read, CTRACE_SC_FILE, 10),
      SYSCALL(50, CTRACE_CALL_read, CTRACE_SC_FILE, 20),
  };
  ASSERT_EQ(RUN(r, 0, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "running 0-30 | io 30-50 | running 50-100");

  /* the state machine's span carries the call for the views */
  struct ctrace_states m;
  ctrace_event p = PENDING(90, 0, CTRACE_CALL_accept, CTRACE_SC_NET, 5);
  struct seq q2;
  memset(&q2, 0, sizeof q2);
  ctrace_states_init(&m, 0, NULL, NULL, on_span, &q2);
  ctrace_states_event(&m, &p);
  ASSERT_EQ(m.pending, 1);
  ASSERT_UINT_EQ(m.pend.call, CTRACE_CALL_accept);
  ASSERT_UINT_EQ(m.pend.stack, 9);
  ASSERT_EQ(m.pend.state, CTRACE_ST_NET);
  ASSERT_EQ(ctrace_states_finish(&m, 120), 120);
  ASSERT_STR_EQ(q2.s, "running 0-85 | net 85-120*");
  return 0;
}

TEST_IMPL(states_names_set_from_another_thread) {
  /* THREAD_NAME naming another thread, regions, logs, tasks and wake-ups of
   * other threads change nothing on this one */
  ctrace_event evs[] = {
      ev(CTRACE_EV_THREAD_NAME, 5, 2, (uint64_t)8, (uint64_t)3),
      ev(CTRACE_EV_REGION_BEGIN, 6, 3, (uint64_t)0, (uint64_t)4, (uint64_t)0),
      ev(CTRACE_EV_WAKE, 7, 4, (uint64_t)8, (uint64_t)0xa0, (uint64_t)1, (uint64_t)0),
      ev(CTRACE_EV_THREAD_NAME, 8, 2, (uint64_t)7, (uint64_t)5),
      ev(CTRACE_EV_REGION_END, 9, 0),
      WAIT(20, CTRACE_WAIT_JOIN, 8, 10),
      ev(CTRACE_EV_THREAD_NAME, 25, 2, (uint64_t)9, (uint64_t)6),
  };
  struct seq q;
  ASSERT_EQ(RUN(evs, 5, 40, &q), 40);
  ASSERT_STR_EQ(q.s, "running 5-10 | sync 10-20 | running 20-40");
  return 0;
}

TEST_IMPL(states_nested_and_overlapping_waits) {
  ctrace_event evs[] = {
      /* a mutex wait inside a poll: the inner one is recorded first */
      WAIT(5, CTRACE_WAIT_MUTEX, 0xa0, 3),
      SYSCALL(10, CTRACE_CALL_poll, CTRACE_SC_POLL, 10),
      /* overlaps the poll (skewed clocks): starts where it ended */
      WAIT(12, CTRACE_WAIT_COND, 0xb0, 4),
      /* no duration: reported, empty */
      WAIT(12, CTRACE_WAIT_SEM, 0xc0, 0),
      /* entirely inside what came before: empty at its end */
      WAIT(12, CTRACE_WAIT_MUTEX, 0xa0, 1),
      SYSCALL(20, CTRACE_CALL_write, CTRACE_SC_FILE, 2),
  };
  struct seq q;
  ASSERT_EQ(RUN(evs, 0, 30, &q), 30);
  ASSERT_STR_EQ(q.s, "running 0-2 | sync 2-5 | poll 5-10 | sync 10-12 | sync 12-12 | "
                     "sync 12-12 | running 12-18 | io 18-20 | running 20-30");
  return 0;
}

TEST_IMPL(states_events_after_thread_exit) {
  ctrace_event evs[] = {
      WAIT(10, CTRACE_WAIT_MUTEX, 0xa0, 5),
      ev(CTRACE_EV_THREAD_EXIT, 20, 0),
      /* a destructor's events after the exit: outside the thread's life */
      WAIT(30, CTRACE_WAIT_MUTEX, 0xa0, 5),
      PENDING(40, 0, CTRACE_CALL_read, CTRACE_SC_FILE, 5),
  };
  struct seq q;
  ASSERT_EQ(RUN(evs, 0, 100, &q), 20);
  ASSERT_STR_EQ(q.s, "running 0-5 | sync 5-10 | running 10-20");

  /* an exit at the very start */
  ctrace_event e[] = {ev(CTRACE_EV_THREAD_EXIT, 3, 0)};
  ASSERT_EQ(RUN(e, 3, 100, &q), 3);
  ASSERT_STR_EQ(q.s, "");
  return 0;
}

TEST_IMPL(states_wait_before_first_event) {
  /* the thread existed before the trace saw it: its first event is a wait
   * that began earlier; the span (and the thread's begin) go back to where
   * the wait began; a later call still starts no earlier than the span
   * before it */
  ctrace_event evs[] = {
      WAIT(110, CTRACE_WAIT_MUTEX, 0xa0, 50),
      /* a duration longer than the time since tick 0 (corrupt) */
      SYSCALL(130, CTRACE_CALL_read, CTRACE_SC_FILE, 1000),
  };
  struct seq q;
  struct ctrace_states m;
  memset(&q, 0, sizeof q);
  ctrace_states_init(&m, 110, NULL, NULL, on_span, &q);
  for (size_t i = 0; i < 2; i++)
    ctrace_states_event(&m, &evs[i]);
  ASSERT_EQ(ctrace_states_finish(&m, 200), 200);
  ASSERT_EQ(ctrace_states_begin(&m), 60);
  ASSERT_STR_EQ(q.s, "sync 60-110 | io 110-130 | running 130-200");
  /* a first call that began before the trace (time 0): clipped to 0 and
   * flagged; the same for a corrupt duration */
  ctrace_event before[] = {WAIT(30, CTRACE_WAIT_COND, 0xb0, 50)};
  ASSERT_EQ(RUN(before, 30, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "^sync 0-30 | running 30-100");
  ctrace_event corrupt[] = {SYSCALL(40, CTRACE_CALL_read, CTRACE_SC_FILE, 1000)};
  ASSERT_EQ(RUN(corrupt, 40, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "^io 0-40 | running 40-100");
  /* only the first event: a call after a region starts no earlier than
   * the thread's first event */
  ctrace_event later[] = {ev(CTRACE_EV_REGION_BEGIN, 20, 3, (uint64_t)0, (uint64_t)1, (uint64_t)0),
                          WAIT(30, CTRACE_WAIT_COND, 0xb0, 50)};
  ASSERT_EQ(RUN(later, 20, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "sync 20-30 | running 30-100");
  /* a thread blocked from before the trace to its end (PENDING alone) */
  ctrace_event pend[] = {PENDING(90, CTRACE_WAIT_COND, 0, 0, 200)};
  ASSERT_EQ(RUN(pend, 90, 100, &q), 100);
  ASSERT_STR_EQ(q.s, "^sync 0-100*");
  return 0;
}

TEST_IMPL(states_table_names_and_reporting) {
  /* the seven states of the HTTP API are always reported, in their codes */
  static const char *const api[] = {"running", "sync", "net", "io", "poll", "sleep", "syscall"};
  for (unsigned s = 0; s < 7; s++) {
    ASSERT_STR_EQ(ctrace_state_name(s), api[s]);
    ASSERT_EQ(ctrace_state_reported(s), 1);
  }
  ASSERT_EQ(CTRACE_ST_COUNT, 10);
  ASSERT_STR_EQ(ctrace_state_name(CTRACE_ST_RUNNABLE), "runnable");
  ASSERT_STR_EQ(ctrace_state_name(CTRACE_ST_BLOCKED_NOT_INTERPOSED), "blocked_other");
  ASSERT_STR_EQ(ctrace_state_name(CTRACE_ST_NOT_RECORDED), "not_recorded");
  ASSERT_STR_EQ(ctrace_state_name(CTRACE_ST_OUTSIDE), "outside");
  for (unsigned s = 7; s < CTRACE_ST_COUNT; s++)
    ASSERT_EQ(ctrace_state_reported(s), 0);
  for (unsigned a = 0; a < CTRACE_ST_COUNT; a++)
    for (unsigned b = a + 1; b < CTRACE_ST_COUNT; b++)
      ASSERT(strcmp(ctrace_state_name(a), ctrace_state_name(b)) != 0);
  ASSERT_EQ(ctrace_state_of_wait(CTRACE_WAIT_SLEEP), CTRACE_ST_SLEEP);
  ASSERT_EQ(ctrace_state_of_wait(CTRACE_WAIT_BARRIER), CTRACE_ST_SYNC);
  ASSERT_EQ(ctrace_state_of_syscall(CTRACE_SC_OTHER), CTRACE_ST_SYSCALL);
  ASSERT_EQ(ctrace_state_of_syscall(77), CTRACE_ST_SYSCALL);
  return 0;
}

TEST_IMPL(states_typed_fields_match_kind_table) {
  /* the C field names of every kind are the table's (less "s:" and the blob) */
  for (unsigned k = 0; k < 256; k++) {
    const struct ctrace_kind_info *ki = &ctrace__kinds[k];
    const char *names = ctrace__kind_field_names(k);
    if (!ki->name) {
      ASSERT(names == NULL);
      continue;
    }
    ASSERT(names != NULL);
    char want[256];
    size_t n = 0;
    for (const char *p = ki->fields; *p && *p != '|' && n + 1 < sizeof want; p++) {
      if (p[0] == 's' && p[1] == ':' && (p == ki->fields || p[-1] == ' ')) {
        p++;
        continue;
      }
      want[n++] = *p;
    }
    while (n && want[n - 1] == ' ')
      n--;
    want[n] = 0;
    ASSERT_STR_EQ(names, want);
  }
  /* decoding: positions, zigzag, missing fields read 0 */
  ctrace_event e = ev(CTRACE_EV_SYSCALL, 1, 6, (uint64_t)1, (uint64_t)2, (uint64_t)3,
                      ctrace__zigzag(-11), (uint64_t)5, (uint64_t)6);
  struct ctrace_ev_syscall c = CTRACE_EV(syscall, &e);
  ASSERT_UINT_EQ(c.call, 1);
  ASSERT_UINT_EQ(c.class, 2);
  ASSERT_UINT_EQ(c.fd, 3);
  ASSERT_EQ(c.result, -11);
  ASSERT_UINT_EQ(c.dur, 5);
  ASSERT_UINT_EQ(c.stack, 6);
  e.nfields = 2;
  c = CTRACE_EV(syscall, &e);
  ASSERT_UINT_EQ(c.class, 2);
  ASSERT_UINT_EQ(c.fd, 0);
  ASSERT_UINT_EQ(c.stack, 0);
  return 0;
}

/* ---- a call in progress at the end, through the consumers ---- */

TEST_IMPL(states_pending_in_timeline_profile_and_chrome) {
  /* ticks are ns (flag clear); the trace starts at 1000 (its clock sync).
   * Thread 7 waits on a mutex over [1400, 1500], then is in recv from 1700
   * when the trace stops (PENDING at 2000); thread 8 names it and runs to
   * 3000, the trace's end. */
  static struct buf file, meta, t7, t8;
  memset(&file, 0, sizeof file);
  uint8_t fh[32] = {0};
  memcpy(fh, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN);
  fh[8] = CTRACE_FORMAT_MAJOR; /* version 1.0: 32-byte header, no checksums */
  fh[12] = 32;
  ctrace__put_le32(fh + 20, 42);
  put(&file, fh, 32);
  put_ev(&meta, CTRACE_EV_CLOCK_SYNC, 0, 3, (uint64_t[]){1000, 1000, 5000}, NULL);
  put_ev(&meta, CTRACE_EV_STRING, 0, 1, (uint64_t[]){1}, "worker");
  put_batch(&file, 0, 0, &meta);
  put_ev(&t7, CTRACE_EV_THREAD_START, 0, 1, (uint64_t[]){0}, NULL);
  put_ev(&t7, CTRACE_EV_WAIT, 500, 4, (uint64_t[]){CTRACE_WAIT_MUTEX, 0xa0, 100, 0}, NULL);
  put_ev(&t7, CTRACE_EV_PENDING, 500, 6,
         (uint64_t[]){0, CTRACE_CALL_recv, CTRACE_SC_NET, 0, 300, 0}, NULL);
  put_batch(&file, 7, 1000, &t7);
  put_ev(&t8, CTRACE_EV_THREAD_START, 0, 1, (uint64_t[]){0}, NULL);
  put_ev(&t8, CTRACE_EV_THREAD_NAME, 100, 2, (uint64_t[]){7, 1}, NULL);
  put_ev(&t8, CTRACE_EV_REGION_BEGIN, 1900, 3, (uint64_t[]){0, 1, 0}, NULL);
  put_batch(&file, 8, 1000, &t8);

  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open_mem(file.b, file.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  int64_t end = ctrace_reader_ns(r, ctrace_reader_last_ticks(r));
  ASSERT_EQ(end, 2000);

  /* the timeline: net from 700 to the end, flagged */
  struct ctrace_timeline *tl;
  ASSERT_EQ(ctrace_timeline_build(r, NULL, NULL, &tl), 0);
  int64_t th = ctrace_timeline_thread(tl, 7);
  ASSERT_GE(th, 0);
  int64_t s, e;
  unsigned st;
  ASSERT_EQ(ctrace_timeline_span_at(tl, (uint32_t)th, 1000, &s, &e, &st), 0);
  ASSERT_EQ(st, CTRACE_ST_NET);
  ASSERT_EQ(s, 700);
  ASSERT_EQ(e, 2000);
  ASSERT_EQ(tl->threads[th].at_end_ns, 700);
  ASSERT_UINT_EQ(tl->threads[th].state_ns[CTRACE_ST_NET], 1300);
  ASSERT_UINT_EQ(tl->threads[th].state_ns[CTRACE_ST_SYNC], 100);
  ASSERT_UINT_EQ(tl->threads[th].state_ns[CTRACE_ST_RUNNING], 600);
  int64_t th8 = ctrace_timeline_thread(tl, 8);
  ASSERT_EQ(tl->threads[th8].at_end_ns, INT64_MAX);
  ctrace_timeline_free(tl);

  /* the network profile counts it up to the end */
  struct ctrace_profile p;
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_NET, INT64_MIN, INT64_MAX, 0, &p), 0);
  ASSERT_UINT_EQ(p.total_ns, 1300);
  ctrace_profile_free(&p);

  /* the Chrome export shows it as an unfinished recv */
  char *json = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&json, &len);
  ASSERT(f != NULL);
  ASSERT_EQ(ctrace_chrome_write(r, NULL, f), 0);
  fclose(f);
  ASSERT_STR_CONTAINS(json, "\"name\":\"recv\",\"cat\":\"net\",\"ts\":0.700");
  ASSERT_STR_CONTAINS(json, "\"dur\":1.300,\"args\":{\"unfinished\":true}");
  free(json);

  /* the HTTP API: its states, and the span's details */
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, "mem", NULL, NULL), 0);
  struct ctrace_reply out;
  const char *none[] = {NULL};
  ctrace_api_handle(&v, "/api/threads", param, (void *)none, &out);
  ASSERT_EQ(out.status, 200);
  /* named from thread 8; its life is [0, 2000]: the states sum to it */
  ASSERT_STR_CONTAINS(out.body, "\"tid\":7,\"name\":\"worker\",\"total_ns\":2000,");
  ASSERT_STR_CONTAINS(out.body, "\"states\":{\"running\":600,\"sync\":100,\"net\":1300,\"io\":0,"
                                "\"poll\":0,\"sleep\":0,\"syscall\":0}");
  free(out.body);
  const char *q[] = {"kind=span", "tid=7", "ns=1000", NULL};
  ctrace_api_handle(&v, "/api/event", param, (void *)q, &out);
  ASSERT_EQ(out.status, 200);
  ASSERT_STR_CONTAINS(out.body, "\"state\":\"net\",\"start_ns\":700,\"end_ns\":2000");
  ASSERT_STR_CONTAINS(out.body, "\"in_progress_at_end\":true");
  ASSERT_STR_CONTAINS(out.body, "\"event\":\"PENDING\"");
  ASSERT_STR_CONTAINS(out.body, "\"call\":\"recv\",\"class\":\"net\"");
  free(out.body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}
