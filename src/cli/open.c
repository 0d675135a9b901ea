/*
 * open.c - opening a trace for a subcommand, with the standard messages for
 * unreadable, cut-off and corrupt files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

ctrace_reader *ctrace_cli_open(const char *cmd, const char *path) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (check_regular(cmd, path) < 0)
    return NULL;
  if (ctrace_reader_open(path, &r, err, sizeof err) < 0) {
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
