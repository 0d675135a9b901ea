/*
 * thread_names: main creates 8 threads on one CPU and names each with
 * pthread_setname_np right after pthread_create, most likely before the
 * thread first ran (memcached names its workers so); a thread created
 * before any other names itself with prctl(PR_SET_NAME). The threads wait
 * on a barrier until all are named. Prints "tid name" per thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N 8
static pthread_barrier_t all_named;
static long tids[N + 1];

static void *worker(void *arg) {
  long i = (long)arg;
  tids[i] = syscall(SYS_gettid);
  if (i == N)
    prctl(PR_SET_NAME, "self-named", 0, 0, 0);
  pthread_barrier_wait(&all_named);
  return NULL;
}

int main(void) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  sched_setaffinity(0, sizeof one, &one); /* the new threads wait for main's CPU */
  pthread_barrier_init(&all_named, NULL, N + 2);
  pthread_t th[N + 1];
  pthread_create(&th[N], NULL, worker, (void *)(long)N);
  for (long i = 0; i < N; i++) {
    char name[16];
    snprintf(name, sizeof name, "worker-%ld", i);
    if (pthread_create(&th[i], NULL, worker, (void *)i) != 0 || pthread_setname_np(th[i], name) != 0)
      return 1;
  }
  pthread_barrier_wait(&all_named);
  for (int i = 0; i <= N; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i <= N; i++)
    printf("%ld %s\n", tids[i], i == N ? "self-named" : "worker");
  return 0;
}
