/*
 * unwind_client.c - a bounded memcached client for bench/unwind.sh: THREADS
 * connections to 127.0.0.1:PORT, each doing REQUESTS set+get pairs of
 * 100-byte values over the text protocol, then exits (status 1 when a reply
 * is not the expected one).
 *   unwind_client PORT [THREADS [REQUESTS]]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port, requests;
static int failed;

/* Reads until the buffer ends with `end`. */
static int read_until(int s, char *buf, size_t cap, const char *end) {
  size_t n = 0, e = strlen(end);
  while (n < cap - 1) {
    ssize_t k = recv(s, buf + n, cap - 1 - n, 0);
    if (k <= 0)
      return -1;
    n += (size_t)k;
    buf[n] = 0;
    if (n >= e && memcmp(buf + n - e, end, e) == 0)
      return 0;
  }
  return -1;
}

static void *client(void *arg) {
  int id = (int)(intptr_t)arg;
  int s = -1;
  for (int tries = 0; tries < 200 && s < 0; tries++) {
    s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
      close(s);
      s = -1;
      usleep(20000);
    }
  }
  if (s < 0) {
    failed = 1;
    return NULL;
  }
  char value[101], req[512], buf[1024];
  memset(value, 'a' + id % 26, 100);
  value[100] = 0;
  for (int i = 0; i < requests; i++) {
    int n = snprintf(req, sizeof req, "set k%d_%d 0 0 100\r\n%s\r\n", id, i % 64, value);
    if (send(s, req, (size_t)n, 0) != n || read_until(s, buf, sizeof buf, "\r\n") ||
        strcmp(buf, "STORED\r\n")) {
      failed = 1;
      break;
    }
    n = snprintf(req, sizeof req, "get k%d_%d\r\n", id, i % 64);
    if (send(s, req, (size_t)n, 0) != n || read_until(s, buf, sizeof buf, "END\r\n")) {
      failed = 1;
      break;
    }
  }
  close(s);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: unwind_client PORT [THREADS [REQUESTS]]\n");
    return 2;
  }
  port = atoi(argv[1]);
  int threads = argc > 2 ? atoi(argv[2]) : 2;
  requests = argc > 3 ? atoi(argv[3]) : 2000;
  pthread_t th[64];
  if (threads < 1 || threads > 64)
    threads = 2;
  for (int i = 0; i < threads; i++)
    pthread_create(&th[i], NULL, client, (void *)(intptr_t)i);
  for (int i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
  return failed;
}
