/*
 * api_find.c - the views of the HTTP API that answer a question about the
 * trace rather than draw it (docs/API.md): /api/search (tasks, regions,
 * logs, threads and calls by name), /api/range (what a time range of the
 * timeline holds: time per state per thread, tasks and regions with their
 * latencies, the top blocking stacks) and /api/counters (the values of
 * ctrace_counter() over a window, fitted to pixels).
 * The plumbing is api.c; the index is src/analyze/timeline.h.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analyze/profile.h"
#include "../base/sort.h"
#include "../base/vec.h"
#include "../analyze/timeline_cache.h"
#include "api_int.h"

/* A window [a, b] from start_ns / end_ns (default: the whole trace), clamped
 * to the trace; -1 with p->err when it is inverted or outside. */
static int param_window(const struct ctrace_view *v, struct params *p, int64_t *a, int64_t *b) {
  const struct ctrace_timeline *tl = v->tl;
  if (ctrace__param_i64(p, "start_ns", tl->start_ns, INT64_MIN / 4, INT64_MAX / 4, a) < 0 ||
      ctrace__param_i64(p, "end_ns", tl->end_ns, INT64_MIN / 4, INT64_MAX / 4, b) < 0)
    return -1;
  if (*a > *b) {
    snprintf(p->err, sizeof p->err, "start_ns must not be after end_ns");
    return -1;
  }
  if (*b < tl->start_ns || *a > tl->end_ns) {
    snprintf(p->err, sizeof p->err, "the window is outside the trace [%" PRId64 ", %" PRId64 "]",
             tl->start_ns, tl->end_ns);
    return -1;
  }
  if (*a < tl->start_ns)
    *a = tl->start_ns;
  if (*b > tl->end_ns)
    *b = tl->end_ns;
  return 0;
}

/* The thread indexes of "tids" (a comma-separated list; unknown tids are an
 * error), or every thread when absent: a malloc'ed flag per thread. */
static uint8_t *param_threads(const struct ctrace_view *v, struct params *p, uint32_t *nsel) {
  const struct ctrace_timeline *tl = v->tl;
  uint8_t *sel = calloc(tl->nthreads ? tl->nthreads : 1, 1);
  if (!sel) {
    snprintf(p->err, sizeof p->err, "out of memory");
    return NULL;
  }
  *nsel = 0;
  const char *s = p->get(p->ctx, "tids");
  if (!s || !*s) {
    memset(sel, 1, tl->nthreads);
    *nsel = tl->nthreads;
    return sel;
  }
  while (*s) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char buf[24];
    int64_t tid, idx = -1;
    if (len && len < sizeof buf) {
      memcpy(buf, s, len);
      buf[len] = 0;
      if (ctrace__parse_i64(buf, &tid) == 0 && tid >= 0 && tid <= UINT32_MAX)
        idx = ctrace_timeline_thread(tl, (uint32_t)tid);
    }
    if (idx < 0) {
      snprintf(p->err, sizeof p->err, "tids: a comma-separated list of thread ids of the trace");
      free(sel);
      return NULL;
    }
    /* every thread that had the tid (the kernel reuses tids) */
    int64_t last = ctrace_reader_thread_index(v->r, (uint32_t)tid);
    for (int64_t i = idx; i <= last && i < (int64_t)tl->nthreads; i++)
      if (tl->threads[i].tid == (uint32_t)tid && !sel[i]) {
        sel[i] = 1;
        (*nsel)++;
      }
    s += len;
    if (*s == ',')
      s++;
  }
  return sel;
}

/* ---- /api/search ---- */

/* Case-insensitive (ASCII) substring: q is already lower case. */
static int contains(const char *h, size_t hl, const char *q, size_t ql) {
  if (ql > hl)
    return 0;
  for (size_t i = 0; i + ql <= hl; i++) {
    size_t k = 0;
    while (k < ql && tolower((unsigned char)h[i + k]) == (unsigned char)q[k])
      k++;
    if (k == ql)
      return 1;
  }
  return 0;
}

enum { HIT_TASK, HIT_REGION, HIT_LOG, HIT_THREAD, HIT_CALL, HIT_KINDS };
static const char *const hit_kind[HIT_KINDS] = {"task", "region", "log", "thread", "call"};

struct hit {
  int64_t s, e;
  uint64_t ref;    /* task / region / log index; call: fd */
  uint32_t thread; /* index */
  uint16_t code;   /* call: the syscall call or wait reason */
  uint8_t kind, wait;
};

/* The earliest `limit` hits after `after` (when paging), in a max-heap
 * by start (then kind, ref, thread: one order, so pages neither repeat nor
 * skip a hit). */
struct hits {
  struct hit *v;
  size_t n, limit;
  uint64_t total, per_kind[HIT_KINDS];
  int paging;
  struct hit after; /* the last hit of the previous page */
  uint64_t skipped; /* hits up to it: the offset of this page */
};
static int hit_after(const struct hit *x, const struct hit *y) {
  if (x->s != y->s)
    return x->s > y->s;
  if (x->kind != y->kind)
    return x->kind > y->kind;
  if (x->ref != y->ref)
    return x->ref > y->ref;
  return x->thread > y->thread;
}
static void hits_add(struct hits *H, struct hit h) {
  H->total++;
  H->per_kind[h.kind]++;
  if (H->paging && !hit_after(&h, &H->after)) {
    H->skipped++;
    return;
  }
  if (H->n < H->limit) {
    size_t i = H->n++;
    while (i && hit_after(&h, &H->v[(i - 1) / 2])) {
      H->v[i] = H->v[(i - 1) / 2];
      i = (i - 1) / 2;
    }
    H->v[i] = h;
    return;
  }
  if (!H->n || !hit_after(&H->v[0], &h))
    return;
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= H->n)
      break;
    if (c + 1 < H->n && hit_after(&H->v[c + 1], &H->v[c]))
      c++;
    if (!hit_after(&H->v[c], &h))
      break;
    H->v[i] = H->v[c];
    i = c;
  }
  H->v[i] = h;
}
static int hit_cmp(const void *x, const void *y) {
  return hit_after(x, y) ? 1 : hit_after(y, x) ? -1 : 0;
}

/* The SYSCALL and WAIT events whose call (or reason) matched, in [a, b]. */
static void search_calls(const struct ctrace_view *v, const uint8_t *call_ok,
                         const uint8_t *reason_ok, int64_t a, int64_t b, struct hits *H) {
  const struct ctrace_timeline *tl = v->tl;
  for (uint32_t t = 0; t < tl->nthreads; t++) {
    const struct ctrace_tl_thread *th = &tl->threads[t];
    if (th->last_ns < a || th->first_ns > b)
      continue;
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, v->r, th->index);
    while (ctrace_cursor_next(&c, &ev)) {
      uint64_t dur, code, fd = UINT64_MAX;
      int wait;
      if (ev.kind == CTRACE_EV_SYSCALL) {
        struct ctrace_ev_syscall sc = CTRACE_EV(syscall, &ev);
        if (sc.call >= 256 || !call_ok[sc.call])
          continue;
        dur = sc.dur, code = sc.call, fd = sc.fd, wait = 0;
      } else if (ev.kind == CTRACE_EV_WAIT) {
        struct ctrace_ev_wait w = CTRACE_EV(wait, &ev);
        if (w.reason >= 256 || !reason_ok[w.reason])
          continue;
        dur = w.dur, code = w.reason, wait = 1;
      } else {
        continue;
      }
      int64_t e = ctrace_reader_ns(v->r, ev.ticks);
      int64_t s = ctrace_reader_ns(v->r, dur < ev.ticks ? ev.ticks - dur : 0);
      if (e < a || s > b)
        continue;
      hits_add(H, (struct hit){s, e, fd, t, (uint16_t)code, HIT_CALL, (uint8_t)wait});
    }
  }
}

void ctrace__api_search(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  int64_t a, b, limit;
  const char *q0 = p->get(p->ctx, "q");
  if (!q0 || !*q0) {
    ctrace_reply_error(out, 400, "q: missing (the text to look for)");
    return;
  }
  size_t ql = strlen(q0);
  if (ql > 200) {
    ctrace_reply_error(out, 400, "q: longer than 200 bytes");
    return;
  }
  if (param_window(v, p, &a, &b) < 0 ||
      ctrace__param_i64(p, "limit", 1000, 1, 100000, &limit) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  /* the page after a hit: its key, as the previous page's "next" gave it */
  struct hit after = {0};
  int paging = 0;
  const char *af = p->get(p->ctx, "after");
  if (af) {
    long long as;
    unsigned ak, at;
    unsigned long long ar;
    int used = 0;
    if (sscanf(af, "%lld.%u.%llu.%u%n", &as, &ak, &ar, &at, &used) != 4 ||
        af[used] != 0 || ak >= HIT_KINDS) {
      ctrace_reply_error(out, 400, "after: not a page token (the \"next\" of an answer)");
      return;
    }
    after = (struct hit){.s = as, .kind = (uint8_t)ak, .ref = ar, .thread = at};
    paging = 1;
  }
  char q[201];
  for (size_t i = 0; i <= ql; i++)
    q[i] = (char)tolower((unsigned char)q0[i]);
  /* which strings match, once */
  uint32_t nstr = ctrace_reader_nstrings(v->r);
  uint8_t *str_ok = calloc((size_t)nstr + 1, 1);
  struct hits H = {malloc((size_t)limit * sizeof(struct hit)), 0, (size_t)limit, 0, {0},
                   paging, after, 0};
  if (!str_ok || !H.v) {
    free(str_ok);
    free(H.v);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  for (uint32_t id = 1; id <= nstr; id++) {
    const struct ctrace_string *s = ctrace_reader_string(v->r, id);
    str_ok[id] = s && s->len && contains(s->s, s->len, q, ql);
  }
#define STR_OK(id) ((id) <= nstr && str_ok[id])
  /* tasks */
  for (size_t i = 0; i < tl->ntasks; i++) {
    const struct ctrace_tl_task *tk = &tl->tasks[i];
    if (STR_OK(tk->name) && tk->end >= a && tk->start <= b)
      hits_add(&H, (struct hit){tk->start, tk->end, i,
                                tk->begin_thread == UINT32_MAX ? 0 : tk->begin_thread, 0,
                                HIT_TASK, 0});
  }
  /* threads, their regions and logs */
  for (uint32_t t = 0; t < tl->nthreads; t++) {
    const struct ctrace_tl_thread *th = &tl->threads[t];
    const struct ctrace_thread_info *ti = ctrace_reader_thread(v->r, th->index);
    if (th->last_ns < a || th->first_ns > b)
      continue;
    if (STR_OK(ti->name))
      hits_add(&H, (struct hit){th->first_ns < a ? a : th->first_ns,
                                th->last_ns > b ? b : th->last_ns, t, t, 0, HIT_THREAD, 0});
    for (size_t k = tl->region_off[t]; k < tl->region_off[t + 1]; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      if (STR_OK(rg->name) && rg->end >= a && rg->start <= b)
        hits_add(&H, (struct hit){rg->start, rg->end, k, t, 0, HIT_REGION, 0});
    }
    for (size_t k = ctrace_timeline_log_lower(tl, t, a); k < tl->log_off[t + 1]; k++) {
      const struct ctrace_tl_log *l = &tl->logs[k];
      if (l->t > b)
        break;
      if (STR_OK(l->category) || contains((const char *)l->msg, l->msg_len, q, ql))
        hits_add(&H, (struct hit){l->t, l->t, k, t, 0, HIT_LOG, 0});
    }
  }
  /* calls: the SYSCALL calls and WAIT reasons whose names match */
  uint8_t call_ok[256] = {0}, reason_ok[256] = {0};
  int any_call = 0;
  for (unsigned c = 1; c < 256; c++) {
    const char *n = ctrace__syscall_name(c);
    if (n && strcmp(n, "unknown") != 0 && strcmp(n, "?") != 0 && contains(n, strlen(n), q, ql))
      call_ok[c] = 1, any_call = 1;
    n = ctrace__wait_reason_name(c);
    if (n && strcmp(n, "UNKNOWN") != 0 && contains(n, strlen(n), q, ql))
      reason_ok[c] = 1, any_call = 1;
  }
  if (any_call)
    search_calls(v, call_ok, reason_ok, a, b, &H);
#undef STR_OK
  free(str_ok);
  if (H.n) /* qsort needs a non-null array even for 0 elements */
    qsort(H.v, H.n, sizeof *H.v, hit_cmp);

  struct json j;
  if (ctrace__json_open(&j) < 0) {
    free(H.v);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fputs("{\"q\":", f);
  ctrace__json_str(f, q0);
  fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"total\":%" PRIu64 ",\"counts\":{",
          a, b, H.total);
  for (int k = 0; k < HIT_KINDS; k++)
    fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", hit_kind[k], H.per_kind[k]);
  fprintf(f, "},\"truncated\":%s,\"offset\":%" PRIu64 ",\"next\":",
          H.total > H.n ? "true" : "false", H.skipped);
  if (H.n && H.skipped + H.n < H.total) {
    const struct hit *last = &H.v[H.n - 1];
    fprintf(f, "\"%" PRId64 ".%u.%" PRIu64 ".%u\"", last->s, last->kind, last->ref, last->thread);
  } else {
    fputs("null", f);
  }
  fputs(",\"matches\":[", f);
  for (size_t i = 0; i < H.n; i++) {
    const struct hit *h = &H.v[i];
    const struct ctrace_tl_thread *th = tl->nthreads ? &tl->threads[h->thread] : NULL;
    fprintf(f, "%s{\"kind\":\"%s\",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"tid\":%u",
            i ? "," : "", hit_kind[h->kind], h->s, h->e, th ? th->tid : 0);
    switch (h->kind) {
    case HIT_TASK: {
      const struct ctrace_tl_task *tk = &tl->tasks[h->ref];
      fprintf(f, ",\"id\":%" PRIu64 ",\"name\":", tk->id);
      ctrace__json_sid(v, f, tk->name);
      fprintf(f, ",\"open\":%s", tk->open ? "true" : "false");
      break;
    }
    case HIT_REGION: {
      const struct ctrace_tl_region *rg = &tl->regions[h->ref];
      fputs(",\"name\":", f);
      ctrace__json_sid(v, f, rg->name);
      fprintf(f, ",\"depth\":%u,\"open\":%s", rg->depth, rg->open ? "true" : "false");
      break;
    }
    case HIT_LOG: {
      const struct ctrace_tl_log *l = &tl->logs[h->ref];
      fputs(",\"name\":", f);
      ctrace_json_string(f, (const char *)l->msg, l->msg_len);
      fputs(",\"category\":", f);
      ctrace__json_sid(v, f, l->category);
      break;
    }
    case HIT_THREAD: {
      const struct ctrace_thread_info *ti = ctrace_reader_thread(v->r, th->index);
      fputs(",\"name\":", f);
      ctrace__json_sid(v, f, ti->name);
      break;
    }
    default:
      fputs(",\"name\":", f);
      ctrace__json_str(f, h->wait ? ctrace__wait_reason_name(h->code) : ctrace__syscall_name(h->code));
      fprintf(f, ",\"event\":\"%s\"", h->wait ? "WAIT" : "SYSCALL");
      if (!h->wait && h->ref < INT32_MAX)
        fprintf(f, ",\"fd\":%" PRIu64, h->ref);
      break;
    }
    fputc('}', f);
  }
  fputs("]}\n", f);
  free(H.v);
  ctrace__json_close(&j, out);
}

/* ---- /api/range ---- */

struct lat {
  uint32_t name;
  int64_t dur; /* -1: not wholly inside the range, or never ended */
};
static int lat_cmp(const void *x, const void *y) {
  const struct lat *l = x, *r = y;
  if (l->name != r->name)
    return l->name < r->name ? -1 : 1;
  return (l->dur > r->dur) - (l->dur < r->dur);
}
struct lat_stat {
  uint32_t name;
  uint64_t count, complete;
  int64_t min, p50, p90, max, sum;
};
static int stat_cmp(const void *x, const void *y) {
  const struct lat_stat *l = x, *r = y;
  if (l->count != r->count)
    return l->count > r->count ? -1 : 1;
  return (l->name > r->name) - (l->name < r->name);
}

/* Per name: how many overlap the range, and the latencies of those wholly
 * inside it that ended (nearest-rank percentiles, as /api/tasks). */
static void lat_json(const struct ctrace_view *v, FILE *f, struct lat *L, size_t n) {
  if (n) /* qsort needs a non-null array even for 0 elements */
    qsort(L, n, sizeof *L, lat_cmp);
  struct lat_stat *S = malloc((n ? n : 1) * sizeof *S);
  size_t ns = 0;
  for (size_t i = 0; S && i < n;) {
    size_t k = i;
    while (k < n && L[k].name == L[i].name)
      k++;
    struct lat_stat s = {L[i].name, k - i, 0, 0, 0, 0, 0, 0};
    size_t c0 = i;
    while (c0 < k && L[c0].dur < 0)
      c0++;
    s.complete = k - c0;
    if (s.complete) {
      const struct lat *c = L + c0;
      s.min = c[0].dur;
      s.max = c[s.complete - 1].dur;
      s.p50 = c[(s.complete * 50 + 99) / 100 - 1].dur;
      s.p90 = c[(s.complete * 90 + 99) / 100 - 1].dur;
      for (size_t x = 0; x < s.complete; x++)
        s.sum += c[x].dur;
    }
    S[ns++] = s;
    i = k;
  }
  if (S)
    if (ns)
      qsort(S, ns, sizeof *S, stat_cmp);
  fputc('[', f);
  for (size_t i = 0; i < ns; i++) {
    fprintf(f, "%s{\"name\":", i ? "," : "");
    ctrace__json_sid(v, f, S[i].name);
    fprintf(f, ",\"count\":%" PRIu64 ",\"complete\":%" PRIu64, S[i].count, S[i].complete);
    if (S[i].complete)
      fprintf(f,
              ",\"min_ns\":%" PRId64 ",\"p50_ns\":%" PRId64 ",\"p90_ns\":%" PRId64
              ",\"max_ns\":%" PRId64 ",\"mean_ns\":%" PRId64,
              S[i].min, S[i].p50, S[i].p90, S[i].max, S[i].sum / (int64_t)S[i].complete);
    fputc('}', f);
  }
  fputc(']', f);
  free(S);
}

struct task_walk {
  const struct ctrace_timeline *tl;
  const uint8_t *sel;
  uint32_t nsel;
  int64_t a, b;
  struct ctrace_vec *out;
  int err;
};
static int task_visit(void *arg, const struct ctrace_tl_task *t) {
  struct task_walk *w = arg;
  if (t->end < w->a || t->start > w->b)
    return 0;
  if (w->nsel < w->tl->nthreads) {
    int mine = 0;
    for (uint32_t k = 0; k < t->ntouch && !mine; k++)
      mine = w->sel[w->tl->touches[t->touch + k].thread];
    if (!mine)
      return 0;
  }
  struct lat *l = ctrace_vec_push(w->out);
  if (!l) {
    w->err = 1;
    return 1;
  }
  l->name = t->name;
  l->dur = !t->open && t->start >= w->a && t->end <= w->b ? t->end - t->start : -1;
  return 0;
}

static const enum ctrace_profile_kind range_kinds[] = {
    CTRACE_PROFILE_SYNC, CTRACE_PROFILE_NET, CTRACE_PROFILE_SYSCALL, CTRACE_PROFILE_POLL,
    CTRACE_PROFILE_SLEEP};
#define RANGE_STACKS 8

void ctrace__api_range(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  int64_t a, b;
  uint32_t nsel = 0;
  if (param_window(v, p, &a, &b) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  uint8_t *sel = param_threads(v, p, &nsel);
  if (!sel) {
    ctrace_reply_error(out, strcmp(p->err, "out of memory") ? 400 : 500, p->err);
    return;
  }
  /* the profile of one selected thread, or of all */
  uint32_t prof_tid = 0;
  if (nsel == 1)
    for (uint32_t t = 0; t < tl->nthreads; t++)
      if (sel[t])
        prof_tid = tl->threads[t].tid;
  struct ctrace_vec tasks = CTRACE_VEC(struct lat), regions = CTRACE_VEC(struct lat);
  struct task_walk w = {tl, sel, nsel, a, b, &tasks, 0};
  ctrace_timeline_tasks(tl, a, b, task_visit, &w);
  int err = w.err;
  for (uint32_t t = 0; t < tl->nthreads && !err; t++) {
    if (!sel[t])
      continue;
    for (size_t k = tl->region_off[t]; k < tl->region_off[t + 1]; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      if (rg->end < a || rg->start > b)
        continue;
      struct lat *l = ctrace_vec_push(&regions);
      if (!l) {
        err = 1;
        break;
      }
      l->name = rg->name;
      l->dur = !rg->open && rg->start >= a && rg->end <= b ? rg->end - rg->start : -1;
    }
  }
  struct json j;
  if (err || ctrace__json_open(&j) < 0) {
    ctrace_vec_free(&tasks);
    ctrace_vec_free(&regions);
    free(sel);
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fprintf(f, "{\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"threads\":[", a, b);
  uint64_t total[CTRACE_ST_COUNT] = {0};
  int first = 1;
  for (uint32_t t = 0; t < tl->nthreads; t++) {
    const struct ctrace_tl_thread *th = &tl->threads[t];
    if (!sel[t] || th->last_ns < a || th->first_ns > b)
      continue;
    int64_t x = th->first_ns > a ? th->first_ns : a, y = th->last_ns < b ? th->last_ns : b;
    uint64_t st[CTRACE_ST_COUNT] = {0};
    ctrace_timeline_breakdown(tl, t, x, y, st);
    for (unsigned s = 0; s < CTRACE_ST_COUNT; s++)
      total[s] += st[s];
    const struct ctrace_thread_info *ti = ctrace_reader_thread(v->r, th->index);
    fprintf(f, "%s{\"tid\":%u,\"name\":", first ? "" : ",", th->tid);
    ctrace__json_sid(v, f, ti->name);
    fprintf(f, ",\"alive_ns\":%" PRId64 ",\"states\":", y - x);
    ctrace__json_states(f, st);
    fputc('}', f);
    first = 0;
  }
  fputs("],\"states\":", f);
  ctrace__json_states(f, total);
  fputs(",\"tasks\":", f);
  lat_json(v, f, tasks.v, tasks.n);
  fputs(",\"regions\":", f);
  lat_json(v, f, regions.v, regions.n);
  /* blocking: the total of each kind, and the heaviest stacks of all kinds */
  fprintf(f, ",\"profile_tid\":%u,\"blocked\":{", prof_tid);
  struct top {
    uint64_t total_ns, count;
    uint32_t stack;
    unsigned kind;
    struct ctrace_profile_entry e; /* its call */
  } top[RANGE_STACKS];
  size_t ntop = 0;
  for (size_t k = 0; k < sizeof range_kinds / sizeof range_kinds[0]; k++) {
    struct ctrace_profile prof;
    uint64_t tot = 0;
    if (ctrace_profile_build(v->r, range_kinds[k], a, b, prof_tid, &prof) == 0) {
      tot = prof.total_ns;
      for (size_t i = 0; i < prof.n; i++) {
        struct top x = {prof.v[i].total_ns, prof.v[i].count, prof.v[i].stack, (unsigned)k,
                        prof.v[i]};
        if (!x.total_ns)
          break;
        size_t pos = ntop < RANGE_STACKS ? ntop++ : RANGE_STACKS;
        if (pos == RANGE_STACKS) {
          if (x.total_ns <= top[RANGE_STACKS - 1].total_ns)
            break; /* sorted: nothing later of this kind is heavier */
          pos = RANGE_STACKS - 1;
        }
        while (pos && top[pos - 1].total_ns < x.total_ns) {
          top[pos] = top[pos - 1];
          pos--;
        }
        top[pos] = x;
      }
      ctrace_profile_free(&prof);
    }
    fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", ctrace_profile_kind_name(range_kinds[k]), tot);
  }
  fputs("},\"stacks\":[", f);
  for (size_t i = 0; i < ntop; i++) {
    char call[32];
    fprintf(f, "%s{\"kind\":\"%s\",\"total_ns\":%" PRIu64 ",\"count\":%" PRIu64 ",\"call\":",
            i ? "," : "", ctrace_profile_kind_name(range_kinds[top[i].kind]), top[i].total_ns,
            top[i].count);
    ctrace__json_str(f, ctrace_profile_call_name(&top[i].e, call, sizeof call));
    fputs(",\"frames\":", f);
    ctrace__json_stack(v, f, top[i].stack);
    fputc('}', f);
  }
  fputs("]}\n", f);
  ctrace_vec_free(&tasks);
  ctrace_vec_free(&regions);
  free(sel);
  ctrace__json_close(&j, out);
}

/* ---- /api/counters ---- */

struct cpoint {
  uint32_t name;
  int64_t t, value;
};
struct cdrop {
  int64_t start, end; /* the first lost event was at start; the DROPPED record at end */
  uint64_t count;
  uint32_t thread, pad;
};
struct ctrace_counters {
  struct cpoint *v; /* by (name, t); in a loaded index cache's mapping when mapped */
  int mapped;
  size_t n;
  struct cdrop *drops; /* by thread, then time */
  size_t ndrops;
  size_t *off; /* series k: off[k] .. off[k + 1] */
  size_t nseries;
};
static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;

void ctrace__counters_free(struct ctrace_counters *c) {
  if (!c)
    return;
  if (!c->mapped)
    free(c->v);
  free(c->off);
  free(c->drops);
  free(c);
}

/* by (name, t), stably: the order glibc's qsort (a merge sort) gave */
#define CPOINT_LESS(l, r) ((l)->name != (r)->name ? (l)->name < (r)->name : (l)->t < (r)->t)
CTRACE_RUN_SORT_TYPED(sort_cpoints, struct cpoint, CPOINT_LESS)

/* The counters being gathered from the events (ctrace__counters_event). */
struct ctrace_counters_build {
  const ctrace_reader *r;
  struct ctrace_vec pts, drops;
  int err;
};

int ctrace__counters_event(void *arg, uint32_t t, const ctrace_event *ev) {
  struct ctrace_counters_build *b = arg;
  const ctrace_reader *r = b->r;
  if (ev->kind == CTRACE_EV_DROPPED) {
    struct ctrace_ev_dropped d = CTRACE_EV(dropped, ev);
    struct cdrop *x = ctrace_vec_push(&b->drops);
    if (!x)
      return b->err = -1;
    *x = (struct cdrop){ctrace_reader_ns(r, d.first_dt < ev->ticks ? ev->ticks - d.first_dt : 0),
                        ctrace_reader_ns(r, ev->ticks), d.count, t, 0};
  } else if (ev->kind == CTRACE_EV_COUNTER) {
    struct ctrace_ev_counter k = CTRACE_EV(counter, ev);
    struct cpoint *pt = ctrace_vec_push(&b->pts);
    if (!pt)
      return b->err = -1;
    *pt = (struct cpoint){(uint32_t)k.name, ctrace_reader_ns(r, ev->ticks), k.value};
  }
  return 0;
}

struct ctrace_counters_build *ctrace__counters_begin(const ctrace_reader *r) {
  struct ctrace_counters_build *b = calloc(1, sizeof *b);
  if (b) {
    b->r = r;
    b->pts = (struct ctrace_vec)CTRACE_VEC(struct cpoint);
    b->drops = (struct ctrace_vec)CTRACE_VEC(struct cdrop);
  }
  return b;
}

/* The gathered points in series, as v's counters (unless it has some);
 * frees b. */
static void counters_end(struct ctrace_view *v, struct ctrace_counters_build *b) {
  struct ctrace_counters *c = calloc(1, sizeof *c);
  if (!c || b->err) {
    free(c);
    ctrace_vec_free(&b->pts);
    ctrace_vec_free(&b->drops);
    free(b);
    return;
  }
  c->v = ctrace_vec_take(&b->pts, &c->n, NULL);
  c->drops = ctrace_vec_take(&b->drops, &c->ndrops, NULL);
  free(b);
  if (sort_cpoints(c->v, c->n) < 0) {
    ctrace__counters_free(c);
    return;
  }
  size_t ns = 0;
  for (size_t i = 0; i < c->n; i++)
    ns += !i || c->v[i].name != c->v[i - 1].name;
  c->off = malloc((ns + 1) * sizeof *c->off);
  if (!c->off) {
    ctrace__counters_free(c);
    return;
  }
  for (size_t i = 0, k = 0; i < c->n; i++)
    if (!i || c->v[i].name != c->v[i - 1].name)
      c->off[k++] = i;
  c->off[ns] = c->n;
  c->nseries = ns;
  pthread_mutex_lock(&counters_lock);
  if (!v->counters)
    v->counters = c;
  else
    ctrace__counters_free(c);
  pthread_mutex_unlock(&counters_lock);
}

void ctrace__counters_end(struct ctrace_view *v, struct ctrace_counters_build *b) {
  if (b)
    counters_end(v, b);
}

/* Every COUNTER and DROPPED event, once, on first use (none: empty sets),
 * unless the stats pass gathered them (view.c). */
static struct ctrace_counters *counters_of(struct ctrace_view *v) {
  pthread_mutex_lock(&counters_lock);
  struct ctrace_counters *c = v->counters;
  pthread_mutex_unlock(&counters_lock);
  if (c)
    return c;
  struct ctrace_counters_build *b = ctrace__counters_begin(v->r);
  if (!b)
    return NULL;
  if (ctrace_reader_nevents_kind(v->r, CTRACE_EV_COUNTER) ||
      ctrace_reader_nevents_kind(v->r, CTRACE_EV_DROPPED))
    for (uint32_t t = 0; t < ctrace_reader_nthreads(v->r) && !b->err; t++) {
      ctrace_cursor cur;
      ctrace_event ev;
      ctrace_cursor_init(&cur, v->r, t);
      while (!b->err && ctrace_cursor_next(&cur, &ev))
        ctrace__counters_event(b, t, &ev);
    }
  counters_end(v, b);
  pthread_mutex_lock(&counters_lock);
  c = v->counters;
  pthread_mutex_unlock(&counters_lock);
  return c;
}

/* ---- the counters in the index cache file (view_cache.c) ---- */
enum { C_HEAD, C_POINTS, C_DROPS, C_OFF };

void ctrace__counters_save(struct ctrace_view *v, struct ctrace_cache_out *o, unsigned sec) {
  const struct ctrace_counters *c = counters_of(v);
  uint64_t head[4] = {c != NULL, c ? c->n : 0, c ? c->ndrops : 0, c ? c->nseries : 0};
  ctrace_cache_section(o, sec + C_HEAD);
  ctrace_cache_put(o, head, sizeof head);
  /* copied field by field: no padding byte is written unset */
  ctrace_cache_section(o, sec + C_POINTS);
  struct cpoint pb[512];
  for (size_t k = 0; c && k < c->n; k += 512) {
    size_t m = c->n - k < 512 ? c->n - k : 512;
    memset(pb, 0, sizeof pb);
    for (size_t j = 0; j < m; j++) {
      pb[j].name = c->v[k + j].name;
      pb[j].t = c->v[k + j].t;
      pb[j].value = c->v[k + j].value;
    }
    ctrace_cache_put(o, pb, m * sizeof *pb);
  }
  ctrace_cache_section(o, sec + C_DROPS);
  for (size_t k = 0; c && k < c->ndrops; k++) {
    struct cdrop d = {c->drops[k].start, c->drops[k].end, c->drops[k].count, c->drops[k].thread, 0};
    ctrace_cache_put(o, &d, sizeof d);
  }
  ctrace_cache_section(o, sec + C_OFF);
  if (c)
    ctrace_cache_put(o, c->off, (c->nseries + 1) * sizeof *c->off);
}

int ctrace__counters_load(struct ctrace_view *v, const struct ctrace_cache_in *in, unsigned sec) {
  int bad = 0;
  size_t nh, np, nd, no;
  const uint64_t *head = ctrace_cache_get(in, sec + C_HEAD, sizeof *head, &nh, &bad);
  const struct cpoint *pts = ctrace_cache_get(in, sec + C_POINTS, sizeof *pts, &np, &bad);
  const struct cdrop *drops = ctrace_cache_get(in, sec + C_DROPS, sizeof *drops, &nd, &bad);
  const size_t *off = ctrace_cache_get(in, sec + C_OFF, sizeof *off, &no, &bad);
  if (bad || nh != 4)
    return -1;
  if (!head[0])
    return 0; /* not kept (out of memory then): built on first use */
  if (head[1] != np || head[2] != nd || head[3] + 1 != no || off[0] != 0 || off[no - 1] != np)
    return -1;
  for (size_t k = 0; k + 1 < no; k++)
    if (off[k] > off[k + 1])
      return -1;
  uint32_t nstr = ctrace_reader_nstrings(v->r);
  for (size_t k = 0; k < np; k++)
    if (pts[k].name > nstr)
      return -1;
  ctrace_cache_release(pts, np * sizeof *pts);
  for (size_t k = 0; k < nd; k++)
    if (drops[k].thread >= v->tl->nthreads)
      return -1;
  struct ctrace_counters *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  c->v = (struct cpoint *)(uintptr_t)pts; /* read-only: never written */
  c->mapped = 1;
  c->n = np;
  c->nseries = no - 1;
  c->ndrops = nd;
  c->drops = malloc(nd * sizeof *drops + 1);
  c->off = malloc(no * sizeof *off);
  if (!c->drops || !c->off) {
    ctrace__counters_free(c);
    return -1;
  }
  memcpy(c->drops, drops, nd * sizeof *drops);
  memcpy(c->off, off, no * sizeof *off);
  v->counters = c;
  return 0;
}

void ctrace__api_counters(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  int64_t a, b, width;
  if (param_window(v, p, &a, &b) < 0 ||
      ctrace__param_i64(p, "width", 1000, 1, 20000, &width) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  struct ctrace_counters *c = counters_of(v);
  struct json j;
  if (!c || ctrace__json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fprintf(f, "{\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"counters\":[", a, b);
  double px = (double)(b - a > 0 ? b - a : 1) / (double)width;
  for (size_t k = 0; k < c->nseries; k++) {
    const struct cpoint *s = c->v + c->off[k];
    size_t n = c->off[k + 1] - c->off[k];
    int64_t lo = s[0].value, hi = s[0].value;
    for (size_t i = 1; i < n; i++) {
      if (s[i].value < lo)
        lo = s[i].value;
      if (s[i].value > hi)
        hi = s[i].value;
    }
    /* the first point at or after a, and the one before it (the value then) */
    size_t l = 0, r = n;
    while (l < r) {
      size_t mid = l + (r - l) / 2;
      if (s[mid].t < a)
        l = mid + 1;
      else
        r = mid;
    }
    size_t e = l;
    while (e < n && s[e].t <= b)
      e++;
    fprintf(f, "%s{\"name\":", k ? "," : "");
    ctrace__json_sid(v, f, s[0].name);
    fprintf(f, ",\"count\":%zu,\"min\":%" PRId64 ",\"max\":%" PRId64 ",\"in_window\":%zu",
            n, lo, hi, e - l);
    fputs(",\"points\":[", f);
    int firstp = 1;
    if (l > 0) {
      fprintf(f, "[%" PRId64 ",%" PRId64 "]", a, s[l - 1].value);
      firstp = 0;
    }
    /* fitted: each pixel keeps its first, lowest, highest and last value */
    for (size_t i = l; i < e;) {
      int64_t pix = (int64_t)((double)(s[i].t - a) / px);
      size_t z = i, imin = i, imax = i;
      while (z < e && (int64_t)((double)(s[z].t - a) / px) == pix) {
        if (s[z].value < s[imin].value)
          imin = z;
        if (s[z].value > s[imax].value)
          imax = z;
        z++;
      }
      size_t keep[4] = {i, imin < imax ? imin : imax, imin < imax ? imax : imin, z - 1};
      for (int q = 0; q < 4; q++) {
        if (q && keep[q] == keep[q - 1])
          continue;
        if (q == 3 && keep[3] == keep[1])
          continue;
        fprintf(f, "%s[%" PRId64 ",%" PRId64 "]", firstp ? "" : ",", s[keep[q]].t,
                s[keep[q]].value);
        firstp = 0;
      }
      i = z;
    }
    fputs("]}", f);
  }
  fputs("]}\n", f);
  ctrace__json_close(&j, out);
}

/* ---- /api/drops ---- */
void ctrace__api_drops(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  struct ctrace_counters *c = counters_of(v);
  struct json j;
  if (!c || ctrace__json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fputs("{\"drops\":[", f);
  for (size_t i = 0; i < c->ndrops; i++) {
    const struct cdrop *d = &c->drops[i];
    fprintf(f, "%s{\"tid\":%u,\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"count\":%" PRIu64 "}",
            i ? "," : "", v->tl->threads[d->thread].tid, d->start, d->end, d->count);
  }
  fputs("]}\n", f);
  (void)p;
  ctrace__json_close(&j, out);
}

/* ---- profiles of several threads (/api/profile?tids=) ---- */
static int cmp_entry_stack(const void *x, const void *y) {
  const struct ctrace_profile_entry *a = x, *b = y;
  if (a->stack != b->stack)
    return a->stack < b->stack ? -1 : 1;
  if (a->event != b->event)
    return a->event < b->event ? -1 : 1;
  return a->call < b->call ? -1 : a->call > b->call;
}
static int cmp_entry_total(const void *x, const void *y) {
  const struct ctrace_profile_entry *a = x, *b = y;
  if (a->total_ns != b->total_ns)
    return a->total_ns > b->total_ns ? -1 : 1;
  return a->stack < b->stack ? -1 : a->stack > b->stack;
}

int ctrace__profile_tids(struct ctrace_view *v, struct params *p, enum ctrace_profile_kind kind,
                         int64_t a, int64_t b, struct ctrace_profile *out) {
  const char *list = p->get(p->ctx, "tids");
  if (!list || !*list)
    return 0;
  memset(out, 0, sizeof *out);
  p->err[0] = 0;
  /* the distinct tids, each a thread of the trace */
  uint32_t *tids = malloc((strlen(list) / 2 + 1) * sizeof *tids);
  size_t nt = 0;
  if (!tids)
    return -1;
  for (const char *s = list;;) {
    char *end;
    errno = 0;
    unsigned long t = isdigit((unsigned char)*s) ? strtoul(s, &end, 10) : 0;
    if (!t || errno || t > UINT32_MAX || (*end && *end != ',')) {
      snprintf(p->err, sizeof p->err, "tids: a comma-separated list of thread ids");
      free(tids);
      return -1;
    }
    if (ctrace_timeline_thread(v->tl, (uint32_t)t) < 0) {
      snprintf(p->err, sizeof p->err, "tids: no thread %lu in the trace", t);
      free(tids);
      return -1;
    }
    int dup = 0;
    for (size_t k = 0; k < nt; k++)
      dup |= tids[k] == (uint32_t)t;
    if (!dup)
      tids[nt++] = (uint32_t)t;
    if (!*end)
      break;
    s = end + 1;
  }
  /* each thread's profile, then the same stacks summed */
  struct ctrace_profile_entry *all = NULL;
  size_t n = 0;
  for (size_t k = 0; k < nt; k++) {
    struct ctrace_profile one;
    if (ctrace_profile_build(v->r, kind, a, b, tids[k], &one) < 0)
      goto oom;
    struct ctrace_profile_entry *grown = realloc(all, (n + one.n + 1) * sizeof *all);
    if (!grown) {
      ctrace_profile_free(&one);
      goto oom;
    }
    all = grown;
    if (one.n)
      memcpy(all + n, one.v, one.n * sizeof *all);
    n += one.n;
    out->total_ns += one.total_ns;
    ctrace_profile_free(&one);
  }
  if (n)
    qsort(all, n, sizeof *all, cmp_entry_stack);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (m && cmp_entry_stack(&all[m - 1], &all[i]) == 0) {
      all[m - 1].count += all[i].count;
      all[m - 1].total_ns += all[i].total_ns;
    } else {
      all[m++] = all[i];
    }
  }
  if (m)
    qsort(all, m, sizeof *all, cmp_entry_total);
  out->v = all ? all : malloc(1);
  out->n = m;
  free(tids);
  return out->v ? 1 : -1;
oom:
  free(all);
  free(tids);
  out->total_ns = 0;
  return -1;
}
