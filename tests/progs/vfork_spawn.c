/*
 * vfork_spawn: children made by vfork() and posix_spawn() (whose child
 * shares the parent's memory until it execs) in a loop, while two other
 * threads record steadily. A vfork child does what real programs do
 * between vfork and exec: resets a signal, puts /dev/null on stdout
 * through an fd taken with F_DUPFD at 100 (the tracer's number), closes
 * fds, execs; every fifth exec fails and the child _exits. Prints
 * "vfork N spawn N failed N sleeps N child fd N" (the fd the first child got
 * from F_DUPFD at 100) and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static atomic_int done;
static atomic_long sleeps;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile int child_fd = -1; /* the first child's F_DUPFD result (vfork: shared) */

static void *recorder(void *arg) {
  (void)arg;
  struct timespec d = {0, 200000};
  while (!atomic_load(&done)) {
    pthread_mutex_lock(&m);
    nanosleep(&d, NULL);
    pthread_mutex_unlock(&m);
    atomic_fetch_add(&sleeps, 1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 30;
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, recorder, NULL);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  long nvfork = 0, nspawn = 0, nfailed = 0;
  for (int i = 0; i < rounds; i++) {
    int fail = i % 5 == 4;
    pid_t pid = vfork();
    if (pid == 0) {
      signal(SIGPIPE, SIG_DFL);
      int fd = fcntl(devnull, F_DUPFD, 100);
      if (i == 0)
        child_fd = fd;
      if (fd >= 0) {
        dup2(fd, 1);
        close(fd);
      }
      close(100);
      char *args[] = {"true", NULL};
      execv(fail ? "/nonexistent/true" : "/bin/true", args);
      _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
      return 2;
    if (WEXITSTATUS(st) == 127 && fail)
      nfailed++;
    else if (WEXITSTATUS(st) == 0 && !fail)
      nvfork++;
    else
      return 3;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, devnull, 1);
    char *args[] = {"true", NULL};
    pid_t sp;
    if (posix_spawn(&sp, "/bin/true", &fa, NULL, args, environ) != 0)
      return 4;
    posix_spawn_file_actions_destroy(&fa);
    if (waitpid(sp, &st, 0) != sp || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      return 5;
    nspawn++;
  }
  atomic_store(&done, 1);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  printf("vfork %ld spawn %ld failed %ld sleeps %ld child fd %d\n", nvfork, nspawn, nfailed,
         atomic_load(&sleeps), child_fd);
  return 0;
}
