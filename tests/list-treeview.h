/* list-treeview.h - a process tree as the viewer's one timeline: processes
 * in tree order, how each ended, fork and exec links (test-treeview.c). */
TEST_ENTRY(treeview_fork_exec_tree_and_links)
TEST_ENTRY(treeview_one_process_unchanged)
TEST_ENTRY(treeview_spawn_link)
TEST_ENTRY(treeview_tree_prog_groups_links_flows)
