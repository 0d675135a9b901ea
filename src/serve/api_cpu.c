/*
 * api_cpu.c - /api/cpus (docs/API.md): what ran on each CPU, from the
 * trace's scheduling data (format 1.2), for a time window at a pixel
 * width: one lane per CPU, each a list of spans [start_ns, end_ns, tid, n],
 * intervals shorter than a pixel merged with their neighbours less than a
 * pixel apart (n: how many; tid: the one with the most time among them).
 * The CPU samples are served by /api/profile?kind=cpu. Not the timeline's
 * per-thread states (api_views.c).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

/* The intervals of every thread overlapping [lo, hi), clipped to the
 * thread's life. NULL when out of memory. */
static struct cpu_iv *gather(const ctrace_reader *r, int64_t lo, int64_t hi, size_t *n) {
  size_t cap = 1024, k = 0;
  struct cpu_iv *v = malloc(cap * sizeof *v);
  for (uint32_t t = 0; v && t < ctrace_reader_nthreads(r); t++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, t);
    const struct ctrace_oncpu *iv;
    uint32_t m = ctrace_reader_oncpu(r, t, &iv);
    for (uint32_t i = 0; i < m; i++) {
      int64_t s = ctrace_reader_ns(r, iv[i].start), e = ctrace_reader_ns(r, iv[i].end);
      if (th->exited && iv[i].left == CTRACE_SCHED_LEFT_UNKNOWN) {
        int64_t last = ctrace_reader_ns(r, th->last); /* gone at its exit */
        if (e > last)
          e = last > s ? last : s;
      }
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
