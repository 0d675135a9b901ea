/*
 * nofp_chain.c - built as distribution binaries are (-O2 -fomit-frame-pointer):
 * a chain of functions, each keeping values across its call (pushes, stack
 * adjustments), ends in a blocking call. For the stacks tests
 * (tests/test-stacks.c), under `ctrace run`:
 *   main -> chain_outer -> chain_middle -> chain_inner -> nanosleep
 *   a thread: chain_thread -> chain_outer -> ... -> nanosleep
 *   a thread with a 16 KiB stack: tiny_recurse x 20 -> nanosleep
 *   SIGUSR1 raised from signal_raiser: on_signal -> signal_sleep -> nanosleep
 *     (the walk crosses the signal frame back into signal_raiser)
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

volatile int sink;

static void nap(void) {
  struct timespec ts = {0, 200000};
  nanosleep(&ts, NULL);
}

__attribute__((noinline)) int chain_inner(int x) {
  volatile char buf[200]; /* a frame of its own: rsp moves */
  memset((char *)buf, x, sizeof buf);
  nap();
  return buf[x % 200] + x;
}

__attribute__((noinline)) int chain_middle(int x) {
  int a = x * 3, b = x ^ 5, c = x + 11;
  int r = chain_inner(a + b); /* a, b, c live across the call: pushed */
  return r + a * b - c;
}

__attribute__((noinline)) int chain_outer(int x) {
  volatile long big[64];
  big[x & 63] = x;
  int r = chain_middle(x + (int)big[x & 63]);
  return r * 2 + (int)big[(x + 1) & 63];
}

__attribute__((noinline)) void *chain_thread(void *arg) {
  sink = chain_outer((int)(long)arg);
  return NULL;
}

__attribute__((noinline)) int tiny_recurse(int depth) {
  volatile char pad[64];
  pad[depth & 63] = (char)depth;
  if (depth == 0) {
    nap();
    return pad[0];
  }
  return tiny_recurse(depth - 1) + pad[depth & 63];
}

static void *tiny_thread(void *arg) {
  sink = tiny_recurse(20);
  return arg;
}

__attribute__((noinline)) int signal_sleep(int x) {
  volatile int v = x;
  nap();
  return v + 1;
}

static void on_signal(int sig) {
  sink = signal_sleep(sig);
}

__attribute__((noinline)) int signal_raiser(int x) {
  volatile int v = x;
  raise(SIGUSR1);
  return v * 2;
}

int main(void) {
  signal(SIGUSR1, on_signal);
  for (int i = 0; i < 3; i++)
    sink = chain_outer(i + 1);
  pthread_t th;
  pthread_create(&th, NULL, chain_thread, (void *)7L);
  pthread_join(th, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan's redzones make every frame, the walker's too, several times bigger */
  pthread_attr_setstacksize(&attr, 8 * PTHREAD_STACK_MIN);
#else
  pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
#endif
  if (pthread_create(&th, &attr, tiny_thread, NULL) == 0)
    pthread_join(th, NULL);
  sink = signal_raiser(3);
  printf("done %d\n", sink != 0);
  return 0;
}
