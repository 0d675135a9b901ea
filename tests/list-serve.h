/* list-serve.h - tests of `ctrace view`: the timeline model, the HTTP API
 * against the real server, the embedded web files and the command
 * (test-serve*.c). */
TEST_ENTRY(serve_summary_threads_tasks)
TEST_ENTRY(serve_timeline_binary)
TEST_ENTRY(serve_timeline_many_tasks_sends_the_longest)
TEST_ENTRY(serve_event_details)
TEST_ENTRY(serve_blocking_and_wakes)
TEST_ENTRY(serve_search_range_counters)
TEST_ENTRY(serve_pages_before_the_index_answers_after)
TEST_ENTRY(serve_cli_view_listens_before_indexing)
TEST_ENTRY(serve_unknown_paths_404)
TEST_ENTRY(serve_path_traversal_404)
TEST_ENTRY(serve_embedded_web_files)
TEST_ENTRY(serve_cli_view_serves_until_signal)
TEST_ENTRY_TIMEOUT(serve_damaged_traces_do_not_crash, 180)
TEST_ENTRY(serve_mapped_trace_truncated_reads_zeros)
