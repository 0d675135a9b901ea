/*
 * diff.h - two traces compared: per task and region name, count and
 * latency percentiles before and after; per group of threads of one name,
 * time in each state before and after; which changes are significant; and
 * the conditions of `ctrace diff --fail-if`.
 *
 * Significant, for a task or region name: the Mann-Whitney U test says its
 * durations differ (two-sided p < alpha, default 0.01: robust to a few
 * outliers, which a loaded machine makes), AND a percentile moved by at
 * least threshold_pct percent of its value before and by at least
 * min_change_ns, either way. A percentile is judged only with enough
 * instances on both sides (p50: 1, p90: 10, p99: 100; max never: it is one
 * instance). For a thread group, a state is significant when its share of
 * the group's time moved by threshold_pct points and its time by
 * min_change_ns. A name or thread group present in only one trace is
 * significant too. The defaults come from two runs of the HTTP example on
 * a 2-core machine at a load average of 24: their p50s differed by up to
 * 11 % (Mann-Whitney p = 0.005), real differences of a machine that was
 * busier during one run, which a CI verdict should not call regressions.
 *
 * Names are matched by their text (string ids differ between traces).
 * Not here: printing and JSON (src/cli/cmd_diff.c, src/serve/).
 */
#ifndef CTRACE_DIFF_H
#define CTRACE_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "timeline.h"

struct ctrace_diff_opts {
  double threshold_pct;  /* default 20 */
  int64_t min_change_ns; /* default 1 ms */
  double alpha;          /* default 0.01 */
};
#define CTRACE_DIFF_OPTS_DEFAULT {20.0, 1000000, 0.01}

/* Latency of one name in one trace; count 0 when absent. */
struct ctrace_diff_lat {
  uint64_t count;
  int64_t min, p50, p90, p99, max;
};

struct ctrace_diff_name {
  int region;  /* 0 task, 1 region */
  char *name;  /* NUL-terminated copy */
  struct ctrace_diff_lat a, b; /* before, after */
  int significant; /* bit 0 p50, 1 p90, 2 p99, 3 max; bit 4: in one trace only */
  double p;        /* Mann-Whitney U test, two-sided: the durations differ */
  double score;    /* the order: largest regression first */
};

struct ctrace_diff_group {
  char *name;          /* thread name; "" for unnamed threads */
  uint32_t na, nb;     /* threads in each trace */
  uint64_t a[CTRACE_ST_COUNT], b[CTRACE_ST_COUNT];
  unsigned significant; /* bit per state; 1 << CTRACE_ST_COUNT: in one trace only */
};

struct ctrace_diff {
  struct ctrace_diff_opts opts;
  struct ctrace_diff_name *names; /* significant first, then by score */
  size_t nnames;
  struct ctrace_diff_group *groups; /* by name */
  size_t ngroups;
  size_t nsignificant; /* names and groups with any significant change */
};

/* 1 when before -> after is significant under o. */
int ctrace_diff_is_significant(const struct ctrace_diff_opts *o, int64_t before, int64_t after);

/* Compares a (before) with b (after). 0 or -ENOMEM. */
int ctrace_diff_build(const struct ctrace_timeline *a, const struct ctrace_timeline *b,
                      const struct ctrace_diff_opts *o, struct ctrace_diff *out);
void ctrace_diff_free(struct ctrace_diff *d);
/* The entry of a task (else region) name; NULL when in neither trace. */
const struct ctrace_diff_name *ctrace_diff_find(const struct ctrace_diff *d, const char *name);

/*
 * --fail-if conditions: STAT(NAME) OP LIMIT, where
 *   STAT   count | min | p50 | p90 | p99 | max
 *   NAME   a task name, else a region name (anything but ')')
 *   OP     > | >= | < | <=
 *   LIMIT  1.1x      the ratio after / before
 *          +5ms      the change after - before (also -5ms; units ns, us, ms, s)
 *          100ms     the value after
 * e.g. 'p99(handleRequest) > 1.1x', 'p50(db.query) >= +20ms',
 * 'count(handleRequest) < 100'. count's limits are plain numbers ("100",
 * "+10", "0.9x").
 */
struct ctrace_diff_cond {
  char stat[8];
  char name[256];
  char op[3];
  int mode; /* 0 value after, 1 ratio, 2 change */
  double limit;
};
/* 0, or -1 with a message in err. */
int ctrace_diff_cond_parse(const char *s, struct ctrace_diff_cond *c, char *err, size_t errlen);
/* 1 when the condition holds, 0 when not, -1 when it cannot be evaluated
 * (the name is missing from a trace it needs; a ratio over 0); *before and
 * *after get the values compared (ns, or a count). */
int ctrace_diff_cond_eval(const struct ctrace_diff *d, const struct ctrace_diff_cond *c,
                          double *before, double *after);

/* Both traces' durations of one name on common log-spaced buckets (up to
 * nb, at most 64): lo[i] inclusive, hi[i] exclusive. Returns the bucket
 * count (0 when the name has no ended instance in either). */
int ctrace_diff_histogram(const struct ctrace_timeline *a, const struct ctrace_timeline *b,
                          int regions, const char *name, int nb, int64_t *lo, int64_t *hi,
                          uint64_t *ca, uint64_t *cb);

#endif /* CTRACE_DIFF_H */
