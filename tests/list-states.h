/* list-states.h - tests of the thread-state machine alone
 * (src/analyze/states.c) on hand-built event streams, and of the typed
 * event fields it reads (test-states.c). */
TEST_ENTRY(states_waits_and_syscalls_in_order)
TEST_ENTRY(states_call_in_progress_at_end)
TEST_ENTRY(states_names_set_from_another_thread)
TEST_ENTRY(states_nested_and_overlapping_waits)
TEST_ENTRY(states_events_after_thread_exit)
TEST_ENTRY(states_wait_before_first_event)
TEST_ENTRY(states_table_names_and_reporting)
TEST_ENTRY(states_typed_fields_match_kind_table)
TEST_ENTRY(states_pending_in_timeline_profile_and_chrome)
