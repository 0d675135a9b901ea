/*
 * thread.c - per-thread recording state: registration on a thread's first
 * event, the slow path behind ctrace__enter() (new trace, full buffer,
 * dropping), and the thread's end. Not the hot path itself (record.h) nor
 * the trace's start and stop (session.c).
 */
#include "record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

CTRACE__TLS struct ctrace__thread *ctrace__tls;
CTRACE__TLS struct ctrace__hot ctrace__hot;
_Atomic int ctrace__trace_pid;
CTRACE__TLS int ctrace__guard;
static CTRACE__TLS uint32_t cached_tid;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

/* gettid() is a system call (~100+ ns): cache it. Reset after fork. */
uint32_t ctrace__gettid(void) {
  if (CTRACE__UNLIKELY(cached_tid == 0))
    cached_tid = (uint32_t)syscall(SYS_gettid);
  return cached_tid;
}

void ctrace__tid_reset_after_fork(void) {
  cached_tid = 0;
}

/* Rule 6 of record.h. getpid() is a system call (glibc caches nothing
 * since 2.25); the slow paths that ask run once per buffer. */
int ctrace__trace_is_ours(void) {
  int p = atomic_load_explicit(&ctrace__trace_pid, memory_order_relaxed);
  return p != 0 && p == (int)syscall(SYS_getpid);
}

int ctrace__lock_ours(pthread_mutex_t *m) {
  if (pthread_mutex_trylock(m) == 0)
    return 0;
  if (atomic_load_explicit(&ctrace__trace_pid, memory_order_relaxed) != 0 &&
      !ctrace__trace_is_ours())
    return -1; /* held, perhaps by a thread this process does not have */
  pthread_mutex_lock(m);
  return 0;
}

static void on_thread_exit(void *arg) {
  struct ctrace__thread *t = arg;
  ctrace__thread_exit_hook(t);
}

static void make_key(void) {
  pthread_key_create(&exit_key, on_thread_exit);
}

/* The initial stack pointer, from the dynamic loader. */
extern void *__libc_stack_end;

/* Stack bounds for the frame-pointer walk. Called once per thread. The
 * main thread's come from the loader's initial stack pointer and
 * RLIMIT_STACK: glibc's pthread_getattr_np reads /proc/self/maps for it
 * (~0.1-0.3 ms, paid by every traced process at its first event). */
static void find_stack_bounds(struct ctrace__thread *t) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  if (__libc_stack_end && sp < (uintptr_t)__libc_stack_end) {
    struct rlimit rl;
    uintptr_t hi = ((uintptr_t)__libc_stack_end + 4095) & ~(uintptr_t)4095;
    uintptr_t size = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < hi)
      size = (uintptr_t)rl.rlim_cur;
    /* The initial stack holds sp (not the stack of a thread that forked). */
    if (sp >= hi - size) {
      t->stack_lo = hi - size;
      t->stack_hi = hi;
      return;
    }
  }
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
}

/* Bytes kept free at the end of a buffer so that a thread's last records
 * (DROPPED, TRACER_TIME, PENDING or THREAD_EXIT) always fit. */
#define RESERVE (4 * CTRACE_MAX_FIXED_EVENT)

/* The sequence number is given when the buffer is handed over (writer.c):
 * partial batches of it may go first. */
static void attach_buf(struct ctrace__thread *t, struct ctrace__buf *b, uint64_t now) {
  b->tid = t->tid;
  b->flags = 0;
  b->base = now;
  b->flushed = 0;
  b->flushed_base = now;
  b->flushed_rel = (struct ctrace_rel){0};
  t->last = now;
  t->rel = (struct ctrace_rel){0}; /* relative fields start afresh in each batch */
  t->end = b->data + b->cap - RESERVE;
  __atomic_store_n(&t->buf, b, __ATOMIC_RELEASE);
  ctrace__set_pos(t, b->data);
}

/* Hands t's buffer to the writer; t has none after. t->buf is cleared
 * before the push (which takes the queue lock): once the writer can write
 * and recycle the buffer, no partial flush can find it through t. */
static void hand_over(struct ctrace__thread *t) {
  struct ctrace__buf *b = t->buf;
  b->len = (size_t)(t->pos - b->data);
  __atomic_store_n(&t->buf, NULL, __ATOMIC_RELEASE);
  ctrace__set_pos(t, NULL);
  t->end = NULL;
  ctrace__writer_push(t, b);
}

/*
 * Writes one DROPPED record for the events lost since the last one: those
 * dropped for want of a buffer, and those of signal handlers that
 * interrupted an event of this thread. A handler may count one more while
 * this runs, so reentered is taken with one atomic subtraction.
 */
static void note_drops(struct ctrace__thread *t, uint64_t now) {
  uint64_t re = __atomic_load_n(&t->reentered, __ATOMIC_RELAXED);
  if (!t->dropped && !re)
    return;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_DROPPED, now);
  p = ctrace__put_uvarint(p, t->dropped + re);
  p = ctrace__put_uvarint(p, t->dropped && now > t->first_drop ? now - t->first_drop : 0);
  ctrace__set_pos(t, p);
  t->dropped = 0;
  __atomic_fetch_sub(&t->reentered, re, __ATOMIC_RELAXED);
}

int ctrace__flush_thread(struct ctrace__thread *t) {
  uint64_t now = ctrace__now();
  if (t->buf)
    hand_over(t);
  struct ctrace__buf *b = ctrace__buf_get();
  if (!b)
    return -1;
  attach_buf(t, b, now);
  note_drops(t, now);
  return 0;
}

/* Emits THREAD_NAME for t into its own buffer (re-done in each trace). */
static void emit_name(struct ctrace__thread *t) {
  if (!t->name[0])
    return;
  ctrace_name_t n = ctrace_name(t->name);
  uint32_t id = n ? ctrace__name_session_id(n) : 0;
  if (!id)
    return;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_THREAD_NAME, ctrace__now());
  p = ctrace__put_uvarint(p, t->tid);
  p = ctrace__put_uvarint(p, id);
  ctrace__set_pos(t, p);
}

/* Joins t to the running trace s; caller holds ctrace__lock. */
static int join_session(struct ctrace__thread *t, uint32_t s) {
  CTRACE__ASSERT_HELD(&ctrace__lock);
  t->session = s;
  /* set before s was published, under this lock (session.c) */
  t->need_fence = (uint32_t)ctrace__need_fence;
  t->seq = 0;
  __atomic_store_n(&t->buf, NULL, __ATOMIC_RELEASE);
  ctrace__set_pos(t, NULL);
  t->end = NULL;
  /* dropped and reentered are not reset: they count this trace's losses
   * already (the stop that ended the last trace zeroed them). A new
   * state's caches are zero already: clearing them would only touch its
   * pages (two of them) at every thread's start. */
  if (t->joined) {
    memset(t->names, 0, sizeof t->names);
    memset(t->stacks, 0, sizeof t->stacks);
    for (int i = 0; i < CTRACE__WALK_CACHE; i++)
      t->walks[i].fp = 0;
  }
  t->joined = 1;
  if (!t->registered) {
    t->next = NULL;
    t->prev = NULL;
  }
  return 0;
}

/* The thread list; protected by ctrace__lock. */
struct ctrace__thread *ctrace__threads;

static void list_add(struct ctrace__thread *t) {
  CTRACE__ASSERT_HELD(&ctrace__lock);
  t->prev = NULL;
  t->next = ctrace__threads;
  if (ctrace__threads)
    ctrace__threads->prev = t;
  ctrace__threads = t;
  t->registered = 1;
  t->hot->registered = 1; /* the calling thread's own state */
}

void ctrace__list_remove(struct ctrace__thread *t) {
  CTRACE__ASSERT_HELD(&ctrace__lock);
  if (!t->registered)
    return;
  if (t->prev)
    t->prev->next = t->next;
  else
    ctrace__threads = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->registered = 0;
  t->hot->registered = 0; /* the calling thread's own state */
}

/* Where ctrace__tls points once a thread's state is freed at its exit:
 * always busy, so later events (other keys' destructors) are ignored.
 * Zero-filled, made busy before it is pointed to (to_exited): as
 * initialised data its 8 KB would sit among the small variables a start
 * touches and spread them over more pages. */
CTRACE_TABLE static struct ctrace__thread exited;

static void to_exited(void) {
  __atomic_store_n(&exited.busy, 1, __ATOMIC_RELAXED);
  ctrace__tls = &exited;
}

/*
 * A state starts STATE_OFFSET bytes into a page: its hot fields and its
 * walks on one page (record.h), touched again after every recorded system
 * call, and the hot fields not at a page's start, where the first lines of
 * every page-aligned table and buffer fall in the same cache set. (With
 * the state at offset 0, 4 of 8 record_bench runs had slow log rows
 * against 0 of 8 of the build before; at offset 512 both builds had slow
 * runs alike, at a load of 9: this VM's slow phases, docs/RUN.md.)
 */
#define STATE_OFFSET 512
_Static_assert(STATE_OFFSET + offsetof(struct ctrace__thread, walks) +
                       sizeof(struct ctrace__walk[CTRACE__WALK_CACHE]) <=
                   4096,
               "the hot fields and the walks fit in a page");

/* The first thread to record gets a static state (a trace's start records
 * from its starting thread); never freed. */
CTRACE_TABLE static _Alignas(4096) struct {
  char pad[STATE_OFFSET];
  struct ctrace__thread t;
} first_slot;
#define first_thread (first_slot.t)
static atomic_int first_thread_used;

/*
 * The others' states come from pages, not malloc: a thread's first event
 * may be recorded in a signal handler that interrupted malloc (whose lock
 * the thread then holds), and malloc's first call in a thread that never
 * allocated sets up an arena of its own. Cut from chunks (one mapping per
 * STATE_CHUNK states, not one per thread: a process's mappings are
 * limited), each in a slot of whole pages, STATE_OFFSET into it; an exited
 * thread's state goes to a free list and is the next new thread's, zeroed.
 * Under ctrace__lock; never unmapped.
 */
#define STATE_CHUNK 15
#define STATE_SLOT (((size_t)STATE_OFFSET + sizeof(struct ctrace__thread) + 4095) & ~(size_t)4095)
static struct ctrace__thread *free_states;
static uint8_t *chunk_next, *chunk_end;

static struct ctrace__thread *state_new(void) {
  pthread_mutex_lock(&ctrace__lock);
  struct ctrace__thread *t = free_states;
  int reused = t != NULL;
  if (t) {
    free_states = t->next;
  } else {
    if (chunk_next == NULL || (size_t)(chunk_end - chunk_next) < STATE_SLOT) {
      uint8_t *c = ctrace__pages_alloc(STATE_CHUNK * STATE_SLOT);
      if (c) {
        chunk_next = c;
        chunk_end = c + STATE_CHUNK * STATE_SLOT;
      }
    }
    if (chunk_next && (size_t)(chunk_end - chunk_next) >= STATE_SLOT) {
      t = (struct ctrace__thread *)(void *)(chunk_next + STATE_OFFSET);
      chunk_next += STATE_SLOT;
    }
  }
  pthread_mutex_unlock(&ctrace__lock);
  if (reused) /* a new chunk's pages are zero, and untouched until used */
    memset(t, 0, sizeof *t);
  return t;
}

/* Caller holds ctrace__lock; t is in no list and no thread's TLS. */
static void state_free(struct ctrace__thread *t) {
  CTRACE__ASSERT_HELD(&ctrace__lock);
  t->next = free_states;
  free_states = t;
}

static struct ctrace__thread *register_thread(void) {
  struct ctrace__thread *t = atomic_exchange(&first_thread_used, 1) ? state_new() : &first_thread;
  if (!t)
    return NULL;
  t->tid = ctrace__gettid();
  t->errno_p = &errno;
  t->hot = &ctrace__hot;
  t->busy = 1;
  /* Visible (and busy) at once: a signal handler that records while this
   * thread registers is counted as lost, not ignored. */
  ctrace__tls = t;
  find_stack_bounds(t);
  pthread_once(&exit_key_once, make_key);
  pthread_setspecific(exit_key, t);
  pthread_mutex_lock(&ctrace__lock);
  list_add(t);
  int several = t->next != NULL;
  pthread_mutex_unlock(&ctrace__lock);
  if (several && !atomic_load_explicit(&ctrace__writer_live, memory_order_relaxed))
    ctrace__writer_ensure(); /* a second thread records: lazy start ends */
  return t;
}

struct ctrace__thread *ctrace__enter_rare(struct ctrace__thread *t) {
  if (t) {
    /* busy: a signal handler interrupted an event of this thread, or the
     * thread is gone. The outer event completes; this one is counted. */
    if (t != &exited && atomic_load_explicit(&ctrace__session, memory_order_relaxed))
      t->reentered++;
    return NULL;
  }
  if (ctrace__guard || atomic_load_explicit(&ctrace__session, memory_order_acquire) == 0)
    return NULL;
  if (!ctrace__trace_is_ours())
    return NULL; /* a child made without fork(): the lock may be held forever */
  ctrace__guard++;
  t = register_thread(); /* returns with busy set */
  ctrace__guard--;
  if (!t)
    return NULL;
  return ctrace__enter_slow(t);
}

struct ctrace__thread *ctrace__enter_slow(struct ctrace__thread *t) {
  uint32_t s = atomic_load_explicit(&ctrace__session, memory_order_acquire);
  if (s == 0)
    goto out;
  if (t->session != s) {
    if (!ctrace__trace_is_ours())
      goto drop; /* rule 6: not our trace; its locks may be held forever */
    ctrace__guard++;
    pthread_mutex_lock(&ctrace__lock);
    s = atomic_load_explicit(&ctrace__session, memory_order_acquire);
    if (s != 0)
      join_session(t, s);
    pthread_mutex_unlock(&ctrace__lock);
    ctrace__guard--;
    if (s == 0)
      goto out;
    if (ctrace__flush_thread(t) < 0)
      goto drop;
    t->drop_waiting = 0;
    emit_name(t);
    return t;
  }
  if (t->end - t->pos >= (ptrdiff_t)CTRACE_MAX_FIXED_EVENT)
    return t; /* only the fence check brought us here */
  /* Out of buffers: no lock and no clock until the writer gave some back
   * (a saturated system drops at hot-path cost). */
  uint32_t gen = atomic_load_explicit(&ctrace__buf_gen, memory_order_acquire);
  if (t->drop_waiting && !t->buf && gen == t->drop_gen)
    goto drop;
  if (!ctrace__trace_is_ours())
    goto drop; /* rule 6 */
  ctrace__guard++;
  int err = ctrace__flush_thread(t);
  ctrace__guard--;
  t->drop_waiting = err != 0;
  t->drop_gen = gen;
  if (err == 0)
    return t;
drop:
  ctrace__count_drop(t);
out:
  ctrace__leave_empty(t);
  return NULL;
}

int ctrace__reserve_slow(struct ctrace__thread *t, size_t n) {
  if (!t->buf || n + CTRACE_MAX_FIXED_EVENT + RESERVE > t->buf->cap || !ctrace__trace_is_ours())
    return -1;
  ctrace__guard++;
  int err = ctrace__flush_thread(t);
  ctrace__guard--;
  return err;
}

uint8_t (*ctrace__pending_fd_class)(int fd);

void ctrace__pending_reset(struct ctrace__thread *t, struct ctrace__hot *h,
                           const struct ctrace__pending *saved) {
  ctrace__pending_set(t, h, saved, &(struct ctrace__pending){0});
}

/*
 * A thread's last records in this trace, then its buffer to the writer:
 * pending drops, its time in the tracer (the preload's cost), and
 * THREAD_EXIT when the thread is ending. A thread with no buffer (it was
 * dropping) but losses to report gets a small one outside the memory
 * budget: a loss is never silent. Caller holds ctrace__lock; t is not in
 * the middle of an event.
 */
void ctrace__thread_finish(struct ctrace__thread *t, int exiting) {
  CTRACE__ASSERT_HELD(&ctrace__lock);
  uint64_t now = ctrace__now();
  struct ctrace__pending pd;
  int pending = !exiting && ctrace__pending_get(t, &pd);
  if (!t->buf) {
    if (!t->dropped && !t->reentered && !exiting && !pending)
      return;
    struct ctrace__buf *b = ctrace__buf_new(2 * RESERVE);
    if (!b)
      return;
    attach_buf(t, b, now);
  }
  note_drops(t, now);
  if (t->tracer_events) {
    uint8_t *p = ctrace__ev(t, CTRACE_EV_TRACER_TIME, now);
    p = ctrace__put_uvarint(p, t->tracer_ticks);
    p = ctrace__put_uvarint(p, t->tracer_events);
    ctrace__set_pos(t, p);
  }
  if (pending)
    ctrace__pending_write(t, &pd, now);
  if (exiting)
    ctrace__set_pos(t, ctrace__ev(t, CTRACE_EV_THREAD_EXIT, now));
  hand_over(t);
}

/*
 * Runs at the thread's exit (a pthread key destructor): records the exit,
 * hands the partial buffer to the writer, and forgets the thread.
 */
void ctrace__thread_exit_hook(struct ctrace__thread *t) {
  if (atomic_load(&ctrace__trace_pid) != 0 && !ctrace__trace_is_ours()) {
    to_exited(); /* rule 6: leave the parent's copy alone */
    return;
  }
  ctrace__guard++;
  pthread_mutex_lock(&ctrace__lock);
  t->busy = 1;
  uint32_t s = atomic_load_explicit(&ctrace__session, memory_order_acquire);
  if (s != 0 && t->session == s)
    ctrace__thread_finish(t, 1);
  ctrace__list_remove(t);
  pthread_mutex_unlock(&ctrace__lock);
  pthread_setspecific(exit_key, NULL); /* ctrace_thread_end() came first */
  to_exited();
  if (t != &first_thread) {
    pthread_mutex_lock(&ctrace__lock);
    state_free(t);
    pthread_mutex_unlock(&ctrace__lock);
  }
  ctrace__guard--;
}

/* In a child after fork: the thread list holds threads that do not exist
 * here. Forget them (their memory is the parent's copy, leaked once) and
 * keep the calling thread, detached from any trace. */
void ctrace__threads_fork_child(void) {
  ctrace__threads = NULL;
  ctrace__tid_reset_after_fork();
  struct ctrace__thread *t = ctrace__tls;
  if (t && t != &exited) {
    t->registered = 0;
    ctrace__hot.registered = 0;
    t->buf = NULL; /* the parent's buffer: its memory is ours, its data not */
    t->pos = t->end = NULL;
    t->seq = 0;
    t->session = 0;
    t->busy = 0;
    t->tid = ctrace__gettid();
    pthread_mutex_lock(&ctrace__lock); /* fresh (fork_child): for the assert */
    list_add(t);
    pthread_mutex_unlock(&ctrace__lock);
  }
}

void ctrace__thread_set_name_local(const char *name) {
  struct ctrace__thread *t = ctrace__tls;
  if (!t || t == &exited)
    return;
  size_t n = strlen(name);
  if (n >= sizeof t->name)
    n = sizeof t->name - 1;
  memcpy(t->name, name, n);
  t->name[n] = 0;
}
