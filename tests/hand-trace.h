/*
 * hand-trace.h - building small traces byte by byte, for tests that need
 * a situation a real program cannot be made to produce on demand (a call
 * begun before the trace, one in progress at its end...): version 1.0
 * files (32-byte header, no checksums; ticks are ns unless the test sets
 * the TSC flag), batches of events encoded as docs/FORMAT.md says.
 * Also the query-parameter callback of ctrace_api_handle for "k=v" lists.
 */
#ifndef CTRACE_TEST_HAND_TRACE_H
#define CTRACE_TEST_HAND_TRACE_H

#include <stdint.h>
#include <string.h>

#include "../src/format/format.h"

struct buf {
  uint8_t b[4096];
  size_t n;
};

static inline void put(struct buf *b, const void *p, size_t n) {
  memcpy(b->b + b->n, p, n);
  b->n += n;
}

static inline void put_uv(struct buf *b, uint64_t v) {
  b->n = (size_t)(ctrace__put_uvarint(b->b + b->n, v) - b->b);
}

/* One event: kind, delta, fields (and a blob when not NULL). */
static inline void put_ev(struct buf *b, unsigned kind, uint64_t delta, unsigned nf,
                          const uint64_t *f, const char *blob) {
  b->b[b->n++] = (uint8_t)kind;
  put_uv(b, delta);
  for (unsigned i = 0; i < nf; i++)
    put_uv(b, f[i]);
  if (blob) {
    put_uv(b, strlen(blob));
    put(b, blob, strlen(blob));
  }
}

/* A batch of thread tid (0: metadata) holding payload p. */
static inline void put_batch(struct buf *file, uint32_t tid, uint64_t base, const struct buf *p) {
  uint8_t h[32] = {0};
  ctrace__put_le32(h, CTRACE_BATCH_MAGIC);
  ctrace__put_le32(h + 4, (uint32_t)p->n);
  ctrace__put_le32(h + 8, tid);
  ctrace__put_le32(h + 12, tid ? 0 : CTRACE_BATCH_META);
  ctrace__put_le64(h + 24, base);
  put(file, h, 32);
  put(file, p->b, p->n);
}

/* The file header of version 1.0 for process pid: ticks are ns. */
static inline void put_file_header(struct buf *file, uint32_t pid) {
  uint8_t fh[32] = {0};
  memcpy(fh, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN);
  fh[8] = CTRACE_FORMAT_MAJOR;
  fh[12] = 32;
  ctrace__put_le32(fh + 20, pid);
  put(file, fh, 32);
}

/* Query parameters for ctrace_api_handle: ctx is "k=v" strings, NULL-ended. */
static inline const char *param(void *ctx, const char *key) {
  for (const char *const *kv = ctx; *kv; kv++) {
    size_t n = strlen(key);
    if (strncmp(*kv, key, n) == 0 && (*kv)[n] == '=')
      return *kv + n + 1;
  }
  return NULL;
}

#endif
