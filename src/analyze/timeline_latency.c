/*
 * timeline_latency.c - per-name latency statistics of tasks and regions
 * (count, percentiles, a log-spaced histogram) and their longest instances
 * with where their time went.
 */
#include "timeline_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "../base/vec.h"

struct item {
  uint32_t name;
  int64_t dur;
  size_t idx;
};
static int cmp_item_name_dur(const void *a, const void *b) {
  const struct item *x = a, *y = b;
  if (x->name != y->name)
    return x->name < y->name ? -1 : 1;
  return x->dur < y->dur ? -1 : x->dur > y->dur;
}
static int cmp_item_dur_desc(const void *a, const void *b) {
  const struct item *x = a, *y = b;
  if (x->dur != y->dur)
    return x->dur > y->dur ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static struct item *collect(const struct ctrace_timeline *tl, int regions, size_t *n) {
  size_t cap = regions ? tl->nregions : tl->ntasks;
  struct item *v = ctrace__big_malloc((cap ? cap : 1) * sizeof *v);
  if (!v)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < cap; i++) {
    if (regions) {
      if (tl->regions[i].open)
        continue;
      v[k++] = (struct item){tl->regions[i].name, tl->regions[i].end - tl->regions[i].start, i};
    } else {
      if (tl->tasks[i].open)
        continue;
      v[k++] = (struct item){tl->tasks[i].name, tl->tasks[i].end - tl->tasks[i].start, i};
    }
  }
  *n = k;
  return v;
}

static int64_t pct(const struct item *v, size_t n, double p) {
  size_t r = (size_t)ceil(p * (double)n);
  if (r < 1)
    r = 1;
  return v[r - 1].dur;
}

long ctrace_timeline_latency(const struct ctrace_timeline *tl, int regions,
                             struct ctrace_tl_latency **out) {
  size_t n;
  struct item *v = collect(tl, regions, &n);
  if (!v)
    return -ENOMEM;
  qsort(v, n, sizeof *v, cmp_item_name_dur);
  size_t groups = 0;
  for (size_t i = 0; i < n; i++)
    groups += i == 0 || v[i].name != v[i - 1].name;
  struct ctrace_tl_latency *L = calloc(groups ? groups : 1, sizeof *L);
  if (!L) {
    free(v);
    return -ENOMEM;
  }
  size_t g = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j].name == v[i].name)
      j++;
    struct ctrace_tl_latency *l = &L[g++];
    size_t c = j - i;
    l->name = v[i].name;
    l->count = c;
    l->min = v[i].dur;
    l->max = v[j - 1].dur;
    l->p50 = pct(v + i, c, 0.50);
    l->p90 = pct(v + i, c, 0.90);
    l->p99 = pct(v + i, c, 0.99);
    /* log-spaced buckets from min to max: latencies spread over decades */
    double lo = l->min > 0 ? (double)l->min : 1.0, hi = (double)l->max + 1.0;
    unsigned nb = l->max > l->min ? CTRACE_TL_HIST_BUCKETS : 1;
    if (c < nb)
      nb = c < 4 ? (l->max > l->min ? 4 : 1) : (unsigned)c;
    l->nbuckets = nb;
    double ratio = log(hi / lo);
    for (unsigned b = 0; b < nb; b++) {
      l->lo[b] = b == 0 ? l->min : (int64_t)(lo * exp(ratio * b / nb));
      l->hi[b] = b + 1 == nb ? l->max + 1 : (int64_t)(lo * exp(ratio * (b + 1) / nb));
    }
    for (size_t k = i; k < j; k++) {
      unsigned b = 0;
      while (b + 1 < nb && v[k].dur >= l->hi[b])
        b++;
      l->hist[b]++;
    }
    i = j;
  }
  free(v);
  /* the names' instances that never ended (L is sorted by name) */
  size_t all = regions ? tl->nregions : tl->ntasks;
  for (size_t i = 0; i < all; i++) {
    int open = regions ? tl->regions[i].open : (int)tl->tasks[i].open;
    if (!open)
      continue;
    uint32_t name = regions ? tl->regions[i].name : tl->tasks[i].name;
    size_t lo = 0, hi = groups;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (L[mid].name < name)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < groups && L[lo].name == name)
      L[lo].unended++;
  }
  *out = L;
  return (long)groups;
}

uint64_t ctrace_timeline_unended(const struct ctrace_timeline *tl, int regions) {
  uint64_t n = 0;
  if (regions)
    for (size_t i = 0; i < tl->nregions; i++)
      n += tl->regions[i].open;
  else
    for (size_t i = 0; i < tl->ntasks; i++)
      n += tl->tasks[i].open;
  return n;
}

/* The heap of the longest instances seen so far: its root is the one that
 * sorts last (cmp_item_dur_desc), the first to leave for a longer one. */
static void sift_down(struct item *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && cmp_item_dur_desc(&h[l], &h[m]) > 0)
      m = l;
    if (r < n && cmp_item_dur_desc(&h[r], &h[m]) > 0)
      m = r;
    if (m == i)
      return;
    struct item t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}
static void sift_up(struct item *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (cmp_item_dur_desc(&h[i], &h[p]) <= 0)
      return;
    struct item t = h[i];
    h[i] = h[p];
    h[p] = t;
    i = p;
  }
}

long ctrace_timeline_instances(const struct ctrace_timeline *tl, int regions, uint32_t name,
                               size_t limit, struct ctrace_tl_instance **out) {
  /* one pass keeping the `limit` longest in a heap: O(n log limit), where
   * sorting every instance of a name of 667 k took 0.3 s of CPU */
  size_t all = regions ? tl->nregions : tl->ntasks;
  size_t cap = limit < all ? limit : all;
  struct item *v = malloc((cap ? cap : 1) * sizeof *v);
  if (!v)
    return -ENOMEM;
  size_t k = 0;
  for (size_t i = 0; cap && i < all; i++) {
    struct item it;
    if (regions) {
      const struct ctrace_tl_region *rg = &tl->regions[i];
      if (rg->open || rg->name != name)
        continue;
      it = (struct item){name, rg->end - rg->start, i};
    } else {
      const struct ctrace_tl_task *t = &tl->tasks[i];
      if (t->open || t->name != name)
        continue;
      it = (struct item){name, t->end - t->start, i};
    }
    if (k < cap) {
      v[k] = it;
      sift_up(v, k++);
    } else if (cmp_item_dur_desc(&it, &v[0]) < 0) {
      v[0] = it;
      sift_down(v, k, 0);
    }
  }
  qsort(v, k, sizeof *v, cmp_item_dur_desc);
  struct ctrace_tl_instance *I = calloc(k ? k : 1, sizeof *I);
  if (!I) {
    free(v);
    return -ENOMEM;
  }
  for (size_t i = 0; i < k; i++) {
    struct ctrace_tl_instance *in = &I[i];
    in->name = name;
    if (regions) {
      const struct ctrace_tl_region *rg = &tl->regions[v[i].idx];
      in->id = v[i].idx;
      in->start = rg->start;
      in->end = rg->end;
      uint32_t th = ctrace_timeline_region_thread(tl, v[i].idx);
      in->tids[0] = tl->threads[th].tid;
      in->ntids = 1;
      ctrace_timeline_breakdown(tl, th, rg->start, rg->end, in->breakdown);
    } else {
      const struct ctrace_tl_task *t = &tl->tasks[v[i].idx];
      in->id = t->id;
      in->start = t->start;
      in->end = t->end;
      for (uint32_t j = 0; j < t->ntouch; j++) {
        const struct ctrace_tl_touch *tc = &tl->touches[t->touch + j];
        if (in->ntids < 16)
          in->tids[in->ntids++] = tl->threads[tc->thread].tid;
        int64_t a = tc->first < t->start ? t->start : tc->first;
        int64_t b = tc->last > t->end ? t->end : tc->last;
        ctrace_timeline_breakdown(tl, tc->thread, a, b, in->breakdown);
      }
    }
  }
  free(v);
  *out = I;
  return (long)k;
}

