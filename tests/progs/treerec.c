/*
 * treerec.c - processes that talk, for the process-tree tests
 * (tests/test-treerec.c). Modes:
 *   spawn             posix_spawn /bin/true, posix_spawnp true; prints
 *                     "spawn PID" and "spawnp PID"
 *   pipe_threads N    a writer thread writes N messages (sizes 1..150) into
 *                     a pipe and ends; then a reader thread reads it with a
 *                     64-byte buffer (partial reads, several writes per read)
 *   fork_pipe N       the same, written by a forked child, read by the parent
 *   writer N          N messages to stdout (a pipeline's first stage)
 *   reader            reads stdin to its end, prints "read BYTES"
 *   socketpair N      a forked child writes N messages on a socketpair end,
 *                     the parent reads them and answers each read (a
 *                     thread of the child reads the answers meanwhile)
 *   fork_pipe_high N  fork_pipe on fds 70000 (read end) and 70001 (write
 *                     end); prints "no high fds" when RLIMIT_NOFILE cannot
 *                     be raised to 70002 (only root may past the hard limit)
 *   poll N            N rounds: the parent polls a pipe and then reads the
 *                     byte a forked child wrote 5 ms after the parent was
 *                     blocked in the poll
 *   tcp N             a forked child connects to the parent over loopback
 *                     TCP and writes N messages; the parent reads them
 *   sem N             parent and forked child ping-pong N times over two
 *                     process-shared semaphores in MAP_SHARED memory
 *   sem_threads N     the same between two threads of one process
 *   mutex N           parent and child take turns N times on a
 *                     PTHREAD_PROCESS_SHARED mutex in MAP_SHARED memory,
 *                     each holding it while the other waits
 *   cond N            parent and child take turns N times through a
 *                     PTHREAD_PROCESS_SHARED condition variable and mutex
 *   ends              forks children that end by exit(7), _exit(3), a default
 *                     SIGTERM and returning 5 from a child's main path; prints
 *                     their wait statuses
 * Prints "total BYTES" for the byte-moving modes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Reads the parent's answers on *fd until it closes its end. */
static void *drain_answers(void *fd) {
  char c[64];
  while (read(*(int *)fd, c, sizeof c) > 0)
    ;
  return NULL;
}

static size_t msg_size(int i) {
  return (size_t)(i * 37 % 150) + 1;
}

static long write_msgs(int fd, int n) {
  char buf[160];
  long total = 0;
  for (int i = 0; i < n; i++) {
    size_t len = msg_size(i);
    memset(buf, 'a' + i % 26, len);
    size_t off = 0;
    while (off < len) {
      ssize_t w = write(fd, buf + off, len - off);
      if (w < 0) {
        perror("write");
        exit(2);
      }
      off += (size_t)w;
    }
    total += (long)len;
  }
  return total;
}

static long read_all(int fd, long want) {
  char buf[64];
  long got = 0;
  while (want < 0 || got < want) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += r;
  }
  return got;
}

static int nmsg;
static int pfd[2];
static void *writer_thread(void *a) {
  (void)a;
  write_msgs(pfd[1], nmsg);
  return NULL;
}
static long total_read;
static void *reader_thread(void *a) {
  (void)a;
  total_read = read_all(pfd[0], -1);
  return NULL;
}

static sem_t *shsem;
static int rounds;
static void *sem_peer(void *a) {
  (void)a;
  for (int i = 0; i < rounds; i++) {
    sem_post(&shsem[0]);
    sem_wait(&shsem[1]);
  }
  return NULL;
}

/* Until process pid is blocked in poll (/proc/PID/syscall; where that
 * cannot be read, asleep: state S in /proc/PID/stat), at most 10 s. */
static void wait_asleep(pid_t pid) {
  char path[64], line[256];
  for (int i = 0; i < 10000; i++) {
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    FILE *f = fopen(path, "r");
    int done = 0;
    if (f) {
      long nr = fgets(line, sizeof line, f) && line[0] != '-' ? atol(line) : -1;
      done = nr == SYS_poll || nr == SYS_ppoll;
      fclose(f);
    } else {
      snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
      f = fopen(path, "r");
      if (!f)
        return;
      const char *e = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
      done = e && e[1] == ' ' && e[2] == 'S';
      fclose(f);
    }
    if (done)
      return;
    struct timespec d = {0, 1000000};
    nanosleep(&d, NULL);
  }
}

static void wait_child(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "child failed\n");
    exit(3);
  }
}

int main(int argc, char **argv) {
  if (argc < 2)
    return 1;
  const char *mode = argv[1];
  int n = argc > 2 ? atoi(argv[2]) : 10;
  if (strcmp(mode, "spawn") == 0) {
    pid_t a, b;
    char *av[] = {"true", NULL};
    if (posix_spawn(&a, "/bin/true", NULL, NULL, av, environ) != 0 ||
        posix_spawnp(&b, "true", NULL, NULL, av, environ) != 0)
      return 2;
    printf("spawn %d\nspawnp %d\n", (int)a, (int)b);
    wait_child(a);
    wait_child(b);
    return 0;
  }
  if (strcmp(mode, "pipe_threads") == 0) {
    nmsg = n;
    if (pipe(pfd))
      return 2;
    pthread_t w, r;
    pthread_create(&w, NULL, writer_thread, NULL);
    pthread_join(w, NULL); /* everything written before the first read */
    close(pfd[1]);
    pthread_create(&r, NULL, reader_thread, NULL);
    pthread_join(r, NULL);
    printf("total %ld\n", total_read);
    return 0;
  }
  if (strcmp(mode, "fork_pipe") == 0) {
    if (pipe(pfd))
      return 2;
    pid_t pid = fork();
    if (pid == 0) {
      close(pfd[0]);
      write_msgs(pfd[1], n);
      _exit(0);
    }
    close(pfd[1]);
    long got = read_all(pfd[0], -1);
    wait_child(pid);
    printf("total %ld\n", got);
    return 0;
  }
  if (strcmp(mode, "fork_pipe_high") == 0) {
    /* fork_pipe with the pipe's ends moved to fds 70000 and 70001 (a
     * server past 65536 connections); "no high fds" when the limit on
     * open files cannot be raised that far */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
      return 2;
    if (rl.rlim_cur < 70002) {
      rl.rlim_cur = 70002;
      if (rl.rlim_max < 70002)
        rl.rlim_max = 70002; /* root may */
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        printf("no high fds\n");
        return 0;
      }
    }
    if (pipe(pfd) || dup2(pfd[0], 70000) != 70000 || dup2(pfd[1], 70001) != 70001)
      return 2;
    close(pfd[0]);
    close(pfd[1]);
    pid_t pid = fork();
    if (pid == 0) {
      close(70000);
      write_msgs(70001, n);
      _exit(0);
    }
    close(70001);
    long got = read_all(70000, -1);
    wait_child(pid);
    printf("total %ld\n", got);
    return 0;
  }
  if (strcmp(mode, "poll") == 0) {
    /* N rounds: the parent polls a pipe, then reads what a forked child
     * wrote once the parent was asleep in the poll */
    int back[2];
    if (pipe(pfd) || pipe(back))
      return 2;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
      close(pfd[0]);
      close(back[1]);
      for (int i = 0; i < n; i++) {
        wait_asleep(parent);
        struct timespec d = {0, 5000000};
        nanosleep(&d, NULL);
        if (write(pfd[1], "p", 1) != 1)
          _exit(2);
        char c;
        if (read(back[0], &c, 1) != 1) /* the parent read it: next round */
          _exit(2);
      }
      _exit(0);
    }
    close(pfd[1]);
    close(back[0]);
    long got = 0;
    for (int i = 0; i < n; i++) {
      struct pollfd q = {pfd[0], POLLIN, 0};
      char c;
      if (poll(&q, 1, -1) != 1 || read(pfd[0], &c, 1) != 1 || write(back[1], "k", 1) != 1)
        return 2;
      got++;
    }
    wait_child(pid);
    printf("total %ld\n", got);
    return 0;
  }
  if (strcmp(mode, "writer") == 0) {
    write_msgs(1, n);
    return 0;
  }
  if (strcmp(mode, "reader") == 0) {
    printf("read %ld\n", read_all(0, -1));
    return 0;
  }
  if (strcmp(mode, "socketpair") == 0) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
      return 2;
    pid_t pid = fork();
    if (pid == 0) {
      /* the answers are read while the messages are written: a child that
       * read them only at the end would fill its buffer with them, block
       * the parent's answer and so its own writes, for large N */
      close(sv[0]);
      pthread_t drain;
      if (pthread_create(&drain, NULL, drain_answers, &sv[1]) != 0)
        _exit(2);
      write_msgs(sv[1], n);
      shutdown(sv[1], SHUT_WR);
      pthread_join(drain, NULL);
      _exit(0);
    }
    close(sv[1]);
    char buf[64];
    long got = 0;
    ssize_t r;
    while ((r = read(sv[0], buf, sizeof buf)) > 0) {
      got += r;
      if (write(sv[0], "k", 1) != 1)
        return 2;
    }
    close(sv[0]);
    wait_child(pid);
    printf("total %ld\n", got);
    return 0;
  }
  if (strcmp(mode, "tcp") == 0) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
      return 2;
    pid_t pid = fork();
    if (pid == 0) {
      close(ls);
      int s = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(s, (struct sockaddr *)&a, sizeof a))
        _exit(2);
      write_msgs(s, n);
      close(s);
      _exit(0);
    }
    int c = accept(ls, NULL, NULL);
    long got = read_all(c, -1);
    close(c);
    close(ls);
    wait_child(pid);
    printf("total %ld\n", got);
    return 0;
  }
  if (strcmp(mode, "sem") == 0) {
    sem_t *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || sem_init(&s[0], 1, 0) || sem_init(&s[1], 1, 0))
      return 2;
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < n; i++) {
        sem_post(&s[0]);
        sem_wait(&s[1]);
      }
      _exit(0);
    }
    for (int i = 0; i < n; i++) {
      sem_wait(&s[0]);
      sem_post(&s[1]);
    }
    wait_child(pid);
    printf("rounds %d\n", n);
    return 0;
  }
  if (strcmp(mode, "cond") == 0) {
    struct shc {
      pthread_mutex_t m;
      pthread_cond_t c;
      int turn;
    } *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    if (sh == MAP_FAILED || pthread_mutex_init(&sh->m, &ma) || pthread_cond_init(&sh->c, &ca))
      return 2;
    pid_t pid = fork();
    int me = pid == 0 ? 1 : 0;
    for (int i = 0; i < n; i++) {
      pthread_mutex_lock(&sh->m);
      while (sh->turn != me)
        pthread_cond_wait(&sh->c, &sh->m);
      sh->turn = !me;
      pthread_cond_signal(&sh->c);
      pthread_mutex_unlock(&sh->m);
    }
    if (pid == 0)
      _exit(0);
    wait_child(pid);
    printf("rounds %d\n", n);
    return 0;
  }
  if (strcmp(mode, "ends") == 0) {
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
      kids[k] = fork();
      if (kids[k] == 0) {
        if (k == 0)
          exit(7);
        if (k == 1)
          _exit(3);
        if (k == 2)
          raise(SIGTERM);
        return 5;
      }
    }
    for (int k = 0; k < 4; k++) {
      int st;
      waitpid(kids[k], &st, 0);
      printf("child %d status %d\n", k, st);
    }
    return 0;
  }
  if (strcmp(mode, "sem_threads") == 0) {
    shsem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shsem == MAP_FAILED || sem_init(&shsem[0], 1, 0) || sem_init(&shsem[1], 1, 0))
      return 2;
    rounds = n;
    pthread_t th;
    pthread_create(&th, NULL, sem_peer, NULL);
    for (int i = 0; i < n; i++) {
      sem_wait(&shsem[0]);
      sem_post(&shsem[1]);
    }
    pthread_join(th, NULL);
    printf("rounds %d\n", n);
    return 0;
  }
  if (strcmp(mode, "mutex") == 0) {
    struct shm {
      pthread_mutex_t m;
      sem_t turn[2];
    } *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    if (sh == MAP_FAILED || pthread_mutex_init(&sh->m, &at) || sem_init(&sh->turn[0], 1, 0) ||
        sem_init(&sh->turn[1], 1, 0))
      return 2;
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < n; i++) {
        sem_wait(&sh->turn[1]);   /* the parent holds the mutex now */
        pthread_mutex_lock(&sh->m); /* blocks until the parent unlocks */
        pthread_mutex_unlock(&sh->m);
      }
      _exit(0);
    }
    for (int i = 0; i < n; i++) {
      pthread_mutex_lock(&sh->m);
      sem_post(&sh->turn[1]);
      /* hold it until the child is blocked on it (its waiter bit is set) */
      while (__atomic_load_n(&sh->m.__data.__lock, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
      pthread_mutex_unlock(&sh->m);
    }
    wait_child(pid);
    printf("rounds %d\n", n);
    return 0;
  }
  return 1;
}
