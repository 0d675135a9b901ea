/* Process trees as one trace (tests/test-tree.c). */
TEST_ENTRY(tree_fork_exec_pipes_one_trace)
TEST_ENTRY(tree_clock_aligns_processes)
TEST_ENTRY(tree_ignores_other_runs)
TEST_ENTRY(tree_with_names_more_files)
TEST_ENTRY(tree_symbols_per_process)
TEST_ENTRY_TIMEOUT(tree_make_j2_compilers, 120)
TEST_ENTRY_TIMEOUT(tree_postgres_pgbench, 240)
TEST_ENTRY(tree_running_processes_say_so)
