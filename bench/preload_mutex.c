/*
 * preload_mutex.c - benchmarks for `ctrace run` (bench/preload.sh runs them
 * untraced and traced and prints the table).
 *
 *   preload_mutex contended [LOCKS]   2 threads, 4 shared mutexes, critical
 *                                     sections of a few dozen ns; prints
 *                                     "contended_ns TOTAL".
 *   preload_mutex micro               per-call costs in one process: one
 *                                     rdtsc, an uncontended lock+unlock pair,
 *                                     a 1-byte write to /dev/null; prints
 *                                     "rdtsc_ns X", "lockpair_ns Y",
 *                                     "write_ns Z" (best of 5 rounds each).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define NLOCKS 4
static pthread_mutex_t locks[NLOCKS] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                        PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};
static volatile uint64_t shared[NLOCKS * 8];
static long per_thread;

static void *contend(void *arg) {
  unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
  for (long i = 0; i < per_thread; i++) {
    x = x * 1103515245u + 12345u;
    unsigned k = (x >> 16) % NLOCKS;
    pthread_mutex_lock(&locks[k]);
    for (int j = 0; j < 8; j++)
      shared[k * 8 + j] += (uint64_t)j;
    pthread_mutex_unlock(&locks[k]);
  }
  return NULL;
}

static void contended(long total) {
  per_thread = total / 2;
  pthread_t th[2];
  uint64_t t0 = now_ns();
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, contend, (void *)(uintptr_t)i);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  printf("contended_ns %llu\n", (unsigned long long)(now_ns() - t0));
}

static double best_of(double (*fn)(long), long n) {
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    double v = fn(n);
    if (v < best)
      best = v;
  }
  return best;
}

static double rdtsc_round(long n) {
  uint64_t t0 = now_ns(), sink = 0;
  for (long i = 0; i < n; i++)
    sink += __rdtsc();
  __asm__ volatile("" ::"r"(sink));
  return (double)(now_ns() - t0) / (double)n;
}

static pthread_mutex_t solo = PTHREAD_MUTEX_INITIALIZER;
static double lockpair_round(long n) {
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) {
    pthread_mutex_lock(&solo);
    pthread_mutex_unlock(&solo);
  }
  return (double)(now_ns() - t0) / (double)n;
}

static int devnull;
static double write_round(long n) {
  char c = 'x';
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++)
    if (write(devnull, &c, 1) != 1)
      abort();
  return (double)(now_ns() - t0) / (double)n;
}

static void *idle_thread(void *arg) {
  (void)arg;
  for (;;)
    pause();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "contended") == 0) {
    contended(argc > 2 ? atol(argv[2]) : 1000000);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "micro") == 0) {
    /* An idle second thread, as the traced run has (the trace writer):
     * glibc skips atomics in single-threaded processes, which would make
     * the untraced baseline unfairly cheap. */
    pthread_t idle;
    pthread_create(&idle, NULL, idle_thread, NULL);
    devnull = open("/dev/null", O_WRONLY);
    printf("rdtsc_ns %.2f\n", best_of(rdtsc_round, 10000000));
    printf("lockpair_ns %.2f\n", best_of(lockpair_round, 10000000));
    printf("write_ns %.2f\n", best_of(write_round, 300000));
    return 0;
  }
  fprintf(stderr, "usage: preload_mutex contended [LOCKS] | micro\n");
  return 2;
}
