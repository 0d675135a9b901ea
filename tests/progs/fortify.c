/* fortify: built with -D_FORTIFY_SOURCE=2 -O2, as distribution binaries
 * are: read() into a buffer of known size becomes __read_chk, recv()
 * becomes __recv_chk. Reads 16 bytes from /dev/zero, and recv()s 5 bytes
 * over a socketpair. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char buf[64];
  size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 16; /* not a constant */
  int fd = open("/dev/zero", O_RDONLY);
  ssize_t r = read(fd, buf, n);
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  write(sv[0], "hello", 5);
  ssize_t k = recv(sv[1], buf, n, 0);
  printf("read %zd recv %zd\n", r, k);
  return 0;
}
