/*
 * view.c - one trace opened for `ctrace view`: its timeline index, stats
 * and symbolizer, built once before serving (see view.h).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

struct stats_job {
  const ctrace_reader *r;
  struct ctrace_stats *st;
  int err;
};
static void *stats_thread(void *arg) {
  struct stats_job *j = arg;
  j->err = ctrace_stats_compute(j->r, j->st);
  return NULL;
}

int ctrace_view_init(struct ctrace_view *v, const ctrace_reader *r, const char *path,
                     ctrace_tl_progress progress, void *arg) {
  memset(v, 0, sizeof *v);
  /* Big blocks (the index's vectors) each in their own mapping, always:
   * glibc otherwise raises that threshold as blocks are freed, and then
   * grows vectors of up to 32 MiB on the heap by copying them (a fifth of
   * the build's time), and keeps their freed memory. */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  v->r = r;
  v->path = path;
  /* The stats pass runs beside the timeline's (the reader is read-only once
   * open): on two cores the first screen comes ~20% sooner. */
  struct stats_job job = {r, &v->st, 0};
  pthread_t th;
  int threaded = pthread_create(&th, NULL, stats_thread, &job) == 0;
  if (!threaded)
    stats_thread(&job);
  int err = ctrace_timeline_build(r, progress, arg, &v->tl);
  if (threaded)
    pthread_join(th, NULL);
  if (err)
    goto fail_timeline;
  if (job.err < 0)
    goto fail_stats;
  v->sym = ctrace_sym_new(r);
  if (!v->sym)
    goto fail_sym;
  pthread_mutex_init(&v->sym_lock, NULL);
  /* The build's scratch (per-thread vectors, sort buffers: about the size of
   * the index again) was freed into malloc's arenas, which keep it: give it
   * back to the system, the server would hold it for its whole life. */
  malloc_trim(0);
  return 0;
fail_sym:
fail_stats:
  ctrace_timeline_free(v->tl);
  v->tl = NULL;
fail_timeline:
  if (job.err == 0)
    ctrace_stats_free(&v->st);
  return -ENOMEM;
}

void ctrace_view_watch(struct ctrace_view *v, const struct stat *st) {
  v->file_st = *st;
  __atomic_store_n(&v->watched, 1, __ATOMIC_RELEASE);
}

int ctrace_view_changed(struct ctrace_view *v) {
  if (!__atomic_load_n(&v->watched, __ATOMIC_ACQUIRE))
    return 0;
  if (__atomic_load_n(&v->changed, __ATOMIC_RELAXED))
    return 1;
  struct stat now;
  const struct stat *st = &v->file_st;
  if (stat(v->path, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev ||
      now.st_size != st->st_size || now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
      now.st_mtim.tv_nsec != st->st_mtim.tv_nsec) {
    __atomic_store_n(&v->changed, 1, __ATOMIC_RELAXED);
    return 1;
  }
  return 0;
}

void ctrace_view_fini(struct ctrace_view *v) {
  if (!v->tl)
    return;
  ctrace_sym_free(v->sym);
  pthread_mutex_destroy(&v->sym_lock);
  ctrace_stats_free(&v->st);
  ctrace_timeline_free(v->tl);
  v->tl = NULL;
}

