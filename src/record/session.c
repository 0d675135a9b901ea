/*
 * session.c - starting and stopping a trace: checks of the output, the
 * writer thread's life, the hand-over of every thread's buffer at stop,
 * tracing from the environment (CTRACE_OUT), exit and fork. Not the
 * per-thread work (thread.c) nor the writing (writer.c).
 */
#include "record.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

pthread_mutex_t ctrace__lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic uint32_t ctrace__session;
int ctrace__need_fence = 1; /* until membarrier is known to work */
static const struct ctrace__hooks no_hooks;
const struct ctrace__hooks *ctrace__hooks = &no_hooks;

CTRACE__COLD void ctrace__set_hooks(const struct ctrace__hooks *hooks) {
  ctrace__hooks = hooks ? hooks : &no_hooks;
}

static uint32_t last_session; /* ids are never reused in a process */
static int active;
static int clock_ready;
static int hooks_installed;
static int autostarted;
static sigset_t start_mask; /* of the thread that started the trace */
uint64_t ctrace__trace_start_ticks;

/*
 * A trace started from the environment (CTRACE_OUT, by autostart() below or
 * by the hooks' start_env) belongs to it: a program that also uses the API
 * records into that one trace, so its own ctrace_start_*() calls succeed
 * without starting anything and its ctrace_stop() ends nothing (the trace
 * stops at exit).
 */
static int env_owned; /* under ctrace__lock */

static int joins_env_trace(void) {
  pthread_mutex_lock(&ctrace__lock);
  int yes = env_owned && active;
  pthread_mutex_unlock(&ctrace__lock);
  return yes;
}

static long membarrier(int cmd) {
  return syscall(SYS_membarrier, cmd, 0, 0);
}

/* The asymmetric fence of ctrace__enter(): see record.h. */
CTRACE__COLD static void setup_membarrier(void) {
  if (!ctrace__need_fence)
    return;
  long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
      membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
    ctrace__need_fence = 0;
}

static void fence_all_threads(void) {
  if (ctrace__need_fence || membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
    atomic_thread_fence(memory_order_seq_cst);
}

static void at_exit(void);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

CTRACE__COLD static int check_fd(int fd) {
  if (fd < 0)
    return CTRACE_EBADF;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return CTRACE_EBADF;
  if ((fl & O_ACCMODE) == O_RDONLY)
    return CTRACE_EACCES;
  return 0;
}

/* Starts a trace on fd; owned: close it at stop. */
CTRACE__COLD int ctrace__start(int fd, int owned) {
  int err = check_fd(fd);
  if (err)
    return err;
  ctrace__code_ranges_load(); /* before any stack of this trace */
  ctrace__guard++;
  pthread_mutex_lock(&ctrace__lock);
  if (active) {
    err = CTRACE_EALREADY;
    goto fail_locked;
  }
  if (!clock_ready) {
    ctrace__clock_init();
    clock_ready = 1;
  }
  if (!hooks_installed) {
    atexit(at_exit);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    hooks_installed = 1;
  }
  setup_membarrier();
  ctrace__config_load();
  pthread_mutex_lock(&ctrace__meta_lock);
  ctrace__meta_reset();
  ctrace__intern_session_reset();
  ctrace__trace_start_ticks = ctrace__meta_clock_sync();
  pthread_mutex_unlock(&ctrace__meta_lock);

  pthread_sigmask(SIG_BLOCK, NULL, &start_mask);
  err = ctrace__writer_start(fd, owned, ctrace__hooks->lazy_writer);
  if (err)
    goto fail_locked;
  if (++last_session == 0)
    last_session = 1;
  active = 1;
  atomic_store(&ctrace__trace_pid, (int)getpid());
  atomic_store_explicit(&ctrace__session, last_session, memory_order_release);
  pthread_mutex_unlock(&ctrace__lock);
  ctrace__guard--;
  /* Outside the lock: these intern strings, which may register this thread. */
  ctrace__meta_process();
  ctrace__meta_mappings();
  ctrace__meta_config();
  ctrace__sched_start(ctrace__writer_tid());
  return 0;

fail_locked:
  pthread_mutex_unlock(&ctrace__lock);
  ctrace__guard--;
  return err;
}

void ctrace__before_block(struct ctrace__thread *t) {
  struct ctrace__buf *b = __atomic_load_n(&t->buf, __ATOMIC_ACQUIRE);
  if (!b || __atomic_load_n(&t->pos, __ATOMIC_RELAXED) == b->data ||
      !atomic_load_explicit(&ctrace__session, memory_order_relaxed) || !ctrace__trace_is_ours())
    return; /* nothing waits; or a vfork child: the parent's memory */
  /* Not from a handler the program runs (it may have interrupted malloc,
   * which creating a thread calls): its signal is blocked in there. */
  uint64_t handled = ctrace__hooks->handled_signals ? ctrace__hooks->handled_signals() : 0;
  if (handled) {
    sigset_t cur;
    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0)
      return;
    for (int sig = 1; sig < 64; sig++)
      if ((handled >> sig & 1) && sigismember(&cur, sig) == 1 && sigismember(&start_mask, sig) != 1)
        return; /* perhaps in that handler: the next blocking call looks again */
  }
  ctrace__writer_ensure();
}

int ctrace_start_fd(int fd) {
  int err = check_fd(fd);
  if (err)
    return err;
  if (joins_env_trace())
    return 0;
  return ctrace__start(fd, 0);
}

int ctrace_start_path(const char *path) {
  if (!path || !*path)
    return CTRACE_EINVAL;
  if (joins_env_trace())
    return 0;
  if (ctrace_is_enabled())
    return CTRACE_EALREADY;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  int err = ctrace__start(fd, 1);
  if (err)
    close(fd);
  return err;
}

int ctrace_is_enabled(void) {
  return atomic_load_explicit(&ctrace__session, memory_order_relaxed) != 0;
}

int ctrace_write_error(void) {
  return atomic_load(&ctrace__write_err);
}

/* How long stop waits for a thread to finish the event it is writing. A
 * thread that sleeps mid-event (a handler that blocks, a thread stopped by
 * a debugger) or runs other code (a handler left by longjmp) never does:
 * it is given BUSY_WAIT_NS. One only waiting for a CPU on a loaded machine
 * is waited for up to BUSY_RUN_NS, lest an event about to complete be
 * counted as lost; it is running other code once it has had BUSY_RAN_NS
 * of CPU since (an event takes microseconds). */
#define BUSY_WAIT_NS 100000000ull
#define BUSY_RUN_NS 5000000000ull
#define BUSY_RAN_NS 20000000ull

/* /proc/self/task/TID/FILE's first bytes into buf, a C string; 0 when it
 * cannot be read. */
CTRACE__COLD static int read_task_file(uint32_t tid, const char *file, char *buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%u/%s", (unsigned)tid, file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  return n > 0;
}

/* Thread tid's state letter in /proc (R: running or waiting for a CPU) and
 * its CPU time so far (0 when unknown); 0 when it cannot be read. */
CTRACE__COLD static char thread_sched(uint32_t tid, uint64_t *ran_ns) {
  char buf[512];
  *ran_ns = read_task_file(tid, "schedstat", buf, sizeof buf) ? strtoull(buf, NULL, 10) : 0;
  if (!read_task_file(tid, "stat", buf, sizeof buf))
    return 0;
  const char *paren = strrchr(buf, ')'); /* the name may hold ')' */
  return paren && paren[1] == ' ' ? paren[2] : 0;
}

static uint64_t ns_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)(now.tv_sec - t0->tv_sec) * 1000000000ull + (uint64_t)now.tv_nsec -
         (uint64_t)t0->tv_nsec;
}

static void wait_not_busy(struct ctrace__thread *t) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t ran0 = 0, ran;
  int checked = 0;
  while (__atomic_load_n(&t->busy, __ATOMIC_ACQUIRE)) {
    sched_yield();
    uint64_t waited = ns_since(&t0);
    if (waited <= BUSY_WAIT_NS)
      continue;
    if (waited > BUSY_RUN_NS || thread_sched(t->tid, &ran) != 'R')
      return;
    if (!checked++)
      ran0 = ran;
    else if (ran - ran0 > BUSY_RAN_NS)
      return;
  }
}

/*
 * Stops the trace: no new event starts once ctrace__session is 0 and every
 * thread has passed a barrier; events in flight are waited for; then every
 * thread's buffer goes to the writer, which writes all and exits.
 */
CTRACE__COLD int ctrace__stop(void) {
  if (!ctrace__trace_is_ours())
    return CTRACE_ENOTSTARTED; /* record.h rule 6: another process's trace */
  ctrace__guard++;
  pthread_mutex_lock(&ctrace__lock);
  if (!active) {
    pthread_mutex_unlock(&ctrace__lock);
    ctrace__guard--;
    return CTRACE_ENOTSTARTED;
  }
  uint32_t s = atomic_load(&ctrace__session);
  /* This thread's own last records first, while the session still runs. */
  atomic_store(&ctrace__session, 0);
  atomic_store(&ctrace__trace_pid, 0);
  fence_all_threads();
  for (struct ctrace__thread *t = ctrace__threads; t; t = t->next) {
    if (t != ctrace__tls)
      wait_not_busy(t);
    if (t->session != s)
      continue;
    int busy = __atomic_load_n(&t->busy, __ATOMIC_ACQUIRE);
    if (busy && t != ctrace__tls && __atomic_load_n(&t->buf, __ATOMIC_ACQUIRE)) {
      /* Still mid-event after the wait (a handler that left by longjmp, or
       * a thread stopped by a debugger). Its complete events end at t->pos
       * (pos moves only when an event is done), but the thread may still
       * write past it: send a copy of them, with the event in flight
       * counted as dropped, and leave the original to the thread (leaked:
       * it never flushes it, the trace being stopped). */
      uint64_t re = __atomic_load_n(&t->reentered, __ATOMIC_RELAXED);
      ctrace__writer_push_stuck(t, t->dropped + re + 1);
      /* Reported here once: not again in the next trace. */
      t->dropped = 0;
      __atomic_fetch_sub(&t->reentered, re, __ATOMIC_RELAXED);
      continue;
    }
    if (busy && t != ctrace__tls)
      continue; /* stuck mid-event without a buffer: nothing complete to send */
    ctrace__thread_finish(t, 0);
  }
  ctrace__sched_stop();
  pthread_mutex_lock(&ctrace__meta_lock);
  ctrace__meta_clock_sync();
  pthread_mutex_unlock(&ctrace__meta_lock);
  int err = ctrace__writer_stop();
  active = 0;
  env_owned = 0;
  pthread_mutex_unlock(&ctrace__lock);
  ctrace__guard--;
  return err;
}

/*
 * One writer per file from the environment: an exclusive lock on the open
 * file, held until it is closed at stop. Another recorder that finds it
 * taken leaves it alone: a copy linked statically into a program run under
 * the preload (whose API binds to that copy, not the preload's), or another
 * process given the same CTRACE_OUT (a child exec'd with it). A file system
 * without locks is not checked.
 */
CTRACE__COLD static int lock_trace_file(int fd) {
  if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
    return 0;
  return CTRACE_EALREADY;
}

CTRACE__COLD int ctrace__start_env(int fd) {
  int err = lock_trace_file(fd);
  if (err)
    return err;
  err = ctrace__start(fd, 1);
  if (!err) {
    pthread_mutex_lock(&ctrace__lock);
    env_owned = 1;
    pthread_mutex_unlock(&ctrace__lock);
  }
  return err;
}

int ctrace_stop(void) {
  if (joins_env_trace())
    return 0;
  return ctrace__stop();
}

int ctrace__exiting;

CTRACE__COLD static void at_exit(void) {
  if (!ctrace_is_enabled() || !ctrace__trace_is_ours())
    return;
  /* A library that may be unloaded (dlclose runs this too) frees all. */
  ctrace__exiting = ctrace__hooks->never_unloaded;
  int err = ctrace__stop();
  if (err && autostarted) {
    /* Nobody else can tell the user: the program never called us. */
    fprintf(stderr, "ctrace: the trace is incomplete: %s\n", ctrace_strerror(err));
  }
}

static void fork_prepare(void) {
  ctrace__writer_wait_started();
  ctrace__guard++;
  pthread_mutex_lock(&ctrace__lock);
  pthread_mutex_lock(&ctrace__meta_lock);
  ctrace__writer_lock();
}

static void fork_parent(void) {
  ctrace__writer_unlock();
  pthread_mutex_unlock(&ctrace__meta_lock);
  pthread_mutex_unlock(&ctrace__lock);
  ctrace__guard--;
}

/* In the child only this thread exists: the writer and other threads are
 * gone. The parent's trace is not ours to continue: forget it. */
static void fork_child(void) {
  pthread_mutex_init(&ctrace__lock, NULL);
  pthread_mutex_init(&ctrace__meta_lock, NULL);
  ctrace__writer_fork_child();
  ctrace__sched_fork_child();
  atomic_store(&ctrace__session, 0);
  active = 0;
  env_owned = 0; /* the fork_child hook may start the child's own */
  ctrace__need_fence = 1; /* membarrier registration is per process */
  ctrace__threads_fork_child();
  pthread_mutex_lock(&ctrace__meta_lock);
  ctrace__meta_reset();
  pthread_mutex_unlock(&ctrace__meta_lock);
  ctrace__guard--;
  if (ctrace__hooks->fork_child)
    ctrace__hooks->fork_child();
}

/* This copy's own ctrace_is_enabled, whoever else defines the name. */
extern __typeof__(ctrace_is_enabled) ctrace__is_enabled_here
    __attribute__((alias("ctrace_is_enabled"), visibility("hidden")));

/*
 * Whether the program's ctrace_* calls reach this copy of the recorder. A
 * process may hold two: libctrace.so, and libctrace-preload.so (which has
 * its own) loaded before it by LD_PRELOAD. The dynamic linker binds every
 * call of the API, and the address read here, to the first library that
 * defines it; only that copy records, and the other leaves CTRACE_OUT alone.
 */
static int api_bound_here(void) {
  int (*volatile bound)(void) = ctrace_is_enabled;
  return bound == ctrace__is_enabled_here;
}

static void autostart_env(void);

/* CTRACE_OUT=FILE: trace from before main() to exit(). glibc passes a
 * shared object's constructors the program's arguments: the first trace's
 * PROCESS record takes them from there (procmap.c). */
CTRACE__COLD __attribute__((constructor)) static void autostart(int argc, char **argv, char **envp) {
  (void)envp;
  ctrace__meta_initial_args(argc, argv);
  if (ctrace__hooks->start_env)
    ctrace__hooks->start_env();
  else
    autostart_env();
  ctrace__meta_initial_args(-1, NULL); /* the program may change them now */
}

CTRACE__COLD static void autostart_env(void) {
  if (!api_bound_here())
    return;
  const char *out = getenv("CTRACE_OUT");
  if (!out || !*out)
    return;
  /* Truncated only once this trace holds it (lock_trace_file). */
  int fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int err = fd < 0 ? -errno : lock_trace_file(fd);
  if (!err && ftruncate(fd, 0) != 0)
    err = -errno;
  if (!err)
    err = ctrace__start_env(fd);
  if (err && fd >= 0)
    close(fd);
  if (err == CTRACE_EALREADY)
    fprintf(stderr, "ctrace: %s is written by another trace (of this or another process):"
                    " this program's ctrace_* calls record nothing\n", out);
  else if (err)
    fprintf(stderr, "ctrace: cannot trace to %s: %s\n", out, ctrace_strerror(err));
  else
    autostarted = 1;
}

__attribute__((destructor)) static void autostop(void) {
  at_exit();
}
