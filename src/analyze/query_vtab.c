/*
 * query_vtab.c - the tables of the registry (query_tables.c) as SQLite
 * eponymous virtual tables: `SELECT ... FROM spans` reads the trace through
 * the table's cursor while SQLite steps, with nothing copied beforehand.
 * One module serves every table (the table is the module's client data).
 * A `thread = N` (or `id = N`, `stack = N`: the table's key column)
 * constraint is passed to the cursor, which then reads one thread.
 *
 * Not here: the connection's safety settings (query.c).
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

struct vtab {
  sqlite3_vtab base;
  const struct ctrace__qtable *t;
  struct ctrace__qsrc *src;
};
struct vcur {
  sqlite3_vtab_cursor base;
  int eof, opened;
  void *cur; /* the table's cursor */
};
/* The module's client data: the table and the source. */
struct vclient {
  const struct ctrace__qtable *t;
  struct ctrace__qsrc *src;
};

static int v_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err) {
  const struct vclient *cl = aux;
  const struct ctrace__qtable *t = cl->t;
  sqlite3_str *s = sqlite3_str_new(db);
  sqlite3_str_appendall(s, "CREATE TABLE x(");
  for (unsigned i = 0; i < t->ncols; i++)
    sqlite3_str_appendf(s, "%s\"%w\" %s", i ? ", " : "", t->cols[i].name, t->cols[i].type);
  sqlite3_str_appendall(s, ")");
  char *sql = sqlite3_str_finish(s);
  if (!sql)
    return SQLITE_NOMEM;
  int rc = sqlite3_declare_vtab(db, sql);
  sqlite3_free(sql);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY); /* never from a schema's trigger or view */
  struct vtab *v = sqlite3_malloc(sizeof *v);
  if (!v)
    return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->t = t;
  v->src = cl->src;
  *out = &v->base;
  return SQLITE_OK;
}

static int v_disconnect(sqlite3_vtab *base) {
  sqlite3_free(base);
  return SQLITE_OK;
}

/* Whether the ORDER BY (or GROUP BY) terms are a prefix of the table's
 * natural order, ascending. (A GROUP BY would only need its groups
 * together, but SQLite's own plans leave them sorted, and users expect it.) */
static int natural_prefix(const struct ctrace__qtable *t, const struct ctrace__qorder *o, int n) {
  for (int i = 0; i < n; i++)
    if (i >= 3 || t->natural[i] < 0 || o[i].col != t->natural[i] || o[i].desc)
      return 0;
  return 1;
}

/* The order (CTRACE__QORDER_*) the cursor can give the query's ORDER BY or
 * GROUP BY, or CTRACE__QORDER_ANY when SQLite must sort. */
static int plan_order(const struct ctrace__qtable *t, sqlite3_index_info *info) {
  struct ctrace__qorder o[8];
  int n = info->nOrderBy;
  /* 0: ORDER BY; 1: GROUP BY (grouped is enough); 2, 3: DISTINCT (left to SQLite) */
  int distinct = sqlite3_vtab_distinct(info);
  if (n == 0 || n > 8 || distinct > 1)
    return CTRACE__QORDER_ANY;
  for (int i = 0; i < n; i++) {
    o[i].col = info->aOrderBy[i].iColumn;
    o[i].desc = info->aOrderBy[i].desc;
    if (o[i].col < 0)
      return CTRACE__QORDER_ANY; /* rowid */
  }
  if (natural_prefix(t, o, n))
    return CTRACE__QORDER_NATURAL;
  return t->order ? t->order(o, n, distinct == 1) : CTRACE__QORDER_ANY;
}

/* Plan: idxNum bit 0 when a `key = value` constraint is passed to the
 * cursor; the order code above it. */
static int v_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
  struct vtab *v = (struct vtab *)base;
  double rows = (double)v->t->estimate(v->src);
  int order = plan_order(v->t, info);
  info->idxNum = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (v->t->thread_col >= 0 && c->usable && c->iColumn == v->t->thread_col &&
        c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      info->aConstraintUsage[i].argvIndex = 1;
      info->aConstraintUsage[i].omit = 0; /* SQLite checks it too (e.g. `thread = '1'`) */
      info->idxNum = 1;
      rows = rows / 16 + 1;
      break;
    }
  }
  if (order != CTRACE__QORDER_ANY) {
    info->orderByConsumed = 1;
    info->idxNum |= order << 1;
  }
  info->estimatedRows = (sqlite3_int64)rows;
  info->estimatedCost = rows;
  return SQLITE_OK;
}

static int v_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
  struct vtab *v = (struct vtab *)base;
  struct vcur *c = sqlite3_malloc(sizeof *c);
  if (!c)
    return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->cur = calloc(1, v->t->cur_size);
  if (!c->cur) {
    sqlite3_free(c);
    return SQLITE_NOMEM;
  }
  *out = &c->base;
  return SQLITE_OK;
}

static int v_close(sqlite3_vtab_cursor *base) {
  struct vcur *c = (struct vcur *)base;
  struct vtab *v = (struct vtab *)base->pVtab;
  if (c->opened)
    v->t->close(c->cur);
  free(c->cur);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int v_next(sqlite3_vtab_cursor *base) {
  struct vcur *c = (struct vcur *)base;
  struct vtab *v = (struct vtab *)base->pVtab;
  int rc = v->t->next(c->cur);
  if (rc < 0)
    return SQLITE_NOMEM;
  c->eof = rc == 0;
  return SQLITE_OK;
}

static int v_filter(sqlite3_vtab_cursor *base, int idx, const char *idxstr, int argc,
                    sqlite3_value **argv) {
  struct vcur *c = (struct vcur *)base;
  struct vtab *v = (struct vtab *)base->pVtab;
  int64_t key = -1;
  if ((idx & 1) && argc == 1) {
    int type = sqlite3_value_numeric_type(argv[0]);
    if (type == SQLITE_INTEGER) {
      key = sqlite3_value_int64(argv[0]);
      if (key < 0)
        key = INT64_MAX; /* no such thread: no row */
    } else if (type == SQLITE_NULL) {
      c->eof = 1; /* `= NULL` is never true */
      return SQLITE_OK;
    } /* a real or text: read everything, SQLite compares */
  }
  if (c->opened)
    v->t->close(c->cur);
  memset(c->cur, 0, v->t->cur_size);
  c->opened = 0;
  if (v->t->open(c->cur, v->src, key, idx >> 1) < 0)
    return SQLITE_NOMEM;
  c->opened = 1;
  return v_next(base);
}

static int v_eof(sqlite3_vtab_cursor *base) { return ((struct vcur *)base)->eof; }

static int v_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
  struct vcur *c = (struct vcur *)base;
  struct vtab *v = (struct vtab *)base->pVtab;
  struct ctrace_qval val;
  v->t->column(c->cur, (unsigned)col, &val);
  switch (val.type) {
  case CTRACE_QV_INT:
    sqlite3_result_int64(ctx, val.i);
    break;
  case CTRACE_QV_REAL:
    sqlite3_result_double(ctx, val.d);
    break;
  case CTRACE_QV_TEXT:
    sqlite3_result_text(ctx, val.s, (int)val.len, SQLITE_TRANSIENT);
    break;
  case CTRACE_QV_BLOB:
    sqlite3_result_blob(ctx, val.s, (int)val.len, SQLITE_TRANSIENT);
    break;
  default:
    sqlite3_result_null(ctx);
  }
  return SQLITE_OK;
}

static int v_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
  *rowid = 0; /* the tables have no rowid (WITHOUT ROWID is not needed: read-only) */
  return SQLITE_OK;
}

static const sqlite3_module module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: the table exists without CREATE VIRTUAL TABLE */
    .xConnect = v_connect,
    .xBestIndex = v_best_index,
    .xDisconnect = v_disconnect,
    .xDestroy = v_disconnect,
    .xOpen = v_open,
    .xClose = v_close,
    .xFilter = v_filter,
    .xNext = v_next,
    .xEof = v_eof,
    .xColumn = v_column,
    .xRowid = v_rowid,
};

int ctrace__qvtab_register(sqlite3 *db, struct ctrace__qsrc *src) {
  for (size_t i = 0; i < ctrace__nqtables; i++) {
    struct vclient *cl = malloc(sizeof *cl);
    if (!cl)
      return SQLITE_NOMEM;
    cl->t = ctrace__qtables[i];
    cl->src = src;
    int rc = sqlite3_create_module_v2(db, cl->t->name, &module, cl, free);
    if (rc != SQLITE_OK)
      return rc;
  }
  return SQLITE_OK;
}
