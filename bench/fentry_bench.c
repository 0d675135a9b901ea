/*
 * fentry_bench.c - what recording a function's entry and exit costs, for
 * uftrace beside ctrace (bench/cost.py): a small function called N times.
 * Built three ways from this file: plain (the untraced call), with -pg
 * (uftrace record's mcount hooks, run under `uftrace record`), and with
 * FENTRY_CTRACE (the function opens and closes a ctrace region, the API's
 * equivalent of an entry and an exit; traced when argv[1] names a file).
 * Prints "call_ns MED MIN MAX" (CPU time of the thread per call, rounds
 * alternating with an rdtsc loop) and "rdtsc_ns MED MIN MAX".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>
#ifdef FENTRY_CTRACE
#include <ctrace.h>
#endif

static double thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static void stat(const char *key, double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  printf("%s %.3f %.3f %.3f\n", key, v[n / 2], v[0], v[n - 1]);
}

__attribute__((noinline)) int leaf(int x) {
#ifdef FENTRY_CTRACE
  CTRACE_REGION("leaf");
#endif
  __asm__ volatile("" : "+r"(x));
  return x + 1;
}

int main(int argc, char **argv) {
#ifdef FENTRY_CTRACE
  if (argc > 1 && ctrace_start_path(argv[1]) != 0)
    return 1;
#else
  (void)argc;
  (void)argv;
#endif
  enum { R = 15 };
  long n = 50000;
  double rd[R], call[R];
  volatile int sink = 0;
  for (long i = 0; i < n; i++)
    sink = leaf(sink);
  for (int r = 0; r < R; r++) {
    double t0 = thread_cpu_ns();
    uint64_t s = 0;
    for (long i = 0; i < n; i++)
      s += __rdtsc();
    sink += (int)s;
    rd[r] = (thread_cpu_ns() - t0) / (double)n;
    t0 = thread_cpu_ns();
    int v = 0;
    for (long i = 0; i < n; i++)
      v = leaf(v);
    sink += v;
    call[r] = (thread_cpu_ns() - t0) / (double)n;
  }
  stat("rdtsc_ns", rd, R);
  stat("call_ns", call, R);
#ifdef FENTRY_CTRACE
  ctrace_stop();
#endif
  return 0;
}
