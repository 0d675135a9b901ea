/*
 * test-preload.c - `ctrace run` and libctrace-preload.so on programs whose
 * behaviour is known exactly (tests/progs/): every contention and its
 * wake-up, condvar hand-offs, loopback bytes, sleep lengths, fork/exec/spawn
 * files, the API in the same trace, fatal signals, the trace fd surviving a
 * close-everything loop, errno, option filters, and the refusals; a thread
 * still blocked at exit (PENDING), wake-up edges checked edge by edge
 * against the waits they end, socket I/O classed as network.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"
#include "../src/analyze/timeline.h"
#include "../src/read/reader.h"

#define PROG(name) test_build_path("src/preload/prog_" name)

struct evs {
  ctrace_reader *r;
  ctrace_event *ev;
  size_t n;
};

/* Reads every event of path, whose reader must end in status want. */
static void load_status(const char *path, struct evs *e, enum ctrace_read_status want) {
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &e->r, err, sizeof err) != 0)
    TEST_FAIL_("cannot read %s: %s", path, err);
  ASSERT_EQ(ctrace_reader_status(e->r), want);
  ctrace_merge *m = ctrace_merge_new(e->r);
  ASSERT(m);
  size_t cap = 0;
  e->ev = NULL;
  e->n = 0;
  ctrace_event ev;
  while (ctrace_merge_next(m, &ev)) {
    if (e->n == cap) {
      cap = cap ? cap * 2 : 256;
      e->ev = realloc(e->ev, cap * sizeof *e->ev);
      ASSERT(e->ev);
    }
    e->ev[e->n++] = ev;
  }
  ctrace_merge_free(m);
}

static void load(const char *path, struct evs *e) {
  load_status(path, e, CTRACE_READ_OK);
}

static void unload(struct evs *e) {
  free(e->ev);
  ctrace_reader_close(e->r);
}

static size_t count(const struct evs *e, int kind, int f0, long long f0val) {
  size_t c = 0;
  for (size_t i = 0; i < e->n; i++)
    if (e->ev[i].kind == kind && (f0 < 0 || e->ev[i].f[f0] == (uint64_t)f0val))
      c++;
  return c;
}

static int64_t ns(const struct evs *e, uint64_t ticks) {
  return ctrace_reader_ns(e->r, ticks);
}

/* Runs `ctrace run [opts] -o path -- argv...`; returns the exit status. */
static int run(const char *path, const char *const *opts, const char *const *prog, char **out,
               char **err) {
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)test_build_path("ctrace");
  argv[n++] = "run";
  argv[n++] = "-o";
  argv[n++] = (char *)path;
  for (int i = 0; opts && opts[i]; i++)
    argv[n++] = (char *)opts[i];
  argv[n++] = "--";
  for (int i = 0; prog[i] && n < 31; i++)
    argv[n++] = (char *)prog[i];
  argv[n] = NULL;
  return test_run(argv, NULL, out, err);
}

static uint64_t parse_ptr(const char *out, const char *key) {
  const char *p = strstr(out, key);
  ASSERT(p);
  return strtoull(p + strlen(key), NULL, 16);
}

TEST_IMPL(preload_mutex_contended_records_waits_and_wakes) {
  const char *path = test_path("m.ctrace");
  char *out;
  const char *prog[] = {PROG("mutex_contend"), "4", "200", NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "counter 800");
  uint64_t obj = parse_ptr(out, "mutex 0x");
  struct evs e;
  load(path, &e);
  size_t waits = 0, paired = 0, wakes = 0;
  for (size_t i = 0; i < e.n; i++) {
    const ctrace_event *w = &e.ev[i];
    if (w->kind == CTRACE_EV_WAKE && w->f[1] == obj) {
      wakes++;
      ASSERT_EQ(w->f[2], CTRACE_WAIT_MUTEX);
      ASSERT_NE(w->f[0], w->tid);
      ASSERT_GT(w->f[0], 0);
    }
    if (w->kind != CTRACE_EV_WAIT || w->f[0] != CTRACE_WAIT_MUTEX)
      continue;
    ASSERT_UINT_EQ(w->f[1], obj);
    ASSERT_GT(w->f[3], 0); /* a stack */
    waits++;
    /* A WAKE of this object by another thread during the wait (the
     * releaser's event may be written a little after the waiter woke). */
    int64_t end = ns(&e, w->ticks), start = ns(&e, w->ticks - w->f[2]);
    for (size_t j = 0; j < e.n; j++) {
      const ctrace_event *k = &e.ev[j];
      if (k->kind == CTRACE_EV_WAKE && k->f[1] == obj && k->tid != w->tid &&
          ns(&e, k->ticks) >= start && ns(&e, k->ticks) <= end + 20000000) {
        paired++;
        break;
      }
    }
  }
  fprintf(stderr, "# %zu waits, %zu paired with a wake, %zu wakes\n", waits, paired, wakes);
  ASSERT_GE(waits, 50); /* 4 threads x 200 locks of 20 us each: most wait */
  ASSERT_GE(paired * 100, waits * 95);
  ASSERT_GE(wakes * 100, waits * 80);
  unload(&e);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_condvar_producer_consumer) {
  const char *path = test_path("c.ctrace");
  char *out;
  const char *prog[] = {PROG("condvar_pc"), "100", NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "sum 5050");
  uint64_t cond = parse_ptr(out, "cond 0x");
  struct evs e;
  load(path, &e);
  size_t waits = 0, wakes = 0;
  for (size_t i = 0; i < e.n; i++) {
    if (e.ev[i].kind == CTRACE_EV_WAIT && e.ev[i].f[0] == CTRACE_WAIT_COND) {
      ASSERT_UINT_EQ(e.ev[i].f[1], cond);
      waits++;
    }
    if (e.ev[i].kind == CTRACE_EV_WAKE && e.ev[i].f[2] == CTRACE_WAIT_COND)
      wakes++;
  }
  fprintf(stderr, "# %zu cond waits, %zu wakes\n", waits, wakes);
  ASSERT_GE(waits, 50);
  ASSERT_GE(wakes, 50);
  /* The consumer's name, from pthread_setname_np. */
  int named = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(e.r); i++) {
    char buf[32];
    ctrace_reader_strcpy(e.r, ctrace_reader_thread(e.r, i)->name, buf, sizeof buf);
    named |= strcmp(buf, "consumer") == 0;
  }
  ASSERT(named);
  /* Thread creation links the creator to the new thread. */
  ASSERT_EQ(count(&e, CTRACE_EV_THREAD_CREATE, -1, 0), 1);
  ASSERT_EQ(count(&e, CTRACE_EV_THREAD_START, -1, 0), 1);
  unload(&e);
  free(out);
  return TEST_OK;
}

/* Threads named by their creator right after pthread_create, before they
 * first ran (their kernel tid is known then: glibc's CPU clock id of the
 * thread), and one named by itself with prctl: every name is on its
 * thread. It once kept the names of threads that had run first only. */
TEST_IMPL(preload_threads_named_before_they_ran) {
  const char *path = test_path("names.ctrace");
  char *out;
  const char *prog[] = {PROG("thread_names"), NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  struct evs e;
  load(path, &e);
  int lines = 0;
  for (const char *p = out; p && *p; lines++) {
    long tid;
    char want[32], got[32];
    ASSERT_EQ(sscanf(p, "%ld %31s", &tid, want), 2);
    int64_t ti = ctrace_reader_thread_index(e.r, (uint32_t)tid);
    ASSERT(ti >= 0);
    ctrace_reader_strcpy(e.r, ctrace_reader_thread(e.r, (uint32_t)ti)->name, got, sizeof got);
    ASSERT_STR_CONTAINS(got, want); /* "worker-N", "self-named" */
    p = strchr(p, '\n');
    p = p ? p + 1 : NULL;
  }
  ASSERT_EQ(lines, 9);
  unload(&e);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_tcp_loopback_bytes_match) {
  const char *path = test_path("t.ctrace");
  char *out;
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *prog[] = {PROG("tcp_loop"), "50", NULL};
  ASSERT_EQ(run(path, opts, prog, &out, NULL), 0);
  long sent = 0, received = 0;
  int port = 0;
  ASSERT_EQ(sscanf(out, "sent %ld received %ld port %d", &sent, &received, &port), 3);
  ASSERT_EQ(sent, 50000);
  struct evs e;
  load(path, &e);
  long tsent = 0, trecv = 0;
  int addrs = 0;
  for (size_t i = 0; i < e.n; i++) {
    const ctrace_event *v = &e.ev[i];
    if (v->kind == CTRACE_EV_SYSCALL && v->f[0] == CTRACE_CALL_send)
      tsent += ctrace__unzigzag(v->f[3]);
    if (v->kind == CTRACE_EV_SYSCALL && v->f[0] == CTRACE_CALL_recv)
      trecv += ctrace__unzigzag(v->f[3]) > 0 ? ctrace__unzigzag(v->f[3]) : 0;
    if (v->kind == CTRACE_EV_SYSCALL && v->f[0] >= CTRACE_CALL_socket &&
        v->f[0] <= CTRACE_CALL_sendmmsg)
      ASSERT_EQ(v->f[1], CTRACE_SC_NET);
    if (v->kind == CTRACE_EV_SOCKADDR) {
      ASSERT_GE(v->blob_len, 8);
      /* sockaddr_in: family 2, port in network order */
      ASSERT_EQ(v->blob[0] | v->blob[1] << 8, 2);
      if (v->f[1] == CTRACE_CALL_connect)
        ASSERT_EQ(v->blob[2] << 8 | v->blob[3], port);
      addrs++;
    }
  }
  ASSERT_EQ(tsent, sent);
  ASSERT_EQ(trecv, received);
  ASSERT_EQ(addrs, 2); /* connect and accept */
  unload(&e);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_sleep_durations) {
  const char *path = test_path("s.ctrace");
  const char *prog[] = {PROG("sleeper"), NULL};
  ASSERT_EQ(run(path, NULL, prog, NULL, NULL), 0);
  struct evs e;
  load(path, &e);
  const int64_t want_ms[] = {50, 30, 20};
  int k = 0;
  for (size_t i = 0; i < e.n; i++) {
    if (e.ev[i].kind != CTRACE_EV_WAIT || e.ev[i].f[0] != CTRACE_WAIT_SLEEP)
      continue;
    ASSERT_LT(k, 3);
    int64_t d = ns(&e, e.ev[i].ticks) - ns(&e, e.ev[i].ticks - e.ev[i].f[2]);
    ASSERT_GE(d, want_ms[k] * 1000000);
    ASSERT_LE(d, want_ms[k] * 1000000 + 250000000); /* a loaded 2-core machine */
    ASSERT_GT(e.ev[i].f[3], 0);
    k++;
  }
  ASSERT_EQ(k, 3);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, 0, 0), 1); /* exit status 0 */
  unload(&e);
  return TEST_OK;
}

/* STEM.TAG.ctrace next to path (path ends in ".ctrace"). */
static const char *sibling(const char *path, const char *tag) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%.*s.%s.ctrace", (int)(strlen(path) - 7), path, tag);
  return buf;
}

TEST_IMPL(preload_fork_exec_chain) {
  const char *path = test_path("f.ctrace");
  char *out;
  const char *prog[] = {PROG("forkexec"), NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  int pid = 0, st = 0;
  ASSERT_EQ(sscanf(out, "child %d exited %d", &pid, &st), 2);
  ASSERT_EQ(st, 3);
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_FORK, 0, pid), 1);
  unload(&e);
  /* The fork child's own trace: it exec'd. */
  char tag[32];
  snprintf(tag, sizeof tag, "%d", pid);
  load(sibling(path, tag), &e);
  ASSERT_EQ(count(&e, CTRACE_EV_EXEC, -1, 0), 1);
  ASSERT_EQ(ctrace_reader_pid(e.r), (uint32_t)pid);
  unload(&e);
  /* The image it exec'd: sleeps 10 ms and exits 3. */
  snprintf(tag, sizeof tag, "%d-1", pid);
  load(sibling(path, tag), &e);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP), 1);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, 0, ctrace__zigzag(3)), 1);
  unload(&e);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_spawn_child_traced) {
  const char *path = test_path("p.ctrace");
  char *out;
  const char *prog[] = {PROG("forkexec"), "spawn", NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  int pid = 0, st = 0;
  ASSERT_EQ(sscanf(out, "child %d exited %d", &pid, &st), 2);
  ASSERT_EQ(st, 3);
  char tag[32];
  snprintf(tag, sizeof tag, "%d", pid);
  struct evs e;
  load(sibling(path, tag), &e);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP), 1);
  unload(&e);
  /* Not followed: no child file. */
  const char *path2 = test_path("q.ctrace");
  const char *opts[] = {"--no-follow-forks", NULL};
  free(out);
  ASSERT_EQ(run(path2, opts, prog, &out, NULL), 0);
  ASSERT_EQ(sscanf(out, "child %d exited %d", &pid, &st), 2);
  snprintf(tag, sizeof tag, "%d", pid);
  ASSERT_NE(access(sibling(path2, tag), F_OK), 0);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_api_and_preload_one_trace) {
  const char *path = test_path("a.ctrace");
  char *out;
  const char *prog[] = {PROG("api_mixed"), NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "enabled 1");
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_TASK_BEGIN, -1, 0), 1);
  ASSERT_EQ(count(&e, CTRACE_EV_LOG, -1, 0), 1);
  ASSERT_GE(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_MUTEX), 1);
  unload(&e);
  free(out);
  return TEST_OK;
}

/* The tracer's start allocates nothing with malloc: a program that has not
 * called malloc finds its heap as untraced (none yet), and a process that
 * never allocates pays for no heap because of the tracer. */
TEST_IMPL(preload_start_leaves_the_heap_alone) {
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "asan"))
    RETURN_SKIP("ASan's malloc is not glibc's");
  char *argv[] = {(char *)PROG("heap_probe"), NULL};
  char *out = NULL, *err = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, &err), 0);
  ASSERT_STR_CONTAINS(out, "arena 0 ");
  free(out);
  free(err);
  const char *prog[] = {PROG("heap_probe"), NULL};
  ASSERT_EQ(run(test_path("h.ctrace"), NULL, prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "arena 0 ");
  free(out);
  return TEST_OK;
}

/* The tracer's fds (the trace's, the scheduling events') are not the
 * program's to see or close: after a close-everything loop, close_range
 * and closefrom, the program finds no fd open, as untraced, and both the
 * trace and its scheduling data go on (the sleep's switch-out is there). */
TEST_IMPL(preload_trace_fd_survives_close_all) {
  const char *path = test_path("x.ctrace");
  const char *prog[] = {PROG("closeall"), NULL};
  char *out;
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  ASSERT_STR_EQ(out, "open 0\n");
  free(out);
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP), 1);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, -1, 0), 1);
  const char *sched = ctrace_reader_property(e.r, "sched");
  if (sched && strcmp(sched, "on") == 0) {
    ASSERT(ctrace_reader_property(e.r, "sched_fds") == NULL);
    int blocked = 0;
    for (uint32_t ti = 0; ti < ctrace_reader_nthreads(e.r); ti++) {
      const struct ctrace_oncpu *iv;
      uint32_t n = ctrace_reader_oncpu(e.r, ti, &iv);
      for (uint32_t i = 0; i < n; i++)
        blocked += iv[i].left == CTRACE_SCHED_LEFT_BLOCKED;
    }
    ASSERT_GE(blocked, 1);
  }
  unload(&e);
  return TEST_OK;
}

static int crash_test(const char *how, int sig) {
  const char *pre = getenv("LD_PRELOAD");
  if (sig == SIGSEGV && pre && strstr(pre, "asan"))
    RETURN_SKIP("ASan handles SIGSEGV itself (its report, exit 1)");
  const char *path = test_path("k.ctrace");
  const char *prog[] = {PROG("crash"), how, NULL};
  ASSERT_EQ(run(path, NULL, prog, NULL, NULL), 128 + sig);
  struct evs e;
  load(path, &e); /* complete: status OK */
  ASSERT_EQ(count(&e, CTRACE_EV_SIGNAL, 0, sig), 1);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP), 1);
  unload(&e);
  return TEST_OK;
}

TEST_IMPL(preload_fatal_signal_flushes_trace) {
  return crash_test("segv", SIGSEGV);
}

TEST_IMPL(preload_abort_flushes_trace) {
  return crash_test("abort", SIGABRT);
}

TEST_IMPL(preload_run_forwards_sigterm) {
  const char *path = test_path("g.ctrace");
  pid_t pid = fork();
  if (pid == 0) {
    execl(test_build_path("ctrace"), "ctrace", "run", "-o", path, "--", PROG("crash"), "term",
          (char *)NULL);
    _exit(127);
  }
  /* Wait until the traced program runs (its trace has a header and the
   * start's definitions), however loaded the machine, then a little more
   * for it to reach pause(). */
  struct stat sb;
  for (int i = 0; i < 1000 && (stat(path, &sb) != 0 || sb.st_size < 64); i++)
    usleep(10000);
  usleep(200000);
  kill(pid, SIGTERM);
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT(WIFSIGNALED(st));
  ASSERT_EQ(WTERMSIG(st), SIGTERM);
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_SIGNAL, 0, SIGTERM), 1);
  unload(&e);
  return TEST_OK;
}

TEST_IMPL(preload_run_keeps_exit_status) {
  const char *path = test_path("e.ctrace");
  char *out;
  const char *prog[] = {"/bin/sh", "-c", "echo hello; exit 7", NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 7);
  ASSERT_STR_EQ(out, "hello\n");
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_run_rejects_static_binary) {
  const char *stat_prog = PROG("static");
  if (access(stat_prog, X_OK) != 0)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    RETURN_SKIP("no static test program in a sanitizer build (sanitizers cannot link -static)");
#else
    RETURN_SKIP("no static test program (libc.a missing at build time)");
#endif
  char *err;
  const char *prog[] = {stat_prog, NULL};
  ASSERT_EQ(run(test_path("z.ctrace"), NULL, prog, NULL, &err), 1);
  ASSERT_STR_CONTAINS(err, "statically linked");
  free(err);
  return TEST_OK;
}

TEST_IMPL(preload_run_rejects_setuid_binary) {
  if (geteuid() != 0)
    RETURN_SKIP("needs root to make a setuid file owned by another user");
  const char *copy = test_path("suid_prog");
  size_t len;
  char *bin = test_read_file(PROG("sleeper"), &len);
  ASSERT(bin);
  ASSERT_EQ(test_write_file(copy, bin, len), 0);
  free(bin);
  ASSERT_EQ(chown(copy, 65534, 65534), 0);
  ASSERT_EQ(chmod(copy, 04755), 0);
  char *err;
  const char *prog[] = {copy, NULL};
  ASSERT_EQ(run(test_path("u.ctrace"), NULL, prog, NULL, &err), 1);
  ASSERT_STR_CONTAINS(err, "setuid");
  free(err);
  return TEST_OK;
}

TEST_IMPL(preload_run_missing_library) {
  char *err;
  const char *opts[] = {"--preload", "/nonexistent/libctrace-preload.so", NULL};
  const char *prog[] = {PROG("sleeper"), NULL};
  ASSERT_EQ(run(test_path("y.ctrace"), opts, prog, NULL, &err), 1);
  ASSERT_STR_CONTAINS(err, "cannot find the preload library");
  free(err);
  return TEST_OK;
}

TEST_IMPL(preload_errno_preserved) {
  char *out;
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *prog[] = {PROG("errno_check"), NULL};
  ASSERT_EQ(run(test_path("n.ctrace"), opts, prog, &out, NULL), 0);
  ASSERT_STR_EQ(out, "ok\n");
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_families_filter) {
  const char *path = test_path("h.ctrace");
  const char *opts[] = {"--families", "sleep", "--min-duration", "0", NULL};
  const char *prog[] = {PROG("tcp_loop"), "5", NULL};
  ASSERT_EQ(run(path, opts, prog, NULL, NULL), 0);
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_SYSCALL, -1, 0), 0);
  ASSERT_EQ(count(&e, CTRACE_EV_SOCKADDR, -1, 0), 0);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_JOIN), 0);
  unload(&e);
  return TEST_OK;
}

TEST_IMPL(preload_min_duration_filters_fast_calls) {
  const char *path = test_path("d.ctrace");
  const char *opts[] = {"--min-duration", "1s", NULL};
  const char *prog[] = {PROG("tcp_loop"), "20", NULL};
  ASSERT_EQ(run(path, opts, prog, NULL, NULL), 0);
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_SYSCALL, -1, 0), 0);
  ASSERT_EQ(count(&e, CTRACE_EV_SOCKADDR, -1, 0), 2); /* always recorded */
  unload(&e);
  return TEST_OK;
}

TEST_IMPL(preload_fortify_chk_variants_recorded) {
  const char *path = test_path("fo.ctrace");
  char *out;
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *prog[] = {PROG("fortify"), "16", NULL};
  ASSERT_EQ(run(path, opts, prog, &out, NULL), 0);
  ASSERT_STR_EQ(out, "read 16 recv 5\n");
  struct evs e;
  load(path, &e);
  int reads = 0, recvs = 0;
  for (size_t i = 0; i < e.n; i++) {
    if (e.ev[i].kind != CTRACE_EV_SYSCALL)
      continue;
    reads += e.ev[i].f[0] == CTRACE_CALL_read && ctrace__unzigzag(e.ev[i].f[3]) == 16;
    recvs += e.ev[i].f[0] == CTRACE_CALL_recv && ctrace__unzigzag(e.ev[i].f[3]) == 5;
  }
  ASSERT_EQ(reads, 1);
  ASSERT_EQ(recvs, 1);
  unload(&e);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_signal_handler_reentry_safe) {
  const char *path = test_path("ss.ctrace");
  char *out;
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *prog[] = {PROG("sigstress"), NULL};
  ASSERT_EQ(run(path, opts, prog, &out, NULL), 0);
  ASSERT_STR_EQ(out, "done 1\n");
  struct evs e;
  load(path, &e); /* decodes completely: no half-written event */
  ASSERT_GT(count(&e, CTRACE_EV_SYSCALL, 0, CTRACE_CALL_write), 1000);
  unload(&e);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_rwlock_sem_barrier_c11_waits) {
  const char *path = test_path("sm.ctrace");
  char *out;
  const char *prog[] = {PROG("syncmix"), NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  unsigned long long rw, sem, bar, m11, c11;
  ASSERT_EQ(sscanf(out, "rw %llx sem %llx bar %llx m11 %llx c11 %llx", &rw, &sem, &bar, &m11,
                   &c11),
            5);
  struct evs e;
  load(path, &e);
  int rd = 0, sm = 0, br = 0, mx = 0, cv = 0, sl = 0, wk_sem = 0, wk_c11 = 0;
  for (size_t i = 0; i < e.n; i++) {
    const ctrace_event *v = &e.ev[i];
    if (v->kind == CTRACE_EV_WAIT) {
      rd += v->f[0] == CTRACE_WAIT_RWLOCK_READ && v->f[1] == rw;
      sm += v->f[0] == CTRACE_WAIT_SEM && v->f[1] == sem;
      br += v->f[0] == CTRACE_WAIT_BARRIER && v->f[1] == bar;
      mx += v->f[0] == CTRACE_WAIT_MUTEX && v->f[1] == m11;
      cv += v->f[0] == CTRACE_WAIT_COND && v->f[1] == c11;
      sl += v->f[0] == CTRACE_WAIT_SLEEP &&
            ns(&e, v->ticks) - ns(&e, v->ticks - v->f[2]) >= 20000000;
    }
    if (v->kind == CTRACE_EV_WAKE) {
      wk_sem += v->f[1] == sem;
      wk_c11 += v->f[1] == c11;
    }
  }
  ASSERT_EQ(rd, 1);
  ASSERT_EQ(sm, 1);
  ASSERT_EQ(br, 2);
  ASSERT_GE(mx, 1);
  ASSERT_GE(cv, 1);
  ASSERT_GE(sl, 1); /* thrd_sleep, besides the usleeps */
  ASSERT_EQ(wk_sem, 1);
  ASSERT_GE(wk_c11, 1);
  /* prctl(PR_SET_NAME) named the main thread. */
  char buf[32];
  ctrace_reader_strcpy(e.r, ctrace_reader_thread(e.r, 0)->name, buf, sizeof buf);
  ASSERT_STR_EQ(buf, "syncmix");
  unload(&e);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_stats_json_families) {
  const char *path = test_path("sj.ctrace");
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *prog[] = {PROG("tcp_loop"), "10", NULL};
  ASSERT_EQ(run(path, opts, prog, NULL, NULL), 0);
  char *argv[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)path, NULL};
  char *out;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"processes\":1");
  ASSERT_STR_CONTAINS(out, "\"families\":{");
  ASSERT_STR_CONTAINS(out, "\"tracer_overhead_ns\":");
  const char *net = strstr(out, "\"net\":");
  ASSERT(net);
  ASSERT_GT(atoi(net + 6), 10); /* 10 sends, recvs, connect, accept... */
  ASSERT(!strstr(out, "\"tracer_overhead_ns\":0,"));
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_interposers_work_before_init) {
  const char *path = test_path("ei.ctrace");
  char *out;
  const char *prog[] = {PROG("early"), NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  ASSERT_STR_EQ(out, "early\nmain 1\n");
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, 0, 0), 1);
  unload(&e);
  free(out);
  return TEST_OK;
}

/* A worker blocked on a condvar when main calls exit(): its PENDING says
 * since when, on what, with its stack; the timeline, stats and the sync
 * profile show it blocked from its wait to the end, not running. Another
 * blocked in read() on a socket: a PENDING system call of class NET,
 * without a stack (none is taken before a read). A third in epoll_wait: a
 * PENDING call of class POLL with its stack (taken before a wait that may
 * block: an idle server's workers at its stop). */
TEST_IMPL(preload_pending_condvar_at_exit) {
  const char *path = test_path("pe.ctrace");
  char *out;
  const char *prog[] = {PROG("condvar_exit"), "300", NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  uint64_t cond = parse_ptr(out, "cond 0x");
  const char *fdp = strstr(out, " fd "), *epp = strstr(out, " ep ");
  ASSERT(fdp && epp);
  int sock = atoi(fdp + 4), epfd = atoi(epp + 4);
  struct evs e;
  load(path, &e);
  const ctrace_event *pd = NULL, *sl = NULL, *rd = NULL, *pl = NULL;
  size_t npending = 0;
  for (size_t i = 0; i < e.n; i++) {
    if (e.ev[i].kind == CTRACE_EV_PENDING) {
      npending++;
      if (e.ev[i].f[0])
        pd = &e.ev[i];
      else if (e.ev[i].f[1] == CTRACE_CALL_read)
        rd = &e.ev[i];
      else
        pl = &e.ev[i];
    }
    if (e.ev[i].kind == CTRACE_EV_WAIT && e.ev[i].f[0] == CTRACE_WAIT_SLEEP)
      sl = &e.ev[i];
  }
  ASSERT_EQ(npending, 3); /* main is not blocked: it is exiting */
  ASSERT(sl && pd && rd && pl);
  /* The reader: inside read() on a socket (a system call: no stack). */
  ASSERT_EQ(rd->f[1], CTRACE_CALL_read);
  ASSERT_EQ(rd->f[2], CTRACE_SC_NET);
  ASSERT_EQ(rd->f[3], sock);
  ASSERT_EQ(rd->f[5], 0);
  ASSERT_LE(rd->ticks - rd->f[4], sl->ticks - sl->f[2]);
  /* The poller: inside epoll_wait, with the stack of its call. */
  ASSERT(pl->f[1] == CTRACE_CALL_epoll_wait || pl->f[1] == CTRACE_CALL_epoll_pwait);
  ASSERT_EQ(pl->f[2], CTRACE_SC_POLL);
  ASSERT_EQ(pl->f[3], epfd);
  ASSERT_GT(pl->f[5], 0);
  ASSERT_LE(pl->ticks - pl->f[4], sl->ticks - sl->f[2]);
  ASSERT_EQ(pd->f[0], CTRACE_WAIT_COND);
  ASSERT_EQ(pd->f[1], 0);
  ASSERT_EQ(pd->f[2], 0);
  ASSERT_UINT_EQ(pd->f[3], cond);
  ASSERT_GT(pd->f[5], 0); /* the wait's stack */
  ASSERT_NE(pd->tid, sl->tid);
  /* Began before main's sleep did (main sleeps once the worker waits) and
   * is stamped at the stop, after the sleep ended. */
  ASSERT_LE(pd->ticks - pd->f[4], sl->ticks - sl->f[2]);
  ASSERT_GE(pd->ticks, sl->ticks);
  /* The worker's last event. */
  for (size_t i = 0; i < e.n; i++)
    if (e.ev[i].tid == pd->tid && e.ev[i].kind != CTRACE_EV_TRACER_TIME)
      ASSERT(e.ev[i].ticks <= pd->ticks);
  /* Timeline: blocked (sync) nearly all its life, running only briefly. */
  struct ctrace_timeline *tl;
  ASSERT_EQ(ctrace_timeline_build(e.r, NULL, NULL, &tl), 0);
  int64_t wi = ctrace_timeline_thread(tl, pd->tid);
  ASSERT_GE(wi, 0);
  const struct ctrace_tl_thread *w = &tl->threads[wi];
  int64_t life = w->last_ns - w->first_ns;
  fprintf(stderr, "# worker: life %lld ns, sync %llu ns, running %llu ns\n", (long long)life,
          (unsigned long long)w->state_ns[CTRACE_ST_SYNC],
          (unsigned long long)w->state_ns[CTRACE_ST_RUNNING]);
  ASSERT_GE(w->state_ns[CTRACE_ST_SYNC] * 100, (uint64_t)life * 95);
  ASSERT_GE(w->state_ns[CTRACE_ST_SYNC], (uint64_t)(ns(&e, sl->ticks) - ns(&e, sl->ticks - sl->f[2])));
  ctrace_timeline_free(tl);
  unload(&e);
  free(out);
  /* The sync profile: the worker's wait, by its stack; stats count it. */
  char *argv[] = {(char *)test_build_path("ctrace"), "profile", "--kind", "sync", (char *)path, NULL};
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "worker");
  free(out);
  char *sargv[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)path, NULL};
  ASSERT_EQ(test_run(sargv, NULL, &out, NULL), 0);
  const char *sync = strstr(out, "\"sync\":");
  ASSERT(sync);
  /* The pending wait; main's wait for "ready" (and its wake) only when main
   * got there before the worker set it. */
  ASSERT_GE(atoi(sync + 7), 1);
  const char *net = strstr(out, "\"net\":");
  ASSERT(net);
  ASSERT_GE(atoi(net + 6), 1); /* the pending read */
  free(out);
  return TEST_OK;
}

/* 2 and 4 threads on one mutex, short (20 us held, 5 us out) or long
 * (50 us held, a sleep out) critical sections.
 * Every WAKE names a thread that was blocked on that object at the edge's
 * time and whose WAIT ends after it: the edge lies inside exactly one WAIT
 * of the named thread (a thread's waits do not overlap), and no WAIT gets
 * two edges, so there are never more edges than waits. */
static void check_edges(int nthreads, const char *how, int min_waits) {
  const char *path = test_path("we.ctrace");
  char n[16];
  snprintf(n, sizeof n, "%d", nthreads);
  const char *prog[] = {PROG("mutex_contend"), n, how[0] == 's' ? "3000" : "300", how, "20", "5",
                        NULL};
  /* How many waits a run has depends on how its threads were scheduled
   * (on a loaded machine two threads may seldom run at once): the edges
   * are checked in every run, and another run is taken while there were
   * too few waits to say much. */
  size_t waits = 0;
  for (int attempt = 0; attempt < 5 && waits < (size_t)min_waits; attempt++) {
    char *out;
    ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
    uint64_t obj = parse_ptr(out, "mutex 0x");
    struct evs e;
    load(path, &e);
    size_t wakes = 0;
    waits = 0;
    uint8_t *used = calloc(e.n, 1);
    ASSERT(used);
    for (size_t i = 0; i < e.n; i++) {
      const ctrace_event *k = &e.ev[i];
      if (k->kind == CTRACE_EV_WAIT && k->f[0] == CTRACE_WAIT_MUTEX && k->f[1] == obj)
        waits++;
      if (k->kind != CTRACE_EV_WAKE)
        continue;
      wakes++;
      ASSERT_UINT_EQ(k->f[1], obj);
      ASSERT_EQ(k->f[2], CTRACE_WAIT_MUTEX);
      ASSERT_NE(k->f[0], k->tid);
      size_t match = 0, nmatch = 0;
      for (size_t j = 0; j < e.n; j++) {
        const ctrace_event *w = &e.ev[j];
        if (w->kind == CTRACE_EV_WAIT && w->tid == k->f[0] && w->f[1] == obj &&
            w->ticks - w->f[2] <= k->ticks && k->ticks <= w->ticks) {
          match = j;
          nmatch++;
        }
      }
      if (nmatch != 1)
        TEST_FAIL_("WAKE at %llu of tid %llu by %u: %zu waits of that thread contain it",
                   (unsigned long long)k->ticks, (unsigned long long)k->f[0], k->tid, nmatch);
      if (used[match])
        TEST_FAIL_("two edges end the WAIT at %llu of tid %u",
                   (unsigned long long)e.ev[match].ticks, e.ev[match].tid);
      used[match] = 1;
    }
    fprintf(stderr, "# %d threads, %s sections: %zu waits, %zu wake-up edges\n", nthreads, how,
            waits, wakes);
    ASSERT_LE(wakes, waits);
    ASSERT_GE(wakes * 2, waits); /* most waits end by a release that names them */
    free(used);
    unload(&e);
    free(out);
  }
  ASSERT_GE(waits, min_waits);
}

TEST_IMPL(preload_wake_edges_pair_with_waits) {
  check_edges(2, "short", 5); /* glibc's unfair mutex: few, long waits */
  check_edges(4, "short", 5);
  check_edges(4, "long", 20); /* 42 under ASan beside the browser lane, ~600 plain */
  return TEST_OK;
}

/* read/write/readv/writev on a socket are network I/O (in the events,
 * stats and the net profile); a file that reuses the socket's closed fd
 * number is file I/O again. */
TEST_IMPL(preload_socket_io_is_network) {
  const char *path = test_path("sk.ctrace");
  char *out;
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *file = test_path("sk.out");
  const char *prog[] = {PROG("sock_rw"), "50", file, NULL};
  ASSERT_EQ(run(path, opts, prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "moved 100000");
  free(out);
  struct evs e;
  load(path, &e);
  size_t net = 0, file_writes = 0;
  long bytes = 0;
  for (size_t i = 0; i < e.n; i++) {
    const ctrace_event *v = &e.ev[i];
    if (v->kind != CTRACE_EV_SYSCALL)
      continue;
    uint64_t c = v->f[0];
    if (c != CTRACE_CALL_read && c != CTRACE_CALL_write && c != CTRACE_CALL_readv &&
        c != CTRACE_CALL_writev)
      continue;
    if (c == CTRACE_CALL_write && ctrace__unzigzag(v->f[3]) == 1000 && v->f[1] == CTRACE_SC_FILE) {
      file_writes++;
      continue;
    }
    if (v->f[2] <= 2)
      continue; /* stdio */
    ASSERT_EQ(v->f[1], CTRACE_SC_NET);
    net++;
    bytes += ctrace__unzigzag(v->f[3]);
  }
  fprintf(stderr, "# %zu socket calls, %ld bytes\n", net, bytes);
  ASSERT_GE(net, 200); /* 50 rounds of write, read (at least one), writev, readv */
  ASSERT_EQ(bytes, 200000);
  ASSERT_EQ(file_writes, 1);
  unload(&e);
  char *argv[] = {(char *)test_build_path("ctrace"), "profile", "--kind", "net", (char *)path, NULL};
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "main");
  const char *p = strstr(out, "blocked in ");
  ASSERT(p);
  ASSERT_GE(atoi(p + 11), 200);
  free(out);
  char *sargv[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)path, NULL};
  ASSERT_EQ(test_run(sargv, NULL, &out, NULL), 0);
  const char *n = strstr(out, "\"net\":");
  ASSERT(n);
  ASSERT_GE(atoi(n + 6), 200);
  free(out);
  return TEST_OK;
}

/* C11 thrd_join of a running thread is a JOIN wait; its result arrives. */
TEST_IMPL(preload_c11_thrd_join_wait) {
  const char *path = test_path("cj.ctrace");
  char *out;
  const char *prog[] = {PROG("c11_join"), NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  ASSERT_STR_EQ(out, "join 1 res 7\n");
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_JOIN), 1);
  unload(&e);
  free(out);
  return TEST_OK;
}

/* A waiter cancelled inside pthread_cond_wait leaves no registration: the
 * next signal of that condvar names the thread that waits then. */
TEST_IMPL(preload_cancelled_waiter_never_named) {
  const char *path = test_path("cw.ctrace");
  char *out;
  const char *prog[] = {PROG("cancel_wait"), NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  long a = 0, b = 0;
  ASSERT_EQ(sscanf(out, "a %ld b %ld", &a, &b), 2);
  uint64_t cond = parse_ptr(out, "cond 0x");
  struct evs e;
  load(path, &e);
  size_t wakes = 0;
  for (size_t i = 0; i < e.n; i++)
    if (e.ev[i].kind == CTRACE_EV_WAKE && e.ev[i].f[1] == cond) {
      ASSERT_EQ(e.ev[i].f[0], b);
      wakes++;
    }
  ASSERT_EQ(wakes, 1);
  unload(&e);
  free(out);
  return TEST_OK;
}

/* ---- the tracer never harms the program (termination) ---- */

/* Starts `ctrace run -o path -- prog...` with stdout on a pipe; returns its
 * pid and the read end. */
static pid_t spawn_run(const char *path, const char *const *prog, int *outfd) {
  int po[2];
  ASSERT(pipe(po) == 0);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    dup2(po[1], 1);
    close(po[0]);
    close(po[1]);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0 && !getenv("CTRACE_TEST_VERBOSE"))
      dup2(devnull, 2); /* glibc's "double free" message */
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)test_build_path("ctrace");
    argv[n++] = "run";
    argv[n++] = "-o";
    argv[n++] = (char *)path;
    argv[n++] = "--";
    for (int i = 0; prog[i] && n < 15; i++)
      argv[n++] = (char *)prog[i];
    argv[n] = NULL;
    execv(argv[0], argv);
    _exit(127);
  }
  close(po[1]);
  *outfd = po[0];
  return pid;
}

/* The pid in the "ready PID" line the program prints; -1 after 10 s. */
static long read_ready(int fd) {
  char buf[64];
  size_t n = 0;
  while (n < sizeof buf - 1) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0)
      return -1;
    ssize_t k = read(fd, buf + n, 1);
    if (k <= 0)
      return -1;
    if (buf[n] == '\n')
      break;
    n++;
  }
  buf[n] = 0;
  return strncmp(buf, "ready ", 6) == 0 ? strtol(buf + 6, NULL, 10) : -1;
}

/* waitpid with a limit: the status, or -1 (then pid is killed) when the
 * process is still there after limit_ms: a hang. */
static int wait_limit(pid_t pid, int limit_ms) {
  for (int waited = 0;; waited++) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (waited >= limit_ms) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    struct timespec d = {0, 1000000};
    nanosleep(&d, NULL);
  }
}

/* A trace that opens; 1 when it decodes to its END, 0 when it was cut. */
static int readable(const char *path) {
  char err[CTRACE_READ_ERRLEN];
  ctrace_reader *r;
  if (ctrace_reader_open(path, &r, err, sizeof err) != 0)
    TEST_FAIL_("cannot read %s: %s", path, err);
  enum ctrace_read_status st = ctrace_reader_status(r);
  ctrace_reader_close(r);
  if (st == CTRACE_READ_CORRUPT)
    TEST_FAIL_("%s: corrupt", path);
  return st == CTRACE_READ_OK;
}

/*
 * The malloc-loop program under `ctrace run`, sent sig at a random moment
 * `tries` times: never hangs, dies of sig as it would untraced, and leaves
 * a readable trace each time.
 */
static int kill_loop(int sig, int tries) {
  const char *path = test_path("kill.ctrace");
  const char *prog[] = {PROG("malloc_loop"), "wait", NULL};
  unsigned seed = (unsigned)getpid();
  int hangs = 0, cut = 0;
  for (int i = 0; i < tries; i++) {
    int fd;
    pid_t pid = spawn_run(path, prog, &fd);
    long child = read_ready(fd);
    ASSERT_GT(child, 0);
    /* A random moment in the first 20 ms of the loops. */
    struct timespec d = {0, (long)(rand_r(&seed) % 20000) * 1000};
    nanosleep(&d, NULL);
    kill((pid_t)child, sig);
    int status = wait_limit(pid, 10000);
    close(fd);
    if (status == -1) {
      kill((pid_t)child, SIGKILL);
      hangs++;
      continue;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != sig)
      TEST_FAIL_("try %d: status 0x%x, not killed by signal %d", i, status, sig);
    cut += !readable(path);
  }
  ASSERT_EQ(hangs, 0);
  fprintf(stderr, "# %d deaths by signal %d: %d traces without END\n", tries, sig, cut);
  /* Every trace ends with END, under ASan's runtime too. */
  ASSERT_EQ(cut, 0);
  return TEST_OK;
}

TEST_IMPL(preload_sigterm_in_malloc_never_hangs) {
  return kill_loop(SIGTERM, 80);
}

TEST_IMPL(preload_sigint_sighup_in_malloc_never_hang) {
  int r = kill_loop(SIGINT, 15);
  if (r != TEST_OK)
    return r;
  return kill_loop(SIGHUP, 15);
}

/* The malloc-loop program dying by itself (how): status as untraced, a
 * complete trace that says how it ended. */
static int self_end(const char *how, int want_sig, int want_exit, int kind) {
  const char *path = test_path("self.ctrace");
  const char *prog[] = {PROG("malloc_loop"), how, NULL};
  for (int i = 0; i < 5; i++) {
    int fd;
    pid_t pid = spawn_run(path, prog, &fd);
    ASSERT_GT(read_ready(fd), 0);
    int status = wait_limit(pid, 10000);
    close(fd);
    ASSERT_NE(status, -1); /* no hang */
    if (want_sig) {
      ASSERT(WIFSIGNALED(status));
      ASSERT_EQ(WTERMSIG(status), want_sig);
    } else {
      ASSERT(WIFEXITED(status));
      ASSERT_EQ(WEXITSTATUS(status), want_exit);
    }
    struct evs e;
    load(path, &e);
    ASSERT_EQ(count(&e, kind, -1, 0), 1);
    ASSERT_GT(count(&e, CTRACE_EV_WAIT, -1, 0), 0); /* the loops' events */
    unload(&e);
  }
  return TEST_OK;
}

TEST_IMPL(preload_double_free_abort_never_hangs) {
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "asan"))
    RETURN_SKIP("ASan reports a double free itself (exit 1)");
  return self_end("doublefree", SIGABRT, 0, CTRACE_EV_SIGNAL);
}

TEST_IMPL(preload_segv_in_thread_never_hangs) {
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "asan"))
    RETURN_SKIP("ASan handles SIGSEGV itself (its report, exit 1)");
  return self_end("segv", SIGSEGV, 0, CTRACE_EV_SIGNAL);
}

TEST_IMPL(preload_exit_from_thread_never_hangs) {
  return self_end("exit", 0, 3, CTRACE_EV_EXIT);
}

/*
 * A fatal death with scheduling data on (the default): the trace still ends
 * with END, and its scheduling data reaches the death (the writer drains
 * the perf rings in the fatal flush): the dying thread has an on-CPU
 * interval that ends at its SIGNAL or after. The writer once froze in
 * free() on the malloc lock the dying thread held (the metadata it freed
 * every 10 ms of scheduling drains), losing END; bench/sigterm_stress.sh
 * counts that under load.
 */
static int sched_death(const char *how, int sig) {
  const char *path = test_path("death.ctrace");
  const char *prog[] = {PROG("malloc_loop"), how, NULL};
  unsetenv("CTRACE_SCHED");
  for (int i = 0; i < 3; i++) {
    int fd;
    pid_t pid = spawn_run(path, prog, &fd);
    long child = read_ready(fd);
    ASSERT_GT(child, 0);
    if (strcmp(how, "wait") == 0) {
      struct timespec d = {0, 5000000};
      nanosleep(&d, NULL);
      kill((pid_t)child, sig);
    }
    int status = wait_limit(pid, 10000);
    close(fd);
    ASSERT_NE(status, -1);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), sig);
    struct evs e;
    load(path, &e); /* CTRACE_READ_OK: END is there */
    const char *sched = ctrace_reader_property(e.r, "sched");
    if (!sched || strcmp(sched, "on") != 0) {
      static char why[200];
      snprintf(why, sizeof why, "scheduling not recorded here: %.150s", sched ? sched : "?");
      unload(&e);
      RETURN_SKIP(why);
    }
    const ctrace_event *sigev = NULL;
    for (size_t k = 0; k < e.n; k++)
      if (e.ev[k].kind == CTRACE_EV_SIGNAL && e.ev[k].f[0] == (uint64_t)sig)
        sigev = &e.ev[k];
    ASSERT(sigev);
    int64_t ti = ctrace_reader_thread_index_at(e.r, sigev->tid, sigev->ticks);
    ASSERT_GE(ti, 0);
    const struct ctrace_oncpu *iv;
    uint32_t niv = ctrace_reader_oncpu(e.r, (uint32_t)ti, &iv);
    ASSERT_GT(niv, 0);
    uint64_t last_end = 0;
    for (uint32_t k = 0; k < niv; k++)
      if (iv[k].end > last_end)
        last_end = iv[k].end;
    /* 0.1 ms: the perf clock's conversion to the trace's ticks */
    if (ns(&e, last_end) < ns(&e, sigev->ticks) - 100000)
      TEST_FAIL_("run %d: the dying thread's last on-CPU interval ends %lld ns before its"
                 " SIGNAL: the rings were not drained at the death", i,
                 (long long)(ns(&e, sigev->ticks) - ns(&e, last_end)));
    unload(&e);
  }
  return TEST_OK;
}

TEST_IMPL(preload_fatal_death_with_sched_keeps_end) {
  int r = sched_death("wait", SIGTERM);
  if (r != TEST_OK)
    return r;
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "asan"))
    return TEST_OK; /* ASan reports a double free itself (exit 1) */
  return sched_death("doublefree", SIGABRT);
}

/*
 * Bounded loss on SIGKILL (record.h rule 5): a program that records for
 * 3 s and is then killed keeps all but at most the last second or so of
 * its events (the bound is CTRACE__FLUSH_NS plus the time of one write;
 * 1.5 s is allowed for a loaded machine).
 */
TEST_IMPL(preload_sigkill_loses_at_most_a_second) {
  const char *path = test_path("kill9.ctrace");
  char *out;
  const char *prog[] = {PROG("steady"), "3000", NULL};
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 128 + SIGKILL);
  long sleeps = strtol(strstr(out, "sleeps ") + 7, NULL, 10);
  struct evs e;
  load_status(path, &e, CTRACE_READ_TRUNCATED); /* no END: reported as cut off */
  size_t got = count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP);
  int64_t last = 0;
  for (size_t i = 0; i < e.n; i++)
    if (e.ev[i].kind == CTRACE_EV_WAIT)
      last = ns(&e, e.ev[i].ticks);
  fprintf(stderr, "# %ld sleeps, %zu in the trace, the last at %.3f s\n", sleeps, got,
          (double)last / 1e9);
  ASSERT_GT(got, 0);
  ASSERT_GE(last, 1500000000); /* of 3 s */
  unload(&e);
  free(out);
  return TEST_OK;
}

/* ---- signals stay the program's ---- */

static const char *python3(void) {
  return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : NULL;
}

/* What Python reads back of the dispositions is the same traced. */
TEST_IMPL(preload_signal_dispositions_read_back_untraced) {
  if (!python3())
    RETURN_SKIP("no /usr/bin/python3");
  const char *code = "import signal as s\n"
                     "for n in ('SIGTERM','SIGINT','SIGHUP','SIGSEGV','SIGABRT','SIGUSR1'):\n"
                     "  print(n, s.getsignal(getattr(s, n)))\n";
  char *plain, *traced;
  char *argv[] = {(char *)python3(), "-c", (char *)code, NULL};
  ASSERT_EQ(test_run(argv, NULL, &plain, NULL), 0);
  const char *prog[] = {python3(), "-c", code, NULL};
  ASSERT_EQ(run(test_path("py.ctrace"), NULL, prog, &traced, NULL), 0);
  ASSERT_STR_EQ(traced, plain);
  ASSERT_STR_CONTAINS(traced, "SIGINT <built-in function default_int_handler>");
  free(plain);
  free(traced);
  return TEST_OK;
}

/* Python's KeyboardInterrupt works under `ctrace run`: SIGINT is caught
 * and the script exits 0, as untraced. The script sleeps in short steps:
 * a SIGINT that lands after Python's last look at its signal flag and
 * before the sleep's system call is seen only when that sleep ends (so
 * untraced too; the tracer's work before the call, such as starting its
 * writer thread at the first blocking call, widens that window). */
TEST_IMPL(preload_python_keyboard_interrupt) {
  if (!python3())
    RETURN_SKIP("no /usr/bin/python3");
  const char *code = "import os, sys, time\n"
                     "try:\n"
                     "  print('ready', os.getpid(), flush=True)\n"
                     "  while True:\n"
                     "    time.sleep(0.05)\n"
                     "except KeyboardInterrupt:\n"
                     "  print('caught', flush=True)\n"
                     "  sys.exit(0)\n";
  const char *prog[] = {python3(), "-c", code, NULL};
  const char *path = test_path("ki.ctrace");
  int fd;
  pid_t pid = spawn_run(path, prog, &fd);
  long child = read_ready(fd);
  ASSERT_GT(child, 0);
  kill((pid_t)child, SIGINT);
  int status = wait_limit(pid, 20000);
  char buf[64] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  ASSERT(n > 0);
  ASSERT_STR_CONTAINS(buf, "caught");
  ASSERT(status != -1 && WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT(readable(path));
  return TEST_OK;
}

/* ---- the trace fd is the tracer's own ---- */

/* A C program that closes, dup2s onto, F_DUPFDs around and dup3s onto the
 * tracer's first fd: output and file as untraced, the trace complete. */
TEST_IMPL(preload_program_owns_trace_fd_number) {
  const char *plain_txt = test_path("plain.txt"), *traced_txt = test_path("traced.txt");
  char *plain, *traced;
  char *argv[] = {(char *)PROG("fdgrab"), (char *)plain_txt, NULL};
  ASSERT_EQ(test_run(argv, NULL, &plain, NULL), 0);
  const char *path = test_path("fd.ctrace");
  const char *prog[] = {PROG("fdgrab"), traced_txt, NULL};
  ASSERT_EQ(run(path, NULL, prog, &traced, NULL), 0);
  ASSERT_STR_EQ(traced, plain);
  ASSERT_STR_CONTAINS(plain, "close 100: -1 EBADF");
  char *a = test_read_file(plain_txt, NULL), *b = test_read_file(traced_txt, NULL);
  ASSERT_STR_EQ(b, a);
  ASSERT_STR_EQ(a, "payload 1\npayload 2\npayload 3\n");
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP), 1);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, -1, 0), 1);
  unload(&e);
  free(a);
  free(b);
  free(plain);
  free(traced);
  return TEST_OK;
}

/* The bash idiom `( flock -n 100 ...; echo payload >&100 ) 100>lock.txt`:
 * lock.txt holds exactly the payload, and the trace is complete. */
TEST_IMPL(preload_bash_flock_idiom_file_intact) {
  if (access("/usr/bin/flock", X_OK) != 0 || access("/bin/bash", X_OK) != 0)
    RETURN_SKIP("no flock or bash");
  const char *lock = test_path("lock.txt");
  char script[512];
  snprintf(script, sizeof script,
           "( flock -n 100 || exit 1; echo payload >&100; sleep 0.01 ) 100>%s; echo rc $?", lock);
  const char *path = test_path("flock.ctrace");
  const char *prog[] = {"/bin/bash", "-c", script, NULL};
  char *out;
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  ASSERT_STR_EQ(out, "rc 0\n");
  size_t n;
  char *txt = test_read_file(lock, &n);
  ASSERT_EQ(n, 8);
  ASSERT_STR_EQ(txt, "payload\n");
  ASSERT(readable(path));
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, -1, 0), 1);
  unload(&e);
  free(txt);
  free(out);
  return TEST_OK;
}

/* The shell idiom `exec 3>file` on the low fds the tracer's own fds once
 * sat on (its perf events, which a fork child then closed: the files never
 * reached the next command): they reach the command the shell runs next,
 * and each holds exactly its line, as untraced. */
TEST_IMPL(preload_shell_low_fds_reach_the_next_command) {
  char script[1024];
  snprintf(script, sizeof script,
           "cd %s && exec 3>f3 4>f4 5>f5 6>f6 7>f7 && "
           "sh -c 'echo three >&3; echo four >&4; echo five >&5; echo six >&6; echo seven >&7'; "
           "echo rc $?",
           test_tmpdir());
  const char *path = test_path("lowfd.ctrace");
  /* bash forks (dash vforks, and a vfork child runs no fork hook) */
  if (access("/bin/bash", X_OK) != 0)
    RETURN_SKIP("no bash");
  const char *prog[] = {"/bin/bash", "-c", script, NULL};
  char *out, *err = NULL;
  ASSERT_EQ(run(path, NULL, prog, &out, &err), 0);
  ASSERT_STR_EQ(out, "rc 0\n");
  static const char *const names[] = {"f3", "f4", "f5", "f6", "f7"};
  static const char *const lines[] = {"three\n", "four\n", "five\n", "six\n", "seven\n"};
  for (int i = 0; i < 5; i++) {
    size_t n;
    char *txt = test_read_file(test_path(names[i]), &n);
    ASSERT(txt);
    ASSERT_STR_EQ(txt, lines[i]);
    free(txt);
  }
  ASSERT(readable(path));
  free(out);
  free(err);
  return TEST_OK;
}

/* A program that puts its own files on the scheduling events' fds (found
 * in /proc/self/fd) owns those numbers from then on: its close() works,
 * and the trace says the events' data ends there. */
TEST_IMPL(preload_program_takes_a_sched_fd) {
  const char *path = test_path("take.ctrace");
  const char *prog[] = {PROG("fdtake"), NULL};
  char *out;
  ASSERT_EQ(run(path, NULL, prog, &out, NULL), 0);
  struct evs e;
  load(path, &e);
  const char *sched = ctrace_reader_property(e.r, "sched");
  if (sched && strcmp(sched, "on") == 0) {
    int took = -1, closed = -1;
    ASSERT_EQ(sscanf(out, "took %d closed %d", &took, &closed), 2);
    ASSERT_GE(took, 2);
    ASSERT_EQ(closed, took);
    const char *taken = ctrace_reader_property(e.r, "sched_fds");
    ASSERT(taken);
    ASSERT_STR_CONTAINS(taken, " were taken by the program");
  } else {
    ASSERT_STR_EQ(out, "took 0\n");
  }
  unload(&e);
  free(out);
  return TEST_OK;
}

/* ---- children made without glibc's fork ---- */

/* The child never joins a writer thread it does not have: it exits
 * promptly (untraced), and the parent's trace is complete. */
static int raw_child(const char *how) {
  const char *path = test_path("raw.ctrace");
  const char *prog[] = {PROG("rawfork"), how, NULL};
  int fd;
  pid_t pid = spawn_run(path, prog, &fd);
  int status = wait_limit(pid, 20000);
  if (status == -1) /* a hang: before the read, which the hung child's copy of the pipe would block */
    TEST_FAIL_("%s: ctrace run did not end in 20 s (the program or its raw child hangs)", how);
  char buf[64] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  ASSERT(n > 0);
  ASSERT_STR_EQ(buf, "child 0\n");
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP), 2);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, -1, 0), 1);
  unload(&e);
  return TEST_OK;
}

TEST_IMPL(preload_raw_fork_child_exits_promptly) {
  return raw_child("fork");
}

TEST_IMPL(preload_raw_clone3_child_exits_promptly) {
  int r = raw_child("clone3");
  if (r != TEST_OK)
    return r;
  return raw_child("clone");
}
