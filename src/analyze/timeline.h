/*
 * timeline.h - the per-thread state model every view of `ctrace view` uses,
 * built once from the reader: state spans (from the state machine of
 * states.h: running, blocked on sync, network, file I/O, polling, sleeping,
 * other syscalls, calls in progress at the end), regions (nested, per thread),
 * tasks (which may begin and end on different threads), logs, wake-up edges
 * and thread-creation edges; plus a level-of-detail index so that a window of
 * any width is summarised to the pixel in time proportional to the pixels,
 * not to the events.
 *
 * Not here: HTTP, JSON or any encoding (src/serve/), blocking profiles
 * (profile.h). The model is immutable after ctrace_timeline_build, so any
 * number of threads may query it at once.
 *
 * All times are ns since the trace start (ctrace_reader_ns).
 */
#ifndef CTRACE_TIMELINE_H
#define CTRACE_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "../read/reader.h"
#include "../base/hash.h"
#include "states.h"
#include "timeline_proc.h"

struct ctrace_tl_thread {
  uint32_t tid;
  uint32_t index;       /* in the reader's thread table (order of first event) */
  int64_t first_ns;     /* first event */
  int64_t last_ns;      /* exit, or the end of the trace when it never exited */
  uint32_t created_by;  /* tid, 0 if unknown */
  uint32_t exited;
  uint64_t dropped;
  uint64_t state_ns[CTRACE_ST_COUNT]; /* time spent in each state */
  /* A call still in progress when the trace ended (a PENDING record): its
   * span is the thread's last, from at_end_ns; INT64_MAX when none. */
  int64_t at_end_ns;
  /* Its first span is a call that began before the trace did (clipped to
   * the trace's start, first_ns; states.h CTRACE_SPAN_BEFORE_START). */
  uint32_t began_before;
};

struct ctrace_tl_region {
  int64_t start, end;
  uint64_t task;   /* task id given at REGION_BEGIN (0: none) */
  uint32_t name;   /* string id */
  uint16_t depth; /* 0 = outermost */
  uint16_t open;  /* never ended: end is the thread's end */
};                /* the thread: see region_off */

struct ctrace_tl_task {
  uint64_t id, parent;
  uint32_t name;
  uint32_t begin_thread, end_thread; /* indexes; UINT32_MAX when unknown */
  uint32_t open;                     /* never ended: end is the trace's end */
  int64_t start, end;
  uint32_t touch, ntouch; /* range of ctrace_timeline.touches */
};

/* A thread that worked for a task, from the first to the last thing it did
 * for it (begin, end, regions, logs naming the task). */
struct ctrace_tl_touch {
  uint64_t task; /* id */
  uint32_t thread, pad;
  int64_t first, last;
};

struct ctrace_tl_log {
  int64_t t;
  uint64_t task;
  const uint8_t *msg; /* into the mapped trace */
  uint32_t msg_len;
  uint32_t category; /* string id */
  uint32_t thread;
  uint32_t pad;
};

struct ctrace_tl_wake {
  int64_t t;
  uint64_t object;
  uint32_t waker;     /* thread index */
  uint32_t woken;     /* thread index, UINT32_MAX when not in the trace */
  uint32_t woken_tid;
  uint32_t reason;
};

/* A SOCKADDR record: the peer of socket fd, as the thread learned it. */
struct ctrace_tl_peer {
  int64_t t;
  uint32_t fd, thread;
  const uint8_t *addr; /* struct sockaddr bytes, into the mapped trace */
  uint32_t len, pad;
};

struct ctrace_tl_create {
  int64_t t_create, t_start;
  uint32_t parent, child; /* thread indexes */
};

/* One LOD level of one thread: transitions (start << 8 | merged << 7 |
 * state); a span ends where the next begins, the last at the thread's end. */
struct ctrace_tl_level {
  uint64_t *v;
  size_t n;
  int64_t min_width; /* spans narrower than this were merged (0: raw) */
};

#define CTRACE_TL_MAX_LEVELS 10

struct ctrace_timeline {
  const ctrace_reader *r;
  int64_t start_ns, end_ns;
  struct ctrace_tl_thread *threads;
  uint32_t nthreads;
  /* levels[t][0] holds the raw spans of thread t */
  struct ctrace_tl_level (*levels)[CTRACE_TL_MAX_LEVELS];
  uint8_t *nlevels;
  /* regions of thread t: region_off[t] .. region_off[t+1], by (depth, start) */
  struct ctrace_tl_region *regions;
  size_t nregions;
  size_t *region_off;
  uint16_t *max_depth; /* per thread: deepest depth + 1 */
  struct ctrace_tl_task *tasks; /* sorted by start */
  size_t ntasks;
  int64_t task_maxdur;  /* longest task that is not in long_tasks */
  uint32_t *long_tasks; /* indexes of tasks longer than 1/64 of the trace, or open */
  size_t nlong_tasks;
  struct ctrace_tl_touch *touches;
  size_t ntouches;
  struct ctrace_tl_log *logs; /* sorted by (thread, t); log_off[t] .. */
  size_t nlogs;
  size_t *log_off;
  struct ctrace_tl_wake *wakes; /* sorted by t */
  size_t nwakes;
  struct ctrace_tl_create *creates;
  size_t ncreates;
  struct ctrace_tl_peer *peers; /* by (thread, t) */
  size_t npeers;
  /* processes (timeline_proc.h): reader order; proc_order: tree order */
  struct ctrace_tl_process *procs;
  uint32_t nprocs;
  uint32_t *proc_order;
  struct ctrace_tl_proc_link *proc_links; /* by time */
  size_t nproc_links;
  struct ctrace_hash by_tid; /* tid -> thread index */
  size_t bytes; /* memory held by the index */
  /* A timeline read from a cache file (timeline_cache.h): the arrays
   * between these two addresses are in its mapping, not allocated. */
  const void *map_lo, *map_hi;
};

/* Called now and then while building: done of total events; done ==
 * total once, when every event was read (the joins across threads and
 * the tasks come after it). */
typedef void (*ctrace_tl_progress)(void *arg, uint64_t done, uint64_t total);

/* Builds the model from r (kept open by the caller until free). Returns 0
 * or -ENOMEM. Only the validated part of a damaged trace is read. */
int ctrace_timeline_build(const ctrace_reader *r, ctrace_tl_progress progress, void *arg,
                          struct ctrace_timeline **out);
/* The same, summing each thread's time by state on the way as
 * ctrace_stats_compute does (its states machine's spans up to
 * ctrace_reader_thread_end): into state_ns[thread * CTRACE_ST_COUNT +
 * state] (zeroed by the caller, reader thread order), so that the stats
 * pass beside the build need not run the machine again
 * (ctrace_stats_pass, ctrace_stats_set_states). */
int ctrace_timeline_build_states(const ctrace_reader *r, ctrace_tl_progress progress, void *arg,
                                 uint64_t *state_ns, struct ctrace_timeline **out);
/* The same, giving the memory of the levels back as each thread's are
 * built: written to spill's file and mapped from it in their place
 * (timeline_cache.h, struct ctrace_tl_spill; NULL: as above). */
struct ctrace_tl_spill;
int ctrace_timeline_build_spill(const ctrace_reader *r, ctrace_tl_progress progress, void *arg,
                                uint64_t *state_ns, struct ctrace_tl_spill *spill,
                                struct ctrace_timeline **out);
void ctrace_timeline_free(struct ctrace_timeline *tl);
/* Thread index of tid (the first thread with that tid), or -1. O(1). */
int64_t ctrace_timeline_thread(const struct ctrace_timeline *tl, uint32_t tid);
/* Index of the thread that had tid at ns (of the threads with that tid when
 * the kernel reused it: the reader's ctrace_reader_thread_index_at), or -1.
 * Every lookup of a thread by (tid, time) goes through here. */
int64_t ctrace_timeline_thread_at(const struct ctrace_timeline *tl, uint32_t tid, int64_t ns);

/*
 * Level-of-detail query: the spans of thread in [a, b], each at least
 * min_width ns wide except where the thread starts or ends: runs of narrower
 * spans are merged into one with the state that took most of their time
 * (merged = 1, n = how many spans it stands for, at least). Spans are
 * clipped to [a, b]. Cost: O(log n + (b - a) / min_width) per thread.
 */
typedef void (*ctrace_tl_span_fn)(void *arg, int64_t start, int64_t end, unsigned state,
                                  unsigned merged, uint32_t n);
void ctrace_timeline_spans(const struct ctrace_timeline *tl, uint32_t thread, int64_t a,
                           int64_t b, int64_t min_width, ctrace_tl_span_fn fn, void *arg);

/* Regions of thread overlapping [a, b]; those narrower than min_width are
 * merged per depth (then region is NULL and n counts them). */
typedef void (*ctrace_tl_region_fn)(void *arg, const struct ctrace_tl_region *region,
                                    int64_t start, int64_t end, unsigned depth, uint32_t n);
void ctrace_timeline_regions(const struct ctrace_timeline *tl, uint32_t thread, int64_t a,
                             int64_t b, int64_t min_width, ctrace_tl_region_fn fn, void *arg);

/* Time thread spent in each state within [a, b] (raw spans, exact). */
void ctrace_timeline_breakdown(const struct ctrace_timeline *tl, uint32_t thread, int64_t a,
                               int64_t b, uint64_t out[CTRACE_ST_COUNT]);

/* The raw span of thread containing t: 0 with [*start, *end) and *state, or
 * -1 when t is outside the thread's life. */
int ctrace_timeline_span_at(const struct ctrace_timeline *tl, uint32_t thread, int64_t t,
                            int64_t *start, int64_t *end, unsigned *state);

/* The last wake of thread (index) in [a, b], or NULL: for a blocked span
 * [s, e], the one that ended it. */
const struct ctrace_tl_wake *ctrace_timeline_woken_by(const struct ctrace_timeline *tl,
                                                      uint32_t thread, int64_t a, int64_t b);

/* The latest peer address of fd known at t (that thread's first), or NULL. */
const struct ctrace_tl_peer *ctrace_timeline_peer(const struct ctrace_timeline *tl,
                                                  uint32_t thread, uint32_t fd, int64_t t);

/* Calls fn for each task overlapping [a, b], in order of start except for
 * the few long ones (first). O(log n + tasks in and near the window). */
typedef int (*ctrace_tl_task_fn)(void *arg, const struct ctrace_tl_task *t);
void ctrace_timeline_tasks(const struct ctrace_timeline *tl, int64_t a, int64_t b,
                           ctrace_tl_task_fn fn, void *arg);

/* Index of the first element of a time-sorted array with time >= t. */
size_t ctrace_timeline_wake_lower(const struct ctrace_timeline *tl, int64_t t);
size_t ctrace_timeline_log_lower(const struct ctrace_timeline *tl, uint32_t thread, int64_t t);

/* Per-name latency statistics of tasks (kind 0) or regions (kind 1). */
#define CTRACE_TL_HIST_BUCKETS 20
struct ctrace_tl_latency {
  uint32_t name;
  uint64_t count;
  int64_t min, p50, p90, p99, max;
  uint32_t nbuckets;
  int64_t lo[CTRACE_TL_HIST_BUCKETS], hi[CTRACE_TL_HIST_BUCKETS];
  uint64_t hist[CTRACE_TL_HIST_BUCKETS];
  uint64_t unended; /* instances of the name left out: they never ended */
};
/* Malloc'ed array in *out sorted by name; returns the count or -ENOMEM.
 * Open (never ended) tasks and regions are left out: their end was lost
 * (their thread exited or lost events first, or the trace stopped), so
 * their length is not known; each name counts its own in unended. */
long ctrace_timeline_latency(const struct ctrace_timeline *tl, int regions,
                             struct ctrace_tl_latency **out);
/* How many tasks (regions 0) or regions never ended: all that
 * ctrace_timeline_latency leaves out, with names that never ended at all. */
uint64_t ctrace_timeline_unended(const struct ctrace_timeline *tl, int regions);

/* One task or region, with the threads it touched and where its time went. */
struct ctrace_tl_instance {
  uint64_t id; /* task id, or region index */
  uint32_t name;
  int64_t start, end;
  uint32_t tids[16];
  uint32_t ntids;
  uint64_t breakdown[CTRACE_ST_COUNT];
};
/* The longest instances of tasks/regions named name (string id), at most
 * limit, sorted by duration descending. Returns the count or -ENOMEM. */
long ctrace_timeline_instances(const struct ctrace_timeline *tl, int regions, uint32_t name,
                               size_t limit, struct ctrace_tl_instance **out);

/* The thread (index) of region k. */
uint32_t ctrace_timeline_region_thread(const struct ctrace_timeline *tl, size_t k);

/* String id of the string equal to s (len bytes), or 0. O(strings). */
uint32_t ctrace_timeline_find_string(const struct ctrace_timeline *tl, const char *s, size_t len);

#endif /* CTRACE_TIMELINE_H */
