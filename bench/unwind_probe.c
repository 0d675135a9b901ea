/*
 * unwind_probe.c - the stack walkers side by side on real programs
 * (bench/unwind.sh runs it). An LD_PRELOAD library, on its own (not under
 * ctrace run): at each blocking call it interposes, it walks the caller's
 * stack with every walker of src/record/unwind.c, in turn, each timed with
 * rdtsc, from the same starting frame, and keeps the depth, the cycles and
 * the PCs. At exit it symbolizes the stacks with libdw, from the process's
 * own maps, and prints one row per walker: the share of stacks that reach
 * the thread's start function (start_thread, clone, clone3 for threads;
 * __libc_start_main, __libc_start_call_main, _start for main), the median
 * depth, the cost per stack in ns: the first walk (median and 90th
 * percentile: caches and TLB as the program left them; walkers take turns
 * at going first) and the same walk at once again (warm, median), and the
 * warm walk's median ratio to the frame-pointer walk of a stack of the same
 * depth (measured warm in the same process, on a chain of frames with frame
 * pointers, at exit).
 *
 * Env: UNWIND_PROBE_NAME (the row's label), UNWIND_PROBE_OUT (append the
 * table there; default stderr).
 */
#include "../src/record/record.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXD 128
#define MAXEV 100000
#define NW 3
static const char *const wname[NW] = {"fp", "cfi", "dwarf"};
static int (*const walker[NW])(struct ctrace__thread *, void *, uintptr_t *, int) = {
    ctrace__unwind_fp, ctrace__unwind_cfi, ctrace__unwind_dwarf};

struct rec {
  uint32_t cycles[NW], warm[NW]; /* first walk, then the same walk again */
  uint8_t depth[NW];
  uint8_t cold; /* the cfi walk computed a rule */
  uintptr_t pcs[NW][MAXD];
};
static struct rec *recs;
static _Atomic uint32_t nrec;

#define MAXT 512
static struct ctrace__thread *pool;
static _Atomic int npool;
static __thread struct ctrace__thread *mine;
static __thread int inside;
static uint64_t tsc0, ns0;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((constructor)) static void probe_init(void) {
  recs = mmap(NULL, sizeof(struct rec) * MAXEV, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  pool = mmap(NULL, sizeof(struct ctrace__thread) * MAXT, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (recs == MAP_FAILED || pool == MAP_FAILED)
    abort();
  ctrace__code_ranges_load();
  ctrace__unwind_dwarf_init();
  tsc0 = __rdtsc();
  ns0 = mono_ns();
}

static struct ctrace__thread *thread_state(void) {
  if (mine)
    return mine;
  int i = atomic_fetch_add(&npool, 1);
  if (i >= MAXT)
    return NULL;
  struct ctrace__thread *t = &pool[i];
  pthread_attr_t attr;
  void *addr;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      t->stack_lo = (uintptr_t)addr;
      t->stack_hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&attr);
  }
  return mine = t;
}

/* Every walker on the stack above fp; the order turns from one call to the
 * next, so that none always finds the stack in the cache. */
__attribute__((noinline)) static void probe(void *fp) {
  if (inside || !recs)
    return;
  inside = 1;
  struct ctrace__thread *t = thread_state();
  uint32_t k = t ? atomic_fetch_add(&nrec, 1) : MAXEV;
  if (k < MAXEV) {
    struct rec *r = &recs[k];
    for (int j = 0; j < NW; j++) {
      int w = (int)((k + (uint32_t)j) % NW);
      uint64_t misses = ctrace__unwind_cfi_misses();
      uint64_t a = __rdtsc();
      int n = walker[w](t, fp, r->pcs[w], MAXD);
      uint64_t b = __rdtsc();
      r->cycles[w] = (uint32_t)(b - a > UINT32_MAX ? UINT32_MAX : b - a);
      a = __rdtsc();
      walker[w](t, fp, r->pcs[w], MAXD);
      b = __rdtsc();
      r->warm[w] = (uint32_t)(b - a > UINT32_MAX ? UINT32_MAX : b - a);
      r->depth[w] = (uint8_t)n;
      if (w == 1 && ctrace__unwind_cfi_misses() != misses)
        r->cold = 1;
    }
  }
  inside = 0;
}

#define NEXT(name, ...)                                                        \
  static __typeof__(name) *real;                                               \
  if (!real)                                                                   \
    real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name);                        \
  probe(__builtin_frame_address(0));                                           \
  return real(__VA_ARGS__)

ssize_t read(int fd, void *buf, size_t n) { NEXT(read, fd, buf, n); }
ssize_t write(int fd, const void *buf, size_t n) { NEXT(write, fd, buf, n); }
ssize_t sendmsg(int fd, const struct msghdr *m, int f) { NEXT(sendmsg, fd, m, f); }
ssize_t recvfrom(int fd, void *buf, size_t n, int f, struct sockaddr *a, socklen_t *l) {
  NEXT(recvfrom, fd, buf, n, f, a, l);
}
int epoll_wait(int e, struct epoll_event *ev, int n, int ms) { NEXT(epoll_wait, e, ev, n, ms); }
int poll(struct pollfd *p, nfds_t n, int ms) { NEXT(poll, p, n, ms); }
int accept4(int fd, struct sockaddr *a, socklen_t *l, int f) { NEXT(accept4, fd, a, l, f); }
int nanosleep(const struct timespec *a, struct timespec *b) { NEXT(nanosleep, a, b); }
int usleep(useconds_t us) { NEXT(usleep, us); }
int clock_nanosleep(clockid_t c, int f, const struct timespec *a, struct timespec *b) {
  NEXT(clock_nanosleep, c, f, a, b);
}
int pthread_join(pthread_t th, void **ret) { NEXT(pthread_join, th, ret); }
int pthread_mutex_lock(pthread_mutex_t *m) {
  static __typeof__(pthread_mutex_lock) *real;
  if (!real)
    real = (__typeof__(pthread_mutex_lock) *)dlsym(RTLD_NEXT, "pthread_mutex_lock");
  if (pthread_mutex_trylock(m) == 0) /* only locks that would block */
    return 0;
  probe(__builtin_frame_address(0));
  return real(m);
}
int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
  static __typeof__(pthread_cond_wait) *real;
  if (!real)
    real = (__typeof__(pthread_cond_wait) *)dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2");
  probe(__builtin_frame_address(0));
  return real(c, m);
}
int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *ts) {
  static __typeof__(pthread_cond_timedwait) *real;
  if (!real)
    real = (__typeof__(pthread_cond_timedwait) *)dlvsym(RTLD_NEXT, "pthread_cond_timedwait",
                                                         "GLIBC_2.3.2");
  probe(__builtin_frame_address(0));
  return real(c, m, ts);
}

/* ---- at exit: calibration, symbols, the table ---- */

static uint64_t fp_cycles[MAXD + 1]; /* median fp walk of a chain of depth d */
static uint64_t cfi_cycles[MAXD + 1]; /* the cfi walk of the same chain */
static struct ctrace__thread *cal_t;

__attribute__((noinline)) static void chain(int left, int depth) {
  if (left > 0) {
    chain(left - 1, depth);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
    return;
  }
  for (int w = 0; w < 2; w++) {
    uint32_t c[41];
    uintptr_t pcs[MAXD];
    for (int i = 0; i < 41; i++) {
      uint64_t a = __rdtsc();
      int n = (w ? ctrace__unwind_cfi : ctrace__unwind_fp)(cal_t, __builtin_frame_address(0), pcs,
                                                            depth);
      uint64_t b = __rdtsc();
      c[i] = n == depth ? (uint32_t)(b - a) : 0;
    }
    for (int i = 1; i < 41; i++) /* insertion sort */
      for (int j = i; j > 0 && c[j - 1] > c[j]; j--) {
        uint32_t x = c[j];
        c[j] = c[j - 1];
        c[j - 1] = x;
      }
    (w ? cfi_cycles : fp_cycles)[depth] = c[20];
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int is_start(const char *s) {
  static const char *const names[] = {"start_thread", "clone3", "__clone3", "clone", "__clone",
                                      "__libc_start_main", "__libc_start_call_main", "_start"};
  if (!s)
    return 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t n = strlen(names[i]);
    if (strncmp(s, names[i], n) == 0 && (s[n] == 0 || s[n] == '@'))
      return 1;
  }
  return 0;
}

/* Symbolized once per distinct PC. */
#define MEMO 65536
static uintptr_t memo_pc[MEMO];
static signed char memo_val[MEMO];

static int pc_is_start(Dwfl *dwfl, uintptr_t pc) {
  uint32_t h = (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 48);
  for (uint32_t i = 0; i < MEMO; i++) {
    uint32_t s = (h + i) & (MEMO - 1);
    if (memo_pc[s] == pc)
      return memo_val[s];
    if (memo_pc[s] == 0) {
      Dwfl_Module *m = dwfl ? dwfl_addrmodule(dwfl, pc - 1) : NULL;
      const char *name = m ? dwfl_module_addrname(m, pc - 1) : NULL;
      memo_pc[s] = pc;
      memo_val[s] = (signed char)is_start(name);
      return memo_val[s];
    }
  }
  return 0;
}

/* _start of a stripped executable has no symbol: it is the executable's
 * entry point (AT_ENTRY). */
#include <sys/auxv.h>

__attribute__((destructor)) static void probe_report(void) {
  inside = 1;
  mine = NULL;
  uint32_t n = atomic_load(&nrec);
  if (n > MAXEV)
    n = MAXEV;
  double ticks_per_ns = (double)(__rdtsc() - tsc0) / (double)(mono_ns() - ns0);
  cal_t = thread_state();
  if (!cal_t)
    return;
  for (int d = 1; d <= MAXD; d++)
    chain(d, d);

  static char *debuginfo_path = NULL;
  static const Dwfl_Callbacks cb = {.find_elf = dwfl_linux_proc_find_elf,
                                    .find_debuginfo = dwfl_standard_find_debuginfo,
                                    .debuginfo_path = &debuginfo_path};
  unsetenv("DEBUGINFOD_URLS");
  Dwfl *dwfl = dwfl_begin(&cb);
  if (dwfl) {
    dwfl_report_begin(dwfl);
    dwfl_linux_proc_report(dwfl, getpid());
    dwfl_report_end(dwfl, NULL, NULL);
  }
  uintptr_t entry = (uintptr_t)getauxval(AT_ENTRY);

  const char *label = getenv("UNWIND_PROBE_NAME");
  const char *outp = getenv("UNWIND_PROBE_OUT");
  FILE *out = outp ? fopen(outp, "a") : stderr;
  if (!out)
    out = stderr;
  uint64_t *v = malloc(sizeof(uint64_t) * (n + 1));
  double *x = malloc(sizeof(double) * (n + 1));
  for (int w = 0; w < NW; w++) {
    uint32_t reach = 0, nx = 0, ncold = 0;
    uint64_t sum_depth = 0;
    for (uint32_t i = 0; i < n; i++) {
      struct rec *r = &recs[i];
      int d = r->depth[w], found = 0;
      for (int j = d - 1; j >= 0 && !found; j--) {
        uintptr_t pc = r->pcs[w][j];
        if (pc > entry && pc - entry < 64) { /* a return address in _start */
          found = 1;
          break;
        }
        found = pc_is_start(dwfl, pc);
      }
      reach += (uint32_t)found;
      sum_depth += (uint64_t)d;
      v[i] = (uint64_t)d;
    }
    qsort(v, n, sizeof *v, cmp_u64);
    uint64_t med_depth = n ? v[n / 2] : 0;
    for (uint32_t i = 0; i < n; i++) {
      struct rec *r = &recs[i];
      v[i] = r->warm[w];
      int d = r->depth[w];
      if (d > 0 && fp_cycles[d] > 0)
        x[nx++] = (double)r->warm[w] / (double)fp_cycles[d];
    }
    qsort(v, n, sizeof *v, cmp_u64);
    qsort(x, nx, sizeof *x, cmp_dbl);
    uint64_t warm = n ? v[n / 2] : 0;
    for (uint32_t i = 0; i < n; i++)
      v[i] = recs[i].cycles[w];
    qsort(v, n, sizeof *v, cmp_u64);
    uint64_t med = n ? v[n / 2] : 0, p90 = n ? v[n * 9 / 10] : 0;
    char cold[64] = "";
    if (w == 1) {
      uint32_t k = 0;
      for (uint32_t i = 0; i < n; i++)
        if (recs[i].cold)
          v[k++] = recs[i].cycles[1];
      ncold = k;
      qsort(v, k, sizeof *v, cmp_u64);
      if (k)
        snprintf(cold, sizeof cold, "%u cold, median %.0f ns", ncold,
                 (double)v[k / 2] / ticks_per_ns);
    }
    fprintf(out, "| %s | %s | %u | %.1f %% | %llu | %.0f | %.0f | %.0f | %.1fx | %s |\n",
            label ? label : "program", wname[w], n, n ? 100.0 * reach / n : 0.0,
            (unsigned long long)med_depth, (double)med / ticks_per_ns,
            (double)p90 / ticks_per_ns, (double)warm / ticks_per_ns, nx ? x[nx / 2] : 0.0, cold);
  }
  fprintf(out, "calibration %s: one chain of frames with frame pointers, warm, depth 1/5/10/30: "
          "fp %.0f/%.0f/%.0f/%.0f ns, cfi %.0f/%.0f/%.0f/%.0f ns\n",
          label ? label : "program", fp_cycles[1] / ticks_per_ns, fp_cycles[5] / ticks_per_ns,
          fp_cycles[10] / ticks_per_ns, fp_cycles[30] / ticks_per_ns,
          cfi_cycles[1] / ticks_per_ns, cfi_cycles[5] / ticks_per_ns,
          cfi_cycles[10] / ticks_per_ns, cfi_cycles[30] / ticks_per_ns);
  if (out != stderr)
    fclose(out);
  free(v);
  free(x);
  if (dwfl)
    dwfl_end(dwfl);
}
