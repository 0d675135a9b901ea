#!/usr/bin/env bash
# The whole test suite (the README's test command). Stages:
#   build     configure build/ with -Dwerror=true (reconfiguring it if needed) and build
#   tests     every test of the runner on that build
#   install   meson install into a staging dir; a program built with pkg-config
#             against it links (shared and static) and records a trace
#   asan      ASan+UBSan build: recorder, reader, CLI and preload tests
#   tsan      TSan build: the multi-threaded recorder and server tests
#   fuzz      libFuzzer on the reader for a bounded time (CTRACE_FUZZ_SECONDS, default 60)
#   check     source checks (scripts/check.sh)
#   lib-only  tests/lib-only.sh, when present
#   browser   browser tests in headless Chromium with the system's node
#   node18    the same with Debian 12's own Node.js 18 (tests/browser/run-node18.sh)
# After the werror build, the stages run in two lanes at once (2 cores): each
# stage's output goes to test-artifacts/stage-NAME.log; a line per stage
# says when it ends, with its time and counts. Skipped tests are counted as
# skips, not passes. Ends with the line "N passed, N failed, N skipped";
# exit status 1 if anything failed.
#   CTRACE_SUITE_SERIAL=1  one stage at a time (for timing a stage alone)
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
log_dir=$root/test-artifacts
mkdir -p "$log_dir"
rm -f "$log_dir"/stage-*.log "$log_dir"/stage-*.count
suite_start=$(date +%s)

# --- inside a stage: P, F, S count passes, failures and skips --------------
ok() { echo "ok - $*"; P=$((P + 1)); }
fail() { echo "not ok - $*"; F=$((F + 1)); }
skip() { echo "ok - $* # SKIP"; S=$((S + 1)); }

# Counts the TAP lines of a file: "ok ... # SKIP" is a skip.
count_tap() {
  local out=$1 all s bad
  all=$(grep -c '^ok ' "$out")
  s=$(grep -c '^ok .*# SKIP' "$out")
  bad=$(grep -c '^not ok ' "$out")
  P=$((P + all - s)); S=$((S + s)); F=$((F + bad))
}

# Counts the summaries of node's TAP reporter (one per test file).
count_node_tap() {
  local out=$1 p f s
  p=$(awk '/^# pass [0-9]+$/ {n += $3} END {print n + 0}' "$out")
  f=$(awk '/^# (fail|cancelled) [0-9]+$/ {n += $3} END {print n + 0}' "$out")
  s=$(awk '/^# (skipped|todo) [0-9]+$/ {n += $3} END {print n + 0}' "$out")
  P=$((P + p)); F=$((F + f)); S=$((S + s))
  grep -q '^# pass [0-9]' "$out" || fail "node printed no test summary"
}

configure() { # dir, meson options...: set up, or bring an existing dir to these options
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >"$log_dir/setup-$dir.log" 2>&1
  else
    meson setup "$dir" "$@" >"$log_dir/setup-$dir.log" 2>&1
  fi || { cat "$log_dir/setup-$dir.log"; return 1; }
}

build() { # dir, jobs
  ninja -C "$1" -j "$2" >"$log_dir/build-$1.log" 2>&1 || { tail -50 "$log_dir/build-$1.log"; return 1; }
}

option() { # dir, name: a meson option's value
  meson introspect "$1" --buildoptions |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]==sys.argv[1]][0])' "$2"
}

run_tests() { # build dir, label, test patterns...
  local dir=$1 label=$2; shift 2
  local out=$log_dir/tests-$label.tap
  CTRACE_BUILD_DIR=$root/$dir CTRACE_SOURCE_DIR=$root "$dir/tests/ctrace-tests" "$@" >"$out" 2>&1
  local rc=$? plan ran
  cat "$out"
  count_tap "$out"
  plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out" | head -1)
  ran=$(grep -cE '^(not )?ok ' "$out")
  if [ "${plan:-x}" != "$ran" ]; then
    fail "$label: the runner planned ${plan:-no} tests and reported $ran (exit status $rc)"
  elif [ $rc -ne 0 ] && ! grep -q '^not ok ' "$out"; then
    fail "$label: the runner exited $rc with no failing test"
  fi
}

# --- the stages ----------------------------------------------------------------
stage_build() {
  if configure build -Dwerror=true && build build "$(nproc)"; then
    if [ "$(option build werror)" = True ]; then
      ok "build/ configured with -Dwerror=true builds without a warning"
    else
      fail "build/ is not configured with -Dwerror=true"
    fi
  else
    fail "build (werror)"
  fi
}

stage_tests() { run_tests build all; }

stage_install() {
  local dest=$root/build/install-test prefix pcdir cflags libs libdir
  rm -rf "$dest"
  if ! meson install -C build --destdir "$dest" >"$log_dir/install.log" 2>&1; then
    tail -20 "$log_dir/install.log"; fail "meson install"; return
  fi
  prefix=$(option build prefix)
  pcdir=$(dirname "$(find "$dest" -name ctrace.pc | head -1)")
  cflags=$(PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$pcdir pkg-config --cflags ctrace)
  libs=$(PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$pcdir pkg-config --libs ctrace)
  libdir=$(dirname "$(find "$dest" -name libctrace.so | head -1)")
  if cc $cflags examples/minimal.c -o "$dest/minimal-shared" $libs &&
     LD_LIBRARY_PATH=$libdir "$dest/minimal-shared" "$dest/s.ctrace" >/dev/null &&
     cc $cflags examples/minimal.c -o "$dest/minimal-static" "$libdir/libctrace.a" -lpthread &&
     "$dest/minimal-static" "$dest/a.ctrace" >/dev/null &&
     build/ctrace stats "$dest/a.ctrace" >/dev/null; then
    ok "installed to $prefix: pkg-config ctrace, shared and static libctrace link and trace"
  else
    fail "install test: a program built against the installed files"
  fi
  stage_system_install
}

# The README's way, exactly: install into the system prefix, build with
# pkg-config, run with a clean environment (no LD_LIBRARY_PATH: the install
# ran ldconfig), then uninstall. Only as root on CI (a machine of its own):
# elsewhere the suite does not touch the system.
stage_system_install() {
  if [ "$(id -u)" != 0 ] || [ -z "${CI:-}" ]; then
    skip "system install: runs only as root with CI set (it installs into $(option build prefix))"
    return
  fi
  local work=$root/build/system-install-test prefix
  rm -rf "$work"; mkdir -p "$work"
  prefix=$(option build prefix)
  if ! meson install -C build >"$log_dir/system-install.log" 2>&1; then
    tail -20 "$log_dir/system-install.log"; fail "meson install into $prefix"; return
  fi
  if env -i PATH=/usr/bin:/bin \
       sh -c 'cc examples/minimal.c -o "$1/minimal" $(pkg-config --cflags --libs ctrace)' sh "$work" &&
     env -i PATH=/usr/bin:/bin "$work/minimal" "$work/m.ctrace" >/dev/null &&
     build/ctrace stats "$work/m.ctrace" >/dev/null; then
    ok "installed into $prefix: a pkg-config program runs with a clean environment (no LD_LIBRARY_PATH)"
  else
    fail "system install: a pkg-config program does not run with a clean environment"
  fi
  ninja -C build uninstall >>"$log_dir/system-install.log" 2>&1 || true
  ldconfig 2>/dev/null || true
}

stage_asan() {
  if ! { configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug &&
         build build-asan 1; }; then
    fail "asan build"; return
  fi
  local -x ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
  local -x UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # Tests that run a program under libctrace-preload.so need ASan's runtime
  # loaded first (docs/RUN.md): they run apart, with it preloaded, without
  # leak checks (the traced programs are not ours: pigz, memcached...).
  local preload_tests=('preload_*' 'cli_run_*' 'export_of_a_ctrace_run_trace' 'serve_*run*' 'sched_*'
                       'truth_*' 'stacks_*' 'critpath_*' 'diff_*' 'harm_*' 'sql_cpu_*' 'tree_*'
                       'treerec_*' 'treeview_*' 'fds_*' 'taskid_*')
  local excl=() p
  for p in "${preload_tests[@]}"; do excl+=("!$p"); done
  run_tests build-asan asan "${excl[@]}"
  LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    run_tests build-asan asan-preload "${preload_tests[@]}"
}

stage_tsan() {
  if ! { configure build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug &&
         build build-tsan 1; }; then
    fail "tsan build"; return
  fi
  # The recorder's threads and the viewer's server (4 threads, a 2-thread
  # indexer); the stress test at 8 threads x 200k events (TSan is ~10x slower);
  # the scheduling data (the writer drains the perf rings while the traced
  # threads run; their program shares no memory between its spinners).
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 CTRACE_STRESS_EVENTS=200000 \
    run_tests build-tsan tsan 'record_*' 'serve_*' 'sched_*'
}

stage_fuzz() {
  mkdir -p build-fuzz/corpus
  if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
      tests/fuzz/fuzz_reader.c src/read/reader.c src/read/sched_read.c src/read/tree.c src/format/format.c \
      src/format/kinds.c \
      -o build-fuzz/fuzz_reader 2>"$log_dir/build-fuzz.log"; then
    cat "$log_dir/build-fuzz.log"; fail "fuzz build"; return
  fi
  local f secs=${CTRACE_FUZZ_SECONDS:-60}
  for f in build/examples/minimal build/examples/http_task; do
    [ -x "$f" ] && "$f" "build-fuzz/corpus/$(basename "$f").ct" >/dev/null 2>&1
  done
  cp tests/data/corrupt/*.ct build-fuzz/corpus/ 2>/dev/null || true
  if build-fuzz/fuzz_reader -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
      -print_final_stats=1 build-fuzz/corpus >"$log_dir/fuzz.log" 2>&1; then
    ok "fuzz_reader ran ${secs}s: $(grep -E 'stat::number_of_executed_units' "$log_dir/fuzz.log" | awk '{print $2}') inputs, no crash"
  else
    tail -40 "$log_dir/fuzz.log"
    fail "fuzz_reader found a crash (see test-artifacts/fuzz.log and crash-* files)"
  fi
}

stage_check() {
  if bash scripts/check.sh build; then ok "scripts/check.sh"; else fail "scripts/check.sh"; fi
}

stage_lib_only() {
  local out=$log_dir/lib-only.tap
  bash tests/lib-only.sh >"$out" 2>&1
  local rc=$?
  cat "$out"
  count_tap "$out"
  if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$out"; then fail "tests/lib-only.sh exited $rc"; fi
}

npm_ci() {
  [ -d tests/browser/node_modules/playwright-core ] && return 0
  (cd tests/browser && npm ci --no-audit --no-fund >"$log_dir/npm.log" 2>&1) ||
    { tail -20 "$log_dir/npm.log"; fail "npm ci"; return 1; }
}

stage_browser() {
  npm_ci || return
  local out=$log_dir/browser.tap
  CTRACE_BUILD_DIR=$root/build tests/browser/run.sh --test-reporter=tap >"$out" 2>&1
  cat "$out"
  count_node_tap "$out"
}

stage_node18() {
  npm_ci || return
  local out=$log_dir/browser-node18.tap rc
  CTRACE_BUILD_DIR=$root/build bash tests/browser/run-node18.sh --test-reporter=tap >"$out" 2>&1
  rc=$?
  cat "$out"
  if [ $rc -eq 77 ]; then
    skip "$(grep -m1 '^# SKIP' "$out" | sed 's/^# SKIP //')"
  else
    count_node_tap "$out"
  fi
}

# --- running them ----------------------------------------------------------------
stages=()
# Runs one stage with its output in test-artifacts/stage-NAME.log; writes
# "passed failed skipped seconds" to stage-NAME.count and prints one line.
run_stage() { # name
  local name=$1 fn=stage_${1//-/_}
  local P=0 F=0 S=0 t0 t
  t0=$(date +%s)
  echo "--- $name: started (+$((t0 - suite_start))s)"
  { "$fn"; } >"$log_dir/stage-$name.log" 2>&1
  t=$(($(date +%s) - t0))
  echo "$P $F $S $t" >"$log_dir/stage-$name.count"
  printf -- '--- %-9s %4ds  %d passed, %d failed, %d skipped\n' "$name" "$t" "$P" "$F" "$S"
}
lane() { local s; for s in "$@"; do run_stage "$s"; done; }

echo "ctrace test suite: $(nproc) cores; logs in test-artifacts/stage-*.log"
stages=(build tests install asan tsan fuzz check)
[ -f tests/lib-only.sh ] && stages+=(lib-only)
[ -f tests/browser/package.json ] && stages+=(browser node18)

run_stage build
if [ "$(cat "$log_dir/stage-build.count" | cut -d' ' -f2)" != 0 ]; then
  sed -n '1,80p' "$log_dir/stage-build.log"
  echo; echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
rest=("${stages[@]:1}")
has() { local s; for s in "${rest[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
pick() { local s; for s in "$@"; do has "$s" && echo "$s"; done; }
if [ -n "${CTRACE_SUITE_SERIAL:-}" ]; then
  lane "${rest[@]}"
else
  # Two lanes, about equal in time (measured). Lane 1 runs the test runner,
  # the fuzzer and the browsers (much of it waiting on sleeps, sockets and
  # Chromium); lane 2 builds and runs the sanitizers (one compile job at a
  # time), then lib-only.
  lane $(pick tests install check fuzz browser node18) &
  l1=$!
  lane $(pick asan tsan lib-only) &
  l2=$!
  wait $l1 $l2
fi

passed=0 failed=0 skipped=0
echo
echo "=== per stage (seconds, passed, failed, skipped)"
for s in "${stages[@]}"; do
  if [ ! -f "$log_dir/stage-$s.count" ]; then
    echo "  $s: did not finish"; failed=$((failed + 1)); continue
  fi
  read -r p f k t <"$log_dir/stage-$s.count"
  printf '  %-9s %5ds %5d %3d %3d\n' "$s" "$t" "$p" "$f" "$k"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
done
echo "  total     $(($(date +%s) - suite_start))s (wall clock)"
if [ "$skipped" -gt 0 ]; then
  echo; echo "=== skipped"
  for s in "${stages[@]}"; do
    [ -f "$log_dir/stage-$s.log" ] && grep -E '^ok .*# SKIP|^# SKIP' "$log_dir/stage-$s.log" | sed "s/^/  $s: /"
  done
fi
if [ "$failed" -gt 0 ]; then
  echo; echo "=== failures (full output in test-artifacts/stage-NAME.log)"
  for s in "${stages[@]}"; do
    [ -f "$log_dir/stage-$s.log" ] || continue
    if grep -qE '^not ok|^ *not ok|^FAILED' "$log_dir/stage-$s.log"; then
      echo "--- $s"
      grep -E -B2 -A8 '^not ok ' "$log_dir/stage-$s.log" | head -60
    fi
  done
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
