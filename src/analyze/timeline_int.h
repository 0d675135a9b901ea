/*
 * timeline_int.h - what the files of the timeline share and nobody else
 * sees: the packed transition (one uint64_t: ns since the trace start << 8,
 * a merged bit, 7 bits of state) and the level-of-detail builder.
 *
 * The timeline is four files, one concept each: timeline_build.c (one pass
 * over each thread's events, then the cross-thread joins), timeline_lod.c
 * (levels of detail and span queries), timeline_query.c (regions, tasks,
 * wake-ups, logs, lookups) and timeline_latency.c (per-name statistics).
 */
#ifndef CTRACE_TIMELINE_INT_H
#define CTRACE_TIMELINE_INT_H

#include <stdlib.h>

#include "timeline.h"
#include "../base/vec.h"

#define ST_MERGED 0x80u
#define PK(t, flags) ((uint64_t)(t) << 8 | (flags))
#define PK_T(v) ((int64_t)((v) >> 8))
#define PK_ST(v) ((unsigned)((v)&0x7f))
#define PK_MERGED(v) (((v)&ST_MERGED) != 0)
#define NO_THREAD UINT32_MAX

/* Time of a packed transition. */
static inline int64_t ctrace__tr_time(const struct ctrace_timeline *tl, uint64_t v) {
  return PK_T(v) + tl->start_ns;
}

/* Arrays of at least this many bytes start on a page, in memory and in the
 * LEVELS section of a cache file (timeline_cache.c), so that once the cache
 * is written the file's pages can stand for their memory
 * (ctrace_timeline_adopt). */
#define CTRACE_TL_PAGE_MIN (64u << 10)
static inline void *ctrace__tl_alloc(size_t n) {
  if (n < CTRACE_TL_PAGE_MIN || n >= CTRACE_VEC_HUGE_MIN)
    return ctrace__big_malloc(n); /* a big one is on 2 MiB */
  void *p = NULL;
  return posix_memalign(&p, 4096, n) == 0 ? p : NULL;
}

/* Frees p unless it is in the mapping of a cached timeline's file. */
void ctrace__tl_free(const struct ctrace_timeline *tl, void *p);
/* Lets the pages of [p, p + n) go from the process's memory when they are
 * in the mapping of a cached timeline's file (they stay in the page cache
 * and come back when read); nothing for a built timeline
 * (timeline_cache.c). */
void ctrace__tl_release(const struct ctrace_timeline *tl, const void *p, size_t n);

/* Builds the coarser levels of thread th from its raw level (timeline_lod.c);
 * adds their memory to *bytes. scratch (of uint64_t) is the caller's room
 * for merging, kept from one thread to the next. 0 or -1 (out of memory). */
struct ctrace_vec;
int ctrace__timeline_build_levels(struct ctrace_timeline *tl, uint32_t th, size_t *bytes,
                                  struct ctrace_vec *scratch);

/* Builds tl's processes and their links from the FORK, EXEC, EXIT and
 * SIGNAL events of the scan (struct ctrace_tl_procev, freed here)
 * (timeline_proc.c). 0 or -1 (out of memory). */
int ctrace__timeline_procs(struct ctrace_timeline *tl, struct ctrace_vec *procevs);
void ctrace__timeline_procs_free(struct ctrace_timeline *tl);
/* Where a thread that never exited ends: its process's stop when the
 * process's trace is complete (an image that exec'd, a child that exited
 * before the others), else the trace's end. */
int64_t ctrace__timeline_proc_end(const struct ctrace_timeline *tl,
                                  const struct ctrace_thread_info *ti);

#endif /* CTRACE_TIMELINE_INT_H */
