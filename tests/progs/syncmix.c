/* syncmix: one contention of each kind the preload covers beyond mutexes
 * and condvars, each made certain by a holder that keeps the object ~50 ms
 * while the other thread blocks on it: rwlock (writer held, reader waits),
 * semaphore (count 0, posted late), barrier, C11 mtx_t (held) and cnd_t
 * (signalled late), thrd_sleep; names itself "syncmix" with
 * prctl(PR_SET_NAME). Prints the objects' addresses. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <threads.h>
#include <unistd.h>

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static sem_t sem;
static pthread_barrier_t bar;
static mtx_t m11;
static cnd_t c11;
static int flag;

static void *other(void *arg) {
  (void)arg;
  usleep(5000); /* main holds the rwlock by now */
  pthread_rwlock_rdlock(&rw);
  pthread_rwlock_unlock(&rw);
  sem_wait(&sem);
  pthread_barrier_wait(&bar);
  usleep(5000); /* main holds m11 */
  mtx_lock(&m11);
  mtx_unlock(&m11);
  mtx_lock(&m11);
  while (!flag)
    cnd_wait(&c11, &m11);
  mtx_unlock(&m11);
  return NULL;
}

int main(void) {
  prctl(PR_SET_NAME, "syncmix");
  sem_init(&sem, 0, 0);
  pthread_barrier_init(&bar, NULL, 2);
  mtx_init(&m11, mtx_plain);
  cnd_init(&c11);
  pthread_t th;
  pthread_rwlock_wrlock(&rw);
  pthread_create(&th, NULL, other, NULL);
  usleep(50000); /* long holds: the other thread blocks even when late */
  pthread_rwlock_unlock(&rw);
  usleep(50000);
  sem_post(&sem);
  usleep(20000);
  pthread_barrier_wait(&bar);
  mtx_lock(&m11);
  usleep(50000);
  mtx_unlock(&m11);
  struct timespec ts = {0, 20000000};
  thrd_sleep(&ts, NULL);
  mtx_lock(&m11);
  flag = 1;
  cnd_signal(&c11);
  mtx_unlock(&m11);
  pthread_join(th, NULL);
  printf("rw %p sem %p bar %p m11 %p c11 %p\n", (void *)&rw, (void *)&sem, (void *)&bar,
         (void *)&m11, (void *)&c11);
  return 0;
}
