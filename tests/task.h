/*
 * task.h - the test harness: TEST() definitions, asserts that print both
 * sides and survive NDEBUG, RETURN_SKIP, and helpers shared by tests
 * (temporary files, running a program, reading a trace).
 *
 * Each test is declared once in a tests/list-*.h file and run by the one
 * runner (runner.c), each in its own forked process with a time limit, with
 * TAP output.
 */
#ifndef CTRACE_TEST_TASK_H
#define CTRACE_TEST_TASK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_IMPL(name) int test_##name(void)
#define HELPER_IMPL(name) int helper_##name(int argc, char **argv)
/* The runner's own path, to start helper processes: argv = {test_self_path,
 * "--helper", NAME, ...}. */
extern const char *test_self_path;
#define TEST_OK 0
#define TEST_SKIP 77

/* Where the build put things (set by the runner from its environment). */
extern const char *test_build_dir;  /* CTRACE_BUILD_DIR: the meson build dir */
extern const char *test_source_dir; /* CTRACE_SOURCE_DIR */
extern char test_skip_reason[256];

#define TEST_FAIL_(fmt, ...)                                                   \
  do {                                                                         \
    fprintf(stderr, "# %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);   \
    exit(1);                                                                   \
  } while (0)

#define ASSERT(expr)                                                           \
  do {                                                                         \
    if (!(expr))                                                               \
      TEST_FAIL_("assertion failed: %s", #expr);                               \
  } while (0)

#define ASSERT_INT_BASE(a, op, b, type, fmt)                                   \
  do {                                                                         \
    type eval_a_ = (type)(a);                                                  \
    type eval_b_ = (type)(b);                                                  \
    if (!(eval_a_ op eval_b_))                                                 \
      TEST_FAIL_("assertion failed: %s %s %s (%" fmt " %s %" fmt ")", #a, #op, #b, eval_a_, #op, \
                 eval_b_);                                                     \
  } while (0)

#define ASSERT_EQ(a, b) ASSERT_INT_BASE(a, ==, b, int64_t, PRId64)
#define ASSERT_NE(a, b) ASSERT_INT_BASE(a, !=, b, int64_t, PRId64)
#define ASSERT_LT(a, b) ASSERT_INT_BASE(a, <, b, int64_t, PRId64)
#define ASSERT_LE(a, b) ASSERT_INT_BASE(a, <=, b, int64_t, PRId64)
#define ASSERT_GT(a, b) ASSERT_INT_BASE(a, >, b, int64_t, PRId64)
#define ASSERT_GE(a, b) ASSERT_INT_BASE(a, >=, b, int64_t, PRId64)
#define ASSERT_UINT_EQ(a, b) ASSERT_INT_BASE(a, ==, b, uint64_t, PRIu64)

#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *sa_ = (a), *sb_ = (b);                                         \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                                 \
      TEST_FAIL_("assertion failed: %s == %s (\"%s\" vs \"%s\")", #a, #b,      \
                 sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                  \
  } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                       \
  do {                                                                         \
    const char *h_ = (hay), *n_ = (needle);                                    \
    if (!h_ || !strstr(h_, n_))                                                \
      TEST_FAIL_("assertion failed: %s contains \"%s\" (it is \"%.400s\")", #hay, n_, \
                 h_ ? h_ : "(null)");                                          \
  } while (0)

#define ASSERT_MEM_HEX_EQ(a, b, n)                                             \
  do {                                                                         \
    const unsigned char *ma_ = (const unsigned char *)(a), *mb_ = (const unsigned char *)(b); \
    for (size_t i_ = 0; i_ < (size_t)(n); i_++)                                \
      if (ma_[i_] != mb_[i_])                                                  \
        TEST_FAIL_("memory differs at byte %zu: %02x vs %02x", i_, ma_[i_], mb_[i_]); \
  } while (0)

#define RETURN_SKIP(why)                                                       \
  do {                                                                         \
    snprintf(test_skip_reason, sizeof test_skip_reason, "%s", (why));          \
    return TEST_SKIP;                                                          \
  } while (0)

/* ---- helpers (helpers.c) ---- */

/* A fresh temporary directory for this test (removed by the runner). */
const char *test_tmpdir(void);
/* test_tmpdir()/name, in a static buffer rotated among 8. */
const char *test_path(const char *name);
/* build dir + "/" + rel, in a static buffer rotated among 8. */
const char *test_build_path(const char *rel);
/* Runs argv (argv[0] a path) with extra environment entries ("K=V", NULL
 * terminated, may be NULL); captures stdout into *out (malloced, may be
 * NULL) and returns the exit status, or 128+signal. */
int test_run(char *const argv[], char *const env[], char **out, char **err);
/* Reads a whole file (malloced, NUL-terminated); *len may be NULL. */
char *test_read_file(const char *path, size_t *len);
/* Reads one line from fd (a byte at a time: nothing past the newline is
 * consumed) into line, NUL-terminated, without the newline; its length. */
size_t test_read_line(int fd, char *line, size_t size);
int test_write_file(const char *path, const void *data, size_t len);

/* Runs `ctrace run [opts...] -o path -- prog...` (opts and prog NULL
 * terminated; opts may be NULL) like test_run: its exit status, stdout and
 * stderr (each may be NULL). */
int test_ctrace_run(const char *path, const char *const *opts, const char *const *prog,
                    char **out, char **err);
/* Does prog (NULL terminated), run untraced, exit 0 and print traced_out?
 * Says what differs on stderr when not. */
int test_same_untraced(const char *const *prog, const char *traced_out);
/* The time, in ns, the hypervisor gave this machine's CPUs to others
 * (steal, summed over CPUs, from /proc/stat; 0 on bare metal or when
 * unreadable). Read before and after a run: the on-CPU time a trace shows
 * includes what was stolen while a thread was switched in, the kernel's
 * per-thread CPU time (schedstat, CLOCK_THREAD_CPUTIME_ID) does not. */
int64_t test_steal_ns(void);
/* At most how much was stolen since test_steal_ns() read `before`: 0 when
 * nothing was counted, else the count plus one clock tick per CPU (the
 * count's resolution). */
int64_t test_stolen_since(int64_t before);
/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int test_free_port(void);
/* A socket connected to 127.0.0.1:port, retried for up to 10 s (a server
 * starting on a loaded machine), or -1. */
int test_connect_retry(int port);

/* An HTTP answer: the whole reply in raw (malloced), split in place into
 * head (status line and headers) and body (len bytes). */
struct test_http_resp {
  int status;
  char *head;
  char *body;
  size_t len;
  char *raw;
};
/* Sends `METHOD TARGET HTTP/1.1` to 127.0.0.1:port exactly as given (no
 * URL cleaning: traversal attempts reach the server as typed), the Host
 * header `host` (none when NULL) and `extra` header lines, and reads the
 * whole answer (Connection: close). Fails the test when no answer comes in
 * 60 s or it is not HTTP. */
struct test_http_resp test_http(unsigned port, const char *method, const char *target,
                                const char *host, const char *extra);

#endif
