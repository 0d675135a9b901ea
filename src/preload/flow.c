/*
 * flow.c - what a reader needs to link the processes of a tree: SPAWN
 * (posix_spawn, posix_spawnp, vfork: a child started without our fork
 * interposer), FD (which kernel object an fd refers to, recorded when the
 * fd is made, so that I/O on it can be paired across processes) and
 * SHARED (waits on and releases of process-shared mutexes, condition
 * variables and semaphores, keyed by the shared mapping they live in).
 * Layouts: docs/FORMAT.md, "Links between processes".
 *
 * Cost model. An fd's object is learnt once, where the fd is made (pipe,
 * socketpair, socket, accept, connect, open, dup*), with one fstat (plus
 * getsockname/getpeername for a socket, and for an accepted Unix socket
 * its peer from the kernel's socket diagnostics), or at its first read or
 * write when nobody recorded it. On read/write only calls below the
 * minimum duration on pipes and local sockets come here (IPC_IO). The fds the process was given are recorded when its
 * trace starts (0-2; in a fork child also the fds the parent recorded).
 * A shared key costs a lookup in a table of the process's shared mappings,
 * read from /proc/self/maps with raw system calls (no lock that can block,
 * no allocation: callable in a signal handler) when an address is not in
 * it.
 */
#include "preload.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* ---- writing a blob record ---- */

static void put_blob(uint8_t kind, uint64_t ticks, const uint8_t *b, size_t n) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  if (ctrace__reserve(t, n + 10) != 0) {
    ctrace__count_drop(t); /* a loss is never silent */
    ctrace__leave_empty(t);
    return;
  }
  uint8_t *p = ctrace__ev(t, kind, ticks);
  p = ctrace__put_uvarint(p, n);
  memcpy(p, b, n);
  ctrace__leave(t, p + n);
}

/* ---- SPAWN ---- */

void ctrace__pl_spawned(pid_t pid, unsigned how, void *fp) {
  if (pid <= 0 || !(ctrace__pl.families & PL_PROC) || ctrace__guard)
    return;
  int saved = errno;
  uint64_t now = ctrace__now();
  uint32_t st = 0;
  struct ctrace__thread *t = ctrace__enter();
  if (t) {
    st = ctrace__pl_stack(t, fp);
    ctrace__leave_empty(t);
  }
  uint8_t b[40], *p = b;
  p = ctrace__put_uvarint(p, (uint64_t)pid);
  p = ctrace__put_uvarint(p, how);
  p = ctrace__put_uvarint(p, st);
  put_blob(CTRACE_EV_SPAWN, now, b, (size_t)(p - b));
  errno = saved;
}

PL_EXPORT int posix_spawn(pid_t *restrict pid, const char *restrict path,
                          const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *restrict at,
                          char *const argv[restrict], char *const envp[restrict]) {
  pid_t child = 0;
  int r = PL_REAL(posix_spawn)(&child, path, fa, at, argv, envp);
  if (pid)
    *pid = child;
  if (r == 0)
    ctrace__pl_spawned(child, CTRACE_SPAWN_POSIX_SPAWN, __builtin_frame_address(0));
  return r;
}

PL_EXPORT int posix_spawnp(pid_t *restrict pid, const char *restrict file,
                           const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *restrict at,
                           char *const argv[restrict], char *const envp[restrict]) {
  pid_t child = 0;
  int r = PL_REAL(posix_spawnp)(&child, file, fa, at, argv, envp);
  if (pid)
    *pid = child;
  if (r == 0)
    ctrace__pl_spawned(child, CTRACE_SPAWN_POSIX_SPAWNP, __builtin_frame_address(0));
  return r;
}

/* ---- FD ---- */

/* fds this process recorded an object for (forgotten at close), and the
 * other end of a socketpair, so that a fork child can say both again. */
#define PEER_MAX 4096
CTRACE_TABLE struct ctrace__pl_fd_bytes ctrace__pl_fd_tracked;
CTRACE_TABLE static _Atomic uint64_t peer_ino[PEER_MAX];
static _Atomic int tracked_max = -1;

static int families_on(void) {
  return !ctrace__guard && (ctrace__pl.families & (PL_IO | PL_NET)) != 0;
}

/* How much of a sockaddr is worth keeping: inet addresses only. */
static socklen_t inet_len(const struct sockaddr_storage *ss, socklen_t len) {
  if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
    return sizeof(struct sockaddr_in);
  if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
    return sizeof(struct sockaddr_in6);
  return 0;
}

/*
 * The other end of a Unix-domain socket connected by path (bind, listen,
 * connect, accept): its inode, from the kernel's socket diagnostics
 * (NETLINK_SOCK_DIAG, UNIX_DIAG_PEER), 0 when unknown. One netlink socket
 * per question, made and closed with raw system calls (no interposer, no
 * fd left to the program): the kernel answers within sendto, so the
 * receive never waits (MSG_DONTWAIT). About 25 us, paid once per accepted
 * connection (and per unix socket an exec'd image was given). Asked on the
 * accepting side only: at connect the server's end is not accepted yet and
 * has no inode, while the accepted socket's peer is the connecting socket;
 * the reader pairs the connecting end by the accepted end's record
 * (src/analyze/flows.c).
 */
static uint64_t unix_peer(uint64_t ino) {
  int s = (int)syscall(SYS_socket, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (s < 0)
    return 0;
  struct {
    struct nlmsghdr h;
    struct unix_diag_req r;
  } q;
  memset(&q, 0, sizeof q);
  q.h.nlmsg_len = sizeof q;
  q.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  q.h.nlmsg_flags = NLM_F_REQUEST;
  q.r.sdiag_family = AF_UNIX;
  q.r.udiag_ino = (uint32_t)ino;
  q.r.udiag_show = UDIAG_SHOW_PEER;
  q.r.udiag_cookie[0] = q.r.udiag_cookie[1] = ~0u; /* no cookie: match by inode */
  struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
  uint64_t peer = 0;
  uint32_t buf[256];
  if (syscall(SYS_sendto, s, &q, sizeof q, 0, &nl, sizeof nl) == (long)sizeof q) {
    long n = syscall(SYS_recvfrom, s, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
    const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
    if (n >= (long)NLMSG_LENGTH(sizeof(struct unix_diag_msg)) && NLMSG_OK(h, (unsigned long)n) &&
        h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      const struct unix_diag_msg *m = NLMSG_DATA(h);
      int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *m);
      for (const struct rtattr *a = (const struct rtattr *)(m + 1); m->udiag_ino == ino &&
                                                                    RTA_OK(a, len);
           a = RTA_NEXT(a, len))
        if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
          uint32_t v;
          memcpy(&v, RTA_DATA(a), sizeof v);
          peer = v;
        }
    }
  }
  syscall(SYS_close, s);
  return peer;
}

/* Another process of this machine can be at the other end of this internet
 * socket: its peer is a loopback address or the socket's own address. */
static int inet_local(const struct sockaddr_storage *a, const struct sockaddr_storage *z,
                      socklen_t zl) {
  if (!zl || a->ss_family != z->ss_family)
    return 0;
  if (z->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)z;
    return (ntohl(y->sin_addr.s_addr) >> 24) == 127 ||
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)z;
  static const uint8_t v4lo[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return IN6_IS_ADDR_LOOPBACK(&y->sin6_addr) ||
         (memcmp(y->sin6_addr.s6_addr, v4lo, 12) == 0 && y->sin6_addr.s6_addr[12] == 127) ||
         memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

/* known: the fd's fstat when the caller has it, else NULL. Also caches the
 * fd's class (io.c), with PL_FD_IPC for a pipe, FIFO or local socket. */
static void fd_record_st(int fd, unsigned how, uint64_t peer, uint64_t now,
                         const struct stat *known) {
  struct stat st;
  uint8_t b[64 + 2 * sizeof(struct sockaddr_storage)], *p = b;
  uint64_t dev = 0, ino = 0, type = 0;
  if (how != CTRACE_FD_CLOSE) {
    if (known)
      st = *known;
    else if (fstat(fd, &st) != 0)
      return;
    dev = st.st_dev;
    ino = st.st_ino;
    type = (st.st_mode & S_IFMT) >> 12;
  }
  p = ctrace__put_uvarint(p, (uint64_t)(uint32_t)fd);
  p = ctrace__put_uvarint(p, how);
  p = ctrace__put_uvarint(p, dev);
  p = ctrace__put_uvarint(p, ino);
  p = ctrace__put_uvarint(p, type);
  if (!peer && (unsigned)fd < PEER_MAX && how != CTRACE_FD_CLOSE)
    peer = atomic_load_explicit(&peer_ino[fd], memory_order_relaxed);
  int sock = how != CTRACE_FD_CLOSE && S_ISSOCK(st.st_mode);
  struct sockaddr_storage a;
  socklen_t al = sizeof a;
  a.ss_family = AF_UNSPEC;
  if (sock && getsockname(fd, (struct sockaddr *)&a, &al) != 0)
    a.ss_family = AF_UNSPEC;
  if (sock && !peer && a.ss_family == AF_UNIX &&
      (how == CTRACE_FD_ACCEPT || how == CTRACE_FD_OPEN || how == CTRACE_FD_INHERITED)) {
    peer = unix_peer(ino); /* connected by path: the kernel names the other end */
    if (peer && (unsigned)fd < PEER_MAX)
      atomic_store_explicit(&peer_ino[fd], peer, memory_order_relaxed);
  }
  p = ctrace__put_uvarint(p, peer);
  if (sock) {
    struct sockaddr_storage z;
    socklen_t zl = sizeof z;
    socklen_t n = inet_len(&a, al);
    socklen_t m = n && getpeername(fd, (struct sockaddr *)&z, &zl) == 0 ? inet_len(&z, zl) : 0;
    p = ctrace__put_uvarint(p, n);
    memcpy(p, &a, n);
    p += n;
    p = ctrace__put_uvarint(p, m);
    memcpy(p, &z, m);
    p += m;
    int ipc = a.ss_family == AF_UNIX || (n && inet_local(&a, &z, m));
    ctrace__pl_fd_set(fd, CTRACE_SC_NET | (ipc ? PL_FD_IPC : 0));
  } else if (how != CTRACE_FD_CLOSE) {
    ctrace__pl_fd_set(fd, S_ISFIFO(st.st_mode) ? CTRACE_SC_NET | PL_FD_IPC : CTRACE_SC_FILE);
  }
  put_blob(CTRACE_EV_FD, now, b, (size_t)(p - b));
}

static void fd_record(int fd, unsigned how, uint64_t peer, uint64_t now) {
  fd_record_st(fd, how, peer, now, NULL);
}

static void track(int fd, uint64_t peer) {
  ctrace__pl_fd_byte_set(&ctrace__pl_fd_tracked, fd, 1);
  if ((unsigned)fd < PEER_MAX)
    atomic_store_explicit(&peer_ino[fd], peer, memory_order_relaxed);
  int m = atomic_load_explicit(&tracked_max, memory_order_relaxed);
  while (fd > m && !atomic_compare_exchange_weak_explicit(&tracked_max, &m, fd,
                                                          memory_order_relaxed,
                                                          memory_order_relaxed))
    ;
}

void ctrace__pl_fd_made(int fd, unsigned how) {
  if (fd < 0 || !families_on())
    return;
  int saved = errno;
  uint64_t now = ctrace__now();
  track(fd, 0);
  fd_record(fd, how, 0, now);
  errno = saved;
}

/*
 * An fd found to be a FIFO or a socket when a read or write on it was
 * first classified (io.c's class cache missed and took an fstat anyway): a
 * FIFO opened by name, or a pipe or socket that reached the process unseen
 * (given to an exec'd image on an fd above 2, as a shell or a server
 * passes them). An fstat per open() to find FIFOs would cost about as much
 * as the open itself (measured: bench/treerec_cost.c); this costs nothing
 * more, plus a socket's addresses (and a Unix socket's peer) once.
 * Stamped with the thread's last event time, before the call.
 */
void ctrace__pl_fd_seen(int fd, const void *stp) {
  const struct stat *st = stp;
  if (!(S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode)) || !families_on() ||
      ctrace__pl_fd_byte(&ctrace__pl_fd_tracked, fd))
    return;
  int saved = errno;
  struct ctrace__thread *t = ctrace__tls;
  uint64_t when = t && t->last ? t->last : ctrace__now();
  track(fd, 0);
  fd_record_st(fd, CTRACE_FD_OPEN, 0, when, st);
  errno = saved;
}

/*
 * A read or write below the minimum duration moved bytes on fd, whose
 * class was unknown (classified now: one fstat, once per fd) or is a pipe
 * or local socket: an IPC_IO record at the call's end, without a stack
 * (the stack is what a recorded call costs most). Not a SYSCALL: what the
 * minimum duration keeps out of the timeline stays out; only the pairing
 * of bytes across processes (src/analyze/flows.c) reads it.
 */
void ctrace__pl_ipc_io(uint8_t call, int fd, int64_t result, uint64_t t0, uint64_t t1) {
  if ((unsigned)fd >= (unsigned)PL_FD_CACHE * PL_FD_HIGH_PAGES)
    return; /* no cache to keep its class in: not an fstat per call */
  uint8_t k = ctrace__pl_fd_cached(fd);
  if (!k) {
    ctrace__pl_fd_class(fd); /* keeps errno */
    k = ctrace__pl_fd_cached(fd);
  }
  if (!(k & PL_FD_IPC) || !families_on())
    return;
  int saved = errno;
  struct ctrace__thread *t = ctrace__enter();
  if (t) {
    uint8_t b[40], *p = b;
    p = ctrace__put_uvarint(p, (uint64_t)(uint32_t)fd);
    p = ctrace__put_uvarint(p, call);
    p = ctrace__put_uvarint(p, (uint64_t)result);
    p = ctrace__put_uvarint(p, t1 > t0 ? t1 - t0 : 0);
    size_t n = (size_t)(p - b);
    if (ctrace__reserve(t, n + 10) != 0) {
      ctrace__count_drop(t); /* a loss is never silent */
      ctrace__leave_empty(t);
    } else {
      uint8_t *q = ctrace__ev(t, CTRACE_EV_IPC_IO, t1);
      q = ctrace__put_uvarint(q, n);
      memcpy(q, b, n);
      ctrace__pl_charge(t, t1); /* the tracer's own time, as for every call */
      ctrace__leave(t, q + n);
    }
  }
  errno = saved;
}

/* dup*: newfd names oldfd's object, when oldfd's is worth knowing (it was
 * recorded, or it is one of 0-2, which the trace's start recorded). */
void ctrace__pl_fd_dup(int oldfd, int newfd) {
  if (newfd < 0 || oldfd == newfd || !families_on())
    return;
  if (!ctrace__pl_fd_byte(&ctrace__pl_fd_tracked, oldfd))
    return;
  int saved = errno;
  uint64_t now = ctrace__now();
  uint64_t peer = (unsigned)oldfd < PEER_MAX
                      ? atomic_load_explicit(&peer_ino[oldfd], memory_order_relaxed)
                      : 0;
  track(newfd, peer);
  fd_record(newfd, CTRACE_FD_DUP, peer, now);
  errno = saved;
}

void ctrace__pl_fd_untrack(int fd) {
  if (fd < 0)
    return;
  ctrace__pl_fd_byte_set(&ctrace__pl_fd_tracked, fd, 0);
  if ((unsigned)fd < PEER_MAX)
    atomic_store_explicit(&peer_ino[fd], 0, memory_order_relaxed);
  if (!families_on())
    return;
  int saved = errno;
  fd_record(fd, CTRACE_FD_CLOSE, 0, ctrace__now());
  errno = saved;
}

/* Both ends of a pipe are one inode: one fstat. */
static void pipe_made(const int fds[2]) {
  if (!families_on())
    return;
  int saved = errno;
  uint64_t now = ctrace__now();
  struct stat st;
  if (fstat(fds[0], &st) == 0)
    for (int i = 0; i < 2; i++) {
      track(fds[i], 0);
      fd_record_st(fds[i], CTRACE_FD_PIPE, 0, now, &st);
    }
  errno = saved;
}

PL_EXPORT int pipe(int fds[2]) {
  int r = PL_REAL(pipe)(fds);
  if (r == 0)
    pipe_made(fds);
  return r;
}

PL_EXPORT int pipe2(int fds[2], int flags) {
  int r = PL_REAL(pipe2)(fds, flags);
  if (r == 0)
    pipe_made(fds);
  return r;
}

PL_EXPORT int dup(int fd) {
  int r = PL_REAL(dup)(fd);
  if (r >= 0)
    ctrace__pl_fd_dup(fd, r);
  return r;
}

PL_EXPORT int socketpair(int domain, int type, int proto, int fds[2]) {
  int r = PL_REAL(socketpair)(domain, type, proto, fds);
  if (r != 0 || !families_on())
    return r;
  int saved = errno;
  uint64_t now = ctrace__now();
  struct stat a, b;
  if (fstat(fds[0], &a) == 0 && fstat(fds[1], &b) == 0) {
    track(fds[0], b.st_ino);
    track(fds[1], a.st_ino);
    fd_record(fds[0], CTRACE_FD_SOCKETPAIR, b.st_ino, now);
    fd_record(fds[1], CTRACE_FD_SOCKETPAIR, a.st_ino, now);
  }
  errno = saved;
  return r;
}

/* At the start of this image's trace: 0-2 (what a shell pipeline gives
 * its stages), and in a fork child every fd the parent recorded. */
CTRACE__COLD void ctrace__pl_fd_at_start(int is_fork_child) {
  if (!families_on())
    return;
  int saved = errno;
  uint64_t now = ctrace__now();
  int last = is_fork_child ? atomic_load_explicit(&tracked_max, memory_order_relaxed) : -1;
  for (int fd = 0; fd <= (last > 2 ? last : 2); fd++) {
    int t = ctrace__pl_fd_byte(&ctrace__pl_fd_tracked, fd) != 0;
    if (fd > 2 && !t)
      continue;
    struct stat st;
    if (fstat(fd, &st) != 0)
      continue;
    if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !t)
      continue;
    track(fd, (unsigned)fd < PEER_MAX ? atomic_load_explicit(&peer_ino[fd], memory_order_relaxed)
                                      : 0);
    fd_record(fd, CTRACE_FD_INHERITED, 0, now);
  }
  errno = saved;
}

/* ---- SHARED: keys of process-shared objects ---- */

/*
 * The process's shared mappings (MAP_SHARED: 's' in /proc/self/maps),
 * behind a sequence lock: a refresh (at most one at a time, taken with a
 * try-lock: a thread that finds it taken goes without a key) bumps seq to
 * odd, rewrites, bumps it to even; a reader retries a few times, then
 * gives up. Addresses found in no shared mapping are remembered (by page)
 * so that a pshared object in private memory does not read the file at
 * every wait.
 */
struct shmap {
  uintptr_t start, end;
  uint64_t dev, ino, pgoff;
};
#define SHMAP_MAX 256
#define SHMISS_MAX 16
CTRACE_TABLE static struct shmap shmaps[SHMAP_MAX];
static unsigned nshmaps;
static _Atomic unsigned shseq;
static _Atomic int shbusy;
static _Atomic uintptr_t shmiss[SHMISS_MAX];
static _Atomic unsigned shmiss_next;

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

static const char *hex(const char *s, const char *e, uint64_t *v) {
  uint64_t x = 0;
  int d;
  while (s < e && (d = hexval(*s)) >= 0) {
    x = x << 4 | (uint64_t)d;
    s++;
  }
  *v = x;
  return s;
}

/* "start-end perms offset maj:min inode path" */
static int parse_line(const char *s, const char *e, struct shmap *m) {
  uint64_t a, b, off, maj, min, ino = 0;
  s = hex(s, e, &a);
  if (s >= e || *s++ != '-')
    return 0;
  s = hex(s, e, &b);
  if (e - s < 6 || s[4] != 's')
    return 0;
  s = hex(s + 6, e, &off);
  s = hex(s + 1, e, &maj);
  s = hex(s + 1, e, &min);
  s++;
  while (s < e && *s >= '0' && *s <= '9')
    ino = ino * 10 + (uint64_t)(*s++ - '0');
  *m = (struct shmap){a, b, maj << 32 | min, ino, off};
  return 1;
}

static void refresh(void) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  atomic_fetch_add_explicit(&shseq, 1, memory_order_acq_rel);
  unsigned n = 0;
  char buf[4096];
  size_t have = 0;
  for (;;) {
    long got = syscall(SYS_read, fd, buf + have, sizeof buf - have);
    if (got <= 0)
      break;
    have += (size_t)got;
    char *s = buf, *end = buf + have, *nl;
    while ((nl = memchr(s, '\n', (size_t)(end - s)))) {
      if (n < SHMAP_MAX && parse_line(s, nl, &shmaps[n]))
        n++;
      s = nl + 1;
    }
    have = (size_t)(end - s);
    memmove(buf, s, have);
    if (have == sizeof buf)
      have = 0; /* a line longer than the buffer: dropped */
  }
  syscall(SYS_close, fd);
  nshmaps = n;
  for (unsigned i = 0; i < SHMISS_MAX; i++)
    atomic_store_explicit(&shmiss[i], 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&shseq, 1, memory_order_release);
}

static int lookup(uintptr_t a, struct shmap *out) {
  for (int tries = 0; tries < 4; tries++) {
    unsigned s0 = atomic_load_explicit(&shseq, memory_order_acquire);
    if (s0 & 1)
      continue;
    int found = 0;
    unsigned n = nshmaps;
    for (unsigned i = 0; i < n && i < SHMAP_MAX; i++)
      if (a >= shmaps[i].start && a < shmaps[i].end) {
        *out = shmaps[i];
        found = 1;
        break;
      }
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&shseq, memory_order_relaxed) == s0)
      return found;
  }
  return -1;
}

/* dev, ino, offset of address a in a shared mapping; 0 when unknown. */
static int shared_key(const void *obj, uint64_t k[3]) {
  uintptr_t a = (uintptr_t)obj, page = a >> 12;
  struct shmap m;
  int f = lookup(a, &m);
  if (f == 0) {
    for (unsigned i = 0; i < SHMISS_MAX; i++)
      if (atomic_load_explicit(&shmiss[i], memory_order_relaxed) == page + 1)
        return 0;
    int z = 0;
    if (!atomic_compare_exchange_strong(&shbusy, &z, 1))
      return 0;
    refresh();
    atomic_store_explicit(&shbusy, 0, memory_order_release);
    f = lookup(a, &m);
    if (f == 0) {
      unsigned i = atomic_fetch_add_explicit(&shmiss_next, 1, memory_order_relaxed);
      atomic_store_explicit(&shmiss[i % SHMISS_MAX], page + 1, memory_order_relaxed);
    }
  }
  if (f != 1)
    return 0;
  k[0] = m.dev;
  k[1] = m.ino;
  k[2] = m.pgoff + (a - m.start);
  return 1;
}

/*
 * Is obj, waited on for reason, process-shared? From glibc's (2.34 and
 * later, 64-bit) layouts: a mutex's kind has PTHREAD_MUTEX_PSHARED_BIT
 * (128); a condvar's __wrefs bit 0; a semaphore's `private` word (after
 * its 64-bit value) is not 0 (FUTEX_PRIVATE is 0, FUTEX_SHARED 128); an
 * rwlock's __shared is not 0. C11's mtx_t and cnd_t are glibc's pthread
 * objects.
 */
int ctrace__pl_pshared(uint8_t reason, const void *obj) {
  switch (reason) {
  case CTRACE_WAIT_MUTEX:
    return (((const pthread_mutex_t *)obj)->__data.__kind & 128) != 0;
  case CTRACE_WAIT_COND:
    return (((const pthread_cond_t *)obj)->__data.__wrefs & 1) != 0;
  case CTRACE_WAIT_SEM:
    return ((const int *)obj)[2] != 0;
  case CTRACE_WAIT_RWLOCK_READ:
  case CTRACE_WAIT_RWLOCK_WRITE:
    return ((const pthread_rwlock_t *)obj)->__data.__shared != 0;
  default:
    return 0;
  }
}

void ctrace__pl_shared(unsigned role, uint8_t reason, const void *obj, uint64_t ticks) {
  int saved = errno;
  uint64_t k[3];
  if (shared_key(obj, k)) {
    uint8_t b[70], *p = b;
    p = ctrace__put_uvarint(p, role);
    p = ctrace__put_uvarint(p, reason);
    p = ctrace__put_uvarint(p, (uintptr_t)obj);
    p = ctrace__put_uvarint(p, k[0]);
    p = ctrace__put_uvarint(p, k[1]);
    p = ctrace__put_uvarint(p, k[2]);
    put_blob(CTRACE_EV_SHARED, ticks, b, (size_t)(p - b));
  }
  errno = saved;
}
