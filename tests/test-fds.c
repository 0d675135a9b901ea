/*
 * test-fds.c - fds the tracer learns about other than where the program
 * made them, and the links across processes they carry
 * (src/preload/flow.c, src/analyze/flows.c): a Unix-domain socket
 * connected by path pairs its two ends; fds an exec'd image was given
 * (above 2) are classified at their first use. The traced programs print
 * what they print untraced.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "task.h"
#include "trace-check.h"
#include "../src/analyze/flows.h"
#include "../src/analyze/states.h"
#include "../src/preload/fdbytes.h"

static const char *prog_path(void) {
  static char *p;
  if (!p)
    p = strdup(test_build_path("src/preload/prog_fdflow"));
  return p;
}
#define PROG prog_path()

/* `ctrace run -o path [opts] -- prog`: exit status, stdout in *out. */
static int run_traced(const char *path, const char *const *opts, const char *const *prog,
                      char **out) {
  char *err = NULL;
  int st = test_ctrace_run(path, opts, prog, out, &err);
  if (st != 0)
    fprintf(stderr, "# stderr: %s\n", err);
  free(err);
  return st;
}

static long field(const char *s, const char *key) {
  const char *p = strstr(s, key);
  if (!p)
    return -1;
  return strtol(p + strlen(key), NULL, 10);
}

static const uint64_t FD_ANY = UINT64_MAX;

/* FD records of r whose how is `how`: their uvarints (fd how dev ino type
 * peer) into v; how many. */
static size_t fd_recs(const ctrace_reader *r, uint64_t how, uint64_t v[][6], size_t max) {
  size_t n = 0;
  for (uint32_t ti = 0; ti < ctrace_reader_nthreads(r); ti++) {
    ctrace_cursor c;
    ctrace_cursor_init(&c, r, ti);
    ctrace_event ev;
    while (ctrace_cursor_next_record(&c, &ev)) {
      if (ev.kind != CTRACE_EV_FD)
        continue;
      uint64_t x[6] = {0};
      const uint8_t *p = ev.blob, *end = ev.blob + ev.blob_len;
      for (int i = 0; i < 6 && p && p < end; i++)
        p = ctrace__get_uvarint(p, end, &x[i]);
      if ((how == FD_ANY || x[1] == how) && n < max)
        memcpy(v[n++], x, sizeof x);
    }
  }
  return n;
}

/* The DATA edges of the tree at path over objects of kind object_kind:
 * between two processes, in time order; their bytes per direction
 * (from the first process of the tree = out[0], else out[1]). */
struct flowsum {
  int64_t bytes[2];
  size_t edges, wrong;
  uint64_t unmatched_read, unmatched_write;
};
static struct flowsum tree_flows(const char *path, unsigned object_kind) {
  struct flowsum s = {{0, 0}, 0, 0, 0, 0};
  ctrace_reader *r = NULL;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open_tree(path, &r, err, sizeof err) != 0) {
    fprintf(stderr, "# %s: %s\n", path, err);
    s.wrong = 1;
    return s;
  }
  struct ctrace_flows f;
  if (ctrace_flows_build(r, &f) != 0) {
    s.wrong = 1;
    ctrace_reader_close(r);
    return s;
  }
  for (size_t i = 0; i < f.n; i++) {
    const struct ctrace_flow *e = &f.v[i];
    if (e->kind != CTRACE_FLOW_DATA || e->object_kind != object_kind)
      continue;
    uint32_t pf = ctrace_reader_thread(r, e->from_thread)->process;
    uint32_t pt = ctrace_reader_thread(r, e->to_thread)->process;
    if (pf == pt || e->from_ticks > e->to_ticks) {
      fprintf(stderr, "# bad edge %zu: procs %u %u\n", i, pf, pt);
      s.wrong++;
    }
    s.edges++;
    s.bytes[pf == 0 ? 0 : 1] += (int64_t)e->bytes;
  }
  s.unmatched_read = f.unmatched_read_bytes;
  s.unmatched_write = f.unmatched_write_bytes;
  ctrace_flows_free(&f);
  ctrace_reader_close(r);
  return s;
}

static const char *sock_path(void) {
  static char p[64];
  snprintf(p, sizeof p, "/tmp/ctrace-fds-%d.sock", (int)getpid());
  return p;
}

/*
 * A server accepts on a socket bound to a path; an exec'd client connects
 * to that path by name. The accepted end's FD record names the client's
 * socket as its peer (the kernel's socket diagnostics), so the two
 * processes' streams pair: every byte the client wrote is read by the
 * server through DATA edges of kind "unix", and every answer back.
 */
static int unix_by_path(const char *name, const char *const *opts) {
  char n[16];
  snprintf(n, sizeof n, "%d", 40);
  const char *prog[] = {PROG, "unix", sock_path(), n, NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path(name), opts, prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  long total = field(out, "total ");
  ASSERT_GT(total, 0);
  ctrace_reader *r = open_trace(test_path(name));
  uint64_t acc[4][6];
  ASSERT_EQ(fd_recs(r, CTRACE_FD_ACCEPT, acc, 4), 1);
  ASSERT_EQ(acc[0][4], 12); /* a socket */
  ASSERT(acc[0][5] != 0);   /* its peer's inode */
  ctrace_reader_close(r);
  struct flowsum s = tree_flows(test_path(name), CTRACE_FLOW_UNIX);
  ASSERT_EQ(s.wrong, 0);
  ASSERT_GT(s.edges, 0);
  /* client (not the first process) to server: every byte; server to
   * client: one answer byte per read */
  ASSERT_EQ(s.bytes[1], total);
  ASSERT_GT(s.bytes[0], 0);
  ASSERT_UINT_EQ(s.unmatched_read, 0);
  ASSERT_UINT_EQ(s.unmatched_write, 0);
  free(out);
  return 0;
}

TEST_IMPL(fds_unix_socket_by_path_paired) {
  static const char *const every_call[] = {"--min-duration", "0", NULL};
  return unix_by_path("u.ctrace", every_call);
}

/*
 * A forked child puts a pipe's write end on fd 5 and a socketpair end on
 * fd 6 and execs: the new image never saw them made, and its trace start
 * records 0-2 only. Its first write on each classifies the fd (one fstat)
 * and records its object (how 6), so its writes pair with the parent's
 * reads: every byte, over the pipe and over the socketpair.
 */
static int inherited_fd5(const char *name, const char *const *opts) {
  const char *prog[] = {PROG, "inherit", "30", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path(name), opts, prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  long pipe_bytes = field(out, "pipe "), sock_bytes = field(out, "sock ");
  ASSERT_GT(pipe_bytes, 0);
  struct flowsum p = tree_flows(test_path(name), CTRACE_FLOW_PIPE);
  struct flowsum s = tree_flows(test_path(name), CTRACE_FLOW_SOCKETPAIR);
  ASSERT_EQ(p.wrong + s.wrong, 0);
  /* written by the exec'd child (not the first process), read by the
   * parent (the first) */
  ASSERT_EQ(p.bytes[1], pipe_bytes);
  ASSERT_EQ(s.bytes[1], sock_bytes);
  ASSERT_EQ(p.bytes[0] + s.bytes[0], 0);
  ASSERT_UINT_EQ(p.unmatched_read + p.unmatched_write, 0);
  free(out);
  return 0;
}

TEST_IMPL(fds_exec_inherited_fd5_classified_at_first_use) {
  static const char *const every_call[] = {"--min-duration", "0", NULL};
  return inherited_fd5("i.ctrace", every_call);
}

/*
 * The same at the default minimum duration: most of these reads and writes
 * are far shorter than 5 us and are no SYSCALL events, yet every byte is
 * paired, through the IPC_IO records of calls on pipes and local sockets.
 */
TEST_IMPL(fds_unix_socket_paired_at_default_min_duration) {
  return unix_by_path("ud.ctrace", NULL);
}

TEST_IMPL(fds_exec_inherited_fd5_paired_at_default_min_duration) {
  return inherited_fd5("id.ctrace", NULL);
}

/* `sh -c 'writer | reader'` at the default minimum duration: the stages
 * pair every byte over the shell's pipe; the short calls are IPC_IO
 * records, not SYSCALL events (the timeline keeps its rule). */
TEST_IMPL(fds_shell_pipeline_paired_at_default_min_duration) {
  char cmd[4096];
  const char *tr = test_build_path("src/preload/prog_treerec");
  snprintf(cmd, sizeof cmd, "%s writer 200 | %s reader", tr, tr);
  const char *prog[] = {"/bin/sh", "-c", cmd, NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("sh.ctrace"), NULL, prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  long total = field(out, "read ");
  ASSERT_GT(total, 0);
  ctrace_reader *r = NULL;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_tree(test_path("sh.ctrace"), &r, err, sizeof err), 0);
  ASSERT(ctrace_reader_nevents_kind(r, CTRACE_EV_IPC_IO) > 0);
  struct ctrace_flows f;
  ASSERT_EQ(ctrace_flows_build(r, &f), 0);
  uint64_t sum = 0;
  for (size_t i = 0; i < f.n; i++) {
    const struct ctrace_flow *e = &f.v[i];
    ASSERT_EQ(e->kind, CTRACE_FLOW_DATA);
    ASSERT_EQ(e->object_kind, CTRACE_FLOW_PIPE);
    ASSERT(ctrace_reader_thread(r, e->from_thread)->process !=
           ctrace_reader_thread(r, e->to_thread)->process);
    sum += e->bytes;
  }
  ASSERT_UINT_EQ(sum, (uint64_t)total);
  ASSERT_UINT_EQ(f.unmatched_read_bytes, 0);
  ASSERT_UINT_EQ(f.unmatched_write_bytes, 0);
  ctrace_flows_free(&f);
  ctrace_reader_close(r);
  free(out);
  return 0;
}

/* A read on a pipe waits for another process's data, as on a socket: its
 * SYSCALL has class NET and the thread is in the "net" state meanwhile
 * (the parent's pipe's read end: its first FD record of how pipe). */
TEST_IMPL(fds_pipe_read_is_net_state) {
  static const char *const every_call[] = {"--min-duration", "0", NULL};
  const char *prog[] = {PROG, "inherit", "10", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("pn.ctrace"), every_call, prog, &out), 0);
  ctrace_reader *r = open_trace(test_path("pn.ctrace"));
  uint64_t pv[2][6];
  ASSERT_EQ(fd_recs(r, CTRACE_FD_PIPE, pv, 2), 2);
  size_t reads = 0;
  for (uint32_t ti = 0; ti < ctrace_reader_nthreads(r); ti++) {
    ctrace_cursor c;
    ctrace_cursor_init(&c, r, ti);
    ctrace_event ev;
    while (ctrace_cursor_next(&c, &ev)) {
      if (ev.kind != CTRACE_EV_SYSCALL)
        continue;
      struct ctrace_ev_syscall s = CTRACE_EV(syscall, &ev);
      if (s.call != CTRACE_CALL_read || s.fd != pv[0][0])
        continue;
      ASSERT_EQ(s.class, CTRACE_SC_NET);
      ASSERT_EQ(ctrace_state_of_syscall(s.class), CTRACE_ST_NET);
      reads++;
    }
  }
  ASSERT_GT(reads, 0);
  ctrace_reader_close(r);
  free(out);
  return 0;
}

/*
 * Process-shared objects beyond pthread mutexes, condition variables and
 * semaphores: a PTHREAD_PROCESS_SHARED rwlock, and C11's mtx_t and cnd_t
 * (glibc's pthread objects, made shared). Parent and child take turns
 * holding each while the other is blocked on it: the rwlock's waits get
 * wake edges from pthread_rwlock_unlock, the mutex's from mtx_unlock, the
 * condition variable's from cnd_signal, each from the other process.
 */
TEST_IMPL(fds_shared_rwlock_and_c11_wake_edges) {
  const char *prog[] = {PROG, "sync", "20", NULL};
  char *out;
  ASSERT_EQ(run_traced(test_path("sy.ctrace"), NULL, prog, &out), 0);
  ASSERT(test_same_untraced(prog, out));
  ctrace_reader *r = NULL;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_tree(test_path("sy.ctrace"), &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 2);
  struct ctrace_flows f;
  ASSERT_EQ(ctrace_flows_build(r, &f), 0);
  size_t rw = 0, mtx = 0, cnd = 0;
  for (size_t i = 0; i < f.n; i++) {
    const struct ctrace_flow *e = &f.v[i];
    if (e->kind != CTRACE_FLOW_WAKE)
      continue;
    ASSERT(ctrace_reader_thread(r, e->from_thread)->process !=
           ctrace_reader_thread(r, e->to_thread)->process);
    ASSERT(e->from_ticks <= e->to_ticks);
    if (e->reason == CTRACE_WAIT_RWLOCK_WRITE || e->reason == CTRACE_WAIT_RWLOCK_READ)
      rw++;
    else if (e->reason == CTRACE_WAIT_MUTEX)
      mtx++;
    else if (e->reason == CTRACE_WAIT_COND)
      cnd++;
  }
  fprintf(stderr, "# shared waits %llu, paired %llu: rwlock %zu, mtx %zu, cnd %zu\n",
          (unsigned long long)f.shared_waits, (unsigned long long)f.shared_waits_paired, rw, mtx,
          cnd);
  /* each holder waited until the other was blocked: every round's release
   * woke a waiter of the other process */
  ASSERT_GE(rw, 20);
  ASSERT_GE(mtx, 20);
  ASSERT_GE(cnd, 20);
  ctrace_flows_free(&f);
  ctrace_reader_close(r);
  free(out);
  return 0;
}

/*
 * The preload's per-fd bytes (an fd's class, whether its object was
 * recorded) past fd 65535: a server with more connections once lost its
 * pipes' and local sockets' short reads and writes (no IPC_IO) and their
 * closes. Tested on the table itself: this machine's limit on open files
 * stops below 65536 and only root with CAP_SYS_RESOURCE may raise it.
 */
static struct ctrace__pl_fd_bytes fdb;

struct fdb_race {
  int fd;
  uint8_t v;
};
static void *fdb_set(void *p) {
  struct fdb_race *r = p;
  ctrace__pl_fd_byte_set(&fdb, r->fd, r->v);
  return NULL;
}

TEST_IMPL(fds_byte_table_keeps_fds_past_65535) {
  const int fds[] = {0, 65535, 65536, 70000, 131071, 1 << 20, (1 << 26) - 1};
  for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
    ASSERT_EQ(ctrace__pl_fd_byte(&fdb, fds[i]), 0);
    ctrace__pl_fd_byte_set(&fdb, fds[i], (uint8_t)(i + 1));
  }
  for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
    ASSERT_EQ(ctrace__pl_fd_byte(&fdb, fds[i]), (uint8_t)(i + 1));
  ASSERT_EQ(ctrace__pl_fd_byte(&fdb, 70001), 0); /* a neighbour on the same page */
  ctrace__pl_fd_byte_set(&fdb, 70000, 0);         /* forgotten */
  ASSERT_EQ(ctrace__pl_fd_byte(&fdb, 70000), 0);
  /* past the pages, and negative: not kept, never a fault */
  ctrace__pl_fd_byte_set(&fdb, 1 << 26, 9);
  ASSERT_EQ(ctrace__pl_fd_byte(&fdb, 1 << 26), 0);
  ctrace__pl_fd_byte_set(&fdb, -1, 9);
  ASSERT_EQ(ctrace__pl_fd_byte(&fdb, -1), 0);
  /* forgetting an fd of a page never stored to maps nothing */
  ctrace__pl_fd_byte_set(&fdb, 5 << 16, 0);
  ASSERT(atomic_load(&fdb.high[5]) == NULL);
  /* threads storing into one new page at once: one page, every byte kept */
  pthread_t th[8];
  struct fdb_race rs[8];
  for (int i = 0; i < 8; i++) {
    rs[i] = (struct fdb_race){(7 << 16) + i * 1000, (uint8_t)(40 + i)};
    ASSERT_EQ(pthread_create(&th[i], NULL, fdb_set, &rs[i]), 0);
  }
  for (int i = 0; i < 8; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(ctrace__pl_fd_byte(&fdb, rs[i].fd), rs[i].v);
  return 0;
}
