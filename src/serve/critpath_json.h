/*
 * critpath_json.h - a critical path (src/analyze/critpath.h) as the JSON
 * object of GET /api/critpath (docs/API.md), which `ctrace critical-path
 * --json` prints too.
 */
#ifndef CTRACE_SERVE_CRITPATH_JSON_H
#define CTRACE_SERVE_CRITPATH_JSON_H

#include <pthread.h>
#include <stdio.h>

#include "../analyze/critpath.h"
#include "../read/symbolize.h"

/* Writes cp; sym may be NULL (frames without names); lock, when not NULL,
 * is held around symbol lookups. */
void ctrace_critpath_json(FILE *f, const struct ctrace_timeline *tl, ctrace_symbolizer *sym,
                          pthread_mutex_t *lock, const struct ctrace_cp *cp);

#endif
