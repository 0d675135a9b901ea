/*
 * symbolize.c - see symbolize.h. One Dwfl session per object on disk
 * (path and build-id), reported at its own addresses: a PC is first placed
 * in a mapping of its process's file (a process tree has one address space
 * per process image, and two images may load different objects at the same
 * addresses), then looked up in that object at PC minus the mapping's load
 * bias. Results are cached per object and offset because stacks repeat,
 * and repeat across the processes of a tree.
 *
 * The trace is untrusted input, and its MAPPING records name the files this
 * code opens. So: an object is opened without blocking and used only when it
 * is a non-empty regular file of at most SYM_MAX_FILE bytes (a FIFO, a device
 * or a directory is skipped), at most SYM_MAX_OPENS files are tried and at most
 * SYM_MAX_OBJECTS are kept, libdw's debuginfod client is switched off (no
 * network), and the PC-to-mapping lookup is a binary search over disjoint
 * segments built once, so that the time stays proportional to the file
 * whatever the number of mappings.
 */
#include "symbolize.h"

#include "../base/hash.h"
#include "../base/vec.h"

#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Distinct objects reported to libdw (each keeps a file descriptor open). */
#define SYM_MAX_OBJECTS 512
/* Paths tried, successful or not. */
#define SYM_MAX_OPENS 2048
/* Bigger files are not read. */
#define SYM_MAX_FILE ((off_t)2 << 30)

/* [start, end) belongs to mapping map (the first mapping of the trace that
 * covers it). Sorted, disjoint. */
struct segment {
  uint64_t start, end;
  uint32_t map;
};

struct ctrace_mapindex {
  struct segment *segs;
  size_t n;
};

/* An object already tried: key (path string id, bias). */
struct object_key {
  uint64_t bias;
  uint32_t path; /* 0: empty slot */
};

/* An object on disk reported to libdw, in a session of its own. */
struct sym_object {
  Dwfl *dwfl;
};

struct ctrace_symbolizer {
  const ctrace_reader *r;
  char **paths; /* by string id, NUL-terminated copies, filled on use */
  uint32_t npaths;
  /* per file (process image) of the trace: its mappings' index, built on use */
  ctrace_mapindex **fmaps;
  uint32_t nfiles;
  /* per mapping: its object (index into objects), -1 when none */
  int32_t *mobj;
  CTRACE_TVEC(struct sym_object) objects;
  /* Resolved frames, and the pc (with the return-address bit folded in)
   * -> index into them. */
  CTRACE_TVEC(struct ctrace_frame) frames;
  struct ctrace_hash cache;
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static const char *path_of(ctrace_symbolizer *s, uint32_t id) {
  if (id == 0 || id > s->npaths)
    return ""; /* no path */
  if (!s->paths[id]) {
    char path[4096];
    ctrace_reader_strcpy(s->r, id, path, sizeof path);
    s->paths[id] = strdup(path);
  }
  return s->paths[id];
}

/* Opens path for reading only if it is a regular file of a sane size: never
 * opens a device (opening one can act: a tape rewinds), never blocks (a FIFO
 * swapped in after the stat), skips empty files (/proc's, which may block
 * when read). -1 otherwise. */
static int open_regular(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
    return -1;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 64 || st.st_size > SYM_MAX_FILE) {
    close(fd);
    return -1;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0)
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

/* 1 when the file's GNU build-id is the recorded one, or either is unknown. */
static int same_build_id(int fd, const struct ctrace_mapping *m) {
  if (m->build_id_len == 0)
    return 1; /* nothing to compare: trust the path */
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  if (!elf)
    return 0;
  const void *bits;
  ssize_t n = dwelf_elf_gnu_build_id(elf, &bits);
  int same = n <= 0 || ((size_t)n == m->build_id_len && memcmp(bits, m->build_id, (size_t)n) == 0);
  elf_end(elf);
  return same;
}

/* An object's identity: its path and recorded build-id (FNV-1a, 64 bits;
 * never 0). */
static uint64_t object_key(const char *path, const struct ctrace_mapping *m) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    h = (h ^ *p) * 0x100000001b3ull;
  h = (h ^ 0xff) * 0x100000001b3ull;
  for (uint32_t k = 0; k < m->build_id_len; k++)
    h = (h ^ m->build_id[k]) * 0x100000001b3ull;
  return h ? h : 1;
}

/* Reports every object once (key: path and build-id) to libdw, each in a
 * session of its own at its own addresses, within the limits above; notes
 * each mapping's object. */
static void report_objects(ctrace_symbolizer *s) {
  const ctrace_reader *r = s->r;
  uint32_t nm = ctrace_reader_nmappings(r);
  struct ctrace_hash seen = {0}; /* object key -> object index, UINT32_MAX: not usable */
  size_t tried = 0;
  for (uint32_t i = 0; i < nm; i++) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(r, i);
    const char *path = path_of(s, m->path);
    if (!path || path[0] != '/')
      continue; /* [vdso] and the like: nothing on disk */
    uint64_t key = object_key(path, m);
    int64_t k = ctrace_hash_get(&seen, key);
    if (k >= 0) {
      s->mobj[i] = k == UINT32_MAX ? -1 : (int32_t)k;
      continue;
    }
    if (tried >= SYM_MAX_OPENS || s->objects.n >= SYM_MAX_OBJECTS)
      continue;
    tried++;
    uint32_t val = UINT32_MAX;
    int fd = open_regular(path);
    if (fd >= 0 && !same_build_id(fd, m)) {
      close(fd); /* not the recorded object: its symbols would lie */
      fd = -1;
    }
    Dwfl *d = fd >= 0 ? dwfl_begin(&callbacks) : NULL;
    if (d) {
      dwfl_report_begin(d);
      /* On success libdw owns fd and closes it in dwfl_end. */
      int ok = dwfl_report_elf(d, path, path, fd, 0, false) != NULL;
      dwfl_report_end(d, NULL, NULL);
      struct sym_object o = {d};
      if (ok) {
        fd = -1;
        CTRACE_TVEC_PUSH(s->objects, o, fail);
        val = (uint32_t)(s->objects.n - 1);
      } else {
      fail:
        dwfl_end(d);
      }
    }
    if (fd >= 0)
      close(fd);
    if (ctrace_hash_put(&seen, key, val) < 0)
      break;
    s->mobj[i] = val == UINT32_MAX ? -1 : (int32_t)val;
  }
  ctrace_hash_free(&seen);
}

struct edge {
  uint64_t at;
  uint32_t map;
  uint32_t is_end;
};

static int cmp_edges(const void *a, const void *b) {
  const struct edge *x = a, *y = b;
  if (x->at != y->at)
    return x->at < y->at ? -1 : 1;
  return (x->map > y->map) - (x->map < y->map);
}

static void heap_push(uint32_t *h, size_t *n, uint32_t v) {
  size_t i = (*n)++;
  while (i && h[(i - 1) / 2] > v) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = v;
}

static void heap_pop(uint32_t *h, size_t *n) {
  uint32_t v = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n)
      break;
    if (c + 1 < *n && h[c + 1] < h[c])
      c++;
    if (h[c] >= v)
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = v;
}

/* Disjoint segments, each owned by the first mapping (in file order) that
 * covers it: a sweep over the sorted start and end points with a min-heap
 * of the open mappings. O(n log n). */
ctrace_mapindex *ctrace_mapindex_new_range(const ctrace_reader *r, uint32_t first, uint32_t nm) {
  ctrace_mapindex *s = calloc(1, sizeof *s);
  struct edge *e = malloc(((size_t)nm * 2 + 1) * sizeof *e);
  uint32_t *heap = malloc(((size_t)nm + 1) * sizeof *heap);
  unsigned char *closed = calloc((size_t)nm + 1, 1);
  struct segment *segs = malloc(((size_t)nm * 2 + 1) * sizeof *segs);
  if (!s || !e || !heap || !closed || !segs) {
    free(s);
    free(e);
    free(heap);
    free(closed);
    free(segs);
    return NULL;
  }
  s->segs = segs;
  size_t ne = 0;
  for (uint32_t i = first; i < first + nm; i++) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(r, i);
    if (!m || m->start >= m->end)
      continue;
    e[ne++] = (struct edge){m->start, i, 0};
    e[ne++] = (struct edge){m->end, i, 1};
  }
  qsort(e, ne, sizeof *e, cmp_edges);
  size_t nh = 0;
  for (size_t k = 0; k < ne;) {
    uint64_t at = e[k].at;
    for (; k < ne && e[k].at == at; k++) {
      if (e[k].is_end)
        closed[e[k].map - first] = 1;
      else
        heap_push(heap, &nh, e[k].map);
    }
    while (nh && closed[heap[0] - first])
      heap_pop(heap, &nh);
    if (!nh || k == ne)
      continue;
    uint32_t owner = heap[0];
    struct segment *last = s->n ? &s->segs[s->n - 1] : NULL;
    if (last && last->map == owner && last->end == at)
      last->end = e[k].at;
    else
      s->segs[s->n++] = (struct segment){at, e[k].at, owner};
  }
  free(e);
  free(heap);
  free(closed);
  return s;
}

void ctrace_mapindex_free(ctrace_mapindex *s) {
  if (!s)
    return;
  free(s->segs);
  free(s);
}

int64_t ctrace_mapindex_find(const ctrace_mapindex *s, uint64_t pc) {
  size_t lo = 0, hi = s ? s->n : 0;
  while (lo < hi) { /* the first segment ending after pc */
    size_t mid = lo + (hi - lo) / 2;
    if (s->segs[mid].end <= pc)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (s && lo < s->n && s->segs[lo].start <= pc)
    return s->segs[lo].map;
  return -1;
}

ctrace_symbolizer *ctrace_sym_new(const ctrace_reader *r) {
  ctrace_symbolizer *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->r = r;
  s->npaths = ctrace_reader_nstrings(r);
  s->paths = calloc((size_t)s->npaths + 1, sizeof *s->paths);
  s->nfiles = ctrace_reader_nfiles(r);
  s->fmaps = calloc((size_t)s->nfiles + 1, sizeof *s->fmaps);
  uint32_t nm = ctrace_reader_nmappings(r);
  s->mobj = malloc(((size_t)nm + 1) * sizeof *s->mobj);
  if (!s->paths || !s->fmaps || !s->mobj) {
    ctrace_sym_free(s);
    return NULL;
  }
  for (uint32_t i = 0; i < nm; i++)
    s->mobj[i] = -1;
  /* libdw would ask the debuginfod servers of DEBUGINFOD_URLS for missing
   * debug information: never send a trace's build-ids over the network. */
  unsetenv("DEBUGINFOD_URLS");
  elf_version(EV_CURRENT);
  report_objects(s);
  return s;
}

void ctrace_sym_free(ctrace_symbolizer *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->objects.n; i++)
    dwfl_end(s->objects.v[i].dwfl);
  free(s->objects.v);
  if (s->paths)
    for (uint32_t i = 0; i <= s->npaths; i++)
      free(s->paths[i]);
  free(s->paths);
  if (s->fmaps)
    for (uint32_t i = 0; i < s->nfiles; i++)
      ctrace_mapindex_free(s->fmaps[i]);
  free(s->fmaps);
  free(s->mobj);
  for (size_t i = 0; i < s->frames.n; i++) {
    free((char *)s->frames.v[i].function);
    free((char *)s->frames.v[i].file);
  }
  free(s->frames.v);
  ctrace_hash_free(&s->cache);
  free(s);
}

/* The mapping of file's address space that holds pc, or -1. */
static int64_t mapping_of(ctrace_symbolizer *s, uint32_t file, uint64_t pc) {
  if (file >= s->nfiles)
    file = 0;
  if (!s->fmaps[file]) {
    uint32_t first, n = ctrace_reader_file_mappings(s->r, file, &first);
    s->fmaps[file] = ctrace_mapindex_new_range(s->r, first, n);
  }
  return ctrace_mapindex_find(s->fmaps[file], pc); /* NULL (out of memory): -1 */
}

/* Symbolizes offset off (pc - bias) of object obj (-1: none known). */
static void resolve(ctrace_symbolizer *s, int32_t obj, uint64_t off, int ret,
                    struct ctrace_frame *f) {
  uint64_t addr = ret && off ? off - 1 : off;
  f->function = NULL;
  f->file = NULL;
  f->line = 0;
  Dwfl *d = obj >= 0 ? s->objects.v[obj].dwfl : NULL;
  Dwfl_Module *mod = d ? dwfl_addrmodule(d, addr) : NULL;
  if (mod) {
    const char *name = dwfl_module_addrname(mod, addr);
    if (name)
      f->function = strdup(name);
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    if (line) {
      int lineno = 0;
      const char *src = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
      if (src) {
        f->file = strdup(src);
        f->line = lineno;
      }
    }
  }
  if (!f->function)
    f->function = strdup("??");
}

void ctrace_sym_lookup_in(ctrace_symbolizer *s, uint32_t file, uint64_t pc, int return_address,
                          struct ctrace_frame *out) {
  int64_t m = mapping_of(s, file, pc);
  const struct ctrace_mapping *map = m >= 0 ? ctrace_reader_mapping(s->r, (uint32_t)m) : NULL;
  int32_t obj = map ? s->mobj[m] : -1;
  uint64_t off = map ? pc - map->bias : pc;
  int ret = return_address != 0;
  /* The cache: by object and offset (the same in every process that loaded
   * it); a mapping without an object by mapping; no mapping by pc. Exact
   * keys, never 0; a key that does not fit is not cached. */
  uint64_t key = 0;
  if (obj >= 0 && off < (1ull << 52))
    key = (uint64_t)(obj + 1) << 53 | off << 1 | (uint64_t)ret;
  else if (map)
    key = 1ull << 63 | 1ull << 62 | (uint64_t)m << 1 | (uint64_t)ret;
  else if (pc < (1ull << 61))
    key = 1ull << 63 | pc << 1 | (uint64_t)ret;
  int64_t i = key ? ctrace_hash_get(&s->cache, key) : -1;
  if (i < 0) {
    struct ctrace_frame f = {0};
    resolve(s, obj, off, ret, &f);
    f.object = map ? path_of(s, map->path) : NULL;
    f.object_offset = off;
    CTRACE_TVEC_PUSH(s->frames, f, uncached);
    i = (int64_t)s->frames.n - 1;
    if (key)
      (void)ctrace_hash_put(&s->cache, key, (uint32_t)i); /* else: kept in frames, not found again */
    goto done;
  uncached: /* out of memory: the frame is the caller's, kept nowhere */
    f.pc = pc;
    *out = f;
    return;
  }
done:
  *out = s->frames.v[i];
  out->pc = pc;
}

void ctrace_sym_lookup(ctrace_symbolizer *s, uint64_t pc, int return_address,
                       struct ctrace_frame *out) {
  ctrace_sym_lookup_in(s, 0, pc, return_address, out);
}

void ctrace_sym_lookup_stack(ctrace_symbolizer *s, uint64_t stack, uint64_t pc,
                             int return_address, struct ctrace_frame *out) {
  uint32_t file = ctrace_reader_stack_process(s->r, stack);
  ctrace_sym_lookup_in(s, file == UINT32_MAX ? 0 : file, pc, return_address, out);
}
