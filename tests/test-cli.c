/*
 * test-cli.c - the `ctrace` command and the bundled examples, run as a user
 * runs them: usage errors, help, and what the examples' traces must show.
 */
#include <ctrace.h>
#include <unistd.h>

#include "trace-check.h"

static int ctrace_cmd(char **out, char **err, const char *a1, const char *a2, const char *a3) {
  char *argv[] = {(char *)test_build_path("ctrace"), (char *)a1, (char *)a2, (char *)a3, NULL};
  return test_run(argv, NULL, out, err);
}

TEST_IMPL(cli_usage_errors_exit_2) {
  char *err = NULL;
  ASSERT_EQ(ctrace_cmd(NULL, &err, NULL, NULL, NULL), 2);
  ASSERT_STR_CONTAINS(err, "usage: ctrace");
  free(err);
  ASSERT_EQ(ctrace_cmd(NULL, &err, "frobnicate", NULL, NULL), 2);
  ASSERT_STR_CONTAINS(err, "unknown command 'frobnicate'");
  free(err);
  const char *cmds[] = {"dump", "stats"};
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(ctrace_cmd(NULL, &err, cmds[i], NULL, NULL), 2);
    ASSERT_STR_CONTAINS(err, "FILE missing");
    ASSERT_STR_CONTAINS(err, "usage: ctrace");
    free(err);
    ASSERT_EQ(ctrace_cmd(NULL, &err, cmds[i], "--bogus", "x"), 2);
    ASSERT_STR_CONTAINS(err, "unknown option '--bogus'");
    free(err);
    ASSERT_EQ(ctrace_cmd(NULL, &err, cmds[i], "a", "b"), 2);
    free(err);
  }
  ASSERT_EQ(ctrace_cmd(NULL, &err, "dump", test_path("missing.ctrace"), NULL), 1);
  ASSERT_STR_CONTAINS(err, "No such file");
  free(err);
  return 0;
}

TEST_IMPL(cli_help_and_version) {
  char *out = NULL;
  ASSERT_EQ(ctrace_cmd(&out, NULL, "--help", NULL, NULL), 0);
  ASSERT_STR_CONTAINS(out, "usage: ctrace");
  ASSERT_STR_CONTAINS(out, "dump");
  ASSERT_STR_CONTAINS(out, "CTRACE_OUT");
  free(out);
  ASSERT_EQ(ctrace_cmd(&out, NULL, "--version", NULL, NULL), 0);
  ASSERT_STR_CONTAINS(out, CTRACE_VERSION_STRING);
  free(out);
  ASSERT_EQ(ctrace_cmd(&out, NULL, "dump", "--help", NULL), 0);
  ASSERT_STR_CONTAINS(out, "usage: ctrace dump");
  ASSERT_STR_CONTAINS(out, "Example:");
  free(out);
  ASSERT_EQ(ctrace_cmd(&out, NULL, "stats", "-h", NULL), 0);
  ASSERT_STR_CONTAINS(out, "--json");
  free(out);
  return 0;
}

TEST_IMPL(cli_example_minimal_sleeps_100ms) {
  char *argv[] = {(char *)test_build_path("examples/minimal"), (char *)test_path("m.ctrace"), NULL};
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  ctrace_reader *r = open_trace(test_path("m.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_nthreads(r), 1);
  ctrace_cursor c;
  ctrace_event ev;
  ctrace_cursor_init(&c, r, 0);
  ASSERT(ctrace_cursor_next(&c, &ev));
  ASSERT_EQ(ev.kind, CTRACE_EV_REGION_BEGIN);
  int64_t t0 = ctrace_reader_ns(r, ev.ticks);
  ASSERT(ctrace_cursor_next(&c, &ev));
  ASSERT_EQ(ev.kind, CTRACE_EV_REGION_END);
  int64_t dur = ctrace_reader_ns(r, ev.ticks) - t0;
  ASSERT_GE(dur, 100000000);
  ASSERT_LT(dur, 400000000); /* generous: a loaded 2-core machine */
  ctrace_reader_close(r);
  return 0;
}

/* The HTTP example: each request is a task "handleRequest" of about 50 ms
 * on a handler thread, with the 50 ms "db.query" region inside it. */
TEST_IMPL(cli_example_http_task_has_50ms_task) {
  char *argv[] = {(char *)test_build_path("examples/http_task"), (char *)test_path("h.ctrace"), "3",
                  NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "3 requests served");
  free(out);
  ctrace_reader *r = open_trace(test_path("h.ctrace"));
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_dropped(r), 0);
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  struct { uint64_t id; uint32_t tid; int64_t begin, db_begin, db_end, end; } req[8];
  int nreq = 0;
  int in_db = -1;
  while (ctrace_merge_next(m, &ev)) {
    if (ev.kind == CTRACE_EV_TASK_BEGIN && str_is(r, ev.f[2], "handleRequest")) {
      ASSERT_LT(nreq, 8);
      req[nreq].id = ev.f[0];
      req[nreq].tid = ev.tid;
      req[nreq].begin = ctrace_reader_ns(r, ev.ticks);
      req[nreq].db_begin = req[nreq].db_end = req[nreq].end = -1;
      nreq++;
    }
    for (int i = 0; i < nreq; i++) {
      if (ev.tid != req[i].tid)
        continue;
      if (ev.kind == CTRACE_EV_REGION_BEGIN && str_is(r, ev.f[1], "db.query")) {
        ASSERT_EQ(ev.f[0], req[i].id); /* attached to the request's task */
        req[i].db_begin = ctrace_reader_ns(r, ev.ticks);
        in_db = i;
      } else if (ev.kind == CTRACE_EV_REGION_END && in_db == i && req[i].db_end < 0) {
        req[i].db_end = ctrace_reader_ns(r, ev.ticks);
        in_db = -1;
      } else if (ev.kind == CTRACE_EV_TASK_END && ev.f[0] == req[i].id) {
        req[i].end = ctrace_reader_ns(r, ev.ticks);
      }
    }
  }
  ctrace_merge_free(m);
  ASSERT_EQ(nreq, 3);
  for (int i = 0; i < nreq; i++) {
    int64_t task = req[i].end - req[i].begin, db = req[i].db_end - req[i].db_begin;
    fprintf(stderr, "# request %d: task %.3f ms, db.query %.3f ms\n", i, task / 1e6, db / 1e6);
    ASSERT_GE(db, 50000000);
    ASSERT_LT(db, 250000000);
    ASSERT_GE(task, db);
    ASSERT_LT(task - db, 50000000); /* the sleep is most of the task */
    ASSERT_GE(req[i].db_begin, req[i].begin);
    ASSERT_LE(req[i].db_end, req[i].end);
  }
  /* Threads: main, the acceptor, three handlers, named, with links. */
  ASSERT_EQ(ctrace_reader_nthreads(r), 5);
  int handlers = 0;
  for (uint32_t i = 0; i < 5; i++) {
    const struct ctrace_thread_info *t = ctrace_reader_thread(r, i);
    if (str_is(r, t->name, "handler")) {
      handlers++;
      ASSERT_NE(t->created_by, 0);
    }
  }
  ASSERT_EQ(handlers, 3);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(cli_stats_json_has_documented_keys) {
  char *argv[] = {(char *)test_build_path("examples/http_task"), (char *)test_path("h.ctrace"), NULL};
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  char *out = NULL;
  ASSERT_EQ(ctrace_cmd(&out, NULL, "stats", "--json", test_path("h.ctrace")), 0);
  const char *keys[] = {"\"duration_ns\":", "\"threads\":3", "\"events\":", "\"events_by_kind\":{",
                        "\"bytes\":", "\"dropped_events\":0", "\"tasks\":2", "\"regions\":2",
                        "\"processes\":1", "\"tracer_overhead_ns\":", "\"families\":{",
                        "\"handleRequest\":{\"count\":1", "\"TASK_BEGIN\":2", "\"complete\":true"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    ASSERT_STR_CONTAINS(out, keys[i]);
  free(out);
  ASSERT_EQ(ctrace_cmd(&out, NULL, "stats", test_path("h.ctrace"), NULL), 0);
  ASSERT_STR_CONTAINS(out, "dropped events  0");
  ASSERT_STR_CONTAINS(out, "handleRequest");
  free(out);
  ASSERT_EQ(ctrace_cmd(&out, NULL, "dump", test_path("h.ctrace"), NULL), 0);
  ASSERT_STR_CONTAINS(out, "TASK_BEGIN task=");
  ASSERT_STR_CONTAINS(out, "name=\"handleRequest\"");
  ASSERT_STR_CONTAINS(out, "LOG task=");
  ASSERT_STR_CONTAINS(out, "message=\"GET /hello\"");
  ASSERT_STR_CONTAINS(out, "    at serve ("); /* the creator's stack, symbolized */
  free(out);
  return 0;
}

TEST_IMPL(cli_header_works_from_cxx) {
  char *argv[] = {(char *)test_build_path("examples/cxx_check"), (char *)test_path("x.ctrace"), NULL};
  if (access(argv[0], X_OK) != 0)
    RETURN_SKIP("no C++ compiler at build time (install g++)");
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  ctrace_reader *r = open_trace(test_path("x.ctrace"));
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_BEGIN), 1);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_END), 1); /* the scope ended it */
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_LOG), 1);
  ctrace_reader_close(r);
  return 0;
}

/* `ctrace run` on a program that uses the API itself: one trace with both
 * the preload's events and the program's tasks; the program's own start
 * and stop succeed and join that trace; threads are not recorded twice. */
TEST_IMPL(cli_run_api_program_records_one_trace) {
  char *argv[] = {(char *)test_build_path("ctrace"), "run", "-o", (char *)test_path("run.ctrace"),
                  "--", (char *)test_build_path("examples/http_task"),
                  (char *)test_path("own.ctrace"), "2", NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "2 requests served");
  free(out);
  ASSERT(access(test_path("own.ctrace"), F_OK) != 0);
  ctrace_reader *r = open_trace(test_path("run.ctrace"));
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_TASK_BEGIN), 4);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_BEGIN), 4);
  ASSERT_GT(ctrace_reader_nevents_kind(r, CTRACE_EV_SYSCALL), 4);
  ASSERT_EQ(ctrace_reader_nthreads(r), 4); /* main, acceptor, 2 handlers */
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_THREAD_CREATE), 3);
  ASSERT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_THREAD_START), 3);
  ctrace_reader_close(r);
  return 0;
}
