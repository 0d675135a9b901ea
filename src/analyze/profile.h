/*
 * profile.h - blocking profiles: for each stack, how often and how long
 * threads were blocked there, by kind of blocking (locks and other sync
 * objects, network calls, other system calls, sleeps). Built from the WAIT and
 * SYSCALL events that `ctrace run` records when a blocking call returns.
 *
 * What `ctrace profile` prints, what the viewer's /api/profile serves and
 * what pprof.h encodes. Also CPU profiles (kind cpu): the CPU samples of
 * a trace with scheduling data (format 1.2), counted per stack.
 */
#ifndef CTRACE_PROFILE_H
#define CTRACE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "../read/reader.h"

enum ctrace_profile_kind {
  CTRACE_PROFILE_SYNC,    /* WAIT events whose reason class is "sync" */
  CTRACE_PROFILE_NET,     /* SYSCALL events of class NET */
  CTRACE_PROFILE_SYSCALL, /* SYSCALL events of class FILE or OTHER */
  CTRACE_PROFILE_SLEEP,   /* WAIT events with reason SLEEP */
  CTRACE_PROFILE_POLL,    /* SYSCALL events of class POLL (poll, select, epoll_wait) */
  CTRACE_PROFILE_CPU,     /* CPU samples (SAMPLES records); total_ns: samples x period */
};
/* The kinds of blocking come first: [0, CTRACE_PROFILE_NBLOCKING). */
#define CTRACE_PROFILE_NBLOCKING 5
#define CTRACE_PROFILE_NKINDS 6
/* Or'ed into a kind given to the builders: waits on condition variables
 * are left out (threads parked until there is work: a pool's idle workers;
 * also a thread waiting for a result through one, which this cannot tell
 * apart). */
#define CTRACE_PROFILE_NO_IDLE 0x100
/* The sampling period of r's CPU samples in ns (from its `samples`
 * property), 0 when it has none. */
uint64_t ctrace_profile_sample_period_ns(const ctrace_reader *r);

struct ctrace_profile_entry {
  uint32_t stack;    /* stack id; 0: events recorded without a stack */
  uint8_t event;     /* the calls': CTRACE_EV_WAIT or CTRACE_EV_SYSCALL; 0 for samples */
  uint32_t call;     /* a WAIT's reason, a SYSCALL's call (one entry per stack and call) */
  uint64_t count;    /* events (each clipped to the window) */
  uint64_t total_ns; /* blocked time inside the window */
};
/* The call an entry's threads were blocked in, the innermost frame of its
 * stack: a system call's name ("read", "epoll_wait") or a wait's reason
 * as the timeline names it ("mutex", "cond", "rwlock read", "join"); ""
 * for CPU samples. */
const char *ctrace_profile_call_name(const struct ctrace_profile_entry *e, char *buf, size_t n);
/* The same as a frame's name, "[read]" ("" for CPU samples): what the
 * CLI, the viewer and the pprof exports show innermost. */
const char *ctrace_profile_call_frame(const struct ctrace_profile_entry *e, char *buf, size_t n);

struct ctrace_profile {
  struct ctrace_profile_entry *v; /* sorted by total_ns, largest first */
  size_t n;
  uint64_t total_ns; /* sum of v[].total_ns */
};

/* "sync", "net", "syscall", "sleep", "poll", "cpu" -> *out; returns 0, or -1 when unknown. */
int ctrace_profile_kind_parse(const char *name, enum ctrace_profile_kind *out);
/* The name ctrace_profile_kind_parse() takes; "?" for a bad value. */
const char *ctrace_profile_kind_name(enum ctrace_profile_kind k);

/*
 * Sums the blocking events of kind over [start_ns, end_ns) (ns since the
 * trace's start, as ctrace_reader_ns; INT64_MIN / INT64_MAX for the whole
 * trace), on thread tid only, or on every thread when tid is 0. An event
 * counts when its blocked interval overlaps the window, for the part inside
 * it. Events whose stack id is not defined in the trace are counted under
 * stack 0. Returns 0 with *out filled (free it with ctrace_profile_free), or
 * -1 when out of memory (then *out is empty). Cost: one pass over the events
 * of the chosen threads; memory O(number of stacks).
 */
int ctrace_profile_build(const ctrace_reader *r, enum ctrace_profile_kind kind, int64_t start_ns,
                         int64_t end_ns, uint32_t tid, struct ctrace_profile *out);
/* One thread's time window: a profile of a task sums the windows of the
 * threads that worked for it, a profile of a region its thread's. */
struct ctrace_profile_window {
  uint32_t thread; /* index in the reader's thread table */
  int64_t start_ns, end_ns;
};
/* As ctrace_profile_build, over the union of windows w[0..nw) (each on its
 * one thread; windows should not overlap on a thread). */
int ctrace_profile_build_windows(const ctrace_reader *r, enum ctrace_profile_kind kind,
                                 const struct ctrace_profile_window *w, size_t nw,
                                 struct ctrace_profile *out);
void ctrace_profile_free(struct ctrace_profile *p);

#endif
