#!/usr/bin/env bash
# Quick start: install what is missing, build, trace the bundled HTTP example
# and show the result (the viewer when it is available, else `ctrace stats`).
# Each step says what it does; the install and the build show their own
# progress. Without a desktop (no DISPLAY or WAYLAND_DISPLAY, no $BROWSER)
# the viewer starts without opening a browser and says where to point one.
#   CTRACE_NO_BROWSER=1 (or CI=1)  do not start the viewer at the end
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
step=0
steps=5
say() { step=$((step + 1)); printf '\n[%d/%d] %s\n' "$step" "$steps" "$*"; }
elapsed() { echo "$(($(date +%s) - t0))s"; }

say "dependencies from Debian's archive (scripts/install-deps.sh; apt-get may take minutes)"
bash scripts/install-deps.sh

if [ -f build/build.ninja ]; then
  say "configure: build/ exists, reusing it"
else
  say "configure: meson setup build"
  meson setup build
fi

say "build: ninja -C build ($(nproc) cores; about a minute on two)"
ninja -C build

say "trace: ctrace run -- build/examples/http_task (3 requests, 50 ms each in its \"database\")"
# ctrace run adds what the program does not record itself: threads, sleeps,
# network and file I/O; the example's own tasks and regions join that trace.
build/ctrace run -o http_task.ctrace -- build/examples/http_task http_task.ctrace 3
echo
build/ctrace stats http_task.ctrace

say "view the trace (quickstart took $(elapsed) so far)"
if ! build/ctrace view --help >/dev/null 2>&1; then
  echo "quickstart: this build has no viewer; explore the trace with build/ctrace dump http_task.ctrace"
  exit 0
fi
if [ -n "${CI:-}" ] || [ -n "${CTRACE_NO_BROWSER:-}" ]; then
  echo "quickstart: to explore the trace: build/ctrace view http_task.ctrace"
  exit 0
fi
if [ -z "${BROWSER:-}" ] && { [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || ! command -v xdg-open >/dev/null; }; then
  # No desktop to open a browser on: say once where to point one.
  echo "quickstart: no desktop here (no DISPLAY), so no browser is opened."
  echo "  Open the URL printed below in a browser on this machine; from another machine,"
  echo "  forward its port first: ssh -N -L PORT:127.0.0.1:PORT $(hostname), then open"
  echo "  http://127.0.0.1:PORT/ there. Ctrl-C stops the viewer."
  exec build/ctrace view --no-browser http_task.ctrace
fi
exec build/ctrace view http_task.ctrace
