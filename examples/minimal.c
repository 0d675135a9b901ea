/*
 * minimal.c - the smallest traced program: start, sleep 100 ms, stop.
 * Usage: minimal [TRACE]   (default trace.ctrace)
 */
#include <ctrace.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "trace.ctrace";
  /* Under `ctrace run` or CTRACE_OUT a trace already runs: this program's
   * events join it (start and stop then succeed without doing anything). */
  int traced_outside = ctrace_is_enabled();
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
  printf("minimal: trace written to %s\n", traced_outside ? "the running trace" : path);
  return 0;
}
