/*
 * reader.h - the one reader of ctrace files. Every tool (dump, stats, the
 * viewer's indexer, exports, the fuzz target) decodes traces through it.
 *
 * Opening a trace maps it and makes one validating pass: it checks the file
 * header, walks the batches (checking each one's CRC-32C in 1.1 files),
 * decodes every event once, gathers definitions (strings, stacks, mappings,
 * processes, clock syncs) and builds an index of batches per thread;
 * cross-thread facts (creation links, names set by another thread, tid
 * reuse) are resolved once at its end, with hash tables. A file cut off
 * mid-write (a crash, a zero-filled tail, no END record) opens fine up to its
 * last complete batch; the reader says where it stopped. Corrupt input gives
 * an error naming the byte offset of the first bad byte (of the damaged
 * batch, when its checksum fails), and what came before it stays readable.
 * docs/FORMAT.md states every rule this reader follows. Memory is bounded by a small multiple of the file size;
 * nothing in a file can make it allocate more, loop or read out of bounds.
 *
 * Events are then decoded on demand, per thread or merged in time order.
 * Not here: thread states, spans and statistics (src/analyze/).
 */
#ifndef CTRACE_READER_H
#define CTRACE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "../format/format.h"

/* How the validating pass ended. */
enum ctrace_read_status {
  CTRACE_READ_OK = 0,        /* the whole file decoded */
  CTRACE_READ_TRUNCATED = 1, /* the file ends inside a batch: a crash or a copy in progress */
  CTRACE_READ_CORRUPT = 2,   /* bad bytes at error_offset; what came before is readable */
};

/* Opening fails only when nothing at all is readable (missing file, bad file
 * header, unknown major version); then *err says why, with the offset. */
#define CTRACE_READ_ERRLEN 256

typedef struct ctrace_event {
  uint64_t ticks;  /* absolute, in the trace's clock (see ctrace_reader_ns) */
  uint64_t offset; /* file offset of the event's kind byte */
  uint32_t tid;    /* thread it happened on (0 for definitions) */
  uint8_t kind;    /* enum ctrace_kind, or an unknown sized kind >= 0x80 */
  uint8_t nfields;
  uint64_t f[CTRACE_MAX_FIELDS];
  const uint8_t *blob; /* points into the mapped file */
  uint32_t blob_len;
} ctrace_event;

struct ctrace_batch_info {
  uint64_t offset; /* of the batch header */
  uint64_t base;   /* ticks */
  uint64_t first, last; /* ticks of its first and last event */
  uint64_t seq;
  uint32_t len;    /* payload bytes */
  uint32_t evlen;  /* of which events (all but the 1.1 checksum trailer) */
  uint32_t tid;
  uint32_t flags;
  uint32_t nevents;
  uint32_t thread; /* index of its thread (data batches), UINT32_MAX for metadata */
  uint32_t relative; /* 1: a data batch of a 1.3 file, whose relative fields
                      * decode against the batch (docs/FORMAT.md) */
  uint32_t repeat;   /* 1: a data batch of a 1.4 file, whose events may leave
                      * out fields they repeat (docs/FORMAT.md) */
};

struct ctrace_string {
  const char *s; /* into the mapped file: NOT NUL-terminated */
  uint32_t len;
};

struct ctrace_mapping {
  uint64_t start, end, bias;
  uint32_t path; /* string id */
  const uint8_t *build_id;
  uint32_t build_id_len;
};

/* How a process's file ends (struct ctrace_process.status). */
enum ctrace_proc_status {
  CTRACE_PROC_COMPLETE = 0, /* the file ends with its END record */
  CTRACE_PROC_RUNNING = 1,  /* no END yet and its writer still holds the file: still running */
  CTRACE_PROC_CUT = 2,      /* no END and nobody writes it: killed, crashed or copied early */
  CTRACE_PROC_CORRUPT = 3,  /* bad bytes: read up to them */
};

/* A process image: the PROCESS record of its file (a file without one gets
 * an entry from its header). In a process tree (ctrace_reader_open_tree),
 * process i is the one of file i, and its fields link it to the others. */
struct ctrace_process {
  uint32_t pid, ppid;
  uint32_t exe, argv; /* string ids; argv items separated by 0x1f */
  uint32_t file;      /* index of its file (ctrace_reader_file_path) */
  int32_t parent;     /* index of the parent's image at this one's start, -1: not traced */
  int32_t exec_from;  /* the image of the same pid this one replaced by exec, -1 */
  int32_t exec_to;    /* the image that replaced this one by exec, -1 */
  uint64_t first, last; /* ticks of its first and last event */
  uint32_t status;    /* enum ctrace_proc_status */
  uint32_t signal;    /* fatal signal recorded (SIGNAL), 0 */
  int has_exit;       /* an EXIT record: exit_status is the status passed to exit() */
  int64_t exit_status;
  uint32_t nthreads;
  uint64_t nevents;
};

struct ctrace_clock_sync {
  uint64_t ticks, mono_ns, real_ns;
};

/* What the validating pass learned of one thread. A thread is not a tid:
 * when the kernel gives a tid again to a later thread (tid reuse), that
 * thread has an entry of its own, with instance one higher. */
struct ctrace_thread_info {
  uint32_t tid;
  uint32_t instance;   /* 0 for the first thread with this tid, 1 for the next... */
  uint32_t name;       /* string id of its last name (set by any thread; for an
                        * unnamed main thread, the program's basename), 0 if none */
  uint64_t first, last; /* ticks of its first and last event */
  uint64_t nevents;
  uint64_t dropped;    /* events the recorder reported lost */
  uint64_t start_link; /* THREAD_START link (0: none) */
  uint32_t created_by; /* tid of the THREAD_CREATE with that link, 0 if unknown */
  uint64_t created_at; /* ticks of that THREAD_CREATE (0 if unknown) */
  uint32_t exited;     /* saw THREAD_EXIT */
  uint64_t tracer_ns;  /* TRACER_TIME, in ticks as recorded */
  uint64_t tracer_events;
  uint32_t *batches;   /* indexes into the batch table, in sequence order */
  uint32_t nbatches;
  uint32_t process;    /* index of its process (ctrace_reader_process); 0 in a
                        * trace of one file */
};

typedef struct ctrace_reader ctrace_reader;

/* Opens and validates path. Returns 0, or -1 with a message in err. */
int ctrace_reader_open(const char *path, ctrace_reader **out, char *err, size_t errlen);
/* The same over memory the caller keeps alive until close. */
int ctrace_reader_open_mem(const void *data, size_t len, ctrace_reader **out, char *err,
                           size_t errlen);
void ctrace_reader_close(ctrace_reader *r);

/*
 * Process trees (docs/FORMAT.md, "Process trees"). `ctrace run` leaves one
 * file per process image, all with the same PROPERTY run=ID. These open
 * several files as ONE reader: each file is validated as on its own, mapped
 * at its own base inside one address range (event, batch and error offsets
 * are offsets in that range: file i starts at ctrace_reader_file_base), and
 * its stacks and mappings get ids of their own in the tree, its strings
 * one id per distinct text across the tree (events decoded by cursors carry
 * the tree's ids). Threads name their process; the
 * processes link to their parents and exec chains; all ticks are on one
 * clock (the union of the files' clock syncs, one origin: the earliest).
 * Files of different clock kinds (TSC, CLOCK_MONOTONIC) are refused.
 *
 * open_tree: path is a file: it and the files of the same run beside it
 * (STEM.PID.ctrace, STEM.PID-N.ctrace; those of another run are ignored);
 * a directory: every *.ctrace file in it. open_files: exactly these files.
 * A tree of one file is opened as ctrace_reader_open opens it.
 */
int ctrace_reader_open_tree(const char *path, ctrace_reader **out, char *err, size_t errlen);
int ctrace_reader_open_files(const char *const *paths, size_t n, ctrace_reader **out, char *err,
                             size_t errlen);
/* 1 when ctrace_reader_open_tree(path) would open more than path: path is
 * a directory, or files of a child process are beside it (a directory
 * listing, no file is read). */
int ctrace_reader_is_tree(const char *path);
/* The files of a reader (1 for a trace of one file), the path each was
 * opened from ("" for one file opened alone), its base in the offsets, and
 * a reader of its own for its header, properties, status and error (only
 * those: its events are read through the tree). */
uint32_t ctrace_reader_nfiles(const ctrace_reader *r);
/* The mappings of file i (its process's address space): indexes
 * [*first, *first + returned count) of ctrace_reader_mapping. */
uint32_t ctrace_reader_file_mappings(const ctrace_reader *r, uint32_t i, uint32_t *first);
const char *ctrace_reader_file_path(const ctrace_reader *r, uint32_t i);
uint64_t ctrace_reader_file_base(const ctrace_reader *r, uint32_t i);
const ctrace_reader *ctrace_reader_file(const ctrace_reader *r, uint32_t i);

/* How the validating pass ended, where, and why ("" when OK). */
enum ctrace_read_status ctrace_reader_status(const ctrace_reader *r);
uint64_t ctrace_reader_error_offset(const ctrace_reader *r);
const char *ctrace_reader_error(const ctrace_reader *r);
/* Bytes of the file that decoded (header + complete batches). */
uint64_t ctrace_reader_good_bytes(const ctrace_reader *r);
uint64_t ctrace_reader_file_size(const ctrace_reader *r);

/* The file's bytes (for tools that walk batches themselves). */
const uint8_t *ctrace_reader_data(const ctrace_reader *r);

/* The file header. */
uint32_t ctrace_reader_pid(const ctrace_reader *r);
unsigned ctrace_reader_version_minor(const ctrace_reader *r);
int ctrace_reader_ticks_are_tsc(const ctrace_reader *r);

/* Time: ticks to nanoseconds since the trace's start (its first clock sync;
 * without one, its first event), exactly as docs/FORMAT.md "Time" says:
 * piecewise linear between consecutive CLOCK_SYNCs, 128-bit intermediates,
 * rounded down. Every tool prints and accepts times from this origin. */
int64_t ctrace_reader_ns(const ctrace_reader *r, uint64_t ticks);
/* Inverse of ctrace_reader_ns (rounded down). */
uint64_t ctrace_reader_ticks(const ctrace_reader *r, int64_t ns);
/* The trace's end since its start: its last event or last clock sync (the
 * stop), whichever is later. */
int64_t ctrace_reader_end_ns(const ctrace_reader *r);
/* Ticks per second as the recorder measured it (1.1 header), 0 if unknown. */
uint64_t ctrace_reader_tick_hz(const ctrace_reader *r);
/* 1 when the trace is complete: it decoded whole and ends with the END
 * record (version 1.0 files, which have none: whenever they decode whole).
 * A 1.1 trace without END reads as CTRACE_READ_TRUNCATED ("cut off"). */
int ctrace_reader_complete(const ctrace_reader *r);
/* Records of kinds 0x80..0xff this reader does not know: skipped (never
 * returned by cursors) and counted here. */
uint64_t ctrace_reader_nunknown(const ctrace_reader *r);
/* PROPERTY records (1.2): what the trace recorded, as key=value. The value
 * of key (the last record with that key wins), or NULL when the trace has
 * none (always for 1.0/1.1 files). Keys ctrace writes: see docs/FORMAT.md,
 * PROPERTY. Valid until the reader is closed. */
const char *ctrace_reader_property(const ctrace_reader *r, const char *key);
/* All properties in file order, "key=value" each. */
size_t ctrace_reader_nproperties(const ctrace_reader *r);
const char *ctrace_reader_property_at(const ctrace_reader *r, size_t i);
/* CLOCK_REALTIME at the trace's start, in ns since the epoch (0 if unknown). */
uint64_t ctrace_reader_start_realtime(const ctrace_reader *r);
/* First and last event of any thread, in ticks. */
uint64_t ctrace_reader_first_ticks(const ctrace_reader *r);
uint64_t ctrace_reader_last_ticks(const ctrace_reader *r);

/* Totals of the validating pass. */
uint64_t ctrace_reader_nevents(const ctrace_reader *r); /* thread events, not definitions */
uint64_t ctrace_reader_nevents_kind(const ctrace_reader *r, unsigned kind);
uint64_t ctrace_reader_dropped(const ctrace_reader *r);

/* Definitions. Ids start at 1; 0 and unknown ids give NULL / "". The
 * strings of the file come first; ids past them are derived by the reader
 * (the program's basename that names an unnamed main thread). */
uint32_t ctrace_reader_nstrings(const ctrace_reader *r);
const struct ctrace_string *ctrace_reader_string(const ctrace_reader *r, uint64_t id);
/* Copies string id into buf, NUL-terminated and cut to size; returns buf. */
const char *ctrace_reader_strcpy(const ctrace_reader *r, uint64_t id, char *buf, size_t size);
uint32_t ctrace_reader_nstacks(const ctrace_reader *r);
/* The PCs of stack id, innermost first; returns how many (0 if unknown). */
uint32_t ctrace_reader_stack(const ctrace_reader *r, uint64_t id, const uint64_t **pcs);
/* The process (ctrace_reader_process index) whose file defined stack id:
 * in a tree each file has its own stacks; 0 for one file, UINT32_MAX for
 * an unknown id. */
uint32_t ctrace_reader_stack_process(const ctrace_reader *r, uint64_t id);
uint32_t ctrace_reader_nmappings(const ctrace_reader *r);
const struct ctrace_mapping *ctrace_reader_mapping(const ctrace_reader *r, uint32_t i);
uint32_t ctrace_reader_nprocesses(const ctrace_reader *r);
const struct ctrace_process *ctrace_reader_process(const ctrace_reader *r, uint32_t i);
uint32_t ctrace_reader_nclock_syncs(const ctrace_reader *r);
const struct ctrace_clock_sync *ctrace_reader_clock_sync(const ctrace_reader *r, uint32_t i);

/* Threads, in order of first event. */
uint32_t ctrace_reader_nthreads(const ctrace_reader *r);
const struct ctrace_thread_info *ctrace_reader_thread(const ctrace_reader *r, uint32_t i);
/* Where thread ti's life ends when it has no THREAD_EXIT: the trace's last
 * event (ctrace_reader_last_ticks); in a process tree, its process's stop. */
uint64_t ctrace_reader_thread_end(const ctrace_reader *r, uint32_t ti);
/* Index of thread tid (the latest thread with that tid), or -1. */
int64_t ctrace_reader_thread_index(const ctrace_reader *r, uint32_t tid);
/* Index of the thread that had tid at ticks (the earliest of the threads
 * with that tid whose last event is not before ticks, else the latest), or
 * -1. For events that name another thread (WAKE, THREAD_NAME). */
int64_t ctrace_reader_thread_index_at(const ctrace_reader *r, uint32_t tid, uint64_t ticks);
uint32_t ctrace_reader_nbatches(const ctrace_reader *r);
const struct ctrace_batch_info *ctrace_reader_batch(const ctrace_reader *r, uint32_t i);

/*
 * Decoding events of one thread, in order. A cursor is a small value; copy
 * it to remember a position. Events of batches past the validated part are
 * never returned.
 */
typedef struct ctrace_cursor {
  const ctrace_reader *r;
  const struct ctrace_thread_info *th;
  uint32_t batch;     /* position in th->batches */
  uint32_t tid;       /* th->tid */
  const uint8_t *data; /* r->data: event offsets count from it */
  const uint8_t *p, *end;
  uint64_t ticks;
  uint64_t base_off;  /* file offset of p's batch payload start */
  const uint8_t *payload;
  /* In a tree: the thread's file's string ids as the tree's (one per
   * text), its first stack id in the tree, and how many of each it defines
   * (ids past them decode as unknown). */
  const uint32_t *smap;
  uint64_t kbase;
  uint32_t snum, knum;
  /* The file's pid << CTRACE_TASK_PID_SHIFT: what an older recorder's
   * per-process task ids (below 2^31) get to stay apart from another
   * process's (docs/FORMAT.md, "Task ids"); 0 for one file. */
  uint64_t task_hi;
  uint64_t link_hi; /* (file index + 1) << 32: links are per file */
  int shift;
  int relative;         /* nonzero: the batch's fields are relative (1.3); their state */
  struct ctrace_rel rel;
  struct ctrace_repeat rep; /* the last stored fields of each kind (1.4) */
} ctrace_cursor;

void ctrace_cursor_init(ctrace_cursor *c, const ctrace_reader *r, uint32_t thread_index);
/* Positions the cursor at batch position bpos of the thread (0-based). */
void ctrace_cursor_seek_batch(ctrace_cursor *c, uint32_t bpos);
/* 1 with *ev filled, or 0 at the end. */
int ctrace_cursor_next(ctrace_cursor *c, ctrace_event *ev);
/* Like ctrace_cursor_next, also returning the thread's records of kinds
 * 0x80 and above (SPAWN, FD, SHARED: kind and blob, no fields). */
int ctrace_cursor_next_record(ctrace_cursor *c, ctrace_event *ev);

/* Every thread event of the trace in time order (ties: by thread, then file
 * order). */
typedef struct ctrace_merge ctrace_merge;
ctrace_merge *ctrace_merge_new(const ctrace_reader *r);
int ctrace_merge_next(ctrace_merge *m, ctrace_event *ev);
void ctrace_merge_free(ctrace_merge *m);

/*
 * Decodes the event at p (inside [p, end)), whose time delta is added to
 * *ticks. Returns the byte after it, or NULL when it is malformed (then
 * *why says what). The primitive under everything above; exposed for tests
 * and the fuzz target.
 */
const uint8_t *ctrace_decode_event(const uint8_t *p, const uint8_t *end, uint64_t *ticks,
                                   ctrace_event *ev, const char **why);

/* What decoding a batch's records in order keeps: the relative fields'
 * state (1.3) and the last stored fields of each kind (1.4). */
struct ctrace_batch_state {
  struct ctrace_rel rel;
  struct ctrace_repeat rep;
};

/*
 * ctrace_decode_event() for the records of batch b, in order from its
 * start, with *st zeroed there: in a 1.4 data batch it also reads the
 * fields an event repeats ("Repeated fields"), in a 1.3 data batch it
 * turns the stored relative fields and times into their values
 * (docs/FORMAT.md, "Relative fields"); elsewhere it is
 * ctrace_decode_event().
 */
const uint8_t *ctrace_decode_batch_event(const struct ctrace_batch_info *b,
                                         struct ctrace_batch_state *st,
                                         const uint8_t *p, const uint8_t *end, uint64_t *ticks,
                                         ctrace_event *ev, const char **why);

/* Decodes a STACK blob into pcs (at most max); returns the count or -1. */
int ctrace_decode_pcs(const uint8_t *blob, uint32_t len, uint64_t *pcs, int max);

/*
 * Scheduling (1.2): the kernel's records of the traced process, SCHED,
 * SAMPLES and SCHED_LOST in metadata batches (docs/FORMAT.md). Decoded at
 * open; a blob that does not decode is ignored from its bad byte on (and
 * counted). Intervals and samples are matched to thread instances by tid
 * and time (as WAKE's tid is); those of tids no thread of the trace has are
 * counted, not kept. An exited thread's interval whose switch-out was not
 * seen (the kernel records none for an exiting thread) ends at the
 * thread's last event, its THREAD_EXIT.
 */
struct ctrace_oncpu {
  uint64_t start, end; /* ticks */
  uint32_t cpu;
  uint8_t left;          /* CTRACE_SCHED_LEFT_*: how the thread left the CPU */
  uint8_t start_unknown; /* start is a lower bound (the switch-in was not seen) */
};
struct ctrace_cpu_sample {
  uint64_t ticks;
  uint32_t thread; /* index */
  uint32_t cpu;
  uint64_t stack;  /* stack id, 0: none */
};
/* The on-CPU intervals of thread index ti, in time order; returns how many. */
uint32_t ctrace_reader_oncpu(const ctrace_reader *r, uint32_t ti, const struct ctrace_oncpu **out);
/* The times (ticks, in order) of the recorded wake-ups of thread ti: the
 * WAKE events of other threads that name it. Only in traces with
 * scheduling data (0 otherwise). */
uint32_t ctrace_reader_wakes(const ctrace_reader *r, uint32_t ti, const uint64_t **out);
/* All samples, in time order; returns how many. */
uint64_t ctrace_reader_samples(const ctrace_reader *r, const struct ctrace_cpu_sample **out);
/* Index of the first sample at or after ns (the count when none is). */
uint64_t ctrace_reader_sample_at(const ctrace_reader *r, int64_t ns);
struct ctrace_sched_totals {
  int recorded;          /* the trace has scheduling records */
  uint64_t intervals;    /* on-CPU intervals (one per context switch out) */
  uint64_t samples;
  uint64_t lost;         /* records the kernel's rings lost (PERF_RECORD_LOST) */
  uint64_t unmatched;    /* intervals and samples of tids with no thread */
  uint64_t bad;          /* blobs that did not decode whole */
  uint64_t sched_bytes;  /* file bytes of the SCHED records (kind byte to blob end) */
  uint32_t ncpus;        /* highest CPU number seen + 1 */
};
void ctrace_reader_sched_totals(const ctrace_reader *r, struct ctrace_sched_totals *out);

/* One entry of a SCHED blob, as stored (tid, not thread); one of a SAMPLES
 * blob. The decoders call fn per entry and return 0, or -1 at the first
 * byte that does not decode. For dump --raw and tests. */
struct ctrace_sched_entry {
  uint32_t cpu, tid;
  uint64_t start, end; /* ticks; for a sample, both its time */
  uint64_t flags;      /* SCHED: CTRACE_SCHED_*; SAMPLES: the stack id */
};
typedef void (*ctrace_sched_entry_fn)(void *arg, const struct ctrace_sched_entry *e);
int ctrace_decode_sched(const uint8_t *blob, uint32_t len, ctrace_sched_entry_fn fn, void *arg);
int ctrace_decode_samples(const uint8_t *blob, uint32_t len, ctrace_sched_entry_fn fn, void *arg);
/* SCHED_LOST: cpu, ticks, count; 0 or -1. */
int ctrace_decode_sched_lost(const uint8_t *blob, uint32_t len, uint32_t *cpu, uint64_t *ticks,
                             uint64_t *lost);

#endif /* CTRACE_READER_H */
