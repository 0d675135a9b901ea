/*
 * timeline_bin.h - the binary answer of /api/timeline: per thread row the
 * state spans, regions and logs of a window fitted to its pixel width, then
 * the tasks, wake-up edges and thread creations in it. The layout is in
 * docs/API.md; web/timeline.js decodes it.
 */
#ifndef CTRACE_SERVE_TIMELINE_BIN_H
#define CTRACE_SERVE_TIMELINE_BIN_H

#include <stdint.h>

#include "view.h"

#define CTRACE_TLBIN_MAGIC 0x314c5443u  /* "CTL1" */
#define CTRACE_TLBIN_MAGIC2 0x324c5443u /* "CTL2": the columnar form (format=2) */
#define CTRACE_TLBIN_MAX_TASKS 4000
#define CTRACE_TLBIN_MAX_WAKES 4000

/* Encodes [a, b] at width pixels for the given thread rows into out (200,
 * application/octet-stream), in format 1 ("CTL1") or 2 ("CTL2": each row's
 * spans, regions and logs as aligned columns, neighbouring merged runs of
 * one state joined, dense logs without their texts). Returns 0 or -1 when
 * out of memory. */
int ctrace_timeline_encode(struct ctrace_view *v, int64_t a, int64_t b, uint32_t width,
                           const uint32_t *rows, uint32_t nrows, unsigned format,
                           struct ctrace_reply *out);

#endif
