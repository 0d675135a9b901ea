#!/bin/sh
# Run by `meson install` (meson.build): after libctrace is installed into a
# directory of the dynamic loader's search path, refresh the loader's cache,
# which Debian's meson does not do, so that a program linked with
# `pkg-config --libs ctrace` starts without LD_LIBRARY_PATH.
# Nothing to do for a staged install (DESTDIR: the package's own trigger
# runs ldconfig) or an install by a user who cannot write the cache; a
# directory outside the search path gets a note instead.
# Usage: install-ldconfig.sh LIBDIR
libdir=$1
[ -z "${DESTDIR:-}" ] || exit 0
PATH=$PATH:/usr/sbin:/sbin
command -v ldconfig >/dev/null || exit 0
real=$(readlink -f "$libdir")
for dir in $(ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p'); do
  if [ "$(readlink -f "$dir")" = "$real" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "ctrace: run 'sudo ldconfig' before starting programs linked with libctrace" >&2
    elif ! ldconfig; then
      echo "ctrace: ldconfig failed: run it before starting programs linked with libctrace" >&2
    fi
    exit 0
  fi
done
echo "ctrace: $libdir is not in the loader's search path: programs linked with" \
     "libctrace need LD_LIBRARY_PATH=$libdir (or a file in /etc/ld.so.conf.d/)" >&2
exit 0
