/*
 * sync.c - interposers for blocking synchronisation: pthread mutexes,
 * rwlocks, condition variables, barriers, joins, POSIX semaphores, the
 * timed and clock variants of each (*timed*, *clock*: what C++'s
 * condition_variable::wait_for and CPython's timed locks call), and the C11
 * mtx_* / cnd_* calls (glibc's C11 functions reach the pthread code without
 * the PLT, so they are interposed themselves); the waiter registry behind
 * wake-up edges (see preload.h).
 *
 * Three shapes, each written once:
 *   LOCK    try first; only when the object is busy register as its waiter,
 *           try once more (the holder may have released meanwhile), then
 *           block in the real call and record one WAIT with the blocked
 *           time (also after a successful retry when a release claimed the
 *           registration, so that its WAKE pairs with a WAIT).
 *   BLOCK   always blocks (cond waits, barriers): register, call, WAIT.
 *   RELEASE claim waiters, release, record a WAKE per claimed waiter.
 * While blocked, the thread's blocking-call state says so (PENDING at stop).
 * Not here: what the events look like (preload.c), sleeping (sleep.c).
 */

#include "preload.h"

#define FP __builtin_frame_address(0)

/* ---- the waiter registry ---- */

CTRACE_TABLE _Alignas(4096) _Atomic uint32_t ctrace__pl_nwait[PL_WAIT_BUCKETS]; /* one page */

/* who: tid << 32 | ticket (31 bits) | CLAIMED; 0 when the entry is free.
 * obj is set after who is taken and cleared before who is freed, so a
 * claimer that reads who and then obj sees the object of that very
 * registration, or 0. */
struct wentry {
  _Atomic uint64_t who;
  _Atomic uintptr_t obj;
  _Atomic uint32_t reason;
  _Atomic uint64_t since; /* when the wait began: an edge is never before it */
};
#define CLAIMED ((uint64_t)1 << 31)
#define TICKET_MASK (CLAIMED - 1)
CTRACE_TABLE static struct wentry entries[PL_WAIT_ENTRIES];
static _Atomic uint32_t next_ticket;

static inline struct wentry *window_entry(uint32_t bucket, unsigned i) {
  return &entries[(bucket * (PL_WAIT_ENTRIES / PL_WAIT_BUCKETS) + i) & (PL_WAIT_ENTRIES - 1)];
}

void ctrace__pl_register(struct ctrace__pl_reg *g, const void *obj, uint8_t reason,
                         uint64_t since) {
  g->bucket = ctrace__pl_bucket(obj);
  g->entry = NULL;
  atomic_fetch_add_explicit(&ctrace__pl_nwait[g->bucket], 1, memory_order_seq_cst);
  uint32_t ticket = atomic_fetch_add_explicit(&next_ticket, 1, memory_order_relaxed);
  uint64_t who = (uint64_t)ctrace__gettid() << 32 | (ticket & TICKET_MASK);
  for (unsigned i = 0; i < PL_WAIT_WINDOW; i++) {
    struct wentry *e = window_entry(g->bucket, i);
    uint64_t free_ = 0;
    if (atomic_load_explicit(&e->who, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong_explicit(&e->who, &free_, who, memory_order_acq_rel,
                                                memory_order_relaxed)) {
      atomic_store_explicit(&e->reason, reason, memory_order_relaxed);
      atomic_store_explicit(&e->since, since, memory_order_relaxed);
      atomic_store_explicit(&e->obj, (uintptr_t)obj, memory_order_release);
      g->entry = e;
      g->who = who;
      return;
    }
  }
  /* window full: this wait gets no edge */
}

int ctrace__pl_unregister(struct ctrace__pl_reg *g) {
  int claimed = 0;
  struct wentry *e = g->entry;
  if (e) {
    atomic_store_explicit(&e->obj, 0, memory_order_relaxed);
    uint64_t w = g->who;
    if (!atomic_compare_exchange_strong_explicit(&e->who, &w, 0, memory_order_acq_rel,
                                                 memory_order_relaxed)) {
      claimed = 1; /* w is g->who | CLAIMED: free the entry ourselves */
      atomic_store_explicit(&e->who, 0, memory_order_release);
    }
  }
  atomic_fetch_sub_explicit(&ctrace__pl_nwait[g->bucket], 1, memory_order_relaxed);
  return claimed;
}

/* Claims entry e registered as w; 1 when this release won it. */
static int claim_one(struct ctrace__pl_claim *c, struct wentry *e, uint64_t w) {
  if (c->n >= PL_WAKE_MAX)
    return 0;
  uint8_t reason = (uint8_t)atomic_load_explicit(&e->reason, memory_order_relaxed);
  uint64_t since = atomic_load_explicit(&e->since, memory_order_relaxed);
  if (!atomic_compare_exchange_strong_explicit(&e->who, &w, w | CLAIMED, memory_order_acq_rel,
                                               memory_order_relaxed))
    return 0;
  /* The clock was read before the scan: a waiter that registered after that
   * began its wait later; the edge goes to its start (still before its end,
   * which it reads after this claim). */
  if (since > c->t)
    c->t = since;
  c->tid[c->n] = (uint32_t)(w >> 32);
  c->reason[c->n] = reason;
  c->n++;
  return 1;
}

/* Is a ticket older than b (31-bit sequence arithmetic)? */
static inline int older(uint64_t a, uint64_t b) {
  return ((a - b) & TICKET_MASK) > (TICKET_MASK >> 1);
}

void ctrace__pl_claim(struct ctrace__pl_claim *c, uint32_t bucket, const void *obj, int mode) {
  uint32_t self = ctrace__gettid();
  /* Read before any claim: the waiter unregisters after a claim and reads
   * its end time after that, so the edge always precedes the wait's end. */
  c->t = ctrace__now();
  c->n = 0;
  for (int attempt = 0; attempt < 4; attempt++) {
    struct wentry *best = NULL;
    uint64_t bw = 0;
    for (unsigned i = 0; i < PL_WAIT_WINDOW; i++) {
      struct wentry *e = window_entry(bucket, i);
      uint64_t w = atomic_load_explicit(&e->who, memory_order_acquire);
      if (!w || (w & CLAIMED) || (uint32_t)(w >> 32) == self)
        continue;
      if (atomic_load_explicit(&e->obj, memory_order_acquire) != (uintptr_t)obj)
        continue;
      if (mode == PL_CLAIM_ALL)
        claim_one(c, e, w);
      else if (!best || older(w, bw)) {
        best = e;
        bw = w;
      }
    }
    if (mode == PL_CLAIM_ALL || !best)
      return;
    if (claim_one(c, best, bw)) {
      if (mode == PL_CLAIM_RWLOCK && c->reason[0] == CTRACE_WAIT_RWLOCK_READ)
        for (unsigned i = 0; i < PL_WAIT_WINDOW; i++) {
          struct wentry *e = window_entry(bucket, i);
          uint64_t w = atomic_load_explicit(&e->who, memory_order_acquire);
          if (w && !(w & CLAIMED) && (uint32_t)(w >> 32) != self &&
              atomic_load_explicit(&e->obj, memory_order_acquire) == (uintptr_t)obj &&
              atomic_load_explicit(&e->reason, memory_order_relaxed) == CTRACE_WAIT_RWLOCK_READ)
            claim_one(c, e, w);
        }
      return;
    }
    /* lost a race with the waiter leaving or another releaser: look again */
  }
}

void ctrace__pl_wakes(const struct ctrace__pl_claim *c, const void *obj, void *fp) {
  int saved = errno;
  uint32_t st = 0;
  for (unsigned i = 0; i < c->n; i++) {
    struct ctrace__thread *t = ctrace__enter();
    if (!t)
      break;
    if (i == 0)
      st = ctrace__pl_stack(t, fp);
    uint8_t *p = ctrace__ev(t, CTRACE_EV_WAKE, c->t);
    p = ctrace__put_wake_tid(t, p, c->tid[i]);
    p = ctrace__put_object(t, p, (uintptr_t)obj);
    p = ctrace__put_uvarint(p, c->reason[i]);
    p = ctrace__put_uvarint(p, st);
    ctrace__leave(t, p);
  }
  errno = saved;
}

/* ---- the blocking-call state ---- */

/* Enters the blocking call n (its stack and trace left to fill): the
 * stack captured now from fp, kept in c for the call's event too. */
static void call_with_stack(struct ctrace__pl_call *c, struct ctrace__pending n, void *fp) {
  c->t = NULL;
  c->session = 0;
  int saved = errno;
  struct ctrace__thread *t = ctrace__enter();
  if (t) {
    n.stack = ctrace__pl_stack(t, fp);
    n.session = t->session;
    ctrace__leave_empty(t);
    c->h = &ctrace__hot;
    ctrace__pending_set(t, c->h, &n, &c->saved);
    c->t = t;
    c->stack = n.stack;
    c->session = n.session;
  }
  errno = saved;
}

void ctrace__pl_call_wait(struct ctrace__pl_call *c, uint8_t reason, const void *obj, uint64_t t0,
                          void *fp) {
  struct ctrace__pending n = {.since = t0 ? t0 : 1, .object = (uintptr_t)obj, .reason = reason};
  call_with_stack(c, n, fp);
}

void ctrace__pl_call_poll(struct ctrace__pl_call *c, uint8_t call, int fd, uint64_t t0, void *fp) {
  struct ctrace__pending n = {.since = t0 ? t0 : 1, .object = (uint32_t)fd, .call = call,
                              .cls = CTRACE_SC_POLL};
  call_with_stack(c, n, fp);
}

/* A blocking call's registration and state, undone also when the thread is
 * cancelled inside it (cond waits, sem_wait, joins are cancellation
 * points): a cancelled waiter must leave no entry that a later release
 * would claim for a thread that is gone. */
struct blocked {
  struct ctrace__pl_call c;
  struct ctrace__pl_reg g;
};
static void blocked_cancelled(void *arg) {
  struct blocked *b = arg;
  ctrace__pl_unregister(&b->g);
  ctrace__pl_call_end(&b->c);
}

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
    struct blocked b_;                                                         \
    ctrace__pl_call_wait(&b_.c, reason, obj, t0_, fp_);                        \
    ctrace__pl_register(&b_.g, obj, reason, t0_);                              \
    int r = TRY;                                                               \
    if (!(BUSY)) {                                                             \
      int claimed_ = ctrace__pl_unregister(&b_.g);                             \
      ctrace__pl_call_end(&b_.c);                                              \
      if (claimed_)                                                            \
        ctrace__pl_wait_call(reason, obj, t0_, ctrace__now(), &b_.c, fp_);     \
      return r;                                                                \
    }                                                                          \
    pthread_cleanup_push(blocked_cancelled, &b_);                              \
    r = PL_REAL(name) ARGS;                                                    \
    pthread_cleanup_pop(0);                                                    \
    ctrace__pl_unregister(&b_.g);                                              \
    ctrace__pl_call_end(&b_.c);                                                \
    ctrace__pl_wait_call(reason, obj, t0_, ctrace__now(), &b_.c, fp_);         \
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
    struct blocked b_;                                                         \
    ctrace__pl_call_wait(&b_.c, reason, obj, t0_, FP);                         \
    ctrace__pl_register(&b_.g, obj, reason, t0_);                              \
    int r;                                                                     \
    pthread_cleanup_push(blocked_cancelled, &b_);                              \
    r = PL_REAL(name) ARGS;                                                    \
    pthread_cleanup_pop(0);                                                    \
    ctrace__pl_unregister(&b_.g);                                              \
    ctrace__pl_call_end(&b_.c);                                                \
    ctrace__pl_wait_call(reason, obj, t0_, ctrace__now(), &b_.c, FP);          \
    return r;                                                                  \
  }

#define W(x) CTRACE_WAIT_##x
#define TS const struct timespec *restrict

/*
 * Process-shared objects: a waiter in another process is in no registry
 * this process can see, so a release that may wake one records a SHARED
 * record (flow.c) keyed by the object's place in its shared mapping, and
 * the reader pairs it with the waits of the same key (src/analyze/flows.c).
 * "May wake one", from glibc's layouts (2.34 and later, 64-bit): a
 * pshared mutex whose lock word is 2 (locked, waiters), a pshared condvar
 * with waiters counted in __wrefs, a pshared semaphore with waiters
 * counted in the upper half of its value. The check is two loads from
 * the object's own cache line, taken only when the registry saw nothing.
 */
static inline int mutex_ps_waiters(const pthread_mutex_t *m) {
  return (m->__data.__kind & 128) && m->__data.__lock > 1;
}
static inline int cond_ps_waiters(const pthread_cond_t *c) {
  unsigned w = c->__data.__wrefs;
  return (w & 1) && (w >> 3) != 0;
}
/* readers waiting for a writer's phase to end (__wrphase_futex), writers
 * waiting for the write lock (__writers_futex): their futex-used bit (2);
 * readers waiting in a read phase: PTHREAD_RWLOCK_RWAITING (4) */
static inline int rwlock_ps_waiters(const pthread_rwlock_t *l) {
  return l->__data.__shared != 0 &&
         ((l->__data.__wrphase_futex & 2) || (l->__data.__writers_futex & 2) ||
          (l->__data.__readers & 4));
}
/* C11: glibc's mtx_t and cnd_t are its pthread objects */
static inline int mtx_ps_waiters(const mtx_t *m) {
  return mutex_ps_waiters((const pthread_mutex_t *)(const void *)m);
}
static inline int cnd_ps_waiters(const cnd_t *c) {
  return cond_ps_waiters((const pthread_cond_t *)(const void *)c);
}
static inline int sem_ps_waiters(const sem_t *s) {
  const uint64_t *v = (const uint64_t *)(const void *)s;
  return ((const int *)(const void *)s)[2] != 0 && (v[0] >> 32) != 0;
}

/* RELEASE shape (preload.h) plus the SHARED record of a pshared object. */
#define PL_RELEASE_PS_SHAPE(name, obj, mode, reason, WAITERS, PARAMS, ARGS)     \
  PL_EXPORT int name PARAMS {                                                  \
    uint32_t b_ = ctrace__pl_bucket(obj);                                      \
    struct ctrace__pl_claim c_;                                                \
    c_.n = 0;                                                                  \
    uint64_t ps_ = 0;                                                          \
    int busy_ = atomic_load_explicit(&ctrace__pl_nwait[b_], memory_order_relaxed) != 0; \
    if (CTRACE__UNLIKELY(busy_ || WAITERS(obj)) && !PL_PASS(PL_SYNC)) {         \
      if (busy_)                                                               \
        ctrace__pl_claim(&c_, b_, (obj), (mode));                              \
      if (WAITERS(obj))                                                        \
        ps_ = ctrace__now();                                                   \
    }                                                                          \
    int r = PL_REAL(name) ARGS;                                                \
    if (CTRACE__UNLIKELY(c_.n != 0))                                           \
      ctrace__pl_wakes(&c_, (obj), __builtin_frame_address(0));                \
    if (CTRACE__UNLIKELY(ps_ != 0))                                            \
      ctrace__pl_shared(CTRACE_SHARED_WAKE, (reason), (obj), ps_);             \
    return r;                                                                  \
  }

/* ---- pthread mutexes ---- */
PL_LOCK_SHAPE(pthread_mutex_lock, W(MUTEX), m, (pthread_mutex_t *m), (m),
              PL_REAL(pthread_mutex_trylock)(m), r == EBUSY)
PL_LOCK_SHAPE(pthread_mutex_timedlock, W(MUTEX), m, (pthread_mutex_t *restrict m, TS at), (m, at),
              PL_REAL(pthread_mutex_trylock)(m), r == EBUSY)
PL_LOCK_SHAPE(pthread_mutex_clocklock, W(MUTEX), m,
              (pthread_mutex_t *restrict m, clockid_t clk, TS at), (m, clk, at),
              PL_REAL(pthread_mutex_trylock)(m), r == EBUSY)
PL_RELEASE_PS_SHAPE(pthread_mutex_unlock, m, PL_CLAIM_ONE, W(MUTEX), mutex_ps_waiters,
                    (pthread_mutex_t *m), (m))

/* ---- rwlocks ---- */
PL_LOCK_SHAPE(pthread_rwlock_rdlock, W(RWLOCK_READ), l, (pthread_rwlock_t *l), (l),
              PL_REAL(pthread_rwlock_tryrdlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_wrlock, W(RWLOCK_WRITE), l, (pthread_rwlock_t *l), (l),
              PL_REAL(pthread_rwlock_trywrlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_timedrdlock, W(RWLOCK_READ), l, (pthread_rwlock_t *restrict l, TS at),
              (l, at), PL_REAL(pthread_rwlock_tryrdlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_timedwrlock, W(RWLOCK_WRITE), l, (pthread_rwlock_t *restrict l, TS at),
              (l, at), PL_REAL(pthread_rwlock_trywrlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_clockrdlock, W(RWLOCK_READ), l,
              (pthread_rwlock_t *restrict l, clockid_t clk, TS at), (l, clk, at),
              PL_REAL(pthread_rwlock_tryrdlock)(l), r == EBUSY)
PL_LOCK_SHAPE(pthread_rwlock_clockwrlock, W(RWLOCK_WRITE), l,
              (pthread_rwlock_t *restrict l, clockid_t clk, TS at), (l, clk, at),
              PL_REAL(pthread_rwlock_trywrlock)(l), r == EBUSY)
PL_RELEASE_PS_SHAPE(pthread_rwlock_unlock, l, PL_CLAIM_RWLOCK, W(RWLOCK_WRITE), rwlock_ps_waiters,
                    (pthread_rwlock_t *l), (l))

/* ---- condition variables (GLIBC_2.3.2 versions, see preload.h) ---- */
PL_BLOCK_SHAPE(pthread_cond_wait, W(COND), c,
               (pthread_cond_t *restrict c, pthread_mutex_t *restrict m), (c, m))
PL_BLOCK_SHAPE(pthread_cond_timedwait, W(COND), c,
               (pthread_cond_t *restrict c, pthread_mutex_t *restrict m, TS at), (c, m, at))
PL_BLOCK_SHAPE(pthread_cond_clockwait, W(COND), c,
               (pthread_cond_t *restrict c, pthread_mutex_t *restrict m, clockid_t clk, TS at),
               (c, m, clk, at))
PL_RELEASE_PS_SHAPE(pthread_cond_signal, c, PL_CLAIM_ONE, W(COND), cond_ps_waiters,
                    (pthread_cond_t *c), (c))
PL_RELEASE_PS_SHAPE(pthread_cond_broadcast, c, PL_CLAIM_ALL, W(COND), cond_ps_waiters,
                    (pthread_cond_t *c), (c))

/* ---- semaphores ---- */
PL_LOCK_SHAPE(sem_wait, W(SEM), s, (sem_t *s), (s), sem_try_(s), r == -2)
PL_LOCK_SHAPE(sem_timedwait, W(SEM), s, (sem_t *restrict s, TS at), (s, at), sem_try_(s), r == -2)
PL_LOCK_SHAPE(sem_clockwait, W(SEM), s, (sem_t *restrict s, clockid_t clk, TS at), (s, clk, at),
              sem_try_(s), r == -2)
PL_RELEASE_PS_SHAPE(sem_post, s, PL_CLAIM_ONE, W(SEM), sem_ps_waiters, (sem_t *s), (s))

/* ---- barriers and joins ---- */
PL_BLOCK_SHAPE(pthread_barrier_wait, W(BARRIER), b, (pthread_barrier_t *b), (b))
PL_LOCK_SHAPE(pthread_join, W(JOIN), (void *)th, (pthread_t th, void **ret), (th, ret),
              PL_REAL(pthread_tryjoin_np)(th, ret), r == EBUSY)
PL_LOCK_SHAPE(pthread_timedjoin_np, W(JOIN), (void *)th,
              (pthread_t th, void **ret, const struct timespec *at), (th, ret, at),
              PL_REAL(pthread_tryjoin_np)(th, ret), r == EBUSY)
PL_LOCK_SHAPE(pthread_clockjoin_np, W(JOIN), (void *)th,
              (pthread_t th, void **ret, clockid_t clk, const struct timespec *at),
              (th, ret, clk, at), PL_REAL(pthread_tryjoin_np)(th, ret), r == EBUSY)

/* ---- C11 threads ---- */
/* thrd_join without blocking: thrd_busy while the thread runs. */
static inline int thrd_tryjoin_(thrd_t th, int *res) {
  void *rv;
  int r = PL_REAL(pthread_tryjoin_np)(th, &rv);
  if (r == EBUSY)
    return thrd_busy;
  if (r != 0)
    return thrd_error;
  if (res)
    *res = (int)(intptr_t)rv;
  return thrd_success;
}
PL_LOCK_SHAPE(thrd_join, W(JOIN), (void *)th, (thrd_t th, int *res), (th, res),
              thrd_tryjoin_(th, res), r == thrd_busy)

/* ---- child processes: a parent waiting for a child to change state ----
 * Tried with WNOHANG first: a child already done (or none) is no wait; else
 * the real call blocks and a WAIT (reason CHILD, object the pid asked for)
 * is recorded. A call that asked for WNOHANG itself never blocks. */
static inline int waitid_try_(idtype_t type, id_t id, siginfo_t *info, int opt) {
  if (info)
    info->si_pid = 0;
  return PL_REAL(waitid)(type, id, info, opt | WNOHANG);
}
#define CHILD_OBJ(pid) ((void *)(intptr_t)(pid))
PL_LOCK_SHAPE(wait, W(CHILD), CHILD_OBJ(-1), (int *st), (st), PL_REAL(waitpid)(-1, st, WNOHANG),
              r == 0)
PL_LOCK_SHAPE(waitpid, W(CHILD), CHILD_OBJ(pid), (pid_t pid, int *st, int opt), (pid, st, opt),
              PL_REAL(waitpid)(pid, st, opt | WNOHANG), r == 0 && !(opt & WNOHANG))
PL_LOCK_SHAPE(wait3, W(CHILD), CHILD_OBJ(-1), (int *st, int opt, struct rusage *ru),
              (st, opt, ru), PL_REAL(wait4)(-1, st, opt | WNOHANG, ru),
              r == 0 && !(opt & WNOHANG))
PL_LOCK_SHAPE(wait4, W(CHILD), CHILD_OBJ(pid), (pid_t pid, int *st, int opt, struct rusage *ru),
              (pid, st, opt, ru), PL_REAL(wait4)(pid, st, opt | WNOHANG, ru),
              r == 0 && !(opt & WNOHANG))
PL_LOCK_SHAPE(waitid, W(CHILD), CHILD_OBJ(type == P_PID ? (pid_t)id : -1),
              (idtype_t type, id_t id, siginfo_t *info, int opt), (type, id, info, opt),
              waitid_try_(type, id, info, opt),
              r == 0 && info && info->si_pid == 0 && !(opt & WNOHANG))

PL_LOCK_SHAPE(mtx_lock, W(MUTEX), m, (mtx_t *m), (m), PL_REAL(mtx_trylock)(m), r == thrd_busy)
PL_LOCK_SHAPE(mtx_timedlock, W(MUTEX), m, (mtx_t *restrict m, TS at), (m, at),
              PL_REAL(mtx_trylock)(m), r == thrd_busy)
PL_RELEASE_PS_SHAPE(mtx_unlock, m, PL_CLAIM_ONE, W(MUTEX), mtx_ps_waiters, (mtx_t *m), (m))
PL_BLOCK_SHAPE(cnd_wait, W(COND), c, (cnd_t *c, mtx_t *m), (c, m))
PL_BLOCK_SHAPE(cnd_timedwait, W(COND), c, (cnd_t *restrict c, mtx_t *restrict m, TS at),
               (c, m, at))
PL_RELEASE_PS_SHAPE(cnd_signal, c, PL_CLAIM_ONE, W(COND), cnd_ps_waiters, (cnd_t *c), (c))
PL_RELEASE_PS_SHAPE(cnd_broadcast, c, PL_CLAIM_ALL, W(COND), cnd_ps_waiters, (cnd_t *c), (c))
