/*
 * view_cache.c - `ctrace view`'s index cache file: the timeline index and
 * the stats of a trace, written once after they were built and mapped
 * when the same trace is opened again (view.h).
 *
 * Where: beside the trace, as `.NAME.ctidx`; when that directory cannot be
 * written, in $XDG_CACHE_HOME/ctrace (~/.cache/ctrace) as
 * `NAME-HASH.ctidx` (HASH: of the trace's absolute path). Written only
 * for an index that took a second or more to build or holds 32 MiB or more
 * (a small trace is indexed again sooner than its cache is worth keeping;
 * a big index's memory is given back once its cache is written: the
 * file's pages stand for its arrays, ctrace_timeline_adopt);
 * CTRACE_INDEX_CACHE=on writes it always, =off neither reads nor writes it.
 *
 * The file is timeline_cache.h's: a head of one page, then sections, each
 * an array as it is in memory, mapped and used in place (no inflating, no
 * copying: the page cache serves it, and the server's memory counts only
 * the pages its answers touch). The timeline's sections come first, then
 * the stats' (the struct, its task and region names, its per-thread state
 * times, its processes: copied at load, they are small). The head's id is
 * the trace's identity: its size, modification time (s, ns) and a hash of
 * its first and last 64 KiB (its header, its last batch).
 *
 * A cache is used only when its head names this layout and this very
 * trace, and every check of timeline_cache.h passes (hashes of the head and
 * of each section, every count, index, range and trace offset); else it is
 * ignored and replaced once the index is built again (as are the
 * compressed caches of earlier versions, "CTIDX02", and "CTIDX01"). It is
 * written to a temporary file renamed into place: a reader never sees
 * half of one, and no file is changed in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../analyze/timeline_cache.h"
#include "view.h"

#define MAGIC 0x0a33305844495443ull /* "CTIDX03\n" little-endian */
#define EDGE (64u << 10)

int ctrace__view_cache_enabled(void) {
  const char *e = getenv("CTRACE_INDEX_CACHE");
  return !(e && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0));
}

int ctrace__view_cache_worth(int64_t build_ns, size_t bytes) {
  const char *e = getenv("CTRACE_INDEX_CACHE");
  if (e && strcmp(e, "on") == 0)
    return 1;
  return ctrace__view_cache_enabled() &&
         (build_ns >= CTRACE_CACHE_MIN_BUILD_NS || bytes >= CTRACE_CACHE_MIN_BYTES);
}

/* The trace's identity: its size, mtime and the hash of its two ends. */
static int identity(const struct ctrace_view *v, uint64_t id[CTRACE_CACHE_ID_WORDS]) {
  struct stat st;
  if (stat(v->path, &st) < 0)
    return -1;
  uint64_t size = ctrace_reader_file_size(v->r);
  if ((uint64_t)st.st_size != size)
    return -1; /* changed since it was mapped */
  const uint8_t *data = ctrace_reader_data(v->r);
  size_t n = size < EDGE ? (size_t)size : EDGE;
  memset(id, 0, CTRACE_CACHE_ID_WORDS * sizeof *id);
  id[0] = size;
  id[1] = (uint64_t)st.st_mtim.tv_sec;
  id[2] = (uint64_t)st.st_mtim.tv_nsec;
  id[3] = ctrace_tl_hash(ctrace_tl_hash(size, data, n), data + size - n, n);
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

/* ---- the stats' sections ---- */
enum {
  SEC_STATS = CTRACE_TL_NSECTIONS, /* the struct, its pointers NULL */
  SEC_TASK_NAMES,
  SEC_REGION_NAMES,
  SEC_STATE_NS,
  SEC_PROCS,
  SEC_COUNTERS, /* api_find.c's: CTRACE_COUNTERS_SECTIONS of them */
  NSECTIONS = SEC_COUNTERS + CTRACE_COUNTERS_SECTIONS
};
_Static_assert(NSECTIONS <= CTRACE_CACHE_MAX_SECTIONS, "room in the head");

static uint64_t layout(void) {
  uint64_t v[] = {ctrace_timeline_layout(), NSECTIONS, sizeof(struct ctrace_stats),
                  sizeof(struct ctrace_name_count), sizeof(struct ctrace_proc_stats), 4};
  return ctrace_tl_hash(0, v, sizeof v);
}

/* The stats as written: every field copied into zeroed memory, so that the
 * padding is zero and two caches of one index are the same bytes. A new
 * field changes the struct's size, which this assertion then asks to be
 * copied here too. */
_Static_assert(sizeof(struct ctrace_stats) == 2888 && sizeof(struct ctrace_sched_totals) == 64,
               "struct ctrace_stats changed: copy the new field in stats_clean");
static void stats_clean(struct ctrace_stats *c, const struct ctrace_stats *st) {
  memset(c, 0, sizeof *c);
  c->duration_ns = st->duration_ns;
  c->processes = st->processes;
  c->threads = st->threads;
  c->events = st->events;
  memcpy(c->by_kind, st->by_kind, sizeof c->by_kind);
  c->bytes = st->bytes;
  c->bytes_per_event = st->bytes_per_event;
  c->dropped_events = st->dropped_events;
  c->tasks = st->tasks;
  c->regions = st->regions;
  c->logs = st->logs;
  c->tracer_overhead_ns = st->tracer_overhead_ns;
  c->tracer_events = st->tracer_events;
  c->sync_events = st->sync_events;
  c->sleep_events = st->sleep_events;
  c->io_events = st->io_events;
  c->net_events = st->net_events;
  c->poll_events = st->poll_events;
  c->proc_events = st->proc_events;
  c->ntask_names = st->ntask_names;
  c->nregion_names = st->nregion_names;
  c->known = st->known;
  c->sched.recorded = st->sched.recorded;
  c->sched.intervals = st->sched.intervals;
  c->sched.samples = st->sched.samples;
  c->sched.lost = st->sched.lost;
  c->sched.unmatched = st->sched.unmatched;
  c->sched.bad = st->sched.bad;
  c->sched.sched_bytes = st->sched.sched_bytes;
  c->sched.ncpus = st->sched.ncpus;
  /* the strings up to their end: what follows it may be anything */
  memcpy(c->sched_reason, st->sched_reason, strnlen(st->sched_reason, sizeof c->sched_reason - 1));
  memcpy(c->samples, st->samples, strnlen(st->samples, sizeof c->samples - 1));
  memcpy(c->state_total_ns, st->state_total_ns, sizeof c->state_total_ns);
}

static void put_names(struct ctrace_cache_out *o, unsigned sec, const struct ctrace_name_count *v,
                      uint32_t n) {
  ctrace_cache_section(o, sec);
  struct ctrace_name_count buf[256];
  for (uint32_t k = 0; k < n; k += 256) {
    uint32_t m = n - k < 256 ? n - k : 256;
    memset(buf, 0, sizeof buf);
    for (uint32_t j = 0; j < m; j++) {
      buf[j].name = v[k + j].name;
      buf[j].count = v[k + j].count;
      buf[j].total_ns = v[k + j].total_ns;
    }
    ctrace_cache_put(o, buf, m * sizeof *buf);
  }
}

static void stats_save(const struct ctrace_stats *st, struct ctrace_cache_out *o) {
  struct ctrace_stats c;
  stats_clean(&c, st);
  ctrace_cache_section(o, SEC_STATS);
  ctrace_cache_put(o, &c, sizeof c);
  put_names(o, SEC_TASK_NAMES, st->task_names, st->ntask_names);
  put_names(o, SEC_REGION_NAMES, st->region_names, st->nregion_names);
  ctrace_cache_section(o, SEC_STATE_NS);
  ctrace_cache_put(o, st->state_ns, ((size_t)st->threads * CTRACE_ST_COUNT + 1) * sizeof *st->state_ns);
  ctrace_cache_section(o, SEC_PROCS);
  for (uint32_t k = 0; st->procs && k < st->processes; k++) {
    struct ctrace_proc_stats p;
    memset(&p, 0, sizeof p);
    p.threads = st->procs[k].threads;
    p.events = st->procs[k].events;
    p.bytes = st->procs[k].bytes;
    p.start_ns = st->procs[k].start_ns;
    p.end_ns = st->procs[k].end_ns;
    memcpy(p.state_ns, st->procs[k].state_ns, sizeof p.state_ns);
    ctrace_cache_put(o, &p, sizeof p);
  }
}

static int names_ok(const ctrace_reader *r, const struct ctrace_name_count *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i].name > ctrace_reader_nstrings(r))
      return 0;
  return 1;
}

/* A copy of n elements of size (a valid pointer when n is 0), or NULL. */
static void *copy(const void *p, size_t n, size_t size) {
  void *c = malloc(n * size + 1);
  if (c && n)
    memcpy(c, p, n * size);
  return c;
}

static int stats_load(const ctrace_reader *r, struct ctrace_stats *st,
                      const struct ctrace_cache_in *in) {
  memset(st, 0, sizeof *st);
  int bad = 0;
  size_t n = 0, ntask = 0, nregion = 0, nstate = 0, nprocs = 0;
  const struct ctrace_stats *s = ctrace_cache_get(in, SEC_STATS, sizeof *s, &n, &bad);
  if (!s || n != 1)
    return -1;
  struct ctrace_stats c = *s;
  c.task_names = c.region_names = NULL; /* pointers of the process that wrote it */
  c.state_ns = NULL;
  c.procs = NULL;
  c.sched_reason[sizeof c.sched_reason - 1] = 0;
  c.samples[sizeof c.samples - 1] = 0;
  const struct ctrace_name_count *tn =
      ctrace_cache_get(in, SEC_TASK_NAMES, sizeof *tn, &ntask, &bad);
  const struct ctrace_name_count *rn =
      ctrace_cache_get(in, SEC_REGION_NAMES, sizeof *rn, &nregion, &bad);
  const uint64_t *sn = ctrace_cache_get(in, SEC_STATE_NS, sizeof *sn, &nstate, &bad);
  const struct ctrace_proc_stats *ps = ctrace_cache_get(in, SEC_PROCS, sizeof *ps, &nprocs, &bad);
  if (bad || c.threads != ctrace_reader_nthreads(r) ||
      c.processes != (ctrace_reader_nprocesses(r) ? ctrace_reader_nprocesses(r) : 1) ||
      ntask != c.ntask_names || nregion != c.nregion_names ||
      nstate != (size_t)c.threads * CTRACE_ST_COUNT + 1 || nprocs != c.processes ||
      !names_ok(r, tn, ntask) || !names_ok(r, rn, nregion))
    return -1;
  c.task_names = copy(tn, ntask, sizeof *tn);
  c.region_names = copy(rn, nregion, sizeof *rn);
  c.state_ns = copy(sn, nstate, sizeof *sn);
  c.procs = copy(ps, nprocs, sizeof *ps);
  if (!c.task_names || !c.region_names || !c.state_ns || !c.procs) {
    ctrace_stats_free(&c);
    return -1;
  }
  *st = c;
  return 0;
}

/* ---- loading ---- */
static int load_from(struct ctrace_view *v, const char *file, const uint64_t *id) {
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return -1;
  struct ctrace_cache_in in;
  int err = ctrace_cache_in_open(&in, fd, MAGIC, layout(), id, NSECTIONS);
  close(fd);
  if (err < 0)
    return -1;
  /* A cache of this trace (its head says so): the reader's validating pass
   * read the whole trace, whose pages go before the index's are checked,
   * not after (the open's peak of memory held both) */
  ctrace_view_release_pages();
  ctrace_cache_release(in.base, CTRACE_CACHE_ALIGN); /* the head: copied */
  struct ctrace_timeline *tl = NULL;
  if (stats_load(v->r, &v->st, &in) < 0)
    goto fail;
  if (ctrace_timeline_load(v->r, &in, &tl) < 0) {
    ctrace_stats_free(&v->st);
    goto fail;
  }
  v->tl = tl;
  if (ctrace__counters_load(v, &in, SEC_COUNTERS) < 0) {
    v->tl = NULL;
    ctrace_timeline_free(tl);
    ctrace_stats_free(&v->st);
    goto fail;
  }
  ctrace_cache_in_end(&in);
  v->cache_map = in.base; /* the timeline's arrays: unmapped by ctrace_view_fini */
  v->cache_map_len = in.len;
  ctrace_view_guard_add(in.base, in.len);
  return 0;
fail:
  ctrace_cache_in_close(&in);
  return -1;
}

int ctrace__view_cache_load(struct ctrace_view *v) {
  uint64_t id[CTRACE_CACHE_ID_WORDS];
  if (!v->path || identity(v, id) < 0)
    return -1;
  for (int xdg = 0; xdg < 2; xdg++) {
    char file[PATH_MAX];
    if (cache_path(v, xdg, 0, file, sizeof file) == 0 && load_from(v, file, id) == 0) {
      snprintf(v->cache_file, sizeof v->cache_file, "%s", file);
      return 0;
    }
  }
  return -1;
}

void ctrace__view_cache_unmap(struct ctrace_view *v) {
  if (!v->cache_map)
    return;
  ctrace_view_guard_remove(v->cache_map);
  munmap((void *)v->cache_map, v->cache_map_len);
  v->cache_map = NULL;
}

/* ---- saving ---- */
static int guard_add(void *arg, const void *p, size_t n) {
  return ctrace_view_guard_add(p, n);
}
static void guard_remove(void *arg, const void *p) {
  ctrace_view_guard_remove(p);
}
const struct ctrace_tl_guard *ctrace__view_guard(void) {
  static const struct ctrace_tl_guard g = {guard_add, guard_remove, NULL};
  return &g;
}

/* Bytes of memory available (MemAvailable), or 0 when unknown. */
static uint64_t mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  char line[128];
  unsigned long long kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
      break;
  if (f)
    fclose(f);
  return (uint64_t)kb << 10;
}

int ctrace__view_spill_wanted(uint64_t file_size) {
  const char *e = getenv("CTRACE_INDEX_SPILL");
  if (e && strcmp(e, "on") == 0)
    return 1;
  if ((e && strcmp(e, "off") == 0) || file_size < CTRACE_SPILL_MIN_FILE)
    return 0;
  uint64_t avail = mem_available();
  return avail && file_size * 4 > avail / 8; /* the index: about 4x the file */
}

int ctrace__view_spill_file(const struct ctrace_view *v) {
  if (!v->path || !ctrace__view_cache_enabled() ||
      !ctrace__view_spill_wanted(ctrace_reader_file_size(v->r)))
    return -1;
  for (int xdg = 0; xdg < 2; xdg++) {
    char file[PATH_MAX];
    if (cache_path(v, xdg, xdg, file, sizeof file) < 0)
      continue;
    char *slash = strrchr(file, '/');
    if (slash)
      *slash = 0;
    int fd = open(slash ? (*file ? file : "/") : ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd >= 0)
      return fd;
  }
  return -1;
}

static int save_to(struct ctrace_view *v, const char *file, const uint64_t *id) {
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
  int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  /* the stopping of `ctrace view` stops the writing (the file is dropped) */
  struct ctrace_cache_out *o = malloc(sizeof *o);
  int err = !o;
  if (o) {
    ctrace_cache_out_init(o, fd, &v->cache_cancel, layout(), id);
    o->head.magic = MAGIC;
    ctrace_timeline_save(v->tl, o);
    stats_save(&v->st, o);
    ctrace__counters_save(v, o, SEC_COUNTERS);
    err = ctrace_cache_out_end(o, NSECTIONS) < 0;
  }
  int keep = err ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0); /* for adopting, below */
  err |= close(fd) != 0;
  if (err || rename(tmp, file) < 0) {
    if (keep >= 0)
      close(keep);
    free(o);
    unlink(tmp);
    return -1;
  }
  /* The index's memory given back: its big arrays become the file's pages
   * (the same bytes; what a second open maps) */
  if (keep >= 0) {
    ctrace_timeline_adopt(v->tl, keep, &o->head, &v->cache_cancel, ctrace__view_guard(),
                          &v->adopted);
    close(keep);
  }
  free(o);
  return 0;
}

static void *save_thread(void *arg) {
  struct ctrace_view *v = arg;
  uint64_t id[CTRACE_CACHE_ID_WORDS];
  /* Writing the index is hashing and the kernel copying it into the page
   * cache (about a second of CPU per 10 M events): after the first
   * timeline answer, which the page is waiting for, or a few seconds
   * (the page may never ask); then at the server's own priority, so that
   * a loaded machine does not starve it (it is cancelled, and the next
   * open indexes again, when `ctrace view` stops before it is written). */
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += CTRACE_CACHE_WAIT_S;
  pthread_mutex_lock(&v->cache_lock);
  while (!v->cache_go)
    if (pthread_cond_timedwait(&v->cache_cond, &v->cache_lock, &until) != 0)
      break;
  pthread_mutex_unlock(&v->cache_lock);
  if (identity(v, id) < 0)
    return NULL;
  for (int xdg = 0; xdg < 2; xdg++) {
    char file[PATH_MAX];
    if (cache_path(v, xdg, 1, file, sizeof file) == 0 && save_to(v, file, id) == 0) {
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
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&v->cache_lock, NULL);
  pthread_cond_init(&v->cache_cond, &ca);
  pthread_condattr_destroy(&ca);
  v->cache_go = 0;
  if (pthread_create(&v->cache_writer, NULL, save_thread, v) == 0) {
    v->cache_writing = 1;
  } else {
    v->cache_go = 1;
    save_thread(v);
    pthread_cond_destroy(&v->cache_cond);
    pthread_mutex_destroy(&v->cache_lock);
  }
}

void ctrace__view_cache_go(struct ctrace_view *v) {
  if (!v->cache_writing)
    return;
  pthread_mutex_lock(&v->cache_lock);
  v->cache_go = 1;
  pthread_cond_signal(&v->cache_cond);
  pthread_mutex_unlock(&v->cache_lock);
}

void ctrace__view_cache_wait(struct ctrace_view *v) {
  if (!v->cache_writing)
    return;
  ctrace__view_cache_go(v);
  pthread_join(v->cache_writer, NULL);
  pthread_cond_destroy(&v->cache_cond);
  pthread_mutex_destroy(&v->cache_lock);
  v->cache_writing = 0;
}

void ctrace__view_cache_join(struct ctrace_view *v) {
  __atomic_store_n(&v->cache_cancel, 1, __ATOMIC_RELEASE); /* a half-written cache is dropped */
  ctrace__view_cache_wait(v);
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
