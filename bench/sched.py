#!/usr/bin/env python3
"""bench/sched.py - what scheduling data (context switches and CPU samples
through perf_event_open, format 1.2) adds to `ctrace run`, in one run:
the loopback request/response server and the contended-mutex benchmark of
bench/preload.sh, each untraced, traced with CTRACE_SCHED=off, and traced
with scheduling data and samples at the default rate, in alternating order
(one run of each mode per round, so that a change of load on a shared
machine hits every mode alike). Prints the median and [min..max] of each
mode's result, wall time and CPU time (user+sys of `ctrace run` and the
program, from the kernel's rusage of children: this includes the tool's
own reading of the trace after the program), the program's own CPU time
while its clients ran (the server's `cpu_s` line: every thread, the
tracer's writer included), and the file bytes per context switch and the
records lost of the traced-with-scheduling runs. Never fails: prints a
table to read, asserts nothing.

  bench/sched.py [BUILD_DIR]        (default: build)
  ROUNDS=N (default 5), CLIENTS, REQUESTS, LOCKS as in bench/preload.sh
  MODES=0,1,2,3 (untraced, CTRACE_SCHED=off, scheduling without samples,
  scheduling + samples), BENCH=server or mutex, BASE_PRELOAD=PATH (another
  build's libctrace-preload.so as one more mode: before and after in one run)
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

B = sys.argv[1] if len(sys.argv) > 1 else "build"
ROUNDS = int(os.environ.get("ROUNDS", "5"))
CT = os.path.join(B, "ctrace")
SERVER = os.path.join(B, "src/preload/bench_preload_server")
MUTEX = os.path.join(B, "src/preload/bench_preload_mutex")
CLIENTS = os.environ.get("CLIENTS", "2")
REQUESTS = os.environ.get("REQUESTS", "20000")
LOCKS = os.environ.get("LOCKS", "1000000")

# (name, the environment of `ctrace run`, or None: untraced)
ALL_MODES = [("untraced", None),
             ("ctrace run, CTRACE_SCHED=off", {"CTRACE_SCHED": "off"}),
             ("ctrace run, scheduling, no samples", {"CTRACE_SCHED": "on",
                                                     "CTRACE_SAMPLE_HZ": "0"}),
             ("ctrace run, scheduling + samples", {"CTRACE_SCHED": "on"})]
# BASE_PRELOAD=PATH adds a mode: scheduling + samples with another build's
# preload library (a before/after comparison in one run)
if os.environ.get("BASE_PRELOAD"):
    ALL_MODES.append(("scheduling + samples, BASE_PRELOAD",
                      {"CTRACE_SCHED": "on", "CTRACE_PRELOAD": os.environ["BASE_PRELOAD"]}))
# MODES=0,1,3 picks some; BENCH=server or mutex runs one benchmark
MODES = [ALL_MODES[int(i)] for i in
         os.environ.get("MODES", ",".join(str(i) for i in range(len(ALL_MODES)))).split(",")]


def run(cmd, mode, trace, key):
    """Runs cmd in mode; (value after key, wall s, cpu s, the program's own
    cpu_s line or None)."""
    env = dict(os.environ)
    if mode is not None:
        env.update(mode)
        cmd = [CT, "run", "-o", trace, "--"] + cmd
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    val = own = None
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == key:
            val = float(f[1])
        if len(f) == 2 and f[0] == "cpu_s":
            own = float(f[1])
    return val, wall, cpu, own


def fmt(v, scale, prec):
    v = [x * scale for x in v if x is not None]
    if not v:
        return "n/a"
    return "%.*f [%.*f..%.*f]" % (prec, statistics.median(v), prec, min(v), prec, max(v))


def sched_bytes(trace):
    try:
        out = subprocess.run([CT, "stats", "--json", trace], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        s = json.loads(out)["sched"]
        return s.get("switches", 0), s.get("bytes", 0), s.get("lost", 0), os.path.getsize(trace)
    except (ValueError, KeyError, OSError):
        return 0, 0, 0, 0


def bench(title, cmd, key, unit, scale, prec, higher_better, tmp):
    res = {m: [] for m, _ in MODES}
    per_switch = []
    for rnd in range(ROUNDS):
        order = MODES if rnd % 2 == 0 else list(reversed(MODES))
        for name, mode in order:
            trace = os.path.join(tmp, "t.ctrace")
            res[name].append(run(cmd, mode, trace, key))
            if mode and mode.get("CTRACE_SCHED") == "on":
                per_switch.append((name, sched_bytes(trace)))
    print("%s (%d rounds, alternating; median [min..max])" % (title, ROUNDS))
    own = any(o is not None for r in res.values() for _, _, _, o in r)
    print("| mode | %s | vs untraced | wall s | CPU s |%s" % (unit, " program's CPU s |" if own else ""))
    print("|---|---|---|---|---|%s" % ("---|" if own else ""))
    base = statistics.median([v for v, _, _, _ in res[MODES[0][0]] if v is not None] or [1])
    for name, _ in MODES:
        vals = [v for v, _, _, _ in res[name]]
        med = statistics.median([v for v in vals if v is not None] or [0])
        rel = "%.1f %%" % (100 * med / base) if higher_better else "%.2fx" % (med / base)
        print("| %s | %s | %s | %s | %s |%s" % (name, fmt(vals, scale, prec), rel,
                                                  fmt([w for _, w, _, _ in res[name]], 1, 2),
                                                  fmt([c for _, _, c, _ in res[name]], 1, 2),
                                                  " %s |" % fmt([o for _, _, _, o in res[name]], 1, 3)
                                                  if own else ""))
    for name, _ in MODES:
        ps = [p for n, p in per_switch if n == name]
        sw = sum(p[0] for p in ps)
        if not sw:
            continue
        print("%s: %.0f context switches per run, %.2f file bytes per switch (SCHED "
              "records), records lost per run %s, trace %.0f KB per run"
              % (name, sw / len(ps), sum(p[1] for p in ps) / sw,
                 "/".join(str(p[2]) for p in ps), sum(p[3] for p in ps) / len(ps) / 1024))
    print()
    return res


def main():
    for p in (CT, SERVER, MUTEX):
        if not os.access(p, os.X_OK):
            print("missing %s: build first (meson setup build && ninja -C build)" % p)
            return
    print("scheduling data overhead (%s, %d cores, load %s)"
          % (time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), os.cpu_count(),
             open("/proc/loadavg").read().split()[0]))
    print()
    with tempfile.TemporaryDirectory(prefix="ctrace-sched-bench.") as tmp:
        which = os.environ.get("BENCH", "server,mutex").split(",")
        if "server" in which:
            bench("loopback server, %s clients x %s requests" % (CLIENTS, REQUESTS),
                  [SERVER, CLIENTS, REQUESTS], "req_per_s", "req/s", 1, 0, True, tmp)
        if "mutex" in which:
            bench("contended mutex, 2 threads, %s locks" % LOCKS, [MUTEX, "contended", LOCKS],
                  "contended_ns", "ms", 1e-6, 1, False, tmp)


if __name__ == "__main__":
    main()
