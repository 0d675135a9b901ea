/*
 * test-viewperf.c - `ctrace view` on big traces: the index cache file
 * (src/serve/view_cache.c) is used when the same trace is opened again and
 * gives the very answers a fresh build gives, and once written stands for
 * the built index's memory with the same answers, a damaged cache is ignored
 * and rebuilt, a changed trace is not answered from its old cache; tasks
 * and regions whose end was lost stay out of the latencies, counted;
 * search pages, profiles of several threads, regions merged by binary
 * search as one by one; tasks paired alike however their ids are numbered. The answers are computed in-process
 * (ctrace_api_handle), as the server does.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/analyze/timeline_cache.h"
#include "../src/serve/view.h"
#include "ctrace.h"
#include "hand-trace.h"
#include "task.h"

struct kv {
  const char *k[4], *v[4];
};
static const char *kv_param(void *ctx, const char *key) {
  struct kv *q = ctx;
  for (int i = 0; i < 4 && q->k[i]; i++)
    if (strcmp(q->k[i], key) == 0)
      return q->v[i];
  return NULL;
}

/* The answers a fresh view and a cached one must agree on. */
struct answers {
  struct ctrace_reply summary, timeline, tasks, threads, search, instances;
};
static void answer(struct ctrace_view *v, const char *path, struct kv q, struct ctrace_reply *r) {
  ctrace_api_handle(v, path, kv_param, &q, r);
  if (r->status != 200)
    TEST_FAIL_("%s: status %d: %.*s", path, r->status, (int)r->len, r->body);
}
static void collect(struct ctrace_view *v, struct answers *a) {
  answer(v, "/api/summary", (struct kv){{NULL}, {NULL}}, &a->summary);
  answer(v, "/api/timeline", (struct kv){{"width"}, {"800"}}, &a->timeline);
  answer(v, "/api/tasks", (struct kv){{NULL}, {NULL}}, &a->tasks);
  answer(v, "/api/threads", (struct kv){{NULL}, {NULL}}, &a->threads);
  answer(v, "/api/search", (struct kv){{"q"}, {"re"}}, &a->search);
  answer(v, "/api/instances", (struct kv){{"kind", "name"}, {"region", "handle"}}, &a->instances);
}
static void free_answers(struct answers *a) {
  struct ctrace_reply *r[] = {&a->summary, &a->timeline, &a->tasks,
                              &a->threads, &a->search,   &a->instances};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    free(r[i]->body);
}
/* The summary up to the cache's own fields (which say what the cache did). */
static size_t summary_len(const struct ctrace_reply *r) {
  const char *p = strstr(r->body, ",\"index_cache\":");
  if (!p)
    TEST_FAIL_("no index_cache in the summary: %.300s", r->body);
  return (size_t)(p - r->body);
}
static void same_reply(const char *what, const struct ctrace_reply *a, size_t alen,
                       const struct ctrace_reply *b, size_t blen) {
  if (alen != blen || memcmp(a->body, b->body, alen) != 0)
    TEST_FAIL_("%s differs between the built and the cached index (%zu vs %zu bytes)", what,
               alen, blen);
}
static void same_answers(struct answers *a, struct answers *b) {
  same_reply("/api/summary", &a->summary, summary_len(&a->summary), &b->summary,
             summary_len(&b->summary));
  same_reply("/api/timeline", &a->timeline, a->timeline.len, &b->timeline, b->timeline.len);
  same_reply("/api/tasks", &a->tasks, a->tasks.len, &b->tasks, b->tasks.len);
  same_reply("/api/threads", &a->threads, a->threads.len, &b->threads, b->threads.len);
  same_reply("/api/search", &a->search, a->search.len, &b->search, b->search.len);
  same_reply("/api/instances", &a->instances, a->instances.len, &b->instances,
             b->instances.len);
}

static void make_trace(const char *file, const char *events) {
  char *out = NULL, *err = NULL;
  char *argv[] = {(char *)test_build_path("bench/gen_trace"), "--mix", (char *)file,
                  (char *)events, "4", NULL};
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0)
    TEST_FAIL_("gen_trace failed (%d): %s", st, err ? err : "");
  free(out);
  free(err);
}

/* Opens file as ctrace view does, collects the answers (when a is not
 * NULL), closes it (which waits for the cache's writing); returns what the
 * cache did ("loaded", "saved", ...). */
static const char *open_view(const char *file, struct answers *a) {
  static char state[32];
  ctrace_reader *r;
  char err[256];
  struct ctrace_view v;
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  if (a)
    collect(&v, a);
  ctrace__view_cache_wait(&v);
  snprintf(state, sizeof state, "%s", ctrace_view_cache_state(&v));
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return state;
}

static const char *cache_of(const char *file) {
  static char path[4096];
  const char *slash = strrchr(file, '/');
  snprintf(path, sizeof path, "%.*s/.%s.ctidx", (int)(slash - file), file, slash + 1);
  return path;
}

static void use_tmp_cache_home(void) {
  /* never the user's own cache directory */
  setenv("XDG_CACHE_HOME", test_path("xdg"), 1);
  setenv("CTRACE_INDEX_CACHE", "on", 1); /* however small the trace */
}

TEST_IMPL(viewperf_index_cache_reused) {
  use_tmp_cache_home();
  const char *file = test_path("mix.ctrace");
  make_trace(file, "20000");
  struct answers built, cached;
  ASSERT_STR_EQ(open_view(file, &built), "saved");
  struct stat st;
  ASSERT_EQ(stat(cache_of(file), &st), 0);
  ASSERT_GT(st.st_size, 64);
  /* the second open reads the cache, and answers as the build did */
  ASSERT_STR_EQ(open_view(file, &cached), "loaded");
  ASSERT_STR_CONTAINS(cached.summary.body, "\"index_cache\":\"loaded\"");
  ASSERT_STR_CONTAINS(cached.summary.body, ".mix.ctrace.ctidx\"");
  same_answers(&built, &cached);
  free_answers(&built);
  free_answers(&cached);
  /* closed while the cache is being written: the writing stops, and what
   * is left is a whole cache or none, never a part (nor its temporary) */
  unlink(cache_of(file));
  {
    ctrace_reader *r;
    char err[256];
    struct ctrace_view v;
    ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
    ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
    ctrace_view_fini(&v);
    ctrace_reader_close(r);
  }
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp$'", test_tmpdir());
  FILE *ls = popen(cmd, "r");
  int ntmp = -1;
  ASSERT_EQ(fscanf(ls, "%d", &ntmp), 1);
  pclose(ls);
  ASSERT_EQ(ntmp, 0);
  const char *again = open_view(file, NULL);
  if (strcmp(again, "loaded") != 0 && strcmp(again, "saved") != 0)
    TEST_FAIL_("after a stopped write: %s", again);
  ASSERT_STR_EQ(open_view(file, NULL), "loaded");
  /* off: neither read nor written */
  setenv("CTRACE_INDEX_CACHE", "off", 1);
  ASSERT_STR_EQ(open_view(file, NULL), "off");
  return TEST_OK;
}

/* Asks the full-width timeline again and again until done, counting the
 * answers that differ from want: none may, while the arrays' pages are
 * replaced under the queries. */
struct asker {
  struct ctrace_view *v;
  const struct ctrace_reply *want;
  int done; /* atomic */
  unsigned asked, differed;
};
static void *ask_loop(void *arg) {
  struct asker *a = arg;
  do {
    struct ctrace_reply r;
    ctrace_api_handle(a->v, "/api/timeline", kv_param, &(struct kv){{"width"}, {"800"}}, &r);
    a->differed += r.len != a->want->len || memcmp(r.body, a->want->body, r.len) != 0;
    a->asked++;
    free(r.body);
  } while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE));
  return NULL;
}

/* A big trace's index is built spilling its levels into an unnamed file
 * (ctrace_timeline_build_spill), and once the cache is written its big
 * arrays become the cache's pages (ctrace_timeline_adopt): the answers stay
 * those of an index built in memory, also those asked while the pages are
 * being replaced, and after the pages are let go; the cache file (its
 * levels placed on pages) loads with the same answers; a cache cut short
 * under the adopted pages reads zeros instead of killing the process (the
 * guard), and the view closes cleanly after. */
TEST_IMPL(viewperf_index_adopted_answers_the_same) {
  use_tmp_cache_home();
  const char *file = test_path("mix.ctrace");
  make_trace(file, "1500000");
  struct stat st;
  ASSERT_EQ(stat(file, &st), 0);
  ASSERT_GE((size_t)st.st_size, CTRACE_SPILL_MIN_FILE);
  struct answers memory, built, adopted, released, cached;
  setenv("CTRACE_INDEX_CACHE", "off", 1); /* neither spilled nor cached */
  ASSERT_STR_EQ(open_view(file, &memory), "off");
  setenv("CTRACE_INDEX_CACHE", "on", 1);
  setenv("CTRACE_INDEX_SPILL", "on", 1); /* however much memory there is */
  ctrace_reader *r;
  char err[256];
  struct ctrace_view v;
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  /* spilled: every thread's raw level at least */
  ASSERT_GE(v.adopted.n, 4);
  collect(&v, &built);
  same_answers(&memory, &built);
  /* the cache written and its pages moved in while a thread asks */
  struct asker ask = {.v = &v, .want = &built.timeline};
  pthread_t asker;
  ASSERT_EQ(pthread_create(&asker, NULL, ask_loop, &ask), 0);
  ctrace__view_cache_wait(&v);
  __atomic_store_n(&ask.done, 1, __ATOMIC_RELEASE);
  pthread_join(asker, NULL);
  printf("# %u timeline answers while the cache was written and adopted\n", ask.asked);
  ASSERT_GE(ask.asked, 1);
  ASSERT_EQ(ask.differed, 0);
  ASSERT_STR_EQ(ctrace_view_cache_state(&v), "saved");
  /* the raw levels of every thread, the regions, tasks, touches, wakes */
  ASSERT_GE(v.adopted.n, 10);
  size_t bytes = 0;
  for (size_t k = 0; k < v.adopted.n; k++) {
    ASSERT_EQ((uintptr_t)v.adopted.v[k].p % CTRACE_CACHE_ALIGN, 0);
    bytes += v.adopted.v[k].n;
  }
  ASSERT_GT(bytes, v.tl->bytes / 2);
  collect(&v, &adopted);
  same_answers(&built, &adopted);
  ctrace_view_release_index(&v);
  collect(&v, &released);
  same_answers(&built, &released);
  ASSERT_STR_EQ(open_view(file, &cached), "loaded");
  same_answers(&built, &cached);
  /* cut short under the mapping: zeros, no SIGBUS */
  ASSERT_EQ(truncate(cache_of(file), CTRACE_CACHE_ALIGN), 0);
  ctrace_view_release_index(&v);
  struct ctrace_reply rep;
  ctrace_api_handle(&v, "/api/timeline", kv_param, &(struct kv){{"width"}, {"800"}}, &rep);
  free(rep.body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  unsetenv("CTRACE_INDEX_SPILL");
  /* when to spill: asked, refused, a small trace, memory short or not */
  ASSERT_EQ(ctrace__view_spill_wanted(1), 0);
  setenv("CTRACE_INDEX_SPILL", "on", 1);
  ASSERT_EQ(ctrace__view_spill_wanted(1), 1);
  setenv("CTRACE_INDEX_SPILL", "off", 1);
  ASSERT_EQ(ctrace__view_spill_wanted(UINT64_MAX / 8), 0);
  unsetenv("CTRACE_INDEX_SPILL");
  ASSERT_EQ(ctrace__view_spill_wanted(UINT64_MAX / 8), 1);
  ASSERT_EQ(ctrace__view_spill_wanted(CTRACE_SPILL_MIN_FILE - 1), 0);
  free_answers(&memory);
  free_answers(&built);
  free_answers(&adopted);
  free_answers(&released);
  free_answers(&cached);
  return TEST_OK;
}

/* Writes bad (blen bytes) as the cache of file and opens it: the cache
 * must not be used but rebuilt, with the answers of a build. */
static void rebuilt_from(const char *file, const char *what, size_t k, const char *bad,
                         size_t blen, struct answers *built) {
  ASSERT_EQ(test_write_file(cache_of(file), bad, blen), 0);
  struct answers again;
  const char *state = open_view(file, &again);
  if (strcmp(state, "saved") != 0)
    TEST_FAIL_("%s %zu: the cache was %s, not rebuilt", what, k, state);
  same_answers(built, &again);
  free_answers(&again);
  /* rebuilt: a good cache again */
  ASSERT_STR_EQ(open_view(file, NULL), "loaded");
}

TEST_IMPL(viewperf_index_cache_damaged_is_rebuilt) {
  use_tmp_cache_home();
  const char *file = test_path("mix.ctrace");
  make_trace(file, "20000");
  struct answers built;
  ASSERT_STR_EQ(open_view(file, &built), "saved");
  size_t len;
  char *good = test_read_file(cache_of(file), &len);
  ASSERT_GT(len, 2 * CTRACE_CACHE_ALIGN);
  /* a second build writes the very same bytes (no padding left unset) */
  unlink(cache_of(file));
  ASSERT_STR_EQ(open_view(file, NULL), "saved");
  size_t len2;
  char *good2 = test_read_file(cache_of(file), &len2);
  ASSERT_EQ(len2, len);
  ASSERT_EQ(memcmp(good, good2, len), 0);
  free(good2);
  struct ctrace_cache_head h;
  memcpy(&h, good, sizeof h);
  ASSERT_EQ(h.file_len, len);
  /* cut at a few places, and flipped bytes in the head and at the start,
   * middle and end of every section's bytes: never used, always rebuilt
   * (with the same answers) */
  size_t cuts[] = {0, 10, 64, 100, CTRACE_CACHE_ALIGN, len / 3, len - CTRACE_CACHE_ALIGN,
                   len - 8, len - 1};
  char *bad = malloc(len + 1);
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
    rebuilt_from(file, "cut at", cuts[i], good, cuts[i], &built);
  size_t flips[3 * CTRACE_CACHE_MAX_SECTIONS + 16], nflips = 0;
  size_t in_head[] = {0, 8, 16, 40, 64, 72, 80, 100, 200, offsetof(struct ctrace_cache_head, head_hash)};
  for (size_t i = 0; i < sizeof in_head / sizeof in_head[0]; i++)
    flips[nflips++] = in_head[i];
  for (unsigned s = 0; s < h.nsections; s++)
    if (h.sec[s].len) {
      flips[nflips++] = h.sec[s].off;
      flips[nflips++] = h.sec[s].off + h.sec[s].len / 2;
      flips[nflips++] = h.sec[s].off + h.sec[s].len - 1;
    }
  for (size_t i = 0; i < nflips; i++) {
    memcpy(bad, good, len);
    bad[flips[i]] ^= 0x41;
    rebuilt_from(file, "flipped byte at", flips[i], bad, len, &built);
  }
  free(bad);
  /* a cache that is not a file, or a link, is not read */
  unlink(cache_of(file));
  ASSERT_EQ(symlink(file, cache_of(file)), 0);
  ASSERT_STR_EQ(open_view(file, NULL), "saved");
  ASSERT_STR_EQ(open_view(file, NULL), "loaded");
  free(good);
  free_answers(&built);
  return TEST_OK;
}

/* A cache whose hashes are right but whose index is not (made to match
 * the hashes, as damage cannot be): the checks of every count, index,
 * range and offset refuse it, and it is rebuilt. */
static int forge(char *c, unsigned sec, size_t at, const void *val, size_t n) {
  struct ctrace_cache_head h;
  memcpy(&h, c, sizeof h);
  if (at + n > h.sec[sec].len)
    return -1; /* an empty section (no long task in this trace) */
  memcpy(c + h.sec[sec].off + at, val, n);
  h.sec[sec].hash = ctrace_cache_section_hash(sec, c + h.sec[sec].off, h.sec[sec].len);
  h.head_hash = ctrace_cache_head_hash(&h);
  memcpy(c, &h, sizeof h);
  return 0;
}

TEST_IMPL(viewperf_index_cache_forged_is_rejected) {
  use_tmp_cache_home();
  const char *file = test_path("mix.ctrace");
  make_trace(file, "20000");
  struct answers built;
  ASSERT_STR_EQ(open_view(file, &built), "saved");
  size_t len;
  char *good = test_read_file(cache_of(file), &len);
  char *bad = malloc(len);
  uint32_t big32 = 0x7ffffff0u;
  uint64_t big64 = (uint64_t)1 << 40;
  uint16_t deep = 0xffff;
  uint8_t zero8 = 0, many8 = CTRACE_TL_MAX_LEVELS + 1;
  struct {
    unsigned sec;
    size_t at;
    const void *val;
    size_t n;
  } forged[] = {
      {CTRACE_TLS_WAKES, offsetof(struct ctrace_tl_wake, waker), &big32, 4},
      {CTRACE_TLS_WAKES, offsetof(struct ctrace_tl_wake, woken), &big32, 4},
      {CTRACE_TLS_REGIONS, offsetof(struct ctrace_tl_region, depth), &deep, 2},
      {CTRACE_TLS_TASKS, offsetof(struct ctrace_tl_task, touch), &big32, 4},
      {CTRACE_TLS_TASKS, offsetof(struct ctrace_tl_task, begin_thread), &big32, 4},
      {CTRACE_TLS_TOUCHES, offsetof(struct ctrace_tl_touch, thread), &big32, 4},
      {CTRACE_TLS_LONG_TASKS, 0, &big32, 4},
      {CTRACE_TLS_LOGS, offsetof(struct ctrace_tl_log, msg), &big64, 8},
      {CTRACE_TLS_LOGS, offsetof(struct ctrace_tl_log, thread), &big32, 4},
      {CTRACE_TLS_LEVEL_DIR, offsetof(struct ctrace_tl_cached_level, first), &big64, 8},
      {CTRACE_TLS_LEVEL_DIR, offsetof(struct ctrace_tl_cached_level, n), &big64, 8},
      {CTRACE_TLS_NLEVELS, 0, &zero8, 1},
      {CTRACE_TLS_NLEVELS, 0, &many8, 1},
      {CTRACE_TLS_REGION_OFF, sizeof(size_t), &big64, 8},
      {CTRACE_TLS_LOG_OFF, sizeof(size_t), &big64, 8},
      {CTRACE_TLS_THREADS, offsetof(struct ctrace_tl_thread, index), &big32, 4},
      {CTRACE_TLS_CREATES, offsetof(struct ctrace_tl_create, child), &big32, 4},
      {CTRACE_TLS_PROCS, offsetof(struct ctrace_tl_process, main_thread), &big32, 4},
      {CTRACE_TLS_PROC_ORDER, 0, &big32, 4},
      /* the stats' struct, right after the timeline's sections */
      {CTRACE_TL_NSECTIONS, offsetof(struct ctrace_stats, threads), &big32, 4},
      {CTRACE_TL_NSECTIONS, offsetof(struct ctrace_stats, ntask_names), &big32, 4},
      /* the counters' (api_find.c), after the stats' 5: a point's name, a
       * drop's thread, a series' end */
      {CTRACE_TL_NSECTIONS + 6, 0, &big32, 4},
      {CTRACE_TL_NSECTIONS + 7, 24, &big32, 4},
      {CTRACE_TL_NSECTIONS + 8, sizeof(size_t), &big64, 8},
  };
  size_t applied = 0;
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    memcpy(bad, good, len);
    if (forge(bad, forged[i].sec, forged[i].at, forged[i].val, forged[i].n) < 0)
      continue;
    applied++;
    rebuilt_from(file, "forged section", forged[i].sec, bad, len, &built);
  }
  ASSERT_GE(applied, sizeof forged / sizeof forged[0] - 2);
  /* a section out of the file, one not on a page, one of a part of an
   * element, with the head's hash made right */
  for (int i = 0; i < 3; i++) {
    memcpy(bad, good, len);
    struct ctrace_cache_head h;
    memcpy(&h, bad, sizeof h);
    if (i == 0)
      h.sec[CTRACE_TLS_REGIONS].len = len;
    else if (i == 1)
      h.sec[CTRACE_TLS_REGIONS].off += 8;
    else
      h.sec[CTRACE_TLS_REGIONS].len -= 1;
    h.head_hash = ctrace_cache_head_hash(&h);
    memcpy(bad, &h, sizeof h);
    rebuilt_from(file, "forged head", (size_t)i, bad, len, &built);
  }
  free(bad);
  free(good);
  free_answers(&built);
  return TEST_OK;
}

TEST_IMPL(viewperf_index_cache_changed_trace_rebuilt) {
  use_tmp_cache_home();
  const char *file = test_path("mix.ctrace");
  make_trace(file, "20000");
  ASSERT_STR_EQ(open_view(file, NULL), "saved");
  ASSERT_STR_EQ(open_view(file, NULL), "loaded");
  /* the same bytes, a new modification time */
  struct timespec ts[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, file, ts, 0), 0);
  ASSERT_STR_EQ(open_view(file, NULL), "saved");
  ASSERT_STR_EQ(open_view(file, NULL), "loaded");
  /* another trace at the same path with the old cache put back and the
   * same size and time: its bytes differ, so the cache is not its own */
  size_t clen;
  char *old_cache = test_read_file(cache_of(file), &clen);
  struct stat st0;
  ASSERT_EQ(stat(file, &st0), 0);
  make_trace(file, "20001");
  struct answers fresh, again;
  ASSERT_STR_EQ(open_view(file, &fresh), "saved");
  ASSERT_EQ(test_write_file(cache_of(file), old_cache, clen), 0);
  struct stat st1;
  ASSERT_EQ(stat(file, &st1), 0);
  if (st1.st_size == st0.st_size) { /* same size: give it the old time too */
    struct timespec t2[2] = {{0, UTIME_OMIT}, st0.st_mtim};
    ASSERT_EQ(utimensat(AT_FDCWD, file, t2, 0), 0);
  }
  ASSERT_STR_EQ(open_view(file, &again), "saved");
  same_answers(&fresh, &again);
  free_answers(&fresh);
  free_answers(&again);
  free(old_cache);
  return TEST_OK;
}

/* A thread that begins a region and exits inside it: its end is lost. */
static void *dies_in_region(void *arg) {
  (void)arg;
  ctrace_region_begin("step");
  ctrace_region_begin("lost-only");
  return NULL;
}

TEST_IMPL(viewperf_unended_left_out_of_latency) {
  setenv("CTRACE_INDEX_CACHE", "off", 1);
  const char *file = test_path("unended.ctrace");
  ASSERT_EQ(ctrace_start_path(file), 0);
  for (int i = 0; i < 3; i++) {
    ctrace_region_begin("step");
    ctrace_region_end();
  }
  ctrace_task_end(ctrace_task_begin(0, "req"));
  ctrace_task_begin(0, "req"); /* never ended */
  pthread_t th;
  ASSERT_EQ(ctrace_pthread_create(&th, NULL, dies_in_region, NULL), 0);
  pthread_join(th, NULL);
  ctrace_region_begin("step"); /* open when the trace stops */
  ASSERT_EQ(ctrace_stop(), 0);

  ctrace_reader *r;
  char err[256];
  struct ctrace_view v;
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  struct ctrace_reply rep;
  answer(&v, "/api/tasks", (struct kv){{NULL}, {NULL}}, &rep);
  /* the three ended steps make the latency; the two that never ended (a
   * thread that died in one, one open at the stop) are counted apart */
  ASSERT_STR_CONTAINS(rep.body, "{\"tasks\":[{\"name\":\"req\",\"count\":1,");
  ASSERT_STR_CONTAINS(rep.body, "{\"name\":\"step\",\"count\":3,");
  const char *step = strstr(rep.body, "\"step\"");
  const char *req = strstr(rep.body, "\"req\"");
  ASSERT_STR_CONTAINS(step, "\"unended\":2,");
  ASSERT_STR_CONTAINS(req, "\"unended\":1,");
  /* a name that never ended has no latency at all, and is in the total */
  if (strstr(rep.body, "\"lost-only\""))
    TEST_FAIL_("a name with no ended instance has latencies: %s", rep.body);
  ASSERT_STR_CONTAINS(rep.body, "\"unended\":{\"tasks\":1,\"regions\":3}}");
  free(rep.body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return TEST_OK;
}

/* The "matches" array's inside of a search answer. */
static char *matches_of(const struct ctrace_reply *r) {
  const char *a = strstr(r->body, "\"matches\":[");
  if (!a)
    TEST_FAIL_("no matches in %.300s", r->body);
  a += strlen("\"matches\":[");
  const char *e = r->body + r->len;
  while (e > a && e[-1] != ']')
    e--;
  return strndup(a, (size_t)(e - 1 - a));
}
static int64_t int_of(const char *body, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(body, pat);
  if (!p)
    TEST_FAIL_("no %s in %.300s", key, body);
  return strtoll(p + strlen(pat), NULL, 10);
}

/* Also /api/profile of several threads (tids), on the same trace. */
TEST_IMPL(viewperf_search_pages_through_every_match) {
  setenv("CTRACE_INDEX_CACHE", "off", 1);
  const char *file = test_path("mix.ctrace");
  make_trace(file, "20000");
  ctrace_reader *r;
  char err[256];
  struct ctrace_view v;
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  /* every match at once */
  struct ctrace_reply all;
  answer(&v, "/api/search", (struct kv){{"q", "limit"}, {"e", "100000"}}, &all);
  int64_t total = int_of(all.body, "total");
  ASSERT_GT(total, 2000);
  ASSERT_STR_CONTAINS(all.body, "\"truncated\":false,\"offset\":0,\"next\":null,");
  char *want = matches_of(&all);
  /* the same in pages of 333, each after the last one's "next" */
  size_t cap = strlen(want) + 2, len = 0;
  char *got = calloc(cap, 1);
  char token[96] = "";
  int64_t seen = 0, pages = 0;
  for (;;) {
    struct ctrace_reply pg;
    answer(&v, "/api/search",
           *token ? (struct kv){{"q", "limit", "after"}, {"e", "333", token}}
                  : (struct kv){{"q", "limit"}, {"e", "333"}},
           &pg);
    ASSERT_EQ(int_of(pg.body, "total"), total);
    ASSERT_EQ(int_of(pg.body, "offset"), seen);
    char *m = matches_of(&pg);
    size_t ml = strlen(m);
    if (len + ml + 2 > cap)
      TEST_FAIL_("the pages hold more than all the matches (page %" PRId64 ")", pages);
    if (len && ml)
      got[len++] = ',';
    memcpy(got + len, m, ml + 1);
    len += ml;
    free(m);
    pages++;
    const char *nx = strstr(pg.body, "\"next\":");
    if (!nx)
      TEST_FAIL_("no next in %.300s", pg.body);
    nx += strlen("\"next\":");
    int count = 0;
    for (const char *c = strstr(pg.body, "\"matches\":["); (c = strstr(c + 1, "{\"kind\":")); )
      count++;
    seen += count;
    if (strncmp(nx, "null", 4) == 0) {
      free(pg.body);
      break;
    }
    ASSERT_EQ(count, 333);
    const char *q = strchr(nx + 1, '"');
    snprintf(token, sizeof token, "%.*s", (int)(q - nx - 1), nx + 1);
    free(pg.body);
  }
  ASSERT_EQ(seen, total);
  ASSERT_EQ(pages, (total + 332) / 333);
  ASSERT_STR_EQ(got, want);
  /* a token that is not one */
  struct ctrace_reply bad;
  ctrace_api_handle(&v, "/api/search", kv_param,
                    &(struct kv){{"q", "after"}, {"e", "12.99.1.1"}}, &bad);
  ASSERT_EQ(bad.status, 400);
  free(bad.body);
  ctrace_api_handle(&v, "/api/search", kv_param, &(struct kv){{"q", "after"}, {"e", "1.2.3"}},
                    &bad);
  ASSERT_EQ(bad.status, 400);
  free(bad.body);
  /* the profile of several threads sums theirs; a bad list is 400 */
  char tids[64];
  snprintf(tids, sizeof tids, "%u,%u,%u", v.tl->threads[1].tid, v.tl->threads[2].tid,
           v.tl->threads[1].tid);
  struct ctrace_reply both, one;
  answer(&v, "/api/profile", (struct kv){{"kind", "tids"}, {"syscall", tids}}, &both);
  int64_t sum = 0;
  for (int k = 1; k <= 2; k++) {
    char t[16];
    snprintf(t, sizeof t, "%u", v.tl->threads[k].tid);
    answer(&v, "/api/profile", (struct kv){{"kind", "tid"}, {"syscall", t}}, &one);
    sum += int_of(one.body, "total_ns");
    free(one.body);
  }
  ASSERT_GT(sum, 0);
  ASSERT_EQ(int_of(both.body, "total_ns"), sum);
  free(both.body);
  const char *bad_lists[] = {"1,x", ",", "99999999", "1,,2", "-3"};
  for (size_t i = 0; i < sizeof bad_lists / sizeof bad_lists[0]; i++) {
    ctrace_api_handle(&v, "/api/profile", kv_param,
                      &(struct kv){{"kind", "tids"}, {"sync", bad_lists[i]}}, &bad);
    if (bad.status != 400)
      TEST_FAIL_("tids=%s: status %d", bad_lists[i], bad.status);
    free(bad.body);
  }
  free(got);
  free(want);
  free(all.body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return TEST_OK;
}

/* ---- regions merged by binary search: the same as one by one ---- */
struct rg_out {
  int64_t v[5];
};
struct rg_list {
  struct rg_out *v;
  size_t n, cap;
};
static void rg_push(struct rg_list *l, const struct ctrace_tl_region *r, int64_t s, int64_t e,
                    unsigned depth, uint32_t n) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 256;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
  }
  l->v[l->n++] = (struct rg_out){{r ? (int64_t)r->start : -1, s, e, depth, n}};
}
static void rg_fn(void *arg, const struct ctrace_tl_region *r, int64_t s, int64_t e,
                  unsigned depth, uint32_t n) {
  rg_push(arg, r, s, e, depth, n);
}
/* What ctrace_timeline_regions answered before: each region in turn. */
static void regions_one_by_one(const struct ctrace_timeline *tl, uint32_t thread, int64_t a,
                               int64_t b, int64_t w, struct rg_list *out) {
  size_t lo = tl->region_off[thread], hi = tl->region_off[thread + 1];
  for (size_t i = lo; i < hi;) {
    unsigned depth = tl->regions[i].depth;
    size_t j = i;
    while (j < hi && tl->regions[j].depth == depth)
      j++;
    int acc = 0;
    int64_t as = 0, ae = 0;
    uint32_t an = 0;
    const struct ctrace_tl_region *first = NULL;
    for (size_t k = i; k < j && tl->regions[k].start < b; k++) {
      const struct ctrace_tl_region *rg = &tl->regions[k];
      if (rg->end <= a)
        continue;
      int64_t s = rg->start < a ? a : rg->start, e = rg->end > b ? b : rg->end;
      if (e - s >= w) {
        if (acc)
          rg_push(out, an == 1 ? first : NULL, as, ae, depth, an);
        acc = 0;
        rg_push(out, rg, s, e, depth, 1);
        continue;
      }
      if (acc && s - ae < w) {
        ae = e > ae ? e : ae;
        an++;
        continue;
      }
      if (acc)
        rg_push(out, an == 1 ? first : NULL, as, ae, depth, an);
      acc = 1, as = s, ae = e, an = 1, first = rg;
    }
    if (acc)
      rg_push(out, an == 1 ? first : NULL, as, ae, depth, an);
    i = j;
  }
}

TEST_IMPL(viewperf_regions_merged_as_one_by_one) {
  setenv("CTRACE_INDEX_CACHE", "off", 1);
  const char *file = test_path("mix.ctrace");
  make_trace(file, "60000");
  ctrace_reader *r;
  char err[256];
  struct ctrace_view v;
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  int64_t T = tl->end_ns - tl->start_ns;
  size_t compared = 0, merged = 0;
  for (uint32_t t = 0; t < tl->nthreads; t++)
    for (int wi = 0; wi < 6; wi++) {
      int64_t width_px[] = {100, 400, 1600, 5000, 20000, 7};
      for (int zi = 0; zi < 4; zi++) {
        int64_t len = zi == 0 ? T : T / (zi * 13 + 3);
        int64_t a = tl->start_ns + (T - len) / 3 * (zi % 3);
        int64_t b = a + len, w = len / width_px[wi] > 0 ? len / width_px[wi] : 1;
        struct rg_list want = {0}, got = {0};
        regions_one_by_one(tl, t, a, b, w, &want);
        ctrace_timeline_regions(tl, t, a, b, w, rg_fn, &got);
        if (want.n != got.n || (want.n && memcmp(want.v, got.v, want.n * sizeof *want.v) != 0))
          TEST_FAIL_("thread %u, window %" PRId64 "+%" PRId64 ", min width %" PRId64
                     ": %zu pieces, one by one %zu",
                     t, a, len, w, got.n, want.n);
        compared += want.n;
        for (size_t k = 0; k < want.n; k++)
          merged += want.v[k].v[4] > 1;
        free(want.v);
        free(got.v);
      }
    }
  ASSERT_GT(compared, 1000);
  ASSERT_GT(merged, 100); /* the merging was exercised */
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return TEST_OK;
}

/*
 * Tasks are paired by numbering their ids (timeline_build.c), in ranges
 * when the ids fill them, else through a hash table: both must give what
 * sorting the task events by (id, end, time) gave. Thread 7 begins X at
 * 10 and Y at 20, ends Y at 30; thread 8 begins Y again at 20 (a tie: the
 * first thread's begin wins), logs for Z (a touch without a task) at 25,
 * ends X at 50; thread 9 ends X at 50 too (a tie: the last end wins).
 */
static void tasks_paired(uint64_t x, uint64_t y, uint64_t z) {
  static struct buf file, meta, t7, t8, t9;
  memset(&file, 0, sizeof file);
  memset(&meta, 0, sizeof meta);
  memset(&t7, 0, sizeof t7);
  memset(&t8, 0, sizeof t8);
  memset(&t9, 0, sizeof t9);
  put_file_header(&file, 42);
  put_ev(&meta, CTRACE_EV_CLOCK_SYNC, 0, 3, (uint64_t[]){1000, 1000, 5000}, NULL);
  put_ev(&meta, CTRACE_EV_STRING, 0, 1, (uint64_t[]){1}, "A");
  put_ev(&meta, CTRACE_EV_STRING, 0, 1, (uint64_t[]){2}, "B");
  put_batch(&file, 0, 0, &meta);
  put_ev(&t7, CTRACE_EV_THREAD_START, 0, 1, (uint64_t[]){0}, NULL);
  put_ev(&t7, CTRACE_EV_TASK_BEGIN, 10, 4, (uint64_t[]){x, 0, 1, 0}, NULL);
  put_ev(&t7, CTRACE_EV_TASK_BEGIN, 10, 4, (uint64_t[]){y, 0, 2, 0}, NULL);
  put_ev(&t7, CTRACE_EV_TASK_END, 10, 1, (uint64_t[]){y}, NULL);
  put_batch(&file, 7, 1000, &t7);
  put_ev(&t8, CTRACE_EV_THREAD_START, 0, 1, (uint64_t[]){0}, NULL);
  put_ev(&t8, CTRACE_EV_TASK_BEGIN, 20, 4, (uint64_t[]){y, 0, 1, 0}, NULL);
  put_ev(&t8, CTRACE_EV_LOG, 5, 3, (uint64_t[]){z, 0, 0}, "m");
  put_ev(&t8, CTRACE_EV_TASK_END, 25, 1, (uint64_t[]){x}, NULL);
  put_batch(&file, 8, 1000, &t8);
  put_ev(&t9, CTRACE_EV_THREAD_START, 0, 1, (uint64_t[]){0}, NULL);
  put_ev(&t9, CTRACE_EV_TASK_END, 50, 1, (uint64_t[]){x}, NULL);
  put_batch(&file, 9, 1000, &t9);

  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open_mem(file.b, file.n, &r, err, sizeof err), 0);
  struct ctrace_timeline *tl;
  ASSERT_EQ(ctrace_timeline_build(r, NULL, NULL, &tl), 0);
  ASSERT_EQ(tl->nthreads, 3);
  int64_t i7 = ctrace_timeline_thread(tl, 7), i8 = ctrace_timeline_thread(tl, 8),
          i9 = ctrace_timeline_thread(tl, 9);
  ASSERT_GE(i7, 0);
  ASSERT_GE(i8, 0);
  ASSERT_GE(i9, 0);
  ASSERT_UINT_EQ(tl->ntasks, 2);
  /* by start: X, then Y */
  const struct ctrace_tl_task *tx = &tl->tasks[0], *ty = &tl->tasks[1];
  ASSERT_UINT_EQ(tx->id & 0xffffffffu, x & 0xffffffffu);
  ASSERT_UINT_EQ(ty->id & 0xffffffffu, y & 0xffffffffu);
  ASSERT_EQ(tx->start, 10);
  ASSERT_EQ(tx->end, 50);
  ASSERT_EQ(tx->begin_thread, i7);
  ASSERT_EQ(tx->end_thread, i9);
  ASSERT_EQ(tx->name, 1);
  ASSERT_EQ(tx->open, 0);
  ASSERT_EQ(ty->start, 20);
  ASSERT_EQ(ty->end, 30);
  ASSERT_EQ(ty->begin_thread, i7);
  ASSERT_EQ(ty->end_thread, i7);
  ASSERT_EQ(ty->name, 2);
  /* touches by (task id, thread), merged per thread: Y (7, 8), Z (8), X (7, 8, 9) */
  ASSERT_UINT_EQ(tl->ntouches, 6);
  for (size_t k = 1; k < tl->ntouches; k++)
    if (tl->touches[k - 1].task > tl->touches[k].task ||
        (tl->touches[k - 1].task == tl->touches[k].task &&
         tl->touches[k - 1].thread >= tl->touches[k].thread))
      TEST_FAIL_("touch %zu is out of (task, thread) order", k);
  ASSERT_EQ(ty->touch, 0);
  ASSERT_EQ(ty->ntouch, 2);
  ASSERT_EQ(tl->touches[0].first, 20);
  ASSERT_EQ(tl->touches[0].last, 30);
  ASSERT_EQ(tx->touch, 3);
  ASSERT_EQ(tx->ntouch, 3);
  ASSERT_EQ(tl->touches[3].first, 10);
  ASSERT_EQ(tl->touches[5].thread, i9);
  ASSERT_EQ(tl->touches[5].last, 50);
  ctrace_timeline_free(tl);
  ctrace_reader_close(r);
}

TEST_IMPL(viewperf_tasks_paired_as_sorting_pairs_them) {
  tasks_paired(3, 1, 2);                /* ids filling their range */
  tasks_paired(5000000, 7, 900000);     /* sparse ids: the hash table */
  return TEST_OK;
}

/*
 * Each thread's regions are written straight into the index's array, at
 * the place a counting pass gave (one per REGION_BEGIN; timeline_build.c).
 * A region nested deeper than the deepest lane kept is not kept: thread 7
 * begins 300 nested regions and keeps 256, and thread 8's, after it, are
 * closed up against them; its logs and wakes too.
 */
TEST_IMPL(viewperf_regions_past_max_depth_closed_up) {
  static struct buf file, meta, t7, t8;
  memset(&file, 0, sizeof file);
  memset(&meta, 0, sizeof meta);
  memset(&t7, 0, sizeof t7);
  memset(&t8, 0, sizeof t8);
  put_file_header(&file, 42);
  put_ev(&meta, CTRACE_EV_CLOCK_SYNC, 0, 3, (uint64_t[]){1000, 1000, 5000}, NULL);
  put_ev(&meta, CTRACE_EV_STRING, 0, 1, (uint64_t[]){1}, "A");
  put_batch(&file, 0, 0, &meta);
  put_ev(&t7, CTRACE_EV_THREAD_START, 0, 1, (uint64_t[]){0}, NULL);
  for (int k = 0; k < 300; k++)
    put_ev(&t7, CTRACE_EV_REGION_BEGIN, 1, 3, (uint64_t[]){0, 1, 0}, NULL);
  put_ev(&t7, CTRACE_EV_LOG, 1, 3, (uint64_t[]){0, 0, 0}, "a");
  for (int k = 0; k < 300; k++)
    put_ev(&t7, CTRACE_EV_REGION_END, 1, 0, NULL, NULL);
  put_batch(&file, 7, 1000, &t7);
  put_ev(&t8, CTRACE_EV_THREAD_START, 0, 1, (uint64_t[]){0}, NULL);
  put_ev(&t8, CTRACE_EV_REGION_BEGIN, 1000, 3, (uint64_t[]){0, 1, 0}, NULL);
  put_ev(&t8, CTRACE_EV_LOG, 5, 3, (uint64_t[]){0, 0, 0}, "b");
  put_ev(&t8, CTRACE_EV_WAKE, 1, 4, (uint64_t[]){7, 9, 0, 0}, NULL);
  put_ev(&t8, CTRACE_EV_REGION_END, 10, 0, NULL, NULL);
  put_ev(&t8, CTRACE_EV_REGION_BEGIN, 10, 3, (uint64_t[]){0, 1, 0}, NULL);
  put_batch(&file, 8, 1000, &t8);

  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open_mem(file.b, file.n, &r, err, sizeof err), 0);
  struct ctrace_timeline *tl;
  ASSERT_EQ(ctrace_timeline_build(r, NULL, NULL, &tl), 0);
  ASSERT_EQ(tl->nthreads, 2);
  int64_t i7 = ctrace_timeline_thread(tl, 7), i8 = ctrace_timeline_thread(tl, 8);
  ASSERT_EQ(i7, 0);
  ASSERT_EQ(i8, 1);
  ASSERT_UINT_EQ(tl->nregions, 258);
  ASSERT_UINT_EQ(tl->region_off[0], 0);
  ASSERT_UINT_EQ(tl->region_off[1], 256);
  ASSERT_UINT_EQ(tl->region_off[2], 258);
  ASSERT_EQ(tl->max_depth[0], 256);
  ASSERT_EQ(tl->max_depth[1], 1);
  for (unsigned k = 0; k < 256; k++) { /* by depth: region k began at k + 1 */
    const struct ctrace_tl_region *rg = &tl->regions[k];
    ASSERT_EQ(rg->depth, k);
    ASSERT_EQ(rg->start - tl->regions[0].start, (int64_t)k);
    ASSERT_EQ(rg->open, 0);
  }
  const struct ctrace_tl_region *a = &tl->regions[256], *b = &tl->regions[257];
  ASSERT_EQ(a->depth, 0);
  ASSERT_EQ(a->open, 0);
  ASSERT_EQ(a->end - a->start, 16);
  ASSERT_EQ(b->depth, 0);
  ASSERT_EQ(b->open, 1);
  ASSERT_GT(b->start, a->end);
  ASSERT_UINT_EQ(tl->nlogs, 2);
  ASSERT_UINT_EQ(tl->log_off[1], 1);
  ASSERT_UINT_EQ(tl->log_off[2], 2);
  ASSERT_EQ(tl->logs[0].thread, 0);
  ASSERT_EQ(tl->logs[1].thread, 1);
  ASSERT_UINT_EQ(tl->nwakes, 1);
  ASSERT_EQ(tl->wakes[0].waker, 1);
  ASSERT_EQ(tl->wakes[0].woken, 0);
  ctrace_timeline_free(tl);
  ctrace_reader_close(r);
  return TEST_OK;
}
