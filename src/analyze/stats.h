/*
 * stats.h - whole-trace numbers: duration, threads, events by kind, bytes per
 * event, drops, tracer overhead, tasks and regions by name. What `ctrace
 * stats` prints and the viewer's summary shows. Not thread states (spans).
 */
#ifndef CTRACE_STATS_H
#define CTRACE_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "../read/reader.h"
#include "states.h"

struct ctrace_name_count {
  uint32_t name; /* string id */
  uint64_t count;
  uint64_t total_ns; /* tasks: sum of durations of the ended ones */
};

/* One process image of a process tree (struct ctrace_process for the rest). */
struct ctrace_proc_stats {
  uint32_t threads;
  uint64_t events;
  uint64_t bytes;                       /* of its file */
  int64_t start_ns, end_ns;             /* its first and last event, on the trace's clock */
  uint64_t state_ns[CTRACE_ST_COUNT];   /* its threads' time by state */
};

/* src/serve/view_cache.c saves this struct in the viewer's index cache: a
 * new pointer field must be saved and loaded there too. */
struct ctrace_stats {
  int64_t duration_ns;
  uint32_t processes;
  uint32_t threads;
  uint64_t events;
  uint64_t by_kind[256];
  uint64_t bytes;
  double bytes_per_event;
  uint64_t dropped_events;
  uint64_t tasks, regions, logs;
  uint64_t tracer_overhead_ns;
  uint64_t tracer_events;
  /* per family of ctrace run (0 when not recorded) */
  uint64_t sync_events, sleep_events, io_events, net_events, poll_events, proc_events;
  struct ctrace_name_count *task_names, *region_names;
  uint32_t ntask_names, nregion_names;
  /* What the trace recorded (states.h: CTRACE_KNOWN_*). */
  unsigned known;
  /* scheduling data (format 1.2): totals, and whether and why not */
  struct ctrace_sched_totals sched;
  char sched_reason[256]; /* why not recorded ("" when recorded) */
  char samples[256];      /* the `samples` property: a rate, or "off: why" */
  /* time per state of each thread: state_ns[thread * CTRACE_ST_COUNT + state] */
  uint64_t *state_ns;
  /* the same summed over threads: every thread's time by state */
  uint64_t state_total_ns[CTRACE_ST_COUNT];
  /* per process (ctrace_reader_process order): processes entries */
  struct ctrace_proc_stats *procs;
};
/* "complete", "running", "cut off" or "corrupt" (struct ctrace_process.status). */
const char *ctrace_proc_status_name(uint32_t status);

/* Computes stats over r; returns 0 or -1 (out of memory). */
int ctrace_stats_compute(const ctrace_reader *r, struct ctrace_stats *st);
/* The same, handing fn every event it reads too (thread by thread, each in
 * order), for a caller that needs one more pass over them: fn returns 0,
 * or -1 to stop (then -1). */
typedef int (*ctrace_stats_event_fn)(void *arg, uint32_t thread, const ctrace_event *ev);
int ctrace_stats_compute_with(const ctrace_reader *r, struct ctrace_stats *st,
                              ctrace_stats_event_fn fn, void *arg);
/* The same pass without the threads' states (no state machine): their
 * times are zero until ctrace_stats_set_states gives them, from the
 * timeline's build that ran the machine already
 * (ctrace_timeline_build_states, beside this pass in `ctrace view`). */
int ctrace_stats_pass(const ctrace_reader *r, struct ctrace_stats *st, ctrace_stats_event_fn fn,
                      void *arg);
/* state_ns: per thread (reader order) and state, as ctrace_stats_compute
 * sums them; copied into st, and summed over threads and processes. */
void ctrace_stats_set_states(const ctrace_reader *r, struct ctrace_stats *st,
                             const uint64_t *state_ns);
void ctrace_stats_free(struct ctrace_stats *st);
/* Writes st as one JSON object (the keys documented in docs/cli/stats.md). */
void ctrace_stats_json(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out);
/* Writes st as a human-readable table. */
void ctrace_stats_text(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out);
/* Writes s as a JSON string literal (quotes, escapes) of at most len bytes. */
void ctrace_json_string(FILE *out, const char *s, size_t len);

#endif
