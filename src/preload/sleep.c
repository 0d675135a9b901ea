/*
 * sleep.c - interposers for sleeping: nanosleep, clock_nanosleep, usleep,
 * sleep and C11 thrd_sleep. glibc's usleep/sleep/thrd_sleep reach nanosleep
 * without the PLT, so each is interposed itself. Each sleep becomes one WAIT
 * (reason SLEEP, object 0) with the time actually slept, whatever the result
 * (an interrupted sleep is recorded as long as it lasted); while asleep, the
 * thread's blocking-call state says so (PENDING at stop).
 * Not here: waits on objects (sync.c).
 */
#include "preload.h"

#define PL_SLEEP_SHAPE(ret, name, PARAMS, ARGS)                                 \
  PL_EXPORT ret name PARAMS {                                                  \
    if (PL_PASS(PL_SLEEP))                                                     \
      return PL_REAL(name) ARGS;                                               \
    uint64_t t0_ = ctrace__now();                                              \
    struct ctrace__pl_call c_;                                                 \
    ctrace__pl_call_wait(&c_, CTRACE_WAIT_SLEEP, NULL, t0_, __builtin_frame_address(0)); \
    ret r = PL_REAL(name) ARGS;                                                \
    ctrace__pl_call_end(&c_);                                                  \
    ctrace__pl_wait(CTRACE_WAIT_SLEEP, NULL, t0_, ctrace__now(), __builtin_frame_address(0)); \
    return r;                                                                  \
  }

PL_SLEEP_SHAPE(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem))
PL_SLEEP_SHAPE(int, clock_nanosleep,
               (clockid_t clk, int flags, const struct timespec *req, struct timespec *rem),
               (clk, flags, req, rem))
PL_SLEEP_SHAPE(int, usleep, (useconds_t us), (us))
PL_SLEEP_SHAPE(unsigned, sleep, (unsigned s), (s))
PL_SLEEP_SHAPE(int, thrd_sleep, (const struct timespec *req, struct timespec *rem), (req, rem))
