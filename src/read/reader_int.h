/*
 * reader_int.h - inside the reader: the opened trace's state, shared by
 * reader.c (one file: the validating pass, cursors, time) and tree.c (a
 * process tree: several files as one reader). Not for other modules.
 */
#ifndef CTRACE_READER_INT_H
#define CTRACE_READER_INT_H

#include "reader.h"

#include "../base/hash.h"
#include "../base/vec.h"

struct tree_file; /* tree.c */

struct stack_def {
  uint64_t first; /* index into pcs */
  uint32_t n;
};

/* Cross-thread facts gathered by the validating pass and resolved once at
 * its end (build_index): a name may be set by any thread, in a batch
 * written before or after the named thread's first one, and a creation
 * link pairs events of two threads. */
struct create_rec {
  uint64_t link, ticks;
  uint32_t tid;
};
struct clock_pt {
  uint64_t ticks;
  int64_t ns; /* since the trace's start */
};
struct name_rec {
  uint64_t ticks;
  uint32_t tid, name;
  uint32_t order; /* file order, to break ties */
};

struct ctrace_reader {
  const uint8_t *data;
  size_t size;
  int mapped;
  uint32_t pid;
  unsigned minor;
  uint32_t flags;

  enum ctrace_read_status status;
  uint64_t err_off;
  char err[CTRACE_READ_ERRLEN];
  uint64_t good_bytes;

  CTRACE_TVEC(struct ctrace_batch_info) batches;
  CTRACE_TVEC(struct ctrace_string) strings; /* [0] unused */
  CTRACE_TVEC(struct stack_def) stacks;      /* [0] unused */
  CTRACE_TVEC(uint64_t) pcs;
  CTRACE_TVEC(struct ctrace_mapping) mappings;
  CTRACE_TVEC(struct ctrace_process) processes;
  CTRACE_TVEC(struct ctrace_clock_sync) syncs;
  CTRACE_TVEC(struct ctrace_thread_info) threads;
  uint32_t *batch_pool; /* threads' batch lists */
  CTRACE_TVEC(struct create_rec) creates;
  CTRACE_TVEC(struct name_rec) names;

  struct ctrace_hash tids; /* tid -> thread index (of the tid's latest thread) */
  /* Threads that reused a tid: the index of the previous thread with the
   * same tid, or -1. During the pass, the sequence number of each thread's
   * last batch (a number that does not grow starts a new thread). */
  CTRACE_TVEC(int64_t) prev_same_tid;
  CTRACE_TVEC(uint64_t) last_seq;

  uint64_t nevents, dropped, unknown;
  uint64_t by_kind[256];
  uint64_t first_ticks, last_ticks;
  uint32_t hsize;   /* file header bytes */
  uint64_t tick_hz; /* from a 1.1 header, 0 if unknown */
  int ended;        /* read the END record */
  CTRACE_TVEC(char *) props; /* PROPERTY records (1.2), "key=value", file order */

  /* Time: points (ticks, ns since the start) from the clock syncs, each
   * segment between two of them a line of its own; outside them the line
   * through the first and last (see docs/FORMAT.md, "Time"). */
  CTRACE_TVEC(struct clock_pt) pts;
  uint64_t ext_num, ext_den; /* slope outside the points: ns per tick = num/den */
  uint64_t real0;
  struct ctrace__sched_data *sched; /* scheduling records (sched_read.c) */

  /* What the file says of its process's end (EXIT, SIGNAL events). */
  int has_exit;
  int64_t exit_status;
  uint32_t fatal_signal;
  int locked; /* opened by path while its writer still held the file's lock */
  int no_sched; /* a file of a tree: scheduling records are loaded by the tree */

  /* A process tree (tree.c): the files, each a reader of its own whose
   * definitions were copied here with ids shifted; NULL for one file. */
  struct tree_file *files;
  uint32_t nfiles;
  void *region; /* the address range the files are mapped in */
  size_t region_size;
  uint8_t str_mask[256], stk_mask[256]; /* per kind: fields that are string / stack ids */
  uint8_t task_mask[256]; /* per kind: fields that are task ids */
  uint8_t link_mask[256]; /* per kind: fields that are thread-creation links */
};


/* reader.c */
int ctrace__reader_fit_clock(ctrace_reader *r);
int ctrace__reader_open_file(const char *path, const void *at, size_t max, int sub,
                             ctrace_reader **out, char *err, size_t errlen);
/* tree.c */
void ctrace__tree_free(ctrace_reader *r);
/* Frees (and empties) the tables the validating pass built: batches,
 * definitions, threads and their lookups; keeps the header, properties,
 * processes, status and scheduling data. A tree calls it on each file's own
 * reader once the tree has copied them (tree.c); close calls it too. */
void ctrace__reader_free_tables(ctrace_reader *r);
/* Sets a cursor's id shifts for its thread's file. */
void ctrace__tree_cursor(ctrace_cursor *c);

#endif
