/*
 * profile.c - see profile.h. One pass over the threads' events, summing per
 * stack id in a table indexed by stack id (ids are dense, from 1).
 */
#include "profile.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [CTRACE_PROFILE_SYNC] = "sync",
    [CTRACE_PROFILE_NET] = "net",
    [CTRACE_PROFILE_SYSCALL] = "syscall",
    [CTRACE_PROFILE_SLEEP] = "sleep",
};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

int ctrace_profile_kind_parse(const char *name, enum ctrace_profile_kind *out) {
  for (size_t i = 0; name && i < NKINDS; i++)
    if (strcmp(name, kind_names[i]) == 0) {
      *out = (enum ctrace_profile_kind)i;
      return 0;
    }
  return -1;
}

const char *ctrace_profile_kind_name(enum ctrace_profile_kind k) {
  return (unsigned)k < NKINDS ? kind_names[k] : "?";
}

/* Whether ev is a blocking event of kind; *dur and *stack its fields. */
static int matches(const ctrace_event *ev, enum ctrace_profile_kind kind, uint64_t *dur,
                   uint64_t *stack) {
  if (ev->kind == CTRACE_EV_WAIT && ev->nfields >= 4) {
    int sleep = ev->f[0] == CTRACE_WAIT_SLEEP;
    if (kind == CTRACE_PROFILE_SLEEP ? !sleep
        : kind == CTRACE_PROFILE_SYNC ? strcmp(ctrace__wait_reason_class(ev->f[0]), "sync") != 0
                                      : 1)
      return 0;
    *dur = ev->f[2];
    *stack = ev->f[3];
    return 1;
  }
  if (ev->kind == CTRACE_EV_PENDING && ev->nfields >= 6) { /* blocked until the end */
    ctrace_event w = *ev;
    if (ev->f[0]) { /* as the WAIT it would have been */
      w.kind = CTRACE_EV_WAIT;
      w.nfields = 4;
      w.f[1] = ev->f[3];
      w.f[2] = ev->f[4];
      w.f[3] = ev->f[5];
    } else { /* as the SYSCALL */
      w.kind = CTRACE_EV_SYSCALL;
      w.f[0] = ev->f[1];
      w.f[1] = ev->f[2];
      w.f[2] = ev->f[3];
      w.f[3] = 0;
    }
    return matches(&w, kind, dur, stack);
  }
  if (ev->kind == CTRACE_EV_SYSCALL && ev->nfields >= 6) {
    uint64_t cls = ev->f[1];
    int net = cls == CTRACE_SC_NET;
    int other = cls == CTRACE_SC_FILE || cls == CTRACE_SC_POLL || cls == CTRACE_SC_OTHER;
    if (!(kind == CTRACE_PROFILE_NET ? net : kind == CTRACE_PROFILE_SYSCALL ? other : 0))
      return 0;
    *dur = ev->f[4];
    *stack = ev->f[5];
    return 1;
  }
  return 0;
}

static int cmp_entry(const void *a, const void *b) {
  const struct ctrace_profile_entry *x = a, *y = b;
  if (x->total_ns != y->total_ns)
    return x->total_ns > y->total_ns ? -1 : 1;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return x->stack < y->stack ? -1 : x->stack > y->stack;
}

int ctrace_profile_build(const ctrace_reader *r, enum ctrace_profile_kind kind, int64_t start_ns,
                         int64_t end_ns, uint32_t tid, struct ctrace_profile *out) {
  memset(out, 0, sizeof *out);
  uint32_t nstacks = ctrace_reader_nstacks(r);
  /* slot[id]: 1 + index in out->v, 0 when the stack has no entry yet.
   * 4 bytes per defined stack: bounded by the file's size. */
  uint32_t *slot = calloc((size_t)nstacks + 1, sizeof *slot);
  if (!slot)
    return -1;
  size_t cap = 0;
  uint32_t nthreads = ctrace_reader_nthreads(r);
  for (uint32_t i = 0; i < nthreads; i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    if (tid && th->tid != tid)
      continue;
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    while (ctrace_cursor_next(&c, &ev)) {
      uint64_t dur, stack;
      if (!matches(&ev, kind, &dur, &stack))
        continue;
      /* The call ended at ev.ticks and began dur ticks before (never before
       * tick 0, whatever a corrupt dur says). */
      int64_t e = ctrace_reader_ns(r, ev.ticks);
      int64_t b = ctrace_reader_ns(r, dur <= ev.ticks ? ev.ticks - dur : 0);
      if (b > e)
        b = e;
      int64_t lo = b > start_ns ? b : start_ns;
      int64_t hi = e < end_ns ? e : end_ns;
      if (b == e ? !(e >= start_ns && e < end_ns) : lo >= hi)
        continue;
      uint64_t ns = lo < hi ? (uint64_t)(hi - lo) : 0;
      uint32_t id = stack <= nstacks ? (uint32_t)stack : 0;
      if (!slot[id]) {
        if (out->n == cap) {
          size_t nc = cap ? cap * 2 : 64;
          void *nv = realloc(out->v, nc * sizeof *out->v);
          if (!nv)
            goto oom;
          out->v = nv;
          cap = nc;
        }
        out->v[out->n] = (struct ctrace_profile_entry){id, 0, 0};
        slot[id] = (uint32_t)++out->n;
      }
      struct ctrace_profile_entry *en = &out->v[slot[id] - 1];
      en->count++;
      en->total_ns += ns;
      out->total_ns += ns;
    }
  }
  free(slot);
  if (out->n)
    qsort(out->v, out->n, sizeof *out->v, cmp_entry);
  return 0;
oom:
  free(slot);
  ctrace_profile_free(out);
  return -1;
}

void ctrace_profile_free(struct ctrace_profile *p) {
  free(p->v);
  memset(p, 0, sizeof *p);
}
