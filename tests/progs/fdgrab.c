/*
 * fdgrab: uses fd 100 (where `ctrace run` first puts its trace) as shell
 * idioms do: closes it before opening anything (EBADF: never opened), puts
 * the file argv[1] on it with dup2, writes through it and through an
 * F_DUPFD copy at or above 100, closes both, closes 100 again (EBADF).
 * Prints every result; the output and the file must match untraced runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2)
    return 2;
  int r = close(100);
  printf("close 100: %d %s\n", r, r < 0 ? strerrorname_np(errno) : "");
  r = fcntl(100, F_GETFD);
  printf("getfd 100: %d %s\n", r, r < 0 ? strerrorname_np(errno) : "");
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  printf("dup2: %d\n", dup2(fd, 100));
  close(fd);
  printf("write: %zd\n", write(100, "payload 1\n", 10));
  int d = fcntl(100, F_DUPFD, 100);
  printf("dupfd: %d\n", d);
  printf("write: %zd\n", write(d, "payload 2\n", 10));
  int d3 = dup3(d, 100, O_CLOEXEC);
  printf("dup3: %d\n", d3);
  printf("write: %zd\n", write(100, "payload 3\n", 10));
  printf("close %d: %d\n", d, close(d));
  printf("close 100: %d\n", close(100));
  r = close(100);
  printf("close 100: %d %s\n", r, r < 0 ? strerrorname_np(errno) : "");
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, NULL); /* an event after all that */
  return 0;
}
