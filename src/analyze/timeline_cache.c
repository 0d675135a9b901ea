/*
 * timeline_cache.c - the timeline index as a file of sections, mapped and
 * used as it is (timeline_cache.h): the file's head and sections, their
 * hash, and the timeline's part.
 *
 * Writing puts each array of the index as it is in memory; pointers into
 * the mapped trace (a log's message, a peer's address) become offsets into
 * the file. Reading trusts nothing: see timeline_cache.h for what is
 * checked, and why those arrays that bound an access are copied.
 */
#include "timeline_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "timeline_int.h"
#include "../base/vec.h"

/* ---- hashes ---- */
static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

#define K0 0x9e3779b97f4a7c15ull
#define K1 0xc2b2ae3d27d4eb4full
#define K2 0x165667b19e3779f9ull
#define K3 0x27d4eb2f165667c5ull

/* four lanes: the loop is not one chain */
static inline void lanes(uint64_t a[4], const uint8_t *b, size_t nblocks) {
  uint64_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (size_t i = 0; i < nblocks; i++, b += 32) {
    uint64_t w[4];
    memcpy(w, b, 32);
    a0 = (a0 ^ w[0]) * K0;
    a1 = (a1 ^ w[1]) * K1;
    a2 = (a2 ^ w[2]) * K2;
    a3 = (a3 ^ w[3]) * K3;
    a0 ^= a0 >> 31;
    a1 ^= a1 >> 29;
    a2 ^= a2 >> 32;
    a3 ^= a3 >> 27;
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

static uint64_t finish(const uint64_t a[4], const uint8_t *tail, size_t ntail, uint64_t n) {
  uint64_t t[4] = {0};
  memcpy(t, tail, ntail);
  return mix(mix(a[0] ^ t[0]) ^ mix((a[1] ^ t[1]) + 1) ^ mix((a[2] ^ t[2]) + 2) ^
             mix((a[3] ^ t[3]) + 3) ^ n);
}

uint64_t ctrace_tl_hash(uint64_t h, const void *p, size_t n) {
  uint64_t a[4] = {h ^ K0, h + n, ~h, h * 31};
  lanes(a, p, n / 32);
  return finish(a, (const uint8_t *)p + n / 32 * 32, n % 32, n);
}

void ctrace_hs_init(struct ctrace_hs *s, uint64_t seed) {
  memset(s, 0, sizeof *s);
  s->a[0] = seed ^ K0;
  s->a[1] = seed + 1;
  s->a[2] = ~seed;
  s->a[3] = seed * 31;
}

void ctrace_hs_add(struct ctrace_hs *s, const void *p, size_t n) {
  const uint8_t *b = p;
  s->n += n;
  if (s->ntail) {
    size_t k = 32 - s->ntail < n ? 32 - s->ntail : n;
    memcpy(s->tail + s->ntail, b, k);
    s->ntail += (unsigned)k;
    b += k;
    n -= k;
    if (s->ntail < 32)
      return;
    lanes(s->a, s->tail, 1);
    s->ntail = 0;
  }
  lanes(s->a, b, n / 32);
  memcpy(s->tail, b + n / 32 * 32, n % 32);
  s->ntail = (unsigned)(n % 32);
}

uint64_t ctrace_hs_end(const struct ctrace_hs *s) {
  return finish(s->a, s->tail, s->ntail, s->n);
}

/* ---- the file: writing ---- */
#define CHUNK (4u << 20) /* checked, then let go, this many bytes at a time */

static const uint8_t zeros[CTRACE_CACHE_ALIGN];

static void out_write(struct ctrace_cache_out *o, const void *p, size_t n) {
  const uint8_t *b = p;
  while (!o->err && n) {
    if (__atomic_load_n(o->cancel, __ATOMIC_ACQUIRE)) {
      o->err = 1;
      return;
    }
    size_t k = n < (64u << 20) ? n : (64u << 20);
    ssize_t w = write(o->fd, b, k);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      o->err = 1;
      return;
    }
    b += w;
    n -= (size_t)w;
    o->off += (uint64_t)w;
  }
}

static void pad(struct ctrace_cache_out *o) {
  size_t r = (size_t)(o->off % CTRACE_CACHE_ALIGN);
  if (r)
    out_write(o, zeros, CTRACE_CACHE_ALIGN - r);
}

static void end_section(struct ctrace_cache_out *o) {
  if (o->cur < 0)
    return;
  o->head.sec[o->cur].len = o->off - o->head.sec[o->cur].off;
  o->head.sec[o->cur].hash = ctrace_hs_end(&o->hs);
}

void ctrace_cache_out_init(struct ctrace_cache_out *o, int fd, const int *cancel,
                           uint64_t layout, const uint64_t id[CTRACE_CACHE_ID_WORDS]) {
  memset(o, 0, sizeof *o);
  o->fd = fd;
  o->cancel = cancel;
  o->cur = -1;
  o->head.layout = layout;
  memcpy(o->head.id, id, sizeof o->head.id);
  out_write(o, zeros, CTRACE_CACHE_ALIGN); /* the head's room */
}

void ctrace_cache_section(struct ctrace_cache_out *o, unsigned sec) {
  if ((int)sec <= o->cur || sec >= CTRACE_CACHE_MAX_SECTIONS) {
    o->err = 1;
    return;
  }
  end_section(o);
  pad(o);
  o->cur = (int)sec;
  o->head.sec[sec].off = o->off;
  ctrace_hs_init(&o->hs, sec);
}

void ctrace_cache_put(struct ctrace_cache_out *o, const void *p, size_t n) {
  if (o->err || !n)
    return;
  ctrace_hs_add(&o->hs, p, n);
  out_write(o, p, n);
}

uint64_t ctrace_cache_head_hash(const struct ctrace_cache_head *h) {
  return ctrace_tl_hash(0x4354494458ull, h, offsetof(struct ctrace_cache_head, head_hash));
}

uint64_t ctrace_cache_section_hash(unsigned sec, const void *p, size_t n) {
  struct ctrace_hs hs;
  ctrace_hs_init(&hs, sec);
  ctrace_hs_add(&hs, p, n);
  return ctrace_hs_end(&hs);
}

int ctrace_cache_out_end(struct ctrace_cache_out *o, unsigned nsections) {
  end_section(o);
  pad(o);
  if (o->err || nsections > CTRACE_CACHE_MAX_SECTIONS || o->cur != (int)nsections - 1)
    return -1;
  o->head.nsections = nsections;
  o->head.file_len = o->off;
  o->head.head_hash = ctrace_cache_head_hash(&o->head);
  /* magic last: a head is whole or not one */
  if (pwrite(o->fd, &o->head, sizeof o->head, 0) != (ssize_t)sizeof o->head)
    return -1;
  return 0;
}

/* ---- the file: reading ---- */
/* a section hashed from the file this many bytes at a time: a buffer that
 * stays in the CPU's cache, and few fresh pages (each a fault) */
#define READ_CHUNK (256u << 10)

void ctrace_cache_release(const void *p, size_t n) {
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), b = ((uintptr_t)p + n) & ~(pg - 1);
  if (b > a)
    madvise((void *)a, b - a, MADV_DONTNEED);
}

int ctrace_cache_in_open(struct ctrace_cache_in *in, int fd, uint64_t magic, uint64_t layout,
                         const uint64_t id[CTRACE_CACHE_ID_WORDS], unsigned nsections) {
  memset(in, 0, sizeof *in);
  in->fd = -1;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)CTRACE_CACHE_ALIGN ||
      nsections > CTRACE_CACHE_MAX_SECTIONS)
    return -1;
  struct ctrace_cache_head *h = &in->head;
  if (pread(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h || h->magic != magic ||
      h->layout != layout || memcmp(h->id, id, sizeof h->id) != 0 ||
      h->file_len != (uint64_t)st.st_size || h->nsections != nsections ||
      h->head_hash != ctrace_cache_head_hash(h))
    return -1;
  for (unsigned s = 0; s < nsections; s++) {
    uint64_t off = h->sec[s].off, len = h->sec[s].len;
    if (off % CTRACE_CACHE_ALIGN || off < CTRACE_CACHE_ALIGN || off > h->file_len ||
        len > h->file_len - off)
      return -1;
  }
  if ((uint64_t)st.st_size > SIZE_MAX)
    return -1;
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED)
    return -1;
  in->base = p;
  in->len = (size_t)st.st_size;
  /* Hashing through the mapping faulted every page in and out (57,000 of
   * them at 10 M events: 0.19 s of CPU against 0.05 s read into one
   * buffer); when either is missing, the mapping serves. */
  in->buf = malloc(READ_CHUNK);
  in->fd = in->buf ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  return 0;
}

void ctrace_cache_in_end(struct ctrace_cache_in *in) {
  if (in->fd >= 0)
    close(in->fd);
  in->fd = -1;
  free(in->buf);
  in->buf = NULL;
}

void ctrace_cache_in_close(struct ctrace_cache_in *in) {
  ctrace_cache_in_end(in);
  if (in->base)
    munmap((void *)in->base, in->len);
  in->base = NULL;
}

/* The hash of len bytes of the file at off, read into in's buffer; 0 when
 * the file cannot be read there (*bad set). */
static uint64_t hash_read(const struct ctrace_cache_in *in, unsigned sec, uint64_t off,
                          uint64_t len, int *bad) {
  struct ctrace_hs hs;
  ctrace_hs_init(&hs, sec);
  for (uint64_t at = 0; at < len;) {
    size_t k = len - at < READ_CHUNK ? (size_t)(len - at) : READ_CHUNK;
    ssize_t got = pread(in->fd, in->buf, k, (off_t)(off + at));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      *bad = 1;
      return 0;
    }
    ctrace_hs_add(&hs, in->buf, (size_t)got);
    at += (uint64_t)got;
  }
  return ctrace_hs_end(&hs);
}

const void *ctrace_cache_get(const struct ctrace_cache_in *in, unsigned sec, size_t size,
                             size_t *n, int *bad) {
  *n = 0;
  if (*bad || sec >= in->head.nsections || !in->base) {
    *bad = 1;
    return NULL;
  }
  uint64_t off = in->head.sec[sec].off, len = in->head.sec[sec].len;
  if (len % size) {
    *bad = 1;
    return NULL;
  }
  const uint8_t *p = in->base + off;
  uint64_t h;
  if (in->fd >= 0 && in->buf) {
    h = hash_read(in, sec, off, len, bad);
  } else {
    struct ctrace_hs hs;
    ctrace_hs_init(&hs, sec);
    for (uint64_t at = 0; at < len; at += CHUNK) {
      size_t k = len - at < CHUNK ? (size_t)(len - at) : CHUNK;
      ctrace_hs_add(&hs, p + at, k);
      ctrace_cache_release(p + at, k);
    }
    h = ctrace_hs_end(&hs);
  }
  if (*bad || h != in->head.sec[sec].hash) {
    *bad = 1;
    return NULL;
  }
  *n = (size_t)(len / size);
  return p;
}

void ctrace__tl_release(const struct ctrace_timeline *tl, const void *p, size_t n) {
  const uint8_t *b = p, *lo = tl->map_lo, *hi = tl->map_hi;
  if (lo && n && b >= lo && b < hi && n <= (size_t)(hi - b))
    ctrace_cache_release(p, n);
}

/* ---- the timeline's sections ---- */
/* The sizes of what the file holds, and last the index's revision, raised
 * when what it holds changes meaning (5: a main thread lives from its
 * trace's start), so that a cache of an older build is made again. */
uint64_t ctrace_timeline_layout(void) {
  uint64_t v[] = {CTRACE_ST_COUNT, CTRACE_TL_MAX_LEVELS, CTRACE_TL_NSECTIONS,
                  sizeof(struct ctrace_tl_thread), sizeof(struct ctrace_tl_region),
                  sizeof(struct ctrace_tl_task),   sizeof(struct ctrace_tl_touch),
                  sizeof(struct ctrace_tl_log),    sizeof(struct ctrace_tl_wake),
                  sizeof(struct ctrace_tl_peer),   sizeof(struct ctrace_tl_create),
                  sizeof(struct ctrace_tl_process), sizeof(struct ctrace_tl_proc_link),
                  sizeof(struct ctrace_tl_cached_level), sizeof(size_t), 5};
  return ctrace_tl_hash(0, v, sizeof v);
}

/* A pointer into the file as an offset (stored in the pointer's 8 bytes). */
_Static_assert(sizeof(const uint8_t *) == sizeof(uint64_t), "offsets stored in pointers");
static uint64_t file_off(const ctrace_reader *r, const uint8_t *p) {
  return p ? (uint64_t)(p - ctrace_reader_data(r)) : UINT64_MAX;
}

static void put_array(struct ctrace_cache_out *o, unsigned sec, const void *p, size_t n,
                      size_t size) {
  ctrace_cache_section(o, sec);
  ctrace_cache_put(o, p, n * size);
}

/* put_array for elements holding a pointer into the trace at byte at of
 * each: written as its offset in the file, a few hundred at a time. */
static void put_with_offsets(struct ctrace_cache_out *o, const ctrace_reader *r, unsigned sec,
                             const void *v, size_t n, size_t size, size_t at) {
  ctrace_cache_section(o, sec);
  _Alignas(8) uint8_t buf[16384];
  size_t per = sizeof buf / size;
  for (size_t k = 0; k < n; k += per) {
    size_t m = n - k < per ? n - k : per;
    memcpy(buf, (const uint8_t *)v + k * size, m * size);
    for (size_t j = 0; j < m; j++) {
      const uint8_t *ptr;
      memcpy(&ptr, buf + j * size + at, sizeof ptr);
      uint64_t off = file_off(r, ptr);
      memcpy(buf + j * size + at, &off, sizeof off);
    }
    ctrace_cache_put(o, buf, m * size);
  }
}

/* Where a level of n transitions goes in the LEVELS section, the first
 * free place being at: a big one on the next page (zeros before it), as
 * its memory is (ctrace__tl_alloc), so that ctrace_timeline_adopt can put
 * the file's pages in its place. The loading follows the directory, and
 * skips the zeros. */
#define PAGE_TR (CTRACE_CACHE_ALIGN / sizeof(uint64_t))
static uint64_t level_place(uint64_t at, size_t n) {
  if (n * sizeof(uint64_t) >= CTRACE_TL_PAGE_MIN)
    at = (at + PAGE_TR - 1) / PAGE_TR * PAGE_TR;
  return at;
}

void ctrace_timeline_save(const struct ctrace_timeline *tl, struct ctrace_cache_out *o) {
  const ctrace_reader *r = tl->r;
  uint32_t nt = tl->nthreads;
  int64_t sc[4] = {tl->start_ns, tl->end_ns, tl->task_maxdur, (int64_t)tl->bytes};
  put_array(o, CTRACE_TLS_SCALARS, sc, 4, sizeof sc[0]);
  put_array(o, CTRACE_TLS_THREADS, tl->threads, nt, sizeof *tl->threads);
  put_array(o, CTRACE_TLS_NLEVELS, tl->nlevels, nt, 1);
  ctrace_cache_section(o, CTRACE_TLS_LEVEL_DIR);
  uint64_t first = 0;
  for (uint32_t i = 0; i < nt; i++)
    for (unsigned k = 0; k < tl->nlevels[i]; k++) {
      first = level_place(first, tl->levels[i][k].n);
      struct ctrace_tl_cached_level d = {tl->levels[i][k].min_width, first, tl->levels[i][k].n};
      ctrace_cache_put(o, &d, sizeof d);
      first += d.n;
    }
  ctrace_cache_section(o, CTRACE_TLS_LEVELS);
  uint64_t at = 0;
  for (uint32_t i = 0; i < nt; i++)
    for (unsigned k = 0; k < tl->nlevels[i]; k++) {
      uint64_t to = level_place(at, tl->levels[i][k].n);
      ctrace_cache_put(o, zeros, (size_t)(to - at) * sizeof(uint64_t));
      ctrace_cache_put(o, tl->levels[i][k].v, tl->levels[i][k].n * sizeof(uint64_t));
      at = to + tl->levels[i][k].n;
    }
  put_array(o, CTRACE_TLS_REGIONS, tl->regions, tl->nregions, sizeof *tl->regions);
  put_array(o, CTRACE_TLS_REGION_OFF, tl->region_off, nt + 1, sizeof *tl->region_off);
  put_array(o, CTRACE_TLS_MAX_DEPTH, tl->max_depth, nt, sizeof *tl->max_depth);
  put_array(o, CTRACE_TLS_TASKS, tl->tasks, tl->ntasks, sizeof *tl->tasks);
  put_array(o, CTRACE_TLS_LONG_TASKS, tl->long_tasks, tl->nlong_tasks, sizeof *tl->long_tasks);
  put_array(o, CTRACE_TLS_TOUCHES, tl->touches, tl->ntouches, sizeof *tl->touches);
  put_with_offsets(o, r, CTRACE_TLS_LOGS, tl->logs, tl->nlogs, sizeof *tl->logs,
                   offsetof(struct ctrace_tl_log, msg));
  put_array(o, CTRACE_TLS_LOG_OFF, tl->log_off, nt + 1, sizeof *tl->log_off);
  put_array(o, CTRACE_TLS_WAKES, tl->wakes, tl->nwakes, sizeof *tl->wakes);
  put_array(o, CTRACE_TLS_CREATES, tl->creates, tl->ncreates, sizeof *tl->creates);
  put_with_offsets(o, r, CTRACE_TLS_PEERS, tl->peers, tl->npeers, sizeof *tl->peers,
                   offsetof(struct ctrace_tl_peer, addr));
  put_array(o, CTRACE_TLS_PROCS, tl->procs, tl->nprocs, sizeof *tl->procs);
  put_array(o, CTRACE_TLS_PROC_ORDER, tl->proc_order, tl->nprocs, sizeof *tl->proc_order);
  put_array(o, CTRACE_TLS_PROC_LINKS, tl->proc_links, tl->nproc_links, sizeof *tl->proc_links);
}

/* ---- adopting: the written file's pages for a built index's memory ---- */
struct adopt {
  struct ctrace_tl_adopted *a;
  int fd;
  const int *cancel;
  size_t bytes;
};

/* The whole pages of the array [p, p + n), which the file holds at off:
 * a few MiB at a time, the file's pages mapped apart, compared with the
 * array's bytes and, when the same, moved over them (mremap replaces the
 * old pages in one step: a thread reading the array meanwhile reads the
 * same bytes from either), then let go. Stops at the first difference. */
static void adopt(struct adopt *c, const void *p, size_t n, uint64_t off) {
  struct ctrace_tl_adopted *a = c->a;
  uintptr_t pg = CTRACE_CACHE_ALIGN;
  uintptr_t lo = ((uintptr_t)p + pg - 1) & ~(pg - 1), hi = ((uintptr_t)p + n) & ~(pg - 1);
  if (n < CTRACE_TL_PAGE_MIN || hi <= lo || a->n >= a->cap)
    return;
  uint64_t foff = off + (lo - (uintptr_t)p);
  if (foff % pg || a->guard->add(a->guard->arg, (void *)lo, hi - lo) < 0)
    return;
  uintptr_t done = lo;
  while (done < hi && !__atomic_load_n(c->cancel, __ATOMIC_ACQUIRE)) {
    size_t k = hi - done < CHUNK ? hi - done : CHUNK;
    void *m = mmap(NULL, k, PROT_READ, MAP_PRIVATE | MAP_POPULATE, c->fd,
                   (off_t)(foff + (done - lo)));
    if (m == MAP_FAILED)
      break;
    if (memcmp(m, (const void *)done, k) != 0 ||
        mremap(m, k, k, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)done) == MAP_FAILED) {
      munmap(m, k);
      break;
    }
    madvise((void *)done, k, MADV_DONTNEED);
    done += k;
  }
  if (done == lo) {
    a->guard->remove(a->guard->arg, (void *)lo);
    return;
  }
  a->v[a->n].p = (void *)lo;
  a->v[a->n].n = done - lo;
  __atomic_store_n(&a->n, a->n + 1, __ATOMIC_RELEASE);
  c->bytes += done - lo;
}

size_t ctrace_timeline_adopt(const struct ctrace_timeline *tl, int fd,
                             const struct ctrace_cache_head *h, const int *cancel,
                             const struct ctrace_tl_guard *guard, struct ctrace_tl_adopted *a) {
  if (tl->map_lo || h->nsections < CTRACE_TL_NSECTIONS)
    return 0;
  uint32_t nt = tl->nthreads;
  if (!a->v) { /* else the spill's list, with room for these */
    size_t cap = 8;
    for (uint32_t i = 0; i < nt; i++)
      cap += tl->nlevels[i];
    a->guard = guard;
    a->v = calloc(cap, sizeof *a->v);
    if (!a->v)
      return 0;
    a->cap = cap;
  }
  struct adopt c = {a, fd, cancel, 0};
  /* the levels where ctrace_timeline_save put them */
  uint64_t at = 0, lv = h->sec[CTRACE_TLS_LEVELS].off;
  for (uint32_t i = 0; i < nt; i++)
    for (unsigned k = 0; k < tl->nlevels[i]; k++) {
      const struct ctrace_tl_level *l = &tl->levels[i][k];
      at = level_place(at, l->n);
      adopt(&c, l->v, l->n * sizeof *l->v, lv + at * sizeof *l->v);
      at += l->n;
    }
  adopt(&c, tl->regions, tl->nregions * sizeof *tl->regions, h->sec[CTRACE_TLS_REGIONS].off);
  adopt(&c, tl->tasks, tl->ntasks * sizeof *tl->tasks, h->sec[CTRACE_TLS_TASKS].off);
  adopt(&c, tl->touches, tl->ntouches * sizeof *tl->touches, h->sec[CTRACE_TLS_TOUCHES].off);
  adopt(&c, tl->wakes, tl->nwakes * sizeof *tl->wakes, h->sec[CTRACE_TLS_WAKES].off);
  adopt(&c, tl->creates, tl->ncreates * sizeof *tl->creates, h->sec[CTRACE_TLS_CREATES].off);
  return c.bytes;
}

int ctrace_tl_spill_init(struct ctrace_tl_spill *s, int fd, uint32_t nthreads,
                         const struct ctrace_tl_guard *guard, struct ctrace_tl_adopted *a) {
  memset(s, 0, sizeof *s);
  /* each thread's levels, then the same again and the other arrays from
   * the cache file (ctrace_timeline_adopt) */
  size_t cap = 2 * ((size_t)nthreads * CTRACE_TL_MAX_LEVELS + 8);
  a->v = calloc(cap, sizeof *a->v);
  if (!a->v)
    return -1;
  a->cap = cap;
  a->n = 0;
  a->guard = guard;
  s->fd = fd;
  s->a = a;
  pthread_mutex_init(&s->lock, NULL);
  return 0;
}

void ctrace_tl_spill_fini(struct ctrace_tl_spill *s) {
  pthread_mutex_destroy(&s->lock);
}

/* Written whole to the file at off (the pages keep the bytes they had),
 * then the file's pages mapped apart and moved over them in one step
 * (mremap: when anything fails, the memory stays as it was); no page of
 * them is in the process's memory until read. */
void ctrace__tl_spill(struct ctrace_tl_spill *s, const void *p, size_t n) {
  struct ctrace_tl_adopted *a = s->a;
  uintptr_t pg = CTRACE_CACHE_ALIGN;
  uintptr_t lo = ((uintptr_t)p + pg - 1) & ~(pg - 1), hi = ((uintptr_t)p + n) & ~(pg - 1);
  if (n < CTRACE_TL_PAGE_MIN || hi <= lo)
    return;
  size_t len = hi - lo;
  pthread_mutex_lock(&s->lock);
  int room = s->reserved < a->cap; /* a place in the list, kept for it */
  s->reserved += (size_t)room;
  uint64_t off = s->off;
  s->off += len;
  pthread_mutex_unlock(&s->lock);
  if (!room)
    return;
  for (size_t done = 0; done < len;) {
    ssize_t w = pwrite(s->fd, (const uint8_t *)lo + done, len - done, (off_t)(off + done));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    done += (size_t)w;
  }
  if (a->guard->add(a->guard->arg, (void *)lo, len) < 0)
    return;
  void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, s->fd, (off_t)off);
  if (m == MAP_FAILED ||
      mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)lo) == MAP_FAILED) {
    if (m != MAP_FAILED)
      munmap(m, len);
    a->guard->remove(a->guard->arg, (void *)lo);
    return;
  }
  pthread_mutex_lock(&s->lock);
  a->v[a->n].p = (void *)lo;
  a->v[a->n].n = len;
  __atomic_store_n(&a->n, a->n + 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&s->lock);
}

void ctrace_timeline_release(const struct ctrace_tl_adopted *a) {
  size_t n = __atomic_load_n(&a->n, __ATOMIC_ACQUIRE);
  for (size_t k = 0; k < n; k++)
    madvise(a->v[k].p, a->v[k].n, MADV_DONTNEED);
}

void ctrace_timeline_unadopt(struct ctrace_tl_adopted *a) {
  for (size_t k = 0; k < a->n; k++) {
    a->guard->remove(a->guard->arg, a->v[k].p);
    mmap(a->v[k].p, a->v[k].n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
         -1, 0);
  }
  free(a->v);
  memset(a, 0, sizeof *a);
}

/* ---- loading ---- */
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

/* A copy of n elements of size (a valid pointer when n is 0), or NULL. */
static void *copy(const void *p, size_t n, size_t size) {
  void *c = malloc(n * size + 1);
  if (c && n)
    memcpy(c, p, n * size);
  return c;
}

/* Lets an array's pages go behind a walk over it: every CHUNK bytes, and
 * at its end. */
struct behind {
  const uint8_t *base;
  size_t size, done; /* elements released */
};
static void behind(struct behind *b, size_t k) {
  if ((k - b->done) * b->size >= CHUNK) {
    ctrace_cache_release(b->base + b->done * b->size, (k - b->done) * b->size);
    b->done = k;
  }
}
static void behind_end(struct behind *b, size_t n) {
  ctrace_cache_release(b->base + b->done * b->size, (n - b->done) * b->size);
}
#define BEHIND(p) {(const uint8_t *)(p), sizeof *(p), 0}

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

/* Every index and range the queries follow, checked; times are not (a wrong
 * time gives a wrong answer, not a wrong access; the hash catches it). */
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
  struct behind b = BEHIND(tl->regions);
  for (uint32_t i = 0; i < nt; i++)
    for (size_t k = tl->region_off[i]; k < tl->region_off[i + 1]; k++) {
      if (tl->regions[k].depth >= tl->max_depth[i])
        return -1;
      behind(&b, k);
    }
  behind_end(&b, tl->nregions);
  b = (struct behind)BEHIND(tl->tasks);
  for (size_t k = 0; k < tl->ntasks; k++) {
    const struct ctrace_tl_task *t = &tl->tasks[k];
    if (!valid_thread(t->begin_thread, nt, 1) || !valid_thread(t->end_thread, nt, 1) ||
        t->touch > tl->ntouches || t->ntouch > tl->ntouches - t->touch)
      return -1;
    behind(&b, k);
  }
  behind_end(&b, tl->ntasks);
  for (size_t k = 0; k < tl->nlong_tasks; k++)
    if (tl->long_tasks[k] >= tl->ntasks)
      return -1;
  b = (struct behind)BEHIND(tl->touches);
  for (size_t k = 0; k < tl->ntouches; k++) {
    if (!valid_thread(tl->touches[k].thread, nt, 0))
      return -1;
    behind(&b, k);
  }
  behind_end(&b, tl->ntouches);
  for (uint32_t i = 0; i < nt; i++)
    for (size_t k = tl->log_off[i]; k < tl->log_off[i + 1]; k++)
      if (tl->logs[k].thread != i)
        return -1;
  b = (struct behind)BEHIND(tl->wakes);
  for (size_t k = 0; k < tl->nwakes; k++) {
    if (!valid_thread(tl->wakes[k].waker, nt, 0) || !valid_thread(tl->wakes[k].woken, nt, 1))
      return -1;
    behind(&b, k);
  }
  behind_end(&b, tl->nwakes);
  for (size_t k = 0; k < tl->ncreates; k++)
    if (!valid_thread(tl->creates[k].parent, nt, 0) ||
        !valid_thread(tl->creates[k].child, nt, 0))
      return -1;
  for (size_t k = 0; k < tl->npeers; k++)
    if (!valid_thread(tl->peers[k].thread, nt, 0))
      return -1;
  return 0;
}

/* The mapping is read-only (PROT_READ): the index's arrays are not
 * written after a build, and one written by mistake faults. */
#define GET(sec, p, n) ((p) = (void *)(uintptr_t)ctrace_cache_get(in, (sec), sizeof *(p), &(n), &bad))

int ctrace_timeline_load(const ctrace_reader *r, const struct ctrace_cache_in *in,
                         struct ctrace_timeline **out) {
  uint32_t nt = ctrace_reader_nthreads(r);
  /* a trace without threads has nothing to index (and in one, a thread
   * index of 0 would be out of range: see timeline_cache.h) */
  if (!nt)
    return -1;
  struct ctrace_timeline *tl = calloc(1, sizeof *tl);
  if (!tl)
    return -1;
  tl->r = r;
  tl->map_lo = in->base;
  tl->map_hi = in->base + in->len;
  int bad = 0;
  size_t n = 0, ndir = 0, nlv = 0;
  const int64_t *sc;
  const struct ctrace_tl_thread *threads;
  const uint8_t *nlevels;
  const struct ctrace_tl_cached_level *dir;
  const uint64_t *lv;
  if (!GET(CTRACE_TLS_SCALARS, sc, n) || n != 4)
    goto bad;
  tl->start_ns = sc[0];
  tl->end_ns = sc[1];
  tl->task_maxdur = sc[2];
  tl->bytes = (size_t)sc[3];
  /* the small arrays whose values bound an access: copied */
  if (!GET(CTRACE_TLS_THREADS, threads, n) || n != nt ||
      !(tl->threads = copy(threads, nt, sizeof *threads)))
    goto bad;
  tl->nthreads = nt;
  if (!GET(CTRACE_TLS_NLEVELS, nlevels, n) || n != nt ||
      !(tl->nlevels = copy(nlevels, nt, 1)) ||
      !(tl->levels = calloc(nt, sizeof *tl->levels)) ||
      !GET(CTRACE_TLS_LEVEL_DIR, dir, ndir) || !GET(CTRACE_TLS_LEVELS, lv, nlv))
    goto bad;
  size_t d = 0;
  for (uint32_t i = 0; i < nt; i++) {
    if (tl->nlevels[i] < 1 || tl->nlevels[i] > CTRACE_TL_MAX_LEVELS)
      goto bad;
    for (unsigned k = 0; k < tl->nlevels[i]; k++, d++) {
      if (d >= ndir || dir[d].first > nlv || dir[d].n > nlv - dir[d].first)
        goto bad;
      tl->levels[i][k] = (struct ctrace_tl_level){(uint64_t *)(uintptr_t)(lv + dir[d].first),
                                                  (size_t)dir[d].n, dir[d].min_width};
    }
  }
  if (d != ndir)
    goto bad;
  const size_t *region_off, *log_off;
  const uint16_t *max_depth;
  const struct ctrace_tl_log *logs;
  const struct ctrace_tl_peer *peers;
  const struct ctrace_tl_process *procs;
  const uint32_t *proc_order;
  if (!GET(CTRACE_TLS_REGIONS, tl->regions, tl->nregions) ||
      !GET(CTRACE_TLS_REGION_OFF, region_off, n) || n != (size_t)nt + 1 ||
      !(tl->region_off = copy(region_off, n, sizeof *region_off)) ||
      !GET(CTRACE_TLS_MAX_DEPTH, max_depth, n) || n != nt ||
      !(tl->max_depth = copy(max_depth, n, sizeof *max_depth)) ||
      !GET(CTRACE_TLS_TASKS, tl->tasks, tl->ntasks) ||
      !GET(CTRACE_TLS_LONG_TASKS, tl->long_tasks, tl->nlong_tasks) ||
      !GET(CTRACE_TLS_TOUCHES, tl->touches, tl->ntouches) ||
      !GET(CTRACE_TLS_LOGS, logs, tl->nlogs) ||
      !(tl->logs = copy(logs, tl->nlogs, sizeof *logs)))
    goto bad;
  ctrace_cache_release(logs, tl->nlogs * sizeof *logs);
  for (size_t k = 0; k < tl->nlogs; k++)
    tl->logs[k].msg = file_ptr(r, &tl->logs[k].msg, tl->logs[k].msg_len, &bad);
  if (bad || !GET(CTRACE_TLS_LOG_OFF, log_off, n) || n != (size_t)nt + 1 ||
      !(tl->log_off = copy(log_off, n, sizeof *log_off)) ||
      !GET(CTRACE_TLS_WAKES, tl->wakes, tl->nwakes) ||
      !GET(CTRACE_TLS_CREATES, tl->creates, tl->ncreates) ||
      !GET(CTRACE_TLS_PEERS, peers, tl->npeers) ||
      !(tl->peers = copy(peers, tl->npeers, sizeof *peers)))
    goto bad;
  for (size_t k = 0; k < tl->npeers; k++)
    tl->peers[k].addr = file_ptr(r, &tl->peers[k].addr, tl->peers[k].len, &bad);
  /* processes (timeline_proc.c): one per reader process, at least one */
  uint32_t np = ctrace_reader_nprocesses(r) ? ctrace_reader_nprocesses(r) : 1;
  if (bad || !GET(CTRACE_TLS_PROCS, procs, n) || n != np ||
      !(tl->procs = copy(procs, np, sizeof *procs)))
    goto bad;
  tl->nprocs = np;
  if (!GET(CTRACE_TLS_PROC_ORDER, proc_order, n) || n != np ||
      !(tl->proc_order = copy(proc_order, np, sizeof *proc_order)) ||
      !GET(CTRACE_TLS_PROC_LINKS, tl->proc_links, tl->nproc_links))
    goto bad;
  if (bad || check(tl) < 0 || check_procs(tl) < 0)
    goto bad;
  for (uint32_t i = 0; i < nt; i++)
    if (tl->threads[i].tid && ctrace_hash_put(&tl->by_tid, tl->threads[i].tid, i) < 0)
      goto bad;
  *out = tl;
  return 0;
bad:
  ctrace_timeline_free(tl);
  return -1;
}
