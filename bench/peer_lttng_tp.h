/*
 * peer_lttng_tp.h - the LTTng-UST tracepoint provider of peer_lttng.c: one
 * event with one integer, the peer of ctrace_counter() (bench/cost.py).
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ctrace_bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./peer_lttng_tp.h"

#if !defined(PEER_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define PEER_LTTNG_TP_H

#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(ctrace_bench, counter,
                           LTTNG_UST_TP_ARGS(long, value),
                           LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(long, value, value)))

#endif

#include <lttng/tracepoint-event.h>
