/*
 * profile.c - see profile.h. The blocking spans of each thread's state
 * machine (states.h), summed per stack id in a table indexed by stack id
 * (ids are dense, from 1).
 */
#include "profile.h"

#include "states.h"
#include "../format/format.h"
#include "../base/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [CTRACE_PROFILE_SYNC] = "sync",
    [CTRACE_PROFILE_NET] = "net",
    [CTRACE_PROFILE_SYSCALL] = "syscall",
    [CTRACE_PROFILE_SLEEP] = "sleep",
    [CTRACE_PROFILE_POLL] = "poll",
    [CTRACE_PROFILE_CPU] = "cpu",
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
  unsigned base = (unsigned)k & ~(unsigned)CTRACE_PROFILE_NO_IDLE;
  return base < NKINDS ? kind_names[base] : "?";
}

const char *ctrace_profile_call_name(const struct ctrace_profile_entry *e, char *buf, size_t n) {
  if (!n)
    return buf;
  buf[0] = 0;
  if (e->event == CTRACE_EV_SYSCALL) {
    snprintf(buf, n, "%s", ctrace__syscall_name(e->call));
  } else if (e->event == CTRACE_EV_WAIT) {
    /* MUTEX -> mutex, RWLOCK_READ -> rwlock read */
    size_t i = 0;
    for (const char *c = ctrace__wait_reason_name(e->call); *c && i + 1 < n; c++)
      buf[i++] = *c == '_' ? ' ' : (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    buf[i] = 0;
  }
  return buf;
}

const char *ctrace_profile_call_frame(const struct ctrace_profile_entry *e, char *buf, size_t n) {
  char call[32];
  if (!*ctrace_profile_call_name(e, call, sizeof call)) {
    if (n)
      buf[0] = 0;
    return buf;
  }
  snprintf(buf, n, "[%s]", call);
  return buf;
}

/* Whether a blocking span counts in a profile of kind (with its flags). */
static int matches(const struct ctrace_span *sp, unsigned kind) {
  unsigned state = sp->state;
  if ((kind & CTRACE_PROFILE_NO_IDLE) && !sp->call && sp->reason == CTRACE_WAIT_COND)
    return 0; /* a WAIT, or a PENDING wait (parked still at the end) */
  switch ((enum ctrace_profile_kind)(kind & ~(unsigned)CTRACE_PROFILE_NO_IDLE)) {
  case CTRACE_PROFILE_SYNC:
    return state == CTRACE_ST_SYNC;
  case CTRACE_PROFILE_SLEEP:
    return state == CTRACE_ST_SLEEP;
  case CTRACE_PROFILE_NET:
    return state == CTRACE_ST_NET;
  case CTRACE_PROFILE_SYSCALL:
    return state == CTRACE_ST_IO || state == CTRACE_ST_SYSCALL;
  case CTRACE_PROFILE_POLL:
    return state == CTRACE_ST_POLL;
  case CTRACE_PROFILE_CPU:
    return 0;
  }
  return 0;
}

/* What summing spans into a profile needs. */
struct acc {
  struct ctrace_profile *out;
  struct ctrace_vec v; /* the entries, handed to out at the end */
  uint32_t *slot; /* slot[id]: 1 + index in v of the stack's first entry, 0: none yet */
  struct ctrace_vec next; /* per entry: 1 + index of the stack's next entry (another call) */
  uint32_t nstacks;
  unsigned kind; /* enum ctrace_profile_kind | flags */
  int64_t start_ns, end_ns;
  int oom;
};

/* The entry of (stack id, event, call), made when new; NULL when out of
 * memory. A stack's entries are chained: most stacks block in one call. */
static struct ctrace_profile_entry *entry(struct acc *a, uint32_t id, uint8_t event,
                                          uint32_t call) {
  struct ctrace_profile_entry *v = a->v.v;
  uint32_t i = a->slot[id];
  while (i && (v[i - 1].event != event || v[i - 1].call != call))
    i = ((uint32_t *)a->next.v)[i - 1];
  if (i)
    return v + i - 1;
  struct ctrace_profile_entry *en = ctrace_vec_push(&a->v);
  uint32_t *nx = en ? ctrace_vec_push(&a->next) : NULL;
  if (!nx) {
    a->oom = 1;
    return NULL;
  }
  *en = (struct ctrace_profile_entry){.stack = id, .event = event, .call = call};
  *nx = a->slot[id];
  a->slot[id] = (uint32_t)a->v.n;
  return en;
}

/* One span of the state machine: its time inside the window, to its stack.
 * A call with no duration counts when it ends inside the window. Calls still
 * in progress at the end of the trace count up to the end. */
static void on_span(void *arg, const struct ctrace_span *sp) {
  struct acc *a = arg;
  if (a->oom || !sp->kind || !matches(sp, a->kind))
    return;
  int64_t b = sp->start, e = sp->end;
  int64_t lo = b > a->start_ns ? b : a->start_ns;
  int64_t hi = e < a->end_ns ? e : a->end_ns;
  if (b == e ? !(e >= a->start_ns && e < a->end_ns) : lo >= hi)
    return;
  uint64_t ns = lo < hi ? (uint64_t)(hi - lo) : 0;
  uint32_t id = sp->stack <= a->nstacks ? (uint32_t)sp->stack : 0;
  /* a PENDING call (still blocked at the end) is a wait or a system call */
  uint8_t event = sp->call ? CTRACE_EV_SYSCALL : CTRACE_EV_WAIT;
  struct ctrace_profile_entry *en =
      entry(a, id, event, (uint32_t)(event == CTRACE_EV_SYSCALL ? sp->call : sp->reason));
  if (!en)
    return;
  en->count++;
  en->total_ns += ns;
  a->out->total_ns += ns;
}

uint64_t ctrace_profile_sample_period_ns(const ctrace_reader *r) {
  const char *p = ctrace_reader_property(r, "samples");
  unsigned long hz = p ? strtoul(p, NULL, 10) : 0;
  return hz ? 1000000000ull / hz : 0;
}

/* The CPU samples in the window (on thread tid, or all; or on thread index
 * ti when ti is not UINT32_MAX), per stack. */
static void add_samples(const ctrace_reader *r, struct acc *a, uint32_t tid, uint32_t ti) {
  const struct ctrace_cpu_sample *s;
  uint64_t n = ctrace_reader_samples(r, &s);
  uint64_t period = ctrace_profile_sample_period_ns(r);
  for (uint64_t i = ctrace_reader_sample_at(r, a->start_ns); i < n && !a->oom; i++) {
    int64_t t = ctrace_reader_ns(r, s[i].ticks);
    if (t >= a->end_ns)
      break;
    if (t < a->start_ns)
      continue;
    if (ti != UINT32_MAX ? s[i].thread != ti
                         : tid && ctrace_reader_thread(r, s[i].thread)->tid != tid)
      continue;
    uint32_t id = s[i].stack <= a->nstacks ? (uint32_t)s[i].stack : 0;
    struct ctrace_profile_entry *en = entry(a, id, 0, 0);
    if (!en)
      return;
    en->count++;
    en->total_ns += period;
    a->out->total_ns += period;
  }
}

static int cmp_entry(const void *a, const void *b) {
  const struct ctrace_profile_entry *x = a, *y = b;
  if (x->total_ns != y->total_ns)
    return x->total_ns > y->total_ns ? -1 : 1;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  if (x->stack != y->stack)
    return x->stack < y->stack ? -1 : 1;
  if (x->event != y->event)
    return x->event < y->event ? -1 : 1;
  return x->call < y->call ? -1 : x->call > y->call;
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
  struct acc a = {.out = out, .v = CTRACE_VEC(struct ctrace_profile_entry), .slot = slot,
                  .next = CTRACE_VEC(uint32_t), .nstacks = nstacks, .kind = (unsigned)kind,
                  .start_ns = start_ns, .end_ns = end_ns};
  unsigned base = (unsigned)kind & ~(unsigned)CTRACE_PROFILE_NO_IDLE;
  uint32_t nthreads = ctrace_reader_nthreads(r);
  if (base == CTRACE_PROFILE_CPU)
    add_samples(r, &a, tid, UINT32_MAX);
  for (uint32_t i = 0; i < nthreads && !a.oom && base != CTRACE_PROFILE_CPU; i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    if (tid && th->tid != tid)
      continue;
    ctrace_states_thread(r, i, on_span, &a);
  }
  ctrace_vec_free(&a.next);
  if (a.oom) {
    ctrace_vec_free(&a.v);
    goto oom;
  }
  out->v = ctrace_vec_take(&a.v, &out->n, NULL);
  free(slot);
  if (out->n)
    qsort(out->v, out->n, sizeof *out->v, cmp_entry);
  return 0;
oom:
  free(slot);
  ctrace_profile_free(out);
  return -1;
}

int ctrace_profile_build_windows(const ctrace_reader *r, enum ctrace_profile_kind kind,
                                 const struct ctrace_profile_window *w, size_t nw,
                                 struct ctrace_profile *out) {
  memset(out, 0, sizeof *out);
  uint32_t nstacks = ctrace_reader_nstacks(r);
  uint32_t *slot = calloc((size_t)nstacks + 1, sizeof *slot);
  if (!slot)
    return -1;
  struct acc a = {.out = out, .v = CTRACE_VEC(struct ctrace_profile_entry), .slot = slot,
                  .next = CTRACE_VEC(uint32_t), .nstacks = nstacks, .kind = (unsigned)kind};
  unsigned base = (unsigned)kind & ~(unsigned)CTRACE_PROFILE_NO_IDLE;
  for (size_t k = 0; k < nw && !a.oom; k++) {
    if (w[k].thread >= ctrace_reader_nthreads(r) || w[k].start_ns >= w[k].end_ns)
      continue;
    a.start_ns = w[k].start_ns;
    a.end_ns = w[k].end_ns;
    if (base == CTRACE_PROFILE_CPU)
      add_samples(r, &a, 0, w[k].thread);
    else
      ctrace_states_thread(r, w[k].thread, on_span, &a);
  }
  free(slot);
  ctrace_vec_free(&a.next);
  if (a.oom) {
    ctrace_vec_free(&a.v);
    ctrace_profile_free(out);
    return -1;
  }
  out->v = ctrace_vec_take(&a.v, &out->n, NULL);
  if (out->n)
    qsort(out->v, out->n, sizeof *out->v, cmp_entry);
  return 0;
}

void ctrace_profile_free(struct ctrace_profile *p) {
  free(p->v);
  memset(p, 0, sizeof *p);
}
