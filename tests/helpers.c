/*
 * helpers.c - the helpers of task.h that tests share.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

extern char *test_tmp_root;

const char *test_tmpdir(void) {
  return test_tmp_root ? test_tmp_root : "/tmp";
}

static char *rotate(void) {
  static char bufs[8][4096];
  static int i;
  return bufs[i++ & 7];
}

const char *test_path(const char *name) {
  char *b = rotate();
  snprintf(b, 4096, "%s/%s", test_tmpdir(), name);
  return b;
}

const char *test_build_path(const char *rel) {
  char *b = rotate();
  snprintf(b, 4096, "%s/%s", test_build_dir, rel);
  return b;
}

char *test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  size_t k;
  while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb) {
        free(buf);
        buf = NULL;
      }
      buf = nb;
    }
  }
  fclose(f);
  if (buf)
    buf[n] = 0;
  if (len)
    *len = n;
  return buf;
}

int test_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t n = fwrite(data, 1, len, f);
  return fclose(f) == 0 && n == len ? 0 : -1;
}

/* Appends what fd gives to *buf. Returns 0 at EOF. */
static int drain(int fd, char **buf, size_t *n, size_t *cap) {
  if (*n + 4096 > *cap) {
    *cap = (*cap + 4096) * 2;
    *buf = realloc(*buf, *cap + 1);
  }
  ssize_t k = read(fd, *buf + *n, *cap - *n);
  if (k <= 0)
    return k < 0 && errno == EINTR ? 1 : 0;
  *n += (size_t)k;
  return 1;
}

int test_run(char *const argv[], char *const env[], char **out, char **err) {
  int po[2], pe[2];
  if (pipe(po) < 0 || pipe(pe) < 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(po[1], 1);
    dup2(pe[1], 2);
    close(po[0]);
    close(pe[0]);
    close(po[1]);
    close(pe[1]);
    for (int i = 0; env && env[i]; i++)
      putenv(env[i]);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  char *ob = NULL, *eb = NULL;
  size_t on = 0, oc = 0, en = 0, ec = 0;
  struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR)
      break;
    if (fds[0].fd >= 0 && fds[0].revents && !drain(po[0], &ob, &on, &oc)) {
      fds[0].fd = -1;
      open_fds--;
    }
    if (fds[1].fd >= 0 && fds[1].revents && !drain(pe[0], &eb, &en, &ec)) {
      fds[1].fd = -1;
      open_fds--;
    }
  }
  close(po[0]);
  close(pe[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!ob)
    ob = calloc(1, 1);
  else
    ob[on] = 0;
  if (!eb)
    eb = calloc(1, 1);
  else
    eb[en] = 0;
  if (eb[0] && getenv("CTRACE_TEST_VERBOSE"))
    fprintf(stderr, "%s", eb);
  if (out)
    *out = ob;
  else
    free(ob);
  if (err)
    *err = eb;
  else
    free(eb);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

size_t test_read_line(int fd, char *line, size_t size) {
  size_t len = 0;
  while (len + 1 < size) {
    ssize_t k = read(fd, line + len, 1);
    if (k <= 0 || line[len] == '\n')
      break;
    len++;
  }
  line[len] = 0;
  return len;
}

struct test_http_resp test_http(unsigned port, const char *method, const char *target,
                                const char *host, const char *extra) {
  struct test_http_resp r = {0};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req[2048], hosthdr[300] = "";
  if (host)
    snprintf(hosthdr, sizeof hosthdr, "Host: %s\r\n", host);
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\n%s%sConnection: close\r\n\r\n", method,
                   target, hosthdr, extra ? extra : "");
  ASSERT(n > 0 && (size_t)n < sizeof req);
  ASSERT_EQ(write(fd, req, (size_t)n), n);
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap + 1);
  ASSERT(buf != NULL);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      ASSERT(buf != NULL);
    }
    ssize_t k = read(fd, buf + len, cap - len);
    if (k < 0 && errno == EAGAIN)
      TEST_FAIL_("%s %s (Host %s): no answer in 60 s", method, target, host ? host : "none");
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  close(fd);
  buf[len] = 0;
  r.raw = buf;
  char *sep = strstr(buf, "\r\n\r\n");
  if (!sep)
    TEST_FAIL_("%s %s (Host %s): no HTTP answer: '%.200s'", method, target, host ? host : "none",
               buf);
  *sep = 0;
  r.head = buf;
  r.body = sep + 4;
  r.len = len - (size_t)(r.body - buf);
  ASSERT_EQ(sscanf(buf, "HTTP/1.%*d %d", &r.status), 1);
  return r;
}

int test_same_untraced(const char *const *prog, const char *traced_out) {
  char *argv[20];
  int n = 0;
  for (; prog[n] && n < 19; n++)
    argv[n] = (char *)prog[n];
  argv[n] = NULL;
  char *out = NULL;
  int st = test_run(argv, NULL, &out, NULL);
  int same = st == 0 && out && strcmp(out, traced_out) == 0;
  if (!same)
    fprintf(stderr, "# untraced exit %d, out '%s' vs traced '%s'\n", st, out ? out : "", traced_out);
  free(out);
  return same;
}

int test_ctrace_run(const char *path, const char *const *opts, const char *const *prog,
                    char **out, char **err) {
  char *argv[64];
  int n = 0;
  argv[n++] = (char *)test_build_path("ctrace");
  argv[n++] = "run";
  for (int i = 0; opts && opts[i] && n < 40; i++)
    argv[n++] = (char *)opts[i];
  argv[n++] = "-o";
  argv[n++] = (char *)path;
  argv[n++] = "--";
  for (int i = 0; prog[i] && n < 63; i++)
    argv[n++] = (char *)prog[i];
  argv[n] = NULL;
  return test_run(argv, NULL, out, err);
}

int64_t test_steal_ns(void) {
  FILE *f = fopen("/proc/stat", "r");
  unsigned long long v[8] = {0};
  /* cpu  user nice system idle iowait irq softirq steal */
  int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7])
              : 0;
  if (f)
    fclose(f);
  long hz = sysconf(_SC_CLK_TCK);
  if (got != 8 || hz <= 0)
    return 0;
  return (int64_t)(v[7] * (1000000000ull / (unsigned long long)hz));
}

int64_t test_stolen_since(int64_t before) {
  int64_t d = test_steal_ns() - before;
  long hz = sysconf(_SC_CLK_TCK), cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (d <= 0 || hz <= 0)
    return 0;
  return d + (cpus > 0 ? cpus : 1) * (1000000000 / hz);
}

int test_free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int bad = bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &al);
  close(s);
  return bad ? -1 : ntohs(a.sin_port);
}

int test_connect_retry(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < 200; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0)
      return s;
    if (s >= 0)
      close(s);
    usleep(50000);
  }
  return -1;
}
