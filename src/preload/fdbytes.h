/*
 * fdbytes.h - a byte per file descriptor for the preload's caches (an fd's
 * class, whether its object was recorded): lock-free, usable inside any
 * interposed call (no malloc, no lock). Not the caches' meaning (preload.h).
 */
#ifndef CTRACE_PRELOAD_FDBYTES_H
#define CTRACE_PRELOAD_FDBYTES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A byte per fd: fds below PL_FD_CACHE in a flat array (the hot path: one
 * compare and a load), higher ones (a server past 65536 connections) in
 * pages of PL_FD_CACHE bytes mapped at their first nonzero store (mmap, not
 * malloc: stores happen inside interposed calls), up to PL_FD_HIGH_PAGES
 * pages (fds below 2^26; the kernel's nr_open is 2^20 unless raised).
 */
#define PL_FD_CACHE 65536
#define PL_FD_HIGH_PAGES 1024
struct ctrace__pl_fd_bytes {
  _Atomic uint8_t low[PL_FD_CACHE];
  _Atomic uint8_t *_Atomic high[PL_FD_HIGH_PAGES];
};
static inline uint8_t ctrace__pl_fd_byte(struct ctrace__pl_fd_bytes *t, int fd) {
  if (__builtin_expect((unsigned)fd < PL_FD_CACHE, 1))
    return atomic_load_explicit(&t->low[fd], memory_order_relaxed);
  unsigned pg = (unsigned)fd / PL_FD_CACHE;
  _Atomic uint8_t *h =
      pg < PL_FD_HIGH_PAGES ? atomic_load_explicit(&t->high[pg], memory_order_acquire) : NULL;
  return h ? atomic_load_explicit(&h[(unsigned)fd % PL_FD_CACHE], memory_order_relaxed) : 0;
}
void ctrace__pl_fd_byte_set_high(struct ctrace__pl_fd_bytes *t, int fd, uint8_t v);
static inline void ctrace__pl_fd_byte_set(struct ctrace__pl_fd_bytes *t, int fd, uint8_t v) {
  if (__builtin_expect((unsigned)fd < PL_FD_CACHE, 1))
    atomic_store_explicit(&t->low[fd], v, memory_order_relaxed);
  else if (fd >= 0)
    ctrace__pl_fd_byte_set_high(t, fd, v);
}

#endif
