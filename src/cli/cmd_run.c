/*
 * cmd_run.c - `ctrace run [options] -- PROGRAM [ARGS]`: runs a program with
 * libctrace-preload.so preloaded and the trace options in its environment,
 * passes SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to ctrace on to it, and exits as
 * the program did (same status, or the same signal). Refuses, with a message,
 * what LD_PRELOAD cannot reach: static and setuid binaries, a missing preload
 * library; and says so when the program wrote no trace at all.
 * Not the tracing itself (src/preload/).
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../record/config.h"
#include "cli.h"
#include "help.h"
#include "../record/record.h"

const struct ctrace_cmd ctrace_cmd_run_def = {"run", ctrace_cmd_run, CTRACE_HELP_run,
                                              CTRACE_USAGE_run};

#define PRELOAD_NAME "libctrace-preload.so"

static int exists(const char *p) {
  return access(p, R_OK) == 0;
}

/* The preload library: $CTRACE_PRELOAD, else next to this executable (build
 * tree: src/preload/; installed: ../lib/<multiarch>/ or ../lib/). */
static int find_preload(char *out, size_t size) {
  const char *env = getenv("CTRACE_PRELOAD");
  if (env && *env) {
    snprintf(out, size, "%s", env);
    return exists(out) ? 0 : -1;
  }
  char exe[PATH_MAX - 64]; /* room for the suffixes below */
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return -1;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (slash)
    *slash = 0;
  static const char *const rel[] = {"src/preload/", "../lib/x86_64-linux-gnu/", "../lib/",
                                    "../lib64/"};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    snprintf(out, size, "%s/%s%s", exe, rel[i], PRELOAD_NAME);
    if (exists(out))
      return 0;
  }
  snprintf(out, size, "%s/src/preload/%s", exe, PRELOAD_NAME);
  return -1;
}

/* The file execvp would run, for the checks below; 0 or -1. */
static int find_program(const char *name, char *out, size_t size) {
  if (strchr(name, '/')) {
    snprintf(out, size, "%s", name);
    return access(out, X_OK) == 0 ? 0 : -1;
  }
  const char *path = getenv("PATH");
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    size_t n = strcspn(path, ":");
    snprintf(out, size, "%.*s/%s", (int)n, n ? path : ".", name);
    struct stat st;
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
      return 0;
    path += n;
    if (*path)
      path++;
  }
  return -1;
}

/* 0: dynamically linked (or a script); 1: static; -1: unreadable. */
static int is_static(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  Elf64_Ehdr eh;
  int res = 0;
  ssize_t n = pread(fd, &eh, sizeof eh, 0);
  if (n < (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
    goto out; /* a script, or not ours to judge: let exec decide */
  res = 1;
  for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph)
      break;
    if (ph.p_type == PT_INTERP) {
      res = 0;
      break;
    }
  }
out:
  close(fd);
  return res;
}

/* 1 when name is "STEM.PID[-N]EXT": the file of a child or an exec'd image
 * (src/preload/proc.c names them). */
static int is_child_trace(const char *name, const char *stem, size_t stemlen, const char *ext) {
  if (strncmp(name, stem, stemlen) != 0 || name[stemlen] != '.')
    return 0;
  const char *p = name + stemlen + 1;
  if (*p < '0' || *p > '9')
    return 0;
  while (*p >= '0' && *p <= '9')
    p++;
  if (*p == '-' && p[1] >= '0' && p[1] <= '9') {
    p++;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  return strcmp(p, ext) == 0;
}

/* Tells where the traces of children and exec'd images went (written since
 * `since`): otherwise a program that starts by exec'ing (a wrapper script,
 * env) seems to leave an almost empty trace. */
static void list_children(const char *outabs, time_t since) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", outabs);
  char *slash = strrchr(dir, '/');
  if (!slash)
    return;
  *slash = 0;
  const char *base = slash + 1;
  size_t len = strlen(base);
  const char *ext = ".ctrace"; /* STEM.PID.ctrace, whatever FILE's extension */
  if (len > 7 && strcmp(base + len - 7, ".ctrace") == 0)
    len -= 7;
  DIR *d = opendir(dir[0] ? dir : "/");
  if (!d)
    return;
  int n = 0;
  struct dirent *e;
  char first[3][256];
  while ((e = readdir(d)) != NULL) {
    struct stat st;
    char path[PATH_MAX + 256];
    if (!is_child_trace(e->d_name, base, len, ext))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || st.st_mtime < since)
      continue;
    if (n < 3)
      snprintf(first[n], sizeof first[n], "%s", e->d_name);
    n++;
  }
  closedir(d);
  if (n == 0)
    return;
  fprintf(stderr, "ctrace run: %d more trace%s from child processes and exec'd programs in %s:",
          n, n == 1 ? "" : "s", dir);
  for (int i = 0; i < n && i < 3; i++)
    fprintf(stderr, " %s", first[i]);
  fprintf(stderr, "%s; the commands read them with %s as one trace\n", n > 3 ? " ..." : "",
          base);
}

/* After the run: says why the trace is missing or cut short. */
static void report_output(const char *outabs) {
  struct stat st;
  struct statvfs fs;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", outabs);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = 0;
  int full = statvfs(dir[0] ? dir : "/", &fs) == 0 && fs.f_bavail == 0;
  int small = stat(outabs, &st) != 0 || st.st_size <= 32;
  if (full)
    fprintf(stderr, "ctrace run: the file system of %s is full: the trace is %s\n", outabs,
            small ? "empty" : "incomplete");
  else if (small)
    fprintf(stderr,
            "ctrace run: no trace was written to %s: the program did not load %s\n"
            "  (it may clear LD_PRELOAD, or exec a static or setuid program)\n",
            outabs, PRELOAD_NAME);
}

/* The program's trace says whether the kernel let it record scheduling
 * data: said here, after the program, not on the program's stderr. */
/* Says why scheduling was not recorded, from the trace's "sched" property.
 * The recorder writes it at the start: the file's first MiB is read (as a
 * cut-off trace), and the whole file only when the property is not there. */
static void report_sched(const char *outabs) {
  enum { PREFIX = 1 << 20 };
  ctrace_reader *r = NULL;
  char err[CTRACE_READ_ERRLEN];
  uint8_t *buf = malloc(PREFIX);
  int fd = buf ? open(outabs, O_RDONLY | O_CLOEXEC) : -1;
  ssize_t n = fd >= 0 ? pread(fd, buf, PREFIX, 0) : -1;
  if (fd >= 0)
    close(fd);
  if (n > 0 && ctrace_reader_open_mem(buf, (size_t)n, &r, err, sizeof err) == 0 &&
      !ctrace_reader_property(r, "sched") && n == PREFIX) {
    ctrace_reader_close(r);
    r = NULL;
  }
  if (!r && ctrace_reader_open(outabs, &r, err, sizeof err) != 0)
    r = NULL;
  const char *s = r ? ctrace_reader_property(r, "sched") : NULL;
  if (s && strncmp(s, "off: ", 5) == 0)
    fprintf(stderr, "ctrace run: scheduling not recorded: %s\n", s + 5);
  if (r)
    ctrace_reader_close(r);
  free(buf);
}

static pid_t child_pid;

/* A signal sent to ctrace (kill, a supervisor) goes on to the program. One
 * from the terminal (si_code SI_KERNEL) reached the program's process group
 * already: not sent twice. */
static void forward(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  if (child_pid > 0 && (!si || si->si_code <= 0))
    kill(child_pid, sig);
}

static int parse_ns(const char *s, long long *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0)) /* !(v >= 0): NaN too */
    return -1;
  double mult = 1;
  if (strcmp(end, "us") == 0)
    mult = 1e3;
  else if (strcmp(end, "ms") == 0)
    mult = 1e6;
  else if (strcmp(end, "s") == 0)
    mult = 1e9;
  else if (*end && strcmp(end, "ns") != 0)
    return -1;
  /* At most an hour: past that, every call would be left out. */
  if (!(v * mult <= 3600e9))
    return -1;
  *out = (long long)(v * mult);
  return 0;
}

static int valid_families(const char *s) {
  while (*s) {
    size_t n = strcspn(s, ",");
    static const char *const names[] = {"sync", "sleep", "io", "net", "proc", "all"};
    int ok = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      ok |= strlen(names[i]) == n && strncmp(names[i], s, n) == 0;
    if (!ok)
      return 0;
    s += n;
    if (*s)
      s++;
  }
  return 1;
}

static void set_env(const char *name, const char *value) {
  if (setenv(name, value, 1) != 0) {
    fprintf(stderr, "ctrace run: cannot set %s\n", name);
    _exit(127);
  }
}

int ctrace_cmd_run(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_run_def;
  const char *out = "trace.ctrace", *families = NULL, *stacks = NULL, *preload = NULL;
  const char *unwind = NULL, *sample_hz = NULL;
  long long min_ns = -1;
  int follow = 1, i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (ctrace_cli_wants_help(cmd, a))
      return CTRACE_EXIT_OK;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-')
      break;
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--no-follow-forks") == 0) {
      follow = 0;
      continue;
    }
    if (strcmp(a, "-o") && strcmp(a, "--output") && strcmp(a, "--families") &&
        strcmp(a, "--stacks") && strcmp(a, "--min-duration") && strcmp(a, "--preload") &&
        strcmp(a, "--unwind") && strcmp(a, "--sample-hz"))
      return ctrace_cli_usage_error(cmd, "unknown option '%s'", a);
    if (!val)
      return ctrace_cli_usage_error(cmd, "option '%s' needs a value", a);
    i++;
    if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      out = val;
    } else if (strcmp(a, "--families") == 0) {
      if (!valid_families(val))
        return ctrace_cli_usage_error(cmd, "bad family list '%s'", val);
      families = val;
    } else if (strcmp(a, "--stacks") == 0) {
      if (strcmp(val, "none") && strcmp(val, "blocking") && strcmp(val, "all"))
        return ctrace_cli_usage_error(cmd, "--stacks takes none, blocking or all");
      stacks = val;
    } else if (strcmp(a, "--unwind") == 0) {
      if (strcmp(val, "cfi") && strcmp(val, "fp") && strcmp(val, "dwarf"))
        return ctrace_cli_usage_error(cmd, "--unwind takes cfi, fp or dwarf");
      unwind = val;
    } else if (strcmp(a, "--sample-hz") == 0) {
      char eff[32], msg[256];
      if (!ctrace__config_check("CTRACE_SAMPLE_HZ", val, eff, sizeof eff, msg, sizeof msg))
        return ctrace_cli_usage_error(cmd, "--sample-hz takes an integer from 0 to 10000");
      sample_hz = val;
    } else if (strcmp(a, "--min-duration") == 0) {
      if (parse_ns(val, &min_ns) < 0)
        return ctrace_cli_usage_error(cmd, "bad duration '%s' (0 to 1h, e.g. 5us, 1.5ms, 2s)",
                                      val);
    } else {
      preload = val;
    }
  }
  if (i >= argc)
    return ctrace_cli_usage_error(cmd, "PROGRAM missing");
  char **prog = argv + i;

  /* The environment's CTRACE_* values, checked here once (config.c) rather
   * than by the library in the program, whose stderr is not ours: a bad one
   * is reported and the program gets the value used instead. */
  static const char *const checked[] = {"CTRACE_BUFFER_KB", "CTRACE_MEMORY_MB", "CTRACE_STACKS",
                                        "CTRACE_CLOCK",     "CTRACE_UNWIND",    "CTRACE_FAMILIES",
                                        "CTRACE_MIN_NS",    "CTRACE_FOLLOW_FORKS",
                                        "CTRACE_SAMPLE_HZ", "CTRACE_SCHED"};
  for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
    char eff[256], msg[512];
    if ((families && strcmp(checked[k], "CTRACE_FAMILIES") == 0) ||
        (stacks && strcmp(checked[k], "CTRACE_STACKS") == 0) ||
        (unwind && strcmp(checked[k], "CTRACE_UNWIND") == 0) ||
        (min_ns >= 0 && strcmp(checked[k], "CTRACE_MIN_NS") == 0) ||
        (sample_hz && strcmp(checked[k], "CTRACE_SAMPLE_HZ") == 0))
      continue; /* an option overrides it */
    if (!ctrace__config_check(checked[k], getenv(checked[k]), eff, sizeof eff, msg, sizeof msg)) {
      fprintf(stderr, "ctrace run: %s\n", msg);
      set_env(checked[k], eff);
    }
  }

  char lib[PATH_MAX], exe[PATH_MAX], outabs[PATH_MAX];
  if (preload)
    snprintf(lib, sizeof lib, "%s", preload);
  if (preload ? !exists(lib) : find_preload(lib, sizeof lib) < 0) {
    fprintf(stderr,
            "ctrace run: cannot find the preload library %s (looked for %s);\n"
            "  set CTRACE_PRELOAD or --preload to its path\n",
            PRELOAD_NAME, lib);
    return CTRACE_EXIT_FAIL;
  }
  if (find_program(prog[0], exe, sizeof exe) < 0) {
    fprintf(stderr, "ctrace run: %s: command not found or not executable\n", prog[0]);
    return 127;
  }
  struct stat st;
  if (stat(exe, &st) == 0 && (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
                              ((st.st_mode & S_ISGID) && st.st_gid != getegid()))) {
    fprintf(stderr,
            "ctrace run: %s is setuid/setgid: the dynamic loader ignores LD_PRELOAD for it,\n"
            "  so nothing would be traced\n",
            exe);
    return CTRACE_EXIT_FAIL;
  }
  if (is_static(exe) == 1) {
    fprintf(stderr,
            "ctrace run: %s is statically linked: LD_PRELOAD cannot reach it,\n"
            "  so nothing would be traced (link it dynamically, or use the ctrace API)\n",
            exe);
    return CTRACE_EXIT_FAIL;
  }
  if (out[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) ||
        snprintf(outabs, sizeof outabs, "%s/%s", cwd, out) >= (int)sizeof outabs) {
      fprintf(stderr, "ctrace run: output path too long\n");
      return CTRACE_EXIT_FAIL;
    }
  } else {
    snprintf(outabs, sizeof outabs, "%s", out);
  }
  /* The output must be writable before the program runs: its trace is
   * opened by the program, which could only complain on its own stderr. */
  if (stat(outabs, &st) == 0 && !S_ISREG(st.st_mode)) {
    fprintf(stderr, "ctrace run: cannot write the trace to %s: not a regular file\n", outabs);
    return CTRACE_EXIT_FAIL;
  }
  int probe = open(outabs, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (probe < 0) {
    fprintf(stderr, "ctrace run: cannot write the trace to %s: %s\n", outabs, strerror(errno));
    return CTRACE_EXIT_FAIL;
  }
  close(probe);
  /* A stale trace must not pass for this run's. */
  unlink(outabs);
  time_t started = time(NULL);

  struct sigaction sa, old[4];
  static const int fwd[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = forward;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "ctrace run: fork: %s\n", strerror(errno));
    return CTRACE_EXIT_FAIL;
  }
  if (pid == 0) {
    const char *prev = getenv("LD_PRELOAD");
    char pre[2 * PATH_MAX + 2];
    /* Earlier entries stay first: a sanitizer runtime must precede us. */
    if (prev && *prev)
      snprintf(pre, sizeof pre, "%s:%s", prev, lib);
    else
      snprintf(pre, sizeof pre, "%s", lib);
    set_env("LD_PRELOAD", pre);
    set_env("CTRACE_OUT", outabs);
    set_env("CTRACE__GEN", ""); /* there, empty: the first image replaces it in place */
    {
      /* One id for every process of this run (PROPERTY run): their files
       * open as one tree, files of an earlier run with the same name not. */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      char id[64];
      snprintf(id, sizeof id, "%ld-%lld.%09ld", (long)getppid(), (long long)ts.tv_sec,
               ts.tv_nsec);
      set_env("CTRACE__RUN", id);
    }
    if (families)
      set_env("CTRACE_FAMILIES", families);
    if (stacks)
      set_env("CTRACE_STACKS", stacks);
    if (unwind)
      set_env("CTRACE_UNWIND", unwind);
    if (min_ns >= 0) {
      char buf[32];
      snprintf(buf, sizeof buf, "%lld", min_ns);
      set_env("CTRACE_MIN_NS", buf);
    }
    if (!follow)
      set_env("CTRACE_FOLLOW_FORKS", "0");
    if (sample_hz)
      set_env("CTRACE_SAMPLE_HZ", sample_hz);
    /* The clock's rate, found once here (from the kernel): no traced
     * process spends start-up time on it (src/record/clock.c). */
    ctrace__clock_init();
    ctrace__ticks_per_ns(); /* exports CTRACE__TICKS_PER_NS */
    execvp(prog[0], prog);
    fprintf(stderr, "ctrace run: cannot run %s: %s\n", prog[0], strerror(errno));
    _exit(127);
  }
  child_pid = pid;
  for (int k = 0; k < 4; k++)
    sigaction(fwd[k], &sa, &old[k]);
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "ctrace run: waitpid: %s\n", strerror(errno));
      return CTRACE_EXIT_FAIL;
    }
  }
  for (int k = 0; k < 4; k++)
    sigaction(fwd[k], &old[k], NULL);

  report_output(outabs);
  report_sched(outabs);
  list_children(outabs, started);
  if (WIFSIGNALED(status)) {
    /* Die the same way, without a second core file. */
    int sig = WTERMSIG(status);
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    return 128 + sig;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : CTRACE_EXIT_FAIL;
}
