/*
 * flows.c - DATA and WAKE links between threads (flows.h), from the FD,
 * SHARED and SOCKADDR records and the SYSCALL events of reads and writes.
 *
 * DATA, in one pass over the trace's I/O in time order (the SYSCALL events
 * of reads and writes, and IPC_IO records of those below the minimum
 * duration on pipes and local sockets):
 *   - each process has an fd table (fd -> stream keys), set by FD records
 *     (the object an fd refers to from then on; CLOSE clears it);
 *   - a stream key says where bytes go: a pipe's inode for both ends; for
 *     a socket end of the Unix domain (a socketpair, or a socket connected
 *     by path: the accepted end's record names the connecting end), writes
 *     go to the other end's inode (the FD record's peer, or any record of
 *     the tree that names this inode as a peer) and reads come from its
 *     own; for TCP, writes go to (local,
 *     peer) and reads come from (peer, local), so both processes of a
 *     loopback connection name the same direction alike;
 *   - a write enqueues its byte count on its stream at its start (bytes are
 *     readable from then on), a read dequeues its result from the stream at
 *     its end, one edge per write it took bytes from.
 * WAKE: each SHARED wait (the WAIT just before it in its thread) takes the
 * earliest release of the same key that happened inside the wait and that
 * no earlier-ending wait took, from another thread.
 */
#include "flows.h"

#include "../base/hash.h"
#include "../format/format.h"

#include <stdlib.h>
#include <string.h>

enum { IT_FD, IT_WRITE, IT_READ };

struct fdrec {
  uint32_t how, type;
  uint64_t dev, ino, peer;
  uint8_t local[28], remote[28];
  uint8_t llen, rlen;
};

struct item {
  uint64_t ticks; /* FD: its time; WRITE: the call's start; READ: its end */
  uint64_t end;   /* the call's end */
  uint64_t n;     /* bytes moved */
  uint32_t thread, seq, proc, rec; /* rec: index into fds (FD) */
  int32_t fd;
  uint8_t type;
};

struct swait {
  uint64_t start, end, key, ino, off;
  uint32_t thread, proc;
  uint8_t reason;
};
struct swake {
  uint64_t ticks, key;
  uint32_t thread;
  uint8_t used;
};

struct pending_write {
  uint64_t end, left;
  uint32_t thread;
  int32_t fd;
};
struct stream {
  struct pending_write *q;
  size_t head, n, cap;
  uint8_t object_kind;
  uint64_t object;
};

struct fdslot {
  uint64_t wkey, rkey, object;
  uint8_t object_kind;
  uint8_t set;
  uint8_t remote[28]; /* SOCKADDR's peer, when the FD record had none */
  uint8_t rlen;
};
struct proc_fds {
  struct fdslot *v;
  size_t n;
};

struct build {
  const ctrace_reader *r;
  struct item *it;
  size_t nit, capit;
  struct fdrec *fds;
  size_t nfds, capfds;
  struct swait *waits;
  size_t nwaits, capwaits;
  struct swake *wakes;
  size_t nwakes, capwakes;
  struct ctrace_hash pairs; /* socket inode -> index into fds of a socketpair record naming it as peer */
  struct ctrace_hash made;  /* socket inode + 1 -> CTRACE_FD_* that made it (socketpair, accept, connect) */
  struct ctrace_hash streams;
  struct stream *st;
  size_t nst, capst;
  struct proc_fds *procs;
  size_t nprocs;
  struct ctrace_flows *out;
  size_t capout;
};

#define GROW(b, arr, n, cap)                                                   \
  ((n) < (cap) ? 0                                                             \
               : ((cap) = (cap) ? (cap) * 2 : 64,                              \
                  (arr = realloc_or_free_(arr, (cap) * sizeof *(arr))) ? 0 : -1))

static void *realloc_or_free_(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q)
    free(p);
  return q;
}

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  return h ? h : 1;
}

static uint64_t mix_bytes(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = mix(h, p[i]);
  return h;
}

/* Blobs of uvarints: how many decoded into v (at most max); *pos after. */
static unsigned uvarints(const uint8_t *b, uint32_t len, uint32_t *pos, uint64_t *v, unsigned max) {
  const uint8_t *p = b + *pos, *end = b + len;
  unsigned n = 0;
  while (n < max && p < end) {
    const uint8_t *q = ctrace__get_uvarint(p, end, &v[n]);
    if (!q)
      break;
    p = q;
    n++;
  }
  *pos = (uint32_t)(p - b);
  return n;
}

int ctrace_flow_is_read_call(uint64_t c) {
  return c == CTRACE_CALL_read || c == CTRACE_CALL_readv || c == CTRACE_CALL_recv ||
         c == CTRACE_CALL_recvfrom || c == CTRACE_CALL_recvmsg;
}
int ctrace_flow_is_write_call(uint64_t c) {
  return c == CTRACE_CALL_write || c == CTRACE_CALL_writev || c == CTRACE_CALL_send ||
         c == CTRACE_CALL_sendto || c == CTRACE_CALL_sendmsg || c == CTRACE_CALL_sendfile;
}

static int add_item(struct build *b, const struct item *x) {
  if (GROW(b, b->it, b->nit, b->capit))
    return -1;
  b->it[b->nit++] = *x;
  return 0;
}

static int take_fd(struct build *b, const ctrace_event *ev, struct item *x) {
  uint64_t v[6];
  uint32_t pos = 0;
  if (uvarints(ev->blob, ev->blob_len, &pos, v, 6) != 6)
    return 0;
  if (GROW(b, b->fds, b->nfds, b->capfds))
    return -1;
  struct fdrec *f = &b->fds[b->nfds];
  memset(f, 0, sizeof *f);
  f->how = (uint32_t)v[1];
  f->dev = v[2];
  f->ino = v[3];
  f->type = (uint32_t)v[4];
  f->peer = v[5];
  uint64_t l;
  if (uvarints(ev->blob, ev->blob_len, &pos, &l, 1) == 1 && l <= 28 && pos + l <= ev->blob_len) {
    memcpy(f->local, ev->blob + pos, l);
    f->llen = (uint8_t)l;
    pos += (uint32_t)l;
    if (uvarints(ev->blob, ev->blob_len, &pos, &l, 1) == 1 && l <= 28 &&
        pos + l <= ev->blob_len) {
      memcpy(f->remote, ev->blob + pos, l);
      f->rlen = (uint8_t)l;
    }
  }
  x->type = IT_FD;
  x->fd = (int32_t)(uint32_t)v[0];
  x->rec = (uint32_t)b->nfds++;
  if (f->peer && ctrace_hash_put(&b->pairs, f->peer, x->rec) < 0)
    return -1;
  if (f->type == 12 && (f->how == CTRACE_FD_SOCKETPAIR || f->how == CTRACE_FD_ACCEPT ||
                        f->how == CTRACE_FD_CONNECT) &&
      ctrace_hash_put(&b->made, f->ino + 1, f->how) < 0)
    return -1;
  return add_item(b, x);
}

/* Pass 1: every thread's FD records, reads and writes, SHARED records. */
static int gather(struct build *b) {
  const ctrace_reader *r = b->r;
  uint32_t nth = ctrace_reader_nthreads(r);
  for (uint32_t ti = 0; ti < nth; ti++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, ti);
    ctrace_cursor c;
    ctrace_cursor_init(&c, r, ti);
    ctrace_event ev;
    uint32_t seq = 0;
    struct ctrace_ev_wait last_wait = {0};
    uint64_t last_wait_end = 0;
    int have_wait = 0;
    while (ctrace_cursor_next_record(&c, &ev)) {
      struct item x = {.ticks = ev.ticks, .end = ev.ticks, .thread = ti, .seq = seq++,
                       .proc = th->process};
      if (ev.kind == CTRACE_EV_SYSCALL || ev.kind == CTRACE_EV_IPC_IO) {
        struct ctrace_ev_syscall s = {0};
        if (ev.kind == CTRACE_EV_SYSCALL) {
          s = CTRACE_EV(syscall, &ev);
        } else { /* a call below the minimum duration: fd call result dur */
          uint64_t v[4];
          uint32_t pos = 0;
          if (uvarints(ev.blob, ev.blob_len, &pos, v, 4) != 4 || v[2] > INT64_MAX)
            continue;
          s.fd = v[0];
          s.call = v[1];
          s.result = (int64_t)v[2];
          s.dur = v[3];
        }
        if (s.result <= 0 || !(ctrace_flow_is_read_call(s.call) || ctrace_flow_is_write_call(s.call)))
          continue;
        x.fd = (int32_t)(uint32_t)s.fd;
        x.n = (uint64_t)s.result;
        if (ctrace_flow_is_write_call(s.call)) {
          x.type = IT_WRITE;
          x.ticks = s.dur < ev.ticks ? ev.ticks - s.dur : 0;
        } else {
          x.type = IT_READ;
        }
        if (add_item(b, &x))
          return -1;
      } else if (ev.kind == CTRACE_EV_FD) {
        if (take_fd(b, &ev, &x))
          return -1;
      } else if (ev.kind == CTRACE_EV_SOCKADDR) {
        /* a connect's peer: kept as an FD item of its own kind (how 0) */
        struct ctrace_ev_sockaddr s = CTRACE_EV(sockaddr, &ev);
        if (ev.blob_len > 28 || GROW(b, b->fds, b->nfds, b->capfds))
          continue;
        struct fdrec *f = &b->fds[b->nfds];
        memset(f, 0, sizeof *f);
        memcpy(f->remote, ev.blob, ev.blob_len);
        f->rlen = (uint8_t)ev.blob_len;
        x.type = IT_FD;
        x.fd = (int32_t)(uint32_t)s.fd;
        x.rec = (uint32_t)b->nfds++;
        if (add_item(b, &x))
          return -1;
      } else if (ev.kind == CTRACE_EV_WAIT) {
        last_wait = CTRACE_EV(wait, &ev);
        last_wait_end = ev.ticks;
        have_wait = 1;
      } else if (ev.kind == CTRACE_EV_SHARED) {
        uint64_t v[6];
        uint32_t pos = 0;
        if (uvarints(ev.blob, ev.blob_len, &pos, v, 6) != 6)
          continue;
        uint64_t key = mix(mix(mix(1, v[3]), v[4]), v[5]);
        if (v[0] == CTRACE_SHARED_WAIT && have_wait && last_wait.object == v[2] &&
            last_wait_end == ev.ticks) {
          if (GROW(b, b->waits, b->nwaits, b->capwaits))
            return -1;
          b->waits[b->nwaits++] = (struct swait){
              .start = last_wait.dur < ev.ticks ? ev.ticks - last_wait.dur : 0,
              .end = ev.ticks, .key = key, .ino = v[4], .off = v[5], .thread = ti,
              .proc = th->process, .reason = (uint8_t)v[1]};
        } else if (v[0] == CTRACE_SHARED_WAKE) {
          if (GROW(b, b->wakes, b->nwakes, b->capwakes))
            return -1;
          b->wakes[b->nwakes++] = (struct swake){.ticks = ev.ticks, .key = key, .thread = ti};
        }
      }
    }
  }
  return 0;
}

static int item_cmp(const void *a, const void *b) {
  const struct item *x = a, *y = b;
  if (x->ticks != y->ticks)
    return x->ticks < y->ticks ? -1 : 1;
  if (x->type != y->type)
    return x->type < y->type ? -1 : 1; /* at one instant: objects, writes, reads */
  if (x->thread != y->thread)
    return x->thread < y->thread ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct fdslot *slot(struct build *b, uint32_t proc, int32_t fd, int make) {
  if (fd < 0 || fd > (1 << 22))
    return NULL;
  if (proc >= b->nprocs) {
    if (!make)
      return NULL;
    struct proc_fds *p = realloc(b->procs, (proc + 1) * sizeof *p);
    if (!p)
      return NULL;
    memset(p + b->nprocs, 0, (proc + 1 - b->nprocs) * sizeof *p);
    b->procs = p;
    b->nprocs = proc + 1;
  }
  struct proc_fds *p = &b->procs[proc];
  if ((size_t)fd >= p->n) {
    if (!make)
      return NULL;
    size_t n = (size_t)fd + 16;
    struct fdslot *v = realloc(p->v, n * sizeof *v);
    if (!v)
      return NULL;
    memset(v + p->n, 0, (n - p->n) * sizeof *v);
    p->v = v;
    p->n = n;
  }
  return &p->v[fd];
}

static void tcp_keys(struct fdslot *s, const uint8_t *local, size_t llen, const uint8_t *remote,
                     size_t rlen) {
  /* family (2 bytes) + port + address: compare the meaningful bytes only */
  size_t ln = llen >= 24 ? 24 : 8, rn = rlen >= 24 ? 24 : 8;
  s->wkey = mix_bytes(mix_bytes(mix(3, 0), local, ln), remote, rn);
  s->rkey = mix_bytes(mix_bytes(mix(3, 0), remote, rn), local, ln);
  s->object = s->wkey ^ s->rkey;
  s->object_kind = CTRACE_FLOW_TCP;
  s->set = 1;
}

/* An FD item: what its fd refers to from now on. */
static void apply_fd(struct build *b, const struct item *x) {
  struct fdslot *s = slot(b, x->proc, x->fd, 1);
  if (!s)
    return;
  const struct fdrec *f = &b->fds[x->rec];
  if (f->how == 0) { /* SOCKADDR: the peer of a connect in progress */
    memcpy(s->remote, f->remote, f->rlen);
    s->rlen = f->rlen;
    return;
  }
  uint8_t prev_remote[28], prev_rlen = s->rlen <= 28 ? s->rlen : 0;
  memcpy(prev_remote, s->remote, prev_rlen);
  memset(s, 0, sizeof *s);
  if (f->how == CTRACE_FD_CLOSE)
    return;
  if (f->type == 1) { /* FIFO: a pipe */
    s->wkey = s->rkey = mix(mix(mix(1, 0), f->dev), f->ino);
    s->object = f->ino;
    s->object_kind = CTRACE_FLOW_PIPE;
    s->set = 1;
  } else if (f->type == 12) { /* socket */
    if (f->llen && (f->rlen || (f->how == CTRACE_FD_CONNECT && prev_rlen))) {
      /* a connect still in progress had no peer yet: its SOCKADDR's */
      if (f->rlen)
        tcp_keys(s, f->local, f->llen, f->remote, f->rlen);
      else
        tcp_keys(s, f->local, f->llen, prev_remote, prev_rlen);
      return;
    }
    uint64_t peer = f->peer;
    if (!peer) {
      int64_t i = ctrace_hash_get(&b->pairs, f->ino);
      if (i >= 0)
        peer = b->fds[i].ino; /* the record that named this inode as its peer */
    }
    if (!peer)
      return;
    s->wkey = mix(mix(mix(2, 0), f->dev), peer);
    s->rkey = mix(mix(mix(2, 0), f->dev), f->ino);
    s->object = f->ino;
    /* a socketpair's ends, unless either end was seen made by connect or
     * accept: a Unix-domain socket connected by path */
    int64_t m1 = ctrace_hash_get(&b->made, f->ino + 1), m2 = ctrace_hash_get(&b->made, peer + 1);
    s->object_kind = m1 == CTRACE_FD_SOCKETPAIR || m2 == CTRACE_FD_SOCKETPAIR ||
                             (m1 < 0 && m2 < 0 && f->how != CTRACE_FD_ACCEPT &&
                              f->how != CTRACE_FD_CONNECT)
                         ? CTRACE_FLOW_SOCKETPAIR
                         : CTRACE_FLOW_UNIX;
    s->set = 1;
  }
}

static struct stream *stream_of(struct build *b, uint64_t key, int make) {
  int64_t i = ctrace_hash_get(&b->streams, key);
  if (i >= 0)
    return &b->st[i];
  if (!make)
    return NULL;
  if (GROW(b, b->st, b->nst, b->capst))
    return NULL;
  memset(&b->st[b->nst], 0, sizeof b->st[b->nst]);
  if (ctrace_hash_put(&b->streams, key, (uint32_t)b->nst) < 0)
    return NULL;
  return &b->st[b->nst++];
}

static int emit(struct build *b, const struct ctrace_flow *f) {
  struct ctrace_flows *o = b->out;
  if (GROW(b, o->v, o->n, b->capout))
    return -1;
  o->v[o->n++] = *f;
  return 0;
}

static int data_pass(struct build *b) {
  if (b->nit > 1)
    qsort(b->it, b->nit, sizeof *b->it, item_cmp);
  for (size_t i = 0; i < b->nit; i++) {
    const struct item *x = &b->it[i];
    if (x->type == IT_FD) {
      apply_fd(b, x);
      continue;
    }
    struct fdslot *s = slot(b, x->proc, x->fd, 0);
    if (!s || !s->set)
      continue;
    if (x->type == IT_WRITE) {
      struct stream *st = stream_of(b, s->wkey, 1);
      if (!st)
        return -1;
      if (st->n == st->cap) {
        if (st->head > 0) {
          memmove(st->q, st->q + st->head, (st->n - st->head) * sizeof *st->q);
          st->n -= st->head;
          st->head = 0;
        }
        if (st->n == st->cap) {
          size_t cap = st->cap ? st->cap * 2 : 16;
          struct pending_write *q = realloc(st->q, cap * sizeof *q);
          if (!q)
            return -1;
          st->q = q;
          st->cap = cap;
        }
      }
      st->q[st->n++] = (struct pending_write){x->end, x->n, x->thread, x->fd};
      continue;
    }
    struct stream *st = stream_of(b, s->rkey, 0);
    uint64_t want = x->n;
    while (st && want && st->head < st->n) {
      struct pending_write *w = &st->q[st->head];
      uint64_t take = w->left < want ? w->left : want;
      struct ctrace_flow f = {
          .kind = CTRACE_FLOW_DATA, .object_kind = s->object_kind, .from_thread = w->thread,
          .to_thread = x->thread, .from_ticks = w->end < x->end ? w->end : x->end,
          .to_ticks = x->end, .bytes = take,
          .object = s->object,
          .from_fd = w->fd, .to_fd = x->fd};
      if (emit(b, &f))
        return -1;
      w->left -= take;
      want -= take;
      if (!w->left)
        st->head++;
    }
    b->out->unmatched_read_bytes += want;
  }
  for (size_t i = 0; i < b->nst; i++)
    for (size_t k = b->st[i].head; k < b->st[i].n; k++)
      b->out->unmatched_write_bytes += b->st[i].q[k].left;
  return 0;
}

static int wait_cmp(const void *a, const void *b) {
  const struct swait *x = a, *y = b;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return x->thread < y->thread ? -1 : x->thread > y->thread;
}
static int wake_cmp(const void *a, const void *b) {
  const struct swake *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  if (x->ticks != y->ticks)
    return x->ticks < y->ticks ? -1 : 1;
  return x->thread < y->thread ? -1 : x->thread > y->thread;
}

static int wake_pass(struct build *b) {
  if (b->nwaits > 1)
    qsort(b->waits, b->nwaits, sizeof *b->waits, wait_cmp);
  if (b->nwakes > 1)
    qsort(b->wakes, b->nwakes, sizeof *b->wakes, wake_cmp);
  b->out->shared_waits = b->nwaits;
  for (size_t i = 0; i < b->nwaits; i++) {
    const struct swait *w = &b->waits[i];
    /* first wake of the key at or after the wait's start */
    size_t lo = 0, hi = b->nwakes;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      const struct swake *k = &b->wakes[mid];
      if (k->key < w->key || (k->key == w->key && k->ticks < w->start))
        lo = mid + 1;
      else
        hi = mid;
    }
    for (size_t j = lo; j < b->nwakes && b->wakes[j].key == w->key && b->wakes[j].ticks <= w->end;
         j++) {
      struct swake *k = &b->wakes[j];
      if (k->used || k->thread == w->thread)
        continue;
      k->used = 1;
      struct ctrace_flow f = {.kind = CTRACE_FLOW_WAKE, .object_kind = CTRACE_FLOW_SHARED,
                              .reason = w->reason, .from_thread = k->thread,
                              .to_thread = w->thread, .from_ticks = k->ticks,
                              .to_ticks = w->end, .object = w->ino, .offset = w->off,
                              .from_fd = -1, .to_fd = -1};
      if (emit(b, &f))
        return -1;
      b->out->shared_waits_paired++;
      break;
    }
  }
  return 0;
}

static int flow_cmp(const void *a, const void *b) {
  const struct ctrace_flow *x = a, *y = b;
  if (x->to_ticks != y->to_ticks)
    return x->to_ticks < y->to_ticks ? -1 : 1;
  if (x->from_ticks != y->from_ticks)
    return x->from_ticks < y->from_ticks ? -1 : 1;
  return x->to_thread < y->to_thread ? -1 : x->to_thread > y->to_thread;
}

int ctrace_flows_build(const ctrace_reader *r, struct ctrace_flows *out) {
  memset(out, 0, sizeof *out);
  struct build b = {.r = r, .out = out};
  int rc = gather(&b);
  if (!rc)
    rc = data_pass(&b);
  if (!rc)
    rc = wake_pass(&b);
  if (!rc && out->n)
    qsort(out->v, out->n, sizeof *out->v, flow_cmp); /* stable enough: keys differ */
  free(b.it);
  free(b.fds);
  free(b.waits);
  free(b.wakes);
  for (size_t i = 0; i < b.nst; i++)
    free(b.st[i].q);
  free(b.st);
  for (size_t i = 0; i < b.nprocs; i++)
    free(b.procs[i].v);
  free(b.procs);
  ctrace_hash_free(&b.pairs);
  ctrace_hash_free(&b.made);
  ctrace_hash_free(&b.streams);
  if (rc) {
    ctrace_flows_free(out);
    return -1;
  }
  return 0;
}

void ctrace_flows_free(struct ctrace_flows *f) {
  free(f->v);
  memset(f, 0, sizeof *f);
}

const char *ctrace_flow_kind_name(unsigned kind) {
  return kind == CTRACE_FLOW_DATA ? "data" : kind == CTRACE_FLOW_WAKE ? "wake" : "?";
}

const char *ctrace_flow_object_name(unsigned k) {
  switch (k) {
  case CTRACE_FLOW_PIPE:
    return "pipe";
  case CTRACE_FLOW_SOCKETPAIR:
    return "socketpair";
  case CTRACE_FLOW_TCP:
    return "tcp";
  case CTRACE_FLOW_UNIX:
    return "unix";
  case CTRACE_FLOW_SHARED:
    return "shared";
  default:
    return "?";
  }
}
