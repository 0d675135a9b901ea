/*
 * tree.c - a process tree as one reader (reader.h, "Process trees"): finds
 * the files of a run, maps them into one address range, validates each with
 * the one-file pass, and copies their definitions, threads and batches into
 * one reader with ids renumbered per file (strings: one id per text), on one
 * clock. Not the one-file pass (reader.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r */
#endif
#include "reader_int.h"
#include "sched_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* At most this many files in a tree: every one is mapped and validated. */
#define TREE_MAX_FILES 65536

struct tree_file {
  ctrace_reader *r; /* the file's own reader: header, properties, status */
  char *path;
  uint64_t base;    /* of its bytes in the tree's offsets */
  uint32_t *smap;        /* its string ids [0, snum] -> the tree's, one per text */
  uint64_t kbase;        /* its first stack id in the tree, minus 1 */
  uint32_t snum, knum;   /* how many strings / stacks it defines */
  uint32_t mbase, mnum;  /* its mappings: [mbase, mbase + mnum) of the tree's */
  uint64_t task_hi;      /* its pid << CTRACE_TASK_PID_SHIFT (older task ids) */
  uint64_t link_hi;      /* (its index + 1) << 32: its thread-creation links */
};

static void free_files(struct tree_file *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    ctrace_reader_close(f[i].r);
    free(f[i].path);
    free(f[i].smap);
  }
  free(f);
}

void ctrace__tree_free(ctrace_reader *r) {
  free_files(r->files, r->nfiles);
  r->files = NULL;
  if (r->region)
    munmap(r->region, r->region_size);
  r->region = NULL;
}

void ctrace__tree_cursor(ctrace_cursor *c) {
  const ctrace_reader *r = c->r;
  uint32_t p = c->th->process;
  if (p >= r->nfiles)
    return;
  const struct tree_file *f = &r->files[p];
  c->smap = f->smap;
  c->kbase = f->kbase;
  c->snum = f->snum;
  c->knum = f->knum;
  c->task_hi = f->task_hi;
  c->link_hi = f->link_hi;
  c->shift = 1;
}

/* Which fields of each kind are string and stack ids (format.h names them). */
static int is_word(const char *list, const char *w, size_t n) {
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, " ");
    if (k == n && memcmp(p, w, n) == 0)
      return 1;
    p += k;
    p += *p == ' ';
  }
  return 0;
}

static void id_masks(ctrace_reader *r) {
  for (unsigned k = 0; k < 256; k++) {
    const struct ctrace_kind_info *ki = &ctrace__kinds[k];
    if (!ki->name || !ki->fields)
      continue;
    const char *p = ki->fields;
    for (unsigned i = 0; i < ki->nfields && i < 8 && *p && *p != '|';) {
      size_t n = strcspn(p, " |");
      const char *w = p;
      if (n >= 2 && w[0] == 's' && w[1] == ':') { /* signed: "s:value" */
        w += 2;
        n -= 2;
      }
      if (n) {
        if (is_word(CTRACE_STRING_ID_FIELDS, w, n))
          r->str_mask[k] |= (uint8_t)(1u << i);
        else if (is_word(CTRACE_STACK_ID_FIELDS, w, n))
          r->stk_mask[k] |= (uint8_t)(1u << i);
        else if (is_word(CTRACE_TASK_ID_FIELDS, w, n))
          r->task_mask[k] |= (uint8_t)(1u << i);
        else if (is_word(CTRACE_LINK_ID_FIELDS, w, n))
          r->link_mask[k] |= (uint8_t)(1u << i);
        i++;
      }
      p = w + n;
      while (*p == ' ')
        p++;
    }
  }
}

/* The ids of the file whose bytes hold offset off (for the scheduling
 * records' stacks, sched_read.c). */
void ctrace__reader_stack_range(const ctrace_reader *r, uint64_t off, uint64_t *kbase,
                                uint32_t *knum) {
  if (!r->files) {
    *kbase = 0;
    *knum = ctrace_reader_nstacks(r);
    return;
  }
  /* Files are ordered by start, not by base: once per metadata batch. */
  for (uint32_t i = 0; i < r->nfiles; i++) {
    const struct tree_file *f = &r->files[i];
    if (off >= f->base && off - f->base < f->r->size) {
      *kbase = f->kbase;
      *knum = f->knum;
      return;
    }
  }
  *kbase = 0;
  *knum = 0;
}

static int cmp_sync(const void *a, const void *b) {
  const struct ctrace_clock_sync *x = a, *y = b;
  if (x->ticks != y->ticks)
    return x->ticks < y->ticks ? -1 : 1;
  return (x->mono_ns > y->mono_ns) - (x->mono_ns < y->mono_ns);
}

static int cmp_thread(const void *a, const void *b, void *arg) {
  const struct ctrace_thread_info *v = arg;
  const struct ctrace_thread_info *x = &v[*(const uint32_t *)a], *y = &v[*(const uint32_t *)b];
  if (x->first != y->first)
    return x->first < y->first ? -1 : 1;
  if (x->process != y->process)
    return x->process < y->process ? -1 : 1;
  if (x->tid != y->tid)
    return x->tid < y->tid ? -1 : 1;
  return (x->instance > y->instance) - (x->instance < y->instance);
}

/* Files of one tree sort root first, then by their first event. */
static int cmp_file(const void *a, const void *b) {
  const struct tree_file *x = a, *y = b;
  uint64_t fx = x->r->processes.v[0].first, fy = y->r->processes.v[0].first;
  if (fx != fy)
    return fx < fy ? -1 : 1;
  return strcmp(x->path, y->path);
}

#define GROW(vec, extra, fail)                                                 \
  do {                                                                         \
    size_t need_ = (vec).n + (extra);                                          \
    if (need_ > (vec).cap) {                                                   \
      void *nv_ = ctrace__vec_grow((vec).v, need_, sizeof *(vec).v);           \
      if (!nv_)                                                                \
        goto fail;                                                             \
      (vec).v = nv_;                                                           \
      (vec).cap = need_;                                                       \
    }                                                                          \
  } while (0)

/* Parent links and exec chains of the processes (one per file, sorted by
 * start). The same pid twice in one run is an exec (the kernel does not
 * hand a pid out again that soon); the parent is the image of ppid that
 * ran when the child started: its latest image started before the child,
 * else its first (a child's trace can start before its parent's). */
static void link_processes(ctrace_reader *r) {
  size_t n = r->processes.n;
  struct ctrace_hash head = {0}, tail = {0}; /* pid -> its first / latest image */
  for (size_t i = 0; i < n; i++) {
    struct ctrace_process *p = &r->processes.v[i];
    int64_t k = p->pid ? ctrace_hash_get(&tail, p->pid) : -1;
    if (k >= 0) {
      p->exec_from = (int32_t)k;
      r->processes.v[k].exec_to = (int32_t)i;
    } else if (p->pid) {
      (void)ctrace_hash_set(&head, p->pid, (uint32_t)i);
    }
    if (p->pid)
      (void)ctrace_hash_set(&tail, p->pid, (uint32_t)i);
  }
  for (size_t i = 0; i < n; i++) {
    struct ctrace_process *p = &r->processes.v[i];
    if (p->exec_from >= 0) {
      p->parent = r->processes.v[p->exec_from].parent; /* set: exec_from < i */
      continue;
    }
    int64_t j = p->ppid && p->ppid != p->pid ? ctrace_hash_get(&head, p->ppid) : -1;
    while (j >= 0 && r->processes.v[j].exec_to >= 0 && (size_t)r->processes.v[j].exec_to < i &&
           r->processes.v[r->processes.v[j].exec_to].first <= p->first)
      j = r->processes.v[j].exec_to;
    p->parent = j >= 0 && (size_t)j < i ? (int32_t)j : -1;
  }
  ctrace_hash_free(&head);
  ctrace_hash_free(&tail);
}

/*
 * A file's strings into the tree's: one id per distinct text, so that a
 * name used by several processes (a task, a region, a lock's site) is one
 * id everywhere and a lookup by name finds all of them. bytext: the tree's
 * ids by the hash of their text (the first id of a hash; a text whose hash
 * another text has is kept as an id of its own). 0 or -1 (out of memory).
 */
static int map_strings(ctrace_reader *r, struct tree_file *f, struct ctrace_hash *bytext) {
  const ctrace_reader *s = f->r;
  f->smap = malloc((f->snum + 1) * sizeof *f->smap);
  if (!f->smap)
    return -1;
  f->smap[0] = 0;
  GROW(r->strings, f->snum, oom);
  for (uint32_t i = 1; i <= f->snum; i++) {
    struct ctrace_string str = s->strings.v[i];
    uint64_t key = str.s ? ctrace_hash_bytes(str.s, str.len) : 0;
    int64_t at = key ? ctrace_hash_get(bytext, key) : -1;
    if (at > 0) {
      const struct ctrace_string *o = &r->strings.v[at];
      if (o->len == str.len && memcmp(o->s, str.s, str.len) == 0) {
        f->smap[i] = (uint32_t)at;
        continue;
      }
    }
    uint32_t id = (uint32_t)r->strings.n;
    r->strings.v[r->strings.n++] = str;
    if (key && at < 0 && ctrace_hash_set(bytext, key, id) != 0)
      goto oom;
    f->smap[i] = id;
  }
  return 0;
oom:
  return -1;
}

/* A file's string id as the tree's (UINT32_MAX: one it does not define). */
static uint32_t tree_string(const struct tree_file *f, uint32_t id) {
  return id <= f->snum ? f->smap[id] : UINT32_MAX;
}

/* Copies the files' definitions, threads and batches into r. 0 or -1. */
static int combine(ctrace_reader *r) {
  struct ctrace_string empty = {"", 0};
  struct stack_def none = {0, 0};
  CTRACE_TVEC_PUSH(r->strings, empty, oom);
  CTRACE_TVEC_PUSH(r->stacks, none, oom);
  ctrace_reader *root = r->files[0].r;
  r->pid = root->pid;
  r->minor = root->minor;
  r->flags = root->flags;
  r->hsize = root->hsize;
  r->tick_hz = root->tick_hz;
  r->ended = 1;
  r->first_ticks = UINT64_MAX;
  r->last_ticks = 0;
  for (size_t i = 0; i < root->props.n; i++) {
    char *p = strdup(root->props.v[i]);
    if (!p)
      goto oom;
    CTRACE_TVEC_PUSH(r->props, p, oom_p);
    continue;
  oom_p:
    free(p);
    goto oom;
  }
  struct ctrace_hash bytext = {0};
  size_t nthreads = 0;
  for (uint32_t fi = 0; fi < r->nfiles; fi++)
    nthreads += r->files[fi].r->threads.n;
  CTRACE_TVEC(struct ctrace_thread_info) th = {0};
  GROW(th, nthreads, oom);
  for (uint32_t fi = 0; fi < r->nfiles; fi++) {
    struct tree_file *f = &r->files[fi];
    ctrace_reader *s = f->r;
    f->kbase = r->stacks.n - 1;
    f->snum = (uint32_t)s->strings.n - 1;
    f->knum = (uint32_t)s->stacks.n - 1;
    uint64_t bbase = r->batches.n, pbase = r->pcs.n;
    if (!s->tick_hz != !r->tick_hz && !r->tick_hz)
      r->tick_hz = s->tick_hz;
    if (map_strings(r, f, &bytext) != 0)
      goto oom_th;
    GROW(r->stacks, s->stacks.n - 1, oom_th);
    for (size_t i = 1; i < s->stacks.n; i++) {
      struct stack_def d = s->stacks.v[i];
      d.first += pbase;
      r->stacks.v[r->stacks.n++] = d;
    }
    GROW(r->pcs, s->pcs.n, oom_th);
    if (s->pcs.n)
      memcpy(r->pcs.v + r->pcs.n, s->pcs.v, s->pcs.n * sizeof *s->pcs.v);
    r->pcs.n += s->pcs.n;
    GROW(r->mappings, s->mappings.n, oom_th);
    f->mbase = (uint32_t)r->mappings.n;
    f->mnum = (uint32_t)s->mappings.n;
    for (size_t i = 0; i < s->mappings.n; i++) {
      struct ctrace_mapping m = s->mappings.v[i];
      if (m.path)
        m.path = tree_string(f, m.path);
      r->mappings.v[r->mappings.n++] = m;
    }
    GROW(r->syncs, s->syncs.n, oom_th);
    if (s->syncs.n)
      memcpy(r->syncs.v + r->syncs.n, s->syncs.v, s->syncs.n * sizeof *s->syncs.v);
    r->syncs.n += s->syncs.n;
    GROW(r->batches, s->batches.n, oom_th);
    for (size_t i = 0; i < s->batches.n; i++) {
      struct ctrace_batch_info b = s->batches.v[i];
      b.offset += f->base;
      if (b.thread != UINT32_MAX)
        b.thread += (uint32_t)th.n;
      r->batches.v[r->batches.n++] = b;
    }
    f->link_hi = (uint64_t)(fi + 1) << 32;
    for (size_t i = 0; i < s->threads.n; i++) {
      struct ctrace_thread_info t = s->threads.v[i];
      t.process = fi;
      if (t.start_link)
        t.start_link += f->link_hi; /* as cursors give THREAD_CREATE's */
      if (t.name)
        t.name = tree_string(f, t.name);
      for (uint32_t k = 0; k < t.nbatches; k++)
        t.batches[k] += (uint32_t)bbase; /* the file's own list: renumbered in place */
      th.v[th.n++] = t;
    }
    /* Its process: the file's first PROCESS record, with the tree's ids. */
    struct ctrace_process p = {0};
    if (s->processes.n)
      p = s->processes.v[0];
    else
      p.parent = p.exec_from = p.exec_to = -1;
    p.file = fi;
    if (p.exe)
      p.exe = tree_string(f, p.exe);
    if (p.argv)
      p.argv = tree_string(f, p.argv);
    if (!p.pid)
      p.pid = s->pid;
    f->task_hi = (uint64_t)(p.pid & ((1u << (53 - CTRACE_TASK_PID_SHIFT)) - 1))
                 << CTRACE_TASK_PID_SHIFT;
    CTRACE_TVEC_PUSH(r->processes, p, oom_th);
    for (unsigned k = 0; k < 256; k++)
      r->by_kind[k] += s->by_kind[k];
    r->nevents += s->nevents;
    r->dropped += s->dropped;
    r->unknown += s->unknown;
    if (s->nevents && s->first_ticks < r->first_ticks)
      r->first_ticks = s->first_ticks;
    if (s->nevents && s->last_ticks > r->last_ticks)
      r->last_ticks = s->last_ticks;
    r->good_bytes += s->good_bytes;
    if (!s->ended && s->minor >= 1)
      r->ended = 0;
    if (s->status > r->status ||
        (s->status != CTRACE_READ_OK && r->status == CTRACE_READ_OK)) {
      enum ctrace_read_status st = s->status;
      r->status = st;
      r->err_off = f->base + s->err_off;
      int half = (int)sizeof r->err / 2;
      snprintf(r->err, sizeof r->err, "%.*s: %.*s", half, f->path, half - 3, s->err);
    }
  }
  ctrace_hash_free(&bytext);
  bytext = (struct ctrace_hash){0};
  /* Threads by first event across the tree; a tid seen in several files
   * (an exec'd image continues its pid's main thread) is reused. */
  uint32_t *ord = malloc((th.n + 1) * sizeof *ord), *inv = malloc((th.n + 1) * sizeof *inv);
  if (!ord || !inv) {
    free(ord);
    free(inv);
    goto oom_th;
  }
  for (size_t i = 0; i < th.n; i++)
    ord[i] = (uint32_t)i;
  qsort_r(ord, th.n, sizeof *ord, cmp_thread, th.v);
  GROW(r->threads, th.n, oom_ord);
  GROW(r->prev_same_tid, th.n, oom_ord);
  for (size_t k = 0; k < th.n; k++) {
    inv[ord[k]] = (uint32_t)k;
    struct ctrace_thread_info t = th.v[ord[k]];
    int64_t prev = ctrace_hash_get(&r->tids, t.tid);
    t.instance = prev >= 0 ? r->threads.v[prev].instance + 1 : 0;
    r->threads.v[r->threads.n++] = t;
    r->prev_same_tid.v[r->prev_same_tid.n++] = prev;
    if (ctrace_hash_set(&r->tids, t.tid, (uint32_t)k) < 0)
      goto oom_ord;
  }
  for (size_t i = 0; i < r->batches.n; i++)
    if (r->batches.v[i].thread != UINT32_MAX)
      r->batches.v[i].thread = inv[r->batches.v[i].thread];
  free(ord);
  free(inv);
  free(th.v);
  /* The threads' batch lists point into their files' readers: one pool here. */
  r->batch_pool = malloc((r->batches.n + 1) * sizeof *r->batch_pool);
  if (!r->batch_pool)
    goto oom;
  uint32_t at = 0;
  for (size_t i = 0; i < r->threads.n; i++) {
    struct ctrace_thread_info *t = &r->threads.v[i];
    if (t->nbatches)
      memcpy(r->batch_pool + at, t->batches, t->nbatches * sizeof *t->batches);
    t->batches = r->batch_pool + at;
    at += t->nbatches;
  }
  for (uint32_t fi = 0; fi < r->nfiles; fi++) {
    struct ctrace_process *p = &r->processes.v[fi];
    p->nthreads = 0;
  }
  for (size_t i = 0; i < r->threads.n; i++)
    r->processes.v[r->threads.v[i].process].nthreads++;
  if (r->syncs.n > 1)
    qsort(r->syncs.v, r->syncs.n, sizeof *r->syncs.v, cmp_sync);
  if (r->first_ticks == UINT64_MAX)
    r->first_ticks = r->last_ticks = r->syncs.n ? r->syncs.v[0].ticks : 0;
  link_processes(r);
  return 0;
oom_ord:
  free(ord);
  free(inv);
oom_th:
  free(th.v);
  ctrace_hash_free(&bytext);
oom:
  return -1;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The run id a file names (PROPERTY run), "" when none. */
static const char *run_of(const ctrace_reader *s) {
  const char *v = ctrace_reader_property(s, "run");
  return v ? v : "";
}

/* Opens files[0..n) into one reader. root_filter: drop files of another
 * run than file 0's (a stale file of an earlier run with the same name),
 * and files that cannot be read at all; otherwise those fail the open. */
/* The files of a tree are validated in parallel (their batches are read
 * once, checksummed and indexed: most of an open's work), each into its
 * own part of the reserved range; open_set then takes them in order. */
struct pre_file {
  ctrace_reader *s;
  int rc;
  char why[CTRACE_READ_ERRLEN];
};
struct pre_open {
  char **paths;
  uint8_t *region;
  const size_t *base, *len;
  struct pre_file *out;
  size_t n;
  atomic_size_t next;
};

static void *pre_open_some(void *arg) {
  struct pre_open *p = arg;
  for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;) {
    struct pre_file *o = &p->out[i];
    o->rc = ctrace__reader_open_file(p->paths[i], p->region + p->base[i], p->len[i], 1, &o->s,
                                     o->why, sizeof o->why);
    if (o->rc != 0)
      o->s = NULL;
  }
  return NULL;
}

static void pre_open_all(struct pre_open *p) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t k = cpus > 1 ? (size_t)cpus : 1;
  if (k > 8)
    k = 8;
  if (k > p->n / 4 + 1) /* a few files: not worth a thread */
    k = p->n / 4 + 1;
  pthread_t th[8];
  size_t started = 0;
  for (; started + 1 < k; started++)
    if (pthread_create(&th[started], NULL, pre_open_some, p) != 0)
      break;
  pre_open_some(p);
  for (size_t i = 0; i < started; i++)
    pthread_join(th[i], NULL);
}

static int open_set(char **paths, size_t n, int root_filter, ctrace_reader **out, char *err,
                    size_t errlen) {
  if (n > TREE_MAX_FILES) {
    snprintf(err, errlen, "%zu trace files: more than %d in one tree", n, TREE_MAX_FILES);
    return -1;
  }
  long page = sysconf(_SC_PAGESIZE);
  size_t pg = page > 0 ? (size_t)page : 4096, total = pg; /* offset 0: no file */
  struct pre_file *pre = NULL;
  size_t *size = calloc(n ? n : 1, sizeof *size);
  if (!size) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(paths[i], &st) == 0 && S_ISREG(st.st_mode))
      size[i] = (size_t)st.st_size; /* else: refused at open (never a FIFO) */
    size_t room = (size[i] + pg - 1) / pg * pg + pg; /* a growing file: a page more */
    if (room < size[i] || total + room < total) {
      free(size);
      snprintf(err, errlen, "%s: too large", paths[i]);
      return -1;
    }
    total += room;
  }
  void *region = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region == MAP_FAILED) {
    free(size);
    snprintf(err, errlen, "cannot reserve %zu bytes of address space: %s", total, strerror(errno));
    return -1;
  }
  ctrace_reader *r = calloc(1, sizeof *r);
  struct tree_file *files = calloc(n ? n : 1, sizeof *files);
  if (!r || !files) {
    free(r);
    free(files);
    free(size);
    munmap(region, total);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  r->region = region;
  r->region_size = total;
  r->files = files;
  /* The file may have grown since stat (its process still runs): what
   * fits its room is read, as a file cut off there. */
  size_t *bases = calloc(n ? n : 1, sizeof *bases), *lens = calloc(n ? n : 1, sizeof *lens);
  pre = calloc(n ? n : 1, sizeof *pre);
  if (!bases || !lens || !pre) {
    free(bases);
    free(lens);
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  for (size_t i = 0, b = pg; i < n; i++) {
    size_t room = (size[i] + pg - 1) / pg * pg + pg;
    bases[i] = b;
    lens[i] = room - pg;
    b += room;
  }
  struct pre_open po = {paths, region, bases, lens, pre, n, 0};
  pre_open_all(&po);
  free(bases);
  free(lens);
  size_t base = pg;
  const char *run = NULL;
  for (size_t i = 0; i < n; i++) {
    size_t room = (size[i] + pg - 1) / pg * pg + pg;
    struct tree_file *f = &files[r->nfiles];
    char *why = pre[i].why;
    ctrace_reader *s = pre[i].s;
    int rc = pre[i].rc;
    pre[i].s = NULL; /* taken: closed below or kept in files */
    if (rc == 0 && r->nfiles &&
        (s->flags & CTRACE_FILE_TICKS_TSC) != (files[0].r->flags & CTRACE_FILE_TICKS_TSC)) {
      snprintf(err, errlen,
               "%s and %s count time with different clocks (TSC, CLOCK_MONOTONIC): open them one "
               "at a time",
               files[0].path, paths[i]);
      ctrace_reader_close(s);
      goto fail;
    }
    /* Another run's file; a file that does not say yet (its first
     * metadata batch not written: a process just started) is taken. */
    if (rc == 0 && root_filter && r->nfiles && *run && *run_of(s) && strcmp(run_of(s), run) != 0) {
      ctrace_reader_close(s); /* another run's file */
      rc = 1;
    }
    if (rc != 0) {
      /* its pages are back to the reservation (nothing maps there) */
      mmap((uint8_t *)region + base, room, PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
      if (rc < 0 && (!root_filter || i == 0)) {
        snprintf(err, errlen, "%s", why);
        goto fail;
      }
      base += room;
      continue;
    }
    f->r = s;
    f->base = base;
    f->path = strdup(paths[i]);
    if (!f->path) {
      ctrace_reader_close(s);
      snprintf(err, errlen, "out of memory");
      goto fail;
    }
    if (!r->nfiles)
      run = run_of(s);
    r->nfiles++;
    base += room;
  }
  free(size);
  size = NULL;
  free(pre);
  pre = NULL;
  if (!r->nfiles) {
    snprintf(err, errlen, "no trace files");
    goto fail;
  }
  if (r->nfiles > 2)
    qsort(files + 1, r->nfiles - 1, sizeof *files, cmp_file);
  r->data = region;
  r->size = total;
  id_masks(r);
  if (combine(r) < 0 || ctrace__reader_fit_clock(r) < 0) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  for (uint32_t i = 0; i < r->nfiles; i++)
    ctrace__reader_free_tables(files[i].r);
  r->sched = ctrace__sched_load(r);
  *out = r;
  return 0;
fail:
  free(size);
  for (size_t i = 0; pre && i < n; i++)
    if (pre[i].s)
      ctrace_reader_close(pre[i].s);
  free(pre);
  ctrace_reader_close(r);
  return -1;
}

int ctrace_reader_open_files(const char *const *paths, size_t n, ctrace_reader **out, char *err,
                             size_t errlen) {
  if (n == 1)
    return ctrace_reader_open(paths[0], out, err, errlen);
  return open_set((char **)paths, n, 0, out, err, errlen);
}

/* name is STEM.PID.ctrace or STEM.PID-N.ctrace (docs/FORMAT.md). */
static int is_member(const char *name, const char *stem, size_t len) {
  if (strncmp(name, stem, len) != 0 || name[len] != '.')
    return 0;
  const char *p = name + len + 1;
  if (*p < '0' || *p > '9')
    return 0;
  while (*p >= '0' && *p <= '9')
    p++;
  if (*p == '-') {
    p++;
    if (*p < '0' || *p > '9')
      return 0;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  return strcmp(p, ".ctrace") == 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory and the file stem of path ("." and the name without
 * ".ctrace" when it has no slash). */
static void split_path(const char *path, char *dname, size_t dsize, char *stem, size_t ssize,
                       size_t *slen) {
  snprintf(dname, dsize, "%s", path);
  char *slash = strrchr(dname, '/');
  const char *base = slash ? slash + 1 : path;
  size_t n = strlen(base);
  if (n >= ssize)
    n = ssize - 1;
  memcpy(stem, base, n);
  stem[n] = 0;
  if (n > 7 && strcmp(stem + n - 7, ".ctrace") == 0)
    stem[n -= 7] = 0;
  *slen = n;
  if (slash)
    slash[slash == dname ? 1 : 0] = 0;
  else
    snprintf(dname, dsize, ".");
}

int ctrace_reader_is_tree(const char *path) {
  if (is_dir(path))
    return 1;
  char dname[PATH_MAX], stem[NAME_MAX + 1];
  size_t slen;
  split_path(path, dname, sizeof dname, stem, sizeof stem, &slen);
  DIR *d = opendir(dname);
  if (!d)
    return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d)) != NULL)
    found = is_member(e->d_name, stem, slen);
  closedir(d);
  return found;
}

int ctrace_reader_open_tree(const char *path, ctrace_reader **out, char *err, size_t errlen) {
  int dir = is_dir(path);
  char dname[PATH_MAX], stem[NAME_MAX + 1] = "";
  size_t slen = 0;
  if (dir)
    snprintf(dname, sizeof dname, "%s", path);
  else
    split_path(path, dname, sizeof dname, stem, sizeof stem, &slen);
  DIR *d = opendir(dname);
  if (!d) {
    if (dir) {
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
      return -1;
    }
    return ctrace_reader_open(path, out, err, errlen);
  }
  CTRACE_TVEC(char *) names = {0};
  int rc = -1;
  if (!dir) {
    char *p = strdup(path);
    if (!p)
      goto oom;
    CTRACE_TVEC_PUSH(names, p, oom_root);
    goto listed;
  oom_root:
    free(p);
    goto oom;
  }
listed:;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t nl = strlen(e->d_name);
    if (dir ? !(nl > 7 && strcmp(e->d_name + nl - 7, ".ctrace") == 0)
            : !is_member(e->d_name, stem, slen))
      continue;
    if (names.n >= TREE_MAX_FILES)
      break;
    size_t need = strlen(dname) + nl + 2;
    char *p = malloc(need);
    if (!p)
      goto oom;
    snprintf(p, need, "%s/%s", dname, e->d_name);
    if (dir) {
      struct stat st;
      if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(p);
        continue;
      }
    }
    CTRACE_TVEC_PUSH(names, p, oom_p);
    continue;
  oom_p:
    free(p);
    goto oom;
  }
  closedir(d);
  d = NULL;
  if (names.n > 1)
    qsort(names.v + !dir, names.n - !dir, sizeof *names.v, cmp_str);
  if (names.n == 0) {
    snprintf(err, errlen, "%s: not a regular file (a directory without trace files, *.ctrace)",
             path);
  } else if (names.n == 1) {
    rc = ctrace_reader_open(names.v[0], out, err, errlen);
  } else {
    rc = open_set(names.v, names.n, !dir, out, err, errlen);
    if (rc == 0 && (*out)->nfiles == 1) {
      /* the others were of another run: the one file, read as one file */
      ctrace_reader_close(*out);
      rc = ctrace_reader_open(names.v[0], out, err, errlen);
    }
  }
  goto done;
oom:
  snprintf(err, errlen, "out of memory");
done:
  if (d)
    closedir(d);
  for (size_t i = 0; i < names.n; i++)
    free(names.v[i]);
  free(names.v);
  return rc;
}

uint32_t ctrace_reader_stack_process(const ctrace_reader *r, uint64_t id) {
  if (!id || id >= r->stacks.n)
    return UINT32_MAX;
  if (!r->files)
    return 0;
  uint32_t lo = 0, hi = r->nfiles; /* the last file whose first id is <= id */
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (r->files[mid].kbase < id)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

uint32_t ctrace_reader_file_mappings(const ctrace_reader *r, uint32_t i, uint32_t *first) {
  if (!r->files) {
    *first = 0;
    return i == 0 ? (uint32_t)r->mappings.n : 0;
  }
  *first = i < r->nfiles ? r->files[i].mbase : 0;
  return i < r->nfiles ? r->files[i].mnum : 0;
}

uint32_t ctrace_reader_nfiles(const ctrace_reader *r) { return r->files ? r->nfiles : 1; }
const char *ctrace_reader_file_path(const ctrace_reader *r, uint32_t i) {
  return r->files ? (i < r->nfiles ? r->files[i].path : NULL) : (i == 0 ? "" : NULL);
}
uint64_t ctrace_reader_file_base(const ctrace_reader *r, uint32_t i) {
  return r->files && i < r->nfiles ? r->files[i].base : 0;
}
const ctrace_reader *ctrace_reader_file(const ctrace_reader *r, uint32_t i) {
  return r->files ? (i < r->nfiles ? r->files[i].r : NULL) : (i == 0 ? r : NULL);
}
