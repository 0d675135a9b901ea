/*
 * treerec_cost.c - per-call cost of the calls that link processes
 * (src/preload/flow.c, the process-shared checks of src/preload/sync.c),
 * measured in one process as bench/preload_mutex.c measures: libc's
 * function against the name the program binds to (the interposer under
 * LD_PRELOAD), in alternating rounds, fastest round of each; beside one
 * rdtsc. Run it untraced, under `ctrace run`, and under an older preload
 * library to see what one change added. Also the data calls (a byte
 * through a pipe: IPC_IO records; a byte to /dev/null: the class byte) and
 * a Unix-domain connect and accept (the peer's inode). Prints "NAME_libc_ns",
 * "NAME_ns", "NAME_added_ns".
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct fns {
  int (*lock)(pthread_mutex_t *), (*unlock)(pthread_mutex_t *);
  int (*post)(sem_t *), (*trywait)(sem_t *);
  int (*signal)(pthread_cond_t *);
  int (*dup)(int), (*close)(int);
  int (*open)(const char *, int, ...);
  int (*pipe)(int *);
  int (*socket)(int, int, int);
  ssize_t (*read)(int, void *, size_t), (*write)(int, const void *, size_t);
  int (*connect)(int, const struct sockaddr *, socklen_t);
  int (*accept)(int, struct sockaddr *, socklen_t *);
};
static struct fns f;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t s;

typedef void (*op_fn)(void);
static void op_lockpair(void) {
  f.lock(&m);
  f.unlock(&m);
}
static void op_sempair(void) {
  f.post(&s);
  f.trywait(&s);
}
static void op_signal(void) {
  f.signal(&cv);
}
static void op_dupclose(void) {
  f.close(f.dup(0));
}
static void op_openclose(void) {
  f.close(f.open("/dev/null", O_RDONLY));
}
static void op_pipe(void) {
  int p[2];
  if (f.pipe(p) == 0) {
    f.close(p[0]);
    f.close(p[1]);
  }
}
static void op_socket(void) {
  f.close(f.socket(AF_INET, SOCK_STREAM, 0));
}

/* A byte through a pipe: two calls below the minimum duration on a pipe,
 * each an IPC_IO record. */
static int pp[2], devnull = -1, ls = -1;
static struct sockaddr_un ua;
static void op_pipe_rw(void) {
  char c = 'x';
  if (f.write(pp[1], &c, 1) == 1)
    (void)!f.read(pp[0], &c, 1);
}
/* A byte to /dev/null (an fd open() made): the class byte only. */
static void op_devnull_write(void) {
  char c = 'x';
  (void)!f.write(devnull, &c, 1);
}
/* A Unix-domain connection by path: socket, connect, accept, two closes
 * (accept asks the kernel for the peer's inode: flow.c). */
static void op_unix_accept(void) {
  int c = f.socket(AF_UNIX, SOCK_STREAM, 0);
  if (c >= 0 && f.connect(c, (struct sockaddr *)&ua, sizeof ua) == 0)
    f.close(f.accept(ls, NULL, NULL));
  f.close(c);
}

static double round_of(op_fn op, long n) {
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++)
    op();
  return (double)(now_ns() - t0) / (double)n;
}

static void set(int bound, void *libc) {
#define PICK(field, name) *(void **)&f.field = bound ? dlsym(RTLD_DEFAULT, name) : dlsym(libc, name)
  PICK(lock, "pthread_mutex_lock");
  PICK(unlock, "pthread_mutex_unlock");
  PICK(post, "sem_post");
  PICK(trywait, "sem_trywait");
  *(void **)&f.signal = bound ? dlsym(RTLD_DEFAULT, "pthread_cond_signal")
                              : dlvsym(libc, "pthread_cond_signal", "GLIBC_2.3.2");
  PICK(dup, "dup");
  PICK(close, "close");
  PICK(open, "open");
  PICK(pipe, "pipe");
  PICK(socket, "socket");
  PICK(read, "read");
  PICK(write, "write");
  PICK(connect, "connect");
  PICK(accept, "accept");
#undef PICK
}

static void compare(const char *name, op_fn op, long n, int rounds, void *libc) {
  double direct = 1e30, bound = 1e30;
  for (int r = 0; r < rounds; r++) {
    set(0, libc);
    double d = round_of(op, n);
    set(1, libc);
    double b = round_of(op, n);
    direct = d < direct ? d : direct;
    bound = b < bound ? b : bound;
  }
  printf("%s_libc_ns %.2f\n%s_ns %.2f\n%s_added_ns %.2f\n", name, direct, name, bound, name,
         bound - direct);
}

int main(void) {
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (!libc)
    return 1;
  sem_init(&s, 0, 0);
  double rd = 1e30;
  for (int r = 0; r < 20; r++) {
    uint64_t t0 = now_ns(), sink = 0;
    for (long i = 0; i < 200000; i++)
      sink += __rdtsc();
    __asm__ volatile("" ::"r"(sink));
    double v = (double)(now_ns() - t0) / 200000.0;
    rd = v < rd ? v : rd;
  }
  printf("rdtsc_ns %.2f\n", rd);
  compare("lockpair", op_lockpair, 100000, 30, libc);
  compare("sempair", op_sempair, 100000, 30, libc);
  compare("cond_signal", op_signal, 100000, 30, libc);
  compare("dup_close", op_dupclose, 5000, 30, libc);
  compare("open_close", op_openclose, 5000, 30, libc);
  compare("pipe_close2", op_pipe, 2000, 30, libc);
  compare("socket_close", op_socket, 2000, 30, libc);
  if (pipe(pp) == 0)
    compare("pipe_write_read", op_pipe_rw, 20000, 30, libc);
  devnull = open("/dev/null", O_WRONLY);
  compare("devnull_write", op_devnull_write, 20000, 30, libc);
  ua.sun_family = AF_UNIX;
  snprintf(ua.sun_path, sizeof ua.sun_path, "/tmp/treerec_cost.%d", (int)getpid());
  ls = socket(AF_UNIX, SOCK_STREAM, 0);
  if (ls >= 0 && bind(ls, (struct sockaddr *)&ua, sizeof ua) == 0 && listen(ls, 16) == 0)
    compare("unix_connect_accept", op_unix_accept, 1000, 20, libc);
  unlink(ua.sun_path);
  return 0;
}
