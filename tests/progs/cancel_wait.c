/* cancel_wait: thread A waits on a condvar and is cancelled inside the wait;
 * then thread B waits on the same condvar and main signals it. Prints both
 * threads' tids and the condvar's address. The trace must name B, never
 * the gone A, as the woken thread. Traced by tests/test-preload.c. */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, ready_cv = PTHREAD_COND_INITIALIZER;
static int ready, go;
static long tids[2];

static void unlock(void *m) {
  pthread_mutex_unlock(m);
}

static void *waiter(void *arg) {
  long k = (long)arg;
  tids[k] = syscall(SYS_gettid);
  pthread_mutex_lock(&lock);
  pthread_cleanup_push(unlock, &lock);
  ready = 1;
  pthread_cond_signal(&ready_cv);
  while (!go)
    pthread_cond_wait(&cv, &lock);
  pthread_cleanup_pop(1);
  return NULL;
}

/* Starts waiter k and returns once it is inside pthread_cond_wait. */
static pthread_t start(long k) {
  pthread_t th;
  pthread_mutex_lock(&lock);
  ready = 0;
  pthread_create(&th, NULL, waiter, (void *)k);
  while (!ready)
    pthread_cond_wait(&ready_cv, &lock);
  pthread_mutex_unlock(&lock);
  return th;
}

int main(void) {
  pthread_t a = start(0);
  pthread_cancel(a);
  pthread_join(a, NULL);
  pthread_t b = start(1);
  pthread_mutex_lock(&lock);
  go = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&lock);
  pthread_join(b, NULL);
  printf("a %ld b %ld cond %p\n", tids[0], tids[1], (void *)&cv);
  return 0;
}
