/*
 * fuzz_reader.c - libFuzzer target for the reader: any bytes must open
 * (or be refused with a message) and decode without a crash, a hang, an
 * out-of-bounds read or unbounded allocation. Exercises every accessor a
 * tool uses: merge iteration, strings, stacks, mappings, time conversion.
 * Build and run: see tests/run-all.sh (stage "fuzz").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/read/reader.h"

/* Recomputes the checksum trailer of every batch of a 1.1 file in place,
 * so that mutations inside batches reach the decoder (and not only the
 * checksum test). */
static void fix_checksums(uint8_t *d, size_t size) {
  if (size < CTRACE_FILE_HEADER_SIZE || ctrace__get_le16(d + 10) < 1)
    return;
  size_t off = ctrace__get_le32(d + 12);
  while (off <= size && size - off >= CTRACE_BATCH_HEADER_SIZE) {
    uint32_t len = ctrace__get_le32(d + off + 4);
    if (len < CTRACE_BATCH_TRAILER_SIZE || len > size - off - CTRACE_BATCH_HEADER_SIZE)
      return;
    uint8_t *t = d + off + CTRACE_BATCH_HEADER_SIZE + len - CTRACE_BATCH_TRAILER_SIZE;
    t[0] = CTRACE_EV_CHECKSUM;
    t[1] = 0;
    t[2] = 4;
    ctrace__put_le32(t + 3, ctrace__crc32c(0, d + off, (size_t)(t - (d + off))));
    off += CTRACE_BATCH_HEADER_SIZE + len;
  }
}

static void one(const uint8_t *data, size_t size, int fix) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  /* A private copy: the reader must not read past size. */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    return;
  memcpy(copy, data, size);
  if (fix)
    fix_checksums(copy, size);
  if (ctrace_reader_open_mem(copy, size, &r, err, sizeof err) == 0) {
    volatile uint64_t sink = 0;
    ctrace_merge *m = ctrace_merge_new(r);
    ctrace_event ev;
    while (m && ctrace_merge_next(m, &ev)) {
      sink += ev.ticks + (uint64_t)ctrace_reader_ns(r, ev.ticks);
      for (unsigned i = 0; i < ev.nfields; i++) {
        const struct ctrace_string *s = ctrace_reader_string(r, ev.f[i]);
        if (s && s->len)
          sink += (uint8_t)s->s[s->len - 1];
        const uint64_t *pcs;
        uint32_t n = ctrace_reader_stack(r, ev.f[i], &pcs);
        for (uint32_t k = 0; k < n; k++)
          sink += pcs[k];
      }
      if (ev.blob_len)
        sink += ev.blob[ev.blob_len - 1];
    }
    ctrace_merge_free(m);
    for (uint32_t i = 0; i < ctrace_reader_nmappings(r); i++)
      sink += ctrace_reader_mapping(r, i)->start;
    for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
      sink += ctrace_reader_thread(r, i)->created_by;
      const struct ctrace_oncpu *iv;
      uint32_t n = ctrace_reader_oncpu(r, i, &iv);
      for (uint32_t k = 0; k < n; k++)
        sink += iv[k].end - iv[k].start + (uint64_t)ctrace_reader_ns(r, iv[k].start);
    }
    const struct ctrace_cpu_sample *smp;
    uint64_t ns = ctrace_reader_samples(r, &smp);
    for (uint64_t k = 0; k < ns; k++)
      sink += smp[k].stack + ctrace_reader_thread(r, smp[k].thread)->tid;
    char buf[64];
    for (uint32_t i = 0; i <= ctrace_reader_nstrings(r) && i < 64; i++)
      sink += (uint8_t)ctrace_reader_strcpy(r, i, buf, sizeof buf)[0];
    (void)sink;
    ctrace_reader_close(r);
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  one(data, size, 0);
  one(data, size, 1);
  return 0;
}
