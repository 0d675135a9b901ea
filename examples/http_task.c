/*
 * http_task.c - a small threaded HTTP server that traces each request as a
 * task, like the net/http + runtime/trace example every Go newcomer writes.
 * The handler runs in its own thread, wraps the request in a task
 * "handleRequest", and spends 50 ms in a region "db.query" (a sleep standing
 * in for a database). main() starts the trace, starts the server on a free
 * loopback port, fires requests at itself, and stops the trace.
 *
 * A counter "requests.in_flight" says how many requests are being handled.
 *
 * Usage: http_task [TRACE [REQUESTS]]   (default trace.ctrace, 1 request)
 */
#include <arpa/inet.h>
#include <ctrace.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_int in_flight;

static void *handle(void *arg) {
  int fd = (int)(intptr_t)arg;
  ctrace_thread_set_name("handler");
  ctrace_counter("requests.in_flight", atomic_fetch_add(&in_flight, 1) + 1);
  char req[1024];
  ssize_t n = read(fd, req, sizeof req - 1);
  req[n > 0 ? n : 0] = 0;
  char path[256] = "/";
  sscanf(req, "GET %255s", path);

  ctrace_task_t task = ctrace_task_begin(CTRACE_TASK_NONE, "handleRequest");
  ctrace_log(task, "http", "GET %s", path);
  {
    CTRACE_REGION("db.query");
    struct timespec ts = {0, 50 * 1000 * 1000}; /* the "database" */
    nanosleep(&ts, NULL);
  }
  const char *body = "hello from ctrace\n";
  char resp[256];
  int len = snprintf(resp, sizeof resp,
                     "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n\r\n%s",
                     strlen(body), body);
  ctrace_region_begin("write.response");
  if (write(fd, resp, (size_t)len) < 0)
    perror("http_task: write");
  ctrace_region_end();
  ctrace_task_end(task);
  close(fd);
  ctrace_counter("requests.in_flight", atomic_fetch_sub(&in_flight, 1) - 1);
  return NULL;
}

struct server {
  int lfd;
  int nrequests;
};

static void *serve(void *arg) {
  struct server *s = arg;
  ctrace_thread_set_name("acceptor");
  for (int i = 0; i < s->nrequests; i++) {
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
      perror("http_task: accept");
      return NULL;
    }
    pthread_t th;
    if (ctrace_pthread_create(&th, NULL, handle, (void *)(intptr_t)fd) != 0) {
      close(fd);
      continue;
    }
    pthread_detach(th);
  }
  return NULL;
}

static int get(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("http_task: connect");
    return -1;
  }
  const char *req = "GET /hello HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (write(fd, req, strlen(req)) < 0)
    perror("http_task: write");
  char buf[512];
  ssize_t n, total = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    total += n;
  close(fd);
  return total > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "trace.ctrace";
  int nreq = argc > 2 ? atoi(argv[2]) : 1;
  if (nreq < 1)
    nreq = 1;
  /* Under `ctrace run` or CTRACE_OUT a trace already runs: this program's
   * events join it (start and stop then succeed without doing anything). */
  int traced_outside = ctrace_is_enabled();
  int err = ctrace_start_path(path);
  if (err) {
    fprintf(stderr, "http_task: ctrace: %s\n", ctrace_strerror(err));
    return 1;
  }
  ctrace_thread_set_name("main");

  struct server s = {.nrequests = nreq};
  s.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s.lfd, 16) < 0 ||
      getsockname(s.lfd, (struct sockaddr *)&a, &alen) < 0) {
    perror("http_task: listen");
    return 1;
  }
  int port = ntohs(a.sin_port);
  pthread_t server;
  ctrace_pthread_create(&server, NULL, serve, &s);

  int failed = 0;
  for (int i = 0; i < nreq; i++) {
    ctrace_task_t t = ctrace_task_begin(CTRACE_TASK_NONE, "client.get");
    failed |= get(port) < 0;
    ctrace_task_end(t);
  }
  pthread_join(server, NULL);
  close(s.lfd);
  usleep(10000); /* let the detached handler threads finish and exit */
  err = ctrace_stop();
  if (err) {
    fprintf(stderr, "http_task: ctrace: %s\n", ctrace_strerror(err));
    return 1;
  }
  printf("http_task: %d request%s served on 127.0.0.1:%d; trace written to %s\n", nreq,
         nreq == 1 ? "" : "s", port, traced_outside ? "the running trace" : path);
  return failed;
}
