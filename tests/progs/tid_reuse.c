/* tid_reuse: two threads of one process, one after the other, with the same
 * kernel tid. The second is created once the first has exited and its tid is
 * free, with /proc/sys/kernel/ns_last_pid set to the tid before it: that
 * needs root in a pid namespace of its own (run it under `unshare --pid
 * --fork --mount-proc`), where nothing else takes the number first.
 *
 * Each thread opens a region ("first.work", "second.work"), sleeps (20 ms,
 * then 30 ms) and waits on a condition variable until main wakes it (a
 * wake-up naming the tid). The first names itself "first"; main names the
 * second "second" from outside. Prints "tids A B" (equal when the reuse
 * worked) or "skip: why". Traced by tests/test-truth.c, under `ctrace run`
 * and with the API alone. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ctrace.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go, waiting;
static _Atomic long tid_now;

struct job {
  const char *region;
  long sleep_ms;
};

static void *body(void *arg) {
  const struct job *j = arg;
  tid_now = syscall(SYS_gettid);
  if (strcmp(j->region, "first.work") == 0)
    pthread_setname_np(pthread_self(), "first");
  ctrace_region_begin(j->region);
  struct timespec ts = {0, j->sleep_ms * 1000000L};
  nanosleep(&ts, NULL);
  pthread_mutex_lock(&lock);
  waiting = 1;
  while (!go)
    pthread_cond_wait(&cv, &lock);
  pthread_mutex_unlock(&lock);
  ctrace_region_end();
  return NULL;
}

static void pause_ms(long ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* Runs j on a new thread until it waits on cv, wakes it, joins it; its tid. */
static long run(struct job *j, const char *name) {
  pthread_t th;
  tid_now = 0;
  go = 0;
  waiting = 0;
  if (pthread_create(&th, NULL, body, j) != 0)
    return -1;
  if (name)
    pthread_setname_np(th, name);
  /* The thread holds the lock from setting waiting until its wait releases
   * it: holding the lock with waiting set, main knows the thread waits.
   * (Nothing reads /proc/self/task/TID: on Linux 6.18, having read it kept
   * the tid from reuse for a few ms after the thread was gone.) */
  pthread_mutex_lock(&lock);
  while (!waiting) {
    pthread_mutex_unlock(&lock);
    pause_ms(1);
    pthread_mutex_lock(&lock);
  }
  waiting = 0;
  long tid = tid_now;
  go = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&lock);
  pthread_join(th, NULL);
  return tid;
}

int main(void) {
  struct job a = {"first.work", 20}, b = {"second.work", 30};
  long ta = run(&a, NULL);
  /* pthread_join returns when the kernel clears the thread's tid word, a
   * little before the tid is free for another thread */
  while (syscall(SYS_tgkill, getpid(), ta, 0) == 0 || errno != ESRCH)
    pause_ms(1);
  FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
  if (!f || fprintf(f, "%ld", ta - 1) < 0 || fclose(f) != 0) {
    printf("skip: cannot write /proc/sys/kernel/ns_last_pid: %s\n", strerror(errno));
    return 0;
  }
  long tb = run(&b, "second");
  printf("tids %ld %ld\n", ta, tb);
  return 0;
}
