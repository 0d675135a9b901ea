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
 * then the stats) compressed with zlib (a deflate stream, fastest level:
 * the index is about twice the trace, compressed about a third of that).
 *
 *   u64 magic "CTIDX02\n"   u64 trace size   i64 mtime s   i64 mtime ns
 *   u64 hash of the trace's first and last 64 KiB (its header, its last batch)
 *   u64 body bytes          u64 hash of the body          u64 compressed bytes
 *
 * A cache is used only when the trace's size, modification time and hash
 * equal the header's, the file holds the compressed bytes the header says,
 * they inflate to the body's bytes and hash and every check of the load
 * passes; else it is ignored (and replaced once the index is built again;
 * a cache of the uncompressed first version, "CTIDX01", likewise). It is written to a temporary file renamed into place:
 * a reader never sees half of one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../analyze/timeline_cache.h"
#include "view.h"

#define MAGIC 0x0a32305844495443ull /* "CTIDX02\n" little-endian */
#define ZBUF (256u << 10)
#define EDGE (64u << 10)

struct head {
  uint64_t magic, size;
  int64_t mtime_s, mtime_ns;
  uint64_t trace_hash, body_len, body_hash, zbytes;
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
/* The body inflated from the file, as a stream (fopencookie); its seek
 * only tells where it is (for ftello). */
struct zr {
  int fd;
  z_stream z;
  uint64_t pos;
  int end;
  uint8_t buf[ZBUF];
};
static ssize_t zr_read(void *c, char *p, size_t n) {
  struct zr *r = c;
  if (!n || r->end)
    return 0;
  r->z.next_out = (Bytef *)p;
  r->z.avail_out = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
  uInt want = r->z.avail_out;
  while (r->z.avail_out == want) {
    if (!r->z.avail_in) {
      ssize_t got = read(r->fd, r->buf, sizeof r->buf);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return -1; /* cut short: not a whole stream */
      r->z.next_in = r->buf;
      r->z.avail_in = (uInt)got;
    }
    int zerr = inflate(&r->z, Z_NO_FLUSH);
    if (zerr == Z_STREAM_END) {
      r->end = 1;
      break;
    }
    if (zerr != Z_OK && zerr != Z_BUF_ERROR)
      return -1;
  }
  size_t done = want - r->z.avail_out;
  r->pos += done;
  return (ssize_t)done;
}

static int zr_seek(void *c, off64_t *off, int whence) {
  if (whence != SEEK_CUR || *off != 0) {
    errno = ESPIPE;
    return -1;
  }
  *off = (off64_t)((struct zr *)c)->pos;
  return 0;
}

static int load_from(struct ctrace_view *v, const char *file, const struct head *want) {
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return -1;
  struct stat st;
  struct head h;
  struct zr *zr = NULL;
  FILE *f = NULL;
  struct ctrace_timeline *tl = NULL;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || read(fd, &h, sizeof h) != (ssize_t)sizeof h ||
      h.magic != want->magic || h.size != want->size || h.mtime_s != want->mtime_s ||
      h.mtime_ns != want->mtime_ns || h.trace_hash != want->trace_hash ||
      h.zbytes != (uint64_t)st.st_size - sizeof h || !(zr = calloc(1, sizeof *zr))) {
    close(fd);
    return -1;
  }
  zr->fd = fd;
  if (inflateInit(&zr->z) != Z_OK) {
    free(zr);
    close(fd);
    return -1;
  }
  f = fopencookie(zr, "rb", (cookie_io_functions_t){zr_read, NULL, zr_seek, NULL});
  if (!f)
    goto fail;
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  uint64_t hash = 0, left = h.body_len;
  if (ctrace_timeline_load(v->r, f, left, &hash, &tl) < 0)
    goto fail;
  off64_t at = ftello(f);
  if (at < 0 || (uint64_t)at > h.body_len)
    goto fail;
  left = h.body_len - (uint64_t)at;
  if (stats_load(v->r, &v->st, f, &hash, &left) < 0)
    goto fail;
  char extra;
  if (left != 0 || hash != h.body_hash || zr->pos != h.body_len || fread(&extra, 1, 1, f) != 0 ||
      !zr->end) {
    ctrace_stats_free(&v->st);
    goto fail;
  }
  fclose(f);
  inflateEnd(&zr->z);
  free(zr);
  close(fd);
  v->tl = tl;
  return 0;
fail:
  ctrace_timeline_free(tl);
  if (f)
    fclose(f);
  inflateEnd(&zr->z);
  free(zr);
  close(fd);
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
/* The body deflated into the file through a stream (fopencookie) that fails
 * once the view is closing: stopping `ctrace view` does not wait for a big
 * cache to be written. */
struct zw {
  int fd;
  const int *cancel;
  z_stream z;
  uint64_t in;
  uint8_t buf[ZBUF];
};
static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}
/* Deflates what is in z (flush: Z_NO_FLUSH or Z_FINISH) into the file. */
static int zw_pump(struct zw *w, int flush) {
  for (;;) {
    w->z.next_out = w->buf;
    w->z.avail_out = sizeof w->buf;
    int zerr = deflate(&w->z, flush);
    if (zerr == Z_STREAM_ERROR)
      return -1;
    if (write_all(w->fd, w->buf, sizeof w->buf - w->z.avail_out) < 0)
      return -1;
    if (flush == Z_FINISH ? zerr == Z_STREAM_END : w->z.avail_in == 0 && w->z.avail_out != 0)
      return 0;
  }
}
static ssize_t zw_write(void *c, const char *buf, size_t n) {
  struct zw *w = c;
  if (__atomic_load_n(w->cancel, __ATOMIC_ACQUIRE)) {
    errno = ECANCELED;
    return -1;
  }
  size_t done = 0;
  while (done < n) {
    size_t k = n - done > UINT32_MAX ? UINT32_MAX : n - done;
    w->z.next_in = (Bytef *)(uintptr_t)(buf + done);
    w->z.avail_in = (uInt)k;
    if (zw_pump(w, Z_NO_FLUSH) < 0)
      return done ? (ssize_t)done : -1;
    done += k;
  }
  w->in += n;
  return (ssize_t)n;
}

static int save_to(struct ctrace_view *v, const char *file, const struct head *id) {
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  struct zw *w = calloc(1, sizeof *w);
  if (!w || deflateInit(&w->z, Z_BEST_SPEED) != Z_OK) {
    free(w);
    close(fd);
    unlink(tmp);
    return -1;
  }
  w->fd = fd;
  w->cancel = &v->cache_cancel;
  struct head h = *id;
  FILE *f = NULL;
  int err = lseek(fd, sizeof h, SEEK_SET) < 0 ||
            !(f = fopencookie(w, "wb", (cookie_io_functions_t){NULL, zw_write, NULL, NULL}));
  if (!err) {
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    uint64_t hash = 0;
    err = ctrace_timeline_save(v->tl, f, &hash) < 0 || stats_save(&v->st, f, &hash) < 0;
    err |= fclose(f) != 0;
    h.body_hash = hash;
  }
  if (!err) {
    w->z.avail_in = 0;
    err = zw_pump(w, Z_FINISH) < 0;
  }
  if (!err) {
    off_t end = lseek(fd, 0, SEEK_CUR);
    h.body_len = w->in;
    h.zbytes = (uint64_t)end - sizeof h;
    err = end < 0 || pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h;
  }
  deflateEnd(&w->z);
  free(w);
  err |= close(fd) != 0;
  if (err || rename(tmp, file) < 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void *save_thread(void *arg) {
  struct ctrace_view *v = arg;
  struct head id;
  /* Deflating the index takes seconds of CPU: at the lowest priority
   * (Linux's nice is per thread), so that on a machine of two cores it
   * does not slow the first answers down, which the page is waiting for. */
  setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
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
