/*
 * malloc_loop: two threads loop on malloc/free of 2-5 KB blocks and take a
 * shared mutex now and then (events to record), while main prints
 * "ready PID" and then, by argv[1]:
 *   "wait"       waits to be killed (gives up after 20 s, exit 0);
 *   "doublefree" frees one block twice (glibc aborts: SIGABRT);
 *   "segv"       dereferences NULL from a third thread;
 *   "exit"       a third thread calls exit(3) while the loops run.
 * Under a tracer whose fatal-signal path locks or allocates, a signal that
 * lands inside malloc deadlocks this program.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long sink;

static void *loop(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  for (unsigned long i = 0;; i++) {
    size_t n = 2048 + (size_t)(rand_r(&seed) % 3072);
    char *p = malloc(n);
    if (p) {
      memset(p, (int)i, n);
      sink += (unsigned char)p[n / 2];
      free(p);
    }
    if (i % 64 == 0) {
      pthread_mutex_lock(&mu);
      sink++;
      pthread_mutex_unlock(&mu);
    }
  }
  return NULL;
}

static void *segv(void *arg) {
  (void)arg;
  volatile int *p = NULL;
  sink = (unsigned long)*p;
  return NULL;
}

static void *exiter(void *arg) {
  (void)arg;
  struct timespec d = {0, 20000000};
  nanosleep(&d, NULL);
  exit(3);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "wait";
  pthread_t t[3];
  pthread_create(&t[0], NULL, loop, (void *)1);
  pthread_create(&t[1], NULL, loop, (void *)2);
  printf("ready %ld\n", (long)getpid());
  fflush(stdout);
  struct timespec d = {0, 10000000};
  nanosleep(&d, NULL);
  if (strcmp(mode, "doublefree") == 0) {
    char *volatile p = malloc(3000);
    free(p);
    free(p);
  } else if (strcmp(mode, "segv") == 0) {
    pthread_create(&t[2], NULL, segv, NULL);
  } else if (strcmp(mode, "exit") == 0) {
    pthread_create(&t[2], NULL, exiter, NULL);
  }
  for (int i = 0; i < 2000; i++)
    nanosleep(&d, NULL);
  return 0;
}
