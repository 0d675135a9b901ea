/*
 * flows.h - links between threads that the kernel carried, found in a
 * trace (one process, or a process tree read as one trace):
 *
 *   DATA  bytes written into a pipe, a socketpair, a Unix-domain socket
 *         connected by path or a TCP connection by
 *         one thread and read by another: every recorded write is paired
 *         with the read(s) that consumed its bytes (FIFO byte accounting
 *         per stream; a stream is a pipe, one direction of a socketpair,
 *         or one direction of a TCP 4-tuple);
 *   WAKE  a release (post, unlock, signal) of a process-shared semaphore, rwlock,
 *         mutex or condition variable paired with a wait on the same object
 *         (same mapping, inode and offset) that it ended, typically in
 *         another process.
 *
 * What they rest on: the FD and SHARED records of docs/FORMAT.md ("Process
 * trees"), the SYSCALL events of reads and writes, and the IPC_IO records
 * of reads and writes below the minimum duration (CTRACE_MIN_NS) on pipes,
 * Unix sockets and loopback TCP, so that pairing is exact at any minimum
 * duration. A read or write the trace still lacks (an fd the recorder
 * never classified, a trace of an older recorder) is missing from the
 * accounting: bytes read that no recorded write supplied are counted in
 * `unmatched_read_bytes` and pair with nothing (never with a wrong write: a
 * stream whose accounting underflowed restarts empty).
 *
 * Threads are reader thread indexes (ctrace_reader_thread), times the
 * reader's ticks (ctrace_reader_ns converts them).
 */
#ifndef CTRACE_FLOWS_H
#define CTRACE_FLOWS_H

#include "../read/reader.h"

#include <stddef.h>
#include <stdint.h>

enum ctrace_flow_kind { CTRACE_FLOW_DATA = 1, CTRACE_FLOW_WAKE = 2 };

/* What carried it. */
enum ctrace_flow_object {
  CTRACE_FLOW_PIPE = 1,       /* a pipe or FIFO: object = its inode */
  CTRACE_FLOW_SOCKETPAIR = 2, /* object = the reading end's inode */
  CTRACE_FLOW_TCP = 3,        /* object = a hash of the 4-tuple */
  CTRACE_FLOW_SHARED = 4,     /* object = the mapping's inode, offset beside */
  CTRACE_FLOW_UNIX = 5,       /* a Unix-domain socket connected by path: as SOCKETPAIR */
};

struct ctrace_flow {
  uint8_t kind;        /* enum ctrace_flow_kind */
  uint8_t object_kind; /* enum ctrace_flow_object */
  uint8_t reason;      /* WAKE: the wait's reason (mutex, cond, sem) */
  uint32_t from_thread, to_thread;
  uint64_t from_ticks; /* DATA: end of the write (at most to_ticks); WAKE: the release */
  uint64_t to_ticks;   /* DATA: end of the read; WAKE: end of the wait */
  uint64_t bytes;      /* DATA: bytes of that write consumed by that read */
  uint64_t object;
  uint64_t offset;     /* WAKE: offset of the object in its mapping */
  int32_t from_fd, to_fd; /* DATA; -1 for WAKE */
};

struct ctrace_flows {
  struct ctrace_flow *v; /* sorted by to_ticks, then from_ticks */
  size_t n;
  uint64_t unmatched_read_bytes;  /* read from a known stream, no recorded write */
  uint64_t unmatched_write_bytes; /* written, never read in the trace */
  uint64_t shared_waits, shared_waits_paired;
};

/* Builds the flows of r into *out. 0, or -1 when out of memory. */
int ctrace_flows_build(const ctrace_reader *r, struct ctrace_flows *out);
void ctrace_flows_free(struct ctrace_flows *f);
/* The calls whose bytes the pairing reads (read, readv, recv...) and
 * writes (write, writev, send..., sendfile): CTRACE_CALL_* values. */
int ctrace_flow_is_read_call(uint64_t call);
int ctrace_flow_is_write_call(uint64_t call);
const char *ctrace_flow_kind_name(unsigned kind);
const char *ctrace_flow_object_name(unsigned object_kind);

#endif /* CTRACE_FLOWS_H */
