/*
 * chrome.c - see chrome.h. One pass over the merged events (time order),
 * writing each as it comes, with small per-thread state: the depth of open
 * regions (so that every "E" has its "B"), and a wake-up waiting for the
 * thread's next blocking event (to end its flow arrow there).
 *
 * Event mapping:
 *   REGION_BEGIN/END  -> B / E on the thread (left open ones end at the
 *                        thread's last event)
 *   TASK_BEGIN/END    -> nestable async b / e, id = task id (cross threads;
 *                        left open ones end at the trace's end)
 *   WAIT, SYSCALL     -> X slices "mutex wait", "read", ... with the stack
 *   WAKE              -> X slice "wake" (1 ns) on the waker, flow s there and
 *                        flow f (bp e) inside the wakee's blocking slice
 *   LOG               -> instant i, named by its message
 *   COUNTER           -> C
 *   FORK/EXEC/EXIT/SIGNAL/DROPPED -> instants
 *   thread names, process name -> M metadata
 * Strings from the trace are written as JSON with invalid UTF-8 replaced by
 * U+FFFD, so that strict parsers accept any trace.
 */
#include "chrome.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 32

struct thr {
  int64_t last_ns;    /* time of its last event */
  uint32_t depth;     /* open regions */
  uint64_t flow;      /* a wake-up to end at its next blocking event (0: none) */
  int64_t flow_ns;    /* when the wake-up happened */
};

struct task {
  uint64_t id;  /* 0: empty slot */
  uint32_t name;
  uint32_t open;
};

struct cw {
  FILE *out;
  const ctrace_reader *r;
  ctrace_symbolizer *sym;
  uint32_t pid;
  int n;              /* events written */
  struct thr *th;
  uint32_t nth;
  struct task *tasks; /* open addressing on task id */
  size_t ntasks, captasks;
  char **stacks;      /* stacks[id]: the JSON array of its frames, made on first use */
  uint32_t nstacks;
  uint64_t next_flow;
  int oom;
};

/* ---- JSON output ---- */

/* Writes s[0..len) as a JSON string: escapes, and U+FFFD for bytes that are
 * not valid UTF-8. */
static void jstr(FILE *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  putc('"', out);
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        putc('\\', out);
        putc((int)c, out);
      } else if (c < 0x20 || c == 0x7f) {
        fprintf(out, "\\u%04x", c);
      } else {
        putc((int)c, out);
      }
      p++;
      continue;
    }
    /* Multi-byte: check length, continuation bytes, overlongs, surrogates. */
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    int ok = n && (size_t)(end - p) >= n;
    for (size_t i = 1; ok && i < n; i++)
      ok = (p[i] & 0xc0) == 0x80;
    if (ok && n == 3)
      ok = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
    if (ok && n == 4)
      ok = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
    if (ok) {
      fwrite(p, 1, n, out);
      p += n;
    } else {
      fputs("\xef\xbf\xbd", out);
      p++;
    }
  }
  putc('"', out);
}

static void jcstr(FILE *out, const char *s) { jstr(out, s, strlen(s)); }

static void jtrace_str(struct cw *w, uint64_t id) {
  const struct ctrace_string *s = ctrace_reader_string(w->r, id);
  jstr(w->out, s ? s->s : "", s ? s->len : 0);
}

/* Microseconds with three decimals from ns. */
static void jus(FILE *out, int64_t ns) {
  uint64_t a = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns;
  fprintf(out, "%s%llu.%03llu", ns < 0 ? "-" : "", (unsigned long long)(a / 1000),
          (unsigned long long)(a % 1000));
}

/* Starts an event object: {"ph":..,"name":..,"cat":..,"ts":..,"pid":..,"tid":..
 * name_id is a string id, or 0 to use name. The caller closes it with '}'. */
static void head(struct cw *w, const char *ph, uint64_t name_id, const char *name,
                 const char *cat, int64_t ns, uint32_t tid) {
  FILE *out = w->out;
  fputs(w->n++ ? ",\n{\"ph\":\"" : "\n{\"ph\":\"", out);
  fputs(ph, out);
  fputs("\",\"name\":", out);
  if (name_id)
    jtrace_str(w, name_id);
  else
    jcstr(out, name);
  fputs(",\"cat\":\"", out);
  fputs(cat, out);
  fputs("\",\"ts\":", out);
  jus(out, ns);
  fprintf(out, ",\"pid\":%u,\"tid\":%u", w->pid, tid);
}

/* The JSON array of the frames of stack id ("function (file:line)"), cached;
 * NULL when the stack is unknown or memory ran out. */
static const char *stack_json(struct cw *w, uint64_t id) {
  if (id == 0 || id > w->nstacks)
    return NULL;
  if (w->stacks[id])
    return w->stacks[id];
  const uint64_t *pcs;
  uint32_t n = ctrace_reader_stack(w->r, id, &pcs);
  if (n == 0)
    return NULL;
  if (n > MAX_FRAMES)
    n = MAX_FRAMES;
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m) {
    w->oom = 1;
    return NULL;
  }
  putc('[', m);
  for (uint32_t i = 0; i < n; i++) {
    char line[4096];
    if (w->sym) {
      struct ctrace_frame f;
      ctrace_sym_lookup(w->sym, pcs[i], 1, &f);
      if (f.file)
        snprintf(line, sizeof line, "%s (%s:%d)", f.function, f.file, f.line);
      else if (f.object)
        snprintf(line, sizeof line, "%s (%s+0x%llx)", f.function, f.object,
                 (unsigned long long)pcs[i]);
      else
        snprintf(line, sizeof line, "0x%llx", (unsigned long long)pcs[i]);
    } else {
      snprintf(line, sizeof line, "0x%llx", (unsigned long long)pcs[i]);
    }
    if (i)
      putc(',', m);
    jcstr(m, line);
  }
  putc(']', m);
  if (fclose(m) != 0 || !buf) {
    free(buf);
    w->oom = 1;
    return NULL;
  }
  w->stacks[id] = buf;
  return buf;
}

/* Ends an event: optional args (already formatted members, may be "") and
 * the stack, then "}". */
static void tail(struct cw *w, const char *args, uint64_t stack) {
  const char *sj = stack_json(w, stack);
  if (sj || (args && *args)) {
    fputs(",\"args\":{", w->out);
    if (args && *args)
      fputs(args, w->out);
    if (sj) {
      fputs(args && *args ? ",\"stack\":" : "\"stack\":", w->out);
      fputs(sj, w->out);
    }
    putc('}', w->out);
  }
  putc('}', w->out);
}

/* ---- tasks: id -> name, open addressing (ids are never 0) ---- */

static struct task *task_slot(struct cw *w, uint64_t id) {
  if ((w->ntasks + 1) * 2 > w->captasks) {
    size_t nc = w->captasks ? w->captasks * 2 : 256;
    struct task *nt = calloc(nc, sizeof *nt);
    if (!nt) {
      w->oom = 1;
      return NULL;
    }
    for (size_t i = 0; i < w->captasks; i++) {
      if (!w->tasks[i].id)
        continue;
      size_t j = (w->tasks[i].id * 0x9e3779b97f4a7c15ull >> 20) & (nc - 1);
      while (nt[j].id)
        j = (j + 1) & (nc - 1);
      nt[j] = w->tasks[i];
    }
    free(w->tasks);
    w->tasks = nt;
    w->captasks = nc;
  }
  size_t j = (id * 0x9e3779b97f4a7c15ull >> 20) & (w->captasks - 1);
  while (w->tasks[j].id && w->tasks[j].id != id)
    j = (j + 1) & (w->captasks - 1);
  return &w->tasks[j];
}

static void task_event(struct cw *w, const char *ph, const struct task *t, int64_t ns,
                       uint32_t tid, const char *args, uint64_t stack) {
  head(w, ph, t->name, t->name ? NULL : "task", "task", ns, tid);
  fprintf(w->out, ",\"id\":\"0x%llx\"", (unsigned long long)t->id);
  tail(w, args, stack);
}

/* ---- events ---- */

/* A WAIT or SYSCALL: an X slice ending at the event, and the end of a
 * wake-up flow that happened during it. */
static void blocking(struct cw *w, const ctrace_event *ev, int64_t ns, struct thr *th) {
  char name[64], args[160];
  const char *cat;
  uint64_t dur, stack;
  if (ev->kind == CTRACE_EV_WAIT) {
    const char *rn = ctrace__wait_reason_name(ev->f[0]);
    size_t i = 0;
    for (; rn[i] && i < 40; i++)
      name[i] = (char)(rn[i] >= 'A' && rn[i] <= 'Z' ? rn[i] - 'A' + 'a' : rn[i]);
    name[i] = 0;
    if (ev->f[0] != CTRACE_WAIT_SLEEP)
      strcat(name, " wait");
    cat = ctrace__wait_reason_class(ev->f[0]);
    snprintf(args, sizeof args, "\"object\":\"0x%llx\"", (unsigned long long)ev->f[1]);
    dur = ev->f[2];
    stack = ev->f[3];
  } else {
    snprintf(name, sizeof name, "%s", ctrace__syscall_name(ev->f[0]));
    cat = ctrace__syscall_class_name(ev->f[1]);
    snprintf(args, sizeof args, "\"fd\":%lld,\"result\":%lld", (long long)ev->f[2],
             (long long)ctrace__unzigzag(ev->f[3]));
    dur = ev->f[4];
    stack = ev->f[5];
  }
  int64_t b = ctrace_reader_ns(w->r, dur <= ev->ticks ? ev->ticks - dur : 0);
  if (b > ns)
    b = ns;
  head(w, "X", 0, name, cat, b, ev->tid);
  fputs(",\"dur\":", w->out);
  jus(w->out, ns - b);
  tail(w, args, stack);
  if (th->flow) {
    /* The wake-up ends this wait when it came while the thread waited. */
    if (th->flow_ns >= b && th->flow_ns <= ns) {
      head(w, "f", 0, "wake", "wake", th->flow_ns, ev->tid);
      fprintf(w->out, ",\"id\":%llu,\"bp\":\"e\"}", (unsigned long long)th->flow);
    }
    th->flow = 0;
  }
}

static void event(struct cw *w, const ctrace_event *ev) {
  int64_t ns = ctrace_reader_ns(w->r, ev->ticks);
  int64_t ti = ctrace_reader_thread_index(w->r, ev->tid);
  if (ti < 0 || (uint32_t)ti >= w->nth)
    return;
  struct thr *th = &w->th[ti];
  th->last_ns = ns;
  char args[256];
  switch (ev->kind) {
  case CTRACE_EV_REGION_BEGIN:
    head(w, "B", ev->f[1], "region", "region", ns, ev->tid);
    snprintf(args, sizeof args, ev->f[0] ? "\"task\":\"0x%llx\"" : "",
             (unsigned long long)ev->f[0]);
    tail(w, args, ev->f[2]);
    th->depth++;
    break;
  case CTRACE_EV_REGION_END:
    if (!th->depth)
      break; /* began before the trace did */
    th->depth--;
    head(w, "E", 0, "", "region", ns, ev->tid);
    putc('}', w->out);
    break;
  case CTRACE_EV_TASK_BEGIN: {
    if (!ev->f[0])
      break;
    struct task *t = task_slot(w, ev->f[0]);
    if (!t)
      break;
    if (!t->id)
      w->ntasks++;
    else if (t->open)
      break; /* a task id begun twice: keep the first */
    *t = (struct task){ev->f[0], (uint32_t)(ev->f[2] <= UINT32_MAX ? ev->f[2] : 0), 1};
    snprintf(args, sizeof args, ev->f[1] ? "\"parent\":\"0x%llx\"" : "",
             (unsigned long long)ev->f[1]);
    task_event(w, "b", t, ns, ev->tid, args, ev->f[3]);
    break;
  }
  case CTRACE_EV_TASK_END: {
    if (!ev->f[0])
      break;
    struct task *t = task_slot(w, ev->f[0]);
    if (!t || !t->id || !t->open)
      break; /* began before the trace did */
    t->open = 0;
    task_event(w, "e", t, ns, ev->tid, "", 0);
    break;
  }
  case CTRACE_EV_WAIT:
  case CTRACE_EV_SYSCALL:
    blocking(w, ev, ns, th);
    break;
  case CTRACE_EV_WAKE: {
    int64_t wi = ev->f[0] <= UINT32_MAX ? ctrace_reader_thread_index(w->r, (uint32_t)ev->f[0]) : -1;
    snprintf(args, sizeof args, "\"woken_tid\":%llu,\"object\":\"0x%llx\"",
             (unsigned long long)ev->f[0], (unsigned long long)ev->f[1]);
    head(w, "X", 0, "wake", "wake", ns, ev->tid);
    fputs(",\"dur\":0.001", w->out);
    tail(w, args, ev->f[3]);
    if (wi >= 0 && (uint32_t)wi < w->nth) {
      uint64_t id = ++w->next_flow;
      head(w, "s", 0, "wake", "wake", ns, ev->tid);
      fprintf(w->out, ",\"id\":%llu}", (unsigned long long)id);
      w->th[wi].flow = id;
      w->th[wi].flow_ns = ns;
    }
    break;
  }
  case CTRACE_EV_LOG: {
    const struct ctrace_string *cat = ctrace_reader_string(w->r, ev->f[1]);
    FILE *out = w->out;
    fputs(w->n++ ? ",\n{\"ph\":\"i\",\"s\":\"t\",\"name\":" : "\n{\"ph\":\"i\",\"s\":\"t\",\"name\":",
          out);
    jstr(out, (const char *)ev->blob, ev->blob_len < 200 ? ev->blob_len : 200);
    fputs(",\"cat\":\"log\",\"ts\":", out);
    jus(out, ns);
    fprintf(out, ",\"pid\":%u,\"tid\":%u,\"args\":{\"message\":", w->pid, ev->tid);
    jstr(out, (const char *)ev->blob, ev->blob_len);
    fputs(",\"category\":", out);
    jstr(out, cat ? cat->s : "", cat ? cat->len : 0);
    if (ev->f[0])
      fprintf(out, ",\"task\":\"0x%llx\"", (unsigned long long)ev->f[0]);
    const char *sj = stack_json(w, ev->f[2]);
    if (sj) {
      fputs(",\"stack\":", out);
      fputs(sj, out);
    }
    fputs("}}", out);
    break;
  }
  case CTRACE_EV_COUNTER:
    head(w, "C", ev->f[0], "counter", "counter", ns, ev->tid);
    fprintf(w->out, ",\"args\":{\"value\":%lld}}", (long long)ctrace__unzigzag(ev->f[1]));
    break;
  case CTRACE_EV_FORK:
    snprintf(args, sizeof args, "\"child_pid\":%llu", (unsigned long long)ev->f[0]);
    head(w, "i", 0, "fork", "process", ns, ev->tid);
    fputs(",\"s\":\"p\"", w->out);
    tail(w, args, ev->f[1]);
    break;
  case CTRACE_EV_EXEC:
    head(w, "i", 0, "exec", "process", ns, ev->tid);
    fputs(",\"s\":\"p\",\"args\":{\"path\":", w->out);
    jtrace_str(w, ev->f[0]);
    fputs("}}", w->out);
    break;
  case CTRACE_EV_EXIT:
    snprintf(args, sizeof args, "\"status\":%lld", (long long)ctrace__unzigzag(ev->f[0]));
    head(w, "i", 0, "exit", "process", ns, ev->tid);
    fputs(",\"s\":\"p\"", w->out);
    tail(w, args, 0);
    break;
  case CTRACE_EV_SIGNAL:
    snprintf(args, sizeof args, "\"signo\":%llu", (unsigned long long)ev->f[0]);
    head(w, "i", 0, "fatal signal", "process", ns, ev->tid);
    fputs(",\"s\":\"p\"", w->out);
    tail(w, args, ev->f[1]);
    break;
  case CTRACE_EV_DROPPED:
    snprintf(args, sizeof args, "\"count\":%llu", (unsigned long long)ev->f[0]);
    head(w, "i", 0, "events lost", "ctrace", ns, ev->tid);
    fputs(",\"s\":\"t\"", w->out);
    tail(w, args, 0);
    break;
  default:
    break;
  }
}

/* Thread and process names, and what is still open at the end. */
static void finish(struct cw *w) {
  int64_t end = ctrace_reader_ns(w->r, ctrace_reader_last_ticks(w->r));
  for (uint32_t i = 0; i < w->nth; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(w->r, i);
    for (; w->th[i].depth; w->th[i].depth--) {
      head(w, "E", 0, "", "region", w->th[i].last_ns, ti->tid);
      putc('}', w->out);
    }
  }
  for (size_t i = 0; i < w->captasks; i++) {
    struct task *t = &w->tasks[i];
    if (t->id && t->open)
      task_event(w, "e", t, end, w->pid, "\"unfinished\":true", 0);
  }
  if (ctrace_reader_nprocesses(w->r)) {
    const struct ctrace_process *p = ctrace_reader_process(w->r, 0);
    head(w, "M", 0, "process_name", "__metadata", 0, 0);
    fputs(",\"args\":{\"name\":", w->out);
    jtrace_str(w, p->exe);
    fputs("}}", w->out);
  }
  for (uint32_t i = 0; i < w->nth; i++) {
    const struct ctrace_thread_info *ti = ctrace_reader_thread(w->r, i);
    head(w, "M", 0, "thread_name", "__metadata", 0, ti->tid);
    fputs(",\"args\":{\"name\":", w->out);
    if (ti->name) {
      jtrace_str(w, ti->name);
    } else {
      char nm[32];
      snprintf(nm, sizeof nm, "thread %u", ti->tid);
      jcstr(w->out, nm);
    }
    fputs("}}", w->out);
    head(w, "M", 0, "thread_sort_index", "__metadata", 0, ti->tid);
    fprintf(w->out, ",\"args\":{\"sort_index\":%u}}", i);
  }
}

int ctrace_chrome_write(const ctrace_reader *r, ctrace_symbolizer *sym, FILE *out) {
  struct cw w;
  memset(&w, 0, sizeof w);
  w.out = out;
  w.r = r;
  w.sym = sym;
  w.pid = ctrace_reader_pid(r);
  w.nth = ctrace_reader_nthreads(r);
  w.nstacks = ctrace_reader_nstacks(r);
  w.th = calloc(w.nth ? w.nth : 1, sizeof *w.th);
  w.stacks = calloc((size_t)w.nstacks + 1, sizeof *w.stacks);
  ctrace_merge *m = w.th && w.stacks ? ctrace_merge_new(r) : NULL;
  int rc = -1;
  if (!m)
    goto done;
  fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"ctrace\"", out);
  fprintf(out, ",\"pid\":%u,\"start_realtime_ns\":%llu},\n\"traceEvents\":[", w.pid,
          (unsigned long long)ctrace_reader_start_realtime(r));
  ctrace_event ev;
  while (ctrace_merge_next(m, &ev) && !w.oom)
    event(&w, &ev);
  finish(&w);
  fputs("\n]}\n", out);
  rc = w.oom || ferror(out) ? -1 : 0;
done:
  ctrace_merge_free(m);
  for (uint32_t i = 0; w.stacks && i <= w.nstacks; i++)
    free(w.stacks[i]);
  free(w.stacks);
  free(w.th);
  free(w.tasks);
  return rc;
}
