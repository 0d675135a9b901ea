/*
 * view_cache.c - `ctrace view`'s index cache file: the timeline index and
 * the stats of a trace, written once after they were built and read back
 * when the same trace is opened again (view.h).
 *
 * Where: beside the trace, as `.NAME.ctidx`; when that directory cannot be
 * written, in $XDG_CACHE_HOME/ctrace (~/.cache/ctrace) as
 * `NAME-HASH.ctidx` (HASH: of the trace's absolute path). Written only
 * for an index that took a second or more to build (a small trace is
 * indexed again faster than a cache twice its size is worth keeping);
 * CTRACE_INDEX_CACHE=on writes it always, =off neither reads nor writes.
 *
 * The file: a 64-byte header, then the body (timeline_cache.c's stream,
 * then the stats).
 *
 *   u64 magic "CTIDX01\n"   u64 trace size   i64 mtime s   i64 mtime ns
 *   u64 hash of the trace's first and last 64 KiB (its header, its last batch)
 *   u64 body bytes          u64 hash of the body          u64 0
 *
 * A cache is used only when the trace's size, modification time and hash
 * equal the header's, the body is as long as the header says and every
 * check of the load passes; else it is ignored (and replaced once the index
 * is built again). It is written to a temporary file renamed into place:
 * a reader never sees half of one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../analyze/timeline_cache.h"
#include "view.h"

#define MAGIC 0x0a31305844495443ull /* "CTIDX01\n" little-endian */
#define EDGE (64u << 10)

struct head {
  uint64_t magic, size;
  int64_t mtime_s, mtime_ns;
  uint64_t trace_hash, body_len, body_hash, zero;
};

int ctrace__view_cache_enabled(void) {
  const char *e = getenv("CTRACE_INDEX_CACHE");
  return !(e && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0));
}

int ctrace__view_cache_worth(int64_t build_ns) {
  const char *e = getenv("CTRACE_INDEX_CACHE");
  if (e && strcmp(e, "on") == 0)
    return 1;
  return ctrace__view_cache_enabled() && build_ns >= CTRACE_CACHE_MIN_BUILD_NS;
}

/* The trace's identity: its size, mtime and the hash of its two ends. */
static int identity(const struct ctrace_view *v, struct head *h) {
  struct stat st;
  if (stat(v->path, &st) < 0)
    return -1;
  uint64_t size = ctrace_reader_file_size(v->r);
  if ((uint64_t)st.st_size != size)
    return -1; /* changed since it was mapped */
  const uint8_t *data = ctrace_reader_data(v->r);
  size_t n = size < EDGE ? (size_t)size : EDGE;
  memset(h, 0, sizeof *h);
  h->magic = MAGIC;
  h->size = size;
  h->mtime_s = (int64_t)st.st_mtim.tv_sec;
  h->mtime_ns = (int64_t)st.st_mtim.tv_nsec;
  h->trace_hash = ctrace_tl_hash(ctrace_tl_hash(size, data, n), data + size - n, n);
  return 0;
}

/* Fills dir and base from v->path: beside the trace (xdg 0) or in the
 * user's cache directory (xdg 1; made when asked). -1 when there is none. */
static int cache_path(const struct ctrace_view *v, int xdg, int make, char *out, size_t len) {
  const char *p = v->path;
  const char *slash = strrchr(p, '/');
  const char *base = slash ? slash + 1 : p;
  if (!*base)
    return -1;
  if (!xdg) {
    int dl = slash ? (int)(slash - p) : 0;
    int w = slash ? snprintf(out, len, "%.*s/.%s.ctidx", dl ? dl : 1, dl ? p : "/", base)
                  : snprintf(out, len, ".%s.ctidx", base);
    return w > 0 && (size_t)w < len ? 0 : -1;
  }
  char dir[PATH_MAX];
  const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int w = x && *x == '/' ? snprintf(dir, sizeof dir, "%s/ctrace", x)
          : home && *home ? snprintf(dir, sizeof dir, "%s/.cache/ctrace", home)
                          : -1;
  if (w < 0 || (size_t)w >= sizeof dir)
    return -1;
  if (make) {
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)(strrchr(dir, '/') - dir), dir);
    mkdir(parent, 0700);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
      return -1;
  }
  char abs[PATH_MAX];
  if (!realpath(p, abs))
    snprintf(abs, sizeof abs, "%s", p);
  uint64_t id = ctrace_tl_hash(0, abs, strlen(abs));
  w = snprintf(out, len, "%s/%s-%016llx.ctidx", dir, base, (unsigned long long)id);
  return w > 0 && (size_t)w < len ? 0 : -1;
}

/* ---- the stats' part of the body ---- */
static int put(FILE *f, uint64_t *h, const void *p, size_t n) {
  if (!n)
    return 0;
  *h = ctrace_tl_hash(*h, p, n);
  return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int stats_save(const struct ctrace_stats *st, FILE *f, uint64_t *h) {
  struct ctrace_stats c = *st;
  c.task_names = c.region_names = NULL;
  c.state_ns = NULL;
  c.procs = NULL;
  size_t nstate = (size_t)st->threads * CTRACE_ST_COUNT + 1;
  if (!st->procs)
    return -1;
  size_t nprocs = st->processes; /* procs has this many entries */
  return put(f, h, &c, sizeof c) || put(f, h, st->task_names, st->ntask_names * sizeof *st->task_names) ||
                 put(f, h, st->region_names, st->nregion_names * sizeof *st->region_names) ||
                 put(f, h, st->state_ns, nstate * sizeof *st->state_ns) ||
                 put(f, h, st->procs, nprocs * sizeof *st->procs)
             ? -1
             : 0;
}

static int get(FILE *f, uint64_t *h, uint64_t *left, void *p, size_t n) {
  if (n > *left || (n && fread(p, 1, n, f) != n))
    return -1;
  *left -= n;
  if (n)
    *h = ctrace_tl_hash(*h, p, n);
  return 0;
}

static int names_ok(const ctrace_reader *r, const struct ctrace_name_count *v, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (v[i].name > ctrace_reader_nstrings(r))
      return 0;
  return 1;
}

static int stats_load(const ctrace_reader *r, struct ctrace_stats *st, FILE *f, uint64_t *h,
                      uint64_t *left) {
  memset(st, 0, sizeof *st);
  struct ctrace_stats c;
  if (get(f, h, left, &c, sizeof c) < 0 || c.threads != ctrace_reader_nthreads(r) ||
      c.processes != (ctrace_reader_nprocesses(r) ? ctrace_reader_nprocesses(r) : 1))
    return -1;
  c.task_names = c.region_names = NULL; /* pointers of the process that wrote it */
  c.state_ns = NULL;
  c.procs = NULL;
  c.sched_reason[sizeof c.sched_reason - 1] = 0;
  c.samples[sizeof c.samples - 1] = 0;
  size_t nstate = (size_t)c.threads * CTRACE_ST_COUNT + 1;
  if (c.ntask_names > *left / sizeof *c.task_names ||
      c.nregion_names > *left / sizeof *c.region_names || nstate > *left / sizeof *c.state_ns)
    return -1;
  c.task_names = malloc(c.ntask_names * sizeof *c.task_names + 1);
  c.region_names = malloc(c.nregion_names * sizeof *c.region_names + 1);
  c.state_ns = malloc(nstate * sizeof *c.state_ns);
  if (c.processes <= *left / sizeof *c.procs)
    c.procs = malloc(c.processes * sizeof *c.procs);
  if (!c.task_names || !c.region_names || !c.state_ns || !c.procs ||
      get(f, h, left, c.task_names, c.ntask_names * sizeof *c.task_names) < 0 ||
      get(f, h, left, c.region_names, c.nregion_names * sizeof *c.region_names) < 0 ||
      get(f, h, left, c.state_ns, nstate * sizeof *c.state_ns) < 0 ||
      get(f, h, left, c.procs, c.processes * sizeof *c.procs) < 0 ||
      !names_ok(r, c.task_names, c.ntask_names) || !names_ok(r, c.region_names, c.nregion_names)) {
    ctrace_stats_free(&c);
    return -1;
  }
  *st = c;
  return 0;
}

/* ---- loading ---- */
static int load_from(struct ctrace_view *v, const char *file, const struct head *want) {
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return -1;
  struct stat st;
  FILE *f = NULL;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "rb"))) {
    close(fd);
    return -1;
  }
  struct head h;
  struct ctrace_timeline *tl = NULL;
  if (fread(&h, sizeof h, 1, f) != 1 || h.magic != want->magic || h.size != want->size ||
      h.mtime_s != want->mtime_s || h.mtime_ns != want->mtime_ns ||
      h.trace_hash != want->trace_hash || h.zero != 0 ||
      h.body_len != (uint64_t)st.st_size - sizeof h)
    goto fail;
  uint64_t hash = 0, left = h.body_len;
  if (ctrace_timeline_load(v->r, f, left, &hash, &tl) < 0)
    goto fail;
  left = h.body_len - (uint64_t)ftello(f) + sizeof h;
  if (stats_load(v->r, &v->st, f, &hash, &left) < 0)
    goto fail;
  if (left != 0 || hash != h.body_hash) {
    ctrace_stats_free(&v->st);
    goto fail;
  }
  fclose(f);
  v->tl = tl;
  return 0;
fail:
  ctrace_timeline_free(tl);
  fclose(f);
  return -1;
}

int ctrace__view_cache_load(struct ctrace_view *v) {
  struct head want;
  if (!v->path || identity(v, &want) < 0)
    return -1;
  for (int xdg = 0; xdg < 2; xdg++) {
    char file[PATH_MAX];
    if (cache_path(v, xdg, 0, file, sizeof file) == 0 && load_from(v, file, &want) == 0) {
      snprintf(v->cache_file, sizeof v->cache_file, "%s", file);
      return 0;
    }
  }
  return -1;
}

/* ---- saving ---- */
/* The file written through a cookie that fails once the view is closing:
 * stopping `ctrace view` does not wait for a big cache to be written. */
struct cancel_fd {
  int fd;
  const int *cancel;
};
static ssize_t cancel_write(void *c, const char *buf, size_t n) {
  struct cancel_fd *cf = c;
  if (__atomic_load_n(cf->cancel, __ATOMIC_ACQUIRE)) {
    errno = ECANCELED;
    return -1;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(cf->fd, buf + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return done ? (ssize_t)done : -1;
    done += (size_t)w;
  }
  return (ssize_t)n;
}
static int cancel_seek(void *c, off64_t *off, int whence) {
  off_t r = lseek(((struct cancel_fd *)c)->fd, (off_t)*off, whence);
  if (r < 0)
    return -1;
  *off = r;
  return 0;
}
static int cancel_close(void *c) {
  return close(((struct cancel_fd *)c)->fd);
}

static int save_to(struct ctrace_view *v, const char *file, const struct head *id) {
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  struct cancel_fd cf = {fd, &v->cache_cancel};
  FILE *f = fopencookie(&cf, "wb", (cookie_io_functions_t){NULL, cancel_write, cancel_seek,
                                                           cancel_close});
  if (!f) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  struct head h = *id;
  uint64_t hash = 0;
  int err = fwrite(&h, sizeof h, 1, f) != 1 || ctrace_timeline_save(v->tl, f, &hash) < 0 ||
            stats_save(&v->st, f, &hash) < 0;
  if (!err) {
    off_t end = ftello(f);
    h.body_len = (uint64_t)end - sizeof h;
    h.body_hash = hash;
    err = fseeko(f, 0, SEEK_SET) < 0 || fwrite(&h, sizeof h, 1, f) != 1;
  }
  err |= fclose(f) != 0;
  if (err || rename(tmp, file) < 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void *save_thread(void *arg) {
  struct ctrace_view *v = arg;
  struct head id;
  if (identity(v, &id) < 0)
    return NULL;
  for (int xdg = 0; xdg < 2; xdg++) {
    char file[PATH_MAX];
    if (cache_path(v, xdg, 1, file, sizeof file) == 0 && save_to(v, file, &id) == 0) {
      snprintf(v->cache_file, sizeof v->cache_file, "%s", file);
      __atomic_store_n(&v->cache_state, CTRACE_CACHE_SAVED, __ATOMIC_RELEASE);
      return NULL;
    }
  }
  __atomic_store_n(&v->cache_state, CTRACE_CACHE_UNSAVED, __ATOMIC_RELEASE);
  return NULL;
}

void ctrace__view_cache_save_start(struct ctrace_view *v) {
  if (!v->path)
    return;
  v->cache_state = CTRACE_CACHE_SAVING;
  if (pthread_create(&v->cache_writer, NULL, save_thread, v) == 0)
    v->cache_writing = 1;
  else
    save_thread(v);
}

void ctrace__view_cache_wait(struct ctrace_view *v) {
  if (v->cache_writing)
    pthread_join(v->cache_writer, NULL);
  v->cache_writing = 0;
}

void ctrace__view_cache_join(struct ctrace_view *v) {
  __atomic_store_n(&v->cache_cancel, 1, __ATOMIC_RELEASE); /* a half-written cache is dropped */
  if (v->cache_writing)
    pthread_join(v->cache_writer, NULL);
  v->cache_writing = 0;
}

const char *ctrace_view_cache_state(const struct ctrace_view *v) {
  switch (__atomic_load_n(&v->cache_state, __ATOMIC_ACQUIRE)) {
  case CTRACE_CACHE_LOADED:
    return "loaded";
  case CTRACE_CACHE_SAVING:
    return "saving";
  case CTRACE_CACHE_SAVED:
    return "saved";
  case CTRACE_CACHE_UNSAVED:
    return "unsaved";
  default:
    return "off";
  }
}
