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
#include <limits.h>
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

CTRACE__COLD static const struct spec *spec_of(const char *name) {
  for (size_t i = 0; i < NSPECS; i++)
    if (strcmp(specs[i].name, name) == 0)
      return &specs[i];
  return NULL;
}

CTRACE__COLD char *ctrace__cat_n(char *p, char *end, const char *s, size_t n) {
  size_t room = (size_t)(end - p) - 1;
  if (n > room)
    n = room;
  memcpy(p, s, n);
  p[n] = 0;
  return p + n;
}

CTRACE__COLD char *ctrace__cat(char *p, char *end, const char *s) {
  return ctrace__cat_n(p, end, s, strlen(s));
}

CTRACE__COLD char *ctrace__cat_ll(char *p, char *end, long long v) {
  char d[24], *q = d + sizeof d;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  do
    *--q = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    *--q = '-';
  return ctrace__cat_n(p, end, q, (size_t)(d + sizeof d - q));
}

CTRACE__COLD size_t ctrace__span(const char *s, char c) {
  size_t n = 0;
  while (s[n] && s[n] != c)
    n++;
  return n;
}

CTRACE__COLD int ctrace__parse_ll(const char *s, long long *v) {
  while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
    s++;
  int neg = *s == '-';
  if (*s == '-' || *s == '+')
    s++;
  if (*s < '0' || *s > '9')
    return 0;
  unsigned long long u = 0, lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
  for (; *s >= '0' && *s <= '9'; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (u > (lim - d) / 10)
      return 0; /* out of range, as strtoll's ERANGE */
    u = u * 10 + d;
  }
  if (*s)
    return 0;
  *v = neg ? (long long)(0ull - u) : (long long)u;
  return 1;
}

CTRACE__COLD double ctrace__parse_double(const char *s) {
  /* Digits with at most one point, 15 digits at most: the integer of
   * the digits and the power of ten are exact doubles, and one division
   * rounds correctly, as strtod does. */
  uint64_t m = 0;
  int digits = 0, frac = -1;
  const char *q = s;
  for (; *q; q++) {
    if (*q == '.' && frac < 0) {
      frac = 0;
    } else if (*q >= '0' && *q <= '9' && digits < 15) {
      m = m * 10 + (uint64_t)(*q - '0');
      digits++;
      if (frac >= 0)
        frac++;
    } else {
      break;
    }
  }
  if (*q || !digits)
    return strtod(s, NULL);
  double p10 = 1;
  for (int i = 0; i < frac; i++)
    p10 *= 10;
  return (double)m / p10;
}

/* 1 when the n bytes at w are one of the comma-separated words. */
CTRACE__COLD static int is_word(const char *words, const char *w, size_t n) {
  while (*words) {
    size_t k = ctrace__span(words, ',');
    if (k == n && strncmp(words, w, n) == 0)
      return 1;
    words += k;
    if (*words)
      words++;
  }
  return 0;
}

CTRACE__COLD int ctrace__config_check(const char *name, const char *val, char *eff, size_t effsize, char *msg,
                         size_t msgsize) {
  const struct spec *sp = spec_of(name);
  if (msgsize)
    msg[0] = 0;
  if (!sp || !val || !*val) {
    ctrace__cat(eff, eff + effsize, sp ? sp->dflt : (val ? val : ""));
    return 1;
  }
  int ok = 1;
  ctrace__cat(eff, eff + effsize, val);
  if (sp->kind == INT) {
    long long v;
    ok = ctrace__parse_ll(val, &v) && v >= sp->lo && v <= sp->hi;
  } else if (sp->kind == WORD) {
    ok = is_word(sp->words, val, strlen(val));
  } else if (sp->kind == LIST) {
    /* The known names are kept; none known: the default. */
    size_t w = 0;
    eff[0] = 0;
    for (const char *s = val; *s;) {
      size_t n = ctrace__span(s, ',');
      if (n && is_word(sp->words, s, n)) {
        if (w + n + 2 < effsize) {
          char *e = w ? ctrace__cat(eff + w, eff + effsize, ",") : eff;
          w = (size_t)(ctrace__cat_n(e, eff + effsize, s, n) - eff);
        }
      } else {
        ok = 0;
      }
      s += n;
      if (*s)
        s++;
    }
    if (!w)
      ctrace__cat(eff, eff + effsize, sp->dflt);
  }
  if (!ok) {
    if (sp->kind != LIST)
      ctrace__cat(eff, eff + effsize, sp->dflt);
    snprintf(msg, msgsize, "%s=%s is not accepted (%s); using %s", name, val, sp->accepted, eff);
  }
  return ok;
}

/* Bit i: specs[i]'s bad value was reported in this process. A forked child
 * inherits it and does not repeat the message. */
static unsigned warned;

CTRACE__COLD const char *ctrace__config_get(const char *name, char *eff, size_t effsize) {
  char msg[512];
  if (!ctrace__config_check(name, getenv(name), eff, effsize, msg, sizeof msg)) {
    const struct spec *sp = spec_of(name);
    unsigned bit = 1u << (sp - specs);
    if (!(__atomic_fetch_or(&warned, bit, __ATOMIC_RELAXED) & bit))
      fprintf(stderr, "ctrace: %s\n", msg);
  }
  return eff;
}

CTRACE__COLD static long long get_ll(const char *name) {
  char v[64];
  long long n = 0;
  ctrace__parse_ll(ctrace__config_get(name, v, sizeof v), &n); /* checked: an integer */
  return n;
}

/* Called with ctrace__lock held, when a trace starts. */
CTRACE__COLD void ctrace__config_load(void) {
  char v[64];
  size_t buffer_bytes = (size_t)get_ll("CTRACE_BUFFER_KB") << 10;
  size_t memory_bytes = (size_t)get_ll("CTRACE_MEMORY_MB") << 20;
  if (memory_bytes < 4 * buffer_bytes)
    memory_bytes = 4 * buffer_bytes;
  ctrace__config.buffer_bytes = buffer_bytes;
  ctrace__config.memory_bytes = memory_bytes;
  ctrace__walker *unwind = ctrace__unwind_cfi;
  ctrace__config_get("CTRACE_UNWIND", v, sizeof v);
  if (strcmp(v, "fp") == 0) {
    unwind = ctrace__unwind_fp;
  } else if (strcmp(v, "dwarf") == 0) {
    ctrace__unwind_dwarf_init();
    unwind = ctrace__unwind_dwarf;
  }
  ctrace__config.unwind = unwind;
  int stacks = CTRACE__STACKS_BLOCKING;
  ctrace__config_get("CTRACE_STACKS", v, sizeof v);
  if (strcmp(v, "none") == 0)
    stacks = CTRACE__STACKS_NONE;
  else if (strcmp(v, "all") == 0)
    stacks = CTRACE__STACKS_ALL;
  ctrace__config.stacks = stacks;
  ctrace__config_get("CTRACE_CLOCK", v, sizeof v); /* used by clock.c; checked here */
}

CTRACE__COLD void ctrace__config_record(const char *text) {
  /* Each "key=value" pair of text is a PROPERTY "config.key=value". */
  while (*text) {
    while (*text == ' ')
      text++;
    size_t n = ctrace__span(text, ' ');
    const char *eq = memchr(text, '=', n);
    if (eq && eq > text && (size_t)(eq - text) < 64) {
      char key[80], value[256];
      ctrace__cat_n(ctrace__cat(key, key + sizeof key, "config."), key + sizeof key, text,
                    (size_t)(eq - text));
      ctrace__cat_n(value, value + sizeof value, eq + 1, n - (size_t)(eq - text) - 1);
      ctrace__meta_property(key, value);
    }
    text += n;
  }
}

/* Called once a trace started, outside the locks. */
CTRACE__COLD void ctrace__meta_config(void) {
  static const char *const stacks[] = {"none", "blocking", "all"};
  char buf[256], *e = buf + sizeof buf, *p = buf;
  p = ctrace__cat_ll(ctrace__cat(p, e, "buffer_kb="), e,
                     (long long)(ctrace__config.buffer_bytes >> 10));
  p = ctrace__cat_ll(ctrace__cat(p, e, " memory_mb="), e,
                     (long long)(ctrace__config.memory_bytes >> 20));
  p = ctrace__cat(ctrace__cat(p, e, " stacks="), e, stacks[ctrace__config.stacks]);
  p = ctrace__cat(ctrace__cat(p, e, " clock="), e, ctrace__use_tsc ? "tsc" : "monotonic");
  ctrace__cat(ctrace__cat(p, e, " unwind="), e,
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
