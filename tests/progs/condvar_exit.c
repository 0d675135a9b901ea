/* condvar_exit: a worker waits on a condition variable that is never
 * signalled, another reads a socket nobody writes to and a third waits in
 * epoll_wait for it, while main sleeps argv[1] ms (default 300) and calls
 * exit(0): all three are still blocked when the trace stops. main starts
 * sleeping only once the first worker is inside pthread_cond_wait (it
 * holds the mutex until the wait releases it) and the kernel shows the
 * others inside read() and epoll_wait(). Prints the condvar's address,
 * the socket's fd and the epoll fd. Traced by tests/test-preload.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int ready, go;

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  ready = 1;
  pthread_cond_signal(&ready_cv);
  while (!go)
    pthread_cond_wait(&never, &lock);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static int sv[2];
static _Atomic long reader_tid;

static void *reader(void *arg) {
  (void)arg;
  char c;
  reader_tid = syscall(SYS_gettid);
  if (read(sv[0], &c, 1) < 0)
    return NULL;
  return NULL;
}

static int ep;
static _Atomic long poller_tid;

static void *poller(void *arg) {
  (void)arg;
  struct epoll_event ev;
  poller_tid = syscall(SYS_gettid);
  if (epoll_wait(ep, &ev, 1, -1) < 0)
    return NULL;
  return NULL;
}

/* Is thread tid blocked in system call nr (or nr2) now? */
static int in_call(long tid, long nr, long nr2) {
  char path[64], buf[64] = "";
  snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  /* "running" (not in a system call) would read as 0, SYS_read */
  int yes = fgets(buf, sizeof buf, f) && buf[0] >= '0' && buf[0] <= '9' &&
            (atol(buf) == nr || atol(buf) == nr2);
  fclose(f);
  return yes;
}

int main(int argc, char **argv) {
  int ms = argc > 1 ? atoi(argv[1]) : 300;
  pthread_t th, rd, pl;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    return 1;
  ep = epoll_create1(0);
  struct epoll_event want = {.events = EPOLLIN};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &want) != 0)
    return 1;
  pthread_create(&rd, NULL, reader, NULL);
  pthread_create(&pl, NULL, poller, NULL);
  while (!reader_tid || !in_call(reader_tid, SYS_read, SYS_read) || !poller_tid ||
         !in_call(poller_tid, SYS_epoll_wait, SYS_epoll_pwait)) {
    struct timespec ms1 = {0, 1000000};
    nanosleep(&ms1, NULL);
  }
  pthread_create(&th, NULL, worker, NULL);
  pthread_mutex_lock(&lock);
  while (!ready)
    pthread_cond_wait(&ready_cv, &lock);
  pthread_mutex_unlock(&lock); /* the worker is now inside its wait */
  printf("cond %p fd %d ep %d\n", (void *)&never, sv[0], ep);
  fflush(stdout);
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  exit(0);
}
