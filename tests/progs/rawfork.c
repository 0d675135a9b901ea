/*
 * rawfork: makes a child without glibc's fork() (argv[1]: "fork" for
 * syscall(SYS_fork), "clone3" for a raw clone3, "clone" for clone(fn,
 * stack, SIGCHLD)); the child sleeps 2 ms, writes, and calls exit(0), which
 * runs the exit handlers; the parent waits for it and prints "child N".
 * glibc's fork handlers never run in such a child.
 */
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int child_work(void *arg) {
  (void)arg;
  struct timespec d = {0, 2000000};
  nanosleep(&d, NULL);
  if (write(1, "", 0) < 0)
    return 1;
  exit(0);
}

static char stack[256 * 1024];

int main(int argc, char **argv) {
  const char *how = argc > 1 ? argv[1] : "fork";
  struct timespec d = {0, 2000000};
  nanosleep(&d, NULL); /* an event of the parent's, and its thread registered */
  long pid;
  if (strcmp(how, "clone") == 0) {
    pid = clone(child_work, stack + sizeof stack, SIGCHLD, NULL);
  } else {
    if (strcmp(how, "clone3") == 0) {
      struct clone_args ca;
      memset(&ca, 0, sizeof ca);
      ca.exit_signal = SIGCHLD;
      pid = syscall(SYS_clone3, &ca, sizeof ca);
    } else {
      pid = syscall(SYS_fork);
    }
    if (pid == 0)
      child_work(NULL);
  }
  if (pid < 0)
    return 2;
  int status;
  waitpid((pid_t)pid, &status, 0);
  printf("child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  nanosleep(&d, NULL);
  return 0;
}
