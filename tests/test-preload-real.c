/*
 * test-preload-real.c - `ctrace run` against ground truth and on programs
 * nobody here wrote: syscall counts equal strace's for the same run, pigz's
 * output is byte-identical to an untraced run and its trace shows its threads
 * and condvar hand-offs, memcached (Debian) serves requests over loopback
 * and its trace shows the connection, the bytes and its threads; the timed
 * waits of current glibc that C++'s condition_variable::wait_for and
 * Python 3.11's queue.get(timeout=) reach (pthread_cond_clockwait,
 * sem_clockwait) are each in the trace.
 * Each test skips when its tool is not installed (.ci/run installs them).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"
#include "../src/read/reader.h"

static ctrace_reader *open_ok(const char *path) {
  char err[CTRACE_READ_ERRLEN];
  ctrace_reader *r;
  if (ctrace_reader_open(path, &r, err, sizeof err) != 0)
    TEST_FAIL_("cannot read %s: %s", path, err);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  return r;
}

/* Counts events of kind (and f[0] == f0 when f0 >= 0) over every thread. */
static uint64_t count_f0(ctrace_reader *r, int kind, int64_t f0) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    while (ctrace_cursor_next(&c, &ev))
      if (ev.kind == kind && (f0 < 0 || ev.f[0] == (uint64_t)f0))
        n++;
  }
  return n;
}

static long strace_calls(const char *table, const char *name) {
  char key[64];
  snprintf(key, sizeof key, " %s\n", name);
  const char *p = strstr(table, key);
  if (!p)
    return 0;
  /* The line: % time, seconds, usecs/call, calls, [errors], syscall. */
  const char *line = p;
  while (line > table && line[-1] != '\n')
    line--;
  double pct, secs;
  long usecs, calls;
  if (sscanf(line, "%lf %lf %ld %ld", &pct, &secs, &usecs, &calls) != 4)
    return -1;
  return calls;
}

TEST_IMPL(preload_syscall_counts_match_strace) {
  if (access("/usr/bin/strace", X_OK) != 0)
    RETURN_SKIP("strace not installed");
  const char *table_path = test_path("strace.txt"), *trace = test_path("st.ctrace");
  /* Only calls that the tracer itself never makes (its writer write()s). */
  char *argv[] = {"/usr/bin/strace", "-f", "-c", "-o", (char *)table_path, "-e",
                  "trace=socket,connect,accept,accept4,sendto,recvfrom,shutdown",
                  (char *)test_build_path("ctrace"), "run", "--min-duration", "0", "-o",
                  (char *)trace, "--", (char *)test_build_path("src/preload/prog_tcp_loop"),
                  "50", NULL};
  char *out;
  int st = test_run(argv, NULL, &out, NULL);
  if (st != 0 && !strstr(out, "sent"))
    RETURN_SKIP("strace cannot trace here (ptrace not permitted?)");
  ASSERT_EQ(st, 0);
  char *table = test_read_file(table_path, NULL);
  ASSERT(table);
  ctrace_reader *r = open_ok(trace);
  static const struct {
    const char *sys;
    int call;
  } pairs[] = {{"socket", CTRACE_CALL_socket},   {"connect", CTRACE_CALL_connect},
               {"accept", CTRACE_CALL_accept},   {"sendto", CTRACE_CALL_send},
               {"recvfrom", CTRACE_CALL_recv},   {"shutdown", CTRACE_CALL_shutdown}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    long want = strace_calls(table, pairs[i].sys);
    uint64_t got = count_f0(r, CTRACE_EV_SYSCALL, pairs[i].call);
    fprintf(stderr, "# %-8s strace %ld ctrace %llu\n", pairs[i].sys, want,
            (unsigned long long)got);
    ASSERT_GT(want, 0);
    ASSERT_EQ(got, want);
  }
  ctrace_reader_close(r);
  free(table);
  free(out);
  return TEST_OK;
}

/* Deterministic, compressible input: words from a small LCG. */
static void make_input(const char *path, size_t size) {
  static const char *const words[] = {"alpha ", "beta ", "gamma ", "delta ", "trace ",
                                      "mutex ", "cond\n", "wait ", "wake ", "pigz "};
  char *buf = malloc(size);
  ASSERT(buf);
  uint32_t x = 12345;
  size_t n = 0;
  while (n < size) {
    x = x * 1103515245u + 12345u;
    const char *w = words[(x >> 16) % 10];
    for (size_t i = 0; w[i] && n < size; i++)
      buf[n++] = w[i];
  }
  ASSERT_EQ(test_write_file(path, buf, size), 0);
  free(buf);
}

TEST_IMPL(preload_pigz_identical_output) {
  if (access("/usr/bin/pigz", X_OK) != 0)
    RETURN_SKIP("pigz not installed");
  char a[512], b[512], trace[512];
  snprintf(a, sizeof a, "%s", test_path("a.dat"));
  snprintf(b, sizeof b, "%s", test_path("b.dat"));
  snprintf(trace, sizeof trace, "%s", test_path("pigz.ctrace"));
  make_input(a, 16u << 20);
  make_input(b, 16u << 20);
  char *plain[] = {"/usr/bin/pigz", "-p", "2", "-n", "-k", a, NULL};
  ASSERT_EQ(test_run(plain, NULL, NULL, NULL), 0);
  char *traced[] = {(char *)test_build_path("ctrace"), "run", "-o", trace, "--",
                    "/usr/bin/pigz", "-p", "2", "-n", "-k", b, NULL};
  ASSERT_EQ(test_run(traced, NULL, NULL, NULL), 0);
  char ga[520], gb[520];
  snprintf(ga, sizeof ga, "%s.gz", a);
  snprintf(gb, sizeof gb, "%s.gz", b);
  size_t la, lb;
  char *da = test_read_file(ga, &la), *db = test_read_file(gb, &lb);
  ASSERT(da && db);
  ASSERT_EQ(la, lb);
  ASSERT_MEM_HEX_EQ(da, db, la);
  ctrace_reader *r = open_ok(trace);
  uint64_t waits = count_f0(r, CTRACE_EV_WAIT, CTRACE_WAIT_COND);
  uint64_t wakes = count_f0(r, CTRACE_EV_WAKE, -1);
  fprintf(stderr, "# pigz: %u threads, %llu cond waits, %llu wakes, %zu bytes\n",
          ctrace_reader_nthreads(r), (unsigned long long)waits, (unsigned long long)wakes, la);
  ASSERT_GE(ctrace_reader_nthreads(r), 3); /* main, compressors, writer */
  ASSERT_GE(count_f0(r, CTRACE_EV_THREAD_CREATE, -1), 2);
  ASSERT_EQ(count_f0(r, CTRACE_EV_THREAD_CREATE, -1), count_f0(r, CTRACE_EV_THREAD_START, -1));
  ASSERT_GE(waits, 1);
  ASSERT_GE(wakes, 1);
  /* Every created thread is linked to its creator. */
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    if (th->start_link)
      ASSERT_NE(th->created_by, 0);
  }
  ctrace_reader_close(r);
  free(da);
  free(db);
  return TEST_OK;
}

TEST_IMPL(preload_memcached_over_loopback) {
  if (access("/usr/bin/memcached", X_OK) != 0)
    RETURN_SKIP("memcached not installed");
  int port = test_free_port();
  ASSERT_GT(port, 0);
  char portstr[16], trace[512];
  snprintf(portstr, sizeof portstr, "%d", port);
  snprintf(trace, sizeof trace, "%s", test_path("mc.ctrace"));
  pid_t pid = fork();
  if (pid == 0) {
    execl(test_build_path("ctrace"), "ctrace", "run", "--min-duration", "0", "-o", trace, "--",
          "/usr/bin/memcached", "-u", "root", "-l", "127.0.0.1", "-p", portstr, "-U", "0", "-t",
          "2", (char *)NULL);
    _exit(127);
  }
  int s = test_connect_retry(port);
  ASSERT_GE(s, 0);
  const char req[] = "set k 0 0 5\r\nhello\r\nget k\r\n";
  ASSERT_EQ(send(s, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
  char buf[256];
  size_t n = 0;
  while (n < sizeof buf - 1 && !strstr(buf, "END\r\n")) {
    ssize_t k = recv(s, buf + n, sizeof buf - 1 - n, 0);
    ASSERT_GT(k, 0);
    n += (size_t)k;
    buf[n] = 0;
  }
  ASSERT_STR_EQ(buf, "STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n");
  close(s);
  usleep(100000);
  kill(pid, SIGTERM); /* ctrace run passes it on; memcached exits */
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ctrace_reader *r = open_ok(trace);
  fprintf(stderr, "# memcached: %u threads, %llu events\n", ctrace_reader_nthreads(r),
          (unsigned long long)ctrace_reader_nevents(r));
  ASSERT_GE(ctrace_reader_nthreads(r), 4);
  /* The accepted connection, from 127.0.0.1. */
  int from_loopback = 0;
  uint64_t bytes_in = 0, bytes_out = 0, polls = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    while (ctrace_cursor_next(&c, &ev)) {
      if (ev.kind == CTRACE_EV_SOCKADDR && ev.blob_len >= 8 && ev.blob[0] == AF_INET &&
          ev.blob[4] == 127 && ev.blob[7] == 1)
        from_loopback = 1;
      int64_t res = ev.kind == CTRACE_EV_SYSCALL ? ctrace__unzigzag(ev.f[3]) : 0;
      if (ev.kind == CTRACE_EV_SYSCALL && res > 0 &&
          (ev.f[0] == CTRACE_CALL_read || ev.f[0] == CTRACE_CALL_recv))
        bytes_in += (uint64_t)res;
      if (ev.kind == CTRACE_EV_SYSCALL && res > 0 &&
          (ev.f[0] == CTRACE_CALL_sendmsg || ev.f[0] == CTRACE_CALL_write ||
           ev.f[0] == CTRACE_CALL_send))
        bytes_out += (uint64_t)res;
      if (ev.kind == CTRACE_EV_SYSCALL && ev.f[1] == CTRACE_SC_POLL)
        polls++;
    }
  }
  fprintf(stderr, "# memcached: in %llu out %llu polls %llu\n", (unsigned long long)bytes_in,
          (unsigned long long)bytes_out, (unsigned long long)polls);
  ASSERT(from_loopback);
  ASSERT_GE(bytes_in, sizeof req - 1);
  ASSERT_GE(bytes_out, strlen("STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n"));
  ASSERT_GT(polls, 0);
  ctrace_reader_close(r);
  return TEST_OK;
}

/* Sync waits (any reason but SLEEP) of at least min_ns; on object obj
 * unless obj is 0. */
static uint64_t long_waits(ctrace_reader *r, uint64_t obj, int64_t min_ns) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    while (ctrace_cursor_next(&c, &ev))
      if (ev.kind == CTRACE_EV_WAIT && ev.f[0] != CTRACE_WAIT_SLEEP && (!obj || ev.f[1] == obj) &&
          ctrace_reader_ns(r, ev.ticks) - ctrace_reader_ns(r, ev.ticks - ev.f[2]) >= min_ns)
        n++;
  }
  return n;
}

TEST_IMPL(preload_cxx_wait_for_recorded) {
  if (access("/usr/bin/g++", X_OK) != 0)
    RETURN_SKIP("g++ not installed");
  char src[4096];
  snprintf(src, sizeof src, "%s/tests/progs/cv_wait_for.cpp", test_source_dir);
  const char *exe = test_path("cv_wait_for");
  char *cc[] = {"/usr/bin/g++", "-O1", "-pthread", "-o", (char *)exe, src, NULL};
  ASSERT_EQ(test_run(cc, NULL, NULL, NULL), 0);
  const char *path = test_path("cxx.ctrace");
  char *out = NULL;
  char *prog[] = {(char *)exe, "10", NULL};
  ASSERT_EQ(test_ctrace_run(path, NULL, (const char *const *)prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "timeouts 10");
  const char *p = strstr(out, "cond 0x");
  ASSERT(p);
  uint64_t cond = strtoull(p + 7, NULL, 16);
  ctrace_reader *r = open_ok(path);
  /* every 20 ms timed wait: one COND wait on that condvar, and a long one
   * (the wait's record starts when the call comes in; wait_for read the
   * clock for its deadline before that, and a thread preempted in between
   * records less than 20 ms: 9 of 10 waits reached 19 ms under ASan in a
   * loaded CI run) */
  ASSERT_EQ(count_f0(r, CTRACE_EV_WAIT, CTRACE_WAIT_COND), 10);
  ASSERT_EQ(long_waits(r, cond, 10000000), 10);
  ctrace_reader_close(r);
  free(out);
  return TEST_OK;
}

TEST_IMPL(preload_python_queue_timeout_recorded) {
  const char *py = "/usr/bin/python3";
  if (access(py, X_OK) != 0)
    RETURN_SKIP("python3 not installed");
  const char *path = test_path("py.ctrace");
  char *out = NULL;
  char *prog[] = {(char *)py, "-c",
                  "import queue\n"
                  "q = queue.Queue()\n"
                  "n = 0\n"
                  "for i in range(10):\n"
                  "    try:\n"
                  "        q.get(timeout=0.05)\n"
                  "    except queue.Empty:\n"
                  "        n += 1\n"
                  "print('empty', n)\n",
                  NULL};
  ASSERT_EQ(test_ctrace_run(path, NULL, (const char *const *)prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "empty 10");
  ctrace_reader *r = open_ok(path);
  /* each get: a timed wait of 50 ms (sem_clockwait in CPython 3.11); on a
   * loaded machine one get in 10 once had no single wait of 45 ms (its
   * condition's wait loop waits again for what is left) */
  uint64_t n = long_waits(r, 0, 45000000), m = long_waits(r, 0, 20000000);
  fprintf(stderr, "# %llu waits of 45 ms or more, %llu of 20 ms or more\n",
          (unsigned long long)n, (unsigned long long)m);
  ASSERT_GE(n, 8);
  ASSERT_GE(m, 10);
  ctrace_reader_close(r);
  free(out);
  return TEST_OK;
}
