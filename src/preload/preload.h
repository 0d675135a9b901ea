/*
 * preload.h - what the files of libctrace-preload.so share: the table of
 * real functions (found with dlsym/dlvsym in the constructor), the one shape
 * every interposer has, the run-time configuration (families, minimum
 * duration), the waiter table behind wake-up edges, and the helpers that
 * write WAIT / WAKE / SYSCALL events, the blocking-call state behind PENDING,
 * and the fd classes (socket or file).
 *
 * Not here: the recorder itself (src/record/), which this library links in
 * whole and whose public API it exports, so that a traced program that also
 * calls the ctrace API records into the same trace.
 *
 * Interposer shape, written once as PL_REAL()/PL_PASS:
 *   - the real function comes from the table, resolved in the constructor;
 *     when called earlier (another library's constructor) it is resolved
 *     lazily on the spot;
 *   - ctrace__guard set (the tracer calling libc, the writer thread) or the
 *     family off: straight through;
 *   - errno is saved after the real call and restored before returning
 *     whenever anything was recorded;
 *   - the real call's return value is returned unchanged, never an invented
 *     error.
 */
#ifndef CTRACE_PRELOAD_H
#define CTRACE_PRELOAD_H

#include "../record/record.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <spawn.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define PL_EXPORT __attribute__((visibility("default")))

/*
 * Real functions. X(name, version): version NULL means dlsym(RTLD_NEXT),
 * else dlvsym with that version (pthread_cond_*: dlsym would give the old
 * GLIBC_2.2.5 compatibility symbols, which hang with current condvars).
 * Some names are not in any header on purpose (the _chk variants): their
 * pointer types are declared in preload.c from pl_types below.
 */
#define PL_REAL_FUNCS(X)                                                       \
  /* sync */                                                                   \
  X(pthread_mutex_lock, NULL) X(pthread_mutex_trylock, NULL)                   \
  X(pthread_mutex_timedlock, NULL) X(pthread_mutex_unlock, NULL)               \
  X(pthread_rwlock_rdlock, NULL) X(pthread_rwlock_tryrdlock, NULL)             \
  X(pthread_rwlock_wrlock, NULL) X(pthread_rwlock_trywrlock, NULL)             \
  X(pthread_rwlock_timedrdlock, NULL) X(pthread_rwlock_timedwrlock, NULL)      \
  X(pthread_rwlock_unlock, NULL)                                               \
  X(pthread_cond_wait, "GLIBC_2.3.2") X(pthread_cond_timedwait, "GLIBC_2.3.2") \
  X(pthread_cond_signal, "GLIBC_2.3.2") X(pthread_cond_broadcast, "GLIBC_2.3.2") \
  X(sem_wait, NULL) X(sem_trywait, NULL) X(sem_timedwait, NULL) X(sem_post, NULL) \
  X(pthread_barrier_wait, NULL) X(pthread_join, NULL) X(pthread_tryjoin_np, NULL) \
  X(mtx_lock, NULL) X(mtx_trylock, NULL) X(mtx_timedlock, NULL) X(mtx_unlock, NULL) \
  X(cnd_wait, NULL) X(cnd_timedwait, NULL) X(cnd_signal, NULL) X(cnd_broadcast, NULL) \
  X(pthread_cond_clockwait, NULL) X(sem_clockwait, NULL)                       \
  X(pthread_mutex_clocklock, NULL) X(pthread_rwlock_clockrdlock, NULL)         \
  X(pthread_rwlock_clockwrlock, NULL) X(pthread_timedjoin_np, NULL)            \
  X(pthread_clockjoin_np, NULL) X(thrd_join, NULL)                             \
  /* threads */                                                                \
  X(pthread_create, NULL) X(pthread_setname_np, NULL) X(prctl, NULL)           \
  /* sleep */                                                                  \
  X(nanosleep, NULL) X(clock_nanosleep, NULL) X(usleep, NULL) X(sleep, NULL)   \
  X(thrd_sleep, NULL)                                                          \
  /* file */                                                                   \
  X(read, NULL) X(write, NULL) X(pread, NULL) X(pwrite, NULL) X(readv, NULL)   \
  X(writev, NULL) X(preadv, NULL) X(pwritev, NULL) X(open, NULL) X(openat, NULL) \
  X(creat, NULL) X(close, NULL) X(fsync, NULL) X(fdatasync, NULL)              \
  X(__read_chk, NULL) X(__pread_chk, NULL) X(close_range, NULL)                \
  X(closefrom, NULL)                                                           \
  /* net */                                                                    \
  X(socket, NULL) X(connect, NULL) X(accept, NULL) X(accept4, NULL)            \
  X(recv, NULL) X(recvfrom, NULL) X(recvmsg, NULL) X(send, NULL) X(sendto, NULL) \
  X(sendmsg, NULL) X(shutdown, NULL) X(__recv_chk, NULL) X(__recvfrom_chk, NULL) \
  X(poll, NULL) X(ppoll, NULL) X(select, NULL) X(pselect, NULL)                \
  X(epoll_wait, NULL) X(epoll_pwait, NULL) X(epoll_pwait2, NULL)              \
  X(__poll_chk, NULL) X(recvmmsg, NULL) X(sendmmsg, NULL) X(sendfile, NULL)    \
  /* process */                                                                \
  X(fork, NULL) X(execve, NULL) X(execv, NULL) X(execvp, NULL) X(execvpe, NULL) \
  X(_exit, NULL) X(_Exit, NULL) X(__libc_start_main, NULL)                   \
  X(wait, NULL) X(waitpid, NULL) X(wait3, NULL) X(wait4, NULL) X(waitid, NULL) \
  /* signal dispositions and the trace fd (proc.c, io.c) */                    \
  X(sigaction, NULL) X(signal, NULL) X(dup2, NULL) X(dup3, NULL) X(fcntl, NULL) \
  X(fcntl64, NULL)                                                             \
  /* fd objects and spawns (flow.c) */                                         \
  X(pipe, NULL) X(pipe2, NULL) X(socketpair, NULL) X(dup, NULL)                \
  X(posix_spawn, NULL) X(posix_spawnp, NULL)

/* Prototypes of the functions no public header declares. */
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t nbytes, off_t offset, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t nbytes, off_t offset, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *alen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int prctl(int option, ...);
int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
                      void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
                      void *stack_end);
int close_range(unsigned first, unsigned last, int flags);
void closefrom(int lowfd);

#define PL_DECLARE_REAL(name, ver) extern __typeof__(name) *ctrace__real_##name;
PL_REAL_FUNCS(PL_DECLARE_REAL)
#undef PL_DECLARE_REAL

/* Resolves one real function by name, with the version the table pins
 * (lazy fallback); NULL when libc lacks it. */
void *ctrace__pl_resolve(const char *name);

/* The real function, resolved now when called before the constructor. */
#define PL_REAL(name)                                                          \
  ((__typeof__(name) *)(CTRACE__LIKELY(ctrace__real_##name != NULL)            \
                            ? (void *)ctrace__real_##name                      \
                            : ctrace__pl_resolve(#name)))

/* ---- configuration, read once in the constructor ---- */
/* Default minimum duration of a recorded syscall, in ns: see docs/RUN.md
 * for the measurement behind it. */
#define PL_DEFAULT_MIN_NS 5000
enum { PL_SYNC = 1, PL_SLEEP = 2, PL_IO = 4, PL_NET = 8, PL_PROC = 16 };
struct ctrace__pl_config {
  unsigned families;  /* PL_* bits; 0 until the trace started */
  uint64_t min_ticks; /* syscalls shorter than this are not recorded */
  int stacks;         /* capture stacks on blocking events */
  int follow_forks;
  int tsc;            /* ctrace__use_tsc, on this line for PL_SYS_SHAPE */
  uint64_t tracer_max_ticks; /* a timed call counts at most this (ctrace__pl_charge) */
};
extern struct ctrace__pl_config ctrace__pl;
void ctrace__pl_configure(void);

/* Straight through when the tracer itself runs or the family is off. */
#define PL_PASS(fam) (CTRACE__UNLIKELY(ctrace__guard) || !(ctrace__pl.families & (fam)))

/*
 * The calling thread's ctrace__guard, ctrace__tls and &ctrace__hot for the
 * system-call shape, from the thread pointer and offsets kept on the page
 * of ctrace__pl (an initial-exec TLS variable is at the same offset in
 * every thread; io.c's constructor sets them, before any trace starts):
 * the compiler's own access loads the offset from the GOT, one more page
 * before the call and a TLB miss (docs/RUN.md). Elsewhere, the plain
 * access.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
struct ctrace__pl_tp {
  intptr_t guard, tls, hot;
};
extern struct ctrace__pl_tp ctrace__pl_tp;
#define PL_TP_(off) ((char *)__builtin_thread_pointer() + ctrace__pl_tp.off)
#define PL_GUARD_ (*(const int *)PL_TP_(guard))
#define PL_TLS_ (*(struct ctrace__thread *const *)PL_TP_(tls))
#define PL_HOT_ ((struct ctrace__hot *)PL_TP_(hot))
#else
#define PL_GUARD_ ctrace__guard
#define PL_TLS_ ctrace__tls
#define PL_HOT_ (&ctrace__hot)
#endif
/* PL_PASS for the system-call shape: the family first (the offsets are
 * set before any family is on). */
#define PL_PASS_SYS_(fam) (!(ctrace__pl.families & (fam)) || CTRACE__UNLIKELY(PL_GUARD_))

/* ---- waiter registry: who is blocked on what, for wake-up edges (sync.c) ---- */
/*
 * A thread about to block on object o registers in an entry of o's window
 * of the registry (who: its tid and a ticket, then o) and counts itself in
 * o's bucket; it unregisters as soon as the real call returns. A releaser
 * (unlock, signal, post) that sees a non-zero count in its object's bucket
 * just before its real release claims registered waiters of that object:
 * one compare-and-swap marks an entry claimed, so each registration is
 * claimed by at most one release, and only while its thread is still
 * blocked. It then records one WAKE per claimed waiter, stamped with the
 * time read before the claim: every edge names a thread that was blocked
 * on the object at that time and whose WAIT ends later, and there are
 * never more edges than waits. Which waiter: the oldest registration (the
 * kernel queues futex waiters in order) for a mutex, a signal or a post;
 * every waiter for a broadcast; for an rwlock the oldest, and with a
 * reader every other reader. The uncontended release pays a hash and two
 * loads of a counter nobody writes; a full window loses the edge, never
 * invents one.
 */
/* 1024 counters: one page, which every traced process touches at its start
 * (the recorder's own releases look at their buckets) */
#define PL_WAIT_BUCKETS 1024
#define PL_WAIT_ENTRIES 8192
#define PL_WAIT_WINDOW 16
#define PL_WAKE_MAX PL_WAIT_WINDOW
extern _Atomic uint32_t ctrace__pl_nwait[PL_WAIT_BUCKETS];

/* A multiplicative hash: objects side by side (an array of mutexes) get
 * counters on different cache lines, so that one lock's waiter does not
 * make every release of its neighbours miss. */
static inline uint32_t ctrace__pl_bucket(const void *o) {
  uint64_t a = (uint64_t)(uintptr_t)o * 0x9E3779B97F4A7C15ull;
  return (uint32_t)(a >> 52) & (PL_WAIT_BUCKETS - 1);
}

/* A registration: the entry (NULL when the window was full) and its token. */
struct ctrace__pl_reg {
  void *entry;
  uint64_t who;
  uint32_t bucket;
};
void ctrace__pl_register(struct ctrace__pl_reg *g, const void *obj, uint8_t reason,
                         uint64_t since);
/* 1 when a release claimed the registration. */
int ctrace__pl_unregister(struct ctrace__pl_reg *g);

enum { PL_CLAIM_ONE, PL_CLAIM_ALL, PL_CLAIM_RWLOCK };
struct ctrace__pl_claim {
  uint64_t t; /* ticks read before the first claim */
  unsigned n;
  uint32_t tid[PL_WAKE_MAX];
  uint8_t reason[PL_WAKE_MAX];
};
void ctrace__pl_claim(struct ctrace__pl_claim *c, uint32_t bucket, const void *obj, int mode);
/* One WAKE per claimed waiter, with the releaser's stack from fp. */
void ctrace__pl_wakes(const struct ctrace__pl_claim *c, const void *obj, void *fp);

/* ---- the blocking call a thread is inside (PENDING at stop) ---- */
struct ctrace__pl_call {
  struct ctrace__thread *t; /* NULL: nothing set */
  struct ctrace__hot *h;    /* the thread's &ctrace__hot, when t */
  struct ctrace__pending saved;
  uint32_t stack, session; /* the stack ctrace__pl_call_wait captured, its trace */
};
/* Before a wait on obj (reason): captures the stack (from fp) now, since a
 * stop cannot walk a blocked thread's stack. */
void ctrace__pl_call_wait(struct ctrace__pl_call *c, uint8_t reason, const void *obj, uint64_t t0,
                          void *fp);
/* Before a system call: no stack (too dear for every read and write); a
 * BYFD class not yet cached is decided at stop (ctrace__pending_fd_class). */
static inline void ctrace__pl_call_sys(struct ctrace__pl_call *c, uint8_t call, uint8_t cls, int fd,
                                       uint64_t t0);
/* Before a readiness wait that may block (poll, select, epoll_wait with a
 * timeout other than zero): as ctrace__pl_call_sys, with the stack (from
 * fp) captured now, since a stop cannot walk a blocked thread's stack: a
 * server's idle workers are inside these calls when it stops. A recorded
 * call takes this stack (ctrace__pl_syscall_done) instead of walking again.
 * The walk mostly hits the thread's cache of whole walks (unwind.c): an
 * event loop calls from the same frames. */
void ctrace__pl_call_poll(struct ctrace__pl_call *c, uint8_t call, int fd, uint64_t t0, void *fp);
static inline void ctrace__pl_call_end(struct ctrace__pl_call *c) {
  if (c->t)
    ctrace__pending_restore(c->t, c->h, &c->saved);
}

/* ---- socket or file: a call's class decided from its fd (io.c) ---- */
/*
 * Calls that move data on any fd (read, write, readv, sendfile...) are
 * declared with class BYFD: NET when the fd is a socket, else FILE. The
 * answer is cached per fd (fds below PL_FD_CACHE) and looked up only when
 * the call is recorded; a miss costs one fstat. close, close_range,
 * closefrom (and dup2/dup3, whose target changes) forget the fd.
 */
#define CTRACE_SC_BYFD 0
#include "fdbytes.h"
/* A cached class byte: the class (CTRACE_SC_FILE or _NET) in the low bits,
 * and PL_FD_IPC when the fd is a pipe, FIFO, Unix socket or loopback TCP
 * socket (flow.c), PL_FD_UNVERIFIED when its opener set it (open: a file,
 * unless a FIFO opened by name, which the first recorded call finds). */
#define PL_FD_CLASS 0x3f
#define PL_FD_IPC 0x40
#define PL_FD_UNVERIFIED 0x80
extern struct ctrace__pl_fd_bytes ctrace__pl_fd_kind;
uint8_t ctrace__pl_fd_class(int fd);
/* The cached class, CTRACE_SC_BYFD (0) when unknown. */
static inline uint8_t ctrace__pl_fd_cached(int fd) {
  return ctrace__pl_fd_byte(&ctrace__pl_fd_kind, fd);
}
/* Bumped (a release) after every change of a byte of ctrace__pl_fd_kind:
 * the threads' caches of the bytes (ctrace__pl_fd_cached_t) keep the
 * generation they read before the byte, and a cached byte is used only
 * while the generation has not moved. It sits on the page of the
 * configuration (ctrace__pl), which every interposer reads anyway. */
extern _Atomic uint32_t ctrace__pl_fd_gen;
static inline void ctrace__pl_fd_set(int fd, uint8_t cls) {
  if (ctrace__pl_fd_cached(fd) == cls)
    return; /* a close of an fd never classified: no generation */
  ctrace__pl_fd_byte_set(&ctrace__pl_fd_kind, fd, cls);
  atomic_fetch_add_explicit(&ctrace__pl_fd_gen, 1, memory_order_release);
}
/*
 * ctrace__pl_fd_cached() through the calling thread's cache when h, its
 * &ctrace__hot (record.h), is not NULL: a hit
 * reads the thread's TLS and the generation, not the table's page (another
 * TLB miss, docs/RUN.md). A signal handler that interrupts the refill
 * finds the slot empty (fd1 cleared first).
 */
/* The miss: the table's byte, kept in the thread's slot (io.c). */
uint8_t ctrace__pl_fd_cache_fill(struct ctrace__hot *h, int fd, uint32_t gen);
static inline uint8_t ctrace__pl_fd_cached_t(struct ctrace__hot *h, int fd) {
  if (CTRACE__UNLIKELY(!h))
    return ctrace__pl_fd_cached(fd);
  uint32_t g = atomic_load_explicit(&ctrace__pl_fd_gen, memory_order_acquire);
  __typeof__(h->fd_cache[0]) *s = &h->fd_cache[(unsigned)fd & 3];
  if (CTRACE__LIKELY(s->fd1 == (uint32_t)fd + 1 && s->gen == g))
    return s->byte;
  return ctrace__pl_fd_cache_fill(h, fd, g);
}
/* fds with a recorded object (flow.c): forgetting one records its close. */
extern struct ctrace__pl_fd_bytes ctrace__pl_fd_tracked;
void ctrace__pl_fd_untrack(int fd);
static inline void ctrace__pl_fd_forget(int fd) {
  ctrace__pl_fd_set(fd, 0);
  if (CTRACE__UNLIKELY(ctrace__pl_fd_byte(&ctrace__pl_fd_tracked, fd)))
    ctrace__pl_fd_untrack(fd);
}

/* ---- linking processes (flow.c): SPAWN, FD and SHARED records ---- */
/* A child started without fork(); how: CTRACE_SPAWN_*. */
void ctrace__pl_spawned(pid_t pid, unsigned how, void *fp);
/* fd was made by a call of kind how (CTRACE_FD_*): records its object.
 * Keeps errno. */
void ctrace__pl_fd_made(int fd, unsigned how);
/* fd's fstat (a struct stat) says FIFO, seen first by the class cache:
 * records it as opened (io.c). */
void ctrace__pl_fd_seen(int fd, const void *st);
/* A call below the minimum duration moved result bytes on fd, whose
 * cached class was 0 (unknown) or has PL_FD_IPC: an IPC_IO record when the
 * fd is a pipe or local socket. Keeps errno. */
void ctrace__pl_ipc_io(uint8_t call, int fd, int64_t result, uint64_t t0, uint64_t t1);
/* newfd is now a copy of oldfd (dup, dup2, dup3, F_DUPFD). Keeps errno. */
void ctrace__pl_fd_dup(int oldfd, int newfd);
/* At the start of a process image's trace: the fds it was given. */
void ctrace__pl_fd_at_start(int is_fork_child);
/* 1 when obj, a sync object waited on for reason, is process-shared. */
int ctrace__pl_pshared(uint8_t reason, const void *obj);
/* A SHARED record (role CTRACE_SHARED_WAIT or _WAKE) for obj at ticks,
 * when obj lies in a shared mapping. Keeps errno. */
void ctrace__pl_shared(unsigned role, uint8_t reason, const void *obj, uint64_t ticks);
void ctrace__pl_fd_forget_range(unsigned first, unsigned last);

__attribute__((always_inline)) static inline void
ctrace__pl_call_sys(struct ctrace__pl_call *c, uint8_t call, uint8_t cls, int fd, uint64_t t0) {
  struct ctrace__thread *t = PL_TLS_;
  struct ctrace__hot *h = PL_HOT_;
  c->t = NULL;
  c->session = 0; /* no stack captured */
  if (CTRACE__UNLIKELY(!t || !h->registered))
    return; /* (ctrace__hot: not a load from t's page, record.h) */
  /* A BYFD class stays 0 here, decided from the fd only if a stop finds
   * the thread inside the call: the fd cache's page is not touched on
   * every call (each page touched costs a TLB miss after a system call on
   * kernels with page-table isolation and no PCID). */
  struct ctrace__pending n = {.since = t0 ? t0 : 1, .object = (uint32_t)fd, .call = call,
                              .cls = cls};
  c->h = h;
  ctrace__pending_set(t, h, &n, &c->saved);
  c->t = t;
}

/* The clock, with ctrace__use_tsc read by the caller (ctrace__pl.tsc). */
static inline uint64_t ctrace__pl_now(int tsc) {
#ifdef CTRACE__HAVE_TSC
  if (CTRACE__LIKELY(tsc))
    return __rdtsc();
#else
  (void)tsc;
#endif
  return ctrace__now();
}

/* ---- recording helpers (preload.c) ---- */
/* fp: the interposer's __builtin_frame_address(0), so that stacks start at
 * the program's call and never show the tracer's own frames. */
void ctrace__pl_wait(uint8_t reason, const void *obj, uint64_t t0, uint64_t t1, void *fp);
/* The same after ctrace__pl_call_wait(c): the WAIT takes the stack c
 * captured before the call (the same frame), instead of walking it again
 * while the thread holds what it waited for. */
void ctrace__pl_wait_call(uint8_t reason, const void *obj, uint64_t t0, uint64_t t1,
                          const struct ctrace__pl_call *c, void *fp);
void ctrace__pl_syscall(uint8_t call, uint8_t cls, int fd, int64_t result, uint64_t t0,
                        uint64_t t1, void *fp);
/* The recorded branch of PL_CALL_SHAPE_, one call after the real one
 * returned: errno read through ct's cached address (ct: the state
 * ctrace__pl_call_sys found, or NULL; h: its &ctrace__hot), the class of a
 * BYFD call from fd, the SYSCALL event (result r, or -errno when failed)
 * with the stack c captured before the call if it did (else walked from
 * fp), errno restored. */
void ctrace__pl_syscall_done(struct ctrace__thread *ct, struct ctrace__hot *h, uint8_t call,
                             uint8_t cls, int fd, int failed, int64_t r, uint64_t t0,
                             uint64_t t1, const struct ctrace__pl_call *c, void *fp);
void ctrace__pl_sockaddr(int fd, uint8_t call, const struct sockaddr *sa, socklen_t len);
uint32_t ctrace__pl_stack(struct ctrace__thread *t, void *fp);
/*
 * Charges the tracer's own time for the event ending now (from since, the
 * end of the real call) to t. A thread's first PL_TRACER_EXACT events are
 * each timed: they pay one-time costs (the buffer's first pages, the first
 * stack walks, hundreds of us), which counted eightfold made a short
 * program's "time inside the tracer" several times too large. After them
 * one event in PL_TRACER_SAMPLE is timed and counts for PL_TRACER_SAMPLE:
 * a time-stamp read per event would be about a third of a recorded
 * event's cost. A timed event counts at most PL_TRACER_MAX_NS: no event's
 * own work takes that long (a first walk with its page faults: a few
 * hundred us on a VM), a thread preempted in the middle of one does (a
 * loaded machine's time slice, several ms), and the clock cannot tell the
 * two apart.
 */
#define PL_TRACER_EXACT 32 /* a multiple of PL_TRACER_SAMPLE */
#define PL_TRACER_SAMPLE 8
#define PL_TRACER_MAX_NS 1000000
static inline void ctrace__pl_charge(struct ctrace__thread *t, uint64_t since) {
  uint64_t n = t->tracer_events++;
  if (CTRACE__UNLIKELY(n < PL_TRACER_EXACT || n % PL_TRACER_SAMPLE == 0)) {
    uint64_t now = ctrace__now(), w = n < PL_TRACER_EXACT ? 1 : PL_TRACER_SAMPLE;
    uint64_t d = now > since ? now - since : 0;
    if (CTRACE__UNLIKELY(d > ctrace__pl.tracer_max_ticks))
      d = ctrace__pl.tracer_max_ticks;
    t->tracer_ticks += w * d;
  }
}
/*
 * RELEASE shape: claims the object's registered waiters just before the
 * real release (a waiter may otherwise wake and leave before the releaser
 * looks), then releases, then records the WAKEs. MODE: PL_CLAIM_*.
 */
#define PL_RELEASE_SHAPE(name, obj, mode, PARAMS, ARGS)                         \
  PL_EXPORT int name PARAMS {                                                  \
    uint32_t b_ = ctrace__pl_bucket(obj);                                      \
    struct ctrace__pl_claim c_;                                                \
    c_.n = 0;                                                                  \
    if (CTRACE__UNLIKELY(atomic_load_explicit(&ctrace__pl_nwait[b_], memory_order_relaxed) != 0) && \
        !PL_PASS(PL_SYNC))                                                     \
      ctrace__pl_claim(&c_, b_, (obj), (mode));                                \
    int r = PL_REAL(name) ARGS;                                                \
    if (CTRACE__UNLIKELY(c_.n != 0))                                           \
      ctrace__pl_wakes(&c_, (obj), __builtin_frame_address(0));                \
    return r;                                                                  \
  }

/*
 * PL_JMP_RETURN: the function returns with an indirect jump (pop, jmp: the
 * return thunk in preload.c) instead of `ret`. Where a system call empties
 * or refills the CPU's return-address predictor (seen on a VM: the host's
 * return-buffer stuffing around the guest's system call), every `ret` after
 * the call to a frame from before it is mispredicted: libc's own, which an
 * untraced call pays too, and the interposer's, which cost an unrecorded
 * 1-byte write about 3 rdtsc (docs/RUN.md, "Why a below-threshold write
 * cost 7 rdtsc"); the jump is predicted from its own history instead.
 * Only for the interposers around system calls: elsewhere `ret` predicts
 * better. Not in a build for shadow stacks (-fcf-protection, __CET__): a
 * return that pops only the ordinary stack would break them.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CET__)
#define PL_JMP_RETURN __attribute__((function_return("thunk-extern")))
#else
#define PL_JMP_RETURN
#endif

/* The system-call interposers right after the return thunk, in source
 * order: read and write, the most frequent, first, on the thunk's page
 * (one code page for a call below the minimum duration); the code that
 * records (record.h, CTRACE__HOT) follows them. */
#define PL_HOT_CALL __attribute__((section(".text.hot.ctrace.1")))

/*
 * SYSCALL shape: one event after the call returns, with its start and
 * duration, only when it lasted at least ctrace__pl.min_ticks. Below that
 * the cost is two time-stamp reads, the blocking-call state (a few stores
 * to the thread's TLS, ctrace__hot) and a compare. FD: the fd field; the result
 * field is the return value, or -errno when it failed. cls BYFD: decided
 * from FD when recorded. PL_CALL_SHAPE_ is both shapes: BEFORE runs just
 * before the call, BELOW when the call was shorter than the minimum
 * (nothing for PL_SYS_SHAPE).
 */
#define PL_CALL_SHAPE_(ret, name, realname, fam, call, cls, FD, PARAMS, ARGS, BEFORE, BELOW, \
                       STACK_NOW)                                              \
  PL_EXPORT PL_JMP_RETURN PL_HOT_CALL ret name PARAMS {                        \
    if (PL_PASS_SYS_(fam))                                                     \
      return PL_REAL(realname) ARGS;                                           \
    ret r = (ret)-1; /* an FD of r means "not known yet" before the call */    \
    /* read before the call: after it, each page touched first misses */       \
    const int tsc_ = ctrace__pl.tsc;                                           \
    const uint64_t min_ = ctrace__pl.min_ticks;                                \
    uint64_t t0_ = ctrace__pl_now(tsc_);                                       \
    struct ctrace__pl_call c_;                                                 \
    if (STACK_NOW)                                                             \
      ctrace__pl_call_poll(&c_, CTRACE_CALL_##call, (int)(FD), t0_,            \
                           __builtin_frame_address(0));                        \
    else                                                                       \
      ctrace__pl_call_sys(&c_, CTRACE_CALL_##call, CTRACE_SC_##cls, (int)(FD), t0_);\
    BEFORE;                                                                    \
    r = PL_REAL(realname) ARGS;                                                \
    uint64_t t1_ = ctrace__pl_now(tsc_);                                       \
    ctrace__pl_call_end(&c_);                                                  \
    if (CTRACE__UNLIKELY(t1_ - t0_ >= min_)) {                                 \
      ctrace__pl_syscall_done(c_.t, c_.h, CTRACE_CALL_##call, CTRACE_SC_##cls, (int)(FD), \
                              r < 0, (int64_t)r, t0_, t1_, &c_,                \
                              __builtin_frame_address(0));                     \
    } else {                                                                   \
      BELOW;                                                                   \
    }                                                                          \
    return r;                                                                  \
  }
#define PL_SYS_SHAPE(ret, name, realname, fam, call, cls, FD, PARAMS, ARGS) \
  PL_CALL_SHAPE_(ret, name, realname, fam, call, cls, FD, PARAMS, ARGS, (void)0, (void)0, 0)
/* POLL shape: PL_SYS_SHAPE for the readiness waits, whose stack is taken
 * before the call when BLOCKS (an expression of the arguments that never
 * reads through the program's pointers) says it may block. */
#define PL_POLL_SHAPE(ret, name, realname, call, FD, BLOCKS, PARAMS, ARGS)       \
  PL_CALL_SHAPE_(ret, name, realname, PL_NET, call, POLL, FD, PARAMS, ARGS, (void)0, (void)0, \
                 BLOCKS)

/*
 * DATA shape: PL_SYS_SHAPE for the calls that move bytes on any fd (read,
 * write, send, recv and their forms). Below the minimum duration, a call
 * that moved bytes on a pipe, a Unix socket or a loopback TCP socket (an
 * fd whose class has PL_FD_IPC: another traced process may be at the other
 * end) is still written, as an IPC_IO record (flow.c), so that bytes pair
 * across processes at any minimum duration. The added cost on every call
 * below the minimum: one load of the fd's class byte (through the thread's
 * cache, before the call: its pages are touched then anyway, after it each
 * is a TLB miss); an fd not classified yet is classified once (one fstat).
 */
#define PL_DATA_SHAPE(ret, name, realname, fam, call, cls, FD, PARAMS, ARGS)    \
  PL_CALL_SHAPE_(ret, name, realname, fam, call, cls, FD, PARAMS, ARGS,        \
                 const uint8_t k_ = ctrace__pl_fd_cached_t(c_.t ? c_.h : NULL, (int)(FD)), \
                 PL_IPC_BELOW_(call, FD), 0)
#define PL_IPC_BELOW_(call, FD)                                                \
  do {                                                                         \
    if (r > 0) {                                                               \
      if (CTRACE__UNLIKELY(k_ == 0 || (k_ & PL_FD_IPC) != 0))                  \
        ctrace__pl_ipc_io(CTRACE_CALL_##call, (int)(FD), (int64_t)r, t0_, t1_);\
    }                                                                          \
  } while (0)

/* pid of the process whose trace this is (fork and vfork children differ). */
extern pid_t ctrace__pl_pid;
int ctrace__pl_is_trace_fd(int fd);

/* Process-level (proc.c): starts the trace of this image, or of a fork child. */
void ctrace__pl_start_trace(int is_fork_child);
/* The recorder's fork_child hook: the child's own trace. */
void ctrace__pl_fork_child(void);
/* The recorder's handled_signals hook (proc.c). */
uint64_t ctrace__pl_handled_signals(void);

#endif /* CTRACE_PRELOAD_H */
