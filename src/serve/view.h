/*
 * view.h - what `ctrace view` serves: one opened trace with its timeline
 * index, whole-trace stats and a symbolizer, and the HTTP API over it
 * (api.c), independent of the HTTP library (server.c does the sockets).
 */
#ifndef CTRACE_SERVE_VIEW_H
#define CTRACE_SERVE_VIEW_H

#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../analyze/stats.h"
#include "../analyze/timeline.h"
#include "../analyze/timeline_cache.h"
#include "../read/reader.h"
#include "../read/symbolize.h"

struct ctrace_view {
  const char *path;
  const ctrace_reader *r;
  struct ctrace_timeline *tl;
  struct ctrace_stats st;
  ctrace_symbolizer *sym;
  pthread_mutex_t sym_lock; /* libdw lookups are not thread-safe */
  /* The file as it was loaded (ctrace_view_watch); changed turns 1 for good
   * once path is no longer that file. */
  struct stat file_st;
  int watched;
  int changed;
  struct ctrace_counters *counters; /* api_find.c: built on first use */
  struct ctrace_flows *flows;       /* api_procs.c: data and shared-object edges, on first use */
  struct ctrace_cp_data *cp_data;   /* api_critpath.c: the flows' data edges for walks, on first use */
  struct ctrace_view *after; /* `ctrace view BEFORE AFTER`: the second trace, else NULL */
  /* The index cache file (view_cache.c): what became of it, and where it
   * is (valid once loaded or saved). */
  int cache_state; /* CTRACE_CACHE_* */
  char cache_file[4096];
  pthread_t cache_writer;
  int cache_writing;
  int cache_cancel; /* set when closing: the writing stops (atomic) */
  /* The writing waits for the first timeline answer (ctrace__view_cache_go)
   * or CTRACE_CACHE_WAIT_S, whichever is sooner. */
  pthread_mutex_t cache_lock;
  pthread_cond_t cache_cond; /* (CLOCK_MONOTONIC) */
  int cache_go;
  /* A loaded cache's mapping, which tl's arrays point into (NULL: built). */
  const void *cache_map;
  size_t cache_map_len;
  /* A built index once its cache was written: the pages of its arrays
   * that the file's pages stand for (timeline_cache.h). */
  struct ctrace_tl_adopted adopted;
};

/* What the index cache did for this trace (view_cache.c). */
enum { CTRACE_CACHE_OFF, CTRACE_CACHE_LOADED, CTRACE_CACHE_SAVING, CTRACE_CACHE_SAVED,
       CTRACE_CACHE_UNSAVED };
/* "off", "loaded" (the index came from the cache), "saving", "saved" (built
 * and written for next time), "unsaved" (built; no cache could be written). */
const char *ctrace_view_cache_state(const struct ctrace_view *v);
int ctrace__view_cache_enabled(void);
/* Whether an index that took build_ns to build and holds bytes is worth a
 * cache file: a second or more, or 32 MiB or more (once written, the
 * file's pages stand for that memory: ctrace_timeline_adopt), or
 * CTRACE_INDEX_CACHE=on. */
#define CTRACE_CACHE_MIN_BUILD_NS 1000000000
#define CTRACE_CACHE_MIN_BYTES (32u << 20)
int ctrace__view_cache_worth(int64_t build_ns, size_t bytes);
/* 0 with v->tl and v->st from a valid cache of v's trace, else -1. */
int ctrace__view_cache_load(struct ctrace_view *v);
/* The first answers were given: the cache may be written now. */
#define CTRACE_CACHE_WAIT_S 3
void ctrace__view_cache_go(struct ctrace_view *v);
/* Unmaps a loaded cache (after ctrace_timeline_free of its timeline). */
void ctrace__view_cache_unmap(struct ctrace_view *v);
/* Whether the build spills (ctrace_timeline_build_spill) for a trace of
 * file_size bytes: CTRACE_INDEX_SPILL=on or off, else when the trace has 8
 * MiB or more and its index (about 4x the file) would take more than an
 * eighth of the memory available. Spilling lowers the build's peak of
 * memory by its levels (10 M events: 292 -> 232 MiB) for about 0.2-0.45 s
 * more CPU (writing them to the file), so it is for when memory is
 * short. */
#define CTRACE_SPILL_MIN_FILE (8u << 20)
int ctrace__view_spill_wanted(uint64_t file_size);
/* An unnamed file (O_TMPFILE) for the build to spill into, beside where
 * the cache goes, when spilling is wanted and the cache is enabled; else
 * -1. */
int ctrace__view_spill_file(const struct ctrace_view *v);
/* The SIGBUS guard of view.c, for ctrace_timeline_adopt and the spill. */
const struct ctrace_tl_guard *ctrace__view_guard(void);
/* Writes the cache of v (built) in a thread; ctrace__view_cache_join stops
 * it (a cache not written whole is removed) and waits. */
void ctrace__view_cache_save_start(struct ctrace_view *v);
void ctrace__view_cache_join(struct ctrace_view *v);
/* Waits for the cache's writing to end, letting it finish (tests, benches). */
void ctrace__view_cache_wait(struct ctrace_view *v);

struct ctrace_counters;
void ctrace__counters_free(struct ctrace_counters *c);
/* v's counters gathered from the stats pass's events (view.c) rather
 * than by reading every event again on the first /api/counters, which
 * the page asks beside its first timeline: begin (NULL: out of memory),
 * ctrace__counters_event as the pass's ctrace_stats_event_fn, end. */
struct ctrace_counters_build;
struct ctrace_counters_build *ctrace__counters_begin(const ctrace_reader *r);
int ctrace__counters_event(void *b, uint32_t thread, const ctrace_event *ev);
void ctrace__counters_end(struct ctrace_view *v, struct ctrace_counters_build *b);
/* The counters in the index cache file, 4 sections from sec (api_find.c):
 * built now when they are not yet, written; read back, checked (0, or -1
 * when not valid for v, whose tl is loaded). */
struct ctrace_cache_out;
struct ctrace_cache_in;
#define CTRACE_COUNTERS_SECTIONS 4
void ctrace__counters_save(struct ctrace_view *v, struct ctrace_cache_out *o, unsigned sec);
int ctrace__counters_load(struct ctrace_view *v, const struct ctrace_cache_in *in, unsigned sec);
struct ctrace_flows;
void ctrace__flows_free(struct ctrace_flows *f);
/* The trace's flows, built on the first call (NULL: out of memory). */
const struct ctrace_flows *ctrace__view_flows(struct ctrace_view *v);
struct ctrace_cp_data;
void ctrace_critpath_data_free(struct ctrace_cp_data *d);

/*
 * The trace file, mapped for serving. A mapping of a file that is then
 * truncated (re-running a program with the same CTRACE_OUT does that) makes
 * every access to the vanished pages raise SIGBUS, in any thread, in the
 * middle of any analysis. So a SIGBUS inside the mapping is caught: the
 * handler maps zero pages over the rest of the mapping and returns (the
 * access then reads zeros: the decoder takes any bytes) and marks the file
 * changed; from then on every answer is a 409 (ctrace_view_watch), and an
 * answer computed while it happened is replaced by one. A SIGBUS elsewhere
 * takes its default action. One mapped file per process.
 *
 * After indexing, ctrace_view_file_release lets the pages go from this
 * process's memory (they stay in the page cache, shared, and come back when
 * read): the server holds the index, not the file twice.
 */
struct ctrace_view_file {
  const void *data;
  size_t size;   /* bytes of the file */
  size_t mapped; /* bytes mapped */
  struct stat st;
};
/* Maps path read-only (opened without blocking: a FIFO with no writer must
 * not hang). 0, or -1 with errno (EINVAL: not a regular file). */
int ctrace_view_file_map(const char *path, struct ctrace_view_file *f);
void ctrace_view_file_release(struct ctrace_view_file *f);
/* The same for the mapped file, whichever it is (after an answer that read
 * much of it); nothing when none is mapped. */
void ctrace_view_release_pages(void);
void ctrace_view_file_unmap(struct ctrace_view_file *f);
/* The same for v's loaded index cache (and its AFTER's): nothing when built. */
void ctrace_view_release_index(struct ctrace_view *v);
/* 1 once a SIGBUS was caught in the mapping (the file shrank under it). */
int ctrace_view_file_lost(void);
/* The same guard for another mapping (a loaded index cache, or a range of
 * a built index that its cache file's pages stand for: at most 1024): a
 * SIGBUS in it reads zeros from then on, without marking the trace changed
 * (the cache's arrays hold no count: zeros are in range). 0, or -1 when
 * there is no room (the range is not guarded). */
int ctrace_view_guard_add(const void *p, size_t len);
void ctrace_view_guard_remove(const void *p);

/* Indexes r (kept open by the caller) for serving. 0 or -ENOMEM. */
int ctrace_view_init(struct ctrace_view *v, const ctrace_reader *r, const char *path,
                     ctrace_tl_progress progress, void *arg);
void ctrace_view_fini(struct ctrace_view *v);

/* From now on, every API answer checks that path is still the file st
 * describes (inode, size, modification time): once it is not (truncated,
 * rewritten, replaced, removed), every answer is 409 saying so, and
 * ctrace_view_changed is 1. */
void ctrace_view_watch(struct ctrace_view *v, const struct stat *st);
/* 1 when the watched file changed since it was loaded (a stat(2) each call
 * until it has). */
int ctrace_view_changed(struct ctrace_view *v);

/* An answer: status, Content-Type, body (malloc'ed, freed by the caller). */
struct ctrace_reply {
  int status;
  const char *type;
  char *body;
  size_t len;
  char disposition[96]; /* Content-Disposition, "" when none */
};

/* Looks up a query parameter of the request, NULL when absent. */
typedef const char *(*ctrace_param_fn)(void *ctx, const char *key);

/*
 * Answers GET path (below /api/) with the query parameters given by param.
 * Always fills *out: 200 with the body, 400 with {"error": "..."} on a bad
 * parameter, 404 on an unknown endpoint, 500 when out of memory. Safe to call
 * from several threads at once.
 */
void ctrace_api_handle(struct ctrace_view *v, const char *path, ctrace_param_fn param,
                       void *ctx, struct ctrace_reply *out);

/* Fills *out with a JSON error object. */
void ctrace_reply_error(struct ctrace_reply *out, int status, const char *msg);

#endif
