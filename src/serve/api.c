/*
 * api.c - the HTTP API of `ctrace view` (docs/API.md), as functions from a
 * path and query parameters to a reply. JSON everywhere except
 * /api/timeline (a compact binary form, timeline_bin.c) and /api/pprof
 * (gzipped profile.proto). Knows nothing of sockets: server.c calls it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../analyze/pprof.h"
#include "../analyze/profile.h"
#include "timeline_bin.h"
#include "view.h"

struct stats_job {
  const ctrace_reader *r;
  struct ctrace_stats *st;
  int err;
};
static void *stats_thread(void *arg) {
  struct stats_job *j = arg;
  j->err = ctrace_stats_compute(j->r, j->st);
  return NULL;
}

int ctrace_view_init(struct ctrace_view *v, const ctrace_reader *r, const char *path,
                     ctrace_tl_progress progress, void *arg) {
  memset(v, 0, sizeof *v);
  v->r = r;
  v->path = path;
  /* The stats pass runs beside the timeline's (the reader is read-only once
   * open): on two cores the first screen comes ~20% sooner. */
  struct stats_job job = {r, &v->st, 0};
  pthread_t th;
  int threaded = pthread_create(&th, NULL, stats_thread, &job) == 0;
  if (!threaded)
    stats_thread(&job);
  int err = ctrace_timeline_build(r, progress, arg, &v->tl);
  if (threaded)
    pthread_join(th, NULL);
  if (err)
    goto fail_timeline;
  if (job.err < 0)
    goto fail_stats;
  v->sym = ctrace_sym_new(r);
  if (!v->sym)
    goto fail_sym;
  pthread_mutex_init(&v->sym_lock, NULL);
  return 0;
fail_sym:
fail_stats:
  ctrace_timeline_free(v->tl);
  v->tl = NULL;
fail_timeline:
  if (job.err == 0)
    ctrace_stats_free(&v->st);
  return -ENOMEM;
}

void ctrace_view_fini(struct ctrace_view *v) {
  if (!v->tl)
    return;
  ctrace_sym_free(v->sym);
  pthread_mutex_destroy(&v->sym_lock);
  ctrace_stats_free(&v->st);
  ctrace_timeline_free(v->tl);
  v->tl = NULL;
}

/* ---- replies ---- */
void ctrace_reply_error(struct ctrace_reply *out, int status, const char *msg) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  free(out->body);
  out->body = NULL;
  out->len = 0;
  out->status = status;
  out->type = "application/json";
  out->disposition[0] = 0;
  if (!f)
    return;
  fputs("{\"error\":", f);
  ctrace_json_string(f, msg, strlen(msg));
  fputs("}\n", f);
  fclose(f);
  out->body = buf;
  out->len = len;
}

struct json {
  FILE *f;
  char *buf;
  size_t len;
};
static int json_open(struct json *j) {
  j->buf = NULL;
  j->len = 0;
  j->f = open_memstream(&j->buf, &j->len);
  return j->f ? 0 : -1;
}
static void json_close(struct json *j, struct ctrace_reply *out) {
  if (fclose(j->f) != 0) {
    free(j->buf);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  out->status = 200;
  out->type = "application/json";
  out->body = j->buf;
  out->len = j->len;
}
static void json_str(FILE *f, const char *s) { ctrace_json_string(f, s ? s : "", s ? strlen(s) : 0); }
static void json_sid(const struct ctrace_view *v, FILE *f, uint64_t id) {
  const struct ctrace_string *s = ctrace_reader_string(v->r, id);
  if (s && id)
    ctrace_json_string(f, s->s, s->len);
  else
    fputs("\"\"", f);
}

/* ---- parameters ---- */
struct params {
  ctrace_param_fn get;
  void *ctx;
  char err[160];
};

/* Strict decimal: optional '-', digits, no overflow, nothing after. */
static int parse_i64(const char *s, int64_t *out) {
  int neg = *s == '-';
  const char *p = s + neg;
  if (!*p)
    return -1;
  uint64_t v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
    return -1;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

/* 0 with *out (def when absent), -1 with p->err set. */
static int param_i64(struct params *p, const char *key, int64_t def, int64_t min, int64_t max,
                     int64_t *out) {
  const char *s = p->get(p->ctx, key);
  if (!s) {
    *out = def;
    return 0;
  }
  int64_t v;
  if (parse_i64(s, &v) < 0) {
    snprintf(p->err, sizeof p->err, "%s: not an integer", key);
    return -1;
  }
  if (v < min || v > max) {
    snprintf(p->err, sizeof p->err, "%s: out of range [%" PRId64 ", %" PRId64 "]", key, min, max);
    return -1;
  }
  *out = v;
  return 0;
}

static int param_thread(struct params *p, const struct ctrace_view *v, const char *key,
                        uint32_t *out) {
  int64_t tid;
  if (param_i64(p, key, -1, 0, UINT32_MAX, &tid) < 0)
    return -1;
  if (tid < 0) {
    snprintf(p->err, sizeof p->err, "%s: missing", key);
    return -1;
  }
  int64_t idx = ctrace_timeline_thread(v->tl, (uint32_t)tid);
  if (idx < 0) {
    snprintf(p->err, sizeof p->err, "%s: no thread %" PRId64 " in the trace", key, tid);
    return -1;
  }
  *out = (uint32_t)idx;
  return 0;
}

/* {"running": ns, ...}: every reported state (states.h), and any other
 * state only when some time was spent in it. */
static void json_states(FILE *f, const uint64_t *ns) {
  fputc('{', f);
  int first = 1;
  for (unsigned s = 0; s < CTRACE_ST_COUNT; s++) {
    if (!ctrace_state_reported(s) && !ns[s])
      continue;
    fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", ctrace_state_name(s), ns[s]);
    first = 0;
  }
  fputc('}', f);
}

/* ---- /api/summary ---- */
static void api_summary(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  struct json j;
  char *stats = NULL;
  size_t slen = 0;
  FILE *sf = open_memstream(&stats, &slen);
  if (!sf || json_open(&j) < 0) {
    if (sf)
      fclose(sf);
    free(stats);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  ctrace_stats_json(v->r, &v->st, sf);
  fclose(sf);
  /* the stats object without its closing brace, then our keys */
  while (slen && (stats[slen - 1] == '\n' || stats[slen - 1] == ' '))
    slen--;
  if (slen && stats[slen - 1] == '}')
    slen--;
  FILE *f = j.f;
  fwrite(stats, 1, slen, f);
  free(stats);
  const struct ctrace_timeline *tl = v->tl;
  fprintf(f, ",\"file\":");
  json_str(f, v->path);
  fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"pid\":%u", tl->start_ns,
          tl->end_ns, ctrace_reader_pid(v->r));
  /* "thread_list" and "process_list": the stats object already has
   * "threads" and "processes" (their counts); JSON keys must not repeat. */
  fputs(",\"thread_list\":[", f);
  uint32_t pid = ctrace_reader_pid(v->r);
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_tl_thread *t = &tl->threads[i];
    const struct ctrace_thread_info *ti = ctrace_reader_thread(v->r, t->index);
    fprintf(f, "%s{\"index\":%u,\"tid\":%u,\"pid\":%u,\"name\":", i ? "," : "", i, t->tid, pid);
    json_sid(v, f, ti->name);
    fprintf(f,
            ",\"first_ns\":%" PRId64 ",\"last_ns\":%" PRId64 ",\"created_by\":%u,\"exited\":%s,"
            "\"dropped\":%" PRIu64 ",\"max_depth\":%u}",
            t->first_ns, t->last_ns, t->created_by, t->exited ? "true" : "false", t->dropped,
            tl->max_depth[i]);
  }
  fputs("],\"process_list\":[", f);
  uint32_t np = ctrace_reader_nprocesses(v->r);
  for (uint32_t i = 0; i < np; i++) {
    const struct ctrace_process *pr = ctrace_reader_process(v->r, i);
    fprintf(f, "%s{\"pid\":%u,\"ppid\":%u,\"exe\":", i ? "," : "", pr->pid, pr->ppid);
    json_sid(v, f, pr->exe);
    fputs(",\"argv\":[", f);
    const struct ctrace_string *a = ctrace_reader_string(v->r, pr->argv);
    if (a && pr->argv && a->len) {
      uint32_t s0 = 0;
      int first = 1;
      for (uint32_t k = 0; k <= a->len; k++)
        if (k == a->len || a->s[k] == 0x1f) {
          if (!first)
            fputc(',', f);
          ctrace_json_string(f, a->s + s0, k - s0);
          first = 0;
          s0 = k + 1;
        }
    }
    fputs("]}", f);
  }
  fprintf(f, "],\"index_bytes\":%zu}\n", tl->bytes);
  (void)p;
  json_close(&j, out);
}

/* ---- /api/threads ---- */
static void api_threads(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  struct json j;
  if (json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  const struct ctrace_timeline *tl = v->tl;
  fputs("{\"threads\":[", f);
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_tl_thread *t = &tl->threads[i];
    const struct ctrace_thread_info *ti = ctrace_reader_thread(v->r, t->index);
    fprintf(f, "%s{\"tid\":%u,\"name\":", i ? "," : "", t->tid);
    json_sid(v, f, ti->name);
    fprintf(f, ",\"total_ns\":%" PRId64 ",\"states\":", t->last_ns - t->first_ns);
    json_states(f, t->state_ns);
    fputc('}', f);
  }
  fputs("]}\n", f);
  (void)p;
  json_close(&j, out);
}

/* ---- /api/tasks ---- */
static int latency_list(struct ctrace_view *v, FILE *f, int regions) {
  struct ctrace_tl_latency *L;
  long n = ctrace_timeline_latency(v->tl, regions, &L);
  if (n < 0)
    return -1;
  fputc('[', f);
  for (long i = 0; i < n; i++) {
    fprintf(f, "%s{\"name\":", i ? "," : "");
    json_sid(v, f, L[i].name);
    fprintf(f,
            ",\"count\":%" PRIu64 ",\"min_ns\":%" PRId64 ",\"p50_ns\":%" PRId64
            ",\"p90_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"max_ns\":%" PRId64
            ",\"histogram\":[",
            L[i].count, L[i].min, L[i].p50, L[i].p90, L[i].p99, L[i].max);
    for (unsigned b = 0; b < L[i].nbuckets; b++)
      fprintf(f, "%s{\"lo_ns\":%" PRId64 ",\"hi_ns\":%" PRId64 ",\"count\":%" PRIu64 "}",
              b ? "," : "", L[i].lo[b], L[i].hi[b], L[i].hist[b]);
    fputs("]}", f);
  }
  fputc(']', f);
  free(L);
  return 0;
}

static void api_tasks(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  struct json j;
  if (json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  fputs("{\"tasks\":", j.f);
  int err = latency_list(v, j.f, 0);
  fputs(",\"regions\":", j.f);
  err |= latency_list(v, j.f, 1);
  fputs("}\n", j.f);
  (void)p;
  if (err) {
    fclose(j.f);
    free(j.buf);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  json_close(&j, out);
}

/* ---- /api/instances ---- */
static int param_kind(struct params *p, int *regions) {
  const char *kind = p->get(p->ctx, "kind");
  if (!kind) {
    snprintf(p->err, sizeof p->err, "kind: missing (task or region)");
    return -1;
  }
  if (strcmp(kind, "task") == 0)
    *regions = 0;
  else if (strcmp(kind, "region") == 0)
    *regions = 1;
  else {
    snprintf(p->err, sizeof p->err, "kind: must be task or region");
    return -1;
  }
  return 0;
}

static void api_instances(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  int regions;
  int64_t limit;
  if (param_kind(p, &regions) < 0 || param_i64(p, "limit", 100, 1, 100000, &limit) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  const char *name = p->get(p->ctx, "name");
  if (!name) {
    ctrace_reply_error(out, 400, "name: missing");
    return;
  }
  uint32_t sid = ctrace_timeline_find_string(v->tl, name, strlen(name));
  struct ctrace_tl_instance *I = NULL;
  long n = sid ? ctrace_timeline_instances(v->tl, regions, sid, (size_t)limit, &I) : 0;
  struct json j;
  if (n < 0 || json_open(&j) < 0) {
    free(I);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fputs("{\"instances\":[", f);
  for (long i = 0; i < n; i++) {
    fprintf(f, "%s{\"id\":%" PRIu64 ",\"name\":", i ? "," : "", I[i].id);
    json_str(f, name);
    fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64 ",\"tids\":[",
            I[i].start, I[i].end, I[i].end - I[i].start);
    for (uint32_t k = 0; k < I[i].ntids; k++)
      fprintf(f, "%s%u", k ? "," : "", I[i].tids[k]);
    fputs("],\"breakdown\":", f);
    json_states(f, I[i].breakdown);
    fputc('}', f);
  }
  fputs("]}\n", f);
  free(I);
  json_close(&j, out);
}

/* ---- stacks ---- */
static void json_stack(struct ctrace_view *v, FILE *f, uint64_t id) {
  const uint64_t *pcs;
  uint32_t n = ctrace_reader_stack(v->r, id, &pcs);
  fputc('[', f);
  pthread_mutex_lock(&v->sym_lock);
  for (uint32_t i = 0; i < n; i++) {
    struct ctrace_frame fr;
    /* Every PC the recorder captures is a return address, the innermost
     * one included (the walk starts in the caller of the recording call). */
    ctrace_sym_lookup(v->sym, pcs[i], 1, &fr);
    fprintf(f, "%s{\"function\":", i ? "," : "");
    json_str(f, fr.function);
    fputs(",\"file\":", f);
    json_str(f, fr.file);
    fputs(",\"object\":", f);
    json_str(f, fr.object);
    fprintf(f, ",\"offset\":\"0x%" PRIx64 "\",\"line\":%d,\"pc\":\"0x%" PRIx64 "\"}",
            fr.object_offset, fr.line, pcs[i]);
  }
  pthread_mutex_unlock(&v->sym_lock);
  fputc(']', f);
}

/* ---- /api/profile and /api/pprof ---- */
static int profile_params(struct ctrace_view *v, struct params *p, enum ctrace_profile_kind *kind,
                          int64_t *a, int64_t *b, uint32_t *tid) {
  const char *k = p->get(p->ctx, "kind");
  if (!k || ctrace_profile_kind_parse(k, kind) < 0) {
    snprintf(p->err, sizeof p->err, "kind: must be sync, net, syscall or sleep");
    return -1;
  }
  int64_t t;
  if (param_i64(p, "start_ns", INT64_MIN, INT64_MIN, INT64_MAX, a) < 0 ||
      param_i64(p, "end_ns", INT64_MAX, INT64_MIN, INT64_MAX, b) < 0 ||
      param_i64(p, "tid", 0, 0, UINT32_MAX, &t) < 0)
    return -1;
  if (*a > *b) {
    snprintf(p->err, sizeof p->err, "start_ns is after end_ns");
    return -1;
  }
  if (t && ctrace_timeline_thread(v->tl, (uint32_t)t) < 0) {
    snprintf(p->err, sizeof p->err, "tid: no thread %" PRId64 " in the trace", t);
    return -1;
  }
  *tid = (uint32_t)t;
  return 0;
}

static void api_profile(struct ctrace_view *v, struct params *p, struct ctrace_reply *out,
                        int pprof) {
  enum ctrace_profile_kind kind;
  int64_t a, b, limit;
  uint32_t tid;
  if (profile_params(v, p, &kind, &a, &b, &tid) < 0 ||
      param_i64(p, "limit", 1000, 1, 1000000, &limit) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  struct ctrace_profile prof;
  if (ctrace_profile_build(v->r, kind, a, b, tid, &prof) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  if (pprof) {
    uint8_t *data = NULL;
    size_t len = 0;
    pthread_mutex_lock(&v->sym_lock);
    int err = ctrace_pprof_write(v->r, v->sym, &prof, kind, &data, &len);
    pthread_mutex_unlock(&v->sym_lock);
    ctrace_profile_free(&prof);
    if (err < 0) {
      ctrace_reply_error(out, 500, "cannot encode the profile");
      return;
    }
    out->status = 200;
    out->type = "application/octet-stream";
    out->body = (char *)data;
    out->len = len;
    snprintf(out->disposition, sizeof out->disposition,
             "attachment; filename=\"ctrace-%s.pb.gz\"", ctrace_profile_kind_name(kind));
    return;
  }
  struct json j;
  if (json_open(&j) < 0) {
    ctrace_profile_free(&prof);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fprintf(f, "{\"kind\":\"%s\",\"total_ns\":%" PRIu64 ",\"stacks\":[",
          ctrace_profile_kind_name(kind), prof.total_ns);
  for (size_t i = 0; i < prof.n && i < (size_t)limit; i++) {
    fprintf(f, "%s{\"total_ns\":%" PRIu64 ",\"count\":%" PRIu64 ",\"frames\":", i ? "," : "",
            prof.v[i].total_ns, prof.v[i].count);
    json_stack(v, f, prof.v[i].stack);
    fputc('}', f);
  }
  fprintf(f, "],\"nstacks\":%zu}\n", prof.n);
  ctrace_profile_free(&prof);
  json_close(&j, out);
}

/* ---- /api/timeline ---- */
static void api_timeline(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  int64_t a, b, width;
  if (param_i64(p, "start_ns", tl->start_ns, INT64_MIN / 4, INT64_MAX / 4, &a) < 0 ||
      param_i64(p, "end_ns", tl->end_ns, INT64_MIN / 4, INT64_MAX / 4, &b) < 0 ||
      param_i64(p, "width", 1000, 1, 20000, &width) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  if (a >= b && !(a == b && tl->start_ns == tl->end_ns)) {
    ctrace_reply_error(out, 400, "start_ns must be before end_ns");
    return;
  }
  /* A window reaching past the trace is clamped to it; one entirely outside
   * it is an error (the client asked for something that does not exist). */
  if (b < tl->start_ns || a > tl->end_ns) {
    char msg[128];
    snprintf(msg, sizeof msg, "the window is outside the trace [%" PRId64 ", %" PRId64 "]",
             tl->start_ns, tl->end_ns);
    ctrace_reply_error(out, 400, msg);
    return;
  }
  if (a < tl->start_ns)
    a = tl->start_ns;
  if (b > tl->end_ns)
    b = tl->end_ns;
  if (b <= a)
    b = a + 1;
  /* rows: all threads, or the tids given */
  uint32_t *rows = malloc((tl->nthreads ? tl->nthreads : 1) * sizeof *rows);
  if (!rows) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  uint32_t nrows = 0;
  const char *tids = p->get(p->ctx, "tids");
  if (tids && *tids) {
    char buf[32];
    const char *s = tids;
    while (*s) {
      const char *e = strchr(s, ',');
      size_t len = e ? (size_t)(e - s) : strlen(s);
      int64_t tid;
      if (len == 0 || len >= sizeof buf) {
        free(rows);
        ctrace_reply_error(out, 400, "tids: a comma-separated list of thread ids");
        return;
      }
      memcpy(buf, s, len);
      buf[len] = 0;
      int64_t idx = parse_i64(buf, &tid) == 0 && tid >= 0 && tid <= UINT32_MAX
                        ? ctrace_timeline_thread(tl, (uint32_t)tid)
                        : -2;
      if (idx == -2) {
        free(rows);
        ctrace_reply_error(out, 400, "tids: a comma-separated list of thread ids");
        return;
      }
      if (idx >= 0 && nrows < tl->nthreads)
        rows[nrows++] = (uint32_t)idx;
      s += len;
      if (*s == ',')
        s++;
    }
  } else {
    for (uint32_t i = 0; i < tl->nthreads; i++)
      rows[nrows++] = i;
  }
  int err = ctrace_timeline_encode(v, a, b, (uint32_t)width, rows, nrows, out);
  free(rows);
  if (err)
    ctrace_reply_error(out, 500, "out of memory");
}

/* ---- /api/event ---- */

/* Finds the event of thread th of one of the kinds in mask (1 << kind bits
 * are too wide: a list) whose time is nearest to ns, within 1 ms. */
static int find_event(struct ctrace_view *v, uint32_t th, int64_t ns, const uint8_t *kinds,
                      int nkinds, ctrace_event *out) {
  const ctrace_reader *r = v->r;
  const struct ctrace_thread_info *ti = ctrace_reader_thread(r, v->tl->threads[th].index);
  uint64_t tk = ctrace_reader_ticks(r, ns);
  /* first batch whose last event is at or after the target, less one */
  uint32_t lo = 0, hi = ti->nbatches;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ctrace_reader_batch(r, ti->batches[mid])->last < tk)
      lo = mid + 1;
    else
      hi = mid;
  }
  ctrace_cursor c;
  ctrace_cursor_init(&c, r, v->tl->threads[th].index);
  ctrace_cursor_seek_batch(&c, lo ? lo - 1 : 0);
  ctrace_event ev;
  int found = 0;
  int64_t best = INT64_MAX;
  while (ctrace_cursor_next(&c, &ev)) {
    int64_t t = ctrace_reader_ns(r, ev.ticks);
    if (t > ns + 1000000)
      break;
    int match = 0;
    for (int k = 0; k < nkinds; k++)
      match |= ev.kind == kinds[k];
    if (!match)
      continue;
    int64_t d = t > ns ? t - ns : ns - t;
    if (d < best && d <= 1000000) {
      best = d;
      *out = ev;
      found = 1;
    }
  }
  return found ? 0 : -1;
}

static void json_peer(FILE *f, const struct ctrace_tl_peer *pe) {
  char host[INET6_ADDRSTRLEN] = "";
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, pe->addr, pe->len < sizeof ss ? pe->len : sizeof ss);
  char buf[160];
  buf[0] = 0;
  if (ss.ss_family == AF_INET && pe->len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    snprintf(buf, sizeof buf, "%s:%u", host, ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6 && pe->len >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    snprintf(buf, sizeof buf, "[%s]:%u", host, ntohs(in6->sin6_port));
  } else if (ss.ss_family == AF_UNIX) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    size_t max = pe->len > offsetof(struct sockaddr_un, sun_path)
                     ? pe->len - offsetof(struct sockaddr_un, sun_path)
                     : 0;
    if (max > sizeof un->sun_path - 1)
      max = sizeof un->sun_path - 1;
    snprintf(buf, sizeof buf, "unix:%.*s", (int)strnlen(un->sun_path, max), un->sun_path);
  } else {
    snprintf(buf, sizeof buf, "family %u", ss.ss_family);
  }
  json_str(f, buf);
}

static int syscall_moves_bytes(uint64_t call) {
  switch (call) {
  case CTRACE_CALL_read: case CTRACE_CALL_write: case CTRACE_CALL_pread: case CTRACE_CALL_pwrite:
  case CTRACE_CALL_readv: case CTRACE_CALL_writev: case CTRACE_CALL_preadv:
  case CTRACE_CALL_pwritev: case CTRACE_CALL_sendfile: case CTRACE_CALL_recv:
  case CTRACE_CALL_recvfrom: case CTRACE_CALL_recvmsg: case CTRACE_CALL_send:
  case CTRACE_CALL_sendto: case CTRACE_CALL_sendmsg:
    return 1;
  default:
    return 0;
  }
}

/* The fields of ev as JSON members (after a comma), with its stack. */
static void json_event_fields(struct ctrace_view *v, FILE *f, uint32_t th, const ctrace_event *ev,
                              int with_dur) {
  const ctrace_reader *r = v->r;
  int64_t t = ctrace_reader_ns(r, ev->ticks);
  const struct ctrace_kind_info *ki = &ctrace__kinds[ev->kind];
  fprintf(f, ",\"event\":\"%s\",\"event_ns\":%" PRId64 ",\"offset\":%" PRIu64,
          ki->name ? ki->name : "?", t, ev->offset);
  uint64_t stack = 0;
  switch (ev->kind) {
  case CTRACE_EV_WAIT: {
    struct ctrace_ev_wait w = CTRACE_EV(wait, ev);
    fputs(",\"reason\":", f);
    json_str(f, ctrace__wait_reason_name(w.reason));
    fprintf(f, ",\"object\":\"0x%" PRIx64 "\"", w.object);
    int64_t s = w.dur < ev->ticks ? ctrace_reader_ns(r, ev->ticks - w.dur) : t;
    if (with_dur)
      fprintf(f, ",\"dur_ns\":%" PRId64, t - s);
    stack = w.stack;
    break;
  }
  case CTRACE_EV_SYSCALL: {
    struct ctrace_ev_syscall c = CTRACE_EV(syscall, ev);
    int64_t s = c.dur < ev->ticks ? ctrace_reader_ns(r, ev->ticks - c.dur) : t;
    fputs(",\"call\":", f);
    json_str(f, ctrace__syscall_name(c.call));
    fputs(",\"class\":", f);
    json_str(f, ctrace__syscall_class_name(c.class));
    fprintf(f, ",\"fd\":%" PRId64 ",\"result\":%" PRId64, (int64_t)(int32_t)c.fd, c.result);
    if (with_dur)
      fprintf(f, ",\"dur_ns\":%" PRId64, t - s);
    if (syscall_moves_bytes(c.call) && c.result >= 0)
      fprintf(f, ",\"bytes\":%" PRId64, c.result);
    const struct ctrace_tl_peer *pe = ctrace_timeline_peer(v->tl, th, (uint32_t)c.fd, t);
    if (pe && c.class == CTRACE_SC_NET) {
      fputs(",\"peer\":", f);
      json_peer(f, pe);
    }
    stack = c.stack;
    break;
  }
  case CTRACE_EV_PENDING: {
    /* a call that had not returned when the trace stopped */
    struct ctrace_ev_pending pd = CTRACE_EV(pending, ev);
    if (pd.reason) {
      fputs(",\"reason\":", f);
      json_str(f, ctrace__wait_reason_name(pd.reason));
      fprintf(f, ",\"object\":\"0x%" PRIx64 "\"", pd.object);
    } else {
      fputs(",\"call\":", f);
      json_str(f, ctrace__syscall_name(pd.call));
      fputs(",\"class\":", f);
      json_str(f, ctrace__syscall_class_name(pd.class));
    }
    stack = pd.stack;
    break;
  }
  case CTRACE_EV_WAKE: {
    struct ctrace_ev_wake wk = CTRACE_EV(wake, ev);
    fprintf(f, ",\"woken_tid\":%" PRIu64 ",\"object\":\"0x%" PRIx64 "\",\"reason\":", wk.tid,
            wk.object);
    json_str(f, ctrace__wait_reason_name(wk.reason));
    stack = wk.stack;
    break;
  }
  case CTRACE_EV_REGION_BEGIN: {
    struct ctrace_ev_region_begin rb = CTRACE_EV(region_begin, ev);
    fprintf(f, ",\"task\":%" PRIu64 ",\"name\":", rb.task);
    json_sid(v, f, rb.name);
    stack = rb.stack;
    break;
  }
  case CTRACE_EV_TASK_BEGIN: {
    struct ctrace_ev_task_begin tb = CTRACE_EV(task_begin, ev);
    fprintf(f, ",\"task\":%" PRIu64 ",\"parent\":%" PRIu64 ",\"name\":", tb.task, tb.parent);
    json_sid(v, f, tb.name);
    stack = tb.stack;
    break;
  }
  case CTRACE_EV_LOG: {
    struct ctrace_ev_log lg = CTRACE_EV(log, ev);
    fprintf(f, ",\"task\":%" PRIu64 ",\"category\":", lg.task);
    json_sid(v, f, lg.category);
    fputs(",\"message\":", f);
    ctrace_json_string(f, (const char *)ev->blob, ev->blob_len);
    stack = lg.stack;
    break;
  }
  case CTRACE_EV_THREAD_CREATE: {
    struct ctrace_ev_thread_create tc = CTRACE_EV(thread_create, ev);
    fprintf(f, ",\"link\":%" PRIu64, tc.link);
    stack = tc.stack;
    break;
  }
  default:
    break;
  }
  fprintf(f, ",\"stack_id\":%" PRIu64 ",\"stack\":", stack);
  json_stack(v, f, stack);
}

static void api_event(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  const char *kind = p->get(p->ctx, "kind");
  if (!kind)
    kind = "span";
  struct json j;
  if (strcmp(kind, "task") == 0) {
    int64_t id;
    if (param_i64(p, "id", -1, 0, INT64_MAX, &id) < 0 || id < 0) {
      ctrace_reply_error(out, 400, id < 0 && !p->err[0] ? "id: missing" : p->err);
      return;
    }
    const struct ctrace_tl_task *t = NULL;
    for (size_t i = 0; i < tl->ntasks && !t; i++)
      if (tl->tasks[i].id == (uint64_t)id)
        t = &tl->tasks[i];
    if (!t) {
      ctrace_reply_error(out, 400, "id: no such task");
      return;
    }
    if (json_open(&j) < 0) {
      ctrace_reply_error(out, 500, "out of memory");
      return;
    }
    FILE *f = j.f;
    fprintf(f, "{\"kind\":\"task\",\"id\":%" PRIu64 ",\"parent\":%" PRIu64 ",\"name\":", t->id,
            t->parent);
    json_sid(v, f, t->name);
    fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64
               ",\"open\":%s,\"begin_tid\":%u,\"end_tid\":%u,\"threads\":[",
            t->start, t->end, t->end - t->start, t->open ? "true" : "false",
            tl->threads[t->begin_thread].tid,
            t->end_thread == UINT32_MAX ? 0 : tl->threads[t->end_thread].tid);
    uint64_t br[CTRACE_ST_COUNT] = {0};
    for (uint32_t k = 0; k < t->ntouch; k++) {
      const struct ctrace_tl_touch *tc = &tl->touches[t->touch + k];
      fprintf(f, "%s{\"tid\":%u,\"first_ns\":%" PRId64 ",\"last_ns\":%" PRId64 "}", k ? "," : "",
              tl->threads[tc->thread].tid, tc->first, tc->last);
      int64_t a = tc->first < t->start ? t->start : tc->first;
      int64_t b = tc->last > t->end ? t->end : tc->last;
      ctrace_timeline_breakdown(tl, tc->thread, a, b, br);
    }
    fputs("],\"breakdown\":", f);
    json_states(f, br);
    ctrace_event ev;
    static const uint8_t kb[] = {CTRACE_EV_TASK_BEGIN};
    if (find_event(v, t->begin_thread, t->start, kb, 1, &ev) == 0)
      json_event_fields(v, f, t->begin_thread, &ev, 0);
    fputs("}\n", f);
    json_close(&j, out);
    return;
  }
  uint32_t th;
  int64_t ns;
  if (param_thread(p, v, "tid", &th) < 0 ||
      param_i64(p, "ns", INT64_MIN, INT64_MIN / 4, INT64_MAX / 4, &ns) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  if (ns == INT64_MIN) {
    ctrace_reply_error(out, 400, "ns: missing");
    return;
  }
  const struct ctrace_tl_thread *t = &tl->threads[th];
  if (strcmp(kind, "span") == 0) {
    int64_t s, e;
    unsigned st;
    if (ctrace_timeline_span_at(tl, th, ns, &s, &e, &st) < 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "ns: thread %u is not alive then ([%" PRId64 ", %" PRId64 "])",
               t->tid, t->first_ns, t->last_ns);
      ctrace_reply_error(out, 400, msg);
      return;
    }
    if (json_open(&j) < 0) {
      ctrace_reply_error(out, 500, "out of memory");
      return;
    }
    FILE *f = j.f;
    fprintf(f, "{\"kind\":\"span\",\"tid\":%u,\"state\":\"%s\",\"start_ns\":%" PRId64
               ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64,
            t->tid, ctrace_state_name(st), s, e, e - s);
    if (st != CTRACE_ST_RUNNING) {
      ctrace_event ev;
      /* the call that made the span: it ends there, or, still in progress
       * at the end, was recorded by a PENDING at the trace's stop */
      int at_end = s == t->at_end_ns;
      static const uint8_t kb[] = {CTRACE_EV_WAIT, CTRACE_EV_SYSCALL};
      static const uint8_t kp[] = {CTRACE_EV_PENDING};
      if (at_end)
        fputs(",\"in_progress_at_end\":true", f);
      if (at_end ? find_event(v, th, e, kp, 1, &ev) == 0 : find_event(v, th, e, kb, 2, &ev) == 0)
        json_event_fields(v, f, th, &ev, 0); /* the span's dur_ns is the call's */
      /* who woke it: a WAKE naming this thread during the span (or right at
       * its end: the waker may record just after the wait returned) */
      const struct ctrace_tl_wake *w = ctrace_timeline_woken_by(tl, th, s, e + 100000);
      if (w)
        fprintf(f, ",\"woken_by\":{\"tid\":%u,\"ns\":%" PRId64 ",\"object\":\"0x%" PRIx64 "\"}",
                tl->threads[w->waker].tid, w->t, w->object);
    }
    /* innermost region around ns: the task it worked for */
    const struct ctrace_tl_region *in = NULL;
    for (size_t k = tl->region_off[th]; k < tl->region_off[th + 1]; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      if (rg->start <= ns && ns < rg->end && (!in || rg->depth > in->depth))
        in = rg;
    }
    if (in) {
      fprintf(f, ",\"task\":%" PRIu64 ",\"region\":", in->task);
      json_sid(v, f, in->name);
    }
    fputs("}\n", f);
    json_close(&j, out);
    return;
  }
  uint8_t kinds[2];
  const char *label = kind;
  if (strcmp(kind, "region") == 0)
    kinds[0] = CTRACE_EV_REGION_BEGIN;
  else if (strcmp(kind, "log") == 0)
    kinds[0] = CTRACE_EV_LOG;
  else if (strcmp(kind, "wake") == 0)
    kinds[0] = CTRACE_EV_WAKE;
  else if (strcmp(kind, "create") == 0)
    kinds[0] = CTRACE_EV_THREAD_CREATE;
  else {
    ctrace_reply_error(out, 400, "kind: must be span, region, log, wake, create or task");
    return;
  }
  ctrace_event ev;
  if (find_event(v, th, ns, kinds, 1, &ev) < 0) {
    ctrace_reply_error(out, 400, "ns: no such event of that thread near that time");
    return;
  }
  if (json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fprintf(f, "{\"kind\":\"%s\",\"tid\":%u", label, t->tid);
  if (kinds[0] == CTRACE_EV_REGION_BEGIN) {
    int64_t start = ctrace_reader_ns(v->r, ev.ticks);
    for (size_t k = tl->region_off[th]; k < tl->region_off[th + 1]; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      if (rg->start == start) {
        fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64
                   ",\"depth\":%u,\"open\":%s",
                rg->start, rg->end, rg->end - rg->start, rg->depth, rg->open ? "true" : "false");
        break;
      }
    }
  }
  json_event_fields(v, f, th, &ev, kinds[0] != CTRACE_EV_REGION_BEGIN);
  fputs("}\n", f);
  json_close(&j, out);
}

void ctrace_api_handle(struct ctrace_view *v, const char *path, ctrace_param_fn param,
                       void *ctx, struct ctrace_reply *out) {
  struct params p = {param, ctx, ""};
  memset(out, 0, sizeof *out);
  static const struct {
    const char *path;
    void (*fn)(struct ctrace_view *, struct params *, struct ctrace_reply *);
  } routes[] = {
      {"/api/summary", api_summary},     {"/api/threads", api_threads},
      {"/api/tasks", api_tasks},         {"/api/instances", api_instances},
      {"/api/timeline", api_timeline},   {"/api/event", api_event},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (strcmp(path, routes[i].path) == 0) {
      routes[i].fn(v, &p, out);
      return;
    }
  if (strcmp(path, "/api/profile") == 0 || strcmp(path, "/api/pprof") == 0) {
    api_profile(v, &p, out, path[5] == 'p' && path[6] == 'p');
    return;
  }
  ctrace_reply_error(out, 404, "no such endpoint");
}
