/*
 * io.c - interposers for file system calls: read, write, pread, pwrite,
 * readv, writev, preadv, pwritev, open, openat, creat, close, fsync,
 * fdatasync, sendfile (fd: the output), the _FORTIFY_SOURCE variants (__read_chk, __pread_chk) and the
 * *64 names that -D_FILE_OFFSET_BITS=64 programs call (aliases here: on
 * 64-bit glibc they are the same functions). Each is one SYSCALL event after
 * it returns, when it lasted at least the minimum duration.
 *
 * Data calls that work on any fd (read, write, their vector, positioned and
 * fortified forms, sendfile) are NET on a socket and FILE otherwise,
 * decided from the fd when the call is recorded (ctrace__pl_fd_class: a
 * per-fd cache filled by fstat, forgotten when the fd is closed).
 *
 * Also the guard of the trace's own file descriptor: close(), close_range()
 * and closefrom() never close it (daemons close every fd they did not open);
 * close() of it reports success. Not here: socket calls (net.c).
 */
#include "preload.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/stat.h>

/* ---- fd classes ---- */

_Atomic uint8_t ctrace__pl_fd_kind[PL_FD_CACHE];

uint8_t ctrace__pl_fd_class(int fd) {
  uint8_t k = (unsigned)fd < PL_FD_CACHE
                  ? atomic_load_explicit(&ctrace__pl_fd_kind[fd], memory_order_relaxed)
                  : 0;
  if (k)
    return k;
  struct stat st;
  int saved = errno;
  if (fd < 0 || fstat(fd, &st) != 0) {
    errno = saved;
    return CTRACE_SC_FILE; /* not cached: the fd may come to exist */
  }
  errno = saved;
  k = S_ISSOCK(st.st_mode) ? CTRACE_SC_NET : CTRACE_SC_FILE;
  ctrace__pl_fd_set(fd, k);
  return k;
}

/* The stopper's class of a PENDING system call not cached when it began. */
__attribute__((constructor)) static void fd_class_at_stop(void) {
  ctrace__pending_fd_class = ctrace__pl_fd_class;
}

void ctrace__pl_fd_forget_range(unsigned first, unsigned last) {
  for (unsigned fd = first; fd <= last && fd < PL_FD_CACHE; fd++)
    ctrace__pl_fd_forget((int)fd);
}

PL_SYS_SHAPE(ssize_t, read, read, PL_IO, read, BYFD, fd, (int fd, void *b, size_t n), (fd, b, n))
PL_SYS_SHAPE(ssize_t, write, write, PL_IO, write, BYFD, fd, (int fd, const void *b, size_t n),
             (fd, b, n))
PL_SYS_SHAPE(ssize_t, pread, pread, PL_IO, pread, BYFD, fd,
             (int fd, void *b, size_t n, off_t off), (fd, b, n, off))
PL_SYS_SHAPE(ssize_t, pwrite, pwrite, PL_IO, pwrite, BYFD, fd,
             (int fd, const void *b, size_t n, off_t off), (fd, b, n, off))
PL_SYS_SHAPE(ssize_t, readv, readv, PL_IO, readv, BYFD, fd,
             (int fd, const struct iovec *v, int n), (fd, v, n))
PL_SYS_SHAPE(ssize_t, writev, writev, PL_IO, writev, BYFD, fd,
             (int fd, const struct iovec *v, int n), (fd, v, n))
PL_SYS_SHAPE(ssize_t, preadv, preadv, PL_IO, preadv, BYFD, fd,
             (int fd, const struct iovec *v, int n, off_t off), (fd, v, n, off))
PL_SYS_SHAPE(ssize_t, pwritev, pwritev, PL_IO, pwritev, BYFD, fd,
             (int fd, const struct iovec *v, int n, off_t off), (fd, v, n, off))
PL_SYS_SHAPE(int, fsync, fsync, PL_IO, fsync, FILE, fd, (int fd), (fd))
PL_SYS_SHAPE(int, fdatasync, fdatasync, PL_IO, fdatasync, FILE, fd, (int fd), (fd))
PL_SYS_SHAPE(int, creat, creat, PL_IO, creat, FILE, r, (const char *path, mode_t mode),
             (path, mode))
PL_SYS_SHAPE(ssize_t, sendfile, sendfile, PL_IO, sendfile, BYFD, out,
             (int out, int in, off_t *off, size_t n), (out, in, off, n))
PL_SYS_SHAPE(ssize_t, __read_chk, __read_chk, PL_IO, read, BYFD, fd,
             (int fd, void *b, size_t n, size_t blen), (fd, b, n, blen))
PL_SYS_SHAPE(ssize_t, __pread_chk, __pread_chk, PL_IO, pread, BYFD, fd,
             (int fd, void *b, size_t n, off_t off, size_t blen), (fd, b, n, off, blen))

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
  return open_real_(path, flags, mode);
}

PL_EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode_(flags, ap);
  va_end(ap);
  return openat_real_(dirfd, path, flags, mode);
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
PL_SYS_SHAPE(ssize_t, sendfile64, sendfile, PL_IO, sendfile, BYFD, out,
             (int out, int in, off_t *off, size_t n), (out, in, off, n))
PL_SYS_SHAPE(ssize_t, __pread64_chk, __pread_chk, PL_IO, pread, BYFD, fd,
             (int fd, void *b, size_t n, off_t off, size_t blen), (fd, b, n, off, blen))

PL_EXPORT int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode_(flags, ap);
  va_end(ap);
  return open_real_(path, flags, mode);
}

PL_EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int mode = open_mode_(flags, ap);
  va_end(ap);
  return openat_real_(dirfd, path, flags, mode);
}

/* close: the trace's fd stays open (success is reported, as if closed). */
PL_SYS_SHAPE(int, close_real_, close, PL_IO, close, FILE, fd, (int fd), (fd))
PL_EXPORT int close(int fd) {
  if (CTRACE__UNLIKELY(ctrace__pl_is_trace_fd(fd)) && !ctrace__guard)
    return 0;
  int r = close_real_(fd);
  ctrace__pl_fd_forget(fd); /* after: the number may be reused from now on */
  return r;
}

static int close_range_kept_(unsigned first, unsigned last, int flags);
PL_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  int r = close_range_kept_(first, last, flags);
  if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
    ctrace__pl_fd_forget_range(first, last);
  return r;
}

static int close_range_kept_(unsigned first, unsigned last, int flags) {
  int tfd = ctrace__guard ? -1 : ctrace__writer_fd();
  if (tfd < 0 || (unsigned)tfd < first || (unsigned)tfd > last || (flags & CLOSE_RANGE_CLOEXEC))
    return PL_REAL(close_range)(first, last, flags);
  int r = 0;
  if ((unsigned)tfd > first)
    r = PL_REAL(close_range)(first, (unsigned)tfd - 1, flags);
  if (r == 0 && (unsigned)tfd < last)
    r = PL_REAL(close_range)((unsigned)tfd + 1, last, flags);
  return r;
}

PL_EXPORT void closefrom(int low) {
  int tfd = ctrace__guard ? -1 : ctrace__writer_fd();
  if (low >= 0)
    ctrace__pl_fd_forget_range((unsigned)low, PL_FD_CACHE - 1);
  if (tfd < 0 || tfd < low) {
    PL_REAL(closefrom)(low);
    return;
  }
  int saved = errno;
  if (tfd > low)
    PL_REAL(close_range)((unsigned)low, (unsigned)tfd - 1, 0);
  PL_REAL(close_range)((unsigned)tfd + 1, ~0u, 0);
  errno = saved;
}
