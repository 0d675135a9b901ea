/*
 * test-stacks.c - whole stacks by default in code built without frame
 * pointers (the cfi walker, src/record/unwind.c): a program built as
 * distribution binaries are (-O2 -fomit-frame-pointer, tests/progs/
 * nofp_chain.c) shows every function of its chains, down to the start
 * functions, across a signal frame and on a 16 KiB thread stack; the walkers
 * survive garbage stacks and unloaded libraries without faulting;
 * memcached's and pigz's blocking stacks (Debian's binaries) reach their
 * thread's start function. "Reaches the start" is decided by libdw's own
 * reading of the unwind tables (the last frame's return address is
 * undefined: _start, clone3), so it needs no symbols; with libc6-dbg the
 * names agree (start_thread, __libc_start_main).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <sys/mman.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <libelf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"
#include "../src/read/reader.h"
#include "../src/read/symbolize.h"
#include "../src/record/record.h"

static ctrace_reader *open_ok(const char *path) {
  char err[CTRACE_READ_ERRLEN];
  ctrace_reader *r;
  if (ctrace_reader_open(path, &r, err, sizeof err) != 0)
    TEST_FAIL_("cannot read %s: %s", path, err);
  ASSERT_EQ(ctrace_reader_status(r), CTRACE_READ_OK);
  return r;
}

/* The stack id of a blocking event, 0 for other kinds. */
static uint64_t stack_of(const ctrace_event *ev) {
  switch (ev->kind) {
  case CTRACE_EV_WAIT:
  case CTRACE_EV_WAKE:
  case CTRACE_EV_SYSCALL:
  case CTRACE_EV_THREAD_CREATE:
    return ev->nfields ? ev->f[ev->nfields - 1] : 0;
  default:
    return 0;
  }
}

/* The ELF entry point of path (the offset of _start in a stripped
 * executable), 0 when unknown; one path remembered. */
static uint64_t entry_of(const char *path) {
  static char last[512];
  static uint64_t last_entry;
  if (!path)
    return 0;
  if (strcmp(path, last) == 0)
    return last_entry;
  snprintf(last, sizeof last, "%s", path);
  last_entry = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  Elf64_Ehdr eh;
  if (fd >= 0 && read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh &&
      memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_type == ET_DYN)
    last_entry = eh.e_entry;
  if (fd >= 0)
    close(fd);
  return last_entry;
}

/*
 * Whether libdw's own reading of the object's unwind tables (an oracle
 * independent of src/record/unwind.c) says the frame of this return
 * address is the outermost one: its return address is undefined, as in
 * _start, clone and clone3. Needs no symbols (libc6-dbg).
 */
static int is_outermost(const struct ctrace_frame *f) {
  static struct {
    char path[512];
    Elf *elf;
    Dwarf_CFI *cfi;
  } objs[8];
  static int nobjs;
  if (!f->object || f->object_offset == 0)
    return 0;
  Dwarf_CFI *cfi = NULL;
  int i = 0;
  while (i < nobjs && strcmp(objs[i].path, f->object) != 0)
    i++;
  if (i < nobjs) {
    cfi = objs[i].cfi;
  } else if (nobjs < 8) {
    elf_version(EV_CURRENT);
    int fd = open(f->object, O_RDONLY | O_CLOEXEC);
    Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
    cfi = elf ? dwarf_getcfi_elf(elf) : NULL;
    snprintf(objs[nobjs].path, sizeof objs[nobjs].path, "%s", f->object);
    objs[nobjs].elf = elf;
    objs[nobjs].cfi = cfi;
    nobjs++; /* the fd and the mapping stay for the test's life */
  }
  Dwarf_Frame *frame;
  if (!cfi || dwarf_cfi_addrframe(cfi, f->object_offset - 1, &frame) != 0)
    return 0;
  int ra = dwarf_frame_info(frame, NULL, NULL, NULL);
  Dwarf_Op mem[3], *ops = NULL;
  size_t nops = 1;
  int undefined = ra >= 0 && dwarf_frame_register(frame, ra, mem, &ops, &nops) == 0 &&
                  nops == 0 && ops == mem;
  free(frame);
  return undefined;
}

static int is_start(const struct ctrace_frame *f) {
  static const char *const names[] = {"start_thread", "clone3", "__clone3", "clone", "__clone",
                                      "__libc_start_main", "__libc_start_call_main", "_start"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t n = strlen(names[i]);
    if (strncmp(f->function, names[i], n) == 0 && (f->function[n] == 0 || f->function[n] == '@'))
      return 1;
  }
  uint64_t e = entry_of(f->object); /* _start of a stripped executable */
  return e && f->object_offset > e && f->object_offset - e < 64;
}

/* Share (0..1) of the trace's blocking events whose stack reaches a start
 * function; *n: how many had a stack. */
static double share_reaching_start(const char *trace, uint64_t *n_out) {
  ctrace_reader *r = open_ok(trace);
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  ASSERT(sym);
  uint32_t nst = ctrace_reader_nstacks(r);
  signed char *reach = calloc(nst + 1, 1);
  ASSERT(reach);
  uint64_t n = 0, ok = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    while (ctrace_cursor_next(&c, &ev)) {
      uint64_t id = stack_of(&ev);
      if (!id || id > nst)
        continue;
      if (!reach[id]) {
        const uint64_t *pcs;
        uint32_t k = ctrace_reader_stack(r, id, &pcs);
        reach[id] = -1;
        for (uint32_t j = 0; j < k; j++) {
          struct ctrace_frame f;
          ctrace_sym_lookup(sym, pcs[j], 1, &f);
          if (is_start(&f) || (j == k - 1 && is_outermost(&f))) {
            reach[id] = 1;
            break;
          }
        }
        if (reach[id] < 0) {
          fprintf(stderr, "# stack %llu does not reach a start function:\n", (unsigned long long)id);
          for (uint32_t j = 0; j < k; j++) {
            struct ctrace_frame f;
            ctrace_sym_lookup(sym, pcs[j], 1, &f);
            fprintf(stderr, "#   %s (%s+0x%llx)\n", f.function, f.object ? f.object : "?",
                    (unsigned long long)f.object_offset);
          }
        }
      }
      n++;
      ok += reach[id] > 0;
    }
  }
  free(reach);
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  *n_out = n;
  return n ? (double)ok / (double)n : 0;
}

/* The functions of stack id, innermost first, into names (count); *outer:
 * the last frame is the outermost one (_start, clone3). */
static int stack_functions(ctrace_reader *r, ctrace_symbolizer *sym, uint64_t id,
                           const char **names, int max, int *outer) {
  const uint64_t *pcs;
  uint32_t k = ctrace_reader_stack(r, id, &pcs);
  int n = 0;
  *outer = 0;
  for (uint32_t j = 0; j < k && n < max; j++) {
    struct ctrace_frame f;
    ctrace_sym_lookup(sym, pcs[j], 1, &f);
    names[n++] = f.function;
    if (j == k - 1)
      *outer = is_outermost(&f);
  }
  return n;
}

/* 1 when the names hold want[] in this order, one after the other. */
static int has_run(const char **names, int n, const char *const *want, int nw) {
  for (int i = 0; i + nw <= n; i++) {
    int j = 0;
    while (j < nw && strcmp(names[i + j], want[j]) == 0)
      j++;
    if (j == nw)
      return 1;
  }
  return 0;
}

static void print_stack(const char **names, int n) {
  for (int i = 0; i < n; i++)
    fprintf(stderr, "#   %s\n", names[i]);
}

TEST_IMPL(stacks_default_walk_without_frame_pointers) {
  unsetenv("CTRACE_UNWIND"); /* the default walker */
  const char *trace = test_path("nofp.ctrace");
  char *argv[] = {(char *)test_build_path("ctrace"), "run", "-o", (char *)trace, "--",
                  (char *)test_build_path("src/record/prog_nofp_chain"), NULL};
  char *out = NULL;
  ASSERT_EQ(test_run(argv, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "done 1");
  free(out);
  ctrace_reader *r = open_ok(trace);
  ctrace_symbolizer *sym = ctrace_sym_new(r);
  static const char *const chain[] = {"chain_inner", "chain_middle", "chain_outer"};
  int main_chain = 0, thread_chain = 0, tiny = 0, signal = 0, sleeps = 0;
  for (uint32_t i = 0; i < ctrace_reader_nthreads(r); i++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, i);
    while (ctrace_cursor_next(&c, &ev)) {
      if (ev.kind != CTRACE_EV_WAIT || ev.f[0] != CTRACE_WAIT_SLEEP)
        continue;
      sleeps++;
      const char *names[CTRACE_MAX_STACK_DEPTH];
      int outer;
      int n = stack_functions(r, sym, ev.f[3], names, CTRACE_MAX_STACK_DEPTH, &outer);
      int ok = 0;
      /* Each chain whole, then libc's frames (named with libc6-dbg), down
       * to the outermost frame: _start for main, clone3 for threads. */
      if (!outer) {
      } else if (has_run(names, n, chain, 3)) {
        static const char *const m[] = {"chain_outer", "main"};
        static const char *const t[] = {"chain_outer", "chain_thread"};
        if (has_run(names, n, m, 2))
          main_chain++, ok = 1;
        if (has_run(names, n, t, 2))
          thread_chain++, ok = 1;
      } else if (n && strcmp(names[0], "tiny_recurse") == 0) {
        /* 21 frames of it, then the thread's (the depth limit is 32) */
        int k = 0;
        while (k < n && strcmp(names[k], "tiny_recurse") == 0)
          k++;
        if (k == 21 && k < n && strcmp(names[k], "tiny_thread") == 0)
          tiny++, ok = 1;
      } else if (n && strcmp(names[0], "signal_sleep") == 0) {
        /* handler, the signal frame (__restore_rt), then the interrupted code */
        static const char *const s[] = {"signal_sleep", "on_signal"};
        static const char *const s2[] = {"signal_raiser", "main"};
        if (has_run(names, n, s, 2) && has_run(names, n, s2, 2))
          signal++, ok = 1;
      }
      if (!ok) {
        fprintf(stderr, "# unexpected sleep stack (outermost frame reached: %d):\n", outer);
        print_stack(names, n);
      }
    }
  }
  fprintf(stderr, "# %d sleeps: main chain %d, thread chain %d, tiny stack %d, signal %d\n",
          sleeps, main_chain, thread_chain, tiny, signal);
  ASSERT_EQ(main_chain, 3);
  ASSERT_EQ(thread_chain, 1);
  ASSERT_EQ(tiny, 1);
  ASSERT_EQ(signal, 1);
  ASSERT_EQ(sleeps, 6);
  ctrace_sym_free(sym);
  ctrace_reader_close(r);
  return TEST_OK;
}

/* ---- garbage ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Code addresses to salt the garbage with: real return addresses give the
 * cfi walker real rules to follow into garbage. */
static uintptr_t code_near(void) {
  static const void *anchors[4];
  anchors[0] = (const void *)&printf;
  anchors[1] = (const void *)&next_rand;
  anchors[2] = (const void *)&pthread_create;
  anchors[3] = (const void *)&ctrace__unwind_cfi;
  return (uintptr_t)anchors[next_rand() % 4] + next_rand() % 4096;
}

struct garbage_run {
  long walks;
  long frames;
  int bad;
};

/* On a small thread stack: fills a local array with garbage (random words,
 * pointers into the array, code addresses), then walks from random
 * "frames" in it with the thread's real bounds, with each walker that
 * reads the stack. */
static void *garbage_thread(void *arg) {
  struct garbage_run *g = arg;
  struct ctrace__thread t;
  memset(&t, 0, sizeof t);
  pthread_attr_t attr;
  void *addr;
  size_t size;
  ASSERT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
  ASSERT_EQ(pthread_attr_getstack(&attr, &addr, &size), 0);
  pthread_attr_destroy(&attr);
  t.stack_lo = (uintptr_t)addr;
  t.stack_hi = (uintptr_t)addr + size;
  enum { WORDS = 1024 };
  uintptr_t *junk = __builtin_alloca(WORDS * sizeof(uintptr_t));
  int (*const walkers[])(struct ctrace__thread *, void *, uintptr_t *, int) = {ctrace__unwind_cfi,
                                                                             ctrace__unwind_fp};
  for (int round = 0; round < 3000; round++) {
    for (int i = 0; i < WORDS; i++) {
      switch (next_rand() % 4) {
      case 0: junk[i] = (uintptr_t)next_rand(); break;
      case 1: junk[i] = (uintptr_t)&junk[next_rand() % WORDS] + next_rand() % 8; break;
      case 2: junk[i] = code_near(); break;
      default: /* near the top of the stack, and just past it */
        junk[i] = t.stack_hi - next_rand() % 256;
        break;
      }
    }
    for (int k = 0; k < 8; k++) {
      void *fp = &junk[next_rand() % WORDS];
      if (next_rand() % 8 == 0) /* a misaligned or out-of-bounds start */
        fp = (char *)fp + next_rand() % 8 + (next_rand() % 2 ? 0 : size);
      for (int w = 0; w < 2; w++) {
        uintptr_t pcs[CTRACE_MAX_STACK_DEPTH];
        int n = walkers[w](&t, fp, pcs, CTRACE_MAX_STACK_DEPTH);
        if (n < 0 || n > CTRACE_MAX_STACK_DEPTH)
          g->bad = 1;
        for (int i = 0; i < n; i++)
          if (pcs[i] < 4096)
            g->bad = 1;
        g->walks++;
        g->frames += n;
      }
    }
  }
  return NULL;
}

TEST_IMPL(stacks_walk_survives_garbage) {
  ctrace__code_ranges_load(); /* what a trace's start does */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024); /* tiny: junk reaches its top */
  struct garbage_run g = {0};
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, &attr, garbage_thread, &g), 0);
  ASSERT_EQ(pthread_join(th, NULL), 0);
  fprintf(stderr, "# %ld walks over garbage, %ld frames, %llu rules computed\n", g.walks,
          g.frames, (unsigned long long)ctrace__unwind_cfi_misses());
  ASSERT_EQ(g.bad, 0);
  ASSERT_EQ(g.walks, 3000 * 8 * 2);
  return TEST_OK;
}

/* A library loaded when the trace started and unloaded since: a return
 * address into it (garbage, or a stale frame) must not make the cfi walker
 * read its unmapped unwind tables. */
TEST_IMPL(stacks_walk_survives_unloaded_library) {
  /* Its constructor writes a line to stdout, which is the runner's TAP. */
  fflush(stdout);
  int saved = dup(1), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT(saved >= 0 && null >= 0);
  ASSERT_EQ(dup2(null, 1), 1);
  void *h = dlopen(test_build_path("src/preload/libearly.so"), RTLD_NOW | RTLD_LOCAL);
  ASSERT_EQ(dup2(saved, 1), 1);
  close(saved);
  close(null);
  ASSERT(h);
  uintptr_t fn = (uintptr_t)dlsym(h, "early_ran");
  ASSERT(fn);
  ctrace__code_ranges_load(); /* a trace starts: the library is code */
  ASSERT_EQ(dlclose(h), 0);
  unsigned char vec[1];
  if (mincore((void *)(fn & ~(uintptr_t)4095), 1, vec) == 0)
    RETURN_SKIP("dlclose left the library mapped");
  ASSERT_EQ(errno, ENOMEM);
  /* A frame whose return address is in the unloaded code, and above it a
   * frame-pointer chain that ends. */
  uintptr_t frames[8] = {0};
  frames[0] = (uintptr_t)&frames[2]; /* saved rbp */
  frames[1] = fn + 5;                /* return address */
  frames[2] = 0;
  frames[3] = 0;
  struct ctrace__thread t;
  memset(&t, 0, sizeof t);
  t.stack_lo = (uintptr_t)&frames[0];
  t.stack_hi = (uintptr_t)&frames[8];
  uintptr_t pcs[8];
  int n = ctrace__unwind_cfi(&t, frames, pcs, 8);
  ASSERT_EQ(n, 1);
  ASSERT_UINT_EQ(pcs[0], fn + 5);
  return TEST_OK;
}

/* The cache of whole walks (ctrace__stack_here): leaf() runs at the same
 * frame address under two chains that differ four frames up (via_a or
 * via_b, then mid3, mid2, mid, leaf), so the cache's slot and first words
 * are alike; only the words it reads again further up tell them apart. */
struct walk_run {
  struct ctrace__thread *t;
  uint32_t id, ref; /* cached stack_here, and a capture interned directly */
  uintptr_t fp;
};
__attribute__((noinline)) static void walk_leaf(struct walk_run *w) {
  void *fp = __builtin_frame_address(0);
  w->fp = (uintptr_t)fp;
  w->id = ctrace__stack_here(w->t, fp);
  uintptr_t pcs[CTRACE_MAX_STACK_DEPTH];
  int n = ctrace__stack_capture(w->t, fp, pcs, 32);
  w->ref = ctrace__stack_intern(w->t, pcs, n);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void walk_mid(struct walk_run *w) {
  walk_leaf(w);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void walk_mid2(struct walk_run *w) {
  walk_mid(w);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void walk_mid3(struct walk_run *w) {
  walk_mid2(w);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void walk_via_a(struct walk_run *w) {
  walk_mid3(w);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void walk_via_b(struct walk_run *w) {
  walk_mid3(w);
  __asm__ volatile("" ::: "memory");
}

TEST_IMPL(stacks_walk_cache_tells_callers_apart) {
  unsetenv("CTRACE_UNWIND");
  ASSERT_EQ(ctrace_start_path(test_path("walks.ctrace")), 0);
  ctrace_region_begin("x"); /* registers the thread */
  ctrace_region_end();
  struct ctrace__thread *t = ctrace__enter();
  ASSERT(t);
  static const char order[] = "aabbaba";
  struct walk_run w[sizeof order - 1];
  int kept = 0;
  for (size_t k = 0; k < sizeof order - 1; k++) {
    w[k].t = t;
    void (*volatile via)(struct walk_run *) = order[k] == 'a' ? walk_via_a : walk_via_b;
    via(&w[k]);
    for (int i = 0; i < CTRACE__WALK_CACHE; i++)
      kept += t->walks[i].fp == w[k].fp && t->walks[i].id == w[k].id;
  }
  ctrace__leave_empty(t);
  ASSERT_EQ(ctrace_stop(), 0);
  for (size_t k = 0; k < sizeof order - 1; k++) {
    ASSERT_UINT_EQ(w[k].fp, w[0].fp); /* the premise: one frame address */
    ASSERT(w[k].id != 0);
    ASSERT_UINT_EQ(w[k].id, w[k].ref); /* what an uncached walk gives */
    ASSERT_UINT_EQ(w[k].id, order[k] == 'a' ? w[0].id : w[2].id);
  }
  ASSERT(w[0].id != w[2].id);
  ASSERT_EQ(kept, (int)(sizeof order - 1)); /* every walk was kept */
  return TEST_OK;
}

/* ---- Debian's binaries ---- */

static int recv_until(int s, char *buf, size_t cap, const char *end) {
  size_t n = 0, e = strlen(end);
  while (n < cap - 1) {
    ssize_t k = recv(s, buf + n, cap - 1 - n, 0);
    if (k <= 0)
      return -1;
    n += (size_t)k;
    buf[n] = 0;
    if (n >= e && memcmp(buf + n - e, end, e) == 0)
      return 0;
  }
  return -1;
}

TEST_IMPL(stacks_memcached_reach_start) {
  if (access("/usr/bin/memcached", X_OK) != 0)
    RETURN_SKIP("memcached not installed");
  unsetenv("CTRACE_UNWIND");
  int port = test_free_port();
  ASSERT_GT(port, 0);
  char portstr[16], trace[512];
  snprintf(portstr, sizeof portstr, "%d", port);
  snprintf(trace, sizeof trace, "%s", test_path("mc.ctrace"));
  pid_t pid = fork();
  if (pid == 0) {
    execl(test_build_path("ctrace"), "ctrace", "run", "--min-duration", "0", "-o", trace, "--",
          "/usr/bin/memcached", "-u", "root", "-l", "127.0.0.1", "-p", portstr, "-U", "0", "-t",
          "2", (char *)NULL);
    _exit(127);
  }
  int s = test_connect_retry(port);
  ASSERT_GE(s, 0);
  char buf[512];
  for (int i = 0; i < 200; i++) {
    char req[128];
    int n = snprintf(req, sizeof req, "set k%d 0 0 5\r\nhello\r\nget k%d\r\n", i % 16, i % 16);
    ASSERT_EQ(send(s, req, (size_t)n, 0), n);
    ASSERT_EQ(recv_until(s, buf, sizeof buf, "END\r\n"), 0);
  }
  close(s);
  kill(pid, SIGTERM); /* ctrace run passes it on; memcached exits */
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  uint64_t n;
  double share = share_reaching_start(trace, &n);
  fprintf(stderr, "# memcached: %llu blocking stacks, %.1f %% reach a start function\n",
          (unsigned long long)n, 100 * share);
  ASSERT_GE(n, 400);
  ASSERT(share >= 0.90);
  return TEST_OK;
}

TEST_IMPL(stacks_pigz_reach_start) {
  if (access("/usr/bin/pigz", X_OK) != 0)
    RETURN_SKIP("pigz not installed");
  unsetenv("CTRACE_UNWIND");
  /* 4 MB of varied text: pigz's threads wait and wake a few hundred times */
  size_t size = 4u << 20;
  char *data = malloc(size);
  ASSERT(data);
  uint64_t x = 1;
  for (size_t i = 0; i < size; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    data[i] = (char)('a' + (x >> 59) % 26);
  }
  const char *in = test_path("pigz.in"), *trace = test_path("pigz.ctrace");
  ASSERT_EQ(test_write_file(in, data, size), 0);
  free(data);
  char *argv[] = {(char *)test_build_path("ctrace"), "run", "-o", (char *)trace, "--",
                  "/usr/bin/pigz", "-p", "2", "-k", "-f", (char *)in, NULL};
  ASSERT_EQ(test_run(argv, NULL, NULL, NULL), 0);
  uint64_t n;
  double share = share_reaching_start(trace, &n);
  fprintf(stderr, "# pigz: %llu blocking stacks, %.1f %% reach a start function\n",
          (unsigned long long)n, 100 * share);
  ASSERT_GE(n, 50);
  ASSERT(share >= 0.90);
  return TEST_OK;
}
