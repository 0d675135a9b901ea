/*
 * diff.c - see diff.h: latencies per name and state times per thread group
 * of two timelines, matched by name; the significance rule; the --fail-if
 * grammar; common histogram buckets.
 */
#include "diff.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *strdup_n(const struct ctrace_string *s) {
  size_t n = s ? s->len : 0;
  char *p = malloc(n + 1);
  if (!p)
    return NULL;
  if (n)
    memcpy(p, s->s, n);
  p[n] = 0;
  return p;
}

int ctrace_diff_is_significant(const struct ctrace_diff_opts *o, int64_t before, int64_t after) {
  int64_t d = after > before ? after - before : before - after;
  double rel = before > 0 ? 100.0 * (double)d / (double)before : (d ? INFINITY : 0);
  return d >= o->min_change_ns && rel >= o->threshold_pct;
}

/* Instances a percentile needs on each side to be judged: below that it is
 * one or two outliers (p99 of 5 requests is their max). */
static uint64_t needs(int k) {
  static const uint64_t n[4] = {1, 10, 100, UINT64_MAX}; /* p50, p90, p99, max: never alone */
  return n[k];
}

/* ---- the Mann-Whitney U test ---- */

struct obs {
  int64_t d;
  int side;
};
static int cmp_obs(const void *x, const void *y) {
  const struct obs *a = x, *b = y;
  return a->d < b->d ? -1 : a->d > b->d;
}

/* Durations of the ended tasks (regions) named name in tl, appended to v
 * with side; returns the new count or -1. */
static long gather(const struct ctrace_timeline *tl, int regions, const char *name,
                   struct obs **v, size_t n, size_t *cap, int side) {
  uint32_t sid = ctrace_timeline_find_string(tl, name, strlen(name));
  if (!sid)
    return (long)n;
  size_t m = regions ? tl->nregions : tl->ntasks;
  for (size_t i = 0; i < m; i++) {
    int64_t d;
    if (regions) {
      if (tl->regions[i].name != sid || tl->regions[i].open)
        continue;
      d = tl->regions[i].end - tl->regions[i].start;
    } else {
      if (tl->tasks[i].name != sid || tl->tasks[i].open)
        continue;
      d = tl->tasks[i].end - tl->tasks[i].start;
    }
    if (n == *cap) {
      size_t nc = *cap ? 2 * *cap : 256;
      struct obs *nv = realloc(*v, nc * sizeof *nv);
      if (!nv)
        return -1;
      *v = nv;
      *cap = nc;
    }
    (*v)[n++] = (struct obs){d, side};
  }
  return (long)n;
}

/* Exact two-sided p-value of U = u for samples of n1 and n2 without ties:
 * the number of orderings with each U is the coefficient of q^U in the
 * Gaussian binomial [n1+n2 choose n1]_q, built as a product of
 * (1 - q^(n2+i)) / (1 - q^i). O(n1 x n1 n2); for n1 + n2 <= 50. */
static double mwu_exact(int n1, int n2, double u) {
  int deg = n1 * n2;
  double *c = calloc((size_t)deg + 1, sizeof *c);
  if (!c)
    return -1;
  c[0] = 1;
  for (int i = 1; i <= n1; i++) {
    int a = n2 + i;
    for (int k = deg; k >= a; k--) /* times (1 - q^a) */
      c[k] -= c[k - a];
    for (int k = i; k <= deg; k++) /* over (1 - q^i) */
      c[k] += c[k - i];
  }
  double total = 0, le = 0, ge = 0;
  for (int k = 0; k <= deg; k++) {
    total += c[k];
    if (k <= u + 1e-9)
      le += c[k];
    if (k >= u - 1e-9)
      ge += c[k];
  }
  free(c);
  double p = 2 * (le < ge ? le : ge) / total;
  return p > 1 ? 1 : p;
}

/* Two-sided p-value that the durations of name differ between a and b:
 * exact for small samples without ties, else the normal approximation of
 * U with a continuity and a tie correction.
 * 1 when either side is empty; -1 when out of memory. O(n log n). */
static double mwu_p(const struct ctrace_timeline *a, const struct ctrace_timeline *b, int regions,
                    const char *name) {
  struct obs *v = NULL;
  size_t cap = 0;
  long n = gather(a, regions, name, &v, 0, &cap, 0);
  if (n >= 0)
    n = gather(b, regions, name, &v, (size_t)n, &cap, 1);
  if (n < 0) {
    free(v);
    return -1;
  }
  double n1 = 0, n2 = 0, r1 = 0, ties = 0;
  qsort(v, (size_t)n, sizeof *v, cmp_obs);
  for (long i = 0; i < n;) {
    long j = i;
    while (j < n && v[j].d == v[i].d)
      j++;
    double rank = (double)(i + 1 + j) / 2.0, t = (double)(j - i);
    ties += t * t * t - t;
    for (long k = i; k < j; k++) {
      if (v[k].side == 0) {
        n1++;
        r1 += rank;
      } else {
        n2++;
      }
    }
    i = j;
  }
  free(v);
  if (!n1 || !n2)
    return 1;
  if (ties == 0 && n1 + n2 <= 50)
    return mwu_exact((int)n1, (int)n2, r1 - n1 * (n1 + 1) / 2);
  double N = n1 + n2, u = r1 - n1 * (n1 + 1) / 2, mu = n1 * n2 / 2;
  double var = n1 * n2 / 12.0 * ((N + 1) - ties / (N * (N - 1)));
  if (var <= 0)
    return 1; /* every duration equal */
  double z = (fabs(u - mu) - 0.5) / sqrt(var);
  if (z < 0)
    z = 0;
  return erfc(z / sqrt(2.0));
}

/* ---- names ---- */

struct names {
  struct ctrace_diff_name *v;
  size_t n, cap;
};

static struct ctrace_diff_name *name_slot(struct names *ns, int region, const struct ctrace_string *s) {
  for (size_t i = 0; i < ns->n; i++) /* O(names^2): names are tens, not thousands */
    if (ns->v[i].region == region && s && strlen(ns->v[i].name) == s->len &&
        memcmp(ns->v[i].name, s->s, s->len) == 0)
      return &ns->v[i];
  if (ns->n == ns->cap) {
    size_t nc = ns->cap ? 2 * ns->cap : 32;
    struct ctrace_diff_name *nv = realloc(ns->v, nc * sizeof *nv);
    if (!nv)
      return NULL;
    ns->v = nv;
    ns->cap = nc;
  }
  struct ctrace_diff_name *e = &ns->v[ns->n];
  memset(e, 0, sizeof *e);
  e->region = region;
  e->name = strdup_n(s);
  if (!e->name)
    return NULL;
  ns->n++;
  return e;
}

static int add_latencies(struct names *ns, const struct ctrace_timeline *tl, int after) {
  for (int region = 0; region < 2; region++) {
    struct ctrace_tl_latency *L;
    long n = ctrace_timeline_latency(tl, region, &L);
    if (n < 0)
      return -ENOMEM;
    for (long i = 0; i < n; i++) {
      struct ctrace_diff_name *e = name_slot(ns, region, ctrace_reader_string(tl->r, L[i].name));
      if (!e) {
        free(L);
        return -ENOMEM;
      }
      struct ctrace_diff_lat *x = after ? &e->b : &e->a;
      *x = (struct ctrace_diff_lat){L[i].count, L[i].min, L[i].p50, L[i].p90, L[i].p99, L[i].max};
    }
    free(L);
  }
  return 0;
}

static int cmp_name(const void *x, const void *y) {
  const struct ctrace_diff_name *a = x, *b = y;
  if ((a->significant != 0) != (b->significant != 0))
    return a->significant ? -1 : 1;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  if (a->region != b->region)
    return a->region - b->region;
  return strcmp(a->name, b->name);
}

/* ---- thread groups ---- */

struct groups {
  struct ctrace_diff_group *v;
  size_t n, cap;
};

static int add_threads(struct groups *gs, const struct ctrace_timeline *tl, int after) {
  for (uint32_t t = 0; t < tl->nthreads; t++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(tl->r, tl->threads[t].index);
    const struct ctrace_string *s = ctrace_reader_string(tl->r, ti->name);
    size_t len = s ? s->len : 0;
    struct ctrace_diff_group *g = NULL;
    for (size_t i = 0; i < gs->n && !g; i++)
      if (strlen(gs->v[i].name) == len && (!len || memcmp(gs->v[i].name, s->s, len) == 0))
        g = &gs->v[i];
    if (!g) {
      if (gs->n == gs->cap) {
        size_t nc = gs->cap ? 2 * gs->cap : 16;
        struct ctrace_diff_group *nv = realloc(gs->v, nc * sizeof *nv);
        if (!nv)
          return -ENOMEM;
        gs->v = nv;
        gs->cap = nc;
      }
      g = &gs->v[gs->n];
      memset(g, 0, sizeof *g);
      g->name = strdup_n(s);
      if (!g->name)
        return -ENOMEM;
      gs->n++;
    }
    uint64_t *st = after ? g->b : g->a;
    for (unsigned k = 0; k < CTRACE_ST_COUNT; k++)
      st[k] += tl->threads[t].state_ns[k];
    if (after)
      g->nb++;
    else
      g->na++;
  }
  return 0;
}

static int cmp_group(const void *x, const void *y) {
  return strcmp(((const struct ctrace_diff_group *)x)->name,
                ((const struct ctrace_diff_group *)y)->name);
}

int ctrace_diff_build(const struct ctrace_timeline *a, const struct ctrace_timeline *b,
                      const struct ctrace_diff_opts *o, struct ctrace_diff *out) {
  memset(out, 0, sizeof *out);
  out->opts = *o;
  struct names ns = {0};
  struct groups gs = {0};
  if (add_latencies(&ns, a, 0) < 0 || add_latencies(&ns, b, 1) < 0 || add_threads(&gs, a, 0) < 0 ||
      add_threads(&gs, b, 1) < 0) {
    out->names = ns.v;
    out->nnames = ns.n;
    out->groups = gs.v;
    out->ngroups = gs.n;
    ctrace_diff_free(out);
    return -ENOMEM;
  }
  for (size_t i = 0; i < ns.n; i++) {
    struct ctrace_diff_name *e = &ns.v[i];
    if (!e->a.count || !e->b.count) {
      e->significant = 1 << 4;
      e->score = e->b.count ? INFINITY : -INFINITY;
    } else {
      const int64_t av[4] = {e->a.p50, e->a.p90, e->a.p99, e->a.max};
      const int64_t bv[4] = {e->b.p50, e->b.p90, e->b.p99, e->b.max};
      e->p = mwu_p(a, b, e->region, e->name);
      if (e->p < 0) {
        out->names = ns.v;
        out->nnames = ns.n;
        out->groups = gs.v;
        out->ngroups = gs.n;
        ctrace_diff_free(out);
        return -ENOMEM;
      }
      for (int k = 0; k < 4; k++)
        if (e->p < o->alpha && e->a.count >= needs(k) && e->b.count >= needs(k) &&
            ctrace_diff_is_significant(o, av[k], bv[k]))
          e->significant |= 1 << k;
      e->score = (double)(e->b.p50 - e->a.p50) / (double)(e->a.p50 > 0 ? e->a.p50 : 1);
    }
    out->nsignificant += e->significant != 0;
  }
  if (ns.n)
    qsort(ns.v, ns.n, sizeof *ns.v, cmp_name);
  for (size_t i = 0; i < gs.n; i++) {
    struct ctrace_diff_group *g = &gs.v[i];
    if (!g->na || !g->nb) {
      g->significant = 1u << CTRACE_ST_COUNT;
    } else {
      /* a state's share of the group's time, in points, and its time */
      uint64_t ta = 0, tb = 0;
      for (unsigned k = 0; k < CTRACE_ST_COUNT; k++)
        ta += g->a[k], tb += g->b[k];
      for (unsigned k = 0; k < CTRACE_ST_COUNT; k++) {
        double sa = ta ? 100.0 * (double)g->a[k] / (double)ta : 0;
        double sb = tb ? 100.0 * (double)g->b[k] / (double)tb : 0;
        int64_t d = (int64_t)g->b[k] - (int64_t)g->a[k];
        if (fabs(sb - sa) >= o->threshold_pct && (d < 0 ? -d : d) >= o->min_change_ns)
          g->significant |= 1u << k;
      }
    }
    out->nsignificant += g->significant != 0;
  }
  if (gs.n)
    qsort(gs.v, gs.n, sizeof *gs.v, cmp_group);
  out->names = ns.v;
  out->nnames = ns.n;
  out->groups = gs.v;
  out->ngroups = gs.n;
  return 0;
}

void ctrace_diff_free(struct ctrace_diff *d) {
  for (size_t i = 0; i < d->nnames; i++)
    free(d->names[i].name);
  for (size_t i = 0; i < d->ngroups; i++)
    free(d->groups[i].name);
  free(d->names);
  free(d->groups);
  memset(d, 0, sizeof *d);
}

const struct ctrace_diff_name *ctrace_diff_find(const struct ctrace_diff *d, const char *name) {
  for (int region = 0; region < 2; region++)
    for (size_t i = 0; i < d->nnames; i++)
      if (d->names[i].region == region && strcmp(d->names[i].name, name) == 0)
        return &d->names[i];
  return NULL;
}

/* ---- --fail-if ---- */

static const char *skip_ws(const char *p) {
  while (isspace((unsigned char)*p))
    p++;
  return p;
}

int ctrace_diff_cond_parse(const char *s, struct ctrace_diff_cond *c, char *err, size_t errlen) {
  static const char *const stats[] = {"count", "min", "p50", "p90", "p99", "max"};
  memset(c, 0, sizeof *c);
  const char *p = skip_ws(s);
  size_t k = 0;
  while (isalnum((unsigned char)p[k]))
    k++;
  int ok = 0;
  for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++)
    ok |= strlen(stats[i]) == k && strncmp(stats[i], p, k) == 0;
  if (!ok) {
    snprintf(err, errlen, "'%s': expected count, min, p50, p90, p99 or max, then (NAME)", s);
    return -1;
  }
  memcpy(c->stat, p, k);
  p = skip_ws(p + k);
  const char *close = *p == '(' ? strrchr(p, ')') : NULL;
  if (!close || close == p + 1 || (size_t)(close - p - 1) >= sizeof c->name) {
    snprintf(err, errlen, "'%s': expected %s(NAME)", s, c->stat);
    return -1;
  }
  memcpy(c->name, p + 1, (size_t)(close - p - 1));
  p = skip_ws(close + 1);
  size_t ol = (p[0] == '>' || p[0] == '<') ? (p[1] == '=' ? 2 : 1) : 0;
  if (!ol) {
    snprintf(err, errlen, "'%s': expected >, >=, < or <= after %s(%s)", s, c->stat, c->name);
    return -1;
  }
  memcpy(c->op, p, ol);
  p = skip_ws(p + ol);
  int is_count = strcmp(c->stat, "count") == 0;
  char *end;
  errno = 0;
  int sign = *p == '+' || *p == '-';
  double v = strtod(p, &end);
  if (end == p || errno || !isfinite(v)) {
    snprintf(err, errlen, "'%s': expected a limit: 1.1x, +5ms or 100ms", s);
    return -1;
  }
  const char *u = end;
  double mult = 1;
  if (strcmp(u, "x") == 0) {
    c->mode = 1;
    if (sign || v <= 0) {
      snprintf(err, errlen, "'%s': a ratio is a positive number before x (1.1x)", s);
      return -1;
    }
  } else {
    c->mode = sign ? 2 : 0;
    if (is_count) {
      if (*u) {
        snprintf(err, errlen, "'%s': a count's limit is a number, +N or a ratio (0.9x)", s);
        return -1;
      }
    } else if (strcmp(u, "ns") == 0) {
      mult = 1;
    } else if (strcmp(u, "us") == 0) {
      mult = 1e3;
    } else if (strcmp(u, "ms") == 0) {
      mult = 1e6;
    } else if (strcmp(u, "s") == 0) {
      mult = 1e9;
    } else {
      snprintf(err, errlen, "'%s': a time limit needs a unit (ns, us, ms, s) or x for a ratio", s);
      return -1;
    }
  }
  c->limit = v * mult;
  return 0;
}

static double stat_of(const struct ctrace_diff_lat *l, const char *stat) {
  if (strcmp(stat, "count") == 0)
    return (double)l->count;
  if (strcmp(stat, "min") == 0)
    return (double)l->min;
  if (strcmp(stat, "p50") == 0)
    return (double)l->p50;
  if (strcmp(stat, "p90") == 0)
    return (double)l->p90;
  if (strcmp(stat, "p99") == 0)
    return (double)l->p99;
  return (double)l->max;
}

int ctrace_diff_cond_eval(const struct ctrace_diff *d, const struct ctrace_diff_cond *c,
                          double *before, double *after) {
  const struct ctrace_diff_name *e = ctrace_diff_find(d, c->name);
  int is_count = strcmp(c->stat, "count") == 0;
  static const struct ctrace_diff_name none; /* a name in neither trace: counts 0 */
  *before = *after = 0;
  if (!e && !is_count)
    return -1;
  if (!e)
    e = &none;
  *before = stat_of(&e->a, c->stat);
  *after = stat_of(&e->b, c->stat);
  if (!is_count && ((c->mode != 0 && !e->a.count) || !e->b.count))
    return -1; /* a latency of a name missing from a trace: nothing to compare */
  double x;
  if (c->mode == 1) {
    if (*before <= 0)
      return -1;
    x = *after / *before;
  } else if (c->mode == 2) {
    x = *after - *before;
  } else {
    x = *after;
  }
  if (strcmp(c->op, ">") == 0)
    return x > c->limit;
  if (strcmp(c->op, ">=") == 0)
    return x >= c->limit;
  if (strcmp(c->op, "<") == 0)
    return x < c->limit;
  return x <= c->limit;
}

/* ---- histograms on common buckets ---- */

static void durations(const struct ctrace_timeline *tl, int regions, const char *name,
                      int64_t *lo, int64_t *hi, uint64_t *n, int nb, const int64_t *blo,
                      const int64_t *bhi, uint64_t *count) {
  uint32_t sid = ctrace_timeline_find_string(tl, name, strlen(name));
  if (!sid)
    return;
  size_t m = regions ? tl->nregions : tl->ntasks;
  for (size_t i = 0; i < m; i++) {
    int64_t d;
    if (regions) {
      if (tl->regions[i].name != sid || tl->regions[i].open)
        continue;
      d = tl->regions[i].end - tl->regions[i].start;
    } else {
      if (tl->tasks[i].name != sid || tl->tasks[i].open)
        continue;
      d = tl->tasks[i].end - tl->tasks[i].start;
    }
    if (count) {
      int k = 0;
      while (k + 1 < nb && d >= bhi[k])
        k++;
      (void)blo;
      count[k]++;
      continue;
    }
    if (!*n || d < *lo)
      *lo = d;
    if (!*n || d > *hi)
      *hi = d;
    (*n)++;
  }
}

int ctrace_diff_histogram(const struct ctrace_timeline *a, const struct ctrace_timeline *b,
                          int regions, const char *name, int nb, int64_t *lo, int64_t *hi,
                          uint64_t *ca, uint64_t *cb) {
  int64_t mn = 0, mx = 0;
  uint64_t n = 0;
  durations(a, regions, name, &mn, &mx, &n, 0, NULL, NULL, NULL);
  durations(b, regions, name, &mn, &mx, &n, 0, NULL, NULL, NULL);
  if (!n)
    return 0;
  if (nb > 64)
    nb = 64;
  if (nb < 1 || mx == mn)
    nb = 1;
  double l = mn > 0 ? (double)mn : 1.0, h = (double)mx + 1.0, ratio = log(h / l);
  for (int k = 0; k < nb; k++) {
    lo[k] = k == 0 ? mn : (int64_t)(l * exp(ratio * k / nb));
    hi[k] = k + 1 == nb ? mx + 1 : (int64_t)(l * exp(ratio * (k + 1) / nb));
    ca[k] = cb[k] = 0;
  }
  durations(a, regions, name, &mn, &mx, &n, nb, lo, hi, ca);
  durations(b, regions, name, &mn, &mx, &n, nb, lo, hi, cb);
  return nb;
}
