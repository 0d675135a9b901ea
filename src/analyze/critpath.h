/*
 * critpath.h - the critical path of a task, a region, a blocked span or a
 * thread's time range: why did it take as long as it did?
 *
 * The walk starts on the thread where the interval ends, at its end, and
 * goes back in time over that thread's state spans (timeline.h, from the
 * one state machine of states.h). A wait ended by a recorded wake-up (a
 * WAKE naming the thread, inside the wait) continues on the waking thread,
 * before the wake, and so on recursively, until the interval's start. The
 * result is a chain of segments across threads that tiles the interval
 * exactly: their durations add up to its duration.
 *
 * A read that waited for data another traced thread or process wrote (a
 * pipe, socketpair or TCP connection whose write flows.h pairs with it)
 * continues on the writer, before its write, as a wake-up does
 * (CTRACE_CP_DATA), and so does a poll (poll, select, epoll: the fds it
 * waited on are not recorded) whose thread read such data after it,
 * before its next wait; a wait on a process-shared mutex, condition variable or
 * semaphore that flows.h pairs with the release that ended it continues
 * on the releaser, a wake-up (walks given the flows' edges,
 * ctrace_critpath_data_build).
 *
 * Where the trace does not know who ended a wait (a socket read whose
 * sender is not traced, a lock released by another process, a timeout), the
 * segment says so (CTRACE_CP_NO_WAKER) and the walk stays on the thread:
 * nothing is guessed. Two hand-offs are inferred, and flagged as such
 * (CTRACE_CP_INFERRED): a join continues on the traced thread that exited
 * last before the join returned (the trace does not map pthread_t values
 * to threads), and a thread's time before its first event continues on its
 * creator from the creation (THREAD_CREATE linked to THREAD_START: exact).
 *
 * States are taken generically: any state other than running, runnable and
 * not_recorded is a wait that a wake-up may end, so states added to
 * states.h (scheduler data) flow through without changes here.
 *
 * Not here: printing (src/cli/cmd_critpath.c), JSON (src/serve/).
 * Thread-safe over an immutable timeline; allocates the result only.
 */
#ifndef CTRACE_CRITPATH_H
#define CTRACE_CRITPATH_H

#include <stddef.h>
#include <stdint.h>

#include "timeline.h"

/* segment flags */
#define CTRACE_CP_AFTER_WAKE 0x1u /* the end of a wait, after the wake-up that ended it */
#define CTRACE_CP_NO_WAKER 0x2u   /* a wait nobody in the trace is known to have ended */
#define CTRACE_CP_OUTSIDE 0x4u    /* time the trace knows nothing of (before a thread's first event) */
#define CTRACE_CP_INFERRED 0x8u   /* the hand-off into this segment's successor was inferred (join) */
#define CTRACE_CP_HANDOFF 0x10u   /* ends where its thread woke, created or ended for `next` */
#define CTRACE_CP_STARTING 0x20u  /* a thread created but not started yet */
#define CTRACE_CP_AT_END 0x40u    /* a call still in progress when the trace ended */
#define CTRACE_CP_DATA 0x80u      /* with AFTER_WAKE: the data woken_by wrote ended the read */

/* Hand-off kinds (why the chain moved to another thread). */
enum ctrace_cp_via {
  CTRACE_CP_VIA_NONE,
  CTRACE_CP_VIA_WAKE,
  CTRACE_CP_VIA_CREATE,
  CTRACE_CP_VIA_EXIT,
  CTRACE_CP_VIA_DATA /* wrote what the next segment's thread read */
};

struct ctrace_cp_seg {
  int64_t start, end;  /* ns since the trace start; end > start */
  uint32_t thread;     /* timeline thread index */
  unsigned state;      /* enum ctrace_state; CTRACE_ST_OUTSIDE with CTRACE_CP_OUTSIDE/STARTING */
  unsigned flags;      /* CTRACE_CP_* */
  uint32_t ncalls;     /* blocking calls merged into this segment (0 for running) */
  uint8_t kind;        /* event of the call: WAIT, SYSCALL, PENDING; 0 if none */
  uint64_t reason;     /* wait reason (WAIT, PENDING) */
  uint64_t call, cls;  /* system call and class (SYSCALL, PENDING) */
  uint64_t object;     /* wait object */
  uint64_t fd;         /* system call's fd */
  uint64_t stack;      /* the call's stack (blocked); with HANDOFF, the stack of the WAKE or
                        * THREAD_CREATE that handed off (running); 0 if none */
  uint32_t woken_by;   /* with AFTER_WAKE: the thread that ended the wait (INFERRED: by exiting;
                        * DATA: by writing what the read returned) */
  uint32_t next;       /* with HANDOFF: the thread handed to */
  unsigned via;        /* with HANDOFF: enum ctrace_cp_via */
  uint32_t region;     /* string id of the innermost region around the segment's end, 0 */
};

struct ctrace_cp {
  struct ctrace_cp_seg *v; /* in time order; they tile [start, end] */
  size_t n;
  int64_t start, end;
  uint32_t thread;         /* where the walk began (at end) */
};

/*
 * The data edges of a trace for walks: flows.h's DATA flows (a read paired
 * with each write whose bytes it returned) and WAKE flows (a shared
 * object's wait and its release), indexed once by waiting thread and time
 * (24 bytes per flow). Every walk below takes it as data;
 * NULL: no data edges (reads wait on what the trace does not know). 0 or
 * -ENOMEM.
 */
struct ctrace_flows;
struct ctrace_cp_data;
int ctrace_critpath_data_build(const struct ctrace_timeline *tl, const struct ctrace_flows *f,
                               struct ctrace_cp_data **out);
void ctrace_critpath_data_free(struct ctrace_cp_data *d);

/*
 * The critical path of [start, end] ending on thread (a timeline index).
 * Returns 0 with *out filled (free with ctrace_critpath_free), -EINVAL for
 * a bad thread or interval, -ENOMEM. Cost: each batch of events the walk
 * reads is decoded once per walk (about 2 bytes per event of it are kept
 * until the walk returns), then O(log events + 64 events) per blocked call
 * on the path; a data edge costs a binary search of the reading thread's
 * edges.
 */
int ctrace_critpath(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                    uint32_t thread, int64_t start, int64_t end, struct ctrace_cp *out);
/* The calls and wake-ups of every thread, indexed once (one pass over the
 * trace; about 80 bytes per blocking call): walks given it look calls up
 * instead of decoding a batch of events each. For many walks (the
 * aggregate builds one). 0 or -ENOMEM. */
struct ctrace_cp_index;
int ctrace_critpath_index_build(const struct ctrace_timeline *tl, struct ctrace_cp_index **out);
void ctrace_critpath_index_free(struct ctrace_cp_index *ix);
/* ctrace_critpath with an index (NULL: none). The same result. */
int ctrace_critpath_ix(const struct ctrace_timeline *tl, const struct ctrace_cp_index *ix,
                       const struct ctrace_cp_data *data, uint32_t thread, int64_t start,
                       int64_t end, struct ctrace_cp *out);
/* Of the task with id (ends on the thread that ended it, else began it), or
 * region k (index into tl->regions). -ENOENT when there is none. */
int ctrace_critpath_task(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                         uint64_t id, struct ctrace_cp *out);
int ctrace_critpath_region(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                           size_t k, struct ctrace_cp *out);
/* Of the raw blocked span of thread containing t: -ENOENT when t is outside
 * the thread's life. */
int ctrace_critpath_span(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                         uint32_t thread, int64_t t, struct ctrace_cp *out);
void ctrace_critpath_free(struct ctrace_cp *cp);

/* The segment's kind as one word: a state name (states.h), or "not_traced"
 * and "starting" for time outside the trace's threads. */
const char *ctrace_cp_label(const struct ctrace_cp_seg *s);
/* What the segment waited for and where the chain goes, in words, e.g.
 * "blocked on mutex 0x55d0 until woken by tid 12", "read on fd 7
 * (127.0.0.1:5000): sender not traced", "running". Returns buf. */
const char *ctrace_cp_describe(const struct ctrace_timeline *tl, const struct ctrace_cp_seg *s,
                               char *buf, size_t size);

/* The path's time per thread, in order of each thread's first segment:
 * *out (malloc'ed, free it; NULL when there are none) gets one entry per
 * thread. Returns the count or -ENOMEM. O(segments x log segments). */
struct ctrace_cp_thread_ns {
  uint32_t thread; /* timeline thread index, as in the segments */
  uint64_t ns;
};
long ctrace_cp_by_thread(const struct ctrace_cp *cp, struct ctrace_cp_thread_ns **out);

/* "of 21.9 ms: 19.8 ms sleep on holder (tid 5), 2.0 ms running on worker
 * (tid 4) in db.query, ...": the three largest (kind, thread, region)
 * groups. Returns buf. */
const char *ctrace_cp_summary(const struct ctrace_timeline *tl, const struct ctrace_cp *cp,
                              char *buf, size_t size);

/*
 * The aggregate over every ended instance of a task (regions = 0) or region
 * name: where their critical paths went. Keys are (thread name, state,
 * stack): threads of the same name (one per request, say) add up.
 */
struct ctrace_cp_agg_entry {
  uint32_t thread_name; /* string id (0: unnamed) */
  uint32_t tid;         /* a tid of such a thread (for unnamed ones: the thread) */
  unsigned state;
  uint64_t stack;
  uint64_t ns, count;
};
struct ctrace_cp_agg {
  struct ctrace_cp_agg_entry *v; /* by ns, largest first */
  size_t n, cap;
  uint64_t instances;
  uint64_t total_ns; /* sum of the instances' durations */
  uint64_t state_ns[CTRACE_ST_COUNT + 1]; /* [CTRACE_ST_COUNT]: outside the trace */
};
int ctrace_critpath_aggregate(const struct ctrace_timeline *tl, const struct ctrace_cp_data *data,
                              int regions, uint32_t name, struct ctrace_cp_agg *out);
void ctrace_critpath_agg_free(struct ctrace_cp_agg *a);

#endif /* CTRACE_CRITPATH_H */
