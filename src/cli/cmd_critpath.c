/*
 * cmd_critpath.c - `ctrace critical-path`: the chain of segments across
 * threads that made a task, a region or a thread's time range last as long
 * as it did (src/analyze/critpath.h), as text or JSON; or, over every
 * instance of a name, where their critical paths went, as a table and as a
 * pprof profile.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../analyze/critpath.h"
#include "../analyze/flows.h"
#include "../analyze/pprof.h"
#include "../analyze/stats.h"
#include "../read/symbolize.h"
#include "../serve/critpath_json.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_critpath_def = {"critical-path", ctrace_cmd_critpath,
                                                   CTRACE_HELP_critical_path,
                                                   CTRACE_USAGE_critical_path};

static const char *human(int64_t ns, char *buf, size_t size) {
  if (ns < 1000)
    snprintf(buf, size, "%" PRId64 "ns", ns);
  else if (ns < 1000000)
    snprintf(buf, size, "%.1fus", (double)ns / 1e3);
  else if (ns < 1000000000)
    snprintf(buf, size, "%.2fms", (double)ns / 1e6);
  else
    snprintf(buf, size, "%.3fs", (double)ns / 1e9);
  return buf;
}

static const char *thread_name(const struct ctrace_timeline *tl, uint32_t th, char *buf,
                               size_t size) {
  buf[0] = 0;
  if (th < tl->nthreads)
    ctrace_reader_strcpy(tl->r, ctrace_reader_thread(tl->r, tl->threads[th].index)->name, buf,
                         size);
  return buf;
}

static void print_frames(const ctrace_reader *r, ctrace_symbolizer *sym, uint64_t stack,
                         unsigned depth, const char *indent) {
  const uint64_t *pcs;
  uint32_t n = stack ? ctrace_reader_stack(r, stack, &pcs) : 0;
  for (uint32_t k = 0; k < n && k < depth; k++) {
    struct ctrace_frame f = {0};
    if (sym)
      ctrace_sym_lookup_stack(sym, stack, pcs[k], 1, &f);
    if (f.file)
      printf("%s%s %s (%s:%d)\n", indent, k ? "<-" : "at", f.function, f.file, f.line);
    else if (f.function && strcmp(f.function, "??") != 0)
      printf("%s%s %s\n", indent, k ? "<-" : "at", f.function);
    else
      printf("%s%s 0x%" PRIx64 "\n", indent, k ? "<-" : "at", pcs[k]);
  }
}

static void print_chain(const struct ctrace_timeline *tl, ctrace_symbolizer *sym,
                        const struct ctrace_cp *cp, const char *what, unsigned depth) {
  char a[32], b[32], nm[64], d[512];
  printf("critical path of %s: %s, from %s to %s\n", what, human(cp->end - cp->start, a, sizeof a),
         human(cp->start, b, sizeof b), human(cp->end, d, sizeof d));
  printf("%12s %10s %8s %-14s %-12s %s\n", "at", "dur", "tid", "thread", "kind", "what");
  for (size_t i = 0; i < cp->n; i++) {
    const struct ctrace_cp_seg *s = &cp->v[i];
    char reg[96] = "";
    if (s->region) {
      char rn[80];
      snprintf(reg, sizeof reg, " [in %s]", ctrace_reader_strcpy(tl->r, s->region, rn, sizeof rn));
    }
    printf("%12s %10s %8u %-14.14s %-12s %s%s\n", human(s->start, a, sizeof a),
           human(s->end - s->start, b, sizeof b), s->thread < tl->nthreads ? tl->threads[s->thread].tid : 0,
           thread_name(tl, s->thread, nm, sizeof nm), ctrace_cp_label(s),
           ctrace_cp_describe(tl, s, d, sizeof d), reg);
    /* the stack at each hand-off, and where the chain leaves the trace */
    if (s->stack && (s->flags & (CTRACE_CP_HANDOFF | CTRACE_CP_AFTER_WAKE | CTRACE_CP_NO_WAKER)))
      print_frames(tl->r, sym, s->stack, depth, "                                  ");
  }
  /* summaries */
  printf("\nsummary: %s\n", ctrace_cp_summary(tl, cp, d, sizeof d));
  uint64_t by[CTRACE_ST_COUNT + 2] = {0};
  for (size_t i = 0; i < cp->n; i++) {
    const struct ctrace_cp_seg *s = &cp->v[i];
    unsigned k = s->flags & CTRACE_CP_STARTING ? CTRACE_ST_COUNT + 1
                 : s->flags & CTRACE_CP_OUTSIDE ? CTRACE_ST_COUNT
                                                : s->state;
    by[k] += (uint64_t)(s->end - s->start);
  }
  double total = (double)(cp->end - cp->start);
  printf("by kind:");
  for (unsigned k = 0; k < CTRACE_ST_COUNT + 2; k++)
    if (by[k])
      printf("  %s %s (%.1f%%)",
             k == CTRACE_ST_COUNT ? "not_traced" : k > CTRACE_ST_COUNT ? "starting" : ctrace_state_name(k),
             human((int64_t)by[k], a, sizeof a), total > 0 ? 100.0 * (double)by[k] / total : 0);
  printf("\nby thread:");
  struct ctrace_cp_thread_ns *bt;
  long nbt = ctrace_cp_by_thread(cp, &bt);
  for (long i = 0; i < nbt; i++) {
    uint32_t th = bt[i].thread;
    uint64_t ns = bt[i].ns;
    printf("  %u %s %s (%.1f%%)", th < tl->nthreads ? tl->threads[th].tid : 0,
           thread_name(tl, th, nm, sizeof nm), human((int64_t)ns, a, sizeof a),
           total > 0 ? 100.0 * (double)ns / total : 0);
  }
  free(bt);
  printf("\n");
}

static const char *agg_state(unsigned st) {
  return st >= CTRACE_ST_COUNT ? "not_traced" : ctrace_state_name(st);
}

static void print_agg(const struct ctrace_timeline *tl, ctrace_symbolizer *sym,
                      const struct ctrace_cp_agg *ag, const char *name, int regions, unsigned top,
                      unsigned depth) {
  char a[32], b[64];
  printf("critical paths of %" PRIu64 " %s%s named %s: %s in all\n", ag->instances,
         regions ? "region" : "task", ag->instances == 1 ? "" : "s", name,
         human((int64_t)ag->total_ns, a, sizeof a));
  double total = (double)ag->total_ns;
  printf("by state:");
  for (unsigned k = 0; k <= CTRACE_ST_COUNT; k++)
    if (ag->state_ns[k])
      printf("  %s %s (%.1f%%)", agg_state(k), human((int64_t)ag->state_ns[k], a, sizeof a),
             total > 0 ? 100.0 * (double)ag->state_ns[k] / total : 0);
  printf("\nby thread:");
  /* thread names, summed: O(entries^2), entries are few */
  for (size_t i = 0; i < ag->n; i++) {
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = ag->v[j].thread_name == ag->v[i].thread_name &&
             (ag->v[i].thread_name || ag->v[j].tid == ag->v[i].tid);
    if (seen)
      continue;
    uint64_t ns = 0;
    for (size_t j = i; j < ag->n; j++)
      if (ag->v[j].thread_name == ag->v[i].thread_name &&
          (ag->v[i].thread_name || ag->v[j].tid == ag->v[i].tid))
        ns += ag->v[j].ns;
    if (ag->v[i].thread_name)
      ctrace_reader_strcpy(tl->r, ag->v[i].thread_name, b, sizeof b);
    else
      snprintf(b, sizeof b, "tid %u", ag->v[i].tid);
    printf("  %s %s (%.1f%%)", b, human((int64_t)ns, a, sizeof a),
           total > 0 ? 100.0 * (double)ns / total : 0);
  }
  printf("\n\n%10s %6s  %-14s %-12s %s\n", "total", "%", "thread", "state", "stack");
  for (size_t i = 0; i < ag->n && i < top; i++) {
    const struct ctrace_cp_agg_entry *e = &ag->v[i];
    if (e->thread_name)
      ctrace_reader_strcpy(tl->r, e->thread_name, b, sizeof b);
    else
      snprintf(b, sizeof b, "tid %u", e->tid);
    printf("%10s %5.1f%%  %-14.14s %-12s%s\n", human((int64_t)e->ns, a, sizeof a),
           total > 0 ? 100.0 * (double)e->ns / total : 0, b, agg_state(e->state),
           e->stack ? "" : " (no stack)");
    print_frames(tl->r, sym, e->stack, depth, "                                       ");
  }
  if (ag->n > top)
    printf("... %zu more (--top)\n", ag->n - top);
}

/* The aggregate as pprof: each entry a sample, its stack under the frames
 * "state STATE" and "thread NAME" (the root). */
static int write_pprof(const struct ctrace_timeline *tl, ctrace_symbolizer *sym,
                       const struct ctrace_cp_agg *ag, const char *name, const char *out) {
  struct ctrace_pprof_sample *v = calloc(ag->n ? ag->n : 1, sizeof *v);
  char (*names)[2][96] = calloc(ag->n ? ag->n : 1, sizeof *names);
  int rc = -1;
  if (!v || !names)
    goto done;
  for (size_t i = 0; i < ag->n; i++) {
    const struct ctrace_cp_agg_entry *e = &ag->v[i];
    char tn[64];
    if (e->thread_name)
      ctrace_reader_strcpy(tl->r, e->thread_name, tn, sizeof tn);
    else
      snprintf(tn, sizeof tn, "tid %u", e->tid);
    snprintf(names[i][0], sizeof names[i][0], "state %s", agg_state(e->state));
    snprintf(names[i][1], sizeof names[i][1], "thread %s", tn);
    v[i] = (struct ctrace_pprof_sample){e->stack, NULL, {names[i][0], names[i][1]}, e->count, e->ns};
  }
  char comment[160];
  snprintf(comment, sizeof comment, "ctrace critical-path profile: %s", name);
  uint8_t *buf;
  size_t len;
  if (ctrace_pprof_write_samples(tl->r, sym, v, ag->n, "segments", "critical", comment, &buf,
                                 &len) < 0)
    goto done;
  FILE *f = fopen(out, "wb");
  if (f) {
    size_t w = fwrite(buf, 1, len, f);
    rc = fclose(f) == 0 && w == len ? 0 : -1;
  }
  free(buf);
done:
  free(v);
  free(names);
  return rc;
}

int ctrace_cmd_critpath(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_critpath_def;
  const char *path = NULL, *name = NULL, *pprof = NULL, *kind = NULL;
  int json = 0, symbols = 1, have_task = 0, have_region = 0, have_tid = 0;
  uint64_t id = 0;
  uint32_t tid = 0, top = 15, depth = 4;
  int64_t start = INT64_MIN, end = INT64_MAX;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (ctrace_cli_wants_help(cmd, a))
      return CTRACE_EXIT_OK;
    int takes = strcmp(a, "--task") == 0 || strcmp(a, "--region") == 0 ||
                strcmp(a, "--tid") == 0 || strcmp(a, "--start") == 0 || strcmp(a, "--end") == 0 ||
                strcmp(a, "--name") == 0 || strcmp(a, "--pprof") == 0 ||
                strcmp(a, "--kind") == 0 || strcmp(a, "--top") == 0 || strcmp(a, "--depth") == 0;
    if (takes && i + 1 >= argc)
      return ctrace_cli_usage_error(cmd, "option '%s' needs a value", a);
    const char *v = takes ? argv[++i] : NULL;
    if (strcmp(a, "--task") == 0 || strcmp(a, "--region") == 0) {
      char *e;
      errno = 0;
      unsigned long long x = strtoull(v, &e, 10);
      if (errno || *e || !*v || *v == '-')
        return ctrace_cli_usage_error(cmd, "bad id '%s'", v);
      id = x;
      *(a[2] == 't' ? &have_task : &have_region) = 1;
    } else if (strcmp(a, "--tid") == 0) {
      if (ctrace_cli_parse_u32(v, &tid) < 0)
        return ctrace_cli_usage_error(cmd, "bad thread id '%s'", v);
      have_tid = 1;
    } else if (strcmp(a, "--start") == 0 || strcmp(a, "--end") == 0) {
      if (ctrace_cli_parse_time(v, a[2] == 's' ? &start : &end) < 0)
        return ctrace_cli_usage_error(cmd, "bad time '%s' (e.g. 1500000, 2.5ms, 1s)", v);
    } else if (strcmp(a, "--name") == 0) {
      name = v;
    } else if (strcmp(a, "--kind") == 0) {
      if (strcmp(v, "task") != 0 && strcmp(v, "region") != 0)
        return ctrace_cli_usage_error(cmd, "--kind is task or region, not '%s'", v);
      kind = v;
    } else if (strcmp(a, "--pprof") == 0) {
      pprof = v;
    } else if (strcmp(a, "--top") == 0 || strcmp(a, "--depth") == 0) {
      if (ctrace_cli_parse_u32(v, a[2] == 't' ? &top : &depth) < 0)
        return ctrace_cli_usage_error(cmd, "bad number '%s'", v);
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (strcmp(a, "--no-symbols") == 0) {
      symbols = 0;
    } else if (ctrace_cli_operand(cmd, a, &path, "TRACE")) {
      return CTRACE_EXIT_USAGE;
    }
  }
  if (!path)
    return ctrace_cli_usage_error(cmd, "TRACE missing");
  if (have_task + have_region + have_tid + (name != NULL) != 1)
    return ctrace_cli_usage_error(cmd, "give one of --task ID, --region ID, --tid T, --name NAME");
  if (pprof && !name)
    return ctrace_cli_usage_error(cmd, "--pprof goes with --name");
  if (have_tid && (start == INT64_MIN) != (end == INT64_MAX))
    return ctrace_cli_usage_error(cmd, "--start and --end go together");
  ctrace_reader *r = ctrace_cli_open("critical-path", path);
  if (!r)
    return CTRACE_EXIT_FAIL;
  int status = ctrace_cli_read_status(r);
  struct ctrace_timeline *tl;
  if (ctrace_timeline_build(r, NULL, NULL, &tl) < 0) {
    fprintf(stderr, "ctrace critical-path: out of memory\n");
    ctrace_reader_close(r);
    return CTRACE_EXIT_FAIL;
  }
  ctrace_symbolizer *sym = symbols ? ctrace_sym_new(r) : NULL;
  /* Reads continue on the writer of their data (a trace with fd records;
   * without memory for them, walks go without). */
  struct ctrace_flows flows = {0};
  struct ctrace_cp_data *data = NULL;
  if (ctrace_reader_nevents_kind(r, CTRACE_EV_FD) && ctrace_flows_build(r, &flows) == 0)
    (void)ctrace_critpath_data_build(tl, &flows, &data);
  struct ctrace_cp cp = {0};
  char what[256];
  int rc = 0;
  if (name) {
    uint32_t sid = ctrace_timeline_find_string(tl, name, strlen(name));
    int regions = kind && kind[0] == 'r';
    if (!kind && sid) { /* a task name first, else a region name */
      regions = 1;
      for (size_t i = 0; i < tl->ntasks && regions; i++)
        regions = tl->tasks[i].name != sid;
    }
    struct ctrace_cp_agg ag;
    if (!sid || ctrace_critpath_aggregate(tl, data, regions, sid, &ag) < 0 || ag.instances == 0) {
      fprintf(stderr, "ctrace critical-path: no ended %s named '%s' in %s\n",
              kind ? kind : "task or region", name, path);
      if (sid)
        ctrace_critpath_agg_free(&ag);
      status = CTRACE_EXIT_FAIL;
      goto out;
    }
    if (!json) {
      print_agg(tl, sym, &ag, name, regions, top, depth);
    } else {
      printf("{\"name\":");
      ctrace_json_string(stdout, name, strlen(name));
      printf(",\"kind\":\"%s\",\"instances\":%" PRIu64 ",\"total_ns\":%" PRIu64 ",\"by_state\":{",
             regions ? "region" : "task", ag.instances, ag.total_ns);
      int first = 1;
      for (unsigned k = 0; k <= CTRACE_ST_COUNT; k++)
        if (ag.state_ns[k]) {
          printf("%s\"%s\":%" PRIu64, first ? "" : ",", agg_state(k), ag.state_ns[k]);
          first = 0;
        }
      printf("},\"entries\":[");
      for (size_t i = 0; i < ag.n; i++) {
        char tn[64] = "";
        ctrace_reader_strcpy(tl->r, ag.v[i].thread_name, tn, sizeof tn);
        printf("%s{\"thread\":", i ? "," : "");
        ctrace_json_string(stdout, tn, strlen(tn));
        printf(",\"tid\":%u,\"state\":\"%s\",\"stack_id\":%" PRIu64 ",\"ns\":%" PRIu64
               ",\"count\":%" PRIu64 "}",
               ag.v[i].tid, agg_state(ag.v[i].state), ag.v[i].stack, ag.v[i].ns, ag.v[i].count);
      }
      printf("]}\n");
    }
    if (pprof && write_pprof(tl, sym, &ag, name, pprof) < 0) {
      fprintf(stderr, "ctrace critical-path: cannot write %s: %s\n", pprof, strerror(errno));
      status = CTRACE_EXIT_FAIL;
    }
    ctrace_critpath_agg_free(&ag);
    goto out;
  }
  if (have_task) {
    rc = ctrace_critpath_task(tl, data, id, &cp);
    const struct ctrace_tl_task *t = NULL;
    for (size_t i = 0; i < tl->ntasks && !t; i++)
      if (tl->tasks[i].id == id)
        t = &tl->tasks[i];
    char nm[128] = "";
    if (t)
      ctrace_reader_strcpy(r, t->name, nm, sizeof nm);
    snprintf(what, sizeof what, "task %" PRIu64 " (%s)", id, nm);
  } else if (have_region) {
    rc = ctrace_critpath_region(tl, data, id, &cp);
    char nm[128] = "";
    if (id < tl->nregions)
      ctrace_reader_strcpy(r, tl->regions[id].name, nm, sizeof nm);
    snprintf(what, sizeof what, "region %" PRIu64 " (%s)", id, nm);
  } else {
    int64_t th = ctrace_timeline_thread(tl, tid);
    if (th < 0) {
      fprintf(stderr, "ctrace critical-path: thread %u is not in %s (ctrace stats lists its threads)\n",
              tid, path);
      status = CTRACE_EXIT_FAIL;
      goto out;
    }
    const struct ctrace_tl_thread *T = &tl->threads[th];
    int64_t a = start == INT64_MIN ? T->first_ns : start, b = end == INT64_MAX ? T->last_ns : end;
    if (a < tl->start_ns)
      a = tl->start_ns;
    if (b > tl->end_ns)
      b = tl->end_ns;
    if (a >= b) {
      fprintf(stderr, "ctrace critical-path: --start must be before --end, inside the trace\n");
      status = CTRACE_EXIT_FAIL;
      goto out;
    }
    rc = ctrace_critpath(tl, data, (uint32_t)th, a, b, &cp);
    snprintf(what, sizeof what, "thread %u", tid);
  }
  if (rc == -ENOENT) {
    fprintf(stderr, "ctrace critical-path: no %s %" PRIu64 " in %s (ctrace dump lists them)\n",
            have_task ? "task" : "region", id, path);
    status = CTRACE_EXIT_FAIL;
    goto out;
  }
  if (rc < 0) {
    fprintf(stderr, "ctrace critical-path: out of memory\n");
    status = CTRACE_EXIT_FAIL;
    goto out;
  }
  if (json)
    ctrace_critpath_json(stdout, tl, sym, NULL, &cp);
  else
    print_chain(tl, sym, &cp, what, depth);
  ctrace_critpath_free(&cp);
out:
  if (fflush(stdout) != 0)
    status = CTRACE_EXIT_FAIL;
  ctrace_critpath_data_free(data);
  ctrace_flows_free(&flows);
  ctrace_sym_free(sym);
  ctrace_timeline_free(tl);
  ctrace_reader_close(r);
  return status;
}
