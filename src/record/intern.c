/*
 * intern.c - strings and stacks, each stored once. A name (ctrace_name_t) is
 * a process-lifetime handle to a string; in each trace it gets a dense id,
 * defined in the metadata on its first use. Stacks (walked by unwind.c) are
 * interned per trace by a 64-bit hash of their PCs.
 * Not the emission of events that use them (api.c, preload).
 */
#include "record.h"

#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

struct name_entry {
  char *s;
  uint32_t len;
  _Atomic uint32_t session; /* trace in which sid is valid */
  uint32_t sid;             /* atomic accesses: read lock-free while a restart rewrites it */
  uint64_t hash;
};

/* Entries live in pages that never move, so the hot path reads them without
 * a lock while new ones are added. 4096 pages of 1024: 4M names. */
#define PAGE_BITS 10
#define NPAGES 4096
/* Zero-filled, not initialised data that the loader would relocate (a page
 * copied per process); pages[0] is set at the first name, and lies on the
 * small variables' page (CTRACE_TABLE_HEAD). */
CTRACE_TABLE_HEAD static struct name_entry *pages[NPAGES];
static uint32_t nnames;           /* handles 1..nnames are valid */
static uint32_t *index_tab;       /* open addressing: hash -> handle */
/* The first page of entries, the first index and the first names' bytes
 * are static: a process with few names (most) allocates and clears none,
 * and malloc's first call would cost a process that never allocates its
 * heap's set-up and pages. A trace's start interns a few names: the index,
 * their bytes and their entries (the page's first 64) share one page of
 * memory, the first a process touches here. */
#define FIRST_INDEX 128
#define FIRST_HEAD 4096
struct first_names {
  uint32_t index[FIRST_INDEX];
  char bytes[FIRST_HEAD / 2 - FIRST_INDEX * sizeof(uint32_t)];
  struct name_entry page[1u << PAGE_BITS]; /* pages[0] */
};
static CTRACE_TABLE _Alignas(4096) struct first_names first;
_Static_assert(offsetof(struct first_names, page) == FIRST_HEAD / 2,
               "the first entries share the index's page");
static size_t first_bytes_used;
static uint32_t index_cap;        /* power of two */
static uint32_t next_string_sid;  /* per trace */

static struct name_entry *entry(ctrace_name_t h) {
  return &pages[h >> PAGE_BITS][h & ((1u << PAGE_BITS) - 1)];
}

static uint64_t hash_bytes(const void *data, size_t n) {
  /* FNV-1a then a final mix: names are short, this is off the hot path. */
  const uint8_t *p = data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static int index_grow(void) {
  uint32_t cap = index_cap ? index_cap * 2 : FIRST_INDEX;
  uint32_t *t = cap == FIRST_INDEX ? first.index : calloc(cap, sizeof *t);
  if (!t)
    return -1;
  for (uint32_t h = 1; h <= nnames; h++) {
    uint32_t i = (uint32_t)entry(h)->hash & (cap - 1);
    while (t[i])
      i = (i + 1) & (cap - 1);
    t[i] = h;
  }
  if (index_tab != first.index)
    free(index_tab);
  index_tab = t;
  index_cap = cap;
  return 0;
}

ctrace_name_t ctrace_name(const char *s) {
  if (!s)
    s = "";
  size_t len = strlen(s);
  if (len > 4096)
    len = 4096; /* names are labels, not data */
  uint64_t h = hash_bytes(s, len);
  ctrace__guard++;
  if (ctrace__lock_ours(&ctrace__meta_lock) != 0) {
    ctrace__guard--;
    return 0;
  }
  ctrace_name_t found = 0;
  if (index_cap) {
    for (uint32_t i = (uint32_t)h & (index_cap - 1); index_tab[i]; i = (i + 1) & (index_cap - 1)) {
      struct name_entry *e = entry(index_tab[i]);
      if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0) {
        found = index_tab[i];
        break;
      }
    }
  }
  if (!found && nnames + 1 < (uint32_t)NPAGES << PAGE_BITS) {
    if ((nnames + 1) * 2 >= index_cap && index_grow() < 0)
      goto out;
    ctrace_name_t nh = nnames + 1;
    if (!pages[nh >> PAGE_BITS]) {
      pages[nh >> PAGE_BITS] =
          nh >> PAGE_BITS ? calloc(1u << PAGE_BITS, sizeof(struct name_entry)) : first.page;
      if (!pages[nh >> PAGE_BITS])
        goto out;
    }
    char *copy;
    if (len + 1 <= sizeof first.bytes - first_bytes_used) {
      copy = first.bytes + first_bytes_used;
      first_bytes_used += len + 1;
    } else if (!(copy = malloc(len + 1))) {
      goto out;
    }
    memcpy(copy, s, len);
    copy[len] = 0;
    struct name_entry *e = entry(nh);
    e->s = copy;
    e->len = (uint32_t)len;
    e->hash = h;
    atomic_store_explicit(&e->session, 0, memory_order_relaxed);
    uint32_t i = (uint32_t)h & (index_cap - 1);
    while (index_tab[i])
      i = (i + 1) & (index_cap - 1);
    index_tab[i] = nh;
    __atomic_store_n(&nnames, nh, __ATOMIC_RELEASE); /* after the page */
    found = nh;
  }
out:
  pthread_mutex_unlock(&ctrace__meta_lock);
  ctrace__guard--;
  return found;
}

/* Defines name in the current trace. Takes ctrace__meta_lock. */
uint32_t ctrace__string_id_slow(ctrace_name_t name) {
  uint32_t s = atomic_load_explicit(&ctrace__session, memory_order_acquire);
  if (!s || !name)
    return 0;
  struct name_entry *e = entry(name);
  uint32_t sid = 0;
  ctrace__guard++;
  if (ctrace__lock_ours(&ctrace__meta_lock) != 0) {
    ctrace__guard--;
    return 0;
  }
  if (atomic_load_explicit(&e->session, memory_order_relaxed) == s) {
    sid = __atomic_load_n(&e->sid, __ATOMIC_RELAXED);
  } else {
    uint8_t *p = ctrace__meta_reserve(2 + 10 + 10 + e->len);
    if (p) {
      sid = ++next_string_sid;
      *p++ = CTRACE_EV_STRING;
      *p++ = 0;
      p = ctrace__put_uvarint(p, sid);
      p = ctrace__put_uvarint(p, e->len);
      memcpy(p, e->s, e->len);
      ctrace__meta_commit(p + e->len);
      __atomic_store_n(&e->sid, sid, __ATOMIC_RELAXED);
      atomic_store_explicit(&e->session, s, memory_order_release);
    }
  }
  pthread_mutex_unlock(&ctrace__meta_lock);
  ctrace__guard--;
  return sid;
}

/* The id of name in the running trace; lock-free once defined. */
uint32_t ctrace__name_session_id(ctrace_name_t name) {
  if (CTRACE__UNLIKELY(name == 0 || name > __atomic_load_n(&nnames, __ATOMIC_ACQUIRE)))
    return 0;
  struct name_entry *e = entry(name);
  if (CTRACE__LIKELY(atomic_load_explicit(&e->session, memory_order_acquire) ==
                     atomic_load_explicit(&ctrace__session, memory_order_relaxed)))
    return __atomic_load_n(&e->sid, __ATOMIC_RELAXED);
  return ctrace__string_id_slow(name);
}

/* Behind ctrace__name_sid_cached: a long name, or a miss. */
uint32_t ctrace__name_sid_slow(struct ctrace__name_slot *slot, const char *s) {
  if (slot->ptr == s && slot->sid != 0 && !slot->n && strcmp(entry(slot->name)->s, s) == 0)
    return slot->sid;
  ctrace_name_t n = ctrace_name(s);
  uint32_t sid = ctrace__name_session_id(n);
  size_t len = strlen(s);
  slot->ptr = s;
  slot->name = n;
  slot->sid = sid;
  slot->n = len < sizeof slot->head ? (uint8_t)(len + 1) : 0;
  if (slot->n)
    memcpy(slot->head, s, slot->n);
  return sid;
}

/* ---- stacks ---- */

static uint64_t *stack_keys; /* per trace: hash -> id, open addressing */
static uint32_t *stack_ids;
static uint32_t stack_cap, nstacks;
/* The last stack defined in this trace: the next one's blob shares its
 * outermost PCs (format.h, ctrace__stack_blob). */
CTRACE_TABLE static uint64_t last_pcs[CTRACE_MAX_STACK_DEPTH];
static int last_n;

/* The table is pages, not malloc's (record.h rule 3): the writer interns
 * the stacks of CPU samples, also in a fatal flush. */
static int stack_grow(void) {
  uint32_t cap = stack_cap ? stack_cap * 2 : 1024;
  uint64_t *k = ctrace__pages_alloc(cap * sizeof *k);
  uint32_t *v = ctrace__pages_alloc(cap * sizeof *v);
  if (!k || !v) {
    if (k)
      ctrace__pages_free(k, cap * sizeof *k);
    if (v)
      ctrace__pages_free(v, cap * sizeof *v);
    return -1;
  }
  for (uint32_t i = 0; i < stack_cap; i++) {
    if (!stack_ids[i])
      continue;
    uint32_t j = (uint32_t)stack_keys[i] & (cap - 1);
    while (v[j])
      j = (j + 1) & (cap - 1);
    k[j] = stack_keys[i];
    v[j] = stack_ids[i];
  }
  if (stack_cap) {
    ctrace__pages_free(stack_keys, stack_cap * sizeof *stack_keys);
    ctrace__pages_free(stack_ids, stack_cap * sizeof *stack_ids);
  }
  stack_keys = k;
  stack_ids = v;
  stack_cap = cap;
  return 0;
}

/* At a trace's start; caller holds ctrace__meta_lock. */
CTRACE__COLD void ctrace__intern_session_reset(void) {
  if (stack_cap) {
    ctrace__pages_free(stack_keys, stack_cap * sizeof *stack_keys);
    ctrace__pages_free(stack_ids, stack_cap * sizeof *stack_ids);
  }
  stack_keys = NULL;
  stack_ids = NULL;
  stack_cap = nstacks = 0;
  last_n = 0;
  next_string_sid = 0;
}

static uint64_t hash_pcs(const uintptr_t *pcs, int n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
  for (int i = 0; i < n; i++) {
    h ^= pcs[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return h | 1; /* 0 marks an empty slot */
}

/*
 * Stacks are told apart by a 64-bit hash of their PCs alone: two different
 * stacks share one with probability about n^2 / 2^65, which for a million
 * distinct stacks is 3e-8. That buys a cache check of one compare.
 */
static uint32_t intern_locked(uint64_t h, const uintptr_t *pcs, int n) {
  CTRACE__ASSERT_HELD(&ctrace__meta_lock);
  uint32_t id = 0;
  if (stack_cap) {
    for (uint32_t i = (uint32_t)h & (stack_cap - 1); stack_ids[i]; i = (i + 1) & (stack_cap - 1)) {
      if (stack_keys[i] == h)
        return stack_ids[i];
    }
  }
  if ((nstacks + 1) * 2 < stack_cap || stack_grow() == 0) {
    uint8_t *p = ctrace__meta_reserve(2 + 10 + 10 + 10 + (size_t)n * 10);
    if (p) {
      id = ++nstacks;
      *p++ = CTRACE_EV_STACK;
      *p++ = 0;
      p = ctrace__put_uvarint(p, id);
      uint8_t tmp[(CTRACE_MAX_STACK_DEPTH + 1) * 10];
      uint64_t cur[CTRACE_MAX_STACK_DEPTH];
      if (n > CTRACE_MAX_STACK_DEPTH)
        n = CTRACE_MAX_STACK_DEPTH;
      for (int i = 0; i < n; i++)
        cur[i] = pcs[i];
      size_t len = ctrace__stack_blob(tmp, cur, n, last_pcs, last_n);
      p = ctrace__put_uvarint(p, (uint64_t)len);
      memcpy(p, tmp, len);
      ctrace__meta_commit(p + len);
      memcpy(last_pcs, cur, (size_t)n * sizeof *cur);
      last_n = n;
      uint32_t i = (uint32_t)h & (stack_cap - 1);
      while (stack_ids[i])
        i = (i + 1) & (stack_cap - 1);
      stack_keys[i] = h;
      stack_ids[i] = id;
    }
  }
  return id;
}

/* The thread's cache, then the table under ctrace__meta_lock. */
static uint32_t intern(struct ctrace__thread *t, const uintptr_t *pcs, int n, int locked) {
  if (n <= 0)
    return 0;
  uint64_t h = hash_pcs(pcs, n);
  struct ctrace__stack_slot *slot = &t->stacks[h & (CTRACE__STACK_CACHE - 1)];
  if (CTRACE__LIKELY(slot->hash == h))
    return slot->id;
  uint32_t id;
  if (locked) {
    id = intern_locked(h, pcs, n);
  } else {
    ctrace__guard++;
    if (ctrace__lock_ours(&ctrace__meta_lock) != 0) {
      ctrace__guard--;
      return 0;
    }
    id = intern_locked(h, pcs, n);
    pthread_mutex_unlock(&ctrace__meta_lock);
    ctrace__guard--;
  }
  if (id) {
    slot->hash = h;
    slot->id = id;
  }
  return id;
}

uint32_t ctrace__stack_intern(struct ctrace__thread *t, const uintptr_t *pcs, int n) {
  return intern(t, pcs, n, 0);
}

uint32_t ctrace__stack_intern_locked(struct ctrace__thread *t, const uintptr_t *pcs, int n) {
  return intern(t, pcs, n, 1);
}

