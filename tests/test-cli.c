/*
 * test-cli.c - the `ctrace` command and the bundled examples, run as a user
 * runs them: usage errors, help, and what the examples' traces must show.
 */
#include <ctrace.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

/* ---- nothing fails silently ---- */

static int run_argv(char **out, char **err, const char *const *args, char *const env[]) {
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)test_build_path("ctrace");
  for (; *args && n < 31; args++)
    argv[n++] = (char *)*args;
  argv[n] = NULL;
  return test_run(argv, env, out, err);
}

TEST_IMPL(cli_help_command_and_missing_file) {
  char *out = NULL, *err = NULL;
  ASSERT_EQ(ctrace_cmd(&out, NULL, "help", "run", NULL), 0);
  ASSERT_STR_CONTAINS(out, "usage: ctrace run");
  free(out);
  ASSERT_EQ(ctrace_cmd(NULL, &err, "help", "frobnicate", NULL), 2);
  ASSERT_STR_CONTAINS(err, "unknown command 'frobnicate'");
  free(err);
  /* The file's name once. */
  const char *path = test_path("nosuch.ctrace");
  ASSERT_EQ(ctrace_cmd(NULL, &err, "stats", path, NULL), 1);
  ASSERT_STR_CONTAINS(err, "No such file");
  char *first = strstr(err, "nosuch.ctrace");
  ASSERT(first && !strstr(first + 1, "nosuch.ctrace"));
  free(err);
  return 0;
}

TEST_IMPL(cli_run_checks_the_output_first) {
  char *err = NULL;
  const char *marker = test_path("ran");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "touch %s", marker);
  const char *a1[] = {"run", "-o", "/nonexistent/x.ctrace", "--", "/bin/sh", "-c", cmd, NULL};
  ASSERT_EQ(run_argv(NULL, &err, a1, NULL), 1);
  ASSERT_STR_CONTAINS(err, "cannot write the trace to /nonexistent/x.ctrace: No such file");
  ASSERT(!strstr(err, "LD_PRELOAD"));
  free(err);
  ASSERT(access(marker, F_OK) != 0); /* the program did not run */
  const char *a2[] = {"run", "-o", "/dev/null", "--", "/bin/true", NULL};
  ASSERT_EQ(run_argv(NULL, &err, a2, NULL), 1);
  ASSERT_STR_CONTAINS(err, "not a regular file");
  free(err);
  if (geteuid() != 0) { /* root writes anywhere */
    const char *dir = test_path("ro");
    ASSERT_EQ(mkdir(dir, 0555), 0);
    char out[512];
    snprintf(out, sizeof out, "%s/x.ctrace", dir);
    const char *a3[] = {"run", "-o", out, "--", "/bin/true", NULL};
    ASSERT_EQ(run_argv(NULL, &err, a3, NULL), 1);
    ASSERT_STR_CONTAINS(err, "Permission denied");
    free(err);
  }
  const char *bad[] = {"nan", "1e99s", "-1ms", "inf", "5 parsecs"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *a4[] = {"run", "--min-duration", bad[i], "--", "/bin/true", NULL};
    ASSERT_EQ(run_argv(NULL, &err, a4, NULL), 2);
    ASSERT_STR_CONTAINS(err, "bad duration");
    free(err);
  }
  return 0;
}

/* Bad CTRACE_* values: one line each from ctrace run (not from the program),
 * the safe value used, and the trace says what was in effect. */
TEST_IMPL(cli_run_reports_bad_environment) {
  const char *path = test_path("env.ctrace");
  char *env[] = {"CTRACE_FAMILIES=sleep,mutex", "CTRACE_BUFFER_KB=2", "CTRACE_STACKS=most",
                 "CTRACE_CLOCK=hpet",           "CTRACE_MIN_NS=-5",  "CTRACE_MEMORY_MB=lots",
                 "CTRACE_UNWIND=guess",         NULL};
  const char *args[] = {"run", "-o", path, "--", "/bin/sh", "-c", "sleep 0.01", NULL};
  char *out = NULL, *err = NULL;
  ASSERT_EQ(run_argv(NULL, &err, args, env), 0);
  ASSERT_STR_CONTAINS(err, "ctrace run: CTRACE_FAMILIES=sleep,mutex is not accepted");
  ASSERT_STR_CONTAINS(err, "using sleep\n");
  ASSERT_STR_CONTAINS(err, "CTRACE_BUFFER_KB=2 is not accepted (an integer from 4 to 16384); using 64");
  ASSERT_STR_CONTAINS(err, "CTRACE_STACKS=most is not accepted");
  ASSERT_STR_CONTAINS(err, "CTRACE_CLOCK=hpet is not accepted");
  ASSERT_STR_CONTAINS(err, "CTRACE_MIN_NS=-5 is not accepted");
  ASSERT_STR_CONTAINS(err, "CTRACE_MEMORY_MB=lots is not accepted");
  ASSERT_STR_CONTAINS(err, "CTRACE_UNWIND=guess is not accepted");
  ASSERT(!strstr(err, "\nctrace: ")); /* not the library's, from the program */
  free(err);
  ASSERT_EQ(ctrace_cmd(&out, NULL, "stats", path, NULL), 0);
  ASSERT_STR_CONTAINS(out, "configuration   buffer_kb=64 memory_mb=64 stacks=blocking");
  ASSERT_STR_CONTAINS(out, "unwind=cfi families=sleep min_ns=5000 follow_forks=1");
  free(out);
  /* CTRACE_FAMILIES=bogus: all families, said so. */
  char *env2[] = {"CTRACE_FAMILIES=bogus", NULL};
  ASSERT_EQ(run_argv(NULL, &err, args, env2), 0);
  ASSERT_STR_CONTAINS(err, "CTRACE_FAMILIES=bogus is not accepted (a comma-separated list of "
                           "sync, sleep, io, net, proc, all); using all");
  free(err);
  ASSERT_EQ(ctrace_cmd(&out, NULL, "stats", "--json", path), 0);
  ASSERT_STR_CONTAINS(out, "\"config\":\"buffer_kb=64 ");
  ASSERT_STR_CONTAINS(out, "families=all ");
  free(out);
  return 0;
}

/* The library used directly (CTRACE_OUT) says it itself, once. */
TEST_IMPL(cli_library_reports_bad_environment) {
  char *argv[] = {(char *)test_build_path("examples/minimal"), (char *)test_path("m.ctrace"), NULL};
  char *env[] = {"CTRACE_BUFFER_KB=99999", "CTRACE_STACKS=", NULL};
  char *err = NULL;
  ASSERT_EQ(test_run(argv, env, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, "ctrace: CTRACE_BUFFER_KB=99999 is not accepted (an integer from 4 to "
                           "16384); using 64\n");
  ASSERT(!strstr(err, "CTRACE_STACKS")); /* empty is unset */
  free(err);
  return 0;
}

TEST_IMPL(cli_profile_unknown_thread_and_api_hint) {
  char *argv[] = {(char *)test_build_path("examples/minimal"), (char *)test_path("m.ctrace"), NULL};
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  char *out = NULL, *err = NULL;
  const char *a1[] = {"profile", "--tid", "999999", test_path("m.ctrace"), NULL};
  ASSERT_EQ(run_argv(&out, &err, a1, NULL), 1);
  ASSERT_STR_CONTAINS(err, "thread 999999 is not in");
  free(out);
  free(err);
  const char *a2[] = {"profile", test_path("m.ctrace"), NULL};
  ASSERT_EQ(run_argv(&out, NULL, a2, NULL), 0);
  ASSERT_STR_CONTAINS(out, "recorded by `ctrace run -- PROGRAM`");
  free(out);
  return 0;
}

/* Valid UTF-8 only: an invalid name becomes U+FFFD, a valid one stays. */
TEST_IMPL(cli_stats_json_is_valid_utf8) {
  const char *path = test_path("u.ctrace");
  ASSERT_EQ(ctrace_start_path(path), 0);
  ctrace_task_end(ctrace_task_begin(0, "bad\xff\xc0\x80name"));
  ctrace_task_end(ctrace_task_begin(0, "caf\xc3\xa9\xed\xa0\x80"));
  ctrace_thread_set_name("t\xe2\x82");
  ASSERT_EQ(ctrace_stop(), 0);
  char *out = NULL;
  ASSERT_EQ(ctrace_cmd(&out, NULL, "stats", "--json", path), 0);
  ASSERT_STR_CONTAINS(out, "\"bad\\ufffd\\ufffd\\ufffdname\"");
  ASSERT_STR_CONTAINS(out, "\"caf\xc3\xa9\\ufffd\\ufffd\\ufffd\"");
  for (const unsigned char *p = (const unsigned char *)out; *p; p++)
    ASSERT(*p != 0xff && *p != 0xc0 && *p != 0xed);
  free(out);
  return 0;
}

/* A unix socket path with a newline stays on its event's line. */
HELPER_IMPL(cli_unix_connect_prog) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[1]);
  int s = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0 || c < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0 ||
      connect(c, (struct sockaddr *)&a, sizeof a) < 0)
    return 1;
  unlink(a.sun_path);
  return 0;
}

TEST_IMPL(cli_run_dump_escapes_socket_paths) {
  const char *path = test_path("s.ctrace");
  char sock[256];
  snprintf(sock, sizeof sock, "%s/a\nb\"c", test_path("."));
  const char *args[] = {"run", "--min-duration", "0", "-o", path, "--", test_self_path,
                        "--helper", "cli_unix_connect_prog", sock, NULL};
  ASSERT_EQ(run_argv(NULL, NULL, args, NULL), 0);
  char *out = NULL;
  ASSERT_EQ(ctrace_cmd(&out, NULL, "dump", path, NULL), 0);
  ASSERT_STR_CONTAINS(out, "/a\\x0ab\\\"c");
  ASSERT(!strstr(out, "a\nb"));
  free(out);
  return 0;
}

/* Child traces: STEM.PID.ctrace, whatever the extension of -o (docs/RUN.md). */
TEST_IMPL(cli_run_names_child_traces_as_documented) {
  const char *path = test_path("kid.ct");
  const char *args[] = {"run", "-o", path, "--", "/bin/sh", "-c", "/bin/true; /bin/true", NULL};
  char *err = NULL;
  ASSERT_EQ(run_argv(NULL, &err, args, NULL), 0);
  ASSERT_STR_CONTAINS(err, "kid.ct.");
  char *p = strstr(err, "kid.ct.");
  p += strlen("kid.ct.");
  ASSERT(*p >= '0' && *p <= '9');
  while ((*p >= '0' && *p <= '9') || *p == '-')
    p++;
  ASSERT(strncmp(p, ".ctrace", 7) == 0);
  free(err);
  return 0;
}

/* A batch that does not decode leaves no trace in the kind counts (the
 * reader's, which `stats` prints): every byte spoilt in turn. */
TEST_IMPL(cli_stats_counts_agree_on_corrupt_files) {
  char *argv[] = {(char *)test_build_path("examples/minimal"), (char *)test_path("m.ctrace"), NULL};
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  size_t len;
  char *good = test_read_file(test_path("m.ctrace"), &len);
  ASSERT(good);
  char *bad = malloc(len);
  ASSERT(bad);
  for (size_t off = 32; off < len; off++) {
    memcpy(bad, good, len);
    bad[off] = (char)0xff;
    ctrace_reader *r;
    char why[CTRACE_READ_ERRLEN];
    if (ctrace_reader_open_mem(bad, len, &r, why, sizeof why) < 0)
      continue;
    uint64_t sum = 0;
    for (unsigned k = 0; k < 256; k++)
      sum += ctrace_reader_nevents_kind(r, k);
    if (sum != ctrace_reader_nevents(r))
      printf("# offset %zu: events %llu, kinds %llu\n", off,
             (unsigned long long)ctrace_reader_nevents(r), (unsigned long long)sum);
    ASSERT_UINT_EQ(ctrace_reader_nevents(r), sum);
    ctrace_reader_close(r);
  }
  free(bad);
  free(good);
  return 0;
}

/* Stacks of a ctrace run trace: no frame of the tracer itself (the open
 * interposer's helper was one), and every PC in code the trace maps (the
 * frame-pointer walk stops at a return address that is not code). */
HELPER_IMPL(cli_open_prog) {
  for (int i = 0; i < 3; i++) {
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0)
      return 1;
    close(fd);
    fd = openat(AT_FDCWD, argv[1], O_RDONLY);
    if (fd < 0)
      return 1;
    close(fd);
  }
  return 0;
}

TEST_IMPL(cli_run_stacks_hold_no_tracer_frame) {
  const char *path = test_path("o.ctrace");
  const char *args[] = {"run", "--min-duration", "0", "-o", path, "--", test_self_path,
                        "--helper", "cli_open_prog", "/etc/hostname", NULL};
  ASSERT_EQ(run_argv(NULL, NULL, args, NULL), 0);
  char *out = NULL;
  ASSERT_EQ(ctrace_cmd(&out, NULL, "dump", path, NULL), 0);
  ASSERT_STR_CONTAINS(out, "call=openat");
  ASSERT_STR_CONTAINS(out, "at helper_cli_open_prog (");
  ASSERT(!strstr(out, "src/preload/"));
  ASSERT(!strstr(out, "libctrace-preload.so+"));
  free(out);
  ctrace_reader *r = open_trace(path);
  for (uint32_t id = 1; id <= ctrace_reader_nstacks(r); id++) {
    const uint64_t *pcs;
    uint32_t n = ctrace_reader_stack(r, id, &pcs);
    for (uint32_t i = 0; i < n; i++) {
      int in = 0;
      for (uint32_t m = 0; m < ctrace_reader_nmappings(r) && !in; m++) {
        const struct ctrace_mapping *mp = ctrace_reader_mapping(r, m);
        in = pcs[i] >= mp->start && pcs[i] < mp->end;
      }
      if (!in)
        printf("# stack %u frame %u: 0x%llx is in no mapping\n", id, i,
               (unsigned long long)pcs[i]);
      ASSERT(in);
    }
  }
  ctrace_reader_close(r);
  return 0;
}

/* A file system that fills during the run: said so by ctrace run, not
 * blamed on LD_PRELOAD. An 8 KiB tmpfs in a private mount namespace. */
TEST_IMPL(cli_run_reports_a_full_disk) {
  const char *dir = test_path("full");
  ASSERT_EQ(mkdir(dir, 0755), 0);
  char script[2048];
  snprintf(script, sizeof script,
           "mount -t tmpfs -o size=8k tmpfs '%s' 2>/dev/null || exit 77\n"
           "exec '%s' run --min-duration 0 -o '%s/x.ctrace' -- /bin/sh -c "
           "'for i in 1 2 3 4 5 6; do /bin/cat /etc/passwd >/dev/null; done'",
           dir, test_build_path("ctrace"), dir);
  char *argv[] = {"/usr/bin/unshare", "-m", "/bin/sh", "-c", script, NULL};
  if (geteuid() != 0 || access(argv[0], X_OK) != 0)
    RETURN_SKIP("needs root and unshare(1) to mount a small tmpfs");
  char *err = NULL;
  int rc = test_run(argv, NULL, NULL, &err);
  if (rc == 77 || (rc != 0 && strstr(err, "unshare")))
    RETURN_SKIP("cannot mount a tmpfs in a private mount namespace here");
  ASSERT_EQ(rc, 0);
  ASSERT_STR_CONTAINS(err, "is full: the trace is");
  ASSERT(!strstr(err, "LD_PRELOAD"));
  free(err);
  return 0;
}
