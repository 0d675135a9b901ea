/*
 * config.c - reads the environment variables of config.h into
 * ctrace__config, with defaults and bounds; checks every value the same way
 * for the library, the preload library and `ctrace run`, and says on stderr
 * which value was not accepted and what is used instead. Records the
 * effective configuration in the trace. Not the place of any policy.
 */
#include "record.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctrace__config ctrace__config;

enum { ANY, INT, WORD, LIST };
static const struct spec {
  const char *name, *dflt;
  int kind;
  long long lo, hi;
  const char *words; /* WORD, LIST: the accepted words, comma-separated */
  const char *accepted;
} specs[] = {
    {"CTRACE_BUFFER_KB", "64", INT, 4, 16384, NULL, "an integer from 4 to 16384"},
    {"CTRACE_MEMORY_MB", "64", INT, 1, 1 << 20, NULL, "an integer from 1 to 1048576"},
    {"CTRACE_STACKS", "blocking", WORD, 0, 0, "none,blocking,all", "none, blocking or all"},
    {"CTRACE_CLOCK", "tsc", WORD, 0, 0, "tsc,monotonic", "tsc or monotonic"},
    {"CTRACE_UNWIND", "cfi", WORD, 0, 0, "cfi,fp,dwarf", "cfi, fp or dwarf"},
    {"CTRACE_SCHED", "on", WORD, 0, 0, "on,off", "on or off"},
    {"CTRACE_SAMPLE_HZ", "250", INT, 0, 10000, NULL, "an integer from 0 to 10000"},
    {"CTRACE_FAMILIES", "all", LIST, 0, 0, "sync,sleep,io,net,proc,all",
     "a comma-separated list of sync, sleep, io, net, proc, all"},
    {"CTRACE_MIN_NS", "5000", INT, 0, 3600000000000LL, NULL,
     "an integer number of nanoseconds, 0 or more"},
    {"CTRACE_FOLLOW_FORKS", "1", WORD, 0, 0, "1,0,yes,no", "1 or yes, 0 or no"},
};
#define NSPECS (sizeof specs / sizeof specs[0])

static const struct spec *spec_of(const char *name) {
  for (size_t i = 0; i < NSPECS; i++)
    if (strcmp(specs[i].name, name) == 0)
      return &specs[i];
  return NULL;
}

/* 1 when the n bytes at w are one of the comma-separated words. */
static int is_word(const char *words, const char *w, size_t n) {
  while (*words) {
    size_t k = strcspn(words, ",");
    if (k == n && strncmp(words, w, n) == 0)
      return 1;
    words += k;
    if (*words)
      words++;
  }
  return 0;
}

int ctrace__config_check(const char *name, const char *val, char *eff, size_t effsize, char *msg,
                         size_t msgsize) {
  const struct spec *sp = spec_of(name);
  if (msgsize)
    msg[0] = 0;
  if (!sp || !val || !*val) {
    snprintf(eff, effsize, "%s", sp ? sp->dflt : (val ? val : ""));
    return 1;
  }
  int ok = 1;
  snprintf(eff, effsize, "%s", val);
  if (sp->kind == INT) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    ok = !errno && end != val && !*end && v >= sp->lo && v <= sp->hi;
  } else if (sp->kind == WORD) {
    ok = is_word(sp->words, val, strlen(val));
  } else if (sp->kind == LIST) {
    /* The known names are kept; none known: the default. */
    size_t w = 0;
    eff[0] = 0;
    for (const char *s = val; *s;) {
      size_t n = strcspn(s, ",");
      if (n && is_word(sp->words, s, n)) {
        if (w + n + 2 < effsize) {
          w += (size_t)snprintf(eff + w, effsize - w, "%s%.*s", w ? "," : "", (int)n, s);
        }
      } else {
        ok = 0;
      }
      s += n;
      if (*s)
        s++;
    }
    if (!w)
      snprintf(eff, effsize, "%s", sp->dflt);
  }
  if (!ok) {
    if (sp->kind != LIST)
      snprintf(eff, effsize, "%s", sp->dflt);
    snprintf(msg, msgsize, "%s=%s is not accepted (%s); using %s", name, val, sp->accepted, eff);
  }
  return ok;
}

/* Bit i: specs[i]'s bad value was reported in this process. A forked child
 * inherits it and does not repeat the message. */
static unsigned warned;

const char *ctrace__config_get(const char *name, char *eff, size_t effsize) {
  char msg[512];
  if (!ctrace__config_check(name, getenv(name), eff, effsize, msg, sizeof msg)) {
    const struct spec *sp = spec_of(name);
    unsigned bit = 1u << (sp - specs);
    if (!(__atomic_fetch_or(&warned, bit, __ATOMIC_RELAXED) & bit))
      fprintf(stderr, "ctrace: %s\n", msg);
  }
  return eff;
}

static long long get_ll(const char *name) {
  char v[64];
  return strtoll(ctrace__config_get(name, v, sizeof v), NULL, 10);
}

/* Called with ctrace__lock held, when a trace starts. */
void ctrace__config_load(void) {
  char v[64];
  ctrace__config.buffer_bytes = (size_t)get_ll("CTRACE_BUFFER_KB") << 10;
  ctrace__config.memory_bytes = (size_t)get_ll("CTRACE_MEMORY_MB") << 20;
  if (ctrace__config.memory_bytes < 4 * ctrace__config.buffer_bytes)
    ctrace__config.memory_bytes = 4 * ctrace__config.buffer_bytes;
  ctrace__config.unwind = ctrace__unwind_cfi;
  ctrace__config_get("CTRACE_UNWIND", v, sizeof v);
  if (strcmp(v, "fp") == 0) {
    ctrace__config.unwind = ctrace__unwind_fp;
  } else if (strcmp(v, "dwarf") == 0) {
    ctrace__unwind_dwarf_init();
    ctrace__config.unwind = ctrace__unwind_dwarf;
  }
  ctrace__config.stacks = CTRACE__STACKS_BLOCKING;
  ctrace__config_get("CTRACE_STACKS", v, sizeof v);
  if (strcmp(v, "none") == 0)
    ctrace__config.stacks = CTRACE__STACKS_NONE;
  else if (strcmp(v, "all") == 0)
    ctrace__config.stacks = CTRACE__STACKS_ALL;
  ctrace__config_get("CTRACE_CLOCK", v, sizeof v); /* used by clock.c; checked here */
}

void ctrace__config_record(const char *text) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s%s", CTRACE_CONFIG_PREFIX, text);
  ctrace_name_t n = ctrace_name(buf);
  if (n)
    ctrace__name_session_id(n);
}

/* Called once a trace started, outside the locks. */
void ctrace__meta_config(void) {
  static const char *const stacks[] = {"none", "blocking", "all"};
  char buf[256];
  snprintf(buf, sizeof buf, "buffer_kb=%zu memory_mb=%zu stacks=%s clock=%s unwind=%s",
           ctrace__config.buffer_bytes >> 10, ctrace__config.memory_bytes >> 20,
           stacks[ctrace__config.stacks], ctrace__use_tsc ? "tsc" : "monotonic",
           ctrace__config.unwind == ctrace__unwind_dwarf ? "dwarf"
           : ctrace__config.unwind == ctrace__unwind_fp  ? "fp"
                                                         : "cfi");
  ctrace__config_record(buf);
  /* What this trace can tell: blocking calls only under the preload. */
  ctrace__meta_property("recording", ctrace__hooks->start_env ? "preload" : "api");
  /* Every process of one `ctrace run` names the run: its files form one tree. */
  const char *run = getenv("CTRACE__RUN");
  if (run && *run && ctrace__hooks->start_env)
    ctrace__meta_property("run", run);
}
