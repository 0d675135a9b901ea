/*
 * test-truth.c - what every tool shows is what happened: two threads that
 * had the same kernel tid (a reuse forced in a pid namespace of its own)
 * stay two threads with their own times and names in the reader, stats,
 * dump, profiles, the timeline and the HTTP API.
 */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/analyze/chrome.h"
#include "../src/analyze/profile.h"
#include "../src/analyze/stats.h"
#include "../src/analyze/timeline.h"
#include "../src/serve/view.h"
#include "hand-trace.h"
#include "task.h"
#include "trace-check.h"

#define PROG(name) test_build_path("src/preload/prog_" name)

/* GET path?q... of the API; the body (malloc'ed), the status in *status. */
static char *api(struct ctrace_view *v, const char *path, const char *const *q, int *status) {
  static const char *const none[] = {NULL};
  struct ctrace_reply out;
  ctrace_api_handle(v, path, param, (void *)(q ? q : none), &out);
  *status = out.status;
  return out.body;
}

/* The JSON object of list (a body) that contains key (e.g. "\"instance\":1")
 * after the n-th occurrence of "\"tid\":T,": a copy of the text from that
 * "{" to its "}" (no nested objects before it), or NULL. */
static char *object_with(const char *body, const char *start, const char *key) {
  for (const char *p = strstr(body, start); p; p = strstr(p + 1, start)) {
    const char *a = p;
    while (a > body && *a != '{')
      a--;
    int depth = 0;
    const char *e = a;
    for (; *e; e++) {
      if (*e == '{')
        depth++;
      else if (*e == '}' && --depth == 0)
        break;
    }
    size_t n = (size_t)(e - a) + 1;
    char *o = malloc(n + 1);
    memcpy(o, a, n);
    o[n] = 0;
    if (strstr(o, key))
      return o;
    free(o);
  }
  return NULL;
}

static long json_long(const char *obj, const char *key) {
  const char *p = strstr(obj, key);
  if (!p)
    TEST_FAIL_("no %s in %s", key, obj);
  return strtol(p + strlen(key), NULL, 10);
}

/* Runs tests/progs/tid_reuse under `ctrace run` in a pid namespace of its
 * own (so that it can set the next tid). 0 with *tid the reused tid, or a
 * skip reason in test_skip_reason and -1. */
static int trace_tid_reuse(const char *path, long *tid) {
  if (geteuid() != 0) {
    snprintf(test_skip_reason, sizeof test_skip_reason,
             "forcing tid reuse needs root (a pid namespace and ns_last_pid)");
    return -1;
  }
  const char *unshare = access("/usr/bin/unshare", X_OK) == 0 ? "/usr/bin/unshare" : "/bin/unshare";
  if (access(unshare, X_OK) != 0) {
    snprintf(test_skip_reason, sizeof test_skip_reason, "no unshare (util-linux)");
    return -1;
  }
  /* The kernel frees an exited thread's tid a moment after the thread is
   * gone; the program waits for that, but a loaded machine can still hand
   * the tid out late: a few tries, each in a fresh namespace. */
  for (int attempt = 0; attempt < 4; attempt++) {
    char *argv[] = {(char *)unshare, "--kill-child",       "--pid",     "--fork", "--mount-proc",
                    (char *)test_build_path("ctrace"), "run",       "-o",     (char *)path,
                    "--",         (char *)PROG("tid_reuse"), NULL};
    char *out = NULL, *err = NULL;
    /* without scheduling data, so that a wait is one span up to its return */
    char *const envv[] = {"CTRACE_SCHED=off", NULL};
    int st = test_run(argv, envv, &out, &err);
    if (st != 0) {
      snprintf(test_skip_reason, sizeof test_skip_reason,
               "unshare --pid --fork --mount-proc failed (%d): %.150s", st, err ? err : "");
      free(out);
      free(err);
      return -1;
    }
    long a = 0, b = 0;
    if (out && strncmp(out, "skip: ", 6) == 0) {
      snprintf(test_skip_reason, sizeof test_skip_reason, "%.200s", out + 6);
      test_skip_reason[strcspn(test_skip_reason, "\n")] = 0;
      free(out);
      free(err);
      return -1;
    }
    if (!out || sscanf(out, "tids %ld %ld", &a, &b) != 2)
      TEST_FAIL_("tid_reuse printed \"%s\" (stderr \"%s\")", out ? out : "", err ? err : "");
    free(out);
    free(err);
    fprintf(stderr, "# attempt %d: tids %ld %ld\n", attempt, a, b);
    if (a == b) {
      *tid = a;
      return 0;
    }
  }
  TEST_FAIL_("the kernel never gave the first thread's tid to the second (%d tries)", 4);
}

/* Two threads with one tid, one after the other, in one process: every
 * tool shows two threads, each with its own times and name. */
TEST_IMPL(truth_tid_reuse_in_every_tool) {
  const char *path = test_path("reuse.ctrace");
  long tid;
  if (trace_tid_reuse(path, &tid) < 0)
    return TEST_SKIP;
  ctrace_reader *r = open_trace(path);
  ASSERT_EQ(ctrace_reader_complete(r), 1);

  /* the reader: two threads with the tid, instances 0 and 1, one after
   * the other, each with its name */
  ASSERT_EQ(ctrace_reader_nthreads(r), 3);
  int64_t ia = -1, ib = -1;
  for (uint32_t i = 0; i < 3; i++) {
    const struct ctrace_thread_info *t = ctrace_reader_thread(r, i);
    if (t->tid != (uint32_t)tid)
      continue;
    if (t->instance == 0)
      ia = i;
    else if (t->instance == 1)
      ib = i;
  }
  ASSERT(ia >= 0 && ib >= 0);
  const struct ctrace_thread_info *A = ctrace_reader_thread(r, (uint32_t)ia);
  const struct ctrace_thread_info *B = ctrace_reader_thread(r, (uint32_t)ib);
  ASSERT(str_is(r, A->name, "first"));
  ASSERT(str_is(r, B->name, "second"));
  ASSERT(A->exited && B->exited);
  ASSERT_LT(A->last, B->first);
  int64_t a0 = ctrace_reader_ns(r, A->first), a1 = ctrace_reader_ns(r, A->last);
  int64_t b0 = ctrace_reader_ns(r, B->first), b1 = ctrace_reader_ns(r, B->last);
  /* each lived through its sleep (20 ms, 30 ms) */
  ASSERT_GE(a1 - a0, 20000000);
  ASSERT_GE(b1 - b0, 30000000);
  ASSERT_EQ(ctrace_reader_thread_index_at(r, (uint32_t)tid, A->first), ia);
  ASSERT_EQ(ctrace_reader_thread_index_at(r, (uint32_t)tid, A->last), ia);
  ASSERT_EQ(ctrace_reader_thread_index_at(r, (uint32_t)tid, B->first), ib);
  ASSERT_EQ(ctrace_reader_thread_index_at(r, (uint32_t)tid, B->last), ib);

  /* stats: three threads */
  struct ctrace_stats st;
  ASSERT_EQ(ctrace_stats_compute(r, &st), 0);
  ASSERT_EQ(st.threads, 3);
  ctrace_stats_free(&st);
  char *out = NULL;
  char *sargv[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)path, NULL};
  ASSERT_EQ(test_run(sargv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"threads\":3,");
  free(out);

  /* dump: each thread's start, name, region and exit, in that order, at
   * times inside its own life */
  char *dargv[] = {(char *)test_build_path("ctrace"), "dump", "--no-stacks", (char *)path, NULL};
  ASSERT_EQ(test_run(dargv, NULL, &out, NULL), 0);
  {
    const char *want[] = {"THREAD_START", "THREAD_NAME tid=%ld name=\"first\"",
                          "REGION_BEGIN task=0 name=\"first.work\"", "THREAD_EXIT",
                          "THREAD_START", "REGION_BEGIN task=0 name=\"second.work\"", "THREAD_EXIT"};
    size_t k = 0;
    int nnames = 0;
    char line[512];
    for (const char *p = out; *p && k < sizeof want / sizeof want[0];) {
      size_t n = strcspn(p, "\n");
      snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
      p += n + (p[n] == '\n');
      long long t;
      long ltid;
      char rest[400];
      if (sscanf(line, "%lld %ld %399[^\n]", &t, &ltid, rest) != 3)
        continue;
      if (strstr(rest, "THREAD_NAME") && strstr(rest, "name=\"second\"")) {
        char w[64];
        snprintf(w, sizeof w, "THREAD_NAME tid=%ld ", tid);
        ASSERT(strncmp(rest, w, strlen(w)) == 0);
        ASSERT_GT(t, a1); /* named by main, after the first thread exited */
        nnames++;
      }
      if (ltid != tid)
        continue;
      char w[128];
      snprintf(w, sizeof w, want[k], tid);
      if (strncmp(rest, w, strlen(w)) != 0)
        continue;
      if (k < 4) {
        ASSERT_GE(t, a0);
        ASSERT_LE(t, a1);
      } else {
        ASSERT_GE(t, b0);
        ASSERT_LE(t, b1);
      }
      k++;
    }
    ASSERT_EQ(k, sizeof want / sizeof want[0]);
    ASSERT_EQ(nnames, 1);
  }
  free(out);

  /* profiles: each thread's sleep, by thread and window */
  struct ctrace_profile pr;
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SLEEP, a0, a1 + 1, (uint32_t)tid, &pr), 0);
  ASSERT_GE(pr.total_ns, 20000000);
  ASSERT_LT(pr.total_ns, (uint64_t)(a1 - a0 + 1));
  ctrace_profile_free(&pr);
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SLEEP, b0, b1 + 1, (uint32_t)tid, &pr), 0);
  ASSERT_GE(pr.total_ns, 30000000);
  ASSERT_LT(pr.total_ns, (uint64_t)(b1 - b0 + 1));
  ctrace_profile_free(&pr);

  /* the timeline: two rows, each woken by main at its own condvar wait */
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, path, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  const struct ctrace_tl_thread *ta = &tl->threads[ia], *tb = &tl->threads[ib];
  ASSERT_EQ(ta->first_ns, a0);
  ASSERT_EQ(ta->last_ns, a1);
  ASSERT_EQ(tb->first_ns, b0);
  ASSERT_EQ(tb->last_ns, b1);
  ASSERT_GE(ta->state_ns[CTRACE_ST_SLEEP], 20000000);
  ASSERT_GE(tb->state_ns[CTRACE_ST_SLEEP], 30000000);
  ASSERT_EQ(ctrace_timeline_thread_at(tl, (uint32_t)tid, a0), ia);
  ASSERT_EQ(ctrace_timeline_thread_at(tl, (uint32_t)tid, (a0 + a1) / 2), ia);
  ASSERT_EQ(ctrace_timeline_thread_at(tl, (uint32_t)tid, (b0 + b1) / 2), ib);
  ASSERT_EQ(ctrace_timeline_thread_at(tl, (uint32_t)tid, b1), ib);
  size_t nwoken = 0;
  for (size_t k = 0; k < tl->nwakes; k++) {
    const struct ctrace_tl_wake *w = &tl->wakes[k];
    if (w->woken_tid != (uint32_t)tid)
      continue;
    ASSERT_EQ(w->woken, w->t <= a1 ? ia : ib);
    nwoken++;
  }
  ASSERT_EQ(nwoken, 2);
  /* the condvar waits: the spans whose end the wakes explain */
  int64_t wait_end[2] = {0, 0};
  for (uint32_t k = 0; k < 2; k++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, (uint32_t)(k ? ib : ia));
    while (ctrace_cursor_next(&c, &ev))
      if (ev.kind == CTRACE_EV_WAIT && CTRACE_EV(wait, &ev).reason == CTRACE_WAIT_COND)
        wait_end[k] = ctrace_reader_ns(r, ev.ticks);
    ASSERT_GT(wait_end[k], 0);
  }

  /* the HTTP API */
  int status;
  char *body = api(&v, "/api/summary", NULL, &status);
  ASSERT_EQ(status, 200);
  char key[64];
  snprintf(key, sizeof key, "\"tid\":%ld,", tid);
  /* the summary's thread list (its stats part has per-thread states too) */
  const char *list = strstr(body, "\"thread_list\":");
  ASSERT(list);
  char *o = object_with(list, key, "\"instance\":0,");
  ASSERT(o);
  ASSERT_STR_CONTAINS(o, "\"name\":\"first\"");
  ASSERT_EQ(json_long(o, "\"first_ns\":"), a0);
  ASSERT_EQ(json_long(o, "\"last_ns\":"), a1);
  free(o);
  o = object_with(list, key, "\"instance\":1,");
  ASSERT(o);
  ASSERT_STR_CONTAINS(o, "\"name\":\"second\"");
  ASSERT_EQ(json_long(o, "\"first_ns\":"), b0);
  ASSERT_EQ(json_long(o, "\"last_ns\":"), b1);
  free(o);
  free(body);
  body = api(&v, "/api/threads", NULL, &status);
  ASSERT_EQ(status, 200);
  o = object_with(body, key, "\"instance\":0,");
  ASSERT(o);
  ASSERT_STR_CONTAINS(o, "\"name\":\"first\"");
  ASSERT_EQ(json_long(o, "\"total_ns\":"), a1 - a0);
  ASSERT_GE(json_long(o, "\"sleep\":"), 20000000);
  free(o);
  o = object_with(body, key, "\"instance\":1,");
  ASSERT(o);
  ASSERT_STR_CONTAINS(o, "\"name\":\"second\"");
  ASSERT_EQ(json_long(o, "\"total_ns\":"), b1 - b0);
  ASSERT_GE(json_long(o, "\"sleep\":"), 30000000);
  free(o);
  free(body);
  /* the timeline's rows for that tid: both threads */
  char tids[64];
  snprintf(tids, sizeof tids, "tids=%ld", tid);
  {
    const char *q[] = {tids, NULL};
    struct ctrace_reply out2;
    ctrace_api_handle(&v, "/api/timeline", param, (void *)q, &out2);
    ASSERT_EQ(out2.status, 200);
    uint32_t nrows;
    memcpy(&nrows, out2.body + 4, 4);
    ASSERT_EQ(nrows, 2);
    free(out2.body);
  }
  /* a range's numbers for that tid: both threads, each with its own name */
  {
    char rq[64];
    snprintf(rq, sizeof rq, "tids=%ld", tid);
    const char *q[] = {rq, NULL};
    body = api(&v, "/api/range", q, &status);
    ASSERT_EQ(status, 200);
    o = object_with(body, key, "\"name\":\"first\"");
    ASSERT(o);
    ASSERT_EQ(json_long(o, "\"alive_ns\":"), a1 - a0);
    free(o);
    o = object_with(body, key, "\"name\":\"second\"");
    ASSERT(o);
    ASSERT_EQ(json_long(o, "\"alive_ns\":"), b1 - b0);
    free(o);
    free(body);
  }
  /* per-event details: a time in each thread's life gives that thread */
  char tidq[64], nsq[64];
  snprintf(tidq, sizeof tidq, "tid=%ld", tid);
  for (int k = 0; k < 2; k++) {
    snprintf(nsq, sizeof nsq, "ns=%lld", (long long)(wait_end[k] - 1));
    const char *q[] = {"kind=span", tidq, nsq, NULL};
    body = api(&v, "/api/event", q, &status);
    ASSERT_EQ(status, 200);
    ASSERT_STR_CONTAINS(body, "\"state\":\"sync\"");
    ASSERT_STR_CONTAINS(body, k ? "\"instance\":1" : "\"instance\":0");
    ASSERT_STR_CONTAINS(body, "\"reason\":\"COND\"");
    ASSERT_STR_CONTAINS(body, "\"woken_by\":{\"tid\":");
    ASSERT_STR_CONTAINS(body, k ? "\"region\":\"second.work\"" : "\"region\":\"first.work\"");
    ASSERT_EQ(json_long(body, "\"end_ns\":"), wait_end[k]);
    free(body);
    /* the region that thread opened: at its REGION_BEGIN (the thread's
     * first event may come well before it on a slow machine) */
    int64_t rstart = -1;
    {
      ctrace_cursor cu;
      ctrace_event ev;
      ctrace_cursor_init(&cu, r, (uint32_t)(k ? ib : ia));
      while (rstart < 0 && ctrace_cursor_next(&cu, &ev))
        if (ev.kind == CTRACE_EV_REGION_BEGIN)
          rstart = ctrace_reader_ns(r, ev.ticks);
    }
    ASSERT_GE(rstart, 0);
    snprintf(nsq, sizeof nsq, "ns=%lld", (long long)rstart);
    const char *qr[] = {"kind=region", tidq, nsq, NULL};
    body = api(&v, "/api/event", qr, &status);
    ASSERT_EQ(status, 200);
    ASSERT_STR_CONTAINS(body, k ? "\"name\":\"second.work\"" : "\"name\":\"first.work\"");
    free(body);
  }
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

/* The spans of a timeline thread: time by state, through the LOD query. */
static void add_span(void *arg, int64_t start, int64_t end, unsigned state, unsigned merged,
                     uint32_t n) {
  (void)merged;
  (void)n;
  uint64_t *by = arg;
  if (state < CTRACE_ST_COUNT)
    by[state] += (uint64_t)(end - start);
}

/* A program linked with libctrace, traced with CTRACE_OUT and no preload:
 * the trace says it recorded the API only, and no tool shows its threads
 * running (nothing says whether they ran or waited): their time is "not
 * recorded" in stats, the timeline, the thread breakdown and the span
 * details; the profiles are empty. */
TEST_IMPL(truth_api_only_time_not_recorded) {
  const char *path = test_path("api.ctrace");
  char env[4200];
  snprintf(env, sizeof env, "CTRACE_OUT=%s", path);
  /* without scheduling data: with it, the kernel says when they ran */
  char *const envv[] = {env, "CTRACE_SCHED=off", NULL};
  char *argv[] = {(char *)PROG("tid_reuse"), NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, envv, &out, NULL), 0);
  free(out);
  ctrace_reader *r = open_trace(path);
  ASSERT_STR_EQ(ctrace_reader_property(r, "recording"), "api");
  ASSERT_EQ(ctrace_states_known(r), 0);
  ASSERT_EQ(ctrace_reader_nthreads(r), 2); /* the workers: main used no API call */
  ASSERT_UINT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_REGION_BEGIN), 2);
  ASSERT_UINT_EQ(ctrace_reader_nevents_kind(r, CTRACE_EV_WAIT), 0);

  /* stats: every thread's time is not recorded, and it says why */
  struct ctrace_stats st;
  ASSERT_EQ(ctrace_stats_compute(r, &st), 0);
  ASSERT_UINT_EQ(st.state_total_ns[CTRACE_ST_RUNNING], 0);
  ASSERT_GT(st.state_total_ns[CTRACE_ST_NOT_RECORDED], 50000000); /* the workers slept 50 ms */
  ctrace_stats_free(&st);
  char *sargv[] = {(char *)test_build_path("ctrace"), "stats", (char *)path, NULL};
  ASSERT_EQ(test_run(sargv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "recorded        tasks, regions, logs (API only: blocking calls not recorded)\n");
  const char *tt = strstr(out, "thread time     not_recorded ");
  ASSERT(tt);
  const char *eol = strchr(tt, '\n');
  ASSERT(eol);
  ASSERT(!memmem(tt, (size_t)(eol - tt), "running", 7));
  free(out);
  char *jargv[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)path, NULL};
  ASSERT_EQ(test_run(jargv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"recording\":\"api\",\"recorded\":\"tasks, regions, logs (API only: "
                           "blocking calls not recorded)\",\"time_by_state\":{\"running\":0,");
  ASSERT_STR_CONTAINS(out, "\"not_recorded\":");
  free(out);

  /* the timeline and the thread breakdown: not recorded from first to last */
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, path, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  ASSERT_EQ(tl->nthreads, 2);
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    const struct ctrace_tl_thread *t = &tl->threads[i];
    ASSERT_UINT_EQ(t->state_ns[CTRACE_ST_RUNNING], 0);
    ASSERT_UINT_EQ(t->state_ns[CTRACE_ST_NOT_RECORDED], (uint64_t)(t->last_ns - t->first_ns));
    uint64_t by[CTRACE_ST_COUNT] = {0};
    ctrace_timeline_spans(tl, i, t->first_ns, t->last_ns, 1, add_span, by);
    ASSERT_UINT_EQ(by[CTRACE_ST_RUNNING], 0);
    ASSERT_UINT_EQ(by[CTRACE_ST_NOT_RECORDED], (uint64_t)(t->last_ns - t->first_ns));
    /* merged to a few pixels too */
    memset(by, 0, sizeof by);
    ctrace_timeline_spans(tl, i, tl->start_ns, tl->end_ns, (tl->end_ns - tl->start_ns) / 10 + 1,
                          add_span, by);
    ASSERT_UINT_EQ(by[CTRACE_ST_RUNNING], 0);
    uint64_t br[CTRACE_ST_COUNT] = {0};
    ctrace_timeline_breakdown(tl, i, t->first_ns, t->last_ns, br);
    ASSERT_UINT_EQ(br[CTRACE_ST_RUNNING], 0);
    ASSERT_UINT_EQ(br[CTRACE_ST_NOT_RECORDED], (uint64_t)(t->last_ns - t->first_ns));
  }
  int status;
  char *body = api(&v, "/api/threads", NULL, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"running\":0,");
  ASSERT(!strstr(body, "\"running\":1") && !strstr(body, "\"running\":2") &&
         !strstr(body, "\"running\":3") && !strstr(body, "\"running\":4") &&
         !strstr(body, "\"running\":5") && !strstr(body, "\"running\":6") &&
         !strstr(body, "\"running\":7") && !strstr(body, "\"running\":8") &&
         !strstr(body, "\"running\":9"));
  ASSERT_STR_CONTAINS(body, "\"not_recorded\":");
  free(body);
  body = api(&v, "/api/summary", NULL, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"recording\":\"api\"");
  free(body);
  /* a span's details: not recorded, no call behind it */
  const struct ctrace_tl_thread *t0 = &tl->threads[0];
  char tidq[64], nsq[64];
  snprintf(tidq, sizeof tidq, "tid=%u", t0->tid);
  snprintf(nsq, sizeof nsq, "ns=%lld", (long long)((t0->first_ns + t0->last_ns) / 2));
  const char *q[] = {"kind=span", tidq, nsq, NULL};
  body = api(&v, "/api/event", q, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"state\":\"not_recorded\"");
  ASSERT(!strstr(body, "\"event\":"));
  free(body);
  /* the profiles: nothing blocked that the trace knows of */
  static const enum ctrace_profile_kind kinds[] = {CTRACE_PROFILE_SYNC, CTRACE_PROFILE_NET,
                                                   CTRACE_PROFILE_SYSCALL, CTRACE_PROFILE_SLEEP};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    struct ctrace_profile pr;
    ASSERT_EQ(ctrace_profile_build(r, kinds[k], INT64_MIN, INT64_MAX, 0, &pr), 0);
    ASSERT_UINT_EQ(pr.total_ns, 0);
    ctrace_profile_free(&pr);
  }
  ctrace_view_fini(&v);
  ctrace_reader_close(r);

  /* a trace written through libctrace that holds blocking calls all the
   * same (bench/gen_trace writes them): those say what the threads did */
  const char *gpath = test_path("gen.ctrace");
  char *gargv[] = {(char *)test_build_path("bench/gen_trace"), (char *)gpath, "3000", "2", NULL};
  ASSERT_EQ(test_run(gargv, NULL, NULL, NULL), 0);
  r = open_trace(gpath);
  ASSERT_STR_EQ(ctrace_reader_property(r, "recording"), "api");
  ASSERT_EQ(ctrace_states_known(r), CTRACE_KNOWN_BLOCKING);
  ASSERT_EQ(ctrace_stats_compute(r, &st), 0);
  ASSERT_GT(st.state_total_ns[CTRACE_ST_RUNNING], 0);
  ASSERT_UINT_EQ(st.state_total_ns[CTRACE_ST_NOT_RECORDED], 0);
  ctrace_stats_free(&st);
  ctrace_reader_close(r);

  /* the same program under ctrace run: running where it is not blocked */
  const char *ppath = test_path("pre.ctrace");
  char *rargv[] = {(char *)test_build_path("ctrace"), "run", "-o", (char *)ppath, "--",
                   (char *)PROG("tid_reuse"), NULL};
  ASSERT_EQ(test_run(rargv, NULL, &out, NULL), 0);
  free(out);
  r = open_trace(ppath);
  ASSERT_STR_EQ(ctrace_reader_property(r, "recording"), "preload");
  ASSERT_EQ(ctrace_states_known(r), CTRACE_KNOWN_BLOCKING);
  ASSERT_EQ(ctrace_stats_compute(r, &st), 0);
  ASSERT_GT(st.state_total_ns[CTRACE_ST_RUNNING], 0);
  ASSERT_GE(st.state_total_ns[CTRACE_ST_SLEEP], 50000000);
  ASSERT_UINT_EQ(st.state_total_ns[CTRACE_ST_NOT_RECORDED], 0);
  ctrace_stats_free(&st);
  ctrace_reader_close(r);
  return 0;
}

/* ---- hand-built traces (hand-trace.h) ---- */

/* A call that began before the trace did (a trace started while a thread
 * was blocked, e.g. a restart under the preload): clipped to the trace's
 * start and said to have begun before it, in the timeline, the API, stats
 * and profiles; nothing before time 0. A first call that began after the
 * start but before the thread's first event moves the thread's begin back
 * to it, unflagged. */
TEST_IMPL(truth_call_begun_before_the_trace) {
  /* ticks are ns; the trace starts at tick 1000 (ns 0) and its last event
   * is at 1800 (the threads' end: the timeline ends there).
   * Thread 7: first event a WAIT ending at ns 300 that lasted 500 (began at
   * ns -200), a region, then a read over [500, 600]. Thread 9: first event
   * a read over [500, 800]. */
  static struct buf file, meta, t7, t9, end;
  memset(&file, 0, sizeof file);
  put_file_header(&file, 7);
  put_ev(&meta, CTRACE_EV_CLOCK_SYNC, 0, 3, (uint64_t[]){1000, 1000, 5000}, NULL);
  put_ev(&meta, CTRACE_EV_STRING, 0, 1, (uint64_t[]){1}, "work");
  put_batch(&file, 0, 0, &meta);
  put_ev(&t7, CTRACE_EV_WAIT, 300, 4, (uint64_t[]){CTRACE_WAIT_COND, 0xc0, 500, 0}, NULL);
  put_ev(&t7, CTRACE_EV_REGION_BEGIN, 100, 3, (uint64_t[]){0, 1, 0}, NULL);
  put_ev(&t7, CTRACE_EV_SYSCALL, 200, 6,
         (uint64_t[]){CTRACE_CALL_read, CTRACE_SC_FILE, 3, ctrace__zigzag(1), 100, 0}, NULL);
  put_batch(&file, 7, 1000, &t7);
  put_ev(&t9, CTRACE_EV_SYSCALL, 800, 6,
         (uint64_t[]){CTRACE_CALL_read, CTRACE_SC_FILE, 4, ctrace__zigzag(1), 300, 0}, NULL);
  put_batch(&file, 9, 1000, &t9);
  put_ev(&end, CTRACE_EV_CLOCK_SYNC, 0, 3, (uint64_t[]){3000, 3000, 7000}, NULL);
  put_batch(&file, 0, 0, &end);

  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open_mem(file.b, file.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  ASSERT_EQ(ctrace_reader_end_ns(r), 2000);

  /* the timeline: thread 7 from the trace's start, blocked until 300 */
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, "mem", NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  int64_t i7 = ctrace_timeline_thread(tl, 7), i9 = ctrace_timeline_thread(tl, 9);
  ASSERT(i7 >= 0 && i9 >= 0);
  const struct ctrace_tl_thread *a = &tl->threads[i7], *b = &tl->threads[i9];
  ASSERT_EQ(a->first_ns, 0);
  ASSERT_EQ(a->began_before, 1);
  ASSERT_UINT_EQ(a->state_ns[CTRACE_ST_SYNC], 300);
  ASSERT_UINT_EQ(a->state_ns[CTRACE_ST_IO], 100);
  ASSERT_UINT_EQ(a->state_ns[CTRACE_ST_RUNNING], 400);
  ASSERT_EQ(a->last_ns, 800);
  int64_t s, e;
  unsigned st;
  ASSERT_EQ(ctrace_timeline_span_at(tl, (uint32_t)i7, 0, &s, &e, &st), 0);
  ASSERT_EQ(st, CTRACE_ST_SYNC);
  ASSERT_EQ(s, 0);
  ASSERT_EQ(e, 300);
  ASSERT_EQ(ctrace_timeline_span_at(tl, (uint32_t)i7, -1, &s, &e, &st), -1); /* nothing before 0 */
  /* thread 9: began when its first call did, unflagged */
  ASSERT_EQ(b->first_ns, 500);
  ASSERT_EQ(b->began_before, 0);
  ASSERT_UINT_EQ(b->state_ns[CTRACE_ST_IO], 300);
  ASSERT_UINT_EQ(b->state_ns[CTRACE_ST_RUNNING], 0);
  /* the region after the wait stays where it was */
  ASSERT_EQ(tl->regions[tl->region_off[i7]].start, 400);

  /* the API: the span's details say it began before the trace */
  int status;
  const char *q7[] = {"kind=span", "tid=7", "ns=100", NULL};
  char *body = api(&v, "/api/event", q7, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"state\":\"sync\",\"start_ns\":0,\"end_ns\":300,\"dur_ns\":300");
  ASSERT_STR_CONTAINS(body, "\"began_before_trace\":true");
  ASSERT_STR_CONTAINS(body, "\"event\":\"WAIT\"");
  free(body);
  const char *q9[] = {"kind=span", "tid=9", "ns=600", NULL};
  body = api(&v, "/api/event", q9, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"state\":\"io\",\"start_ns\":500,\"end_ns\":800");
  ASSERT(!strstr(body, "began_before_trace"));
  free(body);
  const char *qneg[] = {"kind=span", "tid=7", "ns=-50", NULL};
  body = api(&v, "/api/event", qneg, &status);
  ASSERT_EQ(status, 400);
  free(body);
  body = api(&v, "/api/threads", NULL, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"tid\":7,\"name\":\"\",\"total_ns\":800,\"states\":{\"running\":400,"
                            "\"sync\":300,\"net\":0,\"io\":100,");
  free(body);
  body = api(&v, "/api/summary", NULL, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"tid\":7,\"instance\":0,\"pid\":7,\"name\":\"\",\"first_ns\":0,");
  free(body);
  ctrace_view_fini(&v);

  /* stats and the profiles count the wait from the trace's start */
  struct ctrace_stats sts;
  ASSERT_EQ(ctrace_stats_compute(r, &sts), 0);
  ASSERT_UINT_EQ(sts.state_total_ns[CTRACE_ST_SYNC], 300);
  ASSERT_UINT_EQ(sts.state_total_ns[CTRACE_ST_IO], 400);
  ctrace_stats_free(&sts);
  struct ctrace_profile pr;
  ASSERT_EQ(ctrace_profile_build(r, CTRACE_PROFILE_SYNC, INT64_MIN, INT64_MAX, 0, &pr), 0);
  ASSERT_UINT_EQ(pr.total_ns, 300);
  ctrace_profile_free(&pr);
  /* the Chrome export: the wait from 0, nothing before */
  char *json = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&json, &len);
  ASSERT(f != NULL);
  ASSERT_EQ(ctrace_chrome_write(r, NULL, f), 0);
  fclose(f);
  ASSERT_STR_CONTAINS(json, "\"cat\":\"sync\",\"ts\":0.000,");
  ASSERT(!strstr(json, "\"ts\":-"));
  free(json);
  ctrace_reader_close(r);
  return 0;
}

/* ---- the proofs that no other test makes in full ---- */

static const char *const min0[] = {"--min-duration", "0", NULL};

struct span_find {
  unsigned state;
  int64_t start, end;
};
static void find_span(void *arg, int64_t start, int64_t end, unsigned state, unsigned merged,
                      uint32_t n) {
  (void)n;
  struct span_find *f = arg;
  if (state == f->state && !merged && end - start > f->end - f->start) {
    f->start = start;
    f->end = end;
  }
}

/* The condvar-at-exit program (tests/progs/condvar_exit.c): the worker is
 * blocked from its wait to the end in the timeline, stats, the thread
 * breakdown (/api/threads), the span details and the sync profile, not
 * running; the reader blocked in read() on a socket likewise, as network. */
TEST_IMPL(truth_condvar_at_exit_blocked_everywhere) {
  const char *path = test_path("cx.ctrace");
  char *out = NULL;
  char *prog[] = {(char *)PROG("condvar_exit"), "150", NULL};
  ASSERT_EQ(test_ctrace_run(path, NULL, (const char *const *)prog, &out, NULL), 0);
  free(out);
  ctrace_reader *r = open_trace(path);
  /* the worker: the thread with a PENDING condvar wait; the reader: a
   * PENDING read */
  uint32_t worker = UINT32_MAX, reader = UINT32_MAX;
  int64_t wait_ns = 0; /* when the worker's wait began */
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    while (ctrace_cursor_next(&c, &ev))
      if (ev.kind == CTRACE_EV_PENDING) {
        struct ctrace_ev_pending p = CTRACE_EV(pending, &ev);
        if (p.reason == CTRACE_WAIT_COND) {
          worker = i;
          wait_ns = ctrace_reader_ns(r, ev.ticks - p.dur);
        } else if (p.call == CTRACE_CALL_read) {
          reader = i;
        }
      }
  }
  ASSERT(worker != UINT32_MAX && reader != UINT32_MAX);
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, path, NULL, NULL), 0);
  const struct ctrace_tl_thread *w = &v.tl->threads[worker], *rd = &v.tl->threads[reader];
  /* its life from its wait on, less the time it waited for a CPU (under
   * load it may wait long: 12.7 ms of 167 under ASan at load 5; and before
   * its wait it may run long: 18 ms under ASan in CI) */
  ASSERT(wait_ns >= w->first_ns && wait_ns < w->last_ns);
  int64_t before = wait_ns - w->first_ns;
  int64_t life = w->last_ns - wait_ns - (int64_t)w->state_ns[CTRACE_ST_RUNNABLE];
  fprintf(stderr, "# worker: from its wait %lld ns (before it %lld, runnable %llu ns), sync %llu ns\n", (long long)life, (long long)before,
          (unsigned long long)w->state_ns[CTRACE_ST_RUNNABLE],
          (unsigned long long)w->state_ns[CTRACE_ST_SYNC]);
  /* the timeline: blocked from its wait (it waits at once) to the end */
  ASSERT_GE(w->state_ns[CTRACE_ST_SYNC] * 100, (uint64_t)life * 95);
  ASSERT_EQ(w->last_ns, v.tl->end_ns);
  ASSERT_LT(w->at_end_ns, w->last_ns);
  int64_t s, e;
  unsigned st;
  ASSERT_EQ(ctrace_timeline_span_at(v.tl, worker, w->last_ns - 1, &s, &e, &st), 0);
  ASSERT_EQ(st, CTRACE_ST_SYNC);
  ASSERT_EQ(e, w->last_ns);
  ASSERT_GE((e - s) * 100, life * 95);
  /* the reader: in its read to the end (before it, under load, it may wait
   * long for a CPU: the share is loose, the end is not) */
  ASSERT_GE(rd->state_ns[CTRACE_ST_NET] * 100, (uint64_t)(rd->last_ns - rd->first_ns) * 50);
  ASSERT_EQ(ctrace_timeline_span_at(v.tl, reader, rd->last_ns - 1, &s, &e, &st), 0);
  ASSERT_EQ(st, CTRACE_ST_NET);
  ASSERT_EQ(e, rd->last_ns);
  /* stats: the threads' sync time holds the worker's */
  ASSERT_GE(v.st.state_total_ns[CTRACE_ST_SYNC], w->state_ns[CTRACE_ST_SYNC]);
  ASSERT_GE(v.st.state_total_ns[CTRACE_ST_NET], rd->state_ns[CTRACE_ST_NET]);
  /* the thread breakdown and the span's details */
  int status;
  char *body = api(&v, "/api/threads", NULL, &status);
  ASSERT_EQ(status, 200);
  char key[64];
  snprintf(key, sizeof key, "\"tid\":%u,", w->tid);
  char *o = object_with(body, key, "\"states\"");
  ASSERT(o);
  ASSERT_EQ(json_long(o, "\"sync\":"), (long)w->state_ns[CTRACE_ST_SYNC]);
  ASSERT_LE((json_long(o, "\"running\":") - before) * 100, life * 5);
  free(o);
  free(body);
  char tidq[64], nsq[64];
  snprintf(tidq, sizeof tidq, "tid=%u", w->tid);
  snprintf(nsq, sizeof nsq, "ns=%lld", (long long)(w->last_ns - 1));
  const char *q[] = {"kind=span", tidq, nsq, NULL};
  body = api(&v, "/api/event", q, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"state\":\"sync\"");
  ASSERT_STR_CONTAINS(body, "\"in_progress_at_end\":true");
  ASSERT_STR_CONTAINS(body, "\"event\":\"PENDING\",");
  ASSERT_STR_CONTAINS(body, "\"reason\":\"COND\"");
  free(body);
  /* the sync profile: the worker's wait, to the end */
  struct ctrace_profile pr;
  ASSERT_EQ(ctrace_profile_build(v.r, CTRACE_PROFILE_SYNC, INT64_MIN, INT64_MAX, w->tid, &pr), 0);
  ASSERT_GE(pr.total_ns * 100, (uint64_t)life * 95);
  ctrace_profile_free(&pr);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

/* A socket read/write loop (tests/progs/sock_rw.c) is network in the
 * viewer too: the thread breakdown, the timeline's spans, a span's details
 * and the viewer's net profile. */
TEST_IMPL(truth_socket_io_is_network_in_the_viewer) {
  const char *path = test_path("sk.ctrace");
  char *out = NULL;
  char *prog[] = {(char *)PROG("sock_rw"), "50", (char *)test_path("sk.out"), NULL};
  ASSERT_EQ(test_ctrace_run(path, min0, (const char *const *)prog, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "moved 100000");
  free(out);
  ctrace_reader *r = open_trace(path);
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, path, NULL, NULL), 0);
  ASSERT_EQ(v.tl->nthreads, 1);
  const struct ctrace_tl_thread *t = &v.tl->threads[0];
  ASSERT_GT(t->state_ns[CTRACE_ST_NET], 0);
  ASSERT_GT(v.st.net_events, 199);
  /* the breakdown */
  int status;
  char *body = api(&v, "/api/threads", NULL, &status);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(json_long(body, "\"net\":"), (long)t->state_ns[CTRACE_ST_NET]);
  free(body);
  /* the longest network span, and its details */
  struct span_find f = {CTRACE_ST_NET, 0, 0};
  ctrace_timeline_spans(v.tl, 0, t->first_ns, t->last_ns, 1, find_span, &f);
  ASSERT_GT(f.end, f.start);
  char tidq[64], nsq[64];
  snprintf(tidq, sizeof tidq, "tid=%u", t->tid);
  snprintf(nsq, sizeof nsq, "ns=%lld", (long long)(f.start + (f.end - f.start) / 2));
  const char *q[] = {"kind=span", tidq, nsq, NULL};
  body = api(&v, "/api/event", q, &status);
  ASSERT_EQ(status, 200);
  ASSERT_STR_CONTAINS(body, "\"state\":\"net\"");
  ASSERT_STR_CONTAINS(body, "\"class\":\"net\"");
  free(body);
  /* the viewer's profile of network time */
  const char *qp[] = {"kind=net", NULL};
  body = api(&v, "/api/profile", qp, &status);
  ASSERT_EQ(status, 200);
  ASSERT_GE(json_long(body, "\"total_ns\":"), (long)t->state_ns[CTRACE_ST_NET] / 2);
  ASSERT_GE(json_long(body, "\"nstacks\":"), 1);
  free(body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

/* `ctrace run -- /bin/sleep 0.01`: the trace lasts the sleep and no more
 * than the run took, its sleep inside it, the tracer's time inside that. */
/* A shell waiting for its child (waitpid and kin) is blocked on it, not
 * running: a WAIT CHILD as long as the child's sleep at
 * least; the program's exit status is its own. */
TEST_IMPL(truth_parent_waiting_for_child_is_sync) {
  const char *path = test_path("child.ctrace");
  /* The child sleeps 200 ms; the parent's wait is asserted at 50 ms or
   * more: the parent may begin it late (preempted after the fork), and
   * on a loaded machine the end of its wait may be runnable time. */
  const char *prog[] = {"/bin/sh", "-c", "/bin/sleep 0.2; exit 3", NULL};
  const char *opts[] = {"--no-follow-forks", NULL};
  ASSERT_EQ(test_ctrace_run(path, opts, prog, NULL, NULL), 3);
  ctrace_reader *r = open_trace(path);
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  int waits = 0;
  while (ctrace_merge_next(m, &ev)) {
    if (ev.kind != CTRACE_EV_WAIT || CTRACE_EV(wait, &ev).reason != CTRACE_WAIT_CHILD)
      continue;
    int64_t end = ctrace_reader_ns(r, ev.ticks),
            begin = ctrace_reader_ns(r, ev.ticks - CTRACE_EV(wait, &ev).dur);
    ASSERT_GE(end - begin, 50000000);
    /* dash waits for any child (wait3): -1; a pid otherwise */
    ASSERT(CTRACE_EV(wait, &ev).object == UINT64_MAX || CTRACE_EV(wait, &ev).object > 1);
    waits++;
  }
  ctrace_merge_free(m);
  ASSERT_EQ(waits, 1);
  struct ctrace_stats st;
  ASSERT_EQ(ctrace_stats_compute(r, &st), 0);
  ASSERT_GE(st.state_total_ns[CTRACE_ST_SYNC], 50000000);
  ctrace_stats_free(&st);
  ctrace_reader_close(r);
  return TEST_OK;
}

TEST_IMPL(truth_run_sleep_lasts_its_time) {
  const char *path = test_path("sl.ctrace");
  char *prog[] = {"/bin/sleep", "0.01", NULL};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ASSERT_EQ(test_ctrace_run(path, NULL, (const char *const *)prog, NULL, NULL), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int64_t wall = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
  ctrace_reader *r = open_trace(path);
  struct ctrace_stats st;
  ASSERT_EQ(ctrace_stats_compute(r, &st), 0);
  fprintf(stderr, "# duration %lld ns (the run took %lld ns), tracer %llu ns\n",
          (long long)st.duration_ns, (long long)wall, (unsigned long long)st.tracer_overhead_ns);
  ASSERT_GE(st.duration_ns, 10000000);
  ASSERT_LE(st.duration_ns, wall);
  ASSERT_LT(st.tracer_overhead_ns, (uint64_t)st.duration_ns);
  /* the sleep: 10 ms or more, inside the trace */
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  int sleeps = 0;
  while (ctrace_merge_next(m, &ev)) {
    if (ev.kind != CTRACE_EV_WAIT || CTRACE_EV(wait, &ev).reason != CTRACE_WAIT_SLEEP)
      continue;
    int64_t end = ctrace_reader_ns(r, ev.ticks), begin = ctrace_reader_ns(r, ev.ticks - CTRACE_EV(wait, &ev).dur);
    ASSERT_GE(end - begin, 10000000);
    ASSERT_GE(begin, 0);
    ASSERT_LE(end, st.duration_ns);
    sleeps++;
  }
  ctrace_merge_free(m);
  ASSERT_EQ(sleeps, 1);
  ASSERT_GE(st.state_total_ns[CTRACE_ST_SLEEP], 10000000);
  ctrace_stats_free(&st);
  /* and so says the command */
  char *out = NULL;
  char *sargv[] = {(char *)test_build_path("ctrace"), "stats", "--json", (char *)path, NULL};
  ASSERT_EQ(test_run(sargv, NULL, &out, NULL), 0);
  ASSERT_GE(json_long(out, "\"duration_ns\":"), 10000000);
  ASSERT_LE(json_long(out, "\"duration_ns\":"), wall);
  free(out);
  ctrace_reader_close(r);
  return 0;
}

/* A process's main thread lives from its trace's start, not from its first
 * event: a program that computes before its first recorded call (its
 * report, after MS ms of CPU) ran all that time, with scheduling data and
 * without (it once showed as running 0.3 ms of a 1 s run, the rest as
 * outside its life). */
TEST_IMPL(truth_main_thread_runs_before_first_call) {
  for (int sched = 1; sched >= 0; sched--) {
    setenv("CTRACE_SCHED", sched ? "on" : "off", 1);
    const char *path = test_path(sched ? "main-sched.ctrace" : "main-nosched.ctrace");
    const char *prog[] = {PROG("sched_load"), "main", "300", NULL};
    char *out = NULL;
    ASSERT_EQ(test_ctrace_run(path, NULL, prog, &out, NULL), 0);
    int tid = 0;
    unsigned long long on_cpu = 0;
    ASSERT_EQ(sscanf(out, "thread %d %llu", &tid, &on_cpu), 2);
    free(out);
    ASSERT_GE(on_cpu, 300000000ull);
    ctrace_reader *r = open_trace(path);
    struct ctrace_stats st;
    ASSERT_EQ(ctrace_stats_compute(r, &st), 0);
    int64_t ti = -1;
    for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++)
      if (ctrace_reader_thread(r, i)->tid == (uint32_t)tid)
        ti = i;
    ASSERT(ti >= 0);
    const uint64_t *ns = st.state_ns + (size_t)ti * CTRACE_ST_COUNT;
    fprintf(stderr, "# sched %s: on a CPU %llu ns; running %llu, runnable %llu, not recorded %llu\n",
            sched ? "on" : "off", on_cpu, (unsigned long long)ns[CTRACE_ST_RUNNING],
            (unsigned long long)ns[CTRACE_ST_RUNNABLE],
            (unsigned long long)ns[CTRACE_ST_NOT_RECORDED]);
    /* the 300 ms it spun are running time (its CPU time before the trace
     * began, the loader's, a sanitizer's start, is not in the trace; the
     * kernel's and ctrace's clocks may differ by a tick at each end) */
    ASSERT_GE(ns[CTRACE_ST_RUNNING], 280000000ull);
    ASSERT_LE(ns[CTRACE_ST_NOT_RECORDED], 20000000ull);
    ASSERT_EQ(ctrace_reader_ns(r, ctrace_reader_thread(r, (uint32_t)ti)->first), 0);
    ctrace_stats_free(&st);
    ctrace_reader_close(r);
  }
  return 0;
}

/* A thread's life starts at its first record, not only its first event:
 * a process-shared release (SHARED), an fd made (FD), a short pipe read
 * (IPC_IO) are the thread at work. A releasing process's time before its
 * first event once showed as "not traced" on the critical path. Thread 5:
 * an FD record at tick 1100, a THREAD_EXIT at 1400; thread 6: only an
 * IPC_IO record at 1200. */
TEST_IMPL(truth_records_count_in_thread_life) {
  static struct buf file, meta, t5, t6, end;
  memset(&file, 0, sizeof file);
  put_file_header(&file, 4); /* neither thread is the main one */
  put_ev(&meta, CTRACE_EV_CLOCK_SYNC, 0, 3, (uint64_t[]){1000, 1000, 5000}, NULL);
  put_batch(&file, 0, 0, &meta);
  put_ev(&t5, CTRACE_EV_FD, 100, 0, NULL, "\x03\x01\x00\x07\x01\x00");
  put_ev(&t5, CTRACE_EV_THREAD_EXIT, 300, 0, NULL, NULL);
  put_batch(&file, 5, 1000, &t5);
  put_ev(&t6, CTRACE_EV_IPC_IO, 200, 0, NULL, "\x03\x01\x01\x05");
  put_batch(&file, 6, 1000, &t6);
  put_ev(&end, CTRACE_EV_CLOCK_SYNC, 0, 3, (uint64_t[]){3000, 3000, 7000}, NULL);
  put_batch(&file, 0, 0, &end);
  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open_mem(file.b, file.n, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  int64_t i5 = -1, i6 = -1;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    uint32_t tid = ctrace_reader_thread(r, i)->tid;
    i5 = tid == 5 ? (int64_t)i : i5;
    i6 = tid == 6 ? (int64_t)i : i6;
  }
  ASSERT(i5 >= 0 && i6 >= 0);
  const struct ctrace_thread_info *a = ctrace_reader_thread(r, (uint32_t)i5);
  const struct ctrace_thread_info *b = ctrace_reader_thread(r, (uint32_t)i6);
  ASSERT_EQ(a->first, 1100);
  ASSERT_EQ(a->last, 1400);
  ASSERT_EQ(a->nevents, 1); /* records are not events */
  ASSERT_EQ(b->first, 1200);
  ASSERT_EQ(b->last, 1200);
  ASSERT_EQ(b->nevents, 0);
  ctrace_reader_close(r);
  return TEST_OK;
}
