/* crash: argv[1] "segv" dereferences NULL, "abort" calls abort(), "term"
 * waits for SIGTERM; before that it sleeps 5 ms (an event to find). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct timespec ts = {0, 5000000};
  nanosleep(&ts, NULL);
  if (argc > 1 && strcmp(argv[1], "abort") == 0)
    abort();
  if (argc > 1 && strcmp(argv[1], "term") == 0) {
    for (;;)
      pause();
  }
  volatile int *p = NULL;
  return *p;
}
