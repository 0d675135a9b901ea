#!/bin/sh
# critpath_bench.sh - how long `ctrace critical-path` takes on long paths:
# a thread's whole life (a path of hundreds of thousands of segments
# hopping between workers at every wake-up), a window of it, every
# instance of a task name, against opening the trace alone, on a synthetic
# trace (gen_trace: 4 workers handing requests on by wake-ups).
#
# Usage: sh bench/critpath_bench.sh [BUILD_DIR [RUNS [TRACE TID]]]
#        (defaults: build, 5 runs, a 436k-event trace made in a temp dir
#        and its last worker; ctrace is copied first, so rebuilding
#        meanwhile does not disturb it). BASE_CTRACE=PATH adds the same
#        commands run by another build's ctrace (before/after), alternating.
#
# The runs of the variants alternate (a, b, c, a, b, c...) so that the
# machine's load hits them alike. Printed per variant: the path's segments,
# wall time (median and range), CPU time (user+sys, median and range) and
# peak memory (max RSS, median). Never fails on a number.
set -eu
build=${1:-build}
runs=${2:-5}
trace=${3:-}
tid=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$build/ctrace" "$tmp/ctrace"
ctrace="$tmp/ctrace"
base=
if [ -n "${BASE_CTRACE:-}" ]; then
  cp "$BASE_CTRACE" "$tmp/ctrace-base"
  base="$tmp/ctrace-base"
fi
if [ -z "$trace" ]; then
  trace="$tmp/cp.ctrace"
  echo "critpath_bench: writing a 436k-event trace (gen_trace, 4 workers)"
  CTRACE_CLOCK=monotonic "$build/bench/gen_trace" "$trace" 436000 4 >/dev/null
fi
if [ -z "$tid" ]; then # the last thread of the stats' table: a worker
  tid=$("$ctrace" stats "$trace" 2>/dev/null |
    awk '/^thread states/ { on = 1; next } on && /^  [0-9]/ { t = $1 } on && !/^  / { on = 0 } END { print t }')
fi
echo "critpath_bench: $trace: $(($(wc -c <"$trace") / 1000)) kB, tid $tid"
"$ctrace" stats "$trace" 2>/dev/null | grep -E '^(events|threads|duration) +[0-9]' | sed 's/^/critpath_bench:   /'
echo "critpath_bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$ctrace" "$base" "$trace" "$tid" "$runs" <<'EOF'
import json, os, statistics, subprocess, sys, time
ctrace, base, trace, tid, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

def path(args):
    """start_ns, end_ns and segments of a path, parsed in another process
    (the peak memory of the children forked below starts at this one's)"""
    parse = "import json, sys; d = json.load(sys.stdin); print(d['start_ns'], d['end_ns'], len(d['segments']))"
    cp = subprocess.run([ctrace, "critical-path"] + args + ["--json", trace], capture_output=True)
    out = subprocess.run([sys.executable, "-c", parse], input=cp.stdout, capture_output=True)
    return [int(x) for x in out.stdout.split()] if out.returncode == 0 else [0, 0, None]

# the thread's life, and a window of its middle third
a, b, nlife = path(["--tid", tid])
w0, w1 = a + (b - a) // 3, b - (b - a) // 3
window = ["--tid", tid, "--start", str(w0), "--end", str(w1)]
cmds = [
    ("open only (--tid of no thread)", ["--tid", "1"], None),
    ("--tid: the thread's life", ["--tid", tid], nlife),
    ("--tid --json", ["--tid", tid, "--json"], nlife),
    ("--tid, its middle third", window, path(window)[2]),
    ("--name request (every task)", ["--name", "request"], None),
]
variants = []
for name, args, segs in cmds:
    for label, exe in (("", ctrace), ("base: ", base)):
        if exe:
            variants.append((label + name, [exe, "critical-path"] + args + [trace], segs))
res = {name: [] for name, _, _ in variants}
for _ in range(runs):
    for name, argv, _ in variants:
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(os.devnull, os.O_WRONLY)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        _, status, ru = os.wait4(pid, 0)
        res[name].append((time.monotonic() - t0, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024))

def rng(v):
    return "%.2f [%.2f-%.2f]" % (statistics.median(v), min(v), max(v))

print()
print("%-42s %9s %20s %20s %8s" % ("variant", "segments", "wall s (range)", "cpu s (range)", "rss MB"))
for name, _, segs in variants:
    r = res[name]
    print("%-42s %9s %20s %20s %8.0f" % (name, segs if segs is not None else "-",
                                        rng([x[0] for x in r]), rng([x[1] for x in r]),
                                        statistics.median([x[2] for x in r])))
print("\n(%d runs each, alternating; the load average after: %s)" %
      (runs, open("/proc/loadavg").read().split()[:3]))
EOF
