/*
 * cmd_diff.c - `ctrace diff BEFORE AFTER`: two traces compared
 * (src/analyze/diff.h): per task and region name, count and latency
 * percentiles before, after and the change, the largest regression first;
 * per group of threads of one name, time in each state; the blocking
 * profiles of both as pprof files for `go tool pprof -diff_base`; and
 * --fail-if conditions for CI.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../analyze/diff.h"
#include "../analyze/pprof.h"
#include "../analyze/profile.h"
#include "../read/symbolize.h"
#include "../serve/diff_json.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_diff_def = {"diff", ctrace_cmd_diff, CTRACE_HELP_diff,
                                               CTRACE_USAGE_diff};

#define MAX_CONDS 16

static const char *human(double ns, char *buf, size_t size) {
  double a = fabs(ns);
  if (a < 1000)
    snprintf(buf, size, "%.0fns", ns);
  else if (a < 1e6)
    snprintf(buf, size, "%.1fus", ns / 1e3);
  else if (a < 1e9)
    snprintf(buf, size, "%.2fms", ns / 1e6);
  else
    snprintf(buf, size, "%.3fs", ns / 1e9);
  return buf;
}

static void change(double before, double after, char *buf, size_t size) {
  char d[32];
  human(after - before, d, sizeof d);
  if (before > 0)
    snprintf(buf, size, "%s%s (%+.1f%%)", after >= before ? "+" : "", d,
             100.0 * (after - before) / before);
  else
    snprintf(buf, size, "%s%s", after >= before ? "+" : "", d);
}

static void print_names(const struct ctrace_diff *d) {
  static const char *const stat[4] = {"p50", "p90", "p99", "max"};
  printf("tasks and regions (significant changes first, then the largest p50 regression):\n");
  if (!d->nnames)
    printf("  (none in either trace)\n");
  for (size_t i = 0; i < d->nnames; i++) {
    const struct ctrace_diff_name *e = &d->names[i];
    const char *verdict = !e->significant            ? ""
                          : e->significant & (1 << 4) ? (e->a.count ? "  GONE" : "  NEW")
                          : e->b.p50 > e->a.p50 || e->b.p99 > e->a.p99 ? "  SIGNIFICANT: slower"
                                                                       : "  SIGNIFICANT: faster";
    printf("\n  %s %s  count %" PRIu64 " -> %" PRIu64 "%s\n", e->region ? "region" : "task", e->name,
           e->a.count, e->b.count, verdict);
    if (!e->a.count || !e->b.count)
      continue;
    printf("    durations differ: Mann-Whitney p = %.2g%s\n", e->p,
           e->p < d->opts.alpha ? "" : " (not below alpha: no percentile is significant)");
    printf("    %-4s %12s %12s  %s\n", "", "before", "after", "change");
    const int64_t av[4] = {e->a.p50, e->a.p90, e->a.p99, e->a.max};
    const int64_t bv[4] = {e->b.p50, e->b.p90, e->b.p99, e->b.max};
    for (int k = 0; k < 4; k++) {
      char a[32], b[32], c[48];
      change((double)av[k], (double)bv[k], c, sizeof c);
      printf("    %-4s %12s %12s  %s%s\n", stat[k], human((double)av[k], a, sizeof a),
             human((double)bv[k], b, sizeof b), c, e->significant & (1 << k) ? "  *" : "");
    }
  }
}

static void print_groups(const struct ctrace_diff *d) {
  printf("\nthreads, grouped by name: time in each state\n");
  for (size_t i = 0; i < d->ngroups; i++) {
    const struct ctrace_diff_group *g = &d->groups[i];
    printf("\n  %s%s%s  threads %u -> %u%s\n", g->name[0] ? "\"" : "",
           g->name[0] ? g->name : "(unnamed threads)", g->name[0] ? "\"" : "", g->na, g->nb,
           g->significant & (1u << CTRACE_ST_COUNT) ? (g->na ? "  GONE" : "  NEW") : "");
    if (!g->na || !g->nb)
      continue;
    printf("    %-13s %12s %12s  %s\n", "", "before", "after", "change");
    for (unsigned k = 0; k < CTRACE_ST_COUNT; k++) {
      if (!g->a[k] && !g->b[k])
        continue;
      char a[32], b[32], c[48];
      change((double)g->a[k], (double)g->b[k], c, sizeof c);
      printf("    %-13s %12s %12s  %s%s\n", ctrace_state_name(k), human((double)g->a[k], a, sizeof a),
             human((double)g->b[k], b, sizeof b), c, g->significant & (1u << k) ? "  *" : "");
    }
  }
}

/* Every blocking kind of r in one pprof file, each under a frame "KIND". */
static int write_blocking(const ctrace_reader *r, const char *out) {
  struct ctrace_profile p[CTRACE_PROFILE_NBLOCKING];
  size_t n = 0;
  int rc = -1, built = 0;
  char(*calls)[CTRACE_PPROF_CALL_MAX] = NULL;
  for (int k = 0; k < CTRACE_PROFILE_NBLOCKING; k++, built++) {
    if (ctrace_profile_build(r, (enum ctrace_profile_kind)k, INT64_MIN, INT64_MAX, 0, &p[k]) < 0)
      goto done;
    n += p[k].n;
  }
  struct ctrace_pprof_sample *v = calloc(n ? n : 1, sizeof *v);
  calls = calloc(n ? n : 1, sizeof *calls);
  if (!v || !calls) {
    free(v);
    goto done;
  }
  size_t j = 0;
  for (int k = 0; k < CTRACE_PROFILE_NBLOCKING; k++)
    for (size_t i = 0; i < p[k].n; i++, j++)
      v[j] = (struct ctrace_pprof_sample){
          p[k].v[i].stack,
          ctrace_profile_call_frame(&p[k].v[i], calls[j], sizeof calls[j]),
          {ctrace_profile_kind_name((enum ctrace_profile_kind)k), NULL},
          p[k].v[i].count,
          p[k].v[i].total_ns};
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  uint8_t *buf;
  size_t len;
  if (ctrace_pprof_write_samples(r, sym, v, n, "contentions", "delay",
                                 "ctrace blocking profile: every kind", &buf, &len) == 0) {
    FILE *f = fopen(out, "wb");
    if (f) {
      size_t w = fwrite(buf, 1, len, f);
      rc = fclose(f) == 0 && w == len ? 0 : -1;
    }
    free(buf);
  }
  ctrace_sym_free(sym);
  free(v);
done:
  free(calls);
  for (int k = 0; k < built; k++)
    ctrace_profile_free(&p[k]);
  return rc;
}

int ctrace_cmd_diff(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_diff_def;
  const char *paths[2] = {NULL, NULL}, *pprof[2] = {NULL, NULL};
  const char *conds_s[MAX_CONDS];
  struct ctrace_diff_cond conds[MAX_CONDS];
  int nconds = 0, json = 0;
  struct ctrace_diff_opts o = CTRACE_DIFF_OPTS_DEFAULT;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (ctrace_cli_wants_help(cmd, a))
      return CTRACE_EXIT_OK;
    int takes = strcmp(a, "--fail-if") == 0 || strcmp(a, "--pprof-base") == 0 ||
                strcmp(a, "--pprof") == 0 || strcmp(a, "--threshold") == 0 ||
                strcmp(a, "--min-change") == 0;
    if (takes && i + 1 >= argc)
      return ctrace_cli_usage_error(cmd, "option '%s' needs a value", a);
    const char *v = takes ? argv[++i] : NULL;
    if (strcmp(a, "--fail-if") == 0) {
      char err[512];
      if (nconds == MAX_CONDS)
        return ctrace_cli_usage_error(cmd, "at most %d --fail-if", MAX_CONDS);
      if (ctrace_diff_cond_parse(v, &conds[nconds], err, sizeof err) < 0)
        return ctrace_cli_usage_error(cmd, "--fail-if %s", err);
      conds_s[nconds++] = v;
    } else if (strcmp(a, "--pprof-base") == 0) {
      pprof[0] = v;
    } else if (strcmp(a, "--pprof") == 0) {
      pprof[1] = v;
    } else if (strcmp(a, "--threshold") == 0) {
      char *e;
      o.threshold_pct = strtod(v, &e);
      if (e == v || *e || !(o.threshold_pct >= 0))
        return ctrace_cli_usage_error(cmd, "bad percentage '%s'", v);
    } else if (strcmp(a, "--min-change") == 0) {
      if (ctrace_cli_parse_time(v, &o.min_change_ns) < 0 || o.min_change_ns < 0)
        return ctrace_cli_usage_error(cmd, "bad time '%s' (e.g. 500us, 1ms)", v);
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (a[0] == '-' && a[1]) {
      return ctrace_cli_usage_error(cmd, "unknown option '%s'", a);
    } else if (!paths[0]) {
      paths[0] = a;
    } else if (!paths[1]) {
      paths[1] = a;
    } else {
      return ctrace_cli_usage_error(cmd, "two traces: BEFORE AFTER");
    }
  }
  if (!paths[1])
    return ctrace_cli_usage_error(cmd, "two traces needed: BEFORE AFTER");
  ctrace_reader *r[2] = {NULL, NULL};
  struct ctrace_timeline *tl[2] = {NULL, NULL};
  int status = CTRACE_EXIT_OK;
  for (int k = 0; k < 2; k++) {
    r[k] = ctrace_cli_open("diff", paths[k]);
    if (!r[k]) {
      status = CTRACE_EXIT_FAIL;
      goto out;
    }
    if (ctrace_cli_read_status(r[k]) != CTRACE_EXIT_OK)
      status = CTRACE_EXIT_FAIL;
    if (ctrace_timeline_build(r[k], NULL, NULL, &tl[k]) < 0) {
      fprintf(stderr, "ctrace diff: out of memory\n");
      status = CTRACE_EXIT_FAIL;
      goto out;
    }
  }
  struct ctrace_diff d;
  if (ctrace_diff_build(tl[0], tl[1], &o, &d) < 0) {
    fprintf(stderr, "ctrace diff: out of memory\n");
    status = CTRACE_EXIT_FAIL;
    goto out;
  }
  if (json) {
    ctrace_diff_json(stdout, &d, paths[0], paths[1]);
  } else {
    char mc[32];
    printf("ctrace diff: before %s, after %s\n", paths[0], paths[1]);
    printf("significant: durations that differ (Mann-Whitney p < %g) with a percentile moved by at\n"
           "least %g%% and %s (--threshold, --min-change; p90 needs 10 instances, p99 100);\n"
           "for threads, a state's share moved by %g points and its time by %s\n\n",
           o.alpha, o.threshold_pct, human((double)o.min_change_ns, mc, sizeof mc), o.threshold_pct,
           mc);
    print_names(&d);
    print_groups(&d);
    if (d.nsignificant)
      printf("\n%zu significant change%s (marked *, NEW, GONE)\n", d.nsignificant,
             d.nsignificant == 1 ? "" : "s");
    else
      printf("\nno significant change\n");
  }
  for (int k = 0; k < 2; k++)
    if (pprof[k] && write_blocking(r[k], pprof[k]) < 0) {
      fprintf(stderr, "ctrace diff: cannot write %s: %s\n", pprof[k], strerror(errno));
      status = CTRACE_EXIT_FAIL;
    }
  for (int i = 0; i < nconds; i++) {
    double b, a;
    int h = ctrace_diff_cond_eval(&d, &conds[i], &b, &a);
    int is_count = strcmp(conds[i].stat, "count") == 0;
    char bs[32], as[32];
    if (is_count) {
      snprintf(bs, sizeof bs, "%.0f", b);
      snprintf(as, sizeof as, "%.0f", a);
    } else {
      human(b, bs, sizeof bs);
      human(a, as, sizeof as);
    }
    if (h < 0)
      fprintf(stderr, "ctrace diff: --fail-if '%s': cannot be evaluated (%s missing from a trace): failing\n",
              conds_s[i], conds[i].name);
    else
      fprintf(stderr, "ctrace diff: --fail-if '%s': %s (before %s, after %s)\n", conds_s[i],
              h ? "HOLDS" : "does not hold", bs, as);
    if (h != 0)
      status = CTRACE_EXIT_FAIL;
  }
  ctrace_diff_free(&d);
out:
  if (fflush(stdout) != 0)
    status = CTRACE_EXIT_FAIL;
  for (int k = 0; k < 2; k++) {
    if (tl[k])
      ctrace_timeline_free(tl[k]);
    if (r[k])
      ctrace_reader_close(r[k]);
  }
  return status;
}
