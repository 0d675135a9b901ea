#!/bin/sh
# Run by `meson install` (meson.build): after libctrace is installed into a
# system library directory, refresh the dynamic loader's cache, which
# Debian's meson does not do, so that a program linked with
# `pkg-config --libs ctrace` starts without LD_LIBRARY_PATH.
# Nothing to do for a staged install (DESTDIR: the package's own trigger
# runs ldconfig) or an install by a user who cannot write the cache.
# Usage: install-ldconfig.sh LIBDIR
libdir=$1
[ -z "${DESTDIR:-}" ] || exit 0
[ "$(id -u)" = 0 ] || exit 0
PATH=$PATH:/usr/sbin:/sbin
if ! ldconfig; then
  echo "ctrace: ldconfig failed: run it before starting programs linked with libctrace" >&2
  exit 0
fi
if ! ldconfig -p | grep -qF "=> $libdir/libctrace.so.0"; then
  echo "ctrace: $libdir is not in the loader's search path: add it to" \
       "/etc/ld.so.conf.d/ and run ldconfig, or set LD_LIBRARY_PATH" >&2
fi
exit 0
