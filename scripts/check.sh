#!/usr/bin/env bash
# Source checks that keep the house rules true:
#  1. libctrace exports exactly the functions ctrace.h declares
#  2. no banned functions (sprintf, strcpy, strcat, gets, atoi) in src/
#  3. modules include only headers of modules upstream of them
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
upstream() {
  case $1 in
    format)  echo "format" ;;
    record)  echo "format record" ;;
    preload) echo "format record preload" ;;
    read)    echo "format read" ;;
    analyze) echo "format read analyze" ;;
    serve)   echo "format read analyze serve" ;;
    cli)     echo "format record read analyze serve preload cli" ;;
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

# 4. the README's environment table is the one of src/record/config.h
python3 scripts/gen-readme-env.py --check || bad=1

[ $bad = 0 ] && echo "check: ok"
exit $bad
