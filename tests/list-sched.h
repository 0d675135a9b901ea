/* list-sched.h - scheduling data (perf_event_open, format 1.2): the
 * recorder, the reader's intervals and samples, the states they give, the
 * CPU profile, and tracing without them when the kernel refuses
 * (test-sched.c). Every traced program runs as an unprivileged user. */
TEST_ENTRY_TIMEOUT(sched_cpu_bound_threads_runnable_and_schedstat, 120)
TEST_ENTRY_TIMEOUT(sched_sleep_split_into_asked_and_runnable, 120)
TEST_ENTRY_TIMEOUT(sched_pipe_read_woken_on_busy_cpus_splits_at_switch_in, 120)
TEST_ENTRY_TIMEOUT(sched_raw_futex_wait_is_blocked_other, 120)
TEST_ENTRY_TIMEOUT(sched_switch_counts_match_proc, 120)
TEST_ENTRY_TIMEOUT(sched_switch_counts_match_proc_many_threads, 120)
TEST_ENTRY_TIMEOUT(sched_ring_grows_and_keeps_every_switch, 120)
TEST_ENTRY_TIMEOUT(sched_loss_at_the_stop_is_counted, 120)
TEST_ENTRY_TIMEOUT(sched_cpu_profile_splits_call_paths, 120)
TEST_ENTRY_TIMEOUT(sched_cpu_profile_of_task_region_range_and_samples_api, 120)
TEST_ENTRY_TIMEOUT(sched_refused_tracing_goes_on, 120)
TEST_ENTRY(sched_states_split_on_hand_built_intervals)
TEST_ENTRY(sched_states_io_wait_tail_split_at_switch_in)
TEST_ENTRY(sched_blob_decoders_reject_bad_bytes)
