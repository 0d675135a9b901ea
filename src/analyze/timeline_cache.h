/*
 * timeline_cache.h - the timeline index (timeline.h) as a file that is
 * mapped and used as it is, so that a trace opened again need not be
 * indexed again (`ctrace view`'s index cache file, src/serve/view_cache.c,
 * adds what identifies the trace and the stats).
 *
 * The file is a head and sections. The head (one page) names the file's
 * layout (a cache of another build is refused), identifies what it was
 * made from (the caller's words: the trace's size, time and hash), and
 * lists each section's offset, length and hash; each section is one array
 * of the index exactly as it is in memory, starting on a page (and in the
 * levels' section, which the directory section indexes, each level of 64
 * KiB or more starts on a page too, zeros before it: so does its memory,
 * and ctrace_timeline_adopt can map the file's pages in its place). Loading
 * maps the file read-only and points the index's arrays into the mapping:
 * nothing is inflated or copied but the few arrays that hold pointers into
 * the trace (logs, peers) or that must hold whatever the file does later
 * (see below); the page cache serves the rest, and only what the answers
 * touch counts in the process's memory.
 *
 * Every byte of the file is untrusted. Before anything is used: the head's
 * hash, every section inside the file, page-aligned and a whole number of
 * its elements, each section's hash (catches damage), and every count,
 * thread index, array range and trace offset checked against the reader
 * and the index itself (catches what a hash cannot: a file made to match
 * it). Sections are checked a few MiB at a time and their pages let go
 * after (madvise), so checking does not hold the file in memory.
 *
 * What is checked is what the answers then read: the file is written to a
 * temporary name and renamed into place, never changed in place, so the
 * mapping's bytes stay the checked ones. Changed in place by someone else
 * afterwards, the answers could be wrong; what keeps them in bounds when
 * the file is cut short under the mapping (`ctrace view`'s SIGBUS guard
 * then maps zeros over the rest): the counts live in the index's own
 * memory, the arrays whose values bound an access (the per-thread ones:
 * threads, level counts, region and log offsets, depths; the processes and
 * their order) are copied at load, and in every array left in the mapping
 * a zero is in range (a trace with no thread has no cache).
 */
#ifndef CTRACE_TIMELINE_CACHE_H
#define CTRACE_TIMELINE_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "timeline.h"

/* A 64-bit hash of n bytes at p, chained from h (not cryptographic: it
 * finds damage, not forgery). */
uint64_t ctrace_tl_hash(uint64_t h, const void *p, size_t n);

/* The same kind of hash fed in pieces: the result does not depend on how
 * the bytes were cut. */
struct ctrace_hs {
  uint64_t a[4];
  uint64_t n;
  uint8_t tail[32];
  unsigned ntail;
};
void ctrace_hs_init(struct ctrace_hs *s, uint64_t seed);
void ctrace_hs_add(struct ctrace_hs *s, const void *p, size_t n);
uint64_t ctrace_hs_end(const struct ctrace_hs *s);

#define CTRACE_CACHE_MAX_SECTIONS 32
#define CTRACE_CACHE_ID_WORDS 6
#define CTRACE_CACHE_ALIGN 4096u /* every section starts on a page */

/* The head, at offset 0 (CTRACE_CACHE_ALIGN bytes reserved). */
struct ctrace_cache_head {
  uint64_t magic;
  uint64_t layout;                      /* what the bytes' layout depends on */
  uint64_t id[CTRACE_CACHE_ID_WORDS];   /* what the cache was made from */
  uint64_t file_len;                    /* bytes of the whole file */
  uint64_t nsections;
  struct {
    uint64_t off, len, hash;
  } sec[CTRACE_CACHE_MAX_SECTIONS];
  uint64_t head_hash;                   /* of every byte above */
};

/* The timeline's sections, in the order they are written: 0 ..
 * CTRACE_TL_NSECTIONS - 1. A caller adds its own after them. */
enum {
  CTRACE_TLS_SCALARS,  /* start_ns, end_ns, task_maxdur, bytes */
  CTRACE_TLS_THREADS,
  CTRACE_TLS_NLEVELS,
  CTRACE_TLS_LEVEL_DIR, /* struct ctrace_tl_cached_level per thread and level */
  CTRACE_TLS_LEVELS,    /* every level's transitions, one after the other */
  CTRACE_TLS_REGIONS,
  CTRACE_TLS_REGION_OFF,
  CTRACE_TLS_MAX_DEPTH,
  CTRACE_TLS_TASKS,
  CTRACE_TLS_LONG_TASKS,
  CTRACE_TLS_TOUCHES,
  CTRACE_TLS_LOGS,  /* msg: an offset into the trace */
  CTRACE_TLS_LOG_OFF,
  CTRACE_TLS_WAKES,
  CTRACE_TLS_CREATES,
  CTRACE_TLS_PEERS, /* addr: an offset into the trace */
  CTRACE_TLS_PROCS,
  CTRACE_TLS_PROC_ORDER,
  CTRACE_TLS_PROC_LINKS,
  CTRACE_TL_NSECTIONS
};
struct ctrace_tl_cached_level {
  int64_t min_width;
  uint64_t first, n; /* in CTRACE_TLS_LEVELS, in transitions */
};

/* The hash of a head (of its bytes before head_hash). */
uint64_t ctrace_cache_head_hash(const struct ctrace_cache_head *h);
/* The hash of section sec's n bytes at p, as the head holds it. */
uint64_t ctrace_cache_section_hash(unsigned sec, const void *p, size_t n);

/* ---- writing: sections in order, into a file descriptor ---- */
struct ctrace_cache_out {
  int fd;
  const int *cancel; /* when it turns nonzero (atomic), writing fails */
  int err;
  int cur;           /* the section being written, -1 before the first */
  uint64_t off;      /* the file's length so far */
  struct ctrace_hs hs;
  struct ctrace_cache_head head;
};
/* Starts a file on fd (empty, at offset 0) with the given layout and id. */
void ctrace_cache_out_init(struct ctrace_cache_out *o, int fd, const int *cancel,
                           uint64_t layout, const uint64_t id[CTRACE_CACHE_ID_WORDS]);
/* Ends the current section and starts section sec (sec > the current). */
void ctrace_cache_section(struct ctrace_cache_out *o, unsigned sec);
void ctrace_cache_put(struct ctrace_cache_out *o, const void *p, size_t n);
/* Ends the last section and writes the head: 0, or -1 when anything failed. */
int ctrace_cache_out_end(struct ctrace_cache_out *o, unsigned nsections);

/* The timeline's sections (0 .. CTRACE_TL_NSECTIONS - 1) into o. */
void ctrace_timeline_save(const struct ctrace_timeline *tl, struct ctrace_cache_out *o);
/* What the timeline's sections' layout depends on (the caller mixes in its own). */
uint64_t ctrace_timeline_layout(void);

/* ---- a built index's memory given back: the file it was saved in ---- */
/* Guards a range against a SIGBUS (the file cut short under its mapping),
 * add 0 or -1 (no room: the range is not adopted); remove by its start. */
struct ctrace_tl_guard {
  int (*add)(void *arg, const void *p, size_t n);
  void (*remove)(void *arg, const void *p);
  void *arg;
};
/* The pages of a built timeline's arrays that its cache file's pages
 * stand for: n of cap ranges published (atomic), each whole before it
 * counts. Zeroed: none. */
struct ctrace_tl_adopted {
  struct {
    void *p;
    size_t n;
  } *v;
  size_t n, cap;
  const struct ctrace_tl_guard *guard;
};
/* Building with a file to spill into (ctrace_timeline_build_spill): each
 * thread's levels, once built, are written to fd (the caller's, open for
 * reading and writing, unlinked: O_TMPFILE) and the file's pages mapped in
 * their place, listed in *a; the process's memory then holds of them only
 * what is read (the page cache holds the rest, written back to the disk
 * when memory is short). The caller then
 * may close fd (the mappings keep the file), and unadopts *a before the
 * timeline's free, as after ctrace_timeline_adopt, which may follow (the
 * cache file's pages then take the place of these). */
struct ctrace_tl_spill {
  int fd;
  struct ctrace_tl_adopted *a;
  uint64_t off;         /* the file's length so far */
  size_t reserved;      /* places of the list taken */
  pthread_mutex_t lock; /* the scan's two threads spill */
};
/* 0, or -1 (out of memory: build without it). */
int ctrace_tl_spill_init(struct ctrace_tl_spill *s, int fd, uint32_t nthreads,
                         const struct ctrace_tl_guard *guard, struct ctrace_tl_adopted *a);
void ctrace_tl_spill_fini(struct ctrace_tl_spill *s);
/* The whole pages of [p, p + n) spilled (timeline_build.c calls it). */
void ctrace__tl_spill(struct ctrace_tl_spill *s, const void *p, size_t n);

/* After ctrace_timeline_save of tl (built, not loaded) into the file fd
 * (open for reading; h its head as written): the whole pages of tl's big
 * arrays (levels, regions, tasks, touches, wakes, creations) become the
 * file's own pages where the file holds the same bytes (compared first),
 * mapped read-only in their place, and are let go: the memory they held
 * is given back, and from then on the page cache serves them, as it serves
 * a loaded cache's. Safe while other threads query tl; stops early when
 * *cancel turns nonzero (atomic). Each range is guarded (guard->add)
 * before its pages are mapped, and listed in *a (zeroed before, used once).
 * Returns the bytes adopted. */
size_t ctrace_timeline_adopt(const struct ctrace_timeline *tl, int fd,
                             const struct ctrace_cache_head *h, const int *cancel,
                             const struct ctrace_tl_guard *guard, struct ctrace_tl_adopted *a);
/* Lets the adopted pages go from the process's memory (they stay in the
 * page cache and come back when read). */
void ctrace_timeline_release(const struct ctrace_tl_adopted *a);
/* Before ctrace_timeline_free of their timeline, once nothing reads it:
 * the ranges' guards removed, fresh memory in their place (which free can
 * give to anyone), the list freed. */
void ctrace_timeline_unadopt(struct ctrace_tl_adopted *a);

/* ---- reading: a mapped file ---- */
struct ctrace_cache_in {
  const uint8_t *base; /* the mapping (NULL when none) */
  size_t len;
  struct ctrace_cache_head head; /* checked copy */
  /* the sections' hashes are checked from the file read into buf (-1 and
   * NULL: from the mapping) until ctrace_cache_in_end */
  int fd;
  uint8_t *buf;
};
/* Maps fd (a regular file) and checks its head: magic, layout and id as
 * given, its length, the head's hash, every section of nsections inside the
 * file and page-aligned. 0, or -1 (nothing mapped). */
int ctrace_cache_in_open(struct ctrace_cache_in *in, int fd, uint64_t magic, uint64_t layout,
                         const uint64_t id[CTRACE_CACHE_ID_WORDS], unsigned nsections);
void ctrace_cache_in_close(struct ctrace_cache_in *in);
/* No more ctrace_cache_get: lets the file descriptor and the buffer go,
 * keeps the mapping. */
void ctrace_cache_in_end(struct ctrace_cache_in *in);
/* Section sec's bytes as n elements of size bytes, after checking that its
 * length is a whole number of them and its hash is the head's (hashed from
 * the file read in pieces, which leaves the mapping's pages untouched; else
 * from the mapping, its pages let go after): NULL when not (or when empty:
 * then *n is 0 and the result is a valid pointer to no bytes). */
const void *ctrace_cache_get(const struct ctrace_cache_in *in, unsigned sec, size_t size,
                             size_t *n, int *bad);
/* Lets the pages of [p, p + n) go from the process's memory (they stay in
 * the page cache and come back when read). */
void ctrace_cache_release(const void *p, size_t n);

/* The timeline of the trace r from in's sections: 0 and *out, whose arrays
 * point into in's mapping (which the caller keeps until
 * ctrace_timeline_free), or -1 when they are not a valid index of r. */
int ctrace_timeline_load(const ctrace_reader *r, const struct ctrace_cache_in *in,
                         struct ctrace_timeline **out);

#endif /* CTRACE_TIMELINE_CACHE_H */
