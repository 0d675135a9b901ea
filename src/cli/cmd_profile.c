/*
 * cmd_profile.c - `ctrace profile [--kind K] [...] TRACE`: the stacks where
 * threads were blocked longest, as a text table, one section per kind.
 */
#include <stdint.h>
#include <string.h>

#include "../analyze/profile.h"
#include "../read/symbolize.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_profile_def = {"profile", ctrace_cmd_profile,
                                                  CTRACE_HELP_profile, CTRACE_USAGE_profile};

/* ns as a short human duration: "850ns", "12.3us", "4.56ms", "1.23s". */
static const char *human(uint64_t ns, char *buf, size_t size) {
  if (ns < 1000)
    snprintf(buf, size, "%lluns", (unsigned long long)ns);
  else if (ns < 1000000)
    snprintf(buf, size, "%.1fus", (double)ns / 1e3);
  else if (ns < 1000000000)
    snprintf(buf, size, "%.2fms", (double)ns / 1e6);
  else
    snprintf(buf, size, "%.2fs", (double)ns / 1e9);
  return buf;
}

static void frame_text(ctrace_symbolizer *sym, uint64_t stack, uint64_t pc, char *buf, size_t size) {
  struct ctrace_frame f;
  if (!sym) {
    snprintf(buf, size, "0x%llx", (unsigned long long)pc);
    return;
  }
  ctrace_sym_lookup_stack(sym, stack, pc, 1, &f);
  if (f.file)
    snprintf(buf, size, "%s (%s:%d)", f.function, f.file, f.line);
  else if (f.object)
    snprintf(buf, size, "%s (%s+0x%llx)", f.function, f.object,
             (unsigned long long)f.object_offset);
  else
    snprintf(buf, size, "0x%llx", (unsigned long long)pc);
}

static void print_kind(const ctrace_reader *r, ctrace_symbolizer *sym,
                       enum ctrace_profile_kind kind, const struct ctrace_profile *p,
                       unsigned top, unsigned depth) {
  char a[32], b[32];
  uint64_t events = 0;
  for (size_t i = 0; i < p->n; i++)
    events += p->v[i].count;
  int cpu = kind == CTRACE_PROFILE_CPU;
  printf("%s: %s %s in %llu %s%s at %zu stack%s\n", ctrace_profile_kind_name(kind),
         human(p->total_ns, a, sizeof a), cpu ? "on CPU" : "blocked", (unsigned long long)events,
         cpu ? "sample" : "event", events == 1 ? "" : "s", p->n, p->n == 1 ? "" : "s");
  if (!p->n)
    return;
  printf("  %10s %6s %8s %10s  %s\n", "total", "%", "count", "mean", "stack (innermost first)");
  for (size_t i = 0; i < p->n && i < top; i++) {
    const struct ctrace_profile_entry *e = &p->v[i];
    double pct = p->total_ns ? 100.0 * (double)e->total_ns / (double)p->total_ns : 0;
    printf("  %10s %5.1f%% %8llu %10s  ", human(e->total_ns, a, sizeof a), pct,
           (unsigned long long)e->count, human(e->total_ns / e->count, b, sizeof b));
    /* the call blocked in, then its caller's stack */
    char call[32];
    int leaf = ctrace_profile_call_frame(e, call, sizeof call)[0] != 0;
    if (leaf)
      printf("%s\n", call);
    const uint64_t *pcs;
    uint32_t n = e->stack ? ctrace_reader_stack(r, e->stack, &pcs) : 0;
    if (n == 0) {
      if (leaf)
        printf("  %10s %6s %8s %10s    <- ", "", "", "", "");
      printf("(unknown stack)\n");
      continue;
    }
    for (uint32_t k = 0; k < n && k < depth; k++) {
      char line[4096];
      frame_text(sym, e->stack, pcs[k], line, sizeof line);
      if (k || leaf)
        printf("  %10s %6s %8s %10s    ", "", "", "", "");
      printf("%s%s\n", k || leaf ? "<- " : "", line);
    }
    if (n > depth)
      printf("  %10s %6s %8s %10s    <- ... %u more\n", "", "", "", "", n - depth);
  }
  if (p->n > top)
    printf("  ... %zu more stacks (--top)\n", p->n - top);
}

int ctrace_cmd_profile(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_profile_def;
  const char *path = NULL;
  int kinds[CTRACE_PROFILE_NKINDS] = {1, 1, 1, 1, 1, 0}; /* cpu: when asked */
  int have_kind = 0, symbols = 1;
  unsigned flags = 0;
  int64_t start = INT64_MIN, end = INT64_MAX;
  uint32_t tid = 0, top = 10, depth = 8;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (ctrace_cli_wants_help(cmd, a))
      return CTRACE_EXIT_OK;
    int takes = strcmp(a, "--kind") == 0 || strcmp(a, "--start") == 0 ||
                strcmp(a, "--end") == 0 || strcmp(a, "--tid") == 0 || strcmp(a, "--top") == 0 ||
                strcmp(a, "--depth") == 0;
    if (takes && i + 1 >= argc)
      return ctrace_cli_usage_error(cmd, "option '%s' needs a value", a);
    const char *v = takes ? argv[++i] : NULL;
    if (strcmp(a, "--kind") == 0) {
      enum ctrace_profile_kind k;
      if (ctrace_profile_kind_parse(v, &k) < 0)
        return ctrace_cli_usage_error(cmd, "unknown kind '%s' (sync, net, syscall, poll, sleep, cpu)", v);
      if (!have_kind)
        memset(kinds, 0, sizeof kinds);
      have_kind = 1;
      kinds[k] = 1;
    } else if (strcmp(a, "--start") == 0 || strcmp(a, "--end") == 0) {
      if (ctrace_cli_parse_time(v, a[2] == 's' ? &start : &end) < 0)
        return ctrace_cli_usage_error(cmd, "bad time '%s' (e.g. 1500000, 2.5ms, 1s)", v);
    } else if (strcmp(a, "--tid") == 0) {
      if (ctrace_cli_parse_u32(v, &tid) < 0)
        return ctrace_cli_usage_error(cmd, "bad thread id '%s'", v);
    } else if (strcmp(a, "--top") == 0 || strcmp(a, "--depth") == 0) {
      if (ctrace_cli_parse_u32(v, a[2] == 't' ? &top : &depth) < 0)
        return ctrace_cli_usage_error(cmd, "bad number '%s'", v);
    } else if (strcmp(a, "--no-symbols") == 0) {
      symbols = 0;
    } else if (strcmp(a, "--no-idle") == 0) {
      flags |= CTRACE_PROFILE_NO_IDLE;
    } else if (ctrace_cli_operand(cmd, a, &path, "TRACE")) {
      return CTRACE_EXIT_USAGE;
    }
  }
  if (!path)
    return ctrace_cli_usage_error(cmd, "TRACE missing");
  if (depth == 0)
    depth = 1;
  ctrace_reader *r = ctrace_cli_open(cmd->name, path);
  if (!r)
    return CTRACE_EXIT_FAIL;
  if (tid && ctrace_reader_thread_index(r, tid) < 0) {
    fprintf(stderr, "ctrace profile: thread %u is not in %s (ctrace stats lists its threads)\n",
            (unsigned)tid, path);
    ctrace_reader_close(r);
    return CTRACE_EXIT_FAIL;
  }
  ctrace_symbolizer *sym = symbols ? ctrace_sym_new(r) : NULL;
  int status = ctrace_cli_read_status(r), first = 1;
  uint64_t blocked_events = 0;
  for (int k = 0; k < CTRACE_PROFILE_NKINDS; k++) {
    if (!kinds[k])
      continue;
    struct ctrace_profile p;
    if (ctrace_profile_build(r, (enum ctrace_profile_kind)((unsigned)k | flags), start, end, tid,
                             &p) < 0) {
      fprintf(stderr, "ctrace profile: out of memory\n");
      status = CTRACE_EXIT_FAIL;
      break;
    }
    if (!first)
      putchar('\n');
    first = 0;
    print_kind(r, sym, (enum ctrace_profile_kind)k, &p, top, depth);
    for (size_t i = 0; i < p.n; i++)
      blocked_events += p.v[i].count;
    ctrace_profile_free(&p);
  }
  /* A trace of the API alone has none: say where they come from. */
  if (!first && blocked_events == 0 && !tid && start == INT64_MIN && end == INT64_MAX)
    printf("\n(no blocking events in this trace: the time blocked on locks, sleeps, files\n"
           " and sockets is recorded by `ctrace run -- PROGRAM`; the API alone records\n"
           " tasks, regions, logs and counters)\n");
  if (fflush(stdout) != 0)
    status = CTRACE_EXIT_FAIL;
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  return status;
}
