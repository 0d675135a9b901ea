#!/bin/sh
# run.sh - run the browser tests of the ctrace viewer. Installs nothing:
# `npm ci` in this directory (CI does it) and Debian's chromium are needed.
#   CTRACE_BUILD_DIR  the C build to test (default: build, from the repo root)
#   extra arguments go to `node --test` (e.g. --test-name-pattern=Threads)
# Screenshots land in tests/browser/test-artifacts/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "run.sh: playwright-core is missing: run 'npm ci' in $here" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ] && [ -z "${CTRACE_CHROMIUM:-}" ]; then
  echo "run.sh: /usr/bin/chromium is missing: apt-get install chromium" >&2
  exit 1
fi
export CTRACE_BUILD_DIR="${CTRACE_BUILD_DIR:-build}"
cd "$repo"
# One test file at a time: each starts its own Chromium, and the machine has 2 cores.
exec node --test --test-concurrency=1 "$@" tests/browser/
