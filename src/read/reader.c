/*
 * reader.c - opens a trace, validates every byte once, and decodes events on
 * demand (see reader.h for the contract). Not symbolization (symbolize.c)
 * nor any analysis (src/analyze/).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r, also when built outside meson (the fuzzer) */
#endif
#include "reader_int.h"
#include "sched_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_error(ctrace_reader *r, enum ctrace_read_status st, uint64_t off,
                      const char *fmt, ...) {
  if (r->status != CTRACE_READ_OK)
    return; /* keep the first */
  r->status = st;
  r->err_off = off;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
}

/* ---- decoding one event ---- */

/* What the decoders (the open's and the cursors') need of a kind, one
 * byte per code: its number of fields (bits 0-2), whether a blob follows
 * (SHAPE_BLOB), whether it has relative
 * fields in a 1.3 data batch (SHAPE_REL), whether it is a record of the
 * skippable range (SHAPE_RECORD: codes of 0x80 and above, all shaped
 * alike, known or not: no fields, a blob), whether it is a kind with the
 * repeat flag of 1.4 (SHAPE_REP alone: the kind without the flag says the
 * rest). Kinds 0x01..0x7f outside the table never reach a cursor (the open
 * refused their batch). */
enum { SHAPE_NF = 7, SHAPE_BLOB = 8, SHAPE_REL = 16, SHAPE_RECORD = 32, SHAPE_REP = 64 };
#define SHAPE_REL_KIND(code)                                                                      \
  ((code) == CTRACE_EV_TASK_BEGIN || (code) == CTRACE_EV_TASK_END ||                               \
   (code) == CTRACE_EV_REGION_BEGIN || (code) == CTRACE_EV_LOG || (code) == CTRACE_EV_WAIT ||       \
   (code) == CTRACE_EV_WAKE || (code) == CTRACE_EV_SYSCALL)
#define SHAPE_OF(name, code, nf, blob, fields, doc)                                                \
  [code] = (uint8_t)((code) >= 0x80 ? SHAPE_BLOB | SHAPE_RECORD                                    \
                                    : (nf) | ((blob) ? SHAPE_BLOB : 0) |                           \
                                          (SHAPE_REL_KIND(code) ? SHAPE_REL : 0)),
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
#define SHAPE_REP_OF(name, slot, mask, bs, fields) [CTRACE_EV_##name | CTRACE_REPEAT_FLAG] = SHAPE_REP,
static const uint8_t kind_shape[256] = {[0x80 ... 0xff] = SHAPE_BLOB | SHAPE_RECORD,
                                        CTRACE_EVENT_KINDS(SHAPE_OF)
                                            CTRACE_REPEAT_KINDS(SHAPE_REP_OF)};
#pragma GCC diagnostic pop
#undef SHAPE_OF
#undef SHAPE_REP_OF
#undef SHAPE_REL_KIND

/* An event's blob (length, bytes), when its kind has one; after it, or
 * NULL with *why set. */
static inline const uint8_t *get_blob(const uint8_t *p, const uint8_t *end, int blob,
                                      ctrace_event *ev, const char **why) {
  ev->blob = NULL;
  ev->blob_len = 0;
  if (!blob)
    return p;
  uint64_t n;
  if (!(p = ctrace__get_uvarint(p, end, &n))) {
    *why = "event cut short (blob length)";
    return NULL;
  }
  if (n > CTRACE_MAX_BLOB || n > (uint64_t)(end - p)) {
    *why = "blob longer than its batch";
    return NULL;
  }
  ev->blob = p;
  ev->blob_len = (uint32_t)n;
  return p + n;
}

const uint8_t *ctrace_decode_event(const uint8_t *p, const uint8_t *end, uint64_t *ticks,
                                   ctrace_event *ev, const char **why) {
  if (p >= end) {
    *why = "event expected";
    return NULL;
  }
  uint8_t kind = *p++;
  const struct ctrace_kind_info *ki = &ctrace__kinds[kind];
  uint64_t d;
  if (!ki->name && kind < 0x80) {
    *why = "unknown event kind";
    return NULL;
  }
  p = ctrace__get_uvarint(p, end, &d);
  if (!p) {
    *why = "event cut short (time delta)";
    return NULL;
  }
  *ticks += d;
  ev->ticks = *ticks;
  ev->kind = kind;
  unsigned nf = ki->name ? ki->nfields : 0;
  int blob = ki->name ? ki->blob : 1;
  ev->nfields = (uint8_t)nf;
  for (unsigned i = 0; i < nf; i++) {
    p = ctrace__get_uvarint(p, end, &ev->f[i]);
    if (!p) {
      *why = "event cut short (field)";
      return NULL;
    }
  }
  return get_blob(p, end, blob, ev, why);
}

/* The kinds with relative fields (format.h), as a table for the cursors. */
static const uint8_t rel_kinds[256] = {
    [CTRACE_EV_TASK_BEGIN] = 1, [CTRACE_EV_TASK_END] = 1, [CTRACE_EV_REGION_BEGIN] = 1,
    [CTRACE_EV_LOG] = 1,        [CTRACE_EV_WAIT] = 1,     [CTRACE_EV_WAKE] = 1,
    [CTRACE_EV_SYSCALL] = 1,
};

/* An event of a 1.3 data batch decoded as stored, to its values: its
 * relative fields, and the time of WAIT and SYSCALL (prev: the time before
 * it), which *ticks carries on. */
static inline __attribute__((always_inline)) void
rel_apply(struct ctrace_rel *st, uint32_t tid, uint64_t prev, uint64_t *ticks, ctrace_event *ev) {
  ctrace__rel_decode(st, ev->kind, ev->f, ev->nfields, tid);
  int dur = ctrace__rel_span_dur(ev->kind);
  if (dur >= 0 && dur < ev->nfields)
    ev->ticks = *ticks = ctrace__rel_span_time(prev, ev->ticks - prev, ev->f[dur]);
}

/* An event of a 1.4 data batch whose kind byte carries the repeat flag:
 * its fields of the kind's mask are the last event of the kind's (stored),
 * or for a kind by stack the last one's with its stack (values). */
static inline __attribute__((always_inline)) const uint8_t *
decode_repeated_kind(struct ctrace_repeat *rep, const uint8_t *p, const uint8_t *end,
                     uint64_t *ticks, ctrace_event *ev, const char **why, unsigned kind) {
  p++;
  int slot = ctrace__repeat_slot(kind);
  if (slot < 0) {
    *why = "unknown event kind";
    return NULL;
  }
  int bs = ctrace__repeat_by_stack(kind);
  if (bs < 0 && !(rep->seen >> slot & 1)) {
    *why = "repeated fields with no earlier event of the kind in the batch";
    return NULL;
  }
  const unsigned nf = kind_shape[kind] & SHAPE_NF;
  unsigned mask = ctrace__repeat_mask(kind);
  uint64_t d;
  if (!(p = ctrace__get_uvarint(p, end, &d))) {
    *why = "event cut short (time delta)";
    return NULL;
  }
  *ticks += d;
  ev->ticks = *ticks;
  ev->kind = (uint8_t)kind;
  ev->nfields = (uint8_t)nf;
#pragma GCC unroll 8
  for (unsigned i = 0; i < nf; i++) {
    if (mask >> i & 1) {
      ev->f[i] = bs < 0 ? rep->f[slot][i] : 0;
    } else if (!(p = ctrace__get_uvarint(p, end, &ev->f[i]))) {
      *why = "event cut short (field)";
      return NULL;
    }
  }
  if (bs >= 0) {
    if (!ctrace__repeat_has_stack(rep, bs, ev->f[CTRACE_REPEAT_STACK_FIELD])) {
      *why = "repeated fields with no earlier event of the kind and stack in the batch";
      return NULL;
    }
    const uint64_t *e = ctrace__repeat_entry(rep, bs, ev->f);
    for (unsigned i = 0; i < 3; i++)
      if (mask >> i & 1)
        ev->f[i] = e[i];
  }
  return get_blob(p, end, (kind_shape[kind] & SHAPE_BLOB) != 0, ev, why);
}

/* decode_repeated_kind with each kind's shape as constants, behind one
 * jump (the open's pass meets every flagged event here). */
static const uint8_t *decode_repeated(struct ctrace_repeat *rep, const uint8_t *p,
                                      const uint8_t *end, uint64_t *ticks, ctrace_event *ev,
                                      const char **why) {
  switch (*p) {
#define REPEAT_CASE(NAME, slot, mask, bs, fields)                                                  \
  case CTRACE_EV_##NAME | CTRACE_REPEAT_FLAG:                                                      \
    return decode_repeated_kind(rep, p, end, ticks, ev, why, CTRACE_EV_##NAME);
    CTRACE_REPEAT_KINDS(REPEAT_CASE)
#undef REPEAT_CASE
  default:
    return decode_repeated_kind(rep, p, end, ticks, ev, why, *p & ~CTRACE_REPEAT_FLAG);
  }
}

/*
 * A plain (not flagged) event of known kind code < 0x80 in a data batch,
 * as ctrace_decode_batch_event decodes it, with the kind's shape (nf,
 * blob) as constants where it is inlined: the open's pass over every
 * event goes through here, the loops unrolled behind one jump.
 */
static inline __attribute__((always_inline)) const uint8_t *
decode_plain(const struct ctrace_batch_info *b, struct ctrace_batch_state *st, const uint8_t *p,
             const uint8_t *end, uint64_t *ticks, ctrace_event *ev, const char **why, unsigned code,
             unsigned nf, int blob) {
  uint64_t prev = *ticks, d;
  if (!(p = ctrace__get_uvarint(p + 1, end, &d))) {
    *why = "event cut short (time delta)";
    return NULL;
  }
  *ticks += d;
  ev->ticks = *ticks;
  ev->kind = (uint8_t)code;
  ev->nfields = (uint8_t)nf;
#pragma GCC unroll 8
  for (unsigned i = 0; i < nf; i++)
    if (!(p = ctrace__get_uvarint(p, end, &ev->f[i]))) {
      *why = "event cut short (field)";
      return NULL;
    }
  if (!(p = get_blob(p, end, blob, ev, why)))
    return NULL;
  int slot = b->repeat ? ctrace__repeat_slot(code) : -1;
  int bs = b->repeat ? ctrace__repeat_by_stack(code) : -1;
  if (slot >= 0 && bs < 0) {
    st->rep.seen |= 1u << slot;
#pragma GCC unroll 8
    for (unsigned i = 0; i < nf; i++)
      st->rep.f[slot][i] = ev->f[i];
  }
  if (b->relative && rel_kinds[code])
    rel_apply(&st->rel, b->tid, prev, ticks, ev);
  if (bs >= 0)
    ctrace__repeat_keep_stack(&st->rep, bs, ev->f);
  return p;
}

const uint8_t *ctrace_decode_batch_event(const struct ctrace_batch_info *b,
                                         struct ctrace_batch_state *st, const uint8_t *p,
                                         const uint8_t *end, uint64_t *ticks, ctrace_event *ev,
                                         const char **why) {
  if (p < end && !(b->repeat && (*p & 0xc0) == CTRACE_REPEAT_FLAG)) {
    switch (*p) {
#define KIND_CASE(NAME, code, nf, has_blob, fields, doc)                                           \
  case code:                                                                                       \
    if ((code) < 0x80)                                                                             \
      return decode_plain(b, st, p, end, ticks, ev, why, (code), (nf), (has_blob));                \
    break;
      CTRACE_EVENT_KINDS(KIND_CASE)
#undef KIND_CASE
    default:
      break;
    }
  }
  /* flagged events, later versions' records, and bytes that do not decode */
  uint64_t prev = *ticks;
  int flagged = b->repeat && p < end && (*p & 0xc0) == CTRACE_REPEAT_FLAG;
  if (flagged) {
    p = decode_repeated(&st->rep, p, end, ticks, ev, why);
  } else {
    p = ctrace_decode_event(p, end, ticks, ev, why);
    int slot = p && b->repeat ? ctrace__repeat_slot(ev->kind) : -1;
    if (slot >= 0 && ctrace__repeat_by_stack(ev->kind) < 0) {
      st->rep.seen |= 1u << slot;
      /* a loop: memcpy of a variable few words is `rep movs` here, whose
       * start-up was a sixth of the open's time */
      for (unsigned i = 0; i < ev->nfields; i++)
        st->rep.f[slot][i] = ev->f[i];
    }
  }
  if (!p)
    return NULL;
  int bs = b->repeat ? ctrace__repeat_by_stack(ev->kind) : -1;
  if (flagged && bs >= 0) { /* values already: the object is the batch's last */
    st->rel.object = ev->f[1];
    int dur = ctrace__rel_span_dur(ev->kind);
    if (b->relative && dur >= 0)
      ev->ticks = *ticks = ctrace__rel_span_time(prev, ev->ticks - prev, ev->f[dur]);
  } else if (b->relative && rel_kinds[ev->kind]) {
    rel_apply(&st->rel, b->tid, prev, ticks, ev);
  }
  if (bs >= 0)
    ctrace__repeat_keep_stack(&st->rep, bs, ev->f);
  return p;
}

int ctrace_decode_pcs(const uint8_t *blob, uint32_t len, uint64_t *pcs, int max) {
  const uint8_t *p = blob, *end = blob + len;
  uint64_t prev = 0;
  int n = 0;
  while (p < end) {
    uint64_t z;
    p = ctrace__get_uvarint(p, end, &z);
    if (!p || n >= max)
      return -1;
    prev += (uint64_t)ctrace__unzigzag(z);
    pcs[n++] = prev;
  }
  return n;
}

/* ---- threads by tid ---- */

static int64_t tid_find(const ctrace_reader *r, uint32_t tid) {
  return ctrace_hash_get(&r->tids, tid);
}

/* Points tid at thread idx (its latest thread). */
static int tid_set(ctrace_reader *r, uint32_t tid, uint32_t idx) {
  return ctrace_hash_set(&r->tids, tid, idx);
}

/*
 * The thread a data batch of tid with sequence number seq belongs to. A
 * thread's batches come in the file in sequence order, so a number that
 * does not grow means a new thread that got the same tid from the kernel
 * (tid reuse): a new entry, linked to the previous one. Returns its index,
 * or -1 when out of memory.
 */
static int64_t thread_for(ctrace_reader *r, uint32_t tid, uint64_t seq) {
  int64_t i = tid_find(r, tid);
  if (i >= 0 && seq > r->last_seq.v[i]) {
    r->last_seq.v[i] = seq;
    return i;
  }
  struct ctrace_thread_info t = {0};
  t.tid = tid;
  t.first = UINT64_MAX;
  t.instance = i >= 0 ? r->threads.v[i].instance + 1 : 0;
  CTRACE_TVEC_PUSH(r->threads, t, fail);
  CTRACE_TVEC_PUSH(r->last_seq, seq, fail);
  CTRACE_TVEC_PUSH(r->prev_same_tid, i, fail);
  if (tid_set(r, tid, (uint32_t)(r->threads.n - 1)) < 0)
    goto fail;
  return (int64_t)r->threads.n - 1;
fail:
  return -1;
}

/* The thread of tid at ticks: of the threads that had this tid, the
 * earliest whose last event is not before ticks, else the latest. */
static int64_t tid_find_at(const ctrace_reader *r, uint32_t tid, uint64_t ticks) {
  int64_t k = tid_find(r, tid);
  for (int64_t j = k >= 0 ? r->prev_same_tid.v[k] : -1; j >= 0; j = r->prev_same_tid.v[j]) {
    if (r->threads.v[j].last < ticks)
      break;
    k = j;
  }
  return k;
}

/* ---- the validating pass ---- */

/* Applies a definition from a META batch. Returns 0 or -1 (error set). */
static int apply_meta(ctrace_reader *r, const ctrace_event *ev) {
  switch (ev->kind) {
  case CTRACE_EV_CLOCK_SYNC: {
    struct ctrace_clock_sync c = {ev->f[0], ev->f[1], ev->f[2]};
    CTRACE_TVEC_PUSH(r->syncs, c, oom);
    return 0;
  }
  case CTRACE_EV_STRING: {
    if (ev->f[0] != r->strings.n) {
      set_error(r, CTRACE_READ_CORRUPT, ev->offset, "string id %llu out of sequence (expected %zu)",
                (unsigned long long)ev->f[0], r->strings.n);
      return -1;
    }
    struct ctrace_string s = {(const char *)ev->blob, ev->blob_len};
    CTRACE_TVEC_PUSH(r->strings, s, oom);
    return 0;
  }
  case CTRACE_EV_STACK: {
    if (ev->f[0] != r->stacks.n) {
      set_error(r, CTRACE_READ_CORRUPT, ev->offset, "stack id %llu out of sequence (expected %zu)",
                (unsigned long long)ev->f[0], r->stacks.n);
      return -1;
    }
    uint64_t tmp[CTRACE_MAX_STACK_DEPTH];
    int n;
    if (r->minor >= CTRACE_FORMAT_MINOR_RELATIVE) { /* 1.3: shares the previous stack's end */
      const struct stack_def *pd = &r->stacks.v[r->stacks.n - 1]; /* [0]: empty */
      n = ctrace__stack_unblob(ev->blob, ev->blob_len, pd->n ? r->pcs.v + pd->first : NULL,
                               (int)pd->n, tmp, CTRACE_MAX_STACK_DEPTH);
    } else {
      n = ctrace_decode_pcs(ev->blob, ev->blob_len, tmp, CTRACE_MAX_STACK_DEPTH);
    }
    if (n < 0) {
      set_error(r, CTRACE_READ_CORRUPT, ev->offset, "bad stack (more than %d frames or cut short)",
                CTRACE_MAX_STACK_DEPTH);
      return -1;
    }
    struct stack_def sd = {r->pcs.n, (uint32_t)n};
    for (int i = 0; i < n; i++)
      CTRACE_TVEC_PUSH(r->pcs, tmp[i], oom);
    CTRACE_TVEC_PUSH(r->stacks, sd, oom);
    return 0;
  }
  case CTRACE_EV_MAPPING: {
    struct ctrace_mapping m = {ev->f[0], ev->f[1], ev->f[2], (uint32_t)ev->f[3], ev->blob,
                               ev->blob_len};
    CTRACE_TVEC_PUSH(r->mappings, m, oom);
    return 0;
  }
  case CTRACE_EV_PROCESS: {
    struct ctrace_process p = {0};
    p.pid = (uint32_t)ev->f[0];
    p.ppid = (uint32_t)ev->f[1];
    p.exe = (uint32_t)ev->f[2];
    p.argv = (uint32_t)ev->f[3];
    CTRACE_TVEC_PUSH(r->processes, p, oom);
    return 0;
  }
  case CTRACE_EV_END:
    r->ended = 1;
    return 0;
  case CTRACE_EV_PROPERTY: {
    /* Kept NUL-terminated; a blob without '=' or with a NUL byte is not a
     * property (skipped, counted as unknown). */
    if (ev->blob_len > CTRACE_PROPERTY_MAX || !memchr(ev->blob, '=', ev->blob_len) ||
        memchr(ev->blob, 0, ev->blob_len) || r->props.n >= CTRACE_PROPERTIES_MAX) {
      r->unknown++;
      return 0;
    }
    char *p = malloc(ev->blob_len + 1);
    if (!p)
      goto oom;
    memcpy(p, ev->blob, ev->blob_len);
    p[ev->blob_len] = 0;
    CTRACE_TVEC_PUSH(r->props, p, oom_prop);
    return 0;
  oom_prop:
    free(p);
    goto oom;
  }
  case CTRACE_EV_SCHED:
  case CTRACE_EV_SAMPLES:
  case CTRACE_EV_SCHED_LOST:
    return 0; /* decoded once the threads are known (sched_read.c) */
  default:
    if (ev->kind >= 0x80) {
      r->unknown++; /* a later minor version's definition: skipped */
      return 0;
    }
    set_error(r, CTRACE_READ_CORRUPT, ev->offset, "%s event in a metadata batch",
              ctrace__kinds[ev->kind].name);
    return -1;
  }
oom:
  set_error(r, CTRACE_READ_CORRUPT, ev->offset, "out of memory");
  return -1;
}

/* Learns what a thread event says about its thread. Returns 0, or -1 when
 * out of memory. */
static int apply_thread_event(ctrace_reader *r, struct ctrace_thread_info *t,
                              const ctrace_event *ev) {
  switch (ev->kind) {
  case CTRACE_EV_THREAD_START:
    t->start_link = ev->f[0];
    break;
  case CTRACE_EV_THREAD_EXIT:
    t->exited = 1;
    break;
  case CTRACE_EV_THREAD_NAME: {
    /* Resolved after the pass: the named thread may not be known yet. */
    if (ev->f[0] == 0 || ev->f[0] > UINT32_MAX || ev->f[1] >= UINT32_MAX)
      break;
    struct name_rec n = {ev->ticks, (uint32_t)ev->f[0], (uint32_t)ev->f[1],
                         (uint32_t)r->names.n};
    CTRACE_TVEC_PUSH(r->names, n, oom);
    break;
  }
  case CTRACE_EV_THREAD_CREATE: {
    if (!ev->f[0])
      break;
    struct create_rec c = {ev->f[0], ev->ticks, t->tid};
    CTRACE_TVEC_PUSH(r->creates, c, oom);
    break;
  }
  case CTRACE_EV_DROPPED:
    t->dropped += ev->f[0];
    r->dropped += ev->f[0];
    break;
  case CTRACE_EV_TRACER_TIME:
    t->tracer_ns = ev->f[0];
    t->tracer_events = ev->f[1];
    break;
  case CTRACE_EV_EXIT:
    r->has_exit = 1;
    r->exit_status = ctrace__unzigzag(ev->f[0]);
    break;
  case CTRACE_EV_SIGNAL:
    r->fatal_signal = ev->f[0] < 256 ? (uint32_t)ev->f[0] : 0;
    break;
  default:
    break;
  }
  return 0;
oom:
  return -1;
}

/* Decodes and checks one batch's events. Returns 0 or -1 (error set). */
static int scan_batch(ctrace_reader *r, struct ctrace_batch_info *b, const uint8_t *payload) {
  const uint8_t *p = payload, *end = payload + b->evlen;
  uint64_t ticks = b->base;
  int meta = (b->flags & CTRACE_BATCH_META) != 0;
  struct ctrace_thread_info *t = NULL;
  b->thread = UINT32_MAX;
  if (!meta) {
    int64_t k = thread_for(r, b->tid, b->seq);
    if (k < 0) {
      set_error(r, CTRACE_READ_CORRUPT, b->offset, "out of memory");
      return -1;
    }
    t = &r->threads.v[k];
    b->thread = (uint32_t)k;
  }
  b->first = UINT64_MAX;
  b->last = 0;
  b->relative = !meta && r->minor >= CTRACE_FORMAT_MINOR_RELATIVE;
  b->repeat = !meta && r->minor >= CTRACE_FORMAT_MINOR_REPEAT;
  struct ctrace_batch_state rel;
  rel.rel = (struct ctrace_rel){0};
  rel.rep.seen = rel.rep.stack_seen = 0;
  while (p < end) {
    ctrace_event ev;
    const char *why;
    uint64_t off = (uint64_t)(p - r->data);
    ev.offset = off;
    const uint8_t *next = ctrace_decode_batch_event(b, &rel, p, end, &ticks, &ev, &why);
    if (!next) {
      set_error(r, CTRACE_READ_CORRUPT, off, "%s (kind 0x%02x)", why, *p);
      /* The batch is not read: its events leave the kind counts too. */
      uint64_t tk = b->base;
      rel.rel = (struct ctrace_rel){0};
      rel.rep.seen = rel.rep.stack_seen = 0;
      for (const uint8_t *q = payload, *bad = p; !meta && q < bad;) {
        ctrace_event e;
        if (!(q = ctrace_decode_batch_event(b, &rel, q, end, &tk, &e, &why)))
          break;
        r->by_kind[e.kind]--;
      }
      return -1;
    }
    p = next;
    if (r->ended) {
      set_error(r, CTRACE_READ_CORRUPT, off, "%s after the END record",
                ev.kind < 0x80 || ctrace__kinds[ev.kind].name ? "event" : "record");
      return -1;
    }
    if (meta) {
      b->nevents++;
      if (apply_meta(r, &ev) < 0)
        return -1;
      continue;
    }
    if (ev.kind < 0x10 || ev.kind == CTRACE_EV_END) {
      set_error(r, CTRACE_READ_CORRUPT, off, "definition %s outside a metadata batch",
                ctrace__kinds[ev.kind].name);
      return -1;
    }
    r->by_kind[ev.kind]++;
    if (ev.kind >= 0x80) { /* a later minor version's record: skipped, counted */
      if (!ctrace__kinds[ev.kind].name) {
        r->unknown++;
        continue;
      }
      /* a known record (SPAWN, FD, SHARED, IPC_IO) is the thread at work
       * then: its time is part of the thread's life, not an event */
      if (ev.ticks < b->first)
        b->first = ev.ticks;
      if (ev.ticks > b->last)
        b->last = ev.ticks;
      continue;
    }
    b->nevents++;
    if (apply_thread_event(r, t, &ev) < 0) {
      set_error(r, CTRACE_READ_CORRUPT, off, "out of memory");
      return -1;
    }
    if (ev.ticks < b->first)
      b->first = ev.ticks;
    if (ev.ticks > b->last)
      b->last = ev.ticks;
  }
  if (!meta)
    t->nbatches++; /* the batch lists are laid out by build_index */
  if (!meta && b->first != UINT64_MAX) {
    t->nevents += b->nevents;
    r->nevents += b->nevents;
    if (b->first < t->first)
      t->first = b->first;
    if (b->last > t->last)
      t->last = b->last;
    if (b->first < r->first_ticks)
      r->first_ticks = b->first;
    if (b->last > r->last_ticks)
      r->last_ticks = b->last;
  }
  return 0;
}

static int cmp_u32_by_seq(const void *a, const void *b, void *arg) {
  const ctrace_reader *r = arg;
  const struct ctrace_batch_info *x = &r->batches.v[*(const uint32_t *)a];
  const struct ctrace_batch_info *y = &r->batches.v[*(const uint32_t *)b];
  if (x->seq != y->seq)
    return x->seq < y->seq ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_threads_by_first(const void *a, const void *b, void *arg) {
  const ctrace_reader *r = arg;
  const struct ctrace_thread_info *x = &r->threads.v[*(const uint32_t *)a];
  const struct ctrace_thread_info *y = &r->threads.v[*(const uint32_t *)b];
  if (x->first != y->first)
    return x->first < y->first ? -1 : 1;
  if (x->tid != y->tid)
    return x->tid < y->tid ? -1 : 1;
  return x->instance < y->instance ? -1 : x->instance > y->instance;
}

/* Creation links: THREAD_CREATE(link) on one thread, THREAD_START(link) on
 * another. One hash table of links, filled once: O(threads + creations).
 * When a link repeats, its first creation in file order wins. */
static int resolve_links(ctrace_reader *r) {
  if (!r->creates.n)
    return 0;
  struct ctrace_hash links = {0}; /* link -> index into creates */
  for (size_t i = 0; i < r->creates.n; i++)
    if (r->creates.v[i].link && ctrace_hash_put(&links, r->creates.v[i].link, (uint32_t)i) < 0) {
      ctrace_hash_free(&links);
      return -1;
    }
  for (size_t i = 0; i < r->threads.n; i++) {
    struct ctrace_thread_info *t = &r->threads.v[i];
    int64_t c = t->start_link ? ctrace_hash_get(&links, t->start_link) : -1;
    if (c >= 0) {
      t->created_by = r->creates.v[c].tid;
      t->created_at = r->creates.v[c].ticks;
    }
  }
  ctrace_hash_free(&links);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  const struct name_rec *x = a, *y = b;
  if (x->ticks != y->ticks)
    return x->ticks < y->ticks ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* The basename of a string, as a derived string id (pointing into the same
 * bytes); 0 when empty or out of memory. */
static uint32_t derive_basename(ctrace_reader *r, uint64_t id, int first_item) {
  const struct ctrace_string *s = ctrace_reader_string(r, id);
  if (!s || !s->len)
    return 0;
  uint32_t end = s->len, start = 0;
  if (first_item)
    for (uint32_t i = 0; i < s->len; i++)
      if (s->s[i] == 0x1f) {
        end = i;
        break;
      }
  for (uint32_t i = 0; i < end; i++)
    if (s->s[i] == '/')
      start = i + 1;
  if (start >= end)
    return 0;
  struct ctrace_string b = {s->s + start, end - start};
  CTRACE_TVEC_PUSH(r->strings, b, oom);
  return (uint32_t)r->strings.n - 1;
oom:
  return 0;
}

/* Thread names: each thread keeps the name set last (by time, then file
 * order), whichever thread set it and wherever its batch is in the file. A
 * main thread (tid == pid) never named is named after the program. */
static int resolve_names(ctrace_reader *r) {
  size_t n = r->names.n;
  if (n > 1)
    qsort(r->names.v, n, sizeof *r->names.v, cmp_names);
  for (size_t i = 0; i < n; i++) {
    int64_t k = tid_find_at(r, r->names.v[i].tid, r->names.v[i].ticks);
    if (k >= 0)
      r->threads.v[k].name = r->names.v[i].name;
  }
  uint32_t pid = r->pid;
  const struct ctrace_process *p = r->processes.n ? &r->processes.v[0] : NULL;
  if (p && p->pid)
    pid = p->pid;
  int64_t k = pid ? tid_find(r, pid) : -1;
  if (k >= 0 && !r->threads.v[k].name && p) {
    uint32_t id = derive_basename(r, p->exe, 0);
    if (!id)
      id = derive_basename(r, p->argv, 1);
    r->threads.v[k].name = id;
  }
  return 0;
}

/* The ticks of the trace's start: its first clock sync, or its first event
 * when that is earlier. */
static uint64_t start_ticks(const ctrace_reader *r) {
  return r->syncs.n && r->syncs.v[0].ticks < r->first_ticks ? r->syncs.v[0].ticks
                                                             : r->first_ticks;
}

/* Per-thread batch lists, threads sorted by first event, links resolved. */
static int build_index(ctrace_reader *r) {
  size_t nt = r->threads.n;
  /* The process's main thread (tid = pid) existed when its trace started,
   * whatever its first event: a program that computes before its first
   * recorded call ran all that time (and is not shown as absent). */
  uint64_t start = start_ticks(r);
  for (size_t i = 0; i < nt; i++) {
    struct ctrace_thread_info *t = &r->threads.v[i];
    if (t->tid == r->pid && t->instance == 0 && start < t->first)
      t->first = start;
  }
  if (nt) {
    /* Sort the threads through an index array, to renumber the batches'
     * and the tid chains' references to them. */
    uint32_t *ord = malloc(nt * sizeof *ord), *inv = malloc(nt * sizeof *inv);
    int64_t *prev = malloc(nt * sizeof *prev);
    if (!ord || !inv || !prev) {
      free(ord);
      free(inv);
      free(prev);
      return -1;
    }
    for (size_t i = 0; i < nt; i++)
      ord[i] = (uint32_t)i;
    qsort_r(ord, nt, sizeof *ord, cmp_threads_by_first, r);
    for (size_t k = 0; k < nt; k++)
      inv[ord[k]] = (uint32_t)k;
    for (size_t i = 0; i < nt; i++)
      prev[inv[i]] = r->prev_same_tid.v[i] >= 0 ? (int64_t)inv[r->prev_same_tid.v[i]] : -1;
    for (size_t i = 0; i < r->batches.n; i++)
      if (r->batches.v[i].thread != UINT32_MAX)
        r->batches.v[i].thread = inv[r->batches.v[i].thread];
    for (size_t j = 0; j < r->tids.cap; j++) /* tid -> its latest thread, renumbered */
      if (r->tids.s[j].key)
        r->tids.s[j].val = inv[r->tids.s[j].val];
    /* threads[k] = old threads[ord[k]], in place, cycle by cycle */
    struct ctrace_thread_info *v = r->threads.v;
    for (size_t k = 0; k < nt; k++) {
      if (ord[k] == k)
        continue;
      struct ctrace_thread_info tmp = v[k];
      size_t j = k;
      while (ord[j] != k) {
        size_t src = ord[j];
        v[j] = v[src];
        ord[j] = (uint32_t)j;
        j = src;
      }
      v[j] = tmp;
      ord[j] = (uint32_t)j;
    }
    free(r->prev_same_tid.v);
    r->prev_same_tid.v = prev;
    r->prev_same_tid.cap = nt;
    free(ord);
    free(inv);
  }
  r->batch_pool = malloc((r->batches.n + 1) * sizeof *r->batch_pool);
  if (!r->batch_pool)
    return -1;
  uint32_t at = 0; /* nbatches: counted by scan_batch */
  for (size_t i = 0; i < nt; i++) {
    r->threads.v[i].batches = r->batch_pool + at;
    at += r->threads.v[i].nbatches;
    r->threads.v[i].nbatches = 0;
  }
  for (size_t i = 0; i < r->batches.n; i++) {
    const struct ctrace_batch_info *b = &r->batches.v[i];
    if (b->flags & CTRACE_BATCH_META)
      continue;
    struct ctrace_thread_info *t = &r->threads.v[b->thread];
    t->batches[t->nbatches++] = (uint32_t)i;
  }
  for (size_t i = 0; i < nt; i++) {
    struct ctrace_thread_info *t = &r->threads.v[i];
    if (t->nbatches > 1)
      qsort_r(t->batches, t->nbatches, sizeof *t->batches, cmp_u32_by_seq, r);
  }
  if (resolve_links(r) < 0 || resolve_names(r) < 0)
    return -1;
  return 0;
}

/* Time. Points (ticks, ns since the start) from the CLOCK_SYNC records in
 * file order, each kept only when its ticks are above and its CLOCK_MONOTONIC
 * not below the last kept one's. The start (ns 0) is the first sync. */
int ctrace__reader_fit_clock(ctrace_reader *r) {
  r->pts.n = 0;
  r->ext_num = r->ext_den = 1;
  int tsc = (r->flags & CTRACE_FILE_TICKS_TSC) != 0;
  if (r->syncs.n)
    r->real0 = r->syncs.v[0].real_ns;
  if (!tsc || r->syncs.n == 0) {
    /* Ticks are CLOCK_MONOTONIC ns (or, without a sync, of unknown origin:
     * the first event is the start; of unknown rate without a tick rate). */
    struct clock_pt p0 = {r->syncs.n ? r->syncs.v[0].mono_ns : r->first_ticks, 0};
    CTRACE_TVEC_PUSH(r->pts, p0, oom);
    if (tsc && r->tick_hz) {
      r->ext_num = 1000000000u;
      r->ext_den = r->tick_hz;
    }
    return 0;
  }
  uint64_t m0 = r->syncs.v[0].mono_ns;
  for (size_t i = 0; i < r->syncs.n; i++) {
    const struct ctrace_clock_sync *c = &r->syncs.v[i];
    if (r->pts.n) {
      const struct clock_pt *l = &r->pts.v[r->pts.n - 1];
      if (c->ticks <= l->ticks || c->mono_ns < m0 || (int64_t)(c->mono_ns - m0) < l->ns)
        continue;
    }
    struct clock_pt p = {c->ticks, (int64_t)(c->mono_ns - m0)};
    CTRACE_TVEC_PUSH(r->pts, p, oom);
  }
  if (r->pts.n >= 2) {
    const struct clock_pt *a = &r->pts.v[0], *b = &r->pts.v[r->pts.n - 1];
    r->ext_num = (uint64_t)(b->ns - a->ns);
    r->ext_den = b->ticks - a->ticks;
  } else if (r->tick_hz) {
    r->ext_num = 1000000000u;
    r->ext_den = r->tick_hz;
  } else {
    r->ext_num = 1; /* a 1.0 trace with one sync: guess a 3 GHz TSC */
    r->ext_den = 3;
  }
  return 0;
oom:
  return -1;
}

/* base + floor(x * num / den) with x = a - b, exact for any 64-bit inputs;
 * saturates at the int64 range. */
static int64_t line_at(int64_t base, uint64_t a, uint64_t b, uint64_t num, uint64_t den) {
  int neg = a < b;
  uint64_t mag = neg ? b - a : a - b;
  uint64_t p, q64;
  int64_t v64;
  /* The usual case, a point's segment (a product that fits 64 bits), with a
   * 64-bit division: the 128-bit one is a libgcc call several times slower
   * (most of the reader's time went there). */
  if (den && !__builtin_mul_overflow(mag, num, &p)) {
    q64 = p / den;
    if (neg && q64 * den != p)
      q64++;
    if (q64 <= INT64_MAX && !__builtin_add_overflow(base, neg ? -(int64_t)q64 : (int64_t)q64, &v64))
      return v64;
  }
  unsigned __int128 prod = (unsigned __int128)mag * num;
  unsigned __int128 q = den ? prod / den : 0;
  if (neg && den && q * den != prod)
    q++; /* floor, not truncation, below the point */
  __int128 v = (__int128)base + (neg ? -(__int128)q : (__int128)q);
  if (v > INT64_MAX)
    return INT64_MAX;
  if (v < INT64_MIN)
    return INT64_MIN;
  return (int64_t)v;
}

/* The payload length of the batch at off whose length field says more than
 * the file holds, when the bytes after it do hold a whole batch (trailer and
 * checksum found); 0 when they do not (the file was cut off). */
static size_t damaged_length(const uint8_t *d, size_t size, size_t off) {
  uint8_t fixed[CTRACE_BATCH_HEADER_SIZE];
  memcpy(fixed, d + off, sizeof fixed);
  const uint8_t *payload = d + off + CTRACE_BATCH_HEADER_SIZE;
  for (size_t end = off + CTRACE_BATCH_HEADER_SIZE + CTRACE_BATCH_TRAILER_SIZE; end <= size; end++) {
    const uint8_t *t = d + end - CTRACE_BATCH_TRAILER_SIZE;
    if (t[0] != CTRACE_EV_CHECKSUM || t[1] != 0 || t[2] != 4)
      continue;
    if (end != size && (size - end < 4 || ctrace__get_le32(d + end) != CTRACE_BATCH_MAGIC))
      continue;
    size_t len = end - off - CTRACE_BATCH_HEADER_SIZE;
    if (len > CTRACE_BATCH_MAX_PAYLOAD)
      return 0;
    ctrace__put_le32(fixed + 4, (uint32_t)len);
    uint32_t c = ctrace__crc32c(0, fixed, sizeof fixed);
    if (ctrace__crc32c(c, payload, len - CTRACE_BATCH_TRAILER_SIZE) == ctrace__get_le32(t + 3))
      return len;
  }
  return 0;
}

static int scan(ctrace_reader *r) {
  const uint8_t *d = r->data;
  size_t size = r->size;
  size_t off = r->hsize;
  int crc = r->minor >= 1;
  /* A crash can leave the file's end zero-filled (the size was updated,
   * the data never written): that is a cut, not damage. */
  size_t zero_from = size;
  while (zero_from > off && d[zero_from - 1] == 0)
    zero_from--;
  int zero_tail = size - zero_from >= 8;
  r->good_bytes = off;
  r->first_ticks = UINT64_MAX; /* of any thread event; set by scan_batch */
  r->last_ticks = 0;
  while (off < size) {
    if (off >= zero_from) {
      if (!r->ended) /* after END: padding, nothing is missing */
        set_error(r, CTRACE_READ_TRUNCATED, off,
                  "file ends in %zu zero bytes (a crash before they were written)", size - off);
      break;
    }
    if (size - off < CTRACE_BATCH_HEADER_SIZE) {
      set_error(r, CTRACE_READ_TRUNCATED, off, "file ends inside a batch header (%zu of %d bytes)",
                size - off, CTRACE_BATCH_HEADER_SIZE);
      break;
    }
    const uint8_t *h = d + off;
    struct ctrace_batch_info b = {0};
    b.offset = off;
    b.len = ctrace__get_le32(h + 4);
    b.tid = ctrace__get_le32(h + 8);
    b.flags = ctrace__get_le32(h + 12);
    b.seq = ctrace__get_le64(h + 16);
    b.base = ctrace__get_le64(h + 24);
    if (ctrace__get_le32(h) != CTRACE_BATCH_MAGIC) {
      set_error(r, CTRACE_READ_CORRUPT, off, "bad batch magic 0x%08x", ctrace__get_le32(h));
      break;
    }
    if (b.len > CTRACE_BATCH_MAX_PAYLOAD) {
      set_error(r, CTRACE_READ_CORRUPT, off + 4, "batch length %u over the limit of %u", b.len,
                CTRACE_BATCH_MAX_PAYLOAD);
      break;
    }
    if (b.len > size - off - CTRACE_BATCH_HEADER_SIZE) {
      /* Cut off, unless a whole batch with a damaged length field is
       * there: a trailer followed by the end of the file or by another
       * batch, whose checksum matches with the length it implies. */
      size_t rest = size - off - CTRACE_BATCH_HEADER_SIZE;
      size_t real = crc ? damaged_length(d, size, off) : 0;
      if (real) {
        set_error(r, CTRACE_READ_CORRUPT, off + 4,
                  "batch at offset %zu is damaged (length %u, but its CRC-32C matches %zu)", off,
                  b.len, real);
        break;
      }
      set_error(r, CTRACE_READ_TRUNCATED, off, "file ends inside a batch (%zu of %u bytes)", rest,
                b.len);
      break;
    }
    int in_zeros = zero_tail && zero_from < off + CTRACE_BATCH_HEADER_SIZE + b.len;
    if (crc) {
      /* Checked before anything else in the batch is believed. */
      const uint8_t *t = h + CTRACE_BATCH_HEADER_SIZE + b.len - CTRACE_BATCH_TRAILER_SIZE;
      const char *bad = NULL;
      /* the CRC first: it reads the batch in order, up to the trailer */
      uint32_t c = b.len < CTRACE_BATCH_TRAILER_SIZE
                       ? 0
                       : ctrace__crc32c(0, h, CTRACE_BATCH_HEADER_SIZE + b.len -
                                                  CTRACE_BATCH_TRAILER_SIZE);
      if (b.len < CTRACE_BATCH_TRAILER_SIZE || t[0] != CTRACE_EV_CHECKSUM || t[1] != 0 || t[2] != 4)
        bad = "has no checksum trailer";
      else if (c != ctrace__get_le32(t + 3))
        bad = "is damaged (CRC-32C mismatch)";
      if (bad && in_zeros) {
        set_error(r, CTRACE_READ_TRUNCATED, off,
                  "file ends inside a batch (zero-filled from offset %zu: a crash)", zero_from);
        break;
      }
      if (bad) {
        set_error(r, CTRACE_READ_CORRUPT, off, "batch at offset %zu (%u bytes) %s", off,
                  CTRACE_BATCH_HEADER_SIZE + b.len, bad);
        break;
      }
    }
    if (b.flags & ~(uint32_t)CTRACE_BATCH_META) {
      set_error(r, CTRACE_READ_CORRUPT, off + 12, "unknown batch flags 0x%x", b.flags);
      break;
    }
    if ((b.flags & CTRACE_BATCH_META) ? b.tid != 0 : b.tid == 0) {
      set_error(r, CTRACE_READ_CORRUPT, off + 8, "batch thread id %u does not fit its flags", b.tid);
      break;
    }
    b.evlen = crc ? b.len - CTRACE_BATCH_TRAILER_SIZE : b.len;
    if (scan_batch(r, &b, h + CTRACE_BATCH_HEADER_SIZE) < 0) {
      if (r->status == CTRACE_READ_CORRUPT && zero_tail && r->err_off >= zero_from) {
        r->status = CTRACE_READ_OK; /* zeros from a crash, not damage */
        set_error(r, CTRACE_READ_TRUNCATED, off,
                  "file ends inside a batch (zero-filled from offset %zu: a crash)", zero_from);
      }
      break;
    }
    CTRACE_TVEC_PUSH(r->batches, b, oom);
    off += CTRACE_BATCH_HEADER_SIZE + b.len;
    r->good_bytes = off;
  }
  if (r->status == CTRACE_READ_OK && crc && !r->ended)
    set_error(r, CTRACE_READ_TRUNCATED, off,
              "no END record: the trace was cut off after its last complete batch");
  if (r->first_ticks == UINT64_MAX)
    r->first_ticks = r->last_ticks = r->syncs.n ? r->syncs.v[0].ticks : 0;
  if (ctrace__reader_fit_clock(r) < 0 || build_index(r) < 0)
    goto oom;
  return 0;
oom:
  set_error(r, CTRACE_READ_CORRUPT, off, "out of memory");
  return 0;
}

/* How the process of this file ended, as far as the file tells. */
static uint32_t proc_status(const ctrace_reader *r) {
  if (r->status == CTRACE_READ_CORRUPT)
    return CTRACE_PROC_CORRUPT;
  if (ctrace_reader_complete(r))
    return CTRACE_PROC_COMPLETE;
  return r->locked ? CTRACE_PROC_RUNNING : CTRACE_PROC_CUT;
}

/* What a reader of one file says of its processes (PROCESS records; a file
 * of a tree without one gets one entry from its header, so that every file
 * of a tree has its process). */
static void fill_processes(ctrace_reader *r) {
  if (!r->processes.n && r->no_sched) { /* a file of a tree: one process each */
    struct ctrace_process p = {0};
    p.pid = r->pid;
    CTRACE_TVEC_PUSH(r->processes, p, oom);
  }
oom:
  for (size_t i = 0; i < r->processes.n; i++) {
    struct ctrace_process *p = &r->processes.v[i];
    p->file = 0;
    p->parent = p->exec_from = p->exec_to = -1;
    /* from the trace's start (its first clock sync) to its stop */
    p->first = start_ticks(r);
    p->last = r->last_ticks;
    if (r->syncs.n && r->syncs.v[r->syncs.n - 1].ticks > p->last)
      p->last = r->syncs.v[r->syncs.n - 1].ticks;
    p->status = proc_status(r);
    p->has_exit = r->has_exit;
    p->exit_status = r->exit_status;
    p->signal = r->fatal_signal;
    p->nthreads = (uint32_t)r->threads.n;
    p->nevents = r->nevents;
  }
}

static int open_common(ctrace_reader *r, char *err, size_t errlen) {
  struct ctrace_string empty = {"", 0};
  struct stack_def none = {0, 0};
  CTRACE_TVEC_PUSH(r->strings, empty, oom);
  CTRACE_TVEC_PUSH(r->stacks, none, oom);
  if (r->size < CTRACE_FILE_HEADER_SIZE_1_0 ||
      memcmp(r->data, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN) != 0) {
    if (r->size >= CTRACE_FILE_MAGIC_LEN && memcmp(r->data, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN) != 0)
      snprintf(err, errlen, "offset 0: not a ctrace file (bad magic)");
    else
      snprintf(err, errlen, "offset %zu: file too short for a ctrace header (%zu of %d bytes)",
               r->size, r->size, CTRACE_FILE_HEADER_SIZE_1_0);
    return -1;
  }
  unsigned major = ctrace__get_le16(r->data + 8);
  r->minor = ctrace__get_le16(r->data + 10);
  uint32_t hsize = ctrace__get_le32(r->data + 12);
  r->flags = ctrace__get_le32(r->data + 16);
  r->pid = ctrace__get_le32(r->data + 20);
  if (major != CTRACE_FORMAT_MAJOR) {
    snprintf(err, errlen, "offset 8: unsupported format version %u.%u (this reader reads %d.x)",
             major, r->minor, CTRACE_FORMAT_MAJOR);
    return -1;
  }
  /* Later minor versions may add fields at the end of the header. */
  uint32_t need = r->minor >= 1 ? CTRACE_FILE_HEADER_SIZE : CTRACE_FILE_HEADER_SIZE_1_0;
  if (hsize < need || hsize > CTRACE_FILE_HEADER_MAX) {
    snprintf(err, errlen, "offset 12: bad header size %u (version 1.%u: %u to %u)", hsize,
             r->minor, need, CTRACE_FILE_HEADER_MAX);
    return -1;
  }
  if (hsize > r->size) {
    snprintf(err, errlen, "offset %zu: file too short for a ctrace header (%zu of %u bytes)",
             r->size, r->size, hsize);
    return -1;
  }
  r->hsize = hsize;
  if (r->minor >= 1)
    r->tick_hz = ctrace__get_le64(r->data + CTRACE_FILE_TICK_HZ_OFF);
  int rc = scan(r);
  if (rc == 0 && !r->no_sched)
    r->sched = ctrace__sched_load(r);
  if (rc == 0)
    fill_processes(r);
  return rc;
oom:
  snprintf(err, errlen, "out of memory");
  return -1;
}

int ctrace_reader_open_mem(const void *data, size_t len, ctrace_reader **out, char *err,
                           size_t errlen) {
  ctrace_reader *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  r->data = data;
  r->size = len;
  if (open_common(r, err, errlen) < 0) {
    ctrace_reader_close(r);
    return -1;
  }
  *out = r;
  return 0;
}

/* 1 when the file's writer still holds its lock (docs/FORMAT.md: a
 * recorder started from the environment locks its file until it stops). */
static int writer_holds_lock(int fd) {
  if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
    flock(fd, LOCK_UN);
    return 0;
  }
  return errno == EWOULDBLOCK;
}

/* Opens path; maps it at `at` (inside a range the caller reserved) when not
 * NULL, at most max bytes of it there (a file that grew since the caller
 * looked reads as cut off there). A file of a tree (sub) leaves the
 * scheduling records to the tree. */
int ctrace__reader_open_file(const char *path, const void *at, size_t max, int sub,
                             ctrace_reader **out, char *err, size_t errlen) {
  /* O_NONBLOCK: a FIFO (a sibling named like a trace) must not block */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: not a regular file", path);
    close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  if (at && size > max)
    size = max;
  const void *data = "";
  if (size) {
    /* Every byte is read at open: fault the pages in at once. */
    data = mmap((void *)at, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE | (at ? MAP_FIXED : 0),
                fd, 0);
    if (data == MAP_FAILED) {
      snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
  }
  ctrace_reader *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "out of memory");
    if (size && !at)
      munmap((void *)data, size);
    close(fd);
    return -1;
  }
  /* (the file stays open until its lock is looked at, below) */
  r->data = data;
  r->size = size;
  r->no_sched = sub;
  r->mapped = size != 0 && !at;
  if (open_common(r, err, errlen) < 0) {
    close(fd);
    ctrace_reader_close(r);
    return -1;
  }
  if (!ctrace_reader_complete(r)) { /* cut off, or still being written? */
    r->locked = writer_holds_lock(fd);
    for (size_t i = 0; i < r->processes.n; i++)
      r->processes.v[i].status = proc_status(r);
  }
  close(fd);
  *out = r;
  return 0;
}

int ctrace_reader_open(const char *path, ctrace_reader **out, char *err, size_t errlen) {
  return ctrace__reader_open_file(path, NULL, 0, 0, out, err, errlen);
}

void ctrace_reader_close(ctrace_reader *r) {
  if (!r)
    return;
  if (r->mapped)
    munmap((void *)r->data, r->size);
  if (r->files)
    ctrace__tree_free(r);
  for (size_t i = 0; i < r->props.n; i++)
    free(r->props.v[i]);
  free(r->props.v);
  ctrace__reader_free_tables(r);
  free(r->processes.v);
  free(r->pts.v);
  ctrace__sched_free(r->sched);
  free(r);
}

void ctrace__reader_free_tables(ctrace_reader *r) {
  free(r->batches.v);
  free(r->strings.v);
  free(r->stacks.v);
  free(r->pcs.v);
  free(r->mappings.v);
  free(r->syncs.v);
  free(r->threads.v);
  free(r->batch_pool);
  free(r->creates.v);
  free(r->names.v);
  free(r->prev_same_tid.v);
  free(r->last_seq.v);
  ctrace_hash_free(&r->tids);
  memset(&r->batches, 0, sizeof r->batches);
  memset(&r->strings, 0, sizeof r->strings);
  memset(&r->stacks, 0, sizeof r->stacks);
  memset(&r->pcs, 0, sizeof r->pcs);
  memset(&r->mappings, 0, sizeof r->mappings);
  memset(&r->syncs, 0, sizeof r->syncs);
  memset(&r->threads, 0, sizeof r->threads);
  memset(&r->creates, 0, sizeof r->creates);
  memset(&r->names, 0, sizeof r->names);
  memset(&r->prev_same_tid, 0, sizeof r->prev_same_tid);
  memset(&r->last_seq, 0, sizeof r->last_seq);
  r->batch_pool = NULL;
}

/* ---- accessors ---- */

const struct ctrace__sched_data *ctrace__reader_sched(const ctrace_reader *r) { return r->sched; }

enum ctrace_read_status ctrace_reader_status(const ctrace_reader *r) { return r->status; }
uint64_t ctrace_reader_error_offset(const ctrace_reader *r) { return r->err_off; }
const char *ctrace_reader_error(const ctrace_reader *r) { return r->err; }
uint64_t ctrace_reader_good_bytes(const ctrace_reader *r) { return r->good_bytes; }
uint64_t ctrace_reader_file_size(const ctrace_reader *r) { return r->size; }
const uint8_t *ctrace_reader_data(const ctrace_reader *r) { return r->data; }
uint32_t ctrace_reader_pid(const ctrace_reader *r) { return r->pid; }
unsigned ctrace_reader_version_minor(const ctrace_reader *r) { return r->minor; }
int ctrace_reader_ticks_are_tsc(const ctrace_reader *r) { return (r->flags & CTRACE_FILE_TICKS_TSC) != 0; }
uint64_t ctrace_reader_first_ticks(const ctrace_reader *r) { return r->first_ticks; }
uint64_t ctrace_reader_last_ticks(const ctrace_reader *r) { return r->last_ticks; }
uint64_t ctrace_reader_nevents(const ctrace_reader *r) { return r->nevents; }
uint64_t ctrace_reader_nevents_kind(const ctrace_reader *r, unsigned kind) {
  return kind < 256 ? r->by_kind[kind] : 0;
}
uint64_t ctrace_reader_dropped(const ctrace_reader *r) { return r->dropped; }
uint64_t ctrace_reader_start_realtime(const ctrace_reader *r) { return r->real0; }

/* The segment for ticks t: the last point at or below it, or -1 outside
 * the points (before the first, after the last) and with one point. */
static int64_t seg_by_ticks(const ctrace_reader *r, uint64_t t) {
  /* The segment the calling thread found last: callers mostly walk a thread
   * in time order, so the next time is in it or the next one. Per thread,
   * for the readers a thread shares (the viewer's worker threads). */
  static _Thread_local const ctrace_reader *hint_r;
  static _Thread_local size_t hint;
  size_t n = r->pts.n;
  if (n < 2 || t < r->pts.v[0].ticks || t >= r->pts.v[n - 1].ticks)
    return -1;
  if (hint_r == r && hint + 1 < n) {
    const struct clock_pt *h = &r->pts.v[hint];
    if (h[0].ticks <= t && t < h[1].ticks)
      return (int64_t)hint;
    if (hint + 2 < n && h[1].ticks <= t && t < h[2].ticks)
      return (int64_t)++hint;
  }
  size_t lo = 0, hi = n - 1; /* pts[lo].ticks <= t < pts[hi].ticks */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (r->pts.v[mid].ticks <= t)
      lo = mid;
    else
      hi = mid;
  }
  hint_r = r; /* checked before use: a reader freed and another at its address is fine */
  hint = lo;
  return (int64_t)lo;
}

int64_t ctrace_reader_ns(const ctrace_reader *r, uint64_t ticks) {
  if (!r->pts.n)
    return 0;
  int64_t i = seg_by_ticks(r, ticks);
  if (i >= 0) {
    const struct clock_pt *a = &r->pts.v[i], *b = a + 1;
    return line_at(a->ns, ticks, a->ticks, (uint64_t)(b->ns - a->ns), b->ticks - a->ticks);
  }
  const struct clock_pt *p = ticks < r->pts.v[0].ticks ? &r->pts.v[0] : &r->pts.v[r->pts.n - 1];
  return line_at(p->ns, ticks, p->ticks, r->ext_num, r->ext_den);
}

/* ticks + floor((ns - base) * num / den), saturating at the uint64 range. */
static uint64_t ticks_at(uint64_t ticks, int64_t ns, int64_t base, uint64_t num, uint64_t den) {
  if (!den)
    return ticks;
  int neg = ns < base;
  uint64_t mag = neg ? (uint64_t)base - (uint64_t)ns : (uint64_t)ns - (uint64_t)base;
  unsigned __int128 prod = (unsigned __int128)mag * num, q = prod / den;
  if (neg && q * den != prod)
    q++;
  __int128 v = (__int128)ticks + (neg ? -(__int128)q : (__int128)q);
  if (v < 0)
    return 0;
  if (v > (__int128)UINT64_MAX)
    return UINT64_MAX;
  return (uint64_t)v;
}

uint64_t ctrace_reader_ticks(const ctrace_reader *r, int64_t ns) {
  size_t n = r->pts.n;
  if (!n)
    return 0;
  if (n >= 2 && ns >= r->pts.v[0].ns && ns < r->pts.v[n - 1].ns) {
    size_t lo = 0, hi = n - 1;
    while (hi - lo > 1) {
      size_t mid = lo + (hi - lo) / 2;
      if (r->pts.v[mid].ns <= ns)
        lo = mid;
      else
        hi = mid;
    }
    while (lo + 1 < n - 1 && r->pts.v[lo + 1].ns == r->pts.v[lo].ns)
      lo++;
    const struct clock_pt *a = &r->pts.v[lo], *b = a + 1;
    if (b->ns > a->ns)
      return ticks_at(a->ticks, ns, a->ns, b->ticks - a->ticks, (uint64_t)(b->ns - a->ns));
    return a->ticks;
  }
  const struct clock_pt *p = ns < r->pts.v[0].ns ? &r->pts.v[0] : &r->pts.v[n - 1];
  return ticks_at(p->ticks, ns, p->ns, r->ext_den, r->ext_num);
}

uint64_t ctrace_reader_tick_hz(const ctrace_reader *r) { return r->tick_hz; }
int ctrace_reader_complete(const ctrace_reader *r) {
  return r->status == CTRACE_READ_OK && (r->ended || r->minor == 0);
}
uint64_t ctrace_reader_nunknown(const ctrace_reader *r) { return r->unknown; }

const char *ctrace_reader_property(const ctrace_reader *r, const char *key) {
  size_t kl = strlen(key);
  for (size_t i = r->props.n; i-- > 0;) {
    const char *p = r->props.v[i];
    if (strncmp(p, key, kl) == 0 && p[kl] == '=')
      return p + kl + 1;
  }
  return NULL;
}

size_t ctrace_reader_nproperties(const ctrace_reader *r) { return r->props.n; }

const char *ctrace_reader_property_at(const ctrace_reader *r, size_t i) {
  return i < r->props.n ? r->props.v[i] : NULL;
}
int64_t ctrace_reader_end_ns(const ctrace_reader *r) {
  int64_t e = ctrace_reader_ns(r, r->last_ticks);
  if (r->syncs.n) {
    int64_t s = ctrace_reader_ns(r, r->syncs.v[r->syncs.n - 1].ticks);
    if (s > e)
      e = s;
  }
  return e;
}

uint32_t ctrace_reader_nstrings(const ctrace_reader *r) { return (uint32_t)r->strings.n - 1; }
const struct ctrace_string *ctrace_reader_string(const ctrace_reader *r, uint64_t id) {
  return id < r->strings.n ? &r->strings.v[id] : NULL;
}
const char *ctrace_reader_strcpy(const ctrace_reader *r, uint64_t id, char *buf, size_t size) {
  const struct ctrace_string *s = ctrace_reader_string(r, id);
  size_t n = s ? s->len : 0;
  if (size == 0)
    return buf;
  if (n >= size)
    n = size - 1;
  if (n)
    memcpy(buf, s->s, n);
  buf[n] = 0;
  return buf;
}
uint32_t ctrace_reader_nstacks(const ctrace_reader *r) { return (uint32_t)r->stacks.n - 1; }
uint32_t ctrace_reader_stack(const ctrace_reader *r, uint64_t id, const uint64_t **pcs) {
  if (id == 0 || id >= r->stacks.n) {
    *pcs = NULL;
    return 0;
  }
  *pcs = r->pcs.v + r->stacks.v[id].first;
  return r->stacks.v[id].n;
}
uint32_t ctrace_reader_nmappings(const ctrace_reader *r) { return (uint32_t)r->mappings.n; }
const struct ctrace_mapping *ctrace_reader_mapping(const ctrace_reader *r, uint32_t i) {
  return i < r->mappings.n ? &r->mappings.v[i] : NULL;
}
uint32_t ctrace_reader_nprocesses(const ctrace_reader *r) { return (uint32_t)r->processes.n; }
const struct ctrace_process *ctrace_reader_process(const ctrace_reader *r, uint32_t i) {
  return i < r->processes.n ? &r->processes.v[i] : NULL;
}
uint32_t ctrace_reader_nclock_syncs(const ctrace_reader *r) { return (uint32_t)r->syncs.n; }
const struct ctrace_clock_sync *ctrace_reader_clock_sync(const ctrace_reader *r, uint32_t i) {
  return i < r->syncs.n ? &r->syncs.v[i] : NULL;
}
uint32_t ctrace_reader_nthreads(const ctrace_reader *r) { return (uint32_t)r->threads.n; }
const struct ctrace_thread_info *ctrace_reader_thread(const ctrace_reader *r, uint32_t i) {
  return i < r->threads.n ? &r->threads.v[i] : NULL;
}
uint64_t ctrace_reader_thread_end(const ctrace_reader *r, uint32_t ti) {
  if (!r->files || ti >= r->threads.n || r->threads.v[ti].process >= r->processes.n)
    return r->last_ticks;
  return r->processes.v[r->threads.v[ti].process].last;
}
int64_t ctrace_reader_thread_index(const ctrace_reader *r, uint32_t tid) { return tid_find(r, tid); }
int64_t ctrace_reader_thread_index_at(const ctrace_reader *r, uint32_t tid, uint64_t ticks) {
  return tid_find_at(r, tid, ticks);
}
uint32_t ctrace_reader_nbatches(const ctrace_reader *r) { return (uint32_t)r->batches.n; }
const struct ctrace_batch_info *ctrace_reader_batch(const ctrace_reader *r, uint32_t i) {
  return i < r->batches.n ? &r->batches.v[i] : NULL;
}

/* ---- cursors ---- */

static void cursor_load(ctrace_cursor *c) {
  while (c->batch < c->th->nbatches) {
    const struct ctrace_batch_info *b = &c->r->batches.v[c->th->batches[c->batch]];
    const uint8_t *payload = c->r->data + b->offset + CTRACE_BATCH_HEADER_SIZE;
    c->p = payload;
    c->end = payload + b->evlen;
    c->ticks = b->base;
    c->relative = b->relative ? SHAPE_REL : 0;
    c->rel = (struct ctrace_rel){0};
    if (c->p < c->end)
      return;
    c->batch++;
  }
  c->p = c->end = NULL;
}

void ctrace_cursor_init(ctrace_cursor *c, const ctrace_reader *r, uint32_t thread_index) {
  memset(c, 0, sizeof *c);
  c->r = r;
  c->th = &r->threads.v[thread_index];
  c->data = r->data;
  c->tid = c->th->tid;
  c->batch = 0;
  if (r->files)
    ctrace__tree_cursor(c);
  cursor_load(c);
}

/* A tree's ids for the definitions an event of a file names (the fields
 * format.h says are string or stack ids). */
static void shift_ids(const ctrace_cursor *c, ctrace_event *ev) {
  unsigned sm = c->r->str_mask[ev->kind], km = c->r->stk_mask[ev->kind];
  unsigned tm = c->r->task_mask[ev->kind], lm = c->r->link_mask[ev->kind];
  for (unsigned i = 0; (sm | km | tm | lm) >> i && i < ev->nfields; i++) {
    uint64_t *f = &ev->f[i];
    if (!*f)
      continue;
    if (sm >> i & 1)
      *f = *f <= c->snum ? c->smap[*f] : UINT64_MAX;
    else if (km >> i & 1)
      *f = *f <= c->knum ? *f + c->kbase : UINT64_MAX;
    else if (tm >> i & 1 && *f >> CTRACE_TASK_PID_SHIFT == 0)
      *f |= c->task_hi;
    else if (lm >> i & 1)
      *f += c->link_hi;
  }
}

void ctrace_cursor_seek_batch(ctrace_cursor *c, uint32_t bpos) {
  c->batch = bpos;
  cursor_load(c);
}

/* A uvarint of a validated batch: it ends inside the batch, in at most 10
 * bytes, so no bound is checked. */
static inline __attribute__((always_inline)) const uint8_t *valid_uvarint(const uint8_t *p,
                                                                           uint64_t *out) {
  uint64_t b = *p++;
  if (__builtin_expect(b < 0x80, 1)) {
    *out = b;
    return p;
  }
  uint64_t v = b & 0x7f;
  b = *p++; /* two bytes: counter values, short gaps, objects */
  v |= (b & 0x7f) << 7;
  if (b < 0x80) {
    *out = v;
    return p;
  }
  for (unsigned shift = 14;; shift += 7) {
    b = *p++;
    v |= (b & 0x7f) << shift;
    if (b < 0x80)
      break;
  }
  *out = v;
  return p;
}

/* The relative fields of an event of a 1.3 data batch (all its fields are
 * there: the open decoded it whole), and the time of WAIT and SYSCALL. */
static inline __attribute__((always_inline)) uint64_t rel_valid(ctrace_cursor *c, unsigned kind,
                                                                uint64_t *f, uint64_t prev,
                                                                uint64_t ticks) {
  struct ctrace_rel *st = &c->rel;
  switch (kind) {
  case CTRACE_EV_TASK_BEGIN:
    f[0] = ctrace__rel_task_get(st, f[0]);
    f[1] = ctrace__rel_task_get(st, f[1]);
    break;
  case CTRACE_EV_TASK_END:
  case CTRACE_EV_REGION_BEGIN:
  case CTRACE_EV_LOG:
    f[0] = ctrace__rel_task_get(st, f[0]);
    break;
  case CTRACE_EV_WAIT:
    f[1] = ctrace__rel_object_get(st, f[1]);
    return ctrace__rel_span_time(prev, ticks - prev, f[2]);
  case CTRACE_EV_WAKE:
    f[0] = c->tid + (uint64_t)ctrace__unzigzag(f[0]);
    f[1] = ctrace__rel_object_get(st, f[1]);
    break;
  case CTRACE_EV_SYSCALL:
    f[3] = ctrace__rel_result_get(st, f[3]);
    return ctrace__rel_span_time(prev, ticks - prev, f[4]);
  default:
    break;
  }
  return ticks;
}

/* The next record of a cursor: ctrace_decode_event() (and, in a 1.3 data
 * batch, ctrace_decode_batch_event()) for the batches the open validated,
 * without the checks that passed once for these bytes. */
static inline __attribute__((always_inline)) int cursor_step(ctrace_cursor *c, ctrace_event *ev,
                                                             int records) {
  for (;;) {
    const uint8_t *p = c->p;
    if (!p)
      return 0;
    ev->offset = (uint64_t)(p - c->data);
    unsigned kind = *p++;
    unsigned shape = kind_shape[kind], repeated = shape & SHAPE_REP;
    if (repeated) {
      kind &= ~CTRACE_REPEAT_FLAG;
      shape = kind_shape[kind];
    }
    uint64_t d;
    p = valid_uvarint(p, &d);
    uint64_t prev = c->ticks, ticks = prev + d;
    ev->kind = (uint8_t)kind;
    ev->tid = c->tid;
    unsigned nf = shape & SHAPE_NF;
    ev->nfields = (uint8_t)nf;
    int slot = ctrace__repeat_slot(kind), bs = ctrace__repeat_by_stack(kind);
    unsigned mask = repeated ? ctrace__repeat_mask(kind) : 0;
    for (unsigned i = 0; i < nf; i++) {
      if (mask >> i & 1)
        ev->f[i] = bs < 0 ? c->rep.f[slot][i] : 0;
      else
        p = valid_uvarint(p, &ev->f[i]);
    }
    if (repeated && bs >= 0) {
      const uint64_t *e = ctrace__repeat_entry(&c->rep, bs, ev->f);
      for (unsigned i = 0; i < 3; i++)
        if (mask >> i & 1)
          ev->f[i] = e[i];
    }
    if (slot >= 0 && bs < 0 && !repeated)
      memcpy(c->rep.f[slot], ev->f, nf * sizeof ev->f[0]);
    ev->blob = NULL;
    ev->blob_len = 0;
    if (shape & SHAPE_BLOB) {
      uint64_t n;
      p = valid_uvarint(p, &n);
      ev->blob = p;
      ev->blob_len = (uint32_t)n;
      p += n;
    }
    if (repeated && bs >= 0) { /* values already */
      c->rel.object = ev->f[1];
      if (kind == CTRACE_EV_WAIT && c->relative)
        ticks = ctrace__rel_span_time(prev, d, ev->f[2]);
    } else if (shape & c->relative) {
      ticks = rel_valid(c, kind, ev->f, prev, ticks);
    }
    if (bs >= 0)
      ctrace__repeat_keep_stack(&c->rep, bs, ev->f);
    ev->ticks = c->ticks = ticks;
    c->p = p;
    if (__builtin_expect(p >= c->end, 0)) {
      c->batch++;
      cursor_load(c);
    }
    if (kind < 0x80) {
      if (c->shift)
        shift_ids(c, ev);
      return 1;
    }
    if (records) /* records of later minor versions are skipped */
      return 1;
  }
}

/* The cursor's next batch, after the record that ended one: 1 (that
 * record is the caller's to return). */
static __attribute__((noinline)) int cursor_next_batch(ctrace_cursor *c) {
  c->batch++;
  cursor_load(c);
  return 1;
}

static __attribute__((noinline)) int cursor_step_any(ctrace_cursor *c, ctrace_event *ev) {
  return cursor_step(c, ev, 0);
}

/* The end of a tree cursor's event: the file's ids as the tree's. */
static __attribute__((noinline)) int cursor_tree_end(ctrace_cursor *c, ctrace_event *ev) {
  shift_ids(c, ev);
  if (c->p >= c->end)
    return cursor_next_batch(c);
  return 1;
}

/* An event's fields, nf of them (a constant: the loop unrolls); those of
 * mask from last, the last event of the kind's (1.4: repeated). */
static inline __attribute__((always_inline)) const uint8_t *
repeated_fields(const uint8_t *p, uint64_t *f, unsigned nf, unsigned mask, const uint64_t *last) {
#pragma GCC unroll 8
  for (unsigned i = 0; i < nf; i++) {
    if (mask >> i & 1)
      f[i] = last[i];
    else
      p = valid_uvarint(p, &f[i]);
  }
  return p;
}
/* Keeps the fields of mask of an event of a kind that may be repeated. */
static inline __attribute__((always_inline)) void repeat_keep(ctrace_cursor *c, unsigned kind,
                                                              const uint64_t *f) {
  int slot = ctrace__repeat_slot(kind);
  unsigned mask = ctrace__repeat_mask(kind);
  if (slot < 0)
    return;
  if (ctrace__repeat_by_stack(kind) >= 0) { /* the values, once decoded */
    ctrace__repeat_keep_stack(&c->rep, ctrace__repeat_by_stack(kind), f);
    return;
  }
#pragma GCC unroll 8
  for (unsigned i = 0; i < CTRACE_MAX_FIELDS; i++)
    if (mask >> i & 1)
      c->rep.f[slot][i] = f[i];
}

/* The rest of a 1.4 event with the repeat flag, of kind code (constants
 * but for the cursor, the event and the bytes). */
static inline __attribute__((always_inline)) const uint8_t *
repeated_event(ctrace_cursor *c, ctrace_event *ev, const uint8_t *p, unsigned code, int slot,
               unsigned mask, int bs, uint64_t prev, uint64_t *ticks) {
  const unsigned nf = kind_shape[code] & SHAPE_NF;
  ev->kind = (uint8_t)code;
  ev->nfields = (uint8_t)nf;
  if (bs < 0) {
    p = repeated_fields(p, ev->f, nf, mask, c->rep.f[slot]);
  } else {
#pragma GCC unroll 8
    for (unsigned i = 0; i < nf; i++)
      if (!(mask >> i & 1))
        p = valid_uvarint(p, &ev->f[i]);
    const uint64_t *e = ctrace__repeat_entry(&c->rep, bs, ev->f);
#pragma GCC unroll 3
    for (unsigned i = 0; i < 3; i++)
      if (mask >> i & 1)
        ev->f[i] = e[i];
  }
  if (kind_shape[code] & SHAPE_BLOB) {
    uint64_t n;
    p = valid_uvarint(p, &n);
    ev->blob = p;
    ev->blob_len = (uint32_t)n;
    p += n;
  }
  if (bs >= 0) { /* values already: the object is the batch's last */
    c->rel.object = ev->f[1];
    if (code == CTRACE_EV_WAIT && c->relative)
      *ticks = ctrace__rel_span_time(prev, *ticks - prev, ev->f[2]);
    ctrace__repeat_keep_stack(&c->rep, bs, ev->f);
  } else if (kind_shape[code] & SHAPE_REL && c->relative) {
    *ticks = rel_valid(c, code, ev->f, prev, *ticks);
  }
  return p;
}

/* An event's fields, nf of them (a constant: the loop unrolls). */
static inline __attribute__((always_inline)) const uint8_t *valid_fields(const uint8_t *p,
                                                                        uint64_t *f,
                                                                        unsigned nf) {
#pragma GCC unroll 8
  for (unsigned i = 0; i < nf; i++)
    p = valid_uvarint(p, &f[i]);
  return p;
}

/* cursor_step(c, ev, 0) for thread events, by kind: each kind's fields
 * unrolled, and its relative fields in a 1.3 data batch, behind one jump.
 * Records of the skippable range go to cursor_step. */
int ctrace_cursor_next(ctrace_cursor *c, ctrace_event *ev) {
  const uint8_t *p = c->p;
  if (__builtin_expect(!p, 0))
    return 0;
  unsigned kind = *p;
  if (__builtin_expect(kind_shape[kind] & SHAPE_RECORD, 0))
    return cursor_step_any(c, ev);
  ev->offset = (uint64_t)(p - c->data);
  uint64_t d;
  p = valid_uvarint(p + 1, &d);
  uint64_t prev = c->ticks, ticks = prev + d;
  ev->tid = c->tid;
  ev->kind = (uint8_t)kind;
  ev->blob = NULL;
  ev->blob_len = 0;
  switch (kind) {
#define KIND_CASE(NAME, code, nf, has_blob, fields, doc)                                              \
  case code:                                                                                       \
    if ((code) < 0x80) {                                                                           \
      ev->nfields = (nf);                                                                          \
      p = valid_fields(p, ev->f, (nf));                                                            \
      if (has_blob) {                                                                              \
        uint64_t n;                                                                                \
        p = valid_uvarint(p, &n);                                                                  \
        ev->blob = p;                                                                              \
        ev->blob_len = (uint32_t)n;                                                                \
        p += n;                                                                                    \
      }                                                                                            \
      if (ctrace__repeat_by_stack(code) < 0)                                                       \
        repeat_keep(c, (code), ev->f);                                                             \
      if (kind_shape[code] & SHAPE_REL && c->relative)                                             \
        ticks = rel_valid(c, (code), ev->f, prev, ticks);                                          \
      if (ctrace__repeat_by_stack(code) >= 0)                                                      \
        repeat_keep(c, (code), ev->f);                                                             \
    }                                                                                              \
    break;
    CTRACE_EVENT_KINDS(KIND_CASE)
#undef KIND_CASE
#define REPEAT_CASE(NAME, slot, mask, bs, fields)                                                  \
  case CTRACE_EV_##NAME | CTRACE_REPEAT_FLAG:                                                      \
    p = repeated_event(c, ev, p, CTRACE_EV_##NAME, (slot), (mask), (bs), prev, &ticks);            \
    break;
    CTRACE_REPEAT_KINDS(REPEAT_CASE)
#undef REPEAT_CASE
  default: /* not a thread event: the open let none through */
    ev->nfields = 0;
    break;
  }
  ev->ticks = c->ticks = ticks;
  c->p = p;
  if (__builtin_expect(c->shift, 0))
    return cursor_tree_end(c, ev);
  if (__builtin_expect(p >= c->end, 0))
    return cursor_next_batch(c);
  return 1;
}
int ctrace_cursor_next_record(ctrace_cursor *c, ctrace_event *ev) {
  return cursor_step(c, ev, 1);
}

/* ---- merging threads in time order: a binary heap of cursors ---- */

struct ctrace_merge {
  size_t n;
  ctrace_cursor *cur;
  ctrace_event *head; /* next event of each cursor */
  uint32_t *heap;     /* cursor indexes */
};

static int merge_less(const ctrace_merge *m, uint32_t a, uint32_t b) {
  if (m->head[a].ticks != m->head[b].ticks)
    return m->head[a].ticks < m->head[b].ticks;
  return a < b;
}

static void sift_down(ctrace_merge *m, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, s = i;
    if (l < m->n && merge_less(m, m->heap[l], m->heap[s]))
      s = l;
    if (l + 1 < m->n && merge_less(m, m->heap[l + 1], m->heap[s]))
      s = l + 1;
    if (s == i)
      return;
    uint32_t t = m->heap[i];
    m->heap[i] = m->heap[s];
    m->heap[s] = t;
    i = s;
  }
}

ctrace_merge *ctrace_merge_new(const ctrace_reader *r) {
  ctrace_merge *m = calloc(1, sizeof *m);
  size_t nt = r->threads.n;
  if (!m)
    return NULL;
  m->cur = calloc(nt + 1, sizeof *m->cur);
  m->head = calloc(nt + 1, sizeof *m->head);
  m->heap = calloc(nt + 1, sizeof *m->heap);
  if (!m->cur || !m->head || !m->heap) {
    ctrace_merge_free(m);
    return NULL;
  }
  for (size_t i = 0; i < nt; i++) {
    ctrace_cursor_init(&m->cur[i], r, (uint32_t)i);
    if (ctrace_cursor_next(&m->cur[i], &m->head[i]))
      m->heap[m->n++] = (uint32_t)i;
  }
  for (size_t i = m->n / 2; i-- > 0;)
    sift_down(m, i);
  return m;
}

int ctrace_merge_next(ctrace_merge *m, ctrace_event *ev) {
  if (!m->n)
    return 0;
  uint32_t i = m->heap[0];
  *ev = m->head[i];
  if (!ctrace_cursor_next(&m->cur[i], &m->head[i]))
    m->heap[0] = m->heap[--m->n];
  sift_down(m, 0);
  return 1;
}

void ctrace_merge_free(ctrace_merge *m) {
  if (!m)
    return;
  free(m->cur);
  free(m->head);
  free(m->heap);
  free(m);
}
