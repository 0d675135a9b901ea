/* closeall: closes every fd from 3 up (a daemon's habit: a close loop, then
 * close_range and closefrom), then sleeps 5 ms: the sleep must still be in
 * the trace. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int close_range(unsigned first, unsigned last, int flags);

int main(void) {
  for (int fd = 3; fd < 1024; fd++)
    close(fd);
  close_range(3, ~0u, 0);
  closefrom(3);
  struct timespec ts = {0, 5000000};
  nanosleep(&ts, NULL);
  return 0;
}
