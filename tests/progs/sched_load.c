/*
 * sched_load.c - a program of known scheduling behaviour for the tests of
 * scheduling data (tests/test-sched.c). Pinned to CPUs 0 and 1 (when the
 * machine has them). Each mode prints, per thread and just before the
 * thread ends, one line "thread TID ON_CPU_NS VOLUNTARY NONVOLUNTARY
 * MONO_NS MONO_AFTER_NS" from /proc/self/task/TID/schedstat and status
 * (CLOCK_MONOTONIC just before and just after it read them).
 *
 *   sched_load cpu N MS     N threads each spin MS ms of their own CPU time
 *   sched_load main MS      main alone spins MS ms of its CPU time, with no
 *                           call ctrace records before it reports
 *   sched_load sleep N MS   N spinners saturate the CPUs while main sleeps
 *                           MS ms (one nanosleep), then they stop
 *   sched_load futex MS     a thread waits MS ms in a raw futex system call
 *                           (not interposed), then spins a little
 *   sched_load paths MS     one thread spins 2*MS ms in path_a and MS ms in
 *                           path_b, both through the same function, in a
 *                           task "paths" with a region "a" around path_a
 *                           and "b" around path_b (ctrace.h)
 *   sched_load pingpong N   two threads pass a byte back and forth N times
 *                           over two pipes (raw system calls: every round
 *                           trip is two or more context switches); only
 *                           the second thread reports
 *   sched_load pipe N MS    N spinners saturate the CPUs while main blocks
 *                           in a pipe read that a writer thread ends MS ms
 *                           after main blocked in it (it sleeps, then
 *                           writes one byte)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ctrace.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop;
/* per thread: the spinners share no memory (a shared counter would be a data
 * race, which the TSan run of the tests reports) */
static _Thread_local volatile unsigned long sink;

static unsigned long long clk(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void report(void) {
  int tid = (int)syscall(SYS_gettid);
  char path[64], line[256];
  unsigned long long on = 0;
  long vol = -1, invol = -1;
  unsigned long long t = clk(CLOCK_MONOTONIC);
  snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
  FILE *f = fopen(path, "r");
  if (f) {
    if (fscanf(f, "%llu", &on) != 1)
      on = 0;
    fclose(f);
  }
  snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
  f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    if (!strncmp(line, "voluntary_ctxt_switches:", 24))
      vol = atol(line + 24);
    else if (!strncmp(line, "nonvoluntary_ctxt_switches:", 27))
      invol = atol(line + 27);
  }
  if (f)
    fclose(f);
  unsigned long long t2 = clk(CLOCK_MONOTONIC);
  pthread_mutex_lock(&out_mu);
  printf("thread %d %llu %ld %ld %llu %llu\n", tid, on, vol, invol, t, t2);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

/* Spins until the thread has used ms of CPU time. */
__attribute__((noinline)) static void burn(long ms) {
  unsigned long long end = clk(CLOCK_THREAD_CPUTIME_ID) + (unsigned long long)ms * 1000000ull;
  while (clk(CLOCK_THREAD_CPUTIME_ID) < end)
    for (int i = 0; i < 20000; i++)
      sink += (unsigned long)i;
}
/* noipa: not folded into one function (identical code) nor inlined */
__attribute__((noipa)) static void path_a(long ms) {
  burn(ms);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noipa)) static void path_b(long ms) {
  burn(ms);
  sink += 2;
  __asm__ volatile("" ::: "memory");
}

static long arg_ms;

static void *cpu_thread(void *a) {
  (void)a;
  burn(arg_ms);
  report();
  return NULL;
}

static void *spinner(void *a) {
  (void)a;
  while (!atomic_load(&stop))
    sink++;
  report();
  return NULL;
}

static _Atomic int futex_word;
static void *futex_thread(void *a) {
  (void)a;
  struct timespec ts = {arg_ms / 1000, (arg_ms % 1000) * 1000000};
  syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
  burn(5);
  report();
  return NULL;
}

static int pipe_fd[2];
/* Is the main thread in a read system call now? (/proc/self/task/PID/
 * syscall begins with the number of the call it is blocked in.) */
static int main_in_read(void) {
  char path[64], line[64] = "";
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)getpid());
  FILE *f = fopen(path, "r");
  if (!f)
    return 1; /* cannot tell: as before, the time alone */
  /* "NR args...", "-1 sp pc" (blocked outside a system call) or "running",
   * which atol would read as 0, SYS_read */
  int in = fgets(line, sizeof line, f) && line[0] >= '0' && line[0] <= '9' &&
           atol(line) == SYS_read;
  fclose(f);
  return in;
}

static void *pipe_writer(void *a) {
  (void)a;
  /* From when main blocks in its read: under load main may get to it late
   * (the spinners hold the CPUs), and the read must last MS ms. Bounded:
   * 10 s of looking. */
  for (int i = 0; i < 10000 && !main_in_read(); i++) {
    struct timespec d = {0, 1000000};
    nanosleep(&d, NULL);
  }
  struct timespec ts = {arg_ms / 1000, (arg_ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
  if (write(pipe_fd[1], "x", 1) != 1)
    abort();
  return NULL;
}

static int ping[2], pong[2];
static void *pong_thread(void *a) {
  (void)a;
  char c;
  for (long i = 0; i < arg_ms; i++)
    if (syscall(SYS_read, ping[0], &c, 1) != 1 || syscall(SYS_write, pong[1], &c, 1) != 1)
      abort();
  report();
  return NULL;
}

static void *paths_thread(void *a) {
  (void)a;
  ctrace_task_t t = ctrace_task_begin(CTRACE_TASK_NONE, "paths");
  ctrace_region_begin("a");
  path_a(2 * arg_ms);
  ctrace_region_end();
  ctrace_region_begin("b");
  path_b(arg_ms);
  ctrace_region_end();
  ctrace_task_end(t);
  report();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return 2;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  CPU_SET(1, &set);
  sched_setaffinity(0, sizeof set, &set); /* fails harmlessly on 1 CPU */
  int n = argc > 3 ? atoi(argv[2]) : 1;
  arg_ms = atol(argv[argc - 1]);
  pthread_t th[64];
  if (n > 64)
    n = 64;
  if (!strcmp(argv[1], "main")) {
    burn(arg_ms);
    report();
    return 0;
  }
  if (!strcmp(argv[1], "cpu")) {
    for (int i = 0; i < n; i++)
      pthread_create(&th[i], NULL, cpu_thread, NULL);
  } else if (!strcmp(argv[1], "sleep")) {
    for (int i = 0; i < n; i++)
      pthread_create(&th[i], NULL, spinner, NULL);
    struct timespec ts = {0, 20000000}; /* let them fill the CPUs */
    nanosleep(&ts, NULL);
    burn(1);
    unsigned long long t0 = clk(CLOCK_MONOTONIC);
    ts.tv_sec = arg_ms / 1000;
    ts.tv_nsec = (arg_ms % 1000) * 1000000;
    nanosleep(&ts, NULL);
    unsigned long long t1 = clk(CLOCK_MONOTONIC);
    printf("slept %llu %llu\n", t0, t1);
    atomic_store(&stop, 1);
  } else if (!strcmp(argv[1], "pipe")) {
    if (pipe(pipe_fd))
      return 1;
    for (int i = 0; i < n; i++)
      pthread_create(&th[i], NULL, spinner, NULL);
    struct timespec ts = {0, 20000000}; /* let them fill the CPUs */
    nanosleep(&ts, NULL);
    pthread_t w;
    pthread_create(&w, NULL, pipe_writer, NULL);
    char c;
    if (read(pipe_fd[0], &c, 1) != 1)
      return 1;
    pthread_join(w, NULL);
    atomic_store(&stop, 1);
  } else if (!strcmp(argv[1], "pingpong")) {
    n = 1;
    if (pipe(ping) || pipe(pong))
      return 1;
    pthread_create(&th[0], NULL, pong_thread, NULL);
    char c = 'x';
    for (long i = 0; i < arg_ms; i++)
      if (syscall(SYS_write, ping[1], &c, 1) != 1 || syscall(SYS_read, pong[0], &c, 1) != 1)
        abort();
    /* no report of main's: its counts in /proc include the switches
     * before the trace began (the loader, a sanitizer's start) */
  } else if (!strcmp(argv[1], "futex")) {
    n = 1;
    pthread_create(&th[0], NULL, futex_thread, NULL);
  } else if (!strcmp(argv[1], "paths")) {
    n = 1;
    pthread_create(&th[0], NULL, paths_thread, NULL);
  } else {
    return 2;
  }
  for (int i = 0; i < n; i++)
    pthread_join(th[i], NULL);
  return 0;
}
