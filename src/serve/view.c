/*
 * view.c - one trace opened for `ctrace view`: its timeline index, stats
 * and symbolizer, built once before serving (see view.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "view.h"

struct stats_job {
  struct ctrace_view *v;
  int err;
};
/* The stats, gathering the counters on the way (/api/counters, which the
 * page asks beside its first timeline, then need not read every event
 * again). Without the threads' states: the timeline's build sums them
 * (its state machine is the one the stats would run again). */
static void *stats_thread(void *arg) {
  struct stats_job *j = arg;
  struct ctrace_counters_build *b = ctrace__counters_begin(j->v->r);
  j->err = ctrace_stats_pass(j->v->r, &j->v->st, b ? ctrace__counters_event : NULL, b);
  ctrace__counters_end(j->v, b);
  return NULL;
}

/* The caller's progress, and once every event was read, the mapped
 * trace's pages let go (ctrace_view_release_pages: nothing when the view
 * did not map it): the rest of the build (joins, tasks) is its peak of
 * memory, which then no longer holds the file too. The stats pass may
 * still be reading: its pages come back from the page cache. */
struct progress_job {
  ctrace_tl_progress fn;
  void *arg;
};
static void on_progress(void *arg, uint64_t done, uint64_t total) {
  struct progress_job *p = arg;
  if (p->fn)
    p->fn(p->arg, done, total);
  if (done == total)
    ctrace_view_release_pages();
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
  struct stats_job job = {v, 0};
  /* a cache of this very trace's index: no build (view_cache.c) */
  if (ctrace__view_cache_enabled() && ctrace__view_cache_load(v) == 0) {
    v->cache_state = CTRACE_CACHE_LOADED;
    if (progress)
      progress(arg, ctrace_reader_nevents(r), ctrace_reader_nevents(r));
    /* the reader's validating pass read the whole trace: its pages go */
    ctrace_view_release_pages();
    goto built;
  }
  /* The stats pass runs beside the timeline's (the reader is read-only once
   * open): on two cores the first screen comes ~20% sooner. */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t nstate = (size_t)ctrace_reader_nthreads(r) * CTRACE_ST_COUNT + 1;
  uint64_t *state_ns = calloc(nstate, sizeof *state_ns);
  if (!state_ns)
    return -ENOMEM;
  pthread_t th;
  int threaded = pthread_create(&th, NULL, stats_thread, &job) == 0;
  if (!threaded)
    stats_thread(&job);
  struct progress_job pj = {progress, arg};
  /* a big trace's index gives its levels' memory back as they are built,
   * into an unnamed file beside the cache's (view_cache.c) */
  struct ctrace_tl_spill spill;
  int sfd = ctrace__view_spill_file(v);
  if (sfd >= 0 && ctrace_tl_spill_init(&spill, sfd, ctrace_reader_nthreads(r),
                                       ctrace__view_guard(), &v->adopted) < 0) {
    close(sfd);
    sfd = -1;
  }
  int err = ctrace_timeline_build_spill(r, on_progress, &pj, state_ns, sfd >= 0 ? &spill : NULL,
                                        &v->tl);
  if (sfd >= 0) { /* the mappings keep the file */
    ctrace_tl_spill_fini(&spill);
    close(sfd);
  }
  if (threaded)
    pthread_join(th, NULL);
  if (!err && job.err == 0)
    ctrace_stats_set_states(r, &v->st, state_ns);
  free(state_ns);
  if (err)
    goto fail_timeline;
  if (job.err < 0)
    goto fail_stats;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (ctrace__view_cache_worth((int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 +
                                   (t1.tv_nsec - t0.tv_nsec),
                               v->tl->bytes))
    ctrace__view_cache_save_start(v);
built:
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
  ctrace__view_cache_join(v); /* it reads the index */
fail_stats:
  ctrace_timeline_unadopt(&v->adopted);
  ctrace_timeline_free(v->tl);
  v->tl = NULL;
  ctrace__view_cache_unmap(v);
fail_timeline:
  if (job.err == 0)
    ctrace_stats_free(&v->st);
  ctrace__counters_free(v->counters);
  v->counters = NULL;
  return -ENOMEM;
}

/* ---- the mapped file and its SIGBUS guard (view.h) ---- */

static uintptr_t guard_base, guard_len, guard_page;
static int guard_lost;
/* other mappings (index caches, loaded or adopted: ctrace_timeline_adopt):
 * base, length */
#define GUARD_EXTRA 1024
static uintptr_t extra_base[GUARD_EXTRA], extra_len[GUARD_EXTRA];

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  uintptr_t a = (uintptr_t)si->si_addr;
  for (int k = 0; k < GUARD_EXTRA; k++) {
    uintptr_t eb = __atomic_load_n(&extra_base[k], __ATOMIC_ACQUIRE);
    uintptr_t el = __atomic_load_n(&extra_len[k], __ATOMIC_ACQUIRE);
    if (eb && a >= eb && a < eb + el) {
      uintptr_t pg = a & ~(guard_page - 1);
      if (mmap((void *)pg, eb + el - pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
               0) != MAP_FAILED)
        return;
    }
  }
  uintptr_t base = __atomic_load_n(&guard_base, __ATOMIC_ACQUIRE);
  if (base && a >= base && a < base + guard_len) {
    uintptr_t pg = a & ~(guard_page - 1);
    /* zero pages from the fault to the end: mmap is a plain system call */
    void *p = mmap((void *)pg, base + guard_len - pg, PROT_READ,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != MAP_FAILED) {
      __atomic_store_n(&guard_lost, 1, __ATOMIC_RELEASE);
      return; /* the access is retried, and reads zeros */
    }
  }
  /* not the trace's: what SIGBUS would have done without us */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
}

static int guard_install(void) {
  guard_page = (uintptr_t)sysconf(_SC_PAGESIZE);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGBUS, &sa, NULL);
}

int ctrace_view_guard_add(const void *p, size_t len) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* two views' caches */
  int ret = -1;
  pthread_mutex_lock(&lock);
  for (int k = 0; k < GUARD_EXTRA; k++)
    if (!__atomic_load_n(&extra_base[k], __ATOMIC_ACQUIRE)) {
      if (guard_install() < 0)
        break;
      __atomic_store_n(&extra_len[k], (uintptr_t)len, __ATOMIC_RELEASE);
      __atomic_store_n(&extra_base[k], (uintptr_t)p, __ATOMIC_RELEASE);
      ret = 0;
      break;
    }
  pthread_mutex_unlock(&lock);
  return ret;
}

void ctrace_view_guard_remove(const void *p) {
  for (int k = 0; k < GUARD_EXTRA; k++)
    if (__atomic_load_n(&extra_base[k], __ATOMIC_ACQUIRE) == (uintptr_t)p)
      __atomic_store_n(&extra_base[k], 0, __ATOMIC_RELEASE);
}

int ctrace_view_file_lost(void) {
  return __atomic_load_n(&guard_lost, __ATOMIC_ACQUIRE);
}

int ctrace_view_file_map(const char *path, struct ctrace_view_file *f) {
  memset(f, 0, sizeof *f);
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat(fd, &f->st) < 0)
    goto fail;
  if (!S_ISREG(f->st.st_mode)) {
    errno = EINVAL;
    goto fail;
  }
  f->size = (size_t)f->st.st_size;
  f->mapped = f->size ? f->size : 1;
  if (guard_install() < 0)
    goto fail;
  void *p = f->size ? mmap(NULL, f->mapped, PROT_READ, MAP_PRIVATE, fd, 0)
                    : mmap(NULL, 1, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    goto fail;
  f->data = p;
  guard_len = f->mapped;
  __atomic_store_n(&guard_base, (uintptr_t)p, __ATOMIC_RELEASE);
  close(fd);
  return 0;
fail:;
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

void ctrace_view_file_release(struct ctrace_view_file *f) {
  if (f->data)
    madvise((void *)f->data, f->mapped, MADV_DONTNEED);
}

void ctrace_view_release_pages(void) {
  uintptr_t base = __atomic_load_n(&guard_base, __ATOMIC_ACQUIRE);
  if (base)
    madvise((void *)base, guard_len, MADV_DONTNEED);
}

void ctrace_view_release_index(struct ctrace_view *v) {
  for (; v; v = v->after) {
    if (v->cache_map)
      madvise((void *)v->cache_map, v->cache_map_len, MADV_DONTNEED);
    ctrace_timeline_release(&v->adopted);
  }
}

void ctrace_view_file_unmap(struct ctrace_view_file *f) {
  if (!f->data)
    return;
  /* the guard stays armed: a thread could still be reading (none is, by
   * now); the handler then finds an address outside any mapping of ours */
  __atomic_store_n(&guard_base, 0, __ATOMIC_RELEASE);
  munmap((void *)f->data, f->mapped);
  f->data = NULL;
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
  if (ctrace_view_file_lost()) {
    __atomic_store_n(&v->changed, 1, __ATOMIC_RELAXED);
    return 1;
  }
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
  ctrace__view_cache_join(v);
  ctrace_sym_free(v->sym);
  ctrace__counters_free(v->counters);
  v->counters = NULL;
  ctrace_critpath_data_free(v->cp_data);
  v->cp_data = NULL;
  ctrace__flows_free(v->flows);
  v->flows = NULL;
  pthread_mutex_destroy(&v->sym_lock);
  ctrace_stats_free(&v->st);
  ctrace_timeline_unadopt(&v->adopted);
  ctrace_timeline_free(v->tl);
  v->tl = NULL;
  ctrace__view_cache_unmap(v);
}

