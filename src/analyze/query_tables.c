/*
 * query_tables.c - the tables of `ctrace query` and of the SQLite export
 * (docs/QUERY.md), as cursors over the reader: each produces its rows on
 * demand, in the reader's order, holding O(1) memory (a thread's open
 * regions aside); only the tasks table (begin and end may be on two
 * threads) and the peer addresses of spans are gathered once, on first use.
 *
 * States come from the one state machine (states.h); times are ns since the
 * trace's start (ctrace_reader_ns), as every command prints them. A thread
 * is a threads.id (the reader's thread index: two threads that had the same
 * tid have two ids); tid columns repeat the kernel's tid for convenience.
 *
 * Not here: SQLite (query_vtab.c and query.c read these cursors).
 */
#include "query_int.h"
#include "flows.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "states.h"
#include "../base/vec.h"

/* ---- values ---- */

static void v_null(struct ctrace_qval *o) { o->type = CTRACE_QV_NULL; }
static void v_int(struct ctrace_qval *o, int64_t i) {
  o->type = CTRACE_QV_INT;
  o->i = i;
}
/* 0 means "none" in the format (stack 0, task 0...): NULL. */
static void v_id(struct ctrace_qval *o, uint64_t id) {
  if (id)
    v_int(o, (int64_t)id);
  else
    v_null(o);
}
static void v_text(struct ctrace_qval *o, const char *s, size_t len) {
  o->type = CTRACE_QV_TEXT;
  o->s = s;
  o->len = len;
}
static void v_cstr(struct ctrace_qval *o, const char *s) {
  if (s)
    v_text(o, s, strlen(s));
  else
    v_null(o);
}
/* A string id of the trace; NULL for 0 or an unknown id. */
static void v_str(struct ctrace_qval *o, const struct ctrace__qsrc *src, uint64_t id) {
  const struct ctrace_string *s = id ? ctrace_reader_string(src->r, id) : NULL;
  if (s)
    v_text(o, s->s, s->len);
  else
    v_null(o);
}

/* A wait reason's name, lowercase ("mutex", "cond"...), into buf. */
static void v_reason(struct ctrace_qval *o, uint64_t reason, char *buf, size_t size) {
  const char *s = ctrace__wait_reason_name(reason);
  size_t n = 0;
  for (; s[n] && n + 1 < size; n++)
    buf[n] = (char)(s[n] >= 'A' && s[n] <= 'Z' ? s[n] - 'A' + 'a' : s[n]);
  buf[n] = 0;
  v_text(o, buf, n);
}

static int64_t ns(const struct ctrace__qsrc *src, uint64_t ticks) {
  return ctrace_reader_ns(src->r, ticks);
}
/* The span of d ticks ending at ticks (docs/FORMAT.md "Spans"): its start. */
static int64_t span_start(const struct ctrace__qsrc *src, uint64_t ticks, uint64_t d) {
  return ns(src, d > ticks ? 0 : ticks - d);
}
static uint32_t tid_of(const struct ctrace__qsrc *src, uint32_t ti) {
  return ctrace_reader_thread(src->r, ti)->tid;
}
/* The time of thread ti's THREAD_EXIT (the first), or of its last event
 * when none is found. Looks in its last batch first: events after the exit
 * (destructors) rarely fill a batch; else reads the whole thread. */
static int64_t exit_time(const struct ctrace__qsrc *src, uint32_t ti) {
  const struct ctrace_thread_info *th = ctrace_reader_thread(src->r, ti);
  ctrace_cursor c;
  ctrace_event ev;
  for (int whole = 0; whole < 2; whole++) {
    ctrace_cursor_init(&c, src->r, ti);
    if (!whole && th->nbatches > 1)
      ctrace_cursor_seek_batch(&c, th->nbatches - 1);
    while (ctrace_cursor_next(&c, &ev))
      if (ev.kind == CTRACE_EV_THREAD_EXIT)
        return ns(src, ev.ticks);
    if (th->nbatches <= 1)
      break;
  }
  return ns(src, th->last);
}

/* A thread's end: its exit, else the trace's end; never before its first
 * event. The rule of the state machine and the timeline (timeline_build.c):
 * events after THREAD_EXIT are outside the thread's life. Cached. */
static int64_t thread_end(struct ctrace__qsrc *src, uint32_t ti) {
  const struct ctrace_thread_info *th = ctrace_reader_thread(src->r, ti);
  if (!src->thread_ends)
    src->thread_ends = calloc(ctrace_reader_nthreads(src->r) + 1, sizeof *src->thread_ends);
  if (src->thread_ends && src->thread_ends[ti].known)
    return src->thread_ends[ti].end;
  int64_t first = ns(src, th->first);
  int64_t end = th->exited                         ? exit_time(src, ti)
                : ctrace_reader_nfiles(src->r) > 1 ? ns(src, ctrace_reader_thread_end(src->r, ti))
                                                   : src->end_ns;
  if (end < first)
    end = first;
  if (src->thread_ends) /* else (out of memory) computed again next time */
    src->thread_ends[ti] = (struct ctrace__qend){end, 1};
  return end;
}

/* ---- walking the events of one thread or of all, thread after thread ---- */

enum { QW_DONE, QW_BEGIN, QW_EVENT, QW_END };
struct qwalk {
  struct ctrace__qsrc *src;
  uint32_t ti, tend; /* current thread index; one past the last */
  int in;            /* 0: thread ti not started; 1: in it; 2: ended */
  ctrace_cursor c;
  ctrace_event ev;
};

static void qwalk_init(struct qwalk *w, struct ctrace__qsrc *src, int64_t thread) {
  uint32_t n = ctrace_reader_nthreads(src->r);
  w->src = src;
  w->in = 0;
  if (thread < 0) {
    w->ti = 0;
    w->tend = n;
  } else {
    w->ti = thread < n ? (uint32_t)thread : n;
    w->tend = thread < n ? (uint32_t)thread + 1 : n;
  }
}

/* QW_BEGIN when thread w->ti starts, QW_EVENT with w->ev, QW_END after its
 * last event, QW_DONE after the last thread. */
static int qwalk_next(struct qwalk *w) {
  for (;;) {
    if (w->ti >= w->tend)
      return QW_DONE;
    switch (w->in) {
    case 0:
      ctrace_cursor_init(&w->c, w->src->r, w->ti);
      w->in = 1;
      return QW_BEGIN;
    case 1:
      if (ctrace_cursor_next(&w->c, &w->ev))
        return QW_EVENT;
      w->in = 2;
      return QW_END;
    default:
      w->ti++;
      w->in = 0;
    }
  }
}

/* The next event of kind, or 0 at the end. */
static int qwalk_kind(struct qwalk *w, unsigned kind) {
  int k;
  while ((k = qwalk_next(w)) != QW_DONE)
    if (k == QW_EVENT && w->ev.kind == kind)
      return 1;
  return 0;
}

static void nothing(void *cur) { (void)cur; }
static uint64_t per_kind(const struct ctrace__qsrc *src, unsigned kind) {
  return ctrace_reader_nevents_kind(src->r, kind) + 1;
}

#define COLS(cols) cols, sizeof cols / sizeof cols[0]

/* ---- trace: one row about the file ---- */

struct one_cur {
  struct ctrace__qsrc *src;
  int done;
};
static int one_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  ((struct one_cur *)cur)->src = src;
  return 0;
}
static int one_next(void *cur) {
  struct one_cur *c = cur;
  return c->done++ == 0;
}
static void trace_column(void *cur, unsigned col, struct ctrace_qval *o) {
  const ctrace_reader *r = ((struct one_cur *)cur)->src->r;
  static const char *const status[] = {"complete", "cut off", "damaged"};
  switch (col) {
  case 0:
    v_int(o, ctrace_reader_end_ns(r));
    break;
  case 1:
    ctrace_reader_start_realtime(r) ? v_int(o, (int64_t)ctrace_reader_start_realtime(r))
                                    : v_null(o);
    break;
  case 2:
    v_int(o, ctrace_reader_pid(r));
    break;
  case 3:
    v_int(o, ctrace_reader_version_minor(r));
    break;
  case 4:
    v_cstr(o, ctrace_reader_ticks_are_tsc(r) ? "tsc" : "monotonic");
    break;
  case 5:
    v_int(o, (int64_t)ctrace_reader_nevents(r));
    break;
  case 6:
    v_int(o, (int64_t)ctrace_reader_dropped(r));
    break;
  case 7:
    v_int(o, (int64_t)ctrace_reader_file_size(r));
    break;
  default: {
    unsigned st = ctrace_reader_status(r);
    /* a 1.1 file that decoded whole but lacks END was cut off too */
    v_cstr(o, st == CTRACE_READ_OK && !ctrace_reader_complete(r) ? status[1]
                                                                 : status[st < 3 ? st : 2]);
  }
  }
}
static uint64_t one_estimate(const struct ctrace__qsrc *src) { return 1; }

static const struct ctrace__qcol trace_cols[] = {
    {"duration", "INTEGER", "from the start (0) to the trace's end, as `ctrace stats` says"},
    {"start_realtime", "INTEGER",
     "CLOCK_REALTIME at the start, ns since the epoch (NULL if unknown)"},
    {"pid", "INTEGER", "the traced process (the file header's pid)"},
    {"format_minor", "INTEGER", "the file format's minor version (1.x)"},
    {"clock", "TEXT", "what the recorder's ticks were: tsc or monotonic"},
    {"events", "INTEGER", "thread events read"},
    {"dropped", "INTEGER", "events the recorder lost"},
    {"bytes", "INTEGER", "the file's size"},
    {"status", "TEXT", "complete, cut off (a crash: read up to the last whole batch) or damaged"},
};
static const struct ctrace__qtable t_trace = {
    "trace", "the trace file itself: one row", COLS(trace_cols), -1, sizeof(struct one_cur),
    one_open, one_next, trace_column, nothing, one_estimate, {-1}, NULL};

/* ---- processes ---- */

struct proc_cur {
  struct ctrace__qsrc *src;
  uint32_t i, n;
  int fallback; /* no PROCESS record: one row from the header's pid */
  char *argv;   /* the current row's argv, items joined by spaces */
};

static int proc_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct proc_cur *c = cur;
  c->src = src;
  c->n = ctrace_reader_nprocesses(src->r);
  c->fallback = c->n == 0;
  if (c->fallback)
    c->n = 1;
  c->i = UINT32_MAX;
  return 0;
}
static int proc_next(void *cur) {
  struct proc_cur *c = cur;
  free(c->argv);
  c->argv = NULL;
  c->i = c->i == UINT32_MAX ? 0 : c->i + 1;
  if (c->i >= c->n)
    return 0;
  if (!c->fallback) {
    const struct ctrace_string *s =
        ctrace_reader_string(c->src->r, ctrace_reader_process(c->src->r, c->i)->argv);
    c->argv = malloc(s ? s->len + 1 : 1);
    if (!c->argv)
      return -1;
    size_t len = s ? s->len : 0;
    for (size_t k = 0; k < len; k++)
      c->argv[k] = s->s[k] == 0x1f ? ' ' : s->s[k];
    c->argv[len] = 0;
  }
  return 1;
}
static void proc_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct proc_cur *c = cur;
  const struct ctrace_process *p = c->fallback ? NULL : ctrace_reader_process(c->src->r, c->i);
  switch (col) {
  case 0:
    v_int(o, p ? p->pid : ctrace_reader_pid(c->src->r));
    break;
  case 1:
    p ? v_int(o, p->ppid) : v_null(o);
    break;
  case 2:
    p ? v_str(o, c->src, p->exe) : v_null(o);
    break;
  case 3:
    p ? v_cstr(o, c->argv) : v_null(o);
    break;
  case 4:
    v_int(o, c->i);
    break;
  case 5:
    p && p->parent >= 0 ? v_int(o, p->parent) : v_null(o);
    break;
  case 6:
    p && p->exec_from >= 0 ? v_int(o, p->exec_from) : v_null(o);
    break;
  case 7:
    p ? v_int(o, ns(c->src, p->first)) : v_null(o);
    break;
  case 8:
    p ? v_int(o, ns(c->src, p->last)) : v_null(o);
    break;
  case 9: {
    static const char *const st[] = {"complete", "running", "cut off", "damaged"};
    p ? v_cstr(o, st[p->status < 4 ? p->status : 3]) : v_null(o);
    break;
  }
  case 10:
    p && p->has_exit ? v_int(o, p->exit_status) : v_null(o);
    break;
  case 11:
    p && p->signal ? v_int(o, p->signal) : v_null(o);
    break;
  default: {
    const char *f = p ? ctrace_reader_file_path(c->src->r, p->file) : NULL;
    f && *f ? v_cstr(o, f) : v_null(o);
  }
  }
}
static void proc_close(void *cur) {
  struct proc_cur *c = cur;
  free(c->argv);
  c->argv = NULL;
}
static uint64_t proc_estimate(const struct ctrace__qsrc *src) { return 1; }

static const struct ctrace__qcol proc_cols[] = {
    {"pid", "INTEGER", "the process id"},
    {"ppid", "INTEGER", "its parent's pid (NULL when the trace has no PROCESS record)"},
    {"exe", "TEXT", "the executable's path"},
    {"argv", "TEXT", "the command line, items separated by spaces"},
    {"id", "INTEGER", "the process image: what threads.process holds (0 for the first file)"},
    {"parent", "INTEGER",
     "the parent's image (processes.id) when it was running when this one started, NULL when "
     "the parent is not traced"},
    {"exec_from", "INTEGER", "the image of the same pid this one replaced by exec (processes.id)"},
    {"start", "INTEGER", "its trace's start"},
    {"end", "INTEGER", "its trace's end (last event or stop)"},
    {"status", "TEXT",
     "complete, running (no END and the writer still holds the file), cut off or damaged"},
    {"exit_status", "INTEGER", "the status it passed to exit(), NULL when not recorded"},
    {"signal", "INTEGER", "the fatal signal recorded, NULL when none"},
    {"file", "TEXT", "the file it was read from (NULL for a trace opened as one file)"},
};
static const struct ctrace__qtable t_processes = {
    "processes", "the traced processes: one per trace file (a process tree: every image)", COLS(proc_cols), -1,
    sizeof(struct proc_cur), proc_open, proc_next, proc_column, proc_close, proc_estimate, {-1},
    NULL};

/* ---- threads ---- */

struct thr_cur {
  struct ctrace__qsrc *src;
  uint32_t i, end;
};

static int thr_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct thr_cur *c = cur;
  uint32_t n = ctrace_reader_nthreads(src->r);
  c->src = src;
  c->i = key < 0 ? 0 : key < n ? (uint32_t)key : n;
  c->end = key < 0 ? n : key < n ? (uint32_t)key + 1 : n;
  c->i--; /* next moves to the first */
  return 0;
}
static int thr_next(void *cur) {
  struct thr_cur *c = cur;
  return ++c->i < c->end;
}
static void thr_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct thr_cur *c = cur;
  const ctrace_reader *r = c->src->r;
  const struct ctrace_thread_info *th = ctrace_reader_thread(r, c->i);
  switch (col) {
  case 0:
    v_int(o, c->i);
    break;
  case 1:
    v_int(o, th->tid);
    break;
  case 2:
    v_int(o, th->instance);
    break;
  case 3:
    v_str(o, c->src, th->name);
    break;
  case 4:
    v_int(o, ns(c->src, th->first));
    break;
  case 5:
    v_int(o, thread_end(c->src, c->i));
    break;
  case 6:
    v_int(o, th->exited != 0);
    break;
  case 7: {
    int64_t k = th->created_by ? ctrace_reader_thread_index_at(r, th->created_by, th->created_at)
                               : -1;
    k >= 0 ? v_int(o, k) : v_null(o);
    break;
  }
  case 8:
    v_id(o, th->created_by);
    break;
  case 9:
    th->created_by ? v_int(o, ns(c->src, th->created_at)) : v_null(o);
    break;
  case 10:
    v_int(o, (int64_t)th->nevents);
    break;
  case 11:
    v_int(o, (int64_t)th->dropped);
    break;
  case 12: {
    uint64_t t0 = ctrace_reader_first_ticks(r);
    v_int(o, ns(c->src, t0 + th->tracer_ns) - ns(c->src, t0));
    break;
  }
  case 13:
    v_int(o, th->process);
    break;
  default: {
    const struct ctrace_process *p = ctrace_reader_process(r, th->process);
    v_int(o, p && p->pid ? p->pid : ctrace_reader_pid(r));
  }
  }
}
static uint64_t thr_estimate(const struct ctrace__qsrc *src) {
  return ctrace_reader_nthreads(src->r) + 1;
}

static const struct ctrace__qcol thr_cols[] = {
    {"id", "INTEGER", "the thread: what the thread columns of the other tables hold"},
    {"tid", "INTEGER",
     "the kernel's thread id (two threads have the same one when the kernel reused it)"},
    {"instance", "INTEGER", "0 for the first thread with this tid, 1 for the next..."},
    {"name", "TEXT", "its last name (an unnamed main thread: the program's name)"},
    {"start", "INTEGER", "its first event"},
    {"end", "INTEGER", "its exit (last event), or the trace's end when it did not exit"},
    {"exited", "INTEGER", "1 when it exited during the trace"},
    {"creator", "INTEGER", "the thread that created it (threads.id), NULL if unknown"},
    {"creator_tid", "INTEGER", "that thread's tid"},
    {"created_at", "INTEGER", "when it was created"},
    {"events", "INTEGER", "events it recorded"},
    {"dropped", "INTEGER", "events the recorder lost on it"},
    {"tracer_ns", "INTEGER", "time it spent inside the tracer (ctrace run's estimate)"},
    {"process", "INTEGER", "its process image (processes.id)"},
    {"pid", "INTEGER", "its process's pid"},
};
static const struct ctrace__qtable t_threads = {
    "threads", "every thread of the trace; tid reuse gives a row per thread", COLS(thr_cols), 0,
    sizeof(struct thr_cur), thr_open, thr_next, thr_column, nothing, thr_estimate, {0, -1}, NULL};

/* ---- peers: SOCKADDR records, for spans.peer ---- */

struct qpeer {
  int64_t t;
  uint32_t fd, thread;
  const uint8_t *addr;
  uint32_t len;
};
struct ctrace__qpeers {
  struct qpeer *by_thread; /* sorted by (fd, thread, t) */
  struct qpeer *by_time;   /* sorted by (fd, t) */
  size_t n;
};

static int cmp_peer_thread(const void *a, const void *b) {
  const struct qpeer *x = a, *y = b;
  if (x->fd != y->fd)
    return x->fd < y->fd ? -1 : 1;
  if (x->thread != y->thread)
    return x->thread < y->thread ? -1 : 1;
  return x->t < y->t ? -1 : x->t > y->t;
}
static int cmp_peer_time(const void *a, const void *b) {
  const struct qpeer *x = a, *y = b;
  if (x->fd != y->fd)
    return x->fd < y->fd ? -1 : 1;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->thread < y->thread ? -1 : x->thread > y->thread;
}

static int peers_build(struct ctrace__qsrc *src) {
  struct ctrace__qpeers *p = calloc(1, sizeof *p);
  struct ctrace_vec v = CTRACE_VEC(struct qpeer);
  struct qwalk w;
  if (!p)
    return -1;
  qwalk_init(&w, src, -1);
  while (qwalk_kind(&w, CTRACE_EV_SOCKADDR)) {
    struct qpeer *e = ctrace_vec_push(&v);
    if (!e)
      goto oom;
    *e = (struct qpeer){ns(src, w.ev.ticks), (uint32_t)CTRACE_EV(sockaddr, &w.ev).fd, w.ti,
                        w.ev.blob, w.ev.blob_len};
  }
  p->n = v.n;
  if (v.n) {
    p->by_time = malloc(v.n * sizeof *p->by_time);
    if (!p->by_time)
      goto oom;
    memcpy(p->by_time, v.v, v.n * sizeof *p->by_time);
    p->by_thread = ctrace_vec_take(&v, NULL, NULL);
    qsort(p->by_thread, p->n, sizeof *p->by_thread, cmp_peer_thread);
    qsort(p->by_time, p->n, sizeof *p->by_time, cmp_peer_time);
  }
  src->peers = p;
  return 0;
oom:
  ctrace_vec_free(&v);
  free(p);
  return -1;
}

/* The last of v[0..n) (sorted by cmp) not after key, among those with key's
 * fd (and thread, when same_thread); NULL when none. */
static const struct qpeer *peer_floor(const struct qpeer *v, size_t n, const struct qpeer *key,
                                      int (*cmp)(const void *, const void *), int same_thread) {
  size_t lo = 0, hi = n; /* first element > key */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp(&v[mid], key) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0)
    return NULL;
  const struct qpeer *p = &v[lo - 1];
  if (p->fd != key->fd || (same_thread && p->thread != key->thread))
    return NULL;
  return p;
}

/* The peer of fd on thread at t, as the viewer gives it (timeline_query.c):
 * the latest SOCKADDR of fd before t on that thread, else on any thread. */
static const struct qpeer *peer_at(const struct ctrace__qpeers *p, uint32_t thread, uint32_t fd,
                                   int64_t t) {
  struct qpeer key = {.t = t, .fd = fd, .thread = thread};
  const struct qpeer *e = peer_floor(p->by_thread, p->n, &key, cmp_peer_thread, 1);
  if (e)
    return e;
  key.thread = UINT32_MAX;
  return peer_floor(p->by_time, p->n, &key, cmp_peer_time, 0);
}

/* "10.0.0.1:80", "[::1]:80", "unix:/path" or "family N". */
static void format_sockaddr(const uint8_t *addr, uint32_t len, char *buf, size_t size) {
  struct sockaddr_storage ss;
  char host[INET6_ADDRSTRLEN] = "";
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, addr, len < sizeof ss ? len : sizeof ss);
  if (ss.ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
  } else if (ss.ss_family == AF_UNIX) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t max = len > off ? len - off : 0;
    if (max > sizeof un->sun_path - 1)
      max = sizeof un->sun_path - 1;
    snprintf(buf, size, "unix:%.*s", (int)strnlen(un->sun_path, max), un->sun_path);
  } else {
    snprintf(buf, size, "family %u", ss.ss_family);
  }
}

/* ---- spans: the state machine's output ---- */

/*
 * Orders. As read (CTRACE__QORDER_NATURAL): by thread, then time. For a
 * GROUP BY or ORDER BY on (thread, state) or on state, which would
 * otherwise sort every span (SQLite's sorter: ~6.5 s of CPU for 7 M spans,
 * bench/query_bench.sh), the cursor reads a thread once per state it was
 * in, keeping that state's spans: SPANS_BY_THREAD_STATE runs the passes
 * thread by thread, SPANS_BY_STATE state by state. States go in the order
 * of their names, so that the rows are sorted, not only grouped. A pass
 * decodes and runs the machine without handing rows to SQLite, which costs
 * a fraction of a row's cost; which states a thread was in is learned once
 * (src->state_masks).
 */
enum { SPANS_BY_THREAD_STATE = 2, SPANS_BY_STATE = 3 };

struct spans_cur {
  struct qwalk w;
  struct ctrace_states m;
  /* Spans reported by the event just fed, handed out from qh on: an event
   * reports a few, the thread's end one per on-CPU interval after its last
   * event (a thread of a process tree ends with its process). */
  CTRACE_TVEC(struct ctrace_span) q;
  size_t qh;
  struct ctrace_span sp; /* the current row */
  char peer[160], reason[32];
  /* passes (orders by state) */
  int order;
  int64_t want;       /* the state kept by this pass, -1: every state */
  uint32_t lo, hi;    /* threads of the scan */
  uint32_t pt;        /* SPANS_BY_THREAD_STATE: the pass's thread */
  int si;             /* index in by_name of the pass's state */
  uint32_t mask;      /* states to visit (of pt, or of every thread) */
  unsigned by_name[CTRACE_ST_COUNT]; /* the states sorted by name */
  int oom;
};

static void spans_push(void *arg, const struct ctrace_span *sp) {
  struct spans_cur *c = arg;
  if (c->want >= 0 && sp->state != (unsigned)c->want)
    return;
  if (c->qh == c->q.n)
    c->qh = c->q.n = 0;
  CTRACE_TVEC_PUSH(c->q, *sp, oom);
  return;
oom:
  c->oom = 1;
}

static void spans_close(void *cur) {
  struct spans_cur *c = cur;
  free(c->q.v);
}

static int cmp_state_name(const void *a, const void *b) {
  return strcmp(ctrace_state_name(*(const unsigned *)a), ctrace_state_name(*(const unsigned *)b));
}

static void or_state(void *arg, const struct ctrace_span *sp) {
  *(uint32_t *)arg |= 1u << sp->state;
}

/* Which states thread ti was in (a pass of the machine, once). 0 when out
 * of memory (then no state: the scan ends early, see spans_next). */
static uint32_t state_mask(struct ctrace__qsrc *src, uint32_t ti) {
  if (!src->state_masks) {
    src->state_masks = calloc(ctrace_reader_nthreads(src->r) + 1, sizeof *src->state_masks);
    if (!src->state_masks)
      return 0;
  }
  if (!(src->state_masks[ti] & 0x80000000u)) {
    uint32_t m = 0;
    ctrace_states_thread(src->r, ti, or_state, &m);
    src->state_masks[ti] = m | 0x80000000u;
  }
  return src->state_masks[ti] & 0x7fffffffu;
}

/* Sets up the next pass of an order by state: 1, or 0 when none is left. */
static int spans_next_pass(struct spans_cur *c) {
  struct ctrace__qsrc *src = c->w.src;
  for (;;) {
    if (c->order == SPANS_BY_THREAD_STATE && c->si < 0) {
      if (c->pt >= c->hi)
        return 0;
      c->mask = state_mask(src, c->pt);
    }
    if (c->order == SPANS_BY_STATE && c->si < 0) {
      c->mask = 0;
      for (uint32_t t = c->lo; t < c->hi; t++)
        c->mask |= state_mask(src, t);
    }
    if (c->hi > c->lo && !src->state_masks) {
      c->oom = 1;
      return 0;
    }
    do
      c->si++;
    while (c->si < CTRACE_ST_COUNT && !(c->mask & (1u << c->by_name[c->si])));
    if (c->si < CTRACE_ST_COUNT) {
      c->want = c->by_name[c->si];
      qwalk_init(&c->w, src, c->order == SPANS_BY_THREAD_STATE ? (int64_t)c->pt : -1);
      if (c->order == SPANS_BY_STATE) { /* the scan's threads */
        c->w.ti = c->lo;
        c->w.tend = c->hi;
      }
      return 1;
    }
    if (c->order == SPANS_BY_STATE)
      return 0;
    c->pt++; /* SPANS_BY_THREAD_STATE: the next thread */
    c->si = -1;
  }
}

static int spans_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct spans_cur *c = cur;
  qwalk_init(&c->w, src, key);
  c->want = -1;
  c->order = order;
  if (order == SPANS_BY_THREAD_STATE || order == SPANS_BY_STATE) {
    for (unsigned i = 0; i < CTRACE_ST_COUNT; i++)
      c->by_name[i] = i;
    qsort(c->by_name, CTRACE_ST_COUNT, sizeof c->by_name[0], cmp_state_name);
    c->lo = c->pt = c->w.ti;
    c->hi = c->w.tend;
    c->si = -1;
    c->w.ti = c->w.tend; /* the first next sets up the first pass */
  }
  return 0;
}

/* Orders by state (see above) for ORDER BY / GROUP BY terms, ascending. */
static int spans_order(const struct ctrace__qorder *o, int n, int grouping) {
  enum { THREAD = 0, STATE = 5 };
  for (int i = 0; i < n; i++)
    if (o[i].desc)
      return 0;
  if ((n == 1 && o[0].col == STATE) || (n == 2 && o[0].col == STATE && o[1].col == THREAD))
    return SPANS_BY_STATE;
  if (n == 2 && o[0].col == THREAD && o[1].col == STATE)
    return SPANS_BY_THREAD_STATE;
  return 0;
}

static int spans_next(void *cur) {
  struct spans_cur *c = cur;
  const struct ctrace__qsrc *src = c->w.src;
  for (;;) {
    if (c->qh < c->q.n) {
      c->sp = c->q.v[c->qh++];
      return 1;
    }
    if (c->oom)
      return -1;
    switch (qwalk_next(&c->w)) {
    case QW_DONE:
      if ((c->order == SPANS_BY_THREAD_STATE || c->order == SPANS_BY_STATE) &&
          spans_next_pass(c))
        break;
      return c->oom ? -1 : 0;
    case QW_BEGIN:
      ctrace_states_init(&c->m, ns(src, ctrace_reader_thread(src->r, c->w.ti)->first),
                         ctrace_states_reader_clock, src->r, spans_push, c);
      ctrace_states_use_sched(&c->m, src->r, c->w.ti); /* as every view: ctrace_states_thread */
      break;
    case QW_EVENT:
      ctrace_states_event(&c->m, &c->w.ev);
      break;
    default: /* a tree's thread ends with its process (ctrace_states_thread) */
      ctrace_states_finish(&c->m, ctrace_reader_nfiles(src->r) > 1
                                      ? ns(src, ctrace_reader_thread_end(src->r, c->w.ti))
                                      : src->end_ns);
    }
  }
}

/* Calls whose result is a byte count. */
static int moves_bytes(uint64_t call) {
  switch (call) {
  case CTRACE_CALL_read: case CTRACE_CALL_write: case CTRACE_CALL_pread: case CTRACE_CALL_pwrite:
  case CTRACE_CALL_readv: case CTRACE_CALL_writev: case CTRACE_CALL_preadv:
  case CTRACE_CALL_pwritev: case CTRACE_CALL_sendfile: case CTRACE_CALL_recv:
  case CTRACE_CALL_recvfrom: case CTRACE_CALL_recvmsg: case CTRACE_CALL_send:
  case CTRACE_CALL_sendto: case CTRACE_CALL_sendmsg:
    return 1;
  default:
    return 0;
  }
}

static void spans_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct spans_cur *c = cur;
  const struct ctrace_span *sp = &c->sp;
  int wait = sp->reason != 0, sys = sp->kind == CTRACE_EV_SYSCALL;
  switch (col) {
  case 0:
    v_int(o, c->w.ti);
    break;
  case 1:
    v_int(o, tid_of(c->w.src, c->w.ti));
    break;
  case 2:
    v_int(o, sp->start);
    break;
  case 3:
    v_int(o, sp->end);
    break;
  case 4:
    v_int(o, sp->end - sp->start);
    break;
  case 5:
    v_cstr(o, ctrace_state_name(sp->state));
    break;
  case 6:
    wait ? v_reason(o, sp->reason, c->reason, sizeof c->reason) : v_null(o);
    break;
  case 7:
    sp->call ? v_cstr(o, ctrace__syscall_name(sp->call)) : v_null(o);
    break;
  case 8:
    wait ? v_int(o, (int64_t)sp->object) : v_null(o);
    break;
  case 9:
    sys ? v_int(o, (int32_t)(uint32_t)sp->fd) : v_null(o);
    break;
  case 10:
    sys ? v_int(o, sp->result) : v_null(o);
    break;
  case 11:
    sys && sp->result >= 0 && moves_bytes(sp->call) ? v_int(o, sp->result) : v_null(o);
    break;
  case 12: {
    struct ctrace__qsrc *src = c->w.src;
    const struct qpeer *p = NULL;
    v_null(o);
    if (!sys || sp->cls != CTRACE_SC_NET)
      break;
    if (!src->peers && peers_build(src) < 0)
      break; /* out of memory: no peer (the query goes on) */
    p = peer_at(src->peers, c->w.ti, (uint32_t)sp->fd, sp->end);
    if (p) {
      format_sockaddr(p->addr, p->len, c->peer, sizeof c->peer);
      v_cstr(o, c->peer);
    }
    break;
  }
  case 13:
    v_id(o, sp->stack);
    break;
  default:
    v_int(o, (sp->flags & CTRACE_SPAN_AT_END) != 0);
  }
}
static uint64_t spans_estimate(const struct ctrace__qsrc *src) {
  return 2 * (ctrace_reader_nevents_kind(src->r, CTRACE_EV_WAIT) +
              ctrace_reader_nevents_kind(src->r, CTRACE_EV_SYSCALL) +
              ctrace_reader_nevents_kind(src->r, CTRACE_EV_PENDING)) +
         ctrace_reader_nthreads(src->r) + 1;
}

static const struct ctrace__qcol spans_cols[] = {
    {"thread", "INTEGER", "threads.id"},
    {"tid", "INTEGER", "the thread's tid"},
    {"start", "INTEGER", "when the span began"},
    {"end", "INTEGER", "when it ended"},
    {"duration", "INTEGER", "end - start"},
    {"state", "TEXT", "running, sync, net, io, poll, sleep, syscall (the states of `ctrace view`)"},
    {"reason", "TEXT",
     "a wait's reason: mutex, rwlock_read, rwlock_write, cond, sem, barrier, join, sleep"},
    {"call", "TEXT", "a system call's name: read, recv, epoll_wait..."},
    {"object", "INTEGER", "a wait's object: the address of the mutex, condition variable..."},
    {"fd", "INTEGER", "a system call's file descriptor (NULL for one in progress at the end)"},
    {"result", "INTEGER", "a system call's result (-errno on failure)"},
    {"bytes", "INTEGER", "bytes a read, write, send or receive moved (its result when >= 0)"},
    {"peer", "TEXT", "a socket call's peer address (from the connect or accept of its fd)"},
    {"stack", "INTEGER", "the blocked call's stack (stacks.id)"},
    {"at_end", "INTEGER", "1 for a call still in progress when the trace ended"},
};
static const struct ctrace__qtable t_spans = {
    "spans", "what each thread was doing, from its first event to its end, without gaps",
    COLS(spans_cols), 0, sizeof(struct spans_cur), spans_open, spans_next, spans_column, spans_close,
    spans_estimate, {0, 2, -1}, spans_order};

/* ---- tasks: paired once across threads ---- */

struct qtask {
  uint64_t id, parent;
  uint32_t name, begin_thread, end_thread, open;
  int64_t start, end;
};
struct ctrace__qtasks {
  struct qtask *v; /* sorted by start */
  size_t n;
};
struct task_ev {
  uint64_t id, parent;
  int64_t t;
  uint32_t name, thread, end;
};

static int cmp_task_ev(const void *a, const void *b) {
  const struct task_ev *x = a, *y = b;
  if (x->id != y->id)
    return x->id < y->id ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return x->t < y->t ? -1 : x->t > y->t;
}
static int cmp_task_start(const void *a, const void *b) {
  const struct qtask *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Pairs TASK_BEGIN and TASK_END by id as the timeline does
 * (timeline_build.c): a task is its id's first begin and last end; one
 * never ended is open to the trace's end; an end without a begin (the task
 * began before the trace) is left out. O(n log n) in task events. */
static int tasks_build(struct ctrace__qsrc *src) {
  struct ctrace__qtasks *tk = calloc(1, sizeof *tk);
  struct ctrace_vec ev = CTRACE_VEC(struct task_ev), out = CTRACE_VEC(struct qtask);
  struct qwalk w;
  int k;
  if (!tk)
    return -1;
  qwalk_init(&w, src, -1);
  while ((k = qwalk_next(&w)) != QW_DONE) {
    if (k != QW_EVENT || (w.ev.kind != CTRACE_EV_TASK_BEGIN && w.ev.kind != CTRACE_EV_TASK_END))
      continue;
    struct task_ev *e = ctrace_vec_push(&ev);
    if (!e)
      goto oom;
    *e = (struct task_ev){.t = ns(src, w.ev.ticks), .thread = w.ti};
    if (w.ev.kind == CTRACE_EV_TASK_END) {
      e->id = CTRACE_EV(task_end, &w.ev).task;
      e->end = 1;
    } else {
      struct ctrace_ev_task_begin tb = CTRACE_EV(task_begin, &w.ev);
      e->id = tb.task;
      e->parent = tb.parent;
      e->name = (uint32_t)tb.name;
    }
  }
  struct task_ev *e = ev.v;
  if (ev.n)
    qsort(e, ev.n, sizeof *e, cmp_task_ev);
  for (size_t i = 0; i < ev.n;) {
    size_t j = i;
    while (j < ev.n && e[j].id == e[i].id)
      j++;
    if (!e[i].end) {
      struct qtask *t = ctrace_vec_push(&out);
      if (!t)
        goto oom;
      *t = (struct qtask){.id = e[i].id, .parent = e[i].parent, .name = e[i].name,
                          .begin_thread = e[i].thread, .end_thread = UINT32_MAX, .open = 1,
                          .start = e[i].t, .end = src->end_ns};
      if (e[j - 1].end) {
        t->end = e[j - 1].t < t->start ? t->start : e[j - 1].t;
        t->end_thread = e[j - 1].thread;
        t->open = 0;
      }
    }
    i = j;
  }
  ctrace_vec_free(&ev);
  if (out.n)
    qsort(out.v, out.n, out.size, cmp_task_start);
  tk->v = ctrace_vec_take(&out, &tk->n, NULL);
  src->tasks = tk;
  return 0;
oom:
  ctrace_vec_free(&ev);
  ctrace_vec_free(&out);
  free(tk);
  return -1;
}

struct tasks_cur {
  struct ctrace__qsrc *src;
  size_t i;
};
static int tasks_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct tasks_cur *c = cur;
  c->src = src;
  c->i = SIZE_MAX;
  return src->tasks || tasks_build(src) == 0 ? 0 : -1;
}
static int tasks_next(void *cur) {
  struct tasks_cur *c = cur;
  c->i = c->i == SIZE_MAX ? 0 : c->i + 1;
  return c->i < c->src->tasks->n;
}
static void tasks_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct tasks_cur *c = cur;
  const struct qtask *t = &c->src->tasks->v[c->i];
  switch (col) {
  case 0:
    v_int(o, (int64_t)t->id);
    break;
  case 1:
    v_id(o, t->parent);
    break;
  case 2:
    v_str(o, c->src, t->name);
    break;
  case 3:
    v_int(o, t->start);
    break;
  case 4:
    v_int(o, t->end);
    break;
  case 5:
    v_int(o, t->end - t->start);
    break;
  case 6:
    v_int(o, t->open);
    break;
  case 7:
    v_int(o, t->begin_thread);
    break;
  case 8:
    v_int(o, tid_of(c->src, t->begin_thread));
    break;
  case 9:
    t->open ? v_null(o) : v_int(o, t->end_thread);
    break;
  default:
    t->open ? v_null(o) : v_int(o, tid_of(c->src, t->end_thread));
  }
}
static uint64_t tasks_estimate(const struct ctrace__qsrc *src) {
  return per_kind(src, CTRACE_EV_TASK_BEGIN);
}

static const struct ctrace__qcol tasks_cols[] = {
    {"id", "INTEGER", "the task's id (ctrace_task_begin)"},
    {"parent", "INTEGER", "its parent task's id, NULL if none"},
    {"name", "TEXT", "its name"},
    {"start", "INTEGER", "its begin"},
    {"end", "INTEGER", "its end (the trace's end when open)"},
    {"duration", "INTEGER", "end - start"},
    {"open", "INTEGER", "1 when it never ended"},
    {"begin_thread", "INTEGER", "the thread that began it (threads.id)"},
    {"begin_tid", "INTEGER", "that thread's tid"},
    {"end_thread", "INTEGER", "the thread that ended it, NULL when open"},
    {"end_tid", "INTEGER", "that thread's tid"},
};
static const struct ctrace__qtable t_tasks = {
    "tasks", "tasks (which may begin and end on different threads), by start", COLS(tasks_cols),
    -1, sizeof(struct tasks_cur), tasks_open, tasks_next, tasks_column, nothing, tasks_estimate,
    {3, -1}, NULL};

/* ---- regions ---- */

struct open_region {
  int64_t start;
  uint64_t task;
  uint32_t name;
};
struct regions_cur {
  struct qwalk w;
  struct ctrace_vec stack; /* open regions of the thread, outermost first */
  struct open_region row;
  int64_t end, first, tend;
  unsigned depth, open, draining;
};

static int regions_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct regions_cur *c = cur;
  c->stack = CTRACE_VEC(struct open_region);
  qwalk_init(&c->w, src, key);
  return 0;
}
static int regions_next(void *cur) {
  struct regions_cur *c = cur;
  struct ctrace__qsrc *src = c->w.src;
  for (;;) {
    if (c->draining) { /* regions still open at the thread's end */
      if (c->stack.n) {
        c->stack.n--;
        c->row = ((struct open_region *)c->stack.v)[c->stack.n];
        c->depth = (unsigned)c->stack.n;
        c->end = c->tend;
        c->open = 1;
        return 1;
      }
      c->draining = 0;
    }
    switch (qwalk_next(&c->w)) {
    case QW_DONE:
      return 0;
    case QW_BEGIN:
      c->stack.n = 0;
      c->first = ns(src, ctrace_reader_thread(src->r, c->w.ti)->first);
      c->tend = thread_end(src, c->w.ti);
      break;
    case QW_EVENT: {
      if (c->w.ev.kind != CTRACE_EV_REGION_BEGIN && c->w.ev.kind != CTRACE_EV_REGION_END)
        break;
      int64_t t = ns(src, c->w.ev.ticks); /* within the thread's life, as in the timeline */
      t = t < c->first ? c->first : t > c->tend ? c->tend : t;
      if (c->w.ev.kind == CTRACE_EV_REGION_BEGIN) {
        struct ctrace_ev_region_begin rb = CTRACE_EV(region_begin, &c->w.ev);
        struct open_region *o = ctrace_vec_push(&c->stack);
        if (!o)
          return -1;
        *o = (struct open_region){t, rb.task, (uint32_t)rb.name};
      } else if (c->stack.n) { /* an end with no open region is ignored */
        c->stack.n--;
        c->row = ((struct open_region *)c->stack.v)[c->stack.n];
        c->depth = (unsigned)c->stack.n;
        c->end = t;
        c->open = 0;
        return 1;
      }
      break;
    }
    default:
      c->draining = 1;
    }
  }
}
static void regions_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct regions_cur *c = cur;
  switch (col) {
  case 0:
    v_int(o, c->w.ti);
    break;
  case 1:
    v_int(o, tid_of(c->w.src, c->w.ti));
    break;
  case 2:
    v_str(o, c->w.src, c->row.name);
    break;
  case 3:
    v_id(o, c->row.task);
    break;
  case 4:
    v_int(o, c->row.start);
    break;
  case 5:
    v_int(o, c->end);
    break;
  case 6:
    v_int(o, c->end - c->row.start);
    break;
  case 7:
    v_int(o, c->depth);
    break;
  default:
    v_int(o, c->open);
  }
}
static void regions_close(void *cur) {
  struct regions_cur *c = cur;
  ctrace_vec_free(&c->stack);
}
static uint64_t regions_estimate(const struct ctrace__qsrc *src) {
  return per_kind(src, CTRACE_EV_REGION_BEGIN);
}

static const struct ctrace__qcol regions_cols[] = {
    {"thread", "INTEGER", "threads.id"},
    {"tid", "INTEGER", "the thread's tid"},
    {"name", "TEXT", "the region's name"},
    {"task", "INTEGER", "the task it belongs to (tasks.id), NULL if none"},
    {"start", "INTEGER", "its begin"},
    {"end", "INTEGER", "its end (the thread's end when open)"},
    {"duration", "INTEGER", "end - start"},
    {"depth", "INTEGER", "0 for an outermost region, 1 inside one..."},
    {"open", "INTEGER", "1 when it never ended"},
};
static const struct ctrace__qtable t_regions = {
    "regions", "regions, per thread, in order of their end", COLS(regions_cols), 0,
    sizeof(struct regions_cur), regions_open, regions_next, regions_column, regions_close,
    regions_estimate, {0, -1}, NULL};

/* ---- logs, wakeups, counters, drops: one row per event of a kind ---- */

struct ev_cur {
  struct qwalk w;
  char buf[32];
};
static int ev_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct ev_cur *c = cur;
  qwalk_init(&c->w, src, key);
  return 0;
}
/* The thread, tid and time columns every event table starts with. */
static int ev_common(struct ev_cur *c, unsigned col, struct ctrace_qval *o) {
  if (col == 0)
    v_int(o, c->w.ti);
  else if (col == 1)
    v_int(o, tid_of(c->w.src, c->w.ti));
  else if (col == 2)
    v_int(o, ns(c->w.src, c->w.ev.ticks));
  else
    return 0;
  return 1;
}

static int logs_next(void *cur) { return qwalk_kind(&((struct ev_cur *)cur)->w, CTRACE_EV_LOG); }
static void logs_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct ev_cur *c = cur;
  if (ev_common(c, col, o))
    return;
  struct ctrace_ev_log lg = CTRACE_EV(log, &c->w.ev);
  if (col == 3)
    v_id(o, lg.task);
  else if (col == 4)
    v_str(o, c->w.src, lg.category);
  else
    v_text(o, (const char *)c->w.ev.blob, c->w.ev.blob_len);
}
static uint64_t logs_estimate(const struct ctrace__qsrc *src) {
  return per_kind(src, CTRACE_EV_LOG);
}
static const struct ctrace__qcol logs_cols[] = {
    {"thread", "INTEGER", "threads.id"},
    {"tid", "INTEGER", "the thread's tid"},
    {"time", "INTEGER", "when it was logged"},
    {"task", "INTEGER", "its task (tasks.id), NULL if none"},
    {"category", "TEXT", "its category"},
    {"message", "TEXT", "the text"},
};
static const struct ctrace__qtable t_logs = {
    "logs", "log messages (ctrace_log)", COLS(logs_cols), 0, sizeof(struct ev_cur), ev_open,
    logs_next, logs_column, nothing, logs_estimate, {0, 2, -1}, NULL};

static int wakeups_next(void *cur) {
  return qwalk_kind(&((struct ev_cur *)cur)->w, CTRACE_EV_WAKE);
}
static void wakeups_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct ev_cur *c = cur;
  if (ev_common(c, col, o))
    return;
  struct ctrace_ev_wake wk = CTRACE_EV(wake, &c->w.ev);
  int64_t k;
  switch (col) {
  case 3:
    k = ctrace_reader_thread_index_at(c->w.src->r, (uint32_t)wk.tid, c->w.ev.ticks);
    k >= 0 ? v_int(o, k) : v_null(o);
    break;
  case 4:
    v_int(o, (int64_t)(uint32_t)wk.tid);
    break;
  case 5:
    v_int(o, (int64_t)wk.object);
    break;
  case 6:
    v_reason(o, wk.reason, c->buf, sizeof c->buf);
    break;
  default:
    v_id(o, wk.stack);
  }
}
static uint64_t wakeups_estimate(const struct ctrace__qsrc *src) {
  return per_kind(src, CTRACE_EV_WAKE);
}
static const struct ctrace__qcol wakeups_cols[] = {
    {"waker", "INTEGER", "the thread that released the waiter (threads.id)"},
    {"waker_tid", "INTEGER", "its tid"},
    {"time", "INTEGER", "when it released it (inside the wakee's wait)"},
    {"wakee", "INTEGER", "the thread it woke (threads.id), NULL when not in the trace"},
    {"wakee_tid", "INTEGER", "its tid"},
    {"object", "INTEGER", "the mutex, condition variable... (spans.object of the wait)"},
    {"reason", "TEXT", "the wait's reason (as spans.reason)"},
    {"stack", "INTEGER", "the waker's stack (stacks.id)"},
};
static const struct ctrace__qtable t_wakeups = {
    "wakeups", "wake-up edges: a release that ended another thread's wait", COLS(wakeups_cols), 0,
    sizeof(struct ev_cur), ev_open, wakeups_next, wakeups_column, nothing, wakeups_estimate,
    {0, 2, -1}, NULL};

static int counters_next(void *cur) {
  return qwalk_kind(&((struct ev_cur *)cur)->w, CTRACE_EV_COUNTER);
}
static void counters_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct ev_cur *c = cur;
  if (ev_common(c, col, o))
    return;
  struct ctrace_ev_counter ct = CTRACE_EV(counter, &c->w.ev);
  if (col == 3)
    v_str(o, c->w.src, ct.name);
  else
    v_int(o, ct.value);
}
static uint64_t counters_estimate(const struct ctrace__qsrc *src) {
  return per_kind(src, CTRACE_EV_COUNTER);
}
static const struct ctrace__qcol counters_cols[] = {
    {"thread", "INTEGER", "threads.id"},
    {"tid", "INTEGER", "the thread's tid"},
    {"time", "INTEGER", "when the value was recorded"},
    {"name", "TEXT", "the counter's name"},
    {"value", "INTEGER", "its value"},
};
static const struct ctrace__qtable t_counters = {
    "counters", "counter values (ctrace_counter)", COLS(counters_cols), 0, sizeof(struct ev_cur),
    ev_open, counters_next, counters_column, nothing, counters_estimate, {0, 2, -1}, NULL};

static int drops_next(void *cur) {
  return qwalk_kind(&((struct ev_cur *)cur)->w, CTRACE_EV_DROPPED);
}
static void drops_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct ev_cur *c = cur;
  if (ev_common(c, col, o))
    return;
  struct ctrace_ev_dropped d = CTRACE_EV(dropped, &c->w.ev);
  if (col == 3)
    v_int(o, (int64_t)d.count);
  else
    d.first_dt ? v_int(o, span_start(c->w.src, c->w.ev.ticks, d.first_dt)) : v_null(o);
}
static uint64_t drops_estimate(const struct ctrace__qsrc *src) {
  return per_kind(src, CTRACE_EV_DROPPED);
}
static const struct ctrace__qcol drops_cols[] = {
    {"thread", "INTEGER", "threads.id"},
    {"tid", "INTEGER", "the thread's tid"},
    {"time", "INTEGER", "when the loss was recorded"},
    {"count", "INTEGER", "events of the thread lost there"},
    {"first", "INTEGER", "when the first of them happened, NULL if unknown"},
};
static const struct ctrace__qtable t_drops = {
    "drops", "events the recorder lost (DROPPED records)", COLS(drops_cols), 0,
    sizeof(struct ev_cur), ev_open, drops_next, drops_column, nothing, drops_estimate,
    {0, 2, -1}, NULL};

/* ---- stacks and frames ---- */

struct stacks_cur {
  struct ctrace__qsrc *src;
  uint32_t id, end;
  const uint64_t *pcs;
  uint32_t npcs, depth;
  int symbolized;
  struct ctrace_frame fr;
};

static int stacks_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct stacks_cur *c = cur;
  uint32_t n = ctrace_reader_nstacks(src->r);
  c->src = src;
  c->id = key < 0 ? 1 : key >= 1 && key <= n ? (uint32_t)key : n + 1;
  c->end = key < 0 ? n + 1 : key >= 1 && key <= n ? (uint32_t)key + 1 : n + 1;
  c->id--;
  return 0;
}
static int stacks_next(void *cur) {
  struct stacks_cur *c = cur;
  if (++c->id >= c->end)
    return 0;
  c->npcs = ctrace_reader_stack(c->src->r, c->id, &c->pcs);
  return 1;
}
static void stacks_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct stacks_cur *c = cur;
  v_int(o, col == 0 ? c->id : c->npcs);
}
static uint64_t stacks_estimate(const struct ctrace__qsrc *src) {
  return ctrace_reader_nstacks(src->r) + 1;
}
static const struct ctrace__qcol stacks_cols[] = {
    {"id", "INTEGER", "the stack (what the stack columns hold)"},
    {"depth", "INTEGER", "how many frames it has"},
};
static const struct ctrace__qtable t_stacks = {
    "stacks", "the stacks of the trace", COLS(stacks_cols), 0, sizeof(struct stacks_cur),
    stacks_open, stacks_next, stacks_column, nothing, stacks_estimate, {0, -1}, NULL};

static int frames_next(void *cur) {
  struct stacks_cur *c = cur;
  c->symbolized = 0;
  if (c->id && ++c->depth < c->npcs)
    return 1;
  while (++c->id < c->end) { /* the next stack with frames */
    c->npcs = ctrace_reader_stack(c->src->r, c->id, &c->pcs);
    c->depth = 0;
    if (c->npcs)
      return 1;
  }
  return 0;
}
static void frames_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct stacks_cur *c = cur;
  uint64_t pc = c->pcs[c->depth];
  if (col <= 2) {
    v_int(o, col == 0 ? c->id : col == 1 ? c->depth : (int64_t)pc);
    return;
  }
  if (!c->src->sym) {
    v_null(o);
    return;
  }
  if (!c->symbolized) { /* only when asked: symbols cost a lookup per frame */
    ctrace_sym_lookup_stack(c->src->sym, c->id, pc, c->depth > 0, &c->fr);
    c->symbolized = 1;
  }
  switch (col) {
  case 3:
    v_cstr(o, c->fr.function);
    break;
  case 4:
    v_cstr(o, c->fr.file);
    break;
  case 5:
    c->fr.line ? v_int(o, c->fr.line) : v_null(o);
    break;
  case 6:
    v_cstr(o, c->fr.object);
    break;
  default:
    c->fr.object ? v_int(o, (int64_t)c->fr.object_offset) : v_null(o);
  }
}
static uint64_t frames_estimate(const struct ctrace__qsrc *src) {
  return 16 * (uint64_t)ctrace_reader_nstacks(src->r) + 1;
}
static const struct ctrace__qcol frames_cols[] = {
    {"stack", "INTEGER", "stacks.id"},
    {"depth", "INTEGER", "0 for the innermost frame, 1 for its caller..."},
    {"pc", "INTEGER", "the address (a return address for depth > 0)"},
    {"function", "TEXT", "its function, ?? when unknown (NULL: not symbolized)"},
    {"file", "TEXT", "its source file, NULL if unknown"},
    {"line", "INTEGER", "its line (of the call, for depth > 0), NULL if unknown"},
    {"object", "TEXT", "the binary or library it is in, NULL if unknown"},
    {"object_offset", "INTEGER", "pc minus the object's load bias (for addr2line)"},
};
static const struct ctrace__qtable t_frames = {
    "frames", "the frames of each stack, symbolized from the binaries on disk", COLS(frames_cols),
    0, sizeof(struct stacks_cur), stacks_open, frames_next, frames_column, nothing,
    frames_estimate, {0, 1, -1}, NULL};

/* ---- the registry ---- */

/* ---- scheduling data (format 1.2): cpu intervals and samples ---- */

struct cpu_cur {
  struct ctrace__qsrc *src;
  uint32_t th, end;           /* thread, and one past the last to read */
  const struct ctrace_oncpu *v;
  uint32_t n, i;              /* the thread's intervals, the current one */
};
static int cpu_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct cpu_cur *c = cur;
  uint32_t n = ctrace_reader_nthreads(src->r);
  c->src = src;
  c->th = key < 0 ? 0 : key < n ? (uint32_t)key : n;
  c->end = key < 0 ? n : key < n ? (uint32_t)key + 1 : n;
  c->n = c->th < c->end ? ctrace_reader_oncpu(src->r, c->th, &c->v) : 0;
  c->i = UINT32_MAX; /* next moves to the first */
  return 0;
}
static int cpu_next(void *cur) {
  struct cpu_cur *c = cur;
  for (c->i++; c->th < c->end; c->i = 0) {
    if (c->i < c->n)
      return 1;
    if (++c->th < c->end)
      c->n = ctrace_reader_oncpu(c->src->r, c->th, &c->v);
  }
  return 0;
}
static void cpu_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct cpu_cur *c = cur;
  const struct ctrace_oncpu *iv = &c->v[c->i];
  const char *left = iv->left == CTRACE_SCHED_LEFT_PREEMPTED ? "preempted"
                     : iv->left == CTRACE_SCHED_LEFT_BLOCKED ? "blocked"
                     : iv->left == CTRACE_SCHED_LEFT_AT_STOP ? "stop"
                                                              : NULL; /* the switch-out was lost */
  switch (col) {
  case 0:
    v_int(o, c->th);
    break;
  case 1:
    v_int(o, ctrace_reader_thread(c->src->r, c->th)->tid);
    break;
  case 2:
    v_int(o, iv->cpu);
    break;
  case 3:
    v_int(o, ns(c->src, iv->start));
    break;
  case 4:
    v_int(o, ns(c->src, iv->end));
    break;
  case 5:
    v_int(o, ns(c->src, iv->end) - ns(c->src, iv->start));
    break;
  case 6:
    if (left)
      v_text(o, left, strlen(left));
    else
      v_null(o);
    break;
  default:
    v_int(o, iv->start_unknown);
  }
}
static uint64_t cpu_estimate(const struct ctrace__qsrc *src) {
  struct ctrace_sched_totals t;
  ctrace_reader_sched_totals(src->r, &t);
  return t.intervals + 1;
}
static const struct ctrace__qcol cpu_cols[] = {
    {"thread", "INTEGER", "threads.id"},
    {"tid", "INTEGER", "the thread's tid"},
    {"cpu", "INTEGER", "the CPU it ran on"},
    {"start", "INTEGER", "when it got the CPU"},
    {"end", "INTEGER", "when it left it"},
    {"duration", "INTEGER", "end - start"},
    {"left", "TEXT",
     "how it left: preempted (still runnable), blocked (gave the CPU up), stop (recording "
     "stopped), NULL when the switch-out was lost"},
    {"start_unknown", "INTEGER", "1 when the switch-in was not seen (start is a lower bound)"},
};
static const struct ctrace__qtable t_cpu = {
    "cpu", "on-CPU intervals from the kernel's context switches (scheduling data), per thread",
    COLS(cpu_cols), 0, sizeof(struct cpu_cur), cpu_open, cpu_next, cpu_column, nothing,
    cpu_estimate, {0, 3, -1}, NULL};

struct smp_cur {
  struct ctrace__qsrc *src;
  const struct ctrace_cpu_sample *v;
  uint64_t n, i;
  int64_t key;
};
static int smp_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct smp_cur *c = cur;
  c->src = src;
  c->n = ctrace_reader_samples(src->r, &c->v);
  c->i = UINT64_MAX;
  c->key = key;
  return 0;
}
static int smp_next(void *cur) {
  struct smp_cur *c = cur;
  while (++c->i < c->n)
    if (c->key < 0 || c->v[c->i].thread == (uint64_t)c->key)
      return 1;
  return 0;
}
static void smp_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct smp_cur *c = cur;
  const struct ctrace_cpu_sample *sm = &c->v[c->i];
  switch (col) {
  case 0:
    v_int(o, sm->thread);
    break;
  case 1:
    v_int(o, ctrace_reader_thread(c->src->r, sm->thread)->tid);
    break;
  case 2:
    v_int(o, sm->cpu);
    break;
  case 3:
    v_int(o, ns(c->src, sm->ticks));
    break;
  default:
    v_id(o, sm->stack);
  }
}
static uint64_t smp_estimate(const struct ctrace__qsrc *src) {
  const struct ctrace_cpu_sample *v;
  return ctrace_reader_samples(src->r, &v) + 1;
}
static const struct ctrace__qcol smp_cols[] = {
    {"thread", "INTEGER", "threads.id of the thread that was running"},
    {"tid", "INTEGER", "its tid"},
    {"cpu", "INTEGER", "the CPU"},
    {"time", "INTEGER", "when the sample was taken"},
    {"stack", "INTEGER", "its user stack (stacks.id), NULL if none"},
};
static const struct ctrace__qtable t_samples = {
    "samples", "CPU samples (scheduling data, CTRACE_SAMPLE_HZ), in time order", COLS(smp_cols), 0,
    sizeof(struct smp_cur), smp_open, smp_next, smp_column, nothing, smp_estimate, {3, -1}, NULL};

/* ---- flows: DATA and WAKE links between threads (flows.h) ---- */

struct flows_cur {
  struct ctrace__qsrc *src;
  struct ctrace_flows f;
  size_t i;
};
static int flows_open(void *cur, struct ctrace__qsrc *src, int64_t key, int order) {
  struct flows_cur *c = cur;
  c->src = src;
  c->i = SIZE_MAX;
  return ctrace_flows_build(src->r, &c->f);
}
static int flows_next(void *cur) {
  struct flows_cur *c = cur;
  return ++c->i < c->f.n;
}
static void flows_column(void *cur, unsigned col, struct ctrace_qval *o) {
  struct flows_cur *c = cur;
  const struct ctrace_flow *e = &c->f.v[c->i];
  switch (col) {
  case 0:
    v_cstr(o, ctrace_flow_kind_name(e->kind));
    break;
  case 1:
    v_cstr(o, ctrace_flow_object_name(e->object_kind));
    break;
  case 2:
    v_int(o, e->from_thread);
    break;
  case 3:
    v_int(o, ns(c->src, e->from_ticks));
    break;
  case 4:
    v_int(o, e->to_thread);
    break;
  case 5:
    v_int(o, ns(c->src, e->to_ticks));
    break;
  case 6:
    e->kind == CTRACE_FLOW_DATA ? v_int(o, (int64_t)e->bytes) : v_null(o);
    break;
  case 7:
    v_int(o, (int64_t)e->object);
    break;
  case 8:
    e->kind == CTRACE_FLOW_DATA ? v_int(o, e->from_fd) : v_null(o);
    break;
  default:
    e->kind == CTRACE_FLOW_DATA ? v_int(o, e->to_fd) : v_null(o);
  }
}
static void flows_close(void *cur) {
  ctrace_flows_free(&((struct flows_cur *)cur)->f);
}
static uint64_t flows_estimate(const struct ctrace__qsrc *src) {
  return per_kind(src, CTRACE_EV_SYSCALL) + 1;
}
static const struct ctrace__qcol flows_cols[] = {
    {"kind", "TEXT", "`data` (bytes written by one thread, read by another) or `wake` (a release of a process-shared object that ended a wait)"},
    {"object_kind", "TEXT", "what carried it: `pipe`, `socketpair`, `tcp`, `shared` (a process-shared mutex, condvar or semaphore)"},
    {"from_thread", "INTEGER", "threads.id of the writer or releaser"},
    {"from_time", "INTEGER", "data: end of the write (at most to_time); wake: the release"},
    {"to_thread", "INTEGER", "threads.id of the reader or waiter"},
    {"to_time", "INTEGER", "data: end of the read; wake: end of the wait"},
    {"bytes", "INTEGER", "data: bytes of that write consumed by that read; NULL for wake"},
    {"object", "INTEGER", "pipe inode, reading socket's inode, a hash of the TCP 4-tuple, or the shared mapping's inode"},
    {"from_fd", "INTEGER", "data: the writer's fd; NULL for wake"},
    {"to_fd", "INTEGER", "data: the reader's fd; NULL for wake"},
};
static const struct ctrace__qtable t_flows = {
    "flows", "links between threads the kernel carried (src/analyze/flows.h), by to_time",
    COLS(flows_cols), -1, sizeof(struct flows_cur), flows_open, flows_next, flows_column,
    flows_close, flows_estimate, {5, -1}, NULL};

const struct ctrace__qtable *const ctrace__qtables[] = {
    &t_trace,   &t_processes, &t_threads,  &t_spans, &t_tasks, &t_regions,
    &t_logs,    &t_wakeups,   &t_stacks,   &t_frames, &t_counters, &t_drops,
    &t_cpu,     &t_samples,   &t_flows,
};
const size_t ctrace__nqtables = sizeof ctrace__qtables / sizeof ctrace__qtables[0];

void ctrace__qsrc_free(struct ctrace__qsrc *src) {
  if (src->tasks)
    free(src->tasks->v);
  free(src->tasks);
  if (src->peers) {
    free(src->peers->by_thread);
    free(src->peers->by_time);
  }
  free(src->peers);
  free(src->state_masks);
  free(src->thread_ends);
  src->thread_ends = NULL;
  src->tasks = NULL;
  src->peers = NULL;
  src->state_masks = NULL;
}
