/*
 * chrome.c - see chrome.h. One pass over the merged events (time order),
 * writing each as it comes, with small per-thread state: the depth of open
 * regions (so that every "E" has its "B"), and the last wake-up of the
 * thread, waiting for the thread's next WAIT (to draw the arrow there).
 *
 * Event mapping:
 *   REGION_BEGIN/END  -> B / E on the thread (left open ones end at the
 *                        thread's last event)
 *   TASK_BEGIN/END    -> nestable async b / e, id = task id (cross threads;
 *                        left open ones end at the trace's end)
 *   blocking spans    -> X slices "mutex wait", "read", ... with the stack,
 *   (states.h: WAIT,     from each thread's state machine; a call still in
 *   SYSCALL, PENDING)    progress at the end has argument "unfinished"
 *   WAKE              -> X slice "wake" (1 ns) on the waker; when the woken
 *                        thread's next WAIT is on the same object and spans
 *                        the wake-up, a flow: s in the "wake" slice, f (bp e)
 *                        in the wait slice. Wake-ups that ended no recorded
 *                        wait (a race, or a spurious wake) get no arrow.
 *   LOG               -> instant i, named by its message
 *   THREAD_CREATE/START -> 1 ns slices "thread create" / "thread start"
 *                        joined by a flow arrow (matched by link)
 *   COUNTER           -> C
 *   FORK/EXEC/EXIT/SIGNAL/DROPPED -> instants
 *   thread names, process name -> M metadata
 * Strings from the trace are written as JSON with invalid UTF-8 replaced by
 * U+FFFD, so that strict parsers accept any trace.
 */
#include "chrome.h"

#include "../base/hash.h"
#include "states.h"
#include "../base/vec.h"

#include <stdlib.h>
#include <string.h>


struct cw;
struct thr {
  struct ctrace_states sm; /* its state machine: blocking spans */
  struct cw *w;
  uint32_t tid;
  int64_t last_ns;    /* time of its last event */
  uint32_t depth;     /* open regions */
  uint32_t *names;    /* before the window: names of the open regions */
  uint32_t nnames, capnames;
  /* Its last wake-up not yet matched with a WAIT (flow_ns INT64_MIN: none):
   * when, by whom, on what object. */
  int64_t flow_ns;
  uint32_t flow_from;
  uint64_t flow_obj;
};

/* A task (id: task id), or a thread creation (id: its link). */
struct task {
  uint64_t id;  /* 0: empty slot */
  uint32_t name;
  uint32_t open;
  uint32_t tid; /* where it began; the creating thread */
  int64_t ns;   /* creations: when */
};

/* Tasks or creations by id: the entries in order of first use, and a hash
 * table from id to their index. */
struct idtab {
  struct ctrace_vec v; /* struct task */
  struct ctrace_hash h;
};

struct ob {
  char *p;
  size_t n, cap;
  FILE *f;
  int err; /* a write or an allocation failed */
};

struct cw {
  struct ob o;
  const ctrace_reader *r;
  ctrace_symbolizer *sym;
  uint32_t pid;
  int tree; /* a process tree: each thread's pid is its process's */
  uint32_t force_pid; /* when not 0: the pid of the event head() writes */
  int n;              /* events written */
  struct thr *th;
  uint32_t nth;
  struct idtab tasks; /* by task id */
  struct idtab links; /* THREAD_CREATE by link, until its THREAD_START */
  char **stacks;      /* stacks[id]: the JSON array of its frames, made on first use */
  uint32_t nstacks;
  uint64_t next_flow;
  int nargs; /* arguments of the event being written */
  int oom;
  int64_t start, end; /* the window */
  int no_stacks;
  int opened;         /* the first event inside the window was seen */
};

/* ---- output: a buffer in front of the FILE (stdio's per-call locking and
 * printf parsing cost 3x the rest), or a growing string (f == NULL) ---- */


static void ob_flush(struct ob *o) {
  if (o->f && o->n) {
    if (fwrite(o->p, 1, o->n, o->f) != o->n)
      o->err = 1;
    o->n = 0;
  }
}

/* Room for k more bytes; 0 or -1. */
static int ob_room(struct ob *o, size_t k) {
  if (o->cap - o->n >= k)
    return 0;
  if (o->f) {
    ob_flush(o);
    if (o->cap >= k)
      return 0;
  }
  size_t nc = o->cap ? o->cap : 4096;
  while (nc - o->n < k)
    nc *= 2;
  char *np = realloc(o->p, nc);
  if (!np) {
    o->err = 1;
    return -1;
  }
  o->p = np;
  o->cap = nc;
  return 0;
}

static void ob_put(struct ob *o, const char *s, size_t n) {
  if (n && ob_room(o, n) == 0) {
    memcpy(o->p + o->n, s, n);
    o->n += n;
  }
}

#define ob_lit(o, lit) ob_put((o), (lit), sizeof(lit) - 1)

static void ob_puts(struct ob *o, const char *s) { ob_put(o, s, strlen(s)); }

static void ob_c(struct ob *o, char c) {
  if (ob_room(o, 1) == 0)
    o->p[o->n++] = c;
}

static void ob_u64(struct ob *o, uint64_t v) {
  char tmp[24], *q = tmp + sizeof tmp;
  do
    *--q = (char)('0' + v % 10);
  while (v /= 10);
  ob_put(o, q, (size_t)(tmp + sizeof tmp - q));
}

static void ob_i64(struct ob *o, int64_t v) {
  if (v < 0)
    ob_c(o, '-');
  ob_u64(o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

/* "0x..." in quotes: ids and addresses (JSON numbers lose 64-bit values). */
static void ob_hex(struct ob *o, uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[24], *q = tmp + sizeof tmp;
  *--q = '"';
  do
    *--q = digits[v & 15];
  while (v >>= 4);
  *--q = 'x';
  *--q = '0';
  *--q = '"';
  ob_put(o, q, (size_t)(tmp + sizeof tmp - q));
}

/* Microseconds with three decimals, from ns. */
static void ob_us(struct ob *o, int64_t ns) {
  uint64_t a = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns;
  if (ns < 0)
    ob_c(o, '-');
  ob_u64(o, a / 1000);
  char frac[4] = {'.', (char)('0' + a % 1000 / 100), (char)('0' + a % 100 / 10),
                  (char)('0' + a % 10)};
  ob_put(o, frac, 4);
}

/* Writes s[0..len) as a JSON string: escapes, and U+FFFD for bytes that are
 * not valid UTF-8. Runs of plain ASCII are copied at once. */
static void jstr(struct ob *o, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  ob_c(o, '"');
  while (p < end) {
    const unsigned char *run = p;
    while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
      p++;
    ob_put(o, (const char *)run, (size_t)(p - run));
    if (p == end)
      break;
    unsigned c = *p;
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        char esc[2] = {'\\', (char)c};
        ob_put(o, esc, 2);
      } else {
        static const char digits[] = "0123456789abcdef";
        char esc[6] = {'\\', 'u', '0', '0', digits[c >> 4], digits[c & 15]};
        ob_put(o, esc, 6);
      }
      p++;
      continue;
    }
    /* Multi-byte: check length, continuation bytes, overlongs, surrogates. */
    size_t n = c >= 0xf0 && c <= 0xf4   ? 4
               : c >= 0xe0 && c < 0xf0 ? 3
               : c >= 0xc2 && c < 0xe0 ? 2
                                       : 0;
    int ok = n && (size_t)(end - p) >= n;
    for (size_t i = 1; ok && i < n; i++)
      ok = (p[i] & 0xc0) == 0x80;
    if (ok && n == 3)
      ok = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
    if (ok && n == 4)
      ok = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
    if (ok) {
      ob_put(o, (const char *)p, n);
      p += n;
    } else {
      ob_lit(o, "\xef\xbf\xbd");
      p++;
    }
  }
  ob_c(o, '"');
}

static void jcstr(struct ob *o, const char *s) { jstr(o, s, strlen(s)); }

static void jtrace_str(struct cw *w, uint64_t id) {
  const struct ctrace_string *s = ctrace_reader_string(w->r, id);
  jstr(&w->o, s ? s->s : "", s ? s->len : 0);
}

/* The pid of thread tid: the trace's, or in a process tree its process's
 * (an exec keeps the pid, so any thread with the tid tells). */
static uint32_t pid_of(const struct cw *w, uint32_t tid) {
  if (w->force_pid)
    return w->force_pid;
  if (!w->tree || !tid)
    return w->pid;
  int64_t ti = ctrace_reader_thread_index(w->r, tid);
  const struct ctrace_process *p =
      ti >= 0 ? ctrace_reader_process(w->r, ctrace_reader_thread(w->r, (uint32_t)ti)->process)
              : NULL;
  return p && p->pid ? p->pid : w->pid;
}

/* Starts an event object: {"ph":..,"name":..,"cat":..,"ts":..,"pid":..,"tid":..
 * name_id is a string id, or 0 to use name. The caller closes it with '}'. */
static void head(struct cw *w, const char *ph, uint64_t name_id, const char *name,
                 const char *cat, int64_t ns, uint32_t tid) {
  struct ob *o = &w->o;
  if (w->n++)
    ob_lit(o, ",\n{\"ph\":\"");
  else
    ob_lit(o, "\n{\"ph\":\"");
  ob_puts(o, ph);
  ob_lit(o, "\",\"name\":");
  if (name_id)
    jtrace_str(w, name_id);
  else
    jcstr(o, name);
  ob_lit(o, ",\"cat\":\"");
  ob_puts(o, cat);
  ob_lit(o, "\",\"ts\":");
  ob_us(o, ns);
  ob_lit(o, ",\"pid\":");
  ob_u64(o, pid_of(w, tid));
  ob_lit(o, ",\"tid\":");
  ob_u64(o, tid);
  w->nargs = 0;
}

/* The JSON array of the innermost frames of stack id ("function
 * (file:line)"), made once per stack; NULL when the stack is unknown or
 * memory ran out. */
static const char *stack_json(struct cw *w, uint64_t id) {
  if (id == 0 || id > w->nstacks || w->no_stacks)
    return NULL;
  if (w->stacks[id])
    return w->stacks[id];
  const uint64_t *pcs;
  uint32_t n = ctrace_reader_stack(w->r, id, &pcs);
  if (n == 0)
    return NULL;
  if (n > CTRACE_CHROME_MAX_FRAMES)
    n = CTRACE_CHROME_MAX_FRAMES;
  struct ob m = {0};
  ob_c(&m, '[');
  for (uint32_t i = 0; i < n; i++) {
    char line[4096];
    struct ctrace_frame f = {0};
    if (w->sym)
      ctrace_sym_lookup_stack(w->sym, id, pcs[i], 1, &f);
    if (f.file)
      snprintf(line, sizeof line, "%s (%s:%d)", f.function, f.file, f.line);
    else if (f.object)
      snprintf(line, sizeof line, "%s (%s+0x%llx)", f.function, f.object,
               (unsigned long long)f.object_offset);
    else
      snprintf(line, sizeof line, "0x%llx", (unsigned long long)pcs[i]);
    if (i)
      ob_c(&m, ',');
    jcstr(&m, line);
  }
  ob_c(&m, ']');
  ob_c(&m, 0);
  if (m.err) {
    free(m.p);
    w->oom = 1;
    return NULL;
  }
  w->stacks[id] = m.p;
  return m.p;
}

/* Starts argument key of the current event (opening "args" at the first). */
static void arg(struct cw *w, const char *key) {
  struct ob *o = &w->o;
  if (w->nargs++)
    ob_c(o, ',');
  else
    ob_lit(o, ",\"args\":{");
  ob_c(o, '"');
  ob_puts(o, key);
  ob_lit(o, "\":");
}

/* Ends the current event, with the frames of stack id as argument "stack". */
static void end_event(struct cw *w, uint64_t stack) {
  const char *sj = stack_json(w, stack);
  if (sj) {
    arg(w, "stack");
    ob_puts(&w->o, sj);
  }
  if (w->nargs)
    ob_c(&w->o, '}');
  ob_c(&w->o, '}');
  w->nargs = 0;
}

/* ---- tasks and creations by id (ids are never 0) ---- */

/* The entry of id in t, a new empty one (id 0) when absent; NULL when out
 * of memory. The pointer is good until the next call. */
static struct task *id_slot(struct cw *w, struct idtab *t, uint64_t id) {
  int64_t k = ctrace_hash_get(&t->h, id);
  if (k >= 0)
    return (struct task *)t->v.v + k;
  struct task *p = ctrace_vec_push(&t->v);
  if (!p || ctrace_hash_put(&t->h, id, (uint32_t)(t->v.n - 1)) < 0) {
    w->oom = 1;
    return NULL;
  }
  memset(p, 0, sizeof *p);
  return p;
}

static struct task *task_slot(struct cw *w, uint64_t id) { return id_slot(w, &w->tasks, id); }

static void task_event(struct cw *w, const char *ph, const struct task *t, int64_t ns,
                       uint32_t tid) {
  head(w, ph, t->name, t->name ? NULL : "task", "task", ns, tid);
  ob_lit(&w->o, ",\"id\":");
  ob_hex(&w->o, t->id);
}

/* ---- events ---- */

/* "mutex wait", "rwlock_read wait", ..., "sleep". */
static void wait_name(uint64_t reason, char *buf, size_t size) {
  const char *rn = ctrace__wait_reason_name(reason);
  size_t i = 0;
  for (; rn[i] && i + 6 < size; i++)
    buf[i] = (char)(rn[i] >= 'A' && rn[i] <= 'Z' ? rn[i] - 'A' + 'a' : rn[i]);
  buf[i] = 0;
  if (reason != CTRACE_WAIT_SLEEP)
    memcpy(buf + i, " wait", 6);
}

static void open_window(struct cw *w);

/* A blocking span of thread th (from its state machine): an X slice, and
 * the end of a wake-up flow that came while the thread waited. Written when
 * it ends inside the window, or begins inside it. */
static void blocking(struct cw *w, struct thr *th, const struct ctrace_span *sp) {
  struct ob *o = &w->o;
  int wait = sp->reason != 0;
  int64_t b = sp->start, ns = sp->end;
  if (ns < w->start || (ns >= w->end && b >= w->end))
    return;
  if (!w->opened)
    open_window(w);
  if (wait) {
    char name[64];
    wait_name(sp->reason, name, sizeof name);
    head(w, "X", 0, name, ctrace__wait_reason_class(sp->reason), b, th->tid);
  } else {
    head(w, "X", 0, ctrace__syscall_name(sp->call), ctrace__syscall_class_name(sp->cls), b,
         th->tid);
  }
  ob_lit(o, ",\"dur\":");
  ob_us(o, ns - b);
  if (wait) {
    arg(w, "object");
    ob_hex(o, sp->object);
  } else if (sp->kind == CTRACE_EV_SYSCALL) {
    arg(w, "fd");
    ob_u64(o, sp->fd);
    arg(w, "result");
    ob_i64(o, sp->result);
  }
  if (sp->flags & CTRACE_SPAN_AT_END) {
    arg(w, "unfinished");
    ob_lit(o, "true");
  }
  end_event(w, sp->stack);
  if (wait && th->flow_ns != INT64_MIN) {
    /* The arrow: both ends written now (the file need not be in time order). */
    if (th->flow_obj == sp->object && th->flow_ns >= b && th->flow_ns <= ns) {
      uint64_t id = ++w->next_flow;
      head(w, "s", 0, "wake", "wake", th->flow_ns, th->flow_from);
      ob_lit(o, ",\"id\":");
      ob_u64(o, id);
      ob_c(o, '}');
      head(w, "f", 0, "wake", "wake", th->flow_ns, th->tid);
      ob_lit(o, ",\"id\":");
      ob_u64(o, id);
      ob_lit(o, ",\"bp\":\"e\"}");
    }
    th->flow_ns = INT64_MIN;
  }
}

/* The state machines' callback: arg is the thread. */
/* Time off a CPU outside recorded calls (scheduling data, states.h): a
 * slice of category "sched" named after the state. */
static void off_cpu(struct cw *w, struct thr *th, const struct ctrace_span *sp) {
  const char *name = sp->state == CTRACE_ST_RUNNABLE                 ? "runnable"
                     : sp->state == CTRACE_ST_BLOCKED_NOT_INTERPOSED ? "blocked (not interposed)"
                                                                      : "not recorded";
  int64_t b = sp->start, ns = sp->end;
  if (ns <= b || ns < w->start || b >= w->end)
    return;
  if (!w->opened)
    open_window(w);
  head(w, "X", 0, name, "sched", b, th->tid);
  ob_lit(&w->o, ",\"dur\":");
  ob_us(&w->o, ns - b);
  end_event(w, 0);
}

static void on_span(void *arg, const struct ctrace_span *sp) {
  struct thr *th = arg;
  if (sp->kind)
    blocking(th->w, th, sp);
  else if (sp->state == CTRACE_ST_RUNNABLE || sp->state == CTRACE_ST_BLOCKED_NOT_INTERPOSED ||
           sp->state == CTRACE_ST_NOT_RECORDED)
    off_cpu(th->w, th, sp);
}

/* An instant event of the process (scope "p"). */
static void process_instant(struct cw *w, const char *name, int64_t ns, uint32_t tid) {
  head(w, "i", 0, name, "process", ns, tid);
  ob_lit(&w->o, ",\"s\":\"p\"");
}

/* Before the window: only which regions and tasks are open. */
static void before_window(struct cw *w, const ctrace_event *ev, struct thr *th) {
  switch (ev->kind) {
  case CTRACE_EV_REGION_BEGIN: {
    if (th->nnames == th->capnames) {
      uint32_t nc = th->capnames ? th->capnames * 2 : 16;
      uint32_t *nv = realloc(th->names, nc * sizeof *nv);
      if (!nv) {
        w->oom = 1;
        return;
      }
      th->names = nv;
      th->capnames = nc;
    }
    uint64_t name = CTRACE_EV(region_begin, ev).name;
    th->names[th->nnames++] = (uint32_t)(name <= UINT32_MAX ? name : 0);
    break;
  }
  case CTRACE_EV_REGION_END:
    if (th->nnames)
      th->nnames--;
    break;
  case CTRACE_EV_TASK_BEGIN: {
    struct ctrace_ev_task_begin tb = CTRACE_EV(task_begin, ev);
    struct task *t = tb.task ? task_slot(w, tb.task) : NULL;
    if (!t || (t->id && t->open))
      break;
    *t = (struct task){.id = tb.task,
                       .name = (uint32_t)(tb.name <= UINT32_MAX ? tb.name : 0),
                       .open = 1,
                       .tid = ev->tid};
    break;
  }
  case CTRACE_EV_TASK_END: {
    uint64_t id = CTRACE_EV(task_end, ev).task;
    struct task *t = id ? task_slot(w, id) : NULL;
    if (t && t->id)
      t->open = 0;
    break;
  }
  default:
    break;
  }
}

/* At the window's start: begins what was open then. */
static void open_window(struct cw *w) {
  w->opened = 1;
  if (w->start == INT64_MIN)
    return;
  for (uint32_t i = 0; i < w->nth; i++) {
    struct thr *th = &w->th[i];
    uint32_t tid = ctrace_reader_thread(w->r, i)->tid;
    for (uint32_t k = 0; k < th->nnames; k++) {
      head(w, "B", th->names[k], "region", "region", w->start, tid);
      end_event(w, 0);
    }
    th->depth = th->nnames;
    th->last_ns = w->start;
    free(th->names);
    th->names = NULL;
    th->nnames = th->capnames = 0;
  }
  for (size_t i = 0; i < w->tasks.v.n; i++) {
    struct task *t = (struct task *)w->tasks.v.v + i;
    if (t->id && t->open) {
      task_event(w, "b", t, w->start, t->tid);
      end_event(w, 0);
    }
  }
}

static void event(struct cw *w, const ctrace_event *ev) {
  int64_t ns = ctrace_reader_ns(w->r, ev->ticks);
  int64_t ti = ctrace_reader_thread_index_at(w->r, ev->tid, ev->ticks); /* tids are reused */
  if (ti < 0 || (uint32_t)ti >= w->nth)
    return;
  struct thr *th = &w->th[ti];
  struct ob *o = &w->o;
  if (ns < w->start) {
    before_window(w, ev, th);
    ctrace_states_event(&th->sm, ev);
    return;
  }
  if (!w->opened)
    open_window(w);
  /* blocking calls: from the state machine, which writes them through
   * on_span (after the window: only those that began inside it) */
  ctrace_states_event(&th->sm, ev);
  if (ns >= w->end)
    return;
  th->last_ns = ns;
  switch (ev->kind) {
  case CTRACE_EV_REGION_BEGIN: {
    struct ctrace_ev_region_begin rb = CTRACE_EV(region_begin, ev);
    head(w, "B", rb.name, "region", "region", ns, ev->tid);
    if (rb.task) {
      arg(w, "task");
      ob_hex(o, rb.task);
    }
    end_event(w, rb.stack);
    th->depth++;
    break;
  }
  case CTRACE_EV_REGION_END:
    if (!th->depth)
      break; /* began before the trace did */
    th->depth--;
    head(w, "E", 0, "", "region", ns, ev->tid);
    end_event(w, 0);
    break;
  case CTRACE_EV_TASK_BEGIN: {
    struct ctrace_ev_task_begin tb = CTRACE_EV(task_begin, ev);
    if (!tb.task)
      break;
    struct task *t = task_slot(w, tb.task);
    if (!t)
      break;
    else if (t->open)
      break; /* a task id begun twice: keep the first */
    *t = (struct task){.id = tb.task,
                       .name = (uint32_t)(tb.name <= UINT32_MAX ? tb.name : 0),
                       .open = 1,
                       .tid = ev->tid};
    task_event(w, "b", t, ns, ev->tid);
    if (tb.parent) {
      arg(w, "parent");
      ob_hex(o, tb.parent);
    }
    end_event(w, tb.stack);
    break;
  }
  case CTRACE_EV_TASK_END: {
    uint64_t id = CTRACE_EV(task_end, ev).task;
    if (!id)
      break;
    struct task *t = task_slot(w, id);
    if (!t || !t->id || !t->open)
      break; /* began before the trace did */
    t->open = 0;
    task_event(w, "e", t, ns, ev->tid);
    end_event(w, 0);
    break;
  }
  case CTRACE_EV_WAKE: {
    struct ctrace_ev_wake wk = CTRACE_EV(wake, ev);
    int64_t wi = wk.tid <= UINT32_MAX
                     ? ctrace_reader_thread_index_at(w->r, (uint32_t)wk.tid, ev->ticks)
                     : -1;
    head(w, "X", 0, "wake", "wake", ns, ev->tid);
    ob_lit(o, ",\"dur\":0.001");
    arg(w, "woken_tid");
    ob_u64(o, wk.tid);
    arg(w, "object");
    ob_hex(o, wk.object);
    end_event(w, wk.stack);
    if (wi >= 0 && (uint32_t)wi < w->nth) {
      w->th[wi].flow_ns = ns;
      w->th[wi].flow_from = ev->tid;
      w->th[wi].flow_obj = wk.object;
    }
    break;
  }
  case CTRACE_EV_LOG: {
    /* Named by its message (cut to 200 bytes), so that it reads on the
     * timeline; the whole message is an argument. */
    struct ctrace_ev_log lg = CTRACE_EV(log, ev);
    const struct ctrace_string *cat = ctrace_reader_string(w->r, lg.category);
    if (w->n++)
      ob_lit(o, ",\n{\"ph\":\"i\",\"s\":\"t\",\"name\":");
    else
      ob_lit(o, "\n{\"ph\":\"i\",\"s\":\"t\",\"name\":");
    jstr(o, (const char *)ev->blob, ev->blob_len < 200 ? ev->blob_len : 200);
    ob_lit(o, ",\"cat\":\"log\",\"ts\":");
    ob_us(o, ns);
    ob_lit(o, ",\"pid\":");
    ob_u64(o, pid_of(w, ev->tid));
    ob_lit(o, ",\"tid\":");
    ob_u64(o, ev->tid);
    w->nargs = 0;
    arg(w, "message");
    jstr(o, (const char *)ev->blob, ev->blob_len);
    arg(w, "category");
    jstr(o, cat ? cat->s : "", cat ? cat->len : 0);
    if (lg.task) {
      arg(w, "task");
      ob_hex(o, lg.task);
    }
    end_event(w, lg.stack);
    break;
  }
  case CTRACE_EV_THREAD_CREATE: {
    /* A 1 ns slice, the start of an arrow to the new thread's first event. */
    head(w, "X", 0, "thread create", "thread", ns, ev->tid);
    ob_lit(o, ",\"dur\":0.001");
    struct ctrace_ev_thread_create tc = CTRACE_EV(thread_create, ev);
    end_event(w, tc.stack);
    struct task *l = tc.link ? id_slot(w, &w->links, tc.link) : NULL;
    if (l && !l->id) {
      *l = (struct task){.id = tc.link, .open = 1, .tid = ev->tid, .ns = ns};
    }
    break;
  }
  case CTRACE_EV_THREAD_START: {
    head(w, "X", 0, "thread start", "thread", ns, ev->tid);
    ob_lit(o, ",\"dur\":0.001}");
    uint64_t link = CTRACE_EV(thread_start, ev).link;
    struct task *l = link ? id_slot(w, &w->links, link) : NULL;
    if (l && l->id && l->open && l->ns <= ns) {
      l->open = 0;
      uint64_t id = ++w->next_flow;
      head(w, "s", 0, "create", "thread", l->ns, l->tid);
      ob_lit(o, ",\"id\":");
      ob_u64(o, id);
      ob_c(o, '}');
      head(w, "f", 0, "create", "thread", ns, ev->tid);
      ob_lit(o, ",\"id\":");
      ob_u64(o, id);
      ob_lit(o, ",\"bp\":\"e\"}");
    }
    break;
  }
  case CTRACE_EV_COUNTER: {
    struct ctrace_ev_counter cn = CTRACE_EV(counter, ev);
    head(w, "C", cn.name, "counter", "counter", ns, ev->tid);
    arg(w, "value");
    ob_i64(o, cn.value);
    end_event(w, 0);
    break;
  }
  case CTRACE_EV_FORK: {
    struct ctrace_ev_fork fk = CTRACE_EV(fork, ev);
    process_instant(w, "fork", ns, ev->tid);
    arg(w, "child_pid");
    ob_u64(o, fk.child_pid);
    end_event(w, fk.stack);
    break;
  }
  case CTRACE_EV_EXEC: {
    struct ctrace_ev_exec ex = CTRACE_EV(exec, ev);
    process_instant(w, "exec", ns, ev->tid);
    arg(w, "path");
    jtrace_str(w, ex.path);
    end_event(w, ex.stack);
    break;
  }
  case CTRACE_EV_EXIT:
    process_instant(w, "exit", ns, ev->tid);
    arg(w, "status");
    ob_i64(o, CTRACE_EV(exit, ev).status);
    end_event(w, 0);
    break;
  case CTRACE_EV_SIGNAL: {
    struct ctrace_ev_signal sg = CTRACE_EV(signal, ev);
    process_instant(w, "fatal signal", ns, ev->tid);
    arg(w, "signo");
    ob_u64(o, sg.signo);
    end_event(w, sg.stack);
    break;
  }
  case CTRACE_EV_DROPPED:
    head(w, "i", 0, "events lost", "ctrace", ns, ev->tid);
    ob_lit(o, ",\"s\":\"t\"");
    arg(w, "count");
    ob_u64(o, CTRACE_EV(dropped, ev).count);
    end_event(w, 0);
    break;
  default:
    break;
  }
}

/* Thread and process names, and what is still open at the end. */
static void finish(struct cw *w) {
  struct ob *o = &w->o;
  int64_t end = ctrace_reader_ns(w->r, ctrace_reader_last_ticks(w->r));
  if (!w->opened && w->start <= end)
    open_window(w);
  /* calls still in progress at the end (PENDING) */
  for (uint32_t i = 0; i < w->nth; i++) /* a tree's threads end with their process */
    ctrace_states_finish(&w->th[i].sm, w->tree ? ctrace_reader_ns(w->r, ctrace_reader_thread_end(w->r, i)) : end);
  int cut = w->end < end; /* the window ends before the trace */
  if (cut)
    end = w->end;
  for (uint32_t i = 0; i < w->nth; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(w->r, i);
    for (; w->th[i].depth; w->th[i].depth--) {
      head(w, "E", 0, "", "region", cut ? end : w->th[i].last_ns, ti->tid);
      end_event(w, 0);
    }
  }
  for (size_t i = 0; i < w->tasks.v.n; i++) {
    struct task *t = (struct task *)w->tasks.v.v + i;
    if (t->id && t->open) {
      task_event(w, "e", t, end, w->pid);
      arg(w, "unfinished");
      ob_lit(o, "true");
      end_event(w, 0);
    }
  }
  for (uint32_t i = 0; i < ctrace_reader_nprocesses(w->r); i++) {
    const struct ctrace_process *p = ctrace_reader_process(w->r, i);
    if (i && p->exec_to >= 0)
      continue; /* a pid's name: its last image */
    if (i && p->pid == w->pid && p->exec_from < 0)
      continue;
    w->force_pid = w->tree ? p->pid : 0;
    head(w, "M", 0, "process_name", "__metadata", 0, 0);
    w->force_pid = 0;
    arg(w, "name");
    jtrace_str(w, p->exe);
    end_event(w, 0);
  }
  for (uint32_t i = 0; i < w->nth; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(w->r, i);
    head(w, "M", 0, "thread_name", "__metadata", 0, ti->tid);
    arg(w, "name");
    if (ti->name) {
      jtrace_str(w, ti->name);
    } else {
      char nm[32];
      snprintf(nm, sizeof nm, "thread %u", ti->tid);
      jcstr(o, nm);
    }
    end_event(w, 0);
    head(w, "M", 0, "thread_sort_index", "__metadata", 0, ti->tid);
    arg(w, "sort_index");
    ob_u64(o, i);
    end_event(w, 0);
  }
}

int ctrace_chrome_write(const ctrace_reader *r, ctrace_symbolizer *sym, FILE *out) {
  struct ctrace_chrome_opts opts = {INT64_MIN, INT64_MAX, 0};
  return ctrace_chrome_write_opts(r, sym, &opts, out);
}

int ctrace_chrome_write_opts(const ctrace_reader *r, ctrace_symbolizer *sym,
                             const struct ctrace_chrome_opts *opts, FILE *out) {
  struct cw w;
  memset(&w, 0, sizeof w);
  w.tasks.v.size = w.links.v.size = sizeof(struct task);
  w.start = opts->start_ns;
  w.end = opts->end_ns;
  w.no_stacks = opts->no_stacks;
  w.o.f = out;
  w.r = r;
  w.sym = sym;
  w.pid = ctrace_reader_pid(r);
  w.tree = ctrace_reader_nfiles(r) > 1;
  w.nth = ctrace_reader_nthreads(r);
  w.nstacks = ctrace_reader_nstacks(r);
  w.th = calloc(w.nth ? w.nth : 1, sizeof *w.th);
  w.stacks = calloc((size_t)w.nstacks + 1, sizeof *w.stacks);
  for (uint32_t i = 0; w.th && i < w.nth; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(r, i);
    struct thr *th = &w.th[i];
    th->flow_ns = INT64_MIN;
    th->w = &w;
    th->tid = ti->tid;
    ctrace_states_init(&th->sm, ctrace_reader_ns(r, ti->first), ctrace_states_reader_clock, r,
                       on_span, th);
    ctrace_states_use_sched(&th->sm, r, i);
  }
  w.o.p = malloc(1 << 16);
  w.o.cap = w.o.p ? 1 << 16 : 0;
  ctrace_merge *m = w.th && w.stacks && w.o.p ? ctrace_merge_new(r) : NULL;
  int rc = -1;
  if (!m)
    goto done;
  ob_lit(&w.o, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"ctrace\",\"pid\":");
  ob_u64(&w.o, w.pid);
  ob_lit(&w.o, ",\"start_realtime_ns\":");
  ob_u64(&w.o, ctrace_reader_start_realtime(r));
  ob_lit(&w.o, "},\n\"traceEvents\":[");
  ctrace_event ev;
  while (ctrace_merge_next(m, &ev) && !w.oom && !w.o.err)
    event(&w, &ev);
  finish(&w);
  ob_lit(&w.o, "\n]}\n");
  ob_flush(&w.o);
  rc = w.oom || w.o.err || ferror(out) ? -1 : 0;
done:
  ctrace_merge_free(m);
  for (uint32_t i = 0; w.stacks && i <= w.nstacks; i++)
    free(w.stacks[i]);
  free(w.stacks);
  for (uint32_t i = 0; w.th && i < w.nth; i++)
    free(w.th[i].names);
  free(w.th);
  ctrace_vec_free(&w.tasks.v);
  ctrace_hash_free(&w.tasks.h);
  ctrace_vec_free(&w.links.v);
  ctrace_hash_free(&w.links.h);
  free(w.o.p);
  return rc;
}
