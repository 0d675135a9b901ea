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

#endif
