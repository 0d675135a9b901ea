/*
 * minimal.c - the smallest traced program: start, sleep 100 ms, stop.
 * Usage: minimal [TRACE]   (default trace.ctrace)
 */
#include <ctrace.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "trace.ctrace";
  int err = ctrace_start_path(path);
  if (err) {
    fprintf(stderr, "minimal: ctrace: %s\n", ctrace_strerror(err));
    return 1;
  }
  ctrace_region_begin("sleep");
  struct timespec ts = {0, 100 * 1000 * 1000};
  nanosleep(&ts, NULL);
  ctrace_region_end();
  err = ctrace_stop();
  if (err) {
    fprintf(stderr, "minimal: ctrace: %s\n", ctrace_strerror(err));
    return 1;
  }
  printf("minimal: trace written to %s\n", path);
  return 0;
}
