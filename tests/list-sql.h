/* list-sql.h - tests of `ctrace query` and the SQLite export (test-sql.c). */
TEST_ENTRY(sql_answers_match_stats_timeline_profiles)
TEST_ENTRY(sql_orders_and_modes_agree)
TEST_ENTRY(sql_tid_reuse_two_threads)
TEST_ENTRY(sql_empty_and_cut_off_traces)
TEST_ENTRY(sql_hostile_statements_refused)
TEST_ENTRY(sql_output_formats)
TEST_ENTRY(sql_export_opens_in_sqlite3_and_python)
TEST_ENTRY(sql_docs_describe_every_column)
