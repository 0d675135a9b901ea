/*
 * hash.h - a hash table from 64-bit keys to 32-bit values for the reader
 * and the analyses (thread ids to indexes, creation links to their
 * THREAD_CREATE, PCs to symbolized frames): open addressing with linear
 * probing, kept at most half full, a full 64-bit mix of the key (PCs and
 * addresses of one shape, same low bits and strided, would otherwise pile
 * up in long probe runs). Key 0 is reserved (it marks an empty slot):
 * callers never store it (tids, links and task ids are never 0).
 *
 * Not here: deletion (nothing needs it) or locking.
 */
#ifndef CTRACE_HASH_H
#define CTRACE_HASH_H

#include <stdint.h>
#include <stdlib.h>

struct ctrace_hash_slot {
  uint64_t key; /* 0: empty */
  uint32_t val;
};

struct ctrace_hash {
  struct ctrace_hash_slot *s;
  size_t n, cap; /* cap: a power of two, or 0 */
};

static inline size_t ctrace__hash_at(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ull;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

static inline int ctrace__hash_grow(struct ctrace_hash *h) {
  size_t nc = h->cap ? h->cap * 2 : 64;
  struct ctrace_hash_slot *ns = calloc(nc, sizeof *ns);
  if (!ns)
    return -1;
  for (size_t i = 0; i < h->cap; i++) {
    if (!h->s[i].key)
      continue;
    size_t j = ctrace__hash_at(h->s[i].key, nc);
    while (ns[j].key)
      j = (j + 1) & (nc - 1);
    ns[j] = h->s[i];
  }
  free(h->s);
  h->s = ns;
  h->cap = nc;
  return 0;
}

/* Stores key -> val unless key is there already (the first one stays).
 * Returns 1 when stored, 0 when key was there, -1 when out of memory. */
static inline int ctrace_hash_put(struct ctrace_hash *h, uint64_t key, uint32_t val) {
  if ((h->n + 1) * 2 > h->cap && ctrace__hash_grow(h) < 0)
    return -1;
  size_t j = ctrace__hash_at(key, h->cap);
  while (h->s[j].key) {
    if (h->s[j].key == key)
      return 0;
    j = (j + 1) & (h->cap - 1);
  }
  h->s[j] = (struct ctrace_hash_slot){key, val};
  h->n++;
  return 1;
}

/* Stores key -> val, replacing the value when key is there. 0 or -1 (out
 * of memory). */
static inline int ctrace_hash_set(struct ctrace_hash *h, uint64_t key, uint32_t val) {
  if ((h->n + 1) * 2 > h->cap && ctrace__hash_grow(h) < 0)
    return -1;
  size_t j = ctrace__hash_at(key, h->cap);
  while (h->s[j].key && h->s[j].key != key)
    j = (j + 1) & (h->cap - 1);
  if (!h->s[j].key)
    h->n++;
  h->s[j] = (struct ctrace_hash_slot){key, val};
  return 0;
}

/* The value of key, or -1 when absent. */
static inline int64_t ctrace_hash_get(const struct ctrace_hash *h, uint64_t key) {
  if (!h->cap || !key)
    return -1;
  size_t j = ctrace__hash_at(key, h->cap);
  while (h->s[j].key) {
    if (h->s[j].key == key)
      return h->s[j].val;
    j = (j + 1) & (h->cap - 1);
  }
  return -1;
}

/* A key for bytes (FNV-1a, 64 bits; never 0): equal keys may still be
 * different bytes, so a caller compares them before it trusts a match. */
static inline uint64_t ctrace_hash_bytes(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h ? h : 1;
}

static inline void ctrace_hash_free(struct ctrace_hash *h) {
  free(h->s);
  h->s = NULL;
  h->n = h->cap = 0;
}

#endif /* CTRACE_HASH_H */
