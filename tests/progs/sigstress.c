/* sigstress: a 2 kHz timer signal whose handler calls interposed
 * functions (write, nanosleep, mutex lock/unlock) while the main thread
 * loops over the same calls: an event interrupted mid-write must not be
 * corrupted, and nothing may deadlock or recurse. Prints "done N". */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int devnull;
static volatile sig_atomic_t hits;
static pthread_mutex_t hm = PTHREAD_MUTEX_INITIALIZER;

static void on_alarm(int sig) {
  (void)sig;
  struct timespec z = {0, 0};
  write(devnull, "s", 1);
  nanosleep(&z, NULL);
  if (pthread_mutex_trylock(&hm) == 0)
    pthread_mutex_unlock(&hm);
  hits++;
}

int main(void) {
  devnull = open("/dev/null", O_WRONLY);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 500}, {0, 500}};
  setitimer(ITIMER_REAL, &it, NULL);
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  struct timespec z = {0, 0};
  for (int i = 0; i < 200000 && hits < 500; i++) {
    write(devnull, "m", 1);
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    if (i % 64 == 0)
      nanosleep(&z, NULL);
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  printf("done %d\n", hits > 0);
  return 0;
}
