/*
 * test-tree.c - process trees as one trace (docs/FORMAT.md, "Process
 * trees"): a program of our own that forks and execs (structure, parent
 * links, exec'd images, what stats and query say), the one clock of the
 * tree (a write in one process before the read that consumed it in
 * another), `make -j2` of a small C tree, and PostgreSQL driven by pgbench.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/read/reader.h"
#include "../src/read/symbolize.h"
#include "task.h"


/* `ctrace run -o path [opts] -- prog...`; the exit status. */
static int run_traced(const char *path, const char *const *opts, const char *const *prog,
                      char **out, char **err) {
  char *argv[48];
  int n = 0;
  argv[n++] = (char *)test_build_path("ctrace");
  argv[n++] = "run";
  argv[n++] = "-o";
  argv[n++] = (char *)path;
  for (int i = 0; opts && opts[i] && n < 20; i++)
    argv[n++] = (char *)opts[i];
  argv[n++] = "--";
  for (int i = 0; prog[i] && n < 47; i++)
    argv[n++] = (char *)prog[i];
  argv[n] = NULL;
  return test_run(argv, NULL, out, err);
}

static ctrace_reader *open_tree(const char *path) {
  ctrace_reader *r = NULL;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open_tree(path, &r, err, sizeof err) < 0) {
    fprintf(stderr, "# open %s: %s\n", path, err);
    return NULL;
  }
  return r;
}

/* The basename of a process's executable. */
static const char *exe_base(const ctrace_reader *r, const struct ctrace_process *p, char *buf,
                            size_t size) {
  ctrace_reader_strcpy(r, p->exe, buf, size);
  const char *s = strrchr(buf, '/');
  return s ? s + 1 : buf;
}

static int find_pid(const ctrace_reader *r, uint32_t pid, int last) {
  int found = -1;
  for (uint32_t i = 0; i < ctrace_reader_nprocesses(r); i++)
    if (ctrace_reader_process(r, i)->pid == pid) {
      found = (int)i;
      if (!last)
        break;
    }
  return found;
}

/* The first thread of process pi. */
static int64_t thread_of(const ctrace_reader *r, uint32_t pi) {
  for (uint32_t t = 0; t < ctrace_reader_nthreads(r); t++)
    if (ctrace_reader_thread(r, t)->process == pi)
      return t;
  return -1;
}

/* The first SYSCALL of process pi with this call and result: *begin and
 * *end in ns on the tree's clock. 0, or -1 when there is none. */
static int find_call(const ctrace_reader *r, uint32_t pi, uint64_t call, int64_t result,
                     int64_t *begin, int64_t *end) {
  for (uint32_t t = 0; t < ctrace_reader_nthreads(r); t++) {
    if (ctrace_reader_thread(r, t)->process != pi)
      continue;
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, t);
    while (ctrace_cursor_next(&c, &ev)) {
      if (ev.kind != CTRACE_EV_SYSCALL)
        continue;
      struct ctrace_ev_syscall s = CTRACE_EV(syscall, &ev);
      if (s.call == call && s.result == result) {
        *end = ctrace_reader_ns(r, ev.ticks);
        *begin = ctrace_reader_ns(r, ev.ticks - s.dur);
        return 0;
      }
    }
  }
  return -1;
}

struct tree_run {
  char path[4096];
  uint32_t parent, child[3];
};

static int run_tree_prog(struct tree_run *t) {
  snprintf(t->path, sizeof t->path, "%s", test_path("tree.ctrace"));
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *prog[] = {test_build_path("tests/prog_tree"), NULL};
  char *out = NULL;
  int rc = run_traced(t->path, opts, prog, &out, NULL);
  int n = sscanf(out ? out : "", "child %u\nchild %u\nchild %u\nparent %u", &t->child[0],
                 &t->child[1], &t->child[2], &t->parent);
  if (rc != 0 || n != 4)
    fprintf(stderr, "# prog_tree: status %d, output: %s\n", rc, out ? out : "");
  free(out);
  return rc == 0 && n == 4 ? 0 : -1;
}

TEST_IMPL(tree_fork_exec_pipes_one_trace) {
  struct tree_run t;
  ASSERT_EQ(run_tree_prog(&t), 0);
  ctrace_reader *r = open_tree(t.path);
  ASSERT(r);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  uint32_t np = ctrace_reader_nprocesses(r);
  ASSERT_GE(np, 4);
  ASSERT_EQ(ctrace_reader_nfiles(r), np);
  /* the root: the parent, first, with no traced parent */
  const struct ctrace_process *root = ctrace_reader_process(r, 0);
  ASSERT_EQ(root->pid, t.parent);
  ASSERT_EQ(root->parent, -1);
  char buf[4096];
  for (int k = 0; k < 3; k++) {
    int first = find_pid(r, t.child[k], 0), last = find_pid(r, t.child[k], 1);
    ASSERT_GE(first, 0);
    const struct ctrace_process *f = ctrace_reader_process(r, (uint32_t)first);
    const struct ctrace_process *l = ctrace_reader_process(r, (uint32_t)last);
    /* forked by the parent; its exec'd image named, with its arguments */
    ASSERT_EQ(f->parent, 0);
    ASSERT_EQ(l->parent, 0);
    ASSERT_EQ(l->ppid, t.parent);
    ASSERT_STR_EQ(exe_base(r, l, buf, sizeof buf), "prog_tree");
    ctrace_reader_strcpy(r, l->argv, buf, sizeof buf);
    ASSERT_STR_CONTAINS(buf, "child");
    if (first != last) { /* the fork child's image, then the exec'd one */
      ASSERT_EQ(l->exec_from, first);
      ASSERT_EQ(f->exec_to, last);
    }
    ASSERT_EQ(l->status, CTRACE_PROC_COMPLETE);
    ASSERT(l->has_exit);
    ASSERT_EQ(l->exit_status, 0);
    /* its threads are its own: the main thread's tid is the pid */
    int64_t ti = thread_of(r, (uint32_t)last);
    ASSERT_GE(ti, 0);
    ASSERT_EQ(ctrace_reader_thread(r, (uint32_t)ti)->tid, t.child[k]);
  }
  /* every thread's process has its pid (single-threaded programs) */
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, i);
    ASSERT_EQ(ctrace_reader_process(r, th->process)->pid, th->tid);
  }
  /* names and stacks of another file's events resolve in the tree */
  int64_t begin, end;
  int c1 = find_pid(r, t.child[1], 1);
  ASSERT_EQ(find_call(r, (uint32_t)c1, CTRACE_CALL_write, 3, &begin, &end), 0);
  ctrace_reader_close(r);

  /* stats and query say the same */
  char *out = NULL;
  char *sargv[] = {(char *)test_build_path("ctrace"), "stats", "--json", t.path, NULL};
  ASSERT_EQ(test_run(sargv, NULL, &out, NULL), 0);
  char want[64];
  snprintf(want, sizeof want, "\"processes\":%u,", np);
  ASSERT_STR_CONTAINS(out, want);
  unsigned listed = 0;
  for (const char *p = strstr(out, "\"process_list\":["); p && (p = strstr(p, "{\"index\":")); p++)
    listed++;
  ASSERT_EQ(listed, np);
  free(out);
  char *qargv[] = {(char *)test_build_path("ctrace"), "query", "--csv", t.path,
                   "SELECT count(*), count(parent), sum(status = 'complete') FROM processes", NULL};
  ASSERT_EQ(test_run(qargv, NULL, &out, NULL), 0);
  snprintf(want, sizeof want, "%u,%u,%u", np, np - 1, np);
  ASSERT_STR_CONTAINS(out, want);
  free(out);
  char *q2[] = {(char *)test_build_path("ctrace"), "query", "--csv", t.path,
                "SELECT count(*) FROM threads t JOIN processes p ON p.id = t.process "
                "WHERE t.pid = p.pid AND t.tid = p.pid",
                NULL};
  ASSERT_EQ(test_run(q2, NULL, &out, NULL), 0);
  snprintf(want, sizeof want, "%u", np);
  ASSERT_STR_CONTAINS(out, want);
  free(out);
  /* spans of a tree (each thread ends with its process: many spans at its
   * end with scheduling data): grouped by state, in one pass per state,
   * the same total as read in order */
  char *q3[] = {(char *)test_build_path("ctrace"), "query", "--csv", t.path,
                "SELECT sum(d) AS total FROM (SELECT state, sum(duration) AS d FROM spans GROUP BY state)",
                NULL};
  char *q4[] = {(char *)test_build_path("ctrace"), "query", "--csv", t.path,
                "SELECT sum(duration) AS total FROM spans", NULL};
  char *by_state = NULL;
  ASSERT_EQ(test_run(q3, NULL, &by_state, NULL), 0);
  ASSERT_EQ(test_run(q4, NULL, &out, NULL), 0);
  ASSERT_STR_EQ(by_state, out);
  free(by_state);
  free(out);
  /* exports: chrome events on each process's pid, pprof samples labelled */
  char chrome[4200], pprof[4200];
  snprintf(chrome, sizeof chrome, "%s", test_path("tree.json"));
  snprintf(pprof, sizeof pprof, "%s", test_path("tree.pb.gz"));
  char *ce[] = {(char *)test_build_path("ctrace"), "export", "--format", "chrome", "-o", chrome,
                t.path, NULL};
  ASSERT_EQ(test_run(ce, NULL, NULL, NULL), 0);
  char *json = test_read_file(chrome, NULL);
  ASSERT(json);
  for (int k = 0; k < 3; k++) {
    snprintf(want, sizeof want, "\"pid\":%u,\"tid\":%u", t.child[k], t.child[k]);
    ASSERT_STR_CONTAINS(json, want);
  }
  free(json);
  char *pe[] = {(char *)test_build_path("ctrace"), "export", "--format", "pprof", "--kind",
                "syscall", "-o", pprof, t.path, NULL};
  ASSERT_EQ(test_run(pe, NULL, NULL, NULL), 0);
  if (access("/usr/bin/go", X_OK) == 0) {
    char *go[] = {"/usr/bin/go", "tool", "pprof", "-tags", pprof, NULL};
    char *tags = NULL;
    if (test_run(go, NULL, &tags, NULL) == 0) {
      ASSERT_STR_CONTAINS(tags, "process:");
      ASSERT_STR_CONTAINS(tags, "prog_tree");
      snprintf(want, sizeof want, "%u", t.child[1]);
      ASSERT_STR_CONTAINS(tags, want);
    }
    free(tags);
  }
  /* --no-tree: the parent's file alone */
  char *sa1[] = {(char *)test_build_path("ctrace"), "stats", "--json", "--no-tree", t.path, NULL};
  ASSERT_EQ(test_run(sa1, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"processes\":1,");
  free(out);
  return TEST_OK;
}

/* One clock: a child writes into a pipe after sleeping; the parent's read
 * that consumed it ends after the write began (and the other way round
 * for the pipe the parent writes). Per-file origins would put them apart
 * by the child's start. */
TEST_IMPL(tree_clock_aligns_processes) {
  struct tree_run t;
  ASSERT_EQ(run_tree_prog(&t), 0);
  ctrace_reader *r = open_tree(t.path);
  ASSERT(r);
  int c1 = find_pid(r, t.child[1], 1), c2 = find_pid(r, t.child[2], 1);
  ASSERT_GE(c1, 0);
  ASSERT_GE(c2, 0);
  int64_t wb, we, rb, re;
  /* child 1 wrote "one"; the parent read those 3 bytes */
  ASSERT_EQ(find_call(r, (uint32_t)c1, CTRACE_CALL_write, 3, &wb, &we), 0);
  ASSERT_EQ(find_call(r, 0, CTRACE_CALL_read, 3, &rb, &re), 0);
  fprintf(stderr, "# child write [%lld, %lld] ns, parent read [%lld, %lld] ns\n", (long long)wb,
          (long long)we, (long long)rb, (long long)re);
  ASSERT_GE(re, wb);
  /* the parent wrote "two"; child 2 read it */
  ASSERT_EQ(find_call(r, 0, CTRACE_CALL_write, 3, &wb, &we), 0);
  ASSERT_EQ(find_call(r, (uint32_t)c2, CTRACE_CALL_read, 3, &rb, &re), 0);
  ASSERT_GE(re, wb);
  /* every process's events are inside the tree's time, from 0 */
  for (uint32_t i = 0; i < ctrace_reader_nprocesses(r); i++) {
    const struct ctrace_process *p = ctrace_reader_process(r, i);
    ASSERT_GE(ctrace_reader_ns(r, p->first), 0);
    ASSERT_LE(ctrace_reader_ns(r, p->last), ctrace_reader_end_ns(r));
    if (p->parent >= 0) /* a child's trace starts after its parent's */
      ASSERT_GE(p->first, ctrace_reader_process(r, (uint32_t)p->parent)->first);
  }
  ctrace_reader_close(r);
  return TEST_OK;
}

/* A stale file of an earlier run with the same name is not part of the
 * tree; a directory opens every file in it. */
/* --with FILE: a child's file moved elsewhere is read with the root when
 * named; without it the root's directory holds only the root. */
TEST_IMPL(tree_with_names_more_files) {
  const char *root = test_path("w.ctrace");
  const char *prog[] = {"/bin/sh", "-c", "/bin/sleep 0.01; exit 0", NULL};
  ASSERT_EQ(test_ctrace_run(root, NULL, prog, NULL, NULL), 0);
  char moved[4096], cmd[8300];
  snprintf(moved, sizeof moved, "%s/child.ctrace", test_tmpdir());
  snprintf(cmd, sizeof cmd, "mv %s/w.*.ctrace %s", test_tmpdir(), moved);
  ASSERT_EQ(system(cmd), 0);
  char *out = NULL;
  char *alone[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)root, NULL};
  ASSERT_EQ(test_run(alone, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"processes\":1,");
  free(out);
  char *with[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)root, "--with",
                  moved, NULL};
  ASSERT_EQ(test_run(with, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"processes\":2,");
  free(out);
  char *q[] = {(char *)test_build_path("ctrace"), "query", "--csv", "--with", moved, (char *)root,
               "SELECT count(parent) FROM processes", NULL};
  ASSERT_EQ(test_run(q, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\n1");
  free(out);
  return TEST_OK;
}

/* Whether a WAIT SLEEP of a thread of process p has a frame named fn. */
static int sleep_has_frame(ctrace_reader *r, ctrace_symbolizer *sym, uint32_t p, const char *fn) {
  for (uint32_t ti = 0; ti < ctrace_reader_nthreads(r); ti++) {
    if (ctrace_reader_thread(r, ti)->process != p)
      continue;
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, ti);
    while (ctrace_cursor_next(&c, &ev)) {
      if (ev.kind != CTRACE_EV_WAIT || CTRACE_EV(wait, &ev).reason != CTRACE_WAIT_SLEEP)
        continue;
      uint64_t id = CTRACE_EV(wait, &ev).stack;
      const uint64_t *pcs;
      uint32_t n = ctrace_reader_stack(r, id, &pcs);
      for (uint32_t k = 0; k < n; k++) {
        struct ctrace_frame f;
        ctrace_sym_lookup_stack(sym, id, pcs[k], 1, &f);
        if (strcmp(f.function, fn) == 0)
          return 1;
      }
    }
  }
  return 0;
}

/* Two programs loaded at the same addresses (address randomization off,
 * as `setarch -R` does): each process's stacks are symbolized in its own
 * address space, not in the first file's. */
TEST_IMPL(tree_symbols_per_process) {
  if (access("/usr/bin/setarch", X_OK) != 0)
    RETURN_SKIP("setarch (util-linux) is not installed");
  char script[8192];
  snprintf(script, sizeof script, "%s; %s", test_build_path("src/preload/prog_critchain"),
           test_build_path("src/preload/prog_sleeper"));
  const char *path = test_path("aslr.ctrace");
  char *argv[] = {"/usr/bin/setarch", "x86_64", "-R", (char *)test_build_path("ctrace"), "run",
                  "-o", (char *)path, "--", "/bin/sh", "-c", script, NULL};
  char *err = NULL;
  int st = test_run(argv, NULL, NULL, &err);
  if (st != 0 && err && strstr(err, "setarch"))
    RETURN_SKIP("setarch -R is refused here");
  ASSERT_EQ(st, 0);
  free(err);
  ctrace_reader *r;
  char e[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_tree(path, &r, e, sizeof e), 0);
  int64_t crit = -1, sleeper = -1;
  for (uint32_t p = 0; p < ctrace_reader_nprocesses(r); p++) {
    char exe[4096];
    ctrace_reader_strcpy(r, ctrace_reader_process(r, p)->exe, exe, sizeof exe);
    if (strstr(exe, "prog_critchain"))
      crit = p;
    if (strstr(exe, "prog_sleeper"))
      sleeper = p;
  }
  ASSERT(crit >= 0 && sleeper >= 0);
  /* the two executables' code overlaps: the case this is about */
  uint64_t base[2] = {0, 0}, top[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    uint32_t first, n = ctrace_reader_file_mappings(r, ctrace_reader_process(r, (uint32_t)(k ? sleeper : crit))->file, &first);
    for (uint32_t i = first; i < first + n && !base[k]; i++) {
      char mp[4096];
      ctrace_reader_strcpy(r, ctrace_reader_mapping(r, i)->path, mp, sizeof mp);
      if (strstr(mp, k ? "prog_sleeper" : "prog_critchain")) {
        base[k] = ctrace_reader_mapping(r, i)->start;
        top[k] = ctrace_reader_mapping(r, i)->end;
      }
    }
  }
  fprintf(stderr, "# executables' code at 0x%llx-0x%llx and 0x%llx-0x%llx\n",
          (unsigned long long)base[0], (unsigned long long)top[0], (unsigned long long)base[1],
          (unsigned long long)top[1]);
  ASSERT(base[0] && base[1]);
  if (!(base[0] < top[1] && base[1] < top[0])) { /* another build's layout (sanitizers) */
    ctrace_reader_close(r);
    RETURN_SKIP("the two programs' code does not overlap in this build");
  }
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  ASSERT(sym);
  ASSERT(sleep_has_frame(r, sym, (uint32_t)crit, "holder"));
  ASSERT(sleep_has_frame(r, sym, (uint32_t)sleeper, "main"));
  ASSERT(!sleep_has_frame(r, sym, (uint32_t)sleeper, "holder"));
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  return TEST_OK;
}

TEST_IMPL(tree_ignores_other_runs) {
  struct tree_run t;
  ASSERT_EQ(run_tree_prog(&t), 0);
  ctrace_reader *r = open_tree(t.path);
  ASSERT(r);
  uint32_t np = ctrace_reader_nprocesses(r);
  ctrace_reader_close(r);
  /* an earlier run's child file beside it */
  char other[4096], stale[4096];
  snprintf(other, sizeof other, "%s", test_path("other.ctrace"));
  const char *prog[] = {"/bin/sh", "-c", "/bin/true; /bin/true", NULL};
  ASSERT_EQ(run_traced(other, NULL, prog, NULL, NULL), 0);
  DIR *d = opendir(test_tmpdir());
  ASSERT(d);
  struct dirent *e;
  stale[0] = 0;
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, "other.", 6) == 0 && strcmp(e->d_name, "other.ctrace") != 0) {
      snprintf(stale, sizeof stale, "%.*s/tree.99999%s", (int)(strlen(t.path) - 12), t.path,
               e->d_name + 5);
      char from[4096];
      snprintf(from, sizeof from, "%s/%s", test_tmpdir(), e->d_name);
      ASSERT_EQ(rename(from, stale), 0);
      break;
    }
  closedir(d);
  ASSERT(stale[0]);
  /* a FIFO and a file of garbage named like members: left out, no block */
  char fifo[4096], junk[4096];
  snprintf(fifo, sizeof fifo, "%.*s.424242.ctrace", (int)(strlen(t.path) - 7), t.path);
  snprintf(junk, sizeof junk, "%.*s.434343-1.ctrace", (int)(strlen(t.path) - 7), t.path);
  ASSERT_EQ(mkfifo(fifo, 0600), 0);
  ASSERT_EQ(test_write_file(junk, "not a trace, not at all", 23), 0);
  r = open_tree(t.path);
  ASSERT(r);
  ASSERT_EQ(ctrace_reader_nprocesses(r), np);
  ctrace_reader_close(r);
  unlink(fifo);
  unlink(junk);
  return TEST_OK;
}

/* make -j2 of a small C tree: every compiler process under make. */
TEST_IMPL(tree_make_j2_compilers) {
  if (access("/usr/bin/make", X_OK) != 0 || access("/usr/bin/cc", X_OK) != 0)
    RETURN_SKIP("make or cc is not installed");
  char dir[4096], file[4200];
  snprintf(dir, sizeof dir, "%s/src", test_tmpdir());
  ASSERT_EQ(mkdir(dir, 0700), 0);
  static const char *const names[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++) {
    char src[256];
    snprintf(file, sizeof file, "%s/%s.c", dir, names[i]);
    int n = snprintf(src, sizeof src, "%s\nint f_%s(int x) { return x * %d; }\n",
                     i == 0 ? "int f_b(int), f_c(int), f_d(int);\n"
                              "int main(void) { return f_b(1) + f_c(2) + f_d(3) - 20; }"
                            : "",
                     names[i], i + 1);
    ASSERT_EQ(test_write_file(file, src, (size_t)n), 0);
  }
  static const char mk[] = "prog: a.o b.o c.o d.o\n\tcc -o $@ $^\n%.o: %.c\n\tcc -O1 -c $<\n";
  snprintf(file, sizeof file, "%s/Makefile", dir);
  ASSERT_EQ(test_write_file(file, mk, sizeof mk - 1), 0);
  const char *path = test_path("make.ctrace");
  const char *prog[] = {"/usr/bin/make", "-s", "-j2", "-C", dir, NULL};
  char *err = NULL;
  int rc = run_traced(path, NULL, prog, NULL, &err);
  if (rc != 0)
    fprintf(stderr, "# make: %d: %s\n", rc, err);
  free(err);
  ASSERT_EQ(rc, 0);
  ctrace_reader *r = open_tree(path);
  ASSERT(r);
  uint32_t np = ctrace_reader_nprocesses(r);
  char buf[4096];
  ASSERT_STR_EQ(exe_base(r, ctrace_reader_process(r, 0), buf, sizeof buf), "make");
  int seen_cc = 0, seen_cc1 = 0, seen_as = 0, seen_ld = 0;
  for (uint32_t i = 0; i < np; i++) {
    const struct ctrace_process *p = ctrace_reader_process(r, i);
    const char *b = exe_base(r, p, buf, sizeof buf);
    int cc = strncmp(b, "gcc", 3) == 0 || strcmp(b, "cc") == 0 ||
             strncmp(b, "x86_64-linux-gnu-gcc", 20) == 0;
    int cc1 = strcmp(b, "cc1") == 0, as = strcmp(b, "as") == 0 ||
                                         strcmp(b, "x86_64-linux-gnu-as") == 0;
    int ld = strcmp(b, "collect2") == 0 || strncmp(b, "ld", 2) == 0 ||
             strncmp(b, "x86_64-linux-gnu-ld", 19) == 0;
    seen_cc += cc;
    seen_cc1 += cc1;
    seen_as += as;
    seen_ld += ld;
    if (!cc && !cc1 && !as && !ld)
      continue;
    /* under make: up the parent links to the root */
    int32_t j = p->parent;
    int depth = 0;
    while (j > 0 && depth++ < 64)
      j = ctrace_reader_process(r, (uint32_t)j)->parent;
    if (j != 0)
      fprintf(stderr, "# %s (pid %u) is not under make\n", b, p->pid);
    ASSERT_EQ(j, 0);
    ASSERT_EQ(p->status, CTRACE_PROC_COMPLETE);
  }
  fprintf(stderr, "# %u processes: cc %d, cc1 %d, as %d, ld/collect2 %d\n", np, seen_cc, seen_cc1,
          seen_as, seen_ld);
  ASSERT_GE(seen_cc, 5);  /* 4 compiles and the link */
  ASSERT_GE(seen_cc1, 4);
  ASSERT_GE(seen_as, 4);
  ASSERT_GE(seen_ld, 1);
  ctrace_reader_close(r);
  return TEST_OK;
}

/* ---- PostgreSQL: the postmaster under ctrace run, pgbench against it ---- */

#define PG_BIN "/usr/lib/postgresql/15/bin/"

/* argv with "runuser -u postgres --" in front when we are root (initdb and
 * postgres refuse to run as root). */
static int pg_argv(char **out, const char *const *args) {
  int n = 0;
  if (geteuid() == 0) {
    out[n++] = "/usr/sbin/runuser";
    out[n++] = "-u";
    out[n++] = "postgres";
    out[n++] = "--";
  }
  for (int i = 0; args[i] && n < 40; i++)
    out[n++] = (char *)args[i];
  out[n] = NULL;
  return n;
}

static int pg_run(const char *const *args, char **out) {
  char *argv[48];
  pg_argv(argv, args);
  char *err = NULL;
  int rc = test_run(argv, NULL, out, &err);
  if (rc != 0)
    fprintf(stderr, "# %s: status %d: %s\n", args[0], rc, err ? err : "");
  free(err);
  return rc;
}

struct ps_row {
  uint32_t pid, ppid;
};

/* The postmaster's children now, from ps. */
static size_t ps_children(uint32_t parent, struct ps_row *rows, size_t max) {
  char *out = NULL;
  char *argv[] = {"/bin/ps", "-e", "-o", "pid=,ppid=", NULL};
  if (test_run(argv, NULL, &out, NULL) != 0) {
    free(out);
    return 0;
  }
  size_t n = 0;
  for (char *p = out; *p && n < max;) {
    unsigned pid, ppid;
    int used = 0;
    if (sscanf(p, " %u %u%n", &pid, &ppid, &used) != 2)
      break;
    if (ppid == parent)
      rows[n++] = (struct ps_row){pid, ppid};
    p += used;
  }
  free(out);
  return n;
}

TEST_IMPL(tree_postgres_pgbench) {
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "asan"))
    RETURN_SKIP("PostgreSQL under the ASan runtime takes minutes (the plain build runs it)");
  if (access(PG_BIN "postgres", X_OK) != 0 || access(PG_BIN "initdb", X_OK) != 0 ||
      access(PG_BIN "pgbench", X_OK) != 0 || access(PG_BIN "pg_ctl", X_OK) != 0)
    RETURN_SKIP("PostgreSQL 15 is not installed (" PG_BIN ")");
  if (geteuid() == 0 && access("/usr/sbin/runuser", X_OK) != 0)
    RETURN_SKIP("root without runuser: cannot run PostgreSQL as postgres");
  /* a directory the postgres user owns (the runner's is root's, 0700) */
  char dir[] = "/tmp/ctrace-pg-XXXXXX";
  ASSERT(mkdtemp(dir));
  if (geteuid() == 0) {
    char *argv[] = {"/bin/chown", "postgres:", dir, NULL};
    ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  }
  char data[64], trace[64], log[64], pidfile[128];
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(trace, sizeof trace, "%s/pg.ctrace", dir);
  snprintf(log, sizeof log, "%s/run.log", dir);
  snprintf(pidfile, sizeof pidfile, "%s/postmaster.pid", data);
  const char *initdb[] = {PG_BIN "initdb", "-D", data, "-A", "trust", "-U", "postgres",
                          "--no-sync", "--no-instructions", NULL};
  ASSERT_EQ(pg_run(initdb, NULL), 0);
  /* the postmaster under ctrace run: unix socket in dir, no TCP */
  pid_t runner = fork();
  ASSERT_GE(runner, 0);
  if (runner == 0) {
    FILE *l = freopen(log, "w", stdout);
    (void)l;
    dup2(1, 2);
    char sock[300];
    snprintf(sock, sizeof sock, "unix_socket_directories=%s", dir);
    const char *args[] = {test_build_path("ctrace"), "run", "-o", trace, "--", PG_BIN "postgres",
                          "-D", data, "-c", "fsync=off", "-c", "listen_addresses=", "-c", sock,
                          "-c", "max_connections=20", "-c", "shared_buffers=16MB", NULL};
    char *argv[48];
    pg_argv(argv, args);
    execv(argv[0], argv);
    _exit(127);
  }
  /* ready: pg_isready says so (polled, bounded) */
  int ready = 0;
  for (int i = 0; i < 600 && !ready; i++) {
    char *argv[] = {PG_BIN "pg_isready", "-q", "-h", dir, "-U", "postgres", NULL};
    ready = test_run(argv, NULL, NULL, NULL) == 0;
    if (!ready) {
      struct timespec ts = {0, 100 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  int rc = TEST_OK;
  uint32_t pm = 0;
  struct ps_row kids[64];
  size_t nkids = 0;
  if (!ready) {
    fprintf(stderr, "# the postmaster did not get ready in 60 s (see %s)\n", log);
    rc = 1;
  } else {
    const char *init[] = {PG_BIN "pgbench", "-i", "-s", "1", "-q", "-h", dir, "-U", "postgres",
                          "postgres", NULL};
    const char *bench[] = {PG_BIN "pgbench", "-c", "4", "-j", "2", "-t", "50", "-h", dir,
                           "-U", "postgres", "postgres", NULL};
    if (pg_run(init, NULL) != 0 || pg_run(bench, NULL) != 0)
      rc = 1;
    char *pf = NULL;
    FILE *f = fopen(pidfile, "r");
    if (f) {
      unsigned v = 0;
      if (fscanf(f, "%u", &v) == 1)
        pm = v;
      fclose(f);
    }
    (void)pf;
    nkids = pm ? ps_children(pm, kids, 64) : 0;
  }
  const char *stop[] = {PG_BIN "pg_ctl", "stop", "-D", data, "-m", "fast", "-w", NULL};
  if (ready && pg_run(stop, NULL) != 0)
    rc = 1;
  if (!ready)
    kill(runner, SIGTERM);
  int st = 0;
  while (waitpid(runner, &st, 0) < 0 && errno == EINTR) {
  }
  ASSERT_EQ(rc, TEST_OK);
  ASSERT_GT(pm, 0);
  ASSERT_GE(nkids, 3); /* checkpointer, background writer, walwriter... */
  ctrace_reader *r = open_tree(trace);
  ASSERT(r);
  uint32_t np = ctrace_reader_nprocesses(r);
  fprintf(stderr, "# %u processes in the tree, %zu children of the postmaster in ps\n", np,
          nkids);
  /* the postmaster is the root */
  int root = find_pid(r, pm, 1);
  ASSERT_EQ(root, 0);
  /* ps's children of the postmaster are its children in the tree */
  for (size_t i = 0; i < nkids; i++) {
    int k = find_pid(r, kids[i].pid, 1);
    if (k < 0)
      fprintf(stderr, "# pid %u (a child in ps) is not in the tree\n", kids[i].pid);
    ASSERT_GE(k, 0);
    ASSERT_EQ(ctrace_reader_process(r, (uint32_t)k)->parent, root);
  }
  /* every other process too: a backend per pgbench connection (5 for -i,
   * 4 for the run) and more; all under the postmaster */
  ASSERT_GE(np, 1 + nkids + 4);
  uint32_t backends = 0;
  for (uint32_t i = 1; i < np; i++) {
    const struct ctrace_process *p = ctrace_reader_process(r, i);
    ASSERT_EQ(p->parent, root);
    /* a backend reads its client's socket: Network, not file I/O */
    uint64_t net_reads = 0, file_recv = 0;
    for (uint32_t t = 0; t < ctrace_reader_nthreads(r); t++) {
      if (ctrace_reader_thread(r, t)->process != i)
        continue;
      ctrace_cursor c;
      ctrace_event ev;
      ctrace_cursor_init(&c, r, t);
      while (ctrace_cursor_next(&c, &ev)) {
        if (ev.kind != CTRACE_EV_SYSCALL)
          continue;
        struct ctrace_ev_syscall s = CTRACE_EV(syscall, &ev);
        int recv = s.call == CTRACE_CALL_recv || s.call == CTRACE_CALL_recvfrom ||
                   s.call == CTRACE_CALL_recvmsg;
        if (recv && s.class == CTRACE_SC_NET)
          net_reads++;
        if (recv && s.class != CTRACE_SC_NET)
          file_recv++;
      }
    }
    ASSERT_EQ(file_recv, 0);
    backends += net_reads > 0;
  }
  fprintf(stderr, "# %u processes read a socket (Network)\n", backends);
  ASSERT_GE(backends, 4);
  ctrace_reader_close(r);
  char *rm[] = {"/bin/rm", "-rf", dir, NULL};
  test_run(rm, NULL, NULL, NULL);
  return TEST_OK;
}

/* A tree opened while its processes run: they read as running (their
 * recorders hold their files), and as complete once they ended. */
TEST_IMPL(tree_running_processes_say_so) {
  char fifo[4096], path[4096], script[4300];
  snprintf(fifo, sizeof fifo, "%s", test_path("gate"));
  snprintf(path, sizeof path, "%s", test_path("live.ctrace"));
  ASSERT_EQ(mkfifo(fifo, 0600), 0);
  snprintf(script, sizeof script, "cat %s >/dev/null; true", fifo);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int nul = open("/dev/null", O_WRONLY);
    dup2(nul, 1);
    dup2(nul, 2);
    execl(test_build_path("ctrace"), "ctrace", "run", "-o", path, "--", "/bin/sh", "-c", script,
          (char *)NULL);
    _exit(127);
  }
  /* cat's trace exists, its header written, once it started (polled,
   * bounded); an empty file is not a trace yet */
  int found = 0;
  for (int i = 0; i < 600 && !found; i++) {
    DIR *d = opendir(test_tmpdir());
    ASSERT(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (strncmp(e->d_name, "live.", 5) == 0 && strcmp(e->d_name, "live.ctrace") != 0) {
        char p[4400];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", test_tmpdir(), e->d_name);
        found = stat(p, &st) == 0 && st.st_size >= 40;
      }
    closedir(d);
    if (!found) {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  ASSERT(found);
  ctrace_reader *r = open_tree(path);
  ASSERT(r);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 2);
  for (uint32_t i = 0; i < 2; i++)
    ASSERT_EQ(ctrace_reader_process(r, i)->status, CTRACE_PROC_RUNNING);
  ctrace_reader_close(r);
  /* let it finish */
  int w = open(fifo, O_WRONLY);
  ASSERT_GE(w, 0);
  close(w);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  r = open_tree(path);
  ASSERT(r);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 2);
  for (uint32_t i = 0; i < 2; i++)
    ASSERT_EQ(ctrace_reader_process(r, i)->status, CTRACE_PROC_COMPLETE);
  ctrace_reader_close(r);
  unlink(fifo);
  return TEST_OK;
}
