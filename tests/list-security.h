/* list-security.h - hostile traces, trace paths and clients
 * (test-security.c). */
TEST_HELPER(security_gen_mappings)
TEST_ENTRY_TIMEOUT(security_cli_refuses_fifo_and_device_traces, 180)
