/*
 * pprof.c - see pprof.h. A small protobuf writer (varints and
 * length-delimited fields, proto3 rules: zero scalars are left out), tables
 * that give strings, functions and locations their ids, then zlib's gzip.
 *
 * Field numbers are those of pprof's proto/profile.proto (Profile, ValueType,
 * Sample, Mapping, Location, Line, Function). Stack PCs of a trace are return
 * addresses (the frame-pointer walk records them), so each is looked up as
 * one, and each PC is one Location with one Line: the symbolizer does not
 * report inlined frames.
 */
#include "pprof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- protobuf writer ---- */
enum { WT_VARINT = 0, WT_LEN = 2 };

struct pb {
  uint8_t *p;
  size_t n, cap;
  int err; /* an allocation failed: the content is incomplete */
};

static int pb_need(struct pb *b, size_t k) {
  if (b->err)
    return -1;
  if (b->cap - b->n >= k)
    return 0;
  size_t nc = b->cap ? b->cap : 256;
  while (nc - b->n < k)
    nc *= 2;
  uint8_t *np = realloc(b->p, nc);
  if (!np) {
    b->err = 1;
    return -1;
  }
  b->p = np;
  b->cap = nc;
  return 0;
}

static void pb_varint(struct pb *b, uint64_t v) {
  if (pb_need(b, 10) < 0)
    return;
  b->n = (size_t)(ctrace__put_uvarint(b->p + b->n, v) - b->p);
}

static void pb_key(struct pb *b, unsigned field, unsigned wt) {
  pb_varint(b, (uint64_t)field << 3 | wt);
}

/* An int64/uint64/bool field; zero is the default and is not written. */
static void pb_int(struct pb *b, unsigned field, uint64_t v) {
  if (!v)
    return;
  pb_key(b, field, WT_VARINT);
  pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *s, size_t len) {
  pb_key(b, field, WT_LEN);
  pb_varint(b, len);
  if (len && pb_need(b, len) == 0) {
    memcpy(b->p + b->n, s, len);
    b->n += len;
  }
}

/* Appends sub as embedded message field, and empties sub for reuse. */
static void pb_msg(struct pb *b, unsigned field, struct pb *sub) {
  if (sub->err)
    b->err = 1;
  pb_bytes(b, field, sub->p, sub->n);
  sub->n = 0;
}

/* ---- id tables: open addressing on 64-bit keys, values from 1 ---- */
struct idmap {
  uint64_t *keys;
  uint32_t *vals; /* 0: empty slot */
  size_t cap, n;
};

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

/* The slot of key (whose value is 0 when absent); NULL when out of memory.
 * Keeps the load under one half. */
static uint32_t *idmap_slot(struct idmap *m, uint64_t key) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 256;
    uint64_t *nk = calloc(nc, sizeof *nk);
    uint32_t *nv = calloc(nc, sizeof *nv);
    if (!nk || !nv) {
      free(nk);
      free(nv);
      return NULL;
    }
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->vals[i])
        continue;
      size_t j = mix(m->keys[i]) & (nc - 1);
      while (nv[j])
        j = (j + 1) & (nc - 1);
      nk[j] = m->keys[i];
      nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = nc;
  }
  size_t j = mix(key) & (m->cap - 1);
  while (m->vals[j] && m->keys[j] != key)
    j = (j + 1) & (m->cap - 1);
  if (!m->vals[j])
    m->keys[j] = key;
  return &m->vals[j];
}

static void idmap_free(struct idmap *m) {
  free(m->keys);
  free(m->vals);
}

/* ---- the string table: index 0 is "" ---- */
struct strtab {
  struct pb out;     /* the encoded string_table fields, in index order */
  struct idmap byhash; /* FNV-1a of the bytes -> 1 + first index with that hash */
  char **s;          /* copies, to tell colliding hashes apart */
  size_t *len;
  uint32_t n, cap;
  uint32_t *next;    /* chain of indexes sharing a hash (0: end) */
  int err;
};

static uint64_t fnv(const char *s, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)s[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* The index of s[0..len) in the table, adding it; 0 on failure (and then
 * t->err is set). */
static uint32_t str_id_n(struct strtab *t, const char *s, size_t len) {
  if (len == 0 || t->err)
    return 0;
  uint32_t *slot = idmap_slot(&t->byhash, fnv(s, len));
  if (!slot)
    goto fail;
  for (uint32_t i = *slot; i; i = t->next[i - 1])
    if (t->len[i - 1] == len && memcmp(t->s[i - 1], s, len) == 0)
      return i - 1;
  if (t->n == t->cap) {
    uint32_t nc = t->cap ? t->cap * 2 : 256;
    char **ns = realloc(t->s, nc * sizeof *ns);
    if (ns)
      t->s = ns;
    size_t *nl = realloc(t->len, nc * sizeof *nl);
    if (nl)
      t->len = nl;
    uint32_t *nn = realloc(t->next, nc * sizeof *nn);
    if (nn)
      t->next = nn;
    if (!ns || !nl || !nn)
      goto fail;
    t->cap = nc;
  }
  char *copy = malloc(len);
  if (!copy)
    goto fail;
  memcpy(copy, s, len);
  uint32_t idx = t->n++;
  t->s[idx] = copy;
  t->len[idx] = len;
  t->next[idx] = *slot;
  *slot = idx + 1;
  t->byhash.n++;
  pb_bytes(&t->out, 6, s, len);
  return idx;
fail:
  t->err = 1;
  return 0;
}

static uint32_t str_id(struct strtab *t, const char *s) {
  return s ? str_id_n(t, s, strlen(s)) : 0;
}

static int strtab_init(struct strtab *t) {
  memset(t, 0, sizeof *t);
  /* string_table[0] must be "": written by hand, never looked up. */
  pb_bytes(&t->out, 6, "", 0);
  t->s = malloc(sizeof *t->s);
  t->len = malloc(sizeof *t->len);
  t->next = malloc(sizeof *t->next);
  if (!t->s || !t->len || !t->next)
    return -1;
  t->s[0] = NULL;
  t->len[0] = 0;
  t->next[0] = 0;
  t->n = t->cap = 1;
  return 0;
}

static void strtab_free(struct strtab *t) {
  for (uint32_t i = 0; i < t->n; i++)
    free(t->s[i]);
  free(t->s);
  free(t->len);
  free(t->next);
  free(t->out.p);
  idmap_free(&t->byhash);
}

/* ---- the profile ---- */
struct enc {
  const ctrace_reader *r;
  ctrace_symbolizer *sym;
  struct strtab st;
  struct pb loc, fn, tmp, line;
  struct idmap locs;  /* pc -> location id */
  struct idmap fns;   /* name index << 32 | file index -> function id */
  uint32_t nlocs, nfns;
  uint32_t unknown_loc; /* the location of "(unknown stack)", 0 until made */
  ctrace_mapindex **maps; /* per file (process image), built on use */
  uint32_t nfiles;
};

/* The mapping id (1-based index) of the mapping holding pc in file's
 * address space, or 0. */
static uint32_t mapping_of(struct enc *e, uint32_t file, uint64_t pc) {
  if (file >= e->nfiles)
    file = 0;
  if (!e->maps[file]) {
    uint32_t first, n = ctrace_reader_file_mappings(e->r, file, &first);
    e->maps[file] = ctrace_mapindex_new_range(e->r, first, n);
  }
  int64_t i = ctrace_mapindex_find(e->maps[file], pc);
  return i < 0 ? 0 : (uint32_t)i + 1;
}

static uint32_t function_id(struct enc *e, const char *name, const char *file) {
  uint32_t ni = str_id(&e->st, name), fi = str_id(&e->st, file);
  uint32_t *slot = idmap_slot(&e->fns, (uint64_t)ni << 32 | fi);
  if (!slot) {
    e->st.err = 1;
    return 0;
  }
  if (*slot)
    return *slot;
  *slot = ++e->nfns;
  e->fns.n++;
  pb_int(&e->tmp, 1, *slot);
  pb_int(&e->tmp, 2, ni);
  pb_int(&e->tmp, 3, ni);
  pb_int(&e->tmp, 4, fi);
  pb_msg(&e->fn, 5, &e->tmp);
  return *slot;
}

/* Writes one Location with at most one Line. */
static void location(struct enc *e, uint32_t id, uint32_t mapping, uint64_t pc, uint32_t fn,
                     int line) {
  pb_int(&e->tmp, 1, id);
  pb_int(&e->tmp, 2, mapping);
  pb_int(&e->tmp, 3, pc);
  if (fn) {
    pb_int(&e->line, 1, fn);
    pb_int(&e->line, 2, (uint64_t)(int64_t)line);
    pb_msg(&e->tmp, 4, &e->line);
  }
  pb_msg(&e->loc, 4, &e->tmp);
}

/* The location of pc in stack's process: in a process tree the same pc is
 * another place in another process image. */
static uint32_t location_id(struct enc *e, uint64_t stack, uint64_t pc) {
  uint32_t file = ctrace_reader_stack_process(e->r, stack);
  if (file == UINT32_MAX || file >= e->nfiles)
    file = 0;
  uint64_t key = pc < (1ull << 47) ? (uint64_t)file << 47 | pc : pc;
  uint32_t *slot = idmap_slot(&e->locs, key ? key : 1ull << 63);
  if (!slot) {
    e->st.err = 1;
    return 0;
  }
  if (*slot)
    return *slot;
  uint32_t id = *slot = ++e->nlocs;
  e->locs.n++;
  uint32_t fn = 0;
  int line = 0;
  if (e->sym) {
    struct ctrace_frame f;
    ctrace_sym_lookup_in(e->sym, file, pc, 1, &f);
    if (f.function && strcmp(f.function, "??") != 0) {
      fn = function_id(e, f.function, f.file);
      line = f.line > 0 ? f.line : 0;
    }
  }
  location(e, id, mapping_of(e, file, pc), pc, fn, line);
  return id;
}

static uint32_t unknown_location(struct enc *e) {
  if (!e->unknown_loc) {
    e->unknown_loc = ++e->nlocs;
    location(e, e->unknown_loc, 0, 0, function_id(e, "(unknown stack)", NULL), 0);
  }
  return e->unknown_loc;
}

static void mappings(struct enc *e, struct pb *out) {
  uint32_t n = ctrace_reader_nmappings(e->r);
  char path[4096];
  char hex[2 * 64 + 1];
  for (uint32_t i = 0; i < n; i++) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(e->r, i);
    size_t nb = m->build_id_len < 64 ? m->build_id_len : 64;
    for (size_t k = 0; k < nb; k++)
      snprintf(hex + 2 * k, 3, "%02x", m->build_id[k]);
    hex[2 * nb] = 0;
    pb_int(&e->tmp, 1, i + 1);
    pb_int(&e->tmp, 2, m->start);
    pb_int(&e->tmp, 3, m->end);
    /* The ELF address of the mapping's start: equal to the file offset for
     * the usual layouts (text segment's p_offset == p_vaddr). */
    pb_int(&e->tmp, 4, m->start >= m->bias ? m->start - m->bias : 0);
    pb_int(&e->tmp, 5, str_id(&e->st, ctrace_reader_strcpy(e->r, m->path, path, sizeof path)));
    pb_int(&e->tmp, 6, str_id(&e->st, hex));
    if (e->sym) { /* symbolized here: consumers need not look again */
      pb_int(&e->tmp, 7, 1);
      pb_int(&e->tmp, 8, 1);
      pb_int(&e->tmp, 9, 1);
    }
    pb_msg(out, 3, &e->tmp);
  }
}

static void value_type(struct enc *e, struct pb *out, unsigned field, const char *type,
                       const char *unit) {
  pb_int(&e->tmp, 1, str_id(&e->st, type));
  pb_int(&e->tmp, 2, str_id(&e->st, unit));
  pb_msg(out, field, &e->tmp);
}

static int gzip_bytes(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen) {
  if (n > UINT32_MAX / 2)
    return -1;
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  /* windowBits 15 + 16: a gzip wrapper, which pprof files have. */
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  size_t cap = deflateBound(&zs, (uLong)n) + 32;
  uint8_t *buf = malloc(cap);
  if (!buf) {
    deflateEnd(&zs);
    return -1;
  }
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  zs.next_out = buf;
  zs.avail_out = (uInt)cap;
  int rc = deflate(&zs, Z_FINISH);
  size_t len = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    free(buf);
    return -1;
  }
  *out = buf;
  *outlen = len;
  return 0;
}

/* A location for a frame that is no PC (a thread or state name at a
 * sample's root): keyed in locs above every user-space address. */
static uint32_t named_location(struct enc *e, const char *name) {
  uint32_t fn = function_id(e, name, NULL);
  uint32_t *slot = idmap_slot(&e->locs, (uint64_t)1 << 63 | fn);
  if (!slot) {
    e->st.err = 1;
    return 0;
  }
  if (*slot)
    return *slot;
  uint32_t id = *slot = ++e->nlocs;
  e->locs.n++;
  location(e, id, 0, 0, fn, 0);
  return id;
}

/* The profile of samples v; period_ns > 0: the values are time sampled
 * every period_ns (a CPU profile), else each sample counts once. */
/* Labels of a sample of a process tree: pid (a number) and process (the
 * executable's basename), from the process whose file defined the stack. */
static void process_labels(struct enc *e, uint64_t stack) {
  uint32_t pi = ctrace_reader_stack_process(e->r, stack);
  const struct ctrace_process *p = ctrace_reader_process(e->r, pi);
  if (!p)
    return;
  struct pb l = {0};
  pb_int(&l, 1, str_id(&e->st, "pid"));
  pb_int(&l, 3, p->pid);
  pb_msg(&e->tmp, 3, &l);
  const struct ctrace_string *s = ctrace_reader_string(e->r, p->exe);
  if (s && s->len) {
    size_t b = s->len;
    while (b > 0 && s->s[b - 1] != '/')
      b--;
    pb_int(&l, 1, str_id(&e->st, "process"));
    pb_int(&l, 2, str_id_n(&e->st, s->s + b, s->len - b));
    pb_msg(&e->tmp, 3, &l);
  }
  free(l.p);
}

static int encode(const ctrace_reader *r, ctrace_symbolizer *sym,
                  const struct ctrace_pprof_sample *v, size_t n, const char *count_type,
                  const char *value_type_name, const char *comment, uint64_t period_ns,
                  uint8_t **out, size_t *outlen) {
  struct enc e;
  memset(&e, 0, sizeof e);
  e.r = r;
  e.sym = sym;
  struct pb head = {0}, samples = {0}, maps = {0}, ids = {0}, vals = {0};
  int rc = -1;
  *out = NULL;
  *outlen = 0;
  e.nfiles = ctrace_reader_nfiles(r);
  if (strtab_init(&e.st) < 0 || !(e.maps = calloc(e.nfiles + 1, sizeof *e.maps)))
    goto done;

  value_type(&e, &head, 1, count_type, "count");
  value_type(&e, &head, 1, value_type_name, "nanoseconds");
  int tree = ctrace_reader_nfiles(r) > 1;

  for (size_t i = 0; i < n && !e.st.err; i++) {
    const struct ctrace_pprof_sample *en = &v[i];
    const uint64_t *pcs;
    uint32_t npcs = en->stack ? ctrace_reader_stack(r, en->stack, &pcs) : 0;
    if (en->leaf && en->leaf[0]) /* the call blocked in, innermost */
      pb_varint(&ids, named_location(&e, en->leaf));
    if (npcs == 0)
      pb_varint(&ids, unknown_location(&e));
    for (uint32_t k = 0; k < npcs; k++) /* innermost first, as pprof wants */
      pb_varint(&ids, location_id(&e, en->stack, pcs[k]));
    for (int k = 0; k < 2; k++) /* then the named frames, root last */
      if (en->root[k])
        pb_varint(&ids, named_location(&e, en->root[k]));
    pb_varint(&vals, en->count);
    pb_varint(&vals, en->value);
    pb_msg(&e.tmp, 1, &ids);  /* packed location_id */
    pb_msg(&e.tmp, 2, &vals); /* packed value */
    if (tree && en->stack) /* a process tree: which process, as labels */
      process_labels(&e, en->stack);
    pb_msg(&samples, 2, &e.tmp);
  }
  mappings(&e, &maps);

  int64_t dur = ctrace_reader_ns(r, ctrace_reader_last_ticks(r)) -
                ctrace_reader_ns(r, ctrace_reader_first_ticks(r));
  pb_int(&head, 9, ctrace_reader_start_realtime(r));
  pb_int(&head, 10, dur > 0 ? (uint64_t)dur : 0);
  if (period_ns)
    value_type(&e, &head, 11, value_type_name, "nanoseconds"); /* period_type */
  else
    value_type(&e, &head, 11, count_type, "count");
  pb_int(&head, 12, period_ns ? period_ns : 1); /* period */
  pb_int(&head, 13, str_id(&e.st, comment));
  pb_int(&head, 14, str_id(&e.st, value_type_name)); /* default_sample_type */

  struct pb all = {0};
  const struct pb *parts[] = {&head, &samples, &maps, &e.loc, &e.fn, &e.st.out};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (parts[i]->err)
      all.err = 1;
    if (parts[i]->n && pb_need(&all, parts[i]->n) == 0) {
      memcpy(all.p + all.n, parts[i]->p, parts[i]->n);
      all.n += parts[i]->n;
    }
  }
  if (!all.err && !e.st.err && !e.tmp.err && !e.line.err && !ids.err && !vals.err)
    rc = gzip_bytes(all.p ? all.p : (uint8_t *)"", all.n, out, outlen);
  free(all.p);
done:
  free(head.p);
  free(samples.p);
  free(maps.p);
  free(ids.p);
  free(vals.p);
  free(e.loc.p);
  free(e.fn.p);
  free(e.tmp.p);
  free(e.line.p);
  idmap_free(&e.locs);
  idmap_free(&e.fns);
  strtab_free(&e.st);
  if (e.maps)
    for (uint32_t f = 0; f < e.nfiles; f++)
      ctrace_mapindex_free(e.maps[f]);
  free(e.maps);
  return rc;
}

int ctrace_pprof_write(const ctrace_reader *r, ctrace_symbolizer *sym,
                       const struct ctrace_profile *p, enum ctrace_profile_kind kind,
                       uint8_t **out, size_t *outlen) {
  struct ctrace_pprof_sample *v = calloc(p->n ? p->n : 1, sizeof *v);
  char(*calls)[CTRACE_PPROF_CALL_MAX] = calloc(p->n ? p->n : 1, sizeof *calls);
  if (!v || !calls) {
    free(v);
    free(calls);
    return -1;
  }
  for (size_t i = 0; i < p->n; i++)
    v[i] = (struct ctrace_pprof_sample){
        .stack = p->v[i].stack,
        .leaf = ctrace_profile_call_frame(&p->v[i], calls[i], sizeof calls[i]),
        .count = p->v[i].count,
        .value = p->v[i].total_ns};
  char comment[128];
  int rc;
  if (kind == CTRACE_PROFILE_CPU) {
    /* sample counts, and their time: samples times the sampling period */
    rc = encode(r, sym, v, p->n, "samples", "cpu", "ctrace CPU profile",
                ctrace_profile_sample_period_ns(r), out, outlen);
  } else {
    snprintf(comment, sizeof comment, "ctrace blocking profile: %s", ctrace_profile_kind_name(kind));
    rc = encode(r, sym, v, p->n, "contentions", "delay", comment, 0, out, outlen);
  }
  free(v);
  free(calls);
  return rc;
}

int ctrace_pprof_write_samples(const ctrace_reader *r, ctrace_symbolizer *sym,
                               const struct ctrace_pprof_sample *v, size_t n,
                               const char *count_type, const char *value_type_name,
                               const char *comment, uint8_t **out, size_t *outlen) {
  return encode(r, sym, v, n, count_type, value_type_name, comment, 0, out, outlen);
}
