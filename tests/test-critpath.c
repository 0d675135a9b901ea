/*
 * test-critpath.c - the critical path and the comparison of two traces, on
 * programs whose chains and delays are known: tests/progs/critchain.c (a
 * request waits on a worker, which waits on a lock held by a thread that
 * sleeps 20 ms), pigz compressing a few MB with two threads, and the HTTP
 * example with its database delay at 50 and 80 ms; tests/progs/tree.c for a
 * read that waits on a pipe another process writes. Durations are checked
 * against what the programs do, with room for a loaded machine; the
 * segments must tile each interval exactly.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/analyze/critpath.h"
#include "../src/analyze/diff.h"
#include "../src/analyze/flows.h"
#include "../src/serve/view.h"
#include "task.h"

/* Traces argv under `ctrace run -o path`; asserts it exits 0. With
 * scheduling data when the kernel allows it (a wait's span then ends at its
 * wake-up, and the time after it is runnable, then running); CTRACE_SCHED
 * in the test's environment can turn it off. */
static void trace(const char *path, char *const *prog) {
  char *err = NULL;
  int st = test_ctrace_run(path, NULL, (const char *const *)prog, NULL, &err);
  if (st != 0)
    TEST_FAIL_("tracing %s failed (%d): %s", prog[0], st, err ? err : "");
  free(err);
}

struct opened {
  ctrace_reader *r;
  struct ctrace_timeline *tl;
};
static struct opened open_tl(const char *path) {
  struct opened o;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &o.r, err, sizeof err) != 0)
    TEST_FAIL_("cannot read %s: %s", path, err);
  ASSERT_EQ(ctrace_timeline_build(o.r, NULL, NULL, &o.tl), 0);
  return o;
}
static void close_tl(struct opened *o) {
  ctrace_timeline_free(o->tl);
  ctrace_reader_close(o->r);
}

/* The segments tile [start, end]: contiguous, non-empty, in order. */
static void assert_tiles(const struct ctrace_cp *cp) {
  ASSERT_GT(cp->n, 0);
  ASSERT_EQ(cp->v[0].start, cp->start);
  ASSERT_EQ(cp->v[cp->n - 1].end, cp->end);
  int64_t sum = 0;
  for (size_t i = 0; i < cp->n; i++) {
    ASSERT_GT(cp->v[i].end, cp->v[i].start);
    if (i)
      ASSERT_EQ(cp->v[i].start, cp->v[i - 1].end);
    sum += cp->v[i].end - cp->v[i].start;
  }
  ASSERT_EQ(sum, cp->end - cp->start);
}

static const char *tname(const struct ctrace_timeline *tl, uint32_t th, char *buf, size_t size) {
  buf[0] = 0;
  if (th < tl->nthreads)
    ctrace_reader_strcpy(tl->r, ctrace_reader_thread(tl->r, tl->threads[th].index)->name, buf,
                         size);
  return buf;
}

static const struct ctrace_tl_task *task_named(const struct ctrace_timeline *tl, const char *name) {
  uint32_t sid = ctrace_timeline_find_string(tl, name, strlen(name));
  for (size_t i = 0; sid && i < tl->ntasks; i++)
    if (tl->tasks[i].name == sid && !tl->tasks[i].open)
      return &tl->tasks[i];
  return NULL;
}

TEST_IMPL(critpath_known_chain_three_threads) {
  const char *path = test_path("chain.ctrace");
  char *prog[] = {(char *)test_build_path("src/preload/prog_critchain"), NULL};
  trace(path, prog);
  struct opened o = open_tl(path);
  const struct ctrace_tl_task *t = task_named(o.tl, "request");
  ASSERT(t);
  struct ctrace_cp cp;
  ASSERT_EQ(ctrace_critpath_task(o.tl, NULL, t->id, &cp), 0);
  assert_tiles(&cp);
  /* Walking back from the end: the request, the worker that woke it, the
   * holder whose unlock woke the worker, asleep 20 ms (before that, the
   * hand-shake that started them). */
  char nm[64];
  for (size_t i = 0; i < cp.n; i++) {
    char d[512];
    fprintf(stderr, "# %s %" PRId64 " ns: %s\n", tname(o.tl, cp.v[i].thread, nm, sizeof nm),
            cp.v[i].end - cp.v[i].start, ctrace_cp_describe(o.tl, &cp.v[i], d, sizeof d));
  }
  const char *want[3] = {"request", "worker", "holder"};
  int n = 0;
  uint32_t last = UINT32_MAX;
  size_t sleep_at = 0;
  for (size_t i = cp.n; i-- > 0 && n <= 3;) {
    if (cp.v[i].thread == last)
      continue;
    last = cp.v[i].thread;
    if (n == 3)
      break;
    ASSERT_STR_EQ(tname(o.tl, last, nm, sizeof nm), want[n]);
    n++;
    sleep_at = i;
  }
  ASSERT_EQ(n, 3);
  /* the holder's last segments before its hand-off: running, then the
   * sleep (not necessarily the longest segment: on a loaded machine a
   * thread can wait longer than 20 ms for a CPU after a wake-up) */
  int64_t sleep_ns = 0;
  for (size_t i = sleep_at + 1; i-- > 0 && cp.v[i].thread == cp.v[sleep_at].thread;)
    if (cp.v[i].state == CTRACE_ST_SLEEP)
      sleep_ns += cp.v[i].end - cp.v[i].start;
  ASSERT_GE(sleep_ns, 20000000); /* nanosleep(20 ms) sleeps at least that */
  ASSERT_LE(sleep_ns, cp.end - cp.start);
  /* every hand-off: the waker's stack, and the woken thread's wait after it
   * (holder -> worker -> request at the end) */
  int handoffs = 0;
  for (size_t i = 0; i + 1 < cp.n; i++)
    if (cp.v[i].flags & CTRACE_CP_HANDOFF) {
      ASSERT_EQ(cp.v[i].via, CTRACE_CP_VIA_WAKE);
      ASSERT_EQ(cp.v[i].next, cp.v[i + 1].thread);
      ASSERT(cp.v[i + 1].flags & CTRACE_CP_AFTER_WAKE);
      ASSERT_EQ(cp.v[i + 1].woken_by, cp.v[i].thread);
      ASSERT_NE(cp.v[i].stack, 0); /* the waker's stack at the hand-off */
      handoffs++;
    }
  ASSERT_GE(handoffs, 2);
  /* with the index of calls (what the aggregate uses): the same chain */
  struct ctrace_cp_index *ix;
  ASSERT_EQ(ctrace_critpath_index_build(o.tl, &ix), 0);
  struct ctrace_cp cp2;
  ASSERT_EQ(ctrace_critpath_ix(o.tl, ix, NULL, cp.thread, cp.start, cp.end, &cp2), 0);
  ASSERT_EQ(cp2.n, cp.n);
  for (size_t i = 0; i < cp.n; i++) {
    const struct ctrace_cp_seg *x = &cp.v[i], *y = &cp2.v[i];
    ASSERT_EQ(x->start, y->start);
    ASSERT_EQ(x->end, y->end);
    ASSERT_EQ(x->thread, y->thread);
    ASSERT_EQ(x->state, y->state);
    ASSERT_EQ(x->flags, y->flags);
    ASSERT_EQ(x->kind, y->kind);
    ASSERT_UINT_EQ(x->object, y->object);
    ASSERT_UINT_EQ(x->stack, y->stack);
    ASSERT_EQ(x->next, y->next);
  }
  ctrace_critpath_free(&cp2);
  ctrace_critpath_index_free(ix);
  ctrace_critpath_free(&cp);
  close_tl(&o);
  return TEST_OK;
}

/* A shell waiting for its child (a process tree): the path goes into the
 * child process and its 50 ms sleep, inferred from its end as a join is. */
TEST_IMPL(critpath_parent_wait_continues_on_child) {
  const char *path = test_path("child.ctrace");
  char *prog[] = {"/bin/sh", "-c", "/bin/sleep 0.05; exit 0", NULL};
  trace(path, prog);
  char err[CTRACE_READ_ERRLEN], tid[16];
  ctrace_reader *r;
  ASSERT_EQ(ctrace_reader_open(path, &r, err, sizeof err), 0);
  snprintf(tid, sizeof tid, "%u", ctrace_reader_pid(r));
  ctrace_reader_close(r);
  char *argv[] = {(char *)test_build_path("ctrace"), "critical-path", "--tid", tid, "--no-symbols",
                  (char *)path, NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  fprintf(stderr, "%s", out);
  ASSERT_STR_CONTAINS(out, "child process");
  ASSERT_STR_CONTAINS(out, "ended (inferred");
  ASSERT_STR_CONTAINS(out, "asleep");
  ASSERT_STR_CONTAINS(out, "ending the wait for a child of thread");
  free(out);
  return TEST_OK;
}

TEST_IMPL(critpath_socket_wait_says_not_traced) {
  const char *path = test_path("http.ctrace");
  char *prog[] = {(char *)test_build_path("examples/http_task"), (char *)test_path("x.ctrace"), "2",
                  "20", NULL};
  trace(path, prog);
  struct opened o = open_tl(path);
  const struct ctrace_tl_task *t = task_named(o.tl, "client.get");
  ASSERT(t);
  struct ctrace_cp cp;
  ASSERT_EQ(ctrace_critpath_task(o.tl, NULL, t->id, &cp), 0);
  assert_tiles(&cp);
  /* The client waits in read for the handler's answer: no wake-up edge for
   * sockets, so the chain stays on the client and says so. */
  int found = 0;
  for (size_t i = 0; i < cp.n; i++) {
    char d[512];
    if (cp.v[i].state == CTRACE_ST_NET && (cp.v[i].flags & CTRACE_CP_NO_WAKER)) {
      ASSERT_STR_CONTAINS(ctrace_cp_describe(o.tl, &cp.v[i], d, sizeof d), "not traced");
      found |= cp.v[i].end - cp.v[i].start >= 15000000; /* the 20 ms database */
    }
  }
  ASSERT(found);
  ctrace_critpath_free(&cp);
  close_tl(&o);
  return TEST_OK;
}

/* Deterministic, compressible input: words from a small LCG. */
static void make_input(const char *path, size_t size) {
  static const char *const words[] = {"alpha ", "beta ", "gamma ", "delta ", "trace ",
                                      "mutex ", "cond\n", "wait ", "wake ", "pigz "};
  char *buf = malloc(size);
  ASSERT(buf);
  uint32_t x = 12345;
  size_t n = 0;
  while (n < size) {
    x = x * 1103515245u + 12345u;
    const char *w = words[(x >> 16) % 10];
    for (size_t i = 0; w[i] && n < size; i++)
      buf[n++] = w[i];
  }
  ASSERT_EQ(test_write_file(path, buf, size), 0);
  free(buf);
}

TEST_IMPL(critpath_pigz_dominated_by_compression) {
  if (access("/usr/bin/pigz", X_OK) != 0)
    RETURN_SKIP("pigz not installed");
  const char *in = test_path("in.dat");
  char inbuf[512], path[512];
  snprintf(inbuf, sizeof inbuf, "%s", in);
  snprintf(path, sizeof path, "%s", test_path("pigz.ctrace"));
  make_input(inbuf, 4u << 20);
  char *prog[] = {"/usr/bin/pigz", "-p", "2", "-n", "-k", inbuf, NULL};
  trace(path, prog);
  struct opened o = open_tl(path);
  /* the whole run: the main thread (the reader of the input), first to last */
  ASSERT_GE(o.tl->nthreads, 3);
  const struct ctrace_tl_thread *m = &o.tl->threads[0];
  ASSERT_EQ(ctrace_reader_thread(o.r, m->index)->tid, ctrace_reader_pid(o.r));
  struct ctrace_cp cp;
  ASSERT_EQ(ctrace_critpath(o.tl, NULL, 0, m->first_ns, m->last_ns, &cp), 0);
  assert_tiles(&cp);
  int64_t on_main = 0, elsewhere = 0, most = 0;
  uint32_t most_th = 0;
  for (uint32_t th = 0; th < o.tl->nthreads; th++) {
    int64_t ns = 0;
    for (size_t i = 0; i < cp.n; i++)
      if (cp.v[i].thread == th)
        ns += cp.v[i].end - cp.v[i].start;
    fprintf(stderr, "# thread %u: %" PRId64 " ns on the critical path\n", o.tl->threads[th].tid, ns);
    if (th == 0)
      on_main = ns;
    else
      elsewhere += ns;
    if (ns > most) {
      most = ns;
      most_th = th;
    }
  }
  /* compressing 4 MB takes longer than reading it: most of the path runs
   * through the compression threads (by 2x or more on a quiet machine;
   * under ASan in a loaded CI run the main thread's preempted stretches
   * brought it to 1.5x) */
  ASSERT_GT(elsewhere, on_main);
  ASSERT_NE(most_th, 0);
  ctrace_critpath_free(&cp);
  close_tl(&o);
  return TEST_OK;
}

static const char *param(void *ctx, const char *key) {
  const char *const *kv = ctx;
  for (; kv[0]; kv += 2)
    if (strcmp(kv[0], key) == 0)
      return kv[1];
  return NULL;
}

TEST_IMPL(critpath_cli_and_api_agree) {
  const char *path = test_path("chain2.ctrace");
  char pbuf[512];
  snprintf(pbuf, sizeof pbuf, "%s", path);
  char *prog[] = {(char *)test_build_path("src/preload/prog_critchain"), NULL};
  trace(pbuf, prog);
  struct ctrace_view v;
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open(pbuf, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&v, r, pbuf, NULL, NULL), 0);
  const struct ctrace_tl_task *req = task_named(v.tl, "request");
  ASSERT(req);
  char id[24];
  snprintf(id, sizeof id, "%" PRIu64, req->id);
  /* text: the chain, the summary and the hand-off stacks */
  char *argv[] = {(char *)test_build_path("ctrace"), "critical-path", "--task", id, pbuf, NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "summary: of ");
  ASSERT_STR_CONTAINS(out, "sleep on holder");
  ASSERT_STR_CONTAINS(out, "woken by thread");
  ASSERT_STR_CONTAINS(out, "critchain.c");
  free(out);
  char *jargv[] = {(char *)test_build_path("ctrace"), "critical-path", "--task", id, "--json", pbuf, NULL};
  char *json = NULL;
  ASSERT_EQ(test_run(jargv, NULL, &json, NULL), 0);
  /* the API answers the same object */
  const char *kv[] = {"kind", "task", "id", id, NULL};
  struct ctrace_reply rep;
  ctrace_api_handle(&v, "/api/critpath", param, (void *)kv, &rep);
  ASSERT_EQ(rep.status, 200);
  ASSERT_EQ(rep.len, strlen(json));
  ASSERT_MEM_HEX_EQ(rep.body, json, rep.len);
  ASSERT_STR_CONTAINS(json, "\"handoff\":{\"tid\":");
  free(rep.body);
  /* bad parameters are 400 */
  const char *bad[][7] = {{NULL}, {"kind", "task", NULL}, {"kind", "task", "id", "999", NULL},
                          {"kind", "span", "tid", "1", "ns", "5", NULL}, {"kind", "x", NULL}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ctrace_api_handle(&v, "/api/critpath", param, (void *)bad[i], &rep);
    ASSERT_EQ(rep.status, 400);
    free(rep.body);
  }
  /* a blocked span: the worker's wait on the lock */
  uint32_t w = UINT32_MAX;
  char nm[64];
  for (uint32_t i = 0; i < v.tl->nthreads; i++)
    if (strcmp(tname(v.tl, i, nm, sizeof nm), "worker") == 0)
      w = i;
  ASSERT_NE(w, UINT32_MAX);
  struct ctrace_cp cp;
  int64_t s, e;
  unsigned st;
  /* the worker's last long wait: on the lock (the one before waits for "go") */
  int64_t t = v.tl->threads[w].first_ns, ls = 0, le = 0, ss, se;
  while (ctrace_timeline_span_at(v.tl, w, t, &ss, &se, &st) == 0) {
    if (st == CTRACE_ST_SYNC && se - ss > 10000000)
      ls = ss, le = se;
    t = se;
  }
  ASSERT(le > ls);
  s = ls;
  e = le;
  ASSERT_EQ(ctrace_critpath_span(v.tl, NULL, w, (s + e) / 2, &cp), 0);
  assert_tiles(&cp);
  ASSERT_EQ(cp.start, s);
  ASSERT_EQ(cp.end, e);
  ASSERT_STR_EQ(tname(v.tl, cp.v[0].thread, nm, sizeof nm), "holder");
  ctrace_critpath_free(&cp);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  free(json);
  return TEST_OK;
}

/* A walk reads a thread's events from marks it keeps per batch (decoded
 * once per walk): on long paths across many batches (a synthetic trace of
 * workers handing requests on by wake-ups), the plain walk gives what the
 * walk over the index of calls (one pass over every event, no marks)
 * gives, over each thread's life and over a window inside it; and the time
 * per thread adds up to the path's, each thread once, in order of first
 * appearance. */
TEST_IMPL(critpath_long_paths_same_as_indexed) {
  char *file = strdup(test_path("long.ctrace"));
  /* enough events for several 64 KiB batches a worker (format 1.3) */
  char *gen[] = {(char *)test_build_path("bench/gen_trace"), file, "160000", "4", NULL};
  ASSERT_EQ(test_run(gen, NULL, NULL, NULL), 0);
  struct opened o = open_tl(file);
  struct ctrace_cp_index *ix;
  ASSERT_EQ(ctrace_critpath_index_build(o.tl, &ix), 0);
  uint32_t maxb = 0;
  size_t longest = 0;
  for (uint32_t t = 0; t < o.tl->nthreads; t++) {
    const struct ctrace_tl_thread *T = &o.tl->threads[t];
    uint32_t nb = ctrace_reader_thread(o.r, T->index)->nbatches;
    maxb = nb > maxb ? nb : maxb;
    int64_t third = (T->last_ns - T->first_ns) / 3;
    int64_t ranges[2][2] = {{T->first_ns, T->last_ns}, {T->first_ns + third, T->last_ns - third}};
    for (int k = 0; k < 2; k++) {
      struct ctrace_cp a, b;
      ASSERT_EQ(ctrace_critpath(o.tl, NULL, t, ranges[k][0], ranges[k][1], &a), 0);
      ASSERT_EQ(ctrace_critpath_ix(o.tl, ix, NULL, t, ranges[k][0], ranges[k][1], &b), 0);
      assert_tiles(&a);
      ASSERT_EQ(a.n, b.n);
      for (size_t i = 0; i < a.n; i++) {
        const struct ctrace_cp_seg *x = &a.v[i], *y = &b.v[i];
        ASSERT_EQ(x->start, y->start);
        ASSERT_EQ(x->end, y->end);
        ASSERT_EQ(x->thread, y->thread);
        ASSERT_EQ(x->state, y->state);
        ASSERT_EQ(x->flags, y->flags);
        ASSERT_EQ(x->ncalls, y->ncalls);
        ASSERT_EQ(x->kind, y->kind);
        ASSERT_UINT_EQ(x->reason, y->reason);
        ASSERT_UINT_EQ(x->call, y->call);
        ASSERT_UINT_EQ(x->object, y->object);
        ASSERT_UINT_EQ(x->fd, y->fd);
        ASSERT_UINT_EQ(x->stack, y->stack);
        ASSERT_EQ(x->woken_by, y->woken_by);
        ASSERT_EQ(x->next, y->next);
        ASSERT_EQ(x->region, y->region);
      }
      longest = a.n > longest ? a.n : longest;
      struct ctrace_cp_thread_ns *bt;
      long nbt = ctrace_cp_by_thread(&a, &bt);
      ASSERT_GT(nbt, 0);
      uint64_t sum = 0;
      size_t at = 0; /* each entry's thread first appears after the previous one's */
      for (long i = 0; i < nbt; i++) {
        size_t first = 0;
        while (first < a.n && a.v[first].thread != bt[i].thread)
          first++;
        ASSERT_LT(first, a.n);
        if (i)
          ASSERT_GT(first, at);
        at = first;
        for (long j = 0; j < i; j++)
          ASSERT_NE(bt[j].thread, bt[i].thread);
        sum += bt[i].ns;
      }
      ASSERT_EQ(sum, (uint64_t)(a.end - a.start));
      free(bt);
      ctrace_critpath_free(&a);
      ctrace_critpath_free(&b);
    }
  }
  fprintf(stderr, "# at most %" PRIu32 " batches a thread, paths of up to %zu segments\n", maxb,
          longest);
  ASSERT_GT(maxb, 4); /* the marks of several batches were used */
  ASSERT_GT(longest, 1000);
  ctrace_critpath_index_free(ix);
  close_tl(&o);
  free(file);
  return TEST_OK;
}

TEST_IMPL(diff_fail_if_grammar) {
  struct ctrace_diff_cond c;
  char err[256];
  ASSERT_EQ(ctrace_diff_cond_parse("p99(handleRequest) > 1.1x", &c, err, sizeof err), 0);
  ASSERT_STR_EQ(c.stat, "p99");
  ASSERT_STR_EQ(c.name, "handleRequest");
  ASSERT_STR_EQ(c.op, ">");
  ASSERT_EQ(c.mode, 1);
  ASSERT_EQ(ctrace_diff_cond_parse(" p50( db.query ) >= +20ms", &c, err, sizeof err), 0);
  ASSERT_STR_EQ(c.name, " db.query ");
  ASSERT_STR_EQ(c.op, ">=");
  ASSERT_EQ(c.mode, 2);
  ASSERT_EQ((int64_t)c.limit, 20000000);
  ASSERT_EQ(ctrace_diff_cond_parse("max(a(b)) < 100us", &c, err, sizeof err), 0);
  ASSERT_STR_EQ(c.name, "a(b)");
  ASSERT_EQ(c.mode, 0);
  ASSERT_EQ((int64_t)c.limit, 100000);
  ASSERT_EQ(ctrace_diff_cond_parse("count(x) <= 100", &c, err, sizeof err), 0);
  const char *bad[] = {"", "p98(x) > 1", "p99 > 1.1x", "p99() > 1x", "p99(x) = 1x", "p99(x) > 5",
                       "p99(x) > 5 ms", "p99(x) > -1.1x", "count(x) > 5ms", "p99(x) > 1.1y"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    ASSERT_EQ(ctrace_diff_cond_parse(bad[i], &c, err, sizeof err), -1);
    ASSERT_NE(err[0], 0);
  }
  char *argv[] = {(char *)test_build_path("ctrace"), "diff", "--fail-if", "p99(x) >", "a", "b", NULL};
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 2);
  return TEST_OK;
}

/* Two HTTP-example traces of 20 requests each (enough that a few slow
 * ones on a loaded machine do not hide a difference), the database at ms_a and ms_b. */
static void http_pair(char *a, char *b, size_t size, const char *ms_a, const char *ms_b) {
  snprintf(a, size, "%s", test_path("before.ctrace"));
  snprintf(b, size, "%s", test_path("after.ctrace"));
  char *pa[] = {(char *)test_build_path("examples/http_task"), (char *)test_path("x.ctrace"), "20",
                (char *)ms_a, NULL};
  trace(a, pa);
  char *pb[] = {(char *)test_build_path("examples/http_task"), (char *)test_path("y.ctrace"), "20",
                (char *)ms_b, NULL};
  trace(b, pb);
}

TEST_IMPL(diff_http_delay_regression) {
  char a[512], b[512];
  http_pair(a, b, sizeof a, "50", "80");
  struct opened oa = open_tl(a), ob = open_tl(b);
  struct ctrace_diff_opts opts = CTRACE_DIFF_OPTS_DEFAULT;
  struct ctrace_diff d;
  ASSERT_EQ(ctrace_diff_build(oa.tl, ob.tl, &opts, &d), 0);
  const struct ctrace_diff_name *h = ctrace_diff_find(&d, "handleRequest");
  ASSERT(h);
  ASSERT_EQ(h->a.count, 20);
  ASSERT_EQ(h->b.count, 20);
  int64_t delta = h->b.p50 - h->a.p50;
  fprintf(stderr, "# handleRequest p50 %" PRId64 " -> %" PRId64 " ns (%+" PRId64 "), p = %g\n",
          h->a.p50, h->b.p50, delta, h->p);
  ASSERT_GE(delta, 20000000); /* about +30 ms */
  ASSERT_LE(delta, 40000000);
  ASSERT(h->significant & 1);
  ASSERT(h->p < opts.alpha);
  /* the regressions come first */
  ASSERT(d.names[0].significant);
  ASSERT_GT(d.names[0].b.p50, d.names[0].a.p50);
  ctrace_diff_free(&d);
  close_tl(&oa);
  close_tl(&ob);
  /* the command: exit 1 when the condition holds, 0 when it does not */
  char *out = NULL, *err = NULL;
  char *argv[] = {(char *)test_build_path("ctrace"), "diff", "--fail-if", "p50(handleRequest) > 1.1x",
                  a, b, NULL};
  ASSERT_EQ(test_run(argv, NULL, &out, &err), 1);
  ASSERT_STR_CONTAINS(out, "task handleRequest");
  ASSERT_STR_CONTAINS(out, "SIGNIFICANT: slower");
  ASSERT_STR_CONTAINS(err, "HOLDS");
  free(out);
  free(err);
  char *ok[] = {(char *)test_build_path("ctrace"), "diff", "--fail-if", "p50(handleRequest) > 2x",
                "--fail-if", "p50(db.query) < +10ms", a, b, NULL};
  ASSERT_EQ(test_run(ok, NULL, NULL, NULL), 0);
  char *missing[] = {(char *)test_build_path("ctrace"), "diff", "--fail-if", "p50(nothing) > 2x", a,
                     b, NULL};
  ASSERT_EQ(test_run(missing, NULL, NULL, NULL), 1);
  /* blocking profiles for pprof -diff_base */
  char pa[600], pb[600];
  snprintf(pa, sizeof pa, "%s.pb.gz", a);
  snprintf(pb, sizeof pb, "%s.pb.gz", b);
  char *prof[] = {(char *)test_build_path("ctrace"), "diff", "--pprof-base", pa, "--pprof", pb, a, b,
                  NULL};
  ASSERT_EQ(test_run(prof, NULL, NULL, NULL), 0);
  size_t la, lb;
  char *da = test_read_file(pa, &la), *db = test_read_file(pb, &lb);
  ASSERT(da && db && la > 20 && lb > 20);
  ASSERT_EQ((unsigned char)da[0], 0x1f); /* gzip */
  ASSERT_EQ((unsigned char)db[1], 0x8b);
  free(da);
  free(db);
  if (access("/usr/bin/go", X_OK) == 0 || access("/usr/local/go/bin/go", X_OK) == 0) {
    char *go[] = {access("/usr/bin/go", X_OK) == 0 ? "/usr/bin/go" : "/usr/local/go/bin/go", "tool",
                  "pprof", "-top", "-diff_base", pa, pb, NULL};
    char *top = NULL;
    ASSERT_EQ(test_run(go, NULL, &top, NULL), 0);
    ASSERT_STR_CONTAINS(top, "handle");
    free(top);
  }
  return TEST_OK;
}

TEST_IMPL(diff_identical_runs_no_significant_change) {
  /* Two runs are the same program only on a steady machine: a burst of
   * load during one of them (other CI lanes) really slows it, and diff is
   * right to say so. Up to three pairs: one must compare equal. */
  for (int attempt = 0;; attempt++) {
    char a[512], b[512];
    http_pair(a, b, sizeof a, "50", "50");
    char *out = NULL;
    char *argv[] = {(char *)test_build_path("ctrace"), "diff", "--fail-if",
                    "p50(handleRequest) > 1.1x", a, b, NULL};
    int st = test_run(argv, NULL, &out, NULL);
    fprintf(stderr, "%s", out ? out : "");
    int same = st == 0 && out && strstr(out, "no significant change");
    free(out);
    if (same)
      return TEST_OK;
    if (attempt == 2)
      TEST_FAIL_("three pairs of identical runs all differed significantly (exit %d)", st);
    fprintf(stderr, "# attempt %d: a significant change between identical runs; again\n",
            attempt);
  }
}

/* The timeline index of reader thread ri, or -1. */
static int64_t tl_thread(const struct ctrace_timeline *tl, uint32_t ri) {
  for (uint32_t t = 0; t < tl->nthreads; t++)
    if (tl->threads[t].index == ri)
      return t;
  return -1;
}

/* A read that waited for data another traced process wrote continues on
 * the writer (tests/progs/tree.c: child 1 sleeps 20 ms, then writes "one"
 * into the pipe its parent reads): via "data", into the child's process,
 * back through its write. Without the data edges the path stays on the
 * reader. */
TEST_IMPL(critpath_read_continues_on_writer_process) {
  const char *path = test_path("tree.ctrace");
  const char *opts[] = {"--min-duration", "0", NULL};
  const char *prog[] = {test_build_path("tests/prog_tree"), NULL};
  ctrace_reader *r = NULL;
  struct ctrace_view v;
  const struct ctrace_timeline *tl = NULL;
  struct ctrace_flows fl = {0};
  struct ctrace_cp_data *data = NULL;
  const struct ctrace_flow *best = NULL;
  int64_t th = -1, at = 0;
  /* A loaded machine can bring the parent to its read after the child
   * wrote (then nothing waited): run again, up to 5 times. */
  for (int attempt = 0; attempt < 5 && !best; attempt++) {
    if (r) {
      ctrace_critpath_data_free(data);
      ctrace_flows_free(&fl);
      ctrace_view_fini(&v);
      ctrace_reader_close(r);
      fprintf(stderr, "# the parent did not wait for a child's write: again\n");
    }
    char *err = NULL;
    int st = test_ctrace_run(path, opts, prog, NULL, &err);
    if (st != 0)
      TEST_FAIL_("tracing prog_tree failed (%d): %s", st, err ? err : "");
    free(err);
    char rerr[CTRACE_READ_ERRLEN];
    ASSERT_EQ(ctrace_reader_open_tree(path, &r, rerr, sizeof rerr), 0);
    ASSERT_GE(ctrace_reader_nprocesses(r), 4);
    ASSERT_EQ(ctrace_view_init(&v, r, path, NULL, NULL), 0);
    tl = v.tl;
    ASSERT_EQ(ctrace_flows_build(r, &fl), 0);
    ASSERT_EQ(ctrace_critpath_data_build(tl, &fl, &data), 0);
    /* The parent's read of child 1's pipe, when the write ended inside
     * the read's wait. */
    uint32_t root_pid = ctrace_reader_process(r, 0)->pid;
    int64_t best_len = -1;
    for (size_t i = 0; i < fl.n; i++) {
      const struct ctrace_flow *f = &fl.v[i];
      const struct ctrace_thread_info *to = ctrace_reader_thread(r, f->to_thread);
      const struct ctrace_thread_info *from = ctrace_reader_thread(r, f->from_thread);
      if (f->kind != CTRACE_FLOW_DATA || f->object_kind != CTRACE_FLOW_PIPE ||
          ctrace_reader_process(r, to->process)->pid != root_pid || from->process == to->process)
        continue; /* (child 1's "one": the parent's one read of a pipe) */
      /* the read's blocked span: with scheduling data it ends at the
       * wake-up, and the read returns after some running */
      int64_t t = tl_thread(tl, f->to_thread), s, e, q = ctrace_reader_ns(r, f->to_ticks);
      unsigned sst = CTRACE_ST_RUNNING;
      ASSERT_GE(t, 0);
      for (int k = 0; k < 8 && ctrace_timeline_span_at(tl, (uint32_t)t, q - 1, &s, &e, &sst) == 0 &&
                      (sst == CTRACE_ST_RUNNING || sst == CTRACE_ST_RUNNABLE);
           k++)
        q = s;
      if (sst != CTRACE_ST_RUNNING && sst != CTRACE_ST_RUNNABLE && e - s > best_len &&
          ctrace_reader_ns(r, f->from_ticks) > s) {
        best = f;
        best_len = e - s;
        th = t;
        at = e - 1;
      }
    }
  }
  ASSERT(best);
  fprintf(stderr, "# write ends %" PRId64 " ns, read ends %" PRId64 " ns\n",
          ctrace_reader_ns(r, best->from_ticks), ctrace_reader_ns(r, best->to_ticks));
  /* the read's blocked span: the one just before the data came */
  struct ctrace_cp cp;
  ASSERT_EQ(ctrace_critpath_span(tl, data, (uint32_t)th, at, &cp), 0);
  assert_tiles(&cp);
  /* (by reader index: an exec'd image's main thread reuses its pid's tid) */
  uint32_t writer = (uint32_t)tl_thread(tl, best->from_thread);
  ASSERT_LT(writer, tl->nthreads);
  int handed = 0, on_writer = 0, wrote = 0, reader_after = 0;
  char nm[64];
  for (size_t i = 0; i < cp.n; i++) {
    const struct ctrace_cp_seg *s = &cp.v[i];
    char d[512];
    fprintf(stderr, "# tid %u %s %" PRId64 " ns: %s\n", tl->threads[s->thread].tid,
            tname(tl, s->thread, nm, sizeof nm), s->end - s->start,
            ctrace_cp_describe(tl, s, d, sizeof d));
    if ((s->flags & CTRACE_CP_HANDOFF) && s->via == CTRACE_CP_VIA_DATA && s->thread == writer &&
        s->next == (uint32_t)th)
      handed++;
    if ((s->flags & CTRACE_CP_DATA) && s->thread == (uint32_t)th) {
      reader_after++;
      ASSERT_EQ(s->woken_by, writer);
      ASSERT_STR_CONTAINS(d, "data written by thread");
      ASSERT_STR_CONTAINS(d, "(another process)");
    }
    on_writer += s->thread == writer;
    wrote += s->thread == writer && strstr(d, "write on fd") != NULL;
  }
  ASSERT_EQ(handed, 1);
  ASSERT_EQ(reader_after, cp.v[cp.n - 1].thread == (uint32_t)th); /* none when the write ended
                                                                     * at the wake-up */
  ASSERT_GT(on_writer, 0);
  ASSERT_GT(wrote, 0); /* the child's write (and before it, if the read began early enough,
                        * its 20 ms sleep) */
  ASSERT(ctrace_timeline_thread_process(tl, writer) != ctrace_timeline_thread_process(tl, (uint32_t)th));
  ctrace_critpath_free(&cp);
  /* without the data edges: the reader alone */
  ASSERT_EQ(ctrace_critpath_span(tl, NULL, (uint32_t)th, at, &cp), 0);
  for (size_t i = 0; i < cp.n; i++)
    ASSERT_NE(cp.v[i].thread, writer);
  ctrace_critpath_free(&cp);
  /* the API and the CLI walk the same edge */
  char tid[16], ns[24];
  snprintf(tid, sizeof tid, "%u", tl->threads[th].tid);
  snprintf(ns, sizeof ns, "%" PRId64, at);
  const char *kv[] = {"kind", "span", "tid", tid, "ns", ns, NULL};
  struct ctrace_reply rep;
  ctrace_api_handle(&v, "/api/critpath", param, (void *)kv, &rep);
  ASSERT_EQ(rep.status, 200);
  ASSERT_STR_CONTAINS(rep.body, "\"via\":\"data\"");
  free(rep.body);
  ctrace_critpath_data_free(data);
  ctrace_flows_free(&fl);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

/* A wait on a process-shared semaphore that a release in another process
 * ended (flows.h pairs them; the release cannot name its waiter) continues
 * on the releasing process (tests/progs/treerec.c "sem": a parent and its
 * forked child ping-pong over two shared semaphores). */
TEST_IMPL(critpath_shared_sem_wait_continues_on_other_process) {
  const char *path = test_path("sem.ctrace");
  const char *prog[] = {test_build_path("src/preload/prog_treerec"), "sem", "40", NULL};
  char *err = NULL;
  int st = test_ctrace_run(path, NULL, prog, NULL, &err);
  if (st != 0)
    TEST_FAIL_("tracing prog_treerec failed (%d): %s", st, err ? err : "");
  free(err);
  ctrace_reader *r;
  char rerr[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_tree(path, &r, rerr, sizeof rerr), 0);
  struct ctrace_timeline *tl;
  ASSERT_EQ(ctrace_timeline_build(r, NULL, NULL, &tl), 0);
  struct ctrace_flows fl = {0};
  ASSERT_EQ(ctrace_flows_build(r, &fl), 0);
  struct ctrace_cp_data *data = NULL;
  ASSERT_EQ(ctrace_critpath_data_build(tl, &fl, &data), 0);
  /* the longest paired wait ending in one process that another released */
  const struct ctrace_flow *best = NULL;
  for (size_t i = 0; i < fl.n; i++) {
    const struct ctrace_flow *f = &fl.v[i];
    if (f->kind != CTRACE_FLOW_WAKE ||
        ctrace_reader_thread(r, f->from_thread)->process == ctrace_reader_thread(r, f->to_thread)->process)
      continue;
    if (!best || f->to_ticks - f->from_ticks > best->to_ticks - best->from_ticks)
      best = f;
  }
  ASSERT(best);
  int64_t th = tl_thread(tl, best->to_thread), from = tl_thread(tl, best->from_thread);
  ASSERT_GE(th, 0);
  ASSERT_GE(from, 0);
  /* the path up to the wait's end: its last segment is the wait after the
   * release, the one before it on the releaser */
  int64_t end = ctrace_reader_ns(r, best->to_ticks);
  struct ctrace_cp cp;
  ASSERT_EQ(ctrace_critpath(tl, data, (uint32_t)th, tl->threads[th].first_ns, end, &cp), 0);
  assert_tiles(&cp);
  int handed = 0;
  for (size_t i = 0; i < cp.n; i++) {
    const struct ctrace_cp_seg *s = &cp.v[i];
    char d[512], nm[64];
    fprintf(stderr, "# tid %u %s %" PRId64 " ns: %s\n", tl->threads[s->thread].tid,
            tname(tl, s->thread, nm, sizeof nm), s->end - s->start,
            ctrace_cp_describe(tl, s, d, sizeof d));
    handed += (s->flags & CTRACE_CP_HANDOFF) && s->via == CTRACE_CP_VIA_WAKE &&
              s->thread == (uint32_t)from && s->next == (uint32_t)th;
    if (s->thread == (uint32_t)th && (s->flags & CTRACE_CP_AFTER_WAKE) && s->woken_by == (uint32_t)from)
      ASSERT_STR_CONTAINS(d, "(another process)");
  }
  ASSERT_GT(handed, 0);
  ctrace_critpath_free(&cp);
  /* without the flows: the waits stay on their thread */
  ASSERT_EQ(ctrace_critpath(tl, NULL, (uint32_t)th, tl->threads[th].first_ns, end, &cp), 0);
  for (size_t i = 0; i < cp.n; i++)
    ASSERT(ctrace_timeline_thread_process(tl, cp.v[i].thread) ==
           ctrace_timeline_thread_process(tl, (uint32_t)th));
  ctrace_critpath_free(&cp);
  ctrace_critpath_data_free(data);
  ctrace_flows_free(&fl);
  ctrace_timeline_free(tl);
  ctrace_reader_close(r);
  return 0;
}

/* A poll ended by data another traced process wrote continues on the
 * writer, as a read does: the write whose byte the thread read first
 * after the poll (tests/progs/treerec.c "poll": the child writes 5 ms
 * after the parent fell asleep in its poll, three rounds). */
TEST_IMPL(critpath_poll_continues_on_writer_process) {
  const char *path = test_path("poll.ctrace");
  const char *prog[] = {test_build_path("src/preload/prog_treerec"), "poll", "3", NULL};
  char *err = NULL;
  int st = test_ctrace_run(path, NULL, prog, NULL, &err);
  if (st != 0)
    TEST_FAIL_("tracing prog_treerec poll failed (%d): %s", st, err ? err : "");
  free(err);
  ctrace_reader *r = NULL;
  char rerr[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open_tree(path, &r, rerr, sizeof rerr), 0);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 2);
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, path, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  struct ctrace_flows fl = {0};
  struct ctrace_cp_data *data = NULL;
  ASSERT_EQ(ctrace_flows_build(r, &fl), 0);
  ASSERT_EQ(ctrace_critpath_data_build(tl, &fl, &data), 0);
  /* the parent's main thread: its pid's tid in the first process */
  uint32_t root_pid = ctrace_reader_process(r, 0)->pid, th = UINT32_MAX;
  for (uint32_t t = 0; t < tl->nthreads; t++)
    if (tl->threads[t].tid == root_pid)
      th = t;
  ASSERT(th != UINT32_MAX);
  /* its poll spans: each continues on the child, via data */
  int polls = 0;
  for (int64_t t = tl->threads[th].first_ns, s, e; t < tl->threads[th].last_ns; t = e) {
    unsigned sst;
    if (ctrace_timeline_span_at(tl, th, t, &s, &e, &sst) < 0)
      break;
    if (e <= t)
      e = t + 1;
    if (sst != CTRACE_ST_POLL || e - s < 1000000)
      continue;
    polls++;
    struct ctrace_cp cp;
    ASSERT_EQ(ctrace_critpath_span(tl, data, th, e - 1, &cp), 0);
    assert_tiles(&cp);
    int handed = 0, on_child = 0;
    for (size_t i = 0; i < cp.n; i++) {
      const struct ctrace_cp_seg *g = &cp.v[i];
      handed += (g->flags & CTRACE_CP_HANDOFF) && g->via == CTRACE_CP_VIA_DATA && g->next == th;
      on_child += ctrace_timeline_thread_process(tl, g->thread) !=
                  ctrace_timeline_thread_process(tl, th);
    }
    if (handed != 1 || !on_child) {
      char d[512], nm[64];
      for (size_t i = 0; i < cp.n; i++)
        fprintf(stderr, "# tid %u %s: %s\n", tl->threads[cp.v[i].thread].tid,
                tname(tl, cp.v[i].thread, nm, sizeof nm), ctrace_cp_describe(tl, &cp.v[i], d, sizeof d));
      TEST_FAIL_("poll %d: %d hand-offs via data, %d segments on the child", polls, handed, on_child);
    }
    ctrace_critpath_free(&cp);
  }
  ASSERT_EQ(polls, 3);
  ctrace_critpath_data_free(data);
  ctrace_flows_free(&fl);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}
