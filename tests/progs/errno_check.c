/* errno_check: every interposed call leaves errno exactly as libc would:
 * failing calls keep their error even when recorded, succeeding
 * pthread/sleep calls keep the caller's value. Prints "ok" or the first
 * mismatch. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define CHECK(call, want)                                                      \
  do {                                                                         \
    errno = 4242;                                                              \
    (void)(call);                                                              \
    if (errno != (want)) {                                                     \
      printf("%s: errno %d, want %d\n", #call, errno, (want));                 \
      return 1;                                                                \
    }                                                                          \
  } while (0)

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

int main(void) {
  char b[4];
  sem_t s;
  sem_init(&s, 0, 0);
  CHECK(read(-1, b, 1), EBADF);
  CHECK(write(-1, b, 1), EBADF);
  CHECK(close(-1), EBADF);
  CHECK(fsync(-1), EBADF);
  CHECK(pthread_mutex_lock(&m), 4242);
  CHECK(pthread_mutex_unlock(&m), 4242);
  CHECK(sem_post(&s), 4242);
  CHECK(sem_wait(&s), 4242);
  CHECK(sem_trywait(&s), EAGAIN);
  struct timespec ts = {0, 1000};
  CHECK(nanosleep(&ts, NULL), 4242);
  CHECK(usleep(1), 4242);
  printf("ok\n");
  return 0;
}
