/*
 * diff_json.c - see diff_json.h.
 */
#include "diff_json.h"

#include <inttypes.h>
#include <string.h>

#include "../analyze/stats.h"

static void str(FILE *f, const char *s) { ctrace_json_string(f, s ? s : "", s ? strlen(s) : 0); }

static void lat(FILE *f, const struct ctrace_diff_lat *l) {
  fprintf(f,
          "{\"count\":%" PRIu64 ",\"min_ns\":%" PRId64 ",\"p50_ns\":%" PRId64 ",\"p90_ns\":%" PRId64
          ",\"p99_ns\":%" PRId64 ",\"max_ns\":%" PRId64 "}",
          l->count, l->min, l->p50, l->p90, l->p99, l->max);
}

static void states(FILE *f, const uint64_t *a, const uint64_t *b) {
  fputc('{', f);
  int first = 1;
  for (unsigned k = 0; k < CTRACE_ST_COUNT; k++) {
    if (!ctrace_state_reported(k) && !a[k] && !b[k])
      continue;
    fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", ctrace_state_name(k), a[k]);
    first = 0;
  }
  fputc('}', f);
}

void ctrace_diff_json(FILE *f, const struct ctrace_diff *d, const char *before, const char *after) {
  static const char *const stat[4] = {"p50", "p90", "p99", "max"};
  fputs("{\"before\":", f);
  str(f, before);
  fputs(",\"after\":", f);
  str(f, after);
  fprintf(f,
          ",\"rule\":{\"threshold_pct\":%g,\"min_change_ns\":%" PRId64
          ",\"alpha\":%g},\"significant\":%zu",
          d->opts.threshold_pct, d->opts.min_change_ns, d->opts.alpha, d->nsignificant);
  fputs(",\"names\":[", f);
  for (size_t i = 0; i < d->nnames; i++) {
    const struct ctrace_diff_name *e = &d->names[i];
    fprintf(f, "%s{\"kind\":\"%s\",\"name\":", i ? "," : "", e->region ? "region" : "task");
    str(f, e->name);
    fputs(",\"before\":", f);
    lat(f, &e->a);
    fputs(",\"after\":", f);
    lat(f, &e->b);
    fprintf(f, ",\"p_value\":%.6g,\"significant\":[", e->p);
    int first = 1;
    for (int k = 0; k < 4; k++)
      if (e->significant & (1 << k)) {
        fprintf(f, "%s\"%s\"", first ? "" : ",", stat[k]);
        first = 0;
      }
    if (e->significant & (1 << 4))
      fprintf(f, "%s\"%s\"", first ? "" : ",", e->a.count ? "gone" : "new");
    fputs("]}", f);
  }
  fputs("],\"threads\":[", f);
  for (size_t i = 0; i < d->ngroups; i++) {
    const struct ctrace_diff_group *g = &d->groups[i];
    fprintf(f, "%s{\"name\":", i ? "," : "");
    str(f, g->name);
    fprintf(f, ",\"threads_before\":%u,\"threads_after\":%u,\"before\":", g->na, g->nb);
    states(f, g->a, g->b);
    fputs(",\"after\":", f);
    states(f, g->b, g->a);
    fputs(",\"significant\":[", f);
    int first = 1;
    for (unsigned k = 0; k <= CTRACE_ST_COUNT; k++)
      if (g->significant & (1u << k)) {
        fprintf(f, "%s\"%s\"", first ? "" : ",",
                k == CTRACE_ST_COUNT ? (g->na ? "gone" : "new") : ctrace_state_name(k));
        first = 0;
      }
    fputs("]}", f);
  }
  fputs("]}\n", f);
}
