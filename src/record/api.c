/*
 * api.c - the user annotations of ctrace.h: tasks, regions, logs, counters
 * and thread names, each an event on the calling thread. Not starting and
 * stopping (session.c).
 */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic uint64_t next_link = 1;

/*
 * Task ids (docs/FORMAT.md, "Task ids"): the pid above bit
 * CTRACE_TASK_PID_SHIFT, a counter of the process image below it, so the
 * processes of a tree never hand out the same id and every id stays below
 * 2^53 (a pid is below 2^22), exact as a JavaScript number. next_task is
 * the next id, 0 while this process has not derived its own: a forked child
 * clears it (an atfork handler) and derives its pid's. The counter of an
 * image starts at the monotonic clock in units of 1024 ns (modulo 2^31), so
 * an image that an exec replaced and the one that follows under the same
 * pid do not overlap unless the first began more than one task a
 * microsecond; it wraps from 2^31 - 1 to 1.
 */
#define TASK_LOW ((UINT64_C(1) << CTRACE_TASK_PID_SHIFT) - 1)
static _Atomic uint64_t next_task;
static pthread_once_t task_once = PTHREAD_ONCE_INIT;

static void task_fork_child(void) {
  atomic_store_explicit(&next_task, 0, memory_order_relaxed);
}

static void task_atfork(void) {
  pthread_atfork(NULL, NULL, task_fork_child);
}

/* This image's first id: once per process (again after a fork). */
static uint64_t task_first(void) {
  pthread_once(&task_once, task_atfork);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t low = (((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) >> 10) & TASK_LOW;
  uint64_t pid = (uint64_t)getpid() & ((UINT64_C(1) << (53 - CTRACE_TASK_PID_SHIFT)) - 1);
  return pid << CTRACE_TASK_PID_SHIFT | (low ? low : 1);
}

static ctrace_task_t task_new(void) {
  uint64_t v = atomic_load_explicit(&next_task, memory_order_relaxed);
  for (;;) {
    uint64_t id = v ? v : task_first();
    uint64_t next = (id & TASK_LOW) == TASK_LOW ? (id & ~TASK_LOW) | 1 : id + 1;
    if (atomic_compare_exchange_weak_explicit(&next_task, &v, next, memory_order_relaxed,
                                              memory_order_relaxed))
      return id;
  }
}

/* Stacks on user events only with CTRACE_STACKS=all (they cost ~30 ns). */
#define USER_STACK(t)                                                          \
  (CTRACE__UNLIKELY(ctrace__config.stacks == CTRACE__STACKS_ALL)                \
       ? ctrace__stack_here((t), __builtin_frame_address(0))                   \
       : 0)

/*
 * The current task of this thread and how to restore the one before it.
 * Kept in thread-local storage, not in the recording state: it is this
 * thread's alone whether or not a trace runs, and after ctrace_thread_end()
 * (whose state is gone) it still is. Each task made current (by
 * ctrace_task_begin or ctrace_task_set_current) is pushed with the task it
 * replaced; ending the current task restores that one; ending another task
 * unlinks it so that nothing restores a task that has ended. The deepest
 * entries are forgotten past TASK_DEPTH (their end then restores no task).
 */
#define TASK_DEPTH 8
static CTRACE__TLS struct {
  ctrace_task_t cur;
  unsigned n;
  struct {
    ctrace_task_t id, prev;
  } s[TASK_DEPTH];
} tasks;

static ctrace_task_t task_arg(ctrace_task_t task) {
  return task == CTRACE_TASK_CURRENT ? tasks.cur : task;
}

/* Removes id's entry; entries that would restore id restore what id would
 * have. Returns what id's entry restores (0 when it has none). */
static ctrace_task_t task_unlink(ctrace_task_t id) {
  for (unsigned i = tasks.n; i-- > 0;)
    if (tasks.s[i].id == id) {
      ctrace_task_t prev = tasks.s[i].prev;
      for (unsigned j = i + 1; j < tasks.n; j++)
        if (tasks.s[j].prev == id)
          tasks.s[j].prev = prev;
      memmove(&tasks.s[i], &tasks.s[i + 1], (tasks.n - i - 1) * sizeof tasks.s[0]);
      tasks.n--;
      return prev;
    }
  return 0;
}

/* Makes id current; returns the task it replaces. */
static ctrace_task_t task_push(ctrace_task_t id) {
  ctrace_task_t old = tasks.cur;
  if (id == old)
    return old;
  if (id) {
    task_unlink(id);
    if (tasks.n == TASK_DEPTH) {
      memmove(&tasks.s[0], &tasks.s[1], (TASK_DEPTH - 1) * sizeof tasks.s[0]);
      tasks.n--;
    }
    tasks.s[tasks.n].id = id;
    tasks.s[tasks.n].prev = old;
    tasks.n++;
  }
  tasks.cur = id;
  return old;
}

/* Ends id on this thread: the previous task comes back if id was current. */
static void task_pop(ctrace_task_t id) {
  ctrace_task_t prev = task_unlink(id);
  if (tasks.cur == id)
    tasks.cur = prev;
}

ctrace_task_t ctrace_task_begin(ctrace_task_t parent, const char *name) {
  ctrace_task_t id = task_new();
  parent = task_arg(parent);
  task_push(id);
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return id; /* a task id stays usable while not tracing */
  uint32_t sid = ctrace__name_sid_cached(t, name ? name : "");
  uint32_t stack = USER_STACK(t);
  uint8_t *p = ctrace__ev(t, CTRACE_EV_TASK_BEGIN, ctrace__now());
  p = ctrace__put_task(t, p, id);
  p = ctrace__put_task(t, p, parent);
  p = ctrace__put_uvarint(p, sid);
  p = ctrace__put_uvarint(p, stack);
  ctrace__leave(t, p);
  return id;
}

void ctrace_task_end(ctrace_task_t task) {
  task = task_arg(task);
  task_pop(task);
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_TASK_END, ctrace__now());
  p = ctrace__put_task(t, p, task);
  ctrace__leave(t, p);
}

ctrace_task_t ctrace_task_set_current(ctrace_task_t task) {
  if (task == CTRACE_TASK_CURRENT)
    return tasks.cur;
  return task_push(task);
}

ctrace_task_t ctrace_task_current(void) {
  return tasks.cur;
}

/* always_inline: USER_STACK's frame must be the exported function's, whose
 * return address is the user's call site, also in unoptimized builds. */
__attribute__((always_inline)) static inline void region_begin(struct ctrace__thread *t,
                                                               uint32_t sid) {
  uint32_t stack = USER_STACK(t);
  uint8_t *p = ctrace__ev(t, CTRACE_EV_REGION_BEGIN, ctrace__now());
  p = ctrace__put_task(t, p, tasks.cur);
  p = ctrace__put_uvarint(p, sid);
  p = ctrace__put_uvarint(p, stack);
  ctrace__leave(t, p);
}

void ctrace_region_begin(const char *name) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  region_begin(t, ctrace__name_sid_cached(t, name ? name : ""));
}

void ctrace_region_begin_n(ctrace_name_t name) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  region_begin(t, ctrace__name_session_id(name));
}

void ctrace_region_end(void) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  ctrace__leave(t, ctrace__ev(t, CTRACE_EV_REGION_END, ctrace__now()));
}

#define LOG_MAX 1024

__attribute__((always_inline)) static inline void log_str(ctrace_task_t task,
                                                          const char *category, const char *msg) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  size_t len = msg ? strlen(msg) : 0;
  if (len > LOG_MAX)
    len = LOG_MAX;
  if (ctrace__reserve(t, len + 10) < 0) {
    ctrace__count_drop(t); /* sets the first-drop time, too */
    ctrace__leave_empty(t);
    return;
  }
  uint32_t cat = ctrace__name_sid_cached(t, category ? category : "");
  uint32_t stack = USER_STACK(t);
  uint8_t *p = ctrace__ev(t, CTRACE_EV_LOG, ctrace__now());
  p = ctrace__put_task(t, p, task_arg(task));
  p = ctrace__put_uvarint(p, cat);
  p = ctrace__put_uvarint(p, stack);
  p = ctrace__put_uvarint(p, len);
  memcpy(p, msg, len);
  ctrace__leave(t, p + len);
}

void ctrace_log_str(ctrace_task_t task, const char *category, const char *msg) {
  log_str(task, category, msg);
}

void ctrace_log(ctrace_task_t task, const char *category, const char *fmt, ...) {
  if (fmt && !strchr(fmt, '%')) {
    log_str(task, category, fmt); /* what vsnprintf would copy */
    return;
  }
  if (!ctrace_is_enabled())
    return; /* skip the formatting */
  char buf[LOG_MAX + 1];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt ? fmt : "", ap);
  va_end(ap);
  ctrace_log_str(task, category, buf);
}

void ctrace_counter(const char *name, int64_t value) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint32_t sid = ctrace__name_sid_cached(t, name ? name : "");
  uint8_t *p = ctrace__ev(t, CTRACE_EV_COUNTER, ctrace__now());
  p = ctrace__put_uvarint(p, sid);
  p = ctrace__put_uvarint(p, ctrace__zigzag(value));
  ctrace__leave(t, p);
}

void ctrace_thread_set_name(const char *name) {
  if (!name)
    return;
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  ctrace__thread_set_name_local(name);
  uint32_t sid = ctrace__name_session_id(ctrace_name(t->name));
  uint8_t *p = ctrace__ev(t, CTRACE_EV_THREAD_NAME, ctrace__now());
  p = ctrace__put_uvarint(p, t->tid);
  p = ctrace__put_uvarint(p, sid);
  ctrace__leave(t, p);
}

/* Records a creation whose stack starts at frame fp (the exported
 * function's own frame, so that the stack starts at the user's call). */
static uint64_t thread_spawn_at(void *fp) {
  uint64_t link = atomic_fetch_add_explicit(&next_link, 1, memory_order_relaxed);
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return link;
  uint32_t stack = ctrace__config.stacks != CTRACE__STACKS_NONE ? ctrace__stack_here(t, fp) : 0;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_THREAD_CREATE, ctrace__now());
  p = ctrace__put_uvarint(p, link);
  p = ctrace__put_uvarint(p, stack);
  ctrace__leave(t, p);
  return link;
}

uint64_t ctrace_thread_spawn(void) {
  return thread_spawn_at(__builtin_frame_address(0));
}

void ctrace_thread_begin(uint64_t link) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_THREAD_START, ctrace__now());
  p = ctrace__put_uvarint(p, link);
  ctrace__leave(t, p);
}

/* Ends this thread's recording now (it is done anyway at thread exit). */
void ctrace_thread_end(void) {
  struct ctrace__thread *t = ctrace__tls;
  if (t && !t->busy && t->registered)
    ctrace__thread_exit_hook(t);
}

struct spawn_arg {
  void *(*fn)(void *);
  void *arg;
  uint64_t link;
};

static void *spawn_trampoline(void *p) {
  struct spawn_arg a = *(struct spawn_arg *)p;
  free(p);
  ctrace_thread_begin(a.link);
  return a.fn(a.arg);
}

int ctrace_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg) {
  if (ctrace__hooks->records_threads) /* under libctrace-preload.so */
    return pthread_create(thread, attr, fn, arg);
  struct spawn_arg *a = malloc(sizeof *a);
  if (!a)
    return EAGAIN;
  a->fn = fn;
  a->arg = arg;
  a->link = thread_spawn_at(__builtin_frame_address(0));
  int err = pthread_create(thread, attr, spawn_trampoline, a);
  if (err)
    free(a);
  return err;
}
