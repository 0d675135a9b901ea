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

/* LOCK shape. TRY: the non-blocking attempt (sets r); BUSY: r (and errno)
 * say the object is held. errno is restored after a busy try so the caller
 * sees exactly what the blocking call left. */
#define PL_LOCK_SHAPE(name, reason, obj, PARAMS, ARGS, TRY, BUSY)               \
  PL_EXPORT int name PARAMS {                                                  \
    if (PL_PASS(PL_SYNC))                                                      \
      return PL_REAL(name) ARGS;                                               \
    int saved_ = errno;                                                        \
    int r = TRY;                                                               \
    if (CTRACE__LIKELY(!(BUSY)))                                               \
      return r;                                                                \
    uint64_t t0_ = ctrace__now();                                              \
    struct ctrace__pl_waiter *s_ = ctrace__pl_slot(obj);                       \
    ctrace__pl_waiter_mark(s_, obj);                                           \
    r = TRY;                                                                   \
    if (!(BUSY)) {                                                             \
      ctrace__pl_waiter_done(s_);                                              \
      return r;                                                                \
    }                                                                          \
    errno = saved_;                                                            \
    r = PL_REAL(name) ARGS;                                                    \
    ctrace__pl_waiter_done(s_);                                                \
    ctrace__pl_wait(reason, obj, t0_, ctrace__now(), FP);                      \
    return r;                                                                  \
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

/* ---- semaphores: trywait fails with errno EAGAIN when the count is 0 ---- */
PL_LOCK_SHAPE(sem_wait, W(SEM), s, (sem_t *s), (s), PL_REAL(sem_trywait)(s),
              r == -1 && errno == EAGAIN)
PL_LOCK_SHAPE(sem_timedwait, W(SEM), s, (sem_t *restrict s, const struct timespec *restrict at),
              (s, at), PL_REAL(sem_trywait)(s), r == -1 && errno == EAGAIN)
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
