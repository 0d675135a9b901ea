/*
 * open.c - opening a trace for a subcommand, with the standard messages for
 * unreadable, cut-off and corrupt files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* A trace must be a regular file. Opening a FIFO for reading blocks until a
 * writer comes (forever, for one nobody writes to) and a device has no end:
 * look without blocking first. 0, or -1 with a message printed. */
static int check_regular(const char *cmd, const char *path) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "ctrace %s: %s: %s\n", cmd, path, strerror(errno));
    return -1;
  }
  struct stat st;
  int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  close(fd);
  if (!ok) {
    fprintf(stderr, "ctrace %s: %s: not a regular file\n", cmd, path);
    return -1;
  }
  return 0;
}

/* Says how the validating pass of r ended, and what the recorder lost. */
static void report(const char *cmd, const char *path, const ctrace_reader *r) {
  switch (ctrace_reader_status(r)) {
  case CTRACE_READ_OK:
    break;
  case CTRACE_READ_TRUNCATED:
    fprintf(stderr,
            "ctrace %s: warning: %s: offset %llu: %s; reading the %llu bytes before it\n", cmd,
            path, (unsigned long long)ctrace_reader_error_offset(r), ctrace_reader_error(r),
            (unsigned long long)ctrace_reader_good_bytes(r));
    break;
  case CTRACE_READ_CORRUPT:
    fprintf(stderr, "ctrace %s: error: %s: offset %llu: %s; reading the %llu bytes before it\n",
            cmd, path, (unsigned long long)ctrace_reader_error_offset(r), ctrace_reader_error(r),
            (unsigned long long)ctrace_reader_good_bytes(r));
    break;
  }
  if (ctrace_reader_dropped(r))
    fprintf(stderr, "ctrace %s: warning: %s: the recorder dropped %llu events\n", cmd, path,
            (unsigned long long)ctrace_reader_dropped(r));
}

int ctrace_cli_no_tree;
uint32_t ctrace_cli_only_pid;
const char **ctrace_cli_with;
size_t ctrace_cli_nwith;

/* path and the --with files as one trace (ctrace_reader_open_files). */
static int open_with(const char *cmd, const char *path, ctrace_reader **r, char *err,
                     size_t errlen) {
  const char **paths = calloc(ctrace_cli_nwith + 1, sizeof *paths);
  if (!paths) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  paths[0] = path;
  for (size_t i = 0; i < ctrace_cli_nwith; i++) {
    if (check_regular(cmd, ctrace_cli_with[i]) < 0) {
      free(paths);
      snprintf(err, errlen, "%s: not readable", ctrace_cli_with[i]);
      return -1;
    }
    paths[i + 1] = ctrace_cli_with[i];
  }
  int rc = ctrace_reader_open_files(paths, ctrace_cli_nwith + 1, r, err, errlen);
  free(paths);
  return rc;
}

/* What a tree's files say of their processes: cut off, still running,
 * corrupt (each file's own error), and what the recorder lost. */
static void report_tree(const char *cmd, const ctrace_reader *r) {
  uint32_t n = ctrace_reader_nprocesses(r), running = 0, cut = 0;
  for (uint32_t i = 0; i < n; i++) {
    const struct ctrace_process *p = ctrace_reader_process(r, i);
    const ctrace_reader *f = ctrace_reader_file(r, p->file);
    const char *fp = ctrace_reader_file_path(r, p->file);
    if (p->status == CTRACE_PROC_RUNNING) {
      running++;
      fprintf(stderr, "ctrace %s: note: %s: process %u is still running; reading what it wrote\n",
              cmd, fp, p->pid);
    } else if (p->status == CTRACE_PROC_CUT) {
      cut++;
      fprintf(stderr, "ctrace %s: warning: %s: process %u: %s; reading the %llu bytes before it\n",
              cmd, fp, p->pid, ctrace_reader_error(f),
              (unsigned long long)ctrace_reader_good_bytes(f));
    } else if (p->status == CTRACE_PROC_CORRUPT) {
      fprintf(stderr, "ctrace %s: error: %s: offset %llu: %s; reading the %llu bytes before it\n",
              cmd, fp, (unsigned long long)ctrace_reader_error_offset(f), ctrace_reader_error(f),
              (unsigned long long)ctrace_reader_good_bytes(f));
    }
  }
  (void)running;
  (void)cut;
  if (ctrace_reader_dropped(r))
    fprintf(stderr, "ctrace %s: warning: the recorder dropped %llu events\n", cmd,
            (unsigned long long)ctrace_reader_dropped(r));
}

static int is_directory(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --process PID: the tree's files of that pid (its exec chain), as a tree. */
static ctrace_reader *only_pid(const char *cmd, const char *path, ctrace_reader *t) {
  const char *paths[64];
  size_t n = 0;
  for (uint32_t i = 0; i < ctrace_reader_nprocesses(t) && n < 64; i++) {
    const struct ctrace_process *p = ctrace_reader_process(t, i);
    if (p->pid == ctrace_cli_only_pid)
      paths[n++] = ctrace_reader_file_path(t, p->file);
  }
  if (n == 0) {
    fprintf(stderr, "ctrace %s: %s: no process %u in the trace\n", cmd, path, ctrace_cli_only_pid);
    return NULL;
  }
  if (ctrace_reader_nfiles(t) == 1)
    return t;
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open_files(paths, n, &r, err, sizeof err) < 0) {
    fprintf(stderr, "ctrace %s: %s: %s\n", cmd, path, err);
    return NULL;
  }
  return r;
}

ctrace_reader *ctrace_cli_open(const char *cmd, const char *path) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  int dir = is_directory(path);
  if (!dir && check_regular(cmd, path) < 0)
    return NULL;
  int rc = ctrace_cli_nwith && !dir   ? open_with(cmd, path, &r, err, sizeof err)
           : ctrace_cli_no_tree && !dir ? ctrace_reader_open(path, &r, err, sizeof err)
                                        : ctrace_reader_open_tree(path, &r, err, sizeof err);
  if (rc == 0 && ctrace_cli_only_pid) {
    ctrace_reader *one = only_pid(cmd, path, r);
    if (one != r)
      ctrace_reader_close(r);
    if (!one)
      return NULL;
    r = one;
  }
  if (rc == 0 && ctrace_reader_nfiles(r) > 1) {
    report_tree(cmd, r);
    return r;
  }
  if (rc < 0) {
    /* The reader's message may name the file already. */
    size_t n = strlen(path);
    const char *why =
        strncmp(err, path, n) == 0 && strncmp(err + n, ": ", 2) == 0 ? err + n + 2 : err;
    fprintf(stderr, "ctrace %s: %s: %s\n", cmd, path, why);
    return NULL;
  }
  report(cmd, path, r);
  return r;
}

ctrace_reader *ctrace_cli_open_mem(const char *cmd, const char *path, const void *data,
                                   size_t size) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open_mem(data, size, &r, err, sizeof err) < 0) {
    fprintf(stderr, "ctrace %s: %s: %s\n", cmd, path, err);
    return NULL;
  }
  report(cmd, path, r);
  return r;
}

int ctrace_cli_operand(const struct ctrace_cmd *cmd, const char *arg, const char **path,
                       const char *what) {
  if (arg[0] == '-' && arg[1])
    return ctrace_cli_usage_error(cmd, "unknown option '%s'", arg);
  if (*path)
    return ctrace_cli_usage_error(cmd, "one %s only", what);
  *path = arg;
  return 0;
}

int ctrace_cli_read_status(const ctrace_reader *r) {
  return ctrace_reader_status(r) == CTRACE_READ_CORRUPT ? CTRACE_EXIT_FAIL : CTRACE_EXIT_OK;
}
