/*
 * runner.c - runs the tests of tests/list-*.h, each in a forked child with
 * a time limit, and prints TAP (https://testanything.org) for meson.
 *   runner            run all
 *   runner PATTERN... run the tests matching a shell pattern ('record_*');
 *                     '!PATTERN' leaves tests out
 *   runner --list     print the names
 */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"

#define TEST_ENTRY(name) TEST_IMPL(name);
#define TEST_ENTRY_TIMEOUT(name, secs) TEST_IMPL(name);
#define TEST_HELPER(name) HELPER_IMPL(name);
#include "list.h"
#undef TEST_ENTRY
#undef TEST_ENTRY_TIMEOUT
#undef TEST_HELPER

struct test {
  const char *name;
  int (*fn)(void);
  int timeout;
};

static const struct test tests[] = {
#define TEST_ENTRY(name) {#name, test_##name, 60},
#define TEST_ENTRY_TIMEOUT(name, secs) {#name, test_##name, secs},
#define TEST_HELPER(name)
#include "list.h"
#undef TEST_ENTRY
#undef TEST_ENTRY_TIMEOUT
#undef TEST_HELPER
};
#define NTESTS (sizeof tests / sizeof tests[0])

/* Helper processes: `ctrace-tests --helper NAME [ARGS]`, for tests that
 * need a program of their own (environment, crashes, exit paths). */
struct helper {
  const char *name;
  int (*fn)(int argc, char **argv);
};
static const struct helper helpers[] = {
#define TEST_ENTRY(name)
#define TEST_ENTRY_TIMEOUT(name, secs)
#define TEST_HELPER(name) {#name, helper_##name},
#include "list.h"
#undef TEST_ENTRY
#undef TEST_ENTRY_TIMEOUT
#undef TEST_HELPER
    {NULL, NULL},
};

const char *test_self_path;

const char *test_build_dir = TEST_BUILD_DIR;
const char *test_source_dir = TEST_SOURCE_DIR;
char test_skip_reason[256];
char *test_tmp_root;

/* Patterns select tests; a pattern starting with '!' excludes them. With
 * only exclusions, every other test is selected. */
static int selected(const char *name, int argc, char **argv) {
  int any_include = 0, in = 0;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '!') {
      if (fnmatch(argv[i] + 1, name, 0) == 0)
        return 0;
    } else {
      any_include = 1;
      in |= fnmatch(argv[i], name, 0) == 0;
    }
  }
  return any_include ? in : 1;
}

/* Shared with the child so that a skip reason reaches the TAP line. */
static char *shared_reason;

static int run_one(const struct test *t, double *secs) {
  char tmpl[] = "/tmp/ctrace-test-XXXXXX";
  char *dir = mkdtemp(tmpl);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    test_tmp_root = dir;
    alarm((unsigned)t->timeout);
    int rc = t->fn();
    memcpy(shared_reason, test_skip_reason, sizeof test_skip_reason);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (dir && !getenv("CTRACE_TEST_KEEP")) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
    }
  }
  if (WIFSIGNALED(status)) {
    printf("# %s: killed by signal %d%s\n", t->name, WTERMSIG(status),
           WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
    return 1;
  }
  return WEXITSTATUS(status);
}

/*
 * Every test starts from the signal state of an interactive shell's child:
 * default dispositions, nothing blocked. A suite started in the background
 * (run-all.sh's lanes: without job control, bash makes them ignore SIGINT
 * and SIGQUIT) or under nohup (SIGHUP ignored) would otherwise hand its
 * ignored signals to every program the tests run, and tests of what a
 * signal does would test the launcher instead.
 */
static void default_signals(void) {
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

int main(int argc, char **argv) {
  default_signals();
  if (getenv("CTRACE_BUILD_DIR"))
    test_build_dir = getenv("CTRACE_BUILD_DIR");
  if (getenv("CTRACE_SOURCE_DIR"))
    test_source_dir = getenv("CTRACE_SOURCE_DIR");
  test_self_path = argv[0];
  if (argc >= 3 && strcmp(argv[1], "--helper") == 0) {
    for (const struct helper *h = helpers; h->name; h++)
      if (strcmp(h->name, argv[2]) == 0)
        return h->fn(argc - 2, argv + 2);
    fprintf(stderr, "no helper %s\n", argv[2]);
    return 127;
  }
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < NTESTS; i++)
      puts(tests[i].name);
    return 0;
  }
  shared_reason = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  size_t n = 0;
  for (size_t i = 0; i < NTESTS; i++)
    n += selected(tests[i].name, argc, argv);
  printf("TAP version 13\n1..%zu\n", n);
  int failed = 0;
  size_t k = 0;
  for (size_t i = 0; i < NTESTS; i++) {
    if (!selected(tests[i].name, argc, argv))
      continue;
    double secs;
    shared_reason[0] = 0;
    int rc = run_one(&tests[i], &secs);
    k++;
    if (rc == TEST_OK)
      printf("ok %zu - %s # %.2fs\n", k, tests[i].name, secs);
    else if (rc == TEST_SKIP)
      printf("ok %zu - %s # SKIP %s\n", k, tests[i].name, shared_reason);
    else {
      printf("not ok %zu - %s # %.2fs\n", k, tests[i].name, secs);
      failed++;
    }
    fflush(stdout);
  }
  return failed ? 1 : 0;
}
