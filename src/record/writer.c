/*
 * writer.c - the writer thread and the buffer pool. Threads hand full buffers
 * over through a queue; the writer writes each as one batch, metadata first,
 * so that a definition always precedes its first use in the file, and returns
 * the buffer to the free list. It is the only thread that writes the trace
 * file (after ctrace_start checked the fd). Not the per-thread side
 * (thread.c) nor what goes in the metadata (intern.c, procmap.c).
 */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

_Atomic int ctrace__write_err;

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrace__buf *queue_head, *queue_tail; /* full, to write */
static struct ctrace__buf *free_list;
static size_t nbufs;         /* buffers allocated, free or not */
static _Atomic int stopping;
static _Atomic int queued;          /* the queue may hold buffers */
static _Atomic int writer_waiting;  /* skip the futex wake when the writer is busy */
static _Atomic uint32_t wake_word;  /* futex the writer sleeps on */
static _Atomic uint32_t flush_req;  /* fatal flushes asked for (tickets) */
static _Atomic uint32_t flush_done; /* futex: the last ticket served */
static _Atomic int writer_tid;      /* the writer's tid once it runs */
static _Atomic int writer_running;  /* from its creation to its join */
static int writer_created;          /* pthread_create succeeded: join at stop */
static _Atomic int create_failed;   /* the lazy writer could not be created */
/* The thread that asked for the first fatal flush: it dies holding what it
 * holds, so a lock it owns is not waited for (rule 3). */
static _Atomic int dying_tid;
/* Who runs a round: the writer, or a dying thread that writes itself
 * (flush_inline), never both (parts[], staging). */
static _Atomic int round_busy;
/* 1 once the writer thread exists or is being created (always, unless the
 * trace started lazily: see ctrace__writer_ensure). */
_Atomic int ctrace__writer_live = 1;
_Atomic uint32_t ctrace__buf_gen;
static pthread_t writer;
static _Atomic int out_fd = -1;
static _Atomic int fd_users; /* writes in flight on out_fd (move_fd waits) */
static int out_owned;
static uint64_t file_off;    /* bytes written so far */
/* When the first fatal-signal handler stops waiting for the flush
 * (CLOCK_MONOTONIC ns, less a margin), 0 before: the fatal round must be
 * done by then, however late the writer noticed the request (a writer
 * busy in a slow write, or not scheduled on a loaded machine, would
 * otherwise still be writing when the process dies, and END be lost). */
static _Atomic uint64_t fatal_by;
#define FATAL_ROUND_NS 700000000ull /* a fatal round's own bound */
#define FATAL_MARGIN_NS 100000000ull

/* Set once a fatal flush wrote END: the process is dying, and nothing may
 * follow END in the file (a periodic round, a second fatal signal). */
static _Atomic int sealed;

/* Test hook (rule: error paths are exercised): CTRACE_TEST_FAIL_WRITE=N
 * makes the Nth write fail with ENOSPC. */
static long fail_write_at = -1;
static long write_count;

/* Test hook: CTRACE_TEST_WRITER_DELAY_MS=N makes every write N ms late, a
 * writer that cannot keep up, for tests of dropping. */
static long write_delay_ms = -1;

/* Writes the n pieces in one writev() when it can (a batch stays whole
 * even if the process dies between two writes). */
static int write_allv(struct iovec *iov, int n) {
  if (atomic_load(&sealed))
    return 0; /* after a fatal END: the process is dying */
  if (fail_write_at >= 0 && ++write_count >= fail_write_at)
    return -ENOSPC;
  if (write_delay_ms > 0) {
    struct timespec d = {write_delay_ms / 1000, (write_delay_ms % 1000) * 1000000};
    nanosleep(&d, NULL);
  }
  while (n) {
    atomic_fetch_add(&fd_users, 1);
    ssize_t w = writev(atomic_load(&out_fd), iov, n);
    int e = errno;
    atomic_fetch_sub(&fd_users, 1);
    errno = e;
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (w == 0)
      return -EIO;
    file_off += (uint64_t)w;
    size_t left = (size_t)w;
    while (n && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      n--;
    }
    if (n) {
      iov->iov_base = (uint8_t *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

static int write_all(const void *data, size_t len) {
  struct iovec iov = {(void *)data, len};
  return write_allv(&iov, 1);
}

static void note_error(int err) {
  int expected = 0;
  atomic_compare_exchange_strong(&ctrace__write_err, &expected, err);
  if (err == -EPIPE) {
    /* Consume the SIGPIPE this thread got (it is blocked here). */
    sigset_t set;
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigtimedwait(&set, NULL, &zero);
  }
}

static void write_batch(struct ctrace__buf *b) {
  if (atomic_load(&ctrace__write_err))
    return; /* the trace is already broken; the error is reported at stop */
  /* Events that repeat fields of the last of their kind leave them out
   * (1.4, format.h): here, once per batch, off the threads' hot path; a
   * batch cut from a buffer starts afresh like any other. */
  if (!(b->flags & CTRACE_BATCH_META))
    b->len = ctrace__repeat_compact(b->data, b->len, b->tid);
  /* Header, events and the checksum trailer leave in one writev(). The
   * CRC-32C covers the header (length included) and the events. */
  uint8_t *hdr = b->header_room;
  ctrace__put_le32(hdr, CTRACE_BATCH_MAGIC);
  ctrace__put_le32(hdr + 4, (uint32_t)(b->len + CTRACE_BATCH_TRAILER_SIZE));
  ctrace__put_le32(hdr + 8, b->tid);
  ctrace__put_le32(hdr + 12, b->flags);
  ctrace__put_le64(hdr + 16, b->seq);
  ctrace__put_le64(hdr + 24, b->base);
  uint8_t trailer[CTRACE_BATCH_TRAILER_SIZE] = {CTRACE_EV_CHECKSUM, 0, 4};
  ctrace__put_le32(trailer + 3, ctrace__crc32c(0, hdr, CTRACE_BATCH_HEADER_SIZE + b->len));
  struct iovec iov[2] = {{hdr, CTRACE_BATCH_HEADER_SIZE + b->len}, {trailer, sizeof trailer}};
  int err = write_allv(iov, 2);
  if (err)
    note_error(err);
}

/* Ticks per second, so that a trace cut off before its second clock sync
 * still converts: the rate the clock module has (from the kernel's
 * perf_event page, or inherited from the parent process: no calibration
 * sleep here). */
static uint64_t tick_hz(void) {
  if (!ctrace__use_tsc)
    return 1000000000u;
  double per_ns = ctrace__ticks_per_ns();
  return per_ns > 0 ? (uint64_t)(per_ns * 1e9 + 0.5) : 0;
}

CTRACE__COLD static int write_file_header(void) {
  uint8_t h[CTRACE_FILE_HEADER_SIZE] = {0};
  memcpy(h, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN);
  h[8] = CTRACE_FORMAT_MAJOR;
  h[10] = CTRACE_FORMAT_MINOR;
  ctrace__put_le32(h + 12, CTRACE_FILE_HEADER_SIZE);
  ctrace__put_le32(h + 16, ctrace__use_tsc ? CTRACE_FILE_TICKS_TSC : 0);
  ctrace__put_le32(h + 20, (uint32_t)getpid());
  ctrace__put_le64(h + CTRACE_FILE_TICK_HZ_OFF, tick_hz());
  return write_all(h, sizeof h);
}

/* END is written once per trace: by ctrace_stop, or by the writer at the
 * end of a fatal flush that wrote everything (the process then dies). */
static _Atomic int end_written;

/* The END record, last in the file: the trace is complete. */
static void meta_end(void) {
  if (atomic_exchange(&end_written, 1))
    return;
  pthread_mutex_lock(&ctrace__meta_lock);
  uint8_t *p = ctrace__meta_reserve(3);
  if (p) {
    *p++ = CTRACE_EV_END;
    *p++ = 0; /* delta */
    *p++ = 0; /* no bytes: reserved */
    ctrace__meta_commit(p);
  }
  pthread_mutex_unlock(&ctrace__meta_lock);
}

/* The END record as a metadata batch of its own, after a fatal flush: no
 * lock, no allocation (malloc's lock may belong to the dying thread). */
static void write_end_batch(void) {
  if (atomic_exchange(&end_written, 1) || atomic_load(&ctrace__write_err))
    return;
  static uint8_t b[CTRACE_BATCH_HEADER_SIZE + 3 + CTRACE_BATCH_TRAILER_SIZE];
  const size_t len = 3 + CTRACE_BATCH_TRAILER_SIZE;
  memset(b, 0, sizeof b);
  ctrace__put_le32(b, CTRACE_BATCH_MAGIC);
  ctrace__put_le32(b + 4, (uint32_t)len);
  ctrace__put_le32(b + 12, CTRACE_BATCH_META);
  ctrace__put_le64(b + 16, ctrace__meta_next_seq());
  uint8_t *p = b + CTRACE_BATCH_HEADER_SIZE;
  *p++ = CTRACE_EV_END;
  *p++ = 0;
  *p++ = 0;
  *p++ = CTRACE_EV_CHECKSUM;
  *p++ = 0;
  *p++ = 4;
  ctrace__put_le32(p, ctrace__crc32c(0, b, CTRACE_BATCH_HEADER_SIZE + 3));
  int err = write_all(b, sizeof b);
  if (err)
    note_error(err);
  atomic_store(&sealed, 1);
}

/*
 * A fatal signal whose thread could not record it (rule 4: the thread was
 * mid-event, or had not registered yet: a new thread inside its start
 * wrapper): the handler leaves it here and the fatal round writes it as a
 * one-record batch of that thread, after the thread's own events. First
 * caller wins; ready is set last.
 */
static _Atomic int orphan_claimed, orphan_ready;
static int orphan_tid, orphan_sig;
static uint64_t orphan_ticks;

void ctrace__writer_note_signal(int sig, uint64_t ticks) {
  if (atomic_exchange(&orphan_claimed, 1))
    return;
  orphan_tid = (int)syscall(SYS_gettid);
  orphan_sig = sig;
  orphan_ticks = ticks;
  atomic_store_explicit(&orphan_ready, 1, memory_order_release);
}

/* ---- waking the writer: a futex word, so that a signal handler can too ---- */

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *rel) {
  return syscall(SYS_futex, w, op, val, rel, NULL, 0);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wake_writer(void) {
  atomic_fetch_add(&wake_word, 1);
  futex(&wake_word, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* The deadline of a fatal round that starts at now: the round's own bound
 * or the handler's, the earlier. */
static uint64_t fatal_deadline(uint64_t now) {
  uint64_t d = now + FATAL_ROUND_NS, by = atomic_load(&fatal_by);
  return by && by < d ? by : d;
}

/* The scheduling rings' part of a fatal round: half of what is left, the
 * other half for the writing (a drain that used it all would leave the
 * round's locks no time, and the END unwritten). */
static uint64_t drain_deadline(uint64_t now, uint64_t deadline) {
  return deadline > now ? now + (deadline - now) / 2 : deadline;
}

static int fatal_asked(void) {
  return atomic_load(&flush_req) != atomic_load(&flush_done);
}

/* Whether the dying thread holds m (glibc keeps a normal mutex's owner). */
static int held_by_dying(pthread_mutex_t *m) {
#ifdef __GLIBC__
  int d = atomic_load(&dying_tid);
  return d && __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == d;
#else
  (void)m;
  return 0;
#endif
}

/* Rule 3 of record.h (see there). */
int ctrace__lock_bounded(pthread_mutex_t *m, uint64_t deadline) {
  for (;;) {
    if (pthread_mutex_trylock(m) == 0)
      return 0;
    if (deadline ? mono_ns() >= deadline || held_by_dying(m) : fatal_asked())
      return -1;
    struct timespec d = {0, 20000};
    nanosleep(&d, NULL);
  }
}

/* The round's exclusivity (round_busy): a normal round waits for it, a
 * fatal one until its deadline. */
static int round_enter(uint64_t deadline) {
  for (;;) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&round_busy, &expected, 1))
      return 0;
    if (deadline && mono_ns() >= deadline)
      return -1;
    struct timespec d = {0, 100000};
    nanosleep(&d, NULL);
  }
}

static void round_exit(void) {
  atomic_store(&round_busy, 0);
}

/* ---- partial buffers (rule 5 of record.h) ---- */

/*
 * The time at which the events in [p, end) end, starting from base: the
 * sum of their deltas; and the relative fields' state there (format.h),
 * starting from *st, for a batch of thread tid. -1 when a byte does not
 * decode (never for what this library writes; then the part is not taken).
 */
static int events_end(const uint8_t *p, const uint8_t *end, uint64_t base, uint32_t tid,
                      struct ctrace_rel *st, uint64_t *out) {
  while (p < end) {
    unsigned kind = *p++;
    const struct ctrace_kind_shape *k = &ctrace__kind_shapes[kind];
    uint64_t v, f[CTRACE_MAX_FIELDS];
    if (!k->known || !(p = ctrace__get_uvarint(p, end, &v)))
      return -1;
    uint64_t prev = base;
    base += v;
    for (unsigned i = 0; i < k->nfields; i++)
      if (!(p = ctrace__get_uvarint(p, end, &f[i])))
        return -1;
    if (ctrace__rel_kind(kind))
      ctrace__rel_decode(st, kind, f, k->nfields, tid);
    int dur = ctrace__rel_span_dur(kind);
    if (dur >= 0 && (unsigned)dur < k->nfields)
      base = ctrace__rel_span_time(prev, v, f[dur]);
    if (k->blob) {
      if (!(p = ctrace__get_uvarint(p, end, &v)) || v > (uint64_t)(end - p))
        return -1;
      p += v;
    }
  }
  *out = base;
  return 0;
}

/* Whether state st differs from a batch's start. */
static int rel_started(const struct ctrace_rel *st) {
  return st->task || st->object || st->result;
}

/* What a batch's relative fields can grow by when it is cut from the middle
 * of a buffer: its first task field, object and result, each now written
 * against 0 (at most 10 bytes instead of at least 1). */
#define REL_SLACK 30

/*
 * The events of [p, end), whose relative fields were written from state
 * st (the part of a buffer before them), rewritten into out as a batch's
 * must be: from state 0. Only fields before the two states agree change;
 * the rest is copied. Returns the bytes written (at most end - p +
 * REL_SLACK), or 0 when a byte does not decode (never: the part decoded in
 * events_end). out may be p - REL_SLACK or before: it never passes p.
 */
static size_t rel_rewrite(uint8_t *out, const uint8_t *p, const uint8_t *end, uint32_t tid,
                          struct ctrace_rel st) {
  struct ctrace_rel fresh = {0};
  uint8_t *o = out;
  while (p < end) {
    if (st.task == fresh.task && st.object == fresh.object && st.result == fresh.result) {
      memmove(o, p, (size_t)(end - p));
      o += end - p;
      break;
    }
    unsigned kind = p[0];
    const struct ctrace_kind_shape *k = &ctrace__kind_shapes[kind];
    const uint8_t *q = p + 1;
    uint64_t d, v, f[CTRACE_MAX_FIELDS];
    if (!k->known || !(q = ctrace__get_uvarint(q, end, &d)))
      return 0;
    for (unsigned i = 0; i < k->nfields; i++)
      if (!(q = ctrace__get_uvarint(q, end, &f[i])))
        return 0;
    const uint8_t *blob = q;
    if (k->blob) {
      if (!(q = ctrace__get_uvarint(q, end, &v)) || v > (uint64_t)(end - q))
        return 0;
      q += v;
    }
    if (!ctrace__rel_kind(kind)) {
      memmove(o, p, (size_t)(q - p));
      o += q - p;
      p = q;
      continue;
    }
    ctrace__rel_decode(&st, kind, f, k->nfields, tid);
    ctrace__rel_encode(&fresh, kind, f, k->nfields, tid);
    uint8_t tmp[CTRACE_MAX_FIXED_EVENT], *t = tmp;
    *t++ = (uint8_t)kind;
    t = ctrace__put_uvarint(t, d);
    for (unsigned i = 0; i < k->nfields; i++)
      t = ctrace__put_uvarint(t, f[i]);
    size_t n = (size_t)(t - tmp), nb = (size_t)(q - blob);
    memmove(o + n, blob, nb); /* the blob first: o + n may still be below it */
    memcpy(o, tmp, n);
    o += n + nb;
    p = q;
  }
  return (size_t)(o - out);
}

/* A published part of a thread's buffer, to write as a batch of its own. */
struct part {
  struct ctrace__buf *b;
  size_t off, len;
  uint64_t base, seq;
  uint32_t tid;
  struct ctrace_rel rel; /* the relative fields' state at its start */
};
#define MAX_PARTS 256 /* per round; more threads wait for the next one */
CTRACE_TABLE static struct part parts[MAX_PARTS];
static size_t nparts;
static struct ctrace__buf *staging; /* a buffer's worth, allocated at start */

/* Takes part of b ([flushed, upto)) for t. Caller holds the queue lock. */
static void take_part(struct ctrace__thread *t, struct ctrace__buf *b, uint8_t *upto) {
  CTRACE__ASSERT_HELD(&qlock);
  size_t off = b->flushed, to = (size_t)(upto - b->data);
  uint64_t end_time;
  struct ctrace_rel rel = b->flushed_rel;
  if (nparts == MAX_PARTS || to <= off || to > b->cap ||
      events_end(b->data + off, upto, b->flushed_base, b->tid, &rel, &end_time) != 0)
    return;
  parts[nparts++] =
      (struct part){b, off, to - off, b->flushed_base, t->seq++, b->tid, b->flushed_rel};
  b->flushed = to;
  b->flushed_base = end_time;
  b->flushed_rel = rel;
}

/*
 * Takes the published part of every thread's current buffer, busy or idle,
 * without its help: the bytes before t->pos never change, and the buffer
 * is recycled only by this thread. Caller holds ctrace__lock (threads stay
 * alive) and the queue lock (no buffer is handed over meanwhile).
 */
static void collect_parts(void) {
  CTRACE__ASSERT_HELD(&ctrace__lock);
  uint32_t s = atomic_load(&ctrace__session);
  for (struct ctrace__thread *t = ctrace__threads; t && s; t = t->next) {
    if (t->session != s)
      continue;
    struct ctrace__buf *b = __atomic_load_n(&t->buf, __ATOMIC_ACQUIRE);
    uint8_t *pos = __atomic_load_n(&t->pos, __ATOMIC_ACQUIRE);
    /* b cannot have been handed over: t->buf is cleared before the push,
     * which needs the queue lock held here. pos may still be the previous
     * buffer's (the thread is between the two stores of attach): then it
     * is outside b. */
    if (!b || pos < b->data + b->flushed || pos > b->data + b->cap)
      continue;
    take_part(t, b, pos);
  }
}

static void write_parts(void) {
  for (size_t i = 0; i < nparts; i++) {
    struct part *q = &parts[i];
    if (!staging || q->len + REL_SLACK > staging->cap)
      continue;
    if (rel_started(&q->rel)) {
      const uint8_t *from = q->b->data + q->off;
      staging->len = rel_rewrite(staging->data, from, from + q->len, q->tid, q->rel);
      if (!staging->len)
        continue;
    } else {
      memcpy(staging->data, q->b->data + q->off, q->len);
      staging->len = q->len;
    }
    staging->tid = q->tid;
    staging->flags = 0;
    staging->seq = q->seq;
    staging->base = q->base;
    write_batch(staging);
  }
  nparts = 0;
}

/* The orphan signal as a batch of its thread, through the staging buffer
 * (write_parts is done with it): its sequence number follows the thread's
 * own batches (a tid never seen gets 0: a thread of its own in the file). */
static void write_signal_batch(uint64_t seq) {
  if (!staging)
    return;
  uint8_t *p = staging->data;
  *p++ = CTRACE_EV_SIGNAL;
  *p++ = 0; /* delta: at the base */
  p = ctrace__put_uvarint(p, (unsigned)orphan_sig);
  *p++ = 0; /* no stack */
  staging->len = (size_t)(p - staging->data);
  staging->tid = (uint32_t)orphan_tid;
  staging->flags = 0;
  staging->seq = seq;
  staging->base = orphan_ticks;
  write_batch(staging);
}

/* A buffer handed over after parts of it were written: only the rest goes,
 * as a batch starting where the last part ended, with its relative fields
 * rewritten to start afresh (format.h). Returns the buffer to write: b, or
 * (when b has no room for the rewrite) a copy to free after writing it. */
static struct ctrace__buf *drop_written_part(struct ctrace__buf *b) {
  if (!b->flushed)
    return b;
  size_t rest = b->len - b->flushed;
  struct ctrace_rel rel = b->flushed_rel;
  b->base = b->flushed_base;
  b->flushed = 0;
  b->flushed_rel = (struct ctrace_rel){0};
  if (!rel_started(&rel)) {
    memmove(b->data, b->data + (b->len - rest), rest);
    b->len = rest;
    return b;
  }
  const uint8_t *from = b->data + (b->len - rest);
  if (rest + REL_SLACK <= b->cap) {
    /* in place, from REL_SLACK bytes on: rel_rewrite never overtakes
     * what it reads */
    memmove(b->data + REL_SLACK, from, rest);
    b->len = rel_rewrite(b->data, b->data + REL_SLACK, b->data + REL_SLACK + rest, b->tid, rel);
    return b;
  }
  struct ctrace__buf *c = ctrace__buf_new(rest + REL_SLACK);
  if (!c) {
    b->len = 0; /* an empty batch keeps the thread's sequence numbers */
    return b;
  }
  c->tid = b->tid;
  c->flags = b->flags;
  c->seq = b->seq;
  c->base = b->base;
  c->len = rel_rewrite(c->data, from, from + rest, b->tid, rel);
  b->len = 0;
  return c;
}

/* The next batch sequence number of this session's thread with tid (0 for
 * none). Caller holds ctrace__lock and the queue lock. */
static uint64_t thread_next_seq(int tid) {
  CTRACE__ASSERT_HELD(&qlock);
  uint32_t s = atomic_load(&ctrace__session);
  for (struct ctrace__thread *t = ctrace__threads; t; t = t->next)
    if (t->session == s && (int)t->tid == tid)
      return t->seq++;
  return 0;
}

/* The metadata buffer the last round wrote, for the next round's. */
static struct ctrace__buf *meta_done;

/*
 * One round of the writer: takes the queue (and, when due, the published
 * part of every thread's buffer) and the metadata gathered so far, which
 * defines everything those events use; writes the metadata, the queued
 * batches, the parts; with end, END after them when every thread's part
 * went. deadline: 0, or a fatal flush's (locks bounded by it, nothing freed
 * or recycled: the process is about to die). No malloc either way (rule
 * 3). Returns 1 when it wrote everything it should have.
 */
static int write_round(int want_parts, uint64_t deadline, int end) {
  if (round_enter(deadline) != 0)
    return 0;
  /* ctrace__lock only by trylock: ctrace__stop() holds it while it joins
   * this thread (rule 3). */
  int have_threads =
      want_parts && ctrace__lock_bounded(&ctrace__lock, deadline ? deadline : 1) == 0;
  int meta_locked = ctrace__lock_bounded(&ctrace__meta_lock, deadline) == 0;
  /* A dying thread that holds the metadata's lock never lets go: what it
   * committed is taken without the lock (ctrace__meta_take_dying). */
  int meta_dying = !meta_locked && deadline && held_by_dying(&ctrace__meta_lock);
  int locked = meta_locked || meta_dying;
  if (locked && ctrace__lock_bounded(&qlock, deadline) != 0) {
    if (meta_locked)
      pthread_mutex_unlock(&ctrace__meta_lock);
    locked = 0;
  }
  if (!locked) {
    /* events without their definitions would not read: nothing is taken */
    if (have_threads)
      pthread_mutex_unlock(&ctrace__lock);
    round_exit();
    return 0;
  }
  struct ctrace__buf *list = queue_head;
  queue_head = queue_tail = NULL;
  if (have_threads)
    collect_parts();
  /* A fatal signal its thread could not record, once: after that
   * thread's parts (their sequence numbers are taken above). */
  int orphan = end && have_threads && atomic_exchange(&orphan_ready, 0);
  uint64_t orphan_seq = 0;
  if (orphan)
    orphan_seq = thread_next_seq(orphan_tid);
  /* after the parts: their events' definitions were committed before them */
  struct ctrace__buf *meta =
      meta_dying ? ctrace__meta_take_dying() : ctrace__meta_take(deadline ? NULL : meta_done);
  if (!deadline)
    meta_done = NULL;
  pthread_mutex_unlock(&qlock);
  if (meta_locked)
    pthread_mutex_unlock(&ctrace__meta_lock);
  if (have_threads)
    pthread_mutex_unlock(&ctrace__lock);

  if (meta) {
    write_batch(meta);
    if (!deadline)
      meta_done = meta;
  }
  struct ctrace__buf *written = NULL, *last = NULL;
  while (list) {
    struct ctrace__buf *next = list->next;
    struct ctrace__buf *w = drop_written_part(list);
    write_batch(w);
    if (w != list)
      ctrace__buf_free(w);
    list->next = written;
    written = list;
    if (!last)
      last = list;
    list = next;
  }
  if (written && !deadline && ctrace__lock_bounded(&qlock, 0) == 0) {
    last->next = free_list;
    free_list = written;
    pthread_mutex_unlock(&qlock);
    atomic_fetch_add_explicit(&ctrace__buf_gen, 1, memory_order_release);
  }
  write_parts();
  if (orphan)
    write_signal_batch(orphan_seq);
  int whole = !want_parts || have_threads; /* every thread's part too */
  if (end && whole && meta_dying) {
    /* The drain before this round could not take the metadata's lock: the
     * scheduling records up to the death go to a batch of their own. */
    ctrace__sched_drain_dying(deadline);
    struct ctrace__buf *sched = ctrace__meta_take_dying();
    if (sched)
      write_batch(sched);
  }
  if (end && whole)
    write_end_batch(); /* the process dies now: the trace is complete */
  round_exit();
  return whole;
}

static struct ctrace__buf *buf_fresh(int by_writer);

/*
 * Spare buffers: the writer keeps SPARE_BUFS free buffers allocated ahead
 * (within the memory budget), so that a recording thread whose buffer is
 * full takes one from the free list and does not call malloc itself (a
 * signal handler that interrupted that malloc and then blocked, or
 * recorded, would have the thread's malloc lock; RUN.md). A thread calls
 * malloc only when the spares ran out between two rounds of the writer.
 */
#define SPARE_BUFS 2
_Atomic uint64_t ctrace__buf_mallocs_by_threads; /* the fallback, counted */
/* A buffer at least half full was handed over in this process: its
 * threads record enough that spares are worth writing ahead (buf_fresh). */
static _Atomic int filled_one;

static void fill_spares(void) {
  for (;;) {
    if (ctrace__lock_bounded(&qlock, 0) != 0)
      return;
    size_t nfree = 0;
    for (struct ctrace__buf *b = free_list; b && nfree + 1 <= SPARE_BUFS; b = b->next)
      nfree++;
    pthread_mutex_unlock(&qlock);
    if (nfree + 1 > SPARE_BUFS)
      return;
    struct ctrace__buf *b = buf_fresh(1);
    if (!b)
      return;
    if (ctrace__lock_bounded(&qlock, 0) != 0)
      return; /* the process dies: b is not needed */
    b->next = free_list;
    free_list = b;
    pthread_mutex_unlock(&qlock);
    atomic_fetch_add_explicit(&ctrace__buf_gen, 1, memory_order_release);
  }
}

static void *writer_main(void *arg) {
  (void)arg;
  ctrace__guard = 1; /* nothing this thread does is traced */
  atomic_store(&writer_tid, (int)syscall(SYS_gettid));
  uint64_t last_sync = mono_ns(), last_parts = last_sync;
  /* A second sync 50 ms after the start calibrates the TSC early, so that
   * even a trace cut off by a crash in its first second converts exactly. */
  int calibrated = 0;
  for (;;) {
    uint64_t now = mono_ns();
    uint64_t period = calibrated ? CTRACE__FLUSH_NS : 50000000;
    uint64_t due = ctrace__sched_due((calibrated ? last_parts : last_sync) + period);
    /* Sleep unless there is work (see ctrace__writer_push for the other
     * half of this handshake). */
    atomic_store(&writer_waiting, 1);
    uint32_t w = atomic_load(&wake_word);
    if (!atomic_load(&queued) && !atomic_load(&stopping) &&
        atomic_load(&flush_req) == atomic_load(&flush_done) && now < due) {
      uint64_t d = due - now;
      struct timespec rel = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
      futex(&wake_word, FUTEX_WAIT_PRIVATE, w, &rel);
    }
    atomic_store(&writer_waiting, 0);

    uint32_t req = atomic_load(&flush_req);
    int fatal = req != atomic_load(&flush_done);
    int done = atomic_load(&stopping);
    now = mono_ns();
    /* The handler waits FLUSH_WAIT_MS; keep a margin. */
    uint64_t deadline = fatal ? fatal_deadline(now) : 0;

    /* A clock sync about every second keeps long traces exact even if the
     * TSC rate drifts from CLOCK_MONOTONIC's (NTP slews the latter). */
    if (!fatal && now - last_sync >= (calibrated ? 1000000000ull : 50000000ull) &&
        ctrace__lock_bounded(&ctrace__meta_lock, 0) == 0) {
      calibrated = 1;
      ctrace__meta_clock_sync();
      pthread_mutex_unlock(&ctrace__meta_lock);
      last_sync = now;
    }
    int want_parts = fatal || now - last_parts >= CTRACE__FLUSH_NS;
    if (want_parts)
      last_parts = now;
    atomic_store(&queued, 0);
    /* Into the metadata this round writes; in a fatal round all the rings
     * hold, up to the death. */
    ctrace__sched_drain(fatal ? drain_deadline(now, deadline) : 0);
    write_round(want_parts && !done, deadline, fatal);
    if (fatal) {
      atomic_store(&flush_done, req);
      futex(&flush_done, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
    }
    if (done && !atomic_load(&queued))
      break;
    if (!fatal)
      fill_spares();
  }
  return NULL;
}

/*
 * The other half of the writer's sleep: the writer sets writer_waiting and
 * then looks at queued; a pusher sets queued and then looks at
 * writer_waiting. One of them sees the other (both seq_cst), so a buffer
 * never waits for the writer's timeout.
 */
void ctrace__writer_push(struct ctrace__thread *t, struct ctrace__buf *b) {
  b->next = NULL;
  if (CTRACE__UNLIKELY(b->len >= b->cap / 2) &&
      !atomic_load_explicit(&filled_one, memory_order_relaxed))
    atomic_store_explicit(&filled_one, 1, memory_order_relaxed);
  pthread_mutex_lock(&qlock);
  b->seq = t->seq++;
  b->tid = t->tid;
  b->queued = 1;
  if (queue_tail)
    queue_tail->next = b;
  else
    queue_head = b;
  queue_tail = b;
  pthread_mutex_unlock(&qlock);
  atomic_store(&queued, 1);
  if (atomic_load(&writer_waiting))
    wake_writer();
  if (CTRACE__UNLIKELY(!atomic_load_explicit(&ctrace__writer_live, memory_order_relaxed)))
    ctrace__writer_ensure();
}

void ctrace__writer_push_stuck(struct ctrace__thread *t, uint64_t lost) {
  CTRACE__ASSERT_HELD(&ctrace__lock);
  struct ctrace__buf *b = __atomic_load_n(&t->buf, __ATOMIC_ACQUIRE);
  uint8_t *pos = __atomic_load_n(&t->pos, __ATOMIC_ACQUIRE);
  pthread_mutex_lock(&qlock);
  size_t off = b->flushed, len = (size_t)(pos - b->data);
  uint64_t base = b->flushed_base;
  struct ctrace_rel rel = b->flushed_rel;
  pthread_mutex_unlock(&qlock);
  if (len < off)
    return;
  struct ctrace__buf *copy = ctrace__buf_new(len - off + 2 * CTRACE_MAX_FIXED_EVENT + REL_SLACK);
  if (!copy)
    return;
  size_t n = len - off;
  if (rel_started(&rel))
    n = rel_rewrite(copy->data, b->data + off, b->data + len, b->tid, rel);
  else
    memcpy(copy->data, b->data + off, n);
  copy->flags = 0;
  copy->base = base;
  uint8_t *p = copy->data + n;
  *p++ = CTRACE_EV_DROPPED;
  *p++ = 0;
  p = ctrace__put_uvarint(p, lost);
  p = ctrace__put_uvarint(p, 0);
  copy->len = (size_t)(p - copy->data);
  ctrace__writer_push(t, copy);
}

/*
 * The fatal flush of a trace whose writer does not run (a process that dies
 * before it needed one, or while creating it): the dying thread writes
 * what the writer would have, under the same rules (bounded locks, no
 * allocation, nothing freed). Once per process; -1 when another thread
 * does it or the trace is not running.
 */
static int flush_inline(void) {
  static _Atomic int taken;
  if (!atomic_load(&ctrace__session) || atomic_exchange(&taken, 1))
    return -1;
  uint64_t now = mono_ns(), deadline = fatal_deadline(now);
  ctrace__sched_drain(drain_deadline(now, deadline));
  return write_round(1, deadline, 1) ? 0 : -1;
}

/* How long a thread waits for a writer thread to run before it writes the
 * fatal flush itself: the writer is being created by this very thread
 * (the signal came in the middle), or was not scheduled since. */
#define NO_WRITER_MS 100

/* How long a fatal-signal handler waits for the flush (rule 4). */
int ctrace__writer_flush_wait(int timeout_ms) {
  int self = (int)syscall(SYS_gettid);
  if (atomic_load(&writer_tid) == self)
    return -1;
  int expected = 0;
  atomic_compare_exchange_strong(&dying_tid, &expected, self);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t by = (uint64_t)t0.tv_sec * 1000000000u + (uint64_t)t0.tv_nsec +
                (uint64_t)timeout_ms * 1000000u;
  by = by > FATAL_MARGIN_NS ? by - FATAL_MARGIN_NS : by;
  uint64_t unset = 0; /* the first handler's: the process dies by then */
  atomic_compare_exchange_strong(&fatal_by, &unset, by);
  if (!atomic_load(&ctrace__writer_live) || atomic_load(&create_failed))
    return flush_inline();
  /* A writer created but not yet scheduled serves the flush when it runs. */
  uint32_t ticket = atomic_fetch_add(&flush_req, 1) + 1;
  wake_writer();
  for (;;) {
    uint32_t done = atomic_load(&flush_done);
    if ((int32_t)(done - ticket) >= 0)
      return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t spent = (int64_t)(now.tv_sec - t0.tv_sec) * 1000000000 + (now.tv_nsec - t0.tv_nsec);
    int64_t left = (int64_t)timeout_ms * 1000000 - spent;
    if (left <= 0)
      return -1;
    if (!atomic_load(&writer_tid) && spent >= NO_WRITER_MS * 1000000ll)
      return flush_inline();
    if (left > 10000000)
      left = 10000000; /* look again: the writer may have gone */
    struct timespec rel = {0, (long)left};
    futex(&flush_done, FUTEX_WAIT_PRIVATE, done, &rel);
  }
}

/* Test hook: CTRACE_TEST_FAIL_ALLOC=N makes the Nth buffer allocation fail. */
static long fail_alloc_at = -1;
static _Atomic long alloc_count; /* buf_alloc runs without qlock */

/* ---- pages (rule 3 of record.h) ---- */

static size_t page_round(size_t n) {
  static size_t page;
  if (!page) {
    long p = sysconf(_SC_PAGESIZE);
    page = p > 0 ? (size_t)p : 4096;
  }
  return (n + page - 1) & ~(page - 1);
}

void *ctrace__pages_alloc(size_t n) {
  void *p = mmap(NULL, page_round(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void *ctrace__pages_realloc(void *p, size_t old, size_t n) {
  void *q = mremap(p, page_round(old), page_round(n), MREMAP_MAYMOVE);
  return q == MAP_FAILED ? NULL : q;
}

void ctrace__pages_free(void *p, size_t n) {
  if (p)
    munmap(p, page_round(n));
}

/* A buffer of cap bytes with room for a batch header before its data. */
struct ctrace__buf *ctrace__buf_new(size_t cap) {
  struct ctrace__buf *b = ctrace__pages_alloc(sizeof *b + cap);
  if (b) {
    b->cap = cap;
    b->flushed = 0;
    b->queued = 0;
  }
  return b;
}

void ctrace__buf_free(struct ctrace__buf *b) {
  if (b && !b->in_slab)
    ctrace__pages_free(b, sizeof *b + b->cap);
}

static struct ctrace__buf *buf_alloc(size_t cap) {
  if (fail_alloc_at >= 0 && ++alloc_count >= fail_alloc_at)
    return NULL;
  return ctrace__buf_new(cap);
}

/*
 * A buffer a recording thread allocates itself (the writer's spares ran
 * out: it is filling buffers faster than the writer frees them), with its
 * pages populated by the mmap: the thread would fault in every page of it
 * as it writes, and one populating call costs about 40 % less than the
 * faults on this kind of VM. Not the first buffers of a process, which a
 * short process fills only the first page of.
 */
/* A process past its first BUSY_AFTER buffers is busy: its buffers come
 * populated (here) or from slabs (below). */
#define BUSY_AFTER 4
static struct ctrace__buf *buf_alloc_busy(size_t cap, size_t nth) {
  if (nth <= BUSY_AFTER || (fail_alloc_at >= 0 && alloc_count + 1 >= fail_alloc_at))
    return buf_alloc(cap);
  void *p = mmap(NULL, page_round(sizeof(struct ctrace__buf) + cap), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  struct ctrace__buf *b = p;
  b->cap = cap;
  b->flushed = 0;
  b->queued = 0;
  return b;
}

/*
 * Slabs. A busy process (more than BUSY_AFTER buffers) gets its next
 * buffers from SLAB_BYTES mappings, aligned so that the kernel may back
 * each with one huge page. On a VM a page fault costs 8-15 us: 2 MB in
 * 4 KB pages takes ~6 ms to populate, one huge page 0.2-0.3 ms
 * (bench/README.md, "Buffer memory"). A slab is reserved in the budget as
 * a whole and handed out a buffer at a time (used); mapping it takes a few
 * system calls and touches none of it, so that threads needing buffers at
 * the same moment find it at once instead of each making a slab of its
 * own. Whoever takes a buffer populates it (with a huge page, the first
 * populates them all). A slab's buffers are never unmapped alone: the
 * slabs go when the tracer stops with every buffer back. Their
 * descriptors are static (SLAB_MAX of them, 128 MB; past that, buffers
 * are mapped one by one).
 */
#define SLAB_BYTES ((size_t)2 << 20)
#define SLAB_MIN 4 /* fewer buffers than this in a slab: not worth one */
#define SLAB_MAX 64
_Atomic uint64_t ctrace__buf_slabs_made, ctrace__buf_slabs_mapped;
struct slab {
  uint8_t *base;
  size_t len;     /* of the mapping */
  size_t n, used; /* buffers it holds, and handed out */
};
CTRACE_TABLE static struct slab slabs[SLAB_MAX]; /* under qlock */
static size_t nslabs;
static int slab_making; /* a thread is mapping the next one */

static size_t slab_stride(size_t cap) {
  return (sizeof(struct ctrace__buf) + cap + 63) & ~(size_t)63;
}

/* Under qlock: the next buffer of the newest slab, not yet ready. */
static struct ctrace__buf *slab_take(size_t cap) {
  struct slab *sl = nslabs ? &slabs[nslabs - 1] : NULL;
  if (!sl || sl->used == sl->n)
    return NULL;
  return (struct ctrace__buf *)(sl->base + sl->used++ * slab_stride(cap));
}

/* Every page of [p, p + n) present and written once: one system call
 * where the kernel has MADV_POPULATE_WRITE (5.14), else a touch a page.
 * Keeps errno. */
static void populate(void *p, size_t n) {
  int e = errno;
  uintptr_t from = (uintptr_t)p & ~(uintptr_t)4095, to = (uintptr_t)p + n;
  if (madvise((void *)from, to - from, MADV_POPULATE_WRITE) != 0)
    for (uintptr_t at = from; at < to; at += 4096)
      *(volatile uint8_t *)at = 0;
  errno = e;
}

/* A buffer taken from a slab, populated and set up. Keeps errno. */
static struct ctrace__buf *slab_ready(struct ctrace__buf *b, size_t cap) {
  populate(b, slab_stride(cap));
  b->cap = cap;
  b->in_slab = 1;
  b->flushed = 0;
  b->queued = 0;
  return b;
}

/* Under qlock, with the nth buffer just reserved: how many more buffers
 * to reserve for a slab (0: this one alone), counted in nbufs. */
static size_t slab_reserve(size_t nth) {
  size_t cap = ctrace__config.buffer_bytes;
  if (nth <= BUSY_AFTER || fail_alloc_at >= 0 || slab_making || nslabs == SLAB_MAX)
    return 0;
  size_t fit = SLAB_BYTES / slab_stride(cap);
  size_t budget = ctrace__config.memory_bytes / cap;
  size_t more = fit > 0 ? fit - 1 : 0;
  if (nbufs + more > budget)
    more = budget > nbufs ? budget - nbufs : 0;
  if (more + 1 < SLAB_MIN)
    return 0;
  nbufs += more;
  slab_making = 1;
  return more;
}

/* Maps the slab of k buffers slab_reserve reserved and hands out its
 * first; NULL when the kernel refused (the reservation is given back).
 * Keeps errno. */
static struct ctrace__buf *slab_make(size_t cap, size_t k) {
  int e = errno;
  size_t len = page_round(k * slab_stride(cap));
  if (len > SLAB_BYTES / 2 && len < SLAB_BYTES)
    len = SLAB_BYTES; /* the whole huge page: the rest is less than a buffer */
  size_t span = len >= SLAB_BYTES ? len + SLAB_BYTES : len;
  uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint8_t *a = m == MAP_FAILED ? NULL : m;
  if (a && span > len) { /* a huge page needs its 2 MB alignment: trim */
    a = (uint8_t *)(((uintptr_t)m + SLAB_BYTES - 1) & ~(uintptr_t)(SLAB_BYTES - 1));
    if (a > m)
      munmap(m, (size_t)(a - m));
    if (m + span > a + len)
      munmap(a + len, (size_t)(m + span - (a + len)));
    madvise(a, len, MADV_HUGEPAGE);
  }
  errno = e;
  pthread_mutex_lock(&qlock);
  slab_making = 0;
  if (!a) {
    nbufs -= k - 1;
    pthread_mutex_unlock(&qlock);
    return NULL;
  }
  slabs[nslabs++] = (struct slab){a, len, k, 1};
  pthread_mutex_unlock(&qlock);
  atomic_fetch_add_explicit(&ctrace__buf_slabs_made, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&ctrace__buf_slabs_mapped, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&ctrace__buf_gen, 1, memory_order_release);
  return slab_ready((struct ctrace__buf *)a, cap);
}

/*
 * A buffer that is not on the free list: the next of the newest slab, one
 * of a new slab when the process is busy, else one mapped alone (by the
 * writer: its pages faulted in here, not one by one in a recording
 * thread's events; by a recording thread: populated when not among the
 * process's first). NULL when the budget is spent. Takes qlock: the
 * writer's (by_writer set) returns NULL when the process dies.
 */
static struct ctrace__buf *buf_fresh(int by_writer) {
  size_t cap = ctrace__config.buffer_bytes;
  if (by_writer ? ctrace__lock_bounded(&qlock, 0) != 0 : pthread_mutex_lock(&qlock) != 0)
    return NULL;
  struct ctrace__buf *b = slab_take(cap);
  size_t reserved = 0, more = 0;
  if (!b && (nbufs + 1) * cap <= ctrace__config.memory_bytes) {
    reserved = ++nbufs;
    more = slab_reserve(nbufs);
  }
  pthread_mutex_unlock(&qlock);
  if (b)
    return slab_ready(b, cap);
  if (!reserved)
    return NULL;
  if (more && (b = slab_make(cap, more + 1)) != NULL)
    return b;
  if (by_writer) {
    /* A spare's pages are written ahead (by the writer, not the thread
     * that will record into them) only once the process has filled a
     * buffer: before that, a spare is mostly a new thread's first buffer,
     * and a thread that records a few events would leave 15 of the 16
     * pages the writer wrote unused (10-15 us each on a VM). */
    b = buf_alloc(cap);
    if (b && atomic_load_explicit(&filled_one, memory_order_relaxed))
      populate(b, sizeof *b + b->cap);
  } else {
    atomic_fetch_add_explicit(&ctrace__buf_mallocs_by_threads, 1, memory_order_relaxed);
    b = buf_alloc_busy(cap, reserved);
  }
  if (!b) {
    pthread_mutex_lock(&qlock);
    nbufs--;
    pthread_mutex_unlock(&qlock);
  }
  return b;
}

/*
 * A free buffer, or a new one while the budget allows. mmap runs with
 * qlock released: a thread interrupted by a signal whose handler blocks
 * (or never returns) must not hold the lock the writer and ctrace_stop()
 * need. The budget is reserved under the lock first (nbufs), and given
 * back when the allocation fails.
 */
struct ctrace__buf *ctrace__buf_get(void) {
  pthread_mutex_lock(&qlock);
  struct ctrace__buf *b = free_list;
  if (b)
    free_list = b->next;
  pthread_mutex_unlock(&qlock);
  if (!b)
    b = buf_fresh(0);
  if (b)
    b->next = NULL;
  return b;
}

static long env_test_long(const char *name) {
  const char *s = getenv(name);
  return s && *s ? strtol(s, NULL, 10) : -1;
}

/* The trace's fd while a trace runs, else -1. The preload library keeps
 * it out of the program's way (io.c). */
int ctrace__writer_fd(void) {
  return atomic_load_explicit(&out_fd, memory_order_relaxed);
}

/*
 * The fd is duplicated above itself and the writer switched to the copy;
 * a write that loaded the old fd before the switch is waited for (fd_users:
 * the writer counts itself in before it loads out_fd), so that no byte of
 * the trace lands in the file the program puts on the old number next.
 */
int ctrace__writer_move_fd(void) {
  int old = atomic_load(&out_fd);
  if (old < 0)
    return -1;
  /* Far above the fds programs pick by hand (100-255 in shell idioms), yet
   * not so high that the kernel's fd table grows much. */
  struct rlimit rl;
  long base = 4096;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)base)
    base = (long)rl.rlim_cur;
  base -= 32;
  if (base <= old)
    base = old + 1;
  ctrace__guard++;
  int nfd = fcntl(old, F_DUPFD_CLOEXEC, (int)base);
  if (nfd < 0)
    nfd = fcntl(old, F_DUPFD_CLOEXEC, old + 1);
  ctrace__guard--;
  if (nfd < 0) {
    /* The program takes the number: the trace must stop writing there. */
    note_error(-errno);
    return -1;
  }
  if (!atomic_compare_exchange_strong(&out_fd, &old, nfd)) {
    ctrace__guard++;
    close(nfd);
    ctrace__guard--;
    return -1;
  }
  out_owned = 1; /* the copy is ours to close, whoever gave the first */
  while (atomic_load(&fd_users))
    sched_yield();
  return nfd;
}

static int create_writer(void);

/* Called with ctrace__lock held by ctrace__start(). lazy: the thread is
 * created by ctrace__writer_ensure() when first needed. */
CTRACE__COLD int ctrace__writer_start(int fd, int owned, int lazy) {
  atomic_store(&out_fd, fd);
  out_owned = owned;
  file_off = 0;
  atomic_store(&stopping, 0);
  atomic_store(&queued, 0);
  nparts = 0;
  atomic_store(&end_written, 0);
  atomic_store(&sealed, 0);
  atomic_store(&ctrace__write_err, 0);
  fail_write_at = env_test_long("CTRACE_TEST_FAIL_WRITE");
  fail_alloc_at = env_test_long("CTRACE_TEST_FAIL_ALLOC");
  write_delay_ms = env_test_long("CTRACE_TEST_WRITER_DELAY_MS");
  write_count = alloc_count = 0;
  /* Allocated now: the writer copies partial buffers through it, also in
   * a fatal flush, where malloc may not be called. */
  if (staging && staging->cap < ctrace__config.buffer_bytes) {
    ctrace__buf_free(staging);
    staging = NULL;
  }
  if (!staging)
    staging = ctrace__buf_new(ctrace__config.buffer_bytes + REL_SLACK);

  /* The header is written here, not by the writer: a process killed before
   * the writer thread first ran still leaves a file that says what it is.
   * Signals are blocked: note_error() takes the SIGPIPE of a closed pipe. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = write_file_header();
  if (err)
    note_error(err);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  writer_created = 0;
  atomic_store(&writer_tid, 0);
  atomic_store(&writer_running, 0);
  atomic_store(&create_failed, 0);
  atomic_store(&dying_tid, 0);
  atomic_store(&fatal_by, 0);
  atomic_store(&orphan_ready, 0);
  atomic_store(&orphan_claimed, 0);
  if (lazy) {
    atomic_store(&ctrace__writer_live, 0);
    return 0;
  }
  atomic_store(&ctrace__writer_live, 1);
  return create_writer() ? CTRACE_ETHREAD : 0;
}

/* A small stack: the writer's deepest path is writev and the futex. */
#define WRITER_STACK (256 * 1024)

static int create_writer(void) {
  /* The writer runs with every signal blocked: a signal meant for the
   * program must go to one of its own threads, and SIGPIPE from a closed
   * output must not kill the program. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  int have_attr = pthread_attr_init(&attr) == 0;
  if (have_attr)
    pthread_attr_setstacksize(&attr, WRITER_STACK);
  atomic_store(&writer_tid, 0);
  atomic_store(&writer_running, 1);
  int err = pthread_create(&writer, have_attr ? &attr : NULL, writer_main, NULL);
  if (err == EINVAL && have_attr) /* a program whose static TLS needs more */
    err = pthread_create(&writer, NULL, writer_main, NULL);
  if (have_attr)
    pthread_attr_destroy(&attr);
  if (err)
    atomic_store(&writer_running, 0);
  else
    writer_created = 1;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return err;
}

/*
 * Starts the writer thread of a lazily started trace, once: the first
 * caller creates it, others return at once. Called from slow paths (a
 * buffer handed over, a second thread, a blocking call with events
 * waiting), never from the stop (the stopper writes what is left itself).
 */
void ctrace__writer_ensure(void) {
  int expected = 0;
  if (atomic_load(&ctrace__writer_live) || !atomic_load(&ctrace__session) ||
      !atomic_compare_exchange_strong(&ctrace__writer_live, &expected, 1))
    return;
  ctrace__guard++;
  if (create_writer() != 0) /* the stop (or a fatal flush) writes it all itself */
    atomic_store(&create_failed, 1);
  ctrace__guard--;
}

CTRACE__COLD int ctrace__writer_stop(void) {
  atomic_store(&stopping, 1);
  if (writer_created) {
    wake_writer();
    pthread_join(writer, NULL);
    writer_created = 0;
  }
  atomic_store(&writer_running, 0);
  atomic_store(&ctrace__writer_live, 1);
  atomic_store(&writer_tid, 0);
  /* What the writer did not write (all of it when it never ran), then the
   * last metadata (final clock sync) and in it, last, the END record. */
  write_round(0, 0, 0);
  /* END goes into the buffer of the metadata just written: no new page
   * (the first page a process's stop touched, ~10 us on a VM). */
  pthread_mutex_lock(&ctrace__meta_lock);
  ctrace__meta_recycle(meta_done);
  pthread_mutex_unlock(&ctrace__meta_lock);
  meta_done = NULL;
  meta_end();
  write_round(0, 0, 0);
  int fd = atomic_load(&out_fd);
  if (out_owned) {
    /* The system call: the preload's close() would clear its fd caches'
     * bytes of a number they never held (a page each, at every exit). */
    if (syscall(SYS_close, fd) < 0 && errno != EINTR)
      note_error(-errno);
  }
  atomic_store(&out_fd, -1);
  if (ctrace__exiting) {
    /* The process exits: its pages go with it, and no trace follows. */
    meta_done = NULL;
    return atomic_load(&ctrace__write_err);
  }
  /* Buffers are kept for the next trace, up to the budget; free them now
   * so a stopped tracer holds no memory. */
  pthread_mutex_lock(&qlock);
  size_t back = 0, handed = 0;
  while (free_list) {
    struct ctrace__buf *b = free_list;
    free_list = b->next;
    back += (size_t)b->in_slab;
    ctrace__buf_free(b);
  }
  for (size_t i = 0; i < nslabs; i++)
    handed += slabs[i].used;
  /* All are back (the writer has written every one), so the slabs hold no
   * buffer in use; were one missing, the slabs would stay mapped. */
  for (size_t i = 0; back == handed && i < nslabs; i++) {
    munmap(slabs[i].base, slabs[i].len);
    atomic_fetch_sub_explicit(&ctrace__buf_slabs_mapped, 1, memory_order_relaxed);
  }
  nslabs = 0;
  nbufs = 0;
  pthread_mutex_unlock(&qlock);
  /* A stopped tracer holds no memory: the metadata's either. */
  pthread_mutex_lock(&ctrace__meta_lock);
  ctrace__buf_free(ctrace__meta_take(meta_done)); /* NULL: all was written */
  ctrace__meta_reset();
  pthread_mutex_unlock(&ctrace__meta_lock);
  meta_done = NULL;
  return atomic_load(&ctrace__write_err);
}

/* In a fork child: the writer thread is the parent's; so are the buffers
 * in its queue (their memory is copied, not ours to write). */
void ctrace__writer_fork_child(void) {
  pthread_mutex_init(&qlock, NULL);
  queue_head = queue_tail = NULL;
  free_list = NULL;
  nslabs = 0;
  slab_making = 0;
  nbufs = 0;
  nparts = 0;
  atomic_store(&stopping, 0);
  atomic_store(&queued, 0);
  atomic_store(&writer_waiting, 0);
  atomic_store(&writer_tid, 0);
  atomic_store(&writer_running, 0);
  writer_created = 0;
  atomic_store(&ctrace__writer_live, 1);
  atomic_store(&flush_done, atomic_load(&flush_req));
  atomic_store(&round_busy, 0);
  atomic_store(&dying_tid, 0);
  atomic_store(&fatal_by, 0);
  atomic_store(&orphan_ready, 0);
  atomic_store(&orphan_claimed, 0);
  meta_done = NULL; /* the parent's; fork_child resets the metadata */
  int fd = atomic_load(&out_fd);
  if (out_owned && fd >= 0)
    close(fd);
  atomic_store(&out_fd, -1);
  out_owned = 0;
}

/*
 * Before a fork: a writer created a moment ago may still be starting (its
 * thread's setup allocates, and a sanitizer's allocator is not fork-safe:
 * a fork child inherits its lock held). Waits until it runs its loop, at
 * most ~10,000 yields; afterwards it sleeps on its futex between rounds.
 */
void ctrace__writer_wait_started(void) {
  for (int i = 0; i < 10000 && atomic_load(&writer_running) && !atomic_load(&writer_tid); i++)
    sched_yield();
}

int ctrace__writer_tid(void) { return atomic_load(&writer_tid); }

void ctrace__writer_lock(void) { pthread_mutex_lock(&qlock); }
void ctrace__writer_unlock(void) { pthread_mutex_unlock(&qlock); }
