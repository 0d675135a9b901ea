/*
 * trace_bytes.c - where the bytes of a trace go: bytes per record kind
 * (thread events field by field, definitions, scheduling records), batch
 * headers and checksum trailers, each as bytes per event of the file.
 *
 *   build/bench/trace_bytes [--fields] FILE [FILE...]
 *   build/bench/trace_bytes --decode FILE    (the reader's decode speed)
 *
 * Events are what ctrace_reader_nevents() counts (the thread events); the
 * file's bytes per event is its size over that count, the figure the
 * README's overhead table gives. Each line says how much of it one part
 * takes. A trace of a process tree is read file by file (--no-tree style:
 * each FILE alone) and summed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/format/format.h"
#include "../src/read/reader.h"

#define NPARTS (1 + 1 + CTRACE_MAX_FIELDS + 1) /* kind, delta, fields, blob */

struct kind_acc {
  uint64_t count;
  uint64_t part[NPARTS]; /* bytes: kind byte, delta, each field, blob (with its length) */
  uint64_t repeated;     /* events that left out their repeated fields (1.4) */
};

static struct kind_acc acc[256];
static uint64_t file_header, batch_headers, trailers, nbatches, nmeta_batches, tail;
static uint64_t total_size, total_events;
static uint64_t stack_pcs, stack_defs;

static void field_name(unsigned kind, unsigned i, char *out, size_t n) {
  const char *f = ctrace__kinds[kind].fields;
  out[0] = 0;
  if (!f)
    return;
  for (unsigned k = 0; *f && *f != '|'; k++) {
    while (*f == ' ')
      f++;
    const char *e = f;
    while (*e && *e != ' ')
      e++;
    if (k == i) {
      snprintf(out, n, "%.*s", (int)(e - f), f);
      return;
    }
    f = e;
    while (*f == ' ')
      f++;
  }
}

/* Walks one batch's records, attributing each byte. */
static void walk_batch(const uint8_t *p, const uint8_t *end) {
  while (p < end) {
    unsigned kind = *p, mask = 0;
    if ((kind & 0xc0) == CTRACE_REPEAT_FLAG && ctrace__repeat_mask(kind & ~CTRACE_REPEAT_FLAG)) {
      kind &= ~CTRACE_REPEAT_FLAG; /* 1.4: its repeated fields are not stored */
      mask = ctrace__repeat_mask(kind);
      acc[kind].repeated++;
    }
    struct kind_acc *a = &acc[kind];
    const uint8_t *q = p + 1;
    uint64_t v;
    a->count++;
    a->part[0] += 1;
    const uint8_t *d = ctrace__get_uvarint(q, end, &v);
    if (!d)
      return;
    a->part[1] += (uint64_t)(d - q);
    q = d;
    unsigned nf = kind < 0x80 ? ctrace__kinds[kind].nfields : 0;
    int blob = kind >= 0x80 || ctrace__kinds[kind].blob;
    for (unsigned i = 0; i < nf; i++) {
      if (mask >> i & 1)
        continue;
      d = ctrace__get_uvarint(q, end, &v);
      if (!d)
        return;
      a->part[2 + i] += (uint64_t)(d - q);
      q = d;
    }
    if (blob) {
      d = ctrace__get_uvarint(q, end, &v);
      if (!d || v > (uint64_t)(end - d))
        return;
      if (kind == CTRACE_EV_STACK)
        stack_defs++;
      d += v;
      a->part[2 + CTRACE_MAX_FIELDS] += (uint64_t)(d - q);
      q = d;
    }
    p = q;
  }
}

static int add_file(const char *path) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &r, err, sizeof err) < 0) {
    fprintf(stderr, "trace_bytes: %s\n", err);
    return -1;
  }
  const uint8_t *data = ctrace_reader_data(r);
  uint64_t size = ctrace_reader_file_size(r), covered = 0;
  unsigned minor = ctrace_reader_version_minor(r);
  uint64_t hs = ctrace__get_le32(data + 12);
  file_header += hs;
  covered += hs;
  for (uint32_t i = 0; i < ctrace_reader_nbatches(r); i++) {
    const struct ctrace_batch_info *b = ctrace_reader_batch(r, i);
    nbatches++;
    if (b->flags & CTRACE_BATCH_META)
      nmeta_batches++;
    batch_headers += CTRACE_BATCH_HEADER_SIZE;
    trailers += b->len - b->evlen;
    covered += CTRACE_BATCH_HEADER_SIZE + b->len;
    const uint8_t *p = data + b->offset + CTRACE_BATCH_HEADER_SIZE;
    walk_batch(p, p + b->evlen);
  }
  (void)minor;
  for (uint32_t i = 1; i <= ctrace_reader_nstacks(r); i++) {
    const uint64_t *pcs;
    stack_pcs += ctrace_reader_stack(r, i, &pcs);
  }
  tail += size - covered;
  total_size += size;
  total_events += ctrace_reader_nevents(r);
  ctrace_reader_close(r);
  return 0;
}

/* CPU seconds of the calling thread. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --decode: every event of every thread through cursors, as the tools
 * read them after open; the best of 5 passes, in M events per CPU second. */
static int decode_speed(const char *path) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &r, err, sizeof err) < 0) {
    fprintf(stderr, "trace_bytes: %s\n", err);
    return 1;
  }
  double best = 1e18;
  uint64_t n = 0, sum = 0;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = cpu_s();
    n = 0;
    for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
      ctrace_cursor c;
      ctrace_event ev;
      ctrace_cursor_init(&c, r, i);
      while (ctrace_cursor_next(&c, &ev)) {
        n++;
        sum += ev.ticks + ev.f[0];
      }
    }
    double dt = cpu_s() - t0;
    if (dt < best)
      best = dt;
  }
  printf("%s: %" PRIu64 " events, decode %.1f M events/s of CPU (best of 5; checksum %" PRIu64
         ")\n",
         path, n, (double)n / best / 1e6, sum % 1000);
  ctrace_reader_close(r);
  return 0;
}

static void line(const char *what, uint64_t count, uint64_t bytes) {
  double e = total_events ? (double)total_events : 1;
  printf("%-34s %10" PRIu64 " %12" PRIu64 " %7.1f%% %8.3f\n", what, count, bytes,
         total_size ? 100.0 * (double)bytes / (double)total_size : 0, (double)bytes / e);
}

int main(int argc, char **argv) {
  int fields = 0;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "--decode") == 0)
    return decode_speed(argv[2]);
  if (argc > 1 && strcmp(argv[1], "--fields") == 0) {
    fields = 1;
    first = 2;
  }
  if (argc <= first) {
    fprintf(stderr, "usage: trace_bytes [--fields] FILE...\n");
    return 2;
  }
  for (int i = first; i < argc; i++)
    if (add_file(argv[i]) < 0)
      return 1;
  printf("%" PRIu64 " bytes, %" PRIu64 " events: %.3f bytes per event\n", total_size, total_events,
         total_events ? (double)total_size / (double)total_events : 0);
  printf("%-34s %10s %12s %8s %8s\n", "part", "records", "bytes", "share", "B/event");
  line("file header", (uint64_t)(argc - first), file_header);
  line("batch headers", nbatches, batch_headers);
  line("checksum trailers", nbatches, trailers);
  /* events first (thread kinds), then definitions and the skippable range */
  for (int pass = 0; pass < 2; pass++) {
    for (unsigned k = 0; k < 256; k++) {
      struct kind_acc *a = &acc[k];
      if (!a->count || k == CTRACE_EV_CHECKSUM)
        continue;
      int def = k < 0x10 || k >= 0x80;
      if (def != pass)
        continue;
      uint64_t sum = 0;
      for (int i = 0; i < NPARTS; i++)
        sum += a->part[i];
      char name[64];
      snprintf(name, sizeof name, "%s%s", def ? "" : "event ",
               ctrace__kinds[k].name ? ctrace__kinds[k].name : "?");
      if (!ctrace__kinds[k].name)
        snprintf(name, sizeof name, "unknown 0x%02x", k);
      line(name, a->count, sum);
      if (!fields)
        continue;
      char sub[64];
      snprintf(sub, sizeof sub, "  kind byte");
      line(sub, a->count, a->part[0]);
      if (a->repeated) {
        snprintf(sub, sizeof sub, "  (fields repeated)");
        line(sub, a->repeated, 0);
      }
      snprintf(sub, sizeof sub, "  delta");
      line(sub, a->count, a->part[1]);
      unsigned nf = k < 0x80 ? ctrace__kinds[k].nfields : 0;
      for (unsigned i = 0; i < nf; i++) {
        char fn[32];
        field_name(k, i, fn, sizeof fn);
        snprintf(sub, sizeof sub, "  %s", fn);
        line(sub, a->count, a->part[2 + i]);
      }
      if (a->part[2 + CTRACE_MAX_FIELDS]) {
        snprintf(sub, sizeof sub, "  blob (with its length)");
        line(sub, a->count, a->part[2 + CTRACE_MAX_FIELDS]);
      }
    }
  }
  if (tail)
    line("after the last batch", 0, tail);
  if (stack_defs)
    printf("stacks: %" PRIu64 " defined, %.1f PCs each, %.2f bytes per PC\n", stack_defs,
           (double)stack_pcs / (double)stack_defs,
           stack_pcs ? (double)acc[CTRACE_EV_STACK].part[2 + CTRACE_MAX_FIELDS] / (double)stack_pcs
                     : 0);
  printf("batches: %" PRIu64 " (%" PRIu64 " metadata)\n", nbatches, nmeta_batches);
  return 0;
}
