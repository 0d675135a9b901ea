/*
 * error.c - names and messages of ctrace's error codes, generated from the
 * CTRACE_ERRNO_MAP table in ctrace.h; and the library's version.
 */
#include "ctrace.h"

#include <string.h>

const char *ctrace_strerror(int err) {
  if (err == 0)
    return "success";
  switch (err) {
#define XX(name, value, msg) case value: return msg;
    CTRACE_ERRNO_MAP(XX)
#undef XX
  }
  /* Any other negated errno (from open(2), say). */
  if (err < 0 && err > -4000)
    return strerror(-err);
  return "unknown error";
}

const char *ctrace_err_name(int err) {
  switch (err) {
#define XX(name, value, msg) case value: return #name;
    CTRACE_ERRNO_MAP(XX)
#undef XX
  }
  return "UNKNOWN";
}

const char *ctrace_version(void) {
  return CTRACE_VERSION_STRING;
}
