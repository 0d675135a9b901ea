#!/usr/bin/env bash
# lib-only.sh - libctrace built alone, as someone who wants only the library
# builds it: configured with -Dtools=disabled -Dpreload=disabled
# -Dtests=disabled in its own build directory, installed into a temporary
# prefix. Checks that the installed libctrace.so needs nothing beyond libc,
# and that programs built with `pkg-config --cflags --libs ctrace` against
# that prefix run and write traces that the full build's `ctrace stats`
# reads (one through the API, one through CTRACE_OUT alone).
# Prints TAP lines (ok / not ok); exit status 1 when any failed.
# Usage: bash tests/lib-only.sh   (CTRACE_BUILD_DIR: the full build, default build/)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
full=${CTRACE_BUILD_DIR:-$root/build}
bdir=$root/build-lib-only
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
failed=0
ok() { echo "ok - lib-only: $*"; }
not_ok() { echo "not ok - lib-only: $*"; failed=1; }
log() { sed 's/^/# /' "$1" | tail -20; }

if meson setup --wipe "$bdir" --prefix="$prefix" -Dwerror=true \
     -Dtools=disabled -Dpreload=disabled -Dtests=disabled >"$work/setup.log" 2>&1 ||
   meson setup "$bdir" --prefix="$prefix" -Dwerror=true \
     -Dtools=disabled -Dpreload=disabled -Dtests=disabled >"$work/setup.log" 2>&1; then
  ok "configured without tools, preload and tests"
else
  log "$work/setup.log"; not_ok "meson setup -Dtools=disabled -Dpreload=disabled -Dtests=disabled"
  exit 1
fi
if ninja -C "$bdir" >"$work/build.log" 2>&1 && meson install -C "$bdir" >"$work/install.log" 2>&1; then
  ok "built and installed into a temporary prefix"
else
  log "$work/build.log"; log "$work/install.log"; not_ok "build and install"
  exit 1
fi

lib=$(find "$prefix" -name libctrace.so | head -1)
pc=$(find "$prefix" -name ctrace.pc | head -1)
if [ -z "$lib" ] || [ -z "$pc" ]; then
  not_ok "libctrace.so and ctrace.pc installed (found: '${lib}' '${pc}')"
  exit 1
fi
libdir=$(dirname "$lib")
# Only libc and the loader (libpthread and libdl are libc on glibc 2.34+).
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ' | sed 's/ $//')
extra=$(echo $needed | tr ' ' '\n' | grep -vE '^(libc\.so\.6|ld-linux[-a-z0-9_.]*\.so\.[0-9]+)$')
if [ -n "$needed" ] && [ -z "$extra" ]; then
  ok "installed libctrace.so needs only: $needed"
else
  not_ok "installed libctrace.so needs more than libc: $needed"
fi

export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs ctrace)
stats() {
  if [ ! -x "$full/ctrace" ]; then
    echo "ok - lib-only: $1 # SKIP no $full/ctrace to read it"
  elif "$full/ctrace" stats "$2" >"$work/stats.log" 2>&1; then
    ok "$1"
  else
    log "$work/stats.log"; not_ok "$1"
  fi
}
# shellcheck disable=SC2086 # flags are words
if cc examples/minimal.c -o "$work/minimal" $flags 2>"$work/cc.log" &&
   LD_LIBRARY_PATH=$libdir "$work/minimal" "$work/api.ctrace" >/dev/null 2>"$work/run.log"; then
  stats "a program built with pkg-config --cflags --libs ctrace traces itself through the API" \
    "$work/api.ctrace"
else
  log "$work/cc.log"; log "$work/run.log"; not_ok "examples/minimal built with pkg-config and run"
fi
# A program that calls no ctrace function: the .pc keeps libctrace under
# --as-needed, and CTRACE_OUT traces it.
printf '#include <unistd.h>\nint main(void) { return getpid() > 0 ? 0 : 1; }\n' >"$work/noapi.c"
# shellcheck disable=SC2086
if cc -Wl,--as-needed "$work/noapi.c" -o "$work/noapi" $flags 2>"$work/cc.log" &&
   CTRACE_OUT=$work/env.ctrace LD_LIBRARY_PATH=$libdir "$work/noapi" 2>"$work/run.log" &&
   [ -s "$work/env.ctrace" ]; then
  stats "a program that calls no ctrace function traces itself with CTRACE_OUT (--as-needed)" \
    "$work/env.ctrace"
else
  log "$work/cc.log"; log "$work/run.log"; not_ok "CTRACE_OUT on a program built with --as-needed"
fi
exit $failed
