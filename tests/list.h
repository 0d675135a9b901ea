/*
 * list.h - every test of the runner, by area. Each area keeps its own list
 * file so that areas can grow without touching each other. Names read
 * <area>_<behaviour>. TEST_ENTRY(name) or TEST_ENTRY_TIMEOUT(name, seconds)
 * (default limit: 60 s); TEST_HELPER(name) declares a helper process that
 * tests start as `ctrace-tests --helper name`. Helpers need every TEST_*
 * macro defined: a list file may use all three.
 */
#ifndef TEST_HELPER
#define TEST_HELPER(name)
#define CTRACE_LIST_UNDEF_HELPER
#endif
#include "list-format.h"
#include "list-record.h"
#include "list-read.h"
#include "list-cli.h"
#include "list-states.h"
#include "list-truth.h"
#include "list-sched.h"
#include "list-stacks.h"
#include "list-critpath.h"
#if __has_include("list-preload.h")
#include "list-preload.h"
#endif
#if __has_include("list-serve.h")
#include "list-serve.h"
#endif
#if __has_include("list-security.h")
#include "list-security.h"
#endif
#if __has_include("list-export.h")
#include "list-export.h"
#endif
#if __has_include("list-harm.h")
#include "list-harm.h"
#endif
#include "list-sql.h"
#include "list-treerec.h"
#include "list-tree.h"
#include "list-taskid.h"
#include "list-viewperf.h"
#include "list-treeview.h"
#if __has_include("list-fds.h")
#include "list-fds.h"
#endif
#ifdef CTRACE_LIST_UNDEF_HELPER
#undef TEST_HELPER
#undef CTRACE_LIST_UNDEF_HELPER
#endif
