/*
 * record.h - libctrace's internals shared by the recorder's files and by the
 * preload library (src/preload/): per-thread state, the hot path that appends
 * an event to the calling thread's buffer, and the slow paths behind it.
 *
 * Hot path contract (every caller follows it):
 *
 *     struct ctrace__thread *t = ctrace__enter();
 *     if (!t) return;                 // not tracing, re-entered, or dropping
 *     uint8_t *p = ctrace__ev(t, CTRACE_EV_X, ctrace__now());
 *     p = ctrace__put_uvarint(p, field); ...
 *     ctrace__leave(t, p);
 *
 * Between enter and leave there is room for one fixed-field event
 * (CTRACE_MAX_FIXED_EVENT bytes); events with a blob call ctrace__reserve().
 * No lock, no allocation, no system call happens on that path; the slow paths
 * (a full buffer, a new thread, a new trace) take ctrace__lock or the writer's
 * queue lock.
 *
 * Interposers (src/preload/) must not record while ctrace__guard is set or
 * while the thread's busy flag is set: that is the tracer calling libc itself
 * (locks in slow paths, the writer thread), or a signal handler that
 * interrupted an event.
 *
 * LOCKING AND SIGNAL RULES (the code asserts them in debug builds)
 *
 *  1. The hot path (enter, ev, leave) takes no lock, allocates nothing and
 *     makes no system call. It publishes a finished event with one release
 *     store of t->pos; bytes before t->pos never change again.
 *  2. Locks, always taken in this order, never the other way round:
 *       ctrace__lock  (sessions, the thread list, thread structs' lifetime)
 *       ctrace__meta_lock (the metadata batch)
 *       the writer's queue lock (queue, free list, batch sequence numbers)
 *     A function that expects one held says so with CTRACE__ASSERT_HELD().
 *  3. The writer thread blocks every signal, and never waits for good on
 *     what a program thread may hold: a thread that dies of a signal keeps
 *     what it held when the signal came, malloc's locks included, and
 *     never lets go. So while a trace runs the writer calls no malloc or
 *     free (buffers, metadata and the stack table are pages from the
 *     kernel: ctrace__pages_alloc), takes ctrace__lock only with trylock
 *     (ctrace__stop() holds it while it joins the writer), and every other
 *     lock with ctrace__lock_bounded(): in a normal round it gives the lock
 *     up as soon as a fatal flush is asked (the fatal round follows), in a
 *     fatal flush it tries until a deadline, and not at all when the dying
 *     thread is the holder (of the metadata's lock, the fatal round then
 *     takes what was committed without it: ctrace__meta_take_dying).
 *  4. A signal handler may call only ctrace__enter_signal() (the hot path
 *     or nothing: no slow path), ctrace__writer_note_signal() (atomics)
 *     and ctrace__writer_flush_wait() (atomics,
 *     futex and clock system calls; when no writer thread was started, the
 *     handler's thread does the writer's fatal flush itself, under rule 3's
 *     bounded trylocks). Never ctrace__stop(), never a lock, never
 *     malloc/free: the handler may have interrupted their holder. (A
 *     program's handler that calls interposed functions is the program's
 *     code: it may reach slow paths; ctrace__before_block at least does not
 *     create the lazy writer while a signal the program handles is blocked.)
 *  5. A buffer leaves its thread in two ways: whole, through
 *     ctrace__writer_push() (slow path, queue lock); or in part, when the
 *     writer copies its published prefix [flushed, pos) out at least every
 *     CTRACE__FLUSH_NS (and in a fatal flush) without the thread's help.
 *     Only the writer thread recycles or frees buffers, so a buffer it reads
 *     cannot be reused under it.
 *  6. A process that did not start the trace (a child made without
 *     glibc's fork: raw clone, syscall(SYS_fork)) never touches it: the
 *     slow paths and exit check ctrace__trace_pid first, and stop tracing
 *     in that process without a lock; the interning of stacks and names
 *     takes its lock through ctrace__lock_ours().
 */
#ifndef CTRACE_RECORD_H
#define CTRACE_RECORD_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <pthread.h>
#include <time.h>
#include <assert.h>

#include "ctrace.h"
#include "../format/format.h"
#include "../base/table.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define CTRACE__HAVE_TSC 1
#endif

#define CTRACE__LIKELY(x) __builtin_expect(!!(x), 1)
#define CTRACE__UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Code a trace runs once, at its start or stop: kept together, apart from
 * the hot paths (GCC's .text.unlikely), so that a short process's start
 * touches fewer pages of the library's code (each first touch is a page
 * fault, 10-15 us on a VM); optimised for size. */
#define CTRACE__COLD __attribute__((cold))
/* Code that runs right after an interposed system call returns, to record
 * it: kept in one block, a page of its own (".text.hot.*" input sections
 * are placed together, and sorted by name in the preload, linked with
 * --sort-section=name: its return thunk, ".text.hot.ctrace.0", and the
 * system-call interposers, ".1", come first; io.c aligns this block).
 * Every page touched for the first time after a system call costs a TLB
 * miss where the kernel isolates its page tables without PCID (about
 * 15 ns on the VM of docs/RUN.md's numbers), code pages too. */
#define CTRACE__HOT __attribute__((section(".text.hot.ctrace.2")))
#define CTRACE__TLS __thread __attribute__((tls_model("initial-exec")))

/* ---- clock (clock.c) ---- */
extern int ctrace__use_tsc; /* chosen once, before the first trace starts */
void ctrace__clock_init(void);
static inline uint64_t ctrace__now(void) {
#ifdef CTRACE__HAVE_TSC
  if (CTRACE__LIKELY(ctrace__use_tsc))
    return __rdtsc();
#endif
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
/* Ticks per ns, from the kernel (perf_event page) or inherited: no sleep. */
double ctrace__ticks_per_ns(void);
/* Reads ticks, CLOCK_MONOTONIC and CLOCK_REALTIME at (nearly) one instant. */
void ctrace__clock_sync(uint64_t *ticks, uint64_t *mono_ns, uint64_t *real_ns);

/* ---- buffers ---- */
struct ctrace__buf {
  struct ctrace__buf *next;
  uint32_t tid;
  uint32_t flags; /* CTRACE_BATCH_* */
  uint64_t seq;
  uint64_t base; /* ticks the first event's delta is relative to */
  size_t len;    /* bytes of events, set when handed to the writer */
  size_t cap;
  /* The writer's, under its queue lock (the owner sets them at attach):
   * how much of data already left as partial batches, the time that part
   * ends at, and whether the buffer was handed over whole. */
  size_t flushed;
  uint64_t flushed_base;
  struct ctrace_rel flushed_rel; /* the relative fields' state there (format.h) */
  int queued;
  int in_slab; /* carved from a slab (writer.c): never unmapped alone */
  /* The writer puts the batch header here, right before data, so that
   * header and events leave in one write() without a copy. */
  uint8_t header_room[CTRACE_BATCH_HEADER_SIZE];
  uint8_t data[];
};
/* Buffers are whole pages from the kernel (mmap), not malloc's: the writer
 * and a fatal flush get and give them back without malloc's locks, which a
 * dying thread may hold for good (rule 3). */
struct ctrace__buf *ctrace__buf_new(size_t cap);
void ctrace__buf_free(struct ctrace__buf *b);
/* Zeroed memory of n bytes in whole pages (mmap); NULL when refused. Also
 * for the writer's other allocations (metadata, the stack table). */
void *ctrace__pages_alloc(size_t n);
/* p of old bytes, grown (or shrunk) to n, moved when it must (mremap). */
void *ctrace__pages_realloc(void *p, size_t old, size_t n);
void ctrace__pages_free(void *p, size_t n);

#define CTRACE__NAME_CACHE 64   /* per-thread pointer->name cache entries */
#define CTRACE__STACK_CACHE 256 /* per-thread stack-hash->id cache entries */
#define CTRACE__RULE_CACHE 64   /* per-thread unwind rules (unwind.c) */
#define CTRACE__WALK_CACHE 4    /* per-thread whole stack walks (unwind.c) */
#define CTRACE__WALK_WORDS 40   /* stack words a kept walk read, at most */

/* A string a thread named something by (a category, a counter, a region)
 * at address ptr, its name, and the name's id in the thread's trace (the
 * cache is cleared when the thread joins another; 0: empty). Strings of at
 * most 14 bytes are checked against head, their bytes with the NUL (n of
 * them), without a call; longer ones (n = 0) with strcmp. */
struct ctrace__name_slot {
  const char *ptr;
  uint32_t sid;
  ctrace_name_t name;
  uint8_t head[15];
  uint8_t n;
};
struct ctrace__stack_slot {
  uint64_t hash;
  uint32_t id;
};
/* A whole walk of the stack kept by ctrace__stack_here: where it started
 * (fp, 0: none), the trace whose stack id it gave, and every word of the
 * stack it read (address, value). A walk is a function of fp, of those
 * words and of the trace's code ranges and rules: when the words still
 * read the same, so does the stack. */
struct ctrace__walk {
  uintptr_t fp;
  uint32_t session, id;
  uint32_t n; /* words read; past CTRACE__WALK_WORDS: not kept */
  uintptr_t addr[CTRACE__WALK_WORDS], val[CTRACE__WALK_WORDS];
};

/*
 * The interposed blocking call a thread is inside (the preload sets it), so
 * that a trace that stops while the thread is blocked says so (PENDING).
 * Written only by the thread, read by the stopper without a lock, as a
 * sequence lock whose sequence is `since`: cleared first, the fields, then
 * set last with a release store; a reader that sees the same non-zero since
 * before and after the fields has a consistent copy. Every access is atomic
 * (relaxed except where marked), which compiles to plain moves.
 */
struct ctrace__pending {
  uint64_t since;   /* ticks at the call's start; 0: not inside one */
  uint64_t object;  /* the object waited on, or the fd */
  uint32_t stack;   /* stack id in trace `session`, 0: none */
  uint32_t session;
  uint8_t reason;   /* CTRACE_WAIT_*, or 0 for a system call */
  uint8_t call, cls; /* CTRACE_CALL_*, CTRACE_SC_* of a system call (cls 0:
                       * decided from the fd at stop) */
};

/*
 * One per recording thread, on the heap, reached through ctrace__tls. The
 * first fields are the hot ones.
 */
struct ctrace__thread {
  uint8_t *pos;          /* next byte to write in buf */
  uint8_t *end;          /* buf's end less a reserve for closing events */
  uint64_t last;         /* time of the last event written */
  struct ctrace_rel rel; /* relative fields' state in buf (format.h), reset per buffer */
  volatile uint32_t busy; /* 1 while this thread writes an event */
  uint32_t session;      /* the trace this state belongs to */
  /* ctrace__need_fence when it joined that trace (it does not change while
   * a trace runs): read here, on the page of the fields beside it, and not
   * on the page of the global */
  uint32_t need_fence;
  struct ctrace__buf *buf;
  uint64_t seq;          /* next batch sequence number */
  uint64_t dropped;      /* events lost since the last DROPPED record */
  uint64_t first_drop;   /* time of the first of them */
  uint32_t drop_gen;     /* ctrace__buf_gen when no buffer was left */
  uint32_t drop_waiting; /* dropping until ctrace__buf_gen moves */
  uint64_t reentered;    /* events lost to signal handlers interrupting one */
  uint64_t tracer_ticks; /* time spent inside the tracer (preload) */
  uint64_t tracer_events;
  uint32_t tid;
  uint32_t registered;   /* in the thread list */
  uintptr_t stack_lo, stack_hi; /* bounds for the frame-pointer walk */
  char name[32];         /* re-emitted when a new trace starts */
  struct ctrace__hot *hot; /* its thread's ctrace__hot (set at registration) */
  uint32_t joined;       /* it joined a trace before: its caches need clearing */
  int *errno_p;          /* this thread's errno (set at registration), or NULL */
  /* Right after the hot fields, on their page (thread.c allocates the
   * state page-aligned): a recorded system call's stack comes from here. */
  struct ctrace__walk walks[CTRACE__WALK_CACHE];
  struct ctrace__thread *next, *prev;
  struct ctrace__name_slot names[CTRACE__NAME_CACHE];
  struct ctrace__stack_slot stacks[CTRACE__STACK_CACHE];
  /* The cfi walker's rules last used by this thread, each one word (the
   * address's low half, the rule), valid in rule generation rule_gen. */
  uint32_t rule_gen;
  uint64_t rules[CTRACE__RULE_CACHE];
};

/*
 * What an interposed system call below the minimum duration touches of the
 * calling thread, kept in the static TLS block beside ctrace__tls (whose
 * page libc's own call touches too) instead of on the state's page: each
 * page touched first after a system call, and on the way to it, is a TLB
 * miss where the kernel has page-table isolation without PCID, and the
 * state's page came after two of them (the GOT's offset, then ctrace__tls).
 * Written by its thread only; the stopper reads `pending` through t->hot.
 */
struct ctrace__hot {
  struct ctrace__pending pending; /* the blocking call it is inside */
  uint32_t registered;  /* ctrace__tls is in the thread list (t->registered) */
  uint32_t writer_seen; /* the trace (ctrace__session) in which it saw the writer live */
  /* The preload's cache of the fd classes its calls looked up, by fd % 4
   * (ctrace__pl_fd_cached_t, preload.h): fd + 1 (0: empty), the class
   * table's generation read before the byte, the byte. */
  struct {
    uint32_t fd1, gen;
    uint8_t byte;
  } fd_cache[4];
};

extern CTRACE__TLS struct ctrace__thread *ctrace__tls;
extern CTRACE__TLS struct ctrace__hot ctrace__hot;
extern CTRACE__TLS int ctrace__guard;
extern _Atomic uint32_t ctrace__session; /* 0 when not tracing */
extern int ctrace__need_fence;          /* membarrier unavailable */

/* Behind ctrace__enter(): t is NULL (a new thread) or busy (re-entered). */
struct ctrace__thread *ctrace__enter_rare(struct ctrace__thread *t);
/* Behind ctrace__enter(): busy was set by enter(); a new trace, a full
 * buffer or no trace at all. */
struct ctrace__thread *ctrace__enter_slow(struct ctrace__thread *t);

/* ctrace__enter() with t, the calling thread's ctrace__tls read earlier
 * (the preload's interposers have it from before the call). */
static inline struct ctrace__thread *ctrace__enter_at(struct ctrace__thread *t) {
  if (CTRACE__UNLIKELY(t == NULL || __atomic_load_n(&t->busy, __ATOMIC_RELAXED)))
    return ctrace__enter_rare(t);
  __atomic_store_n(&t->busy, 1, __ATOMIC_RELAXED);
  /* The stopper clears ctrace__session and then issues membarrier(), which
   * orders this store before the load below on every CPU; a compiler
   * barrier is all the hot path needs. A thread in another trace than the
   * running one (or none) takes the slow path, whose lock fences. */
  atomic_signal_fence(memory_order_seq_cst);
  if (CTRACE__UNLIKELY(t->need_fence))
    atomic_thread_fence(memory_order_seq_cst);
  if (CTRACE__LIKELY(t->session == atomic_load_explicit(&ctrace__session, memory_order_relaxed) &&
                     t->end - t->pos >= (ptrdiff_t)CTRACE_MAX_FIXED_EVENT))
    return t;
  return ctrace__enter_slow(t);
}

static inline struct ctrace__thread *ctrace__enter(void) {
  return ctrace__enter_at(ctrace__tls);
}

/*
 * Publication: the event's bytes, then pos, then busy = 0, each store a
 * release (a plain move on x86, stlr on arm64), so that the stopper, which
 * reads busy (and a stuck thread's pos) with acquire loads, and the writer,
 * which reads pos for partial flushes, see every byte of every event before
 * the pos they read.
 */
static inline void ctrace__set_pos(struct ctrace__thread *t, uint8_t *p) {
  __atomic_store_n(&t->pos, p, __ATOMIC_RELEASE);
}

static inline void ctrace__leave(struct ctrace__thread *t, uint8_t *p) {
  ctrace__set_pos(t, p);
  __atomic_store_n(&t->busy, 0, __ATOMIC_RELEASE);
}

/* Leaves without writing (after ctrace__enter returned t). */
static inline void ctrace__leave_empty(struct ctrace__thread *t) {
  __atomic_store_n(&t->busy, 0, __ATOMIC_RELEASE);
}

/*
 * ctrace__enter() for signal handlers (rule 4): the hot path when it
 * applies, else NULL without ever taking the slow path (no lock, no
 * allocation). An event that does not fit is counted as dropped.
 */
static inline struct ctrace__thread *ctrace__enter_signal(void) {
  struct ctrace__thread *t = ctrace__tls;
  if (t == NULL || t->busy)
    return NULL; /* mid-event (or gone): the interrupted event completes */
  t->busy = 1;
  atomic_signal_fence(memory_order_seq_cst);
  if (CTRACE__UNLIKELY(t->need_fence))
    atomic_thread_fence(memory_order_seq_cst);
  uint32_t s = atomic_load_explicit(&ctrace__session, memory_order_relaxed);
  if (s != 0 && t->session == s && t->buf &&
      t->end - t->pos >= (ptrdiff_t)CTRACE_MAX_FIXED_EVENT)
    return t;
  if (s != 0 && t->session == s)
    t->dropped++;
  atomic_signal_fence(memory_order_seq_cst);
  t->busy = 0;
  return NULL;
}

/* Starts an event of kind at time now; returns where its fields go. */
static inline uint8_t *ctrace__ev(struct ctrace__thread *t, uint8_t kind, uint64_t now) {
  uint8_t *p = t->pos;
  uint64_t d = now > t->last ? now - t->last : 0; /* TSCs of two CPUs may differ a little */
  t->last = d ? now : t->last;
  *p++ = kind;
  return ctrace__put_uvarint(p, d);
}

/* ctrace__ev() for WAIT and SYSCALL (1.3): their time delta counts to the
 * start of their span, dur before now (format.h, "Relative fields"). */
static inline uint8_t *ctrace__ev_span(struct ctrace__thread *t, uint8_t kind, uint64_t now,
                                       uint64_t dur) {
  uint8_t *p = t->pos;
  uint64_t end = now > t->last ? now : t->last; /* as ctrace__ev: never backwards */
  uint64_t d = ctrace__zigzag((int64_t)(end - dur - t->last));
  t->last = end;
  *p++ = kind;
  return ctrace__put_uvarint(p, d);
}

/* Fields stored relative to the batch (format.h, "Relative fields"): a
 * task field, WAIT's or WAKE's object, WAKE's tid, SYSCALL's result. */
static inline uint8_t *ctrace__put_task(struct ctrace__thread *t, uint8_t *p, uint64_t task) {
  return ctrace__put_uvarint(p, ctrace__rel_task_put(&t->rel, task));
}
static inline uint8_t *ctrace__put_object(struct ctrace__thread *t, uint8_t *p, uint64_t object) {
  return ctrace__put_uvarint(p, ctrace__rel_object_put(&t->rel, object));
}
static inline uint8_t *ctrace__put_result(struct ctrace__thread *t, uint8_t *p, int64_t result) {
  return ctrace__put_uvarint(p, ctrace__rel_result_put(&t->rel, result));
}
static inline uint8_t *ctrace__put_wake_tid(struct ctrace__thread *t, uint8_t *p, uint32_t tid) {
  return ctrace__put_uvarint(p, ctrace__zigzag((int64_t)((uint64_t)tid - t->tid)));
}

/* Counts one event lost by t (t is busy: entered); the clock is read only
 * for the first of a run of losses. */
static inline void ctrace__count_drop(struct ctrace__thread *t) {
  if (t->dropped++ == 0)
    t->first_drop = ctrace__now();
}

/* Makes room for n more bytes after the fixed part (for blobs); 0 or -1. */
int ctrace__reserve_slow(struct ctrace__thread *t, size_t n);
static inline int ctrace__reserve(struct ctrace__thread *t, size_t n) {
  if (CTRACE__LIKELY((size_t)(t->end - t->pos) >= n + CTRACE_MAX_FIXED_EVENT))
    return 0;
  return ctrace__reserve_slow(t, n);
}

/* ---- blocking-call state (see struct ctrace__pending) ---- */
extern _Atomic int ctrace__writer_live; /* see ctrace__writer_ensure */
/* A blocking call begins while no writer runs: starts it when events of t
 * wait for the file (outside a signal handler of the program, session.c),
 * so that they reach it within CTRACE__FLUSH_NS even if t blocks for good. */
void ctrace__before_block(struct ctrace__thread *t);
/* Enters a blocking call: *saved keeps the state it replaces (a signal
 * handler may block inside another call) for ctrace__pending_restore. t:
 * the calling thread's registered state (ctrace__tls), h its &ctrace__hot
 * (computed once by the caller: each computation loads the TLS offset from
 * the GOT, another page after a system call). */
__attribute__((always_inline)) static inline void
ctrace__pending_set(struct ctrace__thread *t, struct ctrace__hot *h,
                    const struct ctrace__pending *n, struct ctrace__pending *saved) {
  struct ctrace__pending *d = &h->pending;
  /* only this thread writes it; usually it is not inside a call (since 0,
   * which also leaves the sequence lock's "being written" state) */
  saved->since = __atomic_load_n(&d->since, __ATOMIC_RELAXED);
  if (CTRACE__UNLIKELY(saved->since != 0)) {
    *saved = *d;
    __atomic_store_n(&d->since, 0, __ATOMIC_RELAXED);
  }
  /* The writer runs for the rest of a trace once it runs: a thread that saw
   * it in this trace does not read the global again (its page, first
   * touched after the system call before, would miss). */
  uint32_t s = atomic_load_explicit(&ctrace__session, memory_order_relaxed);
  if (CTRACE__UNLIKELY(h->writer_seen != s) && s != 0) { /* no trace: nothing to flush */
    if (atomic_load_explicit(&ctrace__writer_live, memory_order_relaxed))
      h->writer_seen = s;
    else
      ctrace__before_block(t);
  }
  atomic_thread_fence(memory_order_release);
  __atomic_store_n(&d->object, n->object, __ATOMIC_RELAXED);
  __atomic_store_n(&d->stack, n->stack, __ATOMIC_RELAXED);
  __atomic_store_n(&d->session, n->session, __ATOMIC_RELAXED);
  __atomic_store_n(&d->reason, n->reason, __ATOMIC_RELAXED);
  __atomic_store_n(&d->call, n->call, __ATOMIC_RELAXED);
  __atomic_store_n(&d->cls, n->cls, __ATOMIC_RELAXED);
  __atomic_store_n(&d->since, n->since, __ATOMIC_RELEASE);
}
/* The rare half of ctrace__pending_restore (out of line, thread.c): back
 * to the call a signal handler's call interrupted. */
void ctrace__pending_reset(struct ctrace__thread *t, struct ctrace__hot *h,
                           const struct ctrace__pending *saved);
/* Leaves it: called as soon as the real call returned, before anything is
 * recorded about it, so that a stop never sees both the call's event and
 * its PENDING. */
static inline void ctrace__pending_restore(struct ctrace__thread *t, struct ctrace__hot *h,
                                           const struct ctrace__pending *saved) {
  if (CTRACE__LIKELY(saved->since == 0))
    __atomic_store_n(&h->pending.since, 0, __ATOMIC_RELAXED);
  else
    ctrace__pending_reset(t, h, saved);
}
/* The stopper's read: 1 with a consistent copy in *out when t is inside a
 * call, else 0. */
static inline int ctrace__pending_get(struct ctrace__thread *t, struct ctrace__pending *out) {
  if (!t->hot)
    return 0;
  struct ctrace__pending *d = &t->hot->pending;
  out->since = __atomic_load_n(&d->since, __ATOMIC_ACQUIRE);
  if (!out->since)
    return 0;
  out->object = __atomic_load_n(&d->object, __ATOMIC_RELAXED);
  out->stack = __atomic_load_n(&d->stack, __ATOMIC_RELAXED);
  out->session = __atomic_load_n(&d->session, __ATOMIC_RELAXED);
  out->reason = __atomic_load_n(&d->reason, __ATOMIC_RELAXED);
  out->call = __atomic_load_n(&d->call, __ATOMIC_RELAXED);
  out->cls = __atomic_load_n(&d->cls, __ATOMIC_RELAXED);
  atomic_thread_fence(memory_order_acquire);
  return __atomic_load_n(&d->since, __ATOMIC_RELAXED) == out->since;
}
/* A system call's class 0 in the state: decided from its fd at stop, by
 * this function when set (the preload's socket-or-file test). */
extern uint8_t (*ctrace__pending_fd_class)(int fd);
/* Writes t's PENDING event at now into its buffer, when t is inside a call;
 * the stopper's, with t quiesced (not in an event, the trace stopped). */
static inline void ctrace__pending_write(struct ctrace__thread *t, const struct ctrace__pending *pd,
                                         uint64_t now) {
  uint8_t *p = ctrace__ev(t, CTRACE_EV_PENDING, now);
  uint8_t cls = pd->cls;
  if (!pd->reason && !cls && ctrace__pending_fd_class)
    cls = ctrace__pending_fd_class((int)(uint32_t)pd->object);
  p = ctrace__put_uvarint(p, pd->reason);
  p = ctrace__put_uvarint(p, pd->call);
  p = ctrace__put_uvarint(p, cls);
  p = ctrace__put_uvarint(p, pd->object);
  p = ctrace__put_uvarint(p, now > pd->since ? now - pd->since : 0);
  p = ctrace__put_uvarint(p, pd->session == t->session ? pd->stack : 0);
  ctrace__set_pos(t, p);
}

/* ---- threads and trace sessions (thread.c, session.c) ---- */
extern pthread_mutex_t ctrace__lock; /* sessions, thread list */

/* Debug-build check of rule 2: the calling thread holds mutex m. glibc
 * records a normal mutex's owner tid in __data.__owner. */
#if !defined(NDEBUG) && defined(__GLIBC__)
#define CTRACE__ASSERT_HELD(m) assert((m)->__data.__owner == (int)ctrace__gettid())
#define CTRACE__ASSERT_NOT_HELD(m) assert((m)->__data.__owner != (int)ctrace__gettid())
#else
#define CTRACE__ASSERT_HELD(m) ((void)0)
#define CTRACE__ASSERT_NOT_HELD(m) ((void)0)
#endif

/* The pid that started the running trace (rule 6); 0 when none. */
extern _Atomic int ctrace__trace_pid;
/* 1 when this process is the one that started the trace; else makes sure
 * this process (a child made without glibc's fork) records nothing more,
 * without a lock, and returns 0. Async-signal-safe. */
int ctrace__trace_is_ours(void);
/* Takes m on a path a child made without glibc's fork may reach (stack and
 * name interning): such a child may find m held for good, by a thread of
 * its parent's that it does not have. A busy m is taken only once this
 * process is known to own the trace, or no trace runs; the uncontended
 * path costs a trylock and no system call. 0, or -1 (not taken). */
int ctrace__lock_ours(pthread_mutex_t *m);
uint32_t ctrace__gettid(void);
/* Hands t's buffer to the writer and takes a new one; 0, or -1 when none. */
int ctrace__flush_thread(struct ctrace__thread *t);
void ctrace__thread_exit_hook(struct ctrace__thread *t);
/* A thread's last records in this trace and its buffer to the writer
 * (thread.c); caller holds ctrace__lock. */
void ctrace__thread_finish(struct ctrace__thread *t, int exiting);
extern struct ctrace__thread *ctrace__threads; /* under ctrace__lock */
void ctrace__list_remove(struct ctrace__thread *t);
void ctrace__threads_fork_child(void);
void ctrace__tid_reset_after_fork(void);
void ctrace__thread_set_name_local(const char *name);
int ctrace__start(int fd, int owned);
/* Starts the trace from the environment (CTRACE_OUT) on fd, closed at stop:
 * the program's own start/stop calls then join this trace instead of
 * failing or ending it; it stops at exit. */
int ctrace__start_env(int fd);
/* Stops whoever started the trace (ctrace_stop() does not stop a trace
 * from the environment). */
int ctrace__stop(void);

/*
 * Hooks: what a library built on the recorder (src/preload) changes in it.
 * That library passes its table once, from a constructor that runs before
 * the recorder's (priority below the default), so before any trace starts;
 * the recorder never looks its users up. A NULL or 0 member keeps the
 * recorder's own behaviour.
 */
struct ctrace__hooks {
  /* Starts this process image's trace from the environment in place of the
   * recorder's own CTRACE_OUT start (the preload names the files of forked
   * and exec'd processes); it calls ctrace__start_env(). */
  void (*start_env)(void);
  /* Runs in the child after fork, the parent's trace forgotten; may start
   * the child's own. */
  void (*fork_child)(void);
  /* pthread_create() itself records creation and start: the API's
   * ctrace_pthread_create() then only calls it. */
  int records_threads;
  /* Create the writer thread only when first needed (ctrace__writer_ensure). */
  int lazy_writer;
  /* Signals 1..63 (bit n: signal n) whose handler the program installed;
   * a blocking call made while one of them is blocked, and was not at the
   * start, may be inside that handler (ctrace__before_block). */
  uint64_t (*handled_signals)(void);
  /* The library is never unloaded (LD_PRELOAD): a stop at exit leaves
   * what the kernel frees with the process (pages, perf rings, their fds)
   * to it, see ctrace__exiting. */
  int never_unloaded;
};
extern const struct ctrace__hooks *ctrace__hooks; /* never NULL */
/* Set by the stop at the process's exit when hooks->never_unloaded: the
 * stop writes everything as always but frees no memory and unmaps no
 * ring (the exit does: munmap here would only cost the exiting program
 * its CPU time). */
extern int ctrace__exiting;
void ctrace__set_hooks(const struct ctrace__hooks *hooks);

/* ---- configuration (config.c), one table ---- */
enum ctrace__stack_mode { CTRACE__STACKS_NONE, CTRACE__STACKS_BLOCKING, CTRACE__STACKS_ALL };
/* A stack walker: fills pcs with up to max return addresses from fp's
 * frame; how many (unwind.c). */
typedef int ctrace__walker(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);

/* Written when a trace starts, read by events of threads that may still be
 * finishing one of the last trace's (a stop waits for them a bounded time):
 * atomic, each written once. */
struct ctrace__config {
  _Atomic size_t buffer_bytes;
  _Atomic size_t memory_bytes;
  _Atomic int stacks; /* enum ctrace__stack_mode */
  /* The stack walker, chosen when a trace starts (CTRACE_UNWIND). */
  ctrace__walker *_Atomic unwind;
};
extern struct ctrace__config ctrace__config;
void ctrace__config_load(void);

/* ---- writer (writer.c) ---- */
int ctrace__writer_start(int fd, int owned, int lazy);
/* Lazy start (the preload's traces): the writer thread is created only
 * when first needed, so that a short process pays no thread. Until then
 * ctrace__writer_live is 0; the triggers are a buffer handed over, a
 * second recording thread, and a blocking call entered with events
 * waiting (ctrace__before_block); a fatal flush or the stop without a
 * writer is done by the dying or stopping thread itself. */
void ctrace__writer_ensure(void);
/* Stops the writer after it wrote everything queued; returns the first write
 * error or 0. */
int ctrace__writer_stop(void);
/* Hands b, t's buffer (or a copy of it), to the writer; numbers it in t's
 * sequence. Takes the queue lock. */
void ctrace__writer_push(struct ctrace__thread *t, struct ctrace__buf *b);
/* At stop, for a thread stuck mid-event: its published events (what the
 * writer did not take yet) and a DROPPED record for `lost` more, as a
 * copy; the original buffer stays with the thread. Caller holds
 * ctrace__lock. */
void ctrace__writer_push_stuck(struct ctrace__thread *t, uint64_t lost);
/* Rule 3's lock: 0 once m is locked; -1 when it gave up. deadline 0: a
 * normal round, which waits until a fatal flush is asked; else a fatal
 * flush's CLOCK_MONOTONIC deadline (trylocks until then, none when the
 * dying thread holds m). Writer thread and fatal flush only. */
int ctrace__lock_bounded(pthread_mutex_t *m, uint64_t deadline);
/* Partial buffers reach the file at least this often (rule 5). */
#define CTRACE__FLUSH_NS 1000000000ull
/* Async-signal-safe (rule 4): asks the writer to write every published
 * event now (queued and partial buffers, the metadata) and waits for it at
 * most timeout_ms. 0 when it did, -1 otherwise (no writer, timed out, or
 * called from the writer itself). */
int ctrace__writer_flush_wait(int timeout_ms);
/* Async-signal-safe (rule 4): a fatal signal sig at ticks that the calling
 * thread could not record itself (ctrace__enter_signal() refused); the
 * next fatal round writes it as that thread's last event. Once per
 * process: the first caller's. */
void ctrace__writer_note_signal(int sig, uint64_t ticks);
/* Moves the trace's fd out of the way of the program (dup2 onto it):
 * returns the new fd, or -1 (the fd stays). Waits for a write in flight. */
int ctrace__writer_move_fd(void);
/* Bumped each time the writer gives buffers back: a thread that found
 * none drops without a lock until it moves (the lock-free hint). */
extern _Atomic uint32_t ctrace__buf_gen;
/* Buffers a recording thread had to malloc itself (the writer's spares
 * had run out): the hazard of docs/RUN.md, counted for tests. */
extern _Atomic uint64_t ctrace__buf_mallocs_by_threads;
/* Slabs of buffers made (a busy process's) and still mapped, for tests. */
extern _Atomic uint64_t ctrace__buf_slabs_made, ctrace__buf_slabs_mapped;
/* A free buffer, or NULL when the memory budget is spent. */
struct ctrace__buf *ctrace__buf_get(void);
void ctrace__writer_fork_child(void);
void ctrace__writer_wait_started(void);
int ctrace__writer_fd(void);
void ctrace__writer_lock(void);
void ctrace__writer_unlock(void);
extern _Atomic int ctrace__write_err;

/* ---- metadata: strings, stacks, maps, clocks (intern.c, procmap.c) ---- */
extern pthread_mutex_t ctrace__meta_lock;
/* Appends one event to the metadata batch; caller holds ctrace__meta_lock.
 * Its memory is pages (rule 3): no malloc, also in a fatal flush. */
uint8_t *ctrace__meta_reserve(size_t n);
void ctrace__meta_commit(uint8_t *end);
/* The next metadata batch's sequence number (the writer thread only). */
uint64_t ctrace__meta_next_seq(void);
/* Takes the metadata written so far (NULL when none); caller holds
 * ctrace__meta_lock. done: the buffer of the last batch taken, written
 * since (or NULL), kept for the next one: in steady state the writer
 * allocates nothing. */
struct ctrace__buf *ctrace__meta_take(struct ctrace__buf *done);
/* Only the first half of that: done is kept for the next batch (NULL: no
 * change). Caller holds ctrace__meta_lock. */
void ctrace__meta_recycle(struct ctrace__buf *done);
/* The same in a fatal round whose dying thread holds ctrace__meta_lock. */
struct ctrace__buf *ctrace__meta_take_dying(void);
void ctrace__meta_reset(void);
/* A PROPERTY record (key=value, docs/FORMAT.md); takes ctrace__meta_lock. */
void ctrace__meta_property(const char *key, const char *value);
/* Writes a CLOCK_SYNC; returns its ticks. */
uint64_t ctrace__meta_clock_sync(void);
/* The ticks of the running trace's first CLOCK_SYNC: its time 0. */
extern uint64_t ctrace__trace_start_ticks;
void ctrace__meta_process(void);
/* The arguments the constructors were given, for a PROCESS record written
 * before they return; (-1, NULL) after. */
void ctrace__meta_initial_args(int argc, char **argv);
void ctrace__meta_mappings(void);
/* Where code is, for the stack walk (unwind.c); at a trace's start. */
void ctrace__code_ranges_load(void);
/* Is pc in that code? (unwind.c) */
int ctrace__pc_is_code(uintptr_t pc);

/* The id of name in the current trace, defining it on first use; 0 when
 * it cannot be defined. */
uint32_t ctrace__string_id_slow(ctrace_name_t name);
uint32_t ctrace__name_session_id(ctrace_name_t name);
uint32_t ctrace__name_sid_slow(struct ctrace__name_slot *slot, const char *s);

/* A word of bytes at p, whatever its alignment. */
typedef uint64_t __attribute__((may_alias, aligned(1))) ctrace__unaligned_u64;

/*
 * Whether the string at s is the slot's short one (its n bytes, the NUL's
 * included). It reads 16 bytes at s when they lie on s's page, however
 * short the string there: the bytes past its end are masked out, and a
 * page that holds s's first byte can be read to its end. The sanitizers
 * would see those bytes as outside the string (and do not inline this).
 */
__attribute__((no_sanitize("address", "thread", "undefined"))) static inline int
ctrace__same_head(const char *s, const struct ctrace__name_slot *slot) {
  unsigned n = slot->n;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (CTRACE__LIKELY(((uintptr_t)s & 4095) <= 4096 - 16)) {
    const ctrace__unaligned_u64 *a = (const ctrace__unaligned_u64 *)s;
    const ctrace__unaligned_u64 *h = (const ctrace__unaligned_u64 *)slot->head;
    uint64_t m0 = n >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * n)) - 1;
    uint64_t m1 = n > 8 ? ((uint64_t)1 << (8 * (n - 8))) - 1 : 0;
    return (((a[0] ^ h[0]) & m0) | ((a[1] ^ h[1]) & m1)) == 0;
  }
#endif
  for (unsigned i = 0; i < n; i++)
    if ((uint8_t)s[i] != slot->head[i])
      return 0;
  return 1;
}

/*
 * The id in t's trace of the name of C string s (0: it could not be
 * defined), through the thread's cache by address. The string is compared
 * every time, so a buffer reused for another name is still right; a short
 * one (most names) without a call. Call sites with literal names avoid even
 * that with CTRACE_REGION().
 */
static inline uint32_t ctrace__name_sid_cached(struct ctrace__thread *t, const char *s) {
  uintptr_t k = (uintptr_t)s;
  struct ctrace__name_slot *slot = &t->names[((k >> 3) ^ (k >> 11)) & (CTRACE__NAME_CACHE - 1)];
  if (CTRACE__LIKELY(slot->ptr == s && slot->n != 0 && slot->sid != 0) &&
      CTRACE__LIKELY(ctrace__same_head(s, slot)))
    return slot->sid;
  return ctrace__name_sid_slow(slot, s);
}
void ctrace__intern_session_reset(void);

/* Captures the calling stack starting at frame pointer fp (the caller's
 * __builtin_frame_address(0)); returns the stack id in this trace, or 0.
 * With the default walker, through the thread's cache of whole walks
 * (unwind.c). */
uint32_t ctrace__stack_here(struct ctrace__thread *t, void *fp);
int ctrace__stack_capture(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
/* The walkers behind ctrace__stack_capture (unwind.c): frame pointers,
 * glibc's backtrace(), and the default, .eh_frame rules cached per return
 * address. Each is safe in a signal handler once a trace started (the
 * dwarf walker once ctrace__unwind_dwarf_init ran) and never faults. */
int ctrace__unwind_fp(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
int ctrace__unwind_dwarf(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
void ctrace__unwind_dwarf_init(void);
int ctrace__unwind_cfi(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
/* How many rules the cfi walker computed in this process (cache misses). */
uint64_t ctrace__unwind_cfi_misses(void);
uint32_t ctrace__stack_intern(struct ctrace__thread *t, const uintptr_t *pcs, int n);
/* The same, caller holding ctrace__meta_lock (the writer's drain of
 * samples, rule 3); allocates only pages. */
uint32_t ctrace__stack_intern_locked(struct ctrace__thread *t, const uintptr_t *pcs, int n);

/* ---- the kernel's scheduling records (sched.c) ---- */
/* Opens the perf events once the writer is created (writer_tid: its tid
 * when it runs already, else 0: its records are then dropped at drain);
 * records the `sched` and `samples` properties. */
void ctrace__sched_start(int writer_tid);
/* The writer's: drains the rings into the metadata batch, its locks taken
 * with ctrace__lock_bounded(deadline). deadline != 0: a fatal flush (the
 * process dies next): everything the rings hold, and the intervals in
 * progress end now; async-signal-safe (no malloc, bounded locks). */
void ctrace__sched_drain(uint64_t deadline);
/* The same in a fatal round whose dying thread holds ctrace__meta_lock,
 * after the caller took what that thread committed (ctrace__meta_take_dying):
 * into a fresh metadata buffer, without the lock; samples without stacks. */
void ctrace__sched_drain_dying(uint64_t deadline);
/* The writer's next wake-up: due, or sooner when rings need draining. */
uint64_t ctrace__sched_due(uint64_t due);
/* At stop, caller holds ctrace__lock: disables, drains, closes. */
void ctrace__sched_stop(void);
void ctrace__sched_fork_child(void);
/* The scheduling events' fds: a block of 64 numbers from
 * ctrace__sched_fd_base, a bit per number that is one of ours (sched.c). */
extern _Atomic int ctrace__sched_fd_base;
extern _Atomic uint64_t ctrace__sched_fd_mask;
static inline int ctrace__sched_fd_ours(int fd) {
  unsigned k = (unsigned)(fd - atomic_load_explicit(&ctrace__sched_fd_base, memory_order_relaxed));
  return k < 64 &&
         (atomic_load_explicit(&ctrace__sched_fd_mask, memory_order_relaxed) >> k & 1) != 0;
}
/* The writer thread's tid once it runs (0 before). */
int ctrace__writer_tid(void);

#endif /* CTRACE_RECORD_H */
