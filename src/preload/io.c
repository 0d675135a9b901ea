/*
 * io.c - interposers for file system calls: read, write, pread, pwrite,
 * readv, writev, preadv, pwritev, open, openat, creat, close, fsync,
 * fdatasync, sendfile (fd: the output), the _FORTIFY_SOURCE variants (__read_chk, __pread_chk) and the
 * *64 names that -D_FILE_OFFSET_BITS=64 programs call (aliases here: on
 * 64-bit glibc they are the same functions). Each is one SYSCALL event after
 * it returns, when it lasted at least the minimum duration.
 *
 * Data calls that work on any fd (read, write, their vector, positioned and
 * fortified forms, sendfile) are NET on a socket, pipe or FIFO and FILE otherwise,
 * decided from the fd when the call is recorded (ctrace__pl_fd_class: a
 * per-fd cache filled by fstat, forgotten when the fd is closed). Below
 * the minimum duration, read, write, readv, writev and sendfile that moved
 * bytes on a pipe or local socket are IPC_IO records (PL_DATA_SHAPE,
 * flow.c); pread and pwrite cannot be on a pipe.
 *
 * Also the guard of the trace's own file descriptor, which is the tracer's
 * business: to the program it is not open. close() and fcntl() of it fail
 * with EBADF as untraced (the program never opened it), close_range() and
 * closefrom() skip it; dup2()/dup3() onto it and an F_DUPFD that untraced
 * would have returned it first move the trace to another fd, so the
 * program's call does exactly what it would untraced. What the program can
 * still see: one more open fd (in /proc/self/fd, or when it runs out of
 * fds). Not here: sockets (net.c).
 */
#include "preload.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <limits.h>
#include <sys/stat.h>

/* ---- fd classes ---- */

CTRACE_TABLE struct ctrace__pl_fd_bytes ctrace__pl_fd_kind;
_Atomic uint32_t ctrace__pl_fd_gen;

/* The recording code's block (record.h, CTRACE__HOT) starts a page: this
 * file's part of it comes first (the link's order), so the alignment of
 * its section is the block's. */
__asm__(".pushsection .text.hot.ctrace.2,\"ax\",@progbits\n"
        ".balign 4096\n"
        ".popsection\n");


CTRACE__HOT uint8_t ctrace__pl_fd_cache_fill(struct ctrace__hot *h, int fd, uint32_t gen) {
  __typeof__(h->fd_cache[0]) *s = &h->fd_cache[(unsigned)fd & 3];
  s->fd1 = 0;
  atomic_signal_fence(memory_order_seq_cst);
  uint8_t k = ctrace__pl_fd_cached(fd);
  s->gen = gen;
  s->byte = k;
  atomic_signal_fence(memory_order_seq_cst);
  s->fd1 = (uint32_t)fd + 1;
  return k;
}

CTRACE__HOT uint8_t ctrace__pl_fd_class(int fd) {
  uint8_t k = ctrace__pl_fd_cached(fd);
  if (k && !(k & PL_FD_UNVERIFIED))
    return k & PL_FD_CLASS;
  struct stat st;
  int saved = errno;
  if (fd < 0 || fstat(fd, &st) != 0) {
    errno = saved;
    return CTRACE_SC_FILE; /* not cached: the fd may come to exist */
  }
  errno = saved;
  /* a pipe's read waits for another thread's or process's data, as a
   * socket's does: NET (docs/FORMAT.md, SYSCALL) */
  k = S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode) ? CTRACE_SC_NET : CTRACE_SC_FILE;
  ctrace__pl_fd_set(fd, S_ISFIFO(st.st_mode) ? k | PL_FD_IPC : k);
  if (CTRACE__UNLIKELY(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
    ctrace__pl_fd_seen(fd, &st); /* its object, for flows; a local socket's PL_FD_IPC (flow.c) */
  return k;
}

/* The stopper's class of a PENDING system call not cached when it began. */
__attribute__((constructor)) static void fd_class_at_stop(void) {
  ctrace__pending_fd_class = ctrace__pl_fd_class;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
struct ctrace__pl_tp ctrace__pl_tp;

/* The offsets of PL_TLS_ & co. (preload.h), before the recorder's
 * constructor (default priority) can start a trace and turn families on. */
__attribute__((constructor(101))) static void tp_offsets(void) {
  char *tp = __builtin_thread_pointer();
  ctrace__pl_tp.guard = (char *)&ctrace__guard - tp;
  ctrace__pl_tp.tls = (char *)&ctrace__tls - tp;
  ctrace__pl_tp.hot = (char *)&ctrace__hot - tp;
}
#endif

void ctrace__pl_fd_forget_range(unsigned first, unsigned last) {
  for (unsigned fd = first; fd <= last && fd < PL_FD_CACHE; fd++)
    ctrace__pl_fd_forget((int)fd);
  /* high fds: only the pages that exist */
  for (unsigned pg = 1; pg < PL_FD_HIGH_PAGES && last >= PL_FD_CACHE; pg++) {
    unsigned lo = pg * PL_FD_CACHE, hi = lo + (PL_FD_CACHE - 1);
    if (hi < first || lo > last)
      continue;
    int kinds = atomic_load_explicit(&ctrace__pl_fd_kind.high[pg], memory_order_acquire) != NULL;
    int tracked = atomic_load_explicit(&ctrace__pl_fd_tracked.high[pg], memory_order_acquire) != NULL;
    if (!kinds && !tracked)
      continue;
    for (unsigned fd = lo > first ? lo : first; fd <= hi && fd <= last; fd++)
      ctrace__pl_fd_forget((int)fd);
  }
}

PL_DATA_SHAPE(ssize_t, read, read, PL_IO, read, BYFD, fd, (int fd, void *b, size_t n), (fd, b, n))
PL_DATA_SHAPE(ssize_t, write, write, PL_IO, write, BYFD, fd, (int fd, const void *b, size_t n),
             (fd, b, n))
PL_SYS_SHAPE(ssize_t, pread, pread, PL_IO, pread, BYFD, fd,
             (int fd, void *b, size_t n, off_t off), (fd, b, n, off))
PL_SYS_SHAPE(ssize_t, pwrite, pwrite, PL_IO, pwrite, BYFD, fd,
             (int fd, const void *b, size_t n, off_t off), (fd, b, n, off))
PL_DATA_SHAPE(ssize_t, readv, readv, PL_IO, readv, BYFD, fd,
             (int fd, const struct iovec *v, int n), (fd, v, n))
PL_DATA_SHAPE(ssize_t, writev, writev, PL_IO, writev, BYFD, fd,
             (int fd, const struct iovec *v, int n), (fd, v, n))
PL_SYS_SHAPE(ssize_t, preadv, preadv, PL_IO, preadv, BYFD, fd,
             (int fd, const struct iovec *v, int n, off_t off), (fd, v, n, off))
PL_SYS_SHAPE(ssize_t, pwritev, pwritev, PL_IO, pwritev, BYFD, fd,
             (int fd, const struct iovec *v, int n, off_t off), (fd, v, n, off))
PL_SYS_SHAPE(int, fsync, fsync, PL_IO, fsync, FILE, fd, (int fd), (fd))
PL_SYS_SHAPE(int, fdatasync, fdatasync, PL_IO, fdatasync, FILE, fd, (int fd), (fd))
PL_SYS_SHAPE(int, creat, creat, PL_IO, creat, FILE, r, (const char *path, mode_t mode),
             (path, mode))
PL_DATA_SHAPE(ssize_t, sendfile, sendfile, PL_IO, sendfile, BYFD, out,
             (int out, int in, off_t *off, size_t n), (out, in, off, n))
PL_DATA_SHAPE(ssize_t, __read_chk, __read_chk, PL_IO, read, BYFD, fd,
             (int fd, void *b, size_t n, size_t blen), (fd, b, n, blen))
PL_SYS_SHAPE(ssize_t, __pread_chk, __pread_chk, PL_IO, pread, BYFD, fd,
             (int fd, void *b, size_t n, off_t off, size_t blen), (fd, b, n, off, blen))

/* An fd open() made: a file by its opener's word (a FIFO opened by name is
 * found by the first recorded call on it), so that calls below the minimum
 * duration need no fstat to know it is no pipe. */
static inline int opened(int fd) {
  if (fd >= 0)
    ctrace__pl_fd_set(fd, CTRACE_SC_FILE | PL_FD_UNVERIFIED);
  return fd;
}

/* open and openat take a mode only with O_CREAT or O_TMPFILE. */
static int open_mode_(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
}
PL_SYS_SHAPE(int, open_real_, open, PL_IO, open, FILE, r,
             (const char *path, int flags, int mode), (path, flags, mode))
PL_SYS_SHAPE(int, openat_real_, openat, PL_IO, openat, FILE, r,
             (int dirfd, const char *path, int flags, int mode), (dirfd, path, flags, mode))

PL_EXPORT int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode_(flags, ap);
  va_end(ap);
  return opened(open_real_(path, flags, mode));
}

PL_EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode_(flags, ap);
  va_end(ap);
  return opened(openat_real_(dirfd, path, flags, mode));
}

/* The 64-bit-offset names (-D_FILE_OFFSET_BITS=64 programs call them) are
 * the same functions on LP64: same real function, same event. */
PL_SYS_SHAPE(int, creat64, creat, PL_IO, creat, FILE, r, (const char *path, mode_t mode),
             (path, mode))
PL_SYS_SHAPE(ssize_t, pread64, pread, PL_IO, pread, BYFD, fd,
             (int fd, void *b, size_t n, off_t off), (fd, b, n, off))
PL_SYS_SHAPE(ssize_t, pwrite64, pwrite, PL_IO, pwrite, BYFD, fd,
             (int fd, const void *b, size_t n, off_t off), (fd, b, n, off))
PL_SYS_SHAPE(ssize_t, preadv64, preadv, PL_IO, preadv, BYFD, fd,
             (int fd, const struct iovec *v, int n, off_t off), (fd, v, n, off))
PL_SYS_SHAPE(ssize_t, pwritev64, pwritev, PL_IO, pwritev, BYFD, fd,
             (int fd, const struct iovec *v, int n, off_t off), (fd, v, n, off))
PL_DATA_SHAPE(ssize_t, sendfile64, sendfile, PL_IO, sendfile, BYFD, out,
             (int out, int in, off_t *off, size_t n), (out, in, off, n))
PL_SYS_SHAPE(ssize_t, __pread64_chk, __pread_chk, PL_IO, pread, BYFD, fd,
             (int fd, void *b, size_t n, off_t off, size_t blen), (fd, b, n, off, blen))

PL_EXPORT int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode_(flags, ap);
  va_end(ap);
  return opened(open_real_(path, flags, mode));
}

PL_EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode_(flags, ap);
  va_end(ap);
  return opened(openat_real_(dirfd, path, flags, mode));
}

/* The trace's fd as the program must not see it; -1 inside the tracer. */
static inline int trace_fd(void) {
  return ctrace__guard ? -1 : ctrace__writer_fd();
}

/* One of the scheduling events' fds, which the program must not see
 * either (record.h); never inside the tracer. */
static inline int sched_fd(int fd) {
  return CTRACE__UNLIKELY(ctrace__sched_fd_ours(fd)) && !ctrace__guard;
}

/* The program put its own file on newfd: if that was one of the events'
 * numbers, the event is gone and the number is the program's now. */
static void fd_taken(int newfd) {
  if (CTRACE__UNLIKELY(ctrace__sched_fd_ours(newfd))) {
    unsigned k = (unsigned)(newfd - atomic_load(&ctrace__sched_fd_base));
    atomic_fetch_and(&ctrace__sched_fd_mask, ~((uint64_t)1 << k));
  }
}

static int close_range_kept_(unsigned first, unsigned last, int flags);

/* close: the trace's fd is not the program's to close (EBADF, as an fd it
 * never opened). */
PL_SYS_SHAPE(int, close_real_, close, PL_IO, close, FILE, fd, (int fd), (fd))
PL_EXPORT int close(int fd) {
  if (CTRACE__UNLIKELY(fd >= 0 && (fd == trace_fd() || sched_fd(fd)))) {
    errno = EBADF;
    return -1;
  }
  int r = close_real_(fd);
  ctrace__pl_fd_forget(fd); /* after: the number may be reused from now on */
  return r;
}

/* The program puts its own file on the trace's fd number (dup2/dup3): the
 * trace moves first; if the real call then fails, the old number is freed
 * as the program expects. */
static int dup_onto_trace(int oldfd, int newfd, int flags) {
  int saved = errno;
  ctrace__writer_move_fd(); /* on failure the trace stops: never the program's file */
  errno = saved;
  int r = flags < 0 ? PL_REAL(dup2)(oldfd, newfd) : PL_REAL(dup3)(oldfd, newfd, flags);
  ctrace__pl_fd_forget(newfd);
  if (r < 0) {
    int e = errno;
    PL_REAL(close)(newfd);
    errno = e;
  } else {
    ctrace__pl_fd_dup(oldfd, newfd);
  }
  return r;
}

PL_EXPORT int dup2(int oldfd, int newfd) {
  int tfd = trace_fd();
  if (CTRACE__UNLIKELY(tfd >= 0 && (oldfd == tfd || newfd == tfd))) {
    if (oldfd == tfd) {
      errno = EBADF;
      return -1;
    }
    return dup_onto_trace(oldfd, newfd, -1);
  }
  if (sched_fd(oldfd)) {
    errno = EBADF;
    return -1;
  }
  int r = PL_REAL(dup2)(oldfd, newfd);
  if (r >= 0 && oldfd != newfd) {
    fd_taken(newfd);
    ctrace__pl_fd_forget(newfd); /* newfd now names another file */
    ctrace__pl_fd_dup(oldfd, newfd);
  }
  return r;
}

PL_EXPORT int dup3(int oldfd, int newfd, int flags) {
  int tfd = trace_fd();
  if (CTRACE__UNLIKELY(tfd >= 0 && (oldfd == tfd || newfd == tfd) && oldfd != newfd)) {
    if (oldfd == tfd) {
      errno = EBADF;
      return -1;
    }
    return dup_onto_trace(oldfd, newfd, flags);
  }
  if (sched_fd(oldfd)) {
    errno = EBADF;
    return -1;
  }
  int r = PL_REAL(dup3)(oldfd, newfd, flags);
  if (r >= 0) {
    fd_taken(newfd);
    ctrace__pl_fd_forget(newfd); /* newfd now names another file */
    ctrace__pl_fd_dup(oldfd, newfd);
  }
  return r;
}

/*
 * fcntl: EBADF for the trace's fd. F_DUPFD(fd, min) with min <= the
 * trace's fd returns the lowest free fd >= min: when that is above the
 * trace's, untraced it would have been the trace's own number, so the
 * trace moves and the program's copy goes there.
 */
static int fcntl_inner_(int (*real)(int, int, ...), int fd, int cmd, void *arg);
static int fcntl_(int (*real)(int, int, ...), int fd, int cmd, void *arg) {
  int r = fcntl_inner_(real, fd, cmd, arg);
  if (CTRACE__UNLIKELY(cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && r >= 0)
    ctrace__pl_fd_dup(fd, r);
  return r;
}

static int fcntl_inner_(int (*real)(int, int, ...), int fd, int cmd, void *arg) {
  if (sched_fd(fd)) {
    errno = EBADF;
    return -1;
  }
  int tfd = trace_fd();
  if (CTRACE__LIKELY(tfd < 0))
    return real(fd, cmd, arg);
  if (fd == tfd) {
    errno = EBADF;
    return -1;
  }
  int r = real(fd, cmd, arg);
  if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && (int)(intptr_t)arg <= tfd && r > tfd) {
    int saved = errno;
    if (ctrace__writer_move_fd() >= 0 &&
        PL_REAL(dup3)(r, tfd, cmd == F_DUPFD_CLOEXEC ? O_CLOEXEC : 0) == tfd) {
      PL_REAL(close)(r);
      r = tfd;
    }
    errno = saved;
  }
  return r;
}

PL_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  return fcntl_(PL_REAL(fcntl), fd, cmd, arg);
}

PL_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  return fcntl_(PL_REAL(fcntl64), fd, cmd, arg);
}

PL_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  int r = close_range_kept_(first, last, flags);
  if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
    ctrace__pl_fd_forget_range(first, last);
  return r;
}

/* The tracer's fds in [first, last] (the trace's, the events'), in
 * ascending order; none inside the tracer. */
static int kept_fds(unsigned first, unsigned last, unsigned *kept) {
  if (ctrace__guard)
    return 0;
  int n = 0;
  int tfd = ctrace__writer_fd();
  if (tfd >= 0 && (unsigned)tfd >= first && (unsigned)tfd <= last)
    kept[n++] = (unsigned)tfd;
  int base = atomic_load(&ctrace__sched_fd_base);
  uint64_t mask = base >= 0 ? atomic_load(&ctrace__sched_fd_mask) : 0;
  for (int k = 0; k < 64; k++) {
    unsigned f = (unsigned)base + (unsigned)k;
    if (!(mask >> k & 1) || f < first || f > last || (tfd >= 0 && f == (unsigned)tfd))
      continue;
    int i = n++;
    while (i > 0 && kept[i - 1] > f) { /* after the trace's fd, if it is higher */
      kept[i] = kept[i - 1];
      i--;
    }
    kept[i] = f;
  }
  return n;
}

static int close_range_kept_(unsigned first, unsigned last, int flags) {
  unsigned kept[65];
  int n = (flags & CLOSE_RANGE_CLOEXEC) ? 0 : kept_fds(first, last, kept);
  if (n == 0)
    return PL_REAL(close_range)(first, last, flags);
  int r = 0;
  unsigned from = first;
  for (int i = 0; i < n && r == 0; i++) {
    if (kept[i] > from)
      r = PL_REAL(close_range)(from, kept[i] - 1, flags);
    from = kept[i] + 1;
  }
  if (r == 0 && kept[n - 1] < last)
    r = PL_REAL(close_range)(from, last, flags);
  return r;
}

PL_EXPORT void closefrom(int low) {
  if (low >= 0)
    ctrace__pl_fd_forget_range((unsigned)low, UINT_MAX);
  unsigned kept[65];
  if (low < 0 || kept_fds((unsigned)low, ~0u, kept) == 0) {
    PL_REAL(closefrom)(low);
    return;
  }
  int saved = errno;
  close_range_kept_((unsigned)low, ~0u, 0);
  errno = saved;
}
