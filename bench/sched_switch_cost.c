/*
 * sched_switch_cost.c - what recording scheduling data adds to each context
 * switch of the traced process, measured in the process itself: two threads
 * pass a byte back and forth over two pipes (each round trip is two
 * blocking reads, so at least two context switches), and the process's CPU
 * time (CLOCK_PROCESS_CPUTIME_ID: every thread, the writer's included) is
 * divided by the round trips. Modes, one after the other in each round and
 * in the opposite order every other round, so that a change of load on a
 * shared machine hits every mode alike:
 *
 *   untraced        no trace
 *   sched off       ctrace_start with CTRACE_SCHED=off
 *   switches        CTRACE_SCHED=on, CTRACE_SAMPLE_HZ=0 (switch records only)
 *   + samples       CTRACE_SCHED=on, CTRACE_SAMPLE_HZ=250 (the default)
 *
 * with both threads on CPU 0 (a switch goes from one traced thread straight
 * to the other), and with TWO_CPUS=1 also with the threads on CPUs 0 and 1
 * (each switch goes to or from the idle task; on the 2-vCPU VM under load
 * a cross-CPU round trip took 160 us of CPU and the run 10 minutes). The partner thread is created after the
 * start, as a server's threads are (its perf events are inherited). Prints
 * the median and [min..max] of the CPU ns per round trip, and the median
 * added over "sched off" per context switch (the kernel's count of the
 * process's switches: /proc/self/status of both threads, read around each
 * measurement). Asserts nothing.
 *
 *   sched_switch_cost [ROUND_TRIPS [ROUNDS]]   (default 50000 and 7)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctrace.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_sched.h"

#define MODES 4
#define MAXR 64
static const char *mode_name[MODES] = {"untraced", "sched off", "switches", "+ samples"};
static int p1[2], p2[2];
static long trips;
static int peer_cpu;


static _Atomic long peer_tid;
static long peer_sw;

static void *peer(void *arg) {
  pin(peer_cpu);
  peer_tid = syscall(SYS_gettid);
  char c;
  for (long i = 0; i <= trips; i++) { /* one more: the warm-up byte */
    if (read(p1[0], &c, 1) != 1 || write(p2[1], &c, 1) != 1)
      break;
  }
  peer_sw = switches(peer_tid);
  return arg;
}

/* CPU ns per round trip; *sw the context switches of both threads. */
static double measure(int mode, int cpu_b, const char *trace, double *sw) {
  if (mode > 0) {
    setenv("CTRACE_SCHED", mode == 1 ? "off" : "on", 1);
    setenv("CTRACE_SAMPLE_HZ", mode == 3 ? "250" : "0", 1);
    if (ctrace_start_path(trace) != 0)
      return -1;
  }
  pin(0);
  peer_cpu = cpu_b;
  pthread_t t;
  pthread_create(&t, NULL, peer, NULL);
  char c = 'x';
  if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1) /* the peer is up */
    return -1;
  long self = syscall(SYS_gettid);
  long s0 = switches(self) + switches(peer_tid);
  double c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < trips; i++)
    if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1)
      return -1;
  double c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  long s1 = switches(self);
  pthread_join(t, NULL);
  *sw = (double)(s1 + peer_sw - s0);
  if (mode > 0)
    ctrace_stop();
  return (c1 - c0) / (double)trips;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  double s[MAXR];
  memcpy(s, v, (size_t)n * sizeof *v);
  qsort(s, (size_t)n, sizeof *s, cmp);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv) {
  trips = argc > 1 ? atol(argv[1]) : 50000;
  int rounds = argc > 2 ? atoi(argv[2]) : 7;
  if (rounds < 1)
    rounds = 1;
  if (rounds > MAXR)
    rounds = MAXR;
  if (pipe(p1) || pipe(p2))
    return 1;
  char trace[] = "/tmp/sched_switch_cost.XXXXXX";
  int fd = mkstemp(trace);
  if (fd < 0)
    return 1;
  close(fd);
  double la[3] = {0};
  FILE *f = fopen("/proc/loadavg", "re");
  if (f) {
    if (fscanf(f, "%lf", &la[0]) != 1)
      la[0] = -1;
    fclose(f);
  }
  printf("context switch cost of scheduling data: %ld round trips, %d rounds, load %.1f at start\n",
         trips, rounds, la[0]);
  int placements = getenv("TWO_CPUS") && atoi(getenv("TWO_CPUS")) ? 2 : 1;
  for (int placement = 0; placement < placements; placement++) {
    int cpu_b = placement; /* 0: both threads on CPU 0; 1: CPUs 0 and 1 */
    double ns[MODES][MAXR], sw[MODES][MAXR];
    for (int r = 0; r < rounds; r++)
      for (int k = 0; k < MODES; k++) {
        int m = r % 2 ? MODES - 1 - k : k;
        ns[m][r] = measure(m, cpu_b, trace, &sw[m][r]);
      }
    printf("\n%s\n", placement ? "threads on CPUs 0 and 1 (switches to and from idle)"
                               : "both threads on CPU 0 (switches between the two threads)");
    printf("| mode | CPU ns per round trip | switches per round trip | added per switch over sched off |\n");
    printf("|---|---|---|---|\n");
    double off = median(ns[1], rounds);
    for (int m = 0; m < MODES; m++) {
      double lo = ns[m][0], hi = ns[m][0];
      for (int r = 1; r < rounds; r++) {
        lo = ns[m][r] < lo ? ns[m][r] : lo;
        hi = ns[m][r] > hi ? ns[m][r] : hi;
      }
      double med = median(ns[m], rounds), s = median(sw[m], rounds) / (double)trips;
      printf("| %s | %.0f [%.0f..%.0f] | %.2f |", mode_name[m], med, lo, hi, s);
      if (m >= 2 && s > 0)
        printf(" %+.0f ns |\n", (med - off) / s);
      else
        printf(" |\n");
    }
  }
  unlink(trace);
  la[1] = -1;
  f = fopen("/proc/loadavg", "re");
  if (f) {
    if (fscanf(f, "%lf", &la[1]) != 1)
      la[1] = -1;
    fclose(f);
  }
  printf("\nload %.1f at end%s\n", la[1],
         la[0] > 1.5 || la[1] > 1.5 ? " (taken under load: CPU times are inflated and noisy)" : "");
  return 0;
}
