/*
 * timeline_latency.c - per-name latency statistics of tasks and regions
 * (count, percentiles, a log-spaced histogram) and their longest instances
 * with where their time went.
 */
#include "timeline_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/vec.h"

struct item {
  uint32_t name;
  int64_t dur;
  size_t idx;
};
static int cmp_item_dur_desc(const void *a, const void *b) {
  const struct item *x = a, *y = b;
  if (x->dur != y->dur)
    return x->dur > y->dur ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The k-th smallest of a[0..n) (k < n), leaving a[0..k) <= a[k] <= a(k..n):
 * a quickselect (three-way partitions around a median of three; a sort
 * once it takes more rounds than a fair input does, so that no input makes
 * it quadratic). */
static int64_t select_k(int64_t *a, size_t n, size_t k) {
  size_t lo = 0, hi = n;
  for (unsigned rounds = 0; hi - lo > 16; rounds++) {
    if (rounds == 64) {
      qsort(a + lo, hi - lo, sizeof *a, cmp_i64);
      return a[k];
    }
    int64_t x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
    int64_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    size_t lt = lo, i = lo, gt = hi;
    while (i < gt) {
      int64_t t = a[i];
      if (t < p) {
        a[i++] = a[lt];
        a[lt++] = t;
      } else if (t > p) {
        a[i] = a[--gt];
        a[gt] = t;
      } else {
        i++;
      }
    }
    if (k < lt)
      hi = lt;
    else if (k >= gt)
      lo = gt;
    else
      return p;
  }
  qsort(a + lo, hi - lo, sizeof *a, cmp_i64);
  return a[k];
}

/* The value of rank ceil(p * n) (1-based) of a[0..n), n > 0, at or above
 * rank from (a[0..from) already at or below it): the array is left
 * partitioned there, for the next, higher rank. */
static int64_t pct(int64_t *a, size_t n, double p, size_t *from) {
  size_t r = (size_t)ceil(p * (double)n);
  if (r < 1)
    r = 1;
  if (r > n)
    r = n;
  size_t k = r - 1 < *from ? *from : r - 1;
  int64_t v = select_k(a + *from, n - *from, k - *from);
  *from = k;
  return v;
}

long ctrace_timeline_latency(const struct ctrace_timeline *tl, int regions,
                             struct ctrace_tl_latency **out) {
  /* The ended instances' durations grouped by name (a counting sort: names
   * are string ids), then per name its order statistics by selection, not
   * by sorting: 8 bytes an instance, where sorting (name, duration, index)
   * items took 24 and glibc's merge sort as many again. */
  size_t all = regions ? tl->nregions : tl->ntasks;
  size_t nn = (size_t)ctrace_reader_nstrings(tl->r) + 1; /* ids 0 .. nstrings */
  size_t *at = calloc(nn + 1, sizeof *at);
  if (!at)
    return -ENOMEM;
#define NAME_OF(i) (regions ? tl->regions[i].name : tl->tasks[i].name)
#define OPEN_OF(i) (regions ? (int)tl->regions[i].open : (int)tl->tasks[i].open)
#define DUR_OF(i)                                                                              \
  (regions ? tl->regions[i].end - tl->regions[i].start : tl->tasks[i].end - tl->tasks[i].start)
  for (size_t i = 0; i < all; i++)
    if (!OPEN_OF(i) && NAME_OF(i) < nn) /* a name out of range: not of a valid index */
      at[NAME_OF(i) + 1]++;
  size_t groups = 0;
  for (size_t k = 0; k < nn; k++) {
    groups += at[k + 1] != 0;
    at[k + 1] += at[k];
  }
  size_t n = at[nn];
  int64_t *d = ctrace__big_malloc((n ? n : 1) * sizeof *d);
  struct ctrace_tl_latency *L = calloc(groups ? groups : 1, sizeof *L);
  size_t *fill = malloc((nn ? nn : 1) * sizeof *fill);
  if (!d || !L || !fill) {
    free(at);
    free(d);
    free(L);
    free(fill);
    return -ENOMEM;
  }
  memcpy(fill, at, nn * sizeof *fill);
  for (size_t i = 0; i < all; i++)
    if (!OPEN_OF(i) && NAME_OF(i) < nn)
      d[fill[NAME_OF(i)]++] = DUR_OF(i);
  free(fill);
  size_t g = 0;
  for (size_t name = 0; name < nn; name++) {
    size_t i = at[name], c = at[name + 1] - i;
    if (!c)
      continue;
    int64_t *v = d + i;
    struct ctrace_tl_latency *l = &L[g++];
    l->name = (uint32_t)name;
    l->count = c;
    int64_t mn = v[0], mx = v[0];
    for (size_t k = 1; k < c; k++) {
      mn = v[k] < mn ? v[k] : mn;
      mx = v[k] > mx ? v[k] : mx;
    }
    l->min = mn;
    l->max = mx;
    size_t from = 0;
    l->p50 = pct(v, c, 0.50, &from);
    l->p90 = pct(v, c, 0.90, &from);
    l->p99 = pct(v, c, 0.99, &from);
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
    for (size_t k = 0; k < c; k++) {
      unsigned b = 0;
      while (b + 1 < nb && v[k] >= l->hi[b])
        b++;
      l->hist[b]++;
    }
  }
  free(d);
  /* the names' instances that never ended (L is sorted by name) */
  for (size_t i = 0; i < all; i++) {
    if (!OPEN_OF(i))
      continue;
    uint32_t name = NAME_OF(i);
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
#undef NAME_OF
#undef OPEN_OF
#undef DUR_OF
  free(at);
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
  /* every instance was read, a few are looked at again: in a cached
   * index the pages go, before the breakdowns read the spans' */
  if (regions)
    ctrace__tl_release(tl, tl->regions, all * sizeof *tl->regions);
  else
    ctrace__tl_release(tl, tl->tasks, all * sizeof *tl->tasks);
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

