/*
 * test-read.c - the reader against bad input: the data-driven corrupt cases
 * of tests/data/corrupt.txt, a trace cut at every byte, random garbage,
 * empty files. Every failure must name its offset; nothing may crash.
 */
#include <ctrace.h>
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
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n')
      continue;
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
  ASSERT_GE(cases, 10);
  /* And the CLI reports the offset with exit status 1. */
  char *data = malloc(len);
  memcpy(data, ref, len);
  data[32] = 0;
  test_write_file(test_path("bad.ctrace"), data, len);
  free(data);
  char *argv[] = {(char *)test_build_path("ctrace"), "dump", (char *)test_path("bad.ctrace"), NULL};
  char *err = NULL;
  ASSERT_EQ(test_run(argv, NULL, NULL, &err), 1);
  ASSERT_STR_CONTAINS(err, "offset 32: bad batch magic");
  free(err);
  free(ref);
  return 0;
}

/* Cut after every byte: never corrupt, never a crash, and the number of
 * events read only grows with the length. */
TEST_IMPL(read_truncated_at_every_offset) {
  size_t len;
  char *ref = reference_trace(&len);
  ASSERT(ref != NULL);
  ASSERT_GT(len, 8192); /* several batches */
  uint64_t last_events = 0;
  int truncated = 0, whole = 0;
  for (size_t cut = 0; cut <= len; cut++) {
    char *data = malloc(cut ? cut : 1);
    memcpy(data, ref, cut);
    ctrace_reader *r;
    char err[CTRACE_READ_ERRLEN];
    if (ctrace_reader_open_mem(data, cut, &r, err, sizeof err) < 0) {
      ASSERT_LT(cut, CTRACE_FILE_HEADER_SIZE);
      ASSERT_STR_CONTAINS(err, "offset");
      free(data);
      continue;
    }
    ASSERT_NE(ctrace_reader_status(r), CTRACE_READ_CORRUPT);
    if (ctrace_reader_status(r) == CTRACE_READ_TRUNCATED) {
      truncated++;
      ASSERT_UINT_EQ(ctrace_reader_error_offset(r), ctrace_reader_good_bytes(r));
      ASSERT_STR_CONTAINS(ctrace_reader_error(r), "file ends inside a batch");
    } else {
      whole++;
      ASSERT_UINT_EQ(ctrace_reader_good_bytes(r), cut);
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
  ASSERT_GE(whole, 3); /* the header alone, batch boundaries, the whole */
  ASSERT_GT(truncated, (int)(len / 2));
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
