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

/* Bytes [p, p + n) to o, at or before p: a short forward copy. */
static inline uint8_t *copy_down(uint8_t *o, const uint8_t *p, size_t n) {
  if (o == p)
    return o + n;
  if (n > 16) {
    memmove(o, p, n);
    return o + n;
  }
  while (n--)
    *o++ = *p++;
  return o;
}

size_t ctrace__repeat_compact(uint8_t *data, size_t len, uint32_t tid) {
  struct ctrace_repeat st;
  st.seen = st.stack_seen = 0;
  uint64_t object = 0; /* the batch's last WAIT or WAKE object (1.3) */
  const uint8_t *p = data, *end = data + len;
  uint8_t *o = data;
  while (p < end) {
    unsigned kind = p[0];
    const struct ctrace_kind_shape *k = &ctrace__kind_shapes[kind];
    const uint8_t *q = p + 1, *at[CTRACE_MAX_FIELDS + 1];
    uint64_t v, f[CTRACE_MAX_FIELDS];
    if (!k->known || !(q = ctrace__get_uvarint(q, end, &v)))
      break;
    unsigned nf = k->nfields, mask = rep_info[kind].mask;
    for (unsigned i = 0; i < nf; i++) {
      at[i] = q;
      if (!(q = ctrace__get_uvarint(q, end, &f[i])))
        goto rest;
    }
    at[nf] = q;
    if (k->blob) {
      if (!(q = ctrace__get_uvarint(q, end, &v)) || v > (uint64_t)(end - q))
        break;
      q += v;
    }
    int same = 0;
    if (mask && !rep_info[kind].bs1) { /* stored fields, against the last of the kind */
      unsigned slot = rep_info[kind].slot;
      uint64_t *last = st.f[slot];
      same = st.seen >> slot & 1;
      for (unsigned i = 0; i < nf; i++) {
        if (mask >> i & 1 && f[i] != last[i])
          same = 0;
        last[i] = f[i];
      }
      st.seen |= 1u << slot;
    } else if (mask) { /* WAIT, WAKE: values, against the last with the stack */
      int bs = rep_info[kind].bs1 - 1;
      object += (uint64_t)ctrace__unzigzag(f[1]);
      f[1] = object;
      if (kind == CTRACE_EV_WAKE)
        f[0] = tid + (uint64_t)ctrace__unzigzag(f[0]);
      const uint64_t *e = ctrace__repeat_entry(&st, bs, f);
      same = ctrace__repeat_has_stack(&st, bs, f[CTRACE_REPEAT_STACK_FIELD]);
      for (unsigned i = 0; same && i < 3; i++)
        if (mask >> i & 1 && f[i] != e[i])
          same = 0;
      ctrace__repeat_keep_stack(&st, bs, f);
    }
    if (!same) {
      o = copy_down(o, p, (size_t)(q - p));
      p = q;
      continue;
    }
    /* the kind with the flag, the delta, the fields not repeated, the blob */
    *o++ = (uint8_t)(kind | CTRACE_REPEAT_FLAG);
    o = copy_down(o, p + 1, (size_t)(at[0] - (p + 1)));
    for (unsigned i = 0; i < nf; i++)
      if (!(mask >> i & 1))
        o = copy_down(o, at[i], (size_t)(at[i + 1] - at[i]));
    o = copy_down(o, at[nf], (size_t)(q - at[nf]));
    p = q;
  }
rest:
  o = copy_down(o, p, (size_t)(end - p));
  return (size_t)(o - data);
}
