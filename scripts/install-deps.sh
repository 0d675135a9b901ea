#!/usr/bin/env bash
# Installs what ctrace needs to build and test on Debian 12, from Debian's
# archive only (and npm for the browser tests, done by tests/run-all.sh).
# Needs root (or sudo). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
packages=(
  # build
  gcc g++ clang libclang-rt-14-dev meson ninja-build pkg-config python3
  # libraries
  libdw-dev libelf-dev libmicrohttpd-dev zlib1g-dev
  # tests: real programs and ground truths
  pigz strace procps psmisc
  # stacks: memcached's walked by tests/test-stacks.c and bench/unwind.sh;
  # libc's own frames (start_thread, __libc_start_call_main) named
  memcached libc6-dbg
  # browser tests
  chromium
  # benchmarks against LTTng-UST
  liblttng-ust-dev lttng-tools
)
missing=()
for p in "${packages[@]}"; do
  case "$p" in \#*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ -f "$(dirname "$0")/extra-packages.txt" ]; then
  while read -r p; do
    case "$p" in ""|\#*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done < "$(dirname "$0")/extra-packages.txt"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  echo "install-deps: apt-get update"
  $SUDO apt-get update -q
  echo "install-deps: apt-get install"
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all dependencies present (node $(node --version 2>/dev/null || echo missing):" \
  "Debian 12's Node.js 18 is enough for the browser tests)"
