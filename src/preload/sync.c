/*
 * sync.c - interposers for blocking synchronisation: pthread mutexes,
 * rwlocks, condition variables, barriers, joins, POSIX semaphores and the C11
 * mtx_* / cnd_* calls (glibc's C11 functions reach the pthread code without
 * the PLT, so they are interposed themselves).
 *
 * Three shapes, each written once:
 *   LOCK    try first; only when the object is busy mark the waiter slot, try
 *           once more (the holder may have released meanwhile), then block in
 *           the real call and record one WAIT with the blocked time.
 *   BLOCK   always blocks (cond waits, barriers): mark, call, record WAIT.
 *   RELEASE call the real release, then look at the object's waiter slot: a
 *           mark there means a thread waits, so record a WAKE naming it.
 * Not here: what the events look like (preload.c), sleeping (sleep.c).
 */
#include "preload.h"

#define FP __builtin_frame_address(0)

/* LOCK shape. TRY: the non-blocking attempt (its value in r); BUSY: r says
 * the object is held. TRY leaves errno alone when busy (sem_try_ below), so
 * the fast path neither saves nor restores it. The contended part is its own
 * function, out of line, so that the uncontended path is a short leaf with
 * no frame to build; fp_ carries the interposer's frame so stacks still
 * start at the program's call. */
#define PL_STRIP(...) __VA_ARGS__
#define PL_LOCK_SHAPE(name, reason, obj, PARAMS, ARGS, TRY, BUSY)               \
  static __attribute__((noinline)) int name##_contended_(void *fp_, PL_STRIP PARAMS) { \
    uint64_t t0_ = ctrace__now();                                              \
    struct ctrace__pl_waiter *s_ = ctrace__pl_slot(obj);                       \
    ctrace__pl_waiter_mark(s_, obj);                                           \
    int r = TRY;                                                               \
    if (!(BUSY)) {                                                             \
      ctrace__pl_waiter_done(s_);                                              \
      return r;                                                                \
    }                                                                          \
    r = PL_REAL(name) ARGS;                                                    \
    ctrace__pl_waiter_done(s_);                                                \
    ctrace__pl_wait(reason, obj, t0_, ctrace__now(), fp_);                     \
    return r;                                                                  \
  }                                                                            \
  PL_EXPORT int name PARAMS {                                                  \
    if (PL_PASS(PL_SYNC))                                                      \
      return PL_REAL(name) ARGS;                                               \
    int r = TRY;                                                               \
    if (CTRACE__LIKELY(!(BUSY)))                                               \
      return r;                                                                \
    return name##_contended_(__builtin_frame_address(0), PL_STRIP ARGS);       \
  }

/* sem_trywait without its EAGAIN: -2 when the count is 0 (errno as it was),
 * else what sem_trywait returned (errno set on other failures). */
static inline int sem_try_(sem_t *s) {
  int saved = errno;
  int r = PL_REAL(sem_trywait)(s);
  if (r == -1 && errno == EAGAIN) {
    errno = saved;
    return -2;
  }
  return r;
}

#define PL_BLOCK_SHAPE(name, reason, obj, PARAMS, ARGS)                         \
  PL_EXPORT int name PARAMS {                                                  \
    if (PL_PASS(PL_SYNC))                                                      \
      return PL_REAL(name) ARGS;                                               \
    uint64_t t0_ = ctrace__now();                                              \
    struct ctrace__pl_waiter *s_ = ctrace__pl_slot(obj);                       \
    ctrace__pl_waiter_mark(s_, obj);                                           \
    int r = PL_REAL(name) ARGS;                                                \
    ctrace__pl_waiter_done(s_);                                                \
    ctrace__pl_wait(reason, obj, t0_, ctrace__now(), FP);                      \
    return r;                                                                  \
  }

#define W(x) CTRACE_WAIT_##x

/* ---- pthread mutexes ---- */
PL_LOCK_SHAPE(pthread_mutex_lock, W(MUTEX), m, (pthread_mutex_t *m), (m),
              PL_REAL(pthread_mutex_trylock)(m), r == EBUSY)
PL_LOCK_SHAPE(pthread_mutex_timedlock, W(MUTEX), m,
              (pthread_mutex_t *restrict m, const struct timespec *restrict at), (m, at),
              PL_REAL(pthread_mutex_trylock)(m), r == EBUSY)
PL_RELEASE_SHAPE(pthread_mutex_unlock, W(MUTEX), m, (pthread_mutex_t *m), (m))

/* ---- rwlocks ---- */
PL_LOCK_SHAPE(pthread_rwlock_rdlock, W(RWLOCK_READ), l, (pthread_rwlock_t *l), (l),
              PL_REAL(pthread_rwlock_tryrdlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_wrlock, W(RWLOCK_WRITE), l, (pthread_rwlock_t *l), (l),
              PL_REAL(pthread_rwlock_trywrlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_timedrdlock, W(RWLOCK_READ), l,
              (pthread_rwlock_t *restrict l, const struct timespec *restrict at), (l, at),
              PL_REAL(pthread_rwlock_tryrdlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_timedwrlock, W(RWLOCK_WRITE), l,
              (pthread_rwlock_t *restrict l, const struct timespec *restrict at), (l, at),
              PL_REAL(pthread_rwlock_trywrlock)(l), r == EBUSY)
PL_RELEASE_SHAPE(pthread_rwlock_unlock, W(RWLOCK_WRITE), l, (pthread_rwlock_t *l), (l))

/* ---- condition variables (GLIBC_2.3.2 versions, see preload.h) ---- */
PL_BLOCK_SHAPE(pthread_cond_wait, W(COND), c,
               (pthread_cond_t *restrict c, pthread_mutex_t *restrict m), (c, m))
PL_BLOCK_SHAPE(pthread_cond_timedwait, W(COND), c,
               (pthread_cond_t *restrict c, pthread_mutex_t *restrict m,
                const struct timespec *restrict at),
               (c, m, at))
PL_RELEASE_SHAPE(pthread_cond_signal, W(COND), c, (pthread_cond_t *c), (c))
PL_RELEASE_SHAPE(pthread_cond_broadcast, W(COND), c, (pthread_cond_t *c), (c))

/* ---- semaphores ---- */
PL_LOCK_SHAPE(sem_wait, W(SEM), s, (sem_t *s), (s), sem_try_(s), r == -2)
PL_LOCK_SHAPE(sem_timedwait, W(SEM), s, (sem_t *restrict s, const struct timespec *restrict at),
              (s, at), sem_try_(s), r == -2)
PL_RELEASE_SHAPE(sem_post, W(SEM), s, (sem_t *s), (s))

/* ---- barriers and joins ---- */
PL_BLOCK_SHAPE(pthread_barrier_wait, W(BARRIER), b, (pthread_barrier_t *b), (b))
PL_LOCK_SHAPE(pthread_join, W(JOIN), (void *)th, (pthread_t th, void **ret), (th, ret),
              PL_REAL(pthread_tryjoin_np)(th, ret), r == EBUSY)

/* ---- C11 threads ---- */
PL_LOCK_SHAPE(mtx_lock, W(MUTEX), m, (mtx_t *m), (m), PL_REAL(mtx_trylock)(m), r == thrd_busy)
PL_LOCK_SHAPE(mtx_timedlock, W(MUTEX), m,
              (mtx_t *restrict m, const struct timespec *restrict at), (m, at),
              PL_REAL(mtx_trylock)(m), r == thrd_busy)
PL_RELEASE_SHAPE(mtx_unlock, W(MUTEX), m, (mtx_t *m), (m))
PL_BLOCK_SHAPE(cnd_wait, W(COND), c, (cnd_t *c, mtx_t *m), (c, m))
PL_BLOCK_SHAPE(cnd_timedwait, W(COND), c,
               (cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict at),
               (c, m, at))
PL_RELEASE_SHAPE(cnd_signal, W(COND), c, (cnd_t *c), (c))
PL_RELEASE_SHAPE(cnd_broadcast, W(COND), c, (cnd_t *c), (c))
