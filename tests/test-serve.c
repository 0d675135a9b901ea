/*
 * test-serve.c - the HTTP API of `ctrace view` against the real server
 * (src/serve/ started in this process on 127.0.0.1, a free port), spoken to
 * over a socket: every endpoint, bad parameters (400 with a JSON error),
 * unknown paths (404), path traversal, windows outside the trace; and
 * `ctrace view` itself as a process. Traces come from examples/http_task
 * and bench/gen_trace (blocking and wake-ups).
 */
#include <ctrace.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/serve/server.h"
#include "../src/serve/timeline_bin.h"
#include "task.h"

struct fixture {
  ctrace_reader *r;
  struct ctrace_view v;
  ctrace_server *s;
  unsigned port;
};

static void make_trace(const char *which, const char *file) {
  char *out = NULL, *err = NULL;
  int st;
  if (strcmp(which, "http") == 0) {
    char *argv[] = {(char *)test_build_path("examples/http_task"), (char *)file, "3", NULL};
    st = test_run(argv, NULL, &out, &err);
  } else {
    char *argv[] = {(char *)test_build_path("bench/gen_trace"), (char *)file, "3000", "3", NULL};
    st = test_run(argv, NULL, &out, &err);
  }
  if (st != 0)
    TEST_FAIL_("making the %s trace failed (%d): %s", which, st, err ? err : "");
  free(out);
  free(err);
}

static void start(struct fixture *f, const char *which) {
  const char *file = test_path(which);
  make_trace(which, file);
  char err[256];
  ASSERT_EQ(ctrace_reader_open(file, &f->r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&f->v, f->r, file, NULL, NULL), 0);
  ASSERT_EQ(ctrace_serve_start("127.0.0.1:0", &f->v, &f->s, err, sizeof err), 0);
  f->port = ctrace_serve_port(f->s);
  ASSERT_GT(f->port, 0);
}

static void stop(struct fixture *f) {
  ctrace_serve_stop(f->s);
  ctrace_view_fini(&f->v);
  ctrace_reader_close(f->r);
}

/* The request line as given, Host 127.0.0.1. */
static struct test_http_resp request(unsigned port, const char *method, const char *target) {
  return test_http(port, method, target, "127.0.0.1", NULL);
}

static struct test_http_resp get(struct fixture *f, const char *target) {
  return request(f->port, "GET", target);
}

static void expect_error(struct fixture *f, const char *target, int status) {
  struct test_http_resp r = get(f, target);
  if (r.status != status)
    TEST_FAIL_("GET %s: status %d, want %d (%s)", target, r.status, status, r.body);
  ASSERT_STR_CONTAINS(r.head, "application/json");
  ASSERT_STR_CONTAINS(r.body, "{\"error\":\"");
  free(r.raw);
}

/* The value of a JSON integer member "key": (first occurrence). */
static int64_t json_int(const char *body, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(body, pat);
  if (!p)
    TEST_FAIL_("no %s in %.300s", key, body);
  return strtoll(p + strlen(pat), NULL, 10);
}

static uint32_t le32(const char *p) { return ctrace__get_le32((const uint8_t *)p); }
static double lef64(const char *p) {
  uint64_t u = ctrace__get_le64((const uint8_t *)p);
  double d;
  memcpy(&d, &u, 8);
  return d;
}

TEST_IMPL(serve_summary_threads_tasks) {
  struct fixture f;
  start(&f, "http");
  struct test_http_resp r = get(&f, "/api/summary");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.head, "Content-Type: application/json");
  ASSERT_STR_CONTAINS(r.body, "\"events\":50");
  ASSERT_STR_CONTAINS(r.body, "\"threads\":5,");
  ASSERT_STR_CONTAINS(r.body, "\"thread_list\":[{\"index\":0,");
  ASSERT_STR_CONTAINS(r.body, "\"name\":\"acceptor\"");
  ASSERT_STR_CONTAINS(r.body, "\"process_list\":[{\"pid\":");
  ASSERT_STR_CONTAINS(r.body, "\"argv\":[");
  ASSERT_STR_CONTAINS(r.body, "\"start_ns\":");
  ASSERT_GT(json_int(r.body, "end_ns"), 50000000);
  free(r.raw);

  r = get(&f, "/api/threads");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "{\"threads\":[{\"tid\":");
  ASSERT_STR_CONTAINS(r.body, "\"states\":{\"running\":");
  ASSERT_STR_CONTAINS(r.body, "\"syscall\":0");
  free(r.raw);

  r = get(&f, "/api/tasks");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "{\"tasks\":[{\"name\":\"client.get\",\"count\":3,");
  ASSERT_STR_CONTAINS(r.body, "{\"name\":\"handleRequest\",\"count\":3,\"min_ns\":");
  ASSERT_STR_CONTAINS(r.body, "\"regions\":[{\"name\":\"db.query\",\"count\":3,");
  ASSERT_STR_CONTAINS(r.body, "\"histogram\":[{\"lo_ns\":");
  /* a 50 ms sleep inside: p50 of db.query at least that */
  const char *db = strstr(r.body, "\"db.query\"");
  ASSERT_GE(json_int(db, "p50_ns"), 49000000);
  free(r.raw);

  r = get(&f, "/api/instances?kind=task&name=handleRequest&limit=2");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "{\"instances\":[{\"id\":");
  ASSERT_STR_CONTAINS(r.body, "\"tids\":[");
  ASSERT_STR_CONTAINS(r.body, "\"breakdown\":{\"running\":");
  /* two, sorted by duration, longest first */
  const char *second = strstr(r.body + 20, "{\"id\":");
  ASSERT(second != NULL);
  ASSERT(strstr(second + 6, "{\"id\":") == NULL);
  ASSERT_GE(json_int(r.body, "dur_ns"), json_int(second, "dur_ns"));
  free(r.raw);
  r = get(&f, "/api/instances?kind=region&name=db.query");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"name\":\"db.query\"");
  free(r.raw);
  r = get(&f, "/api/instances?kind=task&name=no.such.task");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "{\"instances\":[]}\n");
  free(r.raw);
  stop(&f);
  return 0;
}

TEST_IMPL(serve_timeline_binary) {
  struct fixture f;
  start(&f, "http");
  struct test_http_resp r = get(&f, "/api/timeline?width=500");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.head, "Content-Type: application/octet-stream");
  ASSERT_GE(r.len, 48);
  ASSERT_UINT_EQ(le32(r.body), CTRACE_TLBIN_MAGIC);
  ASSERT_EQ(le32(r.body + 4), 5); /* rows: every thread */
  ASSERT_EQ((int64_t)lef64(r.body + 8), f.v.tl->start_ns);
  ASSERT_EQ((int64_t)lef64(r.body + 16), f.v.tl->end_ns);
  ASSERT_GE(lef64(r.body + 24), 1.0); /* ns per pixel */
  free(r.raw);

  /* one thread, a window reaching past both ends: clamped */
  char url[256];
  snprintf(url, sizeof url, "/api/timeline?start_ns=-1000000000&end_ns=999999999999&width=100&tids=%u",
           f.v.tl->threads[2].tid);
  r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(le32(r.body + 4), 1);
  ASSERT_EQ((int64_t)lef64(r.body + 8), f.v.tl->start_ns);
  ASSERT_EQ((int64_t)lef64(r.body + 16), f.v.tl->end_ns);
  /* the strings table, then the row: its tid and one span at least */
  uint32_t nstr = le32(r.body + 32), strbytes = le32(r.body + 36);
  ASSERT_GE(nstr, 2); /* "" and db.query at least */
  const char *row = r.body + 40 + strbytes;
  ASSERT_EQ(le32(row), f.v.tl->threads[2].tid);
  ASSERT_GE(le32(row + 4), 1);  /* spans */
  ASSERT_GE(le32(row + 8), 2);  /* regions: db.query, write.response */
  ASSERT_EQ(le32(row + 12), 1); /* the log */
  free(r.raw);

  /* unknown tids are left out, not errors */
  r = get(&f, "/api/timeline?tids=1,2,3");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(le32(r.body + 4), 0);
  free(r.raw);

  expect_error(&f, "/api/timeline?start_ns=abc", 400);
  expect_error(&f, "/api/timeline?start_ns=5&end_ns=5", 400);
  expect_error(&f, "/api/timeline?start_ns=10&end_ns=5", 400);
  expect_error(&f, "/api/timeline?width=0", 400);
  expect_error(&f, "/api/timeline?width=100000", 400);
  expect_error(&f, "/api/timeline?width=12px", 400);
  expect_error(&f, "/api/timeline?end_ns=99999999999999999999999", 400);
  expect_error(&f, "/api/timeline?tids=1,,2", 400);
  expect_error(&f, "/api/timeline?tids=x", 400);
  /* entirely outside the trace */
  expect_error(&f, "/api/timeline?start_ns=-500&end_ns=-100", 400);
  snprintf(url, sizeof url, "/api/timeline?start_ns=%" PRId64 "&end_ns=%" PRId64,
           f.v.tl->end_ns + 10, f.v.tl->end_ns + 1000);
  expect_error(&f, url, 400);
  stop(&f);
  return 0;
}

/* A window holding more tasks a pixel wide or more than an answer takes:
 * 10,000 tasks of ~2 us one after the other, then 50 of 500 us at the end,
 * at 10^6 pixels (a pixel is a few tens of ns). The longest are sent
 * wherever they are, so the last 50 are (the first 4000 by start were
 * sent before, none of them); what is sent stays within the cap. */
static void spin_ns(int64_t ns) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do
    clock_gettime(CLOCK_MONOTONIC, &b);
  while ((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec) < ns);
}

TEST_IMPL(serve_timeline_many_tasks_sends_the_longest) {
  enum { N = 10000, LONG = 50, WIDTH = 1000000 };
  const char *file = test_path("many-tasks.ctrace");
  ASSERT_EQ(ctrace_start_path(file), 0);
  for (int i = 0; i < N + LONG; i++) {
    ctrace_task_t id = ctrace_task_begin(0, "t");
    spin_ns(i < N ? 2000 : 500000);
    ctrace_task_end(id);
  }
  ASSERT_EQ(ctrace_stop(), 0);
  ctrace_reader *r;
  struct ctrace_view v;
  char err[256];
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  ASSERT_EQ(tl->ntasks, N + LONG);
  int64_t a = tl->tasks[0].start, b = tl->tasks[N + LONG - 1].end;
  int64_t late = tl->tasks[N].start; /* the first long one's */
  struct ctrace_reply out = {0};
  uint32_t none = 0;
  ASSERT_EQ(ctrace_timeline_encode(&v, a, b, WIDTH, &none, 0, 1, &out), 0);
  ASSERT_EQ(out.status, 200);
  const char *p = out.body + 40 + le32(out.body + 36), *end = out.body + out.len;
  uint32_t n = le32(p), nlate = 0;
  p += 4;
  ASSERT_LE(n, CTRACE_TLBIN_MAX_TASKS);
  for (uint32_t i = 0; i < n; i++) {
    ASSERT(end - p >= 52);
    int64_t st = (int64_t)lef64(p);
    ASSERT_GE((int64_t)lef64(p + 8) - st, (b - a) / WIDTH); /* a pixel or more */
    nlate += st >= late;
    p += 52 + (size_t)le32(p + 48) * 20;
  }
  fprintf(stderr, "# %u tasks sent of %d, %u of the %d long ones at the end\n", n, N + LONG,
          nlate, LONG);
  ASSERT_EQ(nlate, LONG);
  ASSERT_GE(n, 1000); /* the cap filled with the next longest, not those alone */
  free(out.body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(serve_event_details) {
  struct fixture f;
  start(&f, "http");
  const struct ctrace_timeline *tl = f.v.tl;
  const struct ctrace_tl_thread *h = &tl->threads[2]; /* the first handler */
  const struct ctrace_tl_region *rg = &tl->regions[tl->region_off[2]]; /* its db.query */
  char url[256];
  /* 10 ms into the 50 ms "database" sleep (nanosleep): not the middle of
   * the thread's life, which a loaded machine's late wake-up can move
   * past the sleep */
  int64_t in_sleep = rg->end - rg->start > 20000000 ? rg->start + 10000000
                                                    : (rg->start + rg->end) / 2;
  snprintf(url, sizeof url, "/api/event?kind=span&tid=%u&ns=%" PRId64, h->tid, in_sleep);
  struct test_http_resp r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"kind\":\"span\"");
  /* http_task traces itself with the API alone, so nothing says whether it
   * ran, unless the kernel's scheduling data says it was off the CPU:
   * blocked (not interposed), or waiting for a CPU if the sleep ended late */
  ASSERT(strstr(r.body, "\"state\":\"not_recorded\"") ||
         strstr(r.body, "\"state\":\"blocked_other\"") ||
         strstr(r.body, "\"state\":\"runnable\""));
  ASSERT_STR_CONTAINS(r.body, "\"region\":\"db.query\"");
  free(r.raw);

  snprintf(url, sizeof url, "/api/event?kind=region&tid=%u&ns=%" PRId64, h->tid, rg->start);
  r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"event\":\"REGION_BEGIN\"");
  ASSERT_STR_CONTAINS(r.body, "\"stack\":[");
  ASSERT_EQ(json_int(r.body, "start_ns"), rg->start);
  free(r.raw);

  const struct ctrace_tl_log *lg = &tl->logs[tl->log_off[2]];
  snprintf(url, sizeof url, "/api/event?kind=log&tid=%u&ns=%" PRId64, h->tid, lg->t);
  r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"message\":\"GET /hello\"");
  ASSERT_STR_CONTAINS(r.body, "\"category\":\"http\"");
  free(r.raw);

  snprintf(url, sizeof url, "/api/event?kind=task&id=%" PRIu64, tl->tasks[0].id);
  r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"kind\":\"task\"");
  ASSERT_STR_CONTAINS(r.body, "\"threads\":[{\"tid\":");
  ASSERT_STR_CONTAINS(r.body, "\"event\":\"TASK_BEGIN\"");
  free(r.raw);

  /* the thread creation of the acceptor by main, with its stack */
  snprintf(url, sizeof url, "/api/event?kind=create&tid=%u&ns=%" PRId64, tl->threads[0].tid,
           tl->creates[0].t_create);
  r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"event\":\"THREAD_CREATE\"");
  ASSERT_STR_CONTAINS(r.body, "\"function\":\"main\"");
  ASSERT_STR_CONTAINS(r.body, "http_task.c");
  free(r.raw);

  expect_error(&f, "/api/event?kind=span&tid=1&ns=0", 400);      /* no such thread */
  expect_error(&f, "/api/event?kind=span&ns=0", 400);            /* tid missing */
  snprintf(url, sizeof url, "/api/event?kind=span&tid=%u", h->tid);
  expect_error(&f, url, 400);                                    /* ns missing */
  snprintf(url, sizeof url, "/api/event?kind=span&tid=%u&ns=-5", h->tid);
  expect_error(&f, url, 400);                                    /* before the thread */
  snprintf(url, sizeof url, "/api/event?kind=bogus&tid=%u&ns=0", h->tid);
  expect_error(&f, url, 400);
  snprintf(url, sizeof url, "/api/event?kind=log&tid=%u&ns=%" PRId64, h->tid, tl->end_ns + 5000000);
  expect_error(&f, url, 400);                                    /* nothing there */
  expect_error(&f, "/api/event?kind=task&id=999999", 400);
  expect_error(&f, "/api/event?kind=task&id=-1", 400);
  expect_error(&f, "/api/event?kind=task", 400);
  stop(&f);
  return 0;
}

TEST_IMPL(serve_blocking_and_wakes) {
  struct fixture f;
  start(&f, "gen");
  const struct ctrace_timeline *tl = f.v.tl;
  /* a mutex wait of worker 1: its span, its stack and who woke it */
  uint32_t th = 2;
  const struct ctrace_tl_level *lv = &tl->levels[th][0];
  int64_t s = 0, e = 0;
  /* mid-trace first, the threads all running; else anywhere (a slow
   * machine, e.g. under TSan, may have all of its waits early) */
  for (int pass = 0; pass < 2 && e <= s; pass++)
    for (size_t i = pass ? 0 : lv->n / 2; i + 1 < lv->n; i++)
      if ((lv->v[i] & 0x7f) == CTRACE_ST_SYNC && (lv->v[i + 1] >> 8) > (lv->v[i] >> 8)) {
        s = (int64_t)(lv->v[i] >> 8) + tl->start_ns;
        e = (int64_t)(lv->v[i + 1] >> 8) + tl->start_ns;
        break;
      }
  ASSERT_GT(e, s);
  char url[256];
  snprintf(url, sizeof url, "/api/event?kind=span&tid=%u&ns=%" PRId64, tl->threads[th].tid,
           (s + e) / 2);
  struct test_http_resp r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"state\":\"sync\"");
  ASSERT_STR_CONTAINS(r.body, "\"event\":\"WAIT\"");
  ASSERT_STR_CONTAINS(r.body, "\"reason\":\"MUTEX\"");
  ASSERT_STR_CONTAINS(r.body, "\"object\":\"0x55d0c0de1000\"");
  ASSERT_STR_CONTAINS(r.body, "\"woken_by\":{\"tid\":");
  ASSERT_STR_CONTAINS(r.body, "gen_trace.c");
  ASSERT_EQ(json_int(r.body, "start_ns"), s);
  ASSERT_EQ(json_int(r.body, "end_ns"), e);
  int64_t waker = json_int(strstr(r.body, "\"woken_by\""), "tid");
  int64_t wns = json_int(strstr(r.body, "\"woken_by\""), "ns");
  free(r.raw);
  snprintf(url, sizeof url, "/api/event?kind=wake&tid=%" PRId64 "&ns=%" PRId64, waker, wns);
  r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"event\":\"WAKE\"");
  ASSERT_EQ(json_int(r.body, "woken_tid"), tl->threads[th].tid);
  free(r.raw);

  /* a network syscall: fd, bytes and the peer from SOCKADDR */
  const struct ctrace_tl_level *l2 = &tl->levels[th][0];
  for (size_t i = 0; i + 1 < l2->n; i++)
    if ((l2->v[i] & 0x7f) == CTRACE_ST_NET) {
      s = (int64_t)(l2->v[i] >> 8) + tl->start_ns;
      break;
    }
  snprintf(url, sizeof url, "/api/event?kind=span&tid=%u&ns=%" PRId64, tl->threads[th].tid, s);
  r = get(&f, url);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"event\":\"SYSCALL\"");
  ASSERT_STR_CONTAINS(r.body, "\"class\":\"net\"");
  ASSERT_STR_CONTAINS(r.body, "\"bytes\":");
  ASSERT_STR_CONTAINS(r.body, "\"peer\":\"10.0.0.");
  free(r.raw);

  /* per-thread states add up to the thread's life */
  r = get(&f, "/api/threads");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"sync\":");
  const struct ctrace_tl_thread *t = &tl->threads[th];
  uint64_t sum = 0;
  for (unsigned k = 0; k < CTRACE_ST_COUNT; k++)
    sum += t->state_ns[k];
  ASSERT_EQ((int64_t)sum, t->last_ns - t->first_ns);
  ASSERT_GT(t->state_ns[CTRACE_ST_SYNC], 0);
  ASSERT_GT(t->state_ns[CTRACE_ST_IO], 0);
  ASSERT_GT(t->state_ns[CTRACE_ST_POLL], 0);
  free(r.raw);

  /* profiles: JSON with symbolized frames, and pprof bytes */
  r = get(&f, "/api/profile?kind=sync");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "{\"kind\":\"sync\",\"total_ns\":");
  ASSERT_STR_CONTAINS(r.body, "\"frames\":[{\"function\":");
  ASSERT_GT(json_int(r.body, "total_ns"), 0);
  free(r.raw);
  r = get(&f, "/api/pprof?kind=net");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.head, "Content-Type: application/octet-stream");
  ASSERT_STR_CONTAINS(r.head, "Content-Disposition: attachment; filename=\"ctrace-net.pb.gz\"");
  ASSERT_GE(r.len, 20);
  ASSERT_EQ((unsigned char)r.body[0], 0x1f);
  ASSERT_EQ((unsigned char)r.body[1], 0x8b);
  free(r.raw);
  expect_error(&f, "/api/profile", 400);
  expect_error(&f, "/api/profile?kind=gpu", 400);
  expect_error(&f, "/api/profile?kind=sync&start_ns=9&end_ns=1", 400);
  expect_error(&f, "/api/profile?kind=sync&tid=1", 400);
  expect_error(&f, "/api/pprof?kind=", 400);
  expect_error(&f, "/api/instances?kind=task", 400);
  expect_error(&f, "/api/instances?kind=thread&name=x", 400);
  expect_error(&f, "/api/instances?kind=task&name=request&limit=0", 400);
  expect_error(&f, "/api/instances?kind=task&name=request&limit=ten", 400);

  /* the level-of-detail answer: at most ~2 spans per pixel per row, and
   * the same total time as the raw spans */
  r = get(&f, "/api/timeline?width=200");
  ASSERT_EQ(r.status, 200);
  uint32_t strbytes = le32(r.body + 36);
  const char *row = r.body + 40 + strbytes;
  for (unsigned k = 0; k < le32(r.body + 4); k++) {
    uint32_t ns = le32(row + 4), nr = le32(row + 8), nl = le32(row + 12);
    ASSERT_LE(ns, 2 * 200 + 2);
    double covered = 0;
    for (uint32_t i = 0; i < ns; i++)
      covered += lef64(row + 16 + 24 * i + 8) - lef64(row + 16 + 24 * i);
    const struct ctrace_tl_thread *tt = &tl->threads[k];
    ASSERT_LE(covered, (double)(tt->last_ns - tt->first_ns) + 1);
    ASSERT_GE(covered, (double)(tt->last_ns - tt->first_ns) - 1);
    row += 16 + 24 * ns + 36 * nr + 28 * nl;
  }
  free(r.raw);
  stop(&f);
  return 0;
}

/* Search, range numbers and counters (docs/API.md): the http_task trace has
 * 3 db.query regions, 3 "GET /hello" logs, 3 handler threads and the counter
 * requests.in_flight; gen_trace has mutex waits. */
TEST_IMPL(serve_search_range_counters) {
  struct fixture f;
  start(&f, "http");
  struct test_http_resp r = get(&f, "/api/search?q=DB.QUERY");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(json_int(r.body, "total"), 3);
  ASSERT_EQ(json_int(r.body, "region"), 3);
  ASSERT_STR_CONTAINS(r.body, "\"kind\":\"region\"");
  free(r.raw);
  r = get(&f, "/api/search?q=GET%20/hello&limit=1");
  ASSERT_EQ(json_int(r.body, "log"), 3);
  ASSERT_STR_CONTAINS(r.body, "\"truncated\":true");
  free(r.raw);
  r = get(&f, "/api/search?q=handler");
  ASSERT_EQ(json_int(r.body, "thread"), 3);
  free(r.raw);
  expect_error(&f, "/api/search", 400);
  expect_error(&f, "/api/search?q=x&start_ns=5&end_ns=4", 400);
  /* the range of the whole trace: the states of /api/threads, summed */
  struct test_http_resp th = get(&f, "/api/threads");
  r = get(&f, "/api/range");
  ASSERT_EQ(r.status, 200);
  int64_t running = 0;
  for (const char *p = th.body; (p = strstr(p, "\"running\":")); p++)
    running += strtoll(p + 10, NULL, 10);
  const char *all = strstr(r.body, "],\"states\":");
  ASSERT(all != NULL);
  ASSERT_EQ(json_int(all, "running"), running);
  ASSERT_STR_CONTAINS(r.body, "{\"name\":\"db.query\",\"count\":3,\"complete\":3,");
  free(r.raw);
  free(th.raw);
  expect_error(&f, "/api/range?tids=1,x", 400);
  r = get(&f, "/api/counters?width=100");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"name\":\"requests.in_flight\",\"count\":6,\"min\":0,\"max\":");
  free(r.raw);
  r = get(&f, "/api/drops");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "{\"drops\":[]}");
  free(r.raw);
  stop(&f);
  start(&f, "gen");
  r = get(&f, "/api/search?q=mutex&limit=5");
  ASSERT_GT(json_int(r.body, "call"), 0);
  ASSERT_STR_CONTAINS(r.body, "\"event\":\"WAIT\"");
  free(r.raw);
  /* blocked time of a range is /api/profile's */
  struct test_http_resp pr = get(&f, "/api/profile?kind=sync&start_ns=0&end_ns=50000000");
  r = get(&f, "/api/range?start_ns=0&end_ns=50000000");
  ASSERT_EQ(json_int(strstr(r.body, "\"blocked\":"), "sync"), json_int(pr.body, "total_ns"));
  free(r.raw);
  free(pr.raw);
  stop(&f);
  return 0;
}

/* ---- the server listens before the index is ready ---- */

/* A GET of target sent on a new connection, not read: its fd. */
static int send_get(unsigned port, const char *target) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target);
  ASSERT_EQ(write(fd, req, (size_t)n), n);
  return fd;
}

/* 1 when the connection has something to read now (an answer, or its end). */
static int answered_yet(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

/* The whole answer on fd (closed): its status, and the body in *body
 * (malloced). */
static int read_answer(int fd, char **body) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap + 1);
  ASSERT(buf != NULL);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      ASSERT(buf != NULL);
    }
    ssize_t k = read(fd, buf + len, cap - len);
    if (k < 0 && errno == EAGAIN)
      TEST_FAIL_("%s", "no answer in 60 s");
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  close(fd);
  buf[len] = 0;
  int status = 0;
  ASSERT_EQ(sscanf(buf, "HTTP/1.%*d %d", &status), 1);
  char *sep = strstr(buf, "\r\n\r\n");
  ASSERT(sep != NULL);
  memmove(buf, sep + 4, strlen(sep + 4) + 1);
  *body = buf;
  return status;
}

/* The page and a script, answered while API requests wait. */
static void page_and_script_answered(unsigned port) {
  struct test_http_resp r = request(port, "GET", "/");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "<!doctype html>");
  free(r.raw);
  r = request(port, "GET", "/app.js");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.head, "Content-Type: text/javascript");
  free(r.raw);
}

/* Sends n requests for /api/summary to a pending server and waits until
 * all n are suspended in it (each is, as soon as the server read it). */
#define NWAIT 8
static void send_waiting(ctrace_server *s, int fds[], int n) {
  for (int i = 0; i < n; i++)
    fds[i] = send_get(ctrace_serve_port(s), "/api/summary");
  while (ctrace__serve_waiting(s) < (unsigned)n)
    usleep(1000);
}

/* A server started before its index (what ctrace view does): with more API
 * requests waiting than the server has threads (4), the page and its
 * scripts are still answered; the waiting requests are answered once the
 * index is ready, 503 when it never will be or when the server stops. */
TEST_IMPL(serve_pages_before_the_index_answers_after) {
  const char *file = test_path("gen");
  make_trace("gen", file);
  char err[256];
  ctrace_reader *r;
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  struct ctrace_view v;
  memset(&v, 0, sizeof v);
  ctrace_server *s;
  struct ctrace_serve_opts o = {"127.0.0.1:0", NULL, 1};
  ASSERT_EQ(ctrace_serve_start_opts(&o, &v, &s, err, sizeof err), 0);
  int fds[NWAIT];
  send_waiting(s, fds, NWAIT);
  for (int k = 0; k < 4; k++) /* whichever of the 4 threads takes them */
    page_and_script_answered(ctrace_serve_port(s));
  for (int i = 0; i < NWAIT; i++)
    ASSERT(!answered_yet(fds[i])); /* there is no index to answer from */
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  ctrace_serve_ready(s, 1);
  for (int i = 0; i < NWAIT; i++) {
    char *body;
    ASSERT_EQ(read_answer(fds[i], &body), 200);
    ASSERT_STR_CONTAINS(body, "\"events\":");
    ASSERT_STR_CONTAINS(body, "\"index_cache\":\"");
    free(body);
  }
  struct test_http_resp later = request(ctrace_serve_port(s), "GET", "/api/threads");
  ASSERT_EQ(later.status, 200);
  free(later.raw);
  ASSERT_EQ(ctrace__serve_waiting(s), 0);
  ctrace_serve_stop(s);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);

  /* the index failed: the waiting requests and later ones get a JSON 503 */
  struct ctrace_view none;
  memset(&none, 0, sizeof none);
  ASSERT_EQ(ctrace_serve_start_opts(&o, &none, &s, err, sizeof err), 0);
  send_waiting(s, fds, 2);
  ctrace_serve_ready(s, 0);
  for (int i = 0; i < 2; i++) {
    char *body;
    ASSERT_EQ(read_answer(fds[i], &body), 503);
    ASSERT_STR_CONTAINS(body, "{\"error\":\"ctrace view could not read");
    free(body);
  }
  later = request(ctrace_serve_port(s), "GET", "/api/summary");
  ASSERT_EQ(later.status, 503);
  free(later.raw);
  page_and_script_answered(ctrace_serve_port(s));
  ctrace_serve_stop(s);

  /* stopped while requests wait: they are answered, and the stop returns */
  ASSERT_EQ(ctrace_serve_start_opts(&o, &none, &s, err, sizeof err), 0);
  send_waiting(s, fds, NWAIT);
  ctrace_serve_stop(s);
  for (int i = 0; i < NWAIT; i++) {
    char *body;
    ASSERT_EQ(read_answer(fds[i], &body), 503);
    ASSERT_STR_CONTAINS(body, "stopping");
    free(body);
  }
  return 0;
}

/* `ctrace view` itself: it prints its URL and serves the page before it
 * reads the trace (held by CTRACE_TEST_VIEW_HOLD until a file exists), and
 * the API requests made meanwhile are answered once the index is ready. */
TEST_IMPL(serve_cli_view_listens_before_indexing) {
  const char *file = test_path("gen");
  make_trace("gen", file);
  char hold[4096];
  snprintf(hold, sizeof hold, "%s", test_path("index-may-start"));
  unlink(hold);
  char env[4200];
  snprintf(env, sizeof env, "CTRACE_TEST_VIEW_HOLD=%s", hold);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    putenv(env);
    /* a failed test ends here: the held ctrace view must not outlive it */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    execl(test_build_path("ctrace"), "ctrace", "view", "--no-browser", "--addr", "127.0.0.1:0",
          file, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  char line[512];
  test_read_line(out[0], line, sizeof line);
  ASSERT_STR_CONTAINS(line, "ctrace view: serving ");
  const char *u = strstr(line, "http://127.0.0.1:");
  ASSERT(u != NULL);
  unsigned port = (unsigned)strtoul(u + strlen("http://127.0.0.1:"), NULL, 10);
  ASSERT_GT(port, 0);
  int fds[NWAIT];
  for (int i = 0; i < NWAIT; i++)
    fds[i] = send_get(port, "/api/summary");
  for (int k = 0; k < 4; k++)
    page_and_script_answered(port);
  for (int i = 0; i < NWAIT; i++)
    ASSERT(!answered_yet(fds[i])); /* held: the trace is not even read */
  ASSERT_EQ(test_write_file(hold, "", 0), 0);
  for (int i = 0; i < NWAIT; i++) {
    char *body;
    ASSERT_EQ(read_answer(fds[i], &body), 200);
    ASSERT_STR_CONTAINS(body, "\"thread_list\":");
    ASSERT_STR_CONTAINS(body, "\"index_cache\":\"");
    free(body);
  }
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT(WIFEXITED(st));
  ASSERT_EQ(WEXITSTATUS(st), 0);
  close(out[0]);
  return 0;
}

TEST_IMPL(serve_unknown_paths_404) {
  struct fixture f;
  start(&f, "http");
  expect_error(&f, "/api/nope", 404);
  expect_error(&f, "/api/", 404);
  expect_error(&f, "/api", 404);
  expect_error(&f, "/api/summary/x", 404);
  expect_error(&f, "/nope.html", 404);
  expect_error(&f, "/index.htm", 404);
  struct test_http_resp r = request(f.port, "POST", "/api/summary");
  ASSERT_EQ(r.status, 405);
  free(r.raw);
  stop(&f);
  return 0;
}

TEST_IMPL(serve_path_traversal_404) {
  struct fixture f;
  start(&f, "http");
  static const char *const bad[] = {
      "/../../../../etc/passwd",
      "/..%2f..%2f..%2fetc%2fpasswd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/web/../meson.build",
      "//etc/passwd",
      "/index.html/../../../etc/passwd",
      "/./index.html/..",
      "/..\\..\\etc\\passwd",
      "/%00index.html",
      "/timeline.js%00.png",
      "/api/../../etc/passwd",
      "/meson.build",
      "/src/serve/server.c",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct test_http_resp r = get(&f, bad[i]);
    if (r.status != 404 && r.status != 400)
      TEST_FAIL_("GET %s: status %d (%.200s)", bad[i], r.status, r.body);
    ASSERT(strstr(r.body, "root:") == NULL);
    ASSERT(strstr(r.body, "project(") == NULL);
    free(r.raw);
  }
  stop(&f);
  return 0;
}

TEST_IMPL(serve_embedded_web_files) {
  struct fixture f;
  start(&f, "http");
  struct test_http_resp r = get(&f, "/");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.head, "Content-Type: text/html; charset=utf-8");
  ASSERT_STR_CONTAINS(r.body, "<!doctype html>");
  free(r.raw);
  r = get(&f, "/index.html");
  ASSERT_EQ(r.status, 200);
  free(r.raw);
  r = get(&f, "/timeline.js");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.head, "Content-Type: text/javascript");
  ASSERT_STR_CONTAINS(r.body, "id: 'timeline'");
  free(r.raw);
  r = get(&f, "/timeline.css");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.head, "Content-Type: text/css");
  free(r.raw);
  /* what is embedded is what is in web/ */
  char path[4096];
  snprintf(path, sizeof path, "%s/web/app.js", test_source_dir);
  size_t len;
  char *want = test_read_file(path, &len);
  r = get(&f, "/app.js");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.len, len);
  ASSERT_MEM_HEX_EQ(r.body, want, len);
  free(want);
  free(r.raw);
  stop(&f);
  return 0;
}

TEST_IMPL(serve_cli_view_serves_until_signal) {
  const char *file = test_path("http");
  make_trace("http", file);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(test_build_path("ctrace"), "ctrace", "view", "--no-browser", "--addr", "127.0.0.1:0",
          file, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  char line[512];
  test_read_line(out[0], line, sizeof line);
  ASSERT_STR_CONTAINS(line, "ctrace view: serving ");
  const char *u = strstr(line, "http://127.0.0.1:");
  ASSERT(u != NULL);
  unsigned port = (unsigned)strtoul(u + strlen("http://127.0.0.1:"), NULL, 10);
  ASSERT_GT(port, 0);
  struct test_http_resp r = request(port, "GET", "/api/summary");
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_CONTAINS(r.body, "\"thread_list\":");
  free(r.raw);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT(WIFEXITED(st));
  ASSERT_EQ(WEXITSTATUS(st), 0);
  close(out[0]);

  /* bad usage: 2; unreadable file, bad address: 1 */
  char *argv1[] = {(char *)test_build_path("ctrace"), "view", NULL};
  ASSERT_EQ(test_run(argv1, NULL, NULL, NULL), 2);
  char *argv2[] = {(char *)test_build_path("ctrace"), "view", "--no-browser", "/nonexistent", NULL};
  ASSERT_EQ(test_run(argv2, NULL, NULL, NULL), 1);
  char *argv3[] = {(char *)test_build_path("ctrace"), "view", "--no-browser", "--addr",
                   "127.0.0.1:99999", (char *)file, NULL};
  ASSERT_EQ(test_run(argv3, NULL, NULL, NULL), 1);
  char *argv4[] = {(char *)test_build_path("ctrace"), "view", "--bogus", (char *)file, NULL};
  ASSERT_EQ(test_run(argv4, NULL, NULL, NULL), 2);
  return 0;
}

/* Answers every endpoint with a few parameters, in process (no socket: the
 * point is the indexer and the API on damaged input). */
static const char *fixed_param(void *ctx, const char *key) {
  const char *const *kv = ctx;
  for (; kv[0]; kv += 2)
    if (strcmp(kv[0], key) == 0)
      return kv[1];
  return NULL;
}

static void poke_all(struct ctrace_view *v) {
  static const char *const paths[] = {"/api/summary", "/api/threads", "/api/tasks",
                                      "/api/instances", "/api/timeline", "/api/event",
                                      "/api/profile", "/api/pprof", "/api/search",
                                      "/api/range", "/api/counters", "/api/drops", "/api/cpus",
                                      "/api/samples", "/api/sample"};
  char tid[16] = "0", ns[32] = "0", mid[32] = "0";
  if (v->tl->nthreads) {
    const struct ctrace_tl_thread *t = &v->tl->threads[v->tl->nthreads - 1];
    snprintf(tid, sizeof tid, "%u", t->tid);
    snprintf(ns, sizeof ns, "%" PRId64, t->first_ns);
    snprintf(mid, sizeof mid, "%" PRId64, (t->first_ns + t->last_ns) / 2);
  }
  const char *sets[][12] = {
      {NULL},
      {"kind", "task", "name", "request", "limit", "5", NULL},
      {"kind", "region", "name", "db.query", NULL},
      {"kind", "sync", "width", "50", NULL},
      {"kind", "span", "tid", tid, "ns", mid, NULL},
      {"kind", "region", "tid", tid, "ns", ns, NULL},
      {"kind", "log", "tid", tid, "ns", mid, NULL},
      {"kind", "wake", "tid", tid, "ns", mid, NULL},
      {"kind", "task", "id", "1099511627776", NULL},
      {"start_ns", ns, "end_ns", mid, "width", "7", NULL},
      {"q", "e", "start_ns", ns, "end_ns", mid, "limit", "3", NULL},
      {"q", "mutex", "tids", tid, NULL},
  };
  for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++)
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
      struct ctrace_reply r;
      ctrace_api_handle(v, paths[p], fixed_param, (void *)sets[s], &r);
      ASSERT(r.status == 200 || r.status == 400);
      free(r.body);
    }
}

TEST_IMPL(serve_damaged_traces_do_not_crash) {
  const char *file = test_path("gen");
  make_trace("gen", file);
  size_t len;
  uint8_t *data = (uint8_t *)test_read_file(file, &len);
  ASSERT_GT(len, 4096);
  uint8_t *copy = malloc(len);
  unsigned seed = 12345;
  int opened = 0;
  for (int round = 0; round < 60; round++) {
    memcpy(copy, data, len);
    size_t n = len;
    if (round % 3 == 0) {
      n = 32 + (size_t)rand_r(&seed) % (len - 32); /* cut off */
    } else {
      for (int k = 0; k < 1 + round % 5; k++) /* flipped bytes */
        copy[32 + (size_t)rand_r(&seed) % (len - 32)] ^= (uint8_t)(1 + rand_r(&seed) % 255);
    }
    ctrace_reader *r;
    char err[256];
    if (ctrace_reader_open_mem(copy, n, &r, err, sizeof err) < 0)
      continue;
    struct ctrace_view v;
    ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
    poke_all(&v);
    ctrace_view_fini(&v);
    ctrace_reader_close(r);
    opened++;
  }
  ASSERT_GT(opened, 10);
  free(copy);
  free(data);
  return 0;
}

/* The mapped trace's guard (view.h): a file truncated under the mapping
 * reads zeros past the cut instead of killing the process with SIGBUS, and
 * says it was lost; a view watching it then answers 409. */
TEST_IMPL(serve_mapped_trace_truncated_reads_zeros) {
  const char *file = test_path("mapped");
  FILE *f = fopen(file, "w");
  ASSERT(f);
  for (int i = 0; i < 64 * 1024; i++)
    fputc('x', f);
  ASSERT_EQ(fclose(f), 0);
  struct ctrace_view_file vf;
  ASSERT_EQ(ctrace_view_file_map(file, &vf), 0);
  ASSERT_EQ(vf.size, 64 * 1024);
  const volatile unsigned char *p = vf.data;
  ASSERT_EQ(p[40000], 'x');
  ASSERT_EQ(ctrace_view_file_lost(), 0);
  ctrace_view_file_release(&vf); /* the pages go; reading brings them back */
  ASSERT_EQ(p[40000], 'x');
  ASSERT_EQ(truncate(file, 4096), 0);
  ctrace_view_file_release(&vf);
  ASSERT_EQ(p[100], 'x');        /* still in the file */
  ASSERT_EQ(p[40000], 0);        /* past the cut: SIGBUS, caught */
  ASSERT_EQ(p[64 * 1024 - 1], 0);
  ASSERT_EQ(ctrace_view_file_lost(), 1);
  struct ctrace_view v;
  memset(&v, 0, sizeof v);
  v.path = file;
  ctrace_view_watch(&v, &vf.st);
  ASSERT_EQ(ctrace_view_changed(&v), 1);
  struct ctrace_reply r;
  ctrace_api_handle(&v, "/api/summary", NULL, NULL, &r);
  ASSERT_EQ(r.status, 409);
  ASSERT_STR_CONTAINS(r.body, "restart ctrace view");
  free(r.body);
  ctrace_view_file_unmap(&vf);
  return 0;
}
