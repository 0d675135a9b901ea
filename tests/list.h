/*
 * list.h - every test of the runner, by area. Each area keeps its own list
 * file so that areas can grow without touching each other. Names read
 * <area>_<behaviour>. TEST_ENTRY(name) or TEST_ENTRY_TIMEOUT(name, seconds)
 * (default limit: 60 s).
 */
#include "list-format.h"
#include "list-record.h"
#include "list-read.h"
#include "list-cli.h"
#if __has_include("list-preload.h")
#include "list-preload.h"
#endif
#if __has_include("list-serve.h")
#include "list-serve.h"
#endif
#if __has_include("list-export.h")
#include "list-export.h"
#endif
