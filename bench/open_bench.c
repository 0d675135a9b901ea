/*
 * open_bench.c - how opening a trace scales with its number of threads:
 * the same number of events spread over few or many threads, opened by the
 * reader (its one validating pass, cross-thread links and names included)
 * and then indexed for the viewer (the timeline build). Both times should
 * stay flat as threads grow; the table shows each against the first row.
 *
 * Usage: open_bench [EVENTS [THREADS...]]   (default 2000000 10 2000 40000)
 *
 * Traces are made with `gen_trace --spread` (found next to this program)
 * in $TMPDIR and removed afterwards. Each time is the best of 3 runs;
 * "cpu" is the process's CPU time for the open (less noisy than the wall
 * clock on a busy machine).
 * "read as" is the number of worker threads the reader found (the main
 * thread aside): fewer than asked when the kernel reused tids (pid_max).
 * Prints a table; never fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/analyze/timeline.h"
#include "../src/read/reader.h"

#include "bench_time.h"

static int run_gen(const char *gen, const char *out, const char *events, const char *threads) {
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execl(gen, gen, "--spread", out, events, threads, (char *)NULL);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) < 0)
    return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  const char *events = argc > 1 ? argv[1] : "2000000";
  static const char *defaults[] = {"10", "2000", "40000"};
  const char **threads = argc > 2 ? (const char **)argv + 2 : defaults;
  int nrows = argc > 2 ? argc - 2 : 3;

  char gen[4096];
  snprintf(gen, sizeof gen, "%s", argv[0]);
  char *slash = strrchr(gen, '/');
  snprintf(slash ? slash + 1 : gen, sizeof gen - (size_t)(slash ? slash + 1 - gen : 0), "gen_trace");
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

  printf("%8s %8s %10s %6s %8s %7s %8s %7s %14s %7s %6s\n", "threads", "read as", "events", "MB",
         "open ms", "x first", "cpu ms", "x first", "open+index ms", "x first", "gen s");
  double open0 = 0, both0 = 0, cpu0 = 0;
  for (int i = 0; i < nrows; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/open_bench.%d.%s.ctrace", tmp, (int)getpid(), threads[i]);
    double g0 = now_ms();
    if (run_gen(gen, path, events, threads[i]) < 0) {
      printf("%8s  (gen_trace failed)\n", threads[i]);
      unlink(path);
      continue;
    }
    double gen_s = (now_ms() - g0) / 1e3;
    struct stat st;
    stat(path, &st);
    double best_open = 1e300, best_both = 1e300, best_cpu = 1e300;
    uint64_t nev = 0;
    uint32_t nth = 0;
    for (int rep = 0; rep < 3; rep++) {
      char err[CTRACE_READ_ERRLEN];
      ctrace_reader *r;
      double t0 = now_ms(), c0 = cpu_ms();
      if (ctrace_reader_open(path, &r, err, sizeof err) < 0) {
        printf("%8s  (open failed: %s)\n", threads[i], err);
        break;
      }
      double t1 = now_ms(), c1 = cpu_ms();
      struct ctrace_timeline *tl = NULL;
      int rc = ctrace_timeline_build(r, NULL, NULL, &tl);
      double t2 = now_ms();
      if (rc == 0)
        ctrace_timeline_free(tl);
      nev = ctrace_reader_nevents(r);
      nth = ctrace_reader_nthreads(r);
      ctrace_reader_close(r);
      if (t1 - t0 < best_open)
        best_open = t1 - t0;
      if (t2 - t0 < best_both)
        best_both = t2 - t0;
      if (c1 - c0 < best_cpu)
        best_cpu = c1 - c0;
    }
    unlink(path);
    if (best_open == 1e300)
      continue;
    if (open0 == 0) {
      open0 = best_open;
      both0 = best_both;
      cpu0 = best_cpu;
    }
    printf("%8s %8u %10" PRIu64 " %6.1f %8.1f %7.2f %8.1f %7.2f %14.1f %7.2f %6.1f\n", threads[i],
           nth - 1, nev, (double)st.st_size / 1e6, best_open, best_open / open0, best_cpu,
           best_cpu / cpu0, best_both, best_both / both0, gen_s);
    fflush(stdout);
  }
  return 0;
}
