/* closeall: closes every fd from 3 up (a daemon's habit: a close loop, then
 * close_range and closefrom), prints how many fds from 3 to 4095 it then
 * finds open ("open N": 0, as untraced), then sleeps 5 ms: the sleep must
 * still be in the trace, and its context switches too. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int close_range(unsigned first, unsigned last, int flags);

int main(void) {
  for (int fd = 3; fd < 1024; fd++)
    close(fd);
  close_range(3, ~0u, 0);
  closefrom(3);
  int open_fds = 0;
  for (int fd = 3; fd < 4096; fd++)
    open_fds += fcntl(fd, F_GETFD) >= 0;
  printf("open %d\n", open_fds);
  fflush(stdout);
  struct timespec ts = {0, 5000000};
  nanosleep(&ts, NULL);
  return 0;
}
