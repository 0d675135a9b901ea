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
#include <strings.h>
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

/* A version 1.0 file (32-byte header, batches without checksum trailers):
 * simplest to forge, and every reader must keep reading it. */
static void tw_header(struct tw *w) {
  uint8_t *p = tw_room(w, 32);
  memset(p, 0, 32);
  memcpy(p, CTRACE_FILE_MAGIC, CTRACE_FILE_MAGIC_LEN);
  p[8] = CTRACE_FORMAT_MAJOR;
  p[10] = 0;
  ctrace__put_le32(p + 12, 32);
  ctrace__put_le32(p + 20, 4242);
  w->len += 32;
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
  if (argc < 3) /* argv[0] is the helper's name */
    return 2;
  uint32_t nmaps = (uint32_t)strtoul(argv[2], NULL, 10);
  uint32_t nstacks = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 20000;
  uint32_t nevents = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 100000;
  write_mapped_trace(argv[1], NULL, nmaps, nstacks, nevents);
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
    int o = out ? open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600) : open("/dev/null", O_WRONLY);
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

/* ---- HTTP ---- */

static int connect_to(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

/* ---- `ctrace view` as a process ---- */

struct viewer {
  pid_t pid;
  unsigned port;
  char url[256];
  char *err_path;
};

/* Starts ctrace view --no-browser ARGS... (NULL-terminated) and waits for
 * its "serving" line (at most `limit` seconds: SIGALRM ends it). */
static void view_start(struct viewer *v, unsigned limit, ...) {
  char *argv[16];
  int n = 0;
  char exe[4096];
  snprintf(exe, sizeof exe, "%s", test_build_path("ctrace"));
  argv[n++] = exe;
  argv[n++] = "view";
  argv[n++] = "--no-browser";
  va_list ap;
  va_start(ap, limit);
  while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
    n++;
  va_end(ap);
  argv[n] = NULL;
  v->err_path = strdup(test_path("view.err"));
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  v->pid = fork();
  ASSERT(v->pid >= 0);
  if (v->pid == 0) {
    int e = open(v->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out[1], 1);
    if (e >= 0)
      dup2(e, 2);
    close(out[0]);
    alarm(limit);
    execv(argv[0], argv);
    _exit(127);
  }
  close(out[1]);
  char line[512];
  test_read_line(out[0], line, sizeof line);
  close(out[0]);
  if (!strstr(line, "ctrace view: serving ")) {
    char *err = test_read_file(v->err_path, NULL);
    TEST_FAIL_("ctrace view did not start: '%s' (stderr: %.300s)", line, err ? err : "");
  }
  const char *u = strstr(line, "http://");
  ASSERT(u != NULL);
  snprintf(v->url, sizeof v->url, "%.*s", (int)strcspn(u, " \n"), u);
  const char *colon = strrchr(v->url, ':');
  ASSERT(colon != NULL);
  v->port = (unsigned)strtoul(colon + 1, NULL, 10);
  ASSERT_GT(v->port, 0);
}

/* Stops it with SIGINT; returns its stderr (malloced). */
static char *view_stop(struct viewer *v) {
  ASSERT_EQ(kill(v->pid, SIGINT), 0);
  int st;
  ASSERT_EQ(waitpid(v->pid, &st, 0), v->pid);
  char *err = test_read_file(v->err_path, NULL);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    TEST_FAIL_("ctrace view ended with status 0x%x (stderr: %.300s)", st, err ? err : "");
  free(v->err_path);
  return err;
}

static char *host_port(const char *host, unsigned port) {
  static char buf[4][300];
  static int k;
  char *b = buf[k++ & 3];
  snprintf(b, sizeof buf[0], "%s:%u", host, port);
  return b;
}

/* ---- the symbolizer on hostile mappings ---- */

/* Every command that symbolizes, on `file`: each must end, with status 0. */
static void symbolizing_commands_finish(const char *file, unsigned limit, char *const env[]) {
  char *f = strdup(file);
  char *out = strdup(test_path("export.out"));
  char *const cmds[][8] = {
      {"dump", f, NULL},
      {"profile", f, NULL},
      {"profile", "--kind", "sync", "--top", "3", f, NULL},
      {"export", "--format", "pprof", "-o", out, f, NULL},
      {"export", "--format", "chrome", "-o", out, f, NULL},
      {"stats", f, NULL},
  };
  for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
    char *err = NULL;
    int st = ctrace_limited(limit, env, NULL, &err, cmds[c][0], cmds[c][1], cmds[c][2],
                            cmds[c][3], cmds[c][4], cmds[c][5], cmds[c][6], NULL);
    if (st != 0)
      TEST_FAIL_("ctrace %s on %s: exit %d (%.300s)", cmds[c][0], f, st, err ? err : "");
    free(err);
  }
  struct viewer v;
  view_start(&v, limit, f, NULL);
  const char *targets[] = {"/api/summary", "/api/profile?kind=sync", "/api/pprof?kind=sync",
                           "/api/event?kind=span&tid=7&ns=1500", NULL};
  for (int t = 0; targets[t]; t++) {
    struct test_http_resp r = test_http(v.port, "GET", targets[t], host_port("127.0.0.1", v.port), NULL);
    if (r.status != 200 && r.status != 400)
      TEST_FAIL_("GET %s: %d (%.200s)", targets[t], r.status, r.body);
    free(r.raw);
  }
  free(view_stop(&v));
  free(f);
  free(out);
}

TEST_IMPL(security_symbolizer_skips_fifos_and_devices) {
  char *fifo = strdup(test_path("lib.fifo"));
  ASSERT_EQ(mkfifo(fifo, 0600), 0);
  const char *objects[] = {"/dev/zero", fifo, "/", "/proc/self/status", "/dev/stdin", NULL};
  const char *file = test_path("hostile.ctrace");
  write_mapped_trace(file, objects, 5, 10, 50);
  char *dump = NULL, *err = NULL;
  ASSERT_EQ(ctrace_limited(20, NULL, &dump, &err, "dump", file, NULL), 0);
  /* the frames still name their objects, without symbols */
  ASSERT_STR_CONTAINS(dump, "?? (/dev/zero+0x");
  ASSERT_STR_CONTAINS(dump, "lib.fifo+0x");
  free(dump);
  free(err);
  symbolizing_commands_finish(file, 20, NULL);
  free(fifo);
  return 0;
}

/* The PC-to-mapping lookups and the objects opened must not grow with
 * mappings x PCs: 100 000 mappings (6 250 paths, each at 16 biases) and
 * 360 000 distinct PCs took minutes before (95 s for dump on a similar
 * file); now seconds. */
TEST_IMPL(security_many_mappings_take_linear_time) {
  const char *file = test_path("many.ctrace");
  write_mapped_trace(file, NULL, 100000, 60000, 60000);
  symbolizing_commands_finish(file, 120, NULL);
  return 0;
}

/* dl_iterate_phdr callback: the executable segment of a shared library
 * of this process without debug information on this machine (no
 * /usr/lib/debug/.build-id file), which libdw would ask debuginfod for. */
struct lib_seg {
  char path[4096];
  uint64_t start, end, bias;
  uint8_t build_id[64];
  uint32_t build_id_len;
};
static int find_lib_without_debuginfo(struct dl_phdr_info *info, size_t size, void *arg) {
  struct lib_seg *s = arg;
  (void)size;
  if (!info->dlpi_name || info->dlpi_name[0] != '/' || strstr(info->dlpi_name, "/ld-linux"))
    return 0;
  const ElfW(Phdr) *text = NULL;
  s->build_id_len = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && !text)
      text = ph;
    if (ph->p_type != PT_NOTE)
      continue;
    const uint8_t *n = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = n + ph->p_memsz;
    while (n + 12 <= end) {
      uint32_t namesz, descsz, type;
      memcpy(&namesz, n, 4);
      memcpy(&descsz, n + 4, 4);
      memcpy(&type, n + 8, 4);
      const uint8_t *desc = n + 12 + ((namesz + 3) & ~3u);
      if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(n + 12, "GNU", 4) == 0 &&
          descsz <= sizeof s->build_id && desc + descsz <= end) {
        memcpy(s->build_id, desc, descsz);
        s->build_id_len = descsz;
      }
      n = desc + ((descsz + 3) & ~3u);
    }
  }
  if (!text || s->build_id_len < 2)
    return 0;
  char dbg[256];
  int k = snprintf(dbg, sizeof dbg, "/usr/lib/debug/.build-id/%02x/", s->build_id[0]);
  for (uint32_t i = 1; i < s->build_id_len; i++)
    k += snprintf(dbg + k, sizeof dbg - (size_t)k, "%02x", s->build_id[i]);
  snprintf(dbg + k, sizeof dbg - (size_t)k, ".debug");
  if (access(dbg, F_OK) == 0)
    return 0;
  snprintf(s->path, sizeof s->path, "%s", info->dlpi_name);
  s->start = info->dlpi_addr + text->p_vaddr;
  s->end = s->start + text->p_memsz;
  s->bias = info->dlpi_addr;
  return 1;
}

TEST_IMPL(security_symbolizer_never_asks_debuginfod) {
  struct lib_seg lib = {0};
  if (!dl_iterate_phdr(find_lib_without_debuginfo, &lib))
    RETURN_SKIP("every library of this process has its debug information here");
  /* a server that counts the connections it gets */
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  ASSERT_EQ(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
  ASSERT_EQ(listen(ls, 64), 0);
  ASSERT_EQ(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
  char urls[128];
  snprintf(urls, sizeof urls, "DEBUGINFOD_URLS=http://127.0.0.1:%u", ntohs(a.sin_port));
  char *env[] = {urls, "DEBUGINFOD_TIMEOUT=5", NULL};

  /* one mapping, the library where it is in this process; PCs in its text */
  struct tw w = {0};
  tw_header(&w);
  tw_begin(&w, 0, 0, 0);
  uint64_t sync[3] = {1000, 1000, 1700000000000000000ull};
  tw_ev(&w, CTRACE_EV_CLOCK_SYNC, 0, 3, sync, NULL, 0);
  tw_string(&w, 1, lib.path);
  uint64_t mf[4] = {lib.start, lib.end, lib.bias, 1};
  tw_ev(&w, CTRACE_EV_MAPPING, 0, 4, mf, lib.build_id, lib.build_id_len);
  uint64_t pcs[3];
  for (int i = 0; i < 3; i++)
    pcs[i] = lib.start + (lib.end - lib.start) / 4 * (uint64_t)(i + 1);
  tw_stack(&w, 1, pcs, 3);
  tw_end(&w);
  tw_begin(&w, 7, 0, 2000);
  uint64_t link = 0, wait[4] = {CTRACE_WAIT_MUTEX, 0x5000, 500, 1};
  tw_ev(&w, CTRACE_EV_THREAD_START, 0, 1, &link, NULL, 0);
  tw_ev(&w, CTRACE_EV_WAIT, 1000, 4, wait, NULL, 0);
  tw_end(&w);
  const char *file = test_path("lib.ctrace");
  tw_save(&w, file);

  symbolizing_commands_finish(file, 30, env);
  int c = accept(ls, NULL, NULL);
  if (c >= 0)
    TEST_FAIL_("%s", "a debuginfod request reached the server");
  ASSERT(errno == EAGAIN || errno == EWOULDBLOCK);
  close(ls);
  return 0;
}

/* ---- the viewer and other origins ---- */

struct served {
  ctrace_reader *r;
  struct ctrace_view v;
  ctrace_server *s;
  unsigned port;
};

/* A small trace served in this process on addr, with allow_hosts. */
static void serve(struct served *sv, const char *addr, const char *const *allow) {
  const char *file = test_path("small.ctrace");
  write_mapped_trace(file, NULL, 4, 4, 20);
  char err[256];
  ASSERT_EQ(ctrace_reader_open(file, &sv->r, err, sizeof err), 0);
  ASSERT_EQ(ctrace_view_init(&sv->v, sv->r, file, NULL, NULL), 0);
  struct ctrace_serve_opts o = {addr, allow, 0};
  if (ctrace_serve_start_opts(&o, &sv->v, &sv->s, err, sizeof err) < 0)
    TEST_FAIL_("serving on %s: %s", addr, err);
  sv->port = ctrace_serve_port(sv->s);
  ASSERT_GT(sv->port, 0);
}

static void unserve(struct served *sv) {
  ctrace_serve_stop(sv->s);
  ctrace_view_fini(&sv->v);
  ctrace_reader_close(sv->r);
}

static void no_cors(const struct test_http_resp *r, const char *what) {
  const char *h = r->head;
  for (const char *p = h; (p = strchr(p, '\n')) != NULL; p++)
    if (strncasecmp(p + 1, "Access-Control-", 15) == 0)
      TEST_FAIL_("%s: a CORS header in the answer: %s", what, h);
  ASSERT_STR_CONTAINS(h, "Cross-Origin-Resource-Policy: same-origin");
}

/* GET target with Host host: status want, no CORS header. */
static void expect_host(unsigned port, const char *target, const char *host, int want) {
  struct test_http_resp r = test_http(port, "GET", target, host, "Origin: http://attacker.example\r\n");
  if (r.status != want)
    TEST_FAIL_("GET %s with Host '%s': %d, want %d (%.200s)", target, host ? host : "(none)",
               r.status, want, r.body);
  no_cors(&r, target);
  if (want == 403)
    ASSERT_STR_CONTAINS(r.body, "{\"error\":\"");
  free(r.raw);
}

TEST_IMPL(security_view_refuses_foreign_hosts) {
  struct served sv;
  serve(&sv, "127.0.0.1:0", NULL);
  unsigned p = sv.port;
  const char *paths[] = {"/", "/index.html", "/api/summary", "/api/timeline?width=10",
                         "/api/pprof?kind=sync", "/nosuch", "/api/nosuch", NULL};
  for (int i = 0; paths[i]; i++) {
    /* DNS rebinding: another name for 127.0.0.1 */
    expect_host(p, paths[i], host_port("attacker.example", p), 403);
    expect_host(p, paths[i], "attacker.example", 403);
    expect_host(p, paths[i], host_port("localhost.attacker.example", p), 403);
    expect_host(p, paths[i], host_port("127.0.0.1.nip.io", p), 403);
    int ok = strstr(paths[i], "nosuch") ? 404 : 200;
    expect_host(p, paths[i], host_port("127.0.0.1", p), ok);
    expect_host(p, paths[i], host_port("localhost", p), ok);
    expect_host(p, paths[i], host_port("LocalHost", p), ok);
    expect_host(p, paths[i], host_port("[::1]", p), ok);
    expect_host(p, paths[i], "127.0.0.1", ok);
    expect_host(p, paths[i], "localhost", ok);
  }
  /* wrong port, bad forms, no Host, two Hosts */
  expect_host(p, "/api/summary", host_port("127.0.0.1", p == 1 ? 2 : 1), 403);
  expect_host(p, "/api/summary", host_port("localhost", p + 100000), 403);
  char bad[64];
  snprintf(bad, sizeof bad, "127.0.0.1:%u:%u", p, p);
  expect_host(p, "/api/summary", bad, 403);
  expect_host(p, "/api/summary", "127.0.0.1:", 403);
  expect_host(p, "/api/summary", "::1", 403);
  expect_host(p, "/api/summary", "[localhost]", 403);
  expect_host(p, "/api/summary", "10.1.2.3", 403);
  expect_host(p, "/api/summary", "", 403);
  struct test_http_resp r = test_http(p, "GET", "/api/summary", host_port("127.0.0.1", p),
                       "Host: attacker.example\r\n");
  ASSERT_EQ(r.status, 403);
  free(r.raw);
  int fd = connect_to(p); /* HTTP/1.0 may omit Host: refused all the same */
  const char *req10 = "GET /api/summary HTTP/1.0\r\n\r\n";
  ASSERT_EQ(write(fd, req10, strlen(req10)), (ssize_t)strlen(req10));
  char buf[256] = "";
  ASSERT_GT(read(fd, buf, sizeof buf - 1), 12);
  ASSERT_STR_CONTAINS(buf, " 403 ");
  close(fd);
  unserve(&sv);
  return 0;
}

TEST_IMPL(security_view_only_get_and_head) {
  struct served sv;
  serve(&sv, "127.0.0.1:0", NULL);
  char *host = strdup(host_port("127.0.0.1", sv.port));
  const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
                           "PROPFIND", NULL};
  for (int i = 0; methods[i]; i++) {
    const char *target = strcmp(methods[i], "CONNECT") == 0 ? "127.0.0.1:1" : "/api/summary";
    /* a CORS preflight, to be sure it is not answered as one */
    struct test_http_resp r = test_http(sv.port, methods[i], target, host,
                         "Origin: http://attacker.example\r\n"
                         "Access-Control-Request-Method: POST\r\nContent-Length: 0\r\n");
    if (r.status != 405)
      TEST_FAIL_("%s: %d, want 405", methods[i], r.status);
    ASSERT_STR_CONTAINS(r.head, "Allow: GET, HEAD");
    no_cors(&r, methods[i]);
    free(r.raw);
  }
  struct test_http_resp r = test_http(sv.port, "POST", "/api/summary", host,
                       "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_EQ(r.status, 405);
  free(r.raw);
  r = test_http(sv.port, "HEAD", "/api/summary", host, NULL);
  ASSERT_EQ(r.status, 200);
  no_cors(&r, "HEAD");
  free(r.raw);
  /* a foreign Host is refused before the method is looked at */
  r = test_http(sv.port, "POST", "/api/summary", "attacker.example", "Content-Length: 0\r\n");
  ASSERT_EQ(r.status, 403);
  free(r.raw);
  free(host);
  unserve(&sv);
  return 0;
}

TEST_IMPL(security_view_allow_host) {
  const char *allow[] = {"viewer.lan", "Build-Box", NULL};
  struct served sv;
  serve(&sv, "127.0.0.1:0", allow);
  unsigned p = sv.port;
  expect_host(p, "/api/summary", host_port("viewer.lan", p), 200);
  expect_host(p, "/api/summary", host_port("build-box", p), 200);
  expect_host(p, "/api/summary", "viewer.lan", 200);
  expect_host(p, "/api/summary", host_port("viewer.lan", p + 1), 403);
  expect_host(p, "/api/summary", host_port("sub.viewer.lan", p), 403);
  expect_host(p, "/api/summary", host_port("attacker.example", p), 403);
  unserve(&sv);
  const char *any[] = {"*", NULL};
  serve(&sv, "127.0.0.1:0", any);
  expect_host(sv.port, "/api/summary", "proxy.example", 200);
  unserve(&sv);
  /* --addr NAME:PORT accepts NAME (when this machine's name resolves to
   * one of its addresses) */
  char hn[256] = "", addr[300];
  if (gethostname(hn, sizeof hn) == 0 && hn[0] && strchr(hn, ':') == NULL) {
    snprintf(addr, sizeof addr, "%s:0", hn);
    const char *file = test_path("small.ctrace");
    char err0[256];
    ASSERT_EQ(ctrace_reader_open(file, &sv.r, err0, sizeof err0), 0);
    ASSERT_EQ(ctrace_view_init(&sv.v, sv.r, file, NULL, NULL), 0);
    struct ctrace_serve_opts o0 = {addr, NULL, 0};
    if (ctrace_serve_start_opts(&o0, &sv.v, &sv.s, err0, sizeof err0) == 0) {
      sv.port = ctrace_serve_port(sv.s);
      /* this client speaks to 127.0.0.1: only when the name is loopback's */
      if (ctrace_serve_is_loopback(sv.s)) {
        expect_host(sv.port, "/api/summary", host_port(hn, sv.port), 200);
        expect_host(sv.port, "/api/summary", host_port("attacker.example", sv.port), 403);
      }
      ctrace_serve_stop(sv.s);
    }
    ctrace_view_fini(&sv.v);
    ctrace_reader_close(sv.r);
  }
  /* names only */
  const char *bad[] = {"evil.example:80", NULL};
  struct ctrace_serve_opts o = {"127.0.0.1:0", bad, 0};
  char err[256];
  ctrace_server *s = NULL;
  ASSERT_EQ(ctrace_serve_start_opts(&o, NULL, &s, err, sizeof err), -1);
  ASSERT_STR_CONTAINS(err, "--allow-host");
  return 0;
}

/* Listening on every interface: any IP address is a fine Host (no web page
 * can rebind one), names still are not; `ctrace view` warns, and the URL
 * it prints works. */
TEST_IMPL(security_view_every_interface_warns) {
  struct served sv;
  serve(&sv, "0.0.0.0:0", NULL);
  ASSERT(ctrace_serve_is_wildcard(sv.s));
  unsigned p = sv.port;
  expect_host(p, "/api/summary", host_port("127.0.0.1", p), 200);
  expect_host(p, "/api/summary", host_port("192.0.2.7", p), 200);
  expect_host(p, "/api/summary", host_port("[2001:db8::7]", p), 200);
  expect_host(p, "/api/summary", host_port("localhost", p), 200);
  expect_host(p, "/api/summary", host_port("attacker.example", p), 403);
  expect_host(p, "/api/summary", host_port("192.0.2.7", p + 1), 403);
  unserve(&sv);

  const char *file = test_path("small.ctrace");
  write_mapped_trace(file, NULL, 4, 4, 20);
  char *f = strdup(file);
  struct viewer v;
  view_start(&v, 60, "--addr", "0.0.0.0:0", f, NULL);
  ASSERT_STR_CONTAINS(v.url, "http://127.0.0.1:");
  char host[64];
  snprintf(host, sizeof host, "127.0.0.1:%u", v.port);
  struct test_http_resp r = test_http(v.port, "GET", "/", host, NULL);
  ASSERT_EQ(r.status, 200);
  free(r.raw);
  char *err = view_stop(&v);
  ASSERT_STR_CONTAINS(err, "warning: listening on every interface");
  ASSERT_STR_CONTAINS(err, "anyone who can reach port");
  ASSERT_STR_CONTAINS(err, "can read the trace");
  free(err);

  /* loopback: no warning; --allow-host reaches the server */
  view_start(&v, 60, "--allow-host", "viewer.lan", f, NULL);
  r = test_http(v.port, "GET", "/api/summary", host_port("viewer.lan", v.port), NULL);
  ASSERT_EQ(r.status, 200);
  free(r.raw);
  err = view_stop(&v);
  ASSERT(strstr(err, "warning") == NULL);
  free(err);
  char *e2 = NULL;
  ASSERT_EQ(ctrace_limited(20, NULL, NULL, &e2, "view", "--no-browser", "--allow-host", NULL), 2);
  free(e2);
  free(f);
  return 0;
}

/* ---- idle connections ---- */

/* Many connections that send nothing, or half a request, must not lock the
 * user out: a request on a new connection is still answered (before, past
 * about 1 000, nothing was for two minutes). */
TEST_IMPL(security_view_survives_idle_connections) {
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  size_t n = 1500;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n + 100)
    n = rl.rlim_cur > 400 ? (size_t)rl.rlim_cur - 100 : 300;
  const char *file = test_path("small.ctrace");
  write_mapped_trace(file, NULL, 4, 4, 20);
  char *f = strdup(file);
  struct viewer v;
  view_start(&v, 240, f, NULL);
  char host[64];
  snprintf(host, sizeof host, "127.0.0.1:%u", v.port);
  int *fds = calloc(n, sizeof *fds);
  size_t opened = 0;
  for (; opened < n; opened++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      break; /* out of descriptors here: test with what we have */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)v.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (opened % 2) { /* half a request, never finished */
      char part[128];
      int k = snprintf(part, sizeof part, "GET /api/summary HTTP/1.1\r\nHost: %s\r\n", host);
      ASSERT_EQ(write(fd, part, (size_t)k), k);
    }
    fds[opened] = fd;
  }
  ASSERT_GE(opened, 300);
  for (int i = 0; i < 3; i++) {
    struct test_http_resp r = test_http(v.port, "GET", "/api/summary", host, NULL);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.body, "\"thread_list\":");
    free(r.raw);
  }
  for (size_t i = 0; i < opened; i++)
    close(fds[i]);
  free(fds);
  free(view_stop(&v));
  free(f);
  return 0;
}
