/*
 * api.c - the HTTP plumbing of `ctrace view`'s API (docs/API.md): replies,
 * JSON answers, query parameters and the routing table from a path to the
 * view that answers it (api_views.c, api_event.c). Knows nothing of
 * sockets (server.c) nor of what the views compute.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

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

int ctrace__json_open(struct json *j) {
  j->buf = NULL;
  j->len = 0;
  j->f = open_memstream(&j->buf, &j->len);
  return j->f ? 0 : -1;
}
void ctrace__json_close(struct json *j, struct ctrace_reply *out) {
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
void ctrace__json_str(FILE *f, const char *s) { ctrace_json_string(f, s ? s : "", s ? strlen(s) : 0); }
void ctrace__json_sid(const struct ctrace_view *v, FILE *f, uint64_t id) {
  const struct ctrace_string *s = ctrace_reader_string(v->r, id);
  if (s && id)
    ctrace_json_string(f, s->s, s->len);
  else
    fputs("\"\"", f);
}

/* ---- parameters ---- */

/* Strict decimal: optional '-', digits, no overflow, nothing after. */
int ctrace__parse_i64(const char *s, int64_t *out) {
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
int ctrace__param_i64(struct params *p, const char *key, int64_t def, int64_t min, int64_t max,
                     int64_t *out) {
  const char *s = p->get(p->ctx, key);
  if (!s) {
    *out = def;
    return 0;
  }
  int64_t v;
  if (ctrace__parse_i64(s, &v) < 0) {
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

int ctrace__param_thread(struct params *p, const struct ctrace_view *v, const char *key,
                        uint32_t *out) {
  int64_t tid;
  if (ctrace__param_i64(p, key, -1, 0, UINT32_MAX, &tid) < 0)
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
void ctrace__json_states(FILE *f, const uint64_t *ns) {
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

/* ---- stacks ---- */
void ctrace__json_stack(struct ctrace_view *v, FILE *f, uint64_t id) {
  const uint64_t *pcs;
  uint32_t n = ctrace_reader_stack(v->r, id, &pcs);
  fputc('[', f);
  pthread_mutex_lock(&v->sym_lock);
  for (uint32_t i = 0; i < n; i++) {
    struct ctrace_frame fr;
    /* Every PC the recorder captures is a return address, the innermost
     * one included (the walk starts in the caller of the recording call). */
    ctrace_sym_lookup_stack(v->sym, id, pcs[i], 1, &fr);
    fprintf(f, "%s{\"function\":", i ? "," : "");
    ctrace__json_str(f, fr.function);
    fputs(",\"file\":", f);
    ctrace__json_str(f, fr.file);
    fputs(",\"object\":", f);
    ctrace__json_str(f, fr.object);
    fprintf(f, ",\"offset\":\"0x%" PRIx64 "\",\"line\":%d,\"pc\":\"0x%" PRIx64 "\"}",
            fr.object_offset, fr.line, pcs[i]);
  }
  pthread_mutex_unlock(&v->sym_lock);
  fputc(']', f);
}

static void api_profile(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  ctrace__api_profile(v, p, out, 0);
}
static void api_pprof(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  ctrace__api_profile(v, p, out, 1);
}

void ctrace_api_handle(struct ctrace_view *v, const char *path, ctrace_param_fn param,
                       void *ctx, struct ctrace_reply *out) {
  struct params p = {param, ctx, ""};
  memset(out, 0, sizeof *out);
  static const struct {
    const char *path;
    void (*fn)(struct ctrace_view *, struct params *, struct ctrace_reply *);
  } routes[] = {
      {"/api/summary", ctrace__api_summary},     {"/api/threads", ctrace__api_threads},
      {"/api/tasks", ctrace__api_tasks},         {"/api/instances", ctrace__api_instances},
      {"/api/timeline", ctrace__api_timeline},   {"/api/event", ctrace__api_event},
      {"/api/search", ctrace__api_search},       {"/api/range", ctrace__api_range},
      {"/api/counters", ctrace__api_counters},   {"/api/drops", ctrace__api_drops},
      {"/api/critpath", ctrace__api_critpath},   {"/api/cpus", ctrace__api_cpus},
      {"/api/profile", api_profile},             {"/api/pprof", api_pprof},
      {"/api/samples", ctrace__api_samples},     {"/api/sample", ctrace__api_sample},
      {"/api/flows", ctrace__api_flows},
  };
  /* Routes that take the rest of the path (api_critpath.c: two traces). */
  static const struct {
    const char *prefix;
    void (*fn)(struct ctrace_view *, const char *, struct params *, struct ctrace_reply *);
  } prefixes[] = {
      {"/api/compare", ctrace__api_compare},
      {"/api/after/", ctrace__api_compare},
  };
  static const char changed[] = "the trace file changed on disk (truncated or rewritten) since "
                                "ctrace view loaded it: restart ctrace view to see it";
  if (ctrace_view_changed(v)) {
    ctrace_reply_error(out, 409, changed);
    return;
  }
  int found = 0;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !found; i++)
    if (strcmp(path, routes[i].path) == 0) {
      routes[i].fn(v, &p, out);
      found = 1;
    }
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0] && !found; i++)
    if (strncmp(path, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0) {
      prefixes[i].fn(v, path, &p, out);
      found = 1;
    }
  if (!found) {
    ctrace_reply_error(out, 404, "no such endpoint");
    return;
  }
  /* the file may have changed while this answer read it (view.h) */
  if (ctrace_view_changed(v)) {
    free(out->body);
    memset(out, 0, sizeof *out);
    ctrace_reply_error(out, 409, changed);
  }
}

