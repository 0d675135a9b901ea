/*
 * taskid.c - task ids across the processes of a tree, for tests/test-taskid.c
 * (run under `ctrace run`, which gives each forked child its own file).
 *
 * `prog_taskid`: the parent begins task "shared", logs in it and forks
 * child A, which joins the task by the parent's id, works in it (a region
 * and a log) and ends it; then A begins and ends a task "child" of its own.
 * After A exits the parent forks child B, which begins and ends a task
 * "child" too. Each process prints "NAME PID ID" lines for the tasks it
 * began (A and B write theirs before exiting, the parent last), so a test
 * can check the ids: one per process image, distinct, with the pid above
 * bit 31. Exit status 0 when every step went as planned.
 *
 * `prog_taskid old`: two children, each attaching a log and a region to
 * task 1 by hand (ctrace_task_set_current(1)), as an older recorder's
 * per-process counters would name their first task in both processes.
 *
 * `prog_taskid threads`: creates a thread, then forks a child that execs
 * `prog_taskid threads-child`, which creates a thread too: each image
 * counts its thread-creation links from the same start.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctrace.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *name, ctrace_task_t id) {
  char line[96];
  int n = snprintf(line, sizeof line, "%s %d %" PRIu64 "\n", name, (int)getpid(), id);
  if (write(1, line, (size_t)n) != n)
    _exit(3);
}

static int wait_child(pid_t pid) {
  int st;
  return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void own_task(void) {
  ctrace_task_t t = ctrace_task_begin(CTRACE_TASK_NONE, "child");
  ctrace_log(t, "child", "own task");
  ctrace_task_end(t);
  say("child", t);
}

static int old_style(void) {
  pid_t p[2];
  for (int k = 0; k < 2; k++) {
    p[k] = fork();
    if (p[k] == 0) {
      ctrace_task_set_current(1);
      ctrace_region_begin("old.work");
      ctrace_log(1, "old", "task one of process %d", (int)getpid());
      ctrace_region_end();
      _exit(0);
    }
    if (wait_child(p[k]) < 0)
      return 1;
  }
  return 0;
}

static void *worker(void *arg) {
  ctrace_log(CTRACE_TASK_NONE, "thread", "%s", (const char *)arg);
  return NULL;
}

static int one_thread(const char *who) {
  pthread_t t;
  if (pthread_create(&t, NULL, worker, (void *)who) != 0)
    return -1;
  return pthread_join(t, NULL) == 0 ? 0 : -1;
}

static int threads(char **argv) {
  if (one_thread("parent") < 0)
    return 1;
  pid_t p = fork();
  if (p == 0) {
    execl("/proc/self/exe", argv[0], "threads-child", (char *)NULL);
    _exit(127);
  }
  return wait_child(p) < 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "old") == 0)
    return old_style();
  if (argc > 1 && strcmp(argv[1], "threads") == 0)
    return threads(argv);
  if (argc > 1 && strcmp(argv[1], "threads-child") == 0)
    return one_thread("child") < 0;
  ctrace_task_t shared = ctrace_task_begin(CTRACE_TASK_NONE, "shared");
  ctrace_log(shared, "parent", "before the fork");
  fflush(stdout);
  pid_t a = fork();
  if (a == 0) {
    ctrace_task_set_current(shared);
    ctrace_region_begin("child.work");
    ctrace_log(CTRACE_TASK_CURRENT, "child", "continues the parent's task");
    ctrace_region_end();
    ctrace_task_end(shared);
    own_task();
    _exit(0);
  }
  if (wait_child(a) < 0)
    return 1;
  pid_t b = fork();
  if (b == 0) {
    own_task();
    _exit(0);
  }
  if (wait_child(b) < 0)
    return 1;
  ctrace_task_t after = ctrace_task_begin(CTRACE_TASK_NONE, "after");
  ctrace_task_end(after);
  say("shared", shared);
  say("after", after);
  return 0;
}
