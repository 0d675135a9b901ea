#!/bin/sh
# query_bench.sh - how `ctrace query` should get its tables, measured: the
# virtual tables read from the trace while SQLite steps (what ctrace query
# does), against copying every table into an in-memory SQLite database
# first (`--in-memory`), on a synthetic trace of 10 M events (gen_trace).
#
# Usage: sh bench/query_bench.sh [BUILD_DIR [RUNS [TRACE]]]
#        (defaults: build, 3 runs, a 10 M-event trace made in a temp dir;
#        ctrace is copied first, so rebuilding meanwhile does not disturb it)
#
# Each run opens the trace and runs one query; the runs of the variants
# alternate (a, b, c, a, b, c...) so that the machine's load hits them alike.
# Printed per variant: wall time (median and range), CPU time (user+sys,
# median) and peak memory (max RSS, median). Never fails on a number.
set -eu
build=${1:-build}
runs=${2:-3}
trace=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$build/ctrace" "$tmp/ctrace"
ctrace="$tmp/ctrace"
if [ -z "$trace" ]; then
  trace="$tmp/q10m.ctrace"
  echo "query_bench: writing a 10 M-event trace (gen_trace, 4 workers)"
  CTRACE_CLOCK=monotonic "$build/bench/gen_trace" "$trace" 10000000 4 >/dev/null
fi
events=$("$ctrace" query "$trace" 'SELECT sum(events) FROM threads' --csv | tail -n 1 | tr -d '\r')
spans=$("$ctrace" query "$trace" 'SELECT count(*) FROM spans' --csv | tail -n 1 | tr -d '\r')
echo "query_bench: $trace: $(($(wc -c <"$trace") / 1000000)) MB, $events events, $spans spans"
echo "query_bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

Q='SELECT thread, state, count(*), sum(duration) FROM spans GROUP BY 1,2'
# thread+0: the same groups, which the table cannot hand over grouped: SQLite sorts
QSORT='SELECT thread+0 AS thread, state, count(*), sum(duration) FROM spans GROUP BY 1,2'

python3 - "$ctrace" "$trace" "$runs" "$Q" "$QSORT" <<'EOF'
import os, resource, statistics, subprocess, sys, time
ctrace, trace, runs, q, qsort = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
variants = [
    ("open only (SELECT 1)", [ctrace, "query", trace, "SELECT 1"]),
    ("virtual tables: GROUP BY thread, state", [ctrace, "query", trace, q]),
    ("virtual tables, SQLite sorts (thread+0)", [ctrace, "query", trace, qsort]),
    ("virtual tables: SELECT count(*) FROM spans", [ctrace, "query", trace, "SELECT count(*) FROM spans"]),
    ("in-memory copy, then GROUP BY", [ctrace, "query", "--in-memory", trace, q]),
]
res = {name: [] for name, _ in variants}
for _ in range(runs):
    for name, argv in variants:
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(os.devnull, os.O_WRONLY)
                os.dup2(fd, 1)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t0
        if status != 0:
            print(f"query_bench: {name}: exit status {status}", file=sys.stderr)
        res[name].append((wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024))
print(f"\n{'variant':<44} {'wall s (median, range)':>24} {'CPU s':>7} {'max RSS MB':>11}")
for name, _ in variants:
    w = [x[0] for x in res[name]]
    c = statistics.median(x[1] for x in res[name])
    m = statistics.median(x[2] for x in res[name])
    print(f"{name:<44} {statistics.median(w):>9.2f} ({min(w):.2f}-{max(w):.2f}) {c:>10.2f} {m:>11.0f}")
EOF
