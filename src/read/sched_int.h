/*
 * sched_int.h - between reader.c and sched_read.c: the scheduling records
 * (SCHED, SAMPLES, SCHED_LOST of 1.2), decoded once at open.
 */
#ifndef CTRACE_SCHED_INT_H
#define CTRACE_SCHED_INT_H

#include "reader.h"

struct ctrace__sched_data;
/* Decodes the metadata batches' scheduling records of an opened reader
 * (threads resolved); NULL when it has none (or out of memory). */
struct ctrace__sched_data *ctrace__sched_load(const ctrace_reader *r);
void ctrace__sched_free(struct ctrace__sched_data *s);
/* The reader's (reader.c). */
const struct ctrace__sched_data *ctrace__reader_sched(const ctrace_reader *r);
/* The stack ids of the file whose bytes hold offset off: a stack id n of
 * that file (1..*knum) is kbase + n in the reader (tree.c). */
void ctrace__reader_stack_range(const ctrace_reader *r, uint64_t off, uint64_t *kbase,
                                uint32_t *knum);

#endif
