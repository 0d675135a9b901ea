/*
 * states.h - the one thread-state machine: turns one thread's events, in
 * order, into a sequence of state spans (running, blocked on sync, network,
 * file I/O, polling, sleeping, other system calls). The timeline, the stats,
 * the profiles, the exports and the HTTP API all take their states from here;
 * none of them interprets WAIT, SYSCALL, PENDING or THREAD_EXIT for states.
 *
 * The rules, in one place:
 * - A WAIT or SYSCALL is recorded when the call returns and carries its
 *   duration: the span is [end - dur, end]. Its start is clipped to the
 *   thread's first event and to the end of the span before it (nested calls
 *   are recorded inner first, so the outer one keeps only what follows the
 *   inner one; skewed clocks cannot make spans overlap). A call that is the
 *   thread's first event began before the thread was seen: its span, and
 *   the thread's life (ctrace_states_begin), go back to where it began, but
 *   not before the trace's start (time 0): a call begun earlier (the trace
 *   started while the thread was blocked) is clipped there and flagged
 *   CTRACE_SPAN_BEFORE_START.
 * - Time between blocking spans is RUNNING (on a CPU or ready to run: the
 *   trace cannot tell which) when the trace recorded blocking calls, and
 *   NOT_RECORDED when it did not (a program that used the API without the
 *   preload: its PROPERTY recording=api). What a trace recorded is the one
 *   per-trace input of the machine: ctrace_states_known().
 * - A PENDING record (written at stop) is a call that had not returned: a
 *   span from its start to the end of the thread (or trace), flagged
 *   CTRACE_SPAN_AT_END.
 * - A process's main thread (tid = pid) begins at its trace's start
 *   (reader.c): it existed then, whatever its first event.
 * - The thread ends at THREAD_EXIT; later events of the thread (destructors
 *   running after it) change no state. A thread that never exited ends with
 *   the trace.
 * - Other events (THREAD_NAME for another thread, regions, logs, wake-ups)
 *   change no state.
 * - With scheduling data (the thread's on-CPU intervals, format 1.2,
 *   attached by ctrace_states_use_sched), time outside blocking calls is
 *   RUNNING only while the thread is on a CPU; off a CPU it is RUNNABLE
 *   after a preemption, BLOCKED_NOT_INTERPOSED after a voluntary switch
 *   (a call ctrace does not interpose), NOT_RECORDED when the kernel's
 *   records of the switch were lost. Before the thread's first interval
 *   the rule without scheduling data holds when that interval began
 *   before the kernel's records did (the thread was on a CPU then), else
 *   NOT_RECORDED. A sleep whose requested duration is
 *   known (WAIT.object) is split: the time asked for (SLEEP), then
 *   RUNNABLE until the thread is back on a CPU, then RUNNING to the call's
 *   return; so is a wait that a recorded WAKE ended (from the wake-up).
 *   A blocking system call (I/O, network, poll, others) lasts up to the
 *   first switch-in after its last voluntary switch-out (the latest its
 *   wake-up can have been: no record says when it was), or, in a call
 *   that never blocked, up to its first preemption;
 *   from there to the return the switches decide (RUNNING on a CPU,
 *   RUNNABLE after a preemption). Without scheduling data nothing
 *   changes.
 *
 * Not here: what the spans are drawn or summed into (timeline_build.c, profile.c,
 * chrome.c, src/serve/). The machine allocates nothing and keeps no event
 * after feeding it: any number of them may run at once.
 */
#ifndef CTRACE_STATES_H
#define CTRACE_STATES_H

#include <stdint.h>

#include "../read/reader.h"

/*
 * The states. X(NAME, code, "key", reported, "meaning"). Codes go into the
 * timeline's packed transitions (7 bits) and into the binary timeline
 * answer (docs/API.md), so they never change; a new state takes the next
 * code. reported = 1: the HTTP API always lists the state in its "states"
 * objects; 0: only when some time was spent in it (so that answers keep
 * their shape until a trace has such time). The viewer's copy is
 * web/states.js.
 */
#define CTRACE_STATES(X)                                                                         \
  X(RUNNING, 0, "running", 1, "in no recorded blocking call: on a CPU or ready to run")          \
  X(SYNC, 1, "sync", 1, "blocked on a mutex, rwlock, condition variable, semaphore, barrier or join") \
  X(NET, 2, "net", 1, "in a socket or pipe call: waiting for another thread's or process's data, or for room") \
  X(IO, 3, "io", 1, "in a file I/O call (files and devices; pipes are net)")                     \
  X(POLL, 4, "poll", 1, "waiting in poll, select or epoll")                                      \
  X(SLEEP, 5, "sleep", 1, "in sleep, nanosleep or usleep")                                       \
  X(SYSCALL, 6, "syscall", 1, "in another blocking system call")                                 \
  X(RUNNABLE, 7, "runnable", 0, "ready to run but waiting for a CPU: preempted, or its sleep ended (needs scheduling data)") \
  X(BLOCKED_NOT_INTERPOSED, 8, "blocked_other", 0, "off the CPU voluntarily outside any recorded call: blocked in a call ctrace does not interpose (needs scheduling data)") \
  X(NOT_RECORDED, 9, "not_recorded", 0, "nothing recorded about what the thread did: a trace of the API alone (no preload) records no blocking calls, so without scheduling data it cannot tell running from blocked; also where scheduling records were lost")

enum ctrace_state {
#define CTRACE__ST_ENUM(name, code, key, reported, doc) CTRACE_ST_##name = code,
  CTRACE_STATES(CTRACE__ST_ENUM)
#undef CTRACE__ST_ENUM
};
#define CTRACE__ST_PLUS1(name, code, key, reported, doc) +1
enum { CTRACE_ST_COUNT = 0 CTRACE_STATES(CTRACE__ST_PLUS1) };
#undef CTRACE__ST_PLUS1
/* Not started yet, or exited: never the state of a span. */
#define CTRACE_ST_OUTSIDE CTRACE_ST_COUNT

/* "running", "sync", ...; "outside" for anything else. */
const char *ctrace_state_name(unsigned state);
/* Whether the API always lists state (the table's reported column). */
int ctrace_state_reported(unsigned state);
/* Whether state is one a recorded call puts a thread in (sync, net, io,
 * poll, sleep, syscall): a span of it was made by a WAIT, SYSCALL or
 * PENDING. */
int ctrace_state_from_call(unsigned state);
/* The state a wait of reason, or a system call of class, puts a thread in. */
unsigned ctrace_state_of_wait(uint64_t reason);
unsigned ctrace_state_of_syscall(uint64_t cls);

/* span flags */
#define CTRACE_SPAN_AT_END 0x1u       /* the call was still in progress when the trace ended */
#define CTRACE_SPAN_BEFORE_START 0x2u /* the call began before the trace did: clipped to its start */

struct ctrace_span {
  int64_t start, end; /* ns (as the machine's clock gives them); end >= start */
  unsigned state;     /* enum ctrace_state */
  unsigned flags;     /* CTRACE_SPAN_* */
  uint8_t kind;       /* event that made it: WAIT, SYSCALL, PENDING; 0 outside calls */
  uint64_t reason;    /* wait reason; 0 for a system call */
  uint64_t call, cls; /* system call and its class; 0 for a wait */
  uint64_t object;    /* wait object; 0 for a system call */
  uint64_t fd;        /* system call's fd */
  int64_t result;     /* system call's result */
  uint64_t stack;     /* stack id, 0 if none */
};

/* Called for each span, in time order. Blocking spans are reported even
 * when clipping left them empty (a profile counts the call); the others
 * only when not empty. */
typedef void (*ctrace_span_fn)(void *arg, const struct ctrace_span *sp);
/* Converts event ticks to the time unit of spans. */
typedef int64_t (*ctrace_states_clock)(const void *ctx, uint64_t ticks);

/*
 * What a trace recorded about its threads' time (flags): the machine's one
 * per-trace input. CTRACE_KNOWN_BLOCKING: the blocking calls (the preload
 * recorded them), so time outside them is RUNNING; without it that time is
 * NOT_RECORDED. A trace that does not say (formats 1.0 and 1.1, no
 * PROPERTY "recording") counts as having recorded them, as ctrace always
 * read such traces; so does one that says "api" but holds WAIT, SYSCALL or
 * PENDING records all the same (written by a generator of test traces).
 */
#define CTRACE_KNOWN_BLOCKING 0x1u
unsigned ctrace_states_known(const ctrace_reader *r);
/* What the trace recorded, in words ("tasks, regions, logs (API only:
 * blocking calls not recorded)"), for `ctrace stats`. */
const char *ctrace_states_recorded_text(const ctrace_reader *r);

struct ctrace_states {
  ctrace_states_clock clock;
  const void *clock_ctx;
  ctrace_span_fn fn;
  void *arg;
  int64_t first;   /* the thread's begin: its first event, or the start of a call before it */
  int64_t last;    /* end of the last span reported */
  int64_t exit_ns; /* time of THREAD_EXIT */
  int exited;
  int pending;     /* pend holds a PENDING call */
  unsigned known;  /* CTRACE_KNOWN_* of the trace */
  uint64_t nev;    /* events fed */
  struct ctrace_span pend;
  /* scheduling data: the thread's on-CPU intervals (ticks), the next one
   * that may matter */
  const struct ctrace_oncpu *cpu;
  uint32_t ncpu, icpu;
  const uint64_t *wake; /* the thread's recorded wake-ups (ticks, in order) */
  uint32_t nwake, iwake;
};

/* clock: NULL for identity (ticks are ns: tests). first_ns: the thread's
 * first event, in the clock's unit. With ctrace_states_reader_clock the
 * machine takes what the trace recorded from its reader (clock_ctx);
 * otherwise it assumes CTRACE_KNOWN_BLOCKING (see ctrace_states_set_known). */
void ctrace_states_init(struct ctrace_states *m, int64_t first_ns, ctrace_states_clock clock,
                        const void *clock_ctx, ctrace_span_fn fn, void *arg);
/* Sets what the trace recorded (CTRACE_KNOWN_*), before the first event. */
void ctrace_states_set_known(struct ctrace_states *m, unsigned known);
/* The state of the thread's time outside its recorded calls: RUNNING, or
 * NOT_RECORDED when the trace recorded no blocking calls. */
unsigned ctrace_states_gap(const struct ctrace_states *m);
/* Feeds the thread's next event (in the thread's order). */
void ctrace_states_event(struct ctrace_states *m, const ctrace_event *ev);
/* The thread's begin: its first event, or earlier when that event is a
 * call that began before it (never before the trace's start). */
int64_t ctrace_states_begin(const struct ctrace_states *m);
/* Ends the stream: reports the last spans up to the thread's end, which it
 * returns: its THREAD_EXIT, else end_ns (the end of the trace). */
int64_t ctrace_states_finish(struct ctrace_states *m, int64_t end_ns);

/* Attaches scheduling data: iv[0..n), in time order, in the ticks the
 * machine's clock converts (ctrace_reader_oncpu gives them). */
void ctrace_states_set_oncpu(struct ctrace_states *m, const struct ctrace_oncpu *iv, uint32_t n);
/* Its recorded wake-ups (ticks, in order: ctrace_reader_wakes). */
void ctrace_states_set_wakes(struct ctrace_states *m, const uint64_t *ticks, uint32_t n);
/* Both for thread index ti of r (nothing when r has none for it). */
void ctrace_states_use_sched(struct ctrace_states *m, const ctrace_reader *r, uint32_t ti);

/* A clock over a reader: ctrace_reader_ns. */
int64_t ctrace_states_reader_clock(const void *reader, uint64_t ticks);

/* A ctrace_span_fn adding each span's time to row[state] (a uint64_t per
 * state): a thread's time by state, as `ctrace stats` and the timeline's
 * build sum it. */
void ctrace_states_sum_span(void *row, const struct ctrace_span *sp);

/* Runs the machine over thread index ti of r, reporting every span to fn;
 * returns the thread's end (ns). */
int64_t ctrace_states_thread(const ctrace_reader *r, uint32_t ti, ctrace_span_fn fn, void *arg);

#endif /* CTRACE_STATES_H */
