/*
 * test-record.c - the recorder through its public API: errors at start and
 * stop, write failures, many threads, drops, names and links, tasks across
 * threads, stacks, tracing from the environment, exit and crash paths,
 * fork, signal handlers. Each test runs in its own process (runner.c).
 */
#include <ctrace.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/read/symbolize.h"
#include "trace-check.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

TEST_IMPL(record_start_rejects_bad_fds) {
  ASSERT_EQ(ctrace_start_fd(-1), CTRACE_EBADF);
  int fd = open("/dev/null", O_WRONLY);
  close(fd);
  ASSERT_EQ(ctrace_start_fd(fd), CTRACE_EBADF); /* closed */
  ASSERT_EQ(ctrace_start_fd(12345), CTRACE_EBADF);
  int ro = open("/dev/null", O_RDONLY);
  ASSERT_EQ(ctrace_start_fd(ro), CTRACE_EACCES); /* read-only */
  close(ro);
  ASSERT_EQ(ctrace_start_path("/nonexistent-dir/x.ctrace"), -ENOENT);
  ASSERT_EQ(ctrace_start_path(NULL), CTRACE_EINVAL);
  ASSERT_STR_EQ(ctrace_err_name(CTRACE_EACCES), "EACCES");
  ASSERT_STR_CONTAINS(ctrace_strerror(CTRACE_EACCES), "not open for writing");
  ASSERT_STR_CONTAINS(ctrace_strerror(-ENOENT), "No such file");
  ASSERT_EQ(ctrace_is_enabled(), 0);
  /* Recording calls while not tracing do nothing, and do not crash. */
  ctrace_region_begin("x");
  ctrace_region_end();
  ctrace_log(CTRACE_TASK_CURRENT, "c", "%d", 1);
  return 0;
}

TEST_IMPL(record_start_twice_and_stop_twice) {
  ASSERT_EQ(ctrace_stop(), CTRACE_ENOTSTARTED);
  ASSERT_EQ(ctrace_start_path(test_path("a.ctrace")), 0);
  ASSERT_EQ(ctrace_is_enabled(), 1);
  ASSERT_EQ(ctrace_start_path(test_path("b.ctrace")), CTRACE_EALREADY);
  int fd = open(test_path("c.ctrace"), O_WRONLY | O_CREAT, 0644);
  ASSERT_EQ(ctrace_start_fd(fd), CTRACE_EALREADY);
  ASSERT_EQ(ctrace_stop(), 0);
  ASSERT_EQ(ctrace_stop(), CTRACE_ENOTSTARTED);
  ASSERT_EQ(ctrace_is_enabled(), 0);
  /* start_fd does not close the caller's fd. */
  ASSERT_EQ(ctrace_start_fd(fd), 0);
  ASSERT_EQ(ctrace_stop(), 0);
  ASSERT(fcntl(fd, F_GETFL) >= 0);
  close(fd);
  ctrace_reader *r = open_trace(test_path("a.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(record_write_error_enospc_reported_at_stop) {
  ASSERT_EQ(ctrace_start_path("/dev/full"), 0);
  for (int i = 0; i < 100000; i++)
    ctrace_counter("n", i);
  ASSERT_EQ(ctrace_stop(), CTRACE_ENOSPC);
  /* The program goes on, and can trace again. */
  ASSERT_EQ(ctrace_start_path(test_path("after.ctrace")), 0);
  ctrace_counter("n", 1);
  ASSERT_EQ(ctrace_stop(), 0);
  return 0;
}

TEST_IMPL(record_write_error_epipe_no_sigpipe) {
  signal(SIGPIPE, SIG_DFL); /* a broken pipe must not kill us */
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  close(p[0]);
  ASSERT_EQ(ctrace_start_fd(p[1]), 0);
  for (int i = 0; i < 50000; i++)
    ctrace_counter("n", i);
  ASSERT_EQ(ctrace_stop(), CTRACE_EPIPE);
  ASSERT_STR_CONTAINS(ctrace_strerror(CTRACE_EPIPE), "broken pipe");
  close(p[1]);
  return 0;
}

TEST_IMPL(record_restart_after_stop) {
  for (int round = 0; round < 3; round++) {
    char name[32];
    snprintf(name, sizeof name, "r%d.ctrace", round);
    ASSERT_EQ(ctrace_start_path(test_path(name)), 0);
    CTRACE_REGION("outer");
    ctrace_region_begin("inner");
    ctrace_region_end();
    ASSERT_EQ(ctrace_stop(), 0);
    ctrace_region_end(); /* the scoped one ends after stop: ignored */
  }
  /* Each trace defines its own strings: the third reads alone. */
  ctrace_reader *r = open_trace(test_path("r2.ctrace"));
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_BEGIN), 2);
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, 0);
  ASSERT(ctrace_cursor_next(&c, &ev));
  ASSERT_EQ(ev.kind, CTRACE_EV_REGION_BEGIN);
  ASSERT(str_is(r, ev.f[1], "outer"));
  ctrace_reader_close(r);
  return 0;
}

/* ---- many threads ---- */

static long stress_events(void) {
  const char *s = getenv("CTRACE_STRESS_EVENTS");
  return s ? atol(s) : 1000000;
}

static void *stress_thread(void *arg) {
  long n = (long)(intptr_t)arg;
  for (long i = 0; i < n; i++)
    ctrace_counter("seq", i);
  return NULL;
}

/* writer.c's slab counters (record.h comes later in this file) */
extern _Atomic uint64_t ctrace__buf_slabs_made, ctrace__buf_slabs_mapped;

/* 8 threads x 1M events: every event arrives exactly once, in order. */
TEST_IMPL(record_stress_threads_every_event_once_in_order) {
  enum { NT = 8 };
  long n = stress_events();
  setenv("CTRACE_MEMORY_MB", "1024", 1); /* nothing may be dropped here */
  uint64_t slabs0 = atomic_load(&ctrace__buf_slabs_made);
  ASSERT_EQ(ctrace_start_path(test_path("stress.ctrace")), 0);
  pthread_t th[NT];
  for (int i = 0; i < NT; i++)
    ASSERT_EQ(pthread_create(&th[i], NULL, stress_thread, (void *)(intptr_t)n), 0);
  for (int i = 0; i < NT; i++)
    pthread_join(th[i], NULL);
  ASSERT_EQ(ctrace_stop(), 0);
  /* 8 busy threads take their buffers from slabs (writer.c), and a stopped
   * tracer holds none of them. */
  ASSERT_GT(atomic_load(&ctrace__buf_slabs_made), slabs0);
  ASSERT_EQ(atomic_load(&ctrace__buf_slabs_mapped), 0);
  ctrace_reader *r = open_trace(test_path("stress.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_dropped(r), 0);
  ASSERT_EQ(ctrace_reader_nthreads(r), NT);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER), (int64_t)NT * n);
  for (uint32_t t = 0; t < NT; t++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, t);
    long want = 0;
    uint64_t last = 0;
    while (ctrace_cursor_next(&c, &ev)) {
      if (ev.kind != CTRACE_EV_COUNTER)
        continue;
      ASSERT_EQ(ctrace__unzigzag(ev.f[1]), want);
      ASSERT_GE(ev.ticks, last);
      last = ev.ticks;
      want++;
    }
    ASSERT_EQ(want, n);
  }
  /* Merged order is by time. */
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  uint64_t last = 0, count = 0;
  while (ctrace_merge_next(m, &ev)) {
    ASSERT_GE(ev.ticks, last);
    last = ev.ticks;
    count++;
  }
  ASSERT_EQ(count, ctrace_reader_nevents(r));
  ctrace_merge_free(m);
  ctrace_reader_close(r);
  return 0;
}

/* ---- drops ---- */

struct slow_reader {
  int fd;
  const char *path;
  sem_t go; /* posted once every event is recorded */
};

/* Drains the pipe only after the recording ended: until then the writer
 * blocks on the full pipe and the buffers run out, whatever the speed of
 * the recording thread (no head start by a sleep). */
static void *drain_pipe(void *arg) {
  struct slow_reader *s = arg;
  while (sem_wait(&s->go) != 0) {
  }
  FILE *f = fopen(s->path, "wb");
  char buf[65536];
  ssize_t n;
  while ((n = read(s->fd, buf, sizeof buf)) > 0)
    fwrite(buf, 1, (size_t)n, f);
  fclose(f);
  return NULL;
}

/* When the writer cannot keep up and the budget is spent, events are
 * dropped: the trace says exactly how many, per thread. */
TEST_IMPL(record_drops_are_counted_exactly) {
  setenv("CTRACE_BUFFER_KB", "4", 1);
  setenv("CTRACE_MEMORY_MB", "1", 1);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  struct slow_reader s = {.fd = p[0], .path = test_path("drops.ctrace")};
  sem_init(&s.go, 0, 0);
  pthread_t rd;
  pthread_create(&rd, NULL, drain_pipe, &s);
  ASSERT_EQ(ctrace_start_fd(p[1]), 0);
  /* 1 MB of buffers and a 64 KB pipe hold far fewer than these. */
  const long n = 400000;
  for (long i = 0; i < n; i++)
    ctrace_counter("seq", i);
  sem_post(&s.go);
  ASSERT_EQ(ctrace_stop(), 0);
  close(p[1]);
  pthread_join(rd, NULL);
  close(p[0]);
  ctrace_reader *r = open_trace(s.path);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  uint64_t kept = ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER);
  uint64_t dropped = ctrace_reader_dropped(r);
  ASSERT_GT(dropped, 0);
  ASSERT_GE(ctrace_reader_nevents_kind(r, CTRACE_EV_DROPPED), 1);
  ASSERT_UINT_EQ(kept + dropped, (uint64_t)n);
  /* What was kept is in order, with gaps exactly where DROPPED says. */
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, 0);
  long want = 0;
  while (ctrace_cursor_next(&c, &ev)) {
    if (ev.kind == CTRACE_EV_DROPPED)
      want += (long)ev.f[0];
    else if (ev.kind == CTRACE_EV_COUNTER) {
      ASSERT_EQ(ctrace__unzigzag(ev.f[1]), want);
      want++;
    }
  }
  ASSERT_EQ(want, n);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(record_alloc_failure_counted_as_drops) {
  setenv("CTRACE_BUFFER_KB", "4", 1);
  setenv("CTRACE_TEST_FAIL_ALLOC", "2", 1); /* only the first buffer exists */
  setenv("CTRACE_TEST_WRITER_DELAY_MS", "20", 1); /* and it comes back late */
  ASSERT_EQ(ctrace_start_path(test_path("alloc.ctrace")), 0);
  const long n = 20000;
  for (long i = 0; i < n; i++)
    ctrace_counter("seq", i);
  ASSERT_EQ(ctrace_stop(), 0);
  unsetenv("CTRACE_TEST_FAIL_ALLOC");
  ctrace_reader *r = open_trace(test_path("alloc.ctrace"));
  uint64_t kept = ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER);
  ASSERT_GT(ctrace_reader_dropped(r), 0);
  ASSERT_UINT_EQ(kept + ctrace_reader_dropped(r), (uint64_t)n);
  ctrace_reader_close(r);
  return 0;
}

/* ---- threads, tasks, stacks ---- */

static void *named_thread(void *arg) {
  ctrace_thread_set_name((const char *)arg);
  ctrace_region_begin("work");
  sleep_ms(5);
  ctrace_region_end();
  return NULL;
}

TEST_IMPL(record_threads_names_and_creation_links) {
  ASSERT_EQ(ctrace_start_path(test_path("threads.ctrace")), 0);
  ctrace_thread_set_name("main-thread");
  pthread_t a, b;
  ASSERT_EQ(ctrace_pthread_create(&a, NULL, named_thread, "worker-a"), 0);
  ASSERT_EQ(ctrace_pthread_create(&b, NULL, named_thread, "worker-b"), 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(test_path("threads.ctrace"));
  ASSERT_EQ(ctrace_reader_nthreads(r), 3);
  const struct ctrace_thread_info *main_t = ctrace_reader_thread(r, 0);
  ASSERT(str_is(r, main_t->name, "main-thread"));
  int workers = 0;
  for (uint32_t i = 1; i < 3; i++) {
    const struct ctrace_thread_info *t = ctrace_reader_thread(r, i);
    ASSERT(str_is(r, t->name, "worker-a") || str_is(r, t->name, "worker-b"));
    ASSERT_EQ(t->created_by, main_t->tid);
    ASSERT_EQ(t->exited, 1);
    ASSERT_NE(t->start_link, 0);
    workers++;
  }
  ASSERT_EQ(workers, 2);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_THREAD_CREATE), 2);
  ctrace_reader_close(r);
  return 0;
}

static void *end_task_elsewhere(void *arg) {
  ctrace_task_t t = *(ctrace_task_t *)arg;
  ASSERT_EQ(ctrace_task_set_current(t), 0);
  ctrace_region_begin("remote.part");
  sleep_ms(20);
  ctrace_region_end();
  ctrace_task_end(t);
  return NULL;
}

TEST_IMPL(record_task_crosses_threads) {
  ASSERT_EQ(ctrace_start_path(test_path("task.ctrace")), 0);
  ctrace_task_t parent = ctrace_task_begin(CTRACE_TASK_NONE, "request");
  ctrace_task_t child = ctrace_task_begin(parent, "subtask");
  ASSERT_EQ(ctrace_task_current(), child);
  ctrace_log(CTRACE_TASK_CURRENT, "cat", "value=%d", 42);
  pthread_t th;
  pthread_create(&th, NULL, end_task_elsewhere, &child);
  pthread_join(th, NULL);
  ctrace_task_end(parent);
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(test_path("task.ctrace"));
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  int saw_log = 0, saw_remote_region = 0, saw_end = 0;
  uint32_t begin_tid = 0;
  while (ctrace_merge_next(m, &ev)) {
    if (ev.kind == CTRACE_EV_TASK_BEGIN && ev.f[0] == child) {
      ASSERT_EQ(ev.f[1], parent);
      ASSERT(str_is(r, ev.f[2], "subtask"));
      begin_tid = ev.tid;
    } else if (ev.kind == CTRACE_EV_LOG) {
      ASSERT_EQ(ev.f[0], child);
      ASSERT(str_is(r, ev.f[1], "cat"));
      ASSERT_EQ(ev.blob_len, 8);
      ASSERT_MEM_HEX_EQ(ev.blob, "value=42", 8);
      saw_log = 1;
    } else if (ev.kind == CTRACE_EV_REGION_BEGIN) {
      ASSERT_EQ(ev.f[0], child); /* attached to the adopted task */
      ASSERT_NE(ev.tid, begin_tid);
      saw_remote_region = 1;
    } else if (ev.kind == CTRACE_EV_TASK_END && ev.f[0] == child) {
      ASSERT_NE(ev.tid, begin_tid);
      saw_end = 1;
    }
  }
  ASSERT(saw_log && saw_remote_region && saw_end);
  ctrace_merge_free(m);
  ctrace_reader_close(r);
  return 0;
}

/* ctrace_task_end restores the task that was current before the ended one
 * (ctrace.h), also across adoption and out-of-order ends; never one that
 * has ended. Regions attach to the restored task. */
TEST_IMPL(record_task_end_restores_previous) {
  ASSERT_EQ(ctrace_start_path(test_path("tr.ctrace")), 0);
  ctrace_task_t a = ctrace_task_begin(CTRACE_TASK_NONE, "a");
  ctrace_task_t b = ctrace_task_begin(CTRACE_TASK_CURRENT, "b");
  ASSERT_EQ(ctrace_task_current(), b);
  ctrace_task_end(b);
  ASSERT_EQ(ctrace_task_current(), a);
  ctrace_region_begin("in-a");
  ctrace_region_end();
  ctrace_task_end(CTRACE_TASK_CURRENT);
  ASSERT_EQ(ctrace_task_current(), CTRACE_TASK_NONE);
  /* out of order: ending a task that is not current keeps the current one,
   * and the current one's end then skips the ended task */
  ctrace_task_t c = ctrace_task_begin(0, "c");
  ctrace_task_t d = ctrace_task_begin(c, "d");
  ctrace_task_end(c);
  ASSERT_EQ(ctrace_task_current(), d);
  ctrace_task_end(d);
  ASSERT_EQ(ctrace_task_current(), CTRACE_TASK_NONE);
  /* adopted with set_current: its end brings back what was current */
  ctrace_task_t e = ctrace_task_begin(0, "e");
  ASSERT_EQ(ctrace_task_set_current(12345), e);
  ctrace_task_end(12345);
  ASSERT_EQ(ctrace_task_current(), e);
  ctrace_task_end(e);
  /* deep nesting past what is kept: the innermost still restore exactly */
  ctrace_task_t deep[20];
  for (int i = 0; i < 20; i++)
    deep[i] = ctrace_task_begin(CTRACE_TASK_CURRENT, "deep");
  for (int i = 19; i >= 14; i--) {
    ctrace_task_end(deep[i]);
    ASSERT_EQ(ctrace_task_current(), deep[i - 1]);
  }
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(test_path("tr.ctrace"));
  ctrace_cursor cur;
  ctrace_event ev;
  int regions = 0;
  ctrace_cursor_init(&cur, r, 0);
  while (ctrace_cursor_next(&cur, &ev))
    if (ev.kind == CTRACE_EV_REGION_BEGIN) {
      ASSERT_EQ(ev.f[0], a);
      regions++;
    }
  ASSERT_EQ(regions, 1);
  ctrace_reader_close(r);
  return 0;
}

/* Threads that ended their recording with ctrace_thread_end() keep their
 * own current task: one thread's task never shows in another. */
static pthread_barrier_t ended_bar;
static void *ended_thread(void *arg) {
  ctrace_task_t mine = (ctrace_task_t)(uintptr_t)arg;
  ctrace_region_begin("before-end"); /* registers the thread */
  ctrace_region_end();
  ctrace_thread_end();
  pthread_barrier_wait(&ended_bar);
  ctrace_task_set_current(mine);
  pthread_barrier_wait(&ended_bar); /* both have set theirs */
  ASSERT_EQ(ctrace_task_current(), mine);
  pthread_barrier_wait(&ended_bar);
  return NULL;
}

TEST_IMPL(record_thread_end_task_not_shared) {
  ASSERT_EQ(ctrace_start_path(test_path("te.ctrace")), 0);
  pthread_barrier_init(&ended_bar, NULL, 2);
  pthread_t a, b;
  pthread_create(&a, NULL, ended_thread, (void *)(uintptr_t)111);
  pthread_create(&b, NULL, ended_thread, (void *)(uintptr_t)222);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  ASSERT_EQ(ctrace_task_current(), CTRACE_TASK_NONE); /* nor in this thread */
  ASSERT_EQ(ctrace_stop(), 0);
  pthread_barrier_destroy(&ended_bar);
  return 0;
}

/* Stop and restart while 4 threads record (run under TSan by run-all.sh):
 * each trace is complete, and each thread's counter values in it are
 * consecutive (or a DROPPED event says why not). */
#define SR_THREADS 4
static _Atomic int sr_run = 1;
static _Atomic uint64_t sr_done[SR_THREADS];
static void *sr_thread(void *arg) {
  int k = (int)(uintptr_t)arg;
  for (int64_t i = 0; atomic_load(&sr_run); i++) {
    ctrace_counter("sr", i);
    if ((i & 63) == 0) {
      ctrace_region_begin("sr.region");
      ctrace_region_end();
    }
    atomic_fetch_add(&sr_done[k], 1);
  }
  return NULL;
}

TEST_IMPL(record_stop_restart_while_threads_record) {
  pthread_t th[SR_THREADS];
  for (int k = 0; k < SR_THREADS; k++)
    pthread_create(&th[k], NULL, sr_thread, (void *)(uintptr_t)k);
  for (int round = 0; round < 12; round++) {
    char name[32];
    snprintf(name, sizeof name, "sr%d.ctrace", round);
    ASSERT_EQ(ctrace_start_path(test_path(name)), 0);
    /* stop once every thread recorded some events in this trace */
    uint64_t base[SR_THREADS];
    for (int k = 0; k < SR_THREADS; k++)
      base[k] = atomic_load(&sr_done[k]);
    for (int k = 0; k < SR_THREADS; k++)
      while (atomic_load(&sr_done[k]) < base[k] + 2000)
        sleep_ms(1); /* polling, not ordering: leave the CPUs to them */
    ASSERT_EQ(ctrace_stop(), 0);
    ctrace_reader *r = open_trace(test_path(name));
    ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
    int busy_threads = 0;
    for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
      ctrace_cursor cur;
      ctrace_event ev;
      ctrace_cursor_init(&cur, r, i);
      int64_t last = -1;
      uint64_t n = 0;
      while (ctrace_cursor_next(&cur, &ev)) {
        if (ev.kind == CTRACE_EV_DROPPED)
          last = -1;
        if (ev.kind != CTRACE_EV_COUNTER)
          continue;
        int64_t v = ctrace__unzigzag(ev.f[1]);
        if (last >= 0 && v != last + 1)
          TEST_FAIL_("trace %d thread %u: counter %lld after %lld", round, i, (long long)v,
                     (long long)last);
        last = v;
        n++;
      }
      busy_threads += n > 0;
    }
    ASSERT_EQ(busy_threads, SR_THREADS);
    ctrace_reader_close(r);
  }
  atomic_store(&sr_run, 0);
  for (int k = 0; k < SR_THREADS; k++)
    pthread_join(th[k], NULL);
  return 0;
}

__attribute__((noinline)) static void stacked_region_leaf(void) {
  ctrace_region_begin("deep");
  ctrace_region_end();
  __asm__ volatile("" ::: "memory"); /* no tail call */
}

__attribute__((noinline)) static void stacked_region_mid(void) {
  stacked_region_leaf();
  __asm__ volatile("" ::: "memory");
}

TEST_IMPL(record_stacks_symbolized) {
  setenv("CTRACE_STACKS", "all", 1);
  setenv("CTRACE_SAMPLE_HZ", "0", 1); /* CPU samples' stacks are stacks too */
  ASSERT_EQ(ctrace_start_path(test_path("stack.ctrace")), 0);
  for (volatile int i = 0; i < 3; i++) /* volatile: one call site, not unrolled */
    stacked_region_mid();
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(test_path("stack.ctrace"));
  ASSERT_EQ(ctrace_reader_nstacks(r), 1); /* interned: three uses, one stack */
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  const uint64_t *pcs;
  uint32_t n = ctrace_reader_stack(r, 1, &pcs);
  ASSERT_GE(n, 3);
  int leaf = -1, mid = -1;
  for (uint32_t i = 0; i < n; i++) {
    struct ctrace_frame f;
    ctrace_sym_lookup(sym, pcs[i], 1, &f);
    if (strcmp(f.function, "stacked_region_leaf") == 0) {
      leaf = (int)i;
      ASSERT_STR_CONTAINS(f.file, "test-record.c");
      ASSERT_GT(f.line, 0);
    }
    if (strcmp(f.function, "stacked_region_mid") == 0)
      mid = (int)i;
  }
  ASSERT_GE(leaf, 0);
  ASSERT_EQ(mid, leaf + 1);
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  return 0;
}

/* ---- environment, exit, crash ---- */

HELPER_IMPL(record_autostart_prog) {
  /* Never calls ctrace_start: CTRACE_OUT did, before main. */
  if (!ctrace_is_enabled())
    return 3;
  CTRACE_REGION("autostarted");
  ctrace_counter("x", 7);
  return 0; /* exit() stops the trace */
}

HELPER_IMPL(record_forgot_stop_prog) {
  if (ctrace_start_path(argv[1]) != 0)
    return 3;
  ctrace_task_t t = ctrace_task_begin(0, "forgotten");
  for (int i = 0; i < 5000; i++)
    ctrace_counter("x", i);
  ctrace_task_end(t);
  return 0; /* no ctrace_stop() */
}

/* The COUNTER events a reader finds in the trace at path so far. */
static uint64_t counters_written(const char *path) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &r, err, sizeof err) != 0)
    return 0;
  uint64_t n = ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER);
  ctrace_reader_close(r);
  return n;
}

HELPER_IMPL(record_crash_prog) {
  if (ctrace_start_path(argv[1]) != 0)
    return 3;
  for (int i = 0; i < 200000; i++)
    ctrace_counter("x", i);
  /* The writer writes the full buffers (a sanitized build on a loaded
   * machine took over a second for them): abort once half are on disk. */
  for (int tries = 0; tries < 6000 && counters_written(argv[1]) < 100000; tries++)
    sleep_ms(5);
  abort();
}

static char *env_entry(const char *k, const char *v) {
  static char bufs[4][4200];
  static int i;
  char *b = bufs[i++ & 3];
  snprintf(b, 4200, "%s=%s", k, v);
  return b;
}

TEST_IMPL(record_env_autostart_and_exit_stop) {
  char *env[] = {env_entry("CTRACE_OUT", test_path("auto.ctrace")), NULL};
  char *argv[] = {(char *)test_self_path, "--helper", "record_autostart_prog", NULL};
  ASSERT_EQ(test_run(argv, env, NULL, NULL), 0);
  ctrace_reader *r = open_trace(test_path("auto.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_BEGIN), 1);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_END), 1);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER), 1);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 1);
  ctrace_reader_close(r);
  /* A bad CTRACE_OUT is reported, and the program runs on. */
  char *bad[] = {env_entry("CTRACE_OUT", "/nonexistent-dir/x.ctrace"), NULL};
  char *err = NULL;
  ASSERT_EQ(test_run(argv, bad, NULL, &err), 3);
  ASSERT_STR_CONTAINS(err, "ctrace: cannot trace to /nonexistent-dir/x.ctrace");
  free(err);
  return 0;
}

/* A program that uses the API, run with CTRACE_OUT: its start joins the
 * trace from the environment and its stop does not end it. */
HELPER_IMPL(record_env_join_prog) {
  if (!ctrace_is_enabled())
    return 3;
  if (ctrace_start_path(argv[1]) != 0)
    return 4;
  CTRACE_REGION("joined");
  ctrace_counter("x", 1);
  if (ctrace_stop() != 0 || !ctrace_is_enabled())
    return 5;
  ctrace_counter("x", 2); /* after its stop: still in the trace */
  return 0;
}

HELPER_IMPL(record_env_static_prog) {
  ctrace_counter("x", 1); /* into this program's own, idle copy */
  usleep(20000);
  return 0;
}

TEST_IMPL(record_env_trace_joined_by_api) {
  const char *own = test_path("own.ctrace");
  char *env[] = {env_entry("CTRACE_OUT", test_path("joined.ctrace")), NULL};
  char *argv[] = {(char *)test_self_path, "--helper", "record_env_join_prog", (char *)own, NULL};
  ASSERT_EQ(test_run(argv, env, NULL, NULL), 0);
  ASSERT_NE(access(own, F_OK), 0); /* one trace: CTRACE_OUT's */
  ctrace_reader *r = open_trace(test_path("joined.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_BEGIN), 1);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER), 2);
  ctrace_reader_close(r);

  /* The README's API example: exits 0 and writes only CTRACE_OUT's trace. */
  const char *http_own = test_path("http-own.ctrace");
  char *henv[] = {env_entry("CTRACE_OUT", test_path("http-env.ctrace")), NULL};
  char *hargv[] = {(char *)test_build_path("examples/http_task"), (char *)http_own, "2", NULL};
  ASSERT_EQ(test_run(hargv, henv, NULL, NULL), 0);
  ASSERT_NE(access(http_own, F_OK), 0);
  r = open_trace(test_path("http-env.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_TASK_BEGIN), 4); /* 2 gets, 2 requests */
  ctrace_reader_close(r);
  return 0;
}

/* A program with its own copy of the recorder (this runner is linked with
 * it statically) run under the preload: the preload's trace is the one
 * written, and the program's copy does not write into the same file. */
/* A sanitized libctrace.so or preload needs its sanitizer's runtime loaded
 * first, which a plain program or a replaced LD_PRELOAD does not give. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED_BUILD 1
#else
#define SANITIZED_BUILD 0
#endif

TEST_IMPL(record_env_one_writer_under_preload) {
  if (SANITIZED_BUILD)
    RETURN_SKIP("sanitized build: the preload needs the sanitizer's runtime loaded first");
  const char *pre = test_build_path("src/preload/libctrace-preload.so");
  if (access(pre, R_OK) != 0)
    RETURN_SKIP("no preload library");
  char *env[] = {env_entry("CTRACE_OUT", test_path("static.ctrace")), env_entry("LD_PRELOAD", pre),
                 NULL};
  char *argv[] = {(char *)test_self_path, "--helper", "record_env_static_prog", NULL};
  char *err = NULL;
  ASSERT_EQ(test_run(argv, env, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, "is written by another trace");
  free(err);
  ctrace_reader *r = open_trace(test_path("static.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 1);
  ASSERT_GE(ctrace_reader_nevents_kind(r, CTRACE_EV_WAIT), 1); /* the preload's sleep */
  ctrace_reader_close(r);
  return 0;
}

/* The README's compile line under the linker's --as-needed (Debian's gcc
 * default): a program that calls no ctrace function keeps libctrace, and
 * CTRACE_OUT traces it. The .pc of this build, pointed at the build tree. */
TEST_IMPL(record_env_survives_as_needed) {
  if (SANITIZED_BUILD)
    RETURN_SKIP("sanitized build: a plain program cannot load a sanitized libctrace.so");
  char src[4096], prog[4096], build[4096];
  snprintf(src, sizeof src, "%s", test_path("noapi.c"));
  snprintf(prog, sizeof prog, "%s", test_path("noapi"));
  snprintf(build, sizeof build, "%s", test_build_path(""));
  static const char text[] = "#include <unistd.h>\nint main(void) { return getpid() > 0 ? 0 : 1; }\n";
  ASSERT_EQ(test_write_file(src, text, sizeof text - 1), 0);
  static char cmd[32768];
  snprintf(cmd, sizeof cmd,
           "command -v cc >/dev/null && command -v pkg-config >/dev/null || exit 77; "
           "cc -Wl,--as-needed -o '%s' '%s' -I'%s/include' $(pkg-config --define-variable=libdir='%s' "
           "--define-variable=includedir='%s/include' --cflags --libs '%s/meson-private/ctrace.pc')",
           prog, src, build, build, test_source_dir, build);
  char *sh[] = {"/bin/sh", "-c", cmd, NULL};
  char *err = NULL;
  int rc = test_run(sh, NULL, NULL, &err);
  if (rc == TEST_SKIP)
    RETURN_SKIP("no cc or pkg-config");
  if (rc != 0)
    fprintf(stderr, "# %s\n", err);
  free(err);
  ASSERT_EQ(rc, 0);
  char *env[] = {env_entry("CTRACE_OUT", test_path("noapi.ctrace")),
                 env_entry("LD_LIBRARY_PATH", build), NULL};
  char *argv[] = {prog, NULL};
  ASSERT_EQ(test_run(argv, env, NULL, NULL), 0);
  ctrace_reader *r = open_trace(test_path("noapi.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 1);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(record_forgotten_stop_completes_at_exit) {
  char *argv[] = {(char *)test_self_path, "--helper", "record_forgot_stop_prog",
                  (char *)test_path("forgot.ctrace"), NULL};
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  ctrace_reader *r = open_trace(test_path("forgot.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER), 5000);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_TASK_END), 1);
  ASSERT_GE(ctrace_reader_nclock_syncs(r), 2);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(record_crash_leaves_readable_trace) {
  char *env[] = {"CTRACE_BUFFER_KB=4", NULL};
  char *argv[] = {(char *)test_self_path, "--helper", "record_crash_prog",
                  (char *)test_path("crash.ctrace"), NULL};
  ASSERT_EQ(test_run(argv, env, NULL, NULL), 128 + SIGABRT);
  ctrace_reader *r = open_trace(test_path("crash.ctrace"));
  /* Whole batches only: OK (cut between batches) or TRUNCATED, never
   * corrupt, and what was on disk before the abort is still there. */
  ASSERT_NE(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
  uint64_t n = ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER);
  ASSERT_GT(n, 100000);
  /* The early calibration sync was written: times convert exactly. */
  ASSERT_GE(ctrace_reader_nclock_syncs(r), 2);
  /* In order, from 0, with no gap. */
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, 0);
  long want = 0;
  while (ctrace_cursor_next(&c, &ev))
    if (ev.kind == CTRACE_EV_COUNTER)
      ASSERT_EQ(ctrace__unzigzag(ev.f[1]), want++);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(record_fork_child_does_not_corrupt) {
  ASSERT_EQ(ctrace_start_path(test_path("fork.ctrace")), 0);
  ctrace_region_begin("before.fork");
  pid_t pid = fork();
  if (pid == 0) {
    /* The child must not write into the parent's trace. */
    for (int i = 0; i < 100000; i++)
      ctrace_counter("child", i);
    ASSERT_EQ(ctrace_is_enabled(), 0);
    _exit(ctrace_stop() == CTRACE_ENOTSTARTED ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ctrace_region_end();
  for (int i = 0; i < 1000; i++)
    ctrace_counter("parent", i);
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(test_path("fork.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER), 1000);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_END), 1);
  ctrace_reader_close(r);
  return 0;
}

static volatile sig_atomic_t handler_calls;

static void on_alarm(int sig) {
  (void)sig;
  handler_calls++;
  ctrace_counter("in.handler", handler_calls);
}

/* A signal handler that records while the thread is mid-event: the inner
 * event is counted as lost, never written into the middle of the outer. */
TEST_IMPL(record_stop_signal_handler_events_counted) {
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  ASSERT_EQ(ctrace_start_path(test_path("sig.ctrace")), 0);
  /* The first use of a name in a trace allocates, which a handler must not
   * do (documented); after that, recording in a handler is safe. */
  ctrace_counter("in.handler", 0);
  struct itimerval it = {{0, 100}, {0, 100}};
  setitimer(ITIMER_REAL, &it, NULL);
  long n = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    for (int i = 0; i < 1000; i++)
      ctrace_counter("main", n++);
    clock_gettime(CLOCK_MONOTONIC, &t1);
  } while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 1000000000L &&
           handler_calls < 2000);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  long calls = handler_calls;
  ASSERT_EQ(ctrace_stop(), 0);
  ASSERT_GT(calls, 10);
  ctrace_reader *r = open_trace(test_path("sig.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  /* Every main-loop event is there, in order; handler events are there
   * or counted as dropped. */
  uint64_t total = ctrace_reader_nevents_kind(r, CTRACE_EV_COUNTER);
  ASSERT_UINT_EQ(total + ctrace_reader_dropped(r), (uint64_t)(n + calls + 1));
  ctrace_reader_close(r);
  return 0;
}

/* CTRACE_CLOCK=monotonic: ticks are CLOCK_MONOTONIC ns, flagged in the
 * header, and durations still come out right. */
TEST_IMPL(record_clock_monotonic_fallback) {
  setenv("CTRACE_CLOCK", "monotonic", 1);
  ASSERT_EQ(ctrace_start_path(test_path("mono.ctrace")), 0);
  ctrace_region_begin("sleep20");
  sleep_ms(20);
  ctrace_region_end();
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(test_path("mono.ctrace"));
  ASSERT_EQ(ctrace_reader_ticks_are_tsc(r), 0);
  ctrace_cursor c;
  ctrace_event a, b;
  ctrace_cursor_init(&c, r, 0);
  ASSERT(ctrace_cursor_next(&c, &a) && ctrace_cursor_next(&c, &b));
  int64_t dur = ctrace_reader_ns(r, b.ticks) - ctrace_reader_ns(r, a.ticks);
  ASSERT_GE(dur, 20000000);
  ASSERT_LT(dur, 200000000);
  /* ticks are nanoseconds of CLOCK_MONOTONIC: close to the sync's clock */
  const struct ctrace_clock_sync *s = ctrace_reader_clock_sync(r, 0);
  ASSERT_LT(s->ticks > s->mono_ns ? s->ticks - s->mono_ns : s->mono_ns - s->ticks, 1000000);
  ctrace_reader_close(r);
  return 0;
}

/* A function without a frame pointer in the middle of the stack: the
 * frame-pointer walk loses its caller; CTRACE_UNWIND=dwarf does not. */
__attribute__((noinline)) static void nofp_leaf(void) {
  ctrace_region_begin("nofp");
  ctrace_region_end();
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline, optimize("omit-frame-pointer"))) static void nofp_mid(void) {
  nofp_leaf();
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void nofp_outer(void) {
  nofp_mid();
  __asm__ volatile("" ::: "memory");
}

static int stack_has(const ctrace_reader *r, ctrace_symbolizer *sym, uint64_t id, const char *fn) {
  const uint64_t *pcs;
  uint32_t n = ctrace_reader_stack(r, id, &pcs);
  for (uint32_t i = 0; i < n; i++) {
    struct ctrace_frame f;
    ctrace_sym_lookup(sym, pcs[i], 1, &f);
    if (strcmp(f.function, fn) == 0)
      return 1;
  }
  return 0;
}

TEST_IMPL(record_stacks_dwarf_without_frame_pointers) {
  setenv("CTRACE_STACKS", "all", 1);
  setenv("CTRACE_UNWIND", "dwarf", 1);
  ASSERT_EQ(ctrace_start_path(test_path("dwarf.ctrace")), 0);
  nofp_outer();
  ASSERT_EQ(ctrace_stop(), 0);
  setenv("CTRACE_UNWIND", "fp", 1);
  ASSERT_EQ(ctrace_start_path(test_path("fp.ctrace")), 0);
  nofp_outer();
  ASSERT_EQ(ctrace_stop(), 0);

  ctrace_reader *r = open_trace(test_path("dwarf.ctrace"));
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  ASSERT(stack_has(r, sym, 1, "nofp_leaf"));
  ASSERT(stack_has(r, sym, 1, "nofp_mid"));
  ASSERT(stack_has(r, sym, 1, "nofp_outer"));
  ASSERT(stack_has(r, sym, 1, "test_record_stacks_dwarf_without_frame_pointers"));
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  r = open_trace(test_path("fp.ctrace"));
  sym = ctrace_sym_new(r);
  ASSERT(stack_has(r, sym, 1, "nofp_leaf"));
  if (stack_has(r, sym, 1, "nofp_outer"))
    fprintf(stderr, "# note: the compiler kept a frame pointer in nofp_mid\n");
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  return 0;
}

/* ---- ctrace view and a trace that changes under it ---- */

/* GET target: the status, and the start of the answer (headers and body)
 * in buf when given. */
static int http_get(unsigned port, const char *target, char *out, size_t outsize) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  char req[512], buf[4096];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target);
  int status = -1;
  size_t got = 0;
  if (write(fd, req, (size_t)n) == n) {
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf - 1)) > 0) {
      buf[k] = 0;
      if (status < 0)
        sscanf(buf, "HTTP/1.%*d %d", &status);
      if (out && got + 1 < outsize) {
        size_t c = (size_t)k < outsize - 1 - got ? (size_t)k : outsize - 1 - got;
        memcpy(out + got, buf, c);
        got += c;
      }
    }
  }
  if (out && outsize)
    out[got] = 0;
  close(fd);
  return status;
}
static int http_status(unsigned port, const char *target) {
  return http_get(port, target, NULL, 0);
}

/* A line of fd that contains want, within 10 s; into line. */
static int read_line_with(int fd, const char *want, char *line, size_t size) {
  size_t n = 0;
  while (n < size - 1) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0 || read(fd, line + n, 1) != 1)
      return -1;
    if (line[n] == '\n') {
      line[n] = 0;
      if (strstr(line, want))
        return 0;
      n = 0;
      continue;
    }
    n++;
  }
  return -1;
}

/* `ctrace view` serving a trace that is then truncated to half in place
 * (how) or replaced by another file (rename over it): no SIGBUS, every API
 * answer is then a 409 saying the file changed and to restart ctrace view,
 * stderr says it too, and it stops cleanly. */
static int view_file_changes(int how) {
  const char *path = test_path("view.ctrace");
  ASSERT_EQ(ctrace_start_path(path), 0);
  for (int i = 0; i < 20000; i++)
    ctrace_log(CTRACE_TASK_NONE, "test", "event %d of a trace to be cut", i);
  ASSERT_EQ(ctrace_stop(), 0);
  int po[2], pe[2];
  ASSERT_EQ(pipe(po), 0);
  ASSERT_EQ(pipe(pe), 0);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    dup2(po[1], 1);
    dup2(pe[1], 2);
    close(po[0]);
    close(pe[0]);
    execl(test_build_path("ctrace"), "ctrace", "view", "--no-browser", "--addr",
          "127.0.0.1:0", path, (char *)NULL);
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  char line[1024];
  ASSERT_EQ(read_line_with(po[0], "serving", line, sizeof line), 0);
  const char *url = strstr(line, "http://127.0.0.1:");
  ASSERT(url);
  unsigned port = (unsigned)strtoul(url + strlen("http://127.0.0.1:"), NULL, 10);
  ASSERT_EQ(http_status(port, "/api/summary"), 200);
  ASSERT_EQ(http_status(port, "/api/threads"), 200);
  if (how == 0) {
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(truncate(path, st.st_size / 2), 0);
  } else {
    const char *other = test_path("other.ctrace");
    ASSERT_EQ(ctrace_start_path(other), 0);
    ctrace_log(CTRACE_TASK_NONE, "test", "a new trace");
    ASSERT_EQ(ctrace_stop(), 0);
    ASSERT_EQ(rename(other, path), 0);
  }
  /* Everything that reads events, after the change. */
  static const char *const targets[] = {
      "/api/summary", "/api/threads", "/api/tasks",
      "/api/timeline?start_ns=0&end_ns=100000000000&width=800", "/api/profile?kind=sync"};
  static char body[8192];
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    ASSERT_EQ(http_get(port, targets[i], body, sizeof body), 409);
    ASSERT_STR_CONTAINS(body, "changed on disk");
    ASSERT_STR_CONTAINS(body, "restart ctrace view");
  }
  /* the page itself is still served (it shows the API's error) */
  ASSERT_EQ(http_status(port, "/"), 200);
  ASSERT_EQ(read_line_with(pe[0], "changed on disk", line, sizeof line), 0);
  ASSERT_EQ(kill(pid, 0), 0); /* still up */
  kill(pid, SIGTERM);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { /* say why: its stderr */
    char rest[4096];
    ssize_t k;
    while ((k = read(pe[0], rest, sizeof rest - 1)) > 0) {
      rest[k] = 0;
      fprintf(stderr, "# view: %s", rest);
    }
  }
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  close(po[0]);
  close(pe[0]);
  return 0;
}
TEST_IMPL(record_view_survives_trace_truncated_in_place) {
  return view_file_changes(0);
}
TEST_IMPL(record_view_survives_trace_rewritten) {
  return view_file_changes(1);
}

/* Logs dropped for want of a buffer are counted once each, and their
 * DROPPED record dates the first loss inside the trace (the log path used
 * to leave the first-drop time unset: "lost for 10^10 s"). */
TEST_IMPL(record_log_drops_counted_with_first_drop_time) {
  setenv("CTRACE_BUFFER_KB", "4", 1);
  setenv("CTRACE_TEST_FAIL_ALLOC", "2", 1);       /* only the first buffer exists */
  setenv("CTRACE_TEST_WRITER_DELAY_MS", "20", 1); /* and it comes back late */
  const char *path = test_path("logdrop.ctrace");
  ASSERT_EQ(ctrace_start_path(path), 0);
  char msg[1001];
  memset(msg, 'x', sizeof msg - 1);
  msg[sizeof msg - 1] = 0;
  const long n = 400;
  for (long i = 0; i < n; i++)
    ctrace_log_str(CTRACE_TASK_NONE, "big", msg);
  ASSERT_EQ(ctrace_stop(), 0);
  unsetenv("CTRACE_TEST_FAIL_ALLOC");
  unsetenv("CTRACE_TEST_WRITER_DELAY_MS");
  ctrace_reader *r = open_trace(path);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  uint64_t kept = ctrace_reader_nevents_kind(r, CTRACE_EV_LOG);
  ASSERT_GT(ctrace_reader_dropped(r), 0);
  ASSERT_UINT_EQ(kept + ctrace_reader_dropped(r), (uint64_t)n);
  int64_t span = ctrace_reader_ns(r, ctrace_reader_last_ticks(r)) -
                 ctrace_reader_ns(r, ctrace_reader_first_ticks(r));
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, 0);
  int drops = 0;
  while (ctrace_cursor_next(&c, &ev)) {
    if (ev.kind != CTRACE_EV_DROPPED)
      continue;
    drops++;
    int64_t lost_for = ctrace_reader_ns(r, ev.ticks) - ctrace_reader_ns(r, ev.ticks - ev.f[1]);
    ASSERT_LE(lost_for, span);
  }
  ASSERT_GT(drops, 0);
  ctrace_reader_close(r);
  return 0;
}

/* ---- a thread stuck mid-event at stop ---- */

static int stuck_pipe[2];
static _Atomic long stuck_progress;
static _Atomic int stuck_quit;
static _Atomic int stuck_in_handler;

/* Records one event (lost: it interrupts one) and then blocks until the
 * test lets it go: the thread stays mid-event across a stop. */
static void on_usr1(int sig) {
  (void)sig;
  ctrace_counter("in.handler", 1);
  atomic_store(&stuck_in_handler, 1); /* lock-free: async-signal-safe */
  char c;
  while (read(stuck_pipe[0], &c, 1) < 0) {
  }
}

static void *stuck_loop(void *arg) {
  (void)arg;
  for (long i = 0; !atomic_load(&stuck_quit); i++) {
    ctrace_counter("loop", i);
    atomic_fetch_add(&stuck_progress, 1);
  }
  return NULL;
}

/* The losses of a thread stuck mid-event at stop (the event in flight, the
 * handler's) are reported by that stop, once: not again by the next trace
 * the thread records into. */
TEST_IMPL(record_stuck_thread_losses_reported_once) {
#if defined(__SANITIZE_THREAD__)
  /* Stop reads the state of a thread blocked in its handler, ordered by
   * membarrier() and the busy flag (record.h): TSan cannot see that order
   * and reports every such read. */
  RETURN_SKIP("TSan cannot model the membarrier ordering a stuck thread relies on");
#endif
  /* One buffer holds everything the loop records before the signal lands:
   * the thread must not be inside the recorder's malloc when its handler
   * blocks (stop's free() would then wait for malloc's lock; that hazard of
   * a handler blocking forever is documented in docs/RUN.md, and is not
   * what this test is about). */
  setenv("CTRACE_BUFFER_KB", "16384", 1);
  ASSERT_EQ(pipe(stuck_pipe), 0);
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  int stuck_seen = 0;
  for (int attempt = 0; attempt < 20 && !stuck_seen; attempt++) {
    const char *p1 = test_path("stuck1.ctrace"), *p2 = test_path("stuck2.ctrace");
    ASSERT_EQ(ctrace_start_path(p1), 0);
    atomic_store(&stuck_quit, 0);
    atomic_store(&stuck_progress, 0);
    pthread_t t;
    pthread_create(&t, NULL, stuck_loop, NULL);
    while (atomic_load(&stuck_progress) < 1000)
      sched_yield();
    atomic_store(&stuck_in_handler, 0);
    pthread_kill(t, SIGUSR1); /* most likely lands mid-event */
    /* Stuck once the handler has recorded its event (it then blocks). Not
     * "the loop stopped moving": a thread only preempted on a loaded
     * machine looks the same, and its signal then lands in trace 2. */
    while (!atomic_load(&stuck_in_handler))
      sched_yield();
    ASSERT_EQ(ctrace_stop(), 0);
    ASSERT_EQ(ctrace_start_path(p2), 0);
    ASSERT_EQ(write(stuck_pipe[1], "x", 1), 1); /* the thread goes on, in trace 2 */
    long base = atomic_load(&stuck_progress);
    while (atomic_load(&stuck_progress) < base + 1000)
      sched_yield();
    ASSERT_EQ(ctrace_stop(), 0);
    atomic_store(&stuck_quit, 1);
    pthread_join(t, NULL);
    ctrace_reader *r1 = open_trace(p1), *r2 = open_trace(p2);
    /* Trace 1 counts the event in flight and the handler's when the signal
     * landed mid-event (else the handler's event was simply recorded). */
    stuck_seen = ctrace_reader_dropped(r1) == 2;
    ASSERT_UINT_EQ(ctrace_reader_dropped(r2), 0);
    ctrace_reader_close(r1);
    ctrace_reader_close(r2);
  }
  ASSERT(stuck_seen);
  close(stuck_pipe[0]);
  close(stuck_pipe[1]);
  return 0;
}

/* ---- relative fields (format 1.3) ---- */

#include "../src/record/record.h"

struct rel_expect {
  uint8_t kind;
  uint64_t a, b;  /* the fields that are stored relative (and dur) */
  uint64_t ticks; /* WAIT, SYSCALL: when recorded */
};
#define REL_MAX 4096
static struct rel_expect rel_exp[REL_MAX];
static size_t rel_n;

static void rel_note(uint8_t kind, uint64_t a, uint64_t b) {
  if (rel_n < REL_MAX)
    rel_exp[rel_n++] = (struct rel_expect){kind, a, b, 0};
}

/* A WAIT and a WAKE as the preload writes them (record.h's helpers). */
static void rel_wait_wake(uint64_t obj, uint32_t wtid, uint64_t obj2) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint64_t now = ctrace__now(), dur = obj % 3 ? 10 : 1u << 30; /* a span before the last event */
  uint8_t *p = ctrace__ev_span(t, CTRACE_EV_WAIT, now, dur);
  p = ctrace__put_uvarint(p, CTRACE_WAIT_MUTEX);
  p = ctrace__put_object(t, p, obj);
  p = ctrace__put_uvarint(p, dur);
  p = ctrace__put_uvarint(p, 0);
  ctrace__leave(t, p);
  rel_note(CTRACE_EV_WAIT, obj, dur);
  rel_exp[rel_n - 1].ticks = now;
  t = ctrace__enter();
  if (!t)
    return;
  p = ctrace__ev(t, CTRACE_EV_WAKE, ctrace__now());
  p = ctrace__put_wake_tid(t, p, wtid);
  p = ctrace__put_object(t, p, obj2);
  p = ctrace__put_uvarint(p, CTRACE_WAIT_MUTEX);
  p = ctrace__put_uvarint(p, 0);
  ctrace__leave(t, p);
  rel_note(CTRACE_EV_WAKE, wtid, obj2);
  t = ctrace__enter();
  if (!t)
    return;
  int64_t result = obj % 5 == 0 ? -11 : (int64_t)(obj % 100000);
  now = ctrace__now();
  p = ctrace__ev_span(t, CTRACE_EV_SYSCALL, now, 7);
  p = ctrace__put_uvarint(p, CTRACE_CALL_read);
  p = ctrace__put_uvarint(p, CTRACE_SC_FILE);
  p = ctrace__put_uvarint(p, 3);
  p = ctrace__put_result(t, p, result);
  p = ctrace__put_uvarint(p, 7);
  p = ctrace__put_uvarint(p, 0);
  ctrace__leave(t, p);
  rel_note(CTRACE_EV_SYSCALL, ctrace__zigzag(result), 7);
  rel_exp[rel_n - 1].ticks = now;
}

/* One request's worth of events with relative fields, varied by i. */
static void rel_request(unsigned i, uint32_t tid) {
  ctrace_task_t parent = i % 4 == 0 ? CTRACE_TASK_NONE : ctrace_task_current();
  ctrace_task_t task = ctrace_task_begin(parent, "req");
  rel_note(CTRACE_EV_TASK_BEGIN, task, parent);
  ctrace_region_begin("r");
  rel_note(CTRACE_EV_REGION_BEGIN, task, 0);
  ctrace_region_end();
  ctrace_log_str(i % 3 ? task : CTRACE_TASK_NONE, "c", "m");
  rel_note(CTRACE_EV_LOG, i % 3 ? task : 0, 0);
  uint64_t far = 0x7ffc00001000ull + i * 4096, near = 0x555500001000ull + (i % 7) * 64;
  rel_wait_wake(i % 2 ? far : near, tid + (i % 5) - 2, i % 3 ? near : (uint64_t)i);
  ctrace_task_end(task);
  rel_note(CTRACE_EV_TASK_END, task, 0);
}

/* Events of thread tid in the file so far (the writer's partial batches). */
static uint64_t rel_events_written(const char *path, uint32_t tid) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &r, err, sizeof err) < 0)
    return 0;
  uint64_t n = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++)
    if (ctrace_reader_thread(r, i)->tid == tid)
      n += ctrace_reader_thread(r, i)->nevents;
  ctrace_reader_close(r);
  return n;
}

/* Task ids, WAIT and WAKE objects and WAKE's tid are stored relative to
 * the batch (1.3), and so are SYSCALL's result and the times of WAIT and
 * SYSCALL (from their span's start): they read back as recorded when the writer cuts a
 * thread's buffer into batches while the thread records (its parts every
 * CTRACE__FLUSH_NS, and the rest of a buffer handed over after them),
 * including ids far apart, task 0 and tids on both sides of the thread's. */
TEST_IMPL(record_relative_fields_across_batches) {
  setenv("CTRACE_BUFFER_KB", "4", 1);
  const char *path = test_path("rel.ctrace");
  ASSERT_EQ(ctrace_start_path(path), 0);
  uint32_t tid = (uint32_t)gettid();
  unsigned i = 0;
  for (int phase = 0; phase < 3; phase++) {
    unsigned n = phase < 2 ? 5 : 300; /* the last fills 4 KiB buffers */
    for (unsigned k = 0; k < n; k++)
      rel_request(i++, tid);
    if (phase == 2)
      break;
    /* until the writer took a part of this thread's buffer */
    uint64_t want = (uint64_t)rel_n, got = 0;
    for (int w = 0; w < 400 && got < want; w++) {
      sleep_ms(50);
      got = rel_events_written(path, tid);
    }
    ASSERT(got >= want);
  }
  ASSERT_EQ(ctrace_stop(), 0);
  ASSERT(rel_n < REL_MAX);
  ctrace_reader *r = open_trace(path);
  ASSERT_EQ(ctrace_reader_version_minor(r), CTRACE_FORMAT_MINOR);
  ASSERT(ctrace_reader_nbatches(r) > 4);
  int64_t ti = ctrace_reader_thread_index(r, tid);
  ASSERT(ti >= 0);
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, (uint32_t)ti);
  size_t k = 0;
  uint64_t last = 0;
  while (ctrace_cursor_next(&c, &ev)) {
    ASSERT(ev.ticks >= last); /* times of a thread never go backwards */
    uint64_t before = last;
    last = ev.ticks;
    if (!ctrace__rel_kind(ev.kind))
      continue;
    ASSERT(k < rel_n);
    const struct rel_expect *e = &rel_exp[k++];
    ASSERT_EQ(ev.kind, e->kind);
    /* when recorded (or, were the clock behind, at the event before) */
    if (e->ticks)
      ASSERT(ev.ticks == e->ticks || (ev.ticks == before && e->ticks < before));
    switch (ev.kind) {
    case CTRACE_EV_TASK_BEGIN:
      ASSERT_EQ(ev.f[0], e->a);
      ASSERT_EQ(ev.f[1], e->b);
      break;
    case CTRACE_EV_WAIT:
      ASSERT_EQ(ev.f[1], e->a);
      ASSERT_EQ(ev.f[2], e->b);
      break;
    case CTRACE_EV_SYSCALL:
      ASSERT_EQ(ev.f[3], e->a);
      ASSERT_EQ(ev.f[4], e->b);
      break;
    case CTRACE_EV_WAKE:
      ASSERT_EQ(ev.f[0], e->a);
      ASSERT_EQ(ev.f[1], e->b);
      break;
    default:
      ASSERT_EQ(ev.f[0], e->a);
    }
  }
  ASSERT_EQ(k, rel_n);
  ctrace_reader_close(r);
  return 0;
}

/* ---- names by address ---- */

/* The thread's cache of names by address compares the bytes every time: a
 * buffer reused for other names (short and long ones, and one that ends a
 * page, where the short compare does not read past it) names each event by
 * what it held when the event was recorded. */
TEST_IMPL(record_names_by_address_follow_the_bytes) {
  const char *path = test_path("namebuf.ctrace");
  long pg = sysconf(_SC_PAGESIZE);
  char *page = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT(page != MAP_FAILED);
  ASSERT_EQ(mprotect(page + pg, (size_t)pg, PROT_NONE), 0); /* a read past the page faults */
  static const char *names[] = {"queue", "queues", "q", "a.name.of.14ch", "a.name.of.15chr",
                                "a much longer counter name than sixteen bytes", "queue"};
  enum { N = sizeof names / sizeof names[0], ROUNDS = 3 };
  char buf[64];
  ASSERT_EQ(ctrace_start_path(path), 0);
  for (int r = 0; r < ROUNDS; r++)
    for (int i = 0; i < N; i++) {
      strcpy(buf, names[i]);
      ctrace_counter(buf, i);
      ctrace_log_str(CTRACE_TASK_NONE, buf, "m");
      /* the same bytes ending the mapped page, NUL last */
      char *end = page + pg - (strlen(names[i]) + 1);
      strcpy(end, names[i]);
      ctrace_counter(end, 100 + i);
    }
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r = open_trace(path);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, 0);
  int counters = 0, logs = 0;
  while (ctrace_cursor_next(&c, &ev)) {
    char got[80];
    if (ev.kind == CTRACE_EV_COUNTER) {
      int64_t v = ctrace__unzigzag(ev.f[1]);
      int i = (int)(v >= 100 ? v - 100 : v);
      ASSERT(i >= 0 && i < N);
      ASSERT_STR_EQ(ctrace_reader_strcpy(r, ev.f[0], got, sizeof got), names[i]);
      counters++;
    } else if (ev.kind == CTRACE_EV_LOG) {
      ASSERT(logs < ROUNDS * N);
      ASSERT_STR_EQ(ctrace_reader_strcpy(r, ev.f[1], got, sizeof got), names[logs % N]);
      logs++;
    }
  }
  ASSERT_EQ(counters, 2 * ROUNDS * N);
  ASSERT_EQ(logs, ROUNDS * N);
  ctrace_reader_close(r);
  munmap(page, (size_t)pg * 2);
  return 0;
}
