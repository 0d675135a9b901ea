/*
 * api_procs.c - the processes of /api/summary (docs/API.md): each process
 * image with its place in the tree and how it ended ("process_list"), and
 * the fork and exec links from a parent's call to its child's first event
 * ("process_links"), from the timeline's processes (timeline_proc.h);
 * and /api/flows: the "data from" edges of pipes, socketpairs and TCP and
 * the wake-ups through process-shared objects (src/analyze/flows.h).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>
#include <stdlib.h>

#include "../analyze/flows.h"
#include "../analyze/stats.h"
#include "api_int.h"

/* argv as a JSON array (items separated by 0x1f). */
static void json_argv(const struct ctrace_view *v, FILE *f, uint32_t sid) {
  fputc('[', f);
  const struct ctrace_string *a = sid ? ctrace_reader_string(v->r, sid) : NULL;
  if (a && a->len) {
    uint32_t s0 = 0;
    int first = 1;
    for (uint32_t k = 0; k <= a->len; k++)
      if (k == a->len || a->s[k] == 0x1f) {
        if (!first)
          fputc(',', f);
        ctrace_json_string(f, a->s + s0, k - s0);
        first = 0;
        s0 = k + 1;
      }
  }
  fputc(']', f);
}

/* A thread as the links name it: tid and instance. */
static void json_thread(const struct ctrace_view *v, FILE *f, const char *tid_key,
                        const char *inst_key, uint32_t thread) {
  const struct ctrace_tl_thread *t = &v->tl->threads[thread];
  const struct ctrace_thread_info *ti = ctrace_reader_thread(v->r, t->index);
  fprintf(f, "\"%s\":%u,\"%s\":%u", tid_key, t->tid, inst_key, ti ? ti->instance : 0);
}

size_t ctrace__json_drop_list(char *s, size_t len, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, ",\"%s\":[", key);
  size_t plen = strlen(pat);
  char *a = memmem(s, len, pat, plen);
  if (!a)
    return len;
  size_t i = (size_t)(a - s) + plen;
  int depth = 1, in_str = 0;
  for (; i < len && depth; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      depth++;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  if (depth)
    return len; /* not a whole list: leave it */
  memmove(a, s + i, len - i);
  return len - (i - (size_t)(a - s));
}

void ctrace__json_processes(struct ctrace_view *v, FILE *f) {
  const struct ctrace_timeline *tl = v->tl;
  fputs(",\"process_list\":[", f);
  for (uint32_t i = 0; i < tl->nprocs; i++) {
    const struct ctrace_tl_process *p = &tl->procs[i];
    /* the keys of one-file traces first, as before */
    fprintf(f, "%s{\"pid\":%u,\"ppid\":%u,\"exe\":", i ? "," : "", p->pid, p->ppid);
    ctrace__json_sid(v, f, p->exe);
    fputs(",\"argv\":", f);
    json_argv(v, f, p->argv);
    /* parent and exec_from as the reader links them (stats --json's
     * process_list); tree_parent, depth and order place it in the tree,
     * where an exec'd image is the child of the image it replaced */
    const struct ctrace_process *rp =
        i < ctrace_reader_nprocesses(v->r) ? ctrace_reader_process(v->r, i) : NULL;
    const char *fp = rp ? ctrace_reader_file_path(v->r, rp->file) : NULL;
    fprintf(f, ",\"index\":%u,\"parent\":%d,\"exec_from\":%d,\"tree_parent\":%d,\"file\":", i,
            rp ? rp->parent : -1, rp ? rp->exec_from : -1,
            p->parent == CTRACE_TL_NO_PROC ? -1 : (int)p->parent);
    ctrace__json_str(f, fp ? fp : v->path);
    fprintf(f,
            ",\"depth\":%u,\"order\":%u,\"threads\":%u,\"main_tid\":%u,\"first_ns\":%" PRId64
            ",\"last_ns\":%" PRId64 ",\"status\":\"%s\"",
            p->depth, p->order, p->nthreads,
            p->main_thread < tl->nthreads ? tl->threads[p->main_thread].tid : 0, p->first_ns,
            p->last_ns, rp ? ctrace_proc_status_name(rp->status) : ctrace_tl_proc_status_name(p->status));
    if (p->exited)
      fprintf(f, ",\"exit_status\":%d", p->exit_code);
    else
      fputs(",\"exit_status\":null", f);
    fprintf(f, ",\"signal\":%u", p->signal);
    if (v->st.procs && i < ctrace_reader_nprocesses(v->r)) { /* stats --json's numbers */
      const struct ctrace_proc_stats *ps = &v->st.procs[i];
      fprintf(f, ",\"events\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"start_ns\":%" PRId64
                 ",\"end_ns\":%" PRId64,
              ps->events, ps->bytes, ps->start_ns, ps->end_ns);
      fputs(",\"time_by_state\":{", f);
      int first = 1;
      for (unsigned k = 0; k < CTRACE_ST_COUNT; k++)
        if (ps->state_ns[k]) {
          fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", ctrace_state_name(k), ps->state_ns[k]);
          first = 0;
        }
      fputc('}', f);
    }
    if (p->signal) {
      const char *abbrev = sigabbrev_np((int)p->signal);
      char name[32];
      snprintf(name, sizeof name, "SIG%s", abbrev ? abbrev : "?");
      fputs(",\"signal_name\":", f);
      ctrace__json_str(f, abbrev ? name : "");
    }
    if (p->end_ns != INT64_MIN)
      fprintf(f, ",\"exit_ns\":%" PRId64, p->end_ns);
    if (p->exec_path) {
      fputs(",\"exec\":", f);
      ctrace__json_sid(v, f, p->exec_path);
    }
    fputc('}', f);
  }
  /* whether /api/flows can have anything: the trace recorded fds or shared objects */
  fprintf(f, "],\"flows\":%s", ctrace_reader_nevents_kind(v->r, CTRACE_EV_FD) ||
                                        ctrace_reader_nevents_kind(v->r, CTRACE_EV_SHARED)
                                    ? "true" : "false");
  fputs(",\"process_links\":[", f);
  for (size_t k = 0; k < tl->nproc_links; k++) {
    const struct ctrace_tl_proc_link *l = &tl->proc_links[k];
    fprintf(f, "%s{\"kind\":\"%s\",\"t_ns\":%" PRId64 ",\"child_first_ns\":%" PRId64
               ",\"process\":%u,\"child\":%u,",
            k ? "," : "", ctrace_tl_link_kind_name(l->kind), l->t, l->t_child, l->process,
            l->child);
    json_thread(v, f, "tid", "instance", l->thread);
    fputc(',', f);
    json_thread(v, f, "child_tid", "child_instance", l->child_thread);
    fprintf(f, ",\"stack_id\":%" PRIu64 ",\"stack\":", l->stack);
    ctrace__json_stack(v, f, l->stack);
    fputc('}', f);
  }
  fputc(']', f);
}

/* ---- /api/flows ---- */
#define FLOWS_MAX 4000 /* in a window; more: none, with their count (as wakes) */

void ctrace__flows_free(struct ctrace_flows *f) {
  if (!f)
    return;
  ctrace_flows_free(f);
  free(f);
}

static pthread_mutex_t flows_lock = PTHREAD_MUTEX_INITIALIZER;

/* The trace's flows, built on the first request (NULL: out of memory). */
const struct ctrace_flows *ctrace__view_flows(struct ctrace_view *v) {
  pthread_mutex_lock(&flows_lock);
  if (!v->flows) {
    struct ctrace_flows *f = calloc(1, sizeof *f);
    if (f && ctrace_flows_build(v->r, f) < 0) {
      free(f);
      f = NULL;
    }
    v->flows = f;
  }
  const struct ctrace_flows *f = v->flows;
  pthread_mutex_unlock(&flows_lock);
  return f;
}

/* Thread (reader index) as tid and instance. */
static void json_reader_thread(const struct ctrace_view *v, FILE *f, const char *pre,
                               uint32_t idx) {
  const struct ctrace_thread_info *ti =
      idx < ctrace_reader_nthreads(v->r) ? ctrace_reader_thread(v->r, idx) : NULL;
  fprintf(f, "\"%stid\":%u,\"%sinstance\":%u", pre, ti ? ti->tid : 0, pre,
          ti ? ti->instance : 0);
}

void ctrace__api_flows(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  int64_t a, b;
  if (ctrace__param_i64(p, "start_ns", tl->start_ns, INT64_MIN, INT64_MAX, &a) < 0 ||
      ctrace__param_i64(p, "end_ns", tl->end_ns, INT64_MIN, INT64_MAX, &b) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  if (b <= a) {
    ctrace_reply_error(out, 400, "end_ns must be after start_ns");
    return;
  }
  const struct ctrace_flows *fl = ctrace__view_flows(v);
  struct json j;
  if (!fl || ctrace__json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  /* those whose arrow crosses the window: [from, to] overlaps [a, b] */
  size_t in = 0;
  for (size_t k = 0; k < fl->n; k++) {
    int64_t t0 = ctrace_reader_ns(v->r, fl->v[k].from_ticks),
            t1 = ctrace_reader_ns(v->r, fl->v[k].to_ticks);
    in += (t0 < t1 ? t0 : t1) <= b && (t0 > t1 ? t0 : t1) >= a;
  }
  fprintf(f,
          "{\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"total\":%zu,\"in_window\":%zu,"
          "\"unmatched_read_bytes\":%" PRIu64 ",\"unmatched_write_bytes\":%" PRIu64
          ",\"flows\":[",
          a, b, fl->n, in, fl->unmatched_read_bytes, fl->unmatched_write_bytes);
  size_t n = 0;
  for (size_t k = 0; k < fl->n && in <= FLOWS_MAX; k++) {
    const struct ctrace_flow *x = &fl->v[k];
    int64_t t0 = ctrace_reader_ns(v->r, x->from_ticks), t1 = ctrace_reader_ns(v->r, x->to_ticks);
    if ((t0 < t1 ? t0 : t1) > b || (t0 > t1 ? t0 : t1) < a)
      continue;
    fprintf(f, "%s{\"kind\":\"%s\",\"via\":\"%s\",\"from_ns\":%" PRId64 ",\"to_ns\":%" PRId64 ",",
            n++ ? "," : "", ctrace_flow_kind_name(x->kind), ctrace_flow_object_name(x->object_kind),
            t0, t1);
    json_reader_thread(v, f, "from_", x->from_thread);
    fputc(',', f);
    json_reader_thread(v, f, "to_", x->to_thread);
    fprintf(f, ",\"bytes\":%" PRIu64 ",\"object\":\"0x%" PRIx64 "\",\"offset\":%" PRIu64
               ",\"reason\":%u,\"from_fd\":%d,\"to_fd\":%d}",
            x->bytes, x->object, x->offset, x->reason, x->from_fd, x->to_fd);
  }
  fputs("]}\n", f);
  ctrace__json_close(&j, out);
}
