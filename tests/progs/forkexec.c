/* forkexec: forks; the child execs this program with "child" (which sleeps
 * 10 ms and exits 3); the parent waits and prints the child's status.
 * "spawn" instead runs the child through posix_spawn (system()'s way). */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
    return 3;
  }
  pid_t pid;
  char *args[] = {argv[0], "child", NULL};
  if (argc > 1 && strcmp(argv[1], "spawn") == 0) {
    if (posix_spawn(&pid, argv[0], NULL, NULL, args, environ) != 0)
      return 1;
  } else {
    pid = fork();
    if (pid == 0) {
      execv(argv[0], args);
      _exit(127);
    }
  }
  int st;
  waitpid(pid, &st, 0);
  printf("child %d exited %d\n", (int)pid, WEXITSTATUS(st));
  return 0;
}
