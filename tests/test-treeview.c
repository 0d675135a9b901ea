/*
 * test-treeview.c - a process tree as the viewer's one timeline: the
 * processes of /api/summary (tree order, parents, depth, how each ended)
 * and the fork and exec links from the parent's call to the child's first
 * event, on tests/progs/forkexec.c run under `ctrace run` (a parent that
 * forks a child which execs the program again, exiting 3: three images,
 * two pids), opened as a tree; and a trace of one process, unchanged.
 */
#include <inttypes.h>

#include "../src/serve/server.h"
#include "task.h"

#define PROG(name) test_build_path("src/preload/prog_" name)

/* Runs forkexec (with mode "spawn": posix_spawn) under ctrace run into
 * DIR/fe.ctrace; returns its path. */
static const char *record_forkexec_mode(const char *dir, const char *mode) {
  static char file[4096];
  snprintf(file, sizeof file, "%s/fe.ctrace", dir);
  char *argv[] = {(char *)test_build_path("ctrace"), "run", "-o", file, "--",
                  (char *)PROG("forkexec"), (char *)mode, NULL};
  char *out = NULL, *err = NULL;
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0)
    TEST_FAIL_("ctrace run forkexec: %d: %s", st, err ? err : "");
  free(out);
  free(err);
  return file;
}
static const char *record_forkexec(const char *dir) { return record_forkexec_mode(dir, NULL); }

static char *summary(struct ctrace_view *v) {
  struct ctrace_reply r;
  memset(&r, 0, sizeof r);
  ctrace_api_handle(v, "/api/summary", NULL, NULL, &r);
  if (r.status != 200)
    TEST_FAIL_("/api/summary: %d %s", r.status, r.body ? r.body : "");
  return r.body;
}

/* The object of process index i in the summary's process_list (a copy, up to its '}'). */
static char *process_json(const char *body, uint32_t i) {
  const char *list = strstr(body, "\"process_list\":[");
  if (!list)
    TEST_FAIL_("no process_list in %.200s", body);
  char pat[32];
  snprintf(pat, sizeof pat, "],\"index\":%u,", i); /* after its argv */
  const char *p = strstr(list, pat);
  if (!p)
    TEST_FAIL_("no process %u in %.400s", i, list);
  while (p > list && *p != '{')
    p--;
  const char *e = strchr(p, '}');
  return strndup(p, (size_t)(e - p + 1));
}

TEST_IMPL(treeview_fork_exec_tree_and_links) {
  const char *dir = test_tmpdir();
  const char *file = record_forkexec(dir);
  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open_tree(file, &r, err, sizeof err), 0);
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  /* the parent, the forked child, and the image the child exec'd */
  ASSERT_EQ(tl->nprocs, 3);
  const struct ctrace_tl_process *root = &tl->procs[tl->proc_order[0]];
  const struct ctrace_tl_process *kid = &tl->procs[tl->proc_order[1]];
  const struct ctrace_tl_process *img = &tl->procs[tl->proc_order[2]];
  ASSERT_UINT_EQ(root->parent, CTRACE_TL_NO_PROC);
  ASSERT_EQ(root->depth, 0);
  ASSERT_UINT_EQ(kid->parent, tl->proc_order[0]);
  ASSERT_EQ(kid->depth, 1);
  ASSERT_EQ(kid->ppid, root->pid);
  ASSERT_UINT_EQ(img->parent, tl->proc_order[1]);
  ASSERT_EQ(img->depth, 2);
  ASSERT_EQ(img->pid, kid->pid); /* exec keeps the pid */
  ASSERT(kid->exec_path != 0);
  /* how each ended: the exec'd child returned 3, the parent 0 */
  ASSERT_EQ(img->exited, 1);
  ASSERT_EQ(img->exit_code, 3);
  ASSERT_EQ(root->exited, 1);
  ASSERT_EQ(root->exit_code, 0);
  ASSERT_EQ(root->signal, 0);
  for (uint32_t p = 0; p < 3; p++)
    ASSERT_EQ(tl->procs[p].status, CTRACE_TL_PROC_COMPLETE);
  ASSERT(root->first_ns <= kid->first_ns);
  ASSERT(kid->first_ns <= img->first_ns);
  /* every thread names its process, and the process's pid */
  for (uint32_t i = 0; i < tl->nthreads; i++) {
    uint32_t p = ctrace_timeline_thread_process(tl, i);
    ASSERT_LT(p, 3);
    ASSERT_EQ(tl->threads[i].tid, tl->procs[p].pid); /* one thread each */
  }
  /* links: the parent's FORK to the child's first event, the child's EXEC
   * to the new image's first event */
  ASSERT_EQ(tl->nproc_links, 2);
  const struct ctrace_tl_proc_link *fork = &tl->proc_links[0], *exec = &tl->proc_links[1];
  ASSERT_EQ(fork->kind, CTRACE_TL_LINK_FORK);
  ASSERT_UINT_EQ(fork->process, tl->proc_order[0]);
  ASSERT_UINT_EQ(fork->child, tl->proc_order[1]);
  ASSERT_EQ(tl->threads[fork->thread].tid, root->pid);
  ASSERT_EQ(tl->threads[fork->child_thread].tid, kid->pid);
  ASSERT(fork->t <= fork->t_child);
  ASSERT_EQ(fork->t_child, kid->first_ns);
  ASSERT(fork->stack != 0); /* the fork call's stack */
  ASSERT_EQ(exec->kind, CTRACE_TL_LINK_EXEC);
  ASSERT_UINT_EQ(exec->process, tl->proc_order[1]);
  ASSERT_UINT_EQ(exec->child, tl->proc_order[2]);
  ASSERT(exec->t <= exec->t_child);
  ASSERT_EQ(exec->t_child, img->first_ns);

  /* the same in /api/summary, whose keys do not repeat */
  char *body = summary(&v);
  const char *pl = strstr(body, "\"process_list\"");
  ASSERT(strstr(pl + 1, "\"process_list\"") == NULL);
  char *pj = process_json(body, tl->proc_order[0]);
  ASSERT_STR_CONTAINS(pj, "\"parent\":-1,\"exec_from\":-1,\"tree_parent\":-1");
  ASSERT_STR_CONTAINS(pj, "\"depth\":0,\"order\":0");
  ASSERT_STR_CONTAINS(pj, "\"status\":\"complete\"");
  ASSERT_STR_CONTAINS(pj, "\"exit_status\":0");
  free(pj);
  pj = process_json(body, tl->proc_order[2]);
  char want[64];
  /* its parent is the forking process; in the tree it sits under the image it replaced */
  snprintf(want, sizeof want, "\"parent\":%u,\"exec_from\":%u,\"tree_parent\":%u,", tl->proc_order[0],
           tl->proc_order[1], tl->proc_order[1]);
  ASSERT_STR_CONTAINS(pj, want);
  ASSERT_STR_CONTAINS(pj, "\"depth\":2,\"order\":2");
  ASSERT_STR_CONTAINS(pj, "\"exit_status\":3");
  ASSERT_STR_CONTAINS(pj, "\"signal\":0");
  free(pj);
  snprintf(want, sizeof want, "\"kind\":\"fork\",\"t_ns\":%" PRId64, fork->t);
  ASSERT_STR_CONTAINS(body, want);
  snprintf(want, sizeof want, "\"tid\":%u,\"instance\":0,\"child_tid\":%u", root->pid, kid->pid);
  ASSERT_STR_CONTAINS(body, want);
  ASSERT_STR_CONTAINS(body, "\"kind\":\"exec\"");
  /* each thread its process and that process's pid */
  snprintf(want, sizeof want, "\"max_depth\":0,\"process\":%u}", tl->proc_order[2]);
  ASSERT_STR_CONTAINS(body, want);
  free(body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(treeview_one_process_unchanged) {
  const char *dir = test_tmpdir();
  const char *file = record_forkexec(dir);
  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open(file, &r, err, sizeof err), 0); /* the parent's file alone */
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  ASSERT_EQ(v.tl->nprocs, 1);
  ASSERT_EQ(v.tl->nproc_links, 0); /* its child is not in the trace */
  ASSERT_UINT_EQ(v.tl->procs[0].parent, CTRACE_TL_NO_PROC);
  char *body = summary(&v);
  ASSERT_STR_CONTAINS(body, "\"process_links\":[]");
  char *pj = process_json(body, 0);
  ASSERT_STR_CONTAINS(pj, "\"tree_parent\":-1");
  ASSERT_STR_CONTAINS(pj, "\"depth\":0,\"order\":0,\"threads\":1");
  ASSERT_STR_CONTAINS(pj, "\"exit_status\":0");
  free(pj);
  free(body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

TEST_IMPL(treeview_spawn_link) {
  const char *file = record_forkexec_mode(test_tmpdir(), "spawn");
  ctrace_reader *r;
  char err[256];
  ASSERT_EQ(ctrace_reader_open_tree(file, &r, err, sizeof err), 0);
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  ASSERT_EQ(tl->nprocs, 2); /* posix_spawn's child runs the program at once: one image */
  ASSERT_EQ(tl->nproc_links, 1);
  const struct ctrace_tl_proc_link *l = &tl->proc_links[0];
  ASSERT_EQ(l->kind, CTRACE_TL_LINK_SPAWN);
  ASSERT_UINT_EQ(l->process, tl->proc_order[0]);
  ASSERT_UINT_EQ(l->child, tl->proc_order[1]);
  ASSERT_EQ(tl->procs[l->child].exit_code, 3);
  ASSERT(l->stack != 0);
  char *body = summary(&v);
  ASSERT_STR_CONTAINS(body, "\"process_links\":[{\"kind\":\"spawn\"");
  ASSERT_STR_CONTAINS(body, "\"function\":\"main\""); /* the spawn call's stack, symbolized */
  free(body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}

static const char *no_param(void *ctx, const char *key) {
  (void)ctx;
  (void)key;
  return NULL;
}

/* tests/progs/tree.c (test-tree.c's program): a parent forks 3 children
 * that exec a helper and talk over pipes and a socketpair. One group per
 * image, the 3 children under the parent, each exec'd image under the
 * image it replaced; a fork link from the parent to each child, an exec
 * link to each new image; pipe writes paired with reads in /api/flows. */
TEST_IMPL(treeview_tree_prog_groups_links_flows) {
  char file[4096];
  snprintf(file, sizeof file, "%s/tree.ctrace", test_tmpdir());
  char *argv[] = {(char *)test_build_path("ctrace"), "run", "--min-duration", "0", "-o", file, "--",
                  (char *)test_build_path("tests/prog_tree"), NULL};
  char *out = NULL, *err = NULL;
  int st = test_run(argv, NULL, &out, &err);
  if (st != 0)
    TEST_FAIL_("ctrace run prog_tree: %d: %s", st, err ? err : "");
  unsigned child[3], parent;
  ASSERT_EQ(sscanf(out, "child %u\nchild %u\nchild %u\nparent %u", &child[0], &child[1], &child[2],
                   &parent), 4);
  free(out);
  free(err);
  ctrace_reader *r;
  char e[256];
  ASSERT_EQ(ctrace_reader_open_tree(file, &r, e, sizeof e), 0);
  struct ctrace_view v;
  ASSERT_EQ(ctrace_view_init(&v, r, file, NULL, NULL), 0);
  const struct ctrace_timeline *tl = v.tl;
  ASSERT_GE(tl->nprocs, 4);
  const struct ctrace_tl_process *root = &tl->procs[tl->proc_order[0]];
  ASSERT_EQ(root->pid, parent);
  ASSERT_EQ(root->depth, 0);
  unsigned forks = 0, execs = 0;
  for (size_t k = 0; k < tl->nproc_links; k++) {
    const struct ctrace_tl_proc_link *l = &tl->proc_links[k];
    const struct ctrace_tl_process *c = &tl->procs[l->child];
    ASSERT_UINT_EQ(c->parent, l->process);
    ASSERT(l->t <= l->t_child);
    if (l->kind == CTRACE_TL_LINK_FORK) {
      ASSERT_UINT_EQ(l->process, tl->proc_order[0]);
      ASSERT(c->pid == child[0] || c->pid == child[1] || c->pid == child[2]);
      forks++;
    } else {
      ASSERT_EQ(l->kind, CTRACE_TL_LINK_EXEC);
      ASSERT_EQ(tl->procs[l->process].pid, c->pid);
      execs++;
    }
  }
  ASSERT_EQ(forks, 3);
  ASSERT_EQ(forks + execs, tl->nprocs - 1); /* every image but the root made by a call */
  /* tree order: each image right after its tree parent's subtree begins */
  for (uint32_t k = 1; k < tl->nprocs; k++) {
    const struct ctrace_tl_process *p = &tl->procs[tl->proc_order[k]];
    ASSERT(p->parent != CTRACE_TL_NO_PROC);
    ASSERT_LT(tl->procs[p->parent].order, p->order);
    ASSERT_EQ(p->depth, tl->procs[p->parent].depth + 1);
  }
  /* the pipes and the socketpair: data edges */
  struct ctrace_reply rep;
  memset(&rep, 0, sizeof rep);
  ctrace_api_handle(&v, "/api/flows", no_param, NULL, &rep);
  ASSERT_EQ(rep.status, 200);
  ASSERT_STR_CONTAINS(rep.body, "\"kind\":\"data\"");
  free(rep.body);
  ctrace_view_fini(&v);
  ctrace_reader_close(r);
  return 0;
}
