#!/bin/sh
# bytes.sh - file bytes per event of issue 14's two workloads, and where
# the bytes go (bench/trace_bytes.c: per record kind and field, headers,
# checksums):
#   - pigz -p 2 under `ctrace run` (waits, wakes, system calls with
#     stacks), with CTRACE_SCHED=off (the issue's measure) and with the
#     default scheduling records and CPU samples;
#   - the HTTP example's API pattern at volume (record_bench
#     --http-pattern: a task, a log, two regions per request, 1M events).
#
#   sh bench/bytes.sh BUILD [ROUNDS]     (default 3 rounds)
#
# BASE_BUILD=DIR measures another build's recorder (its ctrace and
# record_bench) the same way, alternating with BUILD, for a before/after;
# its traces are read with BUILD's trace_bytes (which reads every version).
# PIGZ_MB sets the input's size (default 48 MB: random bytes as base64,
# then text). Prints tables; never fails on numbers.
set -eu
build=$(cd "${1:?usage: bytes.sh BUILD [ROUNDS]}" && pwd)
rounds=${2:-3}
base=${BASE_BUILD:-}
[ -n "$base" ] && base=$(cd "$base" && pwd)
mb=${PIGZ_MB:-48}
tmp=$(mktemp -d /tmp/ctrace-bytes-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tb=$build/bench/trace_bytes
src=$(cd "$(dirname "$0")/.." && pwd)

head -c $((mb * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 >"$tmp/in"
cat "$src"/README.md "$src"/docs/*.md >>"$tmp/in"

bpe() { "$tb" "$1" | sed -n '1s/.*: \([0-9.]*\) bytes per event/\1/p'; }
events() { "$tb" "$1" | sed -n '1s/.* bytes, \([0-9]*\) events.*/\1/p'; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)], "[" v[1] ".." v[NR] "]"}'; }

echo "# file bytes per event (bench/bytes.sh), $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
which=$build
[ -n "$base" ] && which="$base $build"
for r in $(seq 1 "$rounds"); do
  for b in $which; do
    tag=new
    [ "$b" = "$base" ] && tag=base
    "$b/ctrace" run -o "$tmp/p-$tag-$r.ctrace" -- pigz -p 2 -n -k -f -S ".$tag$r.gz" "$tmp/in" 2>/dev/null
    CTRACE_SCHED=off "$b/ctrace" run -o "$tmp/o-$tag-$r.ctrace" -- \
      pigz -p 2 -n -k -f -S ".$tag$r.gz" "$tmp/in" 2>/dev/null
    "$b/bench/record_bench" --http-pattern "$tmp/h-$tag-$r.ctrace" >/dev/null
    echo "$(bpe "$tmp/o-$tag-$r.ctrace") $(events "$tmp/o-$tag-$r.ctrace")" >>"$tmp/off-$tag"
    echo "$(bpe "$tmp/p-$tag-$r.ctrace") $(events "$tmp/p-$tag-$r.ctrace")" >>"$tmp/on-$tag"
    bpe "$tmp/h-$tag-$r.ctrace" >>"$tmp/http-$tag"
  done
done
echo
echo "| workload | build | bytes per event, median [range] of $rounds | events a run |"
echo "|---|---|---|---|"
for tag in base new; do
  [ -f "$tmp/off-$tag" ] || continue
  name=$build
  [ "$tag" = base ] && name=$base
  echo "| pigz -p 2, ctrace run, CTRACE_SCHED=off | $name | $(cut -d' ' -f1 "$tmp/off-$tag" | median) | $(cut -d' ' -f2 "$tmp/off-$tag" | median | cut -d' ' -f1) |"
  echo "| pigz -p 2, ctrace run (scheduling, samples) | $name | $(cut -d' ' -f1 "$tmp/on-$tag" | median) | $(cut -d' ' -f2 "$tmp/on-$tag" | median | cut -d' ' -f1) |"
  echo "| HTTP API pattern at volume | $name | $(median <"$tmp/http-$tag") | 1000000 |"
done
for tag in base new; do
  [ -f "$tmp/off-$tag" ] || continue
  echo
  echo "## where the bytes go ($tag, last round): pigz, CTRACE_SCHED=off"
  "$tb" --fields "$tmp/o-$tag-$rounds.ctrace"
  echo
  echo "## pigz with scheduling records"
  "$tb" "$tmp/p-$tag-$rounds.ctrace"
  echo
  echo "## the HTTP API pattern"
  "$tb" --fields "$tmp/h-$tag-$rounds.ctrace"
done
