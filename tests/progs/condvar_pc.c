/* condvar_pc: one producer, one consumer, a one-slot queue on a condvar;
 * argv[1] items (default 100). The consumer names itself "consumer". Prints
 * the sum of consumed items. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int full, item, done;
static long sum;

static void *consumer(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "consumer");
  for (;;) {
    pthread_mutex_lock(&lock);
    while (!full && !done)
      pthread_cond_wait(&cond, &lock);
    if (!full && done) {
      pthread_mutex_unlock(&lock);
      return NULL;
    }
    sum += item;
    full = 0;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
  }
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  pthread_t th;
  pthread_create(&th, NULL, consumer, NULL);
  for (int i = 1; i <= n; i++) {
    usleep(200); /* the consumer is waiting by the time an item comes */
    pthread_mutex_lock(&lock);
    while (full)
      pthread_cond_wait(&cond, &lock);
    item = i;
    full = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
  }
  pthread_mutex_lock(&lock);
  done = 1;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
  pthread_join(th, NULL);
  printf("sum %ld cond %p\n", sum, (void *)&cond);
  return 0;
}
