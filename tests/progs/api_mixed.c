/* api_mixed: uses the ctrace API (a task and a log) and contends on a mutex:
 * under ctrace run both must land in the one trace. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "ctrace.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static volatile int held;

static void *holder(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  __atomic_store_n(&held, 1, __ATOMIC_RELEASE);
  /* Until main waits for the lock (glibc marks a lock with a waiter 2),
   * however loaded the machine; bounded at 10 s. */
  for (int i = 0; i < 10000 && __atomic_load_n(&lock.__data.__lock, __ATOMIC_ACQUIRE) != 2; i++)
    usleep(1000);
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  ctrace_task_t t = ctrace_task_begin(0, "job");
  pthread_t th;
  pthread_create(&th, NULL, holder, NULL);
  while (!__atomic_load_n(&held, __ATOMIC_ACQUIRE)) /* however loaded the machine */
    usleep(1000);
  pthread_mutex_lock(&lock); /* waits for holder */
  pthread_mutex_unlock(&lock);
  pthread_join(th, NULL);
  ctrace_log_str(t, "api", "done");
  ctrace_task_end(t);
  printf("enabled %d\n", ctrace_is_enabled());
  return 0;
}
