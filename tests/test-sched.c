/*
 * test-sched.c - scheduling data (format 1.2): context switches and CPU
 * samples recorded through perf_event_open by an unprivileged traced
 * program (CI runs as root, and root may always open perf events: the
 * traced program runs as uid 65534 through setpriv), the on-CPU intervals
 * and samples the reader gives, the states they make (states.c), the CPU
 * profile, and tracing without them when the kernel refuses. Oracles:
 * /proc/PID/task/TID/schedstat and status, read by the program itself
 * (tests/progs/sched_load.c). Behaviour with tolerances, never timings.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/analyze/profile.h"
#include "../src/analyze/states.h"
#include "../src/analyze/stats.h"
#include "../src/read/symbolize.h"
#include "../src/analyze/timeline.h"
#include "../src/serve/view.h"
#include "task.h"

#define PROG test_build_path("src/preload/prog_sched_load")

/* What sched_load printed for one thread. */
struct rep {
  uint32_t tid;
  uint64_t on_cpu_ns, mono_ns, mono_after_ns; /* before and after the /proc reads */
  long vol, invol;
};

struct run {
  ctrace_reader *r;
  char *out, *err;
  struct rep reps[64];
  int nreps;
  uint64_t slept0, slept1; /* "slept" line */
  int64_t stolen;           /* test_stolen_since() over the run */
};

/* Whether perf_event_open works for an unprivileged process here; the
 * reason in buf when not. */
static int perf_allowed(char *buf, size_t size) {
  FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
  long par = 2;
  if (f) {
    if (fscanf(f, "%ld", &par) != 1)
      par = 2;
    fclose(f);
  }
  snprintf(buf, size, "kernel.perf_event_paranoid is %ld", par);
  return par <= 2;
}

/* Runs `ctrace run -o DIR/NAME [opts] -- sched_load ARGS` as uid 65534
 * (when root) and opens the trace. seccomp: deny perf_event_open first. */
static void trace(struct run *t, const char *name, const char *const *opts,
                  const char *const *args, int seccomp) {
  memset(t, 0, sizeof *t);
  const char *dir = test_tmpdir();
  chmod(dir, 0777);
  const char *path = test_path(name);
  char *argv[40];
  int n = 0;
  if (geteuid() == 0) {
    argv[n++] = "/usr/bin/setpriv";
    argv[n++] = "--reuid=65534";
    argv[n++] = "--regid=65534";
    argv[n++] = "--clear-groups";
  }
  argv[n++] = (char *)test_build_path("ctrace");
  argv[n++] = "run";
  argv[n++] = "-o";
  argv[n++] = (char *)path;
  for (int i = 0; opts && opts[i]; i++)
    argv[n++] = (char *)opts[i];
  argv[n++] = "--";
  argv[n++] = (char *)PROG;
  for (int i = 0; args[i] && n < 38; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  int status;
  int64_t steal = test_steal_ns();
  if (seccomp) {
    /* The filter goes in a child that then runs the rest: the runner
     * itself stays free of it. */
    int po[2];
    ASSERT_EQ(pipe(po), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
      struct sock_filter f[] = {
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_perf_event_open, 0, 1),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      };
      struct sock_fprog p = {4, f};
      dup2(po[1], 2);
      close(po[0]);
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p))
        _exit(126);
      int devnull = open("/dev/null", 1);
      dup2(devnull, 1);
      execv(argv[0], argv);
      _exit(127);
    }
    close(po[1]);
    size_t cap = 4096, len = 0;
    t->err = malloc(cap);
    ssize_t k;
    while ((k = read(po[0], t->err + len, cap - len - 1)) > 0) {
      len += (size_t)k;
      if (len + 1 == cap)
        t->err = realloc(t->err, cap *= 2);
    }
    t->err[len] = 0;
    close(po[0]);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    status = WEXITSTATUS(status);
  } else {
    status = test_run(argv, NULL, &t->out, &t->err);
  }
  t->stolen = test_stolen_since(steal);
  if (status != 0)
    TEST_FAIL_("traced program failed (%d): %s", status, t->err ? t->err : "");
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &t->r, err, sizeof err) != 0)
    TEST_FAIL_("cannot read %s: %s", path, err);
  for (const char *p = t->out; p && *p;) {
    struct rep *q = &t->reps[t->nreps];
    unsigned long long a, b, c;
    int got;
    if (t->nreps < 64 && (got = sscanf(p, "thread %u %llu %ld %ld %llu %llu", &q->tid, &a, &q->vol,
                                       &q->invol, &b, &c)) >= 5) {
      q->on_cpu_ns = a;
      q->mono_ns = b;
      q->mono_after_ns = got == 6 ? c : b;
      t->nreps++;
    } else if (sscanf(p, "slept %llu %llu", &b, &c) == 2) {
      t->slept0 = b;
      t->slept1 = c;
    }
    p = strchr(p, '\n');
    p = p ? p + 1 : NULL;
  }
}

static void untrace(struct run *t) {
  ctrace_reader_close(t->r);
  free(t->out);
  free(t->err);
}

/* CLOCK_MONOTONIC ns to ns since the trace's start. */
static int64_t mono_to_ns(const ctrace_reader *r, uint64_t mono) {
  const struct ctrace_clock_sync *s = ctrace_reader_clock_sync(r, 0);
  return (int64_t)(mono - s->mono_ns);
}

struct sums {
  int64_t ns[CTRACE_ST_COUNT];
};
static void sum_span(void *arg, const struct ctrace_span *sp) {
  struct sums *s = arg;
  if (sp->end > sp->start)
    s->ns[sp->state] += sp->end - sp->start;
}

/* Time per state inside [lo, hi]. */
struct window {
  int64_t lo, hi, ns[CTRACE_ST_COUNT];
};
static void on_window(void *arg, const struct ctrace_span *s) {
  struct window *sp = arg;
  int64_t a = s->start > sp->lo ? s->start : sp->lo, b = s->end < sp->hi ? s->end : sp->hi;
  if (b > a)
    sp->ns[s->state] += b - a;
}

static uint32_t thread_of(const ctrace_reader *r, uint32_t tid) {
  int64_t i = ctrace_reader_thread_index(r, tid);
  if (i < 0)
    TEST_FAIL_("thread %u not in the trace", tid);
  return (uint32_t)i;
}

static const char *no_param(void *ctx, const char *key) {
  (void)ctx;
  (void)key;
  return NULL;
}

#define NEED_PERF()                                                                                \
  do {                                                                                             \
    char why_[128];                                                                                \
    if (!perf_allowed(why_, sizeof why_))                                                          \
      RETURN_SKIP(why_);                                                                           \
  } while (0)

TEST_IMPL(sched_cpu_bound_threads_runnable_and_schedstat) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"cpu", "4", "300", NULL};
  trace(&t, "cpu.ctrace", NULL, args, 0);
  struct ctrace_sched_totals tot;
  ctrace_reader_sched_totals(t.r, &tot);
  ASSERT(tot.recorded);
  ASSERT_STR_EQ(ctrace_reader_property(t.r, "sched"), "on");
  ASSERT_EQ(t.nreps, 4);
  for (int k = 0; k < t.nreps; k++) {
    uint32_t ti = thread_of(t.r, t.reps[k].tid);
    /* on-CPU time up to the thread's own reading of schedstat */
    const struct ctrace_oncpu *iv;
    uint32_t n = ctrace_reader_oncpu(t.r, ti, &iv);
    int64_t upto = mono_to_ns(t.r, t.reps[k].mono_ns), on = 0;
    for (uint32_t i = 0; i < n; i++) {
      int64_t s = ctrace_reader_ns(t.r, iv[i].start), e = ctrace_reader_ns(t.r, iv[i].end);
      if (e > upto)
        e = upto;
      if (e > s)
        on += e - s;
    }
    int64_t want = (int64_t)t.reps[k].on_cpu_ns;
    fprintf(stderr, "# thread %u: on CPU %lld ns in the trace, %lld ns in schedstat, %lld stolen\n",
            t.reps[k].tid, (long long)on, (long long)want, (long long)t.stolen);
    /* the trace's on-CPU time holds what a hypervisor stole while the
     * thread was switched in; schedstat's leaves it out */
    ASSERT_LE(on - want, want / 20 + 2000000 + t.stolen);
    ASSERT_GE(on - want, -(want / 20 + 2000000));
    /* CPU-bound: running or runnable, about the whole of its life; with
     * 4 threads on 2 CPUs, runnable a good part of it */
    struct sums s = {{0}};
    int64_t end = ctrace_states_thread(t.r, ti, sum_span, &s);
    int64_t life = end - ctrace_reader_ns(t.r, ctrace_reader_thread(t.r, ti)->first);
    int64_t run = s.ns[CTRACE_ST_RUNNING], rable = s.ns[CTRACE_ST_RUNNABLE];
    fprintf(stderr, "# thread %u: life %lld, running %lld, runnable %lld ns\n", t.reps[k].tid,
            (long long)life, (long long)run, (long long)rable);
    ASSERT_GE(run + rable, life * 9 / 10);
    ASSERT_GE(rable, life / 5);
    ASSERT_LE(run - want, want / 10 + 5000000 + t.stolen);
    ASSERT_GE(run - want, -(want / 10 + 5000000));
  }
  /* the viewer's CPU lanes: every thread ran on them */
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, t.r, "cpu.ctrace", NULL, NULL), 0);
  struct ctrace_reply rep;
  ctrace_api_handle(&v, "/api/cpus", no_param, NULL, &rep);
  ASSERT_EQ(rep.status, 200);
  ASSERT_STR_CONTAINS(rep.body, "\"recorded\":true");
  ASSERT_STR_CONTAINS(rep.body, "{\"cpu\":1,\"spans\":[[");
  for (int k = 0; k < t.nreps; k++) {
    char want[32];
    snprintf(want, sizeof want, ",%u,", t.reps[k].tid);
    ASSERT_STR_CONTAINS(rep.body, want);
  }
  free(rep.body);
  ctrace_view_fini(&v);
  untrace(&t);
  return TEST_OK;
}

TEST_IMPL(sched_sleep_split_into_asked_and_runnable) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"sleep", "4", "50", NULL};
  trace(&t, "sleep.ctrace", NULL, args, 0);
  ASSERT(t.slept1 > t.slept0);
  uint32_t ti = thread_of(t.r, ctrace_reader_pid(t.r));
  /* the WAIT of the 50 ms sleep */
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, t.r, ti);
  int64_t ws = 0, we = 0;
  while (ctrace_cursor_next(&c, &ev)) {
    if (ev.kind != CTRACE_EV_WAIT)
      continue;
    struct ctrace_ev_wait w = CTRACE_EV(wait, &ev);
    if (w.reason == CTRACE_WAIT_SLEEP && w.object == 50000000) {
      we = ctrace_reader_ns(t.r, ev.ticks);
      ws = ctrace_reader_ns(t.r, ev.ticks - w.dur);
    }
  }
  ASSERT(we > ws);
  /* Inside [ws, we]: SLEEP for the time asked, then runnable and running,
   * adding up to the span. */
  struct window sp = {ws, we, {0}};
  ctrace_states_thread(t.r, ti, on_window, &sp);
  int64_t total = 0;
  for (int k = 0; k < CTRACE_ST_COUNT; k++)
    total += sp.ns[k];
  fprintf(stderr, "# sleep span %lld ns: sleep %lld, runnable %lld, running %lld\n",
          (long long)(we - ws), (long long)sp.ns[CTRACE_ST_SLEEP],
          (long long)sp.ns[CTRACE_ST_RUNNABLE], (long long)sp.ns[CTRACE_ST_RUNNING]);
  ASSERT_EQ(total, we - ws);
  ASSERT_EQ(sp.ns[CTRACE_ST_SLEEP], 50000000);
  ASSERT_EQ(sp.ns[CTRACE_ST_SLEEP] + sp.ns[CTRACE_ST_RUNNABLE] + sp.ns[CTRACE_ST_RUNNING],
            we - ws);
  untrace(&t);
  return TEST_OK;
}


TEST_IMPL(sched_pipe_read_woken_on_busy_cpus_splits_at_switch_in) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"pipe", "4", "30", NULL};
  trace(&t, "pipe.ctrace", NULL, args, 0);
  uint32_t ti = thread_of(t.r, ctrace_reader_pid(t.r));
  /* main's read of the pipe: its last long SYSCALL (class NET; FILE before) */
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, t.r, ti);
  int64_t rs = 0, re = 0;
  while (ctrace_cursor_next(&c, &ev)) {
    if (ev.kind != CTRACE_EV_SYSCALL)
      continue;
    struct ctrace_ev_syscall sc = CTRACE_EV(syscall, &ev);
    if ((sc.class == CTRACE_SC_FILE || sc.class == CTRACE_SC_NET) && sc.dur > 20000000) {
      re = ctrace_reader_ns(t.r, ev.ticks);
      rs = ctrace_reader_ns(t.r, ev.ticks - sc.dur);
    }
  }
  ASSERT(re > rs);
  /* Inside the read: I/O up to a switch-in (the wake-up's latest bound),
   * then only running and runnable, adding up to the span. */
  struct window sp = {rs, re, {0}};
  ctrace_states_thread(t.r, ti, on_window, &sp);
  int64_t total = 0;
  for (int k = 0; k < CTRACE_ST_COUNT; k++)
    total += sp.ns[k];
  /* a pipe's read is NET (FILE from recorders before IPC_IO) */
  int64_t in_call = sp.ns[CTRACE_ST_IO] + sp.ns[CTRACE_ST_NET];
  fprintf(stderr, "# read span %lld ns: io %lld, runnable %lld, running %lld\n",
          (long long)(re - rs), (long long)in_call,
          (long long)sp.ns[CTRACE_ST_RUNNABLE], (long long)sp.ns[CTRACE_ST_RUNNING]);
  ASSERT_EQ(total, re - rs);
  ASSERT_EQ(in_call + sp.ns[CTRACE_ST_RUNNABLE] + sp.ns[CTRACE_ST_RUNNING], re - rs);
  ASSERT_GE(in_call, 20000000);
  ASSERT_LT(in_call, re - rs);
  /* the I/O part ends where the thread came back on a CPU */
  const struct ctrace_oncpu *iv;
  uint32_t n = ctrace_reader_oncpu(t.r, ti, &iv);
  int found = 0;
  for (uint32_t k = 1; k < n && !found; k++)
    found = ctrace_reader_ns(t.r, iv[k].start) == rs + in_call &&
            iv[k - 1].left == CTRACE_SCHED_LEFT_BLOCKED;
  ASSERT(found);
  untrace(&t);
  return TEST_OK;
}

TEST_IMPL(sched_raw_futex_wait_is_blocked_other) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"futex", "100", NULL};
  trace(&t, "futex.ctrace", NULL, args, 0);
  ASSERT_EQ(t.nreps, 1);
  uint32_t ti = thread_of(t.r, t.reps[0].tid);
  struct sums s = {{0}};
  ctrace_states_thread(t.r, ti, sum_span, &s);
  fprintf(stderr, "# futex thread: blocked_other %lld, running %lld ns\n",
          (long long)s.ns[CTRACE_ST_BLOCKED_NOT_INTERPOSED], (long long)s.ns[CTRACE_ST_RUNNING]);
  ASSERT_GE(s.ns[CTRACE_ST_BLOCKED_NOT_INTERPOSED], 90000000);
  ASSERT_LT(s.ns[CTRACE_ST_RUNNING], 90000000);
  untrace(&t);
  return TEST_OK;
}

/* Each reporting thread's context switches in the trace, up to the moment
 * it read its counts in /proc, are the kernel's, within the losses the
 * trace reports. */
static int check_counts(struct run *t) {
  struct ctrace_sched_totals tot;
  ctrace_reader_sched_totals(t->r, &tot);
  for (int k = 0; k < t->nreps; k++) {
    uint32_t ti = thread_of(t->r, t->reps[k].tid);
    const struct ctrace_oncpu *iv;
    uint32_t n = ctrace_reader_oncpu(t->r, ti, &iv);
    /* /proc was read between these two times: its counts are those of
     * the switches before some moment between them (under ASan's runtime
     * on a loaded machine the reads took long enough for 3 preemptions) */
    int64_t lo = mono_to_ns(t->r, t->reps[k].mono_ns), hi = mono_to_ns(t->r, t->reps[k].mono_after_ns);
    long vol = 0, invol = 0, vol_hi = 0, invol_hi = 0;
    for (uint32_t i = 0; i < n; i++) {
      int64_t end = ctrace_reader_ns(t->r, iv[i].end);
      if (end > hi)
        continue;
      int blocked = iv[i].left == CTRACE_SCHED_LEFT_BLOCKED;
      int preempted = iv[i].left == CTRACE_SCHED_LEFT_PREEMPTED;
      vol_hi += blocked;
      invol_hi += preempted;
      if (end <= lo) {
        vol += blocked;
        invol += preempted;
      }
    }
    fprintf(stderr,
            "# thread %u: voluntary %ld-%ld/%ld, nonvoluntary %ld-%ld/%ld (trace/proc), lost %llu\n",
            t->reps[k].tid, vol, vol_hi, t->reps[k].vol, invol, invol_hi, t->reps[k].invol,
            (unsigned long long)tot.lost);
    long slack = (long)tot.lost + 2; /* a switch or two at the edges of the window */
    ASSERT_GE(t->reps[k].vol, vol - slack);
    ASSERT_LE(t->reps[k].vol, vol_hi + slack);
    ASSERT_GE(t->reps[k].invol, invol - slack);
    ASSERT_LE(t->reps[k].invol, invol_hi + slack);
  }
  return TEST_OK;
}

TEST_IMPL(sched_switch_counts_match_proc) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"cpu", "3", "100", NULL};
  trace(&t, "count.ctrace", NULL, args, 0);
  ASSERT_EQ(t.nreps, 3);
  ASSERT_EQ(check_counts(&t), TEST_OK);
  untrace(&t);
  return TEST_OK;
}

/* More threads than a record's table searches in order (16): the table
 * goes to its hash, and every interval keeps its thread. */
TEST_IMPL(sched_switch_counts_match_proc_many_threads) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"cpu", "24", "20", NULL};
  trace(&t, "count24.ctrace", NULL, args, 0);
  ASSERT_EQ(t.nreps, 24);
  ASSERT_EQ(check_counts(&t), TEST_OK);
  untrace(&t);
  return TEST_OK;
}

/* A ring starts small (a short process pays for 4 pages, not 64) and
 * grows to 64 (through 16 when the writer's first round found it quiet):
 * the switches before, across and after each move to a larger ring are
 * all there, once each, in order. Whether a round finds a ring a quarter
 * full depends on how fast this machine's scheduler passes the byte (a
 * host stealing CPU time slows it); the test hook makes any traffic count,
 * so the second growth happens here too. */
TEST_IMPL(sched_ring_grows_and_keeps_every_switch) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"pingpong", "30000", NULL};
  setenv("CTRACE_TEST_SCHED_GROW", "1", 1);
  trace(&t, "grow.ctrace", NULL, args, 0);
  unsetenv("CTRACE_TEST_SCHED_GROW");
  ASSERT_EQ(t.nreps, 1); /* the thread made after the start: all its switches */
  const char *grown = NULL;
  for (size_t i = 0; i < ctrace_reader_nproperties(t.r); i++)
    if (!strncmp(ctrace_reader_property_at(t.r, i), "sched_ring=", 11)) {
      grown = ctrace_reader_property_at(t.r, i);
      fprintf(stderr, "# %s\n", grown);
    }
  ASSERT(grown);
  ASSERT_STR_CONTAINS(grown, " 256 KiB");
  ASSERT_EQ(check_counts(&t), TEST_OK);
  /* each thread's intervals are in order and do not overlap (unless
   * records were lost: an interval whose switch-in was lost starts at the
   * CPU's last known switch, which may overlap the thread's time on the
   * other CPU; the reader marks it so) */
  struct ctrace_sched_totals tot;
  ctrace_reader_sched_totals(t.r, &tot);
  for (int k = 0; k < t.nreps && tot.lost == 0; k++) {
    const struct ctrace_oncpu *iv;
    uint32_t n = ctrace_reader_oncpu(t.r, thread_of(t.r, t.reps[k].tid), &iv);
    ASSERT_GE(n, 1000);
    for (uint32_t i = 1; i < n; i++)
      ASSERT_LE(iv[i - 1].end, iv[i].start);
  }
  untrace(&t);
  return TEST_OK;
}

/* A ring that fills while the writer does not read it (a writer starved
 * of CPU; here the test hook holds its rounds) and is still full at the
 * stop: the kernel never writes that loss into the ring (it would before
 * its next record, and the events are disabled). The events' own counts
 * tell it, so the switches the trace misses are all counted as lost. */
TEST_IMPL(sched_loss_at_the_stop_is_counted) {
  NEED_PERF();
  struct run t;
  const char *args[] = {"pingpong", "20000", NULL};
  setenv("CTRACE_TEST_SCHED_HOLD", "1", 1);
  trace(&t, "hold.ctrace", NULL, args, 0);
  unsetenv("CTRACE_TEST_SCHED_HOLD");
  ASSERT_EQ(t.nreps, 1);
  struct ctrace_sched_totals tot;
  ctrace_reader_sched_totals(t.r, &tot);
  fprintf(stderr, "# lost %llu\n", (unsigned long long)tot.lost);
  ASSERT_GT(tot.lost, 0);
  ASSERT_EQ(check_counts(&t), TEST_OK);
  untrace(&t);
  return TEST_OK;
}

TEST_IMPL(sched_cpu_profile_splits_call_paths) {
  NEED_PERF();
  struct run t;
  const char *opts[] = {"--sample-hz", "1000", NULL};
  const char *args[] = {"paths", "150", NULL};
  trace(&t, "paths.ctrace", opts, args, 0);
  ASSERT_STR_EQ(ctrace_reader_property(t.r, "samples"), "1000");
  struct ctrace_profile p;
  ASSERT_EQ(ctrace_profile_build(t.r, CTRACE_PROFILE_CPU, INT64_MIN, INT64_MAX, 0, &p), 0);
  ctrace_symbolizer *sym = ctrace_sym_new(t.r);
  ASSERT(sym);
  uint64_t a = 0, b = 0, all = 0;
  for (size_t i = 0; i < p.n; i++) {
    const uint64_t *pcs;
    uint32_t n = ctrace_reader_stack(t.r, p.v[i].stack, &pcs);
    int in_a = 0, in_b = 0;
    for (uint32_t k = 0; k < n; k++) {
      struct ctrace_frame fr;
      ctrace_sym_lookup(sym, pcs[k], k != 0, &fr);
      if (fr.function) {
        in_a |= strcmp(fr.function, "path_a") == 0;
        in_b |= strcmp(fr.function, "path_b") == 0;
      }
    }
    a += in_a ? p.v[i].count : 0;
    b += in_b ? p.v[i].count : 0;
    all += p.v[i].count;
  }
  fprintf(stderr, "# samples: %llu, path_a %llu, path_b %llu\n", (unsigned long long)all,
          (unsigned long long)a, (unsigned long long)b);
  /* 300 ms in path_a, 150 in path_b at 1 kHz: ~300 and ~150 samples */
  ASSERT_GE(a + b, 200);
  ASSERT_GE(a * 100, b * 130);
  ASSERT_LE(a * 100, b * 300);
  /* the pprof export opens in go tool pprof, when there is one */
  char out[4096];
  snprintf(out, sizeof out, "%s/cpu.pb.gz", test_tmpdir());
  char *argv[] = {(char *)test_build_path("ctrace"), "export", "--format", "pprof", "--kind", "cpu",
                  "-o", out, (char *)test_path("paths.ctrace"), NULL};
  char *o = NULL, *e = NULL;
  ASSERT_EQ(test_run(argv, NULL, &o, &e), 0);
  free(o);
  free(e);
  const char *gos[] = {"/usr/local/go/bin/go", "/usr/lib/go/bin/go", "/usr/bin/go"};
  for (size_t g = 0; g < 3; g++) {
    if (access(gos[g], X_OK) != 0)
      continue;
    char *gv[] = {(char *)gos[g], "tool", "pprof", "-top", out, NULL};
    char home[4200];
    snprintf(home, sizeof home, "HOME=%s", test_tmpdir());
    char *env[] = {home, NULL};
    ASSERT_EQ(test_run(gv, env, &o, &e), 0);
    ASSERT_STR_CONTAINS(o, "path_a");
    ASSERT_STR_CONTAINS(o, "Type: cpu");
    free(o);
    free(e);
    break;
  }
  ctrace_sym_free(sym);
  ctrace_profile_free(&p);
  untrace(&t);
  return TEST_OK;
}

TEST_IMPL(sched_refused_tracing_goes_on) {
  struct run t;
  const char *args[] = {"futex", "30", NULL};
  trace(&t, "refused.ctrace", NULL, args, 1);
  /* the tool says it once, after the program, with the fix */
  ASSERT_STR_CONTAINS(t.err, "ctrace run: scheduling not recorded: perf_event_open");
  ASSERT_STR_CONTAINS(t.err, "CAP_PERFMON");
  const char *p = strstr(t.err, "scheduling not recorded");
  ASSERT(!strstr(p + 1, "scheduling not recorded"));
  /* tracing went on: the thread and its start are there */
  ASSERT_GE(ctrace_reader_nthreads(t.r), 2);
  struct ctrace_sched_totals tot;
  ctrace_reader_sched_totals(t.r, &tot);
  ASSERT(!tot.recorded);
  ASSERT_STR_CONTAINS(ctrace_reader_property(t.r, "sched"), "off: perf_event_open");
  ASSERT_STR_CONTAINS(ctrace_reader_property(t.r, "samples"), "off: ");
  struct ctrace_stats st;
  ASSERT_EQ(ctrace_stats_compute(t.r, &st), 0);
  char *text = NULL;
  size_t tlen = 0;
  FILE *f = open_memstream(&text, &tlen);
  ctrace_stats_text(t.r, &st, f);
  ctrace_stats_json(t.r, &st, f);
  fclose(f);
  ASSERT_STR_CONTAINS(text, "scheduling      not recorded (perf_event_open");
  ASSERT_STR_CONTAINS(text, "\"sched\":{\"recorded\":false,\"reason\":\"perf_event_open");
  /* without scheduling data, the futex wait is "running" as before */
  uint32_t ti = 1;
  struct sums s = {{0}};
  ctrace_states_thread(t.r, ti, sum_span, &s);
  ASSERT_EQ(s.ns[CTRACE_ST_RUNNABLE] + s.ns[CTRACE_ST_BLOCKED_NOT_INTERPOSED], 0);
  free(text);
  ctrace_stats_free(&st);
  untrace(&t);
  return TEST_OK;
}

/* ---- without perf: the machine and the decoders on built data ---- */

struct seq {
  char s[1024];
  size_t n;
};
static void on_seq(void *arg, const struct ctrace_span *sp) {
  struct seq *q = arg;
  int k = snprintf(q->s + q->n, sizeof q->s - q->n, "%s%s %lld-%lld", q->n ? " | " : "",
                   ctrace_state_name(sp->state), (long long)sp->start, (long long)sp->end);
  if (k > 0 && (size_t)k < sizeof q->s - q->n)
    q->n += (size_t)k;
}

static const char *kv_param(void *ctx, const char *key) {
  const char *const *kv = ctx;
  for (; kv[0]; kv += 2)
    if (strcmp(kv[0], key) == 0)
      return kv[1];
  return NULL;
}

/* GET path with the key/value list kv (NULL-terminated) of view v. */
static struct ctrace_reply get(struct ctrace_view *v, const char *path, const char *const *kv) {
  struct ctrace_reply rep;
  ctrace_api_handle(v, path, kv_param, (void *)kv, &rep);
  return rep;
}

/* The index of the region named name (the first), or -1. */
static long region_named(const struct ctrace_timeline *tl, const char *name) {
  uint32_t sid = ctrace_timeline_find_string(tl, name, strlen(name));
  for (size_t k = 0; sid && k < tl->nregions; k++)
    if (tl->regions[k].name == sid)
      return (long)k;
  return -1;
}

TEST_IMPL(sched_cpu_profile_of_task_region_range_and_samples_api) {
  NEED_PERF();
  struct run t;
  const char *opts[] = {"--sample-hz", "1000", NULL};
  const char *args[] = {"paths", "100", NULL};
  trace(&t, "scoped.ctrace", opts, args, 0);
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, t.r, "scoped.ctrace", NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  long ra = region_named(tl, "a"), rb = region_named(tl, "b");
  ASSERT(ra >= 0 && rb >= 0);
  ASSERT(tl->ntasks >= 1);
  char ka[24], kb[24], task[24], tid[16], mid[24], end[24];
  snprintf(ka, sizeof ka, "%ld", ra);
  snprintf(kb, sizeof kb, "%ld", rb);
  snprintf(task, sizeof task, "%llu", (unsigned long long)tl->tasks[0].id);
  uint32_t th = ctrace_timeline_region_thread(tl, (size_t)ra);
  snprintf(tid, sizeof tid, "%u", tl->threads[th].tid);
  /* region a: path_a's samples, none of path_b */
  const char *qa[] = {"kind", "cpu", "region", ka, NULL};
  struct ctrace_reply r = get(&v, "/api/profile", qa);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"function\":\"path_a\"");
  ASSERT(!strstr(r.body, "\"function\":\"path_b\""));
  int64_t in_a = 0;
  ASSERT(sscanf(strstr(r.body, "\"total_ns\":") + 11, "%lld", (long long *)&in_a) == 1);
  free(r.body);
  const char *qb[] = {"kind", "cpu", "region", kb, NULL};
  r = get(&v, "/api/profile", qb);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"function\":\"path_b\"");
  ASSERT(!strstr(r.body, "\"function\":\"path_a\""));
  free(r.body);
  /* the task: both paths; as much as the region a and more */
  const char *qt[] = {"kind", "cpu", "task", task, NULL};
  r = get(&v, "/api/profile", qt);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"function\":\"path_a\"");
  ASSERT_STR_CONTAINS(r.body, "\"function\":\"path_b\"");
  int64_t in_task = 0;
  ASSERT(sscanf(strstr(r.body, "\"total_ns\":") + 11, "%lld", (long long *)&in_task) == 1);
  ASSERT_GT(in_task, in_a);
  free(r.body);
  /* the task cut to a range that ends where region a does: path_a only */
  snprintf(end, sizeof end, "%lld", (long long)tl->regions[ra].end);
  const char *qtr[] = {"kind", "cpu", "task", task, "end_ns", end, "tid", tid, NULL};
  r = get(&v, "/api/profile", qtr);
  ASSERT_EQ(r.status, 200);
  ASSERT(!strstr(r.body, "\"function\":\"path_b\""));
  free(r.body);
  /* bad scopes */
  const char *bad1[] = {"kind", "cpu", "region", "99999999", NULL};
  const char *bad2[] = {"kind", "cpu", "task", task, "region", ka, NULL};
  const char *bad3[] = {"kind", "cpu", "task", "123456789", NULL};
  const char *const *bads[] = {bad1, bad2, bad3};
  for (int k = 0; k < 3; k++) {
    r = get(&v, "/api/profile", bads[k]);
    ASSERT_EQ(r.status, 400);
    free(r.body);
  }
  /* the pprof of a region is a profile too */
  r = get(&v, "/api/pprof", qa);
  ASSERT_EQ(r.status, 200);
  ASSERT_GT(r.len, 20);
  free(r.body);
  /* the timeline's samples: density at a narrow width, each sample at a
   * wide one; one sample with its stack */
  const char *s1[] = {"width", "40", "tids", tid, NULL};
  r = get(&v, "/api/samples", s1);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"bins\":[[");
  free(r.body);
  const char *s2[] = {"width", "20000", NULL};
  r = get(&v, "/api/samples", s2);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"samples\":[[");
  char want[32];
  snprintf(want, sizeof want, "{\"tid\":%s,", tid);
  ASSERT_STR_CONTAINS(r.body, want);
  free(r.body);
  /* one of region a's own samples (its middle may have none within 20 ms
   * under TSan on a loaded machine), asked for by its time */
  char ra_start[32], ra_end[32];
  snprintf(ra_start, sizeof ra_start, "%lld", (long long)tl->regions[ra].start);
  snprintf(ra_end, sizeof ra_end, "%lld", (long long)tl->regions[ra].end);
  const char *s2a[] = {"width", "20000", "tids", tid, "start_ns", ra_start, "end_ns", ra_end, NULL};
  r = get(&v, "/api/samples", s2a);
  ASSERT_EQ(r.status, 200);
  const char *first = strstr(r.body, "\"samples\":[[");
  ASSERT(first != NULL);
  snprintf(mid, sizeof mid, "%lld", strtoll(first + strlen("\"samples\":[["), NULL, 10));
  free(r.body);
  const char *s3[] = {"tid", tid, "ns", mid, "within_ns", "1000000", NULL};
  r = get(&v, "/api/sample", s3);
  ASSERT_EQ(r.status, 200);
  /* under TSan a sample can land in its runtime, built without frame
   * pointers: the kernel's walk of it stops there */
  if (!strstr(r.body, "libtsan"))
    ASSERT_STR_CONTAINS(r.body, "\"function\":\"path_a\"");
  free(r.body);
  const char *s4[] = {"tid", tid, NULL};
  const char *s5[] = {"tids", "x", NULL};
  r = get(&v, "/api/sample", s4);
  ASSERT_EQ(r.status, 400);
  free(r.body);
  r = get(&v, "/api/samples", s5);
  ASSERT_EQ(r.status, 400);
  free(r.body);
  ctrace_view_fini(&v);
  untrace(&t);
  return TEST_OK;
}

TEST_IMPL(sched_states_split_on_hand_built_intervals) {
  /* On CPU 0-100 (preempted), 150-200 (blocked: a raw futex), 300-400
   * (sleeps at 310 for 30 ns asked), 380-...: back at 380 after a
   * runnable wait, 395-500 until recording stopped. Ticks are ns. */
  struct ctrace_oncpu iv[] = {
      {0, 100, 0, CTRACE_SCHED_LEFT_PREEMPTED, 0},
      {150, 200, 1, CTRACE_SCHED_LEFT_BLOCKED, 0},
      {300, 310, 1, CTRACE_SCHED_LEFT_BLOCKED, 0},
      {380, 500, 0, CTRACE_SCHED_LEFT_AT_STOP, 0},
  };
  struct ctrace_states m;
  struct seq q = {{0}, 0};
  ctrace_states_init(&m, 0, NULL, NULL, on_seq, &q);
  ctrace_states_set_oncpu(&m, iv, 4);
  ctrace_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = CTRACE_EV_WAIT;
  ev.ticks = 390; /* returned at 390: the sleep began at 310 */
  ev.nfields = 4;
  ev.f[0] = CTRACE_WAIT_SLEEP;
  ev.f[1] = 30; /* asked */
  ev.f[2] = 80;
  ctrace_states_event(&m, &ev);
  ASSERT_EQ(ctrace_states_finish(&m, 600), 600);
  ASSERT_STR_EQ(q.s, "running 0-100 | runnable 100-150 | running 150-200 | blocked_other 200-300 | "
                     "running 300-310 | sleep 310-340 | runnable 340-380 | running 380-390 | "
                     "running 390-500 | running 500-600");
  return TEST_OK;
}

TEST_IMPL(sched_states_io_wait_tail_split_at_switch_in) {
  /* A read from 100 to 380: on CPU 0-120 (it blocks at 120), 200-210
   * (a spurious wake-up: it blocks again), 250-300 (switched in after the
   * wake-up; preempted at 300), 350-500. The wake-up came at latest at
   * 250: the read up to it, then what the switches say. */
  struct ctrace_oncpu iv[] = {
      {0, 120, 0, CTRACE_SCHED_LEFT_BLOCKED, 0},
      {200, 210, 1, CTRACE_SCHED_LEFT_BLOCKED, 0},
      {250, 300, 1, CTRACE_SCHED_LEFT_PREEMPTED, 0},
      {350, 500, 0, CTRACE_SCHED_LEFT_AT_STOP, 0},
  };
  struct ctrace_states m;
  struct seq q = {{0}, 0};
  ctrace_states_init(&m, 0, NULL, NULL, on_seq, &q);
  ctrace_states_set_oncpu(&m, iv, 4);
  ctrace_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = CTRACE_EV_SYSCALL;
  ev.ticks = 380;
  ev.nfields = 6;
  ev.f[0] = 0;              /* call */
  ev.f[1] = CTRACE_SC_FILE; /* class */
  ev.f[2] = 3;              /* fd */
  ev.f[3] = 2;              /* result 1, zigzagged */
  ev.f[4] = 280;            /* dur: from 100 */
  ctrace_states_event(&m, &ev);
  /* a poll that never left the CPU voluntarily stays whole */
  ev.ticks = 450;
  ev.f[1] = CTRACE_SC_POLL;
  ev.f[4] = 50;
  ctrace_states_event(&m, &ev);
  ASSERT_EQ(ctrace_states_finish(&m, 600), 600);
  ASSERT_STR_EQ(q.s, "running 0-100 | io 100-250 | running 250-300 | runnable 300-350 | "
                     "running 350-380 | running 380-400 | poll 400-450 | running 450-500 | "
                     "running 500-600");
  /* A send from 20 to 150 that never blocked but was preempted at 50 and
   * back at 80: runnable from the preemption. */
  struct ctrace_oncpu iv2[] = {
      {0, 50, 0, CTRACE_SCHED_LEFT_PREEMPTED, 0},
      {80, 200, 1, CTRACE_SCHED_LEFT_AT_STOP, 0},
  };
  struct seq q2 = {{0}, 0};
  ctrace_states_init(&m, 0, NULL, NULL, on_seq, &q2);
  ctrace_states_set_oncpu(&m, iv2, 2);
  ev.ticks = 150;
  ev.f[1] = CTRACE_SC_NET;
  ev.f[4] = 130;
  ctrace_states_event(&m, &ev);
  ASSERT_EQ(ctrace_states_finish(&m, 200), 200);
  ASSERT_STR_EQ(q2.s, "running 0-20 | net 20-50 | runnable 50-80 | running 80-150 | running 150-200");
  return TEST_OK;
}

static void count_entry(void *arg, const struct ctrace_sched_entry *e) {
  (void)e;
  ++*(int *)arg;
}

TEST_IMPL(sched_blob_decoders_reject_bad_bytes) {
  /* FORMAT.md's example, then cut and damaged copies of it */
  static const uint8_t ok[] = {0x01, 0xc0, 0x84, 0x3d, 0x02, 0x92, 0x21, 0x93, 0x21,
                               0x00, 0xc4, 0x13, 0x01, 0x64, 0xc0, 0xb8, 0x02, 0x08};
  int n = 0;
  ASSERT_EQ(ctrace_decode_sched(ok, sizeof ok, count_entry, &n), 0);
  ASSERT_EQ(n, 2);
  for (size_t cut = 0; cut < sizeof ok; cut++) {
    n = 0;
    int rc = ctrace_decode_sched(ok, (uint32_t)cut, count_entry, &n);
    ASSERT(rc == -1 || cut == 9 || cut == 13); /* whole entries only */
  }
  uint8_t bad[sizeof ok];
  memcpy(bad, ok, sizeof ok);
  bad[sizeof ok - 1] = 0x10; /* index 2 of a 2-tid table */
  n = 0;
  ASSERT_EQ(ctrace_decode_sched(bad, sizeof bad, count_entry, &n), -1);
  ASSERT_EQ(n, 1);
  static const uint8_t smp[] = {0x00, 0xa8, 0x8c, 0x3d, 0x01, 0x92, 0x21, 0x00,
                                0x00, 0x07, 0x80, 0x92, 0xf4, 0x01, 0x00, 0x07};
  n = 0;
  ASSERT_EQ(ctrace_decode_samples(smp, sizeof smp, count_entry, &n), 0);
  ASSERT_EQ(n, 2);
  static const uint8_t lost[] = {0x01, 0x90, 0x8b, 0x40, 0x0c};
  uint32_t cpu;
  uint64_t tk, nl;
  ASSERT_EQ(ctrace_decode_sched_lost(lost, sizeof lost, &cpu, &tk, &nl), 0);
  ASSERT_EQ(cpu, 1);
  ASSERT_EQ(tk, 1050000);
  ASSERT_EQ(nl, 12);
  ASSERT_EQ(ctrace_decode_sched_lost(lost, 3, &cpu, &tk, &nl), -1);
  return TEST_OK;
}
