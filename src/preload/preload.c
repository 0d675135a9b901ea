/*
 * preload.c - the core of libctrace-preload.so: the table of real functions
 * and their resolution in the constructor, the configuration read from the
 * environment (config.h rows CTRACE_FAMILIES, CTRACE_MIN_NS,
 * CTRACE_FOLLOW_FORKS), and the helpers every family uses to write WAIT,
 * WAKE, SYSCALL and SOCKADDR events. Not any interposer (sync.c, sleep.c,
 * io.c, net.c, threads.c, proc.c) nor the process life (proc.c).
 */
#include "preload.h"
#include "../record/config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PL_DEFINE_REAL(name, ver) __typeof__(name) *ctrace__real_##name;
PL_REAL_FUNCS(PL_DEFINE_REAL)
#undef PL_DEFINE_REAL

struct ctrace__pl_config ctrace__pl;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CET__)
/* The return of the PL_JMP_RETURN functions (preload.h): what `ret` does,
 * through rcx (free at a return: neither a return value nor callee-saved). */
__asm__(".pushsection .text.hot.ctrace.0,\"ax\",@progbits\n"
        ".balign 4096\n"
        ".globl __x86_return_thunk\n"
        ".hidden __x86_return_thunk\n"
        ".type __x86_return_thunk, @function\n"
        "__x86_return_thunk:\n"
        "  pop %rcx\n"
        "  jmp *%rcx\n"
        ".size __x86_return_thunk, .-__x86_return_thunk\n"
        ".popsection\n");
#endif

struct real_entry {
  const char *name, *version;
  void **slot;
};
#define PL_ENTRY(name, ver) {#name, ver, (void **)&ctrace__real_##name},
static const struct real_entry reals[] = {PL_REAL_FUNCS(PL_ENTRY)};
#undef PL_ENTRY
#define NREALS (sizeof reals / sizeof reals[0])

static void *lookup(const struct real_entry *e) {
  void *p = NULL;
  if (e->version)
    p = dlvsym(RTLD_NEXT, e->name, e->version);
  if (!p)
    p = dlsym(RTLD_NEXT, e->name);
  return p;
}

/* Lazy path: an interposer called before the constructor (from another
 * library's constructor). O(n) over the table: happens a handful of times. */
void *ctrace__pl_resolve(const char *name) {
  for (size_t i = 0; i < NREALS; i++)
    if (strcmp(reals[i].name, name) == 0) {
      void *p = lookup(&reals[i]);
      if (p)
        __atomic_store_n(reals[i].slot, p, __ATOMIC_RELAXED);
      return p;
    }
  return NULL;
}

CTRACE__COLD static void resolve_all(void) {
  for (size_t i = 0; i < NREALS; i++)
    if (!*reals[i].slot)
      *reals[i].slot = lookup(&reals[i]);
}

/* ---- configuration ---- */

CTRACE__COLD static unsigned parse_families(const char *s) {
  static const struct {
    const char *name;
    unsigned bit;
  } fams[] = {{"sync", PL_SYNC}, {"sleep", PL_SLEEP}, {"io", PL_IO}, {"net", PL_NET},
              {"proc", PL_PROC}, {"all", PL_SYNC | PL_SLEEP | PL_IO | PL_NET | PL_PROC}};
  unsigned bits = 0;
  while (*s) {
    size_t n = ctrace__span(s, ',');
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
      if (strlen(fams[i].name) == n && strncmp(fams[i].name, s, n) == 0)
        bits |= fams[i].bit;
    s += n;
    if (*s == ',')
      s++;
  }
  return bits;
}

/* Called once a trace started (ctrace__config is loaded then). */
CTRACE__COLD void ctrace__pl_configure(void) {
  struct ctrace__pl_config c = {0};
  /* Checked values (config.c): a bad one is reported and replaced. */
  char fam[128], min[32], fol[16], rec[256];
  c.families = parse_families(ctrace__config_get("CTRACE_FAMILIES", fam, sizeof fam));
  long long min_ns = 0;
  ctrace__parse_ll(ctrace__config_get("CTRACE_MIN_NS", min, sizeof min), &min_ns);
  c.min_ticks = (uint64_t)((double)min_ns * ctrace__ticks_per_ns());
  c.tracer_max_ticks = (uint64_t)((double)PL_TRACER_MAX_NS * ctrace__ticks_per_ns());
  c.stacks = ctrace__config.stacks != CTRACE__STACKS_NONE;
  c.tsc = ctrace__use_tsc;
  ctrace__config_get("CTRACE_FOLLOW_FORKS", fol, sizeof fol);
  c.follow_forks = !(strcmp(fol, "0") == 0 || strcmp(fol, "no") == 0);
  /* The tracer's own start-up, from the trace's time 0 to here (the last
   * step of this process image's set-up): a short program's trace is
   * that much longer than the program. */
  uint64_t now = ctrace__now();
  uint64_t startup = now > ctrace__trace_start_ticks ? now - ctrace__trace_start_ticks : 0;
  char *e = rec + sizeof rec, *p = ctrace__cat(ctrace__cat(rec, e, "families="), e, fam);
  p = ctrace__cat_ll(ctrace__cat(p, e, " min_ns="), e, min_ns);
  p = ctrace__cat_ll(ctrace__cat(p, e, " follow_forks="), e, c.follow_forks);
  ctrace__cat_ll(ctrace__cat(p, e, " startup_ns="), e,
                 (long long)((double)startup / ctrace__ticks_per_ns()));
  ctrace__config_record(rec);
  ctrace__pl = c;
}

/* ---- recording helpers ---- */

uint32_t ctrace__pl_stack(struct ctrace__thread *t, void *fp) {
  return ctrace__pl.stacks ? ctrace__stack_here(t, fp) : 0;
}

/* Ends an event and charges the tracer's time to the thread
 * (ctrace__pl_charge, preload.h). */
static inline void finish(struct ctrace__thread *t, uint8_t *p, uint64_t since) {
  ctrace__pl_charge(t, since);
  ctrace__leave(t, p);
}

static inline void wait_event(struct ctrace__thread *t, uint8_t reason, const void *obj,
                              uint64_t t0, uint64_t t1, uint32_t st) {
  uint64_t dur = t1 > t0 ? t1 - t0 : 0;
  uint8_t *p = ctrace__ev_span(t, CTRACE_EV_WAIT, t1, dur);
  p = ctrace__put_uvarint(p, reason);
  p = ctrace__put_object(t, p, (uintptr_t)obj);
  p = ctrace__put_uvarint(p, dur);
  p = ctrace__put_uvarint(p, st);
  finish(t, p, t1);
  if (CTRACE__UNLIKELY(reason == CTRACE_WAIT_SEM || reason == CTRACE_WAIT_MUTEX ||
                       reason == CTRACE_WAIT_COND || reason == CTRACE_WAIT_RWLOCK_READ ||
                       reason == CTRACE_WAIT_RWLOCK_WRITE) &&
      ctrace__pl_pshared(reason, obj))
    ctrace__pl_shared(CTRACE_SHARED_WAIT, reason, obj, t1); /* flow.c */
}

void ctrace__pl_wait(uint8_t reason, const void *obj, uint64_t t0, uint64_t t1, void *fp) {
  int saved = errno;
  struct ctrace__thread *t = ctrace__enter();
  if (t)
    wait_event(t, reason, obj, t0, t1, ctrace__pl_stack(t, fp));
  errno = saved;
}

void ctrace__pl_wait_call(uint8_t reason, const void *obj, uint64_t t0, uint64_t t1,
                          const struct ctrace__pl_call *c, void *fp) {
  int saved = errno;
  struct ctrace__thread *t = ctrace__enter();
  if (t)
    wait_event(t, reason, obj, t0, t1,
               c->t == t && c->session == t->session ? c->stack : ctrace__pl_stack(t, fp));
  errno = saved;
}

/* ct: the calling thread's ctrace__tls, or NULL: then read again; c: the
 * call's state, whose stack is taken if it captured one in this trace. */
__attribute__((always_inline)) static inline void
syscall_event(struct ctrace__thread *ct, uint8_t call, uint8_t cls, int fd, int64_t result,
              uint64_t t0, uint64_t t1, const struct ctrace__pl_call *c, void *fp) {
  struct ctrace__thread *t = ct ? ctrace__enter_at(ct) : ctrace__enter();
  if (!t)
    return;
  uint32_t st = c && c->session && c->t == t && c->session == t->session
                    ? c->stack
                    : ctrace__pl_stack(t, fp);
  uint64_t dur = t1 > t0 ? t1 - t0 : 0;
  uint8_t *p = ctrace__ev_span(t, CTRACE_EV_SYSCALL, t1, dur);
  p = ctrace__put_uvarint(p, call);
  p = ctrace__put_uvarint(p, cls);
  p = ctrace__put_uvarint(p, (uint64_t)(uint32_t)fd);
  p = ctrace__put_result(t, p, result);
  p = ctrace__put_uvarint(p, dur);
  p = ctrace__put_uvarint(p, st);
  finish(t, p, t1);
}

void ctrace__pl_syscall(uint8_t call, uint8_t cls, int fd, int64_t result, uint64_t t0,
                        uint64_t t1, void *fp) {
  syscall_event(NULL, call, cls, fd, result, t0, t1, NULL, fp);
}

CTRACE__HOT void ctrace__pl_syscall_done(struct ctrace__thread *ct, struct ctrace__hot *h,
                                         uint8_t call, uint8_t cls, int fd, int failed,
                                         int64_t r, uint64_t t0, uint64_t t1,
                                         const struct ctrace__pl_call *c, void *fp) {
  /* errno's address without __errno_location(): one page (libc's code)
   * less to touch after the system call */
  int *ep = ct && ct->errno_p ? ct->errno_p : &errno;
  int e = *ep;
  if (cls == CTRACE_SC_BYFD) {
    uint8_t k = ctrace__pl_fd_cached_t(ct ? h : NULL, fd);
    cls = k && !(k & PL_FD_UNVERIFIED) ? k & PL_FD_CLASS : ctrace__pl_fd_class(fd);
  }
  /* ct: no second load of ctrace__tls's offset from the GOT's page */
  syscall_event(ct, call, cls, fd, failed ? -(int64_t)e : r, t0, t1, c, fp);
  *ep = e;
}

void ctrace__pl_sockaddr(int fd, uint8_t call, const struct sockaddr *sa, socklen_t len) {
  if (!sa || len == 0 || len > 128)
    return;
  uint64_t t0 = ctrace__now();
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  if (ctrace__reserve(t, len + 10) != 0) {
    ctrace__count_drop(t); /* a loss is never silent */
    ctrace__leave_empty(t);
    return;
  }
  uint8_t *p = ctrace__ev(t, CTRACE_EV_SOCKADDR, t0);
  p = ctrace__put_uvarint(p, (uint64_t)(uint32_t)fd);
  p = ctrace__put_uvarint(p, call);
  p = ctrace__put_uvarint(p, len);
  memcpy(p, sa, len);
  finish(t, p + len, t0);
}

/* What the preload changes in the recorder (src/record/record.h). The
 * program's API calls bind to this library's copy of the recorder (it comes
 * first in the search order), which then owns CTRACE_OUT. */
CTRACE__COLD static void start_env(void) {
  ctrace__pl_start_trace(0);
}

static const struct ctrace__hooks hooks = {
    .start_env = start_env,
    .fork_child = ctrace__pl_fork_child,
    .records_threads = 1,
    .lazy_writer = 1, /* a short process pays no writer thread */
    .handled_signals = ctrace__pl_handled_signals,
    .never_unloaded = 1, /* LD_PRELOAD */
};

/* Runs before the recorder's own constructor (priority 101 < default),
 * which starts the trace through the hooks: every real function is known
 * before anything can be traced. */
__attribute__((constructor(101))) static void preload_init(void) {
  ctrace__guard++;
  resolve_all();
  ctrace__guard--;
  ctrace__set_hooks(&hooks);
}
