/* list-critpath.h - the critical path (src/analyze/critpath.c, ctrace
 * critical-path, /api/critpath) and the comparison of two traces
 * (src/analyze/diff.c, ctrace diff): test-critpath.c. */
TEST_ENTRY(critpath_known_chain_three_threads)
TEST_ENTRY(critpath_socket_wait_says_not_traced)
TEST_ENTRY(critpath_parent_wait_continues_on_child)
TEST_ENTRY_TIMEOUT(critpath_pigz_dominated_by_compression, 120)
TEST_ENTRY(critpath_cli_and_api_agree)
TEST_ENTRY(critpath_read_continues_on_writer_process)
TEST_ENTRY(critpath_shared_sem_wait_continues_on_other_process)
TEST_ENTRY(critpath_long_paths_same_as_indexed)
TEST_ENTRY(diff_fail_if_grammar)
TEST_ENTRY_TIMEOUT(diff_http_delay_regression, 120)
TEST_ENTRY_TIMEOUT(diff_identical_runs_no_significant_change, 120)
TEST_ENTRY(critpath_poll_continues_on_writer_process)
