/*
 * diff_json.h - a comparison of two traces (src/analyze/diff.h) as the JSON
 * object of GET /api/compare (docs/API.md), which `ctrace diff --json`
 * prints too.
 */
#ifndef CTRACE_SERVE_DIFF_JSON_H
#define CTRACE_SERVE_DIFF_JSON_H

#include <stdio.h>

#include "../analyze/diff.h"

void ctrace_diff_json(FILE *f, const struct ctrace_diff *d, const char *before, const char *after);

#endif
