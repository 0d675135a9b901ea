/*
 * threads.c - thread life under the preload: pthread_create (THREAD_CREATE
 * with the creator's stack in the creator, THREAD_START with the same link
 * as the new thread's first event), names (pthread_setname_np,
 * prctl(PR_SET_NAME)). Thread exit is the recorder's own key destructor
 * (src/record/thread.c); the main thread and threads still running at exit
 * are flushed by ctrace_stop() at exit.
 *
 * pthread_setname_np on another thread needs that thread's kernel tid,
 * which glibc (before 2.42's pthread_gettid_np) gives only inside its CPU
 * clock's id: the kernel's encoding of a thread's clock, (~tid << 3) | 6.
 * The kernel writes the tid before pthread_create returns, so a creator
 * that names its thread at once (memcached, before the thread ran) names
 * the right one.
 */
#include "preload.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

/* Links of preload-created threads live in their own range so they never
 * meet those of ctrace_thread_spawn() in the same trace. */
static _Atomic uint64_t next_link = (uint64_t)1 << 62;

/* The kernel tid of th, 0 when unknown. */
static uint32_t tid_of(pthread_t th) {
  if (pthread_equal(th, pthread_self()))
    return ctrace__gettid();
  clockid_t cid;
  if (pthread_getcpuclockid(th, &cid) != 0 || (cid & 7) != 6)
    return 0; /* a per-thread (4) scheduler-time (2) clock, or not ours to read */
  int64_t tid = ~((int64_t)cid >> 3);
  return tid > 0 && tid <= INT32_MAX ? (uint32_t)tid : 0;
}

struct start_arg {
  void *(*fn)(void *);
  void *arg;
  uint64_t link;
};

static void *trampoline(void *p) {
  struct start_arg a = *(struct start_arg *)p;
  free(p);
  struct ctrace__thread *t = ctrace__enter();
  if (t) {
    uint8_t *q = ctrace__ev(t, CTRACE_EV_THREAD_START, ctrace__now());
    q = ctrace__put_uvarint(q, a.link);
    ctrace__leave(t, q);
  }
  return a.fn(a.arg);
}

PL_EXPORT int pthread_create(pthread_t *restrict th, const pthread_attr_t *restrict attr,
                             void *(*fn)(void *), void *restrict arg) {
  if (ctrace__guard || !ctrace__pl.families)
    return PL_REAL(pthread_create)(th, attr, fn, arg);
  int saved = errno;
  if (!atomic_load_explicit(&ctrace__writer_live, memory_order_relaxed))
    ctrace__writer_ensure(); /* a second thread will record: no lazy start */
  struct start_arg *a = malloc(sizeof *a);
  if (!a) {
    errno = saved;
    return PL_REAL(pthread_create)(th, attr, fn, arg);
  }
  a->fn = fn;
  a->arg = arg;
  a->link = atomic_fetch_add_explicit(&next_link, 1, memory_order_relaxed);
  uint64_t t0 = ctrace__now();
  struct ctrace__thread *t = ctrace__enter();
  if (t) {
    uint32_t st = ctrace__pl_stack(t, __builtin_frame_address(0));
    uint8_t *p = ctrace__ev(t, CTRACE_EV_THREAD_CREATE, t0);
    p = ctrace__put_uvarint(p, a->link);
    p = ctrace__put_uvarint(p, st);
    ctrace__leave(t, p);
  }
  errno = saved;
  int r = PL_REAL(pthread_create)(th, attr, trampoline, a);
  if (r != 0)
    free(a);
  errno = saved;
  return r;
}

/* THREAD_NAME for thread tid (this thread's own name is also kept by the
 * recorder, to be re-emitted in later traces). */
static void record_name(uint32_t tid, const char *name) {
  if (!tid || !name)
    return;
  int saved = errno;
  if (tid == ctrace__gettid()) {
    ctrace_thread_set_name(name);
  } else {
    struct ctrace__thread *t = ctrace__enter();
    if (t) {
      uint32_t sid = ctrace__name_session_id(ctrace_name(name));
      uint8_t *p = ctrace__ev(t, CTRACE_EV_THREAD_NAME, ctrace__now());
      p = ctrace__put_uvarint(p, tid);
      p = ctrace__put_uvarint(p, sid);
      ctrace__leave(t, p);
    }
  }
  errno = saved;
}

PL_EXPORT int pthread_setname_np(pthread_t th, const char *name) {
  int r = PL_REAL(pthread_setname_np)(th, name);
  if (r == 0 && !ctrace__guard && ctrace__pl.families)
    record_name(tid_of(th), name);
  return r;
}

/* prctl is variadic; every option takes at most four unsigned longs. */
PL_EXPORT int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
  unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  int r = PL_REAL(prctl)(option, a2, a3, a4, a5);
  if (r == 0 && option == PR_SET_NAME && a2 && !ctrace__guard && ctrace__pl.families) {
    char name[17];
    size_t n = strnlen((const char *)a2, 16); /* the kernel keeps 15 + NUL */
    memcpy(name, (const char *)a2, n);
    name[n] = 0;
    record_name(ctrace__gettid(), name);
  }
  return r;
}
