/*
 * test-treerec.c - what the recorder writes so that a process tree can be
 * linked (SPAWN, FD, SHARED records: docs/FORMAT.md, "Links between processes") and
 * the analysis that links it (src/analyze/flows.c): spawns name their
 * child; a pipe's writes pair with the reads that consumed their bytes;
 * the two sides of a fork, a shell pipeline, a socketpair, a loopback TCP
 * connection name the same kernel object; process-shared semaphores and
 * mutexes get the same key in both processes, and their waits get wake
 * edges. The traced programs print what they print untraced.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "task.h"
#include "trace-check.h"
#include "../src/analyze/flows.h"

/* The test program, in a buffer of its own (test_path's are reused). */
static const char *prog_path(void) {
  static char *p;
  if (!p)
    p = strdup(test_build_path("src/preload/prog_treerec"));
  return p;
}
#define PROG prog_path()

/* `ctrace run -o path -- argv...` with CTRACE_MIN_NS=0 (every call
 * recorded): its exit status and stdout. */
static int run_traced(const char *path, const char *const *prog, char **out) {
  static const char *const every_call[] = {"--min-duration", "0", NULL};
  char *err = NULL;
  int st = test_ctrace_run(path, every_call, prog, out, &err);
  if (st != 0)
    fprintf(stderr, "# stderr: %s\n", err);
  free(err);
  return st;
}

/* The decoded uvarints of a record's blob; how many. */
static unsigned blob_uv(const ctrace_event *ev, uint64_t *v, unsigned max) {
  const uint8_t *p = ev->blob, *end = ev->blob + ev->blob_len;
  unsigned n = 0;
  while (n < max && p < end && (p = ctrace__get_uvarint(p, end, &v[n])))
    n++;
  return n;
}

/* A record of kind (0x86..0x88) matching up to nmatch leading uvarints
 * (UINT64_MAX: any); *out gets its uvarints. Starts after *skip matches. */
struct rec {
  uint64_t v[8];
  uint32_t tid;
  const uint8_t *blob;
  uint32_t blob_len;
};
static size_t find_recs(const ctrace_reader *r, uint8_t kind, const uint64_t *match,
                        unsigned nmatch, struct rec *out, size_t max) {
  size_t n = 0;
  for (uint32_t ti = 0; ti < ctrace_reader_nthreads(r); ti++) {
    ctrace_cursor c;
    ctrace_cursor_init(&c, r, ti);
    ctrace_event ev;
    while (ctrace_cursor_next_record(&c, &ev)) {
      if (ev.kind != kind)
        continue;
      struct rec x = {.tid = ev.tid, .blob = ev.blob, .blob_len = ev.blob_len};
      blob_uv(&ev, x.v, 8);
      int ok = 1;
      for (unsigned i = 0; i < nmatch; i++)
        if (match[i] != UINT64_MAX && match[i] != x.v[i])
          ok = 0;
      if (ok && n < max)
        out[n++] = x;
    }
  }
  return n;
}

static long field(const char *s, const char *key) {
  const char *p = strstr(s, key);
  ASSERT(p);
  return strtol(p + strlen(key), NULL, 10);
}

/* path of the trace a child pid wrote next to stem.ctrace */
static const char *child_path(const char *name, long pid) {
  char tag[64];
  snprintf(tag, sizeof tag, "%s.%ld.ctrace", name, pid);
  return test_path(tag);
}

/* The one child trace next to the parent's (STEM.PID.ctrace), found by
 * the parent's FORK record. */
static ctrace_reader *fork_child(ctrace_reader *parent, const char *name) {
  ctrace_merge *m = ctrace_merge_new(parent);
  ctrace_event ev;
  long pid = 0;
  while (ctrace_merge_next(m, &ev))
    if (ev.kind == CTRACE_EV_FORK)
      pid = (long)ev.f[0];
  ctrace_merge_free(m);
  if (!pid)
    return NULL;
  return open_trace(child_path(name, pid));
}

/* The whole run as one reader (the `tree` reader) and its flows. */
static ctrace_reader *open_tree(const char *path) {
  ctrace_reader *r = NULL;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open_tree(path, &r, err, sizeof err) != 0) {
    fprintf(stderr, "# %s: %s\n", path, err);
    return NULL;
  }
  return r;
}

static uint32_t proc_of(const ctrace_reader *r, uint32_t thread) {
  return ctrace_reader_thread(r, thread)->process;
}

/* DATA edges of the tree at path: every byte read came from a recorded
 * write of another process and nothing is left over; their sum. */
static int64_t tree_data_bytes(const char *path, unsigned object_kind) {
  ctrace_reader *r = open_tree(path);
  if (!r || ctrace_reader_nprocesses(r) < 2)
    return -1;
  struct ctrace_flows f;
  if (ctrace_flows_build(r, &f) != 0)
    return -1;
  int64_t sum = 0;
  for (size_t i = 0; i < f.n; i++) {
    const struct ctrace_flow *e = &f.v[i];
    if (e->kind != CTRACE_FLOW_DATA)
      continue;
    if (e->object_kind != object_kind || e->from_ticks > e->to_ticks ||
        proc_of(r, e->from_thread) == proc_of(r, e->to_thread)) {
      fprintf(stderr, "# bad edge %zu: object %u procs %u %u\n", i, e->object_kind,
              proc_of(r, e->from_thread), proc_of(r, e->to_thread));
      sum = -1;
      break;
    }
    sum += (int64_t)e->bytes;
  }
  if (f.unmatched_read_bytes || f.unmatched_write_bytes) {
    fprintf(stderr, "# unmatched: read %llu write %llu\n",
            (unsigned long long)f.unmatched_read_bytes,
            (unsigned long long)f.unmatched_write_bytes);
    sum = -1;
  }
  ctrace_flows_free(&f);
  ctrace_reader_close(r);
  return sum;
}

TEST_IMPL(treerec_spawn_records_child_pid) {
  const char *prog[] = {PROG, "spawn", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("s.ctrace"), prog, &out), 0);
  long a = field(out, "spawn "), b = field(out, "spawnp ");
  ctrace_reader *r = open_trace(test_path("s.ctrace"));
  struct rec x[4];
  uint64_t m1[] = {(uint64_t)a, CTRACE_SPAWN_POSIX_SPAWN};
  uint64_t m2[] = {(uint64_t)b, CTRACE_SPAWN_POSIX_SPAWNP};
  ASSERT_EQ(find_recs(r, CTRACE_EV_SPAWN, m1, 2, x, 4), 1);
  ASSERT_EQ(find_recs(r, CTRACE_EV_SPAWN, m2, 2, x, 4), 1);
  ASSERT_EQ(find_recs(r, CTRACE_EV_SPAWN, NULL, 0, x, 4), 2);
  /* the children traced as today, each into its own file */
  ctrace_reader *c = open_trace(child_path("s", a));
  ASSERT_EQ(ctrace_reader_pid(c), a);
  ctrace_reader_close(c);
  ctrace_reader_close(r);
  free(out);
  return 0;
}

/*
 * One thread writes 60 messages of 1..150 bytes into a pipe and ends; only
 * then another reads it 64 bytes at a time: every write's bytes are
 * claimed by DATA edges exactly, a read takes from several writes, a long
 * write spreads over several reads.
 */
TEST_IMPL(treerec_pipe_threads_every_write_paired) {
  const char *prog[] = {PROG, "pipe_threads", "60", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("p.ctrace"), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  long total = field(out, "total ");
  ctrace_reader *r = open_trace(test_path("p.ctrace"));
  struct ctrace_flows f;
  ASSERT_EQ(ctrace_flows_build(r, &f), 0);
  ASSERT_UINT_EQ(f.unmatched_read_bytes, 0);
  ASSERT_UINT_EQ(f.unmatched_write_bytes, 0);
  uint64_t sum = 0;
  uint32_t from = UINT32_MAX, to = UINT32_MAX;
  size_t multi_write_reads = 0, split_writes = 0;
  for (size_t i = 0; i < f.n; i++) {
    const struct ctrace_flow *e = &f.v[i];
    ASSERT_EQ(e->kind, CTRACE_FLOW_DATA);
    ASSERT_EQ(e->object_kind, CTRACE_FLOW_PIPE);
    ASSERT(e->from_ticks <= e->to_ticks);
    if (from == UINT32_MAX) {
      from = e->from_thread;
      to = e->to_thread;
    }
    ASSERT_EQ(e->from_thread, from);
    ASSERT_EQ(e->to_thread, to);
    sum += e->bytes;
    if (i > 0 && f.v[i - 1].to_ticks == e->to_ticks)
      multi_write_reads++;
    if (i > 0 && f.v[i - 1].from_ticks == e->from_ticks && f.v[i - 1].to_ticks != e->to_ticks)
      split_writes++;
  }
  ASSERT(from != to);
  ASSERT_UINT_EQ(sum, (uint64_t)total);
  ASSERT_GT(multi_write_reads, 0);
  ASSERT_GT(split_writes, 0);
  /* every recorded write of the writer is covered by edges of its bytes */
  ctrace_cursor c;
  ctrace_cursor_init(&c, r, from);
  ctrace_event ev;
  size_t writes = 0;
  uint64_t wrote = 0;
  while (ctrace_cursor_next(&c, &ev)) {
    if (ev.kind != CTRACE_EV_SYSCALL)
      continue;
    struct ctrace_ev_syscall s = CTRACE_EV(syscall, &ev);
    if (s.call != CTRACE_CALL_write)
      continue;
    writes++;
    wrote += (uint64_t)s.result;
  }
  /* FIFO accounting with nothing left over: each write's bytes went to
   * the reads, in order, none twice */
  ASSERT_UINT_EQ(wrote, sum);
  ASSERT_EQ(writes, 60);
  ctrace_flows_free(&f);
  ctrace_reader_close(r);
  free(out);
  return 0;
}

/* The pipe the parent made and the fd its forked child writes to are the
 * same inode; the child's trace says so itself (INHERITED at its start). */
TEST_IMPL(treerec_fork_child_knows_inherited_pipe) {
  const char *prog[] = {PROG, "fork_pipe", "30", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("f.ctrace"), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  ctrace_reader *r = open_trace(test_path("f.ctrace"));
  struct rec p[4], c[8];
  uint64_t mp[] = {UINT64_MAX, CTRACE_FD_PIPE};
  ASSERT_EQ(find_recs(r, CTRACE_EV_FD, mp, 2, p, 4), 2);
  ASSERT_UINT_EQ(p[0].v[3], p[1].v[3]); /* both ends: one inode */
  ASSERT_EQ(p[0].v[4], 1);              /* a FIFO */
  ctrace_reader *ch = fork_child(r, "f");
  ASSERT(ch);
  uint64_t mc[] = {p[1].v[0], CTRACE_FD_INHERITED, p[1].v[2], p[1].v[3]};
  ASSERT_EQ(find_recs(ch, CTRACE_EV_FD, mc, 4, c, 8), 1);
  ctrace_reader_close(ch);
  ctrace_reader_close(r);
  /* as one tree: the child's writes pair with the parent's reads */
  ASSERT_EQ(tree_data_bytes(test_path("f.ctrace"), CTRACE_FLOW_PIPE), field(out, "total "));
  free(out);
  return 0;
}

/* fork_pipe with the pipe on fds 70000 and 70001 (a server past 65536
 * connections): every byte still pairs (the preload's per-fd table keeps
 * fds that high in pages of their own). Needs a limit on open files above
 * 70001, which only a root with CAP_SYS_RESOURCE can raise past the hard
 * limit: skipped where it cannot (the table itself is tested in
 * fds_byte_table_keeps_fds_past_65535). */
TEST_IMPL(treerec_pipe_past_fd_65535_paired) {
  const char *prog[] = {PROG, "fork_pipe_high", "30", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("hi.ctrace"), prog, &out), 0);
  if (strstr(out, "no high fds")) {
    free(out);
    RETURN_SKIP("the limit on open files cannot be raised to 70002 here (CAP_SYS_RESOURCE)");
  }
  ASSERT(test_same_untraced(prog, out));
  ASSERT_EQ(tree_data_bytes(test_path("hi.ctrace"), CTRACE_FLOW_PIPE), field(out, "total "));
  free(out);
  return 0;
}

/* `sh -c 'writer | reader'`: the two exec'd stages, given the pipe on fd 1
 * and fd 0 by dup2 in the shell's children, name the same pipe. */
TEST_IMPL(treerec_pipeline_dup2_stdin_same_pipe) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s writer 25 | %s reader", PROG, PROG);
  const char *prog[] = {"/bin/sh", "-c", cmd, NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("sh.ctrace"), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  /* every trace file of the run: the stages are exec'd images */
  uint64_t wino = 0, rino = 0;
  DIR *d = opendir(test_path(""));
  ASSERT(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *s = de->d_name;
    if (strncmp(s, "sh.", 3) != 0)
      continue;
    ctrace_reader *r = open_trace(test_path(s));
    const struct ctrace_process *pr = ctrace_reader_nprocesses(r) ? ctrace_reader_process(r, 0)
                                                                  : NULL;
    char argv0[4096] = "";
    if (pr)
      ctrace_reader_strcpy(r, pr->argv, argv0, sizeof argv0);
    struct rec x[4];
    if (strstr(argv0, "\x1fwriter")) {
      uint64_t m[] = {1, CTRACE_FD_INHERITED};
      ASSERT_EQ(find_recs(r, CTRACE_EV_FD, m, 2, x, 4), 1);
      wino = x[0].v[3];
    } else if (strstr(argv0, "\x1freader")) {
      uint64_t m[] = {0, CTRACE_FD_INHERITED};
      ASSERT_EQ(find_recs(r, CTRACE_EV_FD, m, 2, x, 4), 1);
      rino = x[0].v[3];
    }
    ctrace_reader_close(r);
  }
  closedir(d);
  ASSERT(wino != 0);
  ASSERT_UINT_EQ(wino, rino);
  ASSERT_EQ(tree_data_bytes(test_path("sh.ctrace"), CTRACE_FLOW_PIPE), field(out, "read "));
  free(out);
  return 0;
}

/* A socketpair's ends name each other; the forked child's inherited end is
 * the one the parent made. */
TEST_IMPL(treerec_socketpair_ends_named_across_fork) {
  const char *prog[] = {PROG, "socketpair", "20", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("sp.ctrace"), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  ctrace_reader *r = open_trace(test_path("sp.ctrace"));
  struct rec p[4], c[8];
  uint64_t mp[] = {UINT64_MAX, CTRACE_FD_SOCKETPAIR};
  ASSERT_EQ(find_recs(r, CTRACE_EV_FD, mp, 2, p, 4), 2);
  ASSERT_EQ(p[0].v[4], 12); /* sockets */
  ASSERT_UINT_EQ(p[0].v[5], p[1].v[3]);
  ASSERT_UINT_EQ(p[1].v[5], p[0].v[3]);
  ctrace_reader *ch = fork_child(r, "sp");
  ASSERT(ch);
  uint64_t mc[] = {p[1].v[0], CTRACE_FD_INHERITED, p[1].v[2], p[1].v[3], 12, p[0].v[3]};
  ASSERT_EQ(find_recs(ch, CTRACE_EV_FD, mc, 6, c, 8), 1);
  ctrace_reader_close(ch);
  ctrace_reader_close(r);
  /* both directions: the child's messages and the parent's answers (one
   * byte per read the parent made) */
  int64_t both = tree_data_bytes(test_path("sp.ctrace"), CTRACE_FLOW_SOCKETPAIR);
  ASSERT_GT(both, field(out, "total "));
  free(out);
  return 0;
}

/* The accepted socket's (local, peer) is the connecting child's (peer,
 * local). */
TEST_IMPL(treerec_tcp_loopback_tuples_match) {
  const char *prog[] = {PROG, "tcp", "20", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("t.ctrace"), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  ctrace_reader *r = open_trace(test_path("t.ctrace"));
  struct rec a[4], c[4];
  uint64_t ma[] = {UINT64_MAX, CTRACE_FD_ACCEPT};
  ASSERT_EQ(find_recs(r, CTRACE_EV_FD, ma, 2, a, 4), 1);
  ctrace_reader *ch = fork_child(r, "t");
  ASSERT(ch);
  uint64_t mc[] = {UINT64_MAX, CTRACE_FD_CONNECT};
  ASSERT_EQ(find_recs(ch, CTRACE_EV_FD, mc, 2, c, 4), 1);
  /* after the six uvarints: len local, len peer; one byte each (16) */
  uint32_t pa = 0, pc = 0;
  uint64_t tmp[6];
  ctrace_event ea = {.blob = a[0].blob, .blob_len = a[0].blob_len};
  ctrace_event ec = {.blob = c[0].blob, .blob_len = c[0].blob_len};
  ASSERT_EQ(blob_uv(&ea, tmp, 6), 6);
  ASSERT_EQ(blob_uv(&ec, tmp, 6), 6);
  /* the sockaddrs are the last 2 x (1 + 16) bytes of each blob */
  ASSERT_GE(a[0].blob_len, 34);
  ASSERT_GE(c[0].blob_len, 34);
  pa = a[0].blob_len - 34;
  pc = c[0].blob_len - 34;
  ASSERT_EQ(a[0].blob[pa], 16);
  ASSERT_EQ(c[0].blob[pc], 16);
  ASSERT_MEM_HEX_EQ(a[0].blob + pa + 1, c[0].blob + pc + 18, 8);  /* local = peer */
  ASSERT_MEM_HEX_EQ(a[0].blob + pa + 18, c[0].blob + pc + 1, 8);  /* peer = local */
  ctrace_reader_close(ch);
  ctrace_reader_close(r);
  ASSERT_EQ(tree_data_bytes(test_path("t.ctrace"), CTRACE_FLOW_TCP), field(out, "total "));
  free(out);
  return 0;
}

/* SHARED records of one process pair with the other's by key. */
static void shared_keys(const ctrace_reader *r, uint64_t role, struct rec *x, size_t *n,
                        size_t max) {
  uint64_t m[] = {role};
  *n = find_recs(r, CTRACE_EV_SHARED, m, 1, x, max);
}

static int key_eq(const struct rec *a, const struct rec *b) {
  return a->v[3] == b->v[3] && a->v[4] == b->v[4] && a->v[5] == b->v[5];
}

static int shared_across_fork(const char *mode, const char *name, uint64_t reason) {
  const char *prog[] = {PROG, mode, "30", NULL};
  char *out;
  char file[64];
  snprintf(file, sizeof file, "%s.ctrace", name);
  ASSERT_EQ(run_traced(test_path(file), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  ctrace_reader *r = open_trace(test_path(file));
  ctrace_reader *ch = fork_child(r, name);
  ASSERT(ch);
  static struct rec pw[4096], pk[4096], cw[4096], ck[4096];
  size_t npw, npk, ncw, nck;
  shared_keys(r, CTRACE_SHARED_WAIT, pw, &npw, 4096);
  shared_keys(r, CTRACE_SHARED_WAKE, pk, &npk, 4096);
  shared_keys(ch, CTRACE_SHARED_WAIT, cw, &ncw, 4096);
  shared_keys(ch, CTRACE_SHARED_WAKE, ck, &nck, 4096);
  /* some wait in one process has a release of the same key in the other */
  size_t matched = 0;
  for (size_t i = 0; i < npw; i++)
    for (size_t j = 0; j < nck; j++)
      if (pw[i].v[1] == reason && key_eq(&pw[i], &ck[j])) {
        matched++;
        break;
      }
  for (size_t i = 0; i < ncw; i++)
    for (size_t j = 0; j < npk; j++)
      if (cw[i].v[1] == reason && key_eq(&cw[i], &pk[j])) {
        matched++;
        break;
      }
  ASSERT_GT(matched, 0);
  /* keys are of a shared-memory inode, not of the address alone */
  for (size_t i = 0; i < npw; i++)
    ASSERT(pw[i].v[4] != 0);
  ctrace_reader_close(ch);
  ctrace_reader_close(r);
  /* as one tree: waits of one process get wake edges from the other */
  ctrace_reader *t = open_tree(test_path(file));
  ASSERT(t);
  ASSERT_EQ(ctrace_reader_nprocesses(t), 2);
  struct ctrace_flows f;
  ASSERT_EQ(ctrace_flows_build(t, &f), 0);
  size_t across = 0;
  for (size_t i = 0; i < f.n; i++) {
    const struct ctrace_flow *e = &f.v[i];
    if (e->kind != CTRACE_FLOW_WAKE || e->reason != reason)
      continue;
    ASSERT(e->from_ticks <= e->to_ticks);
    across += proc_of(t, e->from_thread) != proc_of(t, e->to_thread);
  }
  ASSERT_GT(across, 0);
  ASSERT(f.shared_waits_paired <= f.shared_waits);
  ctrace_flows_free(&f);
  ctrace_reader_close(t);
  free(out);
  return 0;
}

TEST_IMPL(treerec_shared_sem_keys_match_across_fork) {
  return shared_across_fork("sem", "sem", CTRACE_WAIT_SEM);
}

TEST_IMPL(treerec_shared_mutex_keys_match_across_fork) {
  return shared_across_fork("mutex", "mtx", CTRACE_WAIT_MUTEX);
}

/* Two threads ping-pong over process-shared semaphores: the waits get wake
 * edges from SHARED records alone, from the other thread, inside the wait. */
TEST_IMPL(treerec_shared_sem_threads_wake_edges) {
  const char *prog[] = {PROG, "sem_threads", "40", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("st.ctrace"), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  ctrace_reader *r = open_trace(test_path("st.ctrace"));
  struct ctrace_flows f;
  ASSERT_EQ(ctrace_flows_build(r, &f), 0);
  size_t wakes = 0;
  for (size_t i = 0; i < f.n; i++) {
    const struct ctrace_flow *e = &f.v[i];
    if (e->kind != CTRACE_FLOW_WAKE)
      continue;
    wakes++;
    ASSERT_EQ(e->reason, CTRACE_WAIT_SEM);
    ASSERT(e->from_thread != e->to_thread);
    ASSERT(e->from_ticks <= e->to_ticks);
    ASSERT(e->object != 0);
  }
  ASSERT_GT(wakes, 0);
  ASSERT_UINT_EQ(wakes, f.shared_waits_paired);
  ASSERT(f.shared_waits_paired <= f.shared_waits);
  ctrace_flows_free(&f);
  ctrace_reader_close(r);
  free(out);
  return 0;
}

/* tests/reader.py, written from docs/FORMAT.md, reads the new records as
 * ctrace dump --raw does (FD, SPAWN, SHARED traces). */
TEST_IMPL(treerec_second_reader_agrees) {
  if (system("python3 -c 'import sys; sys.exit(sys.version_info < (3, 7))' 2>/dev/null") != 0)
    RETURN_SKIP("python3 (3.7 or later) not found");
  const char *prog = PROG;
  const char *const progs[][4] = {{prog, "spawn", NULL}, {prog, "sem_threads", "20", NULL},
                                  {prog, "socketpair", "10", NULL}};
  for (int i = 0; i < 3; i++) {
    char name[32], *out;
    snprintf(name, sizeof name, "r%d.ctrace", i);
    char *file = strdup(test_path(name));
    ASSERT_EQ(run_traced(file, progs[i], &out), 0);
    char script[4200], doc[4200];
    snprintf(script, sizeof script, "%s/tests/reader.py", test_source_dir);
    snprintf(doc, sizeof doc, "%s/docs/FORMAT.md", test_source_dir);
    char *py[] = {"/usr/bin/env", "python3", script, file, doc, NULL};
    char *dump[] = {(char *)test_build_path("ctrace"), "dump", "--raw", "--no-tree", file, NULL};
    char *a = NULL, *b = NULL;
    ASSERT_EQ(test_run(py, NULL, &a, NULL), 0);
    ASSERT_EQ(test_run(dump, NULL, &b, NULL), 0);
    ASSERT_STR_EQ(a, b);
    ASSERT(strstr(a, i == 0 ? " 0x86 " : i == 1 ? " 0x88 " : " 0x87 "));
    free(a);
    free(b);
    free(out);
    free(file);
  }
  return 0;
}

/* Every process's file ends with how it ended: exit(), _exit(), a return
 * from main (EXIT with the status), a fatal signal (SIGNAL). */
TEST_IMPL(treerec_every_process_ends_with_status_or_signal) {
  const char *prog[] = {PROG, "ends", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("e.ctrace"), prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  ctrace_reader *t = open_tree(test_path("e.ctrace"));
  ASSERT(t);
  ASSERT_EQ(ctrace_reader_nprocesses(t), 5);
  int seen[4] = {0};
  for (uint32_t i = 0; i < ctrace_reader_nprocesses(t); i++) {
    const struct ctrace_process *p = ctrace_reader_process(t, i);
    if (p->parent < 0) {
      ASSERT(p->has_exit);
      ASSERT_EQ(p->exit_status, 0);
      continue;
    }
    if (p->signal) {
      ASSERT_EQ(p->signal, SIGTERM);
      seen[2]++;
      continue;
    }
    ASSERT(p->has_exit);
    seen[0] += p->exit_status == 7;
    seen[1] += p->exit_status == 3;
    seen[3] += p->exit_status == 5;
  }
  for (int k = 0; k < 4; k++)
    ASSERT_EQ(seen[k], 1);
  ctrace_reader_close(t);
  free(out);
  return 0;
}

TEST_IMPL(treerec_shared_cond_keys_match_across_fork) {
  return shared_across_fork("cond", "cnd", CTRACE_WAIT_COND);
}
