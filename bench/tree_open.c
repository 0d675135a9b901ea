/*
 * tree_open.c - opening a process tree against opening one file of about
 * the same size (docs/FORMAT.md, "Process trees"; the target: a tree of
 * ~200 short processes opens in at most 2x the time of one file).
 *
 * Usage: tree_open [PROCESSES [BLOCKS]]   (default 200 2000)
 *
 * Makes two traces with `ctrace run --min-duration 0` (ctrace found next to
 * this program's directory) in $TMPDIR: the tree, a shell that runs
 * PROCESSES times `dd bs=512 count=BLOCKS` (each dd a process, its reads
 * and writes recorded), and one file, a single dd of PROCESSES x BLOCKS
 * blocks. Then opens them 7 times each, alternating, each open in a fresh
 * child process (its wall and CPU time, its peak RSS), and prints the
 * median and range. Removes the traces. Prints a table; never fails.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/read/reader.h"

#include "bench_time.h"

#define REPS 7

static int run(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execv(argv[0], argv);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) < 0)
    return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

struct sample {
  double wall, cpu, rss_mb;
  uint32_t files;
  uint64_t events, bytes;
};

/* Opens path (tree = 1: as a tree) in a child; its numbers. */
static int measure(const char *path, int tree, struct sample *s) {
  int fd[2];
  if (pipe(fd) < 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    struct sample m = {0};
    char err[CTRACE_READ_ERRLEN];
    ctrace_reader *r;
    double t0 = now_ms(), c0 = cpu_ms();
    int rc = tree ? ctrace_reader_open_tree(path, &r, err, sizeof err)
                  : ctrace_reader_open(path, &r, err, sizeof err);
    m.wall = now_ms() - t0;
    m.cpu = cpu_ms() - c0;
    if (rc == 0) {
      struct rusage ru;
      getrusage(RUSAGE_SELF, &ru);
      m.rss_mb = (double)ru.ru_maxrss / 1024.0;
      m.files = ctrace_reader_nfiles(r);
      m.events = ctrace_reader_nevents(r);
      for (uint32_t i = 0; i < m.files; i++)
        m.bytes += ctrace_reader_file_size(ctrace_reader_file(r, i));
      ctrace_reader_close(r);
    } else {
      fprintf(stderr, "tree_open: %s: %s\n", path, err);
    }
    ssize_t w = write(fd[1], &m, sizeof m);
    _exit(rc == 0 && w == (ssize_t)sizeof m ? 0 : 1);
  }
  close(fd[1]);
  ssize_t n = read(fd[0], s, sizeof *s);
  close(fd[0]);
  int st;
  waitpid(pid, &st, 0);
  return n == (ssize_t)sizeof *s && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void row(const char *name, struct sample *s, int n, double *median_out) {
  double w[REPS], c[REPS];
  for (int i = 0; i < n; i++) {
    w[i] = s[i].wall;
    c[i] = s[i].cpu;
  }
  qsort(w, (size_t)n, sizeof *w, cmp_d);
  qsort(c, (size_t)n, sizeof *c, cmp_d);
  printf("%-10s %6u %10" PRIu64 " %8.1f %9.1f %15s %9.1f %8.1f\n", name, s[0].files, s[0].events,
         (double)s[0].bytes / 1e6, w[n / 2], "", c[n / 2], s[0].rss_mb);
  char range[64];
  snprintf(range, sizeof range, "%.1f-%.1f", w[0], w[n - 1]);
  printf("%-10s %6s %10s %8s %9s %15s\n", "", "", "", "", "", range);
  *median_out = w[n / 2];
}

static void remove_traces(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char p[4400];
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(dir);
}

int main(int argc, char **argv) {
  long nproc = argc > 1 ? atol(argv[1]) : 200, blocks = argc > 2 ? atol(argv[2]) : 2000;
  char ctrace[4096];
  snprintf(ctrace, sizeof ctrace, "%s", argv[0]);
  char *slash = strrchr(ctrace, '/');
  if (slash)
    *slash = 0;
  else
    snprintf(ctrace, sizeof ctrace, ".");
  strncat(ctrace, "/../ctrace", sizeof ctrace - strlen(ctrace) - 1);
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char dir[4096], tree[4200], one[4200], script[512], count[64];
  snprintf(dir, sizeof dir, "%s/tree_open.%d", tmp, (int)getpid());
  if (mkdir(dir, 0700) < 0) {
    perror("tree_open: mkdir");
    return 0;
  }
  snprintf(tree, sizeof tree, "%s/tree.ctrace", dir);
  snprintf(one, sizeof one, "%s/one.ctrace", dir);
  snprintf(script, sizeof script,
           "i=0; while [ $i -lt %ld ]; do dd if=/dev/zero of=/dev/null bs=512 count=%ld "
           "2>/dev/null; i=$((i+1)); done",
           nproc, blocks);
  snprintf(count, sizeof count, "count=%ld", nproc * blocks);
  char *gen_tree[] = {ctrace, "run", "--min-duration", "0", "-o", tree, "--", "/bin/sh", "-c",
                      script, NULL};
  char *gen_one[] = {ctrace, "run", "--min-duration", "0", "-o", one, "--", "/bin/dd",
                     "if=/dev/zero", "of=/dev/null", "bs=512", count, NULL};
  double g0 = now_ms();
  if (run(gen_tree) < 0 || run(gen_one) < 0) {
    printf("tree_open: ctrace run failed (%s)\n", ctrace);
    remove_traces(dir);
    return 0;
  }
  printf("# made the traces in %.1f s: a shell running %ld dd processes of %ld blocks, and one "
         "dd of %ld blocks\n",
         (now_ms() - g0) / 1e3, nproc, blocks, nproc * blocks);
  struct sample st[REPS], so[REPS];
  int n = 0;
  for (int i = 0; i < REPS; i++) { /* alternating */
    if (measure(tree, 1, &st[n]) < 0 || measure(one, 0, &so[n]) < 0)
      continue;
    n++;
  }
  if (!n) {
    printf("tree_open: opening failed\n");
    remove_traces(dir);
    return 0;
  }
  printf("%-10s %6s %10s %8s %9s %15s %9s %8s\n", "trace", "files", "events", "MB",
         "open ms", "(range)", "cpu ms", "RSS MB");
  double mt, mo;
  row("tree", st, n, &mt);
  row("one file", so, n, &mo);
  printf("tree / one file (median wall): %.2fx, per MB: %.2fx; %d runs each, medians\n", mt / mo,
         (mt / ((double)st[0].bytes)) / (mo / ((double)so[0].bytes)), n);
  remove_traces(dir);
  return 0;
}
