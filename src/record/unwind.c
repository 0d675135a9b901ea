/*
 * unwind.c - the stack walkers behind ctrace__stack_capture, and where code
 * is. Three walkers (CTRACE_UNWIND):
 *
 *   cfi    the default: the unwind tables every distribution binary carries
 *          (.eh_frame, found through .eh_frame_hdr's sorted table), reduced
 *          per return address to a rule of a few numbers (CFA = rsp+N or
 *          rbp+N, return address at CFA+R, rbp saved at CFA+M or not) and
 *          kept in a lock-free table, so that a frame costs one lookup and
 *          two or three loads. Right in code built without frame pointers.
 *   fp     frame pointers only (~1 ns a frame, wrong without them).
 *   dwarf  glibc's backtrace() (libgcc's unwinder: ~100x the cost).
 *
 * Every load of the walks is checked against the thread's stack bounds and
 * every return address against the executable segments of the objects
 * loaded when the trace started, so a corrupted stack or a wrong rule ends
 * a stack early, never faults. Computing a rule reads only the tables of
 * loaded objects, within the segment that holds them, after one mincore()
 * that says the segment is still mapped (no lock, no allocation, errno
 * kept), so a walk is safe in a signal handler, first sight of a PC
 * included.
 * Not the interning of stacks (intern.c).
 */
#include "record.h"

#include <errno.h>
#include <execinfo.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

/*
 * Where code is: the executable segments of the objects loaded when the
 * trace started (those its MAPPING records describe), sorted, each with its
 * object's .eh_frame_hdr; and the tracer's own segment when it is a shared
 * object (the preload library, libctrace.so), whose frames (an interposer's
 * helper, the API's) are left out of stacks. Two tables used in turn: a
 * start rebuilds the one no walk has used since the last.
 */
#define MAX_CODE 1024
struct code_range {
  uintptr_t lo, hi;
  const uint8_t *eh;    /* the object's .eh_frame_hdr, NULL: none */
  uintptr_t eh_lo, eh_hi; /* the segment holding it and .eh_frame */
};
/* One array of ranges, not one array per field: a start that finds a few
 * dozen objects writes one or two pages, not five (a page's first touch
 * costs a process more than the whole search here). */
struct code_ranges {
  int n; /* 0: unknown, every address passes */
  struct code_range r[MAX_CODE];
};
CTRACE_TABLE static struct code_ranges code_tabs[2];
static struct code_ranges *_Atomic code;
static uintptr_t self_lo, self_hi;

/* pcs without the tracer's own frames; how many are left. */
static int filter_self(uintptr_t *pcs, int n) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (pcs[i] < self_lo || pcs[i] >= self_hi)
      pcs[k++] = pcs[i];
  return k;
}

static int add_code(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct code_ranges *c = arg;
  uintptr_t here = (uintptr_t)&add_code;
  const uint8_t *eh = NULL;
  uintptr_t eh_lo = 0, eh_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
      eh = (const uint8_t *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  for (int i = 0; eh && i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && (uintptr_t)eh >= lo && (uintptr_t)eh < lo + ph->p_memsz) {
      eh_lo = lo;
      eh_hi = lo + ph->p_memsz;
    }
  }
  if (!eh_hi)
    eh = NULL; /* not in a loaded segment: not trusted */
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
      continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (here >= lo && here < hi && info->dlpi_name && info->dlpi_name[0]) {
      self_lo = lo; /* a shared object: the tracer alone */
      self_hi = hi;
    }
    if (c->n < 0 || c->n == MAX_CODE) {
      c->n = -1; /* too many: no check */
      continue;
    }
    int k = c->n++;
    while (k > 0 && c->r[k - 1].lo > lo) {
      c->r[k] = c->r[k - 1];
      k--;
    }
    c->r[k] = (struct code_range){lo, hi, eh, eh_lo, eh_hi};
  }
  return 0;
}

static void rules_clear(void);

/* At a trace's start, before any stack of it is captured. */
CTRACE__COLD void ctrace__code_ranges_load(void) {
  struct code_ranges *old = atomic_load(&code);
  struct code_ranges *c = old == &code_tabs[0] ? &code_tabs[1] : &code_tabs[0];
  c->n = 0;
  ctrace__guard++;
  dl_iterate_phdr(add_code, c);
  ctrace__guard--;
  if (c->n < 0)
    c->n = 0;
  rules_clear(); /* objects may have moved since the last trace */
  atomic_store(&code, c);
}

/* The range holding pc, -1 when none; -2 when code is unknown. */
static inline int code_index(const struct code_ranges *c, uintptr_t pc) {
  if (!c || c->n == 0)
    return -2;
  int a = 0, b = c->n; /* the last range starting at or below pc */
  while (b - a > 1) {
    int m = (a + b) / 2;
    if (c->r[m].lo <= pc)
      a = m;
    else
      b = m;
  }
  return pc >= c->r[a].lo && pc < c->r[a].hi ? a : -1;
}

static inline int is_code(const struct code_ranges *c, uintptr_t pc) {
  return code_index(c, pc) != -1;
}

/* Is pc in the code of an object loaded when the trace started (for
 * callchains the kernel walked: sched.c)? */
int ctrace__pc_is_code(uintptr_t pc) {
  return is_code(atomic_load_explicit(&code, memory_order_acquire), pc);
}

/*
 * Walks frame pointers from fp. Each frame is checked before it is read: it
 * must lie inside this thread's stack, be aligned, and lie above the one
 * before; and each return address must point into the code of a loaded
 * object. Code built without frame pointers uses rbp for data, so the walk
 * may stop early, but never reads outside the stack nor records an address
 * that is not code. ~1 ns a frame.
 */
/* The walks read other frames' words of the stack: never a sanitizer's
 * business (they are checked against the stack's bounds). */
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

NO_SANITIZE int ctrace__unwind_fp(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max) {
  uintptr_t lo = t->stack_lo, hi = t->stack_hi;
  uintptr_t f = (uintptr_t)fp;
  const struct code_ranges *c = atomic_load_explicit(&code, memory_order_acquire);
  int n = 0;
  if (!hi) { /* bounds unknown: trust 64 KiB above the current frame */
    lo = f;
    hi = f + 65536;
  }
  while (n < max) {
    if (f < lo || f + 2 * sizeof(uintptr_t) > hi || (f & (sizeof(uintptr_t) - 1)))
      break;
    const uintptr_t *frame = (const uintptr_t *)f;
    uintptr_t ret = frame[1];
    uintptr_t next = frame[0];
    if (ret < 4096 || !is_code(c, ret))
      break;
    pcs[n++] = ret;
    if (next <= f)
      break;
    f = next;
  }
  return n;
}

/*
 * The unwind tables walked by glibc's backtrace() (libgcc's unwinder). It
 * returns our own frames too: the walk starts from the frame whose return
 * address is fp's (our frames do have frame pointers). ~1-3 us a stack; the
 * first call loads libgcc_s, which ctrace__unwind_dwarf_init does at trace
 * start, not in a hot path.
 */
int ctrace__unwind_dwarf(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max) {
  void *raw[CTRACE_MAX_STACK_DEPTH + 16];
  int want = max + 8 < (int)(sizeof raw / sizeof raw[0]) ? max + 8 : (int)(sizeof raw / sizeof raw[0]);
  int n = backtrace(raw, want);
  uintptr_t first = fp ? ((const uintptr_t *)fp)[1] : 0;
  int i = 0;
  while (i < n && (uintptr_t)raw[i] != first)
    i++;
  if (i == n) /* fp's frame not found: fall back to the frame pointers */
    return ctrace__unwind_fp(t, fp, pcs, max);
  int k = 0;
  for (; i < n && k < max; i++)
    pcs[k++] = (uintptr_t)raw[i];
  return k;
}

void ctrace__unwind_dwarf_init(void) {
  void *one[2];
  backtrace(one, 2);
}

/* ---- cfi: rules from .eh_frame, cached per address ---- */

/* The rules are x86-64's (its DWARF register numbers, its signal frame);
 * elsewhere the cfi walker is the frame-pointer walk (the end of file). */
#if defined(__x86_64__)

/*
 * A rule in 64 bits (0: none yet). Type in bits 0-2; bit 3: the CFA is
 * rbp+N (else rsp+N); bit 4: rbp is saved at CFA+M (else unchanged);
 * bits 8-31: N; bits 32-47: M; bits 48-63: where the return address is,
 * from the CFA (-8 on x86-64).
 */
enum {
  R_NONE,   /* not computed (an empty slot, or one being filled) */
  R_CFA,    /* the rule above */
  R_END,    /* the return address is undefined: the outermost frame */
  R_FP,     /* no usable rule: one frame-pointer step */
  R_SIGNAL, /* a signal frame (__restore_rt): registers from the ucontext */
};
#define R_TYPE(v) ((unsigned)((v) & 7))
#define R_RBP_BASE 8u
#define R_RBP_SAVED 16u
#define R_CFA_OFF(v) ((uintptr_t)(((v) >> 8) & 0xffffff))
#define R_RBP_OFF(v) ((intptr_t)(int16_t)((v) >> 32))
#define R_RA_OFF(v) ((intptr_t)(int16_t)((v) >> 48))

/*
 * The rules of all threads by address (the return address less 1): an
 * index (open addressing, 2 bytes a slot) of entries handed out in order.
 * An entry is written before the compare-and-swap that puts its number in
 * the index, so a reader that finds the number finds the rule; never
 * emptied while a trace runs. Full: rules are computed on each use
 * (slower, still right). The first rules a process computes touch the
 * index's 4 pages and the entries' first page; one table of key and rule
 * spread them over its 32 pages, 10-15 us each on a VM at a thread's
 * first stacks.
 */
#define RULE_BITS 13
#define RULE_SLOTS (1u << RULE_BITS)
#define RULE_PROBES 8
CTRACE_TABLE static _Atomic uint16_t rule_index[RULE_SLOTS]; /* entry + 1; 0: none */
CTRACE_TABLE static struct rule_slot {
  _Atomic uint64_t key, val; /* one cache line holds both */
} rules[RULE_SLOTS];
static _Atomic uint32_t rules_used; /* entries handed out */
_Static_assert(RULE_SLOTS < 65536, "entry numbers fit the index's slots");
static _Atomic uint64_t rule_misses; /* rules computed, for the benchmark */

static _Atomic uint32_t rule_gen = 1; /* per-thread rules of older ones are void */

static void rules_clear(void) {
  atomic_fetch_add_explicit(&rule_gen, 1, memory_order_relaxed);
  /* Untouched since the last clear (a process's first trace: zero BSS):
   * writing its 128 KiB would only fault its 32 pages in. */
  static uint64_t misses_at_clear;
  uint64_t m = atomic_load_explicit(&rule_misses, memory_order_relaxed);
  if (m == misses_at_clear)
    return;
  misses_at_clear = m;
  for (uint32_t i = 0; i < RULE_SLOTS; i++)
    atomic_store_explicit(&rule_index[i], 0, memory_order_relaxed);
  atomic_store_explicit(&rules_used, 0, memory_order_relaxed);
}

uint64_t ctrace__unwind_cfi_misses(void) {
  return atomic_load_explicit(&rule_misses, memory_order_relaxed);
}

/* A bounded reader of the tables. */
struct rd {
  const uint8_t *p, *end;
  int bad;
};

static uint64_t rd_fixed(struct rd *r, int n) {
  uint64_t v = 0;
  if (r->end - r->p < n) {
    r->bad = 1;
    r->p = r->end;
    return 0;
  }
  memcpy(&v, r->p, (size_t)n); /* little-endian */
  r->p += n;
  return v;
}

static uint64_t rd_uleb(struct rd *r) {
  uint64_t v = 0;
  for (int s = 0; r->p < r->end; s += 7) {
    uint8_t b = *r->p++;
    if (s < 64)
      v |= (uint64_t)(b & 0x7f) << s;
    if (!(b & 0x80))
      return v;
  }
  r->bad = 1;
  return 0;
}

static int64_t rd_sleb(struct rd *r) {
  uint64_t v = 0;
  int s = 0;
  while (r->p < r->end) {
    uint8_t b = *r->p++;
    if (s < 64)
      v |= (uint64_t)(b & 0x7f) << s;
    s += 7;
    if (!(b & 0x80)) {
      if (s < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << s;
      return (int64_t)v;
    }
  }
  r->bad = 1;
  return 0;
}

/* A DW_EH_PE_* encoded pointer; `datarel` is the base of DW_EH_PE_datarel.
 * An indirect pointer is returned as its address (only skipped here). */
static uintptr_t rd_enc(struct rd *r, uint8_t enc, uintptr_t datarel) {
  if (enc == 0xff)
    return 0; /* DW_EH_PE_omit */
  uintptr_t at = (uintptr_t)r->p;
  uint64_t v;
  switch (enc & 0x0f) {
  case 0x00: v = rd_fixed(r, 8); break;
  case 0x01: v = rd_uleb(r); break;
  case 0x02: v = rd_fixed(r, 2); break;
  case 0x03: v = rd_fixed(r, 4); break;
  case 0x04: v = rd_fixed(r, 8); break;
  case 0x09: v = (uint64_t)rd_sleb(r); break;
  case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
  case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
  case 0x0c: v = rd_fixed(r, 8); break;
  default: r->bad = 1; return 0;
  }
  switch (enc & 0x70) {
  case 0x00: break;
  case 0x10: v += at; break;
  case 0x30: v += datarel; break;
  default: r->bad = 1; return 0;
  }
  return (uintptr_t)v;
}

/* The registers the walk needs (DWARF numbers on x86-64). */
#define DW_FP 6
#define DW_SP 7
#define DW_RA 16
enum { K_SAME, K_OFFSET, K_UNDEF, K_OTHER };
struct reg_rule {
  uint8_t kind;
  int64_t off;
};
struct cfa_state {
  uint64_t reg;
  int64_t off;
  int expr; /* the CFA is a DWARF expression */
  struct reg_rule fp, ra;
};

static void set_rule(struct cfa_state *st, uint64_t reg, uint8_t kind, int64_t off) {
  struct reg_rule *rr = reg == DW_FP ? &st->fp : reg == DW_RA ? &st->ra : NULL;
  if (rr) {
    rr->kind = kind;
    rr->off = off;
  }
}

static void restore_rule(struct cfa_state *st, const struct cfa_state *init, uint64_t reg) {
  if (reg == DW_FP)
    st->fp = init->fp;
  else if (reg == DW_RA)
    st->ra = init->ra;
}

/*
 * Runs CFA instructions from loc until the row covering target is reached.
 * 0, or -1 on an instruction this walker does not know (the caller falls
 * back to frame pointers).
 */
static int cfa_run(struct rd *r, struct cfa_state *st, const struct cfa_state *init, uintptr_t loc,
                   uintptr_t target, uint64_t ca, int64_t da) {
  struct cfa_state saved[8];
  int nsaved = 0;
  while (r->p < r->end && !r->bad) {
    uint8_t op = *r->p++;
    uint64_t delta, reg, len;
    switch (op >> 6) {
    case 1:
      delta = (uint64_t)(op & 0x3f) * ca;
      goto advance;
    case 2:
      set_rule(st, op & 0x3f, K_OFFSET, (int64_t)rd_uleb(r) * da);
      continue;
    case 3:
      restore_rule(st, init, op & 0x3f);
      continue;
    }
    switch (op) {
    case 0x00: /* nop */
      continue;
    case 0x02: delta = rd_fixed(r, 1) * ca; goto advance;
    case 0x03: delta = rd_fixed(r, 2) * ca; goto advance;
    case 0x04: delta = rd_fixed(r, 4) * ca; goto advance;
    case 0x05: /* offset_extended */
      reg = rd_uleb(r);
      set_rule(st, reg, K_OFFSET, (int64_t)rd_uleb(r) * da);
      continue;
    case 0x06: /* restore_extended */
      restore_rule(st, init, rd_uleb(r));
      continue;
    case 0x07: /* undefined */
      set_rule(st, rd_uleb(r), K_UNDEF, 0);
      continue;
    case 0x08: /* same_value */
      set_rule(st, rd_uleb(r), K_SAME, 0);
      continue;
    case 0x09: /* register */
      reg = rd_uleb(r);
      rd_uleb(r);
      set_rule(st, reg, K_OTHER, 0);
      continue;
    case 0x0a: /* remember_state (the CFA too, as GCC's unwinder does) */
      if (nsaved == 8)
        return -1;
      saved[nsaved++] = *st;
      continue;
    case 0x0b: /* restore_state */
      if (nsaved == 0)
        return -1;
      *st = saved[--nsaved];
      continue;
    case 0x0c: /* def_cfa */
      st->reg = rd_uleb(r);
      st->off = (int64_t)rd_uleb(r);
      st->expr = 0;
      continue;
    case 0x0d: /* def_cfa_register */
      st->reg = rd_uleb(r);
      st->expr = 0;
      continue;
    case 0x0e: /* def_cfa_offset */
      st->off = (int64_t)rd_uleb(r);
      continue;
    case 0x0f: /* def_cfa_expression */
      len = rd_uleb(r);
      if ((uint64_t)(r->end - r->p) < len)
        return -1;
      r->p += len;
      st->expr = 1;
      continue;
    case 0x10: /* expression */
    case 0x16: /* val_expression */
      reg = rd_uleb(r);
      len = rd_uleb(r);
      if ((uint64_t)(r->end - r->p) < len)
        return -1;
      r->p += len;
      set_rule(st, reg, K_OTHER, 0);
      continue;
    case 0x11: /* offset_extended_sf */
      reg = rd_uleb(r);
      set_rule(st, reg, K_OFFSET, rd_sleb(r) * da);
      continue;
    case 0x12: /* def_cfa_sf */
      st->reg = rd_uleb(r);
      st->off = rd_sleb(r) * da;
      st->expr = 0;
      continue;
    case 0x13: /* def_cfa_offset_sf */
      st->off = rd_sleb(r) * da;
      continue;
    case 0x14: /* val_offset */
      reg = rd_uleb(r);
      rd_uleb(r);
      set_rule(st, reg, K_OTHER, 0);
      continue;
    case 0x15: /* val_offset_sf */
      reg = rd_uleb(r);
      rd_sleb(r);
      set_rule(st, reg, K_OTHER, 0);
      continue;
    case 0x2e: /* GNU_args_size */
      rd_uleb(r);
      continue;
    case 0x2f: /* GNU_negative_offset_extended */
      reg = rd_uleb(r);
      set_rule(st, reg, K_OFFSET, -(int64_t)rd_uleb(r) * da);
      continue;
    default: /* set_loc and anything newer */
      return -1;
    }
  advance:
    loc += delta;
    if (loc > target)
      return 0;
  }
  return r->bad ? -1 : 0;
}

static uint32_t ld32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* glibc's __restore_rt on x86-64: mov $15 (rt_sigreturn), %rax; syscall. */
static const uint8_t restore_rt[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};

/*
 * The rule at addr, from the object's .eh_frame_hdr: a binary search of its
 * sorted table, then the CIE's and the FDE's instructions up to addr. Reads
 * only the object's mapped tables, within the lengths they declare.
 */
static uint64_t rule_compute(const struct code_ranges *c, uintptr_t addr) {
  int i = code_index(c, addr);
  if (i < 0 || !c->r[i].eh)
    return R_FP;
  /* Every read stays in the segment that holds the tables, and that
   * segment must still be mapped (an object unloaded by dlclose since the
   * trace started would fault): mincore() fails on an unmapped page. */
  const uint8_t *hdr = c->r[i].eh;
  uintptr_t slo = c->r[i].eh_lo, shi = c->r[i].eh_hi;
#define IN_SEG(p, n) ((uintptr_t)(p) >= slo && (uintptr_t)(p) <= shi && (uint64_t)(n) <= shi - (uintptr_t)(p))
  unsigned char vec[1];
  if (!IN_SEG(hdr, 4 + 2 * 9))
    return R_FP;
  int saved_errno = errno;
  int unmapped = mincore((void *)((uintptr_t)hdr & ~(uintptr_t)4095), 1, vec) != 0 && errno == ENOMEM;
  errno = saved_errno;
  if (unmapped)
    return R_FP;
  if (hdr[0] != 1)
    return R_FP;
  struct rd r = {hdr + 4, hdr + 4 + 2 * 9, 0};
  rd_enc(&r, hdr[1], (uintptr_t)hdr); /* .eh_frame's address: unused */
  uint64_t count = rd_enc(&r, hdr[2], (uintptr_t)hdr);
  if (r.bad || hdr[3] != 0x3b /* datarel|sdata4: what every linker writes */ || count == 0 ||
      !IN_SEG(r.p, count * 8))
    return R_FP;
  const uint8_t *tab = r.p;
  /* The last entry whose start is at or below addr. */
  uint64_t a = 0, b = count;
  while (b - a > 1) {
    uint64_t m = (a + b) / 2;
    if ((uintptr_t)hdr + (intptr_t)(int32_t)ld32(tab + 8 * m) <= addr)
      a = m;
    else
      b = m;
  }
  if ((uintptr_t)hdr + (intptr_t)(int32_t)ld32(tab + 8 * a) > addr)
    return R_FP;
  const uint8_t *fde = hdr + (int32_t)ld32(tab + 8 * a + 4);
  if (!IN_SEG(fde, 8))
    return R_FP;
  uint32_t flen = ld32(fde);
  if (flen < 8 || flen == 0xffffffffu || !IN_SEG(fde, 4 + (uint64_t)flen))
    return R_FP;
  uint32_t cie_off = ld32(fde + 4);
  if (cie_off == 0)
    return R_FP;
  const uint8_t *cie = fde + 4 - cie_off;
  if (!IN_SEG(cie, 8))
    return R_FP;
  uint32_t clen = ld32(cie);
  if (clen < 8 || clen == 0xffffffffu || !IN_SEG(cie, 4 + (uint64_t)clen) || ld32(cie + 4) != 0)
    return R_FP;
  struct rd cr = {cie + 8, cie + 4 + clen, 0};
  uint8_t version = (uint8_t)rd_fixed(&cr, 1);
  if (version != 1 && version != 3)
    return R_FP;
  const char *aug = (const char *)cr.p;
  size_t auglen = strnlen(aug, (size_t)(cr.end - cr.p));
  if (auglen == (size_t)(cr.end - cr.p))
    return R_FP;
  cr.p += auglen + 1;
  uint64_t ca = rd_uleb(&cr);
  int64_t da = rd_sleb(&cr);
  uint64_t ra_reg = version == 1 ? rd_fixed(&cr, 1) : rd_uleb(&cr);
  uint8_t fde_enc = 0;
  int signal_frame = 0;
  if (aug[0] == 'z') {
    uint64_t alen = rd_uleb(&cr);
    if (cr.bad || (uint64_t)(cr.end - cr.p) < alen)
      return R_FP;
    const uint8_t *aend = cr.p + alen;
    for (const char *s = aug + 1; *s && !cr.bad; s++) {
      if (*s == 'R')
        fde_enc = (uint8_t)rd_fixed(&cr, 1);
      else if (*s == 'P')
        rd_enc(&cr, (uint8_t)rd_fixed(&cr, 1), 0);
      else if (*s == 'L')
        rd_fixed(&cr, 1);
      else if (*s == 'S')
        signal_frame = 1;
      else if (*s != 'B')
        break; /* unknown: the rest is skipped by its length */
    }
    cr.p = aend;
  } else if (aug[0]) {
    return R_FP;
  }
  if (cr.bad || ra_reg != DW_RA)
    return R_FP;
  struct rd fr = {fde + 8, fde + 4 + flen, 0};
  uintptr_t begin = rd_enc(&fr, fde_enc, 0);
  uintptr_t range = rd_enc(&fr, fde_enc & 0x0f, 0);
  if (fr.bad || addr < begin || addr - begin >= range)
    return R_FP; /* no FDE covers addr */
  if (aug[0] == 'z') {
    uint64_t l = rd_uleb(&fr);
    if (fr.bad || (uint64_t)(fr.end - fr.p) < l)
      return R_FP;
    fr.p += l;
  }
  if (signal_frame) {
    /* The return address of a handler is __restore_rt itself (the FDE
     * starts a byte before it, for this lookup of the address less 1). */
    if (addr + 1 + sizeof restore_rt <= begin + range && addr + 1 + sizeof restore_rt <= c->r[i].hi &&
        memcmp((const void *)(addr + 1), restore_rt, sizeof restore_rt) == 0)
      return R_SIGNAL;
    return R_FP;
  }
#undef IN_SEG
  struct cfa_state st = {DW_SP, 8, 0, {K_SAME, 0}, {K_SAME, 0}};
  if (cfa_run(&cr, &st, &st, begin, UINTPTR_MAX, ca, da) < 0)
    return R_FP;
  struct cfa_state init = st;
  if (cfa_run(&fr, &st, &init, begin, addr, ca, da) < 0)
    return R_FP;
  if (st.ra.kind == K_UNDEF)
    return R_END;
  if (st.expr || (st.reg != DW_SP && st.reg != DW_FP) || st.off <= 0 || st.off >= (1 << 24) ||
      st.ra.kind != K_OFFSET || st.ra.off < -32768 || st.ra.off > 32767)
    return R_FP;
  uint64_t v = R_CFA | (uint64_t)st.off << 8 | (uint64_t)(uint16_t)st.ra.off << 48;
  if (st.reg == DW_FP)
    v |= R_RBP_BASE;
  if (st.fp.kind == K_OFFSET) {
    if (st.fp.off < -32768 || st.fp.off > 32767)
      return R_FP;
    v |= R_RBP_SAVED | (uint64_t)(uint16_t)st.fp.off << 32;
  } else if (st.fp.kind != K_SAME) {
    return R_FP;
  }
  return v;
}

/*
 * A thread's own rules: one word per slot, written in one store (a signal
 * handler of the same thread sees the old word or the new one): the address
 * folded to 32 bits, and the rule in 32 bits (type, base, saved, rbp's
 * offset / 8 in 8 bits, the CFA's offset in 19), for the rules whose return
 * address is at CFA-8. Another address with the same fold in the same slot
 * (odds of 2^-32 for a garbage word) would get its rule: the walk's checks
 * still hold.
 */
static inline uint32_t rule_fold(uintptr_t addr) {
  return (uint32_t)addr ^ (uint32_t)((uint64_t)addr >> 32) * 0x9e3779b1u;
}

static inline uint64_t rule_pack(uintptr_t addr, uint64_t v) {
  if (R_TYPE(v) != R_CFA)
    return R_TYPE(v) == R_NONE ? 0 : (uint64_t)R_TYPE(v) << 32 | rule_fold(addr);
  intptr_t fo = R_RBP_OFF(v);
  uintptr_t co = R_CFA_OFF(v);
  if (R_RA_OFF(v) != -8 || (fo & 7) || fo < -1024 || fo > 1016 || co >= (1u << 19))
    return 0;
  uint32_t r = (uint32_t)(v & 31) | (uint32_t)(uint8_t)(int8_t)(fo / 8) << 5 | (uint32_t)co << 13;
  return (uint64_t)r << 32 | rule_fold(addr);
}

static inline uint64_t rule_unpack(uint32_t r) {
  if ((r & 7) != R_CFA)
    return r & 7;
  int64_t fo = (int64_t)(int8_t)(uint8_t)(r >> 5) * 8;
  return (uint64_t)(r & 31) | (uint64_t)(r >> 13) << 8 | (uint64_t)(uint16_t)fo << 32 |
         (uint64_t)(uint16_t)-8 << 48;
}

/* The rule at addr when the table has it, else R_NONE. An address is
 * added only once its PC passed is_code(), so a hit needs no other check. */
static inline uint64_t rule_find(uintptr_t addr, uint32_t *hash) {
  uint32_t h = (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> (64 - RULE_BITS));
  *hash = h;
  for (uint32_t i = 0; i < RULE_PROBES; i++) {
    uint32_t e = atomic_load_explicit(&rule_index[(h + i) & (RULE_SLOTS - 1)], memory_order_acquire);
    if (e == 0)
      break;
    if (atomic_load_explicit(&rules[e - 1].key, memory_order_relaxed) == addr)
      return atomic_load_explicit(&rules[e - 1].val, memory_order_relaxed);
  }
  return R_NONE;
}

/* Computes the rule at addr and adds it to the table. Lock-free (a signal
 * handler may add one while its thread was adding another); two threads
 * adding the same address at once may use an entry each, one of them
 * never found. */
static uint64_t rule_add(const struct code_ranges *c, uintptr_t addr, uint32_t h) {
  uint64_t v = rule_compute(c, addr);
  atomic_fetch_add_explicit(&rule_misses, 1, memory_order_relaxed);
  if (atomic_load_explicit(&rules_used, memory_order_relaxed) >= RULE_SLOTS)
    return v;
  uint32_t n = atomic_fetch_add_explicit(&rules_used, 1, memory_order_relaxed);
  if (n >= RULE_SLOTS)
    return v;
  atomic_store_explicit(&rules[n].key, addr, memory_order_relaxed);
  atomic_store_explicit(&rules[n].val, v, memory_order_relaxed);
  for (uint32_t i = 0; i < RULE_PROBES; i++) {
    _Atomic uint16_t *slot = &rule_index[(h + i) & (RULE_SLOTS - 1)];
    uint16_t e = 0;
    if (atomic_compare_exchange_strong_explicit(slot, &e, (uint16_t)(n + 1), memory_order_release,
                                                memory_order_acquire))
      break;
    if (atomic_load_explicit(&rules[e - 1].key, memory_order_relaxed) == addr)
      break; /* another thread's: the same rule */
  }
  return v;
}

/*
 * Starts from the frame of the tracer's function fp belongs to (built with
 * frame pointers): its caller's PC, stack pointer and rbp, then a rule per
 * frame. A frame without a usable rule takes one frame-pointer step; the
 * walk ends at the outermost frame (_start, clone3: the return address is
 * undefined), at a signal frame on another stack, or at the first load or
 * address that fails a check.
 */
/* Notes a word of the stack the walk read in lg (NULL: not logging). */
#define WLOG(lg, a, v)                                                         \
  do {                                                                         \
    if (lg) {                                                                  \
      if ((lg)->n < CTRACE__WALK_WORDS) {                                      \
        (lg)->addr[(lg)->n] = (a);                                             \
        (lg)->val[(lg)->n] = (v);                                              \
      }                                                                        \
      (lg)->n++;                                                               \
    }                                                                          \
  } while (0)

/* NO_SANITIZE on the inlined body too, not only on its callers: GCC marks
 * a function's block-scoped locals in and out of scope for ASan when it
 * reads the function, before inlining, and a caller that is not
 * instrumented then never clears those marks when its frame goes away;
 * frames built later over it (a signal handler's) read as out of scope. */
NO_SANITIZE __attribute__((always_inline)) static inline int cfi_walk(struct ctrace__thread *t,
                                                                      void *fp, uintptr_t *pcs,
                                                                      int max,
                                                                      struct ctrace__walk *lg) {
  uintptr_t lo = t->stack_lo, hi = t->stack_hi;
  uintptr_t f = (uintptr_t)fp;
  const struct code_ranges *c = atomic_load_explicit(&code, memory_order_acquire);
  int n = 0;
  if (!hi) {
    lo = f;
    hi = f + 65536;
  }
  if (f < lo || f + 16 > hi || (f & 7))
    return 0;
  uintptr_t pc = ((const uintptr_t *)f)[1];
  uintptr_t rbp = ((const uintptr_t *)f)[0];
  WLOG(lg, f + 8, pc);
  WLOG(lg, f, rbp);
  uintptr_t sp = f + 16;
  uintptr_t adj = 1; /* pc is a return address: its call is at pc - 1 */
  uint32_t gen = atomic_load_explicit(&rule_gen, memory_order_relaxed);
  if (CTRACE__UNLIKELY(t->rule_gen != gen)) {
    for (int i = 0; i < CTRACE__RULE_CACHE; i++)
      __atomic_store_n(&t->rules[i], 0, __ATOMIC_RELAXED);
    t->rule_gen = gen;
  }
  while (n < max) {
    if (pc < 4096)
      break;
    uintptr_t addr = pc - adj;
    uint64_t *mine = &t->rules[(addr ^ (addr >> 6) ^ (addr >> 12)) & (CTRACE__RULE_CACHE - 1)];
    uint64_t w = __atomic_load_n(mine, __ATOMIC_RELAXED);
    uint64_t v;
    if (CTRACE__LIKELY(w && (uint32_t)w == rule_fold(addr))) {
      v = rule_unpack((uint32_t)(w >> 32));
    } else {
      uint32_t h;
      v = rule_find(addr, &h);
      if (CTRACE__UNLIKELY(v == R_NONE)) {
        if (!is_code(c, pc))
          break;
        v = rule_add(c, addr, h);
      }
      __atomic_store_n(mine, rule_pack(addr, v), __ATOMIC_RELAXED);
    }
    pcs[n++] = pc;
    switch (R_TYPE(v)) {
    case R_CFA: {
      uintptr_t cfa = ((v & R_RBP_BASE) ? rbp : sp) + R_CFA_OFF(v);
      uintptr_t ra_at = cfa + (uintptr_t)R_RA_OFF(v);
      if (cfa <= sp || cfa > hi || ra_at < sp || ra_at + 8 > cfa || (ra_at & 7))
        return n;
      if (v & R_RBP_SAVED) {
        uintptr_t fp_at = cfa + (uintptr_t)R_RBP_OFF(v);
        if (fp_at < sp || fp_at + 8 > hi || (fp_at & 7))
          return n;
        rbp = *(const uintptr_t *)fp_at;
        WLOG(lg, fp_at, rbp);
      }
      pc = *(const uintptr_t *)ra_at;
      WLOG(lg, ra_at, pc);
      sp = cfa;
      adj = 1;
      break;
    }
    case R_FP:
      if (rbp < sp || rbp + 16 > hi || (rbp & 7))
        return n;
      pc = ((const uintptr_t *)rbp)[1];
      WLOG(lg, rbp + 8, pc);
      sp = rbp + 16;
      uintptr_t at = rbp;
      rbp = ((const uintptr_t *)rbp)[0];
      WLOG(lg, at, rbp);
      adj = 1;
      break;
    case R_SIGNAL: {
      /* sp is where the handler returned to: the kernel's ucontext. */
      size_t need = offsetof(ucontext_t, uc_mcontext.gregs) + NGREG * sizeof(greg_t);
      if (sp + need > hi || (sp & 7))
        return n;
      if (lg)
        lg->n = CTRACE__WALK_WORDS + 1; /* its words are not logged: not kept */
      const ucontext_t *uc = (const ucontext_t *)sp;
      uintptr_t nsp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
      if (nsp <= sp + need || nsp > hi)
        return n; /* the handler ran on another stack, or garbage */
      pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
      rbp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
      sp = nsp;
      adj = 0; /* the interrupted instruction itself */
      break;
    }
    default: /* R_END: the outermost frame */
      return n;
    }
  }
  return n;
}

NO_SANITIZE int ctrace__unwind_cfi(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max) {
  return cfi_walk(t, fp, pcs, max, NULL);
}

NO_SANITIZE static int cfi_walk_logged(struct ctrace__thread *t, void *fp, uintptr_t *pcs,
                                       int max, struct ctrace__walk *lg) {
  return cfi_walk(t, fp, pcs, max, lg);
}

/* Whole walks are kept for the default walker only. */
static inline int default_walker(void) {
  ctrace__walker *unwind = ctrace__config.unwind;
  return !unwind || unwind == ctrace__unwind_cfi;
}

/* w's stack id when w is a walk from fp in this trace whose words all read
 * the same again, else 0. Each word lies in this thread's stack, within the
 * bounds the walk checked (the frames of fp's callers when the stack is the
 * same; other live stack memory when it is not). */
NO_SANITIZE static uint32_t walk_reread(const struct ctrace__thread *t,
                                        const struct ctrace__walk *w, void *fp) {
  if (w->fp != (uintptr_t)fp || w->session != t->session || !w->id)
    return 0;
  uintptr_t diff = 0;
  for (uint32_t i = 0; i < w->n; i++)
    diff |= *(const volatile uintptr_t *)w->addr[i] ^ w->val[i];
  return diff ? 0 : w->id;
}

/* A walk from the same frame whose stack words read the same is the same
 * stack: its id is reused without walking or hashing (a loop's call site);
 * else the walk logs the words it reads into fp's slot and keeps them with
 * the id it gave. */
/* The walk when w did not give the stack: logged into w, kept with its id.
 * Apart from ctrace__stack_here, whose reuse of a walk is all that runs on
 * the hot code's page (record.h, CTRACE__HOT). */
__attribute__((noinline)) static uint32_t walk_new(struct ctrace__thread *t, void *fp,
                                                   struct ctrace__walk *w) {
  uintptr_t pcs[CTRACE_MAX_STACK_DEPTH];
  if (!default_walker())
    return ctrace__stack_intern(t, pcs, ctrace__stack_capture(t, fp, pcs, 32));
  w->fp = 0;
  w->n = 0;
  int n = filter_self(pcs, cfi_walk_logged(t, fp, pcs, 32, w));
  uint32_t id = ctrace__stack_intern(t, pcs, n);
  if (id && w->n <= CTRACE__WALK_WORDS) {
    w->id = id;
    w->session = t->session;
    w->fp = (uintptr_t)fp;
  }
  return id;
}

CTRACE__HOT uint32_t ctrace__stack_here(struct ctrace__thread *t, void *fp) {
  struct ctrace__walk *w = &t->walks[((uintptr_t)fp >> 4) & (CTRACE__WALK_CACHE - 1)];
  uint32_t id = default_walker() ? walk_reread(t, w, fp) : 0;
  return id ? id : walk_new(t, fp, w);
}

#else /* not x86-64 */

uint32_t ctrace__stack_here(struct ctrace__thread *t, void *fp) {
  uintptr_t pcs[CTRACE_MAX_STACK_DEPTH];
  return ctrace__stack_intern(t, pcs, ctrace__stack_capture(t, fp, pcs, 32));
}

static void rules_clear(void) {}

uint64_t ctrace__unwind_cfi_misses(void) {
  return 0;
}

int ctrace__unwind_cfi(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max) {
  return ctrace__unwind_fp(t, fp, pcs, max);
}

#endif

/* A stack without the tracer's own frames (docs/RUN.md). */
int ctrace__stack_capture(struct ctrace__thread *t, void *fp, uintptr_t *pcs, int max) {
  ctrace__walker *unwind = ctrace__config.unwind;
  int n = unwind ? unwind(t, fp, pcs, max) : ctrace__unwind_cfi(t, fp, pcs, max);
  return filter_self(pcs, n);
}
