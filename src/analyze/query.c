/*
 * query.c - see query.h: a SQLite connection over a trace, locked down, and
 * the copy of the tables into a database file (the export) or into memory.
 *
 * What a query may do. The SQL comes from the user, the trace from anyone;
 * neither may reach the file system. Four layers, each enough for its part:
 * - the connection's options: extensions cannot be loaded, "defensive"
 *   mode (no writes to the schema or shadow tables), untrusted schema,
 *   no triggers; at most 0 attached databases, so ATTACH and VACUUM INTO
 *   (which attaches its target) fail;
 * - an authorizer that allows reading and functions only (no ATTACH,
 *   DETACH, PRAGMA but a few read-only ones, no CREATE, INSERT, UPDATE,
 *   DELETE, transactions, ANALYZE...), and no load_extension();
 * - every statement must be sqlite3_stmt_readonly() before it runs;
 * - the connection is an in-memory database: there is no file to write.
 * SQLite may still spill a big sort into its own temporary files, which
 * no SQL names.
 */
#include "query.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query_int.h"

struct ctrace_query {
  sqlite3 *db;
  struct ctrace__qsrc src;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (!err || !errlen)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static void src_init(struct ctrace__qsrc *src, const ctrace_reader *r, ctrace_symbolizer *sym) {
  memset(src, 0, sizeof *src);
  src->r = r;
  src->sym = sym;
  /* the thread's and the tasks' end when they never ended: the last event
   * of the trace, as the timeline and the state machine take it */
  src->end_ns = ctrace_reader_ns(r, ctrace_reader_last_ticks(r));
  if (src->end_ns < 0)
    src->end_ns = 0;
}

/* Pragmas that only read: allowed (their table-valued forms too). */
static int pragma_ok(const char *name, const char *arg) {
  static const char *const ok[] = {"table_info", "table_xinfo", "table_list", "function_list",
                                   "module_list", "pragma_list", "collation_list"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (name && sqlite3_stricmp(name, ok[i]) == 0)
      return 1;
  return 0;
}

static int authorize(void *arg, int action, const char *a, const char *b, const char *db,
                     const char *trigger) {
  switch (action) {
  case SQLITE_SELECT:
  case SQLITE_READ:
  case SQLITE_RECURSIVE:
    return SQLITE_OK;
  case SQLITE_FUNCTION: /* b: the function's name */
    return b && sqlite3_stricmp(b, "load_extension") == 0 ? SQLITE_DENY : SQLITE_OK;
  case SQLITE_PRAGMA:
    return pragma_ok(a, b) ? SQLITE_OK : SQLITE_DENY;
  default: /* ATTACH, DETACH, CREATE, INSERT, UPDATE, DELETE, TRANSACTION, ANALYZE... */
    return SQLITE_DENY;
  }
}

/* ---- copying the tables into a database ---- */

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
    return 0;
  set_err(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  return -1;
}

/* Creates table t in db and inserts its rows. 0 or -1. */
static int copy_table(sqlite3 *db, struct ctrace__qsrc *src, const struct ctrace__qtable *t,
                      char *err, size_t errlen) {
  int rc = -1;
  sqlite3_stmt *ins = NULL;
  void *cur = NULL;
  sqlite3_str *c = sqlite3_str_new(db), *ins_sql = sqlite3_str_new(db);
  sqlite3_str_appendf(c, "CREATE TABLE \"%w\" (", t->name);
  sqlite3_str_appendf(ins_sql, "INSERT INTO \"%w\" VALUES (", t->name);
  for (unsigned i = 0; i < t->ncols; i++) {
    sqlite3_str_appendf(c, "%s\"%w\" %s", i ? ", " : "", t->cols[i].name, t->cols[i].type);
    sqlite3_str_appendf(ins_sql, "%s?", i ? ", " : "");
  }
  sqlite3_str_appendall(c, ")");
  sqlite3_str_appendall(ins_sql, ")");
  char *create = sqlite3_str_finish(c), *insert = sqlite3_str_finish(ins_sql);
  if (!create || !insert) {
    set_err(err, errlen, "out of memory");
    goto done;
  }
  if (exec(db, create, err, errlen) < 0)
    goto done;
  if (sqlite3_prepare_v2(db, insert, -1, &ins, NULL) != SQLITE_OK) {
    set_err(err, errlen, "%s", sqlite3_errmsg(db));
    goto done;
  }
  cur = calloc(1, t->cur_size);
  if (!cur || t->open(cur, src, -1, CTRACE__QORDER_NATURAL) < 0) {
    free(cur);
    cur = NULL;
    set_err(err, errlen, "out of memory reading table %s", t->name);
    goto done;
  }
  int more;
  while ((more = t->next(cur)) > 0) {
    for (unsigned i = 0; i < t->ncols; i++) {
      struct ctrace_qval v;
      t->column(cur, i, &v);
      int p = (int)i + 1;
      switch (v.type) {
      case CTRACE_QV_INT:
        sqlite3_bind_int64(ins, p, v.i);
        break;
      case CTRACE_QV_REAL:
        sqlite3_bind_double(ins, p, v.d);
        break;
      case CTRACE_QV_TEXT:
        sqlite3_bind_text(ins, p, v.s, (int)v.len, SQLITE_TRANSIENT);
        break;
      case CTRACE_QV_BLOB:
        sqlite3_bind_blob(ins, p, v.s, (int)v.len, SQLITE_TRANSIENT);
        break;
      default:
        sqlite3_bind_null(ins, p);
      }
    }
    if (sqlite3_step(ins) != SQLITE_DONE) {
      set_err(err, errlen, "writing table %s: %s", t->name, sqlite3_errmsg(db));
      goto done;
    }
    sqlite3_reset(ins);
  }
  if (more < 0) {
    set_err(err, errlen, "out of memory reading table %s", t->name);
    goto done;
  }
  rc = 0;
done:
  if (cur) {
    t->close(cur);
    free(cur);
  }
  sqlite3_finalize(ins);
  sqlite3_free(create);
  sqlite3_free(insert);
  return rc;
}

/* Copies every table into db, in one transaction. 0 or -1. */
static int copy_all(sqlite3 *db, struct ctrace__qsrc *src, char *err, size_t errlen) {
  if (exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN", err, errlen) < 0)
    return -1;
  for (size_t i = 0; i < ctrace__nqtables; i++)
    if (copy_table(db, src, ctrace__qtables[i], err, errlen) < 0)
      return -1;
  return exec(db, "COMMIT", err, errlen);
}

/* ---- the query connection ---- */

/* Connects every eponymous table now, while its declaration (a CREATE
 * TABLE, which the authorizer would refuse) may run: SQLite keeps them
 * connected until the connection closes. 0 or -1. */
static int connect_all(sqlite3 *db, char *err, size_t errlen) {
  /* and SQLite's own table-valued pragmas that describe tables */
  static const char *const pragmas[] = {"pragma_table_info", "pragma_table_xinfo",
                                        "pragma_table_list"};
  size_t n = ctrace__nqtables + sizeof pragmas / sizeof pragmas[0];
  for (size_t i = 0; i < n; i++) {
    sqlite3_stmt *st = NULL;
    const char *name =
        i < ctrace__nqtables ? ctrace__qtables[i]->name : pragmas[i - ctrace__nqtables];
    char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\"", name);
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
      set_err(err, errlen, "cannot connect table %s: %s", name, sqlite3_errmsg(db));
      return -1;
    }
  }
  return 0;
}

int ctrace_query_open(const ctrace_reader *r, ctrace_symbolizer *sym, enum ctrace_query_mode mode,
                      ctrace_query **out, char *err, size_t errlen) {
  ctrace_query *q = calloc(1, sizeof *q);
  if (!q) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  src_init(&q->src, r, sym);
  if (sqlite3_open_v2(":memory:", &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    set_err(err, errlen, "cannot open SQLite: %s", q->db ? sqlite3_errmsg(q->db) : "out of memory");
    goto fail;
  }
  sqlite3 *db = q->db;
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  if (mode == CTRACE_QUERY_MEMORY) {
    if (copy_all(db, &q->src, err, errlen) < 0)
      goto fail;
  } else if (ctrace__qvtab_register(db, &q->src) != SQLITE_OK) {
    set_err(err, errlen, "cannot register the tables: %s", sqlite3_errmsg(db));
    goto fail;
  }
  if (connect_all(db, err, errlen) < 0)
    goto fail;
  sqlite3_set_authorizer(db, authorize, NULL);
  *out = q;
  return 0;
fail:
  ctrace_query_close(q);
  return -1;
}

void ctrace_query_close(ctrace_query *q) {
  if (!q)
    return;
  sqlite3_close(q->db); /* NULL is fine */
  ctrace__qsrc_free(&q->src);
  free(q);
}

/* The column values of the current row of st into vals. */
static void row_values(sqlite3_stmt *st, int n, struct ctrace_qval *vals) {
  for (int i = 0; i < n; i++) {
    struct ctrace_qval *v = &vals[i];
    memset(v, 0, sizeof *v);
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
      v->type = CTRACE_QV_INT;
      v->i = sqlite3_column_int64(st, i);
      break;
    case SQLITE_FLOAT:
      v->type = CTRACE_QV_REAL;
      v->d = sqlite3_column_double(st, i);
      break;
    case SQLITE_TEXT:
      v->type = CTRACE_QV_TEXT;
      v->s = (const char *)sqlite3_column_text(st, i);
      v->len = (size_t)sqlite3_column_bytes(st, i);
      break;
    case SQLITE_BLOB:
      v->type = CTRACE_QV_BLOB;
      v->s = sqlite3_column_blob(st, i);
      v->len = (size_t)sqlite3_column_bytes(st, i);
      break;
    default:
      v->type = CTRACE_QV_NULL;
    }
  }
}

/* Runs one prepared statement; its rows to fn. */
static int run_stmt(ctrace_query *q, sqlite3_stmt *st, ctrace_query_row_fn fn, void *arg,
                    char *err, size_t errlen) {
  int n = sqlite3_column_count(st), rc = 0;
  const char **names = calloc((size_t)n + 1, sizeof *names);
  struct ctrace_qval *vals = calloc((size_t)n + 1, sizeof *vals);
  if (!names || !vals) {
    set_err(err, errlen, "out of memory");
    rc = -2;
    goto done;
  }
  for (int i = 0; i < n; i++)
    names[i] = sqlite3_column_name(st, i);
  if (n && (rc = fn(arg, n, names, NULL)) != 0)
    goto done;
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    row_values(st, n, vals);
    if ((rc = fn(arg, n, names, vals)) != 0)
      goto done;
  }
  if (s != SQLITE_DONE) {
    set_err(err, errlen, "%s", sqlite3_errmsg(q->db));
    rc = s == SQLITE_NOMEM ? -2 : -1;
  }
done:
  free(names);
  free(vals);
  return rc;
}

int ctrace_query_exec(ctrace_query *q, const char *sql, ctrace_query_row_fn fn, void *arg,
                      char *err, size_t errlen) {
  const char *tail = sql;
  while (tail && *tail) {
    sqlite3_stmt *st = NULL;
    const char *next = NULL;
    int rc = sqlite3_prepare_v2(q->db, tail, -1, &st, &next);
    if (rc != SQLITE_OK) {
      set_err(err, errlen, "%s", sqlite3_errmsg(q->db));
      return rc == SQLITE_NOMEM ? -2 : -1;
    }
    tail = next;
    if (!st) /* whitespace or a comment */
      continue;
    if (!sqlite3_stmt_readonly(st)) {
      set_err(err, errlen,
              "only queries are allowed (SELECT, WITH, EXPLAIN): the trace is read-only");
      sqlite3_finalize(st);
      return -1;
    }
    rc = run_stmt(q, st, fn, arg, err, errlen);
    sqlite3_finalize(st);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int ctrace_query_export(const ctrace_reader *r, ctrace_symbolizer *sym, const char *path,
                        char *err, size_t errlen) {
  struct ctrace__qsrc src;
  sqlite3 *db = NULL;
  int rc = -1;
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (!tmp) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  /* written beside path, then renamed over it: never half a database */
  snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
  unlink(tmp);
  src_init(&src, r, sym);
  if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    set_err(err, errlen, "%s: %s", tmp, db ? sqlite3_errmsg(db) : "out of memory");
    goto done;
  }
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
  if (copy_all(db, &src, err, errlen) < 0)
    goto done;
  if (sqlite3_close(db) != SQLITE_OK) {
    set_err(err, errlen, "%s: %s", tmp, sqlite3_errmsg(db));
    goto done;
  }
  db = NULL;
  if (rename(tmp, path) != 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    goto done;
  }
  rc = 0;
done:
  if (db)
    sqlite3_close(db);
  if (rc < 0)
    unlink(tmp);
  ctrace__qsrc_free(&src);
  free(tmp);
  return rc;
}

void ctrace_query_schema(ctrace_query_schema_fn fn, void *arg) {
  for (size_t i = 0; i < ctrace__nqtables; i++) {
    const struct ctrace__qtable *t = ctrace__qtables[i];
    for (unsigned c = 0; c < t->ncols; c++)
      fn(arg, t->name, t->doc, t->cols[c].name, t->cols[c].type, t->cols[c].doc);
  }
}
