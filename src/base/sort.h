/*
 * sort.h - a stable sort for arrays made of a few sorted runs (the index's
 * per-thread parts joined in thread order): header-only, like vec.h.
 */
#ifndef CTRACE_SORT_H
#define CTRACE_SORT_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

/*
 * Defines static int NAME(T *v, size_t n): sorts n elements of type T by
 * LESS(x, y) (x before y, as pointers), stably (what glibc's qsort, a
 * merge sort, gives), in O(n log r) for r ascending runs: arrays joined
 * from per-thread parts that are each in time order already (bottom-up
 * merging of the runs, which qsort ignores). The comparison and the
 * element copies are inline (through a function pointer and a memcpy per
 * element they took most of the time). 0 or -1 (out of memory: v is
 * untouched).
 */
#define CTRACE_RUN_SORT_TYPED(NAME, T, LESS)                                            \
  static int NAME(T *v, size_t n) {                                                     \
    size_t nruns = 0, cap = 0, *runs = NULL;                                            \
    for (size_t i = 0; i < n;) {                                                        \
      if (nruns == cap) {                                                               \
        size_t nc = cap ? 2 * cap : 64;                                                 \
        size_t *nr = realloc(runs, (nc + 1) * sizeof *nr);                              \
        if (!nr) {                                                                      \
          free(runs);                                                                   \
          return -1;                                                                    \
        }                                                                               \
        runs = nr;                                                                      \
        cap = nc;                                                                       \
      }                                                                                 \
      runs[nruns++] = i;                                                                \
      size_t j = i + 1;                                                                 \
      while (j < n && !LESS(&v[j], &v[j - 1]))                                          \
        j++;                                                                            \
      i = j;                                                                            \
    }                                                                                   \
    if (nruns <= 1) {                                                                   \
      free(runs);                                                                       \
      return 0;                                                                         \
    }                                                                                   \
    runs[nruns] = n;                                                                    \
    T *tmp = ctrace__big_malloc(n * sizeof *tmp);                                       \
    if (!tmp) {                                                                         \
      free(runs);                                                                       \
      return -1;                                                                        \
    }                                                                                   \
    T *src = v, *dst = tmp;                                                             \
    while (nruns > 1) {                                                                 \
      size_t k = 0;                                                                     \
      for (size_t r = 0; r < nruns; r += 2) {                                           \
        size_t a = runs[r], m = runs[r + 1 < nruns ? r + 1 : nruns],                    \
               e = runs[r + 2 < nruns ? r + 2 : nruns];                                 \
        size_t i = a, j = m, o = a;                                                     \
        while (i < m && j < e) /* the left on ties: stable */                           \
          dst[o++] = LESS(&src[j], &src[i]) ? src[j++] : src[i++];                      \
        memcpy(dst + o, src + i, (m - i) * sizeof *dst);                                \
        o += m - i;                                                                     \
        memcpy(dst + o, src + j, (e - j) * sizeof *dst);                                \
        runs[k++] = a;                                                                  \
      }                                                                                 \
      runs[k] = n;                                                                      \
      nruns = k;                                                                        \
      T *t_ = src;                                                                      \
      src = dst;                                                                        \
      dst = t_;                                                                         \
    }                                                                                   \
    if (src != v)                                                                       \
      memcpy(v, src, n * sizeof *v);                                                    \
    free(tmp);                                                                          \
    free(runs);                                                                         \
    return 0;                                                                           \
  }

#endif
