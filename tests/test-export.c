/*
 * test-export.c - blocking profiles (src/analyze/profile.c), the pprof
 * encoding checked by real consumers (protoc --decode_raw, go tool pprof),
 * the Chrome trace JSON checked by python3's json module, and the `ctrace
 * export` / `ctrace profile` commands.
 *
 * The traces are recorded by this process through the recorder's internals:
 * make_trace() emits WAIT / SYSCALL / WAKE events with measured durations and
 * stacks from known functions, as the preload library does.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "../src/analyze/chrome.h"
#include "../src/analyze/pprof.h"
#include "../src/analyze/profile.h"
#include "../src/read/reader.h"
#include "../src/read/symbolize.h"
#include "../src/record/record.h"
#include "ctrace.h"
#include "task.h"

/* ---- the trace ---- */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Emits a WAIT (kind CTRACE_EV_WAIT: a = reason) or SYSCALL (a = call, b =
 * class) that began at t0 and ends now. The stack starts at this function's
 * return address, inside the caller (a "site" below). */
static __attribute__((noinline)) void emit_blocking(uint8_t kind, uint64_t a, uint64_t b,
                                                    uint64_t t0, int with_stack) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint32_t stack = with_stack ? ctrace__stack_here(t, __builtin_frame_address(0)) : 0;
  uint64_t now = ctrace__now();
  uint8_t *p = ctrace__ev(t, kind, now);
  if (kind == CTRACE_EV_WAIT) {
    p = ctrace__put_uvarint(p, a);
    p = ctrace__put_uvarint(p, 0x1234); /* object */
    p = ctrace__put_uvarint(p, now - t0);
    p = ctrace__put_uvarint(p, stack);
  } else {
    p = ctrace__put_uvarint(p, a);
    p = ctrace__put_uvarint(p, b);
    p = ctrace__put_uvarint(p, 3); /* fd */
    p = ctrace__put_uvarint(p, ctrace__zigzag(100));
    p = ctrace__put_uvarint(p, now - t0);
    p = ctrace__put_uvarint(p, stack);
  }
  ctrace__leave(t, p);
}

static __attribute__((noinline)) void emit_wake(uint32_t tid) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_WAKE, ctrace__now());
  p = ctrace__put_uvarint(p, tid);
  p = ctrace__put_uvarint(p, 0x1234);
  p = ctrace__put_uvarint(p, CTRACE_WAIT_MUTEX);
  p = ctrace__put_uvarint(p, 0);
  ctrace__leave(t, p);
}

/* The sites: one function per kind of blocking, named in the assertions.
 * The empty asm keeps the call from becoming a tail call (which would put
 * the return address in the site's caller). */
#define SITE(fn, ms, kind, a, b, stack)                                        \
  static __attribute__((noinline)) void fn(void) {                             \
    uint64_t t0 = ctrace__now();                                               \
    sleep_ms(ms);                                                              \
    emit_blocking(kind, a, b, t0, stack);                                      \
    __asm__ volatile("");                                                      \
  }
SITE(export_site_mutex, 30, CTRACE_EV_WAIT, CTRACE_WAIT_MUTEX, 0, 1)
SITE(export_site_nostack, 5, CTRACE_EV_WAIT, CTRACE_WAIT_COND, 0, 0)
SITE(export_site_sleep, 10, CTRACE_EV_WAIT, CTRACE_WAIT_SLEEP, 0, 1)
SITE(export_site_recv, 8, CTRACE_EV_SYSCALL, CTRACE_CALL_recv, CTRACE_SC_NET, 1)
SITE(export_site_read, 6, CTRACE_EV_SYSCALL, CTRACE_CALL_read, CTRACE_SC_FILE, 1)

struct waker {
  uint32_t main_tid;
  ctrace_task_t task;
};

static void *waker_main(void *arg) {
  struct waker *w = arg;
  ctrace_thread_set_name("export-waker");
  ctrace_region_begin("wake-region");
  sleep_ms(2);
  emit_wake(w->main_tid);
  ctrace_region_end();
  ctrace_task_end(w->task); /* the task ends on another thread */
  return NULL;
}

/* Records the test trace at test_path(name); returns the path. The main
 * thread "export-main" blocks 30 ms on a mutex (export_site_mutex), 5 ms
 * on a condition variable without a stack, sleeps 10 ms
 * (export_site_sleep), 8 ms in recv (export_site_recv), 6 ms in read
 * (export_site_read); a second thread wakes it. */
static const char *make_trace(const char *name) {
  const char *path = test_path(name);
  if (ctrace_start_path(path) != 0)
    TEST_FAIL_("ctrace_start_path(%s) failed", path);
  ctrace_thread_set_name("export-main");
  ctrace_task_t task = ctrace_task_begin(0, "request");
  ctrace_region_begin("handle");
  ctrace_log_str(CTRACE_TASK_CURRENT, "http", "GET /index.html");
  export_site_mutex();
  export_site_nostack();
  export_site_sleep();
  export_site_recv();
  export_site_read();
  ctrace_region_end();
  struct waker w = {ctrace__gettid(), task};
  pthread_t th;
  ASSERT_EQ(ctrace_pthread_create(&th, NULL, waker_main, &w), 0);
  uint64_t t0 = ctrace__now();
  pthread_join(th, NULL);
  emit_blocking(CTRACE_EV_WAIT, CTRACE_WAIT_JOIN, 0, t0, 1);
  ASSERT_EQ(ctrace_stop(), 0);
  return path;
}

static ctrace_reader *open_trace(const char *path) {
  char err[CTRACE_READ_ERRLEN];
  ctrace_reader *r = NULL;
  if (ctrace_reader_open(path, &r, err, sizeof err) != 0)
    TEST_FAIL_("open %s: %s", path, err);
  return r;
}

/* The function of the innermost frame of stack id. */
static const char *top_function(const ctrace_reader *r, ctrace_symbolizer *sym, uint32_t stack) {
  const uint64_t *pcs;
  if (ctrace_reader_stack(r, stack, &pcs) == 0)
    return "(none)";
  struct ctrace_frame f;
  ctrace_sym_lookup(sym, pcs[0], 1, &f);
  return f.function;
}

#define MS 1000000ll

/* ---- profiles ---- */

TEST_IMPL(export_profile_kinds) {
  enum ctrace_profile_kind k;
  static const char *names[] = {"sync", "net", "syscall", "sleep"};
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(ctrace_profile_kind_parse(names[i], &k), 0);
    ASSERT_STR_EQ(ctrace_profile_kind_name(k), names[i]);
  }
  ASSERT_EQ(ctrace_profile_kind_parse("cpu", &k), -1);
  ASSERT_EQ(ctrace_profile_kind_parse("", &k), -1);
  ASSERT_STR_EQ(ctrace_profile_kind_name((enum ctrace_profile_kind)99), "?");
  return 0;
}

TEST_IMPL(export_profile_sync_by_stack) {
  ctrace_reader *r = open_trace(make_trace("p.ct"));
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  struct ctrace_profile p;
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, INT64_MIN, INT64_MAX, 0, &p), 0);
  /* mutex (30 ms), the join, and the stackless cond wait (5 ms). */
  ASSERT_EQ(p.n, 3);
  ASSERT_STR_EQ(top_function(r, sym, p.v[0].stack), "export_site_mutex");
  ASSERT_EQ(p.v[0].count, 1);
  ASSERT_GE(p.v[0].total_ns, 30 * MS);
  ASSERT_LT(p.v[0].total_ns, 2000 * MS);
  uint64_t sum = 0;
  int unknown = 0;
  for (size_t i = 0; i < p.n; i++) {
    sum += p.v[i].total_ns;
    if (i)
      ASSERT_GE(p.v[i - 1].total_ns, p.v[i].total_ns);
    if (p.v[i].stack == 0) {
      unknown = 1;
      ASSERT_GE(p.v[i].total_ns, 5 * MS);
    }
  }
  ASSERT(unknown);
  ASSERT_UINT_EQ(sum, p.total_ns);
  ctrace_profile_free(&p);

  static const struct {
    enum ctrace_profile_kind kind;
    const char *fn;
    int64_t ms;
  } one[] = {{CTRACE_PROFILE_SLEEP, "export_site_sleep", 10},
             {CTRACE_PROFILE_NET, "export_site_recv", 8},
             {CTRACE_PROFILE_SYSCALL, "export_site_read", 6}};
  for (size_t i = 0; i < 3; i++) {
    ASSERT_EQ(ctrace_profile_build(r, one[i].kind, INT64_MIN, INT64_MAX, 0, &p), 0);
    ASSERT_EQ(p.n, 1);
    ASSERT_STR_EQ(top_function(r, sym, p.v[0].stack), one[i].fn);
    ASSERT_EQ(p.v[0].count, 1);
    ASSERT_GE(p.v[0].total_ns, one[i].ms * MS);
    ASSERT_LT(p.v[0].total_ns, 2000 * MS);
    ctrace_profile_free(&p);
  }
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  return 0;
}

/* The end (ns) and duration (ns) of the first WAIT with reason. */
static void find_wait(const ctrace_reader *r, uint64_t reason, int64_t *end, int64_t *dur) {
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  while (ctrace_merge_next(m, &ev))
    if (ev.kind == CTRACE_EV_WAIT && ev.f[0] == reason) {
      *end = ctrace_reader_ns(r, ev.ticks);
      *dur = *end - ctrace_reader_ns(r, ev.ticks - ev.f[2]);
      ctrace_merge_free(m);
      return;
    }
  TEST_FAIL_("no WAIT with reason %d", (int)reason);
}

TEST_IMPL(export_profile_window_and_thread) {
  ctrace_reader *r = open_trace(make_trace("w.ct"));
  int64_t end, dur;
  find_wait(r, CTRACE_WAIT_MUTEX, &end, &dur);
  ASSERT_GE(dur, 30 * MS);
  struct ctrace_profile p;
  /* The last 10 ms of the mutex wait only. */
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, end - 10 * MS, end, 0, &p), 0);
  ASSERT_EQ(p.n, 1);
  ASSERT_EQ(p.v[0].count, 1);
  ASSERT_EQ(p.v[0].total_ns, 10 * MS);
  ctrace_profile_free(&p);
  /* The first 1 ms, and a window that only touches its end: nothing. */
  int64_t begin = end - dur;
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, begin - 5 * MS, begin + MS, 0, &p), 0);
  ASSERT_EQ(p.n, 1);
  ASSERT_EQ(p.v[0].total_ns, MS);
  ctrace_profile_free(&p);
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, end, end + MS, 0, &p), 0);
  for (size_t i = 0; i < p.n; i++) /* only the waits after it (cond, join) */
    ASSERT_GT(p.v[i].total_ns, 0);
  ASSERT_LE(p.n, 2);
  ctrace_profile_free(&p);
  /* By thread: the waker thread never blocked; the main thread did. */
  uint32_t waker = 0, main_tid = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    char name[64];
    ctrace_reader_strcpy(r, th->name, name, sizeof name);
    if (strcmp(name, "export-waker") == 0)
      waker = th->tid;
    if (strcmp(name, "export-main") == 0)
      main_tid = th->tid;
  }
  ASSERT_NE(waker, 0);
  ASSERT_NE(main_tid, 0);
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, INT64_MIN, INT64_MAX, waker, &p), 0);
  ASSERT_EQ(p.n, 0);
  ASSERT_EQ(p.total_ns, 0);
  ctrace_profile_free(&p);
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, INT64_MIN, INT64_MAX, main_tid, &p), 0);
  ASSERT_EQ(p.n, 3);
  ctrace_profile_free(&p);
  ctrace_reader_close(r);
  return 0;
}

/* ---- pprof ---- */

/* Writes the pprof of kind for trace to path. */
static void write_pprof(const char *trace, enum ctrace_profile_kind kind, const char *path) {
  ctrace_reader *r = open_trace(trace);
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  struct ctrace_profile p;
  ASSERT_EQ(ctrace_profile_build(r, kind, INT64_MIN, INT64_MAX, 0, &p), 0);
  uint8_t *out;
  size_t len;
  ASSERT_EQ(ctrace_pprof_write(r, sym, &p, kind, &out, &len), 0);
  ASSERT_GT(len, 20);
  ASSERT_EQ(out[0], 0x1f); /* gzip */
  ASSERT_EQ(out[1], 0x8b);
  ASSERT_EQ(test_write_file(path, out, len), 0);
  free(out);
  ctrace_profile_free(&p);
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
}

TEST_IMPL(export_pprof_decodes_with_protoc) {
  if (access("/usr/bin/protoc", X_OK) != 0)
    RETURN_SKIP("protoc not installed (Debian: protobuf-compiler)");
  const char *pb = test_path("sync.pb.gz");
  write_pprof(make_trace("t.ct"), CTRACE_PROFILE_SYNC, pb);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "gzip -dc '%s' | /usr/bin/protoc --decode_raw", pb);
  char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  char *out = NULL, *err = NULL;
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0)
    TEST_FAIL_("protoc exit %d: %s", st, err ? err : "");
  ASSERT_STR_CONTAINS(out, "\"contentions\"");
  ASSERT_STR_CONTAINS(out, "\"delay\"");
  ASSERT_STR_CONTAINS(out, "\"nanoseconds\"");
  ASSERT_STR_CONTAINS(out, "\"export_site_mutex\"");
  ASSERT_STR_CONTAINS(out, "\"(unknown stack)\"");
  ASSERT_STR_CONTAINS(out, "test-export.c");
  ASSERT_STR_CONTAINS(out, "ctrace-tests"); /* a mapping's file */
  free(out);
  free(err);
  return 0;
}

TEST_IMPL(export_pprof_reads_in_go_tool_pprof) {
  if (access("/usr/bin/go", X_OK) != 0)
    RETURN_SKIP("go not installed (Debian: golang-go)");
  const char *pb = test_path("sync.pb.gz");
  write_pprof(make_trace("t.ct"), CTRACE_PROFILE_SYNC, pb);
  char cmd[8192];
  /* HOME and GOCACHE in the test's directory: go wants a writable cache. */
  snprintf(cmd, sizeof cmd,
           "HOME='%s' GOCACHE='%s/gocache' GOFLAGS=-mod=mod /usr/bin/go tool pprof -top "
           "-sample_index=delay '%s'",
           test_tmpdir(), test_tmpdir(), pb);
  char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  char *out = NULL, *err = NULL;
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0)
    TEST_FAIL_("go tool pprof exit %d: %s", st, err ? err : "");
  ASSERT_STR_CONTAINS(out, "export_site_mutex");
  ASSERT_STR_CONTAINS(out, "(unknown stack)");
  ASSERT_STR_CONTAINS(out, "Type: delay");
  free(out);
  free(err);
  return 0;
}
