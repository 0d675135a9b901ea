/*
 * format.c - the static tables behind format.h: kind descriptions indexed by
 * code, without names (the recorder's: kinds.c has the names); the batch
 * checksum (CRC-32C) that writer and reader share; the writer's compaction
 * of repeated fields. No decoding.
 */
#include "format.h"

#include "../base/table.h"

#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h> /* glibc 2.33 */
#endif
#endif

/* No pointers: read-only data the dynamic loader never relocates (the
 * names' table, kinds.c, would cost every traced process copied pages). */
const struct ctrace_kind_shape ctrace__kind_shapes[256] = {
#define KIND_SHAPE(name, code, nf, bl, flds, dc) [code] = {1, nf, bl},
    CTRACE_EVENT_KINDS(KIND_SHAPE)
#undef KIND_SHAPE
};

/* CRC-32C: with SSE 4.2's crc32 instruction where the CPU has it (about
 * 8x faster: the reader checks every batch, the writer sums every batch it
 * writes), else slicing by 8 (about 1.5 GB/s). Both give the same sums. */
CTRACE_TABLE static uint32_t crc_table[8][256];
static int crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT, table_once = PTHREAD_ONCE_INIT;

/* glibc's copy of the CPU's features where it has one: the CPUID
 * instruction traps to the hypervisor in a VM (about 13 us a call). */
static void crc_init(void) {
#if defined(__x86_64__) && defined(CPU_FEATURE_ACTIVE)
  crc_hw = CPU_FEATURE_ACTIVE(SSE4_2);
#elif defined(__x86_64__)
  unsigned a, b, c, d;
  crc_hw = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
#endif
}

/* Built only when the software sums are used: its 8 KB are three pages a
 * traced process would otherwise touch at start for nothing. */
static void table_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p, size_t n) {
  while (n && ((uintptr_t)p & 7)) {
    c = _mm_crc32_u8(c, *p++);
    n--;
  }
  uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
  }
  c = (uint32_t)c64;
  while (n--)
    c = _mm_crc32_u8(c, *p++);
  return c;
}
#endif

uint32_t ctrace__crc32c(uint32_t crc, const void *data, size_t n) {
  pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
  if (crc_hw)
    return ~crc_sse42(~crc, data, n);
#endif
  return ctrace__crc32c_soft(crc, data, n);
}

uint32_t ctrace__crc32c_soft(uint32_t crc, const void *data, size_t n) {
  pthread_once(&table_once, table_init);
  const uint8_t *p = data;
  uint32_t c = ~crc;
  while (n && ((uintptr_t)p & 7)) {
    c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    n--;
  }
  while (n >= 8) {
    uint32_t lo = c ^ ctrace__get_le32(p), hi = ctrace__get_le32(p + 4);
    c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
        crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
        crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--)
    c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
  return ~c;
}

/* ---- repeated fields (1.4): the writer's compaction ---- */

/* Per kind: the mask of its repeated fields (0: none), its slot, and 1 +
 * its index among the kinds by stack (0: by the last event). */
static const struct {
  uint8_t mask, slot, bs1;
} rep_info[256] = {
#define REP_INFO(name, slot, mask, bs, fields) [CTRACE_EV_##name] = {mask, slot, (bs) + 1},
    CTRACE_REPEAT_KINDS(REP_INFO)
#undef REP_INFO
};

/*
 * Bytes [p, p + n) to o, at or before p (everything before p is already
 * read), with end the bytes' end. Most events are a few bytes: once the
 * output trails the input by 16 bytes or more, they go as one 16-byte copy
 * (what it writes past o + n is below p, not read yet by nobody; what it
 * reads past p + n is inside the batch).
 */
static inline __attribute__((always_inline)) uint8_t *copy_down(uint8_t *o, const uint8_t *p, size_t n,
                                                               const uint8_t *end) {
  if (o == p)
    return o + n;
  if (n <= 16 && p - o >= 16 && end - p >= 16) {
    memcpy(o, p, 16);
    return o + n;
  }
  if (n > 16) {
    memmove(o, p, n);
    return o + n;
  }
  while (n--)
    *o++ = *p++;
  return o;
}

/* The end of the varint at q (with its value in *v), or NULL. */
static inline __attribute__((always_inline)) const uint8_t *field(const uint8_t *q,
                                                                 const uint8_t *end, uint64_t *v) {
  return ctrace__get_uvarint(q, end, v);
}

/*
 * One event of a kind whose repeated fields are stored ones (against the
 * last of its kind), or that repeats none (mask 0), at p: its bytes go to
 * o, without its repeated fields and with the flag when they repeat. The
 * kind's shape (nf, blob, mask, slot) is a constant where it is inlined:
 * the loops unroll. Returns the next event, or NULL when the bytes do not
 * decode (nothing written then).
 */
static inline __attribute__((always_inline)) const uint8_t *
compact_stored(struct ctrace_repeat *st, const uint8_t *p, const uint8_t *end, uint8_t **op,
               unsigned nf, int blob, unsigned mask, unsigned slot) {
  const uint8_t *q, *at[CTRACE_MAX_FIELDS + 1];
  uint64_t v, f[CTRACE_MAX_FIELDS];
  if (!(q = field(p + 1, end, &v)))
    return NULL;
#pragma GCC unroll 8
  for (unsigned i = 0; i < nf; i++) {
    at[i] = q;
    if (!(q = field(q, end, &f[i])))
      return NULL;
  }
  at[nf] = q;
  if (blob) {
    if (!(q = field(q, end, &v)) || v > (uint64_t)(end - q))
      return NULL;
    q += v;
  }
  uint8_t *o = *op;
  int same = 0;
  if (mask) {
    uint64_t *last = st->f[slot];
    same = st->seen >> slot & 1;
#pragma GCC unroll 8
    for (unsigned i = 0; i < nf; i++)
      if (mask >> i & 1) {
        same &= f[i] == last[i];
        last[i] = f[i];
      }
    st->seen |= 1u << slot;
  }
  if (!same) {
    *op = copy_down(o, p, (size_t)(q - p), end);
    return q;
  }
  /* the kind with the flag, the delta, the fields not repeated, the blob */
  *o++ = (uint8_t)(p[0] | CTRACE_REPEAT_FLAG);
  o = copy_down(o, p + 1, (size_t)(at[0] - (p + 1)), end);
#pragma GCC unroll 8
  for (unsigned i = 0; i < nf; i++)
    if (!(mask >> i & 1))
      o = copy_down(o, at[i], (size_t)(at[i + 1] - at[i]), end);
  *op = copy_down(o, at[nf], (size_t)(q - at[nf]), end);
  return q;
}

/* One WAIT or WAKE at p (kinds by stack: values, against the last with the
 * stack), as compact_stored does; *object carries the batch's last. */
static const uint8_t *compact_by_stack(struct ctrace_repeat *st, const uint8_t *p,
                                       const uint8_t *end, uint8_t **op, uint32_t tid,
                                       uint64_t *object) {
  unsigned kind = p[0];
  const struct ctrace_kind_shape *k = &ctrace__kind_shapes[kind];
  const uint8_t *q, *at[CTRACE_MAX_FIELDS + 1];
  uint64_t v, f[CTRACE_MAX_FIELDS];
  unsigned nf = k->nfields, mask = rep_info[kind].mask;
  int bs = rep_info[kind].bs1 - 1;
  if (!(q = field(p + 1, end, &v)))
    return NULL;
  for (unsigned i = 0; i < nf; i++) {
    at[i] = q;
    if (!(q = field(q, end, &f[i])))
      return NULL;
  }
  at[nf] = q;
  if (k->blob) {
    if (!(q = field(q, end, &v)) || v > (uint64_t)(end - q))
      return NULL;
    q += v;
  }
  *object += (uint64_t)ctrace__unzigzag(f[1]);
  f[1] = *object;
  if (kind == CTRACE_EV_WAKE)
    f[0] = tid + (uint64_t)ctrace__unzigzag(f[0]);
  const uint64_t *e = ctrace__repeat_entry(st, bs, f);
  int same = ctrace__repeat_has_stack(st, bs, f[CTRACE_REPEAT_STACK_FIELD]);
  for (unsigned i = 0; same && i < 3; i++)
    if (mask >> i & 1 && f[i] != e[i])
      same = 0;
  ctrace__repeat_keep_stack(st, bs, f);
  uint8_t *o = *op;
  if (!same) {
    *op = copy_down(o, p, (size_t)(q - p), end);
    return q;
  }
  *o++ = (uint8_t)(kind | CTRACE_REPEAT_FLAG);
  o = copy_down(o, p + 1, (size_t)(at[0] - (p + 1)), end);
  for (unsigned i = 0; i < nf; i++)
    if (!(mask >> i & 1))
      o = copy_down(o, at[i], (size_t)(at[i + 1] - at[i]), end);
  *op = copy_down(o, at[nf], (size_t)(q - at[nf]), end);
  return q;
}

/* The slot and mask of a kind repeated against the last of its kind, as
 * constants for compact_stored (0, 0: it repeats nothing that way). */
#define REP_STORED_SLOT(code) (rep_info_c(code) & 0xff)
#define REP_STORED_MASK(code) (rep_info_c(code) >> 8)
static inline __attribute__((always_inline)) unsigned rep_info_c(unsigned code) {
  switch (code) {
#define REP_C(name, slot, mask, bs, fields)                                                        \
  case CTRACE_EV_##name:                                                                           \
    return (bs) < 0 ? (unsigned)(slot) | (unsigned)(mask) << 8 : 0;
    CTRACE_REPEAT_KINDS(REP_C)
#undef REP_C
  default:
    return 0;
  }
}

size_t ctrace__repeat_compact(uint8_t *data, size_t len, uint32_t tid) {
  struct ctrace_repeat st;
  st.seen = st.stack_seen = 0;
  uint64_t object = 0; /* the batch's last WAIT or WAKE object (1.3) */
  const uint8_t *p = data, *end = data + len;
  uint8_t *o = data;
  while (p < end) {
    const uint8_t *q;
    switch (p[0]) {
#define KIND_CASE(name, code, nf, has_blob, flds, dc)                                               \
  case code:                                                                                       \
    q = (code) == CTRACE_EV_WAIT || (code) == CTRACE_EV_WAKE                                       \
            ? compact_by_stack(&st, p, end, &o, tid, &object)                                      \
            : compact_stored(&st, p, end, &o, (nf), (has_blob), REP_STORED_MASK(code),             \
                             REP_STORED_SLOT(code));                                               \
    break;
      CTRACE_EVENT_KINDS(KIND_CASE)
#undef KIND_CASE
    default: /* not a kind of this version: left as it is, from here on */
      q = NULL;
      break;
    }
    if (!q)
      break;
    p = q;
  }
  o = copy_down(o, p, (size_t)(end - p), end);
  return (size_t)(o - data);
}
