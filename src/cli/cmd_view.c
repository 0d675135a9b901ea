/*
 * cmd_view.c - `ctrace view [--addr HOST:PORT] [--allow-host NAME]...
 * [--no-browser] FILE [AFTER]`: serve the viewer (src/serve/), open a
 * browser, index the trace (and a second one to compare it with) while the
 * browser loads the page, wait for Ctrl-C.
 *
 * The trace is mapped, guarded against a truncation while it is served
 * (src/serve/view.h: a SIGBUS in the mapping reads zeros and marks the file
 * changed), and let go from memory once indexed: the server holds the
 * index, not the file. When the file changes on disk, every API answer
 * says so (409, ctrace_view_watch) and so does stderr: the user restarts
 * ctrace view.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../serve/server.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_view_def = {"view", ctrace_cmd_view, CTRACE_HELP_view,
                                               CTRACE_USAGE_view};

struct progress {
  int shown;
  int tty;
  int last_pct;
  struct timespec t0;
};

/* A progress bar on stderr, only for traces that take a while (> 0.3 s). */
static void on_progress(void *arg, uint64_t done, uint64_t total) {
  struct progress *p = arg;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double el = (double)(now.tv_sec - p->t0.tv_sec) + (double)(now.tv_nsec - p->t0.tv_nsec) / 1e9;
  if (!p->shown && (el < 0.3 || done >= total))
    return;
  int pct = total ? (int)(done * 100 / total) : 100;
  if (pct == p->last_pct)
    return;
  p->last_pct = pct;
  p->shown = 1;
  if (p->tty) {
    char bar[41];
    int fill = pct * 40 / 100;
    for (int i = 0; i < 40; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "\rctrace view: indexing [%s] %3d%%", bar, pct);
    if (done >= total)
      fputc('\n', stderr);
  } else if (pct % 10 == 0) {
    fprintf(stderr, "ctrace view: indexing %d%%\n", pct);
  }
}

/* Opens url with $BROWSER or xdg-open, without waiting for it. */
static void open_browser(const char *url) {
  const char *browser = getenv("BROWSER");
  pid_t pid = fork();
  if (pid < 0)
    return;
  if (pid == 0) {
    /* a grandchild, so that nobody has to reap it */
    if (fork() != 0)
      _exit(0);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
    }
    if (browser && *browser)
      execlp("sh", "sh", "-c", "exec $BROWSER \"$1\"", "sh", url, (char *)NULL);
    else
      execlp("xdg-open", "xdg-open", url, (char *)NULL);
    fprintf(stderr, "ctrace view: cannot start a browser (%s); open %s yourself\n",
            strerror(errno), url);
    _exit(127);
  }
  waitpid(pid, NULL, 0);
}

/* Every connection is a file descriptor: take what the hard limit allows
 * (up to a few thousand), so that idle connections do not starve the
 * server (see ctrace_serve_start). */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return;
  rlim_t want = 8192;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
    want = rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Test hook: CTRACE_TEST_VIEW_HOLD=PATH holds the reading and indexing of
 * the trace, once the server listens, until PATH exists (looked for every
 * 10 ms), so that a test can send requests while the index is certainly
 * not ready. 1 when a stop signal came meanwhile. */
static int hold_for_test(const sigset_t *stop) {
  const char *until = getenv("CTRACE_TEST_VIEW_HOLD");
  if (!until || !*until)
    return 0;
  while (access(until, F_OK) != 0) {
    struct timespec tick = {0, 10000000};
    if (sigtimedwait(stop, NULL, &tick) >= 0)
      return 1;
  }
  return 0;
}

/* The second trace of `ctrace view BEFORE AFTER`. Only one file can be
 * mapped under the truncation guard (view.h), so this one is read into
 * private memory: it is served as it was when loaded. */
struct second {
  void *data;
  ctrace_reader *r;
  struct ctrace_view v;
};

/* The whole regular file path, malloced (size in *size); NULL with errno
 * (EINVAL: not a regular file). Opened without blocking: a FIFO with no
 * writer must not hang. */
static void *read_whole(const char *path, size_t *size) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return NULL;
  }
  size_t n = (size_t)st.st_size, got = 0;
  char *buf = malloc(n ? n : 1);
  while (buf && got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break; /* shorter than it was: read what is there */
    got += (size_t)k;
  }
  int e = errno;
  close(fd);
  errno = e;
  *size = got;
  return buf;
}

static int open_second(const struct ctrace_cmd *cmd, const char *path, struct second *s,
                       struct ctrace_view *first) {
  size_t size = 0;
  s->data = read_whole(path, &size);
  if (!s->data) {
    fprintf(stderr, "ctrace %s: %s: %s\n", cmd->name, path,
            errno == EINVAL ? "not a regular file" : strerror(errno));
    return -1;
  }
  s->r = ctrace_cli_open_mem(cmd->name, path, s->data, size);
  if (!s->r || ctrace_view_init(&s->v, s->r, path, NULL, NULL) < 0) {
    if (s->r) {
      fprintf(stderr, "ctrace view: %s: out of memory while indexing\n", path);
      ctrace_reader_close(s->r);
    }
    free(s->data);
    s->data = NULL;
    return -1;
  }
  first->after = &s->v;
  return 0;
}

static void close_second(struct second *s) {
  if (!s->data)
    return;
  ctrace_view_fini(&s->v);
  ctrace_reader_close(s->r);
  free(s->data);
}

int ctrace_cmd_view(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_view_def;
  const char *addr = "127.0.0.1:0", *path = NULL, *after = NULL;
  int browser = 1;
  const char *allow[17];
  size_t nallow = 0;
  for (int i = 1; i < argc; i++) {
    if (ctrace_cli_wants_help(cmd, argv[i]))
      return CTRACE_EXIT_OK;
    if (strcmp(argv[i], "--no-browser") == 0)
      browser = 0;
    else if (strcmp(argv[i], "--allow-host") == 0 || strncmp(argv[i], "--allow-host=", 13) == 0) {
      const char *name = argv[i][12] == '=' ? argv[i] + 13 : NULL;
      if (!name && i + 1 >= argc)
        return ctrace_cli_usage_error(cmd, "--allow-host needs a host name");
      if (!name)
        name = argv[++i];
      if (nallow == 16)
        return ctrace_cli_usage_error(cmd, "at most 16 --allow-host");
      allow[nallow++] = name;
    } else if (strcmp(argv[i], "--addr") == 0) {
      if (i + 1 >= argc)
        return ctrace_cli_usage_error(cmd, "--addr needs HOST:PORT");
      addr = argv[++i];
    } else if (strncmp(argv[i], "--addr=", 7) == 0)
      addr = argv[i] + 7;
    else if (path && !after && !(argv[i][0] == '-' && argv[i][1]))
      after = argv[i]; /* ctrace view BEFORE AFTER: the Compare page */
    else if (ctrace_cli_operand(cmd, argv[i], &path, "FILE"))
      return CTRACE_EXIT_USAGE;
  }
  if (!path)
    return ctrace_cli_usage_error(cmd, "FILE missing");
  allow[nallow] = NULL;
  raise_fd_limit();

  /* Block the signals that stop us before any thread starts: the server's
   * threads inherit the mask and sigwait() below takes them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* A process tree is mapped by the reader (file by file); one file as
   * before, through the view's mapping that survives the file shrinking
   * (mapped here, before the server starts: a missing file is said at
   * once). */
  struct ctrace_view_file file = {0};
  int tree = (ctrace_cli_only_pid || !ctrace_cli_no_tree) && ctrace_reader_is_tree(path);
  if (!tree && ctrace_view_file_map(path, &file) < 0) {
    fprintf(stderr, "ctrace %s: %s: %s\n", cmd->name, path,
            errno == EINVAL ? "not a regular file" : strerror(errno));
    return CTRACE_EXIT_FAIL;
  }

  /* The server listens before the trace is read and indexed (or its index
   * cache loaded): the browser loads the page, its scripts and styles
   * meanwhile, and the page's API requests wait for the index, suspended
   * in the server (ctrace_serve_ready). */
  struct ctrace_view v;
  memset(&v, 0, sizeof v);
  ctrace_server *srv;
  char err[256];
  struct ctrace_serve_opts opts = {addr, allow, 1};
  if (ctrace_serve_start_opts(&opts, &v, &srv, err, sizeof err) < 0) {
    fprintf(stderr, "ctrace view: %s\n", err);
    ctrace_view_file_unmap(&file);
    return CTRACE_EXIT_FAIL;
  }
  printf("ctrace view: serving %s at %s (Ctrl-C to stop)\n", path, ctrace_serve_url(srv));
  fflush(stdout);
  unsigned port = ctrace_serve_port(srv);
  if (ctrace_serve_is_wildcard(srv))
    fprintf(stderr,
            "ctrace view: warning: listening on every interface (%s): anyone who can reach port "
            "%u of this machine can read the trace. From elsewhere, open http://ADDRESS:%u/ "
            "with an IP address of this machine (a host name needs --allow-host NAME).\n",
            addr, port, port);
  else if (!ctrace_serve_is_loopback(srv))
    fprintf(stderr,
            "ctrace view: warning: listening on %s, not on loopback: anyone who can reach it can "
            "read the trace\n",
            addr);
  if (browser)
    open_browser(ctrace_serve_url(srv));
  if (hold_for_test(&stop)) {
    fprintf(stderr, "ctrace view: stopping\n");
    ctrace_serve_stop(srv); /* Ctrl-C while held: what is waiting gets 503 */
    ctrace_view_file_unmap(&file);
    return CTRACE_EXIT_OK;
  }

  ctrace_reader *r = tree ? ctrace_cli_open(cmd->name, path)
                          : ctrace_cli_open_mem(cmd->name, path, file.data, file.size);
  if (!r) {
    ctrace_serve_ready(srv, 0);
    ctrace_serve_stop(srv);
    ctrace_view_file_unmap(&file);
    return CTRACE_EXIT_FAIL;
  }
  struct progress prog = {.tty = isatty(2), .last_pct = -1};
  clock_gettime(CLOCK_MONOTONIC, &prog.t0);
  if (ctrace_view_init(&v, r, path, on_progress, &prog) < 0) {
    fprintf(stderr, "ctrace view: %s: out of memory while indexing\n", path);
    ctrace_serve_ready(srv, 0);
    ctrace_serve_stop(srv);
    ctrace_reader_close(r);
    ctrace_view_file_unmap(&file);
    return CTRACE_EXIT_FAIL;
  }
  struct second two = {0};
  if (after && open_second(cmd, after, &two, &v) < 0) {
    ctrace_serve_ready(srv, 0);
    ctrace_serve_stop(srv);
    ctrace_view_fini(&v);
    ctrace_reader_close(r);
    ctrace_view_file_unmap(&file);
    return CTRACE_EXIT_FAIL;
  }
  if (!tree) {
    ctrace_view_watch(&v, &file.st);
    ctrace_view_file_release(&file);
  }
  ctrace_serve_ready(srv, 1); /* both traces are indexed: the waiting requests are answered */
  /* Waits for Ctrl-C, looking at the file once a second. */
  int told = 0;
  for (;;) {
    struct timespec second = {1, 0};
    if (sigtimedwait(&stop, NULL, &second) >= 0)
      break;
    if (!told && ctrace_view_changed(&v)) {
      fprintf(stderr,
              "ctrace view: %s changed on disk (truncated or rewritten): the viewer now says so; "
              "run ctrace view again to see the new trace\n",
              path);
      told = 1;
    }
  }
  fprintf(stderr, "ctrace view: stopping\n");
  ctrace_serve_stop(srv);
  close_second(&two);
  ctrace_view_fini(&v);
  int status = ctrace_cli_read_status(r);
  ctrace_reader_close(r);
  if (!tree)
    ctrace_view_file_unmap(&file);
  return status == CTRACE_EXIT_FAIL ? CTRACE_EXIT_FAIL : CTRACE_EXIT_OK;
}
