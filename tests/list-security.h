/* list-security.h - hostile traces, trace paths and clients
 * (test-security.c). */
TEST_HELPER(security_gen_mappings)
TEST_ENTRY_TIMEOUT(security_cli_refuses_fifo_and_device_traces, 180)
TEST_ENTRY_TIMEOUT(security_symbolizer_skips_fifos_and_devices, 180)
TEST_ENTRY_TIMEOUT(security_many_mappings_take_linear_time, 600)
TEST_ENTRY_TIMEOUT(security_symbolizer_never_asks_debuginfod, 300)
TEST_ENTRY(security_view_refuses_foreign_hosts)
TEST_ENTRY(security_view_only_get_and_head)
TEST_ENTRY(security_view_allow_host)
TEST_ENTRY(security_view_every_interface_warns)
TEST_ENTRY_TIMEOUT(security_view_survives_idle_connections, 300)
