/*
 * cmd_export.c - `ctrace export --format pprof|chrome|sqlite [...] [-o FILE]
 * TRACE`: a blocking profile as a gzipped pprof profile, the whole trace as
 * Chrome trace event JSON (Perfetto UI, chrome://tracing), or the tables of
 * `ctrace query` as a SQLite database file. Also holds the
 * option parsers that `ctrace profile` shares (cli.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../analyze/chrome.h"
#include "../analyze/pprof.h"
#include "../analyze/profile.h"
#include "../analyze/query.h"
#include "../read/symbolize.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_export_def = {"export", ctrace_cmd_export, CTRACE_HELP_export,
                                                 CTRACE_USAGE_export};

int ctrace_cli_parse_time(const char *s, int64_t *out) {
  static const struct {
    const char *suffix;
    int64_t mult;
  } units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}, {"", 1}};
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno)
    return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].suffix) != 0)
      continue;
    double ns = v * (double)units[i].mult;
    if (!(ns > -9.2e18 && ns < 9.2e18))
      return -1;
    *out = (int64_t)ns;
    return 0;
  }
  return -1;
}

int ctrace_cli_parse_u32(const char *s, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end || errno || v > UINT32_MAX || s[0] == '-')
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Writes len bytes to path ("-": stdout); prints the error; 0 or -1. */
static int write_all(const char *path, const uint8_t *p, size_t len) {
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "ctrace export: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t n = fwrite(p, 1, len, f);
  int bad = n != len || fflush(f) != 0;
  if (f != stdout && fclose(f) != 0)
    bad = 1;
  if (bad)
    fprintf(stderr, "ctrace export: writing %s: %s\n", path, strerror(errno));
  return bad ? -1 : 0;
}

int ctrace_cmd_export(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_export_def;
  const char *format = NULL, *output = "-", *path = NULL;
  enum ctrace_profile_kind kind = CTRACE_PROFILE_SYNC;
  int64_t start = INT64_MIN, end = INT64_MAX;
  uint32_t tid = 0;
  int symbols = 1, have_kind = 0, stacks = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (ctrace_cli_wants_help(cmd, a))
      return CTRACE_EXIT_OK;
    int takes = strcmp(a, "--format") == 0 || strcmp(a, "-f") == 0 || strcmp(a, "-o") == 0 ||
                strcmp(a, "--output") == 0 || strcmp(a, "--kind") == 0 ||
                strcmp(a, "--start") == 0 || strcmp(a, "--end") == 0 || strcmp(a, "--tid") == 0;
    if (takes && i + 1 >= argc)
      return ctrace_cli_usage_error(cmd, "option '%s' needs a value", a);
    const char *v = takes ? argv[++i] : NULL;
    if (strcmp(a, "--format") == 0 || strcmp(a, "-f") == 0) {
      if (strcmp(v, "pprof") != 0 && strcmp(v, "chrome") != 0 && strcmp(v, "sqlite") != 0)
        return ctrace_cli_usage_error(cmd, "unknown format '%s' (pprof, chrome, sqlite)", v);
      format = v;
    } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      output = v;
    } else if (strcmp(a, "--kind") == 0) {
      if (ctrace_profile_kind_parse(v, &kind) < 0)
        return ctrace_cli_usage_error(cmd, "unknown kind '%s' (sync, net, syscall, poll, sleep, cpu)", v);
      have_kind = 1;
    } else if (strcmp(a, "--start") == 0 || strcmp(a, "--end") == 0) {
      if (ctrace_cli_parse_time(v, a[2] == 's' ? &start : &end) < 0)
        return ctrace_cli_usage_error(cmd, "bad time '%s' (e.g. 1500000, 2.5ms, 1s)", v);
    } else if (strcmp(a, "--tid") == 0) {
      if (ctrace_cli_parse_u32(v, &tid) < 0)
        return ctrace_cli_usage_error(cmd, "bad thread id '%s'", v);
    } else if (strcmp(a, "--no-symbols") == 0) {
      symbols = 0;
    } else if (strcmp(a, "--no-stacks") == 0) {
      stacks = 0;
    } else if (ctrace_cli_operand(cmd, a, &path, "TRACE")) {
      return CTRACE_EXIT_USAGE;
    }
  }
  if (!format)
    return ctrace_cli_usage_error(cmd, "--format missing (pprof, chrome or sqlite)");
  if (!path)
    return ctrace_cli_usage_error(cmd, "TRACE missing");
  int pprof = strcmp(format, "pprof") == 0, sqlite = strcmp(format, "sqlite") == 0;
  if (sqlite && (have_kind || tid || !stacks || start != INT64_MIN || end != INT64_MAX))
    return ctrace_cli_usage_error(cmd, "--format sqlite takes -o and --no-symbols only");
  if (sqlite && strcmp(output, "-") == 0)
    return ctrace_cli_usage_error(cmd, "a SQLite database is a file: give -o FILE");
  if (!pprof && !sqlite && (have_kind || tid))
    return ctrace_cli_usage_error(cmd, "--kind and --tid are for --format pprof");
  if (pprof && !stacks)
    return ctrace_cli_usage_error(cmd, "--no-stacks is for --format chrome");
  if (start >= end)
    return ctrace_cli_usage_error(cmd, "--start must come before --end");
  if (pprof && strcmp(output, "-") == 0 && isatty(1))
    return ctrace_cli_usage_error(cmd, "a pprof profile is binary: give -o FILE");

  ctrace_reader *r = ctrace_cli_open(cmd->name, path);
  if (!r)
    return CTRACE_EXIT_FAIL;
  int status = CTRACE_EXIT_FAIL;
  ctrace_symbolizer *sym = symbols ? ctrace_sym_new(r) : NULL;
  if (symbols && !sym) {
    fprintf(stderr, "ctrace export: out of memory\n");
    goto done;
  }
  if (sqlite) {
    char err[512];
    if (ctrace_query_export(r, sym, output, err, sizeof err) < 0) {
      fprintf(stderr, "ctrace export: %s\n", err);
      goto done;
    }
  } else if (pprof) {
    struct ctrace_profile p;
    uint8_t *buf;
    size_t len;
    if (ctrace_profile_build(r, kind, start, end, tid, &p) < 0) {
      fprintf(stderr, "ctrace export: out of memory\n");
      goto done;
    }
    int rc = ctrace_pprof_write(r, sym, &p, kind, &buf, &len);
    ctrace_profile_free(&p);
    if (rc < 0) {
      fprintf(stderr, "ctrace export: encoding the profile failed (out of memory)\n");
      goto done;
    }
    rc = write_all(output, buf, len);
    free(buf);
    if (rc < 0)
      goto done;
  } else {
    FILE *f = strcmp(output, "-") == 0 ? stdout : fopen(output, "w");
    if (!f) {
      fprintf(stderr, "ctrace export: %s: %s\n", output, strerror(errno));
      goto done;
    }
    struct ctrace_chrome_opts opts = {start, end, !stacks};
    int rc = ctrace_chrome_write_opts(r, sym, &opts, f);
    if (fflush(f) != 0)
      rc = -1;
    if (f != stdout && fclose(f) != 0)
      rc = -1;
    if (rc < 0) {
      fprintf(stderr, "ctrace export: writing %s failed: %s\n", output, strerror(errno));
      goto done;
    }
  }
  status = ctrace_cli_read_status(r);
done:
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  return status;
}
