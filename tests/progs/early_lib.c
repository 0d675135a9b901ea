/* early_lib: a library whose constructor runs before libctrace-preload's
 * (the loader initialises the program's own dependencies first) and calls
 * interposed functions: they must resolve the real function on the spot. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static int ran;

/* Called by early_main, which also keeps the library linked. */
int early_ran(void) {
  return ran;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void early(void) {
  pthread_mutex_lock(&m);
  pthread_mutex_unlock(&m);
  struct timespec ts = {0, 1000};
  nanosleep(&ts, NULL);
  if (write(1, "early\n", 6) != 6)
    _exit(3);
  ran = 1;
}
