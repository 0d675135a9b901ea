#!/bin/bash
# bench/sigterm_stress.sh [BUILD_DIR] [TRIES] [HOW]: the suite's fatal-death
# tests at a larger scale. Runs the malloc-loop program (two threads on
# malloc/free of 2-5 KB blocks) under `ctrace run` TRIES times (default
# 200) and makes it die, HOW being
#   TERM, INT, HUP, ... (default TERM): that signal, sent at a random
#       moment of its first 50 ms;
#   doublefree, segv, exit: the program's own death (a double free's
#       SIGABRT, a NULL dereference's SIGSEGV, exit(3) from a thread).
# Counts hangs (no exit within 20 s), wrong exit statuses (not what the
# untraced program gets), unreadable traces and traces without their END
# record (cut off: `stats --json` says complete false). Prints one line;
# exit status 1 when any count is not 0.
#
# LOAD=N runs N busy loops meanwhile (a loaded machine: the suite's other
# lane). The environment reaches the traced program: CTRACE_SCHED=off
# traces without scheduling data, LD_PRELOAD=$(gcc -print-file-name=libasan.so)
# with an ASan build runs it under ASan's allocator (as tests/run-all.sh).
set -u
build=${1:-build}
tries=${2:-200}
how=${3:-TERM}
ctrace=$build/ctrace
prog=$build/src/preload/prog_malloc_loop
dir=$(mktemp -d)
loaders=()
cleanup() {
  for p in "${loaders[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
for ((k = 0; k < ${LOAD:-0}; k++)); do
  (while :; do :; done) &
  loaders+=($!)
done
case $how in
doublefree) mode=doublefree want=$((128 + 6)) ;;
segv) mode=segv want=$((128 + 11)) ;;
exit) mode=exit want=3 ;;
*) mode=wait want=$((128 + $(kill -l "$how" 2>/dev/null || echo 15))) ;;
esac
hangs=0 bad_status=0 unreadable=0 no_end=0
i=0
while [ "$i" -lt "$tries" ]; do
  i=$((i + 1))
  out=$dir/out
  : >"$out"
  rm -f "$dir/t.ctrace"
  timeout -s KILL 20 "$ctrace" run -o "$dir/t.ctrace" -- "$prog" "$mode" >"$out" 2>/dev/null &
  runner=$!
  if [ "$mode" = wait ]; then
    n=0
    while ! grep -q '^ready' "$out" && [ "$n" -lt 1000 ]; do
      sleep 0.01
      n=$((n + 1))
    done
    pid=$(sed -n 's/^ready //p' "$out")
    sleep "0.0$(shuf -i 0-4 -n 1)$(shuf -i 0-9 -n 1)"
    [ -n "$pid" ] && kill "-$how" "$pid" 2>/dev/null
  fi
  wait "$runner" 2>/dev/null
  st=$?
  if [ "$st" -eq 137 ]; then
    hangs=$((hangs + 1))
    pid=$(sed -n 's/^ready //p' "$out")
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  elif [ "$st" -ne "$want" ]; then
    bad_status=$((bad_status + 1))
  fi
  if ! json=$("$ctrace" stats --json "$dir/t.ctrace" 2>/dev/null); then
    unreadable=$((unreadable + 1))
  elif ! grep -q '"complete":true' <<<"$json"; then
    no_end=$((no_end + 1))
    [ -n "${KEEP:-}" ] && cp "$dir/t.ctrace" "$KEEP.$i.ctrace"
  fi
done
echo "$how x $tries (load ${LOAD:-0}, CTRACE_SCHED=${CTRACE_SCHED:-default}):" \
  "$hangs hangs, $bad_status wrong exit statuses, $unreadable unreadable traces," \
  "$no_end without END"
[ "$hangs" -eq 0 ] && [ "$bad_status" -eq 0 ] && [ "$unreadable" -eq 0 ] && [ "$no_end" -eq 0 ]
