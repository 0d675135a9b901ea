/* list-taskid.h - task ids across the processes of a tree (tests/test-taskid.c). */
TEST_ENTRY(taskid_fork_child_continues_parent_task)
TEST_ENTRY(taskid_old_counters_stay_apart_per_process)
TEST_ENTRY(taskid_thread_links_stay_per_process)
