/*
 * timeline_cache.h - the timeline index (timeline.h) written to a stream
 * and read back, so that a trace opened again need not be indexed again
 * (`ctrace view`'s index cache file, src/serve/view_cache.c, keeps the
 * stream with what identifies the trace).
 *
 * The bytes are untrusted when read: every count, index, range and file
 * offset is checked before use, and the stream's hash (the caller compares
 * it with the stored one) catches the rest. A failed load frees what it
 * read: the caller builds the index from the trace.
 */
#ifndef CTRACE_TIMELINE_CACHE_H
#define CTRACE_TIMELINE_CACHE_H

#include <stdint.h>
#include <stdio.h>

#include "timeline.h"

/* A 64-bit hash of n bytes at p, chained from h (not cryptographic: it
 * finds damage, not forgery). */
uint64_t ctrace_tl_hash(uint64_t h, const void *p, size_t n);

/* Writes tl to f, chaining the hash of what it writes into *hash. 0, or
 * -1 when a write failed. */
int ctrace_timeline_save(const struct ctrace_timeline *tl, FILE *f, uint64_t *hash);

/* Reads what ctrace_timeline_save wrote for the trace r (at most left
 * bytes), chaining *hash the same way: 0 and *out, or -1 when the bytes
 * are not a valid index of r. */
int ctrace_timeline_load(const ctrace_reader *r, FILE *f, uint64_t left, uint64_t *hash,
                         struct ctrace_timeline **out);

#endif /* CTRACE_TIMELINE_CACHE_H */
