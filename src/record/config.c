/*
 * config.c - reads the environment variables of config.h into
 * ctrace__config, with defaults and bounds. Not the place of any policy.
 */
#include "record.h"
#include "config.h"

#include <stdlib.h>
#include <string.h>

struct ctrace__config ctrace__config;

static long env_long(const char *name, long dflt, long lo, long hi) {
  const char *s = getenv(name);
  if (!s || !*s)
    return dflt;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < lo || v > hi)
    return dflt;
  return v;
}

/* Called with ctrace__lock held, when a trace starts. */
void ctrace__config_load(void) {
  ctrace__config.buffer_bytes = (size_t)env_long("CTRACE_BUFFER_KB", 64, 4, 16384) << 10;
  ctrace__config.memory_bytes = (size_t)env_long("CTRACE_MEMORY_MB", 64, 1, 1 << 20) << 20;
  if (ctrace__config.memory_bytes < 4 * ctrace__config.buffer_bytes)
    ctrace__config.memory_bytes = 4 * ctrace__config.buffer_bytes;
  ctrace__config.unwind = ctrace__unwind_fp;
  const char *u = getenv("CTRACE_UNWIND");
  if (u && strcmp(u, "dwarf") == 0) {
    ctrace__unwind_dwarf_init();
    ctrace__config.unwind = ctrace__unwind_dwarf;
  }
  ctrace__config.stacks = CTRACE__STACKS_BLOCKING;
  const char *s = getenv("CTRACE_STACKS");
  if (s && strcmp(s, "none") == 0)
    ctrace__config.stacks = CTRACE__STACKS_NONE;
  else if (s && strcmp(s, "all") == 0)
    ctrace__config.stacks = CTRACE__STACKS_ALL;
}
