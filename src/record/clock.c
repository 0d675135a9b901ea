/*
 * clock.c - the recorder's time source: the CPU's time-stamp counter when it
 * is invariant (constant rate, runs in every sleep state), else
 * CLOCK_MONOTONIC in nanoseconds. Not a converter: readers turn ticks into
 * nanoseconds from the CLOCK_SYNC records the writer emits.
 */
#include "record.h"
#include "config.h"

#ifdef CTRACE__HAVE_TSC
#include <cpuid.h>
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h> /* glibc 2.33 */
#endif
#endif
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int ctrace__use_tsc;

/* Called once before the first trace (and never while one runs). */
CTRACE__COLD void ctrace__clock_init(void) {
  ctrace__use_tsc = 0;
#ifdef CTRACE__HAVE_TSC
  /* Inherited from the process that started the run (ctrace__ticks_per_ns
   * exports "0" for CLOCK_MONOTONIC): CPUID traps to the hypervisor in a
   * VM, ~0.1 ms per traced process. */
  const char *inherited = getenv("CTRACE__TICKS_PER_NS");
  if (inherited && *inherited)
    ctrace__use_tsc = ctrace__parse_double(inherited) > 0;
  /* CPUID 0x80000007, EDX bit 8: invariant TSC; as glibc read it at start
   * where it says (CPUID itself traps in a VM, ~13 us a call). */
#ifdef CPU_FEATURE_PRESENT
  else if (CPU_FEATURE_PRESENT(INVARIANT_TSC))
    ctrace__use_tsc = 1;
#else
  else {
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000007 &&
        __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)))
      ctrace__use_tsc = 1;
  }
#endif
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

/*
 * The TSC's rate as the kernel publishes it: the perf_event mmap page of a
 * software event on this process holds time_mult/time_shift (ns = ticks *
 * mult >> shift). Works unprivileged (perf_event_paranoid <= 2) and costs
 * a few system calls, not a calibration sleep. 0 when unavailable.
 */
static double kernel_ticks_per_ns(void) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_DUMMY;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0)
    return 0;
  double r = 0;
  long page = sysconf(_SC_PAGESIZE);
  struct perf_event_mmap_page *pg = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
  if (pg != MAP_FAILED) {
    if (pg->cap_user_time && pg->time_mult)
      r = (double)(1ull << pg->time_shift) / (double)pg->time_mult;
    munmap(pg, (size_t)page);
  }
  syscall(SYS_close, fd); /* not through the preload's close() */
  return r;
}

/* Measured against CLOCK_MONOTONIC over about 2 ms of busy time: the last
 * resort, then handed to children through the environment. */
static double measured_ticks_per_ns(void) {
  uint64_t t0, m0, r0, t1, m1, r1;
  ctrace__clock_sync(&t0, &m0, &r0);
  do
    ctrace__clock_sync(&t1, &m1, &r1);
  while (m1 - m0 < 2000000 && m1 >= m0);
  if (m1 <= m0 || t1 <= t0)
    return 1.0;
  return (double)(t1 - t0) / (double)(m1 - m0);
}

/*
 * Ticks per nanosecond of ctrace__now(), for thresholds given in ns (the
 * preload's minimum duration); readers convert from CLOCK_SYNC records, not
 * from this. Cached; inherited by children (CTRACE__TICKS_PER_NS), so no
 * traced process pays a calibration.
 */
double ctrace__ticks_per_ns(void) {
  static double cached;
  if (cached > 0)
    return cached;
  const char *env = getenv("CTRACE__TICKS_PER_NS");
  if (!ctrace__use_tsc) {
    if (!env)
      setenv("CTRACE__TICKS_PER_NS", "0", 1); /* children: no CPUID either */
    return cached = 1.0;
  }
  double r = env ? ctrace__parse_double(env) : 0;
  if (!(r > 0.01 && r < 100))
    r = kernel_ticks_per_ns();
  if (!(r > 0.01 && r < 100))
    r = measured_ticks_per_ns();
  if (!env) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.9f", r);
    setenv("CTRACE__TICKS_PER_NS", buf, 1);
  }
  return cached = r;
}
