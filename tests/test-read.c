/*
 * test-read.c - the reader against bad input: the data-driven corrupt cases
 * of tests/data/corrupt.txt, a trace cut at every byte, random garbage,
 * empty files. Every failure must name its offset; nothing may crash.
 */
#include <ctrace.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "trace-check.h"

/* A small trace of a few batches: metadata, then two threads' events. */
static char *reference_trace(size_t *len) {
  setenv("CTRACE_BUFFER_KB", "4", 1);
  if (ctrace_start_path(test_path("ref.ctrace")) != 0)
    return NULL;
  ctrace_task_t t = ctrace_task_begin(0, "task");
  for (int i = 0; i < 600; i++) {
    ctrace_region_begin(i % 2 ? "odd" : "even");
    ctrace_log(t, "cat", "message %d", i);
    ctrace_region_end();
  }
  ctrace_task_end(t);
  if (ctrace_stop() != 0)
    return NULL;
  unsetenv("CTRACE_BUFFER_KB");
  return test_read_file(test_path("ref.ctrace"), len);
}

/* ---- hand-built traces: a tiny writer of the format, for cases the
 * recorder cannot be made to produce on demand ---- */
struct tb {
  uint8_t *d;
  size_t n, cap;
  size_t batch; /* offset of the open batch's header */
};

static void tb_bytes(struct tb *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 256;
    b->d = realloc(b->d, b->cap);
  }
  memcpy(b->d + b->n, p, n);
  b->n += n;
}
static void tb_uv(struct tb *b, uint64_t v) {
  uint8_t t[10];
  tb_bytes(b, t, (size_t)(ctrace__put_uvarint(t, v) - t));
}
static void tb_le(struct tb *b, uint64_t v, int size) {
  for (int i = 0; i < size; i++) {
    uint8_t c = (uint8_t)(v >> (8 * i));
    tb_bytes(b, &c, 1);
  }
}
/* File header of version 1.minor, hsize bytes. */
static void tb_header(struct tb *b, unsigned minor, uint32_t hsize, uint32_t flags, uint32_t pid) {
  tb_bytes(b, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN);
  tb_le(b, 1, 2);
  tb_le(b, minor, 2);
  tb_le(b, hsize, 4);
  tb_le(b, flags, 4);
  tb_le(b, pid, 4);
  for (uint32_t i = 24; i < hsize; i++)
    tb_le(b, 0, 1);
}
static void tb_batch(struct tb *b, uint32_t tid, uint64_t seq, uint64_t base) {
  b->batch = b->n;
  tb_le(b, CTRACE_BATCH_MAGIC, 4);
  tb_le(b, 0, 4); /* length, set by tb_end */
  tb_le(b, tid, 4);
  tb_le(b, tid ? 0 : CTRACE_BATCH_META, 4);
  tb_le(b, seq, 8);
  tb_le(b, base, 8);
}
/* An event: kind, delta, then n fields (blob: NULL for none). */
static void tb_ev(struct tb *b, uint8_t kind, uint64_t delta, int n, const uint64_t *f,
                  const char *blob) {
  tb_bytes(b, &kind, 1);
  tb_uv(b, delta);
  for (int i = 0; i < n; i++)
    tb_uv(b, f[i]);
  if (blob) {
    tb_uv(b, strlen(blob));
    tb_bytes(b, blob, strlen(blob));
  }
}
#define TB_EV(b, kind, delta, ...)                                                       \
  do {                                                                                   \
    const uint64_t f_[] = {__VA_ARGS__};                                                 \
    tb_ev(b, CTRACE_EV_##kind, delta, (int)(sizeof f_ / sizeof f_[0]), f_, NULL);        \
  } while (0)
static void tb_end(struct tb *b) {
  ctrace__put_le32(b->d + b->batch + 4, (uint32_t)(b->n - b->batch - CTRACE_BATCH_HEADER_SIZE));
}

/* Names set from another thread reach the named thread whatever the batch
 * order; creation links resolve; an unnamed main thread is named after the
 * program. */
TEST_IMPL(read_cross_thread_names_and_links) {
  struct tb b = {0};
  tb_header(&b, 0, 32, 0, 100);
  tb_batch(&b, 0, 0, 0);
  TB_EV(&b, CLOCK_SYNC, 0, 1000, 1000, 5000);
  tb_ev(&b, CTRACE_EV_STRING, 0, 1, (const uint64_t[]){1}, "named-early");
  tb_ev(&b, CTRACE_EV_STRING, 0, 1, (const uint64_t[]){2}, "/usr/local/bin/prog");
  tb_ev(&b, CTRACE_EV_STRING, 0, 1, (const uint64_t[]){3}, "prog\x1f--flag");
  tb_ev(&b, CTRACE_EV_STRING, 0, 1, (const uint64_t[]){4}, "named-late");
  TB_EV(&b, PROCESS, 0, 100, 1, 2, 3);
  TB_EV(&b, CLOCK_SYNC, 0, 900000, 900000, 905000);
  tb_end(&b);
  /* thread 200 names 300 (whose batch comes later) and creates it */
  tb_batch(&b, 200, 0, 2000);
  TB_EV(&b, THREAD_CREATE, 0, 77, 0);
  TB_EV(&b, THREAD_NAME, 10, 300, 1);
  TB_EV(&b, THREAD_NAME, 10, 400, 4); /* a thread that never appears */
  tb_end(&b);
  tb_batch(&b, 300, 0, 3000);
  TB_EV(&b, THREAD_START, 0, 77);
  TB_EV(&b, REGION_END, 5);
  tb_end(&b);
  tb_batch(&b, 100, 0, 1500);
  TB_EV(&b, REGION_END, 0);
  tb_end(&b);
  /* a later name of 300 from 100, in a batch after 300's: it wins */
  tb_batch(&b, 100, 1, 5000);
  TB_EV(&b, THREAD_NAME, 0, 300, 4);
  tb_end(&b);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_mem(b.d, b.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nthreads(r), 3);
  const struct ctrace_thread_info *t300 = ctrace_reader_thread(r, (uint32_t)ctrace_reader_thread_index(r, 300));
  const struct ctrace_thread_info *t100 = ctrace_reader_thread(r, (uint32_t)ctrace_reader_thread_index(r, 100));
  ASSERT(str_is(r, t300->name, "named-late"));
  ASSERT_EQ(t300->created_by, 200);
  ASSERT_UINT_EQ(t300->created_at, 2000);
  ASSERT(str_is(r, t100->name, "prog"));
  ctrace_reader_close(r);
  /* Without the later name, the early one (from a batch written before the
   * named thread's) stays; without an exe, argv[0] names the main thread. */
  b.n = b.batch;
  ASSERT_EQ(ctrace_reader_open_mem(b.d, b.n, &r, err, sizeof err), 0);
  t300 = ctrace_reader_thread(r, (uint32_t)ctrace_reader_thread_index(r, 300));
  ASSERT(str_is(r, t300->name, "named-early"));
  ctrace_reader_close(r);
  free(b.d);
  struct tb c = {0};
  tb_header(&c, 0, 32, 0, 100);
  tb_batch(&c, 0, 0, 0);
  TB_EV(&c, CLOCK_SYNC, 0, 1000, 1000, 5000);
  tb_ev(&c, CTRACE_EV_STRING, 0, 1, (const uint64_t[]){1}, "./bin/tool\x1f-v");
  TB_EV(&c, PROCESS, 0, 100, 1, 0, 1);
  tb_end(&c);
  tb_batch(&c, 100, 0, 1500);
  TB_EV(&c, REGION_END, 0);
  tb_end(&c);
  ASSERT_EQ(ctrace_reader_open_mem(c.d, c.n, &r, err, sizeof err), 0);
  ASSERT(str_is(r, ctrace_reader_thread(r, 0)->name, "tool"));
  ctrace_reader_close(r);
  free(c.d);
  return 0;
}

/* Rewrites a 1.1 trace (as the recorder writes it) batch by batch:
 * TO_1_0 makes the same trace in version 1.0 (32-byte header, no checksum
 * trailers, no END record); EXTRA_HEADER adds 16 bytes to the header, as a
 * later minor version may; UNKNOWN puts a record of an unknown kind (0x9c)
 * first in every batch. Checksums are recomputed. */
enum { TO_1_0 = 1, EXTRA_HEADER = 2, UNKNOWN = 4 };
/* The events [p, p + n) of a 1.4 data batch with every repeated field
 * written out (what a 1.3 writer would have written), appended to b. For
 * the reference trace, which holds no WAIT or WAKE (repeated by stack). */
static void tb_unrepeat(struct tb *b, const uint8_t *p, size_t n) {
  const uint8_t *end = p + n;
  uint64_t last[CTRACE_REPEAT_SLOTS][CTRACE_MAX_FIELDS];
  while (p < end) {
    uint8_t kind = *p++;
    unsigned mask = 0;
    if ((kind & 0xc0) == CTRACE_REPEAT_FLAG) {
      kind &= (uint8_t)~CTRACE_REPEAT_FLAG;
      mask = ctrace__repeat_mask(kind);
      if (ctrace__repeat_by_stack(kind) >= 0)
        abort();
    }
    const struct ctrace_kind_info *k = &ctrace__kinds[kind];
    int slot = ctrace__repeat_slot(kind);
    uint64_t d = 0, f[CTRACE_MAX_FIELDS] = {0};
    p = ctrace__get_uvarint(p, end, &d);
    unsigned nf = k->name ? k->nfields : 0;
    for (unsigned i = 0; i < nf; i++) {
      if (mask >> i & 1)
        f[i] = last[slot][i];
      else
        p = ctrace__get_uvarint(p, end, &f[i]);
    }
    if (slot >= 0)
      memcpy(last[slot], f, sizeof f);
    tb_bytes(b, &kind, 1);
    tb_uv(b, d);
    for (unsigned i = 0; i < nf; i++)
      tb_uv(b, f[i]);
    if (!k->name || k->blob) {
      const uint8_t *q = ctrace__get_uvarint(p, end, &d);
      tb_bytes(b, p, (size_t)(q - p) + d);
      p = q + d;
    }
  }
}

static char *rewrite_trace(const char *in, size_t len, int how, size_t *outlen) {
  const uint8_t *d = (const uint8_t *)in;
  uint32_t hsize = ctrace__get_le32(d + 12);
  struct tb b = {0};
  if (how & TO_1_0) {
    tb_bytes(&b, d, 32);
    ctrace__put_le32(b.d + 12, 32);
    b.d[10] = 0;
  } else {
    tb_bytes(&b, d, hsize);
    if (how & EXTRA_HEADER) {
      tb_bytes(&b, "later fields....", 16);
      ctrace__put_le32(b.d + 12, hsize + 16);
      b.d[10] = 7; /* minor 7 */
    }
  }
  for (size_t off = hsize; off + 32 <= len;) {
    uint32_t blen = ctrace__get_le32(d + off + 4);
    size_t ev = blen - CTRACE_BATCH_TRAILER_SIZE; /* events, without the trailer */
    size_t start = b.n;
    tb_bytes(&b, d + off, 32);
    if (how & UNKNOWN)
      tb_bytes(&b, "\x9c\x00\x03" "abc", 6);
    const uint8_t *pl = d + off + 32;
    if ((how & TO_1_0) && ev >= 3 && memcmp(pl + ev - 3, "\x81\x00\x00", 3) == 0 &&
        off + 32 + blen == len)
      ev -= 3; /* the END record */
    if ((how & TO_1_0) && ctrace__get_le32(d + off + 8))
      tb_unrepeat(&b, pl, ev); /* a 1.0 reader knows no repeated fields */
    else
      tb_bytes(&b, pl, ev);
    if (!(how & TO_1_0)) {
      uint8_t t[7] = {CTRACE_EV_CHECKSUM, 0, 4};
      ctrace__put_le32(b.d + start + 4, (uint32_t)(b.n - start - 32 + 7));
      ctrace__put_le32(t + 3, ctrace__crc32c(0, b.d + start, b.n - start));
      tb_bytes(&b, t, 7);
    } else {
      ctrace__put_le32(b.d + start + 4, (uint32_t)(b.n - start - 32));
    }
    off += 32 + blen;
  }
  *outlen = b.n;
  return (char *)b.d;
}

static size_t unhex(const char *s, uint8_t *out, size_t max) {
  size_t n = 0;
  while (s[0] && s[1] && n < max) {
    unsigned v;
    if (sscanf(s, "%2x", &v) != 1)
      break;
    out[n++] = (uint8_t)v;
    s += 2;
  }
  return n;
}

TEST_IMPL(read_corrupt_cases_from_table) {
  size_t len;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/data/corrupt.txt", test_source_dir);
  FILE *f = fopen(path, "r");
  if (!f)
    TEST_FAIL_("cannot open %s", path);
  char line[1024];
  int cases = 0;
  /* Cases run on the 1.0 form of the trace until a line "@1.1" switches
   * to the trace as recorded. */
  size_t len10;
  char *ref10 = rewrite_trace(ref, len, TO_1_0, &len10), *ref11 = ref;
  size_t len11 = len;
  ref = ref10;
  len = len10;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (strncmp(line, "@1.1", 4) == 0) {
      ref = ref11;
      len = len11;
      continue;
    }
    char name[64], hex[256], outcome[32];
    unsigned long long off, err_off;
    int pos = 0;
    if (sscanf(line, "%63s %llu %255s %31s %llu %n", name, &off, hex, outcome, &err_off, &pos) < 5)
      TEST_FAIL_("bad line in corrupt.txt: %s", line);
    char *msg = line + pos;
    msg[strcspn(msg, "\n")] = 0;
    uint8_t bytes[128];
    size_t nb = unhex(hex, bytes, sizeof bytes);
    char *data = malloc(len);
    memcpy(data, ref, len);
    ASSERT_LE(off + nb, len);
    /* A byte of the recorded trace that already has the case's value (the
     * clock's ticks differ per run: 1 run in 256 for a one-byte case) is
     * changed by flipping its bits instead, or the case would test nothing. */
    if (memcmp(data + off, bytes, nb) == 0)
      for (size_t i = 0; i < nb; i++)
        bytes[i] ^= 0xff;
    memcpy(data + off, bytes, nb);
    ctrace_reader *r;
    char err[CTRACE_READ_ERRLEN] = "";
    int rc = ctrace_reader_open_mem(data, len, &r, err, sizeof err);
    fprintf(stderr, "# case %s: ", name);
    if (strcmp(outcome, "refused") == 0) {
      ASSERT_EQ(rc, -1);
      char want[64];
      snprintf(want, sizeof want, "offset %llu:", err_off);
      ASSERT_STR_CONTAINS(err, want);
      ASSERT_STR_CONTAINS(err, msg);
      fprintf(stderr, "%s\n", err);
    } else {
      ASSERT_EQ(rc, 0);
      ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
      ASSERT_UINT_EQ(ctrace_reader_error_offset(r), err_off);
      ASSERT_STR_CONTAINS(ctrace_reader_error(r), msg);
      /* What came before decodes. */
      ASSERT_LE(ctrace_reader_good_bytes(r), err_off);
      fprintf(stderr, "offset %llu: %s\n", (unsigned long long)ctrace_reader_error_offset(r),
              ctrace_reader_error(r));
      ctrace_reader_close(r);
    }
    free(data);
    cases++;
  }
  fclose(f);
  ASSERT_GE(cases, 14);
  /* And the CLI reports the offset with exit status 1. */
  char *data = malloc(len11);
  memcpy(data, ref11, len11);
  data[40] = 0;
  test_write_file(test_path("bad.ctrace"), data, len11);
  free(data);
  char *argv[] = {(char *)test_build_path("ctrace"), "dump", (char *)test_path("bad.ctrace"), NULL};
  char *err = NULL;
  ASSERT_EQ(test_run(argv, NULL, NULL, &err), 1);
  ASSERT_STR_CONTAINS(err, "offset 40: bad batch magic");
  free(err);
  free(ref10);
  free(ref11);
  return 0;
}

/* Cut after every byte: never corrupt, never a crash, and the number of
 * events read only grows with the length. A 1.1 trace cut at a batch
 * boundary says it was cut off; a 1.0 one cannot tell. */
static int cut_everywhere(const char *ref, size_t len, int v11) {
  uint64_t last_events = 0;
  int truncated = 0, whole = 0;
  size_t hsize = v11 ? CTRACE_FILE_HEADER_SIZE : 32;
  for (size_t cut = 0; cut <= len; cut++) {
    char *data = malloc(cut ? cut : 1);
    memcpy(data, ref, cut);
    ctrace_reader *r;
    char err[CTRACE_READ_ERRLEN];
    if (ctrace_reader_open_mem(data, cut, &r, err, sizeof err) < 0) {
      ASSERT_LT(cut, hsize);
      ASSERT_STR_CONTAINS(err, "offset");
      free(data);
      continue;
    }
    ASSERT_NE(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
    if (ctrace_reader_status(r) == CTRACE_READ_TRUNCATED) {
      truncated++;
      ASSERT_UINT_EQ(ctrace_reader_error_offset(r), ctrace_reader_good_bytes(r));
      if (v11 && ctrace_reader_good_bytes(r) == cut)
        ASSERT_STR_CONTAINS(ctrace_reader_error(r), "no END record: the trace was cut off");
      else
        ASSERT_STR_CONTAINS(ctrace_reader_error(r), "file ends inside a batch");
      ASSERT_EQ(ctrace_reader_complete(r), 0);
    } else {
      whole++;
      ASSERT_UINT_EQ(ctrace_reader_good_bytes(r), cut);
      ASSERT_EQ(ctrace_reader_complete(r), 1);
      if (v11)
        ASSERT_UINT_EQ(cut, len);
    }
    /* Iterating what is there is safe. */
    ctrace_merge *m = ctrace_merge_new(r);
    ctrace_event ev;
    uint64_t n = 0;
    while (ctrace_merge_next(m, &ev))
      n++;
    ctrace_merge_free(m);
    ASSERT_UINT_EQ(n, ctrace_reader_nevents(r));
    ASSERT_GE(n, last_events);
    last_events = n;
    ctrace_reader_close(r);
    free(data);
  }
  if (v11)
    ASSERT_EQ(whole, 1); /* only the whole file is complete */
  else
    ASSERT_GE(whole, 3); /* the header alone, batch boundaries, the whole */
  ASSERT_GT(truncated, (int)(len / 2));
  return 0;
}

TEST_IMPL(read_truncated_at_every_offset) {
  size_t len, len10;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  ASSERT_GT(len, 8192); /* several batches */
  char *ref10 = rewrite_trace(ref, len, TO_1_0, &len10);
  cut_everywhere(ref, len, 1);
  cut_everywhere(ref10, len10, 0);
  free(ref);
  free(ref10);
  return 0;
}

/* A crash can leave zeros where the last data should be: truncation, not
 * corruption. A flipped bit is named with its batch's offset. */
TEST_IMPL(read_zero_tail_and_flipped_bits) {
  size_t len;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  /* 32 zero bytes after a whole trace (END read): padding, complete */
  char *z = calloc(1, len + 32);
  memcpy(z, ref, len);
  ASSERT_EQ(ctrace_reader_open_mem(z, len + 32, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_complete(r), 1);
  ctrace_reader_close(r);
  /* a crash before the last batch (END) reached the disk: its bytes and
   * 32 more are zeros; cut off where the zeros start */
  size_t end_batch = len - 3 - CTRACE_BATCH_TRAILER_SIZE - CTRACE_BATCH_HEADER_SIZE;
  memset(z + end_batch, 0, len - end_batch);
  ASSERT_EQ(ctrace_reader_open_mem(z, len + 32, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_TRUNCATED);
  ASSERT_UINT_EQ(ctrace_reader_error_offset(r), end_batch);
  ASSERT_STR_CONTAINS(ctrace_reader_error(r), "zero bytes");
  ctrace_reader_close(r);
  memcpy(z, ref, len);
  memset(z + len - 100, 0, 100);
  ASSERT_EQ(ctrace_reader_open_mem(z, len, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_TRUNCATED);
  ASSERT_STR_CONTAINS(ctrace_reader_error(r), "zero-filled");
  ctrace_reader_close(r);
  free(z);
  /* Every single-bit flip after the file header is detected (a 1.1 trace:
   * checksums), and names the offset of the damaged batch or before. */
  char *data = malloc(len);
  int flips = 0;
  for (size_t bit = CTRACE_FILE_HEADER_SIZE * 8; bit < len * 8; bit += 61) {
    memcpy(data, ref, len);
    data[bit / 8] ^= (char)(1u << (bit % 8));
    ASSERT_EQ(ctrace_reader_open_mem(data, len, &r, err, sizeof err), 0);
    if (ctrace_reader_status(r) != CTRACE_READ_CORRUPT)
      TEST_FAIL_("bit %zu flipped: status %d (%s)", bit, ctrace_reader_status(r),
                 ctrace_reader_error(r));
    ASSERT_LE(ctrace_reader_error_offset(r), bit / 8);
    ctrace_reader_close(r);
    flips++;
  }
  ASSERT_GT(flips, 1000);
  free(data);
  free(ref);
  return 0;
}

/* What a later minor version may write: a longer header, records of kinds
 * 0x80..0xff this reader does not know (skipped and counted). And the 1.0
 * form of the same trace still reads, with the same events. */
TEST_IMPL(read_later_and_earlier_minor_versions) {
  size_t len, n2, n3;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  ctrace_reader *r0, *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_mem(ref, len, &r0, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r0), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_complete(r0), 1);
  ASSERT_GT(ctrace_reader_tick_hz(r0), 0);
  char *later = rewrite_trace(ref, len, EXTRA_HEADER | UNKNOWN, &n2);
  char *v10 = rewrite_trace(ref, len, TO_1_0, &n3);
  for (int v = 0; v < 2; v++) {
    ASSERT_EQ(ctrace_reader_open_mem(v ? v10 : later, v ? n3 : n2, &r, err, sizeof err), 0);
    if (ctrace_reader_status(r) != CTRACE_READ_OK)
      TEST_FAIL_("offset %llu: %s", (unsigned long long)ctrace_reader_error_offset(r),
                 ctrace_reader_error(r));
    ASSERT_EQ(ctrace_reader_version_minor(r), v ? 0 : 7);
    ASSERT_UINT_EQ(ctrace_reader_nunknown(r), v ? 0 : ctrace_reader_nbatches(r));
    ASSERT_UINT_EQ(ctrace_reader_nevents(r), ctrace_reader_nevents(r0));
    ASSERT_EQ(ctrace_reader_nthreads(r), ctrace_reader_nthreads(r0));
    ctrace_merge *m0 = ctrace_merge_new(r0), *m = ctrace_merge_new(r);
    ctrace_event a, b;
    while (ctrace_merge_next(m0, &a)) {
      ASSERT(ctrace_merge_next(m, &b));
      ASSERT_EQ(a.kind, b.kind);
      ASSERT_UINT_EQ(a.ticks, b.ticks);
      ASSERT_EQ(ctrace_reader_ns(r0, a.ticks), ctrace_reader_ns(r, b.ticks));
    }
    ASSERT(!ctrace_merge_next(m, &b));
    ctrace_merge_free(m0);
    ctrace_merge_free(m);
    ctrace_reader_close(r);
  }
  /* The CLI reads the later version too, and says what it skipped. */
  test_write_file(test_path("later.ctrace"), later, n2);
  char *argv[] = {(char *)test_build_path("ctrace"), "stats", "--json",
                  (char *)test_path("later.ctrace"), NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"complete\":true");
  ASSERT_STR_CONTAINS(out, "\"unknown_records\":");
  free(out);
  ctrace_reader_close(r0);
  free(later);
  free(v10);
  free(ref);
  return 0;
}

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint32_t rng(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}

/* Random bytes after a valid header, and random flips in a real trace. */
TEST_IMPL(read_random_garbage_never_crashes) {
  size_t len;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  int corrupt = 0;
  for (int round = 0; round < 3000; round++) {
    size_t n = len;
    char *data = malloc(n);
    memcpy(data, ref, n);
    if (round < 1000) { /* garbage after the header */
      n = 32 + rng() % 4096;
      data = realloc(data, n);
      for (size_t i = 32; i < n; i++)
        data[i] = (char)rng();
      /* sometimes a plausible batch header */
      if (round % 2 && n > 64) {
        memcpy(data + 32, "CTB1", 4);
        uint32_t blen = rng() % 64;
        memcpy(data + 36, &blen, 4);
      }
    } else { /* a few flipped bytes in a real trace */
      int flips = 1 + (int)(rng() % 4);
      for (int k = 0; k < flips; k++)
        data[32 + rng() % (n - 32)] ^= (char)(1 + rng() % 255);
    }
    ctrace_reader *r;
    char err[CTRACE_READ_ERRLEN];
    if (ctrace_reader_open_mem(data, n, &r, err, sizeof err) == 0) {
      if (ctrace_reader_status(r) == CTRACE_READ_CORRUPT) {
        corrupt++;
        ASSERT_LT(ctrace_reader_error_offset(r), n);
      }
      ctrace_merge *m = ctrace_merge_new(r);
      ctrace_event ev;
      while (ctrace_merge_next(m, &ev)) {
        const uint64_t *pcs;
        for (unsigned i = 0; i < ev.nfields; i++) {
          ctrace_reader_stack(r, ev.f[i], &pcs);
          ctrace_reader_string(r, ev.f[i]);
        }
      }
      ctrace_merge_free(m);
      ctrace_reader_close(r);
    }
    free(data);
  }
  ASSERT_GT(corrupt, 500);
  free(ref);
  return 0;
}

TEST_IMPL(read_empty_and_header_only) {
  ASSERT_EQ(test_write_file(test_path("empty.ctrace"), "", 0), 0);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open(test_path("empty.ctrace"), &r, err, sizeof err), -1);
  ASSERT_STR_CONTAINS(err, "too short");
  /* A trace started and stopped at once: a header, definitions, no event. */
  ASSERT_EQ(ctrace_start_path(test_path("nothing.ctrace")), 0);
  ASSERT_EQ(ctrace_stop(), 0);
  r = open_trace(test_path("nothing.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nevents(r), 0);
  ASSERT_EQ(ctrace_reader_nthreads(r), 0);
  ctrace_reader_close(r);
  char *argv[] = {(char *)test_build_path("ctrace"), "stats", "--json",
                  (char *)test_path("nothing.ctrace"), NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"events\":0");
  free(out);
  return 0;
}

TEST_IMPL(read_missing_file_and_directory) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open(test_path("missing.ctrace"), &r, err, sizeof err), -1);
  ASSERT_STR_CONTAINS(err, "No such file");
  ASSERT_EQ(ctrace_reader_open(test_tmpdir(), &r, err, sizeof err), -1);
  ASSERT_STR_CONTAINS(err, "not a regular file");
  return 0;
}

/* ---- time ---- */

/* A TSC whose rate changes at every clock sync (as under NTP slewing): a
 * straight line from the first to the last sync is off by hundreds of us
 * mid-trace; the piecewise conversion is exact to the ns. */
TEST_IMPL(read_time_between_bending_syncs) {
  enum { NSYNC = 11 };
  /* truth: sync k at ns k*1e9; ticks per second alternate 2.1 GHz +-0.1 % */
  uint64_t sync_ticks[NSYNC];
  uint64_t t = 5000000000ull;
  for (int k = 0; k < NSYNC; k++) {
    sync_ticks[k] = t;
    t += k % 2 ? 2097900000ull : 2102100000ull;
  }
  struct tb b = {0};
  tb_header(&b, 0, 32, CTRACE_FILE_TICKS_TSC, 100);
  tb_batch(&b, 0, 0, 0);
  for (int k = 0; k < NSYNC; k++)
    TB_EV(&b, CLOCK_SYNC, 0, sync_ticks[k], 7000000000ull + (uint64_t)k * 1000000000ull,
          1700000000000000000ull + (uint64_t)k * 1000000000ull);
  tb_end(&b);
  /* an event at every 0.1 s of truth */
  tb_batch(&b, 100, 0, sync_ticks[0]);
  uint64_t prev = sync_ticks[0];
  uint64_t ev_ticks[10 * (NSYNC - 1)];
  int64_t ev_truth[10 * (NSYNC - 1)];
  int nev = 0;
  for (int k = 0; k + 1 < NSYNC; k++)
    for (int j = 0; j < 10; j++) {
      uint64_t span = sync_ticks[k + 1] - sync_ticks[k];
      uint64_t tk = sync_ticks[k] + span * (uint64_t)j / 10;
      ev_ticks[nev] = tk;
      ev_truth[nev] = (int64_t)k * 1000000000 + (int64_t)j * 100000000;
      TB_EV(&b, REGION_END, tk - prev);
      prev = tk;
      nev++;
    }
  tb_end(&b);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_mem(b.d, b.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  double a_first = (double)(sync_ticks[NSYNC - 1] - sync_ticks[0]) / 10e9; /* ticks per ns */
  double worst_line = 0;
  for (int i = 0; i < nev; i++) {
    int64_t ns = ctrace_reader_ns(r, ev_ticks[i]);
    if (llabs(ns - ev_truth[i]) > 1000)
      TEST_FAIL_("event %d: %" PRId64 " ns, truth %" PRId64, i, ns, ev_truth[i]);
    ASSERT_LE(llabs(ns - ev_truth[i]), 1); /* span * j / 10 rounds down: 1 ns at most */
    /* the inverse, rounded down: never after the event */
    uint64_t back = ctrace_reader_ticks(r, ns);
    ASSERT_LE(back, ev_ticks[i]);
    ASSERT_GE(back + 3, ev_ticks[i]);
    double line = (double)(ev_ticks[i] - sync_ticks[0]) / a_first;
    if (fabs(line - (double)ev_truth[i]) > worst_line)
      worst_line = fabs(line - (double)ev_truth[i]);
  }
  ASSERT_GT(worst_line, 100000.0); /* what a single line would get wrong */
  /* Syncs are exact points; times before the first and after the last
   * follow the line through them; the start is 0. */
  for (int k = 0; k < NSYNC; k++)
    ASSERT_EQ(ctrace_reader_ns(r, sync_ticks[k]), (int64_t)k * 1000000000);
  ASSERT(ctrace_reader_ns(r, sync_ticks[0] - 2100) < 0);
  ASSERT(ctrace_reader_ns(r, sync_ticks[NSYNC - 1] + 2100000) > 10000000000ll);
  ASSERT_EQ(ctrace_reader_end_ns(r), 10000000000ll);
  ctrace_reader_close(r);
  free(b.d);
  return 0;
}

/* A trace cut off before its second clock sync converts with the tick rate
 * the recorder measured: a 30 ms sleep between two events lasts 30 ms (1 %). */
TEST_IMPL(read_time_with_one_clock_sync) {
  unsetenv("CTRACE_CLOCK");
  ASSERT_EQ(ctrace_start_path(test_path("one.ctrace")), 0);
  struct timespec m0, m1, d = {0, 30000000};
  ctrace_region_begin("before");
  clock_gettime(CLOCK_MONOTONIC, &m0);
  nanosleep(&d, NULL);
  clock_gettime(CLOCK_MONOTONIC, &m1);
  ctrace_region_end();
  ASSERT_EQ(ctrace_stop(), 0);
  size_t len;
  char *full = test_read_file(test_path("one.ctrace"), &len);
  ASSERT(full != NULL);
  /* Keep only the first CLOCK_SYNC (and drop END: cut off after the data). */
  struct tb b = {0};
  uint32_t hsize = ctrace__get_le32((const uint8_t *)full + 12);
  tb_bytes(&b, full, hsize);
  int syncs = 0;
  for (size_t off = hsize; off + 32 <= len;) {
    const uint8_t *h = (const uint8_t *)full + off;
    uint32_t blen = ctrace__get_le32(h + 4);
    size_t start = b.n;
    tb_bytes(&b, h, 32);
    const uint8_t *p = h + 32, *end = h + 32 + blen - CTRACE_BATCH_TRAILER_SIZE;
    uint64_t ticks = 0;
    while (p < end) {
      ctrace_event ev;
      const char *why;
      const uint8_t *q = ctrace_decode_event(p, end, &ticks, &ev, &why);
      ASSERT(q != NULL);
      int keep = !(ev.kind == CTRACE_EV_CLOCK_SYNC && syncs++ > 0) && ev.kind != CTRACE_EV_END;
      if (keep)
        tb_bytes(&b, p, (size_t)(q - p));
      p = q;
    }
    uint8_t t[7] = {CTRACE_EV_CHECKSUM, 0, 4};
    ctrace__put_le32(b.d + start + 4, (uint32_t)(b.n - start - 32 + 7));
    ctrace__put_le32(t + 3, ctrace__crc32c(0, b.d + start, b.n - start));
    tb_bytes(&b, t, 7);
    off += 32 + blen;
  }
  ASSERT_GE(syncs, 2);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_mem(b.d, b.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_nclock_syncs(r), 1);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_TRUNCATED);
  ASSERT_STR_CONTAINS(ctrace_reader_error(r), "no END record");
  ASSERT_GT(ctrace_reader_tick_hz(r), 0);
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  int64_t t0 = -1, t1 = -1;
  while (ctrace_merge_next(m, &ev)) {
    if (ev.kind == CTRACE_EV_REGION_BEGIN)
      t0 = ctrace_reader_ns(r, ev.ticks);
    if (ev.kind == CTRACE_EV_REGION_END)
      t1 = ctrace_reader_ns(r, ev.ticks);
  }
  ctrace_merge_free(m);
  int64_t truth = (int64_t)(m1.tv_sec - m0.tv_sec) * 1000000000 + (m1.tv_nsec - m0.tv_nsec);
  fprintf(stderr, "# tick rate %" PRIu64 " Hz (%s); 30 ms sleep: %" PRId64 " ns read, %" PRId64
                  " ns measured\n",
          ctrace_reader_tick_hz(r), ctrace_reader_ticks_are_tsc(r) ? "tsc" : "monotonic", t1 - t0,
          truth);
  ASSERT_GE(t0, 0);
  ASSERT_LE(llabs((t1 - t0) - truth), truth / 100 + 20000);
  ctrace_reader_close(r);
  free(b.d);
  free(full);
  return 0;
}

/* One time origin: the times `dump` prints select exactly the same events
 * through `profile --start/--end`. A window from a wait's begin to its end
 * (as dump prints them) holds that wait; the gap between two waits of a
 * thread holds none: any offset between the two commands' origins, even
 * 1 ns, would break one of the two. */
TEST_IMPL(read_dump_times_select_in_profile) {
  char *file = strdup(test_path("origin.ctrace")); /* test_path's buffers rotate */
  char *gen[] = {(char *)test_build_path("bench/gen_trace"), (char *)file, "3000", "2", NULL};
  ASSERT_EQ(test_run(gen, NULL, NULL, NULL), 0);
  char *dump[] = {(char *)test_build_path("ctrace"), "dump", "--no-stacks", (char *)file, NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(dump, NULL, &out, NULL), 0);
  /* the first thread's MUTEX waits: end time and duration in ns */
  long long e[8], dd[8];
  unsigned tid = 0;
  int n = 0;
  for (char *line = strtok(out, "\n"); line && n < 8; line = strtok(NULL, "\n")) {
    long long t;
    unsigned th;
    char *w = strstr(line, " WAIT reason=MUTEX ");
    char *dp = w ? strstr(w, " dur=") : NULL;
    if (!dp || sscanf(line, "%lld %u", &t, &th) != 2 || (tid && th != tid))
      continue;
    tid = th;
    e[n] = t;
    dd[n++] = strtoll(dp + 5, NULL, 10);
  }
  free(out);
  ASSERT_GE(n, 4);
  char tids[16];
  snprintf(tids, sizeof tids, "%u", tid);
  for (int i = 1; i + 1 < n; i++) {
    char s0[32], s1[32];
    for (int gap = 0; gap < 2; gap++) {
      long long a = gap ? e[i] : e[i] - dd[i], z = gap ? e[i + 1] - dd[i + 1] : e[i];
      if (gap && z <= a)
        continue;
      snprintf(s0, sizeof s0, "%lld", a);
      snprintf(s1, sizeof s1, "%lld", z);
      char *prof[] = {(char *)test_build_path("ctrace"), "profile", "--kind", "sync", "--tid", tids,
                      "--start", s0, "--end", s1, (char *)file, NULL};
      char *errs = NULL;
      int rc = test_run(prof, NULL, &out, &errs);
      if (rc != 0)
        TEST_FAIL_("profile --start %s --end %s: exit %d: %s", s0, s1, rc, errs);
      free(errs);
      ASSERT_STR_CONTAINS(out, gap ? "blocked in 0 events" : "blocked in 1 event ");
      free(out);
    }
  }
  free(file);
  return 0;
}

/* tests/data/NAME.ctrace dumps (`ctrace dump --no-symbols --defs`) as
 * tests/data/NAME.dump, the dump of the ctrace that wrote it. */
static int dumps_as_stored(const char *name, char *file, size_t size) {
  char want_path[4096];
  snprintf(file, size, "%s/tests/data/%s.ctrace", test_source_dir, name);
  snprintf(want_path, sizeof want_path, "%s/tests/data/%s.dump", test_source_dir, name);
  char *want = test_read_file(want_path, NULL);
  ASSERT(want != NULL);
  char *dump[] = {(char *)test_build_path("ctrace"), "dump", "--no-symbols", "--defs", file, NULL};
  char *got = NULL;
  ASSERT_EQ(test_run(dump, NULL, &got, NULL), 0);
  ASSERT_STR_EQ(got, want);
  free(got);
  free(want);
  return 0;
}

/* A 1.2 file (written by gen_trace of the recorder before 1.3, whose
 * relative fields and stacks changed) reads as that recorder's reader read
 * it: `ctrace dump --no-symbols --defs` as it printed then (both in
 * tests/data), and reader.py agrees with dump --raw on it. */
TEST_IMPL(read_v12_file_reads_as_written) {
  char file[4096];
  ASSERT_EQ(dumps_as_stored("v1.2-gen", file, sizeof file), 0);
  ctrace_reader *r = open_trace(file);
  ASSERT_EQ(ctrace_reader_version_minor(r), 2);
  ASSERT(ctrace_reader_nevents_kind(r, CTRACE_EV_WAIT) > 0);
  ASSERT(ctrace_reader_nevents_kind(r, CTRACE_EV_TASK_BEGIN) > 0);
  ASSERT(ctrace_reader_nstacks(r) > 1);
  ctrace_reader_close(r);
  return 0;
}

/* ---- the spec, tested: a second reader written from docs/FORMAT.md ---- */

static int same_as_dump_raw(const char *file) {
  char script[4200], doc[4200];
  snprintf(script, sizeof script, "%s/tests/reader.py", test_source_dir);
  snprintf(doc, sizeof doc, "%s/docs/FORMAT.md", test_source_dir);
  char *py[] = {"/usr/bin/env", "python3", script, (char *)file, doc, NULL};
  char *dump[] = {(char *)test_build_path("ctrace"), "dump", "--raw", (char *)file, NULL};
  char *a = NULL, *b = NULL, *err = NULL;
  int rc = test_run(py, NULL, &a, &err);
  if (rc != 0)
    TEST_FAIL_("reader.py %s: exit %d: %s", file, rc, err ? err : "");
  free(err);
  ASSERT_EQ(test_run(dump, NULL, &b, NULL), 0);
  /* first differing line, for the report */
  const char *p = a, *q = b;
  int line = 1, events = 0;
  while (*p && *p == *q) {
    if (*p == '\n') {
      line++;
      events += p[1] && p[1] != '#';
    }
    p++;
    q++;
  }
  if (*p || *q) {
    while (p > a && p[-1] != '\n')
      p--;
    while (q > b && q[-1] != '\n')
      q--;
    TEST_FAIL_("%s: line %d differs:\n#  reader.py: %.160s\n#  dump --raw: %.160s", file, line,
               p, q);
  }
  ASSERT_STR_CONTAINS(a, "# complete");
  fprintf(stderr, "# %s: %d records agree\n", file, events);
  free(a);
  free(b);
  return 0;
}

TEST_IMPL(read_second_reader_agrees) {
  if (system("python3 -c 'import sys; sys.exit(sys.version_info < (3, 7))' 2>/dev/null") != 0)
    RETURN_SKIP("python3 (3.7 or later) not found");
  size_t len, n;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  char *f1 = strdup(test_path("ref.ctrace")), *f2 = strdup(test_path("gen.ctrace"));
  char *f3 = strdup(test_path("v10.ctrace")), *f4 = strdup(test_path("later.ctrace"));
  char *f5 = strdup(test_path("bend.ctrace"));
  char f6[4096];
  snprintf(f6, sizeof f6, "%s/tests/data/v1.0-minimal.ctrace", test_source_dir);
  same_as_dump_raw(f6); /* written by ctrace 0.1 */
  snprintf(f6, sizeof f6, "%s/tests/data/v1.2-gen.ctrace", test_source_dir);
  same_as_dump_raw(f6); /* format 1.2 */
  snprintf(f6, sizeof f6, "%s/tests/data/v1.3-gen.ctrace", test_source_dir);
  same_as_dump_raw(f6); /* format 1.3 */
  same_as_dump_raw(f1);
  char *gen[] = {(char *)test_build_path("bench/gen_trace"), f2, "3000", "3", NULL};
  ASSERT_EQ(test_run(gen, NULL, NULL, NULL), 0);
  same_as_dump_raw(f2);
  char *v10 = rewrite_trace(ref, len, TO_1_0, &n);
  test_write_file(f3, v10, n);
  same_as_dump_raw(f3);
  char *later = rewrite_trace(ref, len, EXTRA_HEADER | UNKNOWN, &n);
  test_write_file(f4, later, n);
  same_as_dump_raw(f4);
  /* syncs that bend, events around them (piecewise time) */
  struct tb b = {0};
  tb_header(&b, 0, 32, CTRACE_FILE_TICKS_TSC, 1);
  tb_batch(&b, 0, 0, 0);
  TB_EV(&b, CLOCK_SYNC, 0, 1000000, 50, 60);
  TB_EV(&b, CLOCK_SYNC, 0, 3000000, 1000050, 1000060);
  TB_EV(&b, CLOCK_SYNC, 0, 2000000, 1500050, 1500060); /* ticks backwards: ignored */
  TB_EV(&b, CLOCK_SYNC, 0, 5300000, 2000050, 2000060);
  tb_end(&b);
  tb_batch(&b, 7, 0, 12345);
  for (int i = 0; i < 40; i++)
    TB_EV(&b, REGION_END, 137777 + (uint64_t)i * 1111);
  tb_end(&b);
  test_write_file(f5, b.d, b.n);
  same_as_dump_raw(f5);
  free(b.d);
  free(v10);
  free(later);
  free(ref);
  free(f1);
  free(f2);
  free(f3);
  free(f4);
  free(f5);
  return 0;
}

/* Two threads that got the same tid from the kernel, one after the other:
 * two threads for the reader, each with its own events, times, creation
 * link and name (a name is given to the thread that had the tid then). */
TEST_IMPL(read_tid_reuse_two_threads) {
  struct tb b = {0};
  tb_header(&b, 0, 32, 0, 100);
  tb_batch(&b, 0, 0, 0);
  TB_EV(&b, CLOCK_SYNC, 0, 1000, 1000, 5000);
  tb_ev(&b, CTRACE_EV_STRING, 0, 1, (const uint64_t[]){1}, "first");
  tb_ev(&b, CTRACE_EV_STRING, 0, 1, (const uint64_t[]){2}, "second");
  TB_EV(&b, PROCESS, 0, 100, 1, 0, 0);
  tb_end(&b);
  tb_batch(&b, 100, 0, 2000); /* the creator */
  TB_EV(&b, THREAD_CREATE, 0, 1, 0);
  TB_EV(&b, THREAD_NAME, 10, 300, 1);
  tb_end(&b);
  tb_batch(&b, 300, 0, 2100); /* the first thread 300 */
  TB_EV(&b, THREAD_START, 0, 1);
  TB_EV(&b, REGION_END, 100);
  tb_end(&b);
  tb_batch(&b, 300, 1, 2300);
  TB_EV(&b, REGION_END, 0);
  TB_EV(&b, THREAD_EXIT, 100);
  tb_end(&b);
  tb_batch(&b, 100, 1, 3000); /* creates and names the second, before it runs */
  TB_EV(&b, THREAD_CREATE, 0, 2, 0);
  TB_EV(&b, THREAD_NAME, 10, 300, 2);
  tb_end(&b);
  tb_batch(&b, 300, 0, 3100); /* the second thread 300: sequence back to 0 */
  TB_EV(&b, THREAD_START, 0, 2);
  TB_EV(&b, REGION_END, 50);
  tb_end(&b);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_mem(b.d, b.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nthreads(r), 3);
  const struct ctrace_thread_info *a = ctrace_reader_thread(r, 1), *c = ctrace_reader_thread(r, 2);
  ASSERT_EQ(a->tid, 300);
  ASSERT_EQ(c->tid, 300);
  ASSERT_EQ(a->instance, 0);
  ASSERT_EQ(c->instance, 1);
  ASSERT_UINT_EQ(a->first, 2100);
  ASSERT_UINT_EQ(a->last, 2400);
  ASSERT_EQ(a->exited, 1);
  ASSERT_UINT_EQ(c->first, 3100);
  ASSERT_UINT_EQ(c->nevents, 2);
  ASSERT_EQ(a->nbatches, 2);
  ASSERT_EQ(c->nbatches, 1);
  ASSERT(str_is(r, a->name, "first"));
  ASSERT(str_is(r, c->name, "second"));
  ASSERT_UINT_EQ(a->created_at, 2000);
  ASSERT_UINT_EQ(c->created_at, 3000);
  ASSERT_EQ(ctrace_reader_thread_index(r, 300), 2);
  ASSERT_EQ(ctrace_reader_thread_index_at(r, 300, 2200), 1);
  ASSERT_EQ(ctrace_reader_thread_index_at(r, 300, 2500), 2);
  /* each thread's events in order, times never going back */
  for (uint32_t i = 1; i < 3; i++) {
    ctrace_cursor cur;
    ctrace_event ev;
    uint64_t last = 0, n = 0;
    ctrace_cursor_init(&cur, r, i);
    while (ctrace_cursor_next(&cur, &ev)) {
      ASSERT_GE(ev.ticks, last);
      last = ev.ticks;
      n++;
    }
    ASSERT_UINT_EQ(n, ctrace_reader_thread(r, i)->nevents);
  }
  ctrace_reader_close(r);
  free(b.d);
  return 0;
}

/* A file written by ctrace 0.1 (format 1.0: 32-byte header, no checksums,
 * no END; examples/minimal: a 100 ms region) still reads, whole. */
TEST_IMPL(read_version_1_0_fixture) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/data/v1.0-minimal.ctrace", test_source_dir);
  ctrace_reader *r = open_trace(path);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_complete(r), 1);
  ASSERT_EQ(ctrace_reader_version_minor(r), 0);
  ASSERT_EQ(ctrace_reader_nthreads(r), 1);
  ASSERT_UINT_EQ(ctrace_reader_nevents(r), 2);
  ASSERT_GE(ctrace_reader_nclock_syncs(r), 2);
  const struct ctrace_thread_info *t = ctrace_reader_thread(r, 0);
  ASSERT(str_is(r, t->name, "minimal10")); /* the unnamed main thread: the program */
  int64_t d = ctrace_reader_ns(r, t->last) - ctrace_reader_ns(r, t->first);
  ASSERT_GE(d, 100000000);
  ASSERT_LT(d, 110000000);
  ctrace_reader_close(r);
  return 0;
}

/* PROPERTY records (1.2): the recorder says what it recorded; the last
 * record of a key wins; a blob without '=' is skipped and counted. */
TEST_IMPL(read_properties) {
  size_t len;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_mem(ref, len, &r, err, sizeof err), 0);
  ASSERT_STR_EQ(ctrace_reader_property(r, "recording"), "api"); /* no preload here */
  ASSERT(ctrace_reader_property(r, "recordin") == NULL);
  ASSERT_EQ(ctrace_reader_version_minor(r), CTRACE_FORMAT_MINOR);
  ctrace_reader_close(r);
  free(ref);

  struct tb b = {0};
  tb_header(&b, 0, 32, 0, 7); /* 1.0: no checksums; kinds 0x80+ skip */
  tb_batch(&b, 0, 0, 0);
  TB_EV(&b, CLOCK_SYNC, 0, 1000, 1000, 1000);
  tb_ev(&b, CTRACE_EV_PROPERTY, 0, 0, NULL, "k=one");
  tb_ev(&b, CTRACE_EV_PROPERTY, 0, 0, NULL, "no equals sign");
  tb_ev(&b, CTRACE_EV_PROPERTY, 0, 0, NULL, "k=two=2");
  tb_ev(&b, CTRACE_EV_PROPERTY, 0, 0, NULL, "=empty key");
  tb_end(&b);
  ASSERT_EQ(ctrace_reader_open_mem(b.d, b.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_STR_EQ(ctrace_reader_property(r, "k"), "two=2");
  ASSERT_STR_EQ(ctrace_reader_property(r, ""), "empty key");
  ASSERT_UINT_EQ(ctrace_reader_nproperties(r), 3);
  ASSERT_STR_EQ(ctrace_reader_property_at(r, 0), "k=one");
  ASSERT_UINT_EQ(ctrace_reader_nunknown(r), 1);
  ctrace_reader_close(r);
  free(b.d);
  return 0;
}

/* ---- cursors: the fast decode of validated batches ---- */

/* Every thread's records through a cursor equal the checked decoder's
 * (ctrace_decode_batch_event) over the same batches: ticks, offset, tid,
 * kind, fields, blob. */
static int cursors_agree(const char *file) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  const uint8_t *data = ctrace_reader_data(r);
  uint64_t nrec = 0, nev = 0;
  for (uint32_t t = 0; t < ctrace_reader_nthreads(r); t++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, t);
    ctrace_cursor all, events;
    ctrace_cursor_init(&all, r, t);
    ctrace_cursor_init(&events, r, t);
    for (uint32_t k = 0; k < th->nbatches; k++) {
      const struct ctrace_batch_info *b = ctrace_reader_batch(r, th->batches[k]);
      const uint8_t *p = data + b->offset + CTRACE_BATCH_HEADER_SIZE, *end = p + b->evlen;
      uint64_t ticks = b->base;
      struct ctrace_batch_state rel = {0};
      while (p < end) {
        ctrace_event want, got;
        const char *why;
        want.offset = (uint64_t)(p - data);
        p = ctrace_decode_batch_event(b, &rel, p, end, &ticks, &want, &why);
        ASSERT(p != NULL);
        want.tid = th->tid;
        memset(&got, 0xa5, sizeof got);
        ASSERT_EQ(ctrace_cursor_next_record(&all, &got), 1);
        for (int pass = 0; pass < 2; pass++) {
          ASSERT_EQ(got.offset, want.offset);
          ASSERT_EQ(got.ticks, want.ticks);
          ASSERT_EQ(got.tid, want.tid);
          ASSERT_EQ(got.kind, want.kind);
          ASSERT_EQ(got.nfields, want.nfields);
          for (unsigned i = 0; i < want.nfields; i++)
            ASSERT_EQ(got.f[i], want.f[i]);
          ASSERT(got.blob == want.blob);
          ASSERT_EQ(got.blob_len, want.blob_len);
          if (pass || want.kind >= 0x80)
            break;
          memset(&got, 0x5a, sizeof got);
          ASSERT_EQ(ctrace_cursor_next(&events, &got), 1);
          nev++;
        }
        nrec++;
      }
    }
    ctrace_event ev;
    ASSERT_EQ(ctrace_cursor_next_record(&all, &ev), 0);
    ASSERT_EQ(ctrace_cursor_next(&events, &ev), 0);
  }
  ASSERT_EQ(nev, ctrace_reader_nevents(r));
  fprintf(stderr, "# %s: %" PRIu64 " records, %" PRIu64 " events agree\n", file, nrec, nev);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(read_cursors_agree_with_checked_decode) {
  size_t len, n;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  char f[4096];
  snprintf(f, sizeof f, "%s/tests/data/v1.0-minimal.ctrace", test_source_dir);
  ASSERT_EQ(cursors_agree(f), 0);
  snprintf(f, sizeof f, "%s/tests/data/v1.2-gen.ctrace", test_source_dir);
  ASSERT_EQ(cursors_agree(f), 0);
  ASSERT_EQ(cursors_agree(test_path("ref.ctrace")), 0);
  char *later = rewrite_trace(ref, len, EXTRA_HEADER | UNKNOWN, &n);
  test_write_file(test_path("later.ctrace"), later, n);
  ASSERT_EQ(cursors_agree(test_path("later.ctrace")), 0);
  /* every thread event of ctrace run's kinds, 1.3's relative fields */
  char *gen[] = {(char *)test_build_path("bench/gen_trace"), "--mix",
                 (char *)test_path("mix.ctrace"), "20000", "3", NULL};
  ASSERT_EQ(test_run(gen, NULL, NULL, NULL), 0);
  ASSERT_EQ(cursors_agree(test_path("mix.ctrace")), 0);
  free(later);
  free(ref);
  return 0;
}

/* ---- repeated fields (1.4) ---- */

/* A batch's checksum trailer (1.1 and later), then its length. */
static void tb_end_crc(struct tb *b) {
  uint8_t t[7] = {CTRACE_EV_CHECKSUM, 0, 4};
  ctrace__put_le32(b->d + b->batch + 4,
                   (uint32_t)(b->n - b->batch - CTRACE_BATCH_HEADER_SIZE + sizeof t));
  ctrace__put_le32(t + 3, ctrace__crc32c(0, b->d + b->batch, b->n - b->batch));
  tb_bytes(b, t, sizeof t);
}

/* A file of version 1.minor: a metadata batch with a clock sync, then a
 * data batch of thread 7 holding the given bytes. */
static ctrace_reader *open_events(unsigned minor, const uint8_t *ev, size_t n, struct tb *b) {
  *b = (struct tb){0};
  tb_header(b, minor, 40, 0, 7);
  tb_batch(b, 0, 0, 0);
  TB_EV(b, CLOCK_SYNC, 0, 1000, 1000, 5000);
  tb_end_crc(b);
  tb_batch(b, 7, 0, 2000);
  tb_bytes(b, ev, n);
  tb_end_crc(b);
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open_mem(b->d, b->n, &r, err, sizeof err) != 0)
    return NULL;
  return r;
}

/* The example of docs/FORMAT.md, "Repeated fields", reads as it says; the
 * flag without an earlier event of the kind, on a kind that repeats
 * nothing, or in a 1.3 file, is corruption at its offset. */
TEST_IMPL(read_repeated_fields_1_4) {
  static const uint8_t ex[] = {0x32, 0xc8, 0x01, 0x02, 0x01, 0x04, 0x80, 0x80, 0x08,
                               0xb0, 0xea, 0x01, 0x07, 0x72, 0x64, 0x00, 0x98, 0xf2, 0x01};
  struct tb b;
  ctrace_reader *r = open_events(4, ex, sizeof ex, &b);
  ASSERT(r != NULL);
  ASSERT_EQ(ctrace_reader_version_minor(r), 4);
  ASSERT_NE(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, 0);
  ASSERT_EQ(ctrace_cursor_next(&c, &ev), 1);
  struct ctrace_ev_syscall s1 = CTRACE_EV(syscall, &ev);
  ASSERT_UINT_EQ(ev.ticks, 2000 + 100 + 30000);
  ASSERT_EQ(s1.call, 2);
  ASSERT_EQ(s1.result, 65536);
  ASSERT_EQ(ev.kind, CTRACE_EV_SYSCALL);
  ASSERT_EQ(ctrace_cursor_next(&c, &ev), 1);
  struct ctrace_ev_syscall s2 = CTRACE_EV(syscall, &ev);
  ASSERT_EQ(ev.kind, CTRACE_EV_SYSCALL);
  ASSERT_UINT_EQ(ev.ticks, 2000 + 100 + 30000 + 50 + 31000);
  ASSERT_EQ(s2.call, 2);
  ASSERT_EQ(s2.class, 1);
  ASSERT_EQ(s2.fd, 4);
  ASSERT_EQ(s2.result, 65536);
  ASSERT_UINT_EQ(s2.dur, 31000);
  ASSERT_EQ(s2.stack, 7);
  ASSERT_EQ(ctrace_cursor_next(&c, &ev), 0);
  ctrace_reader_close(r);
  free(b.d);

  /* no earlier SYSCALL in the batch */
  r = open_events(4, ex + 13, sizeof ex - 13, &b);
  ASSERT(r != NULL);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
  ASSERT_STR_CONTAINS(ctrace_reader_error(r), "no earlier event of the kind");
  ASSERT_EQ(ctrace_reader_nevents(r), 0);
  ctrace_reader_close(r);
  free(b.d);
  /* REGION_END repeats nothing */
  static const uint8_t end2[] = {0x23, 0x00, 0x63, 0x00};
  r = open_events(4, end2, sizeof end2, &b);
  ASSERT(r != NULL);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
  ASSERT_STR_CONTAINS(ctrace_reader_error(r), "unknown event kind");
  ctrace_reader_close(r);
  free(b.d);
  /* a 1.3 file knows no flag */
  r = open_events(3, ex, sizeof ex, &b);
  ASSERT(r != NULL);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
  ASSERT_STR_CONTAINS(ctrace_reader_error(r), "unknown event kind");
  ctrace_reader_close(r);
  free(b.d);
  return 0;
}

/* A 1.3 file (written by gen_trace --mix of the recorder before 1.4) reads
 * as ctrace 1.3 dumped it, through cursors as through the checked decoder
 * and the second reader. */
TEST_IMPL(read_v13_file_reads_as_written) {
  char file[4096];
  ASSERT_EQ(dumps_as_stored("v1.3-gen", file, sizeof file), 0);
  ASSERT_EQ(cursors_agree(file), 0);
  ctrace_reader *r = open_trace(file);
  ASSERT_EQ(ctrace_reader_version_minor(r), 3);
  ASSERT(ctrace_reader_nevents_kind(r, CTRACE_EV_WAIT) > 0);
  ASSERT(ctrace_reader_nevents_kind(r, CTRACE_EV_SYSCALL) > 0);
  ctrace_reader_close(r);
  return 0;
}
