/*
 * startup_bench.c - what tracing costs a process that does almost nothing:
 * CPU time (user + sys of the child, from wait4) and wall time of a short
 * program (default /bin/true), untraced, with the preload as `ctrace run`
 * sets it up (LD_PRELOAD, CTRACE_OUT, CTRACE__GEN, CTRACE__TICKS_PER_NS:
 * the traced process alone), and under `ctrace run` itself (ctrace's own
 * process included). The three run alternately, N rounds; the table gives the
 * median and the range of each, and the median of the per-round
 * differences from the untraced run; the median of its minor page faults
 * (each a first touch of a page: 10-15 us of CPU on a VM).
 *
 *   build/bench/startup_bench [N [PROGRAM [ARGS...]]]     (N: 20)
 *
 * The build's ctrace and preload are found next to this binary
 * (build/bench/ -> build/ctrace, build/src/preload/). With
 * STARTUP_BENCH_BASE=/path/to/another/libctrace-preload.so, a fourth mode
 * runs that library the same way, in the same rounds: before and after a
 * change, on a machine whose load moves; the last column is then the
 * median of the per-round differences from it. STARTUP_BENCH_BASE_ENV=
 * "NAME=VALUE" sets one more variable in that mode only; with this build's
 * own library as the base it prices a setting (CTRACE_SCHED=off: what the
 * scheduling set-up costs). STARTUP_BENCH_NORUN=1
 * leaves `ctrace run` out (its own start-up is most of its cost and
 * noise). Never fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_time.h"

enum { UNTRACED, PRELOAD, RUN, BASE, NMODES };
static const char *const mode_names[NMODES] = {"untraced", "preload", "ctrace run",
                                               "base"};

static const char *base;
static char base_env[256]; /* NAME=VALUE for the base mode, or empty */
static char preload[PATH_MAX + 64], ctrace_bin[PATH_MAX + 64], trace[PATH_MAX], ticks[64];

static double tv_ms(struct timeval tv) {
  return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

/* Runs argv in mode m; CPU and wall time in ms, minor page faults. 0, or
 * -1 when it failed. */
static int run_once(int m, char **argv, double *cpu, double *wall, double *faults) {
  /* A new file each time, as ctrace run makes it (it unlinks the old one):
   * truncating a file ext4 then writes back at close (auto_da_alloc) and
   * a discarding mount trims, which is no cost of the tracer's. */
  unlink(trace);
  double t0 = now_ms();
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      close(null);
    }
    unsetenv("CTRACE__GEN");
    if (m == PRELOAD || m == BASE) {
      setenv("LD_PRELOAD", m == BASE ? base : preload, 1);
      setenv("CTRACE_OUT", trace, 1);
      setenv("CTRACE__GEN", "", 1); /* as ctrace run: there, empty */
      if (ticks[0])
        setenv("CTRACE__TICKS_PER_NS", ticks, 1);
      char *eq = strchr(base_env, '=');
      if (m == BASE && eq) {
        *eq = 0; /* this child's copy */
        setenv(base_env, eq + 1, 1);
      }
      execvp(argv[0], argv);
    } else if (m == RUN) {
      int n = 0;
      while (argv[n])
        n++;
      char **a = calloc((size_t)n + 6, sizeof *a);
      a[0] = ctrace_bin;
      a[1] = "run";
      a[2] = "-o";
      a[3] = trace;
      a[4] = "--";
      memcpy(a + 5, argv, (size_t)n * sizeof *a);
      execv(ctrace_bin, a);
    } else {
      execvp(argv[0], argv);
    }
    _exit(127);
  }
  int st;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0)
    if (errno != EINTR)
      return -1;
  *wall = now_ms() - t0;
  *cpu = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
  *faults = (double)ru.ru_minflt;
  return WIFEXITED(st) && WEXITSTATUS(st) != 127 ? 0 : -1;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The rate `ctrace run` would export, asked of ctrace itself: the traced
 * processes then skip the kernel query, as under ctrace run. */
static void find_ticks(void) {
  char cmd[2 * PATH_MAX + 256];
  snprintf(cmd, sizeof cmd,
           "%s run -o %s -- /usr/bin/env 2>/dev/null | sed -n 's/^CTRACE__TICKS_PER_NS=//p'",
           ctrace_bin, trace);
  FILE *p = popen(cmd, "r");
  if (!p)
    return;
  if (!fgets(ticks, sizeof ticks, p))
    ticks[0] = 0;
  ticks[strcspn(ticks, "\n")] = 0;
  pclose(p);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20;
  if (n < 1)
    n = 20;
  static char *dflt[] = {"/bin/true", NULL};
  char **prog = argc > 2 ? argv + 2 : dflt;

  char self[PATH_MAX - 64];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  self[k > 0 ? k : 0] = 0;
  char *slash = strrchr(self, '/');
  if (slash)
    *slash = 0; /* build/bench */
  snprintf(preload, sizeof preload, "%s/../src/preload/libctrace-preload.so", self);
  snprintf(ctrace_bin, sizeof ctrace_bin, "%s/../ctrace", self);
  const char *tmp = getenv("TMPDIR");
  snprintf(trace, sizeof trace, "%s/startup_bench.%d.ctrace", tmp && *tmp ? tmp : "/tmp",
           (int)getpid());
  find_ticks();
  base = getenv("STARTUP_BENCH_BASE");
  int nmodes = base && *base ? NMODES : BASE;
  const char *benv = getenv("STARTUP_BENCH_BASE_ENV");
  snprintf(base_env, sizeof base_env, "%s", benv ? benv : "");
  const char *norun = getenv("STARTUP_BENCH_NORUN");
  int skip_run = norun && *norun && strcmp(norun, "0") != 0;

  double *cpu[NMODES], *wall[NMODES], *dcpu[NMODES], *dwall[NMODES], *dbase[NMODES];
  double *flt[NMODES];
  for (int m = 0; m < NMODES; m++) {
    flt[m] = calloc((size_t)n, sizeof(double));
    dbase[m] = calloc((size_t)n, sizeof(double));
    cpu[m] = calloc((size_t)n, sizeof(double));
    wall[m] = calloc((size_t)n, sizeof(double));
    dcpu[m] = calloc((size_t)n, sizeof(double));
    dwall[m] = calloc((size_t)n, sizeof(double));
  }
  /* One warm-up round: page cache, the loader's cache. */
  double c, w, f;
  for (int m = 0; m < nmodes; m++)
    if (!(skip_run && m == RUN))
      run_once(m, prog, &c, &w, &f);
  int failed = 0;
  for (int i = 0; i < n; i++) {
    for (int m = 0; m < nmodes; m++) {
      int mm = (m + i) % nmodes; /* rotate the order: no mode always first */
      if (skip_run && mm == RUN)
        continue;
      if (run_once(mm, prog, &cpu[mm][i], &wall[mm][i], &flt[mm][i]) != 0)
        failed++;
    }
    for (int m = 0; m < nmodes; m++) {
      dcpu[m][i] = cpu[m][i] - cpu[UNTRACED][i];
      dwall[m][i] = wall[m][i] - wall[UNTRACED][i];
      dbase[m][i] = nmodes > BASE ? cpu[m][i] - cpu[BASE][i] : 0;
    }
  }
  unlink(trace);

  printf("startup of %s: %d alternating rounds (ms; median [min..max])%s\n", prog[0], n,
         failed ? " (some runs failed)" : "");
  printf("%-11s | %-24s | %-24s | %-10s | %-10s | %-6s%s\n", "mode", "CPU (user+sys)", "wall",
         "CPU added", "wall added", "faults", nmodes > BASE ? " | CPU vs base" : "");
  for (int m = 0; m < nmodes; m++) {
    if (skip_run && m == RUN)
      continue;
    double cm = median(cpu[m], n), wm = median(wall[m], n);
    printf("%-11s | %6.2f [%6.2f..%6.2f]   | %6.2f [%6.2f..%6.2f]   | %+9.2f  | %+9.2f  | %6.0f",
           mode_names[m], cm, cpu[m][0], cpu[m][n - 1], wm, wall[m][0], wall[m][n - 1],
           median(dcpu[m], n), median(dwall[m], n), median(flt[m], n));
    if (nmodes > BASE)
      printf("  | %+9.2f", median(dbase[m], n));
    printf("\n");
  }
  printf("CPU: user+sys of the child from wait4 (fork to exit); faults: its minor page faults "
         "(median). preload%s: LD_PRELOAD and CTRACE_OUT as ctrace run sets them; ctrace run: "
         "ctrace's own process included\n",
         nmodes > BASE ? ", base" : "");
  return 0;
}
