/*
 * sched_wake_probe.c - can a process learn when its own threads were woken
 * (the kernel's sched_waking / sched_wakeup tracepoints), without root?
 * PERF_RECORD_SWITCH says when a thread left a CPU and when it came back,
 * not when it became runnable in between; the wake-up tracepoints would.
 *
 * For each tracepoint it opens a perf event on the process itself (pid 0,
 * every CPU, inherited) three ways: exclude_kernel=1 counting (what
 * perf_event_paranoid 2 allows an unprivileged process), exclude_kernel=0
 * counting, and exclude_kernel=1 sampling PERF_SAMPLE_RAW (the woken
 * thread's pid is in the raw data). Then two threads pass a byte back and
 * forth 1000 times over pipes (2000 wake-ups) and it prints what each
 * event counted. The tracepoint ids come from tracefs
 * (/sys/kernel/tracing/events/sched/NAME/id, readable by root only: mode
 * 0700), or from the arguments: NAME ID [NAME ID ...].
 *
 *   sched_wake_probe                                  (as root: reads the ids)
 *   setpriv --reuid=65534 --regid=65534 --clear-groups \
 *     /tmp/sched_wake_probe sched_waking 375 sched_wakeup 374
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int p1[2], p2[2];

static void *peer(void *a) {
  char c;
  for (int i = 0; i < 1000; i++)
    if (read(p1[0], &c, 1) != 1 || write(p2[1], &c, 1) != 1)
      break;
  return a;
}

static void try_one(const char *name, unsigned long id, int exclude_kernel, unsigned long st) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_TRACEPOINT;
  a.config = id;
  a.exclude_kernel = (unsigned)exclude_kernel;
  a.exclude_hv = 1;
  a.sample_period = 1;
  a.sample_type = st;
  a.inherit = 1;
  int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
  printf("| %s | %d | %s | ", name, exclude_kernel, st & PERF_SAMPLE_RAW ? "RAW" : "TID+TIME");
  if (fd < 0) {
    printf("open: %s |\n", strerror(errno));
    return;
  }
  pthread_t t;
  pthread_create(&t, NULL, peer, NULL);
  char c = 'x';
  for (int i = 0; i < 1000; i++)
    if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1)
      break;
  pthread_join(t, NULL);
  unsigned long long n = 0;
  if (read(fd, &n, sizeof n) != (ssize_t)sizeof n)
    n = 0;
  printf("opened; counted %llu |\n", n);
  close(fd);
}

static long tracefs_id(const char *name) {
  static const char *roots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
  for (int i = 0; i < 2; i++) {
    char path[256];
    snprintf(path, sizeof path, "%s/events/sched/%s/id", roots[i], name);
    FILE *f = fopen(path, "re");
    if (!f)
      continue;
    long id = -1;
    if (fscanf(f, "%ld", &id) != 1)
      id = -1;
    fclose(f);
    return id;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (pipe(p1) || pipe(p2))
    return 1;
  FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
  long par = -99;
  if (f) {
    if (fscanf(f, "%ld", &par) != 1)
      par = -99;
    fclose(f);
  }
  printf("uid %d, kernel.perf_event_paranoid %ld, 2000 wake-ups per event\n\n", (int)getuid(),
         par);
  printf("| tracepoint | exclude_kernel | sample | result |\n|---|---|---|---|\n");
  const char *names[] = {"sched_waking", "sched_wakeup"};
  int done = 0;
  for (int i = 1; i + 1 < argc; i += 2, done++) {
    unsigned long id = strtoul(argv[i + 1], NULL, 10);
    try_one(argv[i], id, 1, PERF_SAMPLE_TID | PERF_SAMPLE_TIME);
    try_one(argv[i], id, 0, PERF_SAMPLE_TID | PERF_SAMPLE_TIME);
    try_one(argv[i], id, 1, PERF_SAMPLE_RAW);
  }
  for (int k = 0; !done && k < 2; k++) {
    long id = tracefs_id(names[k]);
    if (id < 0) {
      printf("| %s | | | id not readable from tracefs (%s): pass NAME ID |\n", names[k],
             strerror(errno));
      continue;
    }
    try_one(names[k], (unsigned long)id, 1, PERF_SAMPLE_TID | PERF_SAMPLE_TIME);
    try_one(names[k], (unsigned long)id, 0, PERF_SAMPLE_TID | PERF_SAMPLE_TIME);
    try_one(names[k], (unsigned long)id, 1, PERF_SAMPLE_RAW);
  }
  return 0;
}
