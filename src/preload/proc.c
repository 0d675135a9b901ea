/*
 * proc.c - the traced process's life: which file this process image traces
 * into, starting that trace (constructor and fork child), the exit status
 * (EXIT), fatal signals (SIGNAL, then the trace is flushed before the
 * process dies), fork (FORK; the child traces into its own file), exec (EXEC;
 * the trace is completed before the image is replaced, and the new image,
 * when the preload survives, traces into a file of its own), _exit.
 *
 * File names. The first process traces into CTRACE_OUT itself. Every other
 * process image derives its name from CTRACE_OUT: "STEM.PID.ctrace" for a
 * forked or spawned child, "STEM.PID-N.ctrace" for the Nth image a pid
 * exec'd. The environment variable CTRACE__GEN ("PID:N", internal) tells a
 * starting image whether it is the first process (unset), an exec of the
 * same pid (PID matches) or a descendant (PID differs), so posix_spawn and
 * system() children, which never run our fork code, are named right too.
 * Not here: threads (threads.c).
 */
#include "preload.h"
#include "../record/config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

pid_t ctrace__pl_pid;
static int signals_installed;

int ctrace__pl_is_trace_fd(int fd) {
  return fd >= 0 && fd == ctrace__writer_fd();
}

static pid_t real_getpid(void) {
  return (pid_t)syscall(SYS_getpid);
}

/* STEM.TAG.ctrace, STEM being out without ".ctrace" ("x.ct" gives
 * "x.ct.TAG.ctrace"; docs/RUN.md); NULL when it does not fit. */
#define DERIVED_MAX 4096

static size_t stem_len(const char *out) {
  size_t n = strlen(out);
  return n > 7 && strcmp(out + n - 7, ".ctrace") == 0 ? n - 7 : n;
}

CTRACE__COLD static int derive_fits(const char *out, const char *tag) {
  return stem_len(out) + strlen(tag) + 9 <= DERIVED_MAX;
}

CTRACE__COLD static const char *derive(char *buf, size_t size, const char *out, const char *tag) {
  size_t n = stem_len(out);
  if (n + strlen(tag) + 9 > size)
    return NULL;
  char *e = buf + size;
  ctrace__cat(ctrace__cat(ctrace__cat(ctrace__cat_n(buf, e, out, n), e, "."), e, tag), e,
              ".ctrace");
  return buf;
}

/* ---- fatal signals ---- */

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL,  SIGFPE,  SIGABRT, SIGTERM,
                                    SIGINT,  SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2,
                                    SIGALRM, SIGXCPU, SIGXFSZ, SIGSYS};

/* How long a dying process waits for the writer to flush (record.h rule
 * 4): the writer gives up on a lock held by the dying thread well before. */
#define FLUSH_WAIT_MS 1000

/*
 * Runs only where the program's disposition is the default one (which
 * kills): it records SIGNAL, asks the writer thread to write everything
 * recorded, waits for that at most FLUSH_WAIT_MS, and lets the signal kill
 * the process as it would have: SA_RESETHAND restored SIG_DFL already; a
 * fault returns and faults again, a sent signal is sent again (it stays
 * pending until this handler returns). Async-signal-safe (record.h rule
 * 4): no lock, no allocation, whatever this thread was doing.
 */
static void on_fatal(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  int saved = errno;
  if (real_getpid() == ctrace__pl_pid && ctrace_is_enabled()) {
    struct ctrace__thread *t = ctrace__enter_signal();
    if (t) {
      uint8_t *p = ctrace__ev(t, CTRACE_EV_SIGNAL, ctrace__now());
      p = ctrace__put_uvarint(p, (unsigned)sig);
      p = ctrace__put_uvarint(p, 0); /* no walk through the signal frame */
      ctrace__leave(t, p);
    } else {
      /* mid-event, or a thread not registered yet: the writer writes it */
      ctrace__writer_note_signal(sig, ctrace__now());
    }
    ctrace__writer_flush_wait(FLUSH_WAIT_MS);
  }
  int fault = si && si->si_code > 0 &&
              (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE);
  if (!fault)
    syscall(SYS_tgkill, real_getpid(), syscall(SYS_gettid), sig);
  errno = saved;
}

/*
 * Signals stay the program's. on_fatal sits in the kernel only for a fatal
 * signal whose disposition the program left (or set back) at SIG_DFL; the
 * program reads back what it set (view[]), never on_fatal, so a program
 * that installs its handlers only where it finds SIG_DFL (Python's
 * KeyboardInterrupt) behaves as untraced. A handler or SIG_IGN the program
 * sets goes to the kernel as is: the signal is then the program's to
 * handle, and its exit paths (exit, _exit, a re-raise) end the trace.
 * Not covered: dispositions set by raw rt_sigaction system calls, and
 * sigvec/sysv_signal/bsd_signal.
 */
/* The program's disposition where on_fatal sits. Zero (SIG_DFL, no flags,
 * an empty mask) until set otherwise: the start writes an entry only for
 * a default with flags or a mask (its pages are not touched otherwise). */
CTRACE_TABLE static struct sigaction view[NSIG];

static int is_fatal_signal(int sig) {
  for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
    if (fatal_signals[i] == sig)
      return 1;
  return 0;
}

static int install_on_fatal(int sig, struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fatal;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  return PL_REAL(sigaction)(sig, &sa, old);
}

static int on_fatal_installed(const struct sigaction *cur) {
  return (cur->sa_flags & SA_SIGINFO) && cur->sa_sigaction == on_fatal;
}

/* A disposition read back as SIG_DFL with no flags and an empty mask: what
 * view[] holds without being written. Only the mask's first 64 bits (the
 * kernel's) are compared: glibc copies the rest of sa_mask from its own
 * stack, whatever that holds, and comparing the whole struct wrote four
 * entries (two pages) at every process's start. */
static int plain_default(const struct sigaction *a) {
  uint64_t m;
  memcpy(&m, &a->sa_mask, sizeof m);
  return a->sa_handler == SIG_DFL && a->sa_flags == 0 && m == 0;
}

CTRACE__COLD static void install_signals(void) {
  if (signals_installed)
    return;
  signals_installed = 1;
  sigset_t all, old_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
    int sig = fatal_signals[i];
    /* One system call per signal: installed, then put back in the rare
     * case the disposition was not the default (inherited SIG_IGN). Signals
     * are blocked meanwhile, so none finds the wrong disposition. */
    struct sigaction old;
    memset(&old, 0, sizeof old); /* the kernel fills only part of sa_mask */
    if (install_on_fatal(sig, &old) != 0)
      continue;
    if (old.sa_handler != SIG_DFL) {
      PL_REAL(sigaction)(sig, &old, NULL);
      continue;
    }
    if (!plain_default(&old))
      view[sig] = old;
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
}

/* Signals the program installed a handler for (bit n: signal n), for
 * ctrace__before_block(): a thread is created only outside them. */
static _Atomic uint64_t handled;

static void note_handler(int sig, sighandler_t h) {
  if (sig > 0 && sig < 64 && h != SIG_DFL && h != SIG_IGN && h != SIG_ERR)
    atomic_fetch_or_explicit(&handled, (uint64_t)1 << sig, memory_order_relaxed);
}

uint64_t ctrace__pl_handled_signals(void) {
  return atomic_load_explicit(&handled, memory_order_relaxed);
}

PL_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oact) {
  if (act && !ctrace__guard)
    note_handler(sig, act->sa_handler);
  if (ctrace__guard || sig <= 0 || sig >= NSIG || !is_fatal_signal(sig) || !signals_installed)
    return PL_REAL(sigaction)(sig, act, oact);
  int saved = errno;
  struct sigaction cur;
  if (PL_REAL(sigaction)(sig, NULL, &cur) != 0)
    return PL_REAL(sigaction)(sig, act, oact); /* its error, as untraced */
  int ours = on_fatal_installed(&cur);
  struct sigaction old = ours ? view[sig] : cur;
  if (act) {
    int tracing = ctrace_is_enabled() && real_getpid() == ctrace__pl_pid;
    if (act->sa_handler == SIG_DFL && (ours || tracing)) {
      view[sig] = *act;
      if (!ours)
        install_on_fatal(sig, NULL);
    } else if (PL_REAL(sigaction)(sig, act, NULL) != 0) {
      return -1;
    }
  }
  if (oact)
    *oact = old;
  errno = saved;
  return 0;
}

/* glibc's signal(): BSD semantics (the signal blocked in its handler,
 * SA_RESTART), through the sigaction above. */
PL_EXPORT sighandler_t signal(int sig, sighandler_t handler) {
  if (!ctrace__guard)
    note_handler(sig, handler);
  if (ctrace__guard || sig <= 0 || sig >= NSIG || !is_fatal_signal(sig) || !signals_installed)
    return PL_REAL(signal)(sig, handler);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, sig);
  sa.sa_flags = SA_RESTART;
  if (sigaction(sig, &sa, &old) != 0)
    return SIG_ERR;
  return old.sa_handler;
}

/* ---- exit ---- */

/* in_handler: from _exit(), which may run in a signal handler: no slow
 * path (record.h rule 4). */
static void record_exit(int status, int in_handler) {
  struct ctrace__thread *t = in_handler ? ctrace__enter_signal() : ctrace__enter();
  if (!t)
    return;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_EXIT, ctrace__now());
  p = ctrace__put_uvarint(p, ctrace__zigzag(status));
  ctrace__leave(t, p);
}

/* Registered from main_wrapper: after libc registered the loader's
 * destructor pass (which stops the trace), so it runs before it. Inherited by
 * a fork child (its registration is memory). */
static void on_exit_status(int status, void *arg) {
  (void)arg;
  if (real_getpid() == ctrace__pl_pid && ctrace__pl.families & PL_PROC)
    record_exit(status, 0);
}

/*
 * _exit is async-signal-safe and often called from a signal handler or
 * with any lock held: like a fatal signal, it only asks the writer to
 * write what was recorded and waits a bounded time; no stop (which locks).
 */
#define PL_EXIT_SHAPE(name)                                                    \
  PL_EXPORT void name(int status) {                                            \
    if (!ctrace__guard && ctrace_is_enabled() && real_getpid() == ctrace__pl_pid) { \
      if (ctrace__pl.families & PL_PROC)                                       \
        record_exit(status, 1);                                                \
      ctrace__writer_flush_wait(FLUSH_WAIT_MS);                                \
    }                                                                          \
    PL_REAL(name)(status);                                                     \
    __builtin_unreachable();                                                   \
  }
PL_EXIT_SHAPE(_exit)
PL_EXIT_SHAPE(_Exit)

/*
 * The exit status reaches no handler registered from a constructor in time:
 * libc registers the loader's destructor pass (where the recorder stops)
 * after the constructors ran, so it runs first. Interposing
 * __libc_start_main lets us register on_exit just before main() instead.
 */
static int (*real_main)(int, char **, char **);

static int main_wrapper(int argc, char **argv, char **envp) {
  on_exit(on_exit_status, NULL);
  return real_main(argc, argv, envp);
}

PL_EXPORT int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
                                void (*init)(void), void (*fini)(void),
                                void (*rtld_fini)(void), void *stack_end) {
  real_main = main;
  return PL_REAL(__libc_start_main)(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}

/* ---- starting the trace of this process image ---- */

/* "PID:GEN" as this function exports it; 0 when g is not that. Not sscanf:
 * its code is pages of libc a traced process would otherwise not touch. */
/* CTRACE__GEN=tag for the programs this one executes. A new image whose
 * environment has the variable already (`ctrace run` sets it empty) gets
 * its entry replaced in place, by hand: no malloc, whose first call costs
 * a process that never allocates (a shell's `true`) its heap's set-up and
 * pages, and no call to the program's own putenv, which runs before the
 * program is ready for it (bash's, before its variables exist, is lost
 * when bash then reads its environment). A fork child calls setenv: the
 * program may keep its own table of variables (bash does), and only its
 * setenv reaches the environment it gives the programs it executes. The
 * string stays: this library is never unloaded, and a fork child writes
 * its own copy of it. */
CTRACE__COLD static void set_gen(const char *old, const char *tag, int is_fork_child) {
  static char gen_env[sizeof "CTRACE__GEN=" + 64];
  if (old && !is_fork_child) {
    for (char **e = environ; e && *e; e++)
      if (strncmp(*e, "CTRACE__GEN=", 12) == 0) {
        ctrace__cat(ctrace__cat(gen_env, gen_env + sizeof gen_env, "CTRACE__GEN="),
                    gen_env + sizeof gen_env, tag);
        *e = gen_env;
        return;
      }
  }
  setenv("CTRACE__GEN", tag, 1);
}

/* "PID:GEN", each a decimal integer; 1 when g is one. */
CTRACE__COLD static int parse_gen(const char *g, long *pid, long *gen) {
  size_t n = ctrace__span(g, ':');
  char p[24];
  long long a, b;
  if (g[n] != ':' || n >= sizeof p)
    return 0;
  ctrace__cat_n(p, p + sizeof p, g, n);
  if (!ctrace__parse_ll(p, &a) || !ctrace__parse_ll(g + n + 1, &b) || a < LONG_MIN ||
      a > LONG_MAX || b < LONG_MIN || b > LONG_MAX)
    return 0;
  *pid = (long)a;
  *gen = (long)b;
  return 1;
}

/* The file of a trace named by ptag (empty: out itself), opened above the
 * low fds: its fd, or -errno (said on stderr). The name's buffer lives
 * only in this frame: the trace's start runs on a shallower stack (each
 * page of stack first touched costs a process a page fault). */
CTRACE__COLD static __attribute__((noinline)) int open_trace(const char *out, const char *ptag) {
  char buf[DERIVED_MAX];
  const char *path = *ptag ? derive(buf, sizeof buf, out, ptag) : out;
  /* The real calls: the interposers' fd caches have nothing to learn of
   * the tracer's fd (and their pages stay untouched). */
  ctrace__guard++;
  int fd = PL_REAL(open)(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = fd < 0 ? -errno : 0;
  if (fd >= 0 && fd < 100) {
    /* Away from 0-2 and the low fds that daemons dup2 over. */
    int high = PL_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 100);
    if (high >= 0) {
      PL_REAL(close)(fd);
      fd = high;
    }
  }
  ctrace__guard--;
  if (err)
    fprintf(stderr, "ctrace: cannot trace to %s: %s\n", path, ctrace_strerror(err));
  return err ? err : fd;
}

static __attribute__((noinline)) void say_cannot(const char *out, const char *ptag, int err) {
  char buf[DERIVED_MAX];
  const char *path = *ptag ? derive(buf, sizeof buf, out, ptag) : out;
  fprintf(stderr, "ctrace: cannot trace to %s: %s\n", path, ctrace_strerror(err));
}

CTRACE__COLD void ctrace__pl_start_trace(int is_fork_child) {
  const char *out = getenv("CTRACE_OUT");
  if (!out || !*out)
    return;
  const char *fs = getenv("CTRACE_FOLLOW_FORKS");
  int follow = !(fs && (strcmp(fs, "0") == 0 || strcmp(fs, "no") == 0));
  pid_t pid = real_getpid();
  long gpid = 0, gen = 0;
  const char *g = getenv("CTRACE__GEN");
  int first = !g || !parse_gen(g, &gpid, &gen);
  char ptag[64] = "", tag[64];
  if (is_fork_child || (!first && gpid != pid)) {
    if (!follow)
      return;
    gen = 0;
    ctrace__cat_ll(ptag, ptag + sizeof ptag, pid);
  } else if (!first) {
    gen++;
    ctrace__cat_ll(ctrace__cat(ctrace__cat_ll(ptag, ptag + sizeof ptag, pid), ptag + sizeof ptag,
                               "-"),
                   ptag + sizeof ptag, gen);
  } else {
    gen = 0;
  }
  if (*ptag && !derive_fits(out, ptag)) {
    fprintf(stderr, "ctrace: trace path too long: %s\n", out);
    return;
  }
  ctrace__cat_ll(ctrace__cat(ctrace__cat_ll(tag, tag + sizeof tag, pid), tag + sizeof tag, ":"),
                 tag + sizeof tag, gen);
  set_gen(g, tag, is_fork_child);

  int fd = open_trace(out, ptag);
  if (fd < 0)
    return;
  int err = ctrace__start_env(fd);
  if (err) {
    PL_REAL(close)(fd);
    say_cannot(out, ptag, err);
    return;
  }
  ctrace__pl_pid = pid;
  if (!is_fork_child)
    install_signals();
  ctrace__pl_configure(); /* last: it records the start-up's length */
  ctrace__pl_fd_at_start(is_fork_child); /* the fds it was given (flow.c) */
}

/* ---- fork ---- */

void ctrace__pl_fork_child(void) {
  ctrace__pl.families = 0; /* nothing is recorded until the child's own trace */
  ctrace__pl_start_trace(1);
}

PL_EXPORT pid_t fork(void) {
  if (PL_PASS(PL_PROC))
    return PL_REAL(fork)();
  /* The FORK is dated when the call began: the child may run, and record,
   * before the parent returns from fork(). */
  uint64_t t0 = ctrace__now();
  pid_t r = PL_REAL(fork)();
  if (r > 0) {
    int saved = errno;
    struct ctrace__thread *t = ctrace__enter();
    if (t) {
      uint32_t st = ctrace__pl_stack(t, __builtin_frame_address(0));
      uint8_t *p = ctrace__ev(t, CTRACE_EV_FORK, t0);
      p = ctrace__put_uvarint(p, (uint64_t)r);
      p = ctrace__put_uvarint(p, st);
      ctrace__leave(t, p);
    }
    errno = saved;
  }
  return r;
}

/* ---- vfork ----
 *
 * A vfork() child runs on the parent's memory, stack and thread (its TLS)
 * until it execs or exits: anything the tracer did in it (record, move the
 * trace's fd, stop the trace at exec) would change the parent's state. The
 * interposer raises ctrace__guard around the system call, so in the child
 * every interposer goes straight to libc as untraced, and closes the
 * child's copy of the trace's fd (its fd table is its own), so that the
 * child sees the fds an untraced one would. The parent, resumed once the
 * child exec'd or exited, lowers the guard. Assembly: a vfork wrapper must
 * not return through a frame of its own (the child would pop it, the
 * parent then return through the child's leftovers). posix_spawn's child
 * runs no interposer (glibc calls its internal functions) and loses the
 * fd at exec (O_CLOEXEC).
 */
#if defined(__x86_64__)
/* Called in the child, on the parent's stack below the caller's frame. */
__attribute__((used)) static void vfork_child(void) {
  int saved = errno;
  int fd = ctrace__writer_fd();
  if (fd >= 0)
    syscall(SYS_close, fd);
  errno = saved;
}

/* In the parent, the child gone (exec'd or exited): SPAWN. */
__attribute__((used)) static void vfork_parent(long pid) {
  ctrace__pl_spawned((pid_t)pid, CTRACE_SPAWN_VFORK, __builtin_frame_address(0));
}

/* Sets errno from the failed system call; returns -1 to vfork's caller. */
__attribute__((used)) static long vfork_failed(long neg) {
  errno = (int)-neg;
  return -1;
}

__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        "  movq ctrace__guard@gottpoff(%rip), %rcx\n"
        "  addl $1, %fs:(%rcx)\n"
        "  popq %rdi\n"             /* the return address: not on the shared stack */
        "  movl $58, %eax\n"        /* SYS_vfork */
        "  syscall\n"
        "  pushq %rdi\n"
        "  testq %rax, %rax\n"
        "  jz 2f\n"
        "  movq ctrace__guard@gottpoff(%rip), %rcx\n"
        "  subl $1, %fs:(%rcx)\n"  /* the parent, the child gone */
        "  cmpq $-4095, %rax\n"
        "  jae 1f\n"
        "  pushq %rax\n"          /* aligned: rsp was 8 mod 16 */
        "  movq %rax, %rdi\n"
        "  call vfork_parent\n"
        "  popq %rax\n"
        "  ret\n"
        "1:\n"
        "  movq %rax, %rdi\n"
        "  jmp vfork_failed\n"
        "2:\n"
        "  subq $8, %rsp\n"
        "  call vfork_child\n"
        "  addq $8, %rsp\n"
        "  xorl %eax, %eax\n"
        "  ret\n"
        ".size vfork, .-vfork\n");
#endif

/* ---- exec ---- */

/* Records EXEC and completes the trace; 1 when it did (then a failed exec
 * restarts tracing). A vfork child (other pid, parent's memory) records
 * nothing: the parent's trace is not its to touch. */
static int before_exec(const char *path, void *fp) {
  if (ctrace__guard || !ctrace_is_enabled() || real_getpid() != ctrace__pl_pid)
    return 0;
  if (ctrace__pl.families & PL_PROC) {
    struct ctrace__thread *t = ctrace__enter();
    if (t) {
      uint32_t sid = ctrace__name_session_id(ctrace_name(path ? path : ""));
      uint32_t st = ctrace__pl_stack(t, fp);
      uint8_t *p = ctrace__ev(t, CTRACE_EV_EXEC, ctrace__now());
      p = ctrace__put_uvarint(p, sid);
      p = ctrace__put_uvarint(p, st);
      ctrace__leave(t, p);
    }
  }
  ctrace__stop();
  return 1;
}

static void after_failed_exec(int stopped) {
  if (!stopped)
    return;
  int saved = errno;
  ctrace__pl_start_trace(0); /* same pid: the next generation's file */
  errno = saved;
}

#define PL_EXEC_SHAPE(name, PARAMS, ARGS, PATH)                                 \
  PL_EXPORT int name PARAMS {                                                  \
    int stopped_ = before_exec(PATH, __builtin_frame_address(0));              \
    int r = PL_REAL(name) ARGS;                                                \
    after_failed_exec(stopped_);                                               \
    return r;                                                                  \
  }
PL_EXEC_SHAPE(execve, (const char *p, char *const a[], char *const e[]), (p, a, e), p)
PL_EXEC_SHAPE(execv, (const char *p, char *const a[]), (p, a), p)
PL_EXEC_SHAPE(execvp, (const char *p, char *const a[]), (p, a), p)
PL_EXEC_SHAPE(execvpe, (const char *p, char *const a[], char *const e[]), (p, a, e), p)

/* execl*: glibc builds the argv and calls execve/execvpe inside libc, out of
 * our reach; build it here and go through the interposers above. */
#define PL_COLLECT_ARGS(arg, last, argv)                                        \
  va_list ap_;                                                                 \
  size_t n_ = 1;                                                               \
  va_start(ap_, arg);                                                          \
  while (va_arg(ap_, const char *))                                            \
    n_++;                                                                      \
  va_end(ap_);                                                                 \
  char *argv[n_ + 1];                                                          \
  argv[0] = (char *)arg;                                                       \
  va_start(ap_, arg);                                                          \
  for (size_t i_ = 1; i_ <= n_; i_++)                                          \
    argv[i_] = va_arg(ap_, char *);                                            \
  last;                                                                        \
  va_end(ap_)

PL_EXPORT int execl(const char *path, const char *arg, ...) {
  PL_COLLECT_ARGS(arg, (void)0, argv);
  return execv(path, argv);
}

PL_EXPORT int execlp(const char *file, const char *arg, ...) {
  PL_COLLECT_ARGS(arg, (void)0, argv);
  return execvp(file, argv);
}

PL_EXPORT int execle(const char *path, const char *arg, ...) {
  char *const *envp;
  PL_COLLECT_ARGS(arg, envp = va_arg(ap_, char *const *), argv);
  return execve(path, argv, envp);
}
