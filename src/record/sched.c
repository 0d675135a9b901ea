/*
 * sched.c - the kernel's view of the traced process: its threads' context
 * switches and CPU samples, recorded without root with perf_event_open
 * (exclude_kernel=1 is all perf_event_paranoid 2 asks of an unprivileged
 * process observing itself).
 *
 * One event per CPU (cpu-clock when sampling, else a dummy software event),
 * on every thread that exists when the trace starts, inherited by the
 * threads they create later (inherit_thread: not by forked children, which
 * open their own), with context_switch=1 and TID|TIME in every record,
 * on CLOCK_MONOTONIC (this kind of VM offers no TSC conversion in the perf
 * page: cap_user_time_zero is 0; see bench/sched_probe.c). Each CPU's ring
 * belongs to a holder, a dummy event of its own that records nothing; the
 * CPU's events are redirected into it (PERF_EVENT_IOC_SET_OUTPUT). A ring
 * starts small and grows to the largest at a round that found it a
 * quarter full, through a middle size when the writer thread's first
 * round found it quiet: the
 * kernel allocates and clears every page of a ring when it is mapped, so a
 * short process that never needs the writer (it ends before it blocks
 * with events pending or starts a thread: a shell's `true`, `sed` in a
 * pipeline) pays for 4 pages per CPU, not 64, at its start and exit (each
 * page costs 10-15 us to allocate and clear on a VM; 2 pages would save
 * about 60 us more but hold only ~170 switches until the writer's first
 * round, which a heavy load can delay by hundreds of ms); one that runs on
 * has the middle ring (16 pages) before its traffic (growing only when a
 * round found the small one filling lost records at a server's first
 * burst, between two rounds 50 ms apart), and only a busy one pays for 64
 * (a shell waiting for its child: ~1.6 ms less CPU). The writer thread drains the rings (a
 * bounded amount per ring and round) every 10 to 50 ms, as often as keeps
 * each ring under an eighth full at the last round's rate (the kernel
 * wakes nobody: no one polls the events; the writer's timer is the only
 * wake-up, and an idle program's rings cost it 20 wake-ups a second),
 * pairs each switch-in with the switch-out that follows it on the same CPU
 * into an on-CPU interval,
 * converts times to the trace's ticks, and appends SCHED, SAMPLES and
 * SCHED_LOST records to the metadata batch (docs/FORMAT.md). Whether it
 * worked, and why not, is the trace's `sched` and `samples` properties.
 *
 * Not here: when the writer wakes (writer.c asks ctrace__sched_due), the
 * start and stop order (session.c).
 */
#include "record.h"
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h> /* glibc 2.32 */
#else
#define __libc_single_threaded 0
#endif

#define DRAIN_MIN_NS 10000000ull      /* the writer drains at most every 10 ms, */
#define DRAIN_SMALL_NS 1000000ull     /* a busy small ring, before it grows: 1 ms */
#define GROW_MARGIN 4096              /* more than a record's largest (a sample) */
#define DRAIN_MAX_NS 50000000ull      /* at least every 50 ms (a 256 KB ring) */
#define DRAIN_FIRST_NS 1000000ull     /* the first round: a small ring lasts 1 ms
                                         at 340,000 switches a second */
#define DRAIN_MAX_BYTES (256u << 10)  /* per ring and round */
#define MAX_IV 4096                   /* intervals per SCHED record */
#define MAX_SMP 1024                  /* samples per SAMPLES record */

#define RING_START_PAGES 4  /* 16 KB: ~340 switches */
#define RING_MID_PAGES 16   /* 64 KB: ~1,360 switches, from the first round */
#define RING_MAX_PAGES 64   /* 256 KB: ~5,400 switches, once a round is busy */

/* A ring buffer and the event that owns its mapping. */
struct map {
  int fd; /* -1: none */
  struct perf_event_mmap_page *pg;
  uint8_t *data;
  uint64_t size;
  size_t len;
};

struct ring {
  struct map m;   /* where this CPU's events write */
  struct map old; /* the ring before it grew: drained once more, then let go */
  int grown;      /* it reached RING_MAX_PAGES, or cannot grow: never again */
  int first_fd;   /* the start ring's holder, once a second growth took `old`'s place */
  int was_full;   /* the last round found it full (a loss may be unwritten) */
  /* the interval in progress on this CPU */
  int on;
  uint32_t cur_tid;
  uint64_t cur_in;   /* ticks */
  int cur_known;     /* its switch-in was seen */
  uint64_t last_end; /* ticks: where an interval of unknown start begins */
  uint64_t lost;     /* records lost, not yet written */
  uint64_t lost_all; /* every loss its LOST records said, written or not */
  int own;           /* m.fd is an event owning the ring (no holder) */
};

static pthread_mutex_t sched_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring *rings;
static int nrings;
/* The events, each redirected into its CPU's ring. */
struct ev {
  int fd, cpu;
};
static struct ev *evs;
static size_t nevs, capevs;
/* The first ones' memory, and the list of threads at the start, are static:
 * a process that never calls malloc does not pay for its heap because of
 * us (rings for up to 64 CPUs, 16 events, 64 threads). */
#define STATIC_RINGS 64
#define STATIC_EVS 16
#define STATIC_TASKS 64
CTRACE_TABLE static struct ring static_rings[STATIC_RINGS];
CTRACE_TABLE static struct ev static_evs[STATIC_EVS];
CTRACE_TABLE static int static_tasks[STATIC_TASKS];

/* malloc's memory, or the first (static) array: grows p of cap elements
 * of size to twice; NULL when out of memory (p stays). */
static void *grow_array(void *p, void *first, size_t cap, size_t size) {
  if (p != first)
    return realloc(p, 2 * cap * size);
  void *n = malloc(2 * cap * size);
  if (n)
    memcpy(n, p, cap * size);
  return n;
}
static _Atomic int active;    /* written under sched_lock; read by the writer's due */
static _Atomic int more_due;  /* a ring had more than a round's worth */
static _Atomic uint64_t last_drain; /* CLOCK_MONOTONIC ns */
static _Atomic uint64_t drain_ns;   /* until the next round */
static unsigned sample_hz;
static int own_pid;
static uint32_t skip_tid; /* the writer's records are not the program's */
CTRACE_TABLE static struct ctrace__thread stack_ctx; /* the stack cache of the interning */

/* this round's CLOCK_MONOTONIC -> ticks line */
static uint64_t conv_ticks, conv_mono;
static double conv_rate;

static uint64_t mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void conv_setup(void) {
  if (!ctrace__use_tsc) {
    conv_rate = 0;
    return;
  }
  uint64_t real;
  ctrace__clock_sync(&conv_ticks, &conv_mono, &real);
  conv_rate = ctrace__ticks_per_ns();
}

static uint64_t to_ticks(uint64_t mono) {
  if (conv_rate <= 0)
    return mono; /* ticks are CLOCK_MONOTONIC ns */
  double d = ((double)(int64_t)(mono - conv_mono)) * conv_rate;
  return conv_ticks + (uint64_t)(int64_t)d;
}

/*
 * The events' fds are the tracer's business, like the trace's. They are
 * moved into a block of 64 numbers at the top of the fd table a program is
 * likely to use (below RLIMIT_NOFILE, at most 4096): a program gets the
 * lowest free number, so it sees the numbers it would untraced (an F_DUPFD
 * at or above 100 too), and shells' `exec 3>log` or a dup2 onto 5 before an
 * exec never land on them. ctrace__sched_fd_ours() names them (a bit per
 * number of the block), and the preload's close(), close_range() and
 * fcntl() treat them as not open: the program never opened them. A program
 * that still takes one of those numbers (dup2) ends that event: its data
 * stops, the stop says so in the `sched_fds` property, and the tracer never
 * closes or uses the number again: it checks that a number is still a perf
 * event (PERF_EVENT_IOC_ID) first.
 */
_Atomic int ctrace__sched_fd_base = -1;
_Atomic uint64_t ctrace__sched_fd_mask;

static int fd_block_base(void) {
  int base = atomic_load(&ctrace__sched_fd_base);
  if (base < 0) {
    struct rlimit rl;
    long top = 4096;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top)
      top = (long)rl.rlim_cur;
    base = top >= 256 ? (int)top - 64 : 100;
    atomic_store(&ctrace__sched_fd_base, base);
  }
  return base;
}

static void mark_fd(int fd, int ours) {
  unsigned k = (unsigned)(fd - fd_block_base());
  if (k >= 64)
    return;
  if (ours)
    atomic_fetch_or(&ctrace__sched_fd_mask, (uint64_t)1 << k);
  else
    atomic_fetch_and(&ctrace__sched_fd_mask, ~((uint64_t)1 << k));
}

static long perf_open(struct perf_event_attr *a, int pid, int cpu) {
  long fd = syscall(SYS_perf_event_open, a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0)
    return fd;
  /* System calls, not the preload's fcntl() and close(): its fd caches
   * have nothing to learn of these fds (and their pages stay untouched). */
  int saved = errno;
  long hi = syscall(SYS_fcntl, (int)fd, F_DUPFD_CLOEXEC, fd_block_base());
  if (hi >= 0) {
    syscall(SYS_close, (int)fd);
    fd = hi;
  }
  errno = saved;
  mark_fd((int)fd, 1);
  return fd;
}

/* Is fd still one of our events (not a file the program put there)? */
static int is_event(int fd) {
  uint64_t id;
  return fd >= 0 && ioctl(fd, PERF_EVENT_IOC_ID, &id) == 0;
}

static void close_event(int fd) {
  if (is_event(fd)) {
    mark_fd(fd, 0);
    ctrace__guard++;
    close(fd);
    ctrace__guard--;
  }
}

/* Kernels before 6.0: EINVAL for PERF_FORMAT_LOST (then a loss the kernel
 * counted but never wrote into a ring before the stop goes unseen). */
static int lost_format_ok = 1;

static void fill_attr(struct perf_event_attr *a, int inherit_thread) {
  memset(a, 0, sizeof *a);
  a->size = sizeof *a;
  a->type = PERF_TYPE_SOFTWARE;
  /* No PERF_SAMPLE_CPU: the ring says which CPU (a CPU's events write
   * into its ring only), and a switch takes 48 ring bytes instead of 64. */
  a->sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
  if (sample_hz) {
    a->config = PERF_COUNT_SW_CPU_CLOCK;
    a->sample_period = 1000000000ull / sample_hz; /* cpu-clock counts ns */
    a->sample_type |= PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN;
    a->exclude_callchain_kernel = 1;
  } else {
    a->config = PERF_COUNT_SW_DUMMY;
  }
  /* read() gives every record this event's threads lost (the kernel counts
   * them on the parent event): the stop compares it with the LOST records */
  if (lost_format_ok)
    a->read_format = PERF_FORMAT_LOST;
  a->sample_id_all = 1;
  a->context_switch = 1;
  a->inherit = 1;
  a->inherit_thread = (unsigned)inherit_thread;
  a->exclude_kernel = 1;
  a->exclude_hv = 1;
  a->use_clockid = 1;
  a->clockid = CLOCK_MONOTONIC;
}

static int inherit_thread_ok = 1; /* kernels before 5.13: EINVAL */

/* Test hook CTRACE_TEST_SCHED_HOLD: the writer's rounds leave the rings
 * alone (the stop and a fatal flush still drain them), as a writer
 * starved of CPU would: the rings fill and lose what follows. */
static _Atomic int hold_drains;
/* Test hook CTRACE_TEST_SCHED_GROW: a round that read anything from a
 * middle-sized ring counts it busy, as one a quarter full would be, so the
 * growths happen while switches flow at whatever rate this machine's
 * scheduler allows (read under sched_lock). */
static int eager_growth;

static int attr_settled; /* an event opened: the fallbacks are decided */

CTRACE__COLD static long open_event(int tid, int cpu) {
  struct perf_event_attr a;
  fill_attr(&a, inherit_thread_ok);
  long fd = perf_open(&a, tid, cpu);
  /* decided at the first open, on CPU 0: later a CPU past the last also
   * answers EINVAL (how the CPUs are counted) */
  if (fd < 0 && errno == EINVAL && !attr_settled && cpu == 0 && lost_format_ok) {
    lost_format_ok = 0;
    fill_attr(&a, inherit_thread_ok);
    fd = perf_open(&a, tid, cpu);
  }
  if (fd < 0 && errno == EINVAL && !attr_settled && cpu == 0 && inherit_thread_ok) {
    inherit_thread_ok = 0; /* forked children's records are then filtered by pid */
    fill_attr(&a, 0);
    fd = perf_open(&a, tid, cpu);
  }
  if (fd >= 0)
    attr_settled = 1;
  return fd;
}

/* Maps a ring on m->fd: the most pages from max down to min (powers of
 * two) that the locked-memory budget allows (perf_event_mlock_kb, 516 KB
 * per CPU by default, for an unprivileged user, then the process's
 * RLIMIT_MEMLOCK). RING_MAX_PAGES hold ~5,400 switches (48 bytes each),
 * 0.5 s of a busy server's (10,000 a second on a CPU), 10 of the writer's
 * rounds at their longest (the rounds shorten as a ring fills faster): a
 * writer starved of CPU for that long loses nothing (longer, the loss is
 * counted: SCHED_LOST). 0 or -errno. */
static int map_pages(struct map *m, unsigned max, unsigned min) {
  long page = sysconf(_SC_PAGESIZE);
  int err = EPERM;
  for (unsigned pages = max; pages >= min; pages /= 2) {
    size_t len = (size_t)(pages + 1) * (size_t)page;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (p != MAP_FAILED) {
      m->pg = p;
      m->data = (uint8_t *)p + page;
      m->size = (uint64_t)pages * (uint64_t)page;
      m->len = len;
      return 0;
    }
    err = errno;
    if (err != EPERM && err != ENOMEM)
      break;
  }
  return -err;
}

static void unmap(struct map *m) {
  if (m->pg)
    munmap(m->pg, m->len);
  close_event(m->fd);
  *m = (struct map){.fd = -1};
}

/* Opens a holder on CPU cpu (a dummy event of this thread's: it records
 * nothing, and the ring lives as long as its fd, whichever thread exits)
 * and maps its ring. 0 or -errno. */
CTRACE__COLD static int open_holder(int cpu, struct map *m, unsigned max, unsigned min) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_DUMMY;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.use_clockid = 1; /* the events redirected into it must share its clock */
  a.clockid = CLOCK_MONOTONIC;
  a.inherit = 1;
  a.inherit_thread = (unsigned)inherit_thread_ok;
  *m = (struct map){.fd = -1};
  long fd = perf_open(&a, 0, cpu);
  if (fd < 0)
    return -errno;
  m->fd = (int)fd;
  int err = map_pages(m, max, min);
  if (err)
    unmap(m);
  return err;
}

static int add_ev(int fd, int cpu) {
  if (!evs) {
    evs = static_evs;
    capevs = STATIC_EVS;
  }
  if (nevs == capevs) {
    struct ev *n = grow_array(evs, static_evs, capevs, sizeof *n);
    if (!n)
      return -1;
    evs = n;
    capevs *= 2;
  }
  evs[nevs++] = (struct ev){fd, cpu};
  return 0;
}

/* Lets go of every event and ring; unmap: 0 in a fork child, whose
 * copies of the rings are not mapped. */
static void close_all(int unmap_rings) {
  for (int i = 0; i < nrings; i++) {
    if (unmap_rings) {
      unmap(&rings[i].m);
      unmap(&rings[i].old);
    } else {
      close_event(rings[i].m.fd);
      close_event(rings[i].old.fd);
    }
    close_event(rings[i].first_fd);
  }
  for (size_t i = 0; i < nevs; i++)
    close_event(evs[i].fd);
  if (rings != static_rings)
    free(rings);
  if (evs != static_evs)
    free(evs);
  rings = NULL;
  evs = NULL;
  nrings = 0;
  nevs = capevs = 0;
}

/* Why perf_event_open was refused, with the fix. */
CTRACE__COLD static void refusal(int err, char *why, size_t size) {
  if (err == EACCES || err == EPERM) {
    long par = -99;
    FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
    if (f) {
      if (fscanf(f, "%ld", &par) != 1)
        par = -99;
      fclose(f);
    }
    if (par > 2 || par == -99)
      snprintf(why, size,
               "perf_event_open not permitted (kernel.perf_event_paranoid is %ld); allow it "
               "with `sysctl kernel.perf_event_paranoid=2` or CAP_PERFMON", par);
    else
      snprintf(why, size,
               "perf_event_open refused (%s) although kernel.perf_event_paranoid is %ld: a "
               "seccomp filter (a container's profile) or a security module denies it; "
               "CAP_PERFMON may allow it", err == EACCES ? "EACCES" : "EPERM", par);
  } else if (err == ENOSYS) {
    snprintf(why, size, "perf_event_open is not available (ENOSYS: a container's seccomp "
                        "profile or a kernel without perf events)");
  } else if (err == ENOENT || err == EOPNOTSUPP || err == ENODEV) {
    snprintf(why, size, "the kernel has no software perf events (%s)", strerror(err));
  } else {
    snprintf(why, size, "perf_event_open: %s", strerror(err));
  }
}

/* The tids of the process's threads but the writer's; n of them, malloc'd
 * past STATIC_TASKS. A process that never made a thread (glibc's
 * __libc_single_threaded: a process image's first trace, from the
 * constructors, and a fork child's) is this thread alone: no /proc
 * directory to read (50-60 us of its start). Else getdents64 on a buffer
 * of the stack: opendir's 32 KiB buffer would be fresh heap pages. */
static int one_task;

CTRACE__COLD static __attribute__((noinline)) int *list_tasks(size_t *n, int skip) {
  *n = 0;
  if (__libc_single_threaded) {
    one_task = (int)ctrace__gettid();
    *n = 1;
    return &one_task;
  }
  size_t cap = STATIC_TASKS;
  int *v = static_tasks;
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    v[(*n)++] = (int)ctrace__gettid();
    return v;
  }
  _Alignas(8) char buf[2048];
  long got;
  while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
    for (long off = 0; off < got;) {
      struct dirent64 *e = (struct dirent64 *)(buf + off);
      off += e->d_reclen;
      int tid = (int)strtol(e->d_name, NULL, 10);
      if (tid <= 0 || tid == skip)
        continue;
      if (*n == cap) {
        int *nv = grow_array(v, static_tasks, cap, sizeof *v);
        if (!nv)
          goto out;
        v = nv;
        cap *= 2;
      }
      v[(*n)++] = tid;
    }
  }
out:
  close(fd);
  return v;
}

static void free_tasks(int *tasks) {
  if (tasks != static_tasks && tasks != &one_task)
    free(tasks);
}

/* Room for ring c (static for the first STATIC_RINGS CPUs): 0, or -1
 * when out of memory. */
static int ring_room(int c) {
  static size_t cap;
  if (!rings) {
    rings = static_rings;
    cap = STATIC_RINGS;
  }
  if ((size_t)c >= cap) {
    struct ring *n = grow_array(rings, static_rings, cap, sizeof *n);
    if (!n)
      return -1;
    rings = n;
    cap *= 2;
  }
  rings[c] = (struct ring){.m = {.fd = -1}, .old = {.fd = -1}, .first_fd = -1};
  return 0;
}

/*
 * Opens the events: 0, or -errno with *why set. One ring per CPU the
 * kernel knows (its nr_cpu_ids): an event for a CPU past the last is
 * EINVAL, which ends the count (sysconf(_SC_NPROCESSORS_CONF) reads
 * sysfs: 40-50 us of a process's start on a VM; a refused open costs
 * 2-3 us). Kernels before 5.13 refuse inherit_thread with EINVAL too:
 * that is asked at CPU 0 only, where an EINVAL cannot mean the count.
 */
CTRACE__COLD static int open_all(int writer_tid, char *why, size_t whysize) {
  nrings = 0;
  size_t ntasks;
  int *tasks = list_tasks(&ntasks, writer_tid);
  if (!tasks) {
    snprintf(why, whysize, "out of memory");
    return -ENOMEM;
  }
  int opened = 0, first_err = 0;
  for (int c = 0; c < 4096; c++) {
    if (ring_room(c) != 0) {
      free_tasks(tasks);
      snprintf(why, whysize, "out of memory");
      return -ENOMEM;
    }
    nrings = c + 1;
    struct ring *rg = &rings[c];
    for (size_t k = 0; k < ntasks; k++) {
      long fd = open_event(tasks[k], c);
      if (fd < 0) {
        int e = errno;
        if (e == EINVAL && c > 0) {
          nrings = c; /* past the last CPU */
          goto done;
        }
        if (!first_err && e != ESRCH)
          first_err = e;
        if (e == EACCES || e == EPERM || e == ENOSYS || e == ENOENT || e == EOPNOTSUPP)
          goto refused;
        continue; /* a thread gone, a CPU offline */
      }
      if (rg->m.fd < 0) {
        int err = open_holder(c, &rg->m, RING_START_PAGES, RING_START_PAGES);
        if (err == -EPERM || err == -ENOMEM) {
          close_event((int)fd);
          free_tasks(tasks);
          snprintf(why, whysize,
                   "no locked memory left for the perf ring buffers (%s: "
                   "kernel.perf_event_mlock_kb, RLIMIT_MEMLOCK)",
                   strerror(-err));
          return err;
        }
        if (err) { /* no holder: the event owns a ring that never grows */
          rg->m.fd = (int)fd;
          rg->own = 1;
          rg->grown = 1;
          err = map_pages(&rg->m, RING_MAX_PAGES, RING_START_PAGES);
          if (err) {
            unmap(&rg->m);
            free_tasks(tasks);
            snprintf(why, whysize, "perf ring buffer: %s", strerror(-err));
            return err;
          }
          opened++;
          continue;
        }
        opened++;
      }
      if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, rg->m.fd) != 0 || add_ev((int)fd, c))
        close_event((int)fd);
    }
  }
done:
  free_tasks(tasks);
  if (!opened) {
    refusal(first_err ? first_err : ENODEV, why, whysize);
    return -(first_err ? first_err : ENODEV);
  }
  return 0;
refused:
  free_tasks(tasks);
  refusal(first_err, why, whysize);
  return -first_err;
}

/* ---- what a round gathers, per ring, then writes ---- */

struct iv {
  uint64_t start, end;
  uint32_t tid;
  uint8_t flags; /* CTRACE_SCHED_* of format.h */
};
struct smp {
  uint64_t t;
  uint32_t tid, stack;
};
CTRACE_TABLE static struct iv ivs[MAX_IV];
static size_t niv;
CTRACE_TABLE static struct smp smps[MAX_SMP];
static size_t nsmp;
CTRACE_TABLE static uint8_t blob[MAX_IV * 32 + 16 * MAX_IV];

/* The per-record thread table: tid -> index in the record (key and value
 * side by side: a small record touches one page of it, not two). */
#define TT_CAP 8192
struct tt_slot {
  uint32_t tid, index; /* tid 0: free */
};
CTRACE_TABLE static struct tt_slot tt[TT_CAP];
CTRACE_TABLE static uint32_t tt_order[MAX_IV];
static uint32_t tt_n;

/* Up to TT_SCAN threads a record's table is searched in order (tt_order),
 * and the hash table, whose slots lie anywhere in 64 KB, is filled only
 * past that: a small record touches one page of them, not two. */
#define TT_SCAN 16

static void tt_hash_add(uint32_t tid, uint32_t index) {
  uint32_t h = (tid * 2654435761u) & (TT_CAP - 1);
  while (tt[h].tid)
    h = (h + 1) & (TT_CAP - 1);
  tt[h].tid = tid;
  tt[h].index = index;
}

static uint32_t tt_index(uint32_t tid) {
  if (tt_n <= TT_SCAN) {
    for (uint32_t i = 0; i < tt_n; i++)
      if (tt_order[i] == tid)
        return i;
    if (tt_n < TT_SCAN) {
      tt_order[tt_n] = tid;
      return tt_n++;
    }
    for (uint32_t i = 0; i < tt_n; i++) /* the table outgrows the scan */
      tt_hash_add(tt_order[i], i);
  }
  uint32_t h = (tid * 2654435761u) & (TT_CAP - 1);
  while (tt[h].tid) {
    if (tt[h].tid == tid)
      return tt[h].index;
    h = (h + 1) & (TT_CAP - 1);
  }
  tt[h].tid = tid;
  tt[h].index = tt_n;
  tt_order[tt_n] = tid;
  return tt_n++;
}

/* Clears the slots in use only: a whole-table memset (64 KB) per record
 * would sweep the cache of a CPU the program's threads share. */
static void tt_reset(void) {
  for (uint32_t i = 0; i < tt_n && tt_n > TT_SCAN; i++) {
    uint32_t h = (tt_order[i] * 2654435761u) & (TT_CAP - 1);
    while (tt[h].tid != tt_order[i])
      h = (h + 1) & (TT_CAP - 1);
    tt[h].tid = 0;
  }
  tt_n = 0;
}

/* Set by ctrace__sched_drain_dying while it appends to the metadata
 * without ctrace__meta_lock (the dying thread holds it for good). */
static int meta_unlocked;

/* Appends a record of kind with blob b[0..n) to the metadata batch; the
 * drain holds ctrace__meta_lock (or meta_unlocked says why not). */
static void meta_blob(uint8_t kind, const uint8_t *b, size_t n) {
  if (!meta_unlocked)
    CTRACE__ASSERT_HELD(&ctrace__meta_lock);
  uint8_t *p = ctrace__meta_reserve(n + 12);
  if (p) {
    *p++ = kind;
    *p++ = 0;
    p = ctrace__put_uvarint(p, n);
    memcpy(p, b, n);
    ctrace__meta_commit(p + n);
  }
}

static size_t uvarint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* A record of kind: the thread table at the front, then the entries in
 * e[0..elen); written straight into the metadata batch. */
static void write_with_table(uint8_t kind, int cpu, uint64_t t0, const uint8_t *e, size_t elen) {
  if (!meta_unlocked)
    CTRACE__ASSERT_HELD(&ctrace__meta_lock);
  size_t n = uvarint_len((uint64_t)cpu) + uvarint_len(t0) + uvarint_len(tt_n) + elen;
  for (uint32_t i = 0; i < tt_n; i++)
    n += uvarint_len(tt_order[i]);
  uint8_t *p = ctrace__meta_reserve(n + 12);
  if (!p)
    return;
  *p++ = kind;
  *p++ = 0;
  p = ctrace__put_uvarint(p, n);
  p = ctrace__put_uvarint(p, (uint64_t)cpu);
  p = ctrace__put_uvarint(p, t0);
  p = ctrace__put_uvarint(p, tt_n);
  for (uint32_t i = 0; i < tt_n; i++)
    p = ctrace__put_uvarint(p, tt_order[i]);
  memcpy(p, e, elen);
  ctrace__meta_commit(p + elen);
}

static void flush_ivs(int cpu) {
  if (!niv)
    return;
  tt_reset();
  uint8_t *p = blob;
  uint64_t t0 = ivs[0].start, prev = t0;
  for (size_t i = 0; i < niv; i++) {
    struct iv *v = &ivs[i];
    uint64_t s = v->start < prev ? prev : v->start;
    uint64_t e = v->end < s ? s : v->end;
    p = ctrace__put_uvarint(p, s - prev);
    p = ctrace__put_uvarint(p, e - s);
    p = ctrace__put_uvarint(p, (uint64_t)tt_index(v->tid) << 3 | v->flags);
    prev = e;
  }
  write_with_table(CTRACE_EV_SCHED, cpu, t0, blob, (size_t)(p - blob));
  niv = 0;
}

static void flush_smps(int cpu) {
  if (!nsmp)
    return;
  tt_reset();
  uint8_t *p = blob;
  uint64_t t0 = smps[0].t, prev = t0;
  for (size_t i = 0; i < nsmp; i++) {
    uint64_t t = smps[i].t < prev ? prev : smps[i].t;
    p = ctrace__put_uvarint(p, t - prev);
    p = ctrace__put_uvarint(p, tt_index(smps[i].tid));
    p = ctrace__put_uvarint(p, smps[i].stack);
    prev = t;
  }
  write_with_table(CTRACE_EV_SAMPLES, cpu, t0, blob, (size_t)(p - blob));
  nsmp = 0;
}

static void flush_lost(int cpu, struct ring *rg, uint64_t ticks) {
  if (!rg->lost)
    return;
  uint8_t b[32], *p = b;
  p = ctrace__put_uvarint(p, (uint64_t)cpu);
  p = ctrace__put_uvarint(p, ticks);
  p = ctrace__put_uvarint(p, rg->lost);
  meta_blob(CTRACE_EV_SCHED_LOST, b, (size_t)(p - b));
  rg->lost = 0;
}

static void add_iv(int cpu, uint64_t s, uint64_t e, uint32_t tid, uint8_t flags) {
  if (niv == MAX_IV)
    flush_ivs(cpu);
  ivs[niv++] = (struct iv){s, e, tid, flags};
}

/* ---- decoding the ring ---- */

struct sid { /* sample_id_all trailer: TID, TIME */
  uint32_t pid, tid;
  uint64_t time;
};

static void on_switch(int cpu, struct ring *rg, const struct perf_event_header *h,
                      const uint8_t *p) {
  struct sid s;
  memcpy(&s.pid, p, 4);
  memcpy(&s.tid, p + 4, 4);
  memcpy(&s.time, p + 8, 8);
  if ((int)s.pid != own_pid || s.tid == skip_tid)
    return; /* a forked child's (a kernel without inherit_thread), the writer's */
  uint64_t t = to_ticks(s.time);
  if (!(h->misc & PERF_RECORD_MISC_SWITCH_OUT)) {
    if (rg->on) /* its switch-out was lost */
      add_iv(cpu, rg->cur_in, t, rg->cur_tid,
             CTRACE_SCHED_LEFT_UNKNOWN | (rg->cur_known ? 0 : CTRACE_SCHED_START_UNKNOWN));
    rg->on = 1;
    rg->cur_tid = s.tid;
    rg->cur_in = t;
    rg->cur_known = 1;
    return;
  }
  uint8_t how = (h->misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT) ? CTRACE_SCHED_LEFT_PREEMPTED
                                                                  : CTRACE_SCHED_LEFT_BLOCKED;
  if (rg->on && rg->cur_tid == s.tid) {
    add_iv(cpu, rg->cur_in, t, s.tid, how);
  } else {
    if (rg->on)
      add_iv(cpu, rg->cur_in, rg->cur_in, rg->cur_tid, CTRACE_SCHED_LEFT_UNKNOWN);
    /* on the CPU since before the events (or its switch-in was lost) */
    add_iv(cpu, rg->last_end, t, s.tid, how | CTRACE_SCHED_START_UNKNOWN);
  }
  rg->on = 0;
  rg->last_end = t;
}

static void on_sample(int cpu, const uint8_t *p, const uint8_t *end) {
  /* IP, TID, TIME, CALLCHAIN */
  if (end - p < 24)
    return;
  uint64_t ip, tm, nr = 0;
  uint32_t pid, tid;
  memcpy(&ip, p, 8);
  memcpy(&pid, p + 8, 4);
  memcpy(&tid, p + 12, 4);
  memcpy(&tm, p + 16, 8);
  p += 24;
  if ((int)pid != own_pid || tid == skip_tid)
    return;
  uintptr_t pcs[CTRACE_MAX_STACK_DEPTH];
  int n = 0;
  if (end - p >= 8) {
    memcpy(&nr, p, 8);
    p += 8;
    for (uint64_t i = 0; i < nr && end - p >= 8; i++, p += 8) {
      uint64_t pc;
      memcpy(&pc, p, 8);
      if (pc >= (uint64_t)PERF_CONTEXT_MAX)
        continue; /* PERF_CONTEXT_USER and the like */
      if (pc < 4096 || !ctrace__pc_is_code((uintptr_t)pc))
        break; /* the kernel's frame-pointer walk read a word that is not a
                * return address (code without frame pointers): stop there */
      if (n < CTRACE_MAX_STACK_DEPTH)
        pcs[n++] = (uintptr_t)pc;
    }
  }
  if (!n && ip)
    pcs[n++] = (uintptr_t)ip;
  /* Not without the lock: the dying thread may have left the stack table
   * half-updated. */
  uint32_t stack = n && !meta_unlocked ? ctrace__stack_intern_locked(&stack_ctx, pcs, n) : 0;
  if (nsmp == MAX_SMP)
    flush_smps(cpu);
  smps[nsmp++] = (struct smp){to_ticks(tm), tid, stack};
}

/* Drains the map m of ring c, at most DRAIN_MAX_BYTES; 1 when more was
 * left. Adds the bytes it read to *got. */
static int drain_map(int c, struct map *m, uint64_t *got) {
  CTRACE_TABLE static uint8_t tmp[16384];
  struct ring *rg = &rings[c];
  if (!m->pg)
    return 0;
  uint64_t head = __atomic_load_n(&m->pg->data_head, __ATOMIC_ACQUIRE);
  uint64_t tail = m->pg->data_tail;
  int more = 0;
  if (head - tail > DRAIN_MAX_BYTES) {
    more = 1;
  }
  uint64_t stop_at = more ? tail + DRAIN_MAX_BYTES : head;
  while (tail < stop_at && head - tail >= sizeof(struct perf_event_header)) {
    uint64_t off = tail & (m->size - 1);
    struct perf_event_header hb;
    const uint8_t *rec = m->data + off;
    if (off + sizeof hb > m->size) {
      uint64_t first = m->size - off;
      memcpy(&hb, rec, first);
      memcpy((uint8_t *)&hb + first, m->data, sizeof hb - first);
    } else {
      memcpy(&hb, rec, sizeof hb);
    }
    uint64_t sz = hb.size;
    if (sz < sizeof hb || sz > head - tail)
      break; /* never for the kernel's records */
    if (off + sz > m->size) { /* wraps: copy it whole */
      if (sz > sizeof tmp) {
        tail += sz;
        continue;
      }
      uint64_t first = m->size - off;
      memcpy(tmp, rec, first);
      memcpy(tmp + first, m->data, sz - first);
      rec = tmp;
    }
    const uint8_t *body = rec + sizeof hb, *end = rec + sz;
    switch (hb.type) {
    case PERF_RECORD_SWITCH:
      if (end - body >= 16)
        on_switch(c, rg, &hb, body);
      break;
    case PERF_RECORD_SAMPLE:
      on_sample(c, body, end);
      break;
    case PERF_RECORD_LOST:
      if (end - body >= 16) {
        uint64_t lost;
        memcpy(&lost, body + 8, 8);
        rg->lost += lost;
        rg->lost_all += lost;
        /* the interval in progress may have lost its end */
        if (rg->on)
          rg->cur_known = 0;
      }
      break;
    default:
      break;
    }
    tail += sz;
  }
  *got += tail - m->pg->data_tail;
  __atomic_store_n(&m->pg->data_tail, tail, __ATOMIC_RELEASE);
  flush_ivs(c);
  flush_smps(c);
  return more;
}

/* Drains ring c: what is left in the ring it grew out of first (every
 * record there precedes the new ring's: the round that grew it had
 * drained it, and the kernel's writes in flight then have ended by the
 * next round), then the ring. The old ring's pages go; its holder stays
 * open until the stop: closing an inherited event changes the thread
 * contexts it was in, and the kernel then no longer switches between
 * the traced threads by swapping their (equivalent) contexts, which
 * costs every later switch (bench/sched_switch_cost). */
static int drain_ring(int c, uint64_t *got) {
  struct ring *rg = &rings[c];
  if (rg->old.pg) {
    while (drain_map(c, &rg->old, got))
      ;
    munmap(rg->old.pg, rg->old.len);
    rg->old.pg = NULL;
  }
  return drain_map(c, &rg->m, got);
}

/* Moves CPU c's events into a ring of `pages` (or as many as the budget
 * allows, if more than now); at most twice (RING_MID_PAGES, then
 * RING_MAX_PAGES). The old ring keeps what it holds for the next round.
 * 0 when it did (or never can), -1 when the small ring filled while the
 * large one was mapped, or the last growth's ring is not drained yet: a
 * later round tries again. The large ring is mapped first (the kernel
 * clears its pages: 64 pages about 1 ms on a VM), then the small one
 * drained once more and the events moved at once: a ring that fills in
 * between may hold a loss the kernel has not written yet, which would
 * vanish unseen with the move. */
static int grow(int c, unsigned pages) {
  struct ring *rg = &rings[c];
  long page = sysconf(_SC_PAGESIZE);
  if (rg->old.pg)
    return -1;
  struct map n;
  if (open_holder(c, &n, pages, (unsigned)(2 * rg->m.size / (uint64_t)page)) != 0) {
    rg->grown = 1;
    return 0;
  }
  uint64_t got = 0;
  while (drain_map(c, &rg->m, &got) && got + GROW_MARGIN < rg->m.size)
    ;
  if (got + GROW_MARGIN >= rg->m.size) {
    unmap(&n);
    return -1;
  }
  for (size_t i = 0; i < nevs; i++) {
    if (evs[i].cpu != c || ioctl(evs[i].fd, PERF_EVENT_IOC_SET_OUTPUT, n.fd) == 0)
      continue;
    /* Cannot happen to events that went into the old ring the same way;
     * if it does, they all go back. */
    for (size_t k = 0; k < i; k++)
      if (evs[k].cpu == c)
        ioctl(evs[k].fd, PERF_EVENT_IOC_SET_OUTPUT, rg->m.fd);
    unmap(&n);
    rg->grown = 1;
    return 0;
  }
  if (rg->old.fd >= 0) /* its pages went at the round after it was left */
    rg->first_fd = rg->old.fd;
  rg->old = rg->m;
  rg->m = n;
  if (n.size >= (uint64_t)RING_MAX_PAGES * (uint64_t)page || pages >= RING_MAX_PAGES)
    rg->grown = 1;
  char v[80];
  int k = snprintf(v, sizeof v, "sched_ring=CPU %d: %llu KiB", c,
                   (unsigned long long)(n.size >> 10));
  if (k > 0 && (size_t)k < sizeof v)
    meta_blob(CTRACE_EV_PROPERTY, (const uint8_t *)v, (size_t)k);
  return 0;
}

/* Drains every ring, at most DRAIN_MAX_BYTES each, or all they hold (a
 * fatal flush: until deadline); caller holds sched_lock and
 * ctrace__meta_lock. */
static void drain_locked(uint64_t deadline, int may_grow) {
  int small_busy = 0, grew = 0;
  conv_setup();
  skip_tid = (uint32_t)ctrace__writer_tid(); /* running by now */
  int more = 0;
  uint64_t now = mono_now(), since = now - last_drain;
  uint64_t next = DRAIN_MAX_NS;
  for (int c = 0; c < nrings; c++) {
    int m;
    uint64_t got = 0;
    do
      m = drain_ring(c, &got);
    while (m && deadline && mono_now() < deadline);
    more |= m;
    struct ring *rg = &rings[c];
    /*
     * Grows at the writer's first round that is safe: a loss the kernel
     * has counted but not yet written into the ring (it writes a ring's
     * PERF_RECORD_LOST before the next record it puts there) would never
     * reach the old ring once the events write elsewhere, and would vanish
     * unseen. A round that found the ring never full had no loss since the
     * last; and a loss before the last round has been written if this one
     * read anything. Until then a busy small ring is read every ms.
     */
    if (may_grow && !rg->grown && rg->m.pg) {
      int full = got + GROW_MARGIN >= rg->m.size;
      /* A ring a round found a quarter full (or full) grows to
       * RING_MAX_PAGES; a quiet start ring to RING_MID_PAGES at the first
       * safe round: a process of a few switches a second (a shell waiting
       * for its child, a small program) keeps 16 pages per CPU instead of
       * paying for 64 (the kernel allocates and clears them, ~1 ms of its
       * CPU), and a busy one has the large ring as before. */
      int mid = rg->m.size < (uint64_t)RING_MID_PAGES * (uint64_t)sysconf(_SC_PAGESIZE);
      int busy = full || rg->was_full || got >= rg->m.size / 4 || (eager_growth && got && !mid);
      if (mid || busy) {
        if (!full && (!rg->was_full || got) &&
            grow(c, busy ? RING_MAX_PAGES : RING_MID_PAGES) == 0) {
          grew = 1;
        } else {
          small_busy = 1;
        }
      }
      rg->was_full = full;
    }
    flush_lost(c, rg, to_ticks(mono_now()));
    /* At the rate of this round, when will the ring be an eighth full? */
    if (rg->m.pg) {
      uint64_t part = rg->m.size / 8;
      uint64_t t = got > part ? since * part / got : got ? since / got * part : next;
      if (t < next)
        next = t;
    }
  }
  if (next < DRAIN_MIN_NS)
    next = DRAIN_MIN_NS;
  if (grew && next > DRAIN_MIN_NS)
    next = DRAIN_MIN_NS; /* the rate so far says little: a program's start */
  if (small_busy)
    next = DRAIN_SMALL_NS;
  atomic_store(&drain_ns, next);
  atomic_store(&more_due, more);
  last_drain = mono_now();
}

/* The intervals in progress end at now (the trace's end: a stop, or the
 * process dying); caller holds both locks. */
static void end_intervals(uint64_t now) {
  for (int c = 0; c < nrings; c++) {
    struct ring *rg = &rings[c];
    if (rg->on) {
      add_iv(c, rg->cur_in, now, rg->cur_tid,
             CTRACE_SCHED_LEFT_AT_STOP | (rg->cur_known ? 0 : CTRACE_SCHED_START_UNKNOWN));
      rg->on = 0;
      flush_ivs(c);
    }
  }
}

/* ---- the hooks ---- */

static void property(const char *key, const char *value) {
  ctrace__meta_property(key, value);
}

CTRACE__COLD void ctrace__sched_start(int writer_tid) {
  char why[256];
  char v[64];
  pthread_mutex_lock(&sched_lock);
  long long hz = 0;
  ctrace__parse_ll(ctrace__config_get("CTRACE_SAMPLE_HZ", v, sizeof v), &hz); /* 0..10000 */
  sample_hz = (unsigned)hz;
  own_pid = (int)getpid();
  atomic_store_explicit(&hold_drains, getenv("CTRACE_TEST_SCHED_HOLD") != NULL,
                        memory_order_relaxed);
  eager_growth = getenv("CTRACE_TEST_SCHED_GROW") != NULL;
  /* Cleared for a trace after the first: the first finds it zero (BSS),
   * and a memset would fault its 2-3 pages in at every process's start. */
  static int stack_ctx_used;
  if (stack_ctx_used)
    memset(&stack_ctx, 0, sizeof stack_ctx);
  stack_ctx_used = 1;
  niv = nsmp = 0;
  if (strcmp(ctrace__config_get("CTRACE_SCHED", v, sizeof v), "off") == 0) {
    pthread_mutex_unlock(&sched_lock);
    property("sched", "off: CTRACE_SCHED=off");
    property("samples", "off: CTRACE_SCHED=off");
    return;
  }
  uint64_t t0 = ctrace__now(); /* before the events: records may precede the return */
  int err = open_all(writer_tid, why, sizeof why);
  if (err) {
    close_all(1);
    pthread_mutex_unlock(&sched_lock);
    char off[300];
    snprintf(off, sizeof off, "off: %s", why);
    property("sched", off);
    property("samples", "off: scheduling not recorded");
    /* Under `ctrace run` the tool says it, after the program: not on the
     * program's stderr. */
    static int said;
    if (!ctrace__hooks->start_env && !said++)
      fprintf(stderr, "ctrace: scheduling not recorded: %s\n", why);
    return;
  }
  for (int c = 0; c < nrings; c++)
    rings[c].last_end = t0;
  active = 1;
  drain_ns = DRAIN_FIRST_NS;
  last_drain = mono_now();
  pthread_mutex_unlock(&sched_lock);
  property("sched", "on");
  if (sample_hz) {
    ctrace__cat_ll(v, v + sizeof v, sample_hz);
    property("samples", v);
  } else {
    property("samples", "off: CTRACE_SAMPLE_HZ=0");
  }
}

/* The writer's (rule 3 of record.h), and a fatal flush's: no malloc (the
 * metadata and the stack table are pages), locks bounded. */
void ctrace__sched_drain(uint64_t deadline) {
  if (!deadline && atomic_load_explicit(&hold_drains, memory_order_relaxed))
    return;
  if (!atomic_load(&active) || ctrace__lock_bounded(&sched_lock, deadline) != 0)
    return;
  if (active && ctrace__lock_bounded(&ctrace__meta_lock, deadline) == 0) {
    drain_locked(deadline, !deadline);
    if (deadline)
      end_intervals(ctrace__now()); /* the process dies now */
    pthread_mutex_unlock(&ctrace__meta_lock);
  }
  pthread_mutex_unlock(&sched_lock);
}

/*
 * The fatal round's drain when the dying thread holds ctrace__meta_lock
 * (it died defining a name or a stack): ctrace__sched_drain could not take
 * the lock and drained nothing. The caller has taken the metadata that
 * thread committed (ctrace__meta_take_dying); from then on nothing else
 * appends to the metadata (its holder never runs again, every other
 * thread waits for the lock), so the records go to a fresh metadata buffer
 * without it. Samples lose their stacks: the stack table may be half
 * updated.
 */
void ctrace__sched_drain_dying(uint64_t deadline) {
  if (!atomic_load(&active) || ctrace__lock_bounded(&sched_lock, deadline) != 0)
    return;
  if (active) {
    meta_unlocked = 1;
    drain_locked(deadline, 0);
    end_intervals(ctrace__now()); /* the process dies now */
    meta_unlocked = 0;
  }
  pthread_mutex_unlock(&sched_lock);
}

uint64_t ctrace__sched_due(uint64_t due) {
  if (!atomic_load_explicit(&active, memory_order_relaxed))
    return due;
  uint64_t d = atomic_load(&more_due) ? last_drain : last_drain + atomic_load(&drain_ns);
  return d < due ? d : due;
}

/* Records lost that no LOST record told: the kernel writes a ring's
 * PERF_RECORD_LOST only before the next record it puts there, so a ring
 * still full when the events were disabled keeps its last loss to itself.
 * The events' own counts (PERF_FORMAT_LOST) say it; written as a
 * SCHED_LOST at the stop. Caller holds ctrace__meta_lock, the events
 * disabled and the rings drained. */
CTRACE__COLD static void unwritten_losses(void) {
  if (!lost_format_ok)
    return;
  uint64_t now = ctrace__now();
  for (int c = 0; c < nrings; c++) {
    struct ring *rg = &rings[c];
    uint64_t kernel = 0, v[2];
    for (size_t i = 0; i < nevs; i++)
      if (evs[i].cpu == c && is_event(evs[i].fd) && read(evs[i].fd, v, sizeof v) == sizeof v)
        kernel += v[1];
    if (rg->own && is_event(rg->m.fd) && read(rg->m.fd, v, sizeof v) == sizeof v)
      kernel += v[1];
    if (kernel > rg->lost_all) {
      rg->lost += kernel - rg->lost_all;
      rg->lost_all = kernel;
      flush_lost(c, rg, now);
    }
  }
}

CTRACE__COLD void ctrace__sched_stop(void) {
  pthread_mutex_lock(&sched_lock);
  if (!active) {
    pthread_mutex_unlock(&sched_lock);
    return;
  }
  for (int c = 0; c < nrings; c++)
    if (is_event(rings[c].m.fd)) /* a holder, or an event owning its ring */
      ioctl(rings[c].m.fd, PERF_EVENT_IOC_DISABLE, 0);
  unsigned taken = 0;
  for (size_t i = 0; i < nevs; i++) {
    if (is_event(evs[i].fd))
      ioctl(evs[i].fd, PERF_EVENT_IOC_DISABLE, 0);
    else
      taken++;
  }
  pthread_mutex_lock(&ctrace__meta_lock);
  for (int guard = 0; guard < 64; guard++) {
    drain_locked(0, 0);
    if (!atomic_load(&more_due))
      break;
  }
  unwritten_losses();
  /* Threads still on a CPU: their intervals end at the stop. */
  end_intervals(ctrace__now());
  pthread_mutex_unlock(&ctrace__meta_lock);
  if (taken) {
    char v[160];
    snprintf(v, sizeof v,
             "%u of %zu events' fds were taken by the program (dup2): their "
             "scheduling data ends there",
             taken, nevs);
    property("sched_fds", v);
  }
  if (!ctrace__exiting) /* at exit the kernel unmaps and closes them */
    close_all(1);
  active = 0;
  pthread_mutex_unlock(&sched_lock);
}

/* In a fork child: the parent's events are not ours (their fds were
 * copied; their rings were not). The child's own trace opens its own. */
void ctrace__sched_fork_child(void) {
  pthread_mutex_init(&sched_lock, NULL);
  if (rings || evs)
    close_all(0);
  active = 0;
}
