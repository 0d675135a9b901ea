/*
 * test-format.c - the encoding of format.h: varints, and every event kind
 * through the writer's encoding and the reader's decoder; FORMAT.md
 * describes every kind.
 */
#include "../src/format/format.h"
#include "../src/read/reader.h"
#include "task.h"

TEST_IMPL(format_varint_roundtrip) {
  static const uint64_t values[] = {0,          1,          127,        128,       255,
                                    16383,      16384,      UINT32_MAX, 1ull << 35, 1ull << 63,
                                    UINT64_MAX, 0x123456789abcdefull};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    uint8_t buf[16];
    uint8_t *end = ctrace__put_uvarint(buf, values[i]);
    ASSERT_LE(end - buf, 10);
    uint64_t v;
    const uint8_t *p = ctrace__get_uvarint(buf, end, &v);
    ASSERT(p == end);
    ASSERT_UINT_EQ(v, values[i]);
    /* Every shorter input is an error, not a wrong value. */
    for (uint8_t *cut = buf; cut < end; cut++)
      ASSERT(ctrace__get_uvarint(buf, cut, &v) == NULL);
    int64_t s = (int64_t)values[i];
    ASSERT_EQ(ctrace__unzigzag(ctrace__zigzag(s)), s);
    if (s != INT64_MIN)
      ASSERT_EQ(ctrace__unzigzag(ctrace__zigzag(-s)), -s);
  }
  /* 11-byte varints are rejected. */
  uint8_t bad[11];
  memset(bad, 0x80, sizeof bad);
  uint64_t v;
  ASSERT(ctrace__get_uvarint(bad, bad + sizeof bad, &v) == NULL);
  return 0;
}

TEST_IMPL(format_every_kind_roundtrip) {
  int kinds = 0;
  for (unsigned k = 0; k < 256; k++) {
    const struct ctrace_kind_info *ki = &ctrace__kinds[k];
    if (!ki->name)
      continue;
    kinds++;
    uint8_t buf[256], *p = buf;
    uint64_t fields[CTRACE_MAX_FIELDS];
    *p++ = (uint8_t)k;
    p = ctrace__put_uvarint(p, 1000 + k);
    for (unsigned i = 0; i < ki->nfields; i++) {
      fields[i] = (0x9e3779b97f4a7c15ull * (k + 1) * (i + 1)) >> (i * 8);
      p = ctrace__put_uvarint(p, fields[i]);
    }
    if (ki->blob) {
      p = ctrace__put_uvarint(p, 5);
      memcpy(p, "hello", 5);
      p += 5;
    }
    uint64_t ticks = 7;
    ctrace_event ev;
    const char *why = NULL;
    const uint8_t *end = ctrace_decode_event(buf, p, &ticks, &ev, &why);
    if (!end)
      TEST_FAIL_("kind %s: %s", ki->name, why);
    ASSERT(end == p);
    ASSERT_EQ(ev.kind, k);
    ASSERT_UINT_EQ(ev.ticks, 1007 + k);
    ASSERT_EQ(ev.nfields, ki->nfields);
    for (unsigned i = 0; i < ki->nfields; i++)
      ASSERT_UINT_EQ(ev.f[i], fields[i]);
    if (ki->blob) {
      ASSERT_EQ(ev.blob_len, 5);
      ASSERT_MEM_HEX_EQ(ev.blob, "hello", 5);
    }
    /* Cut anywhere: an error, never a read past the end. */
    for (const uint8_t *cut = buf; cut < p; cut++) {
      ticks = 0;
      ASSERT(ctrace_decode_event(buf, cut, &ticks, &ev, &why) == NULL);
    }
  }
  ASSERT_GE(kinds, 20);
  /* An unknown sized kind (>= 0x80) is skipped by its length. */
  uint8_t ext[] = {0xC7, 3, 2, 'x', 'y'};
  uint64_t ticks = 0;
  ctrace_event ev;
  const char *why;
  ASSERT(ctrace_decode_event(ext, ext + sizeof ext, &ticks, &ev, &why) == ext + sizeof ext);
  ASSERT_EQ(ev.blob_len, 2);
  /* An unknown fixed kind is corruption. */
  uint8_t bad[] = {0x7e, 0};
  ASSERT(ctrace_decode_event(bad, bad + 2, &ticks, &ev, &why) == NULL);
  return 0;
}

TEST_IMPL(format_every_kind_documented) {
  char path[4096];
  snprintf(path, sizeof path, "%s/docs/FORMAT.md", test_source_dir);
  char *doc = test_read_file(path, NULL);
  if (!doc)
    TEST_FAIL_("cannot read %s", path);
  for (unsigned k = 0; k < 256; k++) {
    const struct ctrace_kind_info *ki = &ctrace__kinds[k];
    if (!ki->name)
      continue;
    /* Each kind has a section "### NAME (0xNN)" with its fields. */
    char heading[128];
    snprintf(heading, sizeof heading, "### %s (0x%02x)", ki->name, k);
    ASSERT_STR_CONTAINS(doc, heading);
    const char *sec = strstr(doc, heading);
    const char *next = strstr(sec + 1, "\n### ");
    size_t len = next ? (size_t)(next - sec) : strlen(sec);
    ASSERT_GT(len, strlen(heading) + 40); /* more than a heading: a description */
    ASSERT(strstr(sec, "Describe me") == NULL || strstr(sec, "Describe me") > sec + len);
  }
  free(doc);
  return 0;
}

/* The worked example of docs/FORMAT.md is a real trace: its bytes read as
 * the document says `ctrace dump --raw` prints them. */
static char *doc_block(const char *doc, const char *marker) {
  const char *p = strstr(doc, marker);
  if (!p || !(p = strstr(p, "```\n")))
    return NULL;
  p += 4;
  const char *e = strstr(p, "```");
  return e ? strndup(p, (size_t)(e - p)) : NULL;
}

TEST_IMPL(format_worked_example) {
  char path[4096];
  snprintf(path, sizeof path, "%s/docs/FORMAT.md", test_source_dir);
  char *doc = test_read_file(path, NULL);
  ASSERT(doc != NULL);
  char *hex = doc_block(doc, "<!-- example:hex -->"), *raw = doc_block(doc, "<!-- example:raw -->");
  ASSERT(hex != NULL && raw != NULL);
  uint8_t bytes[4096];
  size_t n = 0;
  for (char *line = strtok(hex, "\n"); line; line = strtok(NULL, "\n")) {
    char *p = strchr(line, ':');
    ASSERT(p != NULL);
    unsigned v;
    int used;
    for (p++; sscanf(p, " %2x%n", &v, &used) == 1 && n < sizeof bytes; p += used)
      bytes[n++] = (uint8_t)v;
  }
  ASSERT_GT(n, 100);
  const char *file = test_path("example.ctrace");
  ASSERT_EQ(test_write_file(file, bytes, n), 0);
  char *argv[] = {(char *)test_build_path("ctrace"), "dump", "--raw", (char *)file, NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_EQ(out, raw);
  free(out);
  free(hex);
  free(raw);
  free(doc);
  return 0;
}

/* The batch checksum: the standard check value, and the instruction path
 * (SSE 4.2, where the CPU has it) against the portable one at every
 * alignment and length up to 64, and continued over two pieces. */
TEST_IMPL(format_crc32c_paths_agree) {
  ASSERT_EQ(ctrace__crc32c(0, "123456789", 9), 0xe3069283u);
  ASSERT_EQ(ctrace__crc32c_soft(0, "123456789", 9), 0xe3069283u);
  unsigned char buf[80];
  uint32_t x = 1;
  for (size_t i = 0; i < sizeof buf; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (unsigned char)(x >> 16);
  }
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n <= 64; n++) {
      uint32_t soft = ctrace__crc32c_soft(0, buf + off, n);
      ASSERT_EQ(ctrace__crc32c(0, buf + off, n), soft);
      size_t half = n / 3;
      ASSERT_EQ(ctrace__crc32c(ctrace__crc32c(0, buf + off, half), buf + off + half, n - half), soft);
    }
  return 0;
}

/* Repeated fields (1.4): events of random kinds and fields, many repeating
 * the last of their kind, through the writer's compaction and the checked
 * decoder of a 1.4 data batch read the same as the plain bytes through a
 * 1.3 batch's; the compaction sets the flag, and only on repeats. */
TEST_IMPL(format_repeat_compact_roundtrip) {
  static const uint8_t kinds[] = {CTRACE_EV_TASK_BEGIN, CTRACE_EV_TASK_END, CTRACE_EV_REGION_BEGIN,
                                  CTRACE_EV_REGION_END, CTRACE_EV_LOG,      CTRACE_EV_COUNTER,
                                  CTRACE_EV_WAIT,       CTRACE_EV_WAKE,     CTRACE_EV_SYSCALL,
                                  CTRACE_EV_FD,         CTRACE_EV_THREAD_NAME};
  uint32_t seed = 12345;
  int total = 0;
  for (int round = 0; round < 200; round++) {
    enum { N = 64 };
    uint8_t plain[N * (CTRACE_MAX_FIXED_EVENT + 16)], packed[sizeof plain];
    uint8_t *p = plain;
    uint64_t pick[4][CTRACE_MAX_FIELDS]; /* a few values to repeat */
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < CTRACE_MAX_FIELDS; j++) {
        seed = seed * 1103515245 + 12345;
        pick[i][j] = (seed >> 8) % (j == 2 ? 100000 : 300);
      }
    int repeats = 0;
    for (int e = 0; e < N; e++) {
      seed = seed * 1103515245 + 12345;
      unsigned kind = kinds[(seed >> 16) % sizeof kinds];
      const struct ctrace_kind_info *k = &ctrace__kinds[kind];
      *p++ = (uint8_t)kind;
      p = ctrace__put_uvarint(p, (seed >> 4) & 0xfff);
      const uint64_t *from = pick[(seed >> 12) % 4];
      for (unsigned i = 0; i < k->nfields; i++) {
        seed = seed * 1103515245 + 12345;
        p = ctrace__put_uvarint(p, (seed >> 20) % 5 ? from[i] : seed >> 3);
      }
      if (k->blob) {
        *p++ = 3;
        memcpy(p, "abc", 3);
        p += 3;
      }
    }
    size_t len = (size_t)(p - plain);
    memcpy(packed, plain, len);
    size_t plen = ctrace__repeat_compact(packed, len, 7);
    ASSERT_LE(plen, len);
    struct ctrace_batch_info b13 = {0}, b14 = {0};
    b13.tid = b14.tid = 7;
    b13.relative = b14.relative = 1;
    b14.repeat = 1;
    struct ctrace_batch_state s12 = {0}, s14 = {0};
    const uint8_t *a = plain, *c = packed;
    uint64_t ta = 0, tc = 0;
    while (a < plain + len) {
      ctrace_event ea, ec;
      const char *why;
      ASSERT(c < packed + plen);
      int flagged = (*c & 0xc0) == CTRACE_REPEAT_FLAG;
      repeats += flagged;
      ASSERT((a = ctrace_decode_batch_event(&b13, &s12, a, plain + len, &ta, &ea, &why)) != NULL);
      ASSERT((c = ctrace_decode_batch_event(&b14, &s14, c, packed + plen, &tc, &ec, &why)) != NULL);
      ASSERT_EQ(ec.kind, ea.kind);
      ASSERT(!flagged || ctrace__repeat_mask(ea.kind));
      ASSERT_EQ(ec.ticks, ea.ticks);
      ASSERT_EQ(ec.nfields, ea.nfields);
      for (unsigned i = 0; i < ea.nfields; i++)
        ASSERT_EQ(ec.f[i], ea.f[i]);
      ASSERT_EQ(ec.blob_len, ea.blob_len);
      ASSERT(!ea.blob_len || memcmp(ec.blob, ea.blob, ea.blob_len) == 0);
    }
    ASSERT(c == packed + plen);
    ASSERT_EQ(plen < len, repeats > 0);
    total += repeats;
  }
  fprintf(stderr, "# %d of %d events repeated their kind's last fields\n", total, 200 * 64);
  ASSERT_GT(total, 200);
  return 0;
}
