/*
 * symbolize.c - see symbolize.h. One Dwfl session per trace; each mapped
 * object is reported once at its recorded load bias; results are cached per
 * PC because stacks repeat.
 */
#include "symbolize.h"

#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

struct cache_entry {
  uint64_t pc; /* 0: empty; the pc with the return-address bit folded in */
  struct ctrace_frame f;
};

struct ctrace_symbolizer {
  const ctrace_reader *r;
  Dwfl *dwfl;
  char **paths; /* NUL-terminated copies of mapping paths, by mapping */
  uint32_t npaths;
  struct cache_entry *cache;
  size_t cache_cap, cache_n;
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static int same_build_id(Dwfl_Module *mod, const struct ctrace_mapping *m) {
  const unsigned char *bits;
  GElf_Addr vaddr;
  int n = dwfl_module_build_id(mod, &bits, &vaddr);
  if (n <= 0 || m->build_id_len == 0)
    return 1; /* nothing to compare: trust the path */
  return (uint32_t)n == m->build_id_len && memcmp(bits, m->build_id, (size_t)n) == 0;
}

ctrace_symbolizer *ctrace_sym_new(const ctrace_reader *r) {
  ctrace_symbolizer *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->r = r;
  uint32_t nm = ctrace_reader_nmappings(r);
  s->paths = calloc(nm + 1, sizeof *s->paths);
  s->cache_cap = 1024;
  s->cache = calloc(s->cache_cap, sizeof *s->cache);
  if (!s->paths || !s->cache) {
    ctrace_sym_free(s);
    return NULL;
  }
  s->npaths = nm;
  s->dwfl = dwfl_begin(&callbacks);
  if (s->dwfl) {
    dwfl_report_begin(s->dwfl);
    for (uint32_t i = 0; i < nm; i++) {
      const struct ctrace_mapping *m = ctrace_reader_mapping(r, i);
      char path[4096];
      ctrace_reader_strcpy(r, m->path, path, sizeof path);
      s->paths[i] = strdup(path);
      if (!path[0] || path[0] != '/')
        continue; /* [vdso] and the like: nothing on disk */
      /* Several segments of one object share a bias: report it once. */
      int seen = 0;
      for (uint32_t j = 0; j < i && !seen; j++) {
        const struct ctrace_mapping *o = ctrace_reader_mapping(r, j);
        seen = o->bias == m->bias && s->paths[j] && strcmp(s->paths[j], path) == 0;
      }
      if (seen)
        continue;
      Dwfl_Module *mod = dwfl_report_elf(s->dwfl, path, path, -1, m->bias, false);
      if (mod && !same_build_id(mod, m))
        dwfl_report_elf(s->dwfl, path, "/nonexistent", -1, m->bias, false);
    }
    dwfl_report_end(s->dwfl, NULL, NULL);
  }
  return s;
}

void ctrace_sym_free(ctrace_symbolizer *s) {
  if (!s)
    return;
  if (s->dwfl)
    dwfl_end(s->dwfl);
  for (uint32_t i = 0; i < s->npaths; i++)
    free(s->paths[i]);
  free(s->paths);
  for (size_t i = 0; i < s->cache_cap; i++) {
    if (s->cache[i].pc) {
      free((char *)s->cache[i].f.function);
      free((char *)s->cache[i].f.file);
    }
  }
  free(s->cache);
  free(s);
}

static const char *object_of(ctrace_symbolizer *s, uint64_t pc, uint64_t *offset) {
  for (uint32_t i = 0; i < s->npaths; i++) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(s->r, i);
    if (pc >= m->start && pc < m->end) {
      *offset = pc - m->bias;
      return s->paths[i];
    }
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

static int cache_grow(ctrace_symbolizer *s) {
  size_t cap = s->cache_cap * 2;
  struct cache_entry *c = calloc(cap, sizeof *c);
  if (!c)
    return -1;
  for (size_t i = 0; i < s->cache_cap; i++) {
    if (!s->cache[i].pc)
      continue;
    size_t j = (s->cache[i].pc * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
    while (c[j].pc)
      j = (j + 1) & (cap - 1);
    c[j] = s->cache[i];
  }
  free(s->cache);
  s->cache = c;
  s->cache_cap = cap;
  return 0;
}

void ctrace_sym_lookup(ctrace_symbolizer *s, uint64_t pc, int return_address,
                       struct ctrace_frame *out) {
  uint64_t key = (pc << 1 | (return_address != 0)) | 1ull << 63; /* never 0 */
  if ((s->cache_n + 1) * 2 > s->cache_cap)
    cache_grow(s);
  size_t i = (key * 0x9e3779b97f4a7c15ull >> 20) & (s->cache_cap - 1);
  while (s->cache[i].pc && s->cache[i].pc != key)
    i = (i + 1) & (s->cache_cap - 1);
  if (!s->cache[i].pc) {
    if ((s->cache_n + 1) * 2 > s->cache_cap) { /* growing failed: no caching */
      static struct ctrace_frame tmp;
      resolve(s, pc, return_address, &tmp);
      *out = tmp;
      return;
    }
    s->cache[i].pc = key;
    resolve(s, pc, return_address, &s->cache[i].f);
    s->cache_n++;
  }
  *out = s->cache[i].f;
}
