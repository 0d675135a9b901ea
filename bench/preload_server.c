/*
 * preload_server.c - a syscall-heavy loopback request/response benchmark:
 * a server thread per connection answers each 64-byte request with a 64-byte
 * reply; CLIENTS client threads send REQUESTS requests each, one at a time.
 * Prints "req_per_s N" and "cpu_s N", the CPU time (user+sys) of the whole
 * process (every thread, a tracer's own included) while the clients ran. Run by bench/preload.sh untraced, under ctrace run
 * and under strace -f.
 *   preload_server [CLIENTS] [REQUESTS]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
static struct sockaddr_in addr;
static long requests;

static int full(ssize_t (*io)(int, void *, size_t, int), int fd, char *b) {
  size_t n = 0;
  while (n < MSG) {
    ssize_t k = io(fd, b + n, MSG - n, 0);
    if (k <= 0)
      return -1;
    n += (size_t)k;
  }
  return 0;
}

static ssize_t send_(int fd, void *b, size_t n, int fl) {
  return send(fd, b, n, fl);
}

static void *serve(void *arg) {
  int c = (int)(intptr_t)arg;
  char b[MSG];
  while (full(recv, c, b) == 0)
    if (full(send_, c, b) < 0)
      break;
  close(c);
  return NULL;
}

static void *acceptor(void *arg) {
  int l = (int)(intptr_t)arg;
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0)
      return NULL;
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t th;
    pthread_create(&th, NULL, serve, (void *)(intptr_t)c);
    pthread_detach(th);
  }
}

static void *client(void *arg) {
  (void)arg;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("connect");
    exit(1);
  }
  char b[MSG];
  memset(b, 'q', sizeof b);
  for (long i = 0; i < requests; i++)
    if (full(send_, s, b) < 0 || full(recv, s, b) < 0)
      exit(1);
  close(s);
  return NULL;
}

int main(int argc, char **argv) {
  int clients = argc > 1 ? atoi(argv[1]) : 2;
  requests = argc > 2 ? atol(argv[2]) : 20000;
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  socklen_t al = sizeof addr;
  if (bind(l, (struct sockaddr *)&addr, sizeof addr) || listen(l, 64) ||
      getsockname(l, (struct sockaddr *)&addr, &al))
    return 1;
  pthread_t acc, cl[64];
  pthread_create(&acc, NULL, acceptor, (void *)(intptr_t)l);
  struct timespec t0, t1, c0, c1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < clients && i < 64; i++)
    pthread_create(&cl[i], NULL, client, NULL);
  for (int i = 0; i < clients && i < 64; i++)
    pthread_join(cl[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("req_per_s %.0f\n", (double)clients * (double)requests / s);
  printf("cpu_s %.4f\n",
         (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9);
  return 0;
}
