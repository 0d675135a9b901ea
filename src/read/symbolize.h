/*
 * symbolize.h - PCs of a trace to function, file and line, with elfutils'
 * libdw, from the MAPPING records (path, load bias, build-id) of the trace.
 * The objects must still be on disk; one whose build-id differs from the
 * recorded one is not used (its symbols would lie).
 *
 * The trace is untrusted: only regular, non-empty files of at most 2 GiB are
 * opened (never a FIFO or a device, and without blocking), at most 2048
 * paths are tried and 512 objects kept, and the time is O(n log n) in the
 * mappings plus one lookup per distinct PC. ctrace_sym_new() unsets
 * DEBUGINFOD_URLS in the process, so that libdw never sends the trace's
 * build-ids to a debuginfod server.
 */
#ifndef CTRACE_SYMBOLIZE_H
#define CTRACE_SYMBOLIZE_H

#include <stdint.h>

#include "reader.h"

struct ctrace_frame {
  uint64_t pc;
  const char *function; /* "??" when unknown */
  const char *file;     /* NULL when unknown */
  int line;             /* 0 when unknown */
  const char *object;   /* path of the mapped object, NULL when unknown */
  uint64_t object_offset; /* pc - the object's load bias: what addr2line wants */
};

typedef struct ctrace_symbolizer ctrace_symbolizer;

/* NULL only when out of memory. Lookups go on working without libdw data. */
ctrace_symbolizer *ctrace_sym_new(const ctrace_reader *r);
void ctrace_sym_free(ctrace_symbolizer *s);
/* Fills *out for pc; return_address: pc follows a call (every stack frame
 * but the innermost of a sample), so the call's line is looked up. The
 * strings live as long as s. */
void ctrace_sym_lookup(ctrace_symbolizer *s, uint64_t pc, int return_address,
                       struct ctrace_frame *out);
/* The same in the address space of the trace's file (process image) file:
 * in a process tree each has its own. ctrace_sym_lookup is file 0. */
void ctrace_sym_lookup_in(ctrace_symbolizer *s, uint32_t file, uint64_t pc, int return_address,
                          struct ctrace_frame *out);
/* The same for a PC of stack id stack: in the address space of the file
 * that recorded it. */
void ctrace_sym_lookup_stack(ctrace_symbolizer *s, uint64_t stack, uint64_t pc,
                             int return_address, struct ctrace_frame *out);

/* Which MAPPING of a trace holds a PC, by binary search over disjoint
 * segments built once (O(n log n) in the mappings): when mappings overlap,
 * the first one in the file wins. NULL only when out of memory. */
typedef struct ctrace_mapindex ctrace_mapindex;
/* Over mappings [first, first + n): one file's address space
 * (ctrace_reader_file_mappings). */
ctrace_mapindex *ctrace_mapindex_new_range(const ctrace_reader *r, uint32_t first, uint32_t n);
void ctrace_mapindex_free(ctrace_mapindex *m);
/* The mapping's index (for ctrace_reader_mapping), or -1. m may be NULL. */
int64_t ctrace_mapindex_find(const ctrace_mapindex *m, uint64_t pc);

#endif
