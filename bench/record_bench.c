/*
 * record_bench.c - what one event costs, measured against the physical floor
 * (one rdtsc, one clock_gettime) in the same run; bytes of file per event;
 * event costs are CPU time of the recording thread per event;
 * and how fast the reader decodes. Prints a table; never fails on a slow
 * machine. Usage: record_bench [EVENTS_PER_THREAD] (default 2000000);
 * record_bench --http-pattern FILE [EVENTS] writes the HTTP pattern trace only;
 * record_bench --decode [FILE...] prints the decode row of bench/cost.py
 * alone (cursors over every thread, M events/s of CPU, median [min max] of
 * 5 best-of-3), on the given traces or on --kv's (counters of 2 threads),
 * which record_bench --counters FILE writes.
 * The writer's row is its compaction of repeated fields (1.4) per event of
 * a 64 KiB batch of logs as the recorder writes them (the writer's CPU, on
 * a core of its own while the threads record).
 */
#include <ctrace.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/read/reader.h"
#include "../src/record/record.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long N;
static volatile uint64_t sink;

static double bench_rdtsc(void) {
  double t0 = now_s();
  uint64_t s = 0;
  for (long i = 0; i < N; i++)
    s += __rdtsc(); /* the instruction itself, whatever clock a trace uses */
  sink = s;
  return (now_s() - t0) / (double)N * 1e9;
}

static double bench_clock_gettime(void) {
  double t0 = now_s();
  struct timespec ts;
  uint64_t s = 0;
  for (long i = 0; i < N; i++) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s += (uint64_t)ts.tv_nsec;
  }
  sink = s;
  return (now_s() - t0) / (double)N * 1e9;
}

enum what { REGION_STR, REGION_MACRO, LOG, COUNTER, HTTP_PATTERN, LOG_FMT, LOG_PLAIN };

#define MAX_THREADS 64

struct job {
  enum what what;
  long n;
  double ns_per_event;
};

/* CPU time of the calling thread: the cost of its events, without the time
 * it waited for a core (2 cores, 2 recording threads and the writer). */
static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run_job(void *arg) {
  struct job *j = arg;
  double t0 = thread_cpu_s();
  switch (j->what) {
  case REGION_STR:
    for (long i = 0; i < j->n; i++) {
      ctrace_region_begin("decode");
      ctrace_region_end();
    }
    break;
  case REGION_MACRO:
    for (long i = 0; i < j->n; i++) {
      CTRACE_REGION("decode");
    }
    break;
  case LOG:
    for (long i = 0; i < j->n; i++)
      ctrace_log_str(0, "db", "rows=42");
    break;
  case COUNTER:
    for (long i = 0; i < j->n; i++)
      ctrace_counter("queue", i & 1023);
    break;
  case LOG_FMT: /* ctrace_log formats: vsnprintf is most of its cost */
    for (long i = 0; i < j->n; i++)
      ctrace_log(0, "db", "rows=%d", 42);
    break;
  case LOG_PLAIN: /* ctrace_log with a message that has no conversion */
    for (long i = 0; i < j->n; i++)
      ctrace_log(0, "db", "rows=42");
    break;
  case HTTP_PATTERN: /* what http_task records per request: 7 events */
    for (long i = 0; i < j->n / 7; i++) {
      ctrace_task_t t = ctrace_task_begin(0, "handleRequest");
      ctrace_log_str(t, "http", "GET /hello");
      ctrace_region_begin("db.query");
      ctrace_region_end();
      ctrace_region_begin("write.response");
      ctrace_region_end();
      ctrace_task_end(t);
    }
    break;
  }
  double dt = thread_cpu_s() - t0;
  long events = j->what == REGION_STR || j->what == REGION_MACRO ? 2 * j->n
                : j->what == HTTP_PATTERN                      ? j->n / 7 * 7
                                                               : j->n;
  j->ns_per_event = dt / (double)events * 1e9;
  return NULL;
}

/* ns per event for what, on nthreads threads at once (mean of threads). */
static double bench_events_once(enum what what, int nthreads, const char *path) {
  if (ctrace_start_path(path) != 0) {
    fprintf(stderr, "cannot start a trace on %s\n", path);
    exit(1);
  }
  struct job jobs[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  for (int i = 0; i < nthreads; i++) {
    jobs[i] = (struct job){what, N / 2, 0};
    pthread_create(&th[i], NULL, run_job, &jobs[i]);
  }
  double sum = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(th[i], NULL);
    sum += jobs[i].ns_per_event;
  }
  ctrace_stop();
  return sum / nthreads;
}

/* The best of 3 runs: the machine may be shared; the minimum is the cost. */
static double bench_events(enum what what, int nthreads, const char *path) {
  double best = 1e18;
  for (int i = 0; i < 3; i++) {
    double v = bench_events_once(what, nthreads, path);
    if (v < best)
      best = v;
  }
  return best;
}

static double best_of_3(double (*f)(void)) {
  double best = 1e18;
  for (int i = 0; i < 3; i++) {
    double v = f();
    if (v < best)
      best = v;
  }
  return best;
}

/* A 16-frame stack: recursion that keeps its frames. */
static double stack_ns;
static uint32_t stack_id;

__attribute__((noinline)) static void capture_at_depth(int depth, long n) {
  if (depth > 1) {
    capture_at_depth(depth - 1, n);
    __asm__ volatile("" ::: "memory");
    return;
  }
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uintptr_t pcs[32];
  int frames = 0;
  double t0 = now_s();
  for (long i = 0; i < n; i++)
    frames += ctrace__stack_capture(t, __builtin_frame_address(0), pcs, 16);
  stack_ns = (now_s() - t0) / (double)n * 1e9;
  /* and interned: the per-thread cache hit that follows every capture */
  double t1 = now_s();
  for (long i = 0; i < n; i++)
    stack_id = ctrace__stack_intern(t, pcs, 16);
  sink = (uint64_t)frames;
  ctrace__leave_empty(t);
  fprintf(stderr, "stack intern (cache hit): %.1f ns\n", (now_s() - t1) / (double)n * 1e9);
}

static double file_bytes_per_event(const char *path, double *decode_mev, double *decode_mb,
                                   uint64_t *events) {
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &r, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 0;
  }
  uint64_t n = ctrace_reader_nevents(r);
  double bpe = (double)ctrace_reader_file_size(r) / (double)n;
  if (decode_mev) {
    /* Decode every event of every thread, as the tools do after open. */
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
      double t0 = thread_cpu_s();
      uint64_t count = 0, s = 0;
      for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
        ctrace_cursor c;
        ctrace_event ev;
        ctrace_cursor_init(&c, r, i);
        while (ctrace_cursor_next(&c, &ev)) {
          count++;
          s += ev.ticks;
        }
      }
      sink = s;
      double dt = thread_cpu_s() - t0;
      if (dt < best)
        best = dt;
    }
    *decode_mev = (double)n / best / 1e6;
    *decode_mb = (double)ctrace_reader_file_size(r) / best / 1e6;
  }
  *events = n;
  ctrace_reader_close(r);
  return bpe;
}

/* The writer's compaction of a batch of n logs of one category, as the
 * recorder writes them: ns per event, best of 7. */
static double bench_compact(void) {
  static uint8_t src[65536], work[65536];
  uint8_t *p = src;
  long n = 0;
  for (; p + 32 < src + sizeof src; n++) {
    *p++ = CTRACE_EV_LOG;
    p = ctrace__put_uvarint(p, 20 + (uint64_t)(n % 50)); /* delta */
    *p++ = 0;                                             /* task */
    *p++ = 7;                                             /* category */
    *p++ = 0;                                             /* stack */
    *p++ = 7;
    memcpy(p, "rows=42", 7);
    p += 7;
  }
  size_t len = (size_t)(p - src);
  double best = 1e9;
  for (int r = 0; r < 7; r++) {
    double t0 = thread_cpu_s();
    for (int k = 0; k < 100; k++) {
      memcpy(work, src, len);
      sink += ctrace__repeat_compact(work, len, 1);
    }
    double ns = (thread_cpu_s() - t0) / 100 / (double)n * 1e9;
    if (ns < best)
      best = ns;
  }
  return best;
}

static double open_time(const char *path) {
  double t0 = now_s();
  ctrace_reader *r;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open(path, &r, err, sizeof err) < 0)
    return 0;
  double dt = now_s() - t0;
  ctrace_reader_close(r);
  return dt;
}

/* ---- --kv: the rows of bench/cost.py, as "key value" lines ----
 * Per-event costs in one process, in alternating short rounds (an rdtsc
 * loop, then each event's loop, then again), CPU time of the thread per
 * event: a change of load hits every row alike. Median and range of the
 * rounds. */
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static void kv_stat(const char *key, double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  printf("%s %.3f %.3f %.3f\n", key, v[n / 2], v[0], v[n - 1]);
}
static double round_rdtsc(long n) {
  double t0 = thread_cpu_s();
  uint64_t s = 0;
  for (long i = 0; i < n; i++)
    s += __rdtsc();
  sink = s;
  return (thread_cpu_s() - t0) / (double)n * 1e9;
}
static double round_job(enum what what, long n) {
  struct job j = {what, n, 0};
  run_job(&j);
  return j.ns_per_event;
}
static double round_untraced_log(long n) {
  double t0 = thread_cpu_s();
  for (long i = 0; i < n; i++)
    ctrace_log_str(0, "db", "rows=42");
  return (thread_cpu_s() - t0) / (double)n * 1e9;
}

static void kv_main(const char *dir) {
  char path[256];
  snprintf(path, sizeof path, "%s/kv.ctrace", dir);
  enum { R = 15 };
  long n = 100000;
  double rd[R], rg[R], lg[R], ct[R], un[R], lf[R], lp[R];
  /* warm up: the first buffers of a trace are the writer's to allocate */
  ctrace_start_path(path);
  round_job(REGION_MACRO, n);
  for (int r = 0; r < R; r++) {
    rd[r] = round_rdtsc(n);
    rg[r] = round_job(REGION_MACRO, n / 2);
    lg[r] = round_job(LOG, n);
    ct[r] = round_job(COUNTER, n);
    lf[r] = round_job(LOG_FMT, n);
    lp[r] = round_job(LOG_PLAIN, n);
  }
  ctrace_stop();
  for (int r = 0; r < R; r++)
    un[r] = round_untraced_log(n);
  kv_stat("rdtsc_ns", rd, R);
  kv_stat("region_ns", rg, R);
  kv_stat("log_ns", lg, R);
  kv_stat("counter_ns", ct, R);
  kv_stat("log_fmt_ns", lf, R);
  kv_stat("log_plain_ns", lp, R);
  kv_stat("log_untraced_ns", un, R);

  /* Threads: T threads recording region pairs at once on however many
   * cores there are; CPU time per event over all recording threads (the
   * writer's excluded), alternating rounds over T. */
  static const int ts[] = {1, 2, 8, 64};
  enum { TR = 5, NT = sizeof ts / sizeof ts[0] };
  double per[NT][TR], mallocs[NT][TR], slabs[NT][TR];
  long total = 1600000; /* events per round, split among the threads */
  for (int r = 0; r < TR; r++)
    for (int k = 0; k < NT; k++) {
      int nt = ts[(r % 2) ? NT - 1 - k : k];
      int idx = (r % 2) ? NT - 1 - k : k;
      uint64_t m0 = atomic_load(&ctrace__buf_mallocs_by_threads);
      uint64_t s0 = atomic_load(&ctrace__buf_slabs_made);
      ctrace_start_path(path);
      struct job jobs[MAX_THREADS];
      pthread_t th[MAX_THREADS];
      for (int i = 0; i < nt; i++) {
        jobs[i] = (struct job){REGION_MACRO, total / 2 / nt, 0};
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
      }
      double sum = 0;
      for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        sum += jobs[i].ns_per_event;
      }
      ctrace_stop();
      per[idx][r] = sum / nt;
      /* buffers the recording threads had to allocate themselves */
      mallocs[idx][r] = (double)(atomic_load(&ctrace__buf_mallocs_by_threads) - m0);
      slabs[idx][r] = (double)(atomic_load(&ctrace__buf_slabs_made) - s0);
    }
  for (int k = 0; k < NT; k++) {
    char key[64];
    snprintf(key, sizeof key, "threads_%d_ns", ts[k]);
    kv_stat(key, per[k], TR);
    snprintf(key, sizeof key, "threads_%d_bufs_malloced", ts[k]);
    kv_stat(key, mallocs[k], TR);
    snprintf(key, sizeof key, "threads_%d_slabs", ts[k]);
    kv_stat(key, slabs[k], TR);
  }

  /* bytes per event: the HTTP example's pattern at volume */
  uint64_t ev;
  bench_events_once(HTTP_PATTERN, 1, path);
  printf("http_pattern_bpe %.3f\n", file_bytes_per_event(path, NULL, NULL, &ev));
  /* reader decode after open, on the counters of 2 threads */
  bench_events_once(COUNTER, 2, path);
  double mev = 0, mb = 0;
  file_bytes_per_event(path, &mev, &mb, &ev);
  double d[5];
  d[0] = mev;
  for (int i = 1; i < 5; i++) {
    file_bytes_per_event(path, &mev, &mb, &ev);
    d[i] = mev;
  }
  kv_stat("decode_mev", d, 5);
}

/* --decode: the decode row alone, on FILEs or on a trace of counters. */
static int decode_main(int nfiles, char **files) {
  char dir[] = "/tmp/ctrace-bench-XXXXXX", path[256];
  char *one[1] = {path};
  if (!nfiles) {
    if (!mkdtemp(dir))
      return 1;
    snprintf(path, sizeof path, "%s/decode.ctrace", dir);
    N = 2000000;
    setenv("CTRACE_MEMORY_MB", "1024", 1);
    ctrace__clock_init();
    bench_events_once(COUNTER, 2, path);
    files = one;
    nfiles = 1;
  }
  for (int k = 0; k < nfiles; k++) {
    double d[5], mev = 0, mb = 0;
    uint64_t ev = 0;
    for (int i = 0; i < 5; i++) {
      file_bytes_per_event(files[k], &mev, &mb, &ev);
      d[i] = mev;
    }
    char key[300];
    snprintf(key, sizeof key, "decode_mev %s", nfiles == 1 && files[0] == path ? "counters" : files[k]);
    kv_stat(key, d, 5);
  }
  if (files[0] == path) {
    unlink(path);
    rmdir(dir);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--counters") == 0) {
    /* the trace --decode (and cost.py's decode row) reads, into FILE */
    N = 2000000;
    setenv("CTRACE_MEMORY_MB", "1024", 1);
    ctrace__clock_init();
    bench_events_once(COUNTER, 2, argv[2]);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--decode") == 0)
    return decode_main(argc - 2, argv + 2);
  if (argc > 2 && strcmp(argv[1], "--http-pattern") == 0) {
    /* the HTTP example's pattern at volume into FILE, as --kv measures it
     * (bench/bytes.sh breaks its bytes down) */
    N = argc > 3 ? atol(argv[3]) : 2000000;
    setenv("CTRACE_MEMORY_MB", "1024", 1);
    ctrace__clock_init();
    bench_events_once(HTTP_PATTERN, 1, argv[2]);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--kv") == 0) {
    N = 2000000;
    char kdir[] = "/tmp/ctrace-bench-XXXXXX";
    if (!mkdtemp(kdir))
      return 1;
    setenv("CTRACE_MEMORY_MB", "1024", 1);
    ctrace__clock_init();
    kv_main(kdir);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", kdir);
    return system(cmd) != 0;
  }
  N = argc > 1 ? atol(argv[1]) : 2000000;
  char dir[] = "/tmp/ctrace-bench-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char path[256], stress[256];
  snprintf(path, sizeof path, "%s/b.ctrace", dir);
  snprintf(stress, sizeof stress, "%s/stress.ctrace", dir);
  setenv("CTRACE_MEMORY_MB", "1024", 1); /* measure recording, not dropping */

  ctrace__clock_init(); /* before any trace: what ctrace__now() will use */
  double rdtsc = best_of_3(bench_rdtsc);
  double cgt = best_of_3(bench_clock_gettime);
  double r1 = bench_events(REGION_STR, 1, path);
  double r2 = bench_events(REGION_STR, 2, path);
  double m1 = bench_events(REGION_MACRO, 1, path);
  double m2 = bench_events(REGION_MACRO, 2, path);
  double l1 = bench_events(LOG, 1, path);
  double l2 = bench_events(LOG, 2, path);
  double c1 = bench_events(COUNTER, 1, path);
  double c2 = bench_events(COUNTER, 2, stress);

  ctrace_start_path(path);
  capture_at_depth(20, N / 4);
  ctrace_stop();
  double compact_ns = bench_compact();

  /* bytes per event: the HTTP example's pattern (tasks, regions, logs) */
  double http_bpe = 0;
  uint64_t http_events = 0;
  char cmd[512];
  char http[256];
  snprintf(http, sizeof http, "%s/http.ctrace", dir);
  const char *exe = getenv("CTRACE_HTTP_EXAMPLE");
  if (exe) {
    snprintf(cmd, sizeof cmd, "%s %s 20 >/dev/null", exe, http);
    if (system(cmd) == 0)
      http_bpe = file_bytes_per_event(http, NULL, NULL, &http_events);
  }
  /* the same pattern at volume: request-shaped events from 2 threads */
  double mev = 0, mb = 0;
  uint64_t stress_events;
  double stress_bpe = file_bytes_per_event(stress, &mev, &mb, &stress_events);
  double region_bpe, pattern_bpe;
  uint64_t region_events, pattern_events;
  bench_events_once(HTTP_PATTERN, 1, path);
  pattern_bpe = file_bytes_per_event(path, NULL, NULL, &pattern_events);
  bench_events(REGION_MACRO, 2, path);
  region_bpe = file_bytes_per_event(path, NULL, NULL, &region_events);
  double open_s = open_time(stress);

  printf("ctrace recorder benchmark (%ld events per case, clock: %s)\n", N,
         ctrace__use_tsc ? "tsc" : "monotonic");
  printf("%-52s %12s\n", "measure", "value");
  printf("%-52s %9.1f ns\n", "rdtsc (the floor of a timestamp)", rdtsc);
  printf("%-52s %9.1f ns\n", "clock_gettime(CLOCK_MONOTONIC)", cgt);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "region begin/end by name string, 1 thread", r1, r1 / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "region begin/end by name string, 2 threads", r2, r2 / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "region begin/end, CTRACE_REGION(), 1 thread", m1, m1 / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "region begin/end, CTRACE_REGION(), 2 threads", m2, m2 / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "log (7-byte message), 1 thread", l1, l1 / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "log (7-byte message), 2 threads", l2, l2 / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "counter, 1 thread", c1, c1 / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "counter, 2 threads", c2, c2 / rdtsc);
  char stack_label[64];
  snprintf(stack_label, sizeof stack_label, "16-frame stack capture (CTRACE_UNWIND=%s)",
           getenv("CTRACE_UNWIND") ? getenv("CTRACE_UNWIND") : "cfi");
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", stack_label, stack_ns, stack_ns / rdtsc);
  printf("%-52s %9.1f ns  (%.2fx rdtsc)\n", "writer's compaction of a log (64 KiB batch)", compact_ns,
         compact_ns / rdtsc);
  if (http_bpe)
    printf("%-52s %9.2f B   (%llu events)\n", "file bytes/event, http_task example (20 requests)",
           http_bpe, (unsigned long long)http_events);
  printf("%-52s %9.2f B   (%llu events)\n", "file bytes/event, http_task pattern at volume",
         pattern_bpe, (unsigned long long)pattern_events);
  printf("%-52s %9.2f B   (%llu events)\n", "file bytes/event, regions (2 threads)", region_bpe,
         (unsigned long long)region_events);
  printf("%-52s %9.2f B   (%llu events)\n", "file bytes/event, counters (2 threads)", stress_bpe,
         (unsigned long long)stress_events);
  printf("%-52s %9.1f M/s (%.0f MB/s)\n", "reader decode, events/s (after open)", mev, mb);
  printf("%-52s %9.3f s   (%.1f M events/s)\n", "reader open + validate", open_s,
         (double)stress_events / open_s / 1e6);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    return 1;
  return 0;
}
