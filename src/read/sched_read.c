/*
 * sched_read.c - the scheduling records of a trace (SCHED, SAMPLES,
 * SCHED_LOST, format 1.2): their decoders, and the per-thread on-CPU
 * intervals and the samples, matched to thread instances once at open
 * (reader.h). Not what they mean for thread states (src/analyze/states.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sched_int.h"

#include <stdlib.h>
#include <string.h>

struct ctrace__sched_data {
  struct ctrace_oncpu *iv; /* by thread, then start */
  uint64_t *first;         /* per thread: its first interval in iv; [nthreads] = niv */
  uint32_t nthreads;
  struct ctrace_cpu_sample *smp;
  uint64_t nsmp;
  uint64_t *wake;       /* by thread, then time: ticks of WAKEs naming the thread */
  uint64_t *wake_first; /* per thread: its first in wake; [nthreads] = count */
  struct ctrace_sched_totals tot;
};

/* The common head of SCHED and SAMPLES: cpu, t0, the thread table. */
struct head {
  uint32_t cpu;
  uint64_t t0;
  uint64_t ntids;
  const uint8_t *tids; /* ntids uvarints */
  const uint8_t *p, *end;
};

static int read_head(const uint8_t *b, uint32_t len, struct head *h) {
  const uint8_t *p = b, *end = b + len;
  uint64_t cpu;
  if (!(p = ctrace__get_uvarint(p, end, &cpu)) || cpu > UINT32_MAX ||
      !(p = ctrace__get_uvarint(p, end, &h->t0)) ||
      !(p = ctrace__get_uvarint(p, end, &h->ntids)) || h->ntids > (uint64_t)(end - p))
    return -1;
  h->cpu = (uint32_t)cpu;
  h->tids = p;
  for (uint64_t i = 0; i < h->ntids; i++) {
    uint64_t tid;
    if (!(p = ctrace__get_uvarint(p, end, &tid)) || tid > UINT32_MAX)
      return -1;
  }
  h->p = p;
  h->end = end;
  return 0;
}

/* The tids of the table, decoded into a caller's array of ntids. */
static void table(const struct head *h, uint32_t *out) {
  const uint8_t *p = h->tids;
  for (uint64_t i = 0; i < h->ntids; i++) {
    uint64_t v = 0;
    p = ctrace__get_uvarint(p, h->end, &v);
    out[i] = (uint32_t)v;
  }
}

static int decode(const uint8_t *blob, uint32_t len, int samples, ctrace_sched_entry_fn fn,
                  void *arg) {
  struct head h;
  if (read_head(blob, len, &h) < 0)
    return -1;
  uint32_t small[64], *tids = h.ntids <= 64 ? small : malloc(h.ntids * sizeof *tids);
  if (!tids)
    return -1;
  table(&h, tids);
  const uint8_t *p = h.p;
  uint64_t prev = h.t0;
  int rc = 0;
  while (p < h.end) {
    uint64_t a, b, c;
    if (!(p = ctrace__get_uvarint(p, h.end, &a)) || !(p = ctrace__get_uvarint(p, h.end, &b)) ||
        !(p = ctrace__get_uvarint(p, h.end, &c))) {
      rc = -1;
      break;
    }
    struct ctrace_sched_entry e = {.cpu = h.cpu};
    if (samples) {
      if (b >= h.ntids) {
        rc = -1;
        break;
      }
      e.start = e.end = prev + a;
      e.tid = tids[b];
      e.flags = c;
      prev = e.start;
    } else {
      if ((c >> 3) >= h.ntids) {
        rc = -1;
        break;
      }
      e.start = prev + a;
      e.end = e.start + b;
      e.tid = tids[c >> 3];
      e.flags = c & 7;
      prev = e.end;
    }
    fn(arg, &e);
  }
  if (tids != small)
    free(tids);
  return rc;
}

int ctrace_decode_sched(const uint8_t *blob, uint32_t len, ctrace_sched_entry_fn fn, void *arg) {
  return decode(blob, len, 0, fn, arg);
}

int ctrace_decode_samples(const uint8_t *blob, uint32_t len, ctrace_sched_entry_fn fn, void *arg) {
  return decode(blob, len, 1, fn, arg);
}

int ctrace_decode_sched_lost(const uint8_t *blob, uint32_t len, uint32_t *cpu, uint64_t *ticks,
                             uint64_t *lost) {
  const uint8_t *p = blob, *end = blob + len;
  uint64_t c;
  if (!(p = ctrace__get_uvarint(p, end, &c)) || c > UINT32_MAX ||
      !(p = ctrace__get_uvarint(p, end, ticks)) || !(p = ctrace__get_uvarint(p, end, lost)))
    return -1;
  *cpu = (uint32_t)c;
  return 0;
}

/* ---- the load at open ---- */

struct raw_iv {
  struct ctrace_oncpu iv;
  uint32_t thread;
};

struct loader {
  const ctrace_reader *r;
  struct ctrace__sched_data *s;
  struct raw_iv *iv;
  size_t niv, capiv;
  size_t capsmp;
  int oom;
  uint64_t kbase; /* the stack ids of the batch's file (a tree's files differ) */
  uint32_t knum;
};

static void note_cpu(struct ctrace__sched_data *s, uint32_t cpu) {
  if (cpu < UINT32_MAX && cpu + 1 > s->tot.ncpus)
    s->tot.ncpus = cpu + 1;
}

static void on_iv(void *arg, const struct ctrace_sched_entry *e) {
  struct loader *L = arg;
  note_cpu(L->s, e->cpu);
  L->s->tot.intervals++;
  int64_t ti = ctrace_reader_thread_index_at(L->r, e->tid, e->start);
  if (ti < 0) {
    L->s->tot.unmatched++;
    return;
  }
  if (L->niv == L->capiv) {
    size_t nc = L->capiv ? 2 * L->capiv : 256;
    struct raw_iv *n = realloc(L->iv, nc * sizeof *n);
    if (!n) {
      L->oom = 1;
      return;
    }
    L->iv = n;
    L->capiv = nc;
  }
  /* A thread's last switch-out never comes when it exits (the kernel
   * drops the thread's events first): its interval then ends at the next
   * switch-in on that CPU or at the trace's end. It ends at its exit. */
  uint8_t left = (uint8_t)(e->flags & CTRACE_SCHED_LEFT_MASK);
  uint64_t end = e->end;
  const struct ctrace_thread_info *th = ctrace_reader_thread(L->r, (uint32_t)ti);
  if (th->exited && end > th->last &&
      (left == CTRACE_SCHED_LEFT_UNKNOWN || left == CTRACE_SCHED_LEFT_AT_STOP))
    end = th->last > e->start ? th->last : e->start;
  L->iv[L->niv++] = (struct raw_iv){
      {e->start, end, e->cpu, left, (uint8_t)((e->flags & CTRACE_SCHED_START_UNKNOWN) != 0)},
      (uint32_t)ti};
}

static void on_smp(void *arg, const struct ctrace_sched_entry *e) {
  struct loader *L = arg;
  struct ctrace__sched_data *s = L->s;
  note_cpu(s, e->cpu);
  int64_t ti = ctrace_reader_thread_index_at(L->r, e->tid, e->start);
  if (ti < 0) {
    s->tot.unmatched++;
    return;
  }
  if (s->nsmp == L->capsmp) {
    size_t nc = L->capsmp ? 2 * L->capsmp : 256;
    struct ctrace_cpu_sample *n = realloc(s->smp, nc * sizeof *n);
    if (!n) {
      L->oom = 1;
      return;
    }
    s->smp = n;
    L->capsmp = nc;
  }
  uint64_t stack = e->flags && e->flags <= L->knum ? e->flags + L->kbase : 0;
  s->smp[s->nsmp++] = (struct ctrace_cpu_sample){e->start, (uint32_t)ti, e->cpu, stack};
}

static int cmp_iv(const void *a, const void *b) {
  const struct raw_iv *x = a, *y = b;
  if (x->thread != y->thread)
    return x->thread < y->thread ? -1 : 1;
  if (x->iv.start != y->iv.start)
    return x->iv.start < y->iv.start ? -1 : 1;
  return (x->iv.end > y->iv.end) - (x->iv.end < y->iv.end);
}

static int cmp_smp(const void *a, const void *b) {
  const struct ctrace_cpu_sample *x = a, *y = b;
  if (x->ticks != y->ticks)
    return x->ticks < y->ticks ? -1 : 1;
  return (x->thread > y->thread) - (x->thread < y->thread);
}

static int load_wakes(const ctrace_reader *r, struct ctrace__sched_data *s);

struct ctrace__sched_data *ctrace__sched_load(const ctrace_reader *r) {
  struct ctrace__sched_data *s = NULL;
  struct loader L = {.r = r};
  const uint8_t *data = ctrace_reader_data(r);
  for (uint32_t i = 0, nb = ctrace_reader_nbatches(r); i < nb; i++) {
    const struct ctrace_batch_info *b = ctrace_reader_batch(r, i);
    if (!(b->flags & CTRACE_BATCH_META))
      continue;
    const uint8_t *p = data + b->offset + CTRACE_BATCH_HEADER_SIZE, *end = p + b->evlen;
    ctrace__reader_stack_range(r, b->offset, &L.kbase, &L.knum);
    uint64_t ticks = b->base;
    while (p < end) {
      ctrace_event ev;
      const char *why;
      const uint8_t *rec = p;
      if (!(p = ctrace_decode_event(p, end, &ticks, &ev, &why)))
        break; /* validated at open: never */
      if (ev.kind != CTRACE_EV_SCHED && ev.kind != CTRACE_EV_SAMPLES &&
          ev.kind != CTRACE_EV_SCHED_LOST)
        continue;
      if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
          return NULL;
        s->tot.recorded = 1;
        L.s = s;
      }
      int rc;
      if (ev.kind == CTRACE_EV_SCHED) {
        s->tot.sched_bytes += (uint64_t)(p - rec);
        rc = ctrace_decode_sched(ev.blob, ev.blob_len, on_iv, &L);
      } else if (ev.kind == CTRACE_EV_SAMPLES) {
        rc = ctrace_decode_samples(ev.blob, ev.blob_len, on_smp, &L);
      } else {
        uint32_t cpu;
        uint64_t t, lost;
        rc = ctrace_decode_sched_lost(ev.blob, ev.blob_len, &cpu, &t, &lost);
        if (rc == 0) {
          note_cpu(s, cpu);
          s->tot.lost += lost;
        }
      }
      if (rc < 0)
        s->tot.bad++;
    }
  }
  if (!s)
    return NULL;
  s->tot.samples = s->nsmp;
  s->nthreads = ctrace_reader_nthreads(r);
  s->first = calloc((size_t)s->nthreads + 1, sizeof *s->first);
  s->iv = malloc((L.niv ? L.niv : 1) * sizeof *s->iv);
  if (L.oom || !s->first || !s->iv) {
    free(L.iv);
    ctrace__sched_free(s);
    return NULL;
  }
  if (L.niv)
    qsort(L.iv, L.niv, sizeof *L.iv, cmp_iv);
  for (size_t i = 0; i < L.niv; i++) {
    s->iv[i] = L.iv[i].iv;
    s->first[L.iv[i].thread + 1]++;
  }
  for (uint32_t t = 0; t < s->nthreads; t++)
    s->first[t + 1] += s->first[t];
  free(L.iv);
  if (s->nsmp)
    qsort(s->smp, s->nsmp, sizeof *s->smp, cmp_smp);
  if (load_wakes(r, s) < 0) {
    ctrace__sched_free(s);
    return NULL;
  }
  return s;
}

struct wk {
  uint32_t thread;
  uint64_t ticks;
};
static int cmp_wk(const void *a, const void *b) {
  const struct wk *x = a, *y = b;
  if (x->thread != y->thread)
    return x->thread < y->thread ? -1 : 1;
  return (x->ticks > y->ticks) - (x->ticks < y->ticks);
}

/* The recorded wake-ups of each thread (WAKE events of other threads that
 * name it): one pass over the WAKE events, only for traces with
 * scheduling data. 0, or -1 when out of memory. */
static int load_wakes(const ctrace_reader *r, struct ctrace__sched_data *s) {
  uint64_t n = ctrace_reader_nevents_kind(r, CTRACE_EV_WAKE);
  s->wake_first = calloc((size_t)s->nthreads + 1, sizeof *s->wake_first);
  struct wk *v = malloc((n ? n : 1) * sizeof *v);
  if (!s->wake_first || !v) {
    free(v);
    return -1;
  }
  size_t k = 0;
  for (uint32_t t = 0; t < s->nthreads && n; t++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, t);
    while (ctrace_cursor_next(&c, &ev) && k < n) {
      if (ev.kind != CTRACE_EV_WAKE)
        continue;
      struct ctrace_ev_wake w = CTRACE_EV(wake, &ev);
      int64_t ti = w.tid <= UINT32_MAX ? ctrace_reader_thread_index_at(r, (uint32_t)w.tid, ev.ticks)
                                       : -1;
      if (ti >= 0)
        v[k++] = (struct wk){(uint32_t)ti, ev.ticks};
    }
  }
  if (k)
    qsort(v, k, sizeof *v, cmp_wk);
  s->wake = malloc((k ? k : 1) * sizeof *s->wake);
  if (!s->wake) {
    free(v);
    return -1;
  }
  for (size_t i = 0; i < k; i++) {
    s->wake[i] = v[i].ticks;
    s->wake_first[v[i].thread + 1]++;
  }
  for (uint32_t t = 0; t < s->nthreads; t++)
    s->wake_first[t + 1] += s->wake_first[t];
  free(v);
  return 0;
}

uint32_t ctrace_reader_wakes(const ctrace_reader *r, uint32_t ti, const uint64_t **out) {
  const struct ctrace__sched_data *s = ctrace__reader_sched(r);
  *out = NULL;
  if (!s || !s->wake || ti >= s->nthreads)
    return 0;
  *out = s->wake + s->wake_first[ti];
  return (uint32_t)(s->wake_first[ti + 1] - s->wake_first[ti]);
}

void ctrace__sched_free(struct ctrace__sched_data *s) {
  if (!s)
    return;
  free(s->wake);
  free(s->wake_first);
  free(s->iv);
  free(s->first);
  free(s->smp);
  free(s);
}

uint32_t ctrace_reader_oncpu(const ctrace_reader *r, uint32_t ti, const struct ctrace_oncpu **out) {
  const struct ctrace__sched_data *s = ctrace__reader_sched(r);
  *out = NULL;
  if (!s || ti >= s->nthreads)
    return 0;
  *out = s->iv + s->first[ti];
  return (uint32_t)(s->first[ti + 1] - s->first[ti]);
}

uint64_t ctrace_reader_samples(const ctrace_reader *r, const struct ctrace_cpu_sample **out) {
  const struct ctrace__sched_data *s = ctrace__reader_sched(r);
  *out = s ? s->smp : NULL;
  return s ? s->nsmp : 0;
}

uint64_t ctrace_reader_sample_at(const ctrace_reader *r, int64_t ns) {
  const struct ctrace_cpu_sample *s;
  uint64_t lo = 0, hi = ctrace_reader_samples(r, &s);
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (ctrace_reader_ns(r, s[mid].ticks) < ns)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void ctrace_reader_sched_totals(const ctrace_reader *r, struct ctrace_sched_totals *out) {
  const struct ctrace__sched_data *s = ctrace__reader_sched(r);
  if (s)
    *out = s->tot;
  else
    memset(out, 0, sizeof *out);
}
