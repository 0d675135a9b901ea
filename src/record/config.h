/*
 * config.h - the one table of ctrace's environment variables. The recorder
 * parses them from it, `ctrace --help` and the README list them from it.
 * X(NAME, default, "meaning")
 */
#ifndef CTRACE_CONFIG_H
#define CTRACE_CONFIG_H

#define CTRACE_ENV_VARS(X)                                                                     \
  X(CTRACE_OUT, "", "write a trace to this file: tracing starts before main() and stops at exit") \
  X(CTRACE_BUFFER_KB, "64", "size of one per-thread buffer (a batch), in KiB (4..16384)")      \
  X(CTRACE_MEMORY_MB, "64", "memory for buffers in flight; past it events are dropped and counted") \
  X(CTRACE_STACKS, "blocking", "which events carry a stack: none, blocking, all")              \
  X(CTRACE_CLOCK, "tsc", "time source: tsc (when invariant) or monotonic")                   \
  X(CTRACE_UNWIND, "cfi", "stack walker: cfi (unwind tables, rules cached per address: right without frame pointers), fp (frame pointers only) or dwarf (glibc's backtrace(), ~100x slower)") \
  X(CTRACE_SCHED, "on", "context switches of the traced threads from the kernel (perf_event_open, no root needed at perf_event_paranoid <= 2): on or off") \
  X(CTRACE_SAMPLE_HZ, "250", "CPU samples per second of each running thread, with its stack (0: none); needs scheduling data (perf_event_open)") \
  X(CTRACE_FAMILIES, "all", "ctrace run: families recorded, comma-separated: sync,sleep,io,net,proc") \
  X(CTRACE_MIN_NS, "5000", "ctrace run: file and socket calls shorter than this (ns) are not recorded") \
  X(CTRACE_FOLLOW_FORKS, "1", "ctrace run: 0 to not trace child processes")                   \
  X(CTRACE_PRELOAD, "", "ctrace run: path of libctrace-preload.so (default: found next to ctrace)")

#include <stddef.h>

/* The effective value of variable `name` set to `val` (NULL: unset) into
 * eff. Returns 1 when val is accepted (or unset), else 0 with msg holding
 * one line (no newline) naming the variable, the value, what is accepted
 * and what is used instead. */
int ctrace__config_check(const char *name, const char *val, char *eff, size_t effsize, char *msg,
                         size_t msgsize);
/* The effective value of $name; a bad value is reported on stderr, once
 * per process. */
const char *ctrace__config_get(const char *name, char *eff, size_t effsize);

/* Records the effective configuration, text being "key=value" pairs
 * separated by spaces, as PROPERTY records "config.key=value"
 * (docs/FORMAT.md). Takes the metadata lock: not for signal handlers. */
void ctrace__config_record(const char *text);
void ctrace__meta_config(void);

/*
 * Text without printf or strto*: what a process's start and exit format
 * and parse goes through these, so that a traced process does not fault
 * in the pages of libc's printf and number parsers (10-15 us a page on a
 * VM) that it would not touch untraced. buf..end is the whole buffer
 * (end exclusive, at least one byte); p points at its NUL. Each returns
 * the new NUL's position; what does not fit is cut.
 */
char *ctrace__cat_n(char *p, char *end, const char *s, size_t n);
char *ctrace__cat(char *p, char *end, const char *s);
char *ctrace__cat_ll(char *p, char *end, long long v);
/* The length of s's first run of characters other than c and NUL. */
size_t ctrace__span(const char *s, char c);
/* 1 when s is a decimal integer that fits in a long long, as strtoll
 * reads one (blanks before, a sign), with nothing after it; *v then. */
int ctrace__parse_ll(const char *s, long long *v);
/* A decimal number as strtod reads it: exact without strtod for up to 15
 * digits and a point (what `ctrace run` exports); strtod for the rest. */
double ctrace__parse_double(const char *s);

#endif
