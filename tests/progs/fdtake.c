/* fdtake: finds the tracer's perf event fds in /proc/self/fd (none
 * untraced), puts its own copy of stdout on each with dup2, closes each,
 * then sleeps 3 ms. Prints "took 0" untraced, else "took N closed N": the
 * program may take any number, and its close() of its own file works. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  int fds[256], n = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL && n < 256) {
    char path[300], link[128];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(path, link, sizeof link - 1);
    if (k > 0) {
      link[k] = 0;
      if (strstr(link, "perf_event"))
        fds[n++] = atoi(e->d_name);
    }
  }
  if (d)
    closedir(d);
  int took = 0, closed = 0;
  for (int i = 0; i < n; i++) {
    took += dup2(1, fds[i]) == fds[i];
    closed += close(fds[i]) == 0;
  }
  if (n)
    printf("took %d closed %d\n", took, closed);
  else
    printf("took 0\n");
  struct timespec ts = {0, 3000000};
  nanosleep(&ts, NULL);
  return 0;
}
