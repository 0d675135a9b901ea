/*
 * view_bench.c - how fast `ctrace view` opens a trace and answers the
 * timeline: time to open (the reader's validating pass) and to index,
 * memory of the index against the file's size, and /api/timeline answer
 * times at full width, mid zoom (1/100 of the trace) and deep zoom (20 us),
 * each at several positions (a pan). The answers are computed in-process by
 * the same code the server runs (api.c), without the socket round trip
 * (~0.1 ms on loopback).
 *
 * Usage: view_bench FILE [WIDTH_PX]      Prints a table; never fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/serve/view.h"

#include "bench_time.h"

static long status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0)
      kb = strtol(line + n, NULL, 10);
  if (f)
    fclose(f);
  return kb;
}
static long rss_kb(void) {
  return status_kb("VmRSS:");
}

struct q {
  char start[32], end[32], width[16];
};
static const char *param(void *ctx, const char *key) {
  struct q *q = ctx;
  if (strcmp(key, "start_ns") == 0)
    return q->start;
  if (strcmp(key, "end_ns") == 0)
    return q->end;
  if (strcmp(key, "width") == 0)
    return q->width;
  return NULL;
}

/* key=value pairs, for the pages' answers */
struct kv {
  const char *k[4], *v[4];
};
static const char *kv_param(void *ctx, const char *key) {
  struct kv *q = ctx;
  for (int i = 0; i < 4 && q->k[i]; i++)
    if (strcmp(q->k[i], key) == 0)
      return q->v[i];
  return NULL;
}
static void page_answer(struct ctrace_view *v, const char *label, const char *path, struct kv q) {
  struct ctrace_reply r;
  double t0 = now_ms(), c0 = cpu_ms();
  ctrace_api_handle(v, path, kv_param, &q, &r);
  printf("  %-34s %9.1f %9.1f %10zu  %d  RSS %.0f MB, peak %.0f MB\n", label, now_ms() - t0,
         cpu_ms() - c0, r.len, r.status, rss_kb() / 1e3, status_kb("VmHWM:") / 1e3);
  free(r.body);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs n windows of length len spread over the trace; prints median, max. */
static void zoom(struct ctrace_view *v, const char *label, int64_t len, int width, int n) {
  int64_t s0 = v->tl->start_ns, s1 = v->tl->end_ns;
  if (len > s1 - s0)
    len = s1 - s0;
  double *t = malloc((size_t)n * sizeof *t), *c = malloc((size_t)n * sizeof *c);
  size_t bytes = 0;
  for (int i = 0; i < n; i++) {
    int64_t a = s0 + (n > 1 ? (s1 - s0 - len) / (n - 1) * i : 0);
    struct q q;
    snprintf(q.start, sizeof q.start, "%" PRId64, a);
    snprintf(q.end, sizeof q.end, "%" PRId64, a + len);
    snprintf(q.width, sizeof q.width, "%d", width);
    struct ctrace_reply r;
    double t0 = now_ms(), c0 = cpu_ms();
    ctrace_api_handle(v, "/api/timeline", param, &q, &r);
    t[i] = now_ms() - t0;
    c[i] = cpu_ms() - c0;
    bytes += r.len;
    free(r.body);
  }
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  qsort(c, (size_t)n, sizeof *c, cmp_d);
  printf("  %-28s %9.2f %9.2f %9.2f %9.2f %10zu\n", label, t[n / 2], t[n - 1], c[n / 2], c[n - 1],
         bytes / (size_t)n);
  free(t);
  free(c);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: view_bench FILE [WIDTH_PX]\n");
    return 2;
  }
  int width = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 1600;
  long rss0 = rss_kb();
  double t0 = now_ms(), c0 = cpu_ms();
  ctrace_reader *r;
  char err[256];
  if (ctrace_reader_open(argv[1], &r, err, sizeof err) < 0) {
    fprintf(stderr, "view_bench: %s\n", err);
    return 0;
  }
  double t1 = now_ms(), c1 = cpu_ms();
  long rss1 = rss_kb();
  struct ctrace_view v;
  if (ctrace_view_init(&v, r, argv[1], NULL, NULL) < 0) {
    fprintf(stderr, "view_bench: out of memory\n");
    return 0;
  }
  double t2 = now_ms(), c2 = cpu_ms();
  long rss2 = rss_kb();
  if (getenv("VIEW_BENCH_INDEX_ONLY")) { /* for profiling the index build alone */
    printf("index: %.0f ms wall, %.0f ms CPU, RSS +%.1f MB, peak %.1f MB, cache %s\n", t2 - t1,
           c2 - c1, (double)(rss2 - rss1) / 1e3, status_kb("VmHWM:") / 1e3,
           ctrace_view_cache_state(&v));
    /* a cache for the next run; once written, the index's arrays are its
     * pages (ctrace_timeline_adopt) */
    double t4 = now_ms(), c4 = cpu_ms();
    ctrace__view_cache_wait(&v);
    size_t adopted = 0;
    for (size_t k = 0; k < v.adopted.n; k++)
      adopted += v.adopted.v[k].n;
    printf("cache %s: written and adopted in %.0f ms wall, %.0f ms CPU, %.1f MB adopted, RSS "
           "%.1f MB\n",
           ctrace_view_cache_state(&v), now_ms() - t4, cpu_ms() - c4, adopted / 1e6,
           rss_kb() / 1e3);
    ctrace_view_fini(&v);
    return 0;
  }
  /* the first screen: summary + full-width timeline */
  struct q q = {"", "", ""};
  snprintf(q.width, sizeof q.width, "%d", width);
  snprintf(q.start, sizeof q.start, "%" PRId64, v.tl->start_ns);
  snprintf(q.end, sizeof q.end, "%" PRId64, v.tl->end_ns);
  struct ctrace_reply rep;
  ctrace_api_handle(&v, "/api/summary", param, &q, &rep);
  free(rep.body);
  ctrace_api_handle(&v, "/api/timeline", param, &q, &rep);
  free(rep.body);
  double t3 = now_ms(), c3 = cpu_ms();
  uint64_t fsize = ctrace_reader_file_size(r);
  printf("trace %s: %" PRIu64 " events, %" PRIu64 " bytes, %u threads, %.3f s long\n", argv[1],
         ctrace_reader_nevents(r), fsize, v.tl->nthreads,
         (double)(v.tl->end_ns - v.tl->start_ns) / 1e9);
  /* CPU time too: on a loaded machine wall time says more about the others */
  printf("  %-28s %9s %9s\n", "", "wall ms", "CPU ms");
  printf("  %-28s %9.0f %9.0f\n", "open (validating pass)", t1 - t0, c1 - c0);
  printf("  %-28s %9.0f %9.0f   (index cache: %s)\n", "index (timeline + stats)", t2 - t1,
         c2 - c1, ctrace_view_cache_state(&v));
  printf("  %-28s %9.0f %9.0f   (open + index + summary + full-width timeline)\n",
         "first screen, server side", t3 - t0, c3 - c0);
  printf("  index memory (counted)      %9.1f MB = %.2fx the file\n", (double)v.tl->bytes / 1e6,
         (double)v.tl->bytes / (double)(fsize ? fsize : 1));
  {
    const struct ctrace_timeline *tl = v.tl;
    size_t lv = 0, raw = 0;
    for (uint32_t i = 0; i < tl->nthreads; i++)
      for (unsigned k = 0; k < tl->nlevels[i]; k++)
        *(k ? &lv : &raw) += tl->levels[i][k].n * sizeof(uint64_t);
    printf("  index parts, MB: raw spans %.1f, LOD levels %.1f, regions %.1f, tasks %.1f, "
           "touches %.1f, logs %.1f, wakes %.1f, peers %.1f\n",
           raw / 1e6, lv / 1e6, tl->nregions * sizeof *tl->regions / 1e6,
           tl->ntasks * sizeof *tl->tasks / 1e6, tl->ntouches * sizeof *tl->touches / 1e6,
           tl->nlogs * sizeof *tl->logs / 1e6, tl->nwakes * sizeof *tl->wakes / 1e6,
           tl->npeers * sizeof *tl->peers / 1e6);
  }
  printf("  RSS: reader +%.1f MB (the file is mapped), index +%.1f MB = %.2fx the file\n",
         (double)(rss1 - rss0) / 1e3, (double)(rss2 - rss1) / 1e3,
         (double)(rss2 - rss1) * 1e3 / (double)(fsize ? fsize : 1));
  printf("  %-28s %9s %9s %9s %9s %10s\n", "/api/timeline", "wall p50", "wall max", "CPU p50",
         "CPU max", "bytes");
  char label[64];
  snprintf(label, sizeof label, "full width (%d px)", width);
  zoom(&v, label, v.tl->end_ns - v.tl->start_ns, width, 5);
  zoom(&v, "mid zoom (1/100 of trace)", (v.tl->end_ns - v.tl->start_ns) / 100, width, 21);
  zoom(&v, "deep zoom (20 us)", 20000, width, 21);
  zoom(&v, "deep zoom (1 ms)", 1000000, width, 21);
  if (getenv("VIEW_BENCH_NO_PAGES")) { /* the timeline's answers only */
    ctrace__view_cache_wait(&v); /* a cache for the next run */
    ctrace_view_fini(&v);
    ctrace_reader_close(r);
    return 0;
  }
  printf("  %-34s %9s %9s %10s  status\n", "the pages' answers (first time)", "wall ms", "CPU ms",
         "bytes");
  page_answer(&v, "/api/threads", "/api/threads", (struct kv){{NULL}, {NULL}});
  page_answer(&v, "/api/tasks", "/api/tasks", (struct kv){{NULL}, {NULL}});
  page_answer(&v, "/api/instances task request 500", "/api/instances",
              (struct kv){{"kind", "name", "limit"}, {"task", "request", "500"}});
  page_answer(&v, "/api/instances region handle 500", "/api/instances",
              (struct kv){{"kind", "name", "limit"}, {"region", "handle", "500"}});
  static const char *const kinds[] = {"sync", "net", "syscall", "sleep", "poll"};
  for (int i = 0; i < 5; i++) {
    snprintf(label, sizeof label, "/api/profile %s", kinds[i]);
    page_answer(&v, label, "/api/profile", (struct kv){{"kind"}, {kinds[i]}});
  }
  {
    char end[32];
    snprintf(end, sizeof end, "%" PRId64, v.tl->end_ns);
    page_answer(&v, "/api/counters full width", "/api/counters",
                (struct kv){{"start_ns", "end_ns", "width"}, {"0", end, "1400"}});
  }
  page_answer(&v, "/api/drops", "/api/drops", (struct kv){{NULL}, {NULL}});
  ctrace__view_cache_wait(&v); /* a cache for the next run */
    ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}
