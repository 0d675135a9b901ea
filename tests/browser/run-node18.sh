#!/bin/bash
# run-node18.sh - run the browser tests (run.sh) with Debian 12's own
# Node.js 18, whatever node the system has. Debian's nodejs and libnode108
# (and those of libnode108's libraries that are not installed) are fetched
# with `apt-get download` and unpacked with `dpkg -x` into a private prefix;
# nothing is installed on the system.
#   CTRACE_NODE18_DIR  the private prefix (default: build-node18 in the repo)
#   arguments go to run.sh
# Debian's node loads part of its builtins (acorn, cjs-module-lexer, undici)
# from fixed paths under /usr/share/nodejs. When those are not installed,
# the tests run in a private mount namespace (unshare) where the unpacked
# copies are overlaid on /usr/share; nothing changes outside it.
# Exit status: run.sh's; 77 (and a "# SKIP" line on stdout) when Debian's
# Node.js 18 cannot be obtained or run here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=${CTRACE_NODE18_DIR:-$repo/build-node18}

skip() { echo "# SKIP Debian 12 Node.js 18: $*"; exit 77; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if [ ! -x "$prefix/root/usr/bin/node" ]; then
  command -v apt-get >/dev/null || skip "no apt-get (not Debian)"
  # The newest 18.x in the archive (a newer node from elsewhere may be the candidate).
  ver=$(apt-cache madison nodejs 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2)} $2 ~ /^18\./ {print $2; exit}')
  [ -n "$ver" ] || skip "no nodejs 18.x in the apt archive (apt-cache madison nodejs; apt-get update?)"
  pkgs=("nodejs=$ver" "libnode108=$ver")
  # libnode108's own dependencies that this system lacks, unpacked beside it.
  for dep in $(apt-cache depends "libnode108=$ver" 2>/dev/null | awk '$1 == "Depends:" && $2 !~ /^</ {print $2}'); do
    case "$dep" in libc6|libgcc-s1|libstdc++6) continue ;; esac
    case "$dep" in node-*) pkgs+=("$dep"); continue ;; esac # the externalized builtins
    installed "$dep" || pkgs+=("$dep")
  done
  rm -rf "$prefix"
  mkdir -p "$prefix/debs"
  echo "run-node18: apt-get download ${pkgs[*]}"
  if ! (cd "$prefix/debs" && apt-get download -q "${pkgs[@]}" >"$prefix/download.log" 2>&1); then
    cat "$prefix/download.log" >&2
    skip "apt-get download ${pkgs[*]} failed"
  fi
  for deb in "$prefix"/debs/*.deb; do dpkg -x "$deb" "$prefix/root"; done
fi

libnode=$(find "$prefix/root/usr/lib" -name 'libnode.so.108' | head -1)
[ -n "$libnode" ] || skip "libnode.so.108 missing from $prefix/root"
libdirs=$(find "$prefix/root/usr/lib" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CTRACE_NODE="$prefix/root/usr/bin/node"

builtins=(cjs-module-lexer/lexer.js undici/undici-fetch.js acorn/dist/acorn.js acorn-walk/dist/walk.js)
have_builtins=1
for b in "${builtins[@]}"; do [ -f "/usr/share/nodejs/$b" ] || have_builtins=0; done

if [ $have_builtins = 1 ]; then
  v=$("$CTRACE_NODE" --version) || skip "$CTRACE_NODE does not start"
  echo "run-node18: $CTRACE_NODE $v"
  exec "$here/run.sh" "$@"
fi

# Overlay the unpacked /usr/share (with its nodejs/) on the system's, in a
# private mount namespace: as root directly, else in a user namespace.
command -v unshare >/dev/null || skip "/usr/share/nodejs lacks node's builtins and there is no unshare"
ns=(unshare --mount --propagation private)
[ "$(id -u)" = 0 ] || ns=(unshare --mount --map-root-user --propagation private)
inner='mount -t overlay overlay -o "lowerdir=$1/root/usr/share:/usr/share" /usr/share || exit 77
shift
v=$("$CTRACE_NODE" --version) || exit 77
echo "run-node18: $CTRACE_NODE $v (builtins from $CTRACE_NODE18_PREFIX/root/usr/share/nodejs)"
exec "$0" "$@"'
export CTRACE_NODE18_PREFIX=$prefix
set +e
"${ns[@]}" bash -c "$inner" "$here/run.sh" "$prefix" "$@"
rc=$?
[ $rc = 77 ] && skip "could not overlay /usr/share/nodejs in a mount namespace (unshare/overlayfs not permitted here)"
exit $rc
