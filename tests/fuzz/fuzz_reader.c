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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  /* A private copy: the reader must not read past size. */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
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
    for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++)
      sink += ctrace_reader_thread(r, i)->created_by;
    char buf[64];
    for (uint32_t i = 0; i <= ctrace_reader_nstrings(r) && i < 64; i++)
      sink += (uint8_t)ctrace_reader_strcpy(r, i, buf, sizeof buf)[0];
    (void)sink;
    ctrace_reader_close(r);
  }
  free(copy);
  return 0;
}
