/*
 * perf_config_cost.c - what each way an unprivileged process can ask the
 * kernel for its own context switches costs per switch, without ctrace:
 * the question behind issue 11's overhead target (scheduling data adding
 * at most 3 % to a server's loss), which ctrace's choice (per-CPU events,
 * inherited by new threads) misses on this VM. Two threads pinned to CPU 0
 * pass a byte over two pipes (each round trip: two blocking reads, two
 * context switches); each configuration runs in a fresh child process, in
 * alternating rounds, and prints the process's CPU time per context
 * switch (CLOCK_PROCESS_CPUTIME_ID over the switches the kernel counted,
 * /proc/self/task/TID/status) and what it adds to the untraced run.
 *
 *   none               no perf event
 *   per-CPU, holder    ctrace's: on each CPU an event (cpu-clock at 250 Hz
 *                      with user callchains, context_switch=1, inherit)
 *                      writing into a dummy holder's ring
 *   per-CPU, own ring  the same events, each owning its ring
 *   per-CPU switches   dummy events (context switches, no samples), holders
 *   per-thread switches a dummy event per thread (cpu -1, opened by the
 *                      thread itself, its own ring): no inheritance
 *   per-thread samples  the same with cpu-clock sampling
 *
 * The rings are emptied every 256 round trips (as a drain would), so no
 * record is lost. Asserts nothing.
 *
 *   perf_config_cost [ROUND_TRIPS [ROUNDS]]   (default 20000 and 9)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_sched.h"

enum { NONE, CPU_HOLDER, CPU_OWN, CPU_SWITCHES, THREAD_SWITCHES, THREAD_SAMPLES, NMODES };
static const char *const mode_name[NMODES] = {
    "none", "per-CPU, holder (ctrace)", "per-CPU, own ring", "per-CPU switches only",
    "per-thread switches", "per-thread samples"};

#define RING_PAGES 8
#define MAX_RINGS 64
#define MAX_ROUNDS 64

static int mode, p1[2], p2[2];
static long trips;
static struct perf_event_mmap_page *rings[MAX_RINGS];
static int nrings;
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;


static void fill(struct perf_event_attr *a, int samples, int inherit) {
  memset(a, 0, sizeof *a);
  a->size = sizeof *a;
  a->type = PERF_TYPE_SOFTWARE;
  a->sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
  if (samples) {
    a->config = PERF_COUNT_SW_CPU_CLOCK;
    a->sample_period = 4000000; /* 250 Hz of CPU time */
    a->sample_type |= PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN;
    a->exclude_callchain_kernel = 1;
  } else {
    a->config = PERF_COUNT_SW_DUMMY;
  }
  a->sample_id_all = 1;
  a->context_switch = 1;
  a->inherit = (unsigned)inherit;
  a->inherit_thread = (unsigned)inherit;
  a->exclude_kernel = 1;
  a->exclude_hv = 1;
  a->use_clockid = 1;
  a->clockid = CLOCK_MONOTONIC;
}

static int open_event(struct perf_event_attr *a, int cpu) {
  int fd = (int)syscall(SYS_perf_event_open, a, 0, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    perror("perf_event_open");
    exit(1);
  }
  return fd;
}

static void map_ring(int fd) {
  void *p = mmap(NULL, (RING_PAGES + 1) * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  pthread_mutex_lock(&rings_lock);
  if (nrings < MAX_RINGS)
    rings[nrings++] = p;
  pthread_mutex_unlock(&rings_lock);
}

/* What a drain leaves: every ring empty. */
static void empty_rings(void) {
  pthread_mutex_lock(&rings_lock);
  for (int i = 0; i < nrings; i++)
    __atomic_store_n(&rings[i]->data_tail, __atomic_load_n(&rings[i]->data_head, __ATOMIC_ACQUIRE),
                     __ATOMIC_RELEASE);
  pthread_mutex_unlock(&rings_lock);
}

static void per_thread_events(void) {
  if (mode != THREAD_SWITCHES && mode != THREAD_SAMPLES)
    return;
  struct perf_event_attr a;
  fill(&a, mode == THREAD_SAMPLES, 0);
  map_ring(open_event(&a, -1));
}

static void per_cpu_events(void) {
  if (mode != CPU_HOLDER && mode != CPU_OWN && mode != CPU_SWITCHES)
    return;
  long ncpu = sysconf(_SC_NPROCESSORS_CONF);
  for (int c = 0; c < ncpu && c < MAX_RINGS; c++) {
    struct perf_event_attr a;
    fill(&a, mode != CPU_SWITCHES, 1);
    int fd = open_event(&a, c);
    if (mode == CPU_OWN) {
      map_ring(fd);
      continue;
    }
    struct perf_event_attr h;
    memset(&h, 0, sizeof h);
    h.size = sizeof h;
    h.type = PERF_TYPE_SOFTWARE;
    h.config = PERF_COUNT_SW_DUMMY;
    h.disabled = 1;
    h.exclude_kernel = 1;
    h.exclude_hv = 1;
    h.use_clockid = 1;
    h.clockid = CLOCK_MONOTONIC;
    h.inherit = 1;
    h.inherit_thread = 1;
    int holder = open_event(&h, c);
    map_ring(holder);
    if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, holder) != 0) {
      perror("PERF_EVENT_IOC_SET_OUTPUT");
      exit(1);
    }
  }
}

static long peer_switches;

static void *peer(void *arg) {
  pin(0);
  per_thread_events();
  long tid = syscall(SYS_gettid);
  char c;
  for (long i = 0; i <= trips; i++) /* one more: the warm-up byte */
    if (read(p1[0], &c, 1) != 1 || write(p2[1], &c, 1) != 1)
      break;
  peer_switches = switches(tid);
  return arg;
}

/* In a fresh process: CPU ns per context switch of mode m, on stdout. */
static void child(int m) {
  mode = m;
  pin(0);
  if (pipe(p1) || pipe(p2))
    exit(1);
  per_cpu_events();
  per_thread_events();
  pthread_t t;
  pthread_create(&t, NULL, peer, NULL);
  char c = 'x';
  if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1)
    exit(1);
  long self = syscall(SYS_gettid);
  long s0 = switches(self);
  double c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < trips; i++) {
    if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1)
      exit(1);
    if ((i & 255) == 0)
      empty_rings();
  }
  double c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  long s1 = switches(self);
  pthread_join(t, NULL);
  /* the peer's count covers its whole life: the warm-up's switch is noise */
  double sw = (double)(s1 - s0 + peer_switches);
  printf("%.1f\n", sw > 0 ? (c1 - c0) / sw : 0);
  exit(0);
}

static double run(int m) {
  int fds[2];
  if (pipe(fds))
    return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    child(m);
  }
  close(fds[1]);
  char buf[64] = "";
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  return n > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? atof(buf) : -1;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  trips = argc > 1 ? atol(argv[1]) : 20000;
  int rounds = argc > 2 ? atoi(argv[2]) : 9;
  if (rounds < 1)
    rounds = 1;
  if (rounds > MAX_ROUNDS)
    rounds = MAX_ROUNDS;
  double v[NMODES][MAX_ROUNDS], d[NMODES][MAX_ROUNDS];
  double load[3] = {0};
  FILE *f = fopen("/proc/loadavg", "re");
  if (f) {
    if (fscanf(f, "%lf", &load[0]) != 1)
      load[0] = -1;
    fclose(f);
  }
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < NMODES; k++) {
      int m = r % 2 ? NMODES - 1 - k : k; /* the order turns every other round */
      v[m][r] = run(m);
    }
  f = fopen("/proc/loadavg", "re");
  if (f) {
    if (fscanf(f, "%lf", &load[1]) != 1)
      load[1] = -1;
    fclose(f);
  }
  printf("CPU ns per context switch, two threads on CPU 0 (%ld round trips, %d alternating "
         "rounds; load %.2f at start, %.2f at end%s)\n",
         trips, rounds, load[0], load[1], load[0] > 1 || load[1] > 1 ? ": UNDER LOAD" : "");
  printf("%-28s | %-24s | %s\n", "events", "ns per switch", "added per switch");
  for (int m = 0; m < NMODES; m++) {
    for (int r = 0; r < rounds; r++)
      d[m][r] = v[m][r] - v[NONE][r];
    qsort(v[m], (size_t)rounds, sizeof v[m][0], cmp);
    qsort(d[m], (size_t)rounds, sizeof d[m][0], cmp);
    printf("%-28s | %7.0f [%6.0f..%6.0f] | %+6.0f [%+.0f..%+.0f]\n", mode_name[m],
           v[m][rounds / 2], v[m][0], v[m][rounds - 1], d[m][rounds / 2], d[m][0],
           d[m][rounds - 1]);
  }
  return 0;
}
