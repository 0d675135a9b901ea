/*
 * api.c - the user annotations of ctrace.h: tasks, regions, logs, counters
 * and thread names, each an event on the calling thread. Not starting and
 * stopping (session.c).
 */
#include "record.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t next_task = 1;
static _Atomic uint64_t next_link = 1;

/* Stacks on user events only with CTRACE_STACKS=all (they cost ~30 ns). */
#define USER_STACK(t)                                                          \
  (CTRACE__UNLIKELY(ctrace__config.stacks == CTRACE__STACKS_ALL)                \
       ? ctrace__stack_here((t), __builtin_frame_address(0))                   \
       : 0)

static ctrace_task_t task_arg(struct ctrace__thread *t, ctrace_task_t task) {
  return task == CTRACE_TASK_CURRENT ? t->task : task;
}

ctrace_task_t ctrace_task_begin(ctrace_task_t parent, const char *name) {
  ctrace_task_t id = atomic_fetch_add_explicit(&next_task, 1, memory_order_relaxed);
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return id; /* a task id stays usable while not tracing */
  uint32_t sid = ctrace__name_session_id(ctrace__name_cached(t, name ? name : ""));
  uint32_t stack = USER_STACK(t);
  uint8_t *p = ctrace__ev(t, CTRACE_EV_TASK_BEGIN, ctrace__now());
  p = ctrace__put_uvarint(p, id);
  p = ctrace__put_uvarint(p, task_arg(t, parent));
  p = ctrace__put_uvarint(p, sid);
  p = ctrace__put_uvarint(p, stack);
  t->task = id;
  ctrace__leave(t, p);
  return id;
}

void ctrace_task_end(ctrace_task_t task) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  uint8_t *p = ctrace__ev(t, CTRACE_EV_TASK_END, ctrace__now());
  p = ctrace__put_uvarint(p, task_arg(t, task));
  if (t->task == task)
    t->task = 0;
  ctrace__leave(t, p);
}

ctrace_task_t ctrace_task_set_current(ctrace_task_t task) {
  struct ctrace__thread *t = ctrace__tls;
  if (!t) {
    t = ctrace__enter(); /* registers the thread if a trace runs */
    if (!t)
      return 0;
    ctrace__leave_empty(t);
  }
  ctrace_task_t old = t->task;
  t->task = task;
  return old;
}

ctrace_task_t ctrace_task_current(void) {
  struct ctrace__thread *t = ctrace__tls;
  return t ? t->task : 0;
}

/* always_inline: USER_STACK's frame must be the exported function's, whose
 * return address is the user's call site, also in unoptimized builds. */
__attribute__((always_inline)) static inline void region_begin(struct ctrace__thread *t,
                                                               ctrace_name_t name) {
  uint32_t sid = ctrace__name_session_id(name);
  uint32_t stack = USER_STACK(t);
  uint8_t *p = ctrace__ev(t, CTRACE_EV_REGION_BEGIN, ctrace__now());
  p = ctrace__put_uvarint(p, t->task);
  p = ctrace__put_uvarint(p, sid);
  p = ctrace__put_uvarint(p, stack);
  ctrace__leave(t, p);
}

void ctrace_region_begin(const char *name) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  region_begin(t, ctrace__name_cached(t, name ? name : ""));
}

void ctrace_region_begin_n(ctrace_name_t name) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  region_begin(t, name);
}

void ctrace_region_end(void) {
  struct ctrace__thread *t = ctrace__enter();
  if (!t)
    return;
  ctrace__leave(t, ctrace__ev(t, CTRACE_EV_REGION_END, ctrace__now()));
}

#define LOG_MAX 1024

void ctrace_log_str(ctrace_task_t task, const char *category, const char *msg) {
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
  uint32_t cat = ctrace__name_session_id(ctrace__name_cached(t, category ? category : ""));
  uint32_t stack = USER_STACK(t);
  uint8_t *p = ctrace__ev(t, CTRACE_EV_LOG, ctrace__now());
  p = ctrace__put_uvarint(p, task_arg(t, task));
  p = ctrace__put_uvarint(p, cat);
  p = ctrace__put_uvarint(p, stack);
  p = ctrace__put_uvarint(p, len);
  memcpy(p, msg, len);
  ctrace__leave(t, p + len);
}

void ctrace_log(ctrace_task_t task, const char *category, const char *fmt, ...) {
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
  uint32_t sid = ctrace__name_session_id(ctrace__name_cached(t, name ? name : ""));
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

/* Under libctrace-preload.so, pthread_create() itself records creation and
 * start: doing it here too would record every thread twice. */
static int preload_records_threads(void) {
  static int known = -1;
  if (known < 0)
    known = dlsym(RTLD_DEFAULT, "ctrace_preload_present") != NULL;
  return known;
}

int ctrace_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg) {
  if (preload_records_threads())
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
