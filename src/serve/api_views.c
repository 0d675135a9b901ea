/*
 * api_views.c - the views of the trace served by the HTTP API (docs/API.md):
 * /api/summary, /api/threads, /api/tasks, /api/instances, /api/profile and
 * /api/pprof, /api/timeline. JSON everywhere except /api/timeline (a
 * compact binary form, timeline_bin.c) and /api/pprof (gzipped
 * profile.proto). The plumbing is api.c.
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
#include "api_int.h"
#include "timeline_bin.h"

/* ---- /api/summary ---- */
void ctrace__api_summary(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  struct json j;
  char *stats = NULL;
  size_t slen = 0;
  FILE *sf = open_memstream(&stats, &slen);
  if (!sf || ctrace__json_open(&j) < 0) {
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
  /* its process_list is ours below, with the tree's places (api_procs.c) */
  slen = ctrace__json_drop_list(stats, slen, "process_list");
  FILE *f = j.f;
  fwrite(stats, 1, slen, f);
  free(stats);
  const struct ctrace_timeline *tl = v->tl;
  fprintf(f, ",\"file\":");
  ctrace__json_str(f, v->path);
  if (v->after) { /* ctrace view BEFORE AFTER: the Compare page (api_critpath.c) */
    fprintf(f, ",\"compare_with\":");
    ctrace__json_str(f, v->after->path);
  }
  if (v->st.sched.recorded) /* the CPUs page (web/cpu-view.js) is a tab */
    fputs(",\"cpus_view\":true", f);
  fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"pid\":%u", tl->start_ns,
          tl->end_ns, ctrace_reader_pid(v->r));
  /* "thread_list" and "process_list": the stats object already has
   * "threads" and "processes" (their counts); JSON keys must not repeat. */
  fputs(",\"thread_list\":[", f);
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_tl_thread *t = &tl->threads[i];
    const struct ctrace_thread_info *ti = ctrace_reader_thread(v->r, t->index);
    uint32_t proc = ctrace_timeline_thread_process(tl, i);
    fprintf(f, "%s{\"index\":%u,\"tid\":%u,\"instance\":%u,\"pid\":%u,\"name\":", i ? "," : "",
            i, t->tid, ti->instance, tl->procs[proc].pid);
    ctrace__json_sid(v, f, ti->name);
    fprintf(f,
            ",\"first_ns\":%" PRId64 ",\"last_ns\":%" PRId64 ",\"created_by\":%u,\"exited\":%s,"
            "\"dropped\":%" PRIu64 ",\"max_depth\":%u,\"process\":%u}",
            t->first_ns, t->last_ns, t->created_by, t->exited ? "true" : "false", t->dropped,
            tl->max_depth[i], proc);
  }
  fputc(']', f);
  ctrace__json_processes(v, f); /* api_procs.c */
  fprintf(f, ",\"index_bytes\":%zu,\"index_cache\":\"%s\",\"index_cache_file\":", tl->bytes,
          ctrace_view_cache_state(v));
  const char *cs = ctrace_view_cache_state(v);
  const char *cf = strcmp(cs, "loaded") == 0 || strcmp(cs, "saved") == 0 ? v->cache_file : "";
  ctrace_json_string(f, cf, strlen(cf));
  fputs("}\n", f);
  (void)p;
  ctrace__json_close(&j, out);
}

/* ---- /api/threads ---- */
void ctrace__api_threads(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  struct json j;
  if (ctrace__json_open(&j) < 0) {
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
    ctrace__json_sid(v, f, ti->name);
    fprintf(f, ",\"total_ns\":%" PRId64 ",\"states\":", t->last_ns - t->first_ns);
    ctrace__json_states(f, t->state_ns);
    uint32_t proc = ctrace_timeline_thread_process(tl, i);
    fprintf(f, ",\"instance\":%u,\"first_ns\":%" PRId64 ",\"last_ns\":%" PRId64
               ",\"pid\":%u,\"process\":%u}",
            ti->instance, t->first_ns, t->last_ns, tl->procs[proc].pid, proc);
  }
  fputs("]}\n", f);
  (void)p;
  ctrace__json_close(&j, out);
}

/* ---- /api/tasks ---- */
static int latency_list(struct ctrace_view *v, FILE *f, int regions) {
  struct ctrace_tl_latency *L;
  long n = ctrace_timeline_latency(v->tl, regions, &L);
  /* every task or region was read: a loaded index cache's pages go before
   * the next walk (view.c), so that the server holds one walk's at a time */
  ctrace_view_release_index(v);
  if (n < 0)
    return -1;
  fputc('[', f);
  for (long i = 0; i < n; i++) {
    fprintf(f, "%s{\"name\":", i ? "," : "");
    ctrace__json_sid(v, f, L[i].name);
    fprintf(f,
            ",\"count\":%" PRIu64 ",\"min_ns\":%" PRId64 ",\"p50_ns\":%" PRId64
            ",\"p90_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"max_ns\":%" PRId64
            ",\"unended\":%" PRIu64 ",\"histogram\":[",
            L[i].count, L[i].min, L[i].p50, L[i].p90, L[i].p99, L[i].max, L[i].unended);
    for (unsigned b = 0; b < L[i].nbuckets; b++)
      fprintf(f, "%s{\"lo_ns\":%" PRId64 ",\"hi_ns\":%" PRId64 ",\"count\":%" PRIu64 "}",
              b ? "," : "", L[i].lo[b], L[i].hi[b], L[i].hist[b]);
    fputs("]}", f);
  }
  fputc(']', f);
  free(L);
  return 0;
}

void ctrace__api_tasks(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  struct json j;
  if (ctrace__json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  fputs("{\"tasks\":", j.f);
  int err = latency_list(v, j.f, 0);
  fputs(",\"regions\":", j.f);
  err |= latency_list(v, j.f, 1);
  uint64_t unended_tasks = ctrace_timeline_unended(v->tl, 0);
  ctrace_view_release_index(v);
  uint64_t unended_regions = ctrace_timeline_unended(v->tl, 1);
  ctrace_view_release_index(v);
  fprintf(j.f, ",\"unended\":{\"tasks\":%" PRIu64 ",\"regions\":%" PRIu64 "}}\n",
          unended_tasks, unended_regions);
  (void)p;
  if (err) {
    fclose(j.f);
    free(j.buf);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  ctrace__json_close(&j, out);
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

void ctrace__api_instances(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  int regions;
  int64_t limit;
  if (param_kind(p, &regions) < 0 || ctrace__param_i64(p, "limit", 100, 1, 100000, &limit) < 0) {
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
  if (n < 0 || ctrace__json_open(&j) < 0) {
    free(I);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fputs("{\"instances\":[", f);
  for (long i = 0; i < n; i++) {
    fprintf(f, "%s{\"id\":%" PRIu64 ",\"name\":", i ? "," : "", I[i].id);
    ctrace__json_str(f, name);
    fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64 ",\"tids\":[",
            I[i].start, I[i].end, I[i].end - I[i].start);
    for (uint32_t k = 0; k < I[i].ntids; k++)
      fprintf(f, "%s%u", k ? "," : "", I[i].tids[k]);
    fputs("],\"breakdown\":", f);
    ctrace__json_states(f, I[i].breakdown);
    fputc('}', f);
  }
  fputs("]}\n", f);
  free(I);
  ctrace__json_close(&j, out);
}

/* ---- /api/profile and /api/pprof ---- */
static int profile_params(struct ctrace_view *v, struct params *p, enum ctrace_profile_kind *kind,
                          int64_t *a, int64_t *b, uint32_t *tid) {
  const char *k = p->get(p->ctx, "kind");
  if (!k || ctrace_profile_kind_parse(k, kind) < 0) {
    snprintf(p->err, sizeof p->err, "kind: must be sync, net, syscall, poll, sleep or cpu");
    return -1;
  }
  int64_t t, idle;
  if (ctrace__param_i64(p, "start_ns", INT64_MIN, INT64_MIN, INT64_MAX, a) < 0 ||
      ctrace__param_i64(p, "end_ns", INT64_MAX, INT64_MIN, INT64_MAX, b) < 0 ||
      ctrace__param_i64(p, "tid", 0, 0, UINT32_MAX, &t) < 0 ||
      ctrace__param_i64(p, "idle", 1, 0, 1, &idle) < 0) /* idle=0: condvar waits left out */
    return -1;
  if (!idle)
    *kind = (enum ctrace_profile_kind)((unsigned)*kind | CTRACE_PROFILE_NO_IDLE);
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

/* task=ID or region=K: the windows of the threads that worked for the
 * task (each from the first to the last thing it did for it, within the
 * task), or the region's thread over the region; cut to [a, b) and, with
 * tid, to that thread. 1 with *w (a malloc'ed array when more than 64)
 * and *nw filled, 0 when neither parameter is given, -1 with p->err. */
static int profile_scope(struct ctrace_view *v, struct params *p, int64_t a, int64_t b,
                         uint32_t tid, struct ctrace_profile_window **w, size_t *nw) {
  const struct ctrace_timeline *tl = v->tl;
  int64_t task, region;
  if (ctrace__param_i64(p, "task", -1, 0, INT64_MAX, &task) < 0 ||
      ctrace__param_i64(p, "region", -1, 0, INT64_MAX, &region) < 0)
    return -1;
  if (task < 0 && region < 0)
    return 0;
  if (task >= 0 && region >= 0) {
    snprintf(p->err, sizeof p->err, "task and region: give one of them");
    return -1;
  }
  struct ctrace_profile_window *out = *w;
  size_t n = 0;
  if (region >= 0) {
    if ((uint64_t)region >= tl->nregions) {
      snprintf(p->err, sizeof p->err, "region: no region %" PRId64 " in the trace", region);
      return -1;
    }
    const struct ctrace_tl_region *rg = &tl->regions[region];
    uint32_t th = ctrace_timeline_region_thread(tl, (size_t)region);
    out[n++] = (struct ctrace_profile_window){tl->threads[th].index, rg->start, rg->end};
  } else {
    const struct ctrace_tl_task *t = NULL;
    for (size_t i = 0; i < tl->ntasks && !t; i++)
      if (tl->tasks[i].id == (uint64_t)task)
        t = &tl->tasks[i];
    if (!t) {
      snprintf(p->err, sizeof p->err, "task: no task %" PRId64 " in the trace", task);
      return -1;
    }
    if (t->ntouch > 64 && !(out = malloc(t->ntouch * sizeof *out))) {
      snprintf(p->err, sizeof p->err, "out of memory");
      return -1;
    }
    for (uint32_t j = 0; j < t->ntouch; j++) {
      const struct ctrace_tl_touch *tc = &tl->touches[t->touch + j];
      int64_t s = tc->first < t->start ? t->start : tc->first;
      int64_t e = tc->last > t->end ? t->end : tc->last;
      out[n++] = (struct ctrace_profile_window){tl->threads[tc->thread].index, s, e};
    }
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    struct ctrace_profile_window x = out[i];
    if (tid && ctrace_reader_thread(v->r, x.thread)->tid != tid)
      continue;
    x.start_ns = x.start_ns < a ? a : x.start_ns;
    x.end_ns = x.end_ns > b ? b : x.end_ns;
    if (x.end_ns == x.start_ns && x.end_ns < INT64_MAX)
      x.end_ns++; /* a task of one instant still counts what ended at it */
    if (x.start_ns < x.end_ns)
      out[k++] = x;
  }
  *w = out;
  *nw = k;
  return 1;
}

void ctrace__api_profile(struct ctrace_view *v, struct params *p, struct ctrace_reply *out,
                        int pprof) {
  enum ctrace_profile_kind kind;
  int64_t a, b, limit;
  uint32_t tid;
  if (profile_params(v, p, &kind, &a, &b, &tid) < 0 ||
      ctrace__param_i64(p, "limit", 1000, 1, 1000000, &limit) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  struct ctrace_profile prof;
  struct ctrace_profile_window w[64], *wv = w;
  size_t nw = 0;
  int scoped = profile_scope(v, p, a, b, tid, &wv, &nw);
  if (scoped < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  /* several threads (tids=): their profiles summed */
  int several = scoped || tid ? 0 : ctrace__profile_tids(v, p, kind, a, b, &prof);
  if (several < 0) {
    ctrace_reply_error(out, *p->err ? 400 : 500, *p->err ? p->err : "out of memory");
    return;
  }
  int rc = scoped    ? ctrace_profile_build_windows(v->r, kind, wv, nw, &prof)
           : several ? 0
                     : ctrace_profile_build(v->r, kind, a, b, tid, &prof);
  if (wv != w)
    free(wv);
  if (rc < 0) {
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
  if (ctrace__json_open(&j) < 0) {
    ctrace_profile_free(&prof);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fprintf(f, "{\"kind\":\"%s\",\"total_ns\":%" PRIu64 ",\"stacks\":[",
          ctrace_profile_kind_name(kind), prof.total_ns);
  for (size_t i = 0; i < prof.n && i < (size_t)limit; i++) {
    char call[32];
    fprintf(f, "%s{\"total_ns\":%" PRIu64 ",\"count\":%" PRIu64 ",\"call\":", i ? "," : "",
            prof.v[i].total_ns, prof.v[i].count);
    ctrace__json_str(f, ctrace_profile_call_name(&prof.v[i], call, sizeof call));
    fputs(",\"frames\":", f);
    ctrace__json_stack(v, f, prof.v[i].stack);
    fputc('}', f);
  }
  fprintf(f, "],\"nstacks\":%zu}\n", prof.n);
  ctrace_profile_free(&prof);
  ctrace__json_close(&j, out);
}

/* ---- /api/timeline ---- */
void ctrace__api_timeline(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  int64_t a, b, width, format;
  if (ctrace__param_i64(p, "start_ns", tl->start_ns, INT64_MIN / 4, INT64_MAX / 4, &a) < 0 ||
      ctrace__param_i64(p, "end_ns", tl->end_ns, INT64_MIN / 4, INT64_MAX / 4, &b) < 0 ||
      ctrace__param_i64(p, "width", 1000, 1, 20000, &width) < 0 ||
      ctrace__param_i64(p, "format", 1, 1, 2, &format) < 0) {
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
      int64_t idx = ctrace__parse_i64(buf, &tid) == 0 && tid >= 0 && tid <= UINT32_MAX
                        ? ctrace_timeline_thread(tl, (uint32_t)tid)
                        : -2;
      if (idx == -2) {
        free(rows);
        ctrace_reply_error(out, 400, "tids: a comma-separated list of thread ids");
        return;
      }
      /* every thread that had the tid (the kernel reuses tids): from the
       * first to the latest */
      int64_t last = idx >= 0 ? ctrace_reader_thread_index(v->r, (uint32_t)tid) : -1;
      for (int64_t i = idx; idx >= 0 && i <= last && nrows < tl->nthreads; i++)
        if (tl->threads[i].tid == (uint32_t)tid)
          rows[nrows++] = (uint32_t)i;
      s += len;
      if (*s == ',')
        s++;
    }
  } else {
    for (uint32_t i = 0; i < tl->nthreads; i++)
      rows[nrows++] = i;
  }
  int err = ctrace_timeline_encode(v, a, b, (uint32_t)width, rows, nrows, (unsigned)format, out);
  free(rows);
  if (err)
    ctrace_reply_error(out, 500, "out of memory");
}

