/*
 * query_int.h - inside the query layer: the table registry that both the
 * virtual tables (query_vtab.c) and the copy into a database (query.c:
 * the export, and the in-memory mode) read rows from.
 *
 * A table is one `struct ctrace__qtable`: its name, its columns (name, SQL
 * type, one line of doc: docs/QUERY.md repeats them and a test checks it),
 * and a cursor (open, next, column, close) that produces its rows from the
 * reader. Adding a table is writing one such struct and adding it to
 * ctrace__qtables[] in query_tables.c.
 */
#ifndef CTRACE_QUERY_INT_H
#define CTRACE_QUERY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "query.h"

/* What every cursor reads from, shared by the cursors of one connection
 * (one thread at a time: SQLite runs a connection's statements serially).
 * Derived data some tables need is built on first use and kept. */
struct ctrace__qsrc {
  const ctrace_reader *r;
  ctrace_symbolizer *sym;
  int64_t end_ns; /* the trace's end */
  struct ctrace__qtasks *tasks; /* the tasks table, paired once (query_tables.c) */
  struct ctrace__qpeers *peers; /* SOCKADDR records, for spans.peer */
  uint32_t *state_masks; /* per thread: 1 << state for each state it was in; bit 31: known */
  struct ctrace__qend {
    int64_t end;
    int known;
  } *thread_ends; /* per thread: its end (query_tables.c, thread_end) */
};

/* A term of an ORDER BY (or GROUP BY) the cursor may produce itself. */
struct ctrace__qorder {
  int col;
  int desc;
};

/* Orders (open's order argument): rows as the cursor reads them, or another
 * order a table's order() chose. */
#define CTRACE__QORDER_ANY 0
#define CTRACE__QORDER_NATURAL 1

struct ctrace__qcol {
  const char *name;
  const char *type; /* SQL type: INTEGER, TEXT, REAL */
  const char *doc;
};

struct ctrace__qtable {
  const char *name;
  const char *doc;
  const struct ctrace__qcol *cols;
  unsigned ncols;
  /* The column holding a threads.id, whose `= N` constraint the cursor can
   * take (it then reads only that thread); -1 when none. */
  int thread_col;
  size_t cur_size; /* bytes of the cursor, zeroed before open */
  /* Starts a scan: every row, or only those whose key column (thread_col)
   * is key (>= 0), in order (CTRACE__QORDER_*, or a code of order()).
   * 0, or -1 when out of memory. */
  int (*open)(void *cur, struct ctrace__qsrc *src, int64_t key, int order);
  /* Moves to the next row: 1, 0 at the end, -1 when out of memory. */
  int (*next)(void *cur);
  /* The current row's column col. Text and blobs point into the cursor or
   * the trace, valid until the next call of next or close. */
  void (*column)(void *cur, unsigned col, struct ctrace_qval *out);
  void (*close)(void *cur);
  /* Rows a full scan reads, roughly (the planner's cost). */
  uint64_t (*estimate)(const struct ctrace__qsrc *src);
  /* The columns rows come sorted by (ascending), -1 after the last: an
   * ORDER BY or GROUP BY on a prefix of them needs no sort. */
  signed char natural[3];
  /* Other orders the cursor can produce, sorted by terms[0..n) (of a
   * GROUP BY when grouping): an order code > 1 for open, or 0. NULL: none. */
  int (*order)(const struct ctrace__qorder *terms, int n, int grouping);
};

extern const struct ctrace__qtable *const ctrace__qtables[];
extern const size_t ctrace__nqtables;

/* Frees the derived data of src (not src itself). */
void ctrace__qsrc_free(struct ctrace__qsrc *src);

/* Registers every table of the registry on db as an eponymous virtual table
 * reading src (query_vtab.c). SQLITE_OK or an SQLite error code. */
struct sqlite3;
int ctrace__qvtab_register(struct sqlite3 *db, struct ctrace__qsrc *src);

#endif /* CTRACE_QUERY_INT_H */
