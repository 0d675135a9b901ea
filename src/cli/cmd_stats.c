/*
 * cmd_stats.c - `ctrace stats [--json] FILE`.
 */
#include <string.h>

#include "../analyze/stats.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_stats_def = {"stats", ctrace_cmd_stats, CTRACE_HELP_stats,
                                                CTRACE_USAGE_stats};

int ctrace_cmd_stats(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_stats_def;
  int json = 0;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (ctrace_cli_wants_help(cmd, argv[i]))
      return CTRACE_EXIT_OK;
    if (strcmp(argv[i], "--json") == 0)
      json = 1;
    else if (ctrace_cli_operand(cmd, argv[i], &path, "FILE"))
      return CTRACE_EXIT_USAGE;
  }
  if (!path)
    return ctrace_cli_usage_error(cmd, "FILE missing");
  ctrace_reader *r = ctrace_cli_open(cmd->name, path);
  if (!r)
    return CTRACE_EXIT_FAIL;
  struct ctrace_stats st;
  if (ctrace_stats_compute(r, &st) < 0) {
    fprintf(stderr, "ctrace stats: out of memory\n");
    ctrace_reader_close(r);
    return CTRACE_EXIT_FAIL;
  }
  if (json)
    ctrace_stats_json(r, &st, stdout);
  else
    ctrace_stats_text(r, &st, stdout);
  ctrace_stats_free(&st);
  int status = ctrace_cli_read_status(r);
  ctrace_reader_close(r);
  return status;
}
