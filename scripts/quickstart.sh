#!/usr/bin/env bash
# Quick start: install what is missing, build, trace the bundled HTTP example
# and show the result (the viewer when it is available, else `ctrace stats`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
# ctrace run adds what the program does not record itself: threads, sleeps,
# network and file I/O; the example's own tasks and regions join that trace.
build/ctrace run -o http_task.ctrace -- build/examples/http_task http_task.ctrace 3
build/ctrace stats http_task.ctrace
if build/ctrace view --help >/dev/null 2>&1; then
  if [ -n "${CI:-}" ] || [ -n "${CTRACE_NO_BROWSER:-}" ]; then
    echo "quickstart: to explore the trace: build/ctrace view http_task.ctrace"
  else
    exec build/ctrace view http_task.ctrace
  fi
fi
