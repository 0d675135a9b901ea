/*
 * fdbytes.c - the high pages of the per-fd bytes (fdbytes.h): mapped at
 * the first nonzero store into them, installed with a compare-and-swap (a
 * thread that loses the race unmaps its page). Keeps errno.
 */
#include "fdbytes.h"

#include <errno.h>
#include <sys/mman.h>

void ctrace__pl_fd_byte_set_high(struct ctrace__pl_fd_bytes *t, int fd, uint8_t v) {
  unsigned pg = (unsigned)fd / PL_FD_CACHE;
  if (pg >= PL_FD_HIGH_PAGES)
    return; /* not kept: a class is then looked up per call, an object not linked */
  _Atomic uint8_t *h = atomic_load_explicit(&t->high[pg], memory_order_acquire);
  if (!h) {
    if (!v)
      return; /* a page of zeros is what no page means */
    int saved = errno;
    void *m = mmap(NULL, PL_FD_CACHE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved;
    if (m == MAP_FAILED)
      return;
    _Atomic uint8_t *none = NULL;
    if (atomic_compare_exchange_strong_explicit(&t->high[pg], &none, (_Atomic uint8_t *)m,
                                                memory_order_acq_rel, memory_order_acquire)) {
      h = m;
    } else {
      munmap(m, PL_FD_CACHE); /* another thread's page is the one */
      errno = saved;
      h = none;
    }
  }
  atomic_store_explicit(&h[(unsigned)fd % PL_FD_CACHE], v, memory_order_relaxed);
}
