/*
 * main.c - the `ctrace` command: finds the subcommand in the table and runs
 * it. Each subcommand lives in its own cmd_NAME.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrace.h"
#include "cli.h"
#include "help.h"

static const struct ctrace_cmd *const commands[] = {
    &ctrace_cmd_critpath_def,
    &ctrace_cmd_diff_def,
    &ctrace_cmd_dump_def,
    &ctrace_cmd_export_def,
    &ctrace_cmd_profile_def,
    &ctrace_cmd_query_def,
    &ctrace_cmd_run_def,
    &ctrace_cmd_stats_def,
    &ctrace_cmd_view_def,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

int ctrace_cli_usage_error(const struct ctrace_cmd *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "ctrace %s: ", cmd->name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n%s\nTry 'ctrace %s --help'.\n", cmd->usage, cmd->name);
  return CTRACE_EXIT_USAGE;
}

int ctrace_cli_wants_help(const struct ctrace_cmd *cmd, const char *arg) {
  if (strcmp(arg, "--help") != 0 && strcmp(arg, "-h") != 0)
    return 0;
  fputs(cmd->help, stdout);
  return 1;
}

/* The options of opening a trace that every reading command takes (up to a
 * "--"): --no-tree, --process PID, --with FILE. Removed from argv; -1 after
 * a message. */
static int tree_options(const struct ctrace_cmd *cmd, int *argc, char **argv) {
  int out = 2;
  for (int i = 2; i < *argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      while (i < *argc)
        argv[out++] = argv[i++];
      break;
    }
    if (strcmp(argv[i], "--no-tree") == 0) {
      ctrace_cli_no_tree = 1;
      continue;
    }
    if (strcmp(argv[i], "--with") == 0 || strncmp(argv[i], "--with=", 7) == 0) {
      const char *v = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < *argc ? argv[++i] : NULL;
      if (!v || !*v) {
        ctrace_cli_usage_error(cmd, "--with wants a trace file");
        return -1;
      }
      /* at most argc of them: the array is argv-sized */
      if (!ctrace_cli_with && !(ctrace_cli_with = calloc((size_t)*argc, sizeof *ctrace_cli_with)))
        return -1;
      ctrace_cli_with[ctrace_cli_nwith++] = v;
      continue;
    }
    if (strcmp(argv[i], "--process") == 0 || strncmp(argv[i], "--process=", 10) == 0) {
      const char *v = argv[i][9] == '=' ? argv[i] + 10 : i + 1 < *argc ? argv[++i] : NULL;
      if (!v || ctrace_cli_parse_u32(v, &ctrace_cli_only_pid) < 0 || !ctrace_cli_only_pid) {
        ctrace_cli_usage_error(cmd, "--process wants a pid");
        return -1;
      }
      continue;
    }
    argv[out++] = argv[i];
  }
  argv[out] = NULL;
  *argc = out;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "%s\nTry 'ctrace --help'.\n", CTRACE_USAGE_ctrace);
    return CTRACE_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    /* `ctrace help COMMAND` is `ctrace COMMAND --help`. */
    if (strcmp(name, "help") == 0 && argc >= 3) {
      for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, argv[2]) == 0) {
          fputs(commands[i]->help, stdout);
          return CTRACE_EXIT_OK;
        }
      fprintf(stderr, "ctrace help: unknown command '%s'\n%s\nTry 'ctrace --help'.\n", argv[2],
              CTRACE_USAGE_ctrace);
      return CTRACE_EXIT_USAGE;
    }
    fputs(CTRACE_HELP_ctrace, stdout);
    return CTRACE_EXIT_OK;
  }
  if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
    printf("ctrace %s (trace format %d.%d)\n", ctrace_version(), CTRACE_FORMAT_MAJOR,
           CTRACE_FORMAT_MINOR);
    return CTRACE_EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i]->name, name) == 0) {
      if (commands[i] != &ctrace_cmd_run_def && tree_options(commands[i], &argc, argv) < 0)
        return CTRACE_EXIT_USAGE;
      return commands[i]->run(argc - 1, argv + 1);
    }
  fprintf(stderr, "ctrace: unknown command '%s'\n%s\nTry 'ctrace --help'.\n", name,
          CTRACE_USAGE_ctrace);
  return CTRACE_EXIT_USAGE;
}
