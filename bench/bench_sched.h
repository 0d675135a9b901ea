/*
 * bench_sched.h - what the context-switch benchmarks share: pinning the
 * calling thread to a CPU, a thread's context switches as the kernel
 * counts them, and a clock in nanoseconds.
 */
#ifndef CTRACE_BENCH_SCHED_H
#define CTRACE_BENCH_SCHED_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdio.h>
#include <time.h>

static inline double now_ns(clockid_t k) {
  struct timespec t;
  clock_gettime(k, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static inline void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  sched_setaffinity(0, sizeof s, &s);
}

/* Voluntary + nonvoluntary switches of thread tid of this process. */
static inline long switches(long tid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
  FILE *f = fopen(path, "re");
  long n = 0, v;
  if (!f)
    return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
        sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
      n += v;
  fclose(f);
  return n;
}

#endif
