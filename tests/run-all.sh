#!/usr/bin/env bash
# The whole test suite (the README's test command):
#   1. build (warnings are errors) and run every test of the runner
#   2. ASan+UBSan build: recorder, reader, CLI and preload tests
#   3. TSan build: the multi-threaded recorder tests
#   4. libFuzzer on the reader for a bounded time (CTRACE_FUZZ_SECONDS, default 60)
#   5. source checks (scripts/check.sh)
#   6. browser tests in headless Chromium (tests/browser, when present)
# Ends with the line "N passed, N failed"; exit status 1 if anything failed.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
passed=0
failed=0
log_dir=$root/test-artifacts
mkdir -p "$log_dir"

note() { printf '\n=== %s\n' "$*"; }

# Counts TAP lines of a runner's output (already printed).
count_tap() {
  local out=$1
  local ok bad
  ok=$(grep -c '^ok ' "$out" || true)
  bad=$(grep -c '^not ok ' "$out" || true)
  passed=$((passed + ok))
  failed=$((failed + bad))
}

step_fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

build() { # dir, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$log_dir/setup-$(basename "$dir").log" 2>&1 ||
      { cat "$log_dir/setup-$(basename "$dir").log"; return 1; }
  fi
  ninja -C "$dir" >"$log_dir/build-$(basename "$dir").log" 2>&1 ||
    { tail -50 "$log_dir/build-$(basename "$dir").log"; return 1; }
}

run_tests() { # build dir, label, test patterns...
  local dir=$1 label=$2; shift 2
  local out=$log_dir/tests-$label.tap
  CTRACE_BUILD_DIR=$root/$dir CTRACE_SOURCE_DIR=$root "$dir/tests/ctrace-tests" "$@" 2>&1 | tee "$out"
  count_tap "$out"
}

note "build (werror) and unit/integration tests"
if build build -Dwerror=true; then
  run_tests build all
else
  step_fail "build"
fi

note "install: headers, libraries and ctrace.pc work for a user's program"
dest=$root/build/install-test
rm -rf "$dest"
if meson install -C build --destdir "$dest" >"$log_dir/install.log" 2>&1; then
  prefix=$(meson introspect build --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
  pcdir=$(dirname "$(find "$dest" -name ctrace.pc | head -1)")
  cflags=$(PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$pcdir pkg-config --cflags ctrace)
  libs=$(PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$pcdir pkg-config --libs ctrace)
  libdir=$(dirname "$(find "$dest" -name libctrace.so | head -1)")
  if cc $cflags examples/minimal.c -o build/install-test/minimal-shared $libs &&
     LD_LIBRARY_PATH=$libdir build/install-test/minimal-shared build/install-test/s.ctrace >/dev/null &&
     cc $cflags examples/minimal.c -o build/install-test/minimal-static "$libdir/libctrace.a" -lpthread &&
     build/install-test/minimal-static build/install-test/a.ctrace >/dev/null &&
     build/ctrace stats build/install-test/a.ctrace >/dev/null; then
    echo "ok - installed to $prefix: pkg-config ctrace, shared and static libctrace link and trace"
    passed=$((passed + 1))
  else
    step_fail "install test: a program built against the installed files"
  fi
else
  tail -20 "$log_dir/install.log"; step_fail "meson install"
fi

note "ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
  # Tests that run a program under libctrace-preload.so need ASan's runtime
  # loaded first (docs/RUN.md): they run apart, with it preloaded, without
  # leak checks (the traced programs are not ours: pigz, memcached...).
  preload_tests=('preload_*' 'cli_run_*' 'export_of_a_ctrace_run_trace' 'serve_*run*')
  excl=()
  for p in "${preload_tests[@]}"; do excl+=("!$p"); done
  run_tests build-asan asan "${excl[@]}"
  LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    run_tests build-asan asan-preload "${preload_tests[@]}"
else
  step_fail "asan build"
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

note "TSan"
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
if build build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug; then
  # The recorder's threads and the viewer's server (4 threads, a 2-thread
  # indexer); the stress test at 8 threads x 200k events (TSan is ~10x slower).
  CTRACE_STRESS_EVENTS=200000 run_tests build-tsan tsan 'record_*' 'serve_*'
else
  step_fail "tsan build"
fi
unset TSAN_OPTIONS

note "fuzz the reader (libFuzzer)"
mkdir -p build-fuzz/corpus
if clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
    tests/fuzz/fuzz_reader.c src/read/reader.c src/format/format.c \
    -o build-fuzz/fuzz_reader 2>"$log_dir/build-fuzz.log"; then
  for f in build/examples/minimal build/examples/http_task; do
    [ -x "$f" ] && "$f" "build-fuzz/corpus/$(basename "$f").ct" >/dev/null 2>&1
  done
  cp tests/data/corrupt/*.ct build-fuzz/corpus/ 2>/dev/null || true
  secs=${CTRACE_FUZZ_SECONDS:-60}
  if build-fuzz/fuzz_reader -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
      -print_final_stats=1 build-fuzz/corpus >"$log_dir/fuzz.log" 2>&1; then
    echo "ok - fuzz_reader ran ${secs}s: $(grep -E 'stat::number_of_executed_units' "$log_dir/fuzz.log" | awk '{print $2}') inputs, no crash"
    passed=$((passed + 1))
  else
    tail -40 "$log_dir/fuzz.log"
    step_fail "fuzz_reader found a crash (see test-artifacts/fuzz.log and crash-* files)"
  fi
else
  cat "$log_dir/build-fuzz.log"
  step_fail "fuzz build"
fi

note "source checks"
if [ -x scripts/check.sh ]; then
  if bash scripts/check.sh build; then passed=$((passed + 1)); else step_fail "scripts/check.sh"; fi
fi

if [ -f tests/browser/package.json ]; then
  note "browser tests (headless Chromium)"
  if [ ! -d tests/browser/node_modules ]; then
    (cd tests/browser && npm ci --no-audit --no-fund >"$log_dir/npm.log" 2>&1) || { tail -20 "$log_dir/npm.log"; step_fail "npm ci"; }
  fi
  out=$log_dir/browser.log
  (cd tests/browser && CTRACE_BUILD_DIR=$root/build node --test --test-reporter=tap 2>&1) | tee "$out"
  # node's summary counts the leaf tests (suites hold them).
  bp=$(grep -E '^# pass [0-9]+' "$out" | tail -1 | awk '{print $3}')
  bf=$(grep -E '^# (fail|cancelled) [0-9]+' "$out" | awk '{s += $3} END {print s + 0}')
  passed=$((passed + ${bp:-0}))
  failed=$((failed + ${bf:-0}))
  [ -n "$bp" ] || step_fail "browser tests printed no summary"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
