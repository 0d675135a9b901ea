/*
 * api_int.h - what the files of the HTTP API share: parameters, JSON
 * answers, and one function per endpoint. api.c is the plumbing (replies,
 * parameters, routing); api_views.c the views of the trace (summary,
 * threads, tasks, instances, profiles, timeline); api_event.c the details
 * of one clicked thing (/api/event).
 */
#ifndef CTRACE_SERVE_API_INT_H
#define CTRACE_SERVE_API_INT_H

#include <stdint.h>
#include <stdio.h>

#include "../analyze/profile.h"
#include "view.h"

/* The query parameters of one request; err says what was wrong. */
struct params {
  ctrace_param_fn get;
  void *ctx;
  char err[160];
};

/* A JSON answer written into memory. */
struct json {
  FILE *f;
  char *buf;
  size_t len;
};
int ctrace__json_open(struct json *j);
/* Closes j into a 200 reply (500 when out of memory). */
void ctrace__json_close(struct json *j, struct ctrace_reply *out);
void ctrace__json_str(FILE *f, const char *s);
/* String id as a JSON string ("" when unknown). */
void ctrace__json_sid(const struct ctrace_view *v, FILE *f, uint64_t id);
/* Time per state, as the API reports states (states.h). */
void ctrace__json_states(FILE *f, const uint64_t *ns);
/* The symbolized frames of stack id, as a JSON array. */
void ctrace__json_stack(struct ctrace_view *v, FILE *f, uint64_t id);

/* Strict decimal: optional '-', digits, no overflow, nothing after; 0 or -1. */
int ctrace__parse_i64(const char *s, int64_t *out);
/* 0 with *out (def when absent), -1 with p->err set. */
int ctrace__param_i64(struct params *p, const char *key, int64_t def, int64_t min, int64_t max,
                      int64_t *out);
/* The thread index of the tid in parameter key; -1 with p->err set. */
int ctrace__param_thread(struct params *p, const struct ctrace_view *v, const char *key,
                         uint32_t *out);

/* The "process_list" and "process_links" keys of /api/summary (api_procs.c). */
void ctrace__json_processes(struct ctrace_view *v, FILE *f);
/* Removes the list ,"key":[...] from the JSON text s (len bytes); returns the new length. */
size_t ctrace__json_drop_list(char *s, size_t len, const char *key);

/* The endpoints (docs/API.md). */
void ctrace__api_summary(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_threads(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_tasks(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_instances(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_profile(struct ctrace_view *v, struct params *p, struct ctrace_reply *out,
                         int pprof);
void ctrace__api_timeline(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_event(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
/* api_find.c */
void ctrace__api_search(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
/* The profile of the threads of parameter `tids` (T1,T2,...: each thread
 * that had one of them) when it is given: 1 with *out built, 0 when there
 * is no `tids`, -1 with p->err set (a bad list) or out of memory (p->err
 * ""). api_find.c. */
int ctrace__profile_tids(struct ctrace_view *v, struct params *p, enum ctrace_profile_kind kind,
                         int64_t a, int64_t b, struct ctrace_profile *out);
void ctrace__api_range(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_counters(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_drops(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_critpath(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
/* /api/compare, /api/compare/histogram and /api/after/... (two traces) */
void ctrace__api_compare(struct ctrace_view *v, const char *path, struct params *p,
                         struct ctrace_reply *out);
void ctrace__api_cpus(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_samples(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
void ctrace__api_sample(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);
/* api_procs.c: data edges (pipes, socketpairs, TCP) and shared-object wake-ups */
void ctrace__api_flows(struct ctrace_view *v, struct params *p, struct ctrace_reply *out);

#endif
