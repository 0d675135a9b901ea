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
 */
#ifndef CTRACE_RECORD_H
#define CTRACE_RECORD_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <pthread.h>
#include <time.h>

#include "ctrace.h"
#include "../format/format.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define CTRACE__HAVE_TSC 1
#endif

#define CTRACE__LIKELY(x) __builtin_expect(!!(x), 1)
#define CTRACE__UNLIKELY(x) __builtin_expect(!!(x), 0)
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
  /* The writer puts the batch header here, right before data, so that
   * header and events leave in one write() without a copy. */
  uint8_t header_room[CTRACE_BATCH_HEADER_SIZE];
  uint8_t data[];
};
struct ctrace__buf *ctrace__buf_new(size_t cap);
#define ctrace__buf_free(b) free(b)

#define CTRACE__NAME_CACHE 64   /* per-thread pointer->name cache entries */
#define CTRACE__STACK_CACHE 256 /* per-thread stack-hash->id cache entries */

struct ctrace__name_slot {
  const char *ptr;
  ctrace_name_t name;
};
struct ctrace__stack_slot {
  uint64_t hash;
  uint32_t id;
};

/*
 * One per recording thread, on the heap, reached through ctrace__tls. The
 * first fields are the hot ones.
 */
struct ctrace__thread {
  uint8_t *pos;          /* next byte to write in buf */
  uint8_t *end;          /* buf's end less a reserve for closing events */
  uint64_t last;         /* time of the last event written */
  volatile uint32_t busy; /* 1 while this thread writes an event */
  uint32_t session;      /* the trace this state belongs to */
  ctrace_task_t task;    /* current task */
  struct ctrace__buf *buf;
  uint64_t seq;          /* next batch sequence number */
  uint64_t dropped;      /* events lost since the last DROPPED record */
  uint64_t first_drop;   /* time of the first of them */
  uint64_t reentered;    /* events lost to signal handlers interrupting one */
  uint64_t tracer_ticks; /* time spent inside the tracer (preload) */
  uint64_t tracer_events;
  uint32_t tid;
  uint32_t registered;   /* in the thread list */
  uintptr_t stack_lo, stack_hi; /* bounds for the frame-pointer walk */
  char name[32];         /* re-emitted when a new trace starts */
  struct ctrace__thread *next, *prev;
  struct ctrace__name_slot names[CTRACE__NAME_CACHE];
  struct ctrace__stack_slot stacks[CTRACE__STACK_CACHE];
};

extern CTRACE__TLS struct ctrace__thread *ctrace__tls;
extern CTRACE__TLS int ctrace__guard;
extern _Atomic uint32_t ctrace__session; /* 0 when not tracing */
extern int ctrace__need_fence;          /* membarrier unavailable */

/* Behind ctrace__enter(): t is NULL (a new thread) or busy (re-entered). */
struct ctrace__thread *ctrace__enter_rare(struct ctrace__thread *t);
/* Behind ctrace__enter(): busy was set by enter(); a new trace, a full
 * buffer or no trace at all. */
struct ctrace__thread *ctrace__enter_slow(struct ctrace__thread *t);

static inline struct ctrace__thread *ctrace__enter(void) {
  struct ctrace__thread *t = ctrace__tls;
  if (CTRACE__UNLIKELY(t == NULL || t->busy))
    return ctrace__enter_rare(t);
  t->busy = 1;
  /* The stopper clears ctrace__session and then issues membarrier(), which
   * orders this store before the load below on every CPU; a compiler
   * barrier is all the hot path needs. */
  atomic_signal_fence(memory_order_seq_cst);
  if (CTRACE__UNLIKELY(ctrace__need_fence))
    atomic_thread_fence(memory_order_seq_cst);
  if (CTRACE__LIKELY(t->session == atomic_load_explicit(&ctrace__session, memory_order_relaxed) &&
                     t->end - t->pos >= (ptrdiff_t)CTRACE_MAX_FIXED_EVENT))
    return t;
  return ctrace__enter_slow(t);
}

static inline void ctrace__leave(struct ctrace__thread *t, uint8_t *p) {
  t->pos = p;
  atomic_signal_fence(memory_order_seq_cst);
  t->busy = 0;
}

/* Leaves without writing (after ctrace__enter returned t). */
static inline void ctrace__leave_empty(struct ctrace__thread *t) {
  atomic_signal_fence(memory_order_seq_cst);
  t->busy = 0;
}

/* Starts an event of kind at time now; returns where its fields go. */
static inline uint8_t *ctrace__ev(struct ctrace__thread *t, uint8_t kind, uint64_t now) {
  uint8_t *p = t->pos;
  uint64_t d = now > t->last ? now - t->last : 0; /* TSCs of two CPUs may differ a little */
  t->last = d ? now : t->last;
  *p++ = kind;
  return ctrace__put_uvarint(p, d);
}

/* Makes room for n more bytes after the fixed part (for blobs); 0 or -1. */
int ctrace__reserve_slow(struct ctrace__thread *t, size_t n);
static inline int ctrace__reserve(struct ctrace__thread *t, size_t n) {
  if (CTRACE__LIKELY((size_t)(t->end - t->pos) >= n + CTRACE_MAX_FIXED_EVENT))
    return 0;
  return ctrace__reserve_slow(t, n);
}

/* ---- threads and trace sessions (thread.c, session.c) ---- */
extern pthread_mutex_t ctrace__lock; /* sessions, thread list */
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
/* Hook run in the child after fork (set by the preload library); may start
 * a new trace. */
extern void (*ctrace__fork_child_hook)(void);
int ctrace__start(int fd, int owned);
/* The preload's start: the program's own start/stop calls then join this
 * trace instead of failing or ending it. */
int ctrace__start_preload(int fd);
/* Stops whoever started the trace (ctrace_stop() does not stop the
 * preload's). */
int ctrace__stop(void);

/* ---- configuration (config.c), one table ---- */
enum ctrace__stack_mode { CTRACE__STACKS_NONE, CTRACE__STACKS_BLOCKING, CTRACE__STACKS_ALL };
struct ctrace__config {
  size_t buffer_bytes;
  size_t memory_bytes;
  int stacks; /* enum ctrace__stack_mode */
  /* The stack walker, chosen when a trace starts (CTRACE_UNWIND). */
  int (*unwind)(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
};
extern struct ctrace__config ctrace__config;
void ctrace__config_load(void);

/* ---- writer (writer.c) ---- */
int ctrace__writer_start(int fd, int owned);
/* Stops the writer after it wrote everything queued; returns the first write
 * error or 0. */
int ctrace__writer_stop(void);
void ctrace__writer_push(struct ctrace__buf *b);
/* A free buffer, or NULL when the memory budget is spent. */
struct ctrace__buf *ctrace__buf_get(void);
void ctrace__writer_fork_child(void);
int ctrace__writer_fd(void);
void ctrace__writer_lock(void);
void ctrace__writer_unlock(void);
extern _Atomic int ctrace__write_err;

/* ---- metadata: strings, stacks, maps, clocks (intern.c, procmap.c) ---- */
extern pthread_mutex_t ctrace__meta_lock;
/* Appends one event to the metadata batch; caller holds ctrace__meta_lock. */
uint8_t *ctrace__meta_reserve(size_t n);
void ctrace__meta_commit(uint8_t *end);
/* Takes the metadata written so far (NULL when none); caller frees it. */
struct ctrace__buf *ctrace__meta_take(void);
void ctrace__meta_reset(void);
void ctrace__meta_clock_sync(void);
void ctrace__meta_process(void);
void ctrace__meta_mappings(void);
/* Where code is, for the stack walk (intern.c); at a trace's start. */
void ctrace__code_ranges_load(void);

/* The id of name in the current trace, defining it on first use; 0 when
 * it cannot be defined. */
uint32_t ctrace__string_id_slow(ctrace_name_t name);
uint32_t ctrace__name_session_id(ctrace_name_t name);
/* The name for a C string, through the thread's pointer cache. */
ctrace_name_t ctrace__name_cached(struct ctrace__thread *t, const char *s);
void ctrace__intern_session_reset(void);

/* Captures the calling stack starting at frame pointer fp (the caller's
 * __builtin_frame_address(0)); returns the stack id in this trace, or 0. */
uint32_t ctrace__stack_here(struct ctrace__thread *t, void *fp);
int ctrace__stack_capture(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
/* The walkers behind ctrace__stack_capture (intern.c). */
int ctrace__unwind_fp(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
int ctrace__unwind_dwarf(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max);
void ctrace__unwind_dwarf_init(void);
uint32_t ctrace__stack_intern(struct ctrace__thread *t, const uintptr_t *pcs, int n);

#endif /* CTRACE_RECORD_H */
