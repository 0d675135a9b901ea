#!/bin/bash
# view_open.sh - the server side of opening a trace in `ctrace view`, as the
# page's first requests see it: starts `ctrace view`, asks /api/summary until
# it answers, then the full-width timeline, the counters and the drops at
# once (what the timeline page asks first), and prints the wall time from
# the start to those answers, the server's CPU time until then and its peak
# RSS; then, after WAIT seconds (the answers computed in the background),
# its peak RSS, RSS and CPU again.
#
# Usage: bench/view_open.sh [--cold] CTRACE FILE [PORT [WAIT]]
#   --cold  removes the index cache beside FILE first (a first open)
# Prints one line; never fails on a slow number.
set -u
cold=0
if [ "${1:-}" = --cold ]; then cold=1; shift; fi
ctrace=$1 file=$2 port=${3:-18790} wait=${4:-8}
[ $cold = 1 ] && rm -f "$(dirname "$file")/.$(basename "$file").ctidx"
tmp=$(mktemp)
t0=$(date +%s%N)
"$ctrace" view --no-browser --addr 127.0.0.1:$port "$file" >/dev/null 2>&1 &
pid=$!
until curl -s -o "$tmp" http://127.0.0.1:$port/api/summary; do
  kill -0 $pid 2>/dev/null || { echo "view_open: ctrace view exited"; exit 0; }
  sleep 0.02
done
end=$(grep -o '"end_ns":[0-9]*' "$tmp" | head -1 | cut -d: -f2)
cache=$(grep -o '"index_cache":"[a-z]*"' "$tmp" | cut -d'"' -f4)
base="http://127.0.0.1:$port/api"
curl -s -o /dev/null "$base/timeline?start_ns=0&end_ns=$end&width=1400&format=2" &
a=$!
curl -s -o /dev/null "$base/counters?start_ns=0&end_ns=$end&width=1400" &
b=$!
curl -s -o /dev/null "$base/drops"
wait $a $b
t1=$(date +%s%N)
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{printf "%.2f", ($14 + $15) / t}' /proc/$pid/stat; }
kb() { awk -v k="$1:" '$1 == k {print $2}' /proc/$pid/status; }
c1=$(cpu) h1=$(kb VmHWM)
sleep "$wait"
c2=$(cpu) h2=$(kb VmHWM) r2=$(kb VmRSS)
kill -INT $pid
wait $pid
rm -f "$tmp"
echo "first answers $(( (t1 - t0) / 1000000 )) ms wall, ${c1} s CPU, peak $((h1 / 1024)) MiB;" \
     "after ${wait} s: peak $((h2 / 1024)) MiB, RSS $((r2 / 1024)) MiB, ${c2} s CPU; index cache: $cache"
