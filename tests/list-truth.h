/*
 * list-truth.h - tests of tests/test-truth.c: every tool shows what happened
 * (thread identity under tid reuse, what a trace recorded, calls begun
 * before the trace).
 */
TEST_ENTRY_TIMEOUT(truth_tid_reuse_in_every_tool, 120)
TEST_ENTRY(truth_api_only_time_not_recorded)
TEST_ENTRY(truth_call_begun_before_the_trace)
TEST_ENTRY(truth_condvar_at_exit_blocked_everywhere)
TEST_ENTRY(truth_socket_io_is_network_in_the_viewer)
TEST_ENTRY(truth_run_sleep_lasts_its_time)
TEST_ENTRY(truth_parent_waiting_for_child_is_sync)
TEST_ENTRY(truth_records_count_in_thread_life)
TEST_ENTRY(truth_main_thread_runs_before_first_call)
