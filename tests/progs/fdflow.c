/*
 * fdflow.c - processes that talk over fds the tracer did not see made, for
 * tests/test-fds.c. Modes:
 *   unix PATH N       binds and listens on a Unix-domain socket at PATH;
 *                     a forked child execs this program as `client`, which
 *                     connects to PATH by name, writes N messages (sizes
 *                     1..150) and reads the answers; the server reads 64
 *                     bytes at a time and answers each read with one byte
 *   client PATH N     that client
 *   inherit N         a forked child gets a pipe's write end on fd 5 and a
 *                     socketpair end on fd 6 (dup2, as a shell does), execs
 *                     this program as `child5`, which writes N messages on
 *                     each; the parent reads both to their end
 *   child5 N          that child
 *   sync N            parent and forked child take turns N times holding a
 *                     PTHREAD_PROCESS_SHARED rwlock (for writing), a C11
 *                     mtx_t and signalling a C11 cnd_t (in MAP_SHARED
 *                     memory) while the other is blocked on it
 * Prints "total BYTES" (unix), "pipe BYTES sock BYTES" (inherit), "rounds N".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

static size_t msg_size(int i) {
  return (size_t)(i * 37 % 150) + 1;
}

static void write_all(int fd, const char *b, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, b + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      perror("write");
      exit(2);
    }
    off += (size_t)w;
  }
}

static long write_msgs(int fd, int n) {
  char buf[160];
  long total = 0;
  for (int i = 0; i < n; i++) {
    size_t len = msg_size(i);
    memset(buf, 'a' + i % 26, len);
    write_all(fd, buf, len);
    total += (long)len;
  }
  return total;
}

static long read_all(int fd, int answer) {
  char buf[64];
  long got = 0;
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += r;
    if (answer)
      write_all(fd, "k", 1);
  }
  return got;
}

static void wait_child(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "child failed\n");
    exit(3);
  }
}

static int addr(const char *path, struct sockaddr_un *a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a->sun_path)
    return -1;
  strcpy(a->sun_path, path);
  return 0;
}

struct shsync {
  pthread_rwlock_t rw;
  mtx_t m;
  cnd_t c;
  int turn;
  _Atomic unsigned phase;
};

/* Handshakes in shared memory without library calls (nothing traced). A
 * wait for a waiter bit gives up after about 10 s: the run stays correct,
 * only that release then wakes nobody. */
static void step_to(_Atomic unsigned *p, unsigned v) {
  atomic_store(p, v);
}
static void wait_phase(_Atomic unsigned *p, unsigned v) {
  while (atomic_load(p) < v)
    sched_yield();
}
static void until_set(const unsigned *w, unsigned bits) {
  for (long k = 0; k < 10000000 && !(__atomic_load_n(w, __ATOMIC_ACQUIRE) & bits); k++)
    sched_yield();
}

int main(int argc, char **argv) {
  if (argc < 3)
    return 1;
  const char *mode = argv[1];
  if (strcmp(mode, "unix") == 0 && argc > 3) {
    struct sockaddr_un a;
    if (addr(argv[2], &a))
      return 2;
    unlink(argv[2]);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1))
      return 2;
    pid_t pid = fork();
    if (pid == 0) {
      close(ls);
      char *av[] = {argv[0], "client", argv[2], argv[3], NULL};
      execv(argv[0], av);
      _exit(127);
    }
    int c = accept(ls, NULL, NULL);
    if (c < 0)
      return 2;
    long got = read_all(c, 1);
    close(c);
    close(ls);
    unlink(argv[2]);
    wait_child(pid);
    printf("total %ld\n", got);
    return 0;
  }
  if (strcmp(mode, "client") == 0 && argc > 3) {
    struct sockaddr_un a;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || addr(argv[2], &a) || connect(s, (struct sockaddr *)&a, sizeof a))
      return 2;
    write_msgs(s, atoi(argv[3]));
    shutdown(s, SHUT_WR);
    read_all(s, 0);
    close(s);
    return 0;
  }
  if (strcmp(mode, "inherit") == 0) {
    int p[2], sv[2];
    if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
      return 2;
    pid_t pid = fork();
    if (pid == 0) {
      int a = fcntl(p[1], F_DUPFD, 20), b = fcntl(sv[1], F_DUPFD, 20);
      close(p[0]);
      close(p[1]);
      close(sv[0]);
      close(sv[1]);
      if (a < 0 || b < 0 || dup2(a, 5) != 5 || dup2(b, 6) != 6)
        _exit(2);
      close(a);
      close(b);
      char *av[] = {argv[0], "child5", argv[2], NULL};
      execv(argv[0], av);
      _exit(127);
    }
    close(p[1]);
    close(sv[1]);
    long a = read_all(p[0], 0);
    long b = read_all(sv[0], 0);
    wait_child(pid);
    printf("pipe %ld sock %ld\n", a, b);
    return 0;
  }
  if (strcmp(mode, "child5") == 0) {
    int n = atoi(argv[2]);
    write_msgs(5, n);
    close(5);
    write_msgs(6, n);
    close(6);
    return 0;
  }
  if (strcmp(mode, "sync") == 0) {
    int n = atoi(argv[2]);
    struct shsync *sh =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
      return 2;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
    /* C11 has no process-shared attribute: glibc's mtx_t and cnd_t are its
     * pthread objects, made shared the only way a C11 program can
     * (initialised as pthread objects, then used through the C11 names) */
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    if (pthread_rwlock_init(&sh->rw, &ra) ||
        pthread_mutex_init((pthread_mutex_t *)(void *)&sh->m, &ma) ||
        pthread_cond_init((pthread_cond_t *)(void *)&sh->c, &ca))
      return 2;
    pid_t pid = fork();
    int me = pid == 0 ? 1 : 0;
    /* Each round, the holder (parent and child in turn) holds the object
     * until it sees the other blocked on it (glibc's waiter bits), then
     * releases it: every release wakes a waiter of the other process. */
    for (int i = 0; i < n; i++) {
      int hold = (i & 1) == me;
      unsigned base = 6u * (unsigned)i;
      /* rwlock: held for writing, the other blocks in wrlock */
      if (hold) {
        pthread_rwlock_wrlock(&sh->rw);
        step_to(&sh->phase, base + 1);
        until_set(&sh->rw.__data.__writers_futex, 2);
        pthread_rwlock_unlock(&sh->rw);
        wait_phase(&sh->phase, base + 2);
      } else {
        wait_phase(&sh->phase, base + 1);
        pthread_rwlock_wrlock(&sh->rw);
        pthread_rwlock_unlock(&sh->rw);
        step_to(&sh->phase, base + 2);
      }
      /* C11 mutex: held, the other blocks in mtx_lock */
      pthread_mutex_t *pm = (pthread_mutex_t *)(void *)&sh->m;
      if (hold) {
        mtx_lock(&sh->m);
        step_to(&sh->phase, base + 3);
        until_set((unsigned *)&pm->__data.__lock, 2);
        mtx_unlock(&sh->m);
        wait_phase(&sh->phase, base + 4);
      } else {
        wait_phase(&sh->phase, base + 3);
        mtx_lock(&sh->m);
        mtx_unlock(&sh->m);
        step_to(&sh->phase, base + 4);
      }
      /* C11 condition variable: the other waits, the holder signals */
      pthread_cond_t *pc = (pthread_cond_t *)(void *)&sh->c;
      if (hold) {
        until_set(&pc->__data.__wrefs, 8);
        mtx_lock(&sh->m);
        sh->turn = i + 1;
        cnd_signal(&sh->c);
        mtx_unlock(&sh->m);
        wait_phase(&sh->phase, base + 6);
      } else {
        mtx_lock(&sh->m);
        while (sh->turn != i + 1)
          cnd_wait(&sh->c, &sh->m);
        mtx_unlock(&sh->m);
        step_to(&sh->phase, base + 6);
      }
    }
    if (pid == 0)
      _exit(0);
    wait_child(pid);
    printf("rounds %d\n", n);
    return 0;
  }
  return 1;
}
