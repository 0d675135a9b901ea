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
#include <stdarg.h>
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
  uint8_t *p = ctrace__ev_span(t, kind, now, now - t0);
  if (kind == CTRACE_EV_WAIT) {
    p = ctrace__put_uvarint(p, a);
    /* object; a sleep's is the time asked for (1.2): unknown here */
    p = ctrace__put_object(t, p, a == CTRACE_WAIT_SLEEP ? 0 : 0x1234);
    p = ctrace__put_uvarint(p, now - t0);
    p = ctrace__put_uvarint(p, stack);
  } else {
    p = ctrace__put_uvarint(p, a);
    p = ctrace__put_uvarint(p, b);
    p = ctrace__put_uvarint(p, 3); /* fd */
    p = ctrace__put_result(t, p, 100);
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
  p = ctrace__put_wake_tid(t, p, tid);
  p = ctrace__put_object(t, p, 0x1234);
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
SITE(export_site_poll, 4, CTRACE_EV_SYSCALL, CTRACE_CALL_epoll_wait, CTRACE_SC_POLL, 1)

/* One stack, the call given: a loop over two calls blocks at one stack. */
static __attribute__((noinline)) void export_site_either(uint64_t call) {
  uint64_t t0 = ctrace__now();
  sleep_ms(1);
  emit_blocking(CTRACE_EV_SYSCALL, call, CTRACE_SC_FILE, t0, 1);
  __asm__ volatile("");
}

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
  static const char *names[] = {"sync", "net", "syscall", "sleep", "poll", "cpu"};
  for (int i = 0; i < CTRACE_PROFILE_NKINDS; i++) {
    ASSERT_EQ(ctrace_profile_kind_parse(names[i], &k), 0);
    ASSERT_STR_EQ(ctrace_profile_kind_name(k), names[i]);
  }
  ASSERT_EQ(ctrace_profile_kind_parse("gpu", &k), -1);
  ASSERT_EQ(ctrace_profile_kind_parse("", &k), -1);
  ASSERT_STR_EQ(ctrace_profile_kind_name((enum ctrace_profile_kind)99), "?");
  return 0;
}

TEST_IMPL(export_profile_sync_by_stack) {
  ctrace_reader *r = open_trace(make_trace("p.ct"));
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  struct ctrace_profile p;
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, INT64_MIN, INT64_MAX, 0, &p), 0);
  /* mutex (30 ms), the join (in make_trace; its length depends on the
   * machine's load), and the stackless cond wait (5 ms). */
  ASSERT_EQ(p.n, 3);
  uint64_t sum = 0;
  int unknown = 0, mutex = 0;
  for (size_t i = 0; i < p.n; i++) {
    sum += p.v[i].total_ns;
    if (i)
      ASSERT_GE(p.v[i - 1].total_ns, p.v[i].total_ns);
    ASSERT_EQ(p.v[i].count, 1);
    if (p.v[i].stack == 0) {
      unknown = 1;
      ASSERT_GE(p.v[i].total_ns, 5 * MS);
    } else if (strcmp(top_function(r, sym, p.v[i].stack), "export_site_mutex") == 0) {
      mutex = 1;
      ASSERT_GE(p.v[i].total_ns, 30 * MS);
      ASSERT_LT(p.v[i].total_ns, 2000 * MS);
    } else {
      ASSERT_STR_EQ(top_function(r, sym, p.v[i].stack), "make_trace");
    }
  }
  ASSERT(unknown);
  ASSERT(mutex);
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

/* Polling is its own kind; each entry names the call its threads were
 * blocked in (one stack blocked in two calls is two entries); the idle
 * waits (condition variables) can be left out. */
TEST_IMPL(export_profile_poll_calls_and_idle) {
  const char *path = test_path("calls.ct");
  ASSERT_EQ(ctrace_start_path(path), 0);
  export_site_mutex();
  export_site_nostack();
  export_site_poll();
  export_site_read();
  volatile int two = 2; /* a loop the compiler cannot unroll: one call site */
  for (int i = 0; i < two; i++)
    export_site_either(i ? CTRACE_CALL_write : CTRACE_CALL_fsync);
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(path);
  struct ctrace_profile p;
  char call[32];
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_POLL, INT64_MIN, INT64_MAX, 0, &p), 0);
  ASSERT_EQ(p.n, 1);
  ASSERT_STR_EQ(ctrace_profile_call_name(&p.v[0], call, sizeof call), "epoll_wait");
  ASSERT_STR_EQ(ctrace_profile_call_frame(&p.v[0], call, sizeof call), "[epoll_wait]");
  ASSERT_GE(p.v[0].total_ns, 4 * MS);
  ctrace_profile_free(&p);
  /* syscall: read, and the one stack's fsync and write apart; no poll */
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYSCALL, INT64_MIN, INT64_MAX, 0, &p), 0);
  ASSERT_EQ(p.n, 3);
  uint32_t either_stack = 0;
  int seen = 0;
  for (size_t i = 0; i < p.n; i++) {
    const char *c = ctrace_profile_call_name(&p.v[i], call, sizeof call);
    ASSERT(strcmp(c, "epoll_wait") != 0);
    if (strcmp(c, "write") == 0 || strcmp(c, "fsync") == 0) {
      ASSERT(!either_stack || either_stack == p.v[i].stack);
      either_stack = p.v[i].stack;
      seen++;
    }
  }
  ASSERT_EQ(seen, 2);
  ctrace_profile_free(&p);
  /* sync: the mutex and the condvar; without idle waits, the mutex */
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, INT64_MIN, INT64_MAX, 0, &p), 0);
  ASSERT_EQ(p.n, 2);
  uint64_t all = p.total_ns, cond = 0;
  for (size_t i = 0; i < p.n; i++)
    if (strcmp(ctrace_profile_call_name(&p.v[i], call, sizeof call), "cond") == 0)
      cond = p.v[i].total_ns;
  ASSERT_GE(cond, 5 * MS);
  ctrace_profile_free(&p);
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC | CTRACE_PROFILE_NO_IDLE, INT64_MIN,
                                 INT64_MAX, 0, &p),
            0);
  ASSERT_EQ(p.n, 1);
  ASSERT_STR_EQ(ctrace_profile_call_name(&p.v[0], call, sizeof call), "mutex");
  ASSERT_UINT_EQ(p.total_ns, all - cond);
  ASSERT_STR_EQ(ctrace_profile_kind_name(CTRACE_PROFILE_SYNC | CTRACE_PROFILE_NO_IDLE), "sync");
  ctrace_profile_free(&p);
  /* the command's table: the call innermost, in brackets */
  char *out = NULL;
  char *argv[] = {(char *)test_build_path("ctrace"), "profile", "--kind", "poll", "--kind", "sync",
                  "--no-idle", (char *)path, NULL};
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "[epoll_wait]");
  ASSERT_STR_CONTAINS(out, "[mutex]");
  ASSERT(!strstr(out, "[cond]"));
  free(out);
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

/* ---- Chrome trace JSON ---- */

/* Checks a Chrome trace JSON file with python3's json module: argv[1] the
 * file. Prints "ok" or what is wrong. */
static const char chrome_check_py[] =
    "import json, re, sys\n"
    "text = open(sys.argv[1], encoding='utf-8').read()\n"
    "d = json.loads(text)\n"
    "ev = d['traceEvents']\n"
    "def one(**kw):\n"
    "    m = [e for e in ev if all(e.get(k) == v for k, v in kw.items())]\n"
    "    assert len(m) == 1, ('want one', kw, len(m))\n"
    "    return m[0]\n"
    "names = {e['args']['name']: e['tid'] for e in ev\n"
    "         if e['ph'] == 'M' and e['name'] == 'thread_name'}\n"
    "main, waker = names['export-main'], names['export-waker']\n"
    "w = one(ph='X', name='mutex wait')\n"
    "assert w['tid'] == main and w['cat'] == 'sync', w\n"
    "assert 30000 <= w['dur'] < 2000000, w\n"
    "assert w['args']['stack'][0].startswith('export_site_mutex ('), w\n"
    "assert one(ph='X', name='cond wait')['args'].get('stack') is None\n"
    "assert one(ph='X', name='sleep')['cat'] == 'sleep'\n"
    "assert one(ph='X', name='recv')['cat'] == 'net'\n"
    "r = one(ph='X', name='read')\n"
    "assert r['cat'] == 'io' and r['args']['fd'] == 3 and r['args']['result'] == 100, r\n"
    "b, e = one(ph='b', name='request'), one(ph='e', name='request')\n"
    "assert b['id'] == e['id'] and b['tid'] == main and e['tid'] == waker and e['ts'] > b['ts']\n"
    "h = one(ph='B', name='handle')\n"
    "assert h['tid'] == main and h['args']['task'] == b['id']\n"
    "for t in (main, waker):\n"
    "    nb = len([x for x in ev if x['ph'] == 'B' and x['tid'] == t])\n"
    "    ne = len([x for x in ev if x['ph'] == 'E' and x['tid'] == t])\n"
    "    assert nb == ne == 1, (t, nb, ne)\n"
    "l = one(ph='i', cat='log')\n"
    "assert l['name'] == 'GET /index.html' and l['args']['category'] == 'http', l\n"
    "s, f = one(ph='s', cat='wake'), one(ph='f', cat='wake')\n"
    "assert s['id'] == f['id'] and s['tid'] == waker and f['tid'] == main and f['bp'] == 'e'\n"
    "j = one(ph='X', name='join wait')\n"
    "assert j['ts'] <= f['ts'] <= j['ts'] + j['dur'] + 0.0005, (j, f)  # µs with 3 decimals: float sums round\n"
    "assert one(ph='X', name='wake')['args']['woken_tid'] == main\n"
    "cs, cf = one(ph='s', cat='thread'), one(ph='f', cat='thread')\n"
    "assert cs['tid'] == main and cf['tid'] == waker and cs['id'] == cf['id'] != s['id']\n"
    "assert one(ph='X', name='thread create')['tid'] == main\n"
    "assert one(ph='X', name='thread start')['tid'] == waker\n"
    "assert re.search(r'\"ts\":[0-9]+\\.[0-9]{3},', text)\n"
    "print('ok')\n";

static void check_chrome_json(const char *json) {
  char *argv[] = {"/usr/bin/python3", "-c", (char *)chrome_check_py, (char *)json, NULL};
  char *out = NULL, *err = NULL;
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0 || !out || strcmp(out, "ok\n") != 0)
    TEST_FAIL_("python3 check of %s: exit %d: %s%s", json, st, out ? out : "", err ? err : "");
  free(out);
  free(err);
}

TEST_IMPL(export_chrome_json_has_expected_events) {
  if (access("/usr/bin/python3", X_OK) != 0)
    RETURN_SKIP("python3 not installed");
  ctrace_reader *r = open_trace(make_trace("c.ct"));
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  const char *json = test_path("c.json");
  FILE *f = fopen(json, "w");
  ASSERT(f != NULL);
  ASSERT_EQ(ctrace_chrome_write(r, sym, f), 0);
  ASSERT_EQ(fclose(f), 0);
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  check_chrome_json(json);
  /* And python3 -m json.tool, as a user would check it. */
  char *argv[] = {"/usr/bin/python3", "-m", "json.tool", (char *)json, NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  free(out);
  return 0;
}

TEST_IMPL(export_chrome_escapes_bad_utf8) {
  if (access("/usr/bin/python3", X_OK) != 0)
    RETURN_SKIP("python3 not installed");
  const char *path = test_path("u.ct");
  ASSERT_EQ(ctrace_start_path(path), 0);
  ctrace_thread_set_name("bad\xff\xfe name \"q\" \\ \x01");
  ctrace_region_begin("caf\xc3\xa9 \xe2\x82 \xed\xa0\x80 end");
  ctrace_log_str(0, "cat\x80", "tab\there\nnewline \xf0\x9f\x98\x80");
  ctrace_region_end();
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(path);
  const char *json = test_path("u.json");
  FILE *f = fopen(json, "w");
  ASSERT_EQ(ctrace_chrome_write(r, NULL, f), 0);
  ASSERT_EQ(fclose(f), 0);
  ctrace_reader_close(r);
  static const char py[] =
      "import json, sys\n"
      "ev = json.loads(open(sys.argv[1], 'rb').read().decode('utf-8', 'strict'))['traceEvents']\n"
      "names = [e['args']['name'] for e in ev if e.get('name') == 'thread_name']\n"
      "assert 'bad\\ufffd\\ufffd name \"q\" \\\\ \\x01' in names, names\n"
      "reg = [e['name'] for e in ev if e['ph'] == 'B']\n"
      "assert reg == ['caf\\u00e9 \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd end'], reg\n"
      "log = [e for e in ev if e['ph'] == 'i'][0]\n"
      "assert log['args']['message'] == 'tab\\there\\nnewline \\U0001f600', log\n"
      "assert log['args']['category'] == 'cat\\ufffd', log\n"
      "print('ok')\n";
  char *argv[] = {"/usr/bin/python3", "-c", (char *)py, (char *)json, NULL};
  char *out = NULL, *err = NULL;
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0 || !out || strcmp(out, "ok\n") != 0)
    TEST_FAIL_("python3: exit %d: %s%s", st, out ? out : "", err ? err : "");
  free(out);
  free(err);
  return 0;
}

TEST_IMPL(export_chrome_window_cuts_open_regions_and_tasks) {
  if (access("/usr/bin/python3", X_OK) != 0)
    RETURN_SKIP("python3 not installed");
  ctrace_reader *r = open_trace(make_trace("win.ct"));
  int64_t end, dur;
  find_wait(r, CTRACE_WAIT_MUTEX, &end, &dur);
  /* From just after the mutex wait to 1 ms later: inside region "handle"
   * and task "request", both begun before. */
  struct ctrace_chrome_opts opts = {end + 1000, end + 1000000, 1};
  const char *json = test_path("win.json");
  FILE *f = fopen(json, "w");
  ASSERT_EQ(ctrace_chrome_write_opts(r, NULL, &opts, f), 0);
  ASSERT_EQ(fclose(f), 0);
  ctrace_reader_close(r);
  char start_us[64], end_us[64];
  snprintf(start_us, sizeof start_us, "%lld.%03lld", (long long)(end + 1000) / 1000,
           (long long)(end + 1000) % 1000);
  snprintf(end_us, sizeof end_us, "%lld.%03lld", (long long)(end + 1000000) / 1000,
           (long long)(end + 1000000) % 1000);
  static const char py[] =
      "import json, sys\n"
      "ev = json.load(open(sys.argv[1]))['traceEvents']\n"
      "start, end = float(sys.argv[2]), float(sys.argv[3])\n"
      "names = [e['name'] for e in ev if e['ph'] == 'X']\n"
      "assert 'mutex wait' not in names and 'sleep' not in names, names\n"
      "assert 'cond wait' in names, names\n" /* 5 ms from just after: crosses the end */
      "b = [e for e in ev if e['ph'] == 'B']\n"
      "assert [x['name'] for x in b] == ['handle'] and b[0]['ts'] == start, b\n"
      "e = [x for x in ev if x['ph'] == 'E']\n"
      "assert len(e) == 1 and e[0]['ts'] == end, e\n"
      "t = [x for x in ev if x['ph'] in 'be' and x['cat'] == 'task']\n"
      "got = [(x['ph'], x['name'], x['ts']) for x in t]\n"
      "assert got == [('b', 'request', start), ('e', 'request', end)], t\n"
      "assert all('stack' not in x.get('args', {}) for x in ev), 'stacks left'\n"
      "print('ok')\n";
  char *argv[] = {"/usr/bin/python3", "-c", (char *)py, (char *)json, start_us, end_us, NULL};
  char *out = NULL, *err = NULL;
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0 || !out || strcmp(out, "ok\n") != 0)
    TEST_FAIL_("python3: exit %d: %s%s", st, out ? out : "", err ? err : "");
  free(out);
  free(err);
  return 0;
}

/* ---- damaged traces: every export works on what is readable ---- */

/* with_sym: also symbolize (libdw reads the test binary: ~60 ms a time). */
static void export_everything(const char *trace, int with_sym) {
  char err[CTRACE_READ_ERRLEN];
  ctrace_reader *r = NULL;
  if (ctrace_reader_open(trace, &r, err, sizeof err) != 0)
    return; /* nothing readable: fine */
  ctrace_symbolizer *sym = with_sym ? ctrace_sym_new(r) : NULL;
  for (int k = 0; k < 4; k++) {
    struct ctrace_profile p;
    ASSERT_EQ(ctrace_profile_build(r, (enum ctrace_profile_kind)k, INT64_MIN, INT64_MAX, 0, &p), 0);
    uint8_t *out;
    size_t len;
    ASSERT_EQ(ctrace_pprof_write(r, sym, &p, (enum ctrace_profile_kind)k, &out, &len), 0);
    free(out);
    ctrace_profile_free(&p);
  }
  FILE *f = fopen("/dev/null", "w");
  ASSERT_EQ(ctrace_chrome_write(r, sym, f), 0);
  fclose(f);
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
}

TEST_IMPL(export_damaged_traces_do_not_crash) {
  const char *path = make_trace("d.ct");
  size_t len;
  uint8_t *data = (uint8_t *)test_read_file(path, &len);
  ASSERT(data != NULL);
  const char *cut = test_path("cut.ct");
  /* Cut at 64 places, then flip bytes at 300 places (deterministic). */
  for (size_t i = 1; i <= 64; i++) {
    ASSERT_EQ(test_write_file(cut, data, len * i / 65), 0);
    export_everything(cut, i % 16 == 0);
  }
  uint64_t x = 0x243f6a8885a308d3ull;
  for (int i = 0; i < 300; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t off = 32 + (size_t)(x % (len - 32));
    uint8_t saved = data[off];
    data[off] ^= (uint8_t)(x >> 32) | 1;
    ASSERT_EQ(test_write_file(cut, data, len), 0);
    export_everything(cut, i % 50 == 0);
    data[off] = saved;
  }
  free(data);
  return 0;
}

/* ---- the commands ---- */

/* Runs build/ctrace with the arguments up to the first NULL (at most 10). */
static int ctrace_cmd(char **out, char **err, ...) {
  char *argv[12] = {(char *)test_build_path("ctrace")};
  va_list ap;
  va_start(ap, err);
  for (int i = 1; i < 11; i++)
    if (!(argv[i] = va_arg(ap, char *)))
      break;
  va_end(ap);
  return test_run(argv, NULL, out, err);
}

TEST_IMPL(export_cli_pprof_and_chrome) {
  const char *trace = make_trace("cli.ct");
  const char *pb = test_path("cli.pb.gz"), *json = test_path("cli.json");
  char *out = NULL, *err = NULL;
  ASSERT_EQ(ctrace_cmd(&out, &err, "export", "--format", "pprof", "--kind", "net", "-o", pb,
                       trace, NULL),
            0);
  free(out);
  free(err);
  if (access("/usr/bin/protoc", X_OK) == 0) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' | /usr/bin/protoc --decode_raw", pb);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
    ASSERT_STR_CONTAINS(out, "\"export_site_recv\"");
    ASSERT(strstr(out, "\"export_site_mutex\"") == NULL);
    free(out);
  }
  ASSERT_EQ(ctrace_cmd(&out, &err, "export", "--format", "chrome", "-o", json, trace, NULL, NULL),
            0);
  free(out);
  free(err);
  if (access("/usr/bin/python3", X_OK) == 0)
    check_chrome_json(json);
  /* -o - is stdout, and the default. */
  ASSERT_EQ(ctrace_cmd(&out, &err, "export", "--format", "chrome", trace, NULL, NULL, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"traceEvents\":[");
  ASSERT_STR_CONTAINS(out, "\"mutex wait\"");
  free(out);
  free(err);
  /* Bad usage: exit 2 with a message. */
  static const char *bad[][5] = {{"--format", "xml", "@", NULL},
                                 {"--format", "pprof", "--kind", "gpu", "@"},
                                 {"--format", "chrome", "--kind", "sync", "@"},
                                 {"--format", "pprof", "--start", "soon", "@"},
                                 {"--kind", "sync", "@", NULL},
                                 {"--format", "chrome", "@", "@", NULL},
                                 {"--format", NULL}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *a[5];
    for (int k = 0; k < 5; k++)
      a[k] = bad[i][k] && strcmp(bad[i][k], "@") == 0 ? trace : bad[i][k];
    ASSERT_EQ(ctrace_cmd(&out, &err, "export", a[0], a[1], a[2], a[3], a[4], NULL), 2);
    ASSERT_STR_CONTAINS(err, "ctrace export: ");
    free(out);
    free(err);
  }
  /* A missing trace: exit 1. */
  ASSERT_EQ(ctrace_cmd(&out, &err, "export", "--format", "chrome", test_path("none.ct"), NULL,
                       NULL, NULL),
            1);
  free(out);
  free(err);
  return 0;
}

TEST_IMPL(export_cli_profile_table) {
  const char *trace = make_trace("prof.ct");
  char *out = NULL, *err = NULL;
  ASSERT_EQ(ctrace_cmd(&out, &err, "profile", trace, NULL, NULL, NULL, NULL, NULL), 0);
  ASSERT_STR_CONTAINS(out, "sync: ");
  ASSERT_STR_CONTAINS(out, "net: ");
  ASSERT_STR_CONTAINS(out, "syscall: ");
  ASSERT_STR_CONTAINS(out, "sleep: ");
  ASSERT_STR_CONTAINS(out, "export_site_mutex (");
  ASSERT_STR_CONTAINS(out, "test-export.c:");
  ASSERT_STR_CONTAINS(out, "(unknown stack)");
  free(out);
  free(err);
  ASSERT_EQ(ctrace_cmd(&out, &err, "profile", "--kind", "sleep", "--depth", "1", trace, NULL,
                       NULL),
            0);
  ASSERT_STR_CONTAINS(out, "sleep: ");
  ASSERT_STR_CONTAINS(out, "export_site_sleep (");
  ASSERT(strstr(out, "sync: ") == NULL);
  ASSERT(strstr(out, "<- ") == NULL || strstr(out, "more") != NULL);
  free(out);
  free(err);
  /* A window before anything blocked: empty. */
  ASSERT_EQ(ctrace_cmd(&out, &err, "profile", "--kind", "sync", "--end", "1ns", trace, NULL,
                       NULL),
            0);
  ASSERT_STR_CONTAINS(out, "sync: 0ns blocked in 0 events at 0 stacks");
  free(out);
  free(err);
  ASSERT_EQ(ctrace_cmd(&out, &err, "profile", "--top", "x", trace, NULL, NULL, NULL, NULL), 2);
  free(out);
  free(err);
  return 0;
}

/* ---- end to end: ctrace run, then the exports ---- */

TEST_IMPL(export_of_a_ctrace_run_trace) {
  const char *prog = test_build_path("src/preload/prog_mutex_contend");
  if (access(prog, X_OK) != 0 ||
      access(test_build_path("src/preload/libctrace-preload.so"), R_OK) != 0)
    RETURN_SKIP("the preload library or its test programs are not built");
  const char *trace = test_path("run.ct"), *pb = test_path("run.pb.gz");
  const char *json = test_path("run.json");
  char *out = NULL, *err = NULL;
  int st = ctrace_cmd(&out, &err, "run", "-o", trace, prog, "4", "50", NULL);
  if (st != 0)
    TEST_FAIL_("ctrace run: exit %d: %s", st, err ? err : "");
  free(out);
  free(err);
  /* 4 threads x 50 contended locks: the workers block on the mutex. */
  ASSERT_EQ(ctrace_cmd(&out, &err, "profile", "--kind", "sync", trace, NULL), 0);
  ASSERT_STR_CONTAINS(out, "worker (");
  ASSERT_STR_CONTAINS(out, "mutex_contend.c:");
  free(out);
  free(err);
  ASSERT_EQ(ctrace_cmd(&out, &err, "export", "-f", "pprof", "--kind", "sync", "-o", pb, trace,
                       NULL),
            0);
  free(out);
  free(err);
  if (access("/usr/bin/go", X_OK) == 0) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "HOME='%s' GOCACHE='%s/gocache' /usr/bin/go tool pprof -top '%s'",
             test_tmpdir(), test_tmpdir(), pb);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    st = test_run(argv, NULL, &out, &err);
    if (st != 0)
      TEST_FAIL_("go tool pprof: exit %d: %s", st, err ? err : "");
    ASSERT_STR_CONTAINS(out, "worker");
    free(out);
    free(err);
  }
  ASSERT_EQ(ctrace_cmd(&out, &err, "export", "-f", "chrome", "-o", json, trace, NULL), 0);
  free(out);
  free(err);
  if (access("/usr/bin/python3", X_OK) == 0) {
    static const char py[] =
        "import json, sys, collections\n"
        "ev = json.load(open(sys.argv[1]))['traceEvents']\n"
        "c = collections.Counter((e['ph'], e['name']) for e in ev)\n"
        "assert c[('X', 'mutex wait')] > 0, c\n"
        "assert c[('s', 'wake')] == c[('f', 'wake')], c\n"
        "assert c[('M', 'thread_name')] >= 5, c\n"
        "w = [e for e in ev if e['name'] == 'mutex wait']\n"
        "frames = [s for e in w for s in e['args'].get('stack', [])]\n"
        "assert any(s.startswith('worker (') for s in frames), w[0]\n"
        "print('ok')\n";
    char *argv[] = {"/usr/bin/python3", "-c", (char *)py, (char *)json, NULL};
    st = test_run(argv, NULL, &out, &err);
    if (st != 0 || !out || strcmp(out, "ok\n") != 0)
      TEST_FAIL_("python3: exit %d: %s%s", st, out ? out : "", err ? err : "");
    free(out);
    free(err);
  }
  return 0;
}
