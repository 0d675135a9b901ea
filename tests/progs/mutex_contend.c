/* mutex_contend: N threads (argv[1], default 4) take one mutex M times each
 * (argv[2], default 200), holding it until another thread waits for it
 * (glibc marks the lock word 2 once a waiter is in the kernel; at most
 * 100 ms, and not when no other thread is left), then ~50 us more, then
 * sleeping ~50 us outside it, so that a woken waiter takes the lock before
 * its releaser comes back (glibc mutexes are not fair: without the sleep
 * one thread keeps the lock). Every lock but the last few is contended,
 * however the machine schedules the threads (a loaded 2-CPU machine ran
 * them one at a time, and only 17 of 800 locks met another thread).
 * argv[3] "short": hold it ~10 us and spin ~2 us outside instead (short
 * critical sections, the waiters' futex path; no waiting for a waiter).
 * Prints the final counter. Traced by tests/test-preload.c. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static int iters;
static int hold_us = 50, out_us, short_sections;

static void spin_us(int us) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do
    clock_gettime(CLOCK_MONOTONIC, &b);
  while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static pthread_barrier_t start;
static atomic_int looping; /* threads not yet past their last lock */

/* Until a waiter sleeps on the lock (glibc's lock word: 0 free, 1 held,
 * 2 held with waiters), while another thread may still come (others:
 * the threads still looping besides the caller), for at most 100 ms. */
static void await_waiter(int self_looping) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  while (__atomic_load_n(&lock.__data.__lock, __ATOMIC_RELAXED) != 2 &&
         atomic_load(&looping) - self_looping > 0) {
    clock_gettime(CLOCK_MONOTONIC, &b);
    if ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) > 100000000L)
      break;
    sched_yield();
  }
}

static void *worker(void *arg) {
  (void)arg;
  pthread_barrier_wait(&start); /* all contend from the first lock */
  for (int i = 0; i < iters; i++) {
    pthread_mutex_lock(&lock);
    if (i == iters - 1)
      atomic_fetch_sub(&looping, 1);
    counter++;
    if (!short_sections)
      await_waiter(i < iters - 1);
    spin_us(hold_us);
    pthread_mutex_unlock(&lock);
    if (short_sections)
      spin_us(out_us);
    else
      usleep(50); /* outside the lock: a woken waiter gets its turn */
  }
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4;
  iters = argc > 2 ? atoi(argv[2]) : 200;
  if (argc > 3 && argv[3][0] == 's') {
    short_sections = 1;
    hold_us = argc > 4 ? atoi(argv[4]) : 10;
    out_us = argc > 5 ? atoi(argv[5]) : 2;
  }
  pthread_t th[64];
  if (n > 64)
    n = 64;
  pthread_barrier_init(&start, NULL, (unsigned)n);
  atomic_store(&looping, n);
  for (int i = 0; i < n; i++)
    pthread_create(&th[i], NULL, worker, NULL);
  for (int i = 0; i < n; i++)
    pthread_join(th[i], NULL);
  printf("counter %ld mutex %p\n", counter, (void *)&lock);
  return 0;
}
