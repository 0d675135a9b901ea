/* list-export.h - tests of blocking profiles, pprof and Chrome exports and
 * their commands (test-export*.c). */
TEST_ENTRY(export_profile_kinds)
TEST_ENTRY(export_profile_sync_by_stack)
TEST_ENTRY(export_profile_window_and_thread)
TEST_ENTRY(export_pprof_decodes_with_protoc)
TEST_ENTRY_TIMEOUT(export_pprof_reads_in_go_tool_pprof, 120)
