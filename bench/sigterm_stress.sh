#!/bin/bash
# bench/sigterm_stress.sh [BUILD_DIR] [TRIES] [SIGNAL]: the suite's
# preload_sigterm_in_malloc_never_hangs at a larger scale. Runs the
# malloc-loop program (two threads on malloc/free of 2-5 KB blocks) under
# `ctrace run` TRIES times (default 200), sends SIGNAL (default TERM) at a
# random moment of its first 50 ms, and counts hangs (no exit within 20 s),
# wrong exit statuses (not killed by the signal) and unreadable traces.
# Prints one line; exit status 1 when any count is not 0.
set -u
build=${1:-build}
tries=${2:-200}
sig=${3:-TERM}
ctrace=$build/ctrace
prog=$build/src/preload/prog_malloc_loop
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
signum=$(kill -l "$sig" 2>/dev/null || echo 15)
hangs=0 bad_status=0 unreadable=0
i=0
while [ "$i" -lt "$tries" ]; do
  i=$((i + 1))
  out=$dir/out
  : >"$out"
  timeout -s KILL 20 "$ctrace" run -o "$dir/t.ctrace" -- "$prog" wait >"$out" 2>/dev/null &
  runner=$!
  n=0
  while ! grep -q '^ready' "$out" && [ "$n" -lt 1000 ]; do
    sleep 0.01
    n=$((n + 1))
  done
  pid=$(sed -n 's/^ready //p' "$out")
  sleep "0.0$(shuf -i 0-4 -n 1)$(shuf -i 0-9 -n 1)"
  [ -n "$pid" ] && kill "-$sig" "$pid" 2>/dev/null
  wait "$runner"
  st=$?
  if [ "$st" -eq 137 ]; then
    hangs=$((hangs + 1))
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  elif [ "$st" -ne $((128 + signum)) ]; then
    bad_status=$((bad_status + 1))
  fi
  "$ctrace" stats "$dir/t.ctrace" >/dev/null 2>&1 || unreadable=$((unreadable + 1))
done
echo "SIG$sig x $tries: $hangs hangs, $bad_status wrong exit statuses, $unreadable unreadable traces"
[ "$hangs" -eq 0 ] && [ "$bad_status" -eq 0 ] && [ "$unreadable" -eq 0 ]
