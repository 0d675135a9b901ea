/*
 * timeline_bin.c - see timeline_bin.h. Little-endian; times are float64 ns
 * since the trace start (exact up to 2^53 ns, 104 days), because JavaScript
 * numbers are doubles and DataView reads them without BigInt.
 */
#include <stdlib.h>
#include <string.h>

#include "timeline_bin.h"

struct buf {
  uint8_t *p;
  size_t n, cap;
  int oom;
};

static uint8_t *room(struct buf *b, size_t n) {
  if (b->oom)
    return NULL;
  if (b->n + n > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + n)
      nc *= 2;
    uint8_t *np = realloc(b->p, nc);
    if (!np) {
      b->oom = 1;
      return NULL;
    }
    b->p = np;
    b->cap = nc;
  }
  uint8_t *r = b->p + b->n;
  b->n += n;
  return r;
}
static void put_u32(struct buf *b, uint32_t v) {
  uint8_t *p = room(b, 4);
  if (p)
    ctrace__put_le32(p, v);
}
static void put_u16(struct buf *b, uint16_t v) {
  uint8_t *p = room(b, 2);
  if (p) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
  }
}
static void put_u8(struct buf *b, uint8_t v) {
  uint8_t *p = room(b, 1);
  if (p)
    *p = v;
}
static void put_f64(struct buf *b, double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  uint8_t *p = room(b, 8);
  if (p)
    ctrace__put_le64(p, u);
}
static void set_u32(struct buf *b, size_t at, uint32_t v) {
  if (!b->oom)
    ctrace__put_le32(b->p + at, v);
}

/* Strings of the answer: a table of the reader's string ids met, in order;
 * the answer refers to them by position (0 = ""). Log messages are added
 * as they are (not shared). */
struct strtab {
  struct buf b;
  uint32_t n;
  uint32_t *map; /* reader string id -> position + 1, lazily sized */
  uint32_t nmap;
};
static uint32_t str_add(struct strtab *t, const char *s, size_t len) {
  if (len > 400)
    len = 400;
  put_u16(&t->b, (uint16_t)len);
  uint8_t *p = room(&t->b, len);
  if (p)
    memcpy(p, s, len);
  return t->n++;
}
static uint32_t str_id(struct strtab *t, const ctrace_reader *r, uint64_t id) {
  if (!id || id > t->nmap)
    return 0;
  if (t->map[id - 1])
    return t->map[id - 1] - 1;
  const struct ctrace_string *s = ctrace_reader_string(r, id);
  uint32_t pos = str_add(t, s ? s->s : "", s ? s->len : 0);
  t->map[id - 1] = pos + 1;
  return pos;
}

struct row_ctx {
  struct buf *b;
  struct strtab *st;
  const struct ctrace_view *v;
  uint32_t n;
};

static void on_span(void *arg, int64_t s, int64_t e, unsigned state, unsigned merged, uint32_t n) {
  struct row_ctx *c = arg;
  put_f64(c->b, (double)s);
  put_f64(c->b, (double)e);
  put_u8(c->b, (uint8_t)state);
  put_u8(c->b, (uint8_t)merged);
  put_u16(c->b, 0);
  put_u32(c->b, n);
  c->n++;
}

static void on_region(void *arg, const struct ctrace_tl_region *rg, int64_t s, int64_t e,
                      unsigned depth, uint32_t n) {
  struct row_ctx *c = arg;
  put_f64(c->b, (double)s);
  put_f64(c->b, (double)e);
  put_f64(c->b, rg ? (double)rg->task : 0);
  put_u32(c->b, rg ? str_id(c->st, c->v->r, rg->name) : 0);
  put_u32(c->b, n);
  put_u16(c->b, (uint16_t)depth);
  put_u16(c->b, (uint16_t)((rg && rg->open ? 1 : 0) | (rg ? 0 : 2)));
  c->n++;
}

/*
 * Tasks: when the window holds more than CTRACE_TLBIN_MAX_TASKS, the
 * longest are sent. A first pass counts them by class, log2 of their width
 * in pixels; then every task of the classes above some class k is sent,
 * and every stride-th of class k, to fill the cap. Tasks under a pixel are
 * never sent then (the page says to zoom in). Either way what is sent is
 * spread over the whole window, never its first part only.
 */
#define TASK_CLASSES 64
struct task_ctx {
  struct buf *b;
  struct strtab *st;
  const struct ctrace_view *v;
  int64_t w;
  uint32_t n;
  uint64_t counted;
  unsigned min_class; /* classes below are left out */
  uint64_t stride, seen; /* of min_class */
  uint64_t by_class[TASK_CLASSES]; /* 0: under a pixel; k: 2^(k-1) pixels or more */
};

static unsigned task_class(int64_t dur, int64_t w) {
  if (dur < w)
    return 0;
  uint64_t px = (uint64_t)(dur / w);
  unsigned k = 64 - (unsigned)__builtin_clzll(px); /* px in [2^(k-1), 2^k) */
  return k < TASK_CLASSES ? k : TASK_CLASSES - 1;
}

static int count_task(void *arg, const struct ctrace_tl_task *t) {
  struct task_ctx *c = arg;
  c->counted++;
  c->by_class[task_class(t->end - t->start, c->w)]++;
  return 0;
}

/* After the counting pass: the class to sample and its stride. */
static void choose_tasks(struct task_ctx *c) {
  if (c->counted <= CTRACE_TLBIN_MAX_TASKS)
    return;
  uint64_t above = 0; /* tasks in the classes above k */
  unsigned k = TASK_CLASSES - 1;
  while (k > 1 && above + c->by_class[k] <= CTRACE_TLBIN_MAX_TASKS)
    above += c->by_class[k--];
  c->min_class = k;
  uint64_t room = CTRACE_TLBIN_MAX_TASKS - above, in_k = c->by_class[k];
  c->stride = room ? (in_k + room - 1) / room : UINT64_MAX;
}

static int on_task(void *arg, const struct ctrace_tl_task *t) {
  struct task_ctx *c = arg;
  const struct ctrace_timeline *tl = c->v->tl;
  if (c->min_class) {
    unsigned k = task_class(t->end - t->start, c->w);
    if (k < c->min_class || (k == c->min_class && c->seen++ % c->stride != 0))
      return 0;
  }
  if (c->n >= CTRACE_TLBIN_MAX_TASKS)
    return -1;
  struct buf *b = c->b;
  put_f64(b, (double)t->start);
  put_f64(b, (double)t->end);
  put_f64(b, (double)t->id);
  put_f64(b, (double)t->parent);
  put_u32(b, str_id(c->st, c->v->r, t->name));
  put_u32(b, tl->threads[t->begin_thread].tid);
  put_u32(b, t->end_thread == UINT32_MAX ? 0 : tl->threads[t->end_thread].tid);
  put_u32(b, t->open);
  put_u32(b, t->ntouch);
  for (uint32_t j = 0; j < t->ntouch; j++) {
    const struct ctrace_tl_touch *tc = &tl->touches[t->touch + j];
    put_u32(b, tl->threads[tc->thread].tid);
    put_f64(b, (double)tc->first);
    put_f64(b, (double)tc->last);
  }
  c->n++;
  return 0;
}

/* ---- format 2 ("CTL2"): a row's spans, regions and logs as columns ----
 * Each column starts at a multiple of 8 bytes of the answer, so that the
 * page reads it as a typed array over the answer's bytes, without decoding
 * items one by one (docs/API.md). The items are gathered first, then
 * written column by column. */
struct span2 {
  int64_t s, e;
  uint32_t n;
  uint8_t state, merged;
};
struct region2 {
  int64_t s, e;
  double task;
  uint32_t name, n;
  uint16_t depth, flags;
};
struct log2 {
  int64_t t;
  const struct ctrace_tl_log *l;
  uint32_t n;
};
struct row2 {
  struct span2 *sp;
  size_t nsp, capsp;
  struct region2 *rg;
  size_t nrg, caprg;
  struct log2 *lg;
  size_t nlg, caplg;
  struct strtab *st;
  const struct ctrace_view *v;
  int64_t w;
  int oom;
};
static void *grow(void *p, size_t *cap, size_t n, size_t size, int *oom) {
  if (n < *cap)
    return p;
  size_t nc = *cap ? *cap * 2 : 256;
  void *np = realloc(p, nc * size);
  if (!np) {
    *oom = 1;
    return NULL;
  }
  *cap = nc;
  return np;
}
static void pad8(struct buf *b) {
  while (!b->oom && b->n % 8)
    put_u8(b, 0);
}

/* Neighbouring merged runs of one state become one run: each had the state
 * for most of its time, so the two together have it too. */
static void on_span2(void *arg, int64_t s, int64_t e, unsigned state, unsigned merged, uint32_t n) {
  struct row2 *c = arg;
  if (c->nsp && merged) {
    struct span2 *l = &c->sp[c->nsp - 1];
    if (l->merged && l->state == state && l->e == s) {
      l->e = e;
      l->n = l->n + n < l->n ? UINT32_MAX : l->n + n;
      return;
    }
  }
  struct span2 *np = grow(c->sp, &c->capsp, c->nsp, sizeof *c->sp, &c->oom);
  if (!np)
    return;
  c->sp = np;
  c->sp[c->nsp++] = (struct span2){s, e, n, (uint8_t)state, (uint8_t)merged};
}

/* Merged regions of one depth less than a pixel apart become one. */
static void on_region2(void *arg, const struct ctrace_tl_region *rg, int64_t s, int64_t e,
                       unsigned depth, uint32_t n) {
  struct row2 *c = arg;
  if (c->nrg && !rg) {
    struct region2 *l = &c->rg[c->nrg - 1];
    if ((l->flags & 2) && l->depth == depth && s >= l->s && s - l->e < c->w) {
      if (e > l->e)
        l->e = e;
      l->n = l->n + n < l->n ? UINT32_MAX : l->n + n;
      return;
    }
  }
  struct region2 *np = grow(c->rg, &c->caprg, c->nrg, sizeof *c->rg, &c->oom);
  if (!np)
    return;
  c->rg = np;
  c->rg[c->nrg++] = (struct region2){
      s,
      e,
      rg ? (double)rg->task : 0,
      rg ? str_id(c->st, c->v->r, rg->name) : 0,
      n,
      (uint16_t)depth,
      (uint16_t)((rg && rg->open ? 1 : 0) | (rg ? 0 : 2))};
}

static void encode_row2(struct buf *body, struct row2 *c, const struct ctrace_timeline *tl,
                        uint32_t th, int64_t a, int64_t b, uint32_t width) {
  c->nsp = c->nrg = c->nlg = 0;
  ctrace_timeline_spans(tl, th, a, b, c->w, on_span2, c);
  ctrace_timeline_regions(tl, th, a, b, c->w, on_region2, c);
  /* logs: at most one per pixel, as in format 1 */
  size_t lo = ctrace_timeline_log_lower(tl, th, a), hi = tl->log_off[th + 1];
  int64_t last = INT64_MIN;
  for (size_t k = lo; k < hi && tl->logs[k].t <= b; k++) {
    const struct ctrace_tl_log *l = &tl->logs[k];
    if (c->nlg && l->t - last < c->w) {
      c->lg[c->nlg - 1].n++;
      continue;
    }
    struct log2 *np = grow(c->lg, &c->caplg, c->nlg, sizeof *c->lg, &c->oom);
    if (!np)
      break;
    c->lg = np;
    c->lg[c->nlg++] = (struct log2){l->t, l, 1};
    last = l->t;
  }
  /* more logs than one per 12 pixels are drawn as ticks: their texts are
   * left out (the page asks /api/event for the one clicked) */
  int dense = c->nlg > width / 12;
  put_u32(body, tl->threads[th].tid);
  put_u32(body, (uint32_t)c->nsp);
  put_u32(body, (uint32_t)c->nrg);
  put_u32(body, (uint32_t)c->nlg);
  put_u32(body, dense ? 1 : 0);
  put_u32(body, 0);
  for (size_t i = 0; i < c->nsp; i++)
    put_f64(body, (double)c->sp[i].s);
  for (size_t i = 0; i < c->nsp; i++)
    put_f64(body, (double)c->sp[i].e);
  for (size_t i = 0; i < c->nsp; i++)
    put_u32(body, c->sp[i].n);
  for (size_t i = 0; i < c->nsp; i++)
    put_u8(body, c->sp[i].state);
  for (size_t i = 0; i < c->nsp; i++)
    put_u8(body, c->sp[i].merged);
  pad8(body);
  for (size_t i = 0; i < c->nrg; i++)
    put_f64(body, (double)c->rg[i].s);
  for (size_t i = 0; i < c->nrg; i++)
    put_f64(body, (double)c->rg[i].e);
  for (size_t i = 0; i < c->nrg; i++)
    put_f64(body, c->rg[i].task);
  for (size_t i = 0; i < c->nrg; i++)
    put_u32(body, c->rg[i].name);
  for (size_t i = 0; i < c->nrg; i++)
    put_u32(body, c->rg[i].n);
  for (size_t i = 0; i < c->nrg; i++)
    put_u16(body, c->rg[i].depth);
  for (size_t i = 0; i < c->nrg; i++)
    put_u16(body, c->rg[i].flags);
  pad8(body);
  for (size_t i = 0; i < c->nlg; i++)
    put_f64(body, (double)c->lg[i].t);
  if (!dense)
    for (size_t i = 0; i < c->nlg; i++)
      put_f64(body, (double)c->lg[i].l->task);
  for (size_t i = 0; i < c->nlg; i++)
    put_u32(body, c->lg[i].n);
  if (!dense) {
    for (size_t i = 0; i < c->nlg; i++)
      put_u32(body, str_id(c->st, c->v->r, c->lg[i].l->category));
    for (size_t i = 0; i < c->nlg; i++)
      put_u32(body, str_add(c->st, (const char *)c->lg[i].l->msg, c->lg[i].l->msg_len));
  }
  pad8(body);
}

int ctrace_timeline_encode(struct ctrace_view *v, int64_t a, int64_t b, uint32_t width,
                           const uint32_t *rows, uint32_t nrows, unsigned format,
                           struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  struct buf body = {0};
  struct strtab st = {.n = 1};
  st.nmap = ctrace_reader_nstrings(v->r);
  st.map = calloc(st.nmap ? st.nmap : 1, sizeof *st.map);
  if (!st.map)
    return -1;
  put_u16(&st.b, 0); /* string 0: "" */
  int64_t w = (b - a) / (int64_t)width;
  if (w < 1)
    w = 1;
  struct row2 r2 = {.st = &st, .v = v, .w = w};
  for (uint32_t i = 0; format == 2 && i < nrows; i++)
    encode_row2(&body, &r2, tl, rows[i], a, b, width);
  free(r2.sp);
  free(r2.rg);
  free(r2.lg);
  if (r2.oom)
    body.oom = 1;
  for (uint32_t i = 0; format != 2 && i < nrows; i++) {
    uint32_t th = rows[i];
    put_u32(&body, tl->threads[th].tid);
    size_t at = body.n;
    put_u32(&body, 0); /* spans */
    put_u32(&body, 0); /* regions */
    put_u32(&body, 0); /* logs */
    struct row_ctx c = {&body, &st, v, 0};
    ctrace_timeline_spans(tl, th, a, b, w, on_span, &c);
    set_u32(&body, at, c.n);
    c.n = 0;
    ctrace_timeline_regions(tl, th, a, b, w, on_region, &c);
    set_u32(&body, at + 4, c.n);
    /* logs: at most one per pixel; n counts those it stands for */
    uint32_t nl = 0;
    size_t lo = ctrace_timeline_log_lower(tl, th, a), hi = tl->log_off[th + 1];
    int64_t last = INT64_MIN;
    size_t count_at = 0;
    for (size_t k = lo; k < hi && tl->logs[k].t <= b; k++) {
      const struct ctrace_tl_log *l = &tl->logs[k];
      if (nl && l->t - last < w) {
        if (!body.oom)
          ctrace__put_le32(body.p + count_at, ctrace__get_le32(body.p + count_at) + 1);
        continue;
      }
      put_f64(&body, (double)l->t);
      put_f64(&body, (double)l->task);
      put_u32(&body, str_id(&st, v->r, l->category));
      put_u32(&body, str_add(&st, (const char *)l->msg, l->msg_len));
      count_at = body.n;
      put_u32(&body, 1);
      last = l->t;
      nl++;
    }
    set_u32(&body, at + 8, nl);
  }
  /* A loaded index cache's pages that the rows read go before the tasks
   * are walked (every task, in a wide window): the server then holds one
   * walk's pages at a time, not both (they stay in the page cache) */
  ctrace_view_release_index(v);
  /* tasks overlapping the window: past the cap, the longest (choose_tasks) */
  size_t at = body.n;
  put_u32(&body, 0);
  struct task_ctx tc = {.b = &body, .st = &st, .v = v, .w = w};
  ctrace_timeline_tasks(tl, a, b, count_task, &tc);
  choose_tasks(&tc);
  ctrace_timeline_tasks(tl, a, b, on_task, &tc);
  uint32_t nt = tc.n;
  set_u32(&body, at, nt);
  ctrace_view_release_index(v);
  /* wakes in the window: when there are too many to draw, none (the client
   * says so and asks to zoom in) */
  size_t w0 = ctrace_timeline_wake_lower(tl, a), w1 = ctrace_timeline_wake_lower(tl, b + 1);
  uint32_t nw = w1 - w0 <= CTRACE_TLBIN_MAX_WAKES ? (uint32_t)(w1 - w0) : 0;
  put_u32(&body, nw);
  put_u32(&body, (uint32_t)(w1 - w0 > UINT32_MAX ? UINT32_MAX : w1 - w0));
  for (size_t k = w0; nw && k < w1; k++) {
    const struct ctrace_tl_wake *wk = &tl->wakes[k];
    put_f64(&body, (double)wk->t);
    put_u32(&body, tl->threads[wk->waker].tid);
    put_u32(&body, wk->woken_tid);
    put_u32(&body, wk->reason);
    put_u32(&body, 0);
    put_f64(&body, (double)wk->object);
  }
  /* thread creations whose arrow crosses the window */
  at = body.n;
  put_u32(&body, 0);
  uint32_t nc = 0;
  for (size_t k = 0; k < tl->ncreates; k++) {
    const struct ctrace_tl_create *c = &tl->creates[k];
    if (c->t_start < a || c->t_create > b)
      continue;
    put_f64(&body, (double)c->t_create);
    put_f64(&body, (double)c->t_start);
    put_u32(&body, tl->threads[c->parent].tid);
    put_u32(&body, tl->threads[c->child].tid);
    nc++;
  }
  set_u32(&body, at, nc);

  /* header, strings, body */
  struct buf all = {0};
  put_u32(&all, format == 2 ? CTRACE_TLBIN_MAGIC2 : CTRACE_TLBIN_MAGIC);
  put_u32(&all, nrows);
  put_f64(&all, (double)a);
  put_f64(&all, (double)b);
  put_f64(&all, (double)w);
  put_u32(&all, st.n);
  put_u32(&all, (uint32_t)st.b.n);
  if (format == 2)
    pad8(&st.b); /* the rows' columns start at a multiple of 8 */
  uint8_t *p = room(&all, st.b.n + body.n);
  if (p && !st.b.oom && !body.oom) {
    memcpy(p, st.b.p, st.b.n);
    memcpy(p + st.b.n, body.p, body.n);
  }
  int oom = all.oom || st.b.oom || body.oom;
  free(st.b.p);
  free(st.map);
  free(body.p);
  if (oom) {
    free(all.p);
    return -1;
  }
  out->status = 200;
  out->type = "application/octet-stream";
  out->body = (char *)all.p;
  out->len = all.n;
  return 0;
}
