/*
 * stats.c - see stats.h. One pass over every thread's events.
 */
#include "stats.h"

#include "states.h"
#include "../base/sort.h"
#include "../base/vec.h"

#include <stdlib.h>
#include <string.h>

static int count_name(struct ctrace_name_count **v, uint32_t *n, uint32_t name, uint64_t dur_ns) {
  /* Linear search: names are few (tens); fine while under ~1000. */
  for (uint32_t i = 0; i < *n; i++)
    if ((*v)[i].name == name) {
      (*v)[i].count++;
      (*v)[i].total_ns += dur_ns;
      return 0;
    }
  struct ctrace_name_count *nv = realloc(*v, (*n + 1) * sizeof **v);
  if (!nv)
    return -1;
  *v = nv;
  nv[*n] = (struct ctrace_name_count){name, 1, dur_ns};
  (*n)++;
  return 0;
}

struct open_task {
  uint64_t id;
  uint32_t name;
  uint64_t begin; /* ticks */
};

/* ---- thread states and scheduling ---- */

static void sched_status(const ctrace_reader *r, struct ctrace_stats *st) {
  ctrace_reader_sched_totals(r, &st->sched);
  const char *p = ctrace_reader_property(r, "sched");
  const char *smp = ctrace_reader_property(r, "samples");
  snprintf(st->samples, sizeof st->samples, "%s", smp ? smp : "off: not recorded");
  st->sched_reason[0] = 0;
  if (p && strncmp(p, "off: ", 5) == 0)
    snprintf(st->sched_reason, sizeof st->sched_reason, "%s", p + 5);
  else if (!st->sched.recorded && !p)
    snprintf(st->sched_reason, sizeof st->sched_reason, "%s",
             ctrace_reader_version_minor(r) < 2
                 ? "a trace of format 1.0 or 1.1, before scheduling data"
                 : "the recorder did not record it");
  else if (!st->sched.recorded && strcmp(p, "on") != 0)
    snprintf(st->sched_reason, sizeof st->sched_reason, "%s", p);
}

/* by (id, begin) */
#define TASK_LESS(x, y) ((x)->id != (y)->id ? (x)->id < (y)->id : (x)->begin < (y)->begin)
CTRACE_RUN_SORT_TYPED(sort_tasks, struct open_task, TASK_LESS)
/* A TASK_END: no name, 16 bytes instead of 24 (6 MB less of fresh memory
 * and of sorting at 10 M events) */
struct task_end {
  uint64_t id;
  uint64_t begin; /* ticks */
};
CTRACE_RUN_SORT_TYPED(sort_ends, struct task_end, TASK_LESS)

/* What one event adds to the names and families (the pass of
 * ctrace_stats_compute). 0 or -1 (out of memory). */
static int count_event(struct ctrace_stats *st, const ctrace_event *ev, struct ctrace_vec *opens,
                       struct ctrace_vec *endv) {
  switch (ev->kind) {
  case CTRACE_EV_TASK_BEGIN: {
    struct open_task *o = ctrace_vec_push(opens);
    if (!o)
      return -1;
    struct ctrace_ev_task_begin tb = CTRACE_EV(task_begin, ev);
    *o = (struct open_task){tb.task, (uint32_t)tb.name, ev->ticks};
    break;
  }
  case CTRACE_EV_TASK_END: {
    struct task_end *e = ctrace_vec_push(endv);
    if (!e)
      return -1;
    *e = (struct task_end){CTRACE_EV(task_end, ev).task, ev->ticks};
    break;
  }
  case CTRACE_EV_REGION_BEGIN:
    if (count_name(&st->region_names, &st->nregion_names,
                   (uint32_t)CTRACE_EV(region_begin, ev).name, 0) < 0)
      return -1;
    break;
  case CTRACE_EV_WAIT:
    /* families by the state the call put the thread in (states.h) */
    if (ctrace_state_of_wait(CTRACE_EV(wait, ev).reason) == CTRACE_ST_SLEEP)
      st->sleep_events++;
    else
      st->sync_events++;
    break;
  case CTRACE_EV_WAKE:
    st->sync_events++;
    break;
  case CTRACE_EV_SYSCALL:
  case CTRACE_EV_PENDING: { /* PENDING: a call still blocked at the end */
    unsigned state;
    if (ev->kind == CTRACE_EV_SYSCALL) {
      state = ctrace_state_of_syscall(CTRACE_EV(syscall, ev).class);
    } else {
      struct ctrace_ev_pending p = CTRACE_EV(pending, ev);
      state = p.reason ? ctrace_state_of_wait(p.reason) : ctrace_state_of_syscall(p.class);
    }
    if (state == CTRACE_ST_SYNC)
      st->sync_events++;
    else if (state == CTRACE_ST_SLEEP)
      st->sleep_events++;
    else if (state == CTRACE_ST_NET)
      st->net_events++;
    else if (state == CTRACE_ST_POLL)
      st->poll_events++;
    else
      st->io_events++;
    break;
  }
  case CTRACE_EV_SOCKADDR:
    st->net_events++;
    break;
  default:
    break;
  }
  return 0;
}

int ctrace_stats_compute(const ctrace_reader *r, struct ctrace_stats *st) {
  return ctrace_stats_compute_with(r, st, NULL, NULL);
}

/* Each thread's time by state summed over the threads and into their
 * processes (st->state_ns filled). */
static void sum_states(const ctrace_reader *r, struct ctrace_stats *st) {
  memset(st->state_total_ns, 0, sizeof st->state_total_ns);
  for (uint32_t p = 0; p < st->processes; p++)
    memset(st->procs[p].state_ns, 0, sizeof st->procs[p].state_ns);
  for (uint32_t i = 0; i < st->threads; i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    const uint64_t *row = st->state_ns + (size_t)i * CTRACE_ST_COUNT;
    for (unsigned k = 0; k < CTRACE_ST_COUNT; k++) {
      st->state_total_ns[k] += row[k];
      if (th->process < st->processes)
        st->procs[th->process].state_ns[k] += row[k];
    }
  }
}

void ctrace_stats_set_states(const ctrace_reader *r, struct ctrace_stats *st,
                             const uint64_t *state_ns) {
  memcpy(st->state_ns, state_ns, (size_t)st->threads * CTRACE_ST_COUNT * sizeof *state_ns);
  sum_states(r, st);
}

static int compute(const ctrace_reader *r, struct ctrace_stats *st, ctrace_stats_event_fn fn,
                   void *arg, int states);

int ctrace_stats_compute_with(const ctrace_reader *r, struct ctrace_stats *st,
                              ctrace_stats_event_fn fn, void *arg) {
  return compute(r, st, fn, arg, 1);
}

int ctrace_stats_pass(const ctrace_reader *r, struct ctrace_stats *st, ctrace_stats_event_fn fn,
                      void *arg) {
  return compute(r, st, fn, arg, 0);
}

/* The pass; states: each thread's events through its state machine too
 * (else st->state_ns stays zero until ctrace_stats_set_states). */
static int compute(const ctrace_reader *r, struct ctrace_stats *st, ctrace_stats_event_fn fn,
                   void *arg, int states) {
  memset(st, 0, sizeof *st);
  st->processes = ctrace_reader_nprocesses(r);
  if (st->processes == 0)
    st->processes = 1;
  st->threads = ctrace_reader_nthreads(r);
  st->events = ctrace_reader_nevents(r);
  for (unsigned k = 0; k < 256; k++)
    st->by_kind[k] = ctrace_reader_nevents_kind(r, k);
  st->bytes = 0; /* the files' bytes (a tree's offsets have gaps) */
  for (uint32_t f = 0; f < ctrace_reader_nfiles(r); f++)
    st->bytes += ctrace_reader_file_size(ctrace_reader_file(r, f));
  st->bytes_per_event = st->events ? (double)st->bytes / (double)st->events : 0;
  st->dropped_events = ctrace_reader_dropped(r);
  st->duration_ns = ctrace_reader_end_ns(r); /* from the trace's start (0) */
  st->known = ctrace_states_known(r);
  st->tasks = st->by_kind[CTRACE_EV_TASK_BEGIN];
  st->regions = st->by_kind[CTRACE_EV_REGION_BEGIN];
  st->logs = st->by_kind[CTRACE_EV_LOG];
  st->proc_events = st->by_kind[CTRACE_EV_FORK] + st->by_kind[CTRACE_EV_EXEC] +
                    st->by_kind[CTRACE_EV_EXIT] + st->by_kind[CTRACE_EV_SIGNAL] +
                    st->by_kind[CTRACE_EV_THREAD_CREATE];
  sched_status(r, st);
  st->state_ns = calloc((size_t)st->threads * CTRACE_ST_COUNT + 1, sizeof *st->state_ns);
  if (!st->state_ns)
    return -1;
  st->procs = calloc(st->processes, sizeof *st->procs);
  if (!st->procs)
    return -1;
  for (uint32_t p = 0; p < ctrace_reader_nprocesses(r); p++) {
    const struct ctrace_process *pr = ctrace_reader_process(r, p);
    struct ctrace_proc_stats *ps = &st->procs[p];
    ps->bytes = ctrace_reader_file_size(ctrace_reader_file(r, pr->file));
    ps->start_ns = ctrace_reader_ns(r, pr->first);
    ps->end_ns = ctrace_reader_ns(r, pr->last);
  }
  /* Names of tasks (with durations) and regions, the families, and each
   * thread's time per state: one pass over each thread's events, which
   * feeds its state machine too (ctrace_states_thread, inline). */
  struct ctrace_vec opens = CTRACE_VEC(struct open_task), endv = CTRACE_VEC(struct task_end);
  /* room for all at once (the validating pass counted them): growing by
   * copying was a twentieth of an index build's CPU at 10 M events */
  if (ctrace_vec_reserve(&opens, ctrace_reader_nevents_kind(r, CTRACE_EV_TASK_BEGIN)) < 0 ||
      ctrace_vec_reserve(&endv, ctrace_reader_nevents_kind(r, CTRACE_EV_TASK_END)) < 0)
    goto oom;
  for (uint32_t i = 0; i < st->threads; i++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    if (!states) {
      while (ctrace_cursor_next(&c, &ev))
        if (count_event(st, &ev, &opens, &endv) < 0 || (fn && fn(arg, i, &ev) < 0))
          goto oom;
      continue;
    }
    const struct ctrace_thread_info *thi = ctrace_reader_thread(r, i);
    struct ctrace_states sm;
    ctrace_states_init(&sm, ctrace_reader_ns(r, thi->first), ctrace_states_reader_clock, r,
                       ctrace_states_sum_span, st->state_ns + (size_t)i * CTRACE_ST_COUNT);
    ctrace_states_use_sched(&sm, r, i);
    while (ctrace_cursor_next(&c, &ev)) {
      ctrace_states_event(&sm, &ev);
      if (count_event(st, &ev, &opens, &endv) < 0 || (fn && fn(arg, i, &ev) < 0))
        goto oom;
    }
    ctrace_states_finish(&sm, ctrace_reader_ns(r, ctrace_reader_thread_end(r, i)));
  }
  for (uint32_t i = 0; i < st->threads; i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    if (th->process < st->processes) {
      struct ctrace_proc_stats *ps = &st->procs[th->process];
      ps->threads++;
      ps->events += th->nevents;
    }
  }
  if (states)
    sum_states(r, st);
  for (uint32_t i = 0; i < st->threads; i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    uint64_t t0 = ctrace_reader_first_ticks(r);
    st->tracer_overhead_ns += (uint64_t)(ctrace_reader_ns(r, t0 + th->tracer_ns) - ctrace_reader_ns(r, t0));
    st->tracer_events += th->tracer_events;
  }
  /* Task durations: TASK_END may be on another thread than TASK_BEGIN, so
   * both sides are sorted by task id and merged: O(n log n). */
  struct open_task *open = opens.v;
  struct task_end *ends = endv.v;
  size_t nopen = opens.n, nends = endv.n;
  /* each thread's part is mostly in id order already (ids grow as tasks
   * begin): merging the runs gives what qsort gave (stable, both) */
  if (sort_tasks(open, nopen) < 0 || sort_ends(ends, nends) < 0)
    goto oom;
  for (size_t k = 0, e = 0; k < nopen; k++) {
    while (e < nends && ends[e].id < open[k].id)
      e++;
    uint64_t dur = 0;
    if (e < nends && ends[e].id == open[k].id && ends[e].begin >= open[k].begin)
      dur = (uint64_t)(ctrace_reader_ns(r, ends[e].begin) - ctrace_reader_ns(r, open[k].begin));
    if (count_name(&st->task_names, &st->ntask_names, open[k].name, dur) < 0)
      goto oom;
  }
  ctrace_vec_free(&endv);
  ctrace_vec_free(&opens);
  return 0;
oom:
  ctrace_vec_free(&opens);
  ctrace_vec_free(&endv);
  ctrace_stats_free(st);
  return -1;
}

const char *ctrace_proc_status_name(uint32_t status) {
  static const char *const names[] = {"complete", "running", "cut off", "corrupt"};
  return status < 4 ? names[status] : "unknown";
}

void ctrace_stats_free(struct ctrace_stats *st) {
  free(st->procs);
  st->procs = NULL;
  free(st->state_ns);
  st->state_ns = NULL;
  free(st->task_names);
  free(st->region_names);
  st->task_names = st->region_names = NULL;
  st->ntask_names = st->nregion_names = 0;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len) {
  size_t n;
  uint32_t c;
  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2, c = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    n = 3, c = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4, c = s[0] & 0x07;
  else
    return 0;
  if (n > len)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = c << 6 | (s[i] & 0x3f);
  }
  if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
      (n == 4 && (c < 0x10000 || c > 0x10ffff)))
    return 0; /* overlong, a surrogate, or past U+10FFFF */
  return n;
}

/* A JSON string, valid UTF-8 whatever s holds: each byte that is not part
 * of a valid UTF-8 sequence becomes U+FFFD. */
void ctrace_json_string(FILE *out, const char *s, size_t len) {
  fputc('"', out);
  for (size_t i = 0; i < len;) {
    unsigned char ch = (unsigned char)s[i];
    size_t n = utf8_len((const unsigned char *)s + i, len - i);
    if (n == 0)
      fputs("\\ufffd", out), n = 1;
    else if (ch == '"' || ch == '\\')
      fprintf(out, "\\%c", ch);
    else if (ch < 0x20 || ch == 0x7f)
      fprintf(out, "\\u%04x", ch);
    else
      fwrite(s + i, 1, n, out);
    i += n;
  }
  fputc('"', out);
}

static void json_names(FILE *out, const ctrace_reader *r, const struct ctrace_name_count *v,
                       uint32_t n, int with_time) {
  fputc('{', out);
  for (uint32_t i = 0; i < n; i++) {
    const struct ctrace_string *s = ctrace_reader_string(r, v[i].name);
    if (i)
      fputc(',', out);
    ctrace_json_string(out, s ? s->s : "", s ? s->len : 0);
    if (with_time)
      fprintf(out, ":{\"count\":%llu,\"total_ns\":%llu}", (unsigned long long)v[i].count,
              (unsigned long long)v[i].total_ns);
    else
      fprintf(out, ":%llu", (unsigned long long)v[i].count);
  }
  fputc('}', out);
}

/* The recorder's effective configuration as "key=value" pairs joined by
 * spaces: the PROPERTY records "config.KEY=VALUE" (1.2), or, in files
 * before them, the STRINGs starting with "ctrace.config " (docs/FORMAT.md). */
static size_t config_text(const ctrace_reader *r, char *buf, size_t size) {
  static const char key[] = "config.", legacy[] = "ctrace.config ";
  size_t w = 0;
  buf[0] = 0;
  for (size_t i = 0; i < ctrace_reader_nproperties(r); i++) {
    const char *p = ctrace_reader_property_at(r, i);
    if (strncmp(p, key, sizeof key - 1) != 0)
      continue;
    p += sizeof key - 1;
    /* a process tree: each file has them; the first file's (the root's) stand */
    size_t kl = strcspn(p, "=");
    int seen = 0;
    for (const char *q = buf; q && *q && !seen; q = strchr(q, ' '), q = q ? q + 1 : NULL)
      seen = strncmp(q, p, kl + 1) == 0;
    if (seen)
      continue;
    int n = snprintf(buf + w, size - w, "%s%s", w ? " " : "", p);
    if (n < 0 || (size_t)n >= size - w)
      return w;
    w += (size_t)n;
  }
  if (w)
    return w;
  size_t plen = sizeof legacy - 1;
  for (uint32_t id = 1; id <= ctrace_reader_nstrings(r); id++) {
    const struct ctrace_string *s = ctrace_reader_string(r, id);
    if (!s || s->len <= plen || memcmp(s->s, legacy, plen) != 0)
      continue;
    if (w && memmem(buf, w, s->s + plen, s->len - plen))
      break; /* a process tree: the next file's configuration, the same */
    int n = snprintf(buf + w, size - w, "%s%.*s", w ? " " : "", (int)(s->len - plen), s->s + plen);
    if (n < 0 || (size_t)n >= size - w)
      break;
    w += (size_t)n;
  }
  return w;
}

/* States with time in them, in any thread: the columns of the breakdown. */
static int state_used(const struct ctrace_stats *st, unsigned s) {
  for (uint32_t i = 0; i < st->threads; i++)
    if (st->state_ns[(size_t)i * CTRACE_ST_COUNT + s])
      return 1;
  return ctrace_state_reported(s);
}

static void json_sched(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out) {
  fprintf(out, ",\"sched\":{\"recorded\":%s,", st->sched.recorded ? "true" : "false");
  if (st->sched_reason[0]) {
    fputs("\"reason\":", out);
    ctrace_json_string(out, st->sched_reason, strlen(st->sched_reason));
    fputc(',', out);
  }
  const char *taken = ctrace_reader_property(r, "sched_fds");
  if (taken) { /* the program took some of the events' fds */
    fputs("\"fds_taken\":", out);
    ctrace_json_string(out, taken, strlen(taken));
    fputc(',', out);
  }
  fputs("\"samples\":", out);
  ctrace_json_string(out, st->samples, strlen(st->samples));
  fprintf(out,
          ",\"switches\":%llu,\"bytes\":%llu,\"lost\":%llu,\"cpu_samples\":%llu,"
          "\"unmatched\":%llu,\"cpus\":%u}",
          (unsigned long long)st->sched.intervals, (unsigned long long)st->sched.sched_bytes,
          (unsigned long long)st->sched.lost,
          (unsigned long long)st->sched.samples, (unsigned long long)st->sched.unmatched,
          st->sched.ncpus);
  fputs(",\"thread_states\":[", out);
  char name[256];
  for (uint32_t i = 0; i < st->threads; i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    ctrace_reader_strcpy(r, th->name, name, sizeof name);
    fprintf(out, "%s{\"tid\":%u,\"instance\":%u,\"name\":", i ? "," : "", th->tid,
            th->instance);
    ctrace_json_string(out, name, strlen(name));
    fputs(",\"ns\":{", out);
    int first = 1;
    for (unsigned s = 0; s < CTRACE_ST_COUNT; s++) {
      if (!state_used(st, s))
        continue;
      fprintf(out, "%s\"%s\":%llu", first ? "" : ",", ctrace_state_name(s),
              (unsigned long long)st->state_ns[(size_t)i * CTRACE_ST_COUNT + s]);
      first = 0;
    }
    fputs("}}", out);
  }
  fputc(']', out);
}

static void text_sched(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out) {
  if (!st->sched.recorded) {
    fprintf(out, "scheduling      not recorded (%s)\n",
            st->sched_reason[0] ? st->sched_reason : "no scheduling records");
  } else {
    fprintf(out, "scheduling      recorded: %llu context switches on %u CPUs, %llu records lost%s\n",
            (unsigned long long)st->sched.intervals, st->sched.ncpus,
            (unsigned long long)st->sched.lost,
            st->sched.lost ? "   <-- some switches are missing" : "");
    const char *taken = ctrace_reader_property(r, "sched_fds");
    if (taken)
      fprintf(out, "                %s   <-- some switches are missing\n", taken);
    fprintf(out, "cpu samples     %llu (%s%s)\n", (unsigned long long)st->sched.samples,
            st->samples, strncmp(st->samples, "off", 3) ? " Hz" : "");
  }
  if (!st->threads)
    return;
  fprintf(out, "thread states (ms)\n  %-24s", "thread");
  for (unsigned s = 0; s < CTRACE_ST_COUNT; s++)
    if (state_used(st, s))
      fprintf(out, " %13s", ctrace_state_name(s));
  fputc('\n', out);
  char name[64], label[96];
  for (uint32_t i = 0; i < st->threads && i < 100; i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    ctrace_reader_strcpy(r, th->name, name, sizeof name);
    snprintf(label, sizeof label, "%u %s", th->tid, name);
    fprintf(out, "  %-24.24s", label);
    for (unsigned s = 0; s < CTRACE_ST_COUNT; s++)
      if (state_used(st, s))
        fprintf(out, " %13.3f", (double)st->state_ns[(size_t)i * CTRACE_ST_COUNT + s] / 1e6);
    fputc('\n', out);
  }
  if (st->threads > 100)
    fprintf(out, "  (%u more threads: see --json)\n", st->threads - 100);
}

/* The process images: a tree's, or the one of a file. */
static void json_procs(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out) {
  fputs(",\"process_list\":[", out);
  for (uint32_t p = 0; p < ctrace_reader_nprocesses(r); p++) {
    const struct ctrace_process *pr = ctrace_reader_process(r, p);
    const struct ctrace_proc_stats *ps = &st->procs[p];
    fprintf(out, "%s{\"index\":%u,\"pid\":%u,\"ppid\":%u,\"parent\":%d,\"exec_from\":%d,\"exe\":",
            p ? "," : "", p, pr->pid, pr->ppid, pr->parent, pr->exec_from);
    const struct ctrace_string *e = ctrace_reader_string(r, pr->exe);
    ctrace_json_string(out, e ? e->s : "", e ? e->len : 0);
    fputs(",\"file\":", out);
    const char *fp = ctrace_reader_file_path(r, pr->file);
    ctrace_json_string(out, fp ? fp : "", fp ? strlen(fp) : 0);
    fprintf(out,
            ",\"status\":\"%s\",\"exit_status\":", ctrace_proc_status_name(pr->status));
    if (pr->has_exit)
      fprintf(out, "%lld", (long long)pr->exit_status);
    else
      fputs("null", out);
    fprintf(out,
            ",\"signal\":%u,\"threads\":%u,"
            "\"events\":%llu,\"bytes\":%llu,\"start_ns\":%lld,\"end_ns\":%lld,\"time_by_state\":{",
            pr->signal, ps->threads,
            (unsigned long long)ps->events, (unsigned long long)ps->bytes, (long long)ps->start_ns,
            (long long)ps->end_ns);
    int first = 1;
    for (unsigned k = 0; k < CTRACE_ST_COUNT; k++) {
      if (!ps->state_ns[k])
        continue;
      fprintf(out, "%s\"%s\":%llu", first ? "" : ",", ctrace_state_name(k),
              (unsigned long long)ps->state_ns[k]);
      first = 0;
    }
    fputs("}}", out);
  }
  fputc(']', out);
}

/* Per process, when the trace is a tree: one line each, children under
 * their parent. */
static void text_procs(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out) {
  uint32_t n = ctrace_reader_nprocesses(r);
  if (ctrace_reader_nfiles(r) < 2)
    return;
  fprintf(out, "process tree\n  %-28s %8s %7s %8s %11s %11s %11s  %s\n", "pid image", "parent",
          "threads", "events", "start ms", "running ms", "blocked ms", "end");
  /* depth-first from the roots, by an explicit stack (a tree can be deep) */
  uint32_t *stack = malloc(((size_t)n + 1) * sizeof *stack);
  uint32_t *depth = calloc((size_t)n + 1, sizeof *depth);
  if (!stack || !depth) {
    free(stack);
    free(depth);
    return;
  }
  size_t sp = 0;
  for (uint32_t i = n; i-- > 0;)
    if (ctrace_reader_process(r, i)->parent < 0 && ctrace_reader_process(r, i)->exec_from < 0)
      stack[sp++] = i;
  char img[256], line[80], end[64];
  while (sp) {
    uint32_t p = stack[--sp];
    const struct ctrace_process *pr = ctrace_reader_process(r, p);
    const struct ctrace_proc_stats *ps = &st->procs[p];
    ctrace_reader_strcpy(r, pr->exe, img, sizeof img);
    const char *base = strrchr(img, '/');
    base = base ? base + 1 : img;
    unsigned ind = depth[p] < 12 ? depth[p] * 2 : 24;
    snprintf(line, sizeof line, "%*s%u %.30s", ind, "", pr->pid, base);
    uint64_t blocked = 0;
    for (unsigned k = 0; k < CTRACE_ST_COUNT; k++)
      if (k != CTRACE_ST_RUNNING)
        blocked += ps->state_ns[k];
    if (pr->signal)
      snprintf(end, sizeof end, "signal %u", pr->signal);
    else if (pr->exec_to >= 0)
      snprintf(end, sizeof end, "exec");
    else if (pr->has_exit)
      snprintf(end, sizeof end, "exit %lld", (long long)pr->exit_status);
    else
      snprintf(end, sizeof end, "%s", ctrace_proc_status_name(pr->status));
    if (pr->status != CTRACE_PROC_COMPLETE && (pr->has_exit || pr->signal))
      snprintf(end + strlen(end), sizeof end - strlen(end), ", %s",
               ctrace_proc_status_name(pr->status));
    char parent[16] = "-";
    if (pr->parent >= 0)
      snprintf(parent, sizeof parent, "%u", ctrace_reader_process(r, (uint32_t)pr->parent)->pid);
    fprintf(out, "  %-28s %8s %7u %8llu %11.3f %11.3f %11.3f  %s\n", line, parent, ps->threads,
            (unsigned long long)ps->events, (double)ps->start_ns / 1e6,
            (double)ps->state_ns[CTRACE_ST_RUNNING] / 1e6, (double)blocked / 1e6, end);
    /* children (and the image it exec'd), latest first on the stack */
    for (uint32_t c = n; c-- > 0;) {
      const struct ctrace_process *cp = ctrace_reader_process(r, c);
      if (cp->parent == (int32_t)p && c != p && cp->exec_from < 0) {
        depth[c] = depth[p] + 1;
        stack[sp++] = c;
      }
      if (cp->exec_from == (int32_t)p) {
        depth[c] = depth[p];
        stack[sp++] = c;
      }
    }
  }
  free(stack);
  free(depth);
}

void ctrace_stats_json(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out) {
  fprintf(out, "{\"duration_ns\":%lld,\"processes\":%u,\"threads\":%u,\"events\":%llu,",
          (long long)st->duration_ns, st->processes, st->threads, (unsigned long long)st->events);
  fputs("\"events_by_kind\":{", out);
  int first = 1;
  for (unsigned k = 0; k < 256; k++) {
    if (!st->by_kind[k] || !ctrace__kinds[k].name)
      continue;
    fprintf(out, "%s\"%s\":%llu", first ? "" : ",", ctrace__kinds[k].name,
            (unsigned long long)st->by_kind[k]);
    first = 0;
  }
  fprintf(out,
          "},\"bytes\":%llu,\"bytes_per_event\":%.3f,\"dropped_events\":%llu,"
          "\"tasks\":%llu,\"regions\":%llu,\"logs\":%llu,"
          "\"tracer_overhead_ns\":%llu,\"tracer_events\":%llu,",
          (unsigned long long)st->bytes, st->bytes_per_event,
          (unsigned long long)st->dropped_events, (unsigned long long)st->tasks,
          (unsigned long long)st->regions, (unsigned long long)st->logs,
          (unsigned long long)st->tracer_overhead_ns, (unsigned long long)st->tracer_events);
  fprintf(out,
          "\"families\":{\"sync\":%llu,\"sleep\":%llu,\"io\":%llu,\"net\":%llu,\"poll\":%llu,"
          "\"proc\":%llu},",
          (unsigned long long)st->sync_events, (unsigned long long)st->sleep_events,
          (unsigned long long)st->io_events, (unsigned long long)st->net_events,
          (unsigned long long)st->poll_events, (unsigned long long)st->proc_events);
  fputs("\"task_names\":", out);
  json_names(out, r, st->task_names, st->ntask_names, 1);
  fputs(",\"region_names\":", out);
  json_names(out, r, st->region_names, st->nregion_names, 0);
  char cfg[1024];
  size_t ncfg = config_text(r, cfg, sizeof cfg);
  fputs(",\"config\":", out);
  ctrace_json_string(out, cfg, ncfg);
  /* what the trace recorded, and its threads' time by state */
  const char *rec = ctrace_reader_property(r, "recording");
  fputs(",\"recording\":", out);
  if (rec)
    ctrace_json_string(out, rec, strlen(rec));
  else
    fputs("null", out);
  const char *what = ctrace_states_recorded_text(r);
  fputs(",\"recorded\":", out);
  ctrace_json_string(out, what, strlen(what));
  fputs(",\"time_by_state\":{", out);
  int firsts = 1;
  for (unsigned k = 0; k < CTRACE_ST_COUNT; k++) {
    if (!ctrace_state_reported(k) && !st->state_total_ns[k])
      continue;
    fprintf(out, "%s\"%s\":%llu", firsts ? "" : ",", ctrace_state_name(k),
            (unsigned long long)st->state_total_ns[k]);
    firsts = 0;
  }
  fputc('}', out);
  json_sched(r, st, out);
  json_procs(r, st, out);
  fprintf(out, ",\"complete\":%s,\"unknown_records\":%llu",
          ctrace_reader_status(r) == CTRACE_READ_OK ? "true" : "false",
          (unsigned long long)ctrace_reader_nunknown(r));
  if (ctrace_reader_status(r) != CTRACE_READ_OK) {
    fprintf(out, ",\"read_error\":");
    const char *e = ctrace_reader_error(r);
    ctrace_json_string(out, e, strlen(e));
    fprintf(out, ",\"read_error_offset\":%llu", (unsigned long long)ctrace_reader_error_offset(r));
  }
  fputs("}\n", out);
}

void ctrace_stats_text(const ctrace_reader *r, const struct ctrace_stats *st, FILE *out) {
  char buf[256];
  fprintf(out, "duration        %.3f ms\n", (double)st->duration_ns / 1e6);
  fprintf(out, "processes       %u\n", st->processes);
  fprintf(out, "threads         %u\n", st->threads);
  fprintf(out, "events          %llu\n", (unsigned long long)st->events);
  fprintf(out, "bytes           %llu (%.2f per event)\n", (unsigned long long)st->bytes,
          st->bytes_per_event);
  fprintf(out, "dropped events  %llu%s\n", (unsigned long long)st->dropped_events,
          st->dropped_events ? "   <-- the trace is missing events" : "");
  if (st->tracer_events)
    fprintf(out, "tracer overhead %.3f ms over %llu recorded calls\n",
            (double)st->tracer_overhead_ns / 1e6, (unsigned long long)st->tracer_events);
  char cfg[1024];
  fprintf(out, "configuration   %s\n",
          config_text(r, cfg, sizeof cfg) ? cfg : "(not recorded in this trace)");
  fprintf(out, "recorded        %s\n", ctrace_states_recorded_text(r));
  /* the threads' time by state: only the states with time */
  uint64_t all = 0;
  for (unsigned k = 0; k < CTRACE_ST_COUNT; k++)
    all += st->state_total_ns[k];
  if (all) {
    fputs("thread time     ", out);
    const char *sep = "";
    for (unsigned k = 0; k < CTRACE_ST_COUNT; k++)
      if (st->state_total_ns[k]) {
        fprintf(out, "%s%s %.3f ms (%.1f%%)", sep, ctrace_state_name(k),
                (double)st->state_total_ns[k] / 1e6, 100.0 * (double)st->state_total_ns[k] / (double)all);
        sep = ", ";
      }
    fputc('\n', out);
  }
  fprintf(out, "tasks           %llu\n", (unsigned long long)st->tasks);
  for (uint32_t i = 0; i < st->ntask_names; i++)
    fprintf(out, "  %-30s %8llu   mean %.3f ms\n",
            ctrace_reader_strcpy(r, st->task_names[i].name, buf, sizeof buf),
            (unsigned long long)st->task_names[i].count,
            (double)st->task_names[i].total_ns / 1e6 / (double)st->task_names[i].count);
  fprintf(out, "regions         %llu\n", (unsigned long long)st->regions);
  for (uint32_t i = 0; i < st->nregion_names; i++)
    fprintf(out, "  %-30s %8llu\n", ctrace_reader_strcpy(r, st->region_names[i].name, buf, sizeof buf),
            (unsigned long long)st->region_names[i].count);
  text_sched(r, st, out);
  text_procs(r, st, out);
  fprintf(out, "events by kind\n");
  for (unsigned k = 0; k < 256; k++)
    if (st->by_kind[k] && ctrace__kinds[k].name)
      fprintf(out, "  %-30s %8llu\n", ctrace__kinds[k].name, (unsigned long long)st->by_kind[k]);
  if (ctrace_reader_status(r) != CTRACE_READ_OK)
    fprintf(out, "incomplete: offset %llu: %s\n", (unsigned long long)ctrace_reader_error_offset(r),
            ctrace_reader_error(r));
}
