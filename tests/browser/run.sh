#!/bin/sh
# run.sh - run the browser tests of the ctrace viewer. Installs nothing:
# `npm ci` in this directory (CI does it) and Debian's chromium are needed.
#   CTRACE_BUILD_DIR  the C build to test (default: build, from the repo root)
#   CTRACE_NODE       the node binary (default: node on PATH; Node.js 18 or newer)
#   extra arguments go to `node --test` (e.g. --test-name-pattern=Threads)
# Screenshots land in tests/browser/test-artifacts/.
# Exit status 1 when any test file failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
node=${CTRACE_NODE:-node}
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "run.sh: playwright-core is missing: run 'npm ci' in $here" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ] && [ -z "${CTRACE_CHROMIUM:-}" ]; then
  echo "run.sh: /usr/bin/chromium is missing: apt-get install chromium" >&2
  exit 1
fi
if ! "$node" --version >/dev/null 2>&1; then
  echo "run.sh: '$node' does not run: install nodejs (Debian 12's 18.x is enough)" >&2
  exit 1
fi
export CTRACE_BUILD_DIR="${CTRACE_BUILD_DIR:-build}"
cd "$repo"
# One test file at a time: each starts its own Chromium, and the machine has
# 2 cores. A loop rather than --test-concurrency=1, which Node.js 18 lacks.
status=0
for f in tests/browser/*.test.mjs; do
  "$node" --test "$@" "$f" || status=1
done
exit $status
