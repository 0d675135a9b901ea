/*
 * query.h - SQL over a trace: SQLite (the system's libsqlite3) with the
 * trace's tables (trace, processes, threads, spans, tasks, regions, logs,
 * wakeups, stacks, frames, counters, drops; docs/QUERY.md) as eponymous virtual
 * tables read straight from the reader, so nothing is copied before the
 * query runs; and the same tables written into a SQLite file (the export).
 *
 * The trace is untrusted and so is what the SQL does: a query connection
 * runs only read-only statements, cannot attach or create files (ATTACH,
 * VACUUM INTO), load extensions or change settings (the authorizer and the
 * connection's limits and options; see query.c).
 *
 * Not here: printing (src/cli/cmd_query.c formats the rows). The table
 * definitions live in query_tables.c (one registry entry per table), the
 * virtual-table module in query_vtab.c.
 */
#ifndef CTRACE_QUERY_H
#define CTRACE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "../read/reader.h"
#include "../read/symbolize.h"

/* A value of a result row (or of a table's column). */
enum ctrace_qtype { CTRACE_QV_NULL, CTRACE_QV_INT, CTRACE_QV_REAL, CTRACE_QV_TEXT, CTRACE_QV_BLOB };
struct ctrace_qval {
  enum ctrace_qtype type;
  int64_t i;
  double d;
  const char *s; /* TEXT (UTF-8, not NUL-terminated) or BLOB bytes */
  size_t len;
};

typedef struct ctrace_query ctrace_query;

/* How a query connection gets its tables: as virtual tables over the reader
 * (the default: what `ctrace query` uses), or copied into an in-memory
 * database first (the alternative bench/query_bench measures). */
enum ctrace_query_mode { CTRACE_QUERY_VTAB, CTRACE_QUERY_MEMORY };

/* Opens a query connection over r (and sym, for the frames table; either may
 * be kept by the caller until ctrace_query_close; sym may be NULL: frames
 * are then unsymbolized). Returns 0, or -1 with a message in err. */
int ctrace_query_open(const ctrace_reader *r, ctrace_symbolizer *sym, enum ctrace_query_mode mode,
                      ctrace_query **out, char *err, size_t errlen);
void ctrace_query_close(ctrace_query *q);

/* Called once with the column names (vals NULL), then once per row. A
 * nonzero return stops the query (ctrace_query_exec then returns it). */
typedef int (*ctrace_query_row_fn)(void *arg, int ncols, const char *const *names,
                                   const struct ctrace_qval *vals);

/* Runs every statement of sql in turn; each must be a read-only one (a
 * SELECT, WITH, EXPLAIN, a read-only PRAGMA such as table_info). Rows of
 * each statement go to fn. Returns 0; -1 with the SQL error in err (a
 * syntax error, an unknown table, a statement refused); -2 when out of
 * memory or the trace's tables failed (err says which); or fn's value. */
int ctrace_query_exec(ctrace_query *q, const char *sql, ctrace_query_row_fn fn, void *arg,
                      char *err, size_t errlen);

/* Writes every table into a new SQLite database file at path (replacing
 * one that exists, atomically: written beside it, then renamed). Returns 0,
 * or -1 with a message in err. */
int ctrace_query_export(const ctrace_reader *r, ctrace_symbolizer *sym, const char *path,
                        char *err, size_t errlen);

/* The tables, for --schema and the docs test: calls fn for each column of
 * each table (table name, table doc, column name, SQL type, column doc). */
typedef void (*ctrace_query_schema_fn)(void *arg, const char *table, const char *table_doc,
                                       const char *column, const char *type, const char *doc);
void ctrace_query_schema(ctrace_query_schema_fn fn, void *arg);

#endif /* CTRACE_QUERY_H */
