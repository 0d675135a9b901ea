/*
 * ctrace.h - the public recording API of libctrace.
 *
 * This is the only header a traced program includes. It records an execution
 * trace of the calling process: thread lifetimes, user tasks (which may cross
 * threads), nested regions, logs and counters. Read the resulting file with
 * `ctrace dump`, `ctrace stats` or `ctrace view`.
 *
 * Every function is safe to call from any thread at any time, including before
 * ctrace_start() and after ctrace_stop(), where recording calls do nothing.
 * Functions returning int return 0 on success or a negative CTRACE_E* code;
 * ctrace_strerror() names it. Nothing in this library aborts the program.
 *
 * What it is not: a sampler or a profiler of CPU time; see `ctrace run` for
 * recording a program's blocking, I/O and threads without changing its code.
 */
#ifndef CTRACE_H
#define CTRACE_H

#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CTRACE_EXTERN __attribute__((visibility("default")))
#define CTRACE__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CTRACE_EXTERN
#define CTRACE__PRINTF(f, a)
#endif

/* CTRACE_VERSION_MAJOR, _MINOR, _PATCH and _STRING ("MAJOR.MINOR.PATCH"):
 * written by the build from the project version (meson.build). */
#include "ctrace_version.h"

/*
 * Error codes: negated errno values where one fits, private values (below
 * -4000) where none does. XX(name, value, message).
 */
#define CTRACE_ERRNO_MAP(XX)                                                   \
  XX(EINVAL, -EINVAL, "invalid argument")                                      \
  XX(ENOMEM, -ENOMEM, "out of memory")                                         \
  XX(EBADF, -EBADF, "bad file descriptor: closed or never opened")             \
  XX(EACCES, -EACCES, "file descriptor is not open for writing")               \
  XX(EALREADY, -EALREADY, "tracing is already started")                        \
  XX(EIO, -EIO, "input/output error while writing the trace")                  \
  XX(ENOSPC, -ENOSPC, "no space left on device while writing the trace")       \
  XX(EPIPE, -EPIPE, "trace output closed by its reader (broken pipe)")         \
  XX(EFBIG, -EFBIG, "trace file too large")                                    \
  XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                      \
  XX(ENOTSTARTED, -4001, "tracing is not started")                             \
  XX(EFORK, -4002, "tracing was started in the parent process before fork")   \
  XX(EWRITE, -4003, "writing the trace failed")                                \
  XX(ETHREAD, -4004, "could not start the trace writer thread")

typedef enum {
#define CTRACE__XX(name, value, msg) CTRACE_##name = (value),
  CTRACE_ERRNO_MAP(CTRACE__XX)
#undef CTRACE__XX
} ctrace_errno_t;

/* A message for an error code; never NULL. */
CTRACE_EXTERN const char *ctrace_strerror(int err);
/* The symbolic name of an error code ("EBADF"); "UNKNOWN" if none. */
CTRACE_EXTERN const char *ctrace_err_name(int err);
/* CTRACE_VERSION_STRING of the library loaded: "MAJOR.MINOR.PATCH" */
CTRACE_EXTERN const char *ctrace_version(void);

/*
 * Starting and stopping.
 *
 * ctrace_start_fd() writes the trace to fd, which must be open for writing; the
 * caller keeps ownership (ctrace_stop() does not close it). ctrace_start_path()
 * creates or truncates the file and closes it on stop. Errors: CTRACE_EBADF,
 * CTRACE_EACCES (read-only fd), CTRACE_EALREADY, CTRACE_ENOMEM, CTRACE_ETHREAD,
 * or the negated errno of open(2)/write(2).
 *
 * ctrace_stop() flushes every thread's buffer and waits for the writer. It
 * returns CTRACE_ENOTSTARTED when not started, or the first write error met
 * during the trace (CTRACE_ENOSPC, CTRACE_EPIPE, ...): the trace file is then
 * incomplete but the program is unaffected.
 *
 * A program linked with libctrace and run with CTRACE_OUT=FILE in its
 * environment starts tracing before main() and stops at exit(). Its own
 * ctrace_start_*() calls then join that trace (they return 0 and start
 * nothing) and its ctrace_stop() ends nothing; likewise under `ctrace run`.
 * A forgotten ctrace_stop() is done at normal exit too.
 */
CTRACE_EXTERN int ctrace_start_fd(int fd);
CTRACE_EXTERN int ctrace_start_path(const char *path);
CTRACE_EXTERN int ctrace_stop(void);
/* 1 while a trace is being recorded, else 0. */
CTRACE_EXTERN int ctrace_is_enabled(void);
/* The first write error of the running trace, or 0. */
CTRACE_EXTERN int ctrace_write_error(void);

/*
 * Names. ctrace_name() interns a string once and returns a small handle that
 * stays valid for the life of the process, across traces. Recording by handle
 * skips the string lookup; the CTRACE_REGION macros do it for you.
 * Returns 0 (the invalid handle) only when out of memory.
 */
typedef uint32_t ctrace_name_t;
CTRACE_EXTERN ctrace_name_t ctrace_name(const char *s);

/*
 * Tasks: a logical operation (a request, a job) that may cross threads, like
 * Go's trace.NewTask. A task is a plain 64-bit id: pass it between threads as
 * you like. ctrace_task_begin() makes the new task the calling thread's
 * current task; ctrace_task_end() restores the previous one if the ended task
 * was current. Another thread joins a task with ctrace_task_set_current().
 * parent 0 means "no parent"; CTRACE_TASK_CURRENT means the current task.
 *
 * Ids are unique across the processes of a tree, so a task may cross
 * processes too: hand its id to another traced process (inherited by a
 * forked child, or sent over a pipe or socket) and that process joins it
 * with ctrace_task_set_current(), logs in it or ends it; a process tree read
 * as one trace shows one task. An id is the process's pid times 2^31 plus a
 * per-process counter, always below 2^53 (exact as a JavaScript number); a
 * forked child counts under its own pid. Each process image starts its
 * counter at the monotonic clock in microseconds (modulo 2^31), so an image
 * an exec replaced and the one after it, under one pid, do not share ids
 * unless the first began more than a task per microsecond; a counter wraps
 * after 2^31 - 1 tasks. Ids are valid whether or not a trace runs.
 */
typedef uint64_t ctrace_task_t;
#define CTRACE_TASK_NONE ((ctrace_task_t)0)
#define CTRACE_TASK_CURRENT (~(ctrace_task_t)0)

CTRACE_EXTERN ctrace_task_t ctrace_task_begin(ctrace_task_t parent, const char *name);
CTRACE_EXTERN void ctrace_task_end(ctrace_task_t task);
/* Sets this thread's current task and returns the previous one. */
CTRACE_EXTERN ctrace_task_t ctrace_task_set_current(ctrace_task_t task);
CTRACE_EXTERN ctrace_task_t ctrace_task_current(void);

/*
 * Regions: a named, nested interval of time on one thread, attached to the
 * thread's current task. Every begin needs an end on the same thread.
 */
CTRACE_EXTERN void ctrace_region_begin(const char *name);
CTRACE_EXTERN void ctrace_region_begin_n(ctrace_name_t name);
CTRACE_EXTERN void ctrace_region_end(void);

/* Logs: a category and a printf-formatted message, attached to task (or to the
 * thread's current task when task is CTRACE_TASK_CURRENT). Messages longer
 * than 1024 bytes are cut. */
CTRACE_EXTERN void ctrace_log(ctrace_task_t task, const char *category, const char *fmt, ...)
    CTRACE__PRINTF(3, 4);
CTRACE_EXTERN void ctrace_log_str(ctrace_task_t task, const char *category, const char *msg);

/* Counters: the value of a named quantity at this instant (queue depth, bytes). */
CTRACE_EXTERN void ctrace_counter(const char *name, int64_t value);

/*
 * Threads. Every thread that records is known to the trace from its first
 * event and its exit is recorded automatically. These calls add what cannot
 * be guessed: names, and which thread created which.
 *
 * ctrace_thread_spawn() is called by the creating thread; it records the
 * creation (with the creator's stack) and returns a link to hand to the new
 * thread, which calls ctrace_thread_begin(link) first thing.
 * ctrace_pthread_create() does both around pthread_create().
 */
CTRACE_EXTERN void ctrace_thread_set_name(const char *name);
CTRACE_EXTERN uint64_t ctrace_thread_spawn(void);
CTRACE_EXTERN void ctrace_thread_begin(uint64_t link);
CTRACE_EXTERN void ctrace_thread_end(void);
CTRACE_EXTERN int ctrace_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                        void *(*fn)(void *), void *arg);

/*
 * Scoped regions: CTRACE_REGION("decode"); ends the region when the enclosing
 * block exits, by any path. The name must be a string literal (it is interned
 * once per call site). Needs GCC or Clang (C) or C++.
 */
static inline void ctrace__region_cleanup(int *unused) {
  (void)unused;
  ctrace_region_end();
}
#define CTRACE__CAT2(a, b) a##b
#define CTRACE__CAT(a, b) CTRACE__CAT2(a, b)
#define CTRACE_REGION_BEGIN_LITERAL(lit)                                       \
  do {                                                                         \
    static ctrace_name_t ctrace__h; /* a benign race: same value */            \
    ctrace_name_t ctrace__n = __atomic_load_n(&ctrace__h, __ATOMIC_RELAXED);   \
    if (__builtin_expect(ctrace__n == 0, 0)) {                                 \
      ctrace__n = ctrace_name(lit);                                            \
      __atomic_store_n(&ctrace__h, ctrace__n, __ATOMIC_RELAXED);               \
    }                                                                          \
    ctrace_region_begin_n(ctrace__n);                                          \
  } while (0)
#define CTRACE_REGION(lit)                                                     \
  CTRACE_REGION_BEGIN_LITERAL(lit);                                            \
  int CTRACE__CAT(ctrace__scope_, __LINE__)                                    \
      __attribute__((cleanup(ctrace__region_cleanup), unused)) = 0

#ifdef __cplusplus
}
#endif
#endif /* CTRACE_H */
