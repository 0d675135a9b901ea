/*
 * preload.h - what the files of libctrace-preload.so share: the table of
 * real functions (found with dlsym/dlvsym in the constructor), the one shape
 * every interposer has, the run-time configuration (families, minimum
 * duration), the waiter table behind wake-up edges, and the helpers that
 * write WAIT / WAKE / SYSCALL events.
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
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
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
  X(_exit, NULL) X(_Exit, NULL) X(__libc_start_main, NULL)

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
};
extern struct ctrace__pl_config ctrace__pl;
void ctrace__pl_configure(void);

/* Straight through when the tracer itself runs or the family is off. */
#define PL_PASS(fam) (CTRACE__UNLIKELY(ctrace__guard) || !(ctrace__pl.families & (fam)))

/* ---- waiter table: who waits on what, for wake-up edges ---- */
/*
 * A thread about to block on object o marks slot_for(o): object, its tid, and
 * a count of waiters. A releaser (unlock, signal, post) looks at the slot of
 * its object after the real call: a non-zero count there means a waiter left
 * its mark, and only then is a WAKE recorded. The uncontended path pays one
 * hash and one load of a slot nobody writes. Two objects sharing a slot can
 * lose an edge (the later mark wins); with several waiters the WAKE names the
 * latest one to block, which glibc may not be the one it wakes.
 */
#define PL_WAITER_SLOTS 4096
struct ctrace__pl_waiter {
  _Atomic uintptr_t obj;
  _Atomic uint32_t tid;
  _Atomic uint32_t n;
};
extern struct ctrace__pl_waiter ctrace__pl_waiters[PL_WAITER_SLOTS];

static inline struct ctrace__pl_waiter *ctrace__pl_slot(const void *o) {
  uintptr_t a = (uintptr_t)o;
  a ^= a >> 12;
  return &ctrace__pl_waiters[(a >> 3) & (PL_WAITER_SLOTS - 1)];
}

/* ---- recording helpers (preload.c) ---- */
/* fp: the interposer's __builtin_frame_address(0), so that stacks start at
 * the program's call and never show the tracer's own frames. */
void ctrace__pl_wait(uint8_t reason, const void *obj, uint64_t t0, uint64_t t1, void *fp);
void ctrace__pl_wake_check(struct ctrace__pl_waiter *s, const void *obj, uint8_t reason, void *fp);
void ctrace__pl_syscall(uint8_t call, uint8_t cls, int fd, int64_t result, uint64_t t0,
                        uint64_t t1, void *fp);
void ctrace__pl_sockaddr(int fd, uint8_t call, const struct sockaddr *sa, socklen_t len);
uint32_t ctrace__pl_stack(struct ctrace__thread *t, void *fp);
/* The mark a waiter leaves before blocking; undone by waiter_done. */
void ctrace__pl_waiter_mark(struct ctrace__pl_waiter *s, const void *obj);
static inline void ctrace__pl_waiter_done(struct ctrace__pl_waiter *s) {
  atomic_fetch_sub_explicit(&s->n, 1, memory_order_relaxed);
}

/*
 * RELEASE shape's check, around the real release of obj: a WAKE when a
 * waiter's mark is seen just before the release or just after it. Before:
 * the waiter may wake and clear its mark while the releaser is still in the
 * futex-wake system call, so an after-only look misses most edges. After:
 * a waiter that marked between the two looks. The loads are of one slot
 * that only waiters write; the uncontended path pays a hash and two loads.
 */
#define PL_RELEASE_SHAPE(name, reason, obj, PARAMS, ARGS)                       \
  PL_EXPORT int name PARAMS {                                                  \
    struct ctrace__pl_waiter *s_ = ctrace__pl_slot(obj);                       \
    uint32_t pre_ = atomic_load_explicit(&s_->n, memory_order_relaxed);        \
    int r = PL_REAL(name) ARGS;                                                \
    if (CTRACE__UNLIKELY((pre_ | atomic_load_explicit(&s_->n, memory_order_relaxed)) != 0) && \
        !PL_PASS(PL_SYNC))                                                     \
      ctrace__pl_wake_check(s_, (obj), (reason), __builtin_frame_address(0)); \
    return r;                                                                  \
  }

/*
 * SYSCALL shape: one event after the call returns, with its start and
 * duration, only when it lasted at least ctrace__pl.min_ticks. Below that
 * the cost is two time-stamp reads and a compare. FD: the fd field; the
 * result field is the return value, or -errno when it failed.
 */
#define PL_SYS_SHAPE(ret, name, realname, fam, call, cls, FD, PARAMS, ARGS)     \
  PL_EXPORT ret name PARAMS {                                                  \
    if (PL_PASS(fam))                                                          \
      return PL_REAL(realname) ARGS;                                           \
    uint64_t t0_ = ctrace__now();                                              \
    ret r = PL_REAL(realname) ARGS;                                            \
    uint64_t t1_ = ctrace__now();                                              \
    if (CTRACE__UNLIKELY(t1_ - t0_ >= ctrace__pl.min_ticks)) {                 \
      int e_ = errno;                                                          \
      ctrace__pl_syscall(CTRACE_CALL_##call, CTRACE_SC_##cls, (FD),            \
                         r < 0 ? -(int64_t)e_ : (int64_t)r, t0_, t1_,          \
                         __builtin_frame_address(0));                          \
      errno = e_;                                                              \
    }                                                                          \
    return r;                                                                  \
  }

/* pid of the process whose trace this is (fork and vfork children differ). */
extern pid_t ctrace__pl_pid;
int ctrace__pl_is_trace_fd(int fd);

/* Process-level (proc.c): starts the trace of this image, or of a fork child. */
void ctrace__pl_start_trace(int is_fork_child);

#endif /* CTRACE_PRELOAD_H */
