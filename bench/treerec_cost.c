/*
 * treerec_cost.c - per-call cost of the calls that link processes
 * (src/preload/flow.c, the process-shared checks of src/preload/sync.c),
 * measured in one process as bench/preload_mutex.c measures: libc's
 * function against the name the program binds to (the interposer under
 * LD_PRELOAD), in alternating rounds, fastest round of each; beside one
 * rdtsc. Run it untraced, under `ctrace run`, and under an older preload
 * library to see what one change added. Prints "NAME_libc_ns",
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
  return 0;
}
