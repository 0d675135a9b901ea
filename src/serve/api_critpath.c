/*
 * api_critpath.c - GET /api/critpath (docs/API.md): the critical path of a
 * task, a region, a blocked span or a thread's time range, as JSON; and
 * that JSON's writer, which `ctrace critical-path --json` shares. Also the
 * endpoints of two traces (`ctrace view BEFORE AFTER`): /api/compare,
 * /api/compare/histogram and /api/after/...
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "critpath_json.h"
#include "diff_json.h"

static void json_s(FILE *f, const char *s) { ctrace_json_string(f, s, strlen(s)); }

static void json_frames(FILE *f, const struct ctrace_timeline *tl, ctrace_symbolizer *sym,
                        pthread_mutex_t *lock, uint64_t id) {
  const uint64_t *pcs;
  uint32_t n = id ? ctrace_reader_stack(tl->r, id, &pcs) : 0;
  fputc('[', f);
  if (lock)
    pthread_mutex_lock(lock);
  for (uint32_t i = 0; i < n; i++) {
    struct ctrace_frame fr = {0};
    if (sym)
      ctrace_sym_lookup_stack(sym, id, pcs[i], 1, &fr);
    fprintf(f, "%s{\"function\":", i ? "," : "");
    json_s(f, fr.function ? fr.function : "");
    fputs(",\"file\":", f);
    json_s(f, fr.file ? fr.file : "");
    fprintf(f, ",\"line\":%d,\"pc\":\"0x%" PRIx64 "\"}", fr.line, pcs[i]);
  }
  if (lock)
    pthread_mutex_unlock(lock);
  fputc(']', f);
}

static void json_thread_name(FILE *f, const struct ctrace_timeline *tl, uint32_t th) {
  char nm[256] = "";
  if (th < tl->nthreads)
    ctrace_reader_strcpy(tl->r, ctrace_reader_thread(tl->r, tl->threads[th].index)->name, nm,
                         sizeof nm);
  json_s(f, nm);
}

static uint32_t tid(const struct ctrace_timeline *tl, uint32_t th) {
  return th < tl->nthreads ? tl->threads[th].tid : 0;
}

void ctrace_critpath_json(FILE *f, const struct ctrace_timeline *tl, ctrace_symbolizer *sym,
                          pthread_mutex_t *lock, const struct ctrace_cp *cp) {
  static const char *const vias[] = {"", "wake", "create", "exit", "data"};
  fprintf(f, "{\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64 ",\"tid\":%u",
          cp->start, cp->end, cp->end - cp->start, tid(tl, cp->thread));
  char buf[512];
  fputs(",\"summary\":", f);
  json_s(f, ctrace_cp_summary(tl, cp, buf, sizeof buf));
  fputs(",\"segments\":[", f);
  uint64_t by_state[CTRACE_ST_COUNT + 2] = {0};
  for (size_t i = 0; i < cp->n; i++) {
    const struct ctrace_cp_seg *s = &cp->v[i];
    fprintf(f, "%s{\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64
               ",\"tid\":%u,\"thread\":",
            i ? "," : "", s->start, s->end, s->end - s->start, tid(tl, s->thread));
    json_thread_name(f, tl, s->thread);
    fputs(",\"state\":", f);
    json_s(f, ctrace_cp_label(s));
    fputs(",\"what\":", f);
    json_s(f, ctrace_cp_describe(tl, s, buf, sizeof buf));
    fputs(",\"region\":", f);
    if (s->region) {
      const struct ctrace_string *rs = ctrace_reader_string(tl->r, s->region);
      ctrace_json_string(f, rs ? rs->s : "", rs ? rs->len : 0);
    } else {
      fputs("\"\"", f);
    }
    fprintf(f, ",\"calls\":%" PRIu32 ",\"known\":%s", s->ncalls,
            s->flags & (CTRACE_CP_NO_WAKER | CTRACE_CP_OUTSIDE) ? "false" : "true");
    if (s->flags & CTRACE_CP_AFTER_WAKE)
      fprintf(f, ",\"woken_by\":%u", tid(tl, s->woken_by));
    if (s->flags & CTRACE_CP_DATA)
      fputs(",\"data\":true", f);
    if (s->flags & CTRACE_CP_INFERRED)
      fputs(",\"inferred\":true", f);
    if (s->flags & CTRACE_CP_HANDOFF)
      fprintf(f, ",\"handoff\":{\"tid\":%u,\"via\":\"%s\"}", tid(tl, s->next),
              s->via < sizeof vias / sizeof vias[0] ? vias[s->via] : "");
    fprintf(f, ",\"stack_id\":%" PRIu64 ",\"stack\":", s->stack);
    json_frames(f, tl, sym, lock, s->stack);
    fputc('}', f);
    unsigned k = s->flags & CTRACE_CP_STARTING ? CTRACE_ST_COUNT + 1
                 : s->flags & CTRACE_CP_OUTSIDE ? CTRACE_ST_COUNT
                                                : s->state;
    by_state[k] += (uint64_t)(s->end - s->start);
  }
  fputs("],\"by_state\":{", f);
  int first = 1;
  for (unsigned k = 0; k < CTRACE_ST_COUNT + 2; k++) {
    if (!by_state[k])
      continue;
    const char *name = k == CTRACE_ST_COUNT ? "not_traced" : k > CTRACE_ST_COUNT ? "starting"
                                                                                  : ctrace_state_name(k);
    fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", name, by_state[k]);
    first = 0;
  }
  fputs("},\"by_thread\":[", f);
  /* per thread, in order of first appearance on the path */
  struct ctrace_cp_thread_ns *bt;
  long nbt = ctrace_cp_by_thread(cp, &bt);
  for (long i = 0; i < nbt; i++) {
    fprintf(f, "%s{\"tid\":%u,\"thread\":", i ? "," : "", tid(tl, bt[i].thread));
    json_thread_name(f, tl, bt[i].thread);
    fprintf(f, ",\"ns\":%" PRIu64 "}", bt[i].ns);
  }
  free(bt);
  fputs("]}\n", f);
}

static pthread_mutex_t cp_data_lock = PTHREAD_MUTEX_INITIALIZER;

/* The data edges of the view's flows, indexed on the first walk (NULL: a
 * trace without fd records, or out of memory: walks without them). */
static const struct ctrace_cp_data *cp_data_of(struct ctrace_view *v) {
  if (!ctrace_reader_nevents_kind(v->r, CTRACE_EV_FD))
    return NULL;
  const struct ctrace_flows *f = ctrace__view_flows(v);
  pthread_mutex_lock(&cp_data_lock);
  if (!v->cp_data && f)
    (void)ctrace_critpath_data_build(v->tl, f, &v->cp_data);
  const struct ctrace_cp_data *d = v->cp_data;
  pthread_mutex_unlock(&cp_data_lock);
  return d;
}

/* kind=task&id=ID | kind=region&id=K | kind=span&tid=T&ns=NS |
 * kind=range&tid=T&start_ns=A&end_ns=B */
void ctrace__api_critpath(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  const struct ctrace_cp_data *data = NULL;
  const char *kind = p->get(p->ctx, "kind");
  struct ctrace_cp cp;
  int rc;
  if (!kind) {
    ctrace_reply_error(out, 400, "kind: missing (task, region, span or range)");
    return;
  }
  if (strcmp(kind, "task") == 0 || strcmp(kind, "region") == 0) {
    int64_t id;
    if (ctrace__param_i64(p, "id", -1, 0, INT64_MAX, &id) < 0 || id < 0) {
      ctrace_reply_error(out, 400, p->err[0] ? p->err : "id: missing");
      return;
    }
    data = cp_data_of(v);
    rc = kind[0] == 't' ? ctrace_critpath_task(tl, data, (uint64_t)id, &cp)
                        : ctrace_critpath_region(tl, data, (size_t)id, &cp);
    if (rc == -ENOENT) {
      ctrace_reply_error(out, 400, kind[0] == 't' ? "id: no such task" : "id: no such region");
      return;
    }
  } else if (strcmp(kind, "span") == 0 || strcmp(kind, "range") == 0) {
    uint32_t th;
    if (ctrace__param_thread(p, v, "tid", &th) < 0) {
      ctrace_reply_error(out, 400, p->err);
      return;
    }
    if (kind[0] == 's') {
      int64_t ns;
      if (ctrace__param_i64(p, "ns", INT64_MIN, INT64_MIN + 1, INT64_MAX, &ns) < 0 ||
          ns == INT64_MIN) {
        ctrace_reply_error(out, 400, p->err[0] ? p->err : "ns: missing");
        return;
      }
      rc = ctrace_critpath_span(tl, cp_data_of(v), th, ns, &cp);
      if (rc == -ENOENT) {
        ctrace_reply_error(out, 400, "ns: outside the thread's life");
        return;
      }
    } else {
      int64_t a, b;
      if (ctrace__param_i64(p, "start_ns", INT64_MIN, INT64_MIN + 1, INT64_MAX, &a) < 0 ||
          ctrace__param_i64(p, "end_ns", INT64_MIN, INT64_MIN + 1, INT64_MAX, &b) < 0 ||
          a == INT64_MIN || b == INT64_MIN) {
        ctrace_reply_error(out, 400, p->err[0] ? p->err : "start_ns and end_ns: both needed");
        return;
      }
      if (a < tl->start_ns)
        a = tl->start_ns;
      if (b > tl->end_ns)
        b = tl->end_ns;
      if (a >= b) {
        ctrace_reply_error(out, 400, "start_ns must be before end_ns, inside the trace");
        return;
      }
      rc = ctrace_critpath(tl, cp_data_of(v), th, a, b, &cp);
    }
  } else {
    ctrace_reply_error(out, 400, "kind: unknown (task, region, span or range)");
    return;
  }
  if (rc < 0) {
    ctrace_reply_error(out, rc == -ENOMEM ? 500 : 400,
                       rc == -ENOMEM ? "out of memory" : "no critical path for that");
    return;
  }
  struct json j;
  if (ctrace__json_open(&j) < 0) {
    ctrace_critpath_free(&cp);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  ctrace_critpath_json(j.f, tl, v->sym, &v->sym_lock, &cp);
  ctrace_critpath_free(&cp);
  ctrace__json_close(&j, out);
}

/* ---- two traces: `ctrace view BEFORE AFTER` ---- */

/* /api/after/X is /api/X of the second trace; /api/compare the comparison
 * (the object of `ctrace diff --json`); /api/compare/histogram one name's
 * durations in both traces on common buckets. */
void ctrace__api_compare(struct ctrace_view *v, const char *path, struct params *p,
                         struct ctrace_reply *out) {
  struct json j;
  if (!v->after && strcmp(path, "/api/compare") == 0) { /* the page asks: say so, no error */
    if (ctrace__json_open(&j) < 0) {
      ctrace_reply_error(out, 500, "out of memory");
      return;
    }
    fputs("{\"before\":", j.f);
    json_s(j.f, v->path ? v->path : "");
    fputs(",\"after\":null}\n", j.f);
    ctrace__json_close(&j, out);
    return;
  }
  if (!v->after) {
    ctrace_reply_error(out, 404, "one trace is open: compare two with ctrace view BEFORE AFTER");
    return;
  }
  if (strncmp(path, "/api/after/", 11) == 0) {
    char sub[128];
    snprintf(sub, sizeof sub, "/api/%s", path + 11);
    if (strncmp(sub, "/api/after/", 11) == 0 || strncmp(sub, "/api/compare", 12) == 0) {
      ctrace_reply_error(out, 404, "no such endpoint");
      return;
    }
    ctrace_api_handle(v->after, sub, p->get, p->ctx, out);
    return;
  }
  struct ctrace_diff_opts o = CTRACE_DIFF_OPTS_DEFAULT;
  if (strcmp(path, "/api/compare") == 0) {
    struct ctrace_diff d;
    if (ctrace_diff_build(v->tl, v->after->tl, &o, &d) < 0) {
      ctrace_reply_error(out, 500, "out of memory");
      return;
    }
    if (ctrace__json_open(&j) < 0) {
      ctrace_diff_free(&d);
      ctrace_reply_error(out, 500, "out of memory");
      return;
    }
    ctrace_diff_json(j.f, &d, v->path, v->after->path);
    ctrace_diff_free(&d);
    ctrace__json_close(&j, out);
    return;
  }
  if (strcmp(path, "/api/compare/histogram") != 0) {
    ctrace_reply_error(out, 404, "no such endpoint");
    return;
  }
  const char *kind = p->get(p->ctx, "kind"), *name = p->get(p->ctx, "name");
  int64_t nb;
  if (!kind || (strcmp(kind, "task") != 0 && strcmp(kind, "region") != 0)) {
    ctrace_reply_error(out, 400, "kind: task or region");
    return;
  }
  if (!name) {
    ctrace_reply_error(out, 400, "name: missing");
    return;
  }
  if (ctrace__param_i64(p, "buckets", 20, 1, 64, &nb) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  int64_t lo[64], hi[64];
  uint64_t ca[64], cb[64];
  int n = ctrace_diff_histogram(v->tl, v->after->tl, kind[0] == 'r', name, (int)nb, lo, hi, ca, cb);
  if (ctrace__json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  fprintf(j.f, "{\"kind\":\"%s\",\"name\":", kind);
  json_s(j.f, name);
  fputs(",\"buckets\":[", j.f);
  for (int k = 0; k < n; k++)
    fprintf(j.f, "%s{\"lo_ns\":%" PRId64 ",\"hi_ns\":%" PRId64 ",\"before\":%" PRIu64
                 ",\"after\":%" PRIu64 "}",
            k ? "," : "", lo[k], hi[k], ca[k], cb[k]);
  fputs("]}\n", j.f);
  ctrace__json_close(&j, out);
}
