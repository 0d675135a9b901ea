/*
 * api_event.c - /api/event (docs/API.md): the details of one thing clicked
 * on the timeline (a state span and the call that made it, a region, a log,
 * a wake-up, a thread creation, a task), found by searching the thread's
 * events near a time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api_int.h"

/* ---- /api/event ---- */

/* Finds the event of thread th of one of the kinds (a list: 1 << kind bits
 * are too wide) whose time is nearest to ns, within `within` ns; with
 * within < 0, the first at or after ns, however far. */
static int find_event_within(struct ctrace_view *v, uint32_t th, int64_t ns, const uint8_t *kinds,
                             int nkinds, int64_t within, ctrace_event *out) {
  const ctrace_reader *r = v->r;
  const struct ctrace_thread_info *ti = ctrace_reader_thread(r, v->tl->threads[th].index);
  uint64_t tk = ctrace_reader_ticks(r, ns);
  /* first batch whose last event is at or after the target, less one */
  uint32_t lo = 0, hi = ti->nbatches;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ctrace_reader_batch(r, ti->batches[mid])->last < tk)
      lo = mid + 1;
    else
      hi = mid;
  }
  ctrace_cursor c;
  ctrace_cursor_init(&c, r, v->tl->threads[th].index);
  ctrace_cursor_seek_batch(&c, lo ? lo - 1 : 0);
  ctrace_event ev;
  int found = 0;
  int64_t best = INT64_MAX;
  while (ctrace_cursor_next(&c, &ev)) {
    int64_t t = ctrace_reader_ns(r, ev.ticks);
    if (within >= 0 && t > ns + within)
      break;
    int match = 0;
    for (int k = 0; k < nkinds; k++)
      match |= ev.kind == kinds[k];
    if (!match)
      continue;
    if (within < 0) {
      if (t < ns)
        continue;
      *out = ev;
      return 0;
    }
    int64_t d = t > ns ? t - ns : ns - t;
    if (d < best && d <= within) {
      best = d;
      *out = ev;
      found = 1;
    }
  }
  return found ? 0 : -1;
}
/* The event of one of kinds nearest ns, within 1 ms of it. */
static int find_event(struct ctrace_view *v, uint32_t th, int64_t ns, const uint8_t *kinds,
                      int nkinds, ctrace_event *out) {
  return find_event_within(v, th, ns, kinds, nkinds, 1000000, out);
}

static void json_peer(FILE *f, const struct ctrace_tl_peer *pe) {
  char host[INET6_ADDRSTRLEN] = "";
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, pe->addr, pe->len < sizeof ss ? pe->len : sizeof ss);
  char buf[160];
  buf[0] = 0;
  if (ss.ss_family == AF_INET && pe->len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    snprintf(buf, sizeof buf, "%s:%u", host, ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6 && pe->len >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    snprintf(buf, sizeof buf, "[%s]:%u", host, ntohs(in6->sin6_port));
  } else if (ss.ss_family == AF_UNIX) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    size_t max = pe->len > offsetof(struct sockaddr_un, sun_path)
                     ? pe->len - offsetof(struct sockaddr_un, sun_path)
                     : 0;
    if (max > sizeof un->sun_path - 1)
      max = sizeof un->sun_path - 1;
    snprintf(buf, sizeof buf, "unix:%.*s", (int)strnlen(un->sun_path, max), un->sun_path);
  } else {
    snprintf(buf, sizeof buf, "family %u", ss.ss_family);
  }
  ctrace__json_str(f, buf);
}

static int syscall_moves_bytes(uint64_t call) {
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

/* A wait's object: a child's pid ("any" for -1) for CHILD, else an address. */
static void json_wait_object(FILE *f, uint64_t reason, uint64_t object) {
  if (reason == CTRACE_WAIT_CHILD && (int64_t)object == -1)
    fputs(",\"object\":\"any child\"", f);
  else if (reason == CTRACE_WAIT_CHILD)
    fprintf(f, ",\"object\":\"pid %" PRId64 "\"", (int64_t)object);
  else
    fprintf(f, ",\"object\":\"0x%" PRIx64 "\"", object);
}

/* The fields of ev as JSON members (after a comma), with its stack. */
static void json_event_fields(struct ctrace_view *v, FILE *f, uint32_t th, const ctrace_event *ev,
                              int with_dur) {
  const ctrace_reader *r = v->r;
  int64_t t = ctrace_reader_ns(r, ev->ticks);
  const struct ctrace_kind_info *ki = &ctrace__kinds[ev->kind];
  fprintf(f, ",\"event\":\"%s\",\"event_ns\":%" PRId64 ",\"offset\":%" PRIu64,
          ki->name ? ki->name : "?", t, ev->offset);
  uint64_t stack = 0;
  switch (ev->kind) {
  case CTRACE_EV_WAIT: {
    struct ctrace_ev_wait w = CTRACE_EV(wait, ev);
    fputs(",\"reason\":", f);
    ctrace__json_str(f, ctrace__wait_reason_name(w.reason));
    json_wait_object(f, w.reason, w.object);
    int64_t s = w.dur < ev->ticks ? ctrace_reader_ns(r, ev->ticks - w.dur) : t;
    if (with_dur)
      fprintf(f, ",\"dur_ns\":%" PRId64, t - s);
    stack = w.stack;
    break;
  }
  case CTRACE_EV_SYSCALL: {
    struct ctrace_ev_syscall c = CTRACE_EV(syscall, ev);
    int64_t s = c.dur < ev->ticks ? ctrace_reader_ns(r, ev->ticks - c.dur) : t;
    fputs(",\"call\":", f);
    ctrace__json_str(f, ctrace__syscall_name(c.call));
    fputs(",\"class\":", f);
    ctrace__json_str(f, ctrace__syscall_class_name(c.class));
    fprintf(f, ",\"fd\":%" PRId64 ",\"result\":%" PRId64, (int64_t)(int32_t)c.fd, c.result);
    if (with_dur)
      fprintf(f, ",\"dur_ns\":%" PRId64, t - s);
    if (syscall_moves_bytes(c.call) && c.result >= 0)
      fprintf(f, ",\"bytes\":%" PRId64, c.result);
    const struct ctrace_tl_peer *pe = ctrace_timeline_peer(v->tl, th, (uint32_t)c.fd, t);
    if (pe && c.class == CTRACE_SC_NET) {
      fputs(",\"peer\":", f);
      json_peer(f, pe);
    }
    stack = c.stack;
    break;
  }
  case CTRACE_EV_PENDING: {
    /* a call that had not returned when the trace stopped */
    struct ctrace_ev_pending pd = CTRACE_EV(pending, ev);
    if (pd.reason) {
      fputs(",\"reason\":", f);
      ctrace__json_str(f, ctrace__wait_reason_name(pd.reason));
      json_wait_object(f, pd.reason, pd.object);
    } else {
      fputs(",\"call\":", f);
      ctrace__json_str(f, ctrace__syscall_name(pd.call));
      fputs(",\"class\":", f);
      ctrace__json_str(f, ctrace__syscall_class_name(pd.class));
    }
    stack = pd.stack;
    break;
  }
  case CTRACE_EV_WAKE: {
    struct ctrace_ev_wake wk = CTRACE_EV(wake, ev);
    fprintf(f, ",\"woken_tid\":%" PRIu64 ",\"object\":\"0x%" PRIx64 "\",\"reason\":", wk.tid,
            wk.object);
    ctrace__json_str(f, ctrace__wait_reason_name(wk.reason));
    stack = wk.stack;
    break;
  }
  case CTRACE_EV_REGION_BEGIN: {
    struct ctrace_ev_region_begin rb = CTRACE_EV(region_begin, ev);
    fprintf(f, ",\"task\":%" PRIu64 ",\"name\":", rb.task);
    ctrace__json_sid(v, f, rb.name);
    stack = rb.stack;
    break;
  }
  case CTRACE_EV_TASK_BEGIN: {
    struct ctrace_ev_task_begin tb = CTRACE_EV(task_begin, ev);
    fprintf(f, ",\"task\":%" PRIu64 ",\"parent\":%" PRIu64 ",\"name\":", tb.task, tb.parent);
    ctrace__json_sid(v, f, tb.name);
    stack = tb.stack;
    break;
  }
  case CTRACE_EV_LOG: {
    struct ctrace_ev_log lg = CTRACE_EV(log, ev);
    fprintf(f, ",\"task\":%" PRIu64 ",\"category\":", lg.task);
    ctrace__json_sid(v, f, lg.category);
    fputs(",\"message\":", f);
    ctrace_json_string(f, (const char *)ev->blob, ev->blob_len);
    stack = lg.stack;
    break;
  }
  case CTRACE_EV_THREAD_CREATE: {
    struct ctrace_ev_thread_create tc = CTRACE_EV(thread_create, ev);
    fprintf(f, ",\"link\":%" PRIu64, tc.link);
    stack = tc.stack;
    break;
  }
  default:
    break;
  }
  fprintf(f, ",\"stack_id\":%" PRIu64 ",\"stack\":", stack);
  ctrace__json_stack(v, f, stack);
}

void ctrace__api_event(struct ctrace_view *v, struct params *p, struct ctrace_reply *out) {
  const struct ctrace_timeline *tl = v->tl;
  const char *kind = p->get(p->ctx, "kind");
  if (!kind)
    kind = "span";
  struct json j;
  if (strcmp(kind, "task") == 0) {
    int64_t id;
    if (ctrace__param_i64(p, "id", -1, 0, INT64_MAX, &id) < 0 || id < 0) {
      ctrace_reply_error(out, 400, id < 0 && !p->err[0] ? "id: missing" : p->err);
      return;
    }
    const struct ctrace_tl_task *t = NULL;
    for (size_t i = 0; i < tl->ntasks && !t; i++)
      if (tl->tasks[i].id == (uint64_t)id)
        t = &tl->tasks[i];
    if (!t) {
      ctrace_reply_error(out, 400, "id: no such task");
      return;
    }
    if (ctrace__json_open(&j) < 0) {
      ctrace_reply_error(out, 500, "out of memory");
      return;
    }
    FILE *f = j.f;
    fprintf(f, "{\"kind\":\"task\",\"id\":%" PRIu64 ",\"parent\":%" PRIu64 ",\"name\":", t->id,
            t->parent);
    ctrace__json_sid(v, f, t->name);
    fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64
               ",\"open\":%s,\"begin_tid\":%u,\"end_tid\":%u,\"threads\":[",
            t->start, t->end, t->end - t->start, t->open ? "true" : "false",
            tl->threads[t->begin_thread].tid,
            t->end_thread == UINT32_MAX ? 0 : tl->threads[t->end_thread].tid);
    uint64_t br[CTRACE_ST_COUNT] = {0};
    for (uint32_t k = 0; k < t->ntouch; k++) {
      const struct ctrace_tl_touch *tc = &tl->touches[t->touch + k];
      fprintf(f, "%s{\"tid\":%u,\"first_ns\":%" PRId64 ",\"last_ns\":%" PRId64 "}", k ? "," : "",
              tl->threads[tc->thread].tid, tc->first, tc->last);
      int64_t a = tc->first < t->start ? t->start : tc->first;
      int64_t b = tc->last > t->end ? t->end : tc->last;
      ctrace_timeline_breakdown(tl, tc->thread, a, b, br);
    }
    fputs("],\"breakdown\":", f);
    ctrace__json_states(f, br);
    ctrace_event ev;
    static const uint8_t kb[] = {CTRACE_EV_TASK_BEGIN};
    if (find_event(v, t->begin_thread, t->start, kb, 1, &ev) == 0)
      json_event_fields(v, f, t->begin_thread, &ev, 0);
    fputs("}\n", f);
    ctrace__json_close(&j, out);
    return;
  }
  uint32_t th;
  int64_t ns;
  if (ctrace__param_thread(p, v, "tid", &th) < 0 ||
      ctrace__param_i64(p, "ns", INT64_MIN, INT64_MIN / 4, INT64_MAX / 4, &ns) < 0) {
    ctrace_reply_error(out, 400, p->err);
    return;
  }
  if (ns == INT64_MIN) {
    ctrace_reply_error(out, 400, "ns: missing");
    return;
  }
  /* A tid names one thread at a time: when the kernel gave it to a later
   * thread, ns says which (the instance in every answer below) */
  int64_t at = ctrace_timeline_thread_at(tl, tl->threads[th].tid, ns);
  if (at >= 0)
    th = (uint32_t)at;
  const struct ctrace_tl_thread *t = &tl->threads[th];
  unsigned instance = ctrace_reader_thread(v->r, t->index)->instance;
  if (strcmp(kind, "span") == 0) {
    int64_t s, e;
    unsigned st;
    if (ctrace_timeline_span_at(tl, th, ns, &s, &e, &st) < 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "ns: thread %u is not alive then ([%" PRId64 ", %" PRId64 "])",
               t->tid, t->first_ns, t->last_ns);
      ctrace_reply_error(out, 400, msg);
      return;
    }
    if (ctrace__json_open(&j) < 0) {
      ctrace_reply_error(out, 500, "out of memory");
      return;
    }
    FILE *f = j.f;
    fprintf(f, "{\"kind\":\"span\",\"tid\":%u,\"state\":\"%s\",\"start_ns\":%" PRId64
               ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64 ",\"instance\":%u",
            t->tid, ctrace_state_name(st), s, e, e - s, instance);
    if (ctrace_state_from_call(st)) {
      ctrace_event ev;
      /* the call that made the span: it ends there, or, still in progress
       * at the end, was recorded by a PENDING at the trace's stop */
      int at_end = s == t->at_end_ns;
      static const uint8_t kb[] = {CTRACE_EV_WAIT, CTRACE_EV_SYSCALL};
      static const uint8_t kp[] = {CTRACE_EV_PENDING};
      if (at_end)
        fputs(",\"in_progress_at_end\":true", f);
      if (t->began_before && s == t->first_ns)
        fputs(",\"began_before_trace\":true", f); /* clipped to the trace's start */
      /* (the PENDING is written during the stop, which on a loaded machine
       * can take longer than a millisecond before the trace's last time;
       * with scheduling data a wait's span ends at its wake-up, and the
       * call returns after the thread got a CPU again, however long that
       * took: the first call event from the span's end on) */
      if (at_end ? find_event_within(v, th, e, kp, 1, e - s + 1, &ev) == 0
                 : find_event_within(v, th, e, kb, 2, -1, &ev) == 0)
        json_event_fields(v, f, th, &ev, 0); /* the span's dur_ns is the call's */
      /* who woke it: a WAKE naming this thread during the span (or right at
       * its end: the waker may record just after the wait returned) */
      const struct ctrace_tl_wake *w = ctrace_timeline_woken_by(tl, th, s, e + 100000);
      if (w)
        fprintf(f, ",\"woken_by\":{\"tid\":%u,\"ns\":%" PRId64 ",\"object\":\"0x%" PRIx64 "\"}",
                tl->threads[w->waker].tid, w->t, w->object);
    }
    /* innermost region around ns: the task it worked for */
    const struct ctrace_tl_region *in = NULL;
    for (size_t k = tl->region_off[th]; k < tl->region_off[th + 1]; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      if (rg->start <= ns && ns < rg->end && (!in || rg->depth > in->depth))
        in = rg;
    }
    if (in) {
      fprintf(f, ",\"task\":%" PRIu64 ",\"region\":", in->task);
      ctrace__json_sid(v, f, in->name);
    }
    fputs("}\n", f);
    ctrace__json_close(&j, out);
    return;
  }
  uint8_t kinds[2];
  const char *label = kind;
  if (strcmp(kind, "region") == 0)
    kinds[0] = CTRACE_EV_REGION_BEGIN;
  else if (strcmp(kind, "log") == 0)
    kinds[0] = CTRACE_EV_LOG;
  else if (strcmp(kind, "wake") == 0)
    kinds[0] = CTRACE_EV_WAKE;
  else if (strcmp(kind, "create") == 0)
    kinds[0] = CTRACE_EV_THREAD_CREATE;
  else {
    ctrace_reply_error(out, 400, "kind: must be span, region, log, wake, create or task");
    return;
  }
  ctrace_event ev;
  if (find_event(v, th, ns, kinds, 1, &ev) < 0) {
    ctrace_reply_error(out, 400, "ns: no such event of that thread near that time");
    return;
  }
  if (ctrace__json_open(&j) < 0) {
    ctrace_reply_error(out, 500, "out of memory");
    return;
  }
  FILE *f = j.f;
  fprintf(f, "{\"kind\":\"%s\",\"tid\":%u,\"instance\":%u", label, t->tid, instance);
  if (kinds[0] == CTRACE_EV_REGION_BEGIN) {
    int64_t start = ctrace_reader_ns(v->r, ev.ticks);
    for (size_t k = tl->region_off[th]; k < tl->region_off[th + 1]; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      if (rg->start == start) {
        fprintf(f, ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"dur_ns\":%" PRId64
                   ",\"depth\":%u,\"open\":%s",
                rg->start, rg->end, rg->end - rg->start, rg->depth, rg->open ? "true" : "false");
        break;
      }
    }
  }
  json_event_fields(v, f, th, &ev, kinds[0] != CTRACE_EV_REGION_BEGIN);
  fputs("}\n", f);
  ctrace__json_close(&j, out);
}

