/*
 * trace-check.h - helpers for tests that read back a trace they recorded.
 */
#ifndef CTRACE_TEST_TRACE_CHECK_H
#define CTRACE_TEST_TRACE_CHECK_H

#include "../src/read/reader.h"
#include "task.h"

/* Opens path; fails the test when it cannot be opened or is corrupt. */
static inline ctrace_reader *open_trace(const char *path) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &r, err, sizeof err) < 0)
    TEST_FAIL_("open %s: %s", path, err);
  if (ctrace_reader_status(r) == CTRACE_READ_CORRUPT)
    TEST_FAIL_("%s: offset %llu: %s", path, (unsigned long long)ctrace_reader_error_offset(r),
               ctrace_reader_error(r));
  return r;
}

/* Is string id equal to s? */
static inline int str_is(const ctrace_reader *r, uint64_t id, const char *s) {
  const struct ctrace_string *str = ctrace_reader_string(r, id);
  return str && str->len == strlen(s) && memcmp(str->s, s, str->len) == 0;
}

#endif
