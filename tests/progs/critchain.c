/* critchain: a request with a known critical path, for tests/test-critpath.c.
 * The main thread ("request") runs a task "request" that hands work to a
 * "worker" thread and waits for it on a condition variable; the worker
 * takes a mutex that a third thread ("holder") holds while it sleeps 20 ms.
 * Walking back from the task's end: request <- worker (woke it) <- holder
 * (its unlock woke the worker) asleep 20 ms. The holder starts its sleep
 * only once the worker is about to take the mutex, so that however the
 * threads are scheduled the worker blocks on it. Run under `ctrace run`. */
#include <ctrace.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* held by the holder */
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;    /* guards the flags */
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int held, go, trying, done;

static void *holder(void *arg) {
  (void)arg;
  ctrace_thread_set_name("holder");
  pthread_mutex_lock(&lock);
  pthread_mutex_lock(&m);
  held = 1;
  pthread_cond_broadcast(&cv);
  while (!trying) /* the worker is about to take the lock */
    pthread_cond_wait(&cv, &m);
  pthread_mutex_unlock(&m);
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *worker(void *arg) {
  (void)arg;
  ctrace_thread_set_name("worker");
  pthread_mutex_lock(&m);
  while (!go)
    pthread_cond_wait(&cv, &m);
  trying = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&m);
  pthread_mutex_lock(&lock); /* blocks until the holder wakes up */
  volatile unsigned x = 0;
  for (unsigned i = 0; i < 200000; i++) /* a little work */
    x += i;
  pthread_mutex_unlock(&lock);
  pthread_mutex_lock(&m);
  done = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&m);
  return NULL;
}

int main(void) {
  ctrace_thread_set_name("request");
  pthread_t h, w;
  pthread_create(&w, NULL, worker, NULL);
  pthread_create(&h, NULL, holder, NULL);
  pthread_mutex_lock(&m);
  while (!held)
    pthread_cond_wait(&cv, &m);
  pthread_mutex_unlock(&m);
  ctrace_task_t t = ctrace_task_begin(CTRACE_TASK_NONE, "request");
  pthread_mutex_lock(&m);
  go = 1;
  pthread_cond_broadcast(&cv);
  while (!done)
    pthread_cond_wait(&cv, &m);
  pthread_mutex_unlock(&m);
  ctrace_task_end(t);
  pthread_join(w, NULL);
  pthread_join(h, NULL);
  printf("critchain: done\n");
  return 0;
}
