/*
 * vec.h - growable arrays for the reader and the analyses, in two
 * spellings with one growth rule: struct ctrace_vec (any element type, the
 * element size a field; grown by doubling, trimmed when handed over) and
 * CTRACE_TVEC(T), a typed array (v[i] is a T) pushed with
 * CTRACE_TVEC_PUSH. Big blocks are aligned to 2 MiB and marked for transparent
 * huge pages: building the index of 10 M events touches ~250 MB of fresh
 * memory, and with 4 KiB pages the 60000 page faults cost more than the
 * indexing itself on the virtual machines this was measured on (10 M
 * events: 4.8 s CPU without the hint, 2.2 s with). Only a hint: where THP
 * is off it does nothing.
 *
 * Not here: any locking (a vec belongs to one thread at a time).
 */
#ifndef CTRACE_VEC_H
#define CTRACE_VEC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CTRACE_VEC_HUGE_MIN (4u << 20)

static inline void ctrace__hint_huge(void *p, size_t n) {
  if (!p || n < CTRACE_VEC_HUGE_MIN)
    return;
  uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
  uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
  if (e > a)
    madvise((void *)a, e - a, MADV_HUGEPAGE);
}

/* A block for n bytes; a big one aligned to 2 MiB so that huge pages can
 * back all of it (realloc and free work on it as on any other). */
static inline void *ctrace__big_malloc(size_t n) {
  if (n < CTRACE_VEC_HUGE_MIN)
    return malloc(n ? n : 1);
  void *p = NULL;
  if (posix_memalign(&p, 2u << 20, n) != 0)
    return NULL;
  ctrace__hint_huge(p, n);
  return p;
}

/* The one growth rule: v (of cap elements of size bytes, or NULL) grown to
 * hold at least want elements. The new block, or NULL when out of memory
 * (v is then untouched). */
static inline void *ctrace__vec_grow(void *v, size_t want, size_t size) {
  if (want > SIZE_MAX / size)
    return NULL;
  void *nv = v ? realloc(v, want * size) : ctrace__big_malloc(want * size);
  if (nv)
    ctrace__hint_huge(nv, want * size);
  return nv;
}

/* A typed growable array: CTRACE_TVEC(struct x) vec = {0}; vec.v[i]. */
#define CTRACE_TVEC(T)                                                         \
  struct {                                                                     \
    T *v;                                                                      \
    size_t n, cap;                                                             \
  }
/* Appends x, or jumps to fail when out of memory (the array unchanged). */
#define CTRACE_TVEC_PUSH(vec, x, fail)                                         \
  do {                                                                         \
    if ((vec).n == (vec).cap) {                                                \
      size_t nc_ = (vec).cap ? (vec).cap * 2 : 4;                              \
      void *nv_ = ctrace__vec_grow((vec).v, nc_, sizeof *(vec).v);             \
      if (!nv_)                                                                \
        goto fail;                                                             \
      (vec).v = nv_;                                                           \
      (vec).cap = nc_;                                                         \
    }                                                                          \
    (vec).v[(vec).n++] = (x);                                                  \
  } while (0)

struct ctrace_vec {
  void *v;
  size_t n, cap;
  size_t size; /* of one element: set before first use */
};
#define CTRACE_VEC(type) ((struct ctrace_vec){.size = sizeof(type)})

/* Room for at least want elements in all; 0 or -1 (out of memory). */
static inline int ctrace_vec_reserve(struct ctrace_vec *a, size_t want) {
  if (want <= a->cap)
    return 0;
  void *nv = ctrace__vec_grow(a->v, want, a->size);
  if (!nv)
    return -1;
  a->v = nv;
  a->cap = want;
  return 0;
}

/* A new last element (not initialised), or NULL when out of memory. */
static inline void *ctrace_vec_push(struct ctrace_vec *a) {
  if (a->n == a->cap && ctrace_vec_reserve(a, a->cap ? a->cap * 2 : 4) < 0)
    return NULL;
  return (char *)a->v + a->size * a->n++;
}

/* Gives the array's memory to the caller, trimmed (NULL when empty), its
 * count in *n, and adds its size to *bytes (may be NULL); the vec is left
 * empty. */
static inline void *ctrace_vec_take(struct ctrace_vec *a, size_t *n, size_t *bytes) {
  void *v = a->v;
  if (a->n && a->n < a->cap) {
    void *nv = realloc(v, a->n * a->size);
    if (nv)
      v = nv;
  }
  if (!a->n) {
    free(v);
    v = NULL;
  }
  if (n)
    *n = a->n;
  if (bytes)
    *bytes += a->n * a->size;
  a->v = NULL;
  a->n = a->cap = 0;
  return v;
}

static inline void ctrace_vec_free(struct ctrace_vec *a) {
  free(a->v);
  a->v = NULL;
  a->n = a->cap = 0;
}

#endif /* CTRACE_VEC_H */
