/*
 * test-security.c - hostile input and a hostile network: traces and trace
 * paths that name FIFOs, devices and a hundred thousand objects, a
 * debuginfod server that must not be asked, and the viewer's defences
 * against other origins (Host checks, no CORS, GET/HEAD only) and idle
 * connections. Traces are written here byte by byte (a small writer of the
 * format), so that they can say anything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/format/format.h"
#include "../src/serve/server.h"
#include "task.h"

/* ---- a trace writer ---- */

struct tw {
  uint8_t *buf;
  size_t len, cap;
  size_t batch; /* offset of the open batch's header */
};

static uint8_t *tw_room(struct tw *w, size_t n) {
  if (w->len + n > w->cap) {
    while (w->len + n > w->cap)
      w->cap = w->cap ? w->cap * 2 : 65536;
    w->buf = realloc(w->buf, w->cap);
    ASSERT(w->buf != NULL);
  }
  return w->buf + w->len;
}

static void tw_header(struct tw *w) {
  uint8_t *p = tw_room(w, CTRACE_FILE_HEADER_SIZE);
  memset(p, 0, CTRACE_FILE_HEADER_SIZE);
  memcpy(p, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN);
  p[8] = CTRACE_FORMAT_MAJOR;
  p[10] = CTRACE_FORMAT_MINOR;
  ctrace__put_le32(p + 12, CTRACE_FILE_HEADER_SIZE);
  ctrace__put_le32(p + 20, 4242);
  w->len += CTRACE_FILE_HEADER_SIZE;
}

static void tw_begin(struct tw *w, uint32_t tid, uint64_t seq, uint64_t base) {
  uint8_t *p = tw_room(w, CTRACE_BATCH_HEADER_SIZE);
  memset(p, 0, CTRACE_BATCH_HEADER_SIZE);
  ctrace__put_le32(p, CTRACE_BATCH_MAGIC);
  ctrace__put_le32(p + 8, tid);
  ctrace__put_le32(p + 12, tid ? 0 : CTRACE_BATCH_META);
  ctrace__put_le64(p + 16, seq);
  ctrace__put_le64(p + 24, base);
  w->batch = w->len;
  w->len += CTRACE_BATCH_HEADER_SIZE;
}

static void tw_end(struct tw *w) {
  size_t payload = w->len - w->batch - CTRACE_BATCH_HEADER_SIZE;
  ASSERT(payload <= CTRACE_BATCH_MAX_PAYLOAD);
  ctrace__put_le32(w->buf + w->batch + 4, (uint32_t)payload);
}

/* kind, delta, fields; then the blob when blob != NULL. */
static void tw_ev(struct tw *w, uint8_t kind, uint64_t delta, int nf, const uint64_t *f,
                  const void *blob, size_t blob_len) {
  uint8_t *p = tw_room(w, CTRACE_MAX_FIXED_EVENT + 10 + blob_len), *p0 = p;
  *p++ = kind;
  p = ctrace__put_uvarint(p, delta);
  for (int i = 0; i < nf; i++)
    p = ctrace__put_uvarint(p, f[i]);
  if (blob) {
    p = ctrace__put_uvarint(p, blob_len);
    memcpy(p, blob, blob_len);
    p += blob_len;
  }
  w->len += (size_t)(p - p0);
}

static void tw_string(struct tw *w, uint64_t id, const char *s) {
  tw_ev(w, CTRACE_EV_STRING, 0, 1, &id, s, strlen(s));
}

static void tw_stack(struct tw *w, uint64_t id, const uint64_t *pcs, int n) {
  uint8_t blob[CTRACE_MAX_STACK_DEPTH * 10], *p = blob;
  uint64_t prev = 0;
  for (int i = 0; i < n; i++) {
    p = ctrace__put_uvarint(p, ctrace__zigzag((int64_t)(pcs[i] - prev)));
    prev = pcs[i];
  }
  tw_ev(w, CTRACE_EV_STACK, 0, 1, &id, blob, (size_t)(p - blob));
}

static void tw_mapping(struct tw *w, uint64_t start, uint64_t end, uint64_t bias, uint64_t path) {
  uint64_t f[4] = {start, end, bias, path};
  tw_ev(w, CTRACE_EV_MAPPING, 0, 4, f, "", 0);
}

static void tw_save(struct tw *w, const char *path) {
  ASSERT_EQ(test_write_file(path, w->buf, w->len), 0);
  free(w->buf);
  memset(w, 0, sizeof *w);
}

/*
 * A trace whose process mapped `objects` (paths, NULL-terminated) at
 * 0x10000000 + i * 0x100000 (1 MiB each), then nmaps - that many more
 * made-up libraries, and one thread that waits nevents times on stacks
 * (depth 6) whose PCs fall in mappings all over the table.
 */
static void write_mapped_trace(const char *file, const char *const *objects, uint32_t nmaps,
                               uint32_t nstacks, uint32_t nevents) {
  struct tw w = {0};
  tw_header(&w);
  tw_begin(&w, 0, 0, 0);
  uint64_t sync[3] = {1000, 1000, 1700000000000000000ull};
  tw_ev(&w, CTRACE_EV_CLOCK_SYNC, 0, 3, sync, NULL, 0);
  uint64_t sid = 1;
  uint32_t nobj = 0;
  for (; objects && objects[nobj]; nobj++)
    tw_string(&w, sid++, objects[nobj]);
  uint64_t first_lib = sid;
  /* one string per 16 made-up libraries: their mappings share paths but
   * not biases, as many loads of one library would */
  uint32_t nlibs = nmaps > nobj ? nmaps - nobj : 0;
  for (uint32_t i = 0; i < (nlibs + 15) / 16; i++) {
    char name[64];
    snprintf(name, sizeof name, "/nonexistent/lib%u.so", i);
    tw_string(&w, sid++, name);
  }
  tw_string(&w, sid, "worker");
  uint64_t name_id = sid++;
  uint32_t total = nobj + nlibs;
  for (uint32_t i = 0; i < total; i++) {
    uint64_t start = 0x10000000ull + (uint64_t)i * 0x100000;
    uint64_t path = i < nobj ? 1 + i : first_lib + (i - nobj) / 16;
    tw_mapping(&w, start, start + 0x100000, start, path);
  }
  uint32_t rng = 12345;
  for (uint32_t s = 1; s <= nstacks; s++) {
    uint64_t pcs[6];
    for (int k = 0; k < 6; k++) {
      rng = rng * 1103515245u + 12345u;
      uint32_t m = total ? (rng >> 8) % total : 0;
      pcs[k] = 0x10000000ull + (uint64_t)m * 0x100000 + 0x100 + (rng & 0xfff);
    }
    tw_stack(&w, s, pcs, 6);
  }
  tw_end(&w);
  tw_begin(&w, 7, 0, 2000);
  uint64_t link = 0;
  tw_ev(&w, CTRACE_EV_THREAD_START, 0, 1, &link, NULL, 0);
  uint64_t nm[2] = {7, name_id};
  tw_ev(&w, CTRACE_EV_THREAD_NAME, 0, 2, nm, NULL, 0);
  for (uint32_t e = 0; e < nevents; e++) {
    uint64_t wait[4] = {CTRACE_WAIT_MUTEX, 0x5000, 500, nstacks ? 1 + e % nstacks : 0};
    tw_ev(&w, CTRACE_EV_WAIT, 1000, 4, wait, NULL, 0);
  }
  tw_ev(&w, CTRACE_EV_THREAD_EXIT, 10, 0, NULL, NULL, 0);
  tw_end(&w);
  tw_save(&w, file);
}

/* `ctrace-tests --helper security_gen_mappings FILE NMAPS [NSTACKS NEVENTS]`:
 * the many-mappings trace, for measuring by hand. */
HELPER_IMPL(security_gen_mappings) {
  if (argc < 2)
    return 2;
  uint32_t nmaps = (uint32_t)strtoul(argv[1], NULL, 10);
  uint32_t nstacks = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 20000;
  uint32_t nevents = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 100000;
  write_mapped_trace(argv[0], NULL, nmaps, nstacks, nevents);
  return 0;
}

/* ---- running commands with a deadline ---- */

/* Runs ctrace ARGS with stdout and stderr to files of the tmpdir (read back
 * into *out / *err when not NULL) and SIGALRM after `limit` seconds, so that
 * a hang fails the test with a message instead of the runner's timeout.
 * Returns the exit status, or 128+signal. */
static int ctrace_limited(unsigned limit, char *const env[], char **out, char **err, ...) {
  char *argv[32];
  int n = 0;
  char exe[4096]; /* test_*_path() buffers rotate: copy */
  snprintf(exe, sizeof exe, "%s", test_build_path("ctrace"));
  argv[n++] = exe;
  va_list ap;
  va_start(ap, err);
  while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
    n++;
  va_end(ap);
  argv[n] = NULL;
  char outp[4096], errp[4096];
  snprintf(outp, sizeof outp, "%s", test_path("limited.out"));
  snprintf(errp, sizeof errp, "%s", test_path("limited.err"));
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0)
      _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    for (int i = 0; env && env[i]; i++)
      putenv(env[i]);
    alarm(limit); /* survives exec */
    execv(argv[0], argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    ASSERT_EQ(errno, EINTR);
  char *e = test_read_file(errp, NULL);
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
    TEST_FAIL_("ctrace %s %s did not finish in %u s (stderr: %.300s)", argv[1],
               argv[n - 1], limit, e ? e : "");
  if (out)
    *out = test_read_file(outp, NULL);
  if (err)
    *err = e;
  else
    free(e);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- trace files that are not regular files ---- */

TEST_IMPL(security_cli_refuses_fifo_and_device_traces) {
  char *fifo = strdup(test_path("fifo.ctrace"));
  ASSERT_EQ(mkfifo(fifo, 0600), 0);
  const char *targets[] = {fifo, "/dev/zero", "/", NULL};
  char *out = strdup(test_path("out.bin"));
  for (int t = 0; targets[t]; t++) {
    char *f = (char *)targets[t];
    char *err = NULL;
    char *const cmds[][8] = {
        {"dump", f, NULL},
        {"stats", f, NULL},
        {"stats", "--json", f, NULL},
        {"profile", f, NULL},
        {"export", "--format", "pprof", "-o", (char *)out, f, NULL},
        {"export", "--format", "chrome", "-o", (char *)out, f, NULL},
        {"view", "--no-browser", f, NULL},
    };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
      int st = ctrace_limited(20, NULL, NULL, &err, cmds[c][0], cmds[c][1], cmds[c][2],
                              cmds[c][3], cmds[c][4], cmds[c][5], cmds[c][6], NULL);
      if (st != 1)
        TEST_FAIL_("ctrace %s %s: exit %d, want 1 (%s)", cmds[c][0], f, st, err ? err : "");
      ASSERT_STR_CONTAINS(err, "not a regular file");
      free(err);
    }
  }
  free(fifo);
  free(out);
  return 0;
}
