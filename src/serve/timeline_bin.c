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

struct task_ctx {
  struct buf *b;
  struct strtab *st;
  const struct ctrace_view *v;
  int64_t w;
  uint32_t n;
  uint64_t counted;
  int64_t min_dur;
};

static int count_task(void *arg, const struct ctrace_tl_task *t) {
  ((struct task_ctx *)arg)->counted++;
  return 0;
}

static int on_task(void *arg, const struct ctrace_tl_task *t) {
  struct task_ctx *c = arg;
  const struct ctrace_timeline *tl = c->v->tl;
  if (t->end - t->start < c->min_dur)
    return 0;
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

int ctrace_timeline_encode(struct ctrace_view *v, int64_t a, int64_t b, uint32_t width,
                           const uint32_t *rows, uint32_t nrows, struct ctrace_reply *out) {
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
  for (uint32_t i = 0; i < nrows; i++) {
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
  /* tasks overlapping the window; past half the cap only those a pixel wide */
  size_t at = body.n;
  put_u32(&body, 0);
  /* when the window holds too many tasks to send, only those at least
   * `min_dur` long, so that what is left is spread evenly over the window */
  struct task_ctx tc = {&body, &st, v, w, 0, 0, 0};
  ctrace_timeline_tasks(tl, a, b, count_task, &tc);
  tc.min_dur = tc.counted > CTRACE_TLBIN_MAX_TASKS ? w : 0;
  ctrace_timeline_tasks(tl, a, b, on_task, &tc);
  uint32_t nt = tc.n;
  set_u32(&body, at, nt);
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
  put_u32(&all, CTRACE_TLBIN_MAGIC);
  put_u32(&all, nrows);
  put_f64(&all, (double)a);
  put_f64(&all, (double)b);
  put_f64(&all, (double)w);
  put_u32(&all, st.n);
  put_u32(&all, (uint32_t)st.b.n);
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
