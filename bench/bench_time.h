/*
 * bench_time.h - the clocks the benchmarks read: wall time and the
 * process's CPU time (user + sys), in milliseconds. CPU time is the less
 * noisy of the two on a shared machine; the tables print both.
 */
#ifndef CTRACE_BENCH_TIME_H
#define CTRACE_BENCH_TIME_H

#include <time.h>

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
