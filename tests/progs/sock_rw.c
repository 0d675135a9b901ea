/* sock_rw: N (argv[1], default 100) rounds of write() then read() of 1000
 * bytes over a socket pair, each round also once through writev()/readv(),
 * then one write() to a regular file (argv[2]): the socket calls are
 * network I/O, the file's is file I/O. The socket's fds are closed first,
 * so the file reuses their numbers.
 * Prints the bytes moved on the socket. Traced by tests/test-preload.c. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  const char *file = argc > 2 ? argv[2] : "/tmp/sock_rw.out";
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    return 1;
  char buf[1000], in[1000];
  memset(buf, 'x', sizeof buf);
  long moved = 0;
  for (int i = 0; i < n; i++) {
    if (write(sv[0], buf, sizeof buf) != (ssize_t)sizeof buf)
      return 1;
    size_t got = 0;
    while (got < sizeof in) {
      ssize_t r = read(sv[1], in + got, sizeof in - got);
      if (r <= 0)
        return 1;
      got += (size_t)r;
    }
    struct iovec v = {buf, sizeof buf}, w = {in, sizeof in};
    if (writev(sv[1], &v, 1) != (ssize_t)sizeof buf || readv(sv[0], &w, 1) <= 0)
      return 1;
    moved += 2 * (long)sizeof buf;
  }
  close(sv[0]);
  close(sv[1]);
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
    return 1;
  close(fd);
  unlink(file);
  printf("moved %ld\n", moved);
  return 0;
}
