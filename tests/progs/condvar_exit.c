/* condvar_exit: a worker waits on a condition variable that is never
 * signalled while main sleeps argv[1] ms (default 300) and calls exit(0):
 * the worker is still blocked when the trace stops. main starts sleeping
 * only once the worker is inside pthread_cond_wait (it holds the mutex
 * until the wait releases it). Prints the condvar's address. Traced by
 * tests/test-preload.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

int main(int argc, char **argv) {
  int ms = argc > 1 ? atoi(argv[1]) : 300;
  pthread_t th;
  pthread_create(&th, NULL, worker, NULL);
  pthread_mutex_lock(&lock);
  while (!ready)
    pthread_cond_wait(&ready_cv, &lock);
  pthread_mutex_unlock(&lock); /* the worker is now inside its wait */
  printf("cond %p\n", (void *)&never);
  fflush(stdout);
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  exit(0);
}
