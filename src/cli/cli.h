/*
 * cli.h - what the `ctrace` subcommands share: the command table entry type,
 * option helpers and opening a trace with the standard messages. The CLI is
 * thin: parse, call the libraries, print, return an exit status.
 */
#ifndef CTRACE_CLI_H
#define CTRACE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "../read/reader.h"

#define CTRACE_EXIT_OK 0
#define CTRACE_EXIT_FAIL 1
#define CTRACE_EXIT_USAGE 2

struct ctrace_cmd {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
  const char *help;                  /* full --help text */
  const char *usage;
};

/* Prints "ctrace NAME: MSG" and the usage to stderr; returns 2. */
int ctrace_cli_usage_error(const struct ctrace_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 when arg is --help or -h (after printing the help to stdout). */
int ctrace_cli_wants_help(const struct ctrace_cmd *cmd, const char *arg);
/* For a subcommand's argument loop, an argument that is none of its
 * options: an unknown option, or the one operand (stored in *path; `what`
 * names it in messages: "FILE", "TRACE"). Returns 0, or the usage exit
 * status after the message. */
int ctrace_cli_operand(const struct ctrace_cmd *cmd, const char *arg, const char **path,
                       const char *what);
/* Opens a trace for a command; prints errors; NULL when unreadable. Warns
 * on stderr when the trace is cut off or corrupt. The one open of every
 * command: a file a `ctrace run` wrote opens with the other files of its
 * run (a process tree, reader.h), a directory as the tree of its files;
 * with --no-tree the file alone, with --process PID that pid's files. */
ctrace_reader *ctrace_cli_open(const char *cmd, const char *path);
/* Set by main.c from the options every reading command takes:
 * --no-tree, --process PID (taken out of argv before the command runs). */
extern int ctrace_cli_no_tree;
extern uint32_t ctrace_cli_only_pid;
/* --with FILE (repeatable): more files read as one trace with the one named */
extern const char **ctrace_cli_with;
extern size_t ctrace_cli_nwith;
/* The same over a copy of path's bytes in memory (kept alive by the caller). */
ctrace_reader *ctrace_cli_open_mem(const char *cmd, const char *path, const void *data,
                                   size_t size);
/* The exit status for a reader that was opened: 1 when corrupt, else 0. */
int ctrace_cli_read_status(const ctrace_reader *r);

int ctrace_cmd_dump(int argc, char **argv);
int ctrace_cmd_export(int argc, char **argv);
int ctrace_cmd_profile(int argc, char **argv);
extern const struct ctrace_cmd ctrace_cmd_export_def, ctrace_cmd_profile_def;
/* Option values shared by export and profile (cmd_export.c); 0 or -1.
 * A time is ns, or a number with a unit: 1500, 2.5us, 3ms, 1s. */
int ctrace_cli_parse_time(const char *s, int64_t *out);
int ctrace_cli_parse_u32(const char *s, uint32_t *out);
int ctrace_cmd_run(int argc, char **argv);
extern const struct ctrace_cmd ctrace_cmd_run_def;
int ctrace_cmd_stats(int argc, char **argv);
extern const struct ctrace_cmd ctrace_cmd_dump_def, ctrace_cmd_stats_def;

int ctrace_cmd_query(int argc, char **argv);
extern const struct ctrace_cmd ctrace_cmd_query_def;

int ctrace_cmd_critpath(int argc, char **argv);
extern const struct ctrace_cmd ctrace_cmd_critpath_def;
int ctrace_cmd_diff(int argc, char **argv);
extern const struct ctrace_cmd ctrace_cmd_diff_def;
int ctrace_cmd_view(int argc, char **argv);
extern const struct ctrace_cmd ctrace_cmd_view_def;

#endif
