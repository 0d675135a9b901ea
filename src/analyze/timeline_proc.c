/*
 * timeline_proc.c - the processes of a timeline and their fork and exec
 * links (timeline_proc.h), from the reader's process records, each thread's
 * process and the FORK, EXEC, EXIT and SIGNAL events the scan gathered.
 *
 * Parents: a later image of a pid whose earlier image ended in EXEC is that
 * image's child (an exec link from the EXEC); any other process is the
 * child of the image of its ppid alive when it began (a fork link from that
 * image's FORK naming its pid, the latest before it began). Tree order is a
 * depth-first walk from the roots, siblings by first event. O(p log p + e)
 * for p processes and e such events.
 */
#include "timeline_int.h"

#include <stdlib.h>
#include <string.h>

#include "../base/vec.h"

uint32_t ctrace_timeline_thread_process(const struct ctrace_timeline *tl, uint32_t thread) {
  const struct ctrace_thread_info *ti = ctrace_reader_thread(tl->r, tl->threads[thread].index);
  uint32_t p = ti ? ti->process : 0;
  return p < tl->nprocs ? p : 0;
}

const char *ctrace_tl_proc_status_name(uint32_t status) {
  switch (status) {
  case CTRACE_TL_PROC_COMPLETE:
    return "complete";
  case CTRACE_TL_PROC_RUNNING:
    return "running";
  default:
    return "cut off";
  }
}

const char *ctrace_tl_link_kind_name(uint32_t kind) {
  switch (kind) {
  case CTRACE_TL_LINK_EXEC:
    return "exec";
  case CTRACE_TL_LINK_SPAWN:
    return "spawn";
  default:
    return "fork";
  }
}

/* A process as sorted: by (pid, first event) or by first event. */
struct pkey {
  uint32_t pid, idx;
  int64_t first;
};
static int cmp_pkey_pid(const void *a, const void *b) {
  const struct pkey *x = a, *y = b;
  if (x->pid != y->pid)
    return x->pid < y->pid ? -1 : 1;
  if (x->first != y->first)
    return x->first < y->first ? -1 : 1;
  return x->idx < y->idx ? -1 : 1;
}
static int cmp_pkey_first(const void *a, const void *b) {
  const struct pkey *x = a, *y = b;
  if (x->first != y->first)
    return x->first < y->first ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}
static int cmp_procev(const void *a, const void *b) {
  const struct ctrace_tl_procev *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->thread < y->thread ? -1 : x->thread > y->thread;
}
static int cmp_link(const void *a, const void *b) {
  const struct ctrace_tl_proc_link *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->child < y->child ? -1 : x->child > y->child;
}

int64_t ctrace__timeline_proc_end(const struct ctrace_timeline *tl,
                                  const struct ctrace_thread_info *ti) {
  const ctrace_reader *r = tl->r;
  if (ctrace_reader_nprocesses(r) < 2 || ti->process >= ctrace_reader_nprocesses(r))
    return tl->end_ns; /* one process: as it always was */
  const struct ctrace_process *rp = ctrace_reader_process(r, ti->process);
  if (rp->status != CTRACE_PROC_COMPLETE || !rp->last)
    return tl->end_ns;
  int64_t e = ctrace_reader_ns(r, rp->last);
  return e < tl->end_ns ? e : tl->end_ns;
}

/* How the trace of process p ended: the reader knows (a file's END record,
 * whether its writer still holds it). */
static uint32_t proc_status(const ctrace_reader *r, uint32_t p) {
  const struct ctrace_process *rp = p < ctrace_reader_nprocesses(r) ? ctrace_reader_process(r, p)
                                                                    : NULL;
  if (!rp)
    return ctrace_reader_complete(r) ? CTRACE_TL_PROC_COMPLETE : CTRACE_TL_PROC_CUT_OFF;
  switch (rp->status) {
  case CTRACE_PROC_COMPLETE:
    return CTRACE_TL_PROC_COMPLETE;
  case CTRACE_PROC_RUNNING:
    return CTRACE_TL_PROC_RUNNING;
  default:
    return CTRACE_TL_PROC_CUT_OFF;
  }
}

/* The images of pid (range of byp, sorted by (pid, first)). */
static size_t pid_lower(const struct pkey *byp, size_t n, uint32_t pid) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (byp[mid].pid < pid)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The SPAWN records (kinds 0x80 and above: only ctrace_cursor_next_record
 * returns them) of the threads of the processes marked in want, appended
 * to v. Only processes with a child no FORK explained are read. */
static int gather_spawns(struct ctrace_timeline *tl, const uint8_t *want, struct ctrace_vec *v) {
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    if (!want[ctrace_timeline_thread_process(tl, i)])
      continue;
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, tl->r, tl->threads[i].index);
    while (ctrace_cursor_next_record(&c, &ev)) {
      if (ev.kind != CTRACE_EV_SPAWN)
        continue;
      uint64_t f[3] = {0, 0, 0}; /* child_pid how stack */
      const uint8_t *q = ev.blob, *end = ev.blob + ev.blob_len;
      for (unsigned k = 0; k < 3 && q && q < end; k++)
        q = ctrace__get_uvarint(q, end, &f[k]);
      if (c.shift && f[2]) /* the file's stack ids, as cursors shift fields */
        f[2] = f[2] <= c.knum ? f[2] + c.kbase : 0;
      struct ctrace_tl_procev *p = ctrace_vec_push(v);
      if (!p)
        return -1;
      *p = (struct ctrace_tl_procev){.t = ctrace_reader_ns(tl->r, ev.ticks), .arg = f[0],
                                     .stack = f[2], .thread = i, .kind = CTRACE_EV_SPAWN};
    }
  }
  return 0;
}

/* The calls that make processes, by what they name: FORK and SPAWN by the
 * child's pid, EXEC by the process that exec'd (EXEC_KEY | index); then by
 * time. A child's call is found by binary search: O((p + e) log e). */
#define EXEC_KEY (1ull << 40)
struct callkey {
  uint64_t key;
  int64_t t;
  size_t ev;
};
static int cmp_callkey(const void *a, const void *b) {
  const struct callkey *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->ev < y->ev ? -1 : x->ev > y->ev;
}

/* Sorted keys of the FORK, SPAWN and EXEC events of ev; *n gets their count. */
static struct callkey *call_keys(const struct ctrace_timeline *tl,
                                 const struct ctrace_tl_procev *ev, size_t nev, size_t *n) {
  struct callkey *k = malloc((nev ? nev : 1) * sizeof *k);
  if (!k)
    return NULL;
  *n = 0;
  for (size_t i = 0; i < nev; i++) {
    if (ev[i].kind == CTRACE_EV_FORK || ev[i].kind == CTRACE_EV_SPAWN)
      k[(*n)++] = (struct callkey){ev[i].arg & (EXEC_KEY - 1), ev[i].t, i};
    else if (ev[i].kind == CTRACE_EV_EXEC)
      k[(*n)++] = (struct callkey){EXEC_KEY | ctrace_timeline_thread_process(tl, ev[i].thread),
                                   ev[i].t, i};
  }
  if (*n)
    qsort(k, *n, sizeof *k, cmp_callkey);
  return k;
}

/* The call of process parent under key made at or before t (the latest),
 * else the first after; spawn: whether a SPAWN may be it. NULL: none. */
static const struct ctrace_tl_procev *find_call(const struct ctrace_timeline *tl,
                                                const struct callkey *k, size_t n,
                                                const struct ctrace_tl_procev *ev, uint64_t key,
                                                uint32_t parent, int64_t t, int spawn) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (k[mid].key < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  const struct ctrace_tl_procev *best = NULL;
  for (size_t i = lo; i < n && k[i].key == key; i++) {
    const struct ctrace_tl_procev *e = &ev[k[i].ev];
    if (ctrace_timeline_thread_process(tl, e->thread) != parent ||
        (!spawn && e->kind == CTRACE_EV_SPAWN))
      continue;
    if (!best || e->t <= t)
      best = e;
    if (e->t > t)
      break;
  }
  return best;
}

int ctrace__timeline_procs(struct ctrace_timeline *tl, struct ctrace_vec *procevs) {
  const ctrace_reader *r = tl->r;
  struct ctrace_tl_procev *ev = procevs->v;
  size_t nev = procevs->n;
  uint32_t np = ctrace_reader_nprocesses(r);
  if (!np)
    np = 1; /* a trace without a PROCESS record: its one process */
  struct pkey *byp = NULL;
  uint32_t *kids = NULL, *koff = NULL, *stack = NULL;
  struct ctrace_vec links = CTRACE_VEC(struct ctrace_tl_proc_link);
  struct ctrace_tl_process *pr = calloc(np, sizeof *pr);
  tl->proc_order = malloc(np * sizeof *tl->proc_order);
  byp = malloc(np * sizeof *byp);
  kids = malloc(np * sizeof *kids);
  koff = calloc(np + 2, sizeof *koff);
  stack = malloc(np * sizeof *stack);
  tl->procs = pr;
  tl->nprocs = np;
  if (!pr || !tl->proc_order || !byp || !kids || !koff || !stack)
    goto oom;
  tl->bytes += np * (sizeof *pr + sizeof *tl->proc_order);
  for (uint32_t p = 0; p < np; p++) {
    const struct ctrace_process *rp = p < ctrace_reader_nprocesses(r) ? ctrace_reader_process(r, p)
                                                                      : NULL;
    pr[p] = (struct ctrace_tl_process){
        .pid = rp ? rp->pid : ctrace_reader_pid(r), .ppid = rp ? rp->ppid : 0,
        .exe = rp ? rp->exe : 0, .argv = rp ? rp->argv : 0, .parent = CTRACE_TL_NO_PROC,
        .status = proc_status(r, p), .main_thread = NO_THREAD, .first_ns = INT64_MAX,
        .last_ns = INT64_MIN, .end_ns = INT64_MIN};
  }
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_tl_thread *th = &tl->threads[i];
    struct ctrace_tl_process *p = &pr[ctrace_timeline_thread_process(tl, i)];
    p->nthreads++;
    if (th->first_ns < p->first_ns ||
        (th->first_ns == p->first_ns && th->tid == p->pid)) { /* the main thread on a tie */
      p->first_ns = th->first_ns;
      p->main_thread = i;
    }
    if (th->last_ns > p->last_ns)
      p->last_ns = th->last_ns;
  }
  for (uint32_t p = 0; p < np; p++)
    if (!pr[p].nthreads)
      pr[p].first_ns = pr[p].last_ns = tl->start_ns;
  /* exits and fatal signals, in time order */
  if (nev)
    qsort(ev, nev, sizeof *ev, cmp_procev);
  for (size_t k = 0; k < nev; k++) {
    struct ctrace_tl_process *p = &pr[ctrace_timeline_thread_process(tl, ev[k].thread)];
    if (ev[k].kind == CTRACE_EV_EXIT && !p->exited && !p->signal) {
      p->exited = 1;
      p->exit_code = (int32_t)(int64_t)ev[k].arg;
      p->end_ns = ev[k].t;
    } else if (ev[k].kind == CTRACE_EV_SIGNAL && !p->signal && !p->exited) {
      p->signal = (uint32_t)ev[k].arg;
      p->end_ns = ev[k].t;
    } else if (ev[k].kind == CTRACE_EV_EXEC) {
      p->exec_path = (uint32_t)ev[k].arg; /* the last one: a failed exec goes on */
    }
  }

  /* the reader's view of how each image ended wins (it read every file) */
  for (uint32_t p = 0; p < np && p < ctrace_reader_nprocesses(r); p++) {
    const struct ctrace_process *rp = ctrace_reader_process(r, p);
    if (rp->signal && !pr[p].signal) {
      pr[p].signal = rp->signal;
      pr[p].exited = 0;
    } else if (rp->has_exit && !pr[p].exited && !pr[p].signal) {
      pr[p].exited = 1;
      pr[p].exit_code = (int32_t)rp->exit_status;
    }
  }

  /* parents: the reader's links when it made them (a tree of files) */
  int reader_links = 0;
  for (uint32_t p = 0; p < np && p < ctrace_reader_nprocesses(r); p++) {
    const struct ctrace_process *rp = ctrace_reader_process(r, p);
    int32_t par = rp->exec_from >= 0 ? rp->exec_from : rp->parent;
    if (par >= 0 && (uint32_t)par < np && (uint32_t)par != p) {
      pr[p].parent = (uint32_t)par;
      reader_links = 1;
    }
  }
  for (uint32_t p = 0; p < np; p++)
    byp[p] = (struct pkey){pr[p].pid, p, pr[p].first_ns};
  qsort(byp, np, sizeof *byp, cmp_pkey_pid);
  for (size_t k = 0; k < np && !reader_links; k++) {
    uint32_t c = byp[k].idx;
    struct ctrace_tl_process *cp = &pr[c];
    /* a later image of the same pid, after an EXEC of the one before */
    if (k && byp[k - 1].pid == cp->pid && pr[byp[k - 1].idx].exec_path &&
        byp[k - 1].first <= cp->first_ns) {
      cp->parent = byp[k - 1].idx;
      continue;
    }
    if (!cp->ppid)
      continue;
    /* the image of ppid alive when c began: the latest that began before */
    size_t lo = pid_lower(byp, np, cp->ppid);
    uint32_t best = CTRACE_TL_NO_PROC;
    for (size_t j = lo; j < np && byp[j].pid == cp->ppid; j++)
      if (byp[j].idx != c && byp[j].first <= cp->first_ns)
        best = byp[j].idx;
    if (best == CTRACE_TL_NO_PROC && lo < np && byp[lo].pid == cp->ppid && byp[lo].idx != c)
      best = byp[lo].idx; /* clocks a little apart: the first image */
    cp->parent = best;
  }
  /* a cycle cannot come from real pids, but a damaged file may say
   * anything: cut any that a walk up from a process finds */
  for (uint32_t p = 0; p < np; p++) {
    uint32_t q = pr[p].parent, steps = 0;
    while (q != CTRACE_TL_NO_PROC && q != p && steps++ < np)
      q = pr[q].parent;
    if (q == p)
      pr[p].parent = CTRACE_TL_NO_PROC;
  }

  size_t nkeys;
  struct callkey *keys = call_keys(tl, ev, nev, &nkeys);
  if (!keys)
    goto oom;
  /* spawned children (posix_spawn, vfork): their parents' SPAWN records,
   * read here for those parents only */
  if (ctrace_reader_nevents_kind(r, CTRACE_EV_SPAWN)) {
    uint8_t *want = calloc(np, 1);
    if (!want) {
      free(keys);
      goto oom;
    }
    for (uint32_t c = 0; c < np; c++) {
      uint32_t par = pr[c].parent;
      if (par != CTRACE_TL_NO_PROC && pr[par].pid != pr[c].pid &&
          !find_call(tl, keys, nkeys, ev, pr[c].pid, par, pr[c].first_ns, 0))
        want[par] = 1;
    }
    int rc = gather_spawns(tl, want, procevs);
    free(want);
    free(keys);
    keys = NULL;
    if (rc < 0)
      goto oom;
    ev = procevs->v;
    nev = procevs->n;
    keys = call_keys(tl, ev, nev, &nkeys);
    if (!keys)
      goto oom;
  }

  /* links: the parent's call that made each child */
  for (uint32_t c = 0; c < np; c++) {
    struct ctrace_tl_process *cp = &pr[c];
    if (cp->parent == CTRACE_TL_NO_PROC || cp->main_thread == NO_THREAD)
      continue;
    int exec = pr[cp->parent].pid == cp->pid;
    const struct ctrace_tl_procev *best =
        find_call(tl, keys, nkeys, ev, exec ? EXEC_KEY | cp->parent : cp->pid, cp->parent,
                  cp->first_ns, 1);
    if (!best)
      continue;
    struct ctrace_tl_proc_link *l = ctrace_vec_push(&links);
    if (!l) {
      free(keys);
      goto oom;
    }
    *l = (struct ctrace_tl_proc_link){
        .t = best->t, .t_child = cp->first_ns, .thread = best->thread,
        .child_thread = cp->main_thread, .process = cp->parent, .child = c,
        .kind = exec                             ? CTRACE_TL_LINK_EXEC
                : best->kind == CTRACE_EV_SPAWN ? CTRACE_TL_LINK_SPAWN
                                                : CTRACE_TL_LINK_FORK,
        .stack = best->stack};
  }
  free(keys);
  if (links.n)
    qsort(links.v, links.n, sizeof(struct ctrace_tl_proc_link), cmp_link);
  tl->proc_links = ctrace_vec_take(&links, &tl->nproc_links, &tl->bytes);

  /* tree order: children of each process by first event (counting sort by
   * parent of the processes in first-event order), then a walk */
  for (uint32_t p = 0; p < np; p++)
    byp[p] = (struct pkey){pr[p].pid, p, pr[p].first_ns};
  qsort(byp, np, sizeof *byp, cmp_pkey_first);
  for (uint32_t p = 0; p < np; p++) {
    uint32_t par = pr[p].parent == CTRACE_TL_NO_PROC ? np : pr[p].parent;
    koff[par + 1]++;
  }
  for (uint32_t p = 0; p <= np; p++)
    koff[p + 1] += koff[p];
  {
    uint32_t *fill = stack; /* koff copy, reused below as the walk's stack */
    memcpy(fill, koff, np * sizeof *fill);
    uint32_t root_fill = koff[np];
    for (uint32_t k = 0; k < np; k++) {
      uint32_t p = byp[k].idx;
      if (pr[p].parent == CTRACE_TL_NO_PROC)
        kids[root_fill++] = p;
      else
        kids[fill[pr[p].parent]++] = p;
    }
  }
  uint32_t norder = 0, sp = 0;
  for (uint32_t k = koff[np + 1]; k-- > koff[np];)
    stack[sp++] = kids[k];
  while (sp) {
    uint32_t p = stack[--sp];
    pr[p].order = norder;
    pr[p].depth = pr[p].parent == CTRACE_TL_NO_PROC ? 0 : pr[pr[p].parent].depth + 1;
    tl->proc_order[norder++] = p;
    for (uint32_t k = koff[p + 1]; k-- > koff[p];)
      stack[sp++] = kids[k];
  }
  free(byp);
  free(kids);
  free(koff);
  free(stack);
  free(procevs->v);
  procevs->v = NULL;
  procevs->n = procevs->cap = 0;
  return 0;
oom:
  free(byp);
  free(kids);
  free(koff);
  free(stack);
  ctrace_vec_free(&links);
  return -1;
}

void ctrace__timeline_procs_free(struct ctrace_timeline *tl) {
  free(tl->procs);
  free(tl->proc_order);
  ctrace__tl_free(tl, tl->proc_links);
}
