/* sleeper: sleeps of known length: nanosleep 50 ms, usleep 30 ms,
 * clock_nanosleep 20 ms, in that order. */
#include <time.h>
#include <unistd.h>

int main(void) {
  struct timespec ts = {0, 50000000};
  nanosleep(&ts, NULL);
  usleep(30000);
  ts.tv_nsec = 20000000;
  clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
  return 0;
}
