/*
 * peer_lttng.c - LTTng-UST's cost per event, measured as record_bench --kv
 * measures ctrace's: alternating rounds of one rdtsc loop and one loop of
 * tracepoints (one integer field, like a counter), CPU time of the thread
 * per event. Run inside an LTTng session with the event enabled (traced)
 * and without (the tracepoint's disabled branch). bench/cost.py runs both.
 * Prints "rdtsc_ns MED MIN MAX" and "tracepoint_ns MED MIN MAX".
 */
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "peer_lttng_tp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

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

int main(void) {
  enum { R = 15 };
  long n = 100000;
  double rd[R], tp[R];
  volatile uint64_t sink = 0;
  for (long i = 0; i < n; i++) /* warm up: the first sub-buffers */
    lttng_ust_tracepoint(ctrace_bench, counter, (long)(i & 1023));
  for (int r = 0; r < R; r++) {
    double t0 = thread_cpu_ns();
    uint64_t s = 0;
    for (long i = 0; i < n; i++)
      s += __rdtsc();
    sink += s;
    rd[r] = (thread_cpu_ns() - t0) / (double)n;
    t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++)
      lttng_ust_tracepoint(ctrace_bench, counter, (long)(i & 1023));
    tp[r] = (thread_cpu_ns() - t0) / (double)n;
  }
  stat("rdtsc_ns", rd, R);
  stat("tracepoint_ns", tp, R);
  return 0;
}
