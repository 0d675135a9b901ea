/*
 * reader.c - opens a trace, validates every byte once, and decodes events on
 * demand (see reader.h for the contract). Not symbolization (symbolize.c)
 * nor any analysis (src/analyze/).
 */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A growable array; n and cap count elements. */
#define VEC(T) struct { T *v; size_t n, cap; }
#define VEC_PUSH(vec, x, fail)                                                 \
  do {                                                                         \
    if ((vec).n == (vec).cap) {                                                \
      size_t nc_ = (vec).cap ? (vec).cap * 2 : 16;                             \
      void *nv_ = realloc((vec).v, nc_ * sizeof *(vec).v);                     \
      if (!nv_)                                                                \
        goto fail;                                                             \
      (vec).v = nv_;                                                           \
      (vec).cap = nc_;                                                         \
    }                                                                          \
    (vec).v[(vec).n++] = (x);                                                  \
  } while (0)

struct stack_def {
  uint64_t first; /* index into pcs */
  uint32_t n;
};

struct ctrace_reader {
  const uint8_t *data;
  size_t size;
  int mapped;
  uint32_t pid;
  unsigned minor;
  uint32_t flags;

  enum ctrace_read_status status;
  uint64_t err_off;
  char err[CTRACE_READ_ERRLEN];
  uint64_t good_bytes;

  VEC(struct ctrace_batch_info) batches;
  VEC(struct ctrace_string) strings; /* [0] unused */
  VEC(struct stack_def) stacks;      /* [0] unused */
  VEC(uint64_t) pcs;
  VEC(struct ctrace_mapping) mappings;
  VEC(struct ctrace_process) processes;
  VEC(struct ctrace_clock_sync) syncs;
  VEC(struct ctrace_thread_info) threads;
  uint32_t *batch_pool; /* threads' batch lists */

  /* tid -> thread index, open addressing */
  uint32_t *tid_keys;
  uint32_t *tid_vals;
  size_t tid_cap;

  uint64_t nevents, dropped;
  uint64_t by_kind[256];
  uint64_t first_ticks, last_ticks;

  /* clock fit: ns = (ticks - t0) * scale + off */
  uint64_t t0;
  double scale;
  int64_t off;
  uint64_t real0;
};

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
  ev->blob = NULL;
  ev->blob_len = 0;
  if (blob) {
    uint64_t n;
    p = ctrace__get_uvarint(p, end, &n);
    if (!p) {
      *why = "event cut short (blob length)";
      return NULL;
    }
    if (n > CTRACE_MAX_BLOB || n > (uint64_t)(end - p)) {
      *why = "blob longer than its batch";
      return NULL;
    }
    ev->blob = p;
    ev->blob_len = (uint32_t)n;
    p += n;
  }
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
  if (!r->tid_cap)
    return -1;
  for (size_t i = (tid * 2654435761u) & (r->tid_cap - 1); r->tid_vals[i];
       i = (i + 1) & (r->tid_cap - 1))
    if (r->tid_keys[i] == tid)
      return (int64_t)r->tid_vals[i] - 1;
  return -1;
}

static int tid_insert(ctrace_reader *r, uint32_t tid, uint32_t idx) {
  if ((r->threads.n + 1) * 2 > r->tid_cap) {
    size_t cap = r->tid_cap ? r->tid_cap * 2 : 64;
    uint32_t *k = calloc(cap, sizeof *k), *v = calloc(cap, sizeof *v);
    if (!k || !v) {
      free(k);
      free(v);
      return -1;
    }
    for (size_t i = 0; i < r->tid_cap; i++) {
      if (!r->tid_vals[i])
        continue;
      size_t j = (r->tid_keys[i] * 2654435761u) & (cap - 1);
      while (v[j])
        j = (j + 1) & (cap - 1);
      k[j] = r->tid_keys[i];
      v[j] = r->tid_vals[i];
    }
    free(r->tid_keys);
    free(r->tid_vals);
    r->tid_keys = k;
    r->tid_vals = v;
    r->tid_cap = cap;
  }
  size_t j = (tid * 2654435761u) & (r->tid_cap - 1);
  while (r->tid_vals[j])
    j = (j + 1) & (r->tid_cap - 1);
  r->tid_keys[j] = tid;
  r->tid_vals[j] = idx + 1;
  return 0;
}

static struct ctrace_thread_info *thread_for(ctrace_reader *r, uint32_t tid) {
  int64_t i = tid_find(r, tid);
  if (i >= 0)
    return &r->threads.v[i];
  struct ctrace_thread_info t = {0};
  t.tid = tid;
  t.first = UINT64_MAX;
  VEC_PUSH(r->threads, t, fail);
  if (tid_insert(r, tid, (uint32_t)(r->threads.n - 1)) < 0)
    goto fail;
  return &r->threads.v[r->threads.n - 1];
fail:
  return NULL;
}

/* ---- the validating pass ---- */

/* Applies a definition from a META batch. Returns 0 or -1 (error set). */
static int apply_meta(ctrace_reader *r, const ctrace_event *ev) {
  switch (ev->kind) {
  case CTRACE_EV_CLOCK_SYNC: {
    struct ctrace_clock_sync c = {ev->f[0], ev->f[1], ev->f[2]};
    VEC_PUSH(r->syncs, c, oom);
    return 0;
  }
  case CTRACE_EV_STRING: {
    if (ev->f[0] != r->strings.n) {
      set_error(r, CTRACE_READ_CORRUPT, ev->offset, "string id %llu out of sequence (expected %zu)",
                (unsigned long long)ev->f[0], r->strings.n);
      return -1;
    }
    struct ctrace_string s = {(const char *)ev->blob, ev->blob_len};
    VEC_PUSH(r->strings, s, oom);
    return 0;
  }
  case CTRACE_EV_STACK: {
    if (ev->f[0] != r->stacks.n) {
      set_error(r, CTRACE_READ_CORRUPT, ev->offset, "stack id %llu out of sequence (expected %zu)",
                (unsigned long long)ev->f[0], r->stacks.n);
      return -1;
    }
    uint64_t tmp[CTRACE_MAX_STACK_DEPTH];
    int n = ctrace_decode_pcs(ev->blob, ev->blob_len, tmp, CTRACE_MAX_STACK_DEPTH);
    if (n < 0) {
      set_error(r, CTRACE_READ_CORRUPT, ev->offset, "bad stack (more than %d frames or cut short)",
                CTRACE_MAX_STACK_DEPTH);
      return -1;
    }
    struct stack_def sd = {r->pcs.n, (uint32_t)n};
    for (int i = 0; i < n; i++)
      VEC_PUSH(r->pcs, tmp[i], oom);
    VEC_PUSH(r->stacks, sd, oom);
    return 0;
  }
  case CTRACE_EV_MAPPING: {
    struct ctrace_mapping m = {ev->f[0], ev->f[1], ev->f[2], (uint32_t)ev->f[3], ev->blob,
                               ev->blob_len};
    VEC_PUSH(r->mappings, m, oom);
    return 0;
  }
  case CTRACE_EV_PROCESS: {
    struct ctrace_process p = {(uint32_t)ev->f[0], (uint32_t)ev->f[1], (uint32_t)ev->f[2],
                               (uint32_t)ev->f[3]};
    VEC_PUSH(r->processes, p, oom);
    return 0;
  }
  default:
    if (ev->kind >= 0x80)
      return 0; /* a later minor version's definition: skipped */
    set_error(r, CTRACE_READ_CORRUPT, ev->offset, "%s event in a metadata batch",
              ctrace__kinds[ev->kind].name);
    return -1;
  }
oom:
  set_error(r, CTRACE_READ_CORRUPT, ev->offset, "out of memory");
  return -1;
}

/* Learns what a thread event says about its thread. */
static void apply_thread_event(ctrace_reader *r, struct ctrace_thread_info *t,
                               const ctrace_event *ev) {
  switch (ev->kind) {
  case CTRACE_EV_THREAD_START:
    t->start_link = ev->f[0];
    break;
  case CTRACE_EV_THREAD_EXIT:
    t->exited = 1;
    break;
  case CTRACE_EV_THREAD_NAME: {
    struct ctrace_thread_info *named = ev->f[0] == t->tid ? t : NULL;
    if (!named) {
      int64_t i = tid_find(r, (uint32_t)ev->f[0]);
      named = i >= 0 ? &r->threads.v[i] : NULL;
    }
    if (named && ev->f[1] < UINT32_MAX)
      named->name = (uint32_t)ev->f[1];
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
  default:
    break;
  }
}

/* Decodes and checks one batch's events. Returns 0 or -1 (error set). */
static int scan_batch(ctrace_reader *r, struct ctrace_batch_info *b, const uint8_t *payload) {
  const uint8_t *p = payload, *end = payload + b->len;
  uint64_t ticks = b->base;
  int meta = (b->flags & CTRACE_BATCH_META) != 0;
  struct ctrace_thread_info *t = NULL;
  if (!meta) {
    t = thread_for(r, b->tid);
    if (!t) {
      set_error(r, CTRACE_READ_CORRUPT, b->offset, "out of memory");
      return -1;
    }
  }
  b->first = UINT64_MAX;
  b->last = 0;
  while (p < end) {
    ctrace_event ev;
    const char *why;
    uint64_t off = (uint64_t)(p - r->data);
    ev.offset = off;
    const uint8_t *next = ctrace_decode_event(p, end, &ticks, &ev, &why);
    if (!next) {
      set_error(r, CTRACE_READ_CORRUPT, off, "%s (kind 0x%02x)", why, *p);
      /* The batch is not read: its events leave the kind counts too. */
      uint64_t tk = b->base;
      for (const uint8_t *q = payload, *bad = p; !meta && q < bad;) {
        ctrace_event e;
        if (!(q = ctrace_decode_event(q, end, &tk, &e, &why)))
          break;
        r->by_kind[e.kind]--;
      }
      return -1;
    }
    p = next;
    b->nevents++;
    if (meta) {
      if (apply_meta(r, &ev) < 0)
        return -1;
      continue;
    }
    if (ev.kind < 0x10 && ev.kind != 0) {
      set_error(r, CTRACE_READ_CORRUPT, off, "definition %s outside a metadata batch",
                ctrace__kinds[ev.kind].name);
      return -1;
    }
    r->by_kind[ev.kind]++;
    apply_thread_event(r, t, &ev);
    if (ev.ticks < b->first)
      b->first = ev.ticks;
    b->last = ev.ticks;
  }
  if (!meta && b->nevents) {
    t->nevents += b->nevents;
    r->nevents += b->nevents;
    if (b->first < t->first)
      t->first = b->first;
    if (b->last > t->last)
      t->last = b->last;
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

static int cmp_threads_by_first(const void *a, const void *b) {
  const struct ctrace_thread_info *x = a, *y = b;
  if (x->first != y->first)
    return x->first < y->first ? -1 : 1;
  return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* Per-thread batch lists, threads sorted by first event, links resolved. */
static int build_index(ctrace_reader *r) {
  size_t nt = r->threads.n;
  if (nt) {
    qsort(r->threads.v, nt, sizeof *r->threads.v, cmp_threads_by_first);
    memset(r->tid_vals, 0, r->tid_cap * sizeof *r->tid_vals);
  }
  for (size_t i = 0; i < nt; i++) {
    size_t j = (r->threads.v[i].tid * 2654435761u) & (r->tid_cap - 1);
    while (r->tid_vals[j])
      j = (j + 1) & (r->tid_cap - 1);
    r->tid_keys[j] = r->threads.v[i].tid;
    r->tid_vals[j] = (uint32_t)i + 1;
  }
  r->batch_pool = malloc((r->batches.n + 1) * sizeof *r->batch_pool);
  if (!r->batch_pool)
    return -1;
  for (size_t i = 0; i < r->batches.n; i++) {
    const struct ctrace_batch_info *b = &r->batches.v[i];
    if (b->flags & CTRACE_BATCH_META)
      continue;
    r->threads.v[tid_find(r, b->tid)].nbatches++;
  }
  uint32_t at = 0;
  for (size_t i = 0; i < nt; i++) {
    r->threads.v[i].batches = r->batch_pool + at;
    at += r->threads.v[i].nbatches;
    r->threads.v[i].nbatches = 0;
  }
  for (size_t i = 0; i < r->batches.n; i++) {
    const struct ctrace_batch_info *b = &r->batches.v[i];
    if (b->flags & CTRACE_BATCH_META)
      continue;
    struct ctrace_thread_info *t = &r->threads.v[tid_find(r, b->tid)];
    t->batches[t->nbatches++] = (uint32_t)i;
  }
  for (size_t i = 0; i < nt; i++) {
    struct ctrace_thread_info *t = &r->threads.v[i];
    if (t->nbatches > 1)
      qsort_r(t->batches, t->nbatches, sizeof *t->batches, cmp_u32_by_seq, r);
  }
  /* Creation links: THREAD_CREATE(link) in one thread, THREAD_START(link)
   * in another. O(threads x creators' events); creators are few. */
  for (size_t i = 0; i < nt; i++) {
    if (!r->threads.v[i].start_link || !r->by_kind[CTRACE_EV_THREAD_CREATE])
      continue;
    for (size_t j = 0; j < nt && !r->threads.v[i].created_by; j++) {
      ctrace_cursor c;
      ctrace_event ev;
      if (!r->threads.v[j].nevents)
        continue;
      ctrace_cursor_init(&c, r, (uint32_t)j);
      while (ctrace_cursor_next(&c, &ev))
        if (ev.kind == CTRACE_EV_THREAD_CREATE && ev.f[0] == r->threads.v[i].start_link) {
          r->threads.v[i].created_by = r->threads.v[j].tid;
          break;
        }
    }
  }
  return 0;
}

/* Clock fit from the first and last CLOCK_SYNC. */
static void fit_clock(ctrace_reader *r) {
  r->scale = 1.0;
  r->t0 = 0;
  r->off = 0;
  if (r->syncs.n == 0) {
    r->t0 = r->first_ticks;
    /* No sync: ticks of unknown rate. Assume ns, the best guess there is. */
    return;
  }
  const struct ctrace_clock_sync *a = &r->syncs.v[0], *b = &r->syncs.v[r->syncs.n - 1];
  r->t0 = a->ticks;
  r->real0 = a->real_ns;
  if (!(r->flags & CTRACE_FILE_TICKS_TSC)) {
    r->scale = 1.0;
  } else if (b->ticks > a->ticks + 1000 && b->mono_ns > a->mono_ns) {
    r->scale = (double)(b->mono_ns - a->mono_ns) / (double)(b->ticks - a->ticks);
  } else {
    r->scale = 1.0 / 3.0; /* one sync only (a cut trace): guess a 3 GHz TSC */
  }
}

static int scan(ctrace_reader *r) {
  const uint8_t *d = r->data;
  size_t size = r->size;
  size_t off = CTRACE_FILE_HEADER_SIZE;
  r->good_bytes = off;
  while (off < size) {
    if (size - off < CTRACE_BATCH_HEADER_SIZE) {
      set_error(r, CTRACE_READ_TRUNCATED, off, "file ends inside a batch header (%zu of %d bytes)",
                size - off, CTRACE_BATCH_HEADER_SIZE);
      break;
    }
    const uint8_t *h = d + off;
    if (ctrace__get_le32(h) != CTRACE_BATCH_MAGIC) {
      set_error(r, CTRACE_READ_CORRUPT, off, "bad batch magic 0x%08x", ctrace__get_le32(h));
      break;
    }
    struct ctrace_batch_info b = {0};
    b.offset = off;
    b.len = ctrace__get_le32(h + 4);
    b.tid = ctrace__get_le32(h + 8);
    b.flags = ctrace__get_le32(h + 12);
    b.seq = ctrace__get_le64(h + 16);
    b.base = ctrace__get_le64(h + 24);
    if (b.len > CTRACE_BATCH_MAX_PAYLOAD) {
      set_error(r, CTRACE_READ_CORRUPT, off + 4, "batch length %u over the limit of %u", b.len,
                CTRACE_BATCH_MAX_PAYLOAD);
      break;
    }
    if (b.flags & ~(uint32_t)CTRACE_BATCH_META) {
      set_error(r, CTRACE_READ_CORRUPT, off + 12, "unknown batch flags 0x%x", b.flags);
      break;
    }
    if ((b.flags & CTRACE_BATCH_META) ? b.tid != 0 : b.tid == 0) {
      set_error(r, CTRACE_READ_CORRUPT, off + 8, "batch thread id %u does not fit its flags", b.tid);
      break;
    }
    if (b.len > size - off - CTRACE_BATCH_HEADER_SIZE) {
      set_error(r, CTRACE_READ_TRUNCATED, off, "file ends inside a batch (%zu of %u bytes)",
                size - off - CTRACE_BATCH_HEADER_SIZE, b.len);
      break;
    }
    if (scan_batch(r, &b, h + CTRACE_BATCH_HEADER_SIZE) < 0)
      break;
    VEC_PUSH(r->batches, b, oom);
    off += CTRACE_BATCH_HEADER_SIZE + b.len;
    r->good_bytes = off;
  }
  r->first_ticks = UINT64_MAX;
  r->last_ticks = 0;
  for (size_t i = 0; i < r->threads.n; i++) {
    if (!r->threads.v[i].nevents)
      continue;
    if (r->threads.v[i].first < r->first_ticks)
      r->first_ticks = r->threads.v[i].first;
    if (r->threads.v[i].last > r->last_ticks)
      r->last_ticks = r->threads.v[i].last;
  }
  if (r->first_ticks == UINT64_MAX)
    r->first_ticks = r->last_ticks = r->syncs.n ? r->syncs.v[0].ticks : 0;
  fit_clock(r);
  if (build_index(r) < 0)
    goto oom;
  return 0;
oom:
  set_error(r, CTRACE_READ_CORRUPT, off, "out of memory");
  return 0;
}

static int open_common(ctrace_reader *r, char *err, size_t errlen) {
  struct ctrace_string empty = {"", 0};
  struct stack_def none = {0, 0};
  VEC_PUSH(r->strings, empty, oom);
  VEC_PUSH(r->stacks, none, oom);
  if (r->size < CTRACE_FILE_HEADER_SIZE ||
      memcmp(r->data, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN) != 0) {
    if (r->size >= CTRACE_FILE_MAGIC_LEN && memcmp(r->data, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN) != 0)
      snprintf(err, errlen, "offset 0: not a ctrace file (bad magic)");
    else
      snprintf(err, errlen, "offset %zu: file too short for a ctrace header (%zu of %d bytes)",
               r->size, r->size, CTRACE_FILE_HEADER_SIZE);
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
  if (hsize != CTRACE_FILE_HEADER_SIZE) {
    snprintf(err, errlen, "offset 12: bad header size %u", hsize);
    return -1;
  }
  return scan(r);
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

int ctrace_reader_open(const char *path, ctrace_reader **out, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
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
  const void *data = "";
  if (size) {
    data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
  }
  close(fd);
  ctrace_reader *r;
  if (ctrace_reader_open_mem(data, size, &r, err, errlen) < 0) {
    if (size)
      munmap((void *)data, size);
    return -1;
  }
  r->mapped = size != 0;
  *out = r;
  return 0;
}

void ctrace_reader_close(ctrace_reader *r) {
  if (!r)
    return;
  if (r->mapped)
    munmap((void *)r->data, r->size);
  free(r->batches.v);
  free(r->strings.v);
  free(r->stacks.v);
  free(r->pcs.v);
  free(r->mappings.v);
  free(r->processes.v);
  free(r->syncs.v);
  free(r->threads.v);
  free(r->batch_pool);
  free(r->tid_keys);
  free(r->tid_vals);
  free(r);
}

/* ---- accessors ---- */

enum ctrace_read_status ctrace_reader_status(const ctrace_reader *r) { return r->status; }
uint64_t ctrace_reader_error_offset(const ctrace_reader *r) { return r->err_off; }
const char *ctrace_reader_error(const ctrace_reader *r) { return r->err; }
uint64_t ctrace_reader_good_bytes(const ctrace_reader *r) { return r->good_bytes; }
uint64_t ctrace_reader_file_size(const ctrace_reader *r) { return r->size; }
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

int64_t ctrace_reader_ns(const ctrace_reader *r, uint64_t ticks) {
  double d = (double)(int64_t)(ticks - r->t0);
  return (int64_t)(d * r->scale) + r->off;
}

uint64_t ctrace_reader_ticks(const ctrace_reader *r, int64_t ns) {
  return r->t0 + (uint64_t)(int64_t)((double)(ns - r->off) / r->scale);
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
int64_t ctrace_reader_thread_index(const ctrace_reader *r, uint32_t tid) { return tid_find(r, tid); }
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
    c->end = payload + b->len;
    c->ticks = b->base;
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
  c->batch = 0;
  cursor_load(c);
}

void ctrace_cursor_seek_batch(ctrace_cursor *c, uint32_t bpos) {
  c->batch = bpos;
  cursor_load(c);
}

int ctrace_cursor_next(ctrace_cursor *c, ctrace_event *ev) {
  if (!c->p)
    return 0;
  const char *why;
  ev->offset = (uint64_t)(c->p - c->r->data);
  /* Validated already: cannot fail. */
  c->p = ctrace_decode_event(c->p, c->end, &c->ticks, ev, &why);
  ev->tid = c->th->tid;
  if (!c->p || c->p >= c->end) {
    c->batch++;
    cursor_load(c);
  }
  return 1;
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
