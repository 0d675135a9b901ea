/*
 * net.c - interposers for sockets and readiness waits: socket, connect,
 * accept, accept4, recv, recvfrom, recvmsg, send, sendto, sendmsg, shutdown
 * recvmmsg, sendmmsg (plus the _FORTIFY_SOURCE __recv_chk, __recvfrom_chk),
 * and poll, ppoll, select, pselect, epoll_wait, epoll_pwait, epoll_pwait2
 * (__poll_chk). Data calls are
 * SYSCALL events under the minimum-duration rule; a connection (connect,
 * accept) always records the peer address as a SOCKADDR event, because a
 * fast connect is still the answer to "who did this talk to".
 * Not here: read/write on sockets (io.c records them as NET by the fd).
 */
#include "preload.h"

#include <sys/epoll.h>

#define FP __builtin_frame_address(0)

PL_SYS_SHAPE(int, socket, socket, PL_NET, socket, NET, r, (int d, int t, int p), (d, t, p))
PL_SYS_SHAPE(int, shutdown, shutdown, PL_NET, shutdown, NET, fd, (int fd, int how), (fd, how))
PL_DATA_SHAPE(ssize_t, recv, recv, PL_NET, recv, NET, fd, (int fd, void *b, size_t n, int fl),
             (fd, b, n, fl))
PL_DATA_SHAPE(ssize_t, recvfrom, recvfrom, PL_NET, recvfrom, NET, fd,
             (int fd, void *restrict b, size_t n, int fl, struct sockaddr *restrict a,
              socklen_t *restrict al),
             (fd, b, n, fl, a, al))
PL_DATA_SHAPE(ssize_t, recvmsg, recvmsg, PL_NET, recvmsg, NET, fd,
             (int fd, struct msghdr *m, int fl), (fd, m, fl))
PL_DATA_SHAPE(ssize_t, send, send, PL_NET, send, NET, fd,
             (int fd, const void *b, size_t n, int fl), (fd, b, n, fl))
PL_DATA_SHAPE(ssize_t, sendto, sendto, PL_NET, sendto, NET, fd,
             (int fd, const void *b, size_t n, int fl, const struct sockaddr *a, socklen_t al),
             (fd, b, n, fl, a, al))
PL_DATA_SHAPE(ssize_t, sendmsg, sendmsg, PL_NET, sendmsg, NET, fd,
             (int fd, const struct msghdr *m, int fl), (fd, m, fl))
PL_DATA_SHAPE(ssize_t, __recv_chk, __recv_chk, PL_NET, recv, NET, fd,
             (int fd, void *b, size_t n, size_t bl, int fl), (fd, b, n, bl, fl))
PL_DATA_SHAPE(ssize_t, __recvfrom_chk, __recvfrom_chk, PL_NET, recvfrom, NET, fd,
             (int fd, void *b, size_t n, size_t bl, int fl, struct sockaddr *a,
              socklen_t *al),
             (fd, b, n, bl, fl, a, al))

/* Batches: the result is the number of messages. */
PL_SYS_SHAPE(int, recvmmsg, recvmmsg, PL_NET, recvmmsg, NET, fd,
             (int fd, struct mmsghdr *v, unsigned n, int fl, struct timespec *ts),
             (fd, v, n, fl, ts))
PL_SYS_SHAPE(int, sendmmsg, sendmmsg, PL_NET, sendmmsg, NET, fd,
             (int fd, struct mmsghdr *v, unsigned n, int fl), (fd, v, n, fl))

/* Readiness waits: the fd field is the number of fds (epoll: the epoll fd).
 * Their stack is taken before the call unless the timeout is zero (a
 * timeout behind a pointer is not read: the program's pointer may be bad,
 * and the call's EFAULT is its answer). */
PL_POLL_SHAPE(int, poll, poll, poll, (int)n, ms != 0, (struct pollfd *f, nfds_t n, int ms),
              (f, n, ms))
PL_POLL_SHAPE(int, __poll_chk, __poll_chk, poll, (int)n, ms != 0,
              (struct pollfd *f, nfds_t n, int ms, size_t fl), (f, n, ms, fl))
PL_POLL_SHAPE(int, ppoll, ppoll, ppoll, (int)n, 1,
              (struct pollfd *f, nfds_t n, const struct timespec *ts, const sigset_t *m),
              (f, n, ts, m))
PL_POLL_SHAPE(int, select, select, select, n, 1,
              (int n, fd_set *restrict r_, fd_set *restrict w, fd_set *restrict e,
               struct timeval *restrict tv),
              (n, r_, w, e, tv))
PL_POLL_SHAPE(int, pselect, pselect, pselect, n, 1,
              (int n, fd_set *restrict r_, fd_set *restrict w, fd_set *restrict e,
               const struct timespec *restrict ts, const sigset_t *restrict m),
              (n, r_, w, e, ts, m))
PL_POLL_SHAPE(int, epoll_wait, epoll_wait, epoll_wait, ep, ms != 0,
              (int ep, struct epoll_event *ev, int n, int ms), (ep, ev, n, ms))
PL_POLL_SHAPE(int, epoll_pwait, epoll_pwait, epoll_pwait, ep, ms != 0,
              (int ep, struct epoll_event *ev, int n, int ms, const sigset_t *m),
              (ep, ev, n, ms, m))

PL_POLL_SHAPE(int, epoll_pwait2, epoll_pwait2, epoll_pwait2, ep, 1,
              (int ep, struct epoll_event *ev, int n, const struct timespec *ts,
               const sigset_t *m),
              (ep, ev, n, ts, m))

/* connect: SYSCALL under the rule, SOCKADDR always (also EINPROGRESS). */
PL_EXPORT int connect(int fd, const struct sockaddr *a, socklen_t al) {
  if (PL_PASS(PL_NET))
    return PL_REAL(connect)(fd, a, al);
  uint64_t t0 = ctrace__now();
  struct ctrace__pl_call c;
  ctrace__pl_call_sys(&c, CTRACE_CALL_connect, CTRACE_SC_NET, fd, t0);
  int r = PL_REAL(connect)(fd, a, al);
  uint64_t t1 = ctrace__now();
  ctrace__pl_call_end(&c);
  int e = errno;
  if (r == 0 || e == EINPROGRESS) {
    ctrace__pl_sockaddr(fd, CTRACE_CALL_connect, a, al);
    ctrace__pl_fd_made(fd, CTRACE_FD_CONNECT);
  }
  if (t1 - t0 >= ctrace__pl.min_ticks)
    ctrace__pl_syscall(CTRACE_CALL_connect, CTRACE_SC_NET, fd, r < 0 ? -(int64_t)e : r, t0, t1,
                       FP);
  errno = e;
  return r;
}

/* accept, accept4: the peer comes from the caller's buffer when it passed
 * one, else from getpeername() (one extra call per connection). */
static int accept_common(int fd, struct sockaddr *a, socklen_t *al, int flags, int four,
                         void *fp) {
  uint64_t t0 = ctrace__now();
  uint8_t call = four ? CTRACE_CALL_accept4 : CTRACE_CALL_accept;
  struct ctrace__pl_call c;
  ctrace__pl_call_sys(&c, call, CTRACE_SC_NET, fd, t0);
  int r = four ? PL_REAL(accept4)(fd, a, al, flags) : PL_REAL(accept)(fd, a, al);
  uint64_t t1 = ctrace__now();
  ctrace__pl_call_end(&c);
  int e = errno;
  if (r >= 0) {
    ctrace__pl_fd_set(r, CTRACE_SC_NET);
    ctrace__pl_fd_made(r, CTRACE_FD_ACCEPT);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (a && al && *al <= sizeof ss)
      ctrace__pl_sockaddr(r, call, a, *al);
    else if (getpeername(r, (struct sockaddr *)&ss, &len) == 0)
      ctrace__pl_sockaddr(r, call, (struct sockaddr *)&ss, len);
  }
  if (t1 - t0 >= ctrace__pl.min_ticks)
    ctrace__pl_syscall(call, CTRACE_SC_NET, fd, r < 0 ? -(int64_t)e : r, t0, t1, fp);
  errno = e;
  return r;
}

PL_EXPORT int accept(int fd, struct sockaddr *restrict a, socklen_t *restrict al) {
  if (PL_PASS(PL_NET))
    return PL_REAL(accept)(fd, a, al);
  return accept_common(fd, a, al, 0, 0, FP);
}

PL_EXPORT int accept4(int fd, struct sockaddr *restrict a, socklen_t *restrict al, int flags) {
  if (PL_PASS(PL_NET))
    return PL_REAL(accept4)(fd, a, al, flags);
  return accept_common(fd, a, al, flags, 1, FP);
}
