/*
 * timeline_cache.c - the timeline index as bytes (timeline_cache.h): written
 * once after a build, read back instead of building it again.
 *
 * The bytes are the index's arrays as they are in memory, each preceded by
 * its count; pointers into the mapped trace (a log's message, a peer's
 * address) are stored as offsets into the file. Reading trusts nothing: a
 * count must fit in what is left of the file before anything is allocated,
 * every thread index, array range and file offset is checked against the
 * reader and the index itself, and a hash of every chunk must equal the
 * one stored at the end. Anything wrong makes the load fail, and the caller
 * builds the index from the trace.
 */
#include "timeline_cache.h"

#include <stdlib.h>
#include <string.h>

#include "timeline_int.h"
#include "../base/vec.h"

/* ---- the hash of a stream of chunks ---- */
static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

uint64_t ctrace_tl_hash(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t a0 = h ^ 0x9e3779b97f4a7c15ull, a1 = h + n, a2 = ~h, a3 = h * 31;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) { /* four lanes: the loop is not one chain */
    uint64_t w[4];
    memcpy(w, b + i, 32);
    a0 = (a0 ^ w[0]) * 0x9e3779b97f4a7c15ull;
    a1 = (a1 ^ w[1]) * 0xc2b2ae3d27d4eb4full;
    a2 = (a2 ^ w[2]) * 0x165667b19e3779f9ull;
    a3 = (a3 ^ w[3]) * 0x27d4eb2f165667c5ull;
    a0 ^= a0 >> 31;
    a1 ^= a1 >> 29;
    a2 ^= a2 >> 32;
    a3 ^= a3 >> 27;
  }
  uint64_t tail[4] = {0};
  memcpy(tail, b + i, n - i);
  a0 ^= tail[0];
  a1 ^= tail[1];
  a2 ^= tail[2];
  a3 ^= tail[3];
  return mix(mix(a0) ^ mix(a1 + 1) ^ mix(a2 + 2) ^ mix(a3 + 3) ^ n);
}

/* ---- writing ---- */
struct wr {
  FILE *f;
  uint64_t h;
  int err;
};
static void put(struct wr *w, const void *p, size_t n) {
  if (w->err || !n)
    return;
  w->h = ctrace_tl_hash(w->h, p, n);
  if (fwrite(p, 1, n, w->f) != n)
    w->err = 1;
}
static void put64(struct wr *w, uint64_t v) {
  put(w, &v, sizeof v);
}
static void put_array(struct wr *w, const void *p, uint64_t n, size_t size) {
  put64(w, n);
  put(w, p, (size_t)n * size);
}

/* A pointer into the file as an offset (stored in the pointer's 8 bytes). */
_Static_assert(sizeof(const uint8_t *) == sizeof(uint64_t), "offsets stored in pointers");
static uint64_t file_off(const ctrace_reader *r, const uint8_t *p) {
  return p ? (uint64_t)(p - ctrace_reader_data(r)) : UINT64_MAX;
}

#define MAGIC 0x31454854414c5443ull /* "CTLATHE1": the timeline's part */

/* What the bytes' layout depends on: a cache of another build is refused. */
static uint64_t layout(void) {
  uint64_t v[] = {CTRACE_ST_COUNT, CTRACE_TL_MAX_LEVELS,
                  sizeof(struct ctrace_tl_thread), sizeof(struct ctrace_tl_region),
                  sizeof(struct ctrace_tl_task),   sizeof(struct ctrace_tl_touch),
                  sizeof(struct ctrace_tl_log),    sizeof(struct ctrace_tl_wake),
                  sizeof(struct ctrace_tl_peer),   sizeof(struct ctrace_tl_create),
                  sizeof(struct ctrace_tl_process), sizeof(struct ctrace_tl_proc_link), 3};
  return ctrace_tl_hash(0, v, sizeof v);
}

int ctrace_timeline_save(const struct ctrace_timeline *tl, FILE *f, uint64_t *hash) {
  struct wr w = {f, *hash, 0};
  const ctrace_reader *r = tl->r;
  put64(&w, MAGIC);
  put64(&w, layout());
  put64(&w, (uint64_t)tl->start_ns);
  put64(&w, (uint64_t)tl->end_ns);
  put_array(&w, tl->threads, tl->nthreads, sizeof *tl->threads);
  put(&w, tl->nlevels, tl->nthreads);
  for (uint32_t i = 0; i < tl->nthreads; i++)
    for (unsigned k = 0; k < tl->nlevels[i]; k++) {
      put64(&w, (uint64_t)tl->levels[i][k].min_width);
      put_array(&w, tl->levels[i][k].v, tl->levels[i][k].n, sizeof(uint64_t));
    }
  put_array(&w, tl->regions, tl->nregions, sizeof *tl->regions);
  put(&w, tl->region_off, (tl->nthreads + 1) * sizeof *tl->region_off);
  put(&w, tl->max_depth, tl->nthreads * sizeof *tl->max_depth);
  put_array(&w, tl->tasks, tl->ntasks, sizeof *tl->tasks);
  put64(&w, (uint64_t)tl->task_maxdur);
  put_array(&w, tl->long_tasks, tl->nlong_tasks, sizeof *tl->long_tasks);
  put_array(&w, tl->touches, tl->ntouches, sizeof *tl->touches);
  /* one chunk each, as the load reads them (the hash is of chunks) */
  struct ctrace_tl_log *logs = ctrace__big_malloc(tl->nlogs * sizeof *logs);
  if (!logs)
    return -1;
  for (size_t k = 0; k < tl->nlogs; k++) {
    logs[k] = tl->logs[k];
    uint64_t off = file_off(r, logs[k].msg);
    memcpy(&logs[k].msg, &off, sizeof off);
  }
  put_array(&w, logs, tl->nlogs, sizeof *logs);
  free(logs);
  put(&w, tl->log_off, (tl->nthreads + 1) * sizeof *tl->log_off);
  put_array(&w, tl->wakes, tl->nwakes, sizeof *tl->wakes);
  put_array(&w, tl->creates, tl->ncreates, sizeof *tl->creates);
  struct ctrace_tl_peer *peers = ctrace__big_malloc(tl->npeers * sizeof *peers);
  if (!peers)
    return -1;
  for (size_t k = 0; k < tl->npeers; k++) {
    peers[k] = tl->peers[k];
    uint64_t off = file_off(r, peers[k].addr);
    memcpy(&peers[k].addr, &off, sizeof off);
  }
  put_array(&w, peers, tl->npeers, sizeof *peers);
  free(peers);
  put_array(&w, tl->procs, tl->nprocs, sizeof *tl->procs);
  put(&w, tl->proc_order, tl->nprocs * sizeof *tl->proc_order);
  put_array(&w, tl->proc_links, tl->nproc_links, sizeof *tl->proc_links);
  put64(&w, tl->bytes);
  *hash = w.h;
  return w.err ? -1 : 0;
}

/* ---- reading ---- */
struct rd {
  FILE *f;
  uint64_t h;
  uint64_t left; /* bytes of the file not read yet */
  int err;
};
static int get(struct rd *d, void *p, size_t n) {
  if (d->err || n > d->left || (n && fread(p, 1, n, d->f) != n)) {
    d->err = 1;
    return -1;
  }
  d->left -= n;
  if (n)
    d->h = ctrace_tl_hash(d->h, p, n);
  return 0;
}
static uint64_t get64(struct rd *d) {
  uint64_t v = 0;
  get(d, &v, sizeof v);
  return v;
}
/* An array of a count read first: NULL and d->err when the count cannot
 * be right (more than the file holds) or memory runs out. An empty array
 * is a 1-byte block, so that NULL always means failure. */
static void *get_array(struct rd *d, size_t size, size_t *n) {
  uint64_t c = get64(d);
  if (d->err || c > d->left / size) {
    d->err = 1;
    return NULL;
  }
  void *p = ctrace__big_malloc(c * size);
  if (!p || get(d, p, c * size) < 0) {
    free(p);
    d->err = 1;
    return NULL;
  }
  *n = (size_t)c;
  return p;
}

/* A stored file offset back to a pointer: NULL when it is not within the
 * validated part of the trace. */
static const uint8_t *file_ptr(const ctrace_reader *r, const void *field, uint32_t len,
                               int *bad) {
  uint64_t off;
  memcpy(&off, field, sizeof off);
  if (off == UINT64_MAX && len == 0)
    return NULL;
  uint64_t good = ctrace_reader_good_bytes(r);
  if (off > good || len > good - off) {
    *bad = 1;
    return NULL;
  }
  return ctrace_reader_data(r) + off;
}

static int valid_thread(uint32_t t, uint32_t nt, int none_ok) {
  return t < nt || (none_ok && t == NO_THREAD);
}

/* Every index and range the queries follow, checked; times are not (a wrong
 * time gives a wrong answer, not a wrong access; the hash catches it). */
/* The processes' indexes point inside the timeline. */
static int check_procs(const struct ctrace_timeline *tl) {
  uint32_t np = tl->nprocs, nt = tl->nthreads;
  for (uint32_t k = 0; k < np; k++) {
    const struct ctrace_tl_process *p = &tl->procs[k];
    if ((p->parent != CTRACE_TL_NO_PROC && p->parent >= np) || tl->proc_order[k] >= np ||
        (p->main_thread != NO_THREAD && p->main_thread >= nt))
      return -1;
  }
  for (size_t k = 0; k < tl->nproc_links; k++) {
    const struct ctrace_tl_proc_link *l = &tl->proc_links[k];
    if (l->thread >= nt || l->child_thread >= nt || l->process >= np || l->child >= np)
      return -1;
  }
  return 0;
}

static int check(const struct ctrace_timeline *tl) {
  uint32_t nt = tl->nthreads;
  const ctrace_reader *r = tl->r;
  for (uint32_t i = 0; i < nt; i++) {
    const struct ctrace_tl_thread *th = &tl->threads[i];
    if (th->index != i || th->tid != ctrace_reader_thread(r, i)->tid ||
        tl->nlevels[i] < 1 || tl->nlevels[i] > CTRACE_TL_MAX_LEVELS)
      return -1;
    if (tl->region_off[i] > tl->region_off[i + 1] || tl->log_off[i] > tl->log_off[i + 1])
      return -1;
  }
  if (tl->region_off[0] != 0 || tl->region_off[nt] != tl->nregions || tl->log_off[0] != 0 ||
      tl->log_off[nt] != tl->nlogs)
    return -1;
  for (uint32_t i = 0; i < nt; i++)
    for (size_t k = tl->region_off[i]; k < tl->region_off[i + 1]; k++)
      if (tl->regions[k].depth >= tl->max_depth[i])
        return -1;
  for (size_t k = 0; k < tl->ntasks; k++) {
    const struct ctrace_tl_task *t = &tl->tasks[k];
    if (!valid_thread(t->begin_thread, nt, 1) || !valid_thread(t->end_thread, nt, 1) ||
        t->touch > tl->ntouches || t->ntouch > tl->ntouches - t->touch)
      return -1;
  }
  for (size_t k = 0; k < tl->nlong_tasks; k++)
    if (tl->long_tasks[k] >= tl->ntasks)
      return -1;
  for (size_t k = 0; k < tl->ntouches; k++)
    if (!valid_thread(tl->touches[k].thread, nt, 0))
      return -1;
  for (uint32_t i = 0; i < nt; i++)
    for (size_t k = tl->log_off[i]; k < tl->log_off[i + 1]; k++)
      if (tl->logs[k].thread != i)
        return -1;
  for (size_t k = 0; k < tl->nwakes; k++)
    if (!valid_thread(tl->wakes[k].waker, nt, 0) || !valid_thread(tl->wakes[k].woken, nt, 1))
      return -1;
  for (size_t k = 0; k < tl->ncreates; k++)
    if (!valid_thread(tl->creates[k].parent, nt, 0) ||
        !valid_thread(tl->creates[k].child, nt, 0))
      return -1;
  for (size_t k = 0; k < tl->npeers; k++)
    if (!valid_thread(tl->peers[k].thread, nt, 0))
      return -1;
  return 0;
}

int ctrace_timeline_load(const ctrace_reader *r, FILE *f, uint64_t left, uint64_t *hash,
                         struct ctrace_timeline **out) {
  struct rd d = {f, *hash, left, 0};
  struct ctrace_timeline *tl = calloc(1, sizeof *tl);
  if (!tl)
    return -1;
  tl->r = r;
  uint32_t nt = ctrace_reader_nthreads(r);
  size_t n = 0;
  if (get64(&d) != MAGIC || get64(&d) != layout())
    goto bad;
  tl->start_ns = (int64_t)get64(&d);
  tl->end_ns = (int64_t)get64(&d);
  tl->threads = get_array(&d, sizeof *tl->threads, &n);
  if (!tl->threads || n != nt)
    goto bad;
  tl->nthreads = nt;
  tl->levels = calloc(nt ? nt : 1, sizeof *tl->levels);
  tl->nlevels = calloc(nt ? nt : 1, 1);
  tl->region_off = calloc(nt + 1, sizeof *tl->region_off);
  tl->log_off = calloc(nt + 1, sizeof *tl->log_off);
  tl->max_depth = calloc(nt ? nt : 1, sizeof *tl->max_depth);
  if (!tl->levels || !tl->nlevels || !tl->region_off || !tl->log_off || !tl->max_depth ||
      get(&d, tl->nlevels, nt) < 0)
    goto bad;
  for (uint32_t i = 0; i < nt; i++) {
    if (tl->nlevels[i] < 1 || tl->nlevels[i] > CTRACE_TL_MAX_LEVELS)
      goto bad;
    for (unsigned k = 0; k < tl->nlevels[i]; k++) {
      struct ctrace_tl_level *lv = &tl->levels[i][k];
      lv->min_width = (int64_t)get64(&d);
      lv->v = get_array(&d, sizeof(uint64_t), &lv->n);
      if (!lv->v)
        goto bad;
    }
  }
  if (!(tl->regions = get_array(&d, sizeof *tl->regions, &tl->nregions)) ||
      get(&d, tl->region_off, (nt + 1) * sizeof *tl->region_off) < 0 ||
      get(&d, tl->max_depth, nt * sizeof *tl->max_depth) < 0 ||
      !(tl->tasks = get_array(&d, sizeof *tl->tasks, &tl->ntasks)))
    goto bad;
  tl->task_maxdur = (int64_t)get64(&d);
  if (!(tl->long_tasks = get_array(&d, sizeof *tl->long_tasks, &tl->nlong_tasks)) ||
      !(tl->touches = get_array(&d, sizeof *tl->touches, &tl->ntouches)) ||
      !(tl->logs = get_array(&d, sizeof *tl->logs, &tl->nlogs)))
    goto bad;
  int badptr = 0;
  for (size_t k = 0; k < tl->nlogs; k++)
    tl->logs[k].msg = file_ptr(r, &tl->logs[k].msg, tl->logs[k].msg_len, &badptr);
  if (badptr || get(&d, tl->log_off, (nt + 1) * sizeof *tl->log_off) < 0 ||
      !(tl->wakes = get_array(&d, sizeof *tl->wakes, &tl->nwakes)) ||
      !(tl->creates = get_array(&d, sizeof *tl->creates, &tl->ncreates)) ||
      !(tl->peers = get_array(&d, sizeof *tl->peers, &tl->npeers)))
    goto bad;
  for (size_t k = 0; k < tl->npeers; k++)
    tl->peers[k].addr = file_ptr(r, &tl->peers[k].addr, tl->peers[k].len, &badptr);
  /* processes (timeline_proc.c): one per reader process, at least one */
  uint32_t np = ctrace_reader_nprocesses(r) ? ctrace_reader_nprocesses(r) : 1;
  if (!(tl->procs = get_array(&d, sizeof *tl->procs, &n)) || n != np)
    goto bad;
  tl->nprocs = np;
  if (!(tl->proc_order = malloc(np * sizeof *tl->proc_order)) ||
      get(&d, tl->proc_order, np * sizeof *tl->proc_order) < 0 ||
      !(tl->proc_links = get_array(&d, sizeof *tl->proc_links, &tl->nproc_links)))
    goto bad;
  tl->bytes = (size_t)get64(&d);
  if (badptr || d.err || check(tl) < 0 || check_procs(tl) < 0)
    goto bad;
  for (uint32_t i = 0; i < nt; i++)
    if (tl->threads[i].tid && ctrace_hash_put(&tl->by_tid, tl->threads[i].tid, i) < 0)
      goto bad;
  *hash = d.h;
  *out = tl;
  return 0;
bad:
  ctrace_timeline_free(tl);
  return -1;
}
