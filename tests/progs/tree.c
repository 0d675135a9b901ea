/*
 * tree.c - a process tree of known structure, for tests/test-tree.c.
 *
 * `prog_tree` (the parent) forks 3 children; each execs this program again
 * as `prog_tree child K FD...`, a new image under the same pid:
 *   child 0 talks over a socketpair: reads "ping", writes "pong";
 *   child 1 sleeps 20 ms, then writes "one" into a pipe the parent reads
 *     (the parent's read ends after the write began: the clock test);
 *   child 2 reads "two" from a pipe the parent writes.
 * The parent waits for every child and prints "child PID" for each (in
 * order K = 0, 1, 2) and "parent PID". Exit status: 0 when every exchange
 * went as planned.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int read_word(int fd, const char *want) {
  char buf[16] = {0};
  size_t n = strlen(want), got = 0;
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k <= 0)
      return -1;
    got += (size_t)k;
  }
  return memcmp(buf, want, n) == 0 ? 0 : -1;
}

static int write_word(int fd, const char *w) {
  return write(fd, w, strlen(w)) == (ssize_t)strlen(w) ? 0 : -1;
}

static int child(int k, int fd) {
  if (k == 0) {
    if (read_word(fd, "ping") < 0 || write_word(fd, "pong") < 0)
      return 1;
  } else if (k == 1) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (write_word(fd, "one") < 0)
      return 1;
  } else {
    if (read_word(fd, "two") < 0)
      return 1;
  }
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "child") == 0)
    return child(atoi(argv[2]), atoi(argv[3]));
  int sp[2], p1[2], p2[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 || pipe(p1) < 0 || pipe(p2) < 0)
    return 2;
  /* each child's end of its channel, and the parent's */
  int theirs[3] = {sp[1], p1[1], p2[0]}, mine[3] = {sp[0], p1[0], p2[1]};
  pid_t pids[3];
  for (int k = 0; k < 3; k++) {
    pids[k] = fork();
    if (pids[k] < 0)
      return 2;
    if (pids[k] == 0) {
      for (int j = 0; j < 3; j++)
        close(mine[j]);
      char ks[8], fds[16];
      snprintf(ks, sizeof ks, "%d", k);
      snprintf(fds, sizeof fds, "%d", theirs[k]);
      execl("/proc/self/exe", argv[0], "child", ks, fds, (char *)NULL);
      _exit(127);
    }
  }
  for (int k = 0; k < 3; k++)
    close(theirs[k]);
  int bad = 0;
  bad |= write_word(mine[0], "ping") < 0 || read_word(mine[0], "pong") < 0;
  bad |= read_word(mine[1], "one") < 0;
  bad |= write_word(mine[2], "two") < 0;
  for (int k = 0; k < 3; k++) {
    int st;
    if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad = 1;
    printf("child %d\n", (int)pids[k]);
  }
  printf("parent %d\n", (int)getpid());
  return bad;
}
