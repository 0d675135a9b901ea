/*
 * test-taskid.c - task ids across the processes of a tree (docs/FORMAT.md,
 * "Task ids"): tests/progs/taskid.c under `ctrace run`, a parent whose task
 * a forked child continues by id and two children that begin tasks of
 * their own; task ids of an older recorder (per-process counters), which
 * a tree keeps apart per process; and thread-creation links, which every
 * process image counts from the same start.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../src/analyze/timeline.h"
#include "../src/format/format.h"
#include "task.h"

#define PROG test_build_path("tests/prog_taskid")

static char *run_prog(const char *path, const char *mode) {
  const char *prog[] = {PROG, mode, NULL};
  char *out = NULL, *err = NULL;
  int st = test_ctrace_run(path, NULL, prog, &out, &err);
  if (st != 0)
    TEST_FAIL_("ctrace run prog_taskid: %d: %s", st, err ? err : "");
  free(err);
  return out;
}

static ctrace_reader *open_tree(const char *path) {
  ctrace_reader *r = NULL;
  char err[CTRACE_READ_ERRLEN];
  if (ctrace_reader_open_tree(path, &r, err, sizeof err) < 0)
    TEST_FAIL_("open %s: %s", path, err);
  return r;
}

/* The n-th "name PID ID" line of out (0-based). */
static int said(const char *out, const char *name, int n, unsigned *pid, uint64_t *id) {
  size_t len = strlen(name);
  for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, name, len) == 0 && p[len] == ' ' && n-- == 0)
      return sscanf(p + len, " %u %" SCNu64, pid, id) == 2 ? 0 : -1;
  return -1;
}

static const struct ctrace_tl_task *task_by_id(const struct ctrace_timeline *tl, uint64_t id) {
  for (size_t i = 0; i < tl->ntasks; i++)
    if (tl->tasks[i].id == id)
      return &tl->tasks[i];
  return NULL;
}

static uint32_t pid_of_thread(const struct ctrace_timeline *tl, uint32_t th) {
  const struct ctrace_thread_info *ti = ctrace_reader_thread(tl->r, tl->threads[th].index);
  return ctrace_reader_process(tl->r, ti->process)->pid;
}

TEST_IMPL(taskid_fork_child_continues_parent_task) {
  const char *path = test_path("tid.ctrace");
  char *out = run_prog(path, NULL);
  unsigned ppid, apid, bpid, p2;
  uint64_t shared, after, a, b;
  ASSERT_EQ(said(out, "shared", 0, &ppid, &shared), 0);
  ASSERT_EQ(said(out, "after", 0, &p2, &after), 0);
  ASSERT_EQ(said(out, "child", 0, &apid, &a), 0);
  ASSERT_EQ(said(out, "child", 1, &bpid, &b), 0);
  free(out);
  /* The recorder's ids: the pid above bit 31, distinct, exact as doubles. */
  uint64_t ids[4] = {shared, after, a, b};
  unsigned pids[4] = {ppid, p2, apid, bpid};
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(ids[i] >> CTRACE_TASK_PID_SHIFT, pids[i]);
    ASSERT(ids[i] < (UINT64_C(1) << 53));
    ASSERT(ids[i] & ((UINT64_C(1) << CTRACE_TASK_PID_SHIFT) - 1));
    for (int j = 0; j < i; j++)
      ASSERT(ids[i] != ids[j]);
  }
  ASSERT(apid != bpid && apid != ppid);

  /* The tree: three processes; "shared" is one task begun in the parent
   * and ended in child A, with threads of both; the children's tasks are
   * two tasks. */
  ctrace_reader *r = open_tree(path);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 3);
  struct ctrace_timeline *tl = NULL;
  ASSERT_EQ(ctrace_timeline_build(r, NULL, NULL, &tl), 0);
  const struct ctrace_tl_task *t = task_by_id(tl, shared);
  ASSERT(t);
  ASSERT(!t->open);
  ASSERT(t->begin_thread < tl->nthreads && t->end_thread < tl->nthreads);
  ASSERT_EQ(pid_of_thread(tl, t->begin_thread), ppid);
  ASSERT_EQ(pid_of_thread(tl, t->end_thread), apid);
  int by_parent = 0, by_child = 0;
  for (uint32_t k = t->touch; k < t->touch + t->ntouch; k++) {
    uint32_t pid = pid_of_thread(tl, tl->touches[k].thread);
    by_parent += pid == ppid;
    by_child += pid == apid;
  }
  ASSERT_EQ(by_parent, 1);
  ASSERT_EQ(by_child, 1);
  size_t nshared = 0, na = 0, nb = 0;
  for (size_t i = 0; i < tl->ntasks; i++) {
    nshared += tl->tasks[i].id == shared;
    na += tl->tasks[i].id == a;
    nb += tl->tasks[i].id == b;
  }
  ASSERT_EQ(nshared, 1);
  ASSERT_EQ(na, 1);
  ASSERT_EQ(nb, 1);
  ASSERT_EQ(tl->ntasks, 4); /* shared, A's, B's, after */
  const struct ctrace_tl_task *ta = task_by_id(tl, a), *tb = task_by_id(tl, b);
  ASSERT(ta && tb && !ta->open && !tb->open);
  ASSERT_EQ(pid_of_thread(tl, ta->begin_thread), apid);
  ASSERT_EQ(pid_of_thread(tl, tb->begin_thread), bpid);
  /* One name in two processes is one string id of the tree: a lookup by
   * name finds both children's tasks (it once found the first file's). */
  ASSERT_EQ(ta->name, tb->name);
  ASSERT_EQ(ctrace_timeline_find_string(tl, "child", 5), ta->name);
  /* The child's region in the parent's task names the parent's id. */
  int regions = 0;
  uint32_t work = ctrace_timeline_find_string(tl, "child.work", 10);
  ASSERT(work);
  for (size_t i = 0; i < tl->nregions; i++)
    if (tl->regions[i].name == work) {
      ASSERT_EQ(tl->regions[i].task, shared);
      regions++;
    }
  ASSERT_EQ(regions, 1);
  ctrace_timeline_free(tl);
  ctrace_reader_close(r);
  char *argv[] = {(char *)test_build_path("ctrace"), "critical-path", "--name", "child",
                  (char *)path, NULL};
  char *cp = NULL;
  ASSERT_EQ(test_run(argv, NULL, &cp, NULL), 0);
  if (!strstr(cp, "of 2 tasks named child"))
    TEST_FAIL_("critical-path --name child: %.300s", cp);
  free(cp);
  return 0;
}

/* Ids below 2^31 are an older recorder's per-process counters: in a tree,
 * the same small id in two processes is two ids (pid << 31 | id each); a
 * file read alone keeps its ids as recorded. */
TEST_IMPL(taskid_old_counters_stay_apart_per_process) {
  const char *path = test_path("old.ctrace");
  free(run_prog(path, "old"));
  ctrace_reader *r = open_tree(path);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 3);
  uint64_t seen[2] = {0, 0};
  int nlogs = 0;
  for (uint32_t ti = 0; ti < ctrace_reader_nthreads(r); ti++) {
    const struct ctrace_thread_info *th = ctrace_reader_thread(r, ti);
    uint64_t hi = (uint64_t)ctrace_reader_process(r, th->process)->pid << CTRACE_TASK_PID_SHIFT;
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, ti);
    while (ctrace_cursor_next(&c, &ev)) {
      if (ev.kind == CTRACE_EV_LOG) {
        ASSERT_EQ(CTRACE_EV(log, &ev).task, hi | 1);
        ASSERT_LT(nlogs, 2);
        seen[nlogs++] = hi | 1;
      } else if (ev.kind == CTRACE_EV_REGION_BEGIN) {
        ASSERT_EQ(CTRACE_EV(region_begin, &ev).task, hi | 1);
      }
    }
  }
  ASSERT_EQ(nlogs, 2);
  ASSERT(seen[0] != seen[1]);
  /* The timeline's touches: two tasks, one per child. */
  struct ctrace_timeline *tl = NULL;
  ASSERT_EQ(ctrace_timeline_build(r, NULL, NULL, &tl), 0);
  size_t touched = 0;
  for (size_t k = 0; k < tl->ntouches; k++)
    touched += tl->touches[k].task == seen[0] || tl->touches[k].task == seen[1];
  ASSERT_EQ(touched, 2);
  ctrace_timeline_free(tl);
  ctrace_reader_close(r);

  /* One child's file alone: its ids as recorded. */
  char one[4096];
  snprintf(one, sizeof one, "%s/old.%u.ctrace", test_tmpdir(),
           (unsigned)(seen[0] >> CTRACE_TASK_PID_SHIFT));
  char err[CTRACE_READ_ERRLEN];
  ASSERT_EQ(ctrace_reader_open(one, &r, err, sizeof err), 0);
  int found = 0;
  for (uint32_t ti = 0; ti < ctrace_reader_nthreads(r); ti++) {
    ctrace_cursor c;
    ctrace_event ev;
    ctrace_cursor_init(&c, r, ti);
    while (ctrace_cursor_next(&c, &ev))
      if (ev.kind == CTRACE_EV_LOG) {
        ASSERT_EQ(CTRACE_EV(log, &ev).task, 1);
        found++;
      }
  }
  ASSERT_EQ(found, 1);
  ctrace_reader_close(r);
  return 0;
}

/* Two images (a parent and the program its child exec'd) each create a
 * thread with the same link number: in the tree each thread is linked to
 * the creator in its own process. */
TEST_IMPL(taskid_thread_links_stay_per_process) {
  const char *path = test_path("links.ctrace");
  free(run_prog(path, "threads"));
  ctrace_reader *r = open_tree(path);
  ASSERT_EQ(ctrace_reader_nprocesses(r), 3); /* the parent, its child, the exec'd image */
  struct ctrace_timeline *tl = NULL;
  ASSERT_EQ(ctrace_timeline_build(r, NULL, NULL, &tl), 0);
  size_t across = 0, within = 0;
  for (size_t i = 0; i < tl->ncreates; i++) {
    const struct ctrace_tl_create *c = &tl->creates[i];
    uint32_t pp = ctrace_reader_thread(r, tl->threads[c->parent].index)->process;
    uint32_t pc = ctrace_reader_thread(r, tl->threads[c->child].index)->process;
    if (pp == pc)
      within++;
    else
      across++;
  }
  ASSERT_EQ(across, 0);
  ASSERT_EQ(within, 2);
  ctrace_timeline_free(tl);
  ctrace_reader_close(r);
  return 0;
}
