/*
 * clock.c - the recorder's time source: the CPU's time-stamp counter when it
 * is invariant (constant rate, runs in every sleep state), else
 * CLOCK_MONOTONIC in nanoseconds. Not a converter: readers turn ticks into
 * nanoseconds from the CLOCK_SYNC records the writer emits.
 */
#include "record.h"

#ifdef CTRACE__HAVE_TSC
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

int ctrace__use_tsc;

/* Called once before the first trace (and never while one runs). */
void ctrace__clock_init(void) {
  ctrace__use_tsc = 0;
#ifdef CTRACE__HAVE_TSC
  unsigned a, b, c, d;
  /* CPUID 0x80000007, EDX bit 8: invariant TSC. */
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000007 &&
      __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)))
    ctrace__use_tsc = 1;
  const char *force = getenv("CTRACE_CLOCK");
  if (force && strcmp(force, "monotonic") == 0)
    ctrace__use_tsc = 0;
#endif
}

static uint64_t ts_ns(const struct timespec *ts) {
  return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/*
 * Takes the tightest of a few tries: a context switch between the reads would
 * make the pair disagree by microseconds; the tightest try is off by ~20 ns.
 */
void ctrace__clock_sync(uint64_t *ticks, uint64_t *mono_ns, uint64_t *real_ns) {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 5; i++) {
    struct timespec m, r;
    uint64_t t0 = ctrace__now();
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &r);
    uint64_t t1 = ctrace__now();
    if (t1 - t0 < best) {
      best = t1 - t0;
      *ticks = t0 + (t1 - t0) / 2;
      *mono_ns = ts_ns(&m);
      *real_ns = ts_ns(&r);
    }
  }
}
