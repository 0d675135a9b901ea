/*
 * pprof.h - a blocking profile (profile.h) as a pprof profile: gzipped
 * profile.proto with sample types contentions/count and delay/nanoseconds,
 * one location per PC, symbolized functions (name, file, line), and the
 * trace's mappings. Readable by `go tool pprof` and other pprof consumers.
 */
#ifndef CTRACE_PPROF_H
#define CTRACE_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "../read/reader.h"
#include "../read/symbolize.h"
#include "profile.h"

/*
 * Encodes p (built from r with ctrace_profile_build for kind) and gzips it.
 * sym may be NULL: locations then carry addresses and mappings only.
 * Returns 0 with *out malloc'ed (*outlen bytes; the caller frees it), or -1
 * when out of memory or zlib fails.
 */
int ctrace_pprof_write(const ctrace_reader *r, ctrace_symbolizer *sym,
                       const struct ctrace_profile *p, enum ctrace_profile_kind kind,
                       uint8_t **out, size_t *outlen);

/*
 * The general form: samples of a stack (innermost first) with up to two
 * named frames above its outermost one (root[0] under root[1]; NULL: none),
 * values (count_type, count) and (value_type, nanoseconds). Same result
 * and ownership as above. ctrace_pprof_write is this with the profile's
 * entries, "contentions" and "delay".
 */
/* Room for ctrace_profile_call_frame's names ("[rwlock write]", "[epoll_pwait2]"). */
#define CTRACE_PPROF_CALL_MAX 24
struct ctrace_pprof_sample {
  uint64_t stack;
  const char *leaf;    /* a named frame inside the stack's innermost (the call), or NULL */
  const char *root[2];
  uint64_t count, value;
};
int ctrace_pprof_write_samples(const ctrace_reader *r, ctrace_symbolizer *sym,
                               const struct ctrace_pprof_sample *v, size_t n,
                               const char *count_type, const char *value_type,
                               const char *comment, uint8_t **out, size_t *outlen);

#endif
