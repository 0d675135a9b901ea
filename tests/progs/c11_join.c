/* c11_join: main joins, with C11 thrd_join, a thread that sleeps 50 ms and
 * returns 7; prints what the join gave. Traced by tests/test-preload.c. */
#include <stdio.h>
#include <threads.h>

static int child(void *arg) {
  (void)arg;
  thrd_sleep(&(struct timespec){0, 50000000}, NULL);
  return 7;
}

int main(void) {
  thrd_t th;
  int res = 0;
  if (thrd_create(&th, child, NULL) != thrd_success)
    return 1;
  int r = thrd_join(th, &res);
  printf("join %d res %d\n", r == thrd_success, res);
  return 0;
}
