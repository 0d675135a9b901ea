/*
 * test-preload.c - `ctrace run` and libctrace-preload.so on programs whose
 * behaviour is known exactly (tests/progs/): every contention and its
 * wake-up, condvar hand-offs, loopback bytes, sleep lengths, fork/exec/spawn
 * files, the API in the same trace, fatal signals, the trace fd surviving a
 * close-everything loop, errno, option filters, and the refusals.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"
#include "../src/read/reader.h"

#define PROG(name) test_build_path("src/preload/prog_" name)

struct evs {
  ctrace_reader *r;
  ctrace_event *ev;
  size_t n;
};

static void load(const char *path, struct evs *e) {
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &e->r, err, sizeof err) != 0)
    TEST_FAIL_("cannot read %s: %s", path, err);
  ASSERT_EQ(ctrace_reader_status(e->r), CTRACE_READ_OK);
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

TEST_IMPL(preload_trace_fd_survives_close_all) {
  const char *path = test_path("x.ctrace");
  const char *prog[] = {PROG("closeall"), NULL};
  ASSERT_EQ(run(path, NULL, prog, NULL, NULL), 0);
  struct evs e;
  load(path, &e);
  ASSERT_EQ(count(&e, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP), 1);
  ASSERT_EQ(count(&e, CTRACE_EV_EXIT, -1, 0), 1);
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
