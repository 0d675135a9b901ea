/* list-export.h - tests of blocking profiles, pprof and Chrome exports and
 * their commands (test-export*.c). */
TEST_ENTRY(export_profile_kinds)
TEST_ENTRY(export_profile_sync_by_stack)
TEST_ENTRY(export_profile_window_and_thread)
TEST_ENTRY(export_pprof_decodes_with_protoc)
TEST_ENTRY_TIMEOUT(export_pprof_reads_in_go_tool_pprof, 120)
TEST_ENTRY(export_chrome_json_has_expected_events)
TEST_ENTRY(export_chrome_escapes_bad_utf8)
TEST_ENTRY(export_chrome_window_cuts_open_regions_and_tasks)
TEST_ENTRY_TIMEOUT(export_damaged_traces_do_not_crash, 120)
TEST_ENTRY(export_cli_pprof_and_chrome)
TEST_ENTRY(export_cli_profile_table)
TEST_ENTRY_TIMEOUT(export_of_a_ctrace_run_trace, 120)
