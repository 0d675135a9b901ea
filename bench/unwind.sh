#!/bin/sh
# bench/unwind.sh - the stack walkers side by side on two Debian binaries
# built without frame pointers: memcached (2 worker threads, driven over
# loopback by unwind_client: 2 connections x 5000 set+get) and pigz -p 2 on
# 8 MB. Each runs with bench/unwind_probe.c preloaded, which walks the stack
# of every blocking call with fp, cfi and dwarf from the same frame and
# prints one row per walker (see its header comment). REPS runs of each
# (default 3), rows of every run printed: the machine is shared.
#   bench/unwind.sh [BUILD_DIR]      (default: build)
# Never fails: a missing program prints "n/a".
B=${1:-build}
REPS=${REPS:-3}
P="$B/bench/libunwind_probe.so"
C="$B/bench/unwind_client"
T=$(mktemp -d /tmp/ctrace-unwind.XXXXXX)
trap 'rm -rf "$T"' EXIT
OUT="$T/rows"
: > "$OUT"

echo "stack walkers on blocking calls ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $REPS runs each)"
echo

port=$((20000 + $$ % 20000))
for i in $(seq "$REPS"); do
  if [ -x /usr/bin/memcached ]; then
    port=$((port + 1))
    UNWIND_PROBE_OUT="$OUT" UNWIND_PROBE_NAME=memcached LD_PRELOAD="$P" \
      /usr/bin/memcached -u root -l 127.0.0.1 -p "$port" -U 0 -t 2 &
    mc=$!
    "$C" "$port" 2 5000 || echo "memcached client failed" >&2
    kill -TERM "$mc"
    wait "$mc"
  else
    echo "| memcached | n/a (not installed) | | | | | | | | |" >> "$OUT"
  fi
  if [ -x /usr/bin/pigz ]; then
    [ -f "$T/in" ] || head -c 6000000 /dev/urandom | base64 > "$T/in"
    UNWIND_PROBE_OUT="$OUT" UNWIND_PROBE_NAME=pigz LD_PRELOAD="$P" \
      /usr/bin/pigz -p 2 -n -c "$T/in" > /dev/null
  else
    echo "| pigz | n/a (not installed) | | | | | | | | |" >> "$OUT"
  fi
done

echo "| program | walker | stacks | reach the start function | median depth | ns/stack, first walk: median | p90 | ns/stack, warm: median | warm, x fp walk of the same depth | cfi: stacks that computed a rule |"
echo "|---|---|---|---|---|---|---|---|---|---|"
grep '^|' "$OUT" | sort -s -t'|' -k2,3
echo
grep '^calibration' "$OUT"
