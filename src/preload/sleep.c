/*
 * sleep.c - interposers for sleeping: nanosleep, clock_nanosleep, usleep,
 * sleep and C11 thrd_sleep. glibc's usleep/sleep/thrd_sleep reach nanosleep
 * without the PLT, so each is interposed itself. Each sleep becomes one WAIT
 * (reason SLEEP, object the requested ns) with the time actually slept, whatever the result
 * (an interrupted sleep is recorded as long as it lasted); while asleep, the
 * thread's blocking-call state says so (PENDING at stop).
 * Not here: waits on objects (sync.c).
 */
#include "preload.h"

/* REQ: the requested duration in ns, evaluated after a call that did not
 * fail otherwise (its arguments were readable); 0 when unknown. From format
 * 1.2 it is the WAIT's object: with scheduling data, readers split a sleep
 * into the time asked for and the time spent waiting for a CPU after it. */
#define PL_SLEEP_SHAPE(ret, name, PARAMS, ARGS, OK, REQ)                        \
  PL_EXPORT ret name PARAMS {                                                  \
    if (PL_PASS(PL_SLEEP))                                                     \
      return PL_REAL(name) ARGS;                                               \
    uint64_t t0_ = ctrace__now();                                              \
    struct ctrace__pl_call c_;                                                 \
    ctrace__pl_call_wait(&c_, CTRACE_WAIT_SLEEP, NULL, t0_, __builtin_frame_address(0)); \
    ret r = PL_REAL(name) ARGS;                                                \
    int e_ = errno;                                                            \
    ctrace__pl_call_end(&c_);                                                  \
    uint64_t q_ = (OK) ? (uint64_t)(REQ) : 0;                                  \
    ctrace__pl_wait(CTRACE_WAIT_SLEEP, (const void *)(uintptr_t)q_, t0_, ctrace__now(), \
                    __builtin_frame_address(0));                               \
    errno = e_;                                                                \
    return r;                                                                  \
  }
#define PL_TS_NS(ts) ((uint64_t)(ts)->tv_sec * 1000000000u + (uint64_t)(ts)->tv_nsec)

PL_SLEEP_SHAPE(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem),
               req && (r == 0 || e_ == EINTR), PL_TS_NS(req))
PL_SLEEP_SHAPE(int, clock_nanosleep,
               (clockid_t clk, int flags, const struct timespec *req, struct timespec *rem),
               (clk, flags, req, rem), req && !(flags & TIMER_ABSTIME) && (r == 0 || r == EINTR),
               PL_TS_NS(req))
PL_SLEEP_SHAPE(int, usleep, (useconds_t us), (us), 1, (uint64_t)us * 1000u)
PL_SLEEP_SHAPE(unsigned, sleep, (unsigned s), (s), 1, (uint64_t)s * 1000000000u)
PL_SLEEP_SHAPE(int, thrd_sleep, (const struct timespec *req, struct timespec *rem), (req, rem),
               req && r != -2, PL_TS_NS(req))
