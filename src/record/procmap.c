/*
 * procmap.c - describes the traced process in the metadata: PROCESS (pid,
 * parent, executable, argv) and one MAPPING per executable segment of each
 * loaded object, with its load bias and GNU build-id, so that a reader can
 * symbolize PCs later with libdw. Not symbolization (src/read/symbolize.c).
 */
#include "record.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* Names go through intern.c so ids stay dense and unique per trace. */
static uint32_t string_id(const char *s) {
  ctrace_name_t n = ctrace_name(s);
  return n ? ctrace__name_session_id(n) : 0;
}

static size_t find_build_id(const struct dl_phdr_info *info, const uint8_t **id) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE)
      continue;
    const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
    const uint8_t *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
      size_t namesz = (nh->n_namesz + 3) & ~3u, descsz = (nh->n_descsz + 3) & ~3u;
      const uint8_t *name = p + sizeof *nh, *desc = name + namesz;
      if (desc + descsz > end)
        break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        *id = desc;
        return nh->n_descsz;
      }
      p = desc + descsz;
    }
  }
  return 0;
}

/* The executable's path, read once per process image (a fork child runs
 * the same one), kept interned (no page of its own). */
static ctrace_name_t exe_name;

static __attribute__((noinline)) uint32_t exe_id(void) {
  if (!exe_name) {
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    exe_name = ctrace_name(path);
  }
  return exe_name ? ctrace__name_session_id(exe_name) : 0;
}

struct map_ctx {
  uint32_t exe_id;
};

static int on_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct map_ctx *ctx = arg;
  const char *path = info->dlpi_name;
  const uint8_t *bid = NULL;
  size_t bidlen = find_build_id(info, &bid);
  if (bidlen > 64)
    bidlen = 0;
  uint32_t path_id = path && *path ? string_id(path) : ctx->exe_id; /* "": the program */
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
      continue;
    uint64_t start = info->dlpi_addr + ph->p_vaddr;
    pthread_mutex_lock(&ctrace__meta_lock);
    uint8_t *p = ctrace__meta_reserve(CTRACE_MAX_FIXED_EVENT + 10 + bidlen);
    if (p) {
      *p++ = CTRACE_EV_MAPPING;
      *p++ = 0;
      p = ctrace__put_uvarint(p, start);
      p = ctrace__put_uvarint(p, start + ph->p_memsz);
      p = ctrace__put_uvarint(p, info->dlpi_addr);
      p = ctrace__put_uvarint(p, path_id);
      p = ctrace__put_uvarint(p, bidlen);
      if (bidlen)
        memcpy(p, bid, bidlen);
      ctrace__meta_commit(p + bidlen);
    }
    pthread_mutex_unlock(&ctrace__meta_lock);
  }
  return 0;
}

/* Called when a trace starts, by the starting thread (not under meta lock). */
CTRACE__COLD void ctrace__meta_mappings(void) {
  struct map_ctx ctx = {exe_id()};
  ctrace__guard++;
  dl_iterate_phdr(on_object, &ctx);
  ctrace__guard--;
}

/* The program's arguments as the constructors saw them, for the first
 * trace of this process image only (later, the program may have changed
 * them: /proc/self/cmdline then says what they are). */
static int initial_argc = -1;
static char **initial_argv;

CTRACE__COLD void ctrace__meta_initial_args(int argc, char **argv) {
  initial_argc = argv ? argc : -1;
  initial_argv = argv;
}

/* The NUL-separated arguments into args (as /proc/self/cmdline has them),
 * from the saved argv once, else from /proc; their length. */
static size_t read_args(char *args, size_t size) {
  size_t alen = 0;
  if (initial_argc >= 0) {
    for (int i = 0; i < initial_argc && initial_argv[i] && alen < size - 1; i++) {
      size_t n = strlen(initial_argv[i]) + 1;
      if (n > size - 1 - alen)
        n = size - 1 - alen;
      memcpy(args + alen, initial_argv[i], n);
      alen += n;
    }
    initial_argc = -1; /* a fork child or a later trace reads /proc */
    return alen;
  }
  /* read(), not stdio: no FILE, no buffer to allocate. */
  ctrace__guard++;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r;
    while (alen < size - 1 && (r = read(fd, args + alen, size - 1 - alen)) > 0)
      alen += (size_t)r;
    close(fd);
  }
  ctrace__guard--;
  return alen;
}

/* The arguments' string id. In a frame of its own, beside exe_id's rather
 * than below it: a process's start touches fewer pages of stack. */
static __attribute__((noinline)) uint32_t args_id(void) {
  char args[4096];
  size_t alen = read_args(args, sizeof args);
  /* argv is NUL-separated; names stop at NUL, so map NUL to a space-free
   * separator the reader splits on: 0x1f (unit separator). */
  for (size_t i = 0; i < alen; i++)
    if (args[i] == 0)
      args[i] = 0x1f;
  while (alen && args[alen - 1] == 0x1f)
    alen--;
  args[alen] = 0;
  return string_id(args);
}

/* PROCESS: pid, ppid, executable and argv. */
CTRACE__COLD void ctrace__meta_process(void) {
  uint32_t exe_sid = exe_id(), argv_id = args_id();
  pthread_mutex_lock(&ctrace__meta_lock);
  uint8_t *p = ctrace__meta_reserve(CTRACE_MAX_FIXED_EVENT);
  if (p) {
    *p++ = CTRACE_EV_PROCESS;
    *p++ = 0;
    p = ctrace__put_uvarint(p, (uint64_t)getpid());
    p = ctrace__put_uvarint(p, (uint64_t)getppid());
    p = ctrace__put_uvarint(p, exe_sid);
    p = ctrace__put_uvarint(p, argv_id);
    ctrace__meta_commit(p);
  }
  pthread_mutex_unlock(&ctrace__meta_lock);
}
