#!/usr/bin/env bash
# Source checks that keep the house rules true:
#  1. libctrace exports exactly the functions ctrace.h declares
#  2. no banned functions (sprintf, strcpy, strcat, gets, atoi) in src/
#  3. no back-reference from a layer to one above it (docs/ARCHITECTURE.md):
#     a. includes: modules include only headers of modules upstream of them
#     b. the build: src/X/meson.build uses only libraries of layers upstream
#        of X, and compiles only sources of its own folder
#     c. symbol lookups by name: no dlsym/dlvsym of a ctrace name in src/,
#        and no lookup in the global scope (RTLD_DEFAULT) in the libraries
#        below the preload (src/format, src/record): a layer learns of the
#        ones above it only through what they pass it (the recorder's hooks)
# Usage: scripts/check.sh [BUILD_DIR]   (exit 1 on any violation)
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
bad=0

# 1. exported symbols
if [ -f "$build/libctrace.so" ]; then
  exported=$(nm -D --defined-only "$build/libctrace.so" | awk '$2 == "T" { print $3 }' | sort)
  declared=$(grep -oE 'CTRACE_EXTERN [^(]*\b(ctrace_[a-z0-9_]+)\(' include/ctrace.h |
    grep -oE 'ctrace_[a-z0-9_]+\($' | tr -d '(' | sort)
  if [ "$exported" != "$declared" ]; then
    echo "check: libctrace.so exports differ from include/ctrace.h:"
    diff <(echo "$declared") <(echo "$exported") | sed 's/^/  /'
    bad=1
  fi
else
  echo "check: $build/libctrace.so not built"; bad=1
fi

# 2. banned functions
if grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol)\s*\(' src/ include/ \
    --include='*.c' --include='*.h' | grep -v 'snprintf\|vsnprintf'; then
  echo "check: banned functions above (use snprintf, memcpy with a length, strtol)"
  bad=1
fi

# 3. include layering: src/A may include src/B only when B is upstream of A
# (base: header-only helpers, growable arrays and hashes, below everything)
upstream() {
  case $1 in
    base)    echo "base" ;;
    format)  echo "base format" ;;
    record)  echo "base format record" ;;
    preload) echo "base format record preload" ;;
    read)    echo "base format read" ;;
    analyze) echo "base format read analyze" ;;
    serve)   echo "base format read analyze serve" ;;
    cli)     echo "base format record read analyze serve preload cli" ;;
  esac
}
for dir in src/*/; do
  mod=$(basename "$dir")
  allowed=$(upstream "$mod")
  [ -n "$allowed" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(echo "$line" | grep -oE '"\.\./[a-z]+/' | cut -d/ -f2)
    [ -n "$inc" ] || continue
    case " $allowed " in
      *" $inc "*) ;;
      *) echo "check: $file includes src/$inc, which is not upstream of src/$mod"; bad=1 ;;
    esac
  done < <(grep -rnE '#include "\.\./[a-z]+/' "$dir" --include='*.c' --include='*.h')
done

# 3b. the build graph: a folder's meson.build names the libraries (X_dep,
# X_lib, X_a, X_src) of upstream layers only, and no source of another
# folder of src/ (the tests' programs and benchmarks are not layers)
for mb in src/*/meson.build; do
  mod=$(basename "$(dirname "$mb")")
  allowed=$(upstream "$mod")
  [ -n "$allowed" ] || continue
  while IFS=: read -r lineno used; do
    case " $allowed " in
      *" $used "*) ;;
      *) echo "check: $mb:$lineno uses the $used layer's library, which is not upstream of src/$mod"; bad=1 ;;
    esac
  done < <(grep -noE '\b(format|record|preload|read|analyze|serve|cli)_(dep|lib|a|src)\b' "$mb" |
           sed -E 's/^([0-9]+):([a-z]+)_.*/\1:\2/' | sort -u)
  if grep -nE "['\"]\.\./[a-z]+/" "$mb" | grep -vE "\.\./\.\./(tests|bench)/"; then
    echo "check: $mb compiles sources of another folder of src/ (above): each folder builds its own"
    bad=1
  fi
done

# 3c. symbol lookups by name across layers: of a ctrace name anywhere in
# src/, and of anything in the global scope in the recorder
if grep -rnE 'dl(v)?sym *\([^,]*, *"_*ctrace' src --include='*.c' --include='*.h' ||
   grep -rnE 'RTLD_DEFAULT' src/format src/record --include='*.c' --include='*.h'; then
  echo "check: symbol lookups by name across layers (above): pass hooks down instead (record.h)"
  bad=1
fi

# 4. the README's environment table is the one of src/record/config.h
python3 scripts/gen-readme-env.py --check || bad=1

[ $bad = 0 ] && echo "check: ok"
exit $bad
