/*
 * symbolize.c - see symbolize.h. One Dwfl session per trace; each mapped
 * object is reported once at its recorded load bias; results are cached per
 * PC because stacks repeat.
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

struct ctrace_symbolizer {
  const ctrace_reader *r;
  Dwfl *dwfl;
  char **paths; /* by string id, NUL-terminated copies, filled on use */
  uint32_t npaths;
  ctrace_mapindex *maps;
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

/* Reports every object once (key: path id and bias) to libdw, within the
 * limits above. */
static void report_objects(ctrace_symbolizer *s) {
  const ctrace_reader *r = s->r;
  uint32_t nm = ctrace_reader_nmappings(r);
  size_t cap = 64;
  while (cap < (size_t)nm * 2 && cap < (size_t)SYM_MAX_OPENS * 4)
    cap *= 2;
  struct object_key *seen = calloc(cap, sizeof *seen);
  if (!seen)
    return;
  size_t nseen = 0, nobjects = 0;
  dwfl_report_begin(s->dwfl);
  for (uint32_t i = 0; i < nm && nseen < SYM_MAX_OPENS && nobjects < SYM_MAX_OBJECTS; i++) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(r, i);
    const char *path = path_of(s, m->path);
    if (!path || path[0] != '/')
      continue; /* [vdso] and the like: nothing on disk */
    /* Several segments of one object share a bias: try it once. */
    size_t h = ((m->bias ^ (uint64_t)m->path * 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull >> 20) &
               (cap - 1);
    while (seen[h].path && !(seen[h].path == m->path && seen[h].bias == m->bias))
      h = (h + 1) & (cap - 1);
    if (seen[h].path)
      continue;
    seen[h].path = m->path;
    seen[h].bias = m->bias;
    nseen++;
    int fd = open_regular(path);
    if (fd < 0)
      continue;
    if (!same_build_id(fd, m)) {
      close(fd); /* not the recorded object: its symbols would lie */
      continue;
    }
    /* On success libdw owns fd and closes it in dwfl_end. */
    if (dwfl_report_elf(s->dwfl, path, path, fd, m->bias, false))
      nobjects++;
    else
      close(fd);
  }
  dwfl_report_end(s->dwfl, NULL, NULL);
  free(seen);
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
ctrace_mapindex *ctrace_mapindex_new(const ctrace_reader *r) {
  uint32_t nm = ctrace_reader_nmappings(r);
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
  for (uint32_t i = 0; i < nm; i++) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(r, i);
    if (m->start >= m->end)
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
        closed[e[k].map] = 1;
      else
        heap_push(heap, &nh, e[k].map);
    }
    while (nh && closed[heap[0]])
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
  s->maps = ctrace_mapindex_new(r);
  if (!s->paths || !s->maps) {
    ctrace_sym_free(s);
    return NULL;
  }
  /* libdw would ask the debuginfod servers of DEBUGINFOD_URLS for missing
   * debug information: never send a trace's build-ids over the network. */
  unsetenv("DEBUGINFOD_URLS");
  elf_version(EV_CURRENT);
  s->dwfl = dwfl_begin(&callbacks);
  if (s->dwfl)
    report_objects(s);
  return s;
}

void ctrace_sym_free(ctrace_symbolizer *s) {
  if (!s)
    return;
  if (s->dwfl)
    dwfl_end(s->dwfl);
  if (s->paths)
    for (uint32_t i = 0; i <= s->npaths; i++)
      free(s->paths[i]);
  free(s->paths);
  ctrace_mapindex_free(s->maps);
  for (size_t i = 0; i < s->frames.n; i++) {
    free((char *)s->frames.v[i].function);
    free((char *)s->frames.v[i].file);
  }
  free(s->frames.v);
  ctrace_hash_free(&s->cache);
  free(s);
}

static const char *object_of(ctrace_symbolizer *s, uint64_t pc, uint64_t *offset) {
  int64_t i = ctrace_mapindex_find(s->maps, pc);
  if (i >= 0) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(s->r, (uint32_t)i);
    *offset = pc - m->bias;
    return path_of(s, m->path);
  }
  *offset = pc;
  return NULL;
}
static void resolve(ctrace_symbolizer *s, uint64_t pc, int ret, struct ctrace_frame *f) {
  uint64_t addr = ret && pc ? pc - 1 : pc;
  f->pc = pc;
  f->function = NULL;
  f->file = NULL;
  f->line = 0;
  f->object = object_of(s, pc, &f->object_offset);
  Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, addr) : NULL;
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

void ctrace_sym_lookup(ctrace_symbolizer *s, uint64_t pc, int return_address,
                       struct ctrace_frame *out) {
  uint64_t key = (pc << 1 | (return_address != 0)) | 1ull << 63; /* never 0 */
  int64_t i = ctrace_hash_get(&s->cache, key);
  if (i < 0) {
    struct ctrace_frame f = {0};
    resolve(s, pc, return_address, &f);
    CTRACE_TVEC_PUSH(s->frames, f, uncached);
    i = (int64_t)s->frames.n - 1;
    if (ctrace_hash_put(&s->cache, key, (uint32_t)i) < 0) {
      s->frames.n--;
      goto uncached;
    }
    goto done;
  uncached: /* out of memory: the frame is the caller's, kept nowhere */
    *out = f;
    return;
  }
done:
  *out = s->frames.v[i];
}
