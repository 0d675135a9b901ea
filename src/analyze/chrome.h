/*
 * chrome.h - a whole trace as Chrome's trace event format (JSON), which the
 * Perfetto UI and chrome://tracing load: regions as slices, tasks as async
 * slices that may cross threads, blocking waits and system calls as slices,
 * logs as instant events, thread names as metadata, wake-ups as flows.
 */
#ifndef CTRACE_CHROME_H
#define CTRACE_CHROME_H

#include <stdint.h>
#include <stdio.h>

#include "../read/reader.h"
#include "../read/symbolize.h"

/* Frames of a stack written per event (innermost first): bounds the JSON's
 * size (every blocking event carries its stack). */
#define CTRACE_CHROME_MAX_FRAMES 16

/*
 * Writes r to out as one JSON object {"traceEvents": [...], ...}.
 * Timestamps are microseconds since the trace's start, with ns precision.
 * sym may be NULL (then no stack frames are named). Returns 0, or -1 when
 * out of memory or a write to out failed.
 */
int ctrace_chrome_write(const ctrace_reader *r, ctrace_symbolizer *sym, FILE *out);

struct ctrace_chrome_opts {
  /* Only [start_ns, end_ns) (ns since the trace's start; INT64_MIN and
   * INT64_MAX for all): regions and tasks open at start_ns begin there,
   * those open at end_ns end there; blocking calls that cross an edge are
   * kept whole. */
  int64_t start_ns, end_ns;
  int no_stacks; /* leave out the "stack" arguments (a smaller file) */
};
/* ctrace_chrome_write with options. */
int ctrace_chrome_write_opts(const ctrace_reader *r, ctrace_symbolizer *sym,
                             const struct ctrace_chrome_opts *opts, FILE *out);

#endif
