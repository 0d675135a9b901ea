/*
 * writer.c - the writer thread and the buffer pool. Threads hand full buffers
 * over through a queue; the writer writes each as one batch, metadata first,
 * so that a definition always precedes its first use in the file, and returns
 * the buffer to the free list. It is the only thread that writes the trace
 * file (after ctrace_start checked the fd). Not the per-thread side
 * (thread.c) nor what goes in the metadata (intern.c, procmap.c).
 */
#include "record.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

_Atomic int ctrace__write_err;

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static struct ctrace__buf *queue_head, *queue_tail; /* full, to write */
static struct ctrace__buf *free_list;
static size_t nbufs;         /* buffers allocated, free or not */
static int stopping;
static int writer_waiting;   /* skip the futex wake when the writer is busy */
static pthread_t writer;
static int out_fd = -1;
static int out_owned;
static uint64_t file_off;    /* bytes written so far */

/* Test hook (rule: error paths are exercised): CTRACE_TEST_FAIL_WRITE=N
 * makes the Nth write fail with ENOSPC. */
static long fail_write_at = -1;
static long write_count;

/* Test hook: CTRACE_TEST_WRITER_DELAY_MS=N makes every write N ms late, a
 * writer that cannot keep up, for tests of dropping. */
static long write_delay_ms = -1;

/* Writes the n pieces in one writev() when it can (a batch stays whole
 * even if the process dies between two writes). */
static int write_allv(struct iovec *iov, int n) {
  if (fail_write_at >= 0 && ++write_count >= fail_write_at)
    return -ENOSPC;
  if (write_delay_ms > 0) {
    struct timespec d = {write_delay_ms / 1000, (write_delay_ms % 1000) * 1000000};
    nanosleep(&d, NULL);
  }
  while (n) {
    ssize_t w = writev(out_fd, iov, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (w == 0)
      return -EIO;
    file_off += (uint64_t)w;
    size_t left = (size_t)w;
    while (n && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      n--;
    }
    if (n) {
      iov->iov_base = (uint8_t *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

static int write_all(const void *data, size_t len) {
  struct iovec iov = {(void *)data, len};
  return write_allv(&iov, 1);
}

static void note_error(int err) {
  int expected = 0;
  atomic_compare_exchange_strong(&ctrace__write_err, &expected, err);
  if (err == -EPIPE) {
    /* Consume the SIGPIPE this thread got (it is blocked here). */
    sigset_t set;
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigtimedwait(&set, NULL, &zero);
  }
}

static void write_batch(struct ctrace__buf *b) {
  if (atomic_load(&ctrace__write_err))
    return; /* the trace is already broken; the error is reported at stop */
  /* Header, events and the checksum trailer leave in one writev(). The
   * CRC-32C covers the header (length included) and the events. */
  uint8_t *hdr = b->header_room;
  ctrace__put_le32(hdr, CTRACE_BATCH_MAGIC);
  ctrace__put_le32(hdr + 4, (uint32_t)(b->len + CTRACE_BATCH_TRAILER_SIZE));
  ctrace__put_le32(hdr + 8, b->tid);
  ctrace__put_le32(hdr + 12, b->flags);
  ctrace__put_le64(hdr + 16, b->seq);
  ctrace__put_le64(hdr + 24, b->base);
  uint8_t trailer[CTRACE_BATCH_TRAILER_SIZE] = {CTRACE_EV_CHECKSUM, 0, 4};
  ctrace__put_le32(trailer + 3, ctrace__crc32c(0, hdr, CTRACE_BATCH_HEADER_SIZE + b->len));
  struct iovec iov[2] = {{hdr, CTRACE_BATCH_HEADER_SIZE + b->len}, {trailer, sizeof trailer}};
  int err = write_allv(iov, 2);
  if (err)
    note_error(err);
}

/* Ticks per second: CLOCK_MONOTONIC against the TSC over 2 ms (each pair
 * read within ~20 ns: 2e-5 off at worst), so that a trace cut off before
 * its second clock sync still converts. On the writer thread: the program
 * does not wait for it. */
static uint64_t tick_hz(void) {
  if (!ctrace__use_tsc)
    return 1000000000u;
  uint64_t t0, m0, t1, m1, real;
  ctrace__clock_sync(&t0, &m0, &real);
  struct timespec d = {0, 2000000};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &d, &d) == EINTR)
    ;
  ctrace__clock_sync(&t1, &m1, &real);
  if (t1 <= t0 || m1 <= m0)
    return 0;
  return (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000u / (m1 - m0));
}

static int write_file_header(void) {
  uint8_t h[CTRACE_FILE_HEADER_SIZE] = {0};
  memcpy(h, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN);
  h[8] = CTRACE_FORMAT_MAJOR;
  h[10] = CTRACE_FORMAT_MINOR;
  ctrace__put_le32(h + 12, CTRACE_FILE_HEADER_SIZE);
  ctrace__put_le32(h + 16, ctrace__use_tsc ? CTRACE_FILE_TICKS_TSC : 0);
  ctrace__put_le32(h + 20, (uint32_t)getpid());
  ctrace__put_le64(h + CTRACE_FILE_TICK_HZ_OFF, tick_hz());
  return write_all(h, sizeof h);
}

/* The END record, last in the file: the trace is complete. */
static void meta_end(void) {
  pthread_mutex_lock(&ctrace__meta_lock);
  uint8_t *p = ctrace__meta_reserve(3);
  if (p) {
    *p++ = CTRACE_EV_END;
    *p++ = 0; /* delta */
    *p++ = 0; /* no bytes: reserved */
    ctrace__meta_commit(p);
  }
  pthread_mutex_unlock(&ctrace__meta_lock);
}

/* Writes the metadata gathered so far, then the given data batches. */
static void write_round(struct ctrace__buf *list) {
  struct ctrace__buf *meta = ctrace__meta_take();
  if (meta) {
    write_batch(meta);
    ctrace__buf_free(meta);
  }
  while (list) {
    struct ctrace__buf *next = list->next;
    write_batch(list);
    pthread_mutex_lock(&qlock);
    list->next = free_list;
    free_list = list;
    pthread_mutex_unlock(&qlock);
    list = next;
  }
}

static void *writer_main(void *arg) {
  (void)arg;
  ctrace__guard = 1; /* nothing this thread does is traced */
  int err = write_file_header();
  if (err)
    note_error(err);
  struct timespec last_sync;
  clock_gettime(CLOCK_MONOTONIC, &last_sync);
  /* A second sync 50 ms after the start calibrates the TSC early, so that
   * even a trace cut off by a crash in its first second converts exactly. */
  int calibrated = 0;
  pthread_mutex_lock(&qlock);
  for (;;) {
    if (!queue_head && !stopping) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      if (calibrated) {
        ts.tv_sec += 1;
      } else {
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000;
        }
      }
      writer_waiting = 1;
      pthread_cond_timedwait(&qcond, &qlock, &ts);
      writer_waiting = 0;
    }
    struct ctrace__buf *list = queue_head;
    queue_head = queue_tail = NULL;
    int done = stopping && !list;
    pthread_mutex_unlock(&qlock);

    /* A clock sync about every second keeps long traces exact even if the
     * TSC rate drifts from CLOCK_MONOTONIC's (NTP slews the latter). */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t since = (int64_t)(now.tv_sec - last_sync.tv_sec) * 1000000000 +
                    (now.tv_nsec - last_sync.tv_nsec);
    if (since >= (calibrated ? 1000000000 : 50000000)) {
      calibrated = 1;
      pthread_mutex_lock(&ctrace__meta_lock);
      ctrace__meta_clock_sync();
      pthread_mutex_unlock(&ctrace__meta_lock);
      last_sync = now;
    }
    write_round(list);
    if (done)
      break;
    pthread_mutex_lock(&qlock);
  }
  return NULL;
}

void ctrace__writer_push(struct ctrace__buf *b) {
  b->next = NULL;
  pthread_mutex_lock(&qlock);
  if (queue_tail)
    queue_tail->next = b;
  else
    queue_head = b;
  queue_tail = b;
  if (writer_waiting)
    pthread_cond_signal(&qcond);
  pthread_mutex_unlock(&qlock);
}

/* Test hook: CTRACE_TEST_FAIL_ALLOC=N makes the Nth buffer allocation fail. */
static long fail_alloc_at = -1;
static long alloc_count;

/* A buffer of cap bytes with room for a batch header before its data. */
struct ctrace__buf *ctrace__buf_new(size_t cap) {
  struct ctrace__buf *b = malloc(sizeof *b + cap);
  if (b)
    b->cap = cap;
  return b;
}

static struct ctrace__buf *buf_alloc(size_t cap) {
  if (fail_alloc_at >= 0 && ++alloc_count >= fail_alloc_at)
    return NULL;
  return ctrace__buf_new(cap);
}

struct ctrace__buf *ctrace__buf_get(void) {
  pthread_mutex_lock(&qlock);
  struct ctrace__buf *b = free_list;
  if (b) {
    free_list = b->next;
  } else if ((nbufs + 1) * ctrace__config.buffer_bytes <= ctrace__config.memory_bytes) {
    b = buf_alloc(ctrace__config.buffer_bytes);
    if (b)
      nbufs++;
  }
  pthread_mutex_unlock(&qlock);
  if (b)
    b->next = NULL;
  return b;
}

static long env_test_long(const char *name) {
  const char *s = getenv(name);
  return s && *s ? strtol(s, NULL, 10) : -1;
}

/* The trace's fd while a trace runs, else -1. The preload library keeps
 * the program from closing it. */
int ctrace__writer_fd(void) {
  return __atomic_load_n(&out_fd, __ATOMIC_RELAXED);
}

/* Called with ctrace__lock held by ctrace__start(). */
int ctrace__writer_start(int fd, int owned) {
  out_fd = fd;
  out_owned = owned;
  file_off = 0;
  stopping = 0;
  atomic_store(&ctrace__write_err, 0);
  fail_write_at = env_test_long("CTRACE_TEST_FAIL_WRITE");
  fail_alloc_at = env_test_long("CTRACE_TEST_FAIL_ALLOC");
  write_delay_ms = env_test_long("CTRACE_TEST_WRITER_DELAY_MS");
  write_count = alloc_count = 0;

  /* The writer runs with every signal blocked: a signal meant for the
   * program must go to one of its own threads, and SIGPIPE from a closed
   * output must not kill the program. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&writer, NULL, writer_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return err ? CTRACE_ETHREAD : 0;
}

int ctrace__writer_stop(void) {
  pthread_mutex_lock(&qlock);
  stopping = 1;
  pthread_cond_signal(&qcond);
  pthread_mutex_unlock(&qlock);
  pthread_join(writer, NULL);
  /* The last metadata (final clock sync) after every batch, and in it,
   * last, the END record. */
  meta_end();
  write_round(NULL);
  if (out_owned) {
    if (close(out_fd) < 0 && errno != EINTR)
      note_error(-errno);
  }
  out_fd = -1;
  /* Buffers are kept for the next trace, up to the budget; free them now
   * so a stopped tracer holds no memory. */
  pthread_mutex_lock(&qlock);
  while (free_list) {
    struct ctrace__buf *b = free_list;
    free_list = b->next;
    ctrace__buf_free(b);
  }
  nbufs = 0; /* all are back: the writer has written every one */
  pthread_mutex_unlock(&qlock);
  return atomic_load(&ctrace__write_err);
}

/* Buffers handed to the writer but not yet returned (stop waits for all). */
void ctrace__writer_fork_child(void) {
  pthread_mutex_init(&qlock, NULL);
  pthread_cond_init(&qcond, NULL);
  queue_head = queue_tail = NULL;
  free_list = NULL;
  nbufs = 0;
  stopping = 0;
  writer_waiting = 0;
  if (out_owned && out_fd >= 0)
    close(out_fd);
  out_fd = -1;
  out_owned = 0;
}

void ctrace__writer_lock(void) { pthread_mutex_lock(&qlock); }
void ctrace__writer_unlock(void) { pthread_mutex_unlock(&qlock); }
