/*
 * cmd_dump.c - `ctrace dump FILE`: every event, one line each, in time
 * order. Fields are printed from the kind table of format.h, so a new kind
 * needs no code here; only how a field *looks* depends on its name.
 * `--raw` prints every record as stored instead (file order, numbers only):
 * the output tests/reader.py, a second reader written from docs/FORMAT.md,
 * must reproduce exactly.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../read/symbolize.h"
#include "cli.h"
#include "help.h"

const struct ctrace_cmd ctrace_cmd_dump_def = {"dump", ctrace_cmd_dump, CTRACE_HELP_dump,
                                               CTRACE_USAGE_dump};

struct dump {
  const ctrace_reader *r;
  ctrace_symbolizer *sym;
  int stacks, nosym;
  FILE *out;
};

/* Bytes from the trace, with control characters, quotes and backslashes
 * escaped: whatever they hold, an event stays on one line. */
static void print_escaped(FILE *out, const char *s, size_t len, int argv_sep) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == 0x1f && argv_sep)
      fputc(' ', out); /* argv separator */
    else if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      fprintf(out, "\\x%02x", c);
    else
      fputc(c, out);
  }
}

static void print_string(struct dump *d, uint64_t id) {
  const struct ctrace_string *s = ctrace_reader_string(d->r, id);
  if (!s) {
    fprintf(d->out, "#%" PRIu64, id);
    return;
  }
  fputc('"', d->out);
  print_escaped(d->out, s->s, s->len, 1);
  fputc('"', d->out);
}

/* A symbolizer's name (its paths come from the trace): escaped. */
static const char *esc(const char *s, char *buf, size_t size) {
  FILE *f = s ? fmemopen(buf, size, "w") : NULL;
  if (!f)
    return "?";
  print_escaped(f, s, strlen(s), 0);
  fclose(f);
  buf[size - 1] = 0;
  return buf;
}

static void print_sockaddr(struct dump *d, const uint8_t *b, uint32_t len) {
  char buf[INET6_ADDRSTRLEN];
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, b, len < sizeof ss ? len : sizeof ss);
  if (ss.ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    fprintf(d->out, "%s:%u", inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf), ntohs(a->sin_port));
  } else if (ss.ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    fprintf(d->out, "[%s]:%u", inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf),
            ntohs(a->sin6_port));
  } else if (ss.ss_family == AF_UNIX) {
    const struct sockaddr_un *a = (const struct sockaddr_un *)&ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = len > off ? len - off : 0;
    if (n > sizeof a->sun_path)
      n = sizeof a->sun_path;
    fputs("unix:", d->out);
    if (n && a->sun_path[0] == 0) { /* abstract: "@name", its bytes as they are */
      fputc('@', d->out);
      print_escaped(d->out, a->sun_path + 1, n - 1, 0);
    } else {
      print_escaped(d->out, a->sun_path, strnlen(a->sun_path, n), 0);
    }
  } else {
    fprintf(d->out, "family=%u", ss.ss_family);
  }
}

static int is(const char *name, size_t n, const char *what) {
  return strlen(what) == n && memcmp(name, what, n) == 0;
}

static void print_stack(struct dump *d, uint64_t id) {
  const uint64_t *pcs;
  uint32_t n = ctrace_reader_stack(d->r, id, &pcs);
  for (uint32_t i = 0; i < n; i++) {
    if (d->nosym || !d->sym) {
      fprintf(d->out, "    at 0x%" PRIx64 "\n", pcs[i]);
      continue;
    }
    struct ctrace_frame f;
    char fn[1024], where[4096];
    ctrace_sym_lookup_stack(d->sym, id, pcs[i], 1, &f);
    esc(f.function, fn, sizeof fn);
    if (f.file)
      fprintf(d->out, "    at %s (%s:%d)\n", fn, esc(f.file, where, sizeof where), f.line);
    else if (f.object)
      fprintf(d->out, "    at %s (%s+0x%" PRIx64 ")\n", fn, esc(f.object, where, sizeof where),
              f.object_offset);
    else
      fprintf(d->out, "    at %s (0x%" PRIx64 ")\n", fn, pcs[i]);
  }
}

/* Prints the fields of ev after its kind, by the names in the kind table. */
static void print_fields(struct dump *d, const ctrace_event *ev, uint64_t *stack) {
  const struct ctrace_kind_info *ki = &ctrace__kinds[ev->kind];
  const char *p = ki->fields ? ki->fields : "";
  unsigned i = 0;
  *stack = 0;
  while (*p) {
    while (*p == ' ')
      p++;
    if (*p == '|') { /* the blob's name follows */
      p++;
      while (*p == ' ')
        p++;
      size_t n = strcspn(p, " ");
      fprintf(d->out, " %.*s=", (int)n, p);
      if (is(p, n, "sockaddr"))
        print_sockaddr(d, ev->blob, ev->blob_len);
      else if (is(p, n, "message") || is(p, n, "bytes")) {
        fputc('"', d->out);
        for (uint32_t k = 0; k < ev->blob_len; k++) {
          unsigned char c = ev->blob[k];
          if (c == '"' || c == '\\')
            fprintf(d->out, "\\%c", c);
          else if (c < 0x20 || c == 0x7f)
            fprintf(d->out, "\\x%02x", c);
          else
            fputc(c, d->out);
        }
        fputc('"', d->out);
      } else {
        for (uint32_t k = 0; k < ev->blob_len; k++)
          fprintf(d->out, "%02x", ev->blob[k]);
      }
      break;
    }
    size_t n = strcspn(p, " |");
    if (n == 0 || i >= ev->nfields)
      break;
    int sign = n > 2 && p[0] == 's' && p[1] == ':';
    const char *name = sign ? p + 2 : p;
    size_t nl = sign ? n - 2 : n;
    uint64_t v = ev->f[i++];
    fprintf(d->out, " %.*s=", (int)nl, name);
    if (sign)
      fprintf(d->out, "%" PRId64, ctrace__unzigzag(v));
    else if (is(name, nl, "name") || is(name, nl, "category") || is(name, nl, "path") ||
             is(name, nl, "exe") || is(name, nl, "argv"))
      print_string(d, v);
    else if (is(name, nl, "dur") || is(name, nl, "first_dt") || is(name, nl, "ns"))
      /* a span of v ticks ending at the event (FORMAT.md, "Time") */
      fprintf(d->out, "%" PRId64 "ns", ctrace_reader_ns(d->r, ev->ticks) -
                                           ctrace_reader_ns(d->r, v < ev->ticks ? ev->ticks - v : 0));
    else if (is(name, nl, "reason"))
      fputs(ctrace__wait_reason_name(v), d->out);
    else if (is(name, nl, "call"))
      fputs(ev->kind == CTRACE_EV_SOCKADDR || ev->kind == CTRACE_EV_SYSCALL ||
                    ev->kind == CTRACE_EV_PENDING
                ? ctrace__syscall_name(v)
                : "?",
            d->out);
    else if (is(name, nl, "class"))
      fputs(ctrace__syscall_class_name(v), d->out);
    else if (is(name, nl, "object") || is(name, nl, "start") || is(name, nl, "end") ||
             is(name, nl, "bias"))
      fprintf(d->out, "0x%" PRIx64, v);
    else
      fprintf(d->out, "%" PRIu64, v);
    if (is(name, nl, "stack"))
      *stack = v;
    p += n;
  }
}

static void print_defs(struct dump *d) {
  const ctrace_reader *r = d->r;
  fprintf(d->out, "# pid %u, format 1.%u, clock %s, %u clock syncs, %u strings, %u stacks\n",
          ctrace_reader_pid(r), ctrace_reader_version_minor(r),
          ctrace_reader_ticks_are_tsc(r) ? "tsc" : "monotonic", ctrace_reader_nclock_syncs(r),
          ctrace_reader_nstrings(r), ctrace_reader_nstacks(r));
  for (uint32_t i = 0; i < ctrace_reader_nprocesses(r); i++) {
    const struct ctrace_process *p = ctrace_reader_process(r, i);
    fprintf(d->out, "# process pid=%u ppid=%u exe=", p->pid, p->ppid);
    print_string(d, p->exe);
    fprintf(d->out, " argv=");
    print_string(d, p->argv);
    if (ctrace_reader_nfiles(r) > 1) { /* a process tree */
      static const char *const st[] = {"complete", "running", "cut-off", "corrupt"};
      fprintf(d->out, " parent=%d exec_from=%d status=%s file=%s", p->parent, p->exec_from,
              st[p->status & 3], ctrace_reader_file_path(r, p->file));
      if (p->has_exit)
        fprintf(d->out, " exit=%lld", (long long)p->exit_status);
      if (p->signal)
        fprintf(d->out, " signal=%u", p->signal);
    }
    fputc('\n', d->out);
  }
  for (uint32_t i = 0; i < ctrace_reader_nmappings(r); i++) {
    const struct ctrace_mapping *m = ctrace_reader_mapping(r, i);
    fprintf(d->out, "# mapping 0x%" PRIx64 "-0x%" PRIx64 " bias=0x%" PRIx64 " ", m->start, m->end,
            m->bias);
    print_string(d, m->path);
    fprintf(d->out, " build_id=");
    for (uint32_t k = 0; k < m->build_id_len; k++)
      fprintf(d->out, "%02x", m->build_id[k]);
    fputc('\n', d->out);
  }
  for (uint32_t i = 0; i < ctrace_reader_nclock_syncs(r); i++) {
    const struct ctrace_clock_sync *c = ctrace_reader_clock_sync(r, i);
    fprintf(d->out, "# clock_sync ticks=%" PRIu64 " mono_ns=%" PRIu64 " real_ns=%" PRIu64 "\n",
            c->ticks, c->mono_ns, c->real_ns);
  }
}

/* --sched: the on-CPU intervals and CPU samples, merged into the events'
 * time order (ties: before the event). */
struct sched_item {
  uint64_t ticks;
  uint32_t thread;
  const struct ctrace_oncpu *iv;        /* or */
  const struct ctrace_cpu_sample *smp;
};
static int cmp_item(const void *a, const void *b) {
  const struct sched_item *x = a, *y = b;
  return (x->ticks > y->ticks) - (x->ticks < y->ticks);
}
static struct sched_item *sched_items(const ctrace_reader *r, size_t *n) {
  const struct ctrace_cpu_sample *smp;
  uint64_t ns = ctrace_reader_samples(r, &smp);
  size_t total = (size_t)ns;
  for (uint32_t t = 0; t < ctrace_reader_nthreads(r); t++) {
    const struct ctrace_oncpu *iv;
    total += ctrace_reader_oncpu(r, t, &iv);
  }
  struct sched_item *v = malloc((total ? total : 1) * sizeof *v);
  size_t k = 0;
  for (uint32_t t = 0; v && t < ctrace_reader_nthreads(r); t++) {
    const struct ctrace_oncpu *iv;
    uint32_t m = ctrace_reader_oncpu(r, t, &iv);
    for (uint32_t i = 0; i < m; i++)
      v[k++] = (struct sched_item){iv[i].start, t, &iv[i], NULL};
  }
  for (uint64_t i = 0; v && i < ns; i++)
    v[k++] = (struct sched_item){smp[i].ticks, smp[i].thread, NULL, &smp[i]};
  if (v && k)
    qsort(v, k, sizeof *v, cmp_item);
  *n = v ? k : 0;
  return v;
}
static void print_item(struct dump *d, const struct sched_item *it) {
  static const char *const left[] = {"blocked", "preempted", "at_stop", "unknown"};
  uint32_t tid = ctrace_reader_thread(d->r, it->thread)->tid;
  fprintf(d->out, "%12" PRId64 " %7u ", ctrace_reader_ns(d->r, it->ticks), tid);
  if (it->iv) {
    fprintf(d->out, "ON_CPU cpu=%u dur=%" PRId64 " left=%s%s\n", it->iv->cpu,
            ctrace_reader_ns(d->r, it->iv->end) - ctrace_reader_ns(d->r, it->iv->start),
            left[it->iv->left & 3], it->iv->start_unknown ? " start=unknown" : "");
  } else {
    fprintf(d->out, "CPU_SAMPLE cpu=%u stack=%" PRIu64 "\n", it->smp->cpu, it->smp->stack);
    if (it->smp->stack && d->stacks)
      print_stack(d, it->smp->stack);
  }
}

/* --raw: the entries of SCHED and SAMPLES blobs, decoded, one line each
 * after their record (FORMAT.md). */
struct raw_sched {
  const ctrace_reader *r;
  FILE *out;
};
static void raw_entry(void *arg, const struct ctrace_sched_entry *e, int sample) {
  struct raw_sched *rs = arg;
  if (sample)
    fprintf(rs->out, "# sample cpu %u tid %u ticks %" PRIu64 " ns %" PRId64 " stack %" PRIu64 "\n",
            e->cpu, e->tid, e->start, ctrace_reader_ns(rs->r, e->start), e->flags);
  else
    fprintf(rs->out,
            "# oncpu cpu %u tid %u ticks %" PRIu64 " %" PRIu64 " ns %" PRId64 " %" PRId64
            " left %u start_unknown %u\n",
            e->cpu, e->tid, e->start, e->end, ctrace_reader_ns(rs->r, e->start),
            ctrace_reader_ns(rs->r, e->end), (unsigned)(e->flags & CTRACE_SCHED_LEFT_MASK),
            (unsigned)((e->flags & CTRACE_SCHED_START_UNKNOWN) != 0));
}
static void raw_iv(void *arg, const struct ctrace_sched_entry *e) { raw_entry(arg, e, 0); }
static void raw_smp(void *arg, const struct ctrace_sched_entry *e) { raw_entry(arg, e, 1); }

static void raw_sched(const ctrace_reader *r, FILE *out, const ctrace_event *ev) {
  struct raw_sched rs = {r, out};
  int rc = 0;
  if (ev->kind == CTRACE_EV_SCHED) {
    rc = ctrace_decode_sched(ev->blob, ev->blob_len, raw_iv, &rs);
  } else if (ev->kind == CTRACE_EV_SAMPLES) {
    rc = ctrace_decode_samples(ev->blob, ev->blob_len, raw_smp, &rs);
  } else if (ev->kind == CTRACE_EV_SCHED_LOST) {
    uint32_t cpu;
    uint64_t t, lost;
    rc = ctrace_decode_sched_lost(ev->blob, ev->blob_len, &cpu, &t, &lost);
    if (rc == 0)
      fprintf(out, "# sched_lost cpu %u ticks %" PRIu64 " lost %" PRIu64 "\n", cpu, t, lost);
  } else {
    return;
  }
  if (rc < 0)
    fputs("# bad blob\n", out);
}

/* --raw: every record of every batch that decoded, in file order, as
 * stored: "OFFSET TID KIND TICKS NS FIELD... [| BLOBHEX]" (see FORMAT.md,
 * "A worked example"). */
static void dump_raw(const ctrace_reader *r, FILE *out) {
  const uint8_t *data = ctrace_reader_data(r);
  fprintf(out, "# version 1.%u tsc %d pid %u tick_hz %" PRIu64 "\n",
          ctrace_reader_version_minor(r), ctrace_reader_ticks_are_tsc(r), ctrace_reader_pid(r),
          ctrace_reader_tick_hz(r));
  uint32_t nf = ctrace_reader_nfiles(r), cur = UINT32_MAX;
  for (uint32_t i = 0; i < ctrace_reader_nbatches(r); i++) {
    const struct ctrace_batch_info *b = ctrace_reader_batch(r, i);
    if (nf > 1 && (cur == UINT32_MAX || b->offset < ctrace_reader_file_base(r, cur) ||
                   b->offset - ctrace_reader_file_base(r, cur) >=
                       ctrace_reader_file_size(ctrace_reader_file(r, cur)))) {
      /* a process tree: offsets are the tree's (the file's plus its base) */
      for (cur = 0; cur + 1 < nf; cur++) {
        uint64_t base = ctrace_reader_file_base(r, cur);
        if (b->offset >= base && b->offset - base < ctrace_reader_file_size(ctrace_reader_file(r, cur)))
          break;
      }
      const ctrace_reader *f = ctrace_reader_file(r, cur);
      fprintf(out, "# file %s pid %u base %" PRIu64 "\n", ctrace_reader_file_path(r, cur),
              ctrace_reader_pid(f), ctrace_reader_file_base(r, cur));
    }
    fprintf(out, "# batch %" PRIu64 " tid %u flags 0x%x seq %" PRIu64 " base %" PRIu64
                 " len %u\n",
            b->offset, b->tid, b->flags, b->seq, b->base, b->len);
    const uint8_t *p = data + b->offset + CTRACE_BATCH_HEADER_SIZE, *end = p + b->evlen;
    uint64_t ticks = b->base;
    struct ctrace_batch_state rel = {0};
    while (p < end) {
      ctrace_event ev;
      const char *why;
      uint64_t off = (uint64_t)(p - data);
      p = ctrace_decode_batch_event(b, &rel, p, end, &ticks, &ev, &why); /* values (1.3) */
      if (!p)
        break; /* cannot happen: the batch validated */
      fprintf(out, "%" PRIu64 " %u 0x%02x %" PRIu64, off, b->tid, ev.kind, ev.ticks);
      if (b->tid)
        fprintf(out, " %" PRId64, ctrace_reader_ns(r, ev.ticks));
      else
        fputs(" -", out);
      for (unsigned k = 0; k < ev.nfields; k++)
        fprintf(out, " %" PRIu64, ev.f[k]);
      if (ev.blob) {
        fputs(" |", out);
        if (ev.blob_len)
          fputc(' ', out);
        for (uint32_t k = 0; k < ev.blob_len; k++)
          fprintf(out, "%02x", ev.blob[k]);
      }
      fputc('\n', out);
      if (!b->tid)
        raw_sched(r, out, &ev);
    }
  }
  if (ctrace_reader_status(r) == CTRACE_READ_OK)
    fprintf(out, "# complete\n");
  else
    fprintf(out, "# %s at offset %" PRIu64 "\n",
            ctrace_reader_status(r) == CTRACE_READ_TRUNCATED ? "cut off" : "corrupt",
            ctrace_reader_error_offset(r));
}

int ctrace_cmd_dump(int argc, char **argv) {
  const struct ctrace_cmd *cmd = &ctrace_cmd_dump_def;
  struct dump d = {.stacks = 1, .out = stdout};
  int defs = 0, raw = 0, sched = 0;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (ctrace_cli_wants_help(cmd, argv[i]))
      return CTRACE_EXIT_OK;
    if (strcmp(argv[i], "--no-stacks") == 0)
      d.stacks = 0;
    else if (strcmp(argv[i], "--raw") == 0)
      raw = 1;
    else if (strcmp(argv[i], "--no-symbols") == 0)
      d.nosym = 1;
    else if (strcmp(argv[i], "--defs") == 0)
      defs = 1;
    else if (strcmp(argv[i], "--sched") == 0)
      sched = 1;
    else if (ctrace_cli_operand(cmd, argv[i], &path, "FILE"))
      return CTRACE_EXIT_USAGE;
  }
  if (!path)
    return ctrace_cli_usage_error(cmd, "FILE missing");
  ctrace_reader *r = ctrace_cli_open(cmd->name, path);
  if (!r)
    return CTRACE_EXIT_FAIL;
  d.r = r;
  if (raw) {
    dump_raw(r, d.out);
    int status = ctrace_cli_read_status(r);
    ctrace_reader_close(r);
    return status;
  }
  if (d.stacks && !d.nosym)
    d.sym = ctrace_sym_new(r);
  if (defs)
    print_defs(&d);
  size_t nitems = 0, next = 0;
  struct sched_item *items = sched ? sched_items(r, &nitems) : NULL;
  ctrace_merge *m = ctrace_merge_new(r);
  ctrace_event ev;
  while (m && ctrace_merge_next(m, &ev)) {
    while (next < nitems && items[next].ticks <= ev.ticks)
      print_item(&d, &items[next++]);
    const char *kname = ctrace__kinds[ev.kind].name;
    /* ns since the trace's start, the origin every command uses */
    fprintf(d.out, "%12" PRId64 " %7u ", ctrace_reader_ns(r, ev.ticks), ev.tid);
    if (kname)
      fputs(kname, d.out);
    else
      fprintf(d.out, "KIND_0x%02x", ev.kind);
    uint64_t stack = 0;
    print_fields(&d, &ev, &stack);
    fputc('\n', d.out);
    if (stack && d.stacks)
      print_stack(&d, stack);
  }
  while (next < nitems)
    print_item(&d, &items[next++]);
  free(items);
  ctrace_merge_free(m);
  ctrace_sym_free(d.sym);
  int status = ctrace_cli_read_status(r);
  ctrace_reader_close(r);
  return status;
}
