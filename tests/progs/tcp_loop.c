/* tcp_loop: a server thread accepts one loopback connection and recv()s
 * until EOF; the client connect()s and send()s argv[1] chunks (default 50)
 * of 1000 bytes, then shutdown()s. Prints "sent S received R port P". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int lfd;
static long received;

static void *server(void *arg) {
  (void)arg;
  int c = accept(lfd, NULL, NULL);
  char buf[4096];
  ssize_t n;
  while ((n = recv(c, buf, sizeof buf, 0)) > 0)
    received += n;
  close(c);
  return NULL;
}

int main(int argc, char **argv) {
  int chunks = argc > 1 ? atoi(argv[1]) : 50;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t al = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1) ||
      getsockname(lfd, (struct sockaddr *)&a, &al)) {
    perror("tcp_loop");
    return 1;
  }
  pthread_t th;
  pthread_create(&th, NULL, server, NULL);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, (struct sockaddr *)&a, sizeof a)) {
    perror("connect");
    return 1;
  }
  char buf[1000];
  memset(buf, 'x', sizeof buf);
  long sent = 0;
  for (int i = 0; i < chunks; i++) {
    ssize_t n = send(c, buf, sizeof buf, 0);
    if (n > 0)
      sent += n;
  }
  shutdown(c, SHUT_WR);
  pthread_join(th, NULL);
  close(c);
  printf("sent %ld received %ld port %d\n", sent, received, ntohs(a.sin_port));
  return 0;
}
