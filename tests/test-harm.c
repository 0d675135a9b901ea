/*
 * test-harm.c - the tracer never harms the program (issue 8, the rest):
 * children made by vfork() and posix_spawn() leave the parent's trace
 * whole; a short program's trace is its run plus the tracer's reported
 * start-up; a single-threaded program whose writer starts lazily still
 * gets its events to the file before it blocks for good; real programs
 * (a ninja build, PostgreSQL) write the same stderr traced and untraced.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"
#include "trace-check.h"
#include "../src/record/record.h"

#define PROG(name) test_build_path("src/preload/prog_" name)

/* A trace that read to its END, with no error. */
static ctrace_reader *open_complete(const char *path) {
  ctrace_reader *r = open_trace(path);
  if (ctrace_reader_status(r) != CTRACE_READ_OK)
    TEST_FAIL_("%s: not complete: %s", path, ctrace_reader_error(r));
  return r;
}

/* Events of kind (and, when f0 >= 0, field 0 equal to v) in r. */
static size_t count_kind(ctrace_reader *r, int kind, int f0, uint64_t v) {
  ctrace_merge *m = ctrace_merge_new(r);
  ASSERT(m);
  size_t c = 0;
  ctrace_event ev;
  while (ctrace_merge_next(m, &ev))
    if (ev.kind == kind && (f0 < 0 || ev.f[f0] == v))
      c++;
  ctrace_merge_free(m);
  return c;
}

static long field(const char *s, const char *key) {
  const char *p = strstr(s, key);
  ASSERT(p);
  return strtol(p + strlen(key), NULL, 10);
}

/*
 * vfork children run on the parent's memory until they exec: one that
 * takes fd 100 with F_DUPFD (the trace's number in the parent), dup2s,
 * closes and execs, or fails to exec and _exits, must change nothing of
 * the parent's trace; posix_spawn children (CLONE_VM|CLONE_VFORK inside
 * glibc) likewise. Two threads record all along.
 */
TEST_IMPL(harm_vfork_spawn_leave_parent_trace_whole) {
  const char *path = test_path("v.ctrace");
  const char *prog[] = {PROG("vfork_spawn"), "20", NULL};
  char *out, *err;
  int st = test_ctrace_run(path, NULL, prog, &out, &err);
  if (st != 0)
    TEST_FAIL_("exit %d, stderr: %s", st, err);
  ASSERT_EQ(field(out, "vfork "), 16);
  ASSERT_EQ(field(out, "spawn "), 20);
  ASSERT_EQ(field(out, "failed "), 4);
  /* The child found 100 free, as untraced: its copy of the trace's fd is
   * closed in it, and the parent's trace did not move. */
  ASSERT_EQ(field(out, "child fd "), 100);
  ctrace_reader *r = open_complete(path);
  /* Both recorders' sleeps are in the trace (each sleep under the mutex). */
  size_t sleeps = count_kind(r, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP);
  ASSERT_GE((int64_t)sleeps, field(out, "sleeps ") / 2);
  ASSERT_EQ(count_kind(r, CTRACE_EV_EXEC, -1, 0), 0); /* no child's exec in it */
  ASSERT_EQ(count_kind(r, CTRACE_EV_EXIT, -1, 0), 1);
  ctrace_reader_close(r);
  /* Every child that exec'd /bin/true traced into a file of its own,
   * complete. */
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls %s | grep -c '^v\\.[0-9]*\\.ctrace$'", test_tmpdir());
  FILE *p = popen(cmd, "r");
  ASSERT(p);
  int files = 0;
  ASSERT_EQ(fscanf(p, "%d", &files), 1);
  pclose(p);
  ASSERT_EQ(files, 36);
  free(out);
  free(err);
  return TEST_OK;
}

/* The ns field of "key=N" in the trace's configuration strings; -1. */
/* The recorded configuration's value of key ("startup_ns="): the PROPERTY
 * "config.startup_ns". */
static long long config_value(ctrace_reader *r, const char *key) {
  char name[64];
  snprintf(name, sizeof name, "config.%.*s", (int)strcspn(key, "="), key);
  const char *v = ctrace_reader_property(r, name);
  return v ? strtoll(v, NULL, 10) : -1;
}

/*
 * `ctrace run -- /bin/sleep 0.01`: the trace is the sleep plus what comes
 * before and after it, and the tracer says how much of that is its own
 * start-up. Facts of order, not timings: the sleep's WAIT lasts at least
 * 10 ms, starts after the tracer's start-up ended, and ends inside the
 * trace. The measured numbers are printed.
 */
TEST_IMPL(harm_short_program_trace_is_run_plus_startup) {
  const char *path = test_path("s.ctrace");
  const char *prog[] = {"/bin/sleep", "0.01", NULL};
  ASSERT_EQ(test_ctrace_run(path, NULL, prog, NULL, NULL), 0);
  ctrace_reader *r = open_complete(path);
  long long startup = config_value(r, "startup_ns=");
  ASSERT_GT(startup, 0);
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  int waits = 0;
  int64_t wait_end = 0, wait_dur = 0;
  while (ctrace_merge_next(m, &ev))
    if (ev.kind == CTRACE_EV_WAIT && ev.f[0] == CTRACE_WAIT_SLEEP) {
      waits++;
      wait_end = ctrace_reader_ns(r, ev.ticks);
      /* dur is in ticks: the span's start converted like its end */
      wait_dur = wait_end - ctrace_reader_ns(r, ev.ticks - ev.f[2]);
    }
  ctrace_merge_free(m);
  ASSERT_EQ(waits, 1);
  ASSERT_GE(wait_dur, 10000000);
  int64_t duration = ctrace_reader_end_ns(r);
  ASSERT_GE(wait_end - wait_dur, startup); /* the sleep began after our set-up */
  ASSERT_LE(wait_end, duration);
  printf("# trace %.3f ms: sleep %.3f ms, tracer start-up %.3f ms, the rest %.3f ms\n",
         duration / 1e6, wait_dur / 1e6, startup / 1e6,
         (duration - wait_dur - startup) / 1e6);
  ctrace_reader_close(r);
  return TEST_OK;
}

/*
 * The writer thread starts lazily; a single-threaded program that records
 * an event and then blocks for good must still see it reach the file
 * (the blocking call starts the writer, which flushes within a second):
 * the trace is polled until the event is there, then the program killed.
 */
TEST_IMPL(harm_lazy_writer_flushes_before_blocking_for_good) {
  if (access("/usr/bin/python3", X_OK) != 0)
    RETURN_SKIP("no /usr/bin/python3");
  const char *path = test_path("b.ctrace");
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl(test_build_path("ctrace"), "ctrace", "run", "-o", path, "--", "/usr/bin/python3",
          "-c", "import time\ntime.sleep(0.02)\ntime.sleep(60)\n", (char *)NULL);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  int found = 0;
  for (int i = 0; i < 1000 && !found; i++) { /* up to ~20 s: a bound, not an order */
    ctrace_reader *r;
    char e[CTRACE_READ_ERRLEN];
    if (ctrace_reader_open(path, &r, e, sizeof e) == 0) {
      found = count_kind(r, CTRACE_EV_WAIT, 0, CTRACE_WAIT_SLEEP) > 0;
      ctrace_reader_close(r);
    }
    if (!found) {
      struct timespec d = {0, 20000000};
      nanosleep(&d, NULL);
    }
  }
  /* ctrace run passes SIGTERM on; python dies of it (no handler). */
  kill(pid, SIGTERM);
  int st;
  waitpid(pid, &st, 0);
  ASSERT(found);
  return TEST_OK;
}

/* ---- real programs: stderr traced and untraced ---- */

/* Removes every match of re from s, in place. */
static void strip(char *s, const char *re) {
  regex_t rx;
  ASSERT_EQ(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
  regmatch_t mt;
  char *p = s;
  while (*p && regexec(&rx, p, 1, &mt, p == s ? 0 : REG_NOTBOL) == 0) {
    if (mt.rm_eo == mt.rm_so) {
      p++;
      continue;
    }
    memmove(p + mt.rm_so, p + mt.rm_eo, strlen(p + mt.rm_eo) + 1);
    p += mt.rm_so;
  }
  regfree(&rx);
}

/* ctrace run's own report after the program ended ("ctrace run: N more
 * traces ..."), on ctrace's stderr: not the program's output. */
static void strip_run_report(char *s) {
  strip(s, "^ctrace run: [0-9]+ more traces? from child processes[^\n]*\n");
}

static void write_ninja(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/build.ninja", dir);
  const char *text =
      "rule gen\n"
      "  command = sh -c 'echo making $out; echo warning: $out is made up >&2; echo x > $out'\n"
      "  description = GEN $out\n"
      "rule cat\n"
      "  command = cat $in > $out && echo joined $out\n"
      "build a.txt: gen\n"
      "build b.txt: gen\n"
      "build c.txt: gen\n"
      "build all.txt: cat a.txt b.txt c.txt\n"
      "default all.txt\n";
  ASSERT_EQ(test_write_file(path, text, strlen(text)), 0);
}

/* ninja in dir, -j1 (one order); traced into trace when not NULL. */
static int run_ninja(const char *dir, const char *trace, char **out, char **err) {
  char cmd[8400];
  if (trace)
    snprintf(cmd, sizeof cmd, "cd %s && exec %s run -o %s -- ninja -j1", dir,
             test_build_path("ctrace"), trace);
  else
    snprintf(cmd, sizeof cmd, "cd %s && exec ninja -j1", dir);
  char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  return test_run(argv, NULL, out, err);
}

/* A tiny generated build: ninja's stdout (with its commands' output) and
 * stderr are byte-identical traced and untraced; the only difference is
 * ctrace run's own report line, which is removed. */
TEST_IMPL(harm_ninja_build_output_identical) {
  if (access("/usr/bin/ninja", X_OK) != 0)
    RETURN_SKIP("ninja not installed (Debian package ninja-build)");
  const char *d1 = test_path("n1"), *d2 = test_path("n2");
  char a[4200], b[4200];
  snprintf(a, sizeof a, "%s", d1);
  snprintf(b, sizeof b, "%s", d2);
  ASSERT_EQ(mkdir(a, 0755), 0);
  ASSERT_EQ(mkdir(b, 0755), 0);
  write_ninja(a);
  write_ninja(b);
  char *o1, *e1, *o2, *e2;
  ASSERT_EQ(run_ninja(a, NULL, &o1, &e1), 0);
  ASSERT_EQ(run_ninja(b, test_path("ninja.ctrace"), &o2, &e2), 0);
  strip_run_report(e2);
  ASSERT_STR_CONTAINS(o1, "joined all.txt");
  ASSERT_STR_EQ(o1, o2);
  ASSERT_STR_EQ(e1, e2);
  ctrace_reader_close(open_complete(test_path("ninja.ctrace")));
  free(o1);
  free(e1);
  free(o2);
  free(e2);
  return TEST_OK;
}

#define PG_BIN "/usr/lib/postgresql/15/bin"

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs sh -c cmd as user (NULL: as we are), stdout and stderr to log. */
static pid_t spawn_as(const char *user, const char *cmd, const char *log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (user) {
      char u[128];
      snprintf(u, sizeof u, "--reuid=%s", user);
      char g[128];
      snprintf(g, sizeof g, "--regid=%s", user);
      execl("/usr/bin/setpriv", "setpriv", u, g, "--init-groups", "--", "/bin/sh", "-c", cmd,
            (char *)NULL);
    } else {
      execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    }
    _exit(127);
  }
  return pid;
}

static int wait_status(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One server run: start, wait until it accepts connections, one query,
 * smart shutdown (SIGTERM), wait; its log (stderr) in *log. */
static void pg_run(const char *user, const char *dir, const char *trace, char **log) {
  char cmd[12000], logpath[4200];
  snprintf(logpath, sizeof logpath, "%s/%s.log", dir, trace ? "traced" : "untraced");
  int n = snprintf(cmd, sizeof cmd, "exec ");
  if (trace)
    n += snprintf(cmd + n, sizeof cmd - (size_t)n, "%s run -o %s -- ", test_build_path("ctrace"),
                  trace);
  snprintf(cmd + n, sizeof cmd - (size_t)n,
           PG_BIN "/postgres -D %s/data -k %s -c listen_addresses= -c fsync=off"
                  " -c log_checkpoints=off -p 5977",
           dir, dir);
  pid_t pid = spawn_as(user, cmd, logpath);
  ASSERT_GT(pid, 0);
  uint64_t t0 = mono_ms();
  int ready = 0;
  while (!ready && mono_ms() - t0 < 20000) {
    char *text = test_read_file(logpath, NULL);
    ready = text && strstr(text, "ready to accept connections");
    free(text);
    if (!ready) {
      struct timespec d = {0, 20000000};
      nanosleep(&d, NULL);
    }
  }
  if (!ready) {
    kill(pid, SIGKILL);
    wait_status(pid);
    TEST_FAIL_("postgres did not start within 20 s (%s)", trace ? "traced" : "untraced");
  }
  char q[4400];
  snprintf(q, sizeof q, "/usr/bin/psql -h %s -p 5977 -U postgres -tA -c 'select 1'", dir);
  char *argv[] = {"/bin/sh", "-c", q, NULL};
  char *out;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_EQ(out, "1\n");
  free(out);
  kill(pid, SIGTERM);
  ASSERT_EQ(wait_status(pid), 0);
  *log = test_read_file(logpath, NULL);
  ASSERT(*log);
  /* What differs from run to run: times ("2026-12-01 13:13:38.713 UTC",
   * also inside messages) and pids ("[5134]", "(PID 5225)"). */
  strip(*log, "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)? [A-Z]+");
  strip(*log, "\\[[0-9]+\\]");
  strip(*log, "PID [0-9]+");
  strip_run_report(*log);
}

/*
 * PostgreSQL 15 (Debian's postgresql package): a throwaway cluster (initdb
 * untraced, once), then the server untraced and under ctrace run, each
 * answering one query and stopped by SIGTERM. Its log (stderr) is the
 * same once times and pids are removed.
 */
TEST_IMPL(harm_postgres_log_identical) {
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "asan"))
    RETURN_SKIP("PostgreSQL under the ASan runtime takes minutes (the plain build runs it)");
  if (access(PG_BIN "/postgres", X_OK) != 0 || access("/usr/bin/psql", X_OK) != 0)
    RETURN_SKIP("PostgreSQL 15 not installed (Debian package postgresql)");
  const char *user = NULL;
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
      RETURN_SKIP("running as root and there is no postgres user to run the server as");
    user = "postgres";
  }
  char dir[4200], data[4300];
  snprintf(dir, sizeof dir, "%s", test_path("pg"));
  snprintf(data, sizeof data, "%s/data", dir);
  ASSERT_EQ(mkdir(dir, 0755), 0);
  ASSERT_EQ(mkdir(data, 0700), 0);
  if (user) {
    struct passwd *pw = getpwnam(user);
    ASSERT_EQ(chmod(test_tmpdir(), 0755), 0);
    ASSERT_EQ(chown(dir, pw->pw_uid, pw->pw_gid), 0);
    ASSERT_EQ(chown(data, pw->pw_uid, pw->pw_gid), 0);
  }
  char cmd[9000], initlog[4300];
  snprintf(cmd, sizeof cmd, "exec " PG_BIN "/initdb -D %s -A trust -U postgres --no-sync", data);
  snprintf(initlog, sizeof initlog, "%s/initdb.log", dir);
  ASSERT_EQ(wait_status(spawn_as(user, cmd, initlog)), 0);
  char trace[4300];
  snprintf(trace, sizeof trace, "%s/pg.ctrace", dir);
  char *l1, *l2;
  pg_run(user, dir, NULL, &l1);
  pg_run(user, dir, trace, &l2);
  ASSERT_STR_CONTAINS(l1, "database system is ready to accept connections");
  ASSERT_STR_EQ(l1, l2);
  ctrace_reader_close(open_complete(trace));
  free(l1);
  free(l2);
  return TEST_OK;
}

/*
 * The writer keeps spare buffers allocated ahead, so that a thread whose
 * buffer fills takes one instead of calling malloc (a handler that
 * interrupted that malloc would hold the thread's malloc lock). One
 * thread: its first buffer is its own allocation (the trace just began);
 * once the writer has made its spares (seen through ctrace__buf_gen,
 * which it bumps for each), two buffers filled back to back are taken
 * from them: no more malloc on the recording thread.
 */
TEST_IMPL(harm_full_buffer_takes_a_spare_not_malloc) {
  setenv("CTRACE_BUFFER_KB", "4", 1);
  ASSERT_EQ(ctrace_start_path(test_path("spare.ctrace")), 0);
  uint64_t before = atomic_load(&ctrace__buf_mallocs_by_threads);
  /* this thread's first buffer: its own allocation, or a spare when the
   * writer made them first */
  ctrace_counter("c", 1);
  ASSERT_LE(atomic_load(&ctrace__buf_mallocs_by_threads) - before, 1);
  int ready = 0;
  for (int i = 0; i < 2000 && !ready; i++) { /* a bound, not an order */
    ready = atomic_load(&ctrace__buf_gen) >= 2;
    if (!ready) {
      struct timespec d = {0, 5000000};
      nanosleep(&d, NULL);
    }
  }
  ASSERT(ready);
  /* 4 KiB buffers: 1800 counters (~6.7 bytes each) fill the first buffer
   * and go on into the two spares */
  uint64_t ready_at = atomic_load(&ctrace__buf_mallocs_by_threads);
  for (int i = 0; i < 1800; i++)
    ctrace_counter("c", i);
  uint64_t by_threads = atomic_load(&ctrace__buf_mallocs_by_threads) - ready_at;
  ASSERT_EQ(ctrace_stop(), 0);
  ASSERT_EQ(by_threads, 0);
  ctrace_reader *r = open_complete(test_path("spare.ctrace"));
  ASSERT_EQ(count_kind(r, CTRACE_EV_COUNTER, -1, 0), 1801);
  ctrace_reader_close(r);
  return TEST_OK;
}

/*
 * A fatal signal its thread cannot record (rule 4: the thread is mid-event,
 * or has not registered yet) still reaches the trace: the handler leaves it
 * with the writer, whose fatal round writes it as that thread's last event.
 * In a child (a fatal round seals the trace): thread a never recorded
 * anything, thread b recorded first; each leaves a signal the way the
 * preload's handler does, b's after a's round (one per round).
 */
struct orphan_arg {
  int record_first, sig;
  _Atomic int tid;
};

static void *orphan_thread(void *p) {
  struct orphan_arg *a = p;
  if (a->record_first)
    for (int i = 0; i < 3; i++)
      ctrace_counter("before.signal", i);
  atomic_store(&a->tid, (int)syscall(SYS_gettid));
  ctrace__writer_note_signal(a->sig, ctrace__now());
  return (void *)(intptr_t)ctrace__writer_flush_wait(1000);
}

static int orphan_signal_case(int record_first) {
  const char *path = test_path("orphan.ctrace");
  struct orphan_arg a = {record_first, SIGTERM, 0};
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    if (ctrace_start_path(path) != 0)
      _exit(2);
    ctrace_counter("main", 1);
    pthread_t th;
    void *rc = (void *)(intptr_t)-1;
    if (pthread_create(&th, NULL, orphan_thread, &a) != 0 || pthread_join(th, &rc) != 0)
      _exit(3);
    _exit(rc == NULL ? 0 : 4);
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ctrace_reader *r = open_complete(path); /* END: the round wrote everything */
  ctrace_merge *m = ctrace_merge_new(r);
  ASSERT(m);
  ctrace_event ev;
  int nsig = 0;
  uint32_t sig_tid = 0;
  uint64_t sig_ticks = 0, last_counter = 0;
  while (ctrace_merge_next(m, &ev)) {
    if (ev.kind == CTRACE_EV_SIGNAL) {
      nsig++;
      ASSERT_EQ(ev.f[0], (uint64_t)SIGTERM);
      sig_tid = ev.tid;
      sig_ticks = ev.ticks;
    } else if (ev.kind == CTRACE_EV_COUNTER && ev.f[0] != 0 && nsig == 0) {
      last_counter = ev.ticks;
    }
  }
  ctrace_merge_free(m);
  ASSERT_EQ(nsig, 1);
  ASSERT_NE(sig_tid, 0);
  if (record_first) {
    /* one thread: the signal follows its counters in the same stream */
    ASSERT_GE(sig_ticks, last_counter);
    int64_t ti = ctrace_reader_thread_index_at(r, sig_tid, sig_ticks);
    ASSERT_GE(ti, 0);
    ASSERT_EQ(count_kind(r, CTRACE_EV_COUNTER, -1, 0), 4);
    ASSERT_EQ(ctrace_reader_nthreads(r), 2); /* main and b, not a second b */
  }
  ctrace_reader_close(r);
  return TEST_OK;
}

TEST_IMPL(harm_fatal_signal_no_thread_could_record_is_written) {
  int rc = orphan_signal_case(0);
  return rc != TEST_OK ? rc : orphan_signal_case(1);
}

/*
 * A thread dies holding the metadata's lock (a fatal signal while it
 * interned a stack or a name): the fatal round cannot take the lock and
 * must not wait for it; it writes what was committed without it, and END.
 * In a child, as the handler would: the lock held, then the flush.
 */
TEST_IMPL(harm_fatal_flush_while_dying_thread_holds_meta_lock) {
  const char *path = test_path("metalock.ctrace");
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    if (ctrace_start_path(path) != 0)
      _exit(2);
    ctrace_counter("before.the.lock", 7);
    pthread_mutex_lock(&ctrace__meta_lock);
    _exit(ctrace__writer_flush_wait(1000) == 0 ? 0 : 3);
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ctrace_reader *r = open_complete(path); /* END */
  ASSERT_EQ(count_kind(r, CTRACE_EV_COUNTER, -1, 0), 1);
  ctrace_merge *m = ctrace_merge_new(r);
  ASSERT(m);
  ctrace_event ev;
  char name[64] = "";
  while (ctrace_merge_next(m, &ev))
    if (ev.kind == CTRACE_EV_COUNTER)
      ctrace_reader_strcpy(r, (uint32_t)ev.f[0], name, sizeof name);
  ctrace_merge_free(m);
  ASSERT_STR_EQ(name, "before.the.lock"); /* its definition was written too */
  ctrace_reader_close(r);
  return TEST_OK;
}

/* A child made without glibc's fork (rule 6) while another thread of its
 * parent held the metadata lock: the child has the lock's copy, held for
 * good, and no thread to release it. Interning a new name or a new stack
 * there must give up at once (0), not wait (it hung `ctrace run` once in
 * the ASan lane: a raw clone3 child's first stack, the writer holding the
 * lock at the clone). */
static int meta_holder_pipe[2], meta_release_pipe[2];
static void *hold_meta_lock(void *arg) {
  (void)arg;
  pthread_mutex_lock(&ctrace__meta_lock);
  char c = 1;
  if (write(meta_holder_pipe[1], &c, 1) != 1)
    abort();
  if (read(meta_release_pipe[0], &c, 1) != 1)
    abort();
  pthread_mutex_unlock(&ctrace__meta_lock);
  return NULL;
}

TEST_IMPL(harm_raw_child_never_waits_on_parent_meta_lock) {
  const char *path = test_path("rawmeta.ctrace");
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    if (pipe(meta_holder_pipe) != 0 || pipe(meta_release_pipe) != 0 ||
        ctrace_start_path(path) != 0)
      _exit(2);
    ctrace_counter("parent.counter", 1);
    pthread_t th;
    if (pthread_create(&th, NULL, hold_meta_lock, NULL) != 0)
      _exit(3);
    char c;
    if (read(meta_holder_pipe[0], &c, 1) != 1) /* the lock is held */
      _exit(4);
    long child = syscall(SYS_fork);
    if (child == 0) {
      alarm(10); /* a hang ends as SIGALRM, which the test reports */
      ctrace_name_t n = ctrace_name("a.name.made.in.the.raw.child");
      struct ctrace__thread *t = ctrace__tls;
      uint32_t st = 1;
      if (t) {
        uintptr_t pcs[3] = {(uintptr_t)&hold_meta_lock, (uintptr_t)&abort, 0x1234};
        st = ctrace__stack_intern(t, pcs, 3);
      }
      _exit(n == 0 && st == 0 ? 0 : 5);
    }
    int cs = -1;
    if (child < 0 || waitpid((pid_t)child, &cs, 0) != (pid_t)child)
      _exit(6);
    c = 1;
    if (write(meta_release_pipe[1], &c, 1) != 1 || pthread_join(th, NULL) != 0)
      _exit(7);
    if (ctrace_stop() != 0)
      _exit(8);
    _exit(WIFEXITED(cs) ? WEXITSTATUS(cs) : 100 + (WIFSIGNALED(cs) ? WTERMSIG(cs) : 0));
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0); /* 100 + 14: the raw child hung (SIGALRM) */
  ctrace_reader *r = open_complete(path); /* the parent's trace, whole */
  ASSERT_EQ(count_kind(r, CTRACE_EV_COUNTER, -1, 0), 1);
  ctrace_reader_close(r);
  return TEST_OK;
}

/* A fatal flush whose dying thread holds the metadata's lock, with
 * scheduling data: the drain that needs that lock could not run, so the
 * round drains the rings into a metadata batch of its own. The main
 * thread was on a CPU when it recorded the counter just before the death:
 * its interval holding that moment ends at or after it (its switch-out, or
 * the death's end of the intervals in progress), whatever another thread
 * did meanwhile. Before, the trace kept only what the last periodic drain
 * had taken, which ended earlier (`preload_fatal_death_with_sched_keeps_end`
 * failed once in 120 runs under load this way). A thread spins beside it,
 * so that both CPUs' rings have records. */
static _Atomic unsigned long spins;
static _Atomic int spin_stop;
static void *spin_thread(void *arg) {
  (void)arg;
  ctrace_region_begin("spin"); /* registers the thread */
  ctrace_region_end();
  while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
    atomic_fetch_add_explicit(&spins, 1, memory_order_relaxed);
  return NULL;
}

TEST_IMPL(harm_fatal_flush_with_meta_lock_held_drains_sched) {
  const char *path = test_path("metasched.ctrace");
  unsetenv("CTRACE_SCHED");
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    if (ctrace_start_path(path) != 0)
      _exit(2);
    pthread_t th;
    if (pthread_create(&th, NULL, spin_thread, NULL) != 0)
      _exit(3);
    while (atomic_load(&spins) < 1000000) /* it runs: its switch-in is in a ring */
      sched_yield();
    ctrace_counter("before.the.lock", 1);
    pthread_mutex_lock(&ctrace__meta_lock);
    _exit(ctrace__writer_flush_wait(1000) == 0 ? 0 : 4);
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ctrace_reader *r = open_complete(path);
  const char *sched = ctrace_reader_property(r, "sched");
  if (!sched || strcmp(sched, "on") != 0) {
    static char why[200];
    snprintf(why, sizeof why, "scheduling not recorded here: %.150s", sched ? sched : "?");
    ctrace_reader_close(r);
    RETURN_SKIP(why);
  }
  uint64_t counter_at = 0;
  ctrace_merge *m = ctrace_merge_new(r);
  ASSERT(m);
  ctrace_event ev;
  while (ctrace_merge_next(m, &ev))
    if (ev.kind == CTRACE_EV_COUNTER)
      counter_at = ev.ticks;
  ctrace_merge_free(m);
  ASSERT(counter_at != 0);
  /* the main thread's intervals: one holds the counter's moment */
  int64_t main_ti = ctrace_reader_thread_index_at(r, (uint32_t)ctrace_reader_pid(r), counter_at);
  ASSERT_GE(main_ti, 0);
  const struct ctrace_oncpu *iv;
  uint32_t n = ctrace_reader_oncpu(r, (uint32_t)main_ti, &iv);
  ASSERT_GT(n, 0);
  uint64_t last_end = 0;
  for (uint32_t k = 0; k < n; k++)
    if (iv[k].end > last_end)
      last_end = iv[k].end;
  ASSERT_GE(last_end, counter_at);
  ctrace_reader_close(r);
  return TEST_OK;
}
