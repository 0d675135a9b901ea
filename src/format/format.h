/*
 * format.h - the ctrace file format as code: header and batch layouts, the
 * table of event kinds, and the varint encoding shared by writer and reader.
 *
 * docs/FORMAT.md is the prose twin of this file; a test checks that every
 * kind below is described there. This header holds no policy (what to record,
 * when to flush): that is src/record/; nor decoding state: that is src/read/.
 */
#ifndef CTRACE_FORMAT_H
#define CTRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* File header, little-endian: 32 bytes in version 1.0, 40 from 1.1 (the
 * tick rate at offset 32). Readers accept any size from 32 up to
 * CTRACE_FILE_HEADER_MAX (later minor versions add fields at the end). */
#define CTRACE_FILE_MAGIC "\x7f" "CTRACE\n"
#define CTRACE_FILE_MAGIC_LEN 8
#define CTRACE_FORMAT_MAJOR 1
#define CTRACE_FORMAT_MINOR 4
/* From 1.3 some fields of thread events are stored relative to the batch
 * (docs/FORMAT.md, "Relative fields"): below. */
#define CTRACE_FORMAT_MINOR_RELATIVE 3
/* From 1.4 a thread event may leave out the fields it repeats from the
 * last event of its kind in the batch (docs/FORMAT.md, "Repeated
 * fields"): below. */
#define CTRACE_FORMAT_MINOR_REPEAT 4
#define CTRACE_FILE_HEADER_SIZE_1_0 32
#define CTRACE_FILE_HEADER_SIZE 40
#define CTRACE_FILE_HEADER_MAX 4096
/* PROPERTY records (1.2): longest blob, and most per trace a reader keeps. */
#define CTRACE_PROPERTY_MAX 1024
#define CTRACE_PROPERTIES_MAX 256
#define CTRACE_FILE_TICK_HZ_OFF 32 /* u64: ticks per second, 0 if unknown (1.1) */
/* header flags */
#define CTRACE_FILE_TICKS_TSC 0x1u /* event ticks are TSC cycles (else ns) */

/* Batch header: 32 bytes, little-endian. */
#define CTRACE_BATCH_MAGIC 0x31425443u /* "CTB1" */
#define CTRACE_BATCH_HEADER_SIZE 32
#define CTRACE_BATCH_MAX_PAYLOAD (16u << 20)
/* batch flags */
#define CTRACE_BATCH_META 0x1u /* definitions (strings, stacks, maps, clocks) */
/* From 1.1 every batch's payload ends with a CHECKSUM event of exactly these
 * 7 bytes: 0x80 0x00 0x04 and the CRC-32C (little-endian) of the batch
 * header and the payload before the trailer. */
#define CTRACE_BATCH_TRAILER_SIZE 7

/* Limits every writer keeps and every reader enforces. */
#define CTRACE_MAX_STACK_DEPTH 128
#define CTRACE_MAX_BLOB (1u << 20)
#define CTRACE_MAX_FIELDS 7
/* The longest fixed-field event: kind + delta + 7 fields, 10 bytes each. */
#define CTRACE_MAX_FIXED_EVENT (1 + 10 * (1 + CTRACE_MAX_FIELDS))

/*
 * Event kinds. X(NAME, code, nfields, blob, "field names", "meaning")
 *
 * Every event is: kind (1 byte), time delta (uvarint, ticks since the previous
 * event of the batch, the first one since the batch's base time), nfields
 * uvarints, then, when blob is 1, a uvarint length and that many bytes.
 * Fields documented as "s:" are zigzag-encoded signed values.
 * Kinds 0x80..0xff that a reader does not know are skipped: they are always
 * encoded as kind, delta, length, bytes. Kinds 0x01..0x7f not in this table
 * are corruption.
 */
#define CTRACE_EVENT_KINDS(X)                                                                   \
  /* definitions: only in META batches */                                                       \
  X(CLOCK_SYNC, 0x01, 3, 0, "tsc mono_ns real_ns", "ticks read at the same instant as CLOCK_MONOTONIC and CLOCK_REALTIME") \
  X(STRING, 0x02, 1, 1, "id | bytes", "defines string id (ids are dense, from 1, in order)")     \
  X(STACK, 0x03, 1, 1, "id | pcs", "defines stack id; blob: zigzag deltas of PCs, innermost first") \
  X(MAPPING, 0x04, 4, 1, "start end bias path | build_id", "an executable mapping of a loaded object") \
  X(PROCESS, 0x05, 4, 0, "pid ppid exe argv", "the traced process; exe and argv are string ids (argv items separated by byte 0x1f)") \
  /* thread life */                                                                             \
  X(THREAD_START, 0x10, 1, 0, "link", "first event of a thread; link pairs it with THREAD_CREATE (0: unknown)") \
  X(THREAD_EXIT, 0x11, 0, 0, "", "the thread ended")                                            \
  X(THREAD_NAME, 0x12, 2, 0, "tid name", "thread tid is named name (a string id)")              \
  X(THREAD_CREATE, 0x13, 2, 0, "link stack", "this thread created another one")                \
  X(DROPPED, 0x14, 2, 0, "count first_dt", "count events of this thread were lost, the first first_dt ticks ago") \
  X(TRACER_TIME, 0x15, 2, 0, "ns events", "cumulative time this thread spent in the tracer")    \
  /* user annotations */                                                                        \
  X(TASK_BEGIN, 0x20, 4, 0, "task parent name stack", "a task starts")                          \
  X(TASK_END, 0x21, 1, 0, "task", "a task ends")                                                \
  X(REGION_BEGIN, 0x22, 3, 0, "task name stack", "a region starts on this thread")             \
  X(REGION_END, 0x23, 0, 0, "", "the innermost open region of this thread ends")               \
  X(LOG, 0x24, 3, 1, "task category stack | message", "a log message")                          \
  X(COUNTER, 0x25, 2, 0, "name s:value", "a counter's value")                                   \
  /* blocking and system calls (recorded by ctrace run) */                                      \
  X(WAIT, 0x30, 4, 0, "reason object dur stack", "the thread was blocked for dur ticks ending now") \
  X(WAKE, 0x31, 4, 0, "tid object reason stack", "this thread woke thread tid")                \
  X(SYSCALL, 0x32, 6, 0, "call class fd s:result dur stack", "a system call that took dur ticks, ending now") \
  X(SOCKADDR, 0x33, 2, 1, "fd call | sockaddr", "the peer address of socket fd, from call")     \
  X(FORK, 0x34, 2, 0, "child_pid stack", "the process forked")                                  \
  X(EXEC, 0x35, 2, 0, "path stack", "the process is about to exec path (a string id)")         \
  X(EXIT, 0x36, 1, 0, "s:status", "the process exits with status")                             \
  X(SIGNAL, 0x37, 2, 0, "signo stack", "a fatal signal was delivered")                       \
  X(PENDING, 0x38, 6, 0, "reason call class object dur stack", "at stop, the thread is inside a blocking call that began dur ticks ago and has not returned: a wait (reason != 0) or a system call (call, class)") \
  /* format records of 1.1, in the skippable range: 1.0 readers skip them */                    \
  X(CHECKSUM, 0x80, 0, 1, "| crc32c", "the last 7 bytes of every batch: CRC-32C of the batch before it") \
  X(END, 0x81, 0, 1, "| reserved", "the trace is complete: the last record of the file, in a metadata batch") \
  /* 1.2 */                                                                                     \
  X(PROPERTY, 0x82, 0, 1, "| key=value", "a property of the trace (what was recorded), in a metadata batch; a later one replaces an earlier one of the same key") \
  /* 1.2: the kernel's scheduling records of the traced process (metadata batches) */        \
  X(SCHED, 0x83, 0, 1, "| intervals", "on-CPU intervals of the process's threads on one CPU") \
  X(SAMPLES, 0x84, 0, 1, "| samples", "CPU samples of the process's threads on one CPU")      \
  X(SCHED_LOST, 0x85, 0, 1, "| lost", "scheduling records the kernel's ring lost on one CPU") \
  /* 1.2: process trees (thread events in data batches, blobs of uvarints) */                  \
  X(SPAWN, 0x86, 0, 1, "| child_pid how stack", "this thread started a process without fork (posix_spawn, vfork)") \
  X(FD, 0x87, 0, 1, "| fd how dev ino type peer_ino local peer", "what kernel object an fd of the process refers to from now on") \
  X(SHARED, 0x88, 0, 1, "| role reason object dev ino offset", "a wait on, or a release of, a process-shared sync object, keyed by its mapping") \
  X(IPC_IO, 0x89, 0, 1, "| fd call result dur", "a read or write shorter than the minimum duration on a pipe, Unix socket or loopback TCP socket, ending now")

enum ctrace_kind {
#define CTRACE__KIND_ENUM(name, code, nf, blob, fields, doc) CTRACE_EV_##name = code,
  CTRACE_EVENT_KINDS(CTRACE__KIND_ENUM)
#undef CTRACE__KIND_ENUM
};

/* WAIT reasons. X(NAME, code, class) */
#define CTRACE_WAIT_REASONS(X)                                                 \
  X(MUTEX, 1, "sync")                                                          \
  X(RWLOCK_READ, 2, "sync")                                                    \
  X(RWLOCK_WRITE, 3, "sync")                                                   \
  X(COND, 4, "sync")                                                           \
  X(SEM, 5, "sync")                                                            \
  X(BARRIER, 6, "sync")                                                        \
  X(JOIN, 7, "sync")                                                           \
  X(SLEEP, 8, "sleep")                                                         \
  X(CHILD, 9, "sync")

enum ctrace_wait_reason {
#define CTRACE__WR_ENUM(name, code, cls) CTRACE_WAIT_##name = code,
  CTRACE_WAIT_REASONS(CTRACE__WR_ENUM)
#undef CTRACE__WR_ENUM
};

/* SYSCALL classes: what the thread was doing while in the call. */
#define CTRACE_SYSCALL_CLASSES(X)                                              \
  X(FILE, 1, "io")                                                             \
  X(NET, 2, "net")                                                             \
  X(POLL, 3, "poll")                                                           \
  X(OTHER, 4, "syscall")

enum ctrace_syscall_class {
#define CTRACE__SC_ENUM(name, code, state) CTRACE_SC_##name = code,
  CTRACE_SYSCALL_CLASSES(CTRACE__SC_ENUM)
#undef CTRACE__SC_ENUM
};

/* SYSCALL calls. X(NAME, code) */
#define CTRACE_SYSCALL_CALLS(X)                                                \
  X(read, 1) X(write, 2) X(pread, 3) X(pwrite, 4) X(readv, 5) X(writev, 6)     \
  X(preadv, 7) X(pwritev, 8) X(open, 9) X(openat, 10) X(close, 11)             \
  X(fsync, 12) X(fdatasync, 13) X(creat, 14) X(sendfile, 15)                   \
  X(socket, 20) X(connect, 21) X(accept, 22) X(accept4, 23) X(recv, 24)        \
  X(recvfrom, 25) X(recvmsg, 26) X(send, 27) X(sendto, 28) X(sendmsg, 29)      \
  X(shutdown, 30) X(bind, 31) X(listen, 32) X(recvmmsg, 33) X(sendmmsg, 34)    \
  X(poll, 40) X(ppoll, 41) X(select, 42) X(pselect, 43) X(epoll_wait, 44)      \
  X(epoll_pwait, 45) X(epoll_pwait2, 46)

enum ctrace_syscall_call {
#define CTRACE__CALL_ENUM(name, code) CTRACE_CALL_##name = code,
  CTRACE_SYSCALL_CALLS(CTRACE__CALL_ENUM)
#undef CTRACE__CALL_ENUM
};

/* Static description of a kind, indexed by code; see kinds.c. */
struct ctrace_kind_info {
  const char *name;   /* "REGION_BEGIN"; NULL when the code is not a kind */
  const char *fields; /* space-separated field names, "| blob" after */
  const char *doc;
  uint8_t nfields;
  uint8_t blob;
};
extern const struct ctrace_kind_info ctrace__kinds[256]; /* kinds.c */
/* What the recorder needs of a kind, without names (format.c). */
struct ctrace_kind_shape {
  uint8_t known; /* 0 when the code is not a kind */
  uint8_t nfields;
  uint8_t blob;
};
extern const struct ctrace_kind_shape ctrace__kind_shapes[256];
const char *ctrace__wait_reason_name(uint64_t reason);
const char *ctrace__wait_reason_class(uint64_t reason);
const char *ctrace__syscall_name(uint64_t call);
const char *ctrace__syscall_class_name(uint64_t cls);

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78, initial value and
 * final xor 0xffffffff): ctrace__crc32c(0, p, n) is the CRC of p[0..n);
 * pass a previous result as crc to continue it over more bytes. */
uint32_t ctrace__crc32c(uint32_t crc, const void *p, size_t n);
/* The same without special instructions (what ctrace__crc32c uses where
 * the CPU lacks SSE 4.2; tests compare the two). */
uint32_t ctrace__crc32c_soft(uint32_t crc, const void *p, size_t n);

/* ---- little-endian fixed-width helpers ---- */
static inline void ctrace__put_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void ctrace__put_le64(uint8_t *p, uint64_t v) {
  ctrace__put_le32(p, (uint32_t)v);
  ctrace__put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t ctrace__get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ctrace__get_le64(const uint8_t *p) {
  return (uint64_t)ctrace__get_le32(p) | (uint64_t)ctrace__get_le32(p + 4) << 32;
}
static inline uint16_t ctrace__get_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- varints: unsigned LEB128, at most 10 bytes ---- */
static inline uint8_t *ctrace__put_uvarint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}
static inline uint64_t ctrace__zigzag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t ctrace__unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
/*
 * Decodes one uvarint from [p, end). Returns the byte after it, or NULL when
 * the input ends first or the varint is longer than 10 bytes.
 */
static inline const uint8_t *ctrace__get_uvarint(const uint8_t *p, const uint8_t *end,
                                                 uint64_t *out) {
  if (p < end && *p < 0x80) { /* the common one-byte case */
    *out = *p;
    return p + 1;
  }
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (p >= end)
      return NULL;
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (b < 0x80) {
      *out = v;
      return p;
    }
  }
  return NULL;
}


/*
 * Typed events. Each kind's fields, in order, as C names: U(name) for an
 * unsigned field, S(name) for a zigzag-encoded signed one. They are the
 * field names of the table above (a test checks that they agree), and
 * CTRACE_EVENT_KINDS cannot gain a kind without its list here (the static
 * asserts below fail to compile). The structs and decoders generated from
 * them are the only code outside the reader that knows a field's position.
 */
/* Fields that hold ids of definitions go by name: a field named one of
 * CTRACE_STRING_ID_FIELDS holds a string id, one named "stack" a stack id.
 * A reader of several files as one (a process tree) gives each file's
 * definitions ids of their own and shifts these fields of every event it
 * decodes; a new kind names its id fields so. */
#define CTRACE_STRING_ID_FIELDS "name path category exe argv"
#define CTRACE_STACK_ID_FIELDS "stack"
/* Task ids (docs/FORMAT.md, "Task ids") are the recorder's pid shifted by
 * CTRACE_TASK_PID_SHIFT plus a per-process counter: one tree, one id space,
 * and no shift. A nonzero id below 2^CTRACE_TASK_PID_SHIFT is an older
 * recorder's per-process counter: a reader of a tree adds the recording
 * process's pid shifted so to the fields named here. */
#define CTRACE_TASK_ID_FIELDS "task parent"
/* Thread-creation links (THREAD_CREATE to THREAD_START) count per process
 * image: a reader of a tree adds (file index + 1) << 32 to the nonzero
 * fields named so. */
#define CTRACE_LINK_ID_FIELDS "link"
#define CTRACE_TASK_PID_SHIFT 31

#define CTRACE_FIELDS_CLOCK_SYNC(U, S) U(tsc) U(mono_ns) U(real_ns)
#define CTRACE_FIELDS_STRING(U, S) U(id)
#define CTRACE_FIELDS_STACK(U, S) U(id)
#define CTRACE_FIELDS_MAPPING(U, S) U(start) U(end) U(bias) U(path)
#define CTRACE_FIELDS_PROCESS(U, S) U(pid) U(ppid) U(exe) U(argv)
#define CTRACE_FIELDS_THREAD_START(U, S) U(link)
#define CTRACE_FIELDS_THREAD_EXIT(U, S)
#define CTRACE_FIELDS_THREAD_NAME(U, S) U(tid) U(name)
#define CTRACE_FIELDS_THREAD_CREATE(U, S) U(link) U(stack)
#define CTRACE_FIELDS_DROPPED(U, S) U(count) U(first_dt)
#define CTRACE_FIELDS_TRACER_TIME(U, S) U(ns) U(events)
#define CTRACE_FIELDS_TASK_BEGIN(U, S) U(task) U(parent) U(name) U(stack)
#define CTRACE_FIELDS_TASK_END(U, S) U(task)
#define CTRACE_FIELDS_REGION_BEGIN(U, S) U(task) U(name) U(stack)
#define CTRACE_FIELDS_REGION_END(U, S)
#define CTRACE_FIELDS_LOG(U, S) U(task) U(category) U(stack)
#define CTRACE_FIELDS_COUNTER(U, S) U(name) S(value)
#define CTRACE_FIELDS_WAIT(U, S) U(reason) U(object) U(dur) U(stack)
#define CTRACE_FIELDS_WAKE(U, S) U(tid) U(object) U(reason) U(stack)
#define CTRACE_FIELDS_SYSCALL(U, S) U(call) U(class) U(fd) S(result) U(dur) U(stack)
#define CTRACE_FIELDS_SOCKADDR(U, S) U(fd) U(call)
#define CTRACE_FIELDS_FORK(U, S) U(child_pid) U(stack)
#define CTRACE_FIELDS_EXEC(U, S) U(path) U(stack)
#define CTRACE_FIELDS_EXIT(U, S) S(status)
#define CTRACE_FIELDS_SIGNAL(U, S) U(signo) U(stack)
#define CTRACE_FIELDS_PENDING(U, S) U(reason) U(call) U(class) U(object) U(dur) U(stack)
#define CTRACE_FIELDS_CHECKSUM(U, S)
#define CTRACE_FIELDS_END(U, S)
#define CTRACE_FIELDS_PROPERTY(U, S)
#define CTRACE_FIELDS_SCHED(U, S)
#define CTRACE_FIELDS_SAMPLES(U, S)
#define CTRACE_FIELDS_SCHED_LOST(U, S)
#define CTRACE_FIELDS_SPAWN(U, S)
#define CTRACE_FIELDS_FD(U, S)
#define CTRACE_FIELDS_SHARED(U, S)
#define CTRACE_FIELDS_IPC_IO(U, S)

/* SPAWN, FD, SHARED and IPC_IO blobs are uvarints (docs/FORMAT.md, "Process
 * trees"); these name them in order. */
#define CTRACE_SPAWN_BLOB(U) U(child_pid) U(how) U(stack)
#define CTRACE_FD_BLOB(U) U(fd) U(how) U(dev) U(ino) U(type) U(peer_ino)
#define CTRACE_SHARED_BLOB(U) U(role) U(reason) U(object) U(dev) U(ino) U(offset)
#define CTRACE_IPC_IO_BLOB(U) U(fd) U(call) U(result) U(dur)
enum { CTRACE_SPAWN_POSIX_SPAWN = 1, CTRACE_SPAWN_POSIX_SPAWNP = 2, CTRACE_SPAWN_VFORK = 3 };
enum {
  CTRACE_FD_PIPE = 1, CTRACE_FD_SOCKETPAIR = 2, CTRACE_FD_SOCKET = 3, CTRACE_FD_ACCEPT = 4,
  CTRACE_FD_CONNECT = 5, CTRACE_FD_OPEN = 6, CTRACE_FD_DUP = 7, CTRACE_FD_INHERITED = 8,
  CTRACE_FD_CLOSE = 9
};
enum { CTRACE_SHARED_WAIT = 1, CTRACE_SHARED_WAKE = 2 };

/* SCHED entries: the low 3 bits of an interval's `who` (docs/FORMAT.md):
 * how the thread left the CPU, and whether its start is only a bound. */
#define CTRACE_SCHED_LEFT_BLOCKED 0u   /* switched out voluntarily */
#define CTRACE_SCHED_LEFT_PREEMPTED 1u /* switched out while runnable */
#define CTRACE_SCHED_LEFT_AT_STOP 2u   /* still on the CPU when recording stopped */
#define CTRACE_SCHED_LEFT_UNKNOWN 3u   /* its switch-out was lost */
#define CTRACE_SCHED_LEFT_MASK 3u
#define CTRACE_SCHED_START_UNKNOWN 4u  /* on the CPU since before this time at the latest */

/*
 * Relative fields (1.3, docs/FORMAT.md "Relative fields"). In the data
 * batches of a 1.3 file these are stored relative to the batch:
 *  - task fields (TASK_BEGIN task and parent, TASK_END, REGION_BEGIN and LOG
 *    task): 0 for task 0, else 1 + zigzag(task - the batch's last nonzero
 *    task field before it; 0 at the batch's start);
 *  - WAIT's and WAKE's object: zigzag(object - the batch's last WAIT or
 *    WAKE object before it; 0 at the batch's start);
 *  - WAKE's tid: zigzag(tid - the batch's tid);
 *  - SYSCALL's result: zigzag(result - the batch's last SYSCALL result
 *    before it; 0 at the batch's start);
 *  - the time delta of WAIT and SYSCALL: zigzag(start - the previous
 *    record's time), where start is the event's time less its dur.
 * Differences are taken modulo 2^64 and read as signed. Writer and readers
 * share these helpers; the state starts at zero in every batch.
 */
struct ctrace_rel {
  uint64_t task, object;
  int64_t result;
};
static inline uint64_t ctrace__rel_task_put(struct ctrace_rel *st, uint64_t task) {
  if (!task)
    return 0;
  uint64_t v = 1 + ctrace__zigzag((int64_t)(task - st->task));
  st->task = task;
  return v;
}
static inline uint64_t ctrace__rel_task_get(struct ctrace_rel *st, uint64_t v) {
  if (!v)
    return 0;
  st->task += (uint64_t)ctrace__unzigzag(v - 1);
  return st->task;
}
static inline uint64_t ctrace__rel_object_put(struct ctrace_rel *st, uint64_t object) {
  uint64_t v = ctrace__zigzag((int64_t)(object - st->object));
  st->object = object;
  return v;
}
static inline uint64_t ctrace__rel_object_get(struct ctrace_rel *st, uint64_t v) {
  st->object += (uint64_t)ctrace__unzigzag(v);
  return st->object;
}
/* A SYSCALL result (signed) to its stored field, and a stored field to
 * the zigzag-encoded result (the field as 1.2 stores it). */
static inline uint64_t ctrace__rel_result_put(struct ctrace_rel *st, int64_t result) {
  uint64_t v = ctrace__zigzag((int64_t)((uint64_t)result - (uint64_t)st->result));
  st->result = result;
  return v;
}
static inline uint64_t ctrace__rel_result_get(struct ctrace_rel *st, uint64_t v) {
  st->result = (int64_t)((uint64_t)st->result + (uint64_t)ctrace__unzigzag(v));
  return ctrace__zigzag(st->result);
}
/* WAIT and SYSCALL: the index of their dur field, whose start their time
 * delta counts to (1.3); -1 for other kinds. */
static inline int ctrace__rel_span_dur(unsigned kind) {
  return kind == CTRACE_EV_WAIT ? 2 : kind == CTRACE_EV_SYSCALL ? 4 : -1;
}
/* Such an event's time: prev, the previous record's, plus the stored
 * delta d (the signed gap to its start), plus dur. */
static inline uint64_t ctrace__rel_span_time(uint64_t prev, uint64_t d, uint64_t dur) {
  return prev + (uint64_t)ctrace__unzigzag(d) + dur;
}
/* 1 for the kinds with relative fields. */
static inline int ctrace__rel_kind(unsigned kind) {
  return kind == CTRACE_EV_TASK_BEGIN || kind == CTRACE_EV_TASK_END ||
         kind == CTRACE_EV_REGION_BEGIN || kind == CTRACE_EV_LOG || kind == CTRACE_EV_WAIT ||
         kind == CTRACE_EV_WAKE || kind == CTRACE_EV_SYSCALL;
}
/* The stored fields f of an event of kind (nf of them) to their values, in
 * place, for a batch of thread tid with state st (not the time: see
 * ctrace__rel_span_time). */
static inline void ctrace__rel_decode(struct ctrace_rel *st, unsigned kind, uint64_t *f,
                                      unsigned nf, uint32_t tid) {
  switch (kind) {
  case CTRACE_EV_TASK_BEGIN: /* TASK_BEGIN: task parent name stack */
    if (nf >= 2) {
      f[0] = ctrace__rel_task_get(st, f[0]);
      f[1] = ctrace__rel_task_get(st, f[1]);
    }
    break;
  case CTRACE_EV_TASK_END: /* TASK_END: task */
  case CTRACE_EV_REGION_BEGIN: /* REGION_BEGIN: task name stack */
  case CTRACE_EV_LOG: /* LOG: task category stack */
    if (nf >= 1)
      f[0] = ctrace__rel_task_get(st, f[0]);
    break;
  case CTRACE_EV_WAIT: /* WAIT: reason object dur stack */
    if (nf >= 2)
      f[1] = ctrace__rel_object_get(st, f[1]);
    break;
  case CTRACE_EV_WAKE: /* WAKE: tid object reason stack */
    if (nf >= 2) {
      f[0] = tid + (uint64_t)ctrace__unzigzag(f[0]);
      f[1] = ctrace__rel_object_get(st, f[1]);
    }
    break;
  case CTRACE_EV_SYSCALL: /* call class fd s:result dur stack */
    if (nf >= 4)
      f[3] = ctrace__rel_result_get(st, f[3]);
    break;
  default:
    break;
  }
}
/* The inverse: values to stored fields, in place. */
static inline void ctrace__rel_encode(struct ctrace_rel *st, unsigned kind, uint64_t *f,
                                      unsigned nf, uint32_t tid) {
  switch (kind) {
  case CTRACE_EV_TASK_BEGIN:
    if (nf >= 2) {
      f[0] = ctrace__rel_task_put(st, f[0]);
      f[1] = ctrace__rel_task_put(st, f[1]);
    }
    break;
  case CTRACE_EV_TASK_END:
  case CTRACE_EV_REGION_BEGIN:
  case CTRACE_EV_LOG:
    if (nf >= 1)
      f[0] = ctrace__rel_task_put(st, f[0]);
    break;
  case CTRACE_EV_WAIT:
    if (nf >= 2)
      f[1] = ctrace__rel_object_put(st, f[1]);
    break;
  case CTRACE_EV_WAKE:
    if (nf >= 2) {
      f[0] = ctrace__zigzag((int64_t)(f[0] - tid));
      f[1] = ctrace__rel_object_put(st, f[1]);
    }
    break;
  case CTRACE_EV_SYSCALL:
    if (nf >= 4)
      f[3] = ctrace__rel_result_put(st, ctrace__unzigzag(f[3]));
    break;
  default:
    break;
  }
}

/*
 * STACK blobs (docs/FORMAT.md, STACK). Up to 1.2: the PCs innermost first,
 * each as zigzag(pc - the one before it; 0 before the first). From 1.3:
 * `shared`, how many outermost PCs equal the outermost ones of the
 * previous STACK of the file (id - 1; none for the first), then the other
 * PCs from the outermost of them inwards, each as zigzag(pc - the one
 * before it in that order; before the first, the innermost shared PC, or
 * 0 when none is shared).
 */
/* The 1.3 blob of pcs[0..n) after the stack prev[0..np) into out (room for
 * 10 * (n + 1) bytes); returns its length. */
static inline size_t ctrace__stack_blob(uint8_t *out, const uint64_t *pcs, int n,
                                        const uint64_t *prev, int np) {
  int k = 0;
  while (k < n && k < np && pcs[n - 1 - k] == prev[np - 1 - k])
    k++;
  uint8_t *q = ctrace__put_uvarint(out, (uint64_t)k);
  uint64_t last = k ? pcs[n - k] : 0;
  for (int i = n - k - 1; i >= 0; i--) {
    q = ctrace__put_uvarint(q, ctrace__zigzag((int64_t)(pcs[i] - last)));
    last = pcs[i];
  }
  return (size_t)(q - out);
}
/* Its inverse: the PCs of a 1.3 blob into pcs (room for max), innermost
 * first; the count, or -1 when the blob does not decode, shares more than
 * prev has, or holds more than max PCs. */
static inline int ctrace__stack_unblob(const uint8_t *blob, size_t len, const uint64_t *prev,
                                       int np, uint64_t *pcs, int max) {
  const uint8_t *p = blob, *end = blob + len;
  uint64_t k, z;
  if (!(p = ctrace__get_uvarint(p, end, &k)) || k > (uint64_t)np || k > (uint64_t)max)
    return -1;
  uint64_t tmp[CTRACE_MAX_STACK_DEPTH];
  int m = 0;
  uint64_t last = k ? prev[np - k] : 0;
  while (p < end) {
    if (m >= CTRACE_MAX_STACK_DEPTH || !(p = ctrace__get_uvarint(p, end, &z)))
      return -1;
    last += (uint64_t)ctrace__unzigzag(z);
    tmp[m++] = last;
  }
  if ((uint64_t)m + k > (uint64_t)max)
    return -1;
  for (int i = 0; i < m; i++) /* innermost first */
    pcs[i] = tmp[m - 1 - i];
  for (uint64_t i = 0; i < k; i++)
    pcs[m + i] = prev[np - k + i];
  return m + (int)k;
}

/*
 * Repeated fields (1.4, docs/FORMAT.md "Repeated fields"). In the data
 * batches of a 1.4 file, the kind byte of an event of a kind below may
 * carry CTRACE_REPEAT_FLAG: then the fields of the kind's mask are not
 * stored. For most kinds each is the stored value of the same field of the
 * last event of that kind before it in the batch (there must be one);
 * relative fields (above) are then decoded from these stored values as
 * usual. WAIT and WAKE (by_stack >= 0) look further back: their masked
 * fields are the values (after the relative decoding) of the last event of
 * the kind with the same stack among the CTRACE_REPEAT_STACKS kept, stack
 * modulo CTRACE_REPEAT_STACKS: there must be one; the batch's last object
 * becomes the event's.
 * X(KIND, slot, mask, by_stack, "field names"): slot numbers the kinds for a
 * decoder's state; bit i of mask is field i; by_stack numbers the kinds
 * that go by stack (-1: by the last event), whose stack is field
 * CTRACE_REPEAT_STACK_FIELD and masked fields among the first 3.
 */
#define CTRACE_REPEAT_FLAG 0x40u
#define CTRACE_REPEAT_KINDS(X)                                                 \
  X(TASK_BEGIN, 0, 0x0e, -1, "parent name stack")                               \
  X(TASK_END, 1, 0x01, -1, "task")                                              \
  X(REGION_BEGIN, 2, 0x05, -1, "task stack")                                    \
  X(LOG, 3, 0x07, -1, "task category stack")                                    \
  X(COUNTER, 4, 0x01, -1, "name")                                               \
  X(WAIT, 5, 0x03, 0, "reason object")                                          \
  X(WAKE, 6, 0x07, 1, "tid object reason")                                      \
  X(SYSCALL, 7, 0x27, -1, "call class fd stack")
#define CTRACE_REPEAT_SLOTS 8
#define CTRACE_REPEAT_BY_STACK 2     /* kinds that go by stack */
#define CTRACE_REPEAT_STACKS 16      /* their events kept, by stack modulo this */
#define CTRACE_REPEAT_STACK_FIELD 3  /* WAIT's and WAKE's stack */
/* The slot of kind (without the flag), or -1 when it repeats nothing. */
static inline int ctrace__repeat_slot(unsigned kind) {
  switch (kind) {
#define CTRACE__REP_SLOT(name, slot, mask, bs, fields) case CTRACE_EV_##name: return slot;
    CTRACE_REPEAT_KINDS(CTRACE__REP_SLOT)
#undef CTRACE__REP_SLOT
  default:
    return -1;
  }
}
/* The mask of kind's repeated fields (0: none). */
static inline unsigned ctrace__repeat_mask(unsigned kind) {
  switch (kind) {
#define CTRACE__REP_MASK(name, slot, mask, bs, fields) case CTRACE_EV_##name: return mask;
    CTRACE_REPEAT_KINDS(CTRACE__REP_MASK)
#undef CTRACE__REP_MASK
  default:
    return 0;
  }
}
/* Which of the kinds that go by stack kind is, or -1. */
static inline int ctrace__repeat_by_stack(unsigned kind) {
  switch (kind) {
#define CTRACE__REP_BS(name, slot, mask, bs, fields) case CTRACE_EV_##name: return bs;
    CTRACE_REPEAT_KINDS(CTRACE__REP_BS)
#undef CTRACE__REP_BS
  default:
    return -1;
  }
}
/* A decoder's state: the stored fields of the last event of each slot's
 * kind in the batch, and which slots have one (bit per slot); for the
 * kinds by stack, their last events' stacks (in [3]) and first fields (in
 * [0..2]), values, and which entries hold one (bit 8 * kind + entry). */
struct ctrace_repeat {
  uint32_t seen;
  uint32_t stack_seen;
  uint64_t f[CTRACE_REPEAT_SLOTS][CTRACE_MAX_FIELDS];
  uint64_t by_stack[CTRACE_REPEAT_BY_STACK][CTRACE_REPEAT_STACKS][4];
};
/* The entry of an event of a kind by stack (bs), once its fields f are
 * values: kept; with a flagged event's, whether it has one for f's stack
 * (then its masked fields are the entry's). */
static inline uint64_t *ctrace__repeat_entry(struct ctrace_repeat *st, int bs, const uint64_t *f) {
  return st->by_stack[bs][f[CTRACE_REPEAT_STACK_FIELD] % CTRACE_REPEAT_STACKS];
}
static inline void ctrace__repeat_keep_stack(struct ctrace_repeat *st, int bs, const uint64_t *f) {
  uint64_t *e = ctrace__repeat_entry(st, bs, f);
  e[0] = f[0];
  e[1] = f[1];
  e[2] = f[2];
  e[3] = f[CTRACE_REPEAT_STACK_FIELD];
  st->stack_seen |= 1u << (bs * CTRACE_REPEAT_STACKS + f[CTRACE_REPEAT_STACK_FIELD] % CTRACE_REPEAT_STACKS);
}
static inline int ctrace__repeat_has_stack(const struct ctrace_repeat *st, int bs, uint64_t stack) {
  unsigned i = (unsigned)(stack % CTRACE_REPEAT_STACKS);
  return (st->stack_seen >> (bs * CTRACE_REPEAT_STACKS + i) & 1) && st->by_stack[bs][i][3] == stack;
}
/*
 * The writer's side: the events of a data batch of thread tid [p, p + len),
 * each kind byte plain, relative fields from the batch's start (1.3),
 * rewritten in place with the flag wherever an event repeats. Returns the
 * new length (never more than len). Bytes that do not decode are left as
 * they are, from the first of them on.
 */
size_t ctrace__repeat_compact(uint8_t *p, size_t len, uint32_t tid);

/* The kinds that have fields, with the lower-case name of their struct:
 * struct ctrace_ev_<lower>, decoded by ctrace_ev_<lower>_of(). */
#define CTRACE_EVENT_STRUCTS(X)                                                \
  X(CLOCK_SYNC, clock_sync) X(STRING, string) X(STACK, stack)                  \
  X(MAPPING, mapping) X(PROCESS, process) X(THREAD_START, thread_start)        \
  X(THREAD_NAME, thread_name) X(THREAD_CREATE, thread_create)                  \
  X(DROPPED, dropped) X(TRACER_TIME, tracer_time) X(TASK_BEGIN, task_begin)    \
  X(TASK_END, task_end) X(REGION_BEGIN, region_begin) X(LOG, log)              \
  X(COUNTER, counter) X(WAIT, wait) X(WAKE, wake) X(SYSCALL, syscall)          \
  X(SOCKADDR, sockaddr) X(FORK, fork) X(EXEC, exec) X(EXIT, exit)              \
  X(SIGNAL, signal) X(PENDING, pending)

#define CTRACE__FIELD_U(name) uint64_t name;
#define CTRACE__FIELD_S(name) int64_t name;
#define CTRACE__DEC_U(name) x.name = i < n ? f[i] : 0; i++;
#define CTRACE__DEC_S(name) x.name = ctrace__unzigzag(i < n ? f[i] : 0); i++;
#define CTRACE__COUNT(name) +1
#define CTRACE__EV_STRUCT(NAME, lower)                                         \
  struct ctrace_ev_##lower { CTRACE_FIELDS_##NAME(CTRACE__FIELD_U, CTRACE__FIELD_S) };
#define CTRACE__EV_DECODE(NAME, lower)                                         \
  static inline struct ctrace_ev_##lower ctrace_ev_##lower##_of(const uint64_t *f, unsigned n) { \
    struct ctrace_ev_##lower x;                                                \
    unsigned i = 0;                                                            \
    CTRACE_FIELDS_##NAME(CTRACE__DEC_U, CTRACE__DEC_S)                         \
    (void)i;                                                                   \
    return x;                                                                  \
  }
#define CTRACE__EV_NFIELDS(name, code, nf, blob, fields, doc)                  \
  _Static_assert((0 CTRACE_FIELDS_##name(CTRACE__COUNT, CTRACE__COUNT)) == nf, \
                 "CTRACE_FIELDS_" #name " does not list the kind's fields");
CTRACE_EVENT_KINDS(CTRACE__EV_NFIELDS)
#undef CTRACE__EV_NFIELDS

/*
 * The typed fields of a decoded event ev (anything with f[] and nfields,
 * i.e. a ctrace_event), as struct ctrace_ev_<lower>: CTRACE_EV(wait, &ev).
 * Missing fields read 0; signed fields are already unzigzagged. The caller
 * checks the kind first.
 */
#define CTRACE_EV(lower, ev) ctrace_ev_##lower##_of((ev)->f, (ev)->nfields)

/* The C field names of kind code, space-separated ("reason object dur
 * stack"), or NULL when the code is not a kind; for the consistency test. */
const char *ctrace__kind_field_names(unsigned code);
CTRACE_EVENT_STRUCTS(CTRACE__EV_STRUCT)
CTRACE_EVENT_STRUCTS(CTRACE__EV_DECODE)

#endif /* CTRACE_FORMAT_H */
