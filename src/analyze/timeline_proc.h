/*
 * timeline_proc.h - the processes of a timeline (a trace of one process, or
 * the tree of processes a `ctrace run` followed) as the viewer groups them:
 * each process image (an exec starts a new one, with the same pid) with its
 * parent in the tree, its place in tree order (parent before children,
 * siblings by first event), whether its trace is complete, cut off or still
 * being written, and how it ended (exit status or fatal signal); and the
 * links from a parent's FORK (or EXEC) to the first event of the child
 * image, like thread-creation links.
 *
 * Built by ctrace_timeline_build from the FORK, EXEC, EXIT and SIGNAL
 * events its scan gathers; immutable afterwards.
 */
#ifndef CTRACE_TIMELINE_PROC_H
#define CTRACE_TIMELINE_PROC_H

#include <stdint.h>

#include "../format/format.h"

struct ctrace_timeline;

#define CTRACE_TL_NO_PROC UINT32_MAX

enum ctrace_tl_proc_status {
  CTRACE_TL_PROC_COMPLETE, /* its trace ends with END: it exited or stopped tracing */
  CTRACE_TL_PROC_CUT_OFF,  /* its trace ends mid-way (a crash, a kill, a damaged file) */
  CTRACE_TL_PROC_RUNNING,  /* its trace was still being written when read */
};

enum ctrace_tl_link_kind {
  CTRACE_TL_LINK_FORK,
  CTRACE_TL_LINK_EXEC,
  CTRACE_TL_LINK_SPAWN,
};

struct ctrace_tl_process {
  uint32_t pid, ppid;
  uint32_t exe, argv;   /* string ids (argv items separated by 0x1f) */
  uint32_t parent;      /* process index, CTRACE_TL_NO_PROC when not in the trace */
  uint32_t depth;       /* 0 for a root */
  uint32_t order;       /* position in tree order */
  uint32_t status;      /* enum ctrace_tl_proc_status */
  uint32_t nthreads;
  uint32_t main_thread; /* timeline thread index of its first thread (NO_THREAD: none) */
  int64_t first_ns, last_ns; /* its threads' first event and last moment */
  int64_t end_ns;       /* the EXIT or SIGNAL event (INT64_MIN: none) */
  uint32_t exited;      /* saw EXIT: exit_code is its status */
  int32_t exit_code;
  uint32_t signal;      /* fatal signal number, 0: none */
  uint32_t exec_path;   /* EXEC's path (string id): it replaced its image (0: did not) */
};

struct ctrace_tl_proc_link {
  int64_t t;            /* the parent's FORK / EXEC / spawn */
  int64_t t_child;      /* the child image's first event */
  uint32_t thread;      /* timeline thread index of the parent's call */
  uint32_t child_thread;/* timeline thread index of the child's first thread */
  uint32_t process, child; /* process indexes */
  uint32_t kind;        /* enum ctrace_tl_link_kind */
  uint32_t pad;
  uint64_t stack;       /* stack id of the call (0: none) */
};

/* A FORK, EXEC, EXIT, SIGNAL or SPAWN event as the scan gathers it. */
struct ctrace_tl_procev {
  int64_t t;
  uint64_t arg;   /* child pid, path string id, exit status (zigzagged away), signo */
  uint64_t stack;
  uint32_t thread;
  uint32_t kind;  /* CTRACE_EV_FORK, ... */
};

/* Process index of thread (timeline index). */
uint32_t ctrace_timeline_thread_process(const struct ctrace_timeline *tl, uint32_t thread);

/* Status in words, as stats.h's ctrace_proc_status_name: "complete", "cut off", "running". */
const char *ctrace_tl_proc_status_name(uint32_t status);
const char *ctrace_tl_link_kind_name(uint32_t kind);

#endif /* CTRACE_TIMELINE_PROC_H */
