/*
 * cmd_query.c - `ctrace query [--csv|--json] TRACE 'SQL'`: runs SQL over
 * the trace's tables (src/analyze/query.h, docs/QUERY.md) and prints the
 * rows as an aligned table, CSV or JSON. `--schema` prints the tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analyze/query.h"
#include "../analyze/stats.h"
#include "../read/symbolize.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_query_def = {"query", ctrace_cmd_query, CTRACE_HELP_query,
                                                CTRACE_USAGE_query};

enum out_format { OUT_TABLE, OUT_CSV, OUT_JSON };

struct out {
  enum out_format fmt;
  FILE *f;
  int nstatements; /* statements with columns printed so far */
  uint64_t nrows;
  /* table: the rows as strings, printed at the statement's end */
  int ncols;
  char **cells; /* ncols per row, the header first */
  int *numeric; /* per column: right-aligned (every value a number) */
  size_t *w;    /* per column: its width, once the first rows are printed */
  size_t ncells, cap;
  int oom;
};

/* A value as text: NULL (table) or "" (csv) for NULL; blobs in hex. Malloced. */
static char *value_text(const struct ctrace_qval *v, const char *null) {
  char buf[64];
  switch (v->type) {
  case CTRACE_QV_INT:
    snprintf(buf, sizeof buf, "%lld", (long long)v->i);
    return strdup(buf);
  case CTRACE_QV_REAL:
    snprintf(buf, sizeof buf, "%.15g", v->d);
    return strdup(buf);
  case CTRACE_QV_TEXT: {
    char *s = malloc(v->len + 1);
    if (s) {
      memcpy(s, v->s, v->len);
      s[v->len] = 0;
    }
    return s;
  }
  case CTRACE_QV_BLOB: {
    char *s = malloc(2 * v->len + 3);
    if (s) {
      s[0] = 'x', s[1] = '\'';
      for (size_t i = 0; i < v->len; i++)
        snprintf(s + 2 + 2 * i, 3, "%02x", (unsigned char)v->s[i]);
      memcpy(s + 2 + 2 * v->len, "'", 2);
    }
    return s;
  }
  default:
    return strdup(null);
  }
}

/* Display width of a UTF-8 string: its characters (not bytes). */
static size_t width(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/* Prints the rows buffered so far and forgets them. The first time, the
 * column widths are those of the header and of these rows (up to
 * TABLE_ROWS: a big result streams, wider cells later overflow their
 * column); final: the row count, and the table is done. */
#define TABLE_ROWS 1000
static void table_emit(struct out *o, int final) {
  if (!o->ncols)
    return;
  size_t nrows = o->ncells / (size_t)o->ncols, nc = (size_t)o->ncols;
  int first = !o->w;
  if (first) {
    o->w = calloc(nc, sizeof *o->w);
    if (!o->w) {
      o->oom = 1;
      return;
    }
    for (size_t k = 0; k < o->ncells; k++) {
      size_t x = width(o->cells[k]);
      if (x > o->w[k % nc])
        o->w[k % nc] = x;
    }
    if (o->nstatements > 1)
      fputc('\n', o->f);
  }
  for (size_t row = 0; row < nrows; row++) {
    for (size_t c = 0; c < nc; c++) {
      const char *s = o->cells[row * nc + c];
      size_t x = width(s), pad = o->w[c] > x ? o->w[c] - x : 0;
      int right = o->numeric[c];
      if (c)
        fputs("  ", o->f);
      if (right)
        fprintf(o->f, "%*s", (int)pad, "");
      for (const char *p = s; *p; p++) /* control characters would break the lines */
        fputc((unsigned char)*p < 0x20 ? ' ' : *p, o->f);
      if (!right && c + 1 < nc)
        fprintf(o->f, "%*s", (int)pad, "");
    }
    fputc('\n', o->f);
    if (first && row == 0) { /* under the header */
      for (size_t c = 0; c < nc; c++) {
        if (c)
          fputs("  ", o->f);
        for (size_t k = 0; k < (o->w[c] ? o->w[c] : 1); k++)
          fputc('-', o->f);
      }
      fputc('\n', o->f);
    }
  }
  for (size_t k = 0; k < o->ncells; k++)
    free(o->cells[k]);
  o->ncells = 0;
  if (!final)
    return;
  fprintf(o->f, "(%llu row%s)\n", (unsigned long long)o->nrows, o->nrows == 1 ? "" : "s");
  free(o->w);
  o->w = NULL;
  free(o->numeric);
  o->numeric = NULL;
  o->ncols = 0;
}

static int table_push(struct out *o, char *s) {
  if (!s)
    return -1;
  if (o->ncells == o->cap) {
    size_t cap = o->cap ? 2 * o->cap : 256;
    char **nc = realloc(o->cells, cap * sizeof *nc);
    if (!nc) {
      free(s);
      return -1;
    }
    o->cells = nc;
    o->cap = cap;
  }
  o->cells[o->ncells++] = s;
  return 0;
}

static void csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void json_value(FILE *f, const struct ctrace_qval *v) {
  switch (v->type) {
  case CTRACE_QV_INT:
    fprintf(f, "%lld", (long long)v->i);
    break;
  case CTRACE_QV_REAL:
    if (v->d == v->d && v->d - v->d == 0) /* finite */
      fprintf(f, "%.17g", v->d);
    else
      fputs("null", f);
    break;
  case CTRACE_QV_TEXT:
    ctrace_json_string(f, v->s, v->len);
    break;
  case CTRACE_QV_BLOB:
    fputc('"', f);
    for (size_t i = 0; i < v->len; i++)
      fprintf(f, "%02x", (unsigned char)v->s[i]);
    fputc('"', f);
    break;
  default:
    fputs("null", f);
  }
}

/* Ends the current statement's output. */
static void end_statement(struct out *o) {
  if (o->fmt == OUT_TABLE)
    table_emit(o, 1);
  else if (o->fmt == OUT_JSON && o->nstatements)
    fputs(o->nrows ? "\n]\n" : "]\n", o->f);
}

static int on_row(void *arg, int ncols, const char *const *names, const struct ctrace_qval *vals) {
  struct out *o = arg;
  if (!vals) { /* a new statement: its header */
    end_statement(o);
    o->nstatements++;
    o->nrows = 0;
    switch (o->fmt) {
    case OUT_TABLE:
      o->ncols = ncols;
      o->numeric = malloc((size_t)ncols * sizeof *o->numeric);
      if (!o->numeric)
        return -2;
      for (int c = 0; c < ncols; c++) {
        o->numeric[c] = 1;
        if (table_push(o, strdup(names[c])) < 0)
          return -2;
      }
      break;
    case OUT_CSV:
      if (o->nstatements > 1)
        fputc('\n', o->f);
      for (int c = 0; c < ncols; c++) {
        if (c)
          fputc(',', o->f);
        csv_field(o->f, names[c]);
      }
      fputs("\r\n", o->f);
      break;
    case OUT_JSON:
      fputc('[', o->f);
      break;
    }
    return 0;
  }
  o->nrows++;
  switch (o->fmt) {
  case OUT_TABLE:
    for (int c = 0; c < ncols; c++) {
      if (vals[c].type == CTRACE_QV_TEXT || vals[c].type == CTRACE_QV_BLOB)
        o->numeric[c] = 0;
      if (table_push(o, value_text(&vals[c], "NULL")) < 0)
        return -2;
    }
    if (o->ncells / (size_t)ncols > TABLE_ROWS) /* the header and TABLE_ROWS rows */
      table_emit(o, 0);
    break;
  case OUT_CSV:
    for (int c = 0; c < ncols; c++) {
      char *s = value_text(&vals[c], "");
      if (!s)
        return -2;
      if (c)
        fputc(',', o->f);
      csv_field(o->f, s);
      free(s);
    }
    fputs("\r\n", o->f);
    break;
  case OUT_JSON:
    fputs(o->nrows > 1 ? ",\n" : "\n", o->f);
    fputc('{', o->f);
    for (int c = 0; c < ncols; c++) {
      if (c)
        fputc(',', o->f);
      ctrace_json_string(o->f, names[c], strlen(names[c]));
      fputc(':', o->f);
      json_value(o->f, &vals[c]);
    }
    fputc('}', o->f);
    break;
  }
  return 0;
}

static void print_schema_col(void *arg, const char *table, const char *table_doc,
                             const char *column, const char *type, const char *doc) {
  const char **last = arg;
  if (!*last || strcmp(*last, table) != 0) {
    printf("%s%s: %s\n", *last ? "\n" : "", table, table_doc);
    *last = table;
  }
  printf("  %-14s %-8s %s\n", column, type, doc);
}

/* Reads all of stdin (SQL given as "-"). Malloced, NUL-terminated. */
static char *read_stdin(void) {
  size_t n = 0, cap = 4096;
  char *s = malloc(cap);
  while (s) {
    n += fread(s + n, 1, cap - n - 1, stdin);
    if (n < cap - 1)
      break;
    char *ns = realloc(s, cap *= 2);
    if (!ns)
      free(s);
    s = ns;
  }
  if (s)
    s[n] = 0;
  return s;
}

int ctrace_cmd_query(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_query_def;
  const char *path = NULL, *sql = NULL;
  enum out_format fmt = OUT_TABLE;
  enum ctrace_query_mode mode = CTRACE_QUERY_VTAB;
  int symbols = 1, schema = 0, nargs = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (ctrace_cli_wants_help(cmd, a))
      return CTRACE_EXIT_OK;
    if (strcmp(a, "--csv") == 0)
      fmt = OUT_CSV;
    else if (strcmp(a, "--json") == 0)
      fmt = OUT_JSON;
    else if (strcmp(a, "--schema") == 0)
      schema = 1;
    else if (strcmp(a, "--no-symbols") == 0)
      symbols = 0;
    else if (strcmp(a, "--in-memory") == 0)
      mode = CTRACE_QUERY_MEMORY;
    else if (a[0] == '-' && a[1])
      return ctrace_cli_usage_error(cmd, "unknown option '%s'", a);
    else if (nargs++ == 0)
      path = a;
    else if (nargs == 2)
      sql = a;
    else
      return ctrace_cli_usage_error(cmd, "too many arguments (quote the SQL)");
  }
  if (schema) {
    const char *last = NULL;
    ctrace_query_schema(print_schema_col, &last);
    return CTRACE_EXIT_OK;
  }
  if (!path)
    return ctrace_cli_usage_error(cmd, "TRACE missing");
  if (!sql)
    return ctrace_cli_usage_error(cmd, "SQL missing");
  char *sql_buf = NULL;
  if (strcmp(sql, "-") == 0) {
    sql_buf = read_stdin();
    if (!sql_buf) {
      fprintf(stderr, "ctrace query: out of memory\n");
      return CTRACE_EXIT_FAIL;
    }
    sql = sql_buf;
  }

  int status = CTRACE_EXIT_FAIL;
  ctrace_query *q = NULL;
  ctrace_symbolizer *sym = NULL;
  char err[512] = "";
  ctrace_reader *r = ctrace_cli_open(cmd->name, path);
  if (!r)
    goto done;
  sym = symbols ? ctrace_sym_new(r) : NULL;
  if (symbols && !sym) {
    fprintf(stderr, "ctrace query: out of memory\n");
    goto done;
  }
  if (ctrace_query_open(r, sym, mode, &q, err, sizeof err) < 0) {
    fprintf(stderr, "ctrace query: %s\n", err);
    goto done;
  }
  struct out o = {.fmt = fmt, .f = stdout};
  int rc = ctrace_query_exec(q, sql, on_row, &o, err, sizeof err);
  end_statement(&o);
  for (size_t k = 0; k < o.ncells; k++)
    free(o.cells[k]);
  free(o.cells);
  free(o.numeric);
  free(o.w);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "ctrace query: writing the output failed\n");
    goto done;
  }
  if (rc == -1) {
    fprintf(stderr, "ctrace query: SQL error: %s\n", err);
    status = CTRACE_EXIT_USAGE;
    goto done;
  }
  if (rc != 0 || o.oom) {
    fprintf(stderr, "ctrace query: %s\n", rc == -2 && err[0] ? err : "out of memory");
    goto done;
  }
  status = ctrace_cli_read_status(r);
done:
  ctrace_query_close(q);
  ctrace_sym_free(sym);
  if (r)
    ctrace_reader_close(r);
  free(sql_buf);
  return status;
}
