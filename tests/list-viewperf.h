/* list-viewperf.h - `ctrace view` on big traces: the index cache file
 * (test-viewperf.c); what latency statistics leave out. */
TEST_ENTRY(viewperf_index_cache_reused)
TEST_ENTRY(viewperf_index_adopted_answers_the_same)
TEST_ENTRY_TIMEOUT(viewperf_index_cache_damaged_is_rebuilt, 300)
TEST_ENTRY_TIMEOUT(viewperf_index_cache_forged_is_rejected, 180)
TEST_ENTRY(viewperf_index_cache_changed_trace_rebuilt)
TEST_ENTRY(viewperf_unended_left_out_of_latency)
TEST_ENTRY(viewperf_search_pages_through_every_match)
TEST_ENTRY(viewperf_regions_merged_as_one_by_one)
TEST_ENTRY(viewperf_tasks_paired_as_sorting_pairs_them)
TEST_ENTRY(viewperf_regions_past_max_depth_closed_up)
