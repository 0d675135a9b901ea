/*
 * table.h - CTRACE_TABLE, for a large zero-filled array with static
 * storage (a few KB and up): it goes to a section of its own, which the
 * preload's link places after every small variable (sections sorted by
 * name, ".bss.~" last). A traced process pays about as much for each page
 * it touches first as for the rest of its start-up work put together; with
 * the tables out of the way, the small variables a start touches share one
 * or two pages instead of one page each between tables. Only for
 * zero-filled data: the section is @nobits.
 */
#ifndef CTRACE_TABLE_H
#define CTRACE_TABLE_H

#define CTRACE_TABLE __attribute__((section(".bss.~table")))

/* The same for a table whose first bytes a start touches: it goes right
 * after the small variables (".bss.}" sorts after every name and before
 * ".bss.~"), so its head shares their last page. */
#define CTRACE_TABLE_HEAD __attribute__((section(".bss.}head")))

#endif
