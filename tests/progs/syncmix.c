/* syncmix: one contention of each kind the preload covers beyond mutexes
 * and condvars: rwlock (writer held, reader waits), semaphore (count 0,
 * posted late), barrier, C11 mtx_t (held) and cnd_t (signalled late),
 * thrd_sleep; names itself "syncmix" with prctl(PR_SET_NAME). Prints the
 * objects' addresses. Each contention is made certain without relying on
 * timing: the holder releases only once the other thread said it is about
 * to block and the kernel shows it asleep (/proc/self/task/TID/stat). */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <threads.h>
#include <unistd.h>

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static sem_t sem;
static pthread_barrier_t bar;
static mtx_t m11;
static cnd_t c11;
static int flag;
static atomic_int step, main_holds_m11;
static atomic_int other_tid;

/* Returns once the other thread reached step s and sleeps in the kernel
 * (in the call it announced), plus a little: an interposer may sleep
 * briefly on its own lock before the real call. */
static void await_blocked(int s) {
  while (atomic_load(&step) < s)
    usleep(1000);
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", atomic_load(&other_tid));
  for (int tries = 0; tries < 10000; tries++) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
      fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    if (p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D'))
      break;
    usleep(1000);
  }
  usleep(10000);
}

static void *other(void *arg) {
  (void)arg;
  atomic_store(&other_tid, gettid());
  atomic_store(&step, 1); /* main holds the rwlock */
  pthread_rwlock_rdlock(&rw);
  pthread_rwlock_unlock(&rw);
  atomic_store(&step, 2);
  sem_wait(&sem);
  pthread_barrier_wait(&bar);
  while (!atomic_load(&main_holds_m11))
    usleep(1000);
  atomic_store(&step, 3);
  mtx_lock(&m11);
  mtx_unlock(&m11);
  mtx_lock(&m11);
  atomic_store(&step, 4);
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
  await_blocked(1);
  pthread_rwlock_unlock(&rw);
  await_blocked(2);
  sem_post(&sem);
  usleep(20000);
  pthread_barrier_wait(&bar);
  mtx_lock(&m11);
  atomic_store(&main_holds_m11, 1);
  await_blocked(3);
  mtx_unlock(&m11);
  struct timespec ts = {0, 20000000};
  thrd_sleep(&ts, NULL);
  await_blocked(4);
  mtx_lock(&m11);
  flag = 1;
  cnd_signal(&c11);
  mtx_unlock(&m11);
  pthread_join(th, NULL);
  printf("rw %p sem %p bar %p m11 %p c11 %p\n", (void *)&rw, (void *)&sem, (void *)&bar,
         (void *)&m11, (void *)&c11);
  return 0;
}
