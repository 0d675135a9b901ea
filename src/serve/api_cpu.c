/*
 * api_cpu.c - /api/cpus (docs/API.md): what ran on each CPU, from the
 * trace's scheduling data (format 1.2), for a time window at a pixel
 * width: one lane per CPU, each a list of spans [start_ns, end_ns, tid, n],
 * intervals shorter than a pixel merged with their neighbours less than a
 * pixel apart (n: how many; tid: the one with the most time among them).
 * The CPU samples: on the timeline's rows (/api/samples: each sample, or
 * counts per pixel when a thread has many) and one with its stack
 * (/api/sample); their flame graphs are /api/profile?kind=cpu. Not the
 * timeline's per-thread states (api_views.c).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../analyze/profile.h"
#include "api_int.h"

struct cpu_iv {
  int64_t s, e;
  uint32_t tid, cpu;
};

static int cmp_cpu_iv(const void *a, const void *b) {
  const struct cpu_iv *x = a, *y = b;
  if (x->cpu != y->cpu)
    return x->cpu < y->cpu ? -1 : 1;
  return (x->s > y->s) - (x->s < y->s);
}

/* The intervals of every thread overlapping [lo, hi) (the reader ends an
 * exited thread's last one at its exit). NULL when out of memory. */
static struct cpu_iv *gather(const ctrace_reader *r, int64_t lo, int64_t hi, size_t *n) {
  size_t cap = 1024, k = 0;
  struct cpu_iv *v = malloc(cap * sizeof *v);
  for (uint32_t t = 0; v && t < ctrace_reader_nthreads(r); t++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, t);
    const struct ctrace_oncpu *iv;
    uint32_t m = ctrace_reader_oncpu(r, t, &iv);
    for (uint32_t i = 0; i < m; i++) {
      int64_t s = ctrace_reader_ns(r, iv[i].start), e = ctrace_reader_ns(r, iv[i].end);
      if (e <= lo || s >= hi || e <= s)
        continue;
      if (k == cap) {
        struct cpu_iv *nv = realloc(v, 2 * cap * sizeof *v);
        if (!nv) {
          free(v);
          return NULL;
        }
        v = nv;
        cap *= 2;
      }
      v[k++] = (struct cpu_iv){s < lo ? lo : s, e > hi ? hi : e, th->tid, iv[i].cpu};
    }
  }
  *n = k;
  return v;
}

void ctrace__api_cpus(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  int64_t end_ns = ctrace_reader_end_ns(v->r), lo, hi, width;
  if (ctrace__param_i64(p, "start_ns", 0, INT64_MIN / 2, INT64_MAX / 2, &lo) < 0 ||
      ctrace__param_i64(p, "end_ns", end_ns, INT64_MIN / 2, INT64_MAX / 2, &hi) < 0 ||
      ctrace__param_i64(p, "width", 1000, 1, 100000, &width) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  if (hi <= lo) {
    ctrace_reply_error(out, 400, "end_ns: must be after start_ns");
    return;
  }
  struct ctrace_sched_totals tot;
  ctrace_reader_sched_totals(v->r, &tot);
  size_t n = 0;
  struct cpu_iv *iv = gather(v->r, lo, hi, &n);
  struct json j;
  if (!iv || ctrace__json_open(&j) < 0) {
    free(iv);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  if (n)
    qsort(iv, n, sizeof *iv, cmp_cpu_iv);
  FILE *f = j.f;
  const char *prop = ctrace_reader_property(v->r, "sched");
  fprintf(f, "{\"recorded\":%s,\"reason\":", tot.recorded ? "true" : "false");
  ctrace__json_str(f, prop && !strncmp(prop, "off: ", 5) ? prop + 5 : "");
  fprintf(f,
          ",\"cpus\":%u,\"switches\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"start_ns\":%" PRId64
          ",\"end_ns\":%" PRId64 ",\"lanes\":[",
          tot.ncpus, tot.intervals, tot.lost, lo, hi);
  int64_t px = (hi - lo) / width;
  if (px < 1)
    px = 1;
  for (uint32_t c = 0, i = 0; c < tot.ncpus; c++) {
    fprintf(f, "%s{\"cpu\":%u,\"spans\":[", c ? "," : "", c);
    int first = 1;
    while (i < n && iv[i].cpu == c) {
      /* a span, or a run of short ones less than a pixel apart */
      struct cpu_iv run = iv[i];
      int64_t best = run.e - run.s;
      uint32_t cnt = 1;
      i++;
      if (best < px)
        while (i < n && iv[i].cpu == c && iv[i].e - iv[i].s < px && iv[i].s - run.e < px) {
          if (iv[i].e - iv[i].s > best) {
            best = iv[i].e - iv[i].s;
            run.tid = iv[i].tid;
          }
          if (iv[i].e > run.e)
            run.e = iv[i].e;
          cnt++;
          i++;
        }
      fprintf(f, "%s[%" PRId64 ",%" PRId64 ",%u,%u]", first ? "" : ",", run.s, run.e, run.tid, cnt);
      first = 0;
    }
    fputs("]}", f);
  }
  fputs("]}\n", f);
  free(iv);
  ctrace__json_close(&j, out);
}

/* ---- /api/samples and /api/sample: the CPU samples on the timeline ---- */

/* want[i] = 1 for the reader's thread indexes whose tid is in the list
 * "T1,T2,..." (all when NULL or empty); -1 on a malformed list. */
static int want_tids(const ctrace_reader *r, const char *tids, uint8_t *want, uint32_t nth) {
  if (!tids || !*tids) {
    memset(want, 1, nth);
    return 0;
  }
  memset(want, 0, nth);
  for (const char *s = tids; *s;) {
    char buf[32];
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    int64_t tid;
    if (len == 0 || len >= sizeof buf)
      return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    if (ctrace__parse_i64(buf, &tid) < 0 || tid < 0 || tid > UINT32_MAX)
      return -1;
    for (uint32_t i = 0; i < nth; i++) /* every thread that had the tid */
      if (ctrace_reader_thread(r, i)->tid == (uint32_t)tid)
        want[i] = 1;
    s += len;
    if (*s == ',')
      s++;
  }
  return 0;
}

void ctrace__api_samples(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const ctrace_reader *r = v->r;
  int64_t end_ns = ctrace_reader_end_ns(r), lo, hi, width;
  if (ctrace__param_i64(p, "start_ns", 0, INT64_MIN / 2, INT64_MAX / 2, &lo) < 0 ||
      ctrace__param_i64(p, "end_ns", end_ns, INT64_MIN / 2, INT64_MAX / 2, &hi) < 0 ||
      ctrace__param_i64(p, "width", 1000, 1, 20000, &width) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  if (hi <= lo) {
    ctrace_reply_error(out, 400, "end_ns: must be after start_ns");
    return;
  }
  uint32_t nth = ctrace_reader_nthreads(r);
  uint8_t *want = malloc(nth ? nth : 1);
  uint64_t *count = calloc(nth ? nth : 1, sizeof *count);
  uint32_t **bins = calloc(nth ? nth : 1, sizeof *bins);
  if (!want || !count || !bins) {
    free(want), free(count), free(bins);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  if (want_tids(r, p->get(p->ctx, "tids"), want, nth) < 0) {
    free(want), free(count), free(bins);
    ctrace_reply_error(out, 400, "tids: a comma-separated list of thread ids");
    return;
  }
  const struct ctrace_cpu_sample *s;
  uint64_t n = ctrace_reader_samples(r, &s);
  uint64_t i0 = ctrace_reader_sample_at(r, lo), i1 = i0;
  for (; i1 < n && ctrace_reader_ns(r, s[i1].ticks) < hi; i1++)
    if (want[s[i1].thread])
      count[s[i1].thread]++;
  /* A thread with more samples than a quarter of the pixels: counts per
   * pixel (density); else each sample. Bounded by the screen either way. */
  double px = (double)(hi - lo) / (double)width;
  int oom = 0;
  for (uint32_t t = 0; t < nth && !oom; t++)
    if (count[t] > (uint64_t)width / 4 && !(bins[t] = calloc((size_t)width, sizeof **bins)))
      oom = 1;
  for (uint64_t i = i0; i < i1 && !oom; i++)
    if (bins[s[i].thread]) {
      int64_t x = (int64_t)((double)(ctrace_reader_ns(r, s[i].ticks) - lo) / px);
      bins[s[i].thread][x < 0 ? 0 : x >= width ? width - 1 : x]++;
    }
  struct json j;
  if (oom || ctrace__json_open(&j) < 0) {
    for (uint32_t t = 0; t < nth; t++)
      free(bins[t]);
    free(want), free(count), free(bins);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fprintf(f,
          "{\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"width\":%" PRId64
          ",\"period_ns\":%" PRIu64 ",\"total\":%" PRIu64 ",\"threads\":[",
          lo, hi, width, ctrace_profile_sample_period_ns(r), i1 - i0);
  int first = 1;
  for (uint32_t t = 0; t < nth; t++) {
    if (!count[t])
      continue;
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, t);
    fprintf(f, "%s{\"tid\":%u,\"instance\":%u,\"n\":%" PRIu64 ",", first ? "" : ",", th->tid,
            th->instance, count[t]);
    first = 0;
    if (bins[t]) {
      fputs("\"bins\":[", f);
      int fb = 1;
      for (int64_t x = 0; x < width; x++)
        if (bins[t][x]) {
          fprintf(f, "%s[%" PRId64 ",%u]", fb ? "" : ",", x, bins[t][x]);
          fb = 0;
        }
    } else {
      fputs("\"samples\":[", f);
      int fs = 1;
      for (uint64_t i = i0; i < i1; i++)
        if (s[i].thread == t) {
          fprintf(f, "%s[%" PRId64 ",%" PRIu64 "]", fs ? "" : ",", ctrace_reader_ns(r, s[i].ticks),
                  s[i].stack);
          fs = 0;
        }
    }
    fputs("]}", f);
  }
  fputs("]}\n", f);
  for (uint32_t t = 0; t < nth; t++)
    free(bins[t]);
  free(want), free(count), free(bins);
  ctrace__json_close(&j, out);
}

void ctrace__api_sample(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const ctrace_reader *r = v->r;
  int64_t tid, ns, within;
  if (ctrace__param_i64(p, "tid", -1, 0, UINT32_MAX, &tid) < 0 ||
      ctrace__param_i64(p, "ns", INT64_MIN, INT64_MIN / 2, INT64_MAX / 2, &ns) < 0 ||
      ctrace__param_i64(p, "within_ns", 1000000, 0, INT64_MAX / 4, &within) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  if (tid < 0 || ns == INT64_MIN) {
    ctrace_reply_error(out, 400, "tid and ns: both needed");
    return;
  }
  const struct ctrace_cpu_sample *s;
  uint64_t n = ctrace_reader_samples(r, &s);
  uint64_t best = UINT64_MAX;
  int64_t bd = INT64_MAX;
  for (uint64_t i = ctrace_reader_sample_at(r, ns - within); i < n; i++) {
    int64_t t = ctrace_reader_ns(r, s[i].ticks);
    if (t > ns + within)
      break;
    int64_t d = t > ns ? t - ns : ns - t;
    if (ctrace_reader_thread(r, s[i].thread)->tid == (uint32_t)tid && d < bd) {
      bd = d;
      best = i;
    }
  }
  if (best == UINT64_MAX) {
    ctrace_reply_error(out, 400, "no CPU sample of that thread within within_ns");
    return;
  }
  struct json j;
  if (ctrace__json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  const struct ctrace_thread_info *th = ctrace_reader_thread(r, s[best].thread);
  fprintf(f,
          "{\"kind\":\"sample\",\"tid\":%u,\"instance\":%u,\"ns\":%" PRId64 ",\"cpu\":%u,"
          "\"period_ns\":%" PRIu64 ",\"stack_id\":%" PRIu64 ",\"stack\":",
          th->tid, th->instance, ctrace_reader_ns(r, s[best].ticks), s[best].cpu,
          ctrace_profile_sample_period_ns(r), s[best].stack);
  ctrace__json_stack(v, f, s[best].stack);
  fputs("}\n", f);
  ctrace__json_close(&j, out);
}
