/*
 * meta.c - the metadata batch: definitions (strings, stacks, mappings,
 * process, clock syncs) gathered under ctrace__meta_lock and written by the
 * writer before the data batches of each round. Not what is defined
 * (intern.c, procmap.c), only where it goes.
 */
#include "record.h"

#include <string.h>

pthread_mutex_t ctrace__meta_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrace__buf *meta;
/* The buffer of the last batch written, emptied, for the next one. */
static struct ctrace__buf *spare;

static size_t meta_bytes(const struct ctrace__buf *m) {
  return sizeof *m + m->cap;
}

/* Room for n bytes at the end of the metadata; NULL when out of memory.
 * Caller holds ctrace__meta_lock. Pages (record.h rule 3): the writer
 * appends here too, also in a fatal flush. At every instant meta is NULL
 * or a whole buffer (a grown copy is published before the old one is
 * unmapped: not mremap, which unmaps first), for a fatal round that
 * takes it from a dying holder (ctrace__meta_take_dying). */
uint8_t *ctrace__meta_reserve(size_t n) {
  if (!meta && spare) {
    spare->len = 0;
    __atomic_store_n(&meta, spare, __ATOMIC_RELEASE);
    spare = NULL;
  }
  size_t need = (meta ? meta->len : 0) + n;
  if (!meta || need > meta->cap) {
    size_t cap = meta ? meta->cap * 2 : 4096 - sizeof *meta;
    while (cap < need)
      cap *= 2;
    struct ctrace__buf *m = ctrace__pages_alloc(sizeof *m + cap), *old = meta;
    if (!m)
      return NULL;
    if (old) {
      memcpy(m, old, sizeof *m + old->len);
    } else {
      m->len = 0;
      m->seq = 0;
    }
    m->cap = cap;
    __atomic_store_n(&meta, m, __ATOMIC_RELEASE);
    if (old)
      ctrace__pages_free(old, meta_bytes(old));
  }
  return meta->data + meta->len;
}

/* A release store: a fatal round may read the committed part without the
 * lock (ctrace__meta_take_dying). */
void ctrace__meta_commit(uint8_t *end) {
  __atomic_store_n(&meta->len, (size_t)(end - meta->data), __ATOMIC_RELEASE);
}

/* Sequence numbers of metadata batches: the writer thread's only. */
static uint64_t seq;

uint64_t ctrace__meta_next_seq(void) {
  return seq++;
}

/* Called by the writer, holding ctrace__meta_lock (see record.h). */
void ctrace__meta_recycle(struct ctrace__buf *done) {
  CTRACE__ASSERT_HELD(&ctrace__meta_lock);
  if (done) {
    if (!spare)
      spare = done;
    else
      ctrace__pages_free(done, meta_bytes(done));
  }
}

struct ctrace__buf *ctrace__meta_take(struct ctrace__buf *done) {
  ctrace__meta_recycle(done);
  struct ctrace__buf *m = meta;
  if (m && m->len == 0)
    m = NULL;
  else
    meta = NULL;
  if (m) {
    m->tid = 0;
    m->flags = CTRACE_BATCH_META;
    m->seq = seq++;
    m->base = 0;
  }
  return m;
}

/*
 * A fatal round's take when the dying thread holds ctrace__meta_lock (it
 * was defining a string or a stack when the signal came, and never lets
 * go): what it committed before is whole, and every id another thread can
 * use is defined in it (ids are published after their commit, intern.c);
 * what it was writing past meta->len is left out (and a grown copy it
 * had not published yet). NULL when there is nothing.
 * The dying thread runs only its handler meanwhile; no other thread gets
 * the lock.
 */
struct ctrace__buf *ctrace__meta_take_dying(void) {
  struct ctrace__buf *m = __atomic_load_n(&meta, __ATOMIC_ACQUIRE);
  if (!m || __atomic_load_n(&m->len, __ATOMIC_ACQUIRE) == 0)
    return NULL;
  meta = NULL;
  m->tid = 0;
  m->flags = CTRACE_BATCH_META;
  m->seq = seq++;
  m->base = 0;
  return m;
}

/* At a trace's start, under ctrace__meta_lock. */
CTRACE__COLD void ctrace__meta_reset(void) {
  if (meta)
    ctrace__pages_free(meta, meta_bytes(meta));
  if (spare)
    ctrace__pages_free(spare, meta_bytes(spare));
  meta = spare = NULL;
}

uint64_t ctrace__meta_clock_sync(void) {
  uint64_t tsc, mono, real;
  ctrace__clock_sync(&tsc, &mono, &real);
  uint8_t *p = ctrace__meta_reserve(CTRACE_MAX_FIXED_EVENT);
  if (!p)
    return tsc;
  *p++ = CTRACE_EV_CLOCK_SYNC;
  *p++ = 0; /* delta: meta events carry their times in fields */
  p = ctrace__put_uvarint(p, tsc);
  p = ctrace__put_uvarint(p, mono);
  p = ctrace__put_uvarint(p, real);
  ctrace__meta_commit(p);
  return tsc;
}

/* A PROPERTY record (1.2): "key=value", what this trace records. Takes
 * ctrace__meta_lock; not for signal handlers. Too long a pair is cut. */
void ctrace__meta_property(const char *key, const char *value) {
  size_t kl = strlen(key), vl = strlen(value);
  if (kl + 1 + vl > CTRACE_PROPERTY_MAX)
    vl = kl + 1 < CTRACE_PROPERTY_MAX ? CTRACE_PROPERTY_MAX - kl - 1 : 0;
  size_t n = kl + 1 + vl;
  pthread_mutex_lock(&ctrace__meta_lock);
  uint8_t *p = ctrace__meta_reserve(2 + 10 + n);
  if (p) {
    *p++ = CTRACE_EV_PROPERTY;
    *p++ = 0;
    p = ctrace__put_uvarint(p, n);
    memcpy(p, key, kl);
    p[kl] = '=';
    memcpy(p + kl + 1, value, vl);
    ctrace__meta_commit(p + n);
  }
  pthread_mutex_unlock(&ctrace__meta_lock);
}
