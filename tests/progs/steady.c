/*
 * steady: records steadily (a 1 ms sleep after another, each a WAIT event)
 * for argv[1] ms of its own clock (default 3000), prints how many, then
 * kills itself with SIGKILL: no exit handler, no signal handler runs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  long long ms = argc > 1 ? atoll(argv[1]) : 3000;
  long long t0 = now_ms();
  long n = 0;
  struct timespec d = {0, 1000000};
  while (now_ms() - t0 < ms) {
    nanosleep(&d, NULL);
    n++;
  }
  printf("sleeps %ld\n", n);
  fflush(stdout);
  kill(getpid(), SIGKILL);
  return 0;
}
