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

#endif
