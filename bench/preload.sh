#!/bin/sh
# bench/preload.sh - what `ctrace run` costs, in one table: per-call costs
# (uncontended mutex pair, 1-byte write to /dev/null below and above the
# minimum duration, against one rdtsc measured in the same run), a contended
# mutex benchmark (untraced / ctrace run / LTTng-UST pthread wrapper), a
# loopback request/response server (untraced / ctrace run / strace -f), and
# pigz -p 2 on 200 MB. Each number is the best of REPS runs (default 3): the
# machine is shared, and the best run is the one least disturbed.
#   bench/preload.sh [BUILD_DIR]      (default: build-preload)
# Never fails: a missing tool prints "n/a".
B=${1:-build-preload}
REPS=${REPS:-3}
CT="$B/ctrace"
M="$B/src/preload/bench_preload_mutex"
S="$B/src/preload/bench_preload_server"
T=$(mktemp -d /tmp/ctrace-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT

# best KEY MODE CMD...: runs CMD REPS times, prints the min (MODE=min), max
# (max) or median (med) of the value printed after KEY. Added per-call costs
# use the median: the min of a noisy difference would flatter us.
best() {
  key=$1; mode=$2; shift 2
  for i in $(seq "$REPS"); do "$@" 2>/dev/null | awk -v k="$key" '$1==k{print $2}'; done |
    sort -g | awk -v m="$mode" '{v[NR]=$1} END {
      if (m == "min") print v[1]; else if (m == "max") print v[NR]; else print v[int((NR+1)/2)] }'
}
run_ct() { "$CT" run -o "$T/t.ctrace" "$@"; }
run_ct0() { "$CT" run --min-duration 0 -o "$T/t.ctrace" "$@"; }

echo "ctrace run overhead ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, best of $REPS; added per-call costs: median)"
echo

# ---- per-call costs (measured inside one process: see preload_mutex.c) ----
rd=$(best rdtsc_ns min "$M" micro)
lp=$(best lockpair_added_ns med run_ct "$M" micro)
lpf=$(best lockpair_added_ns med "$M" micro)
w1=$(best write_added_ns med run_ct "$M" micro)
w2=$(best write_added_ns med run_ct0 "$M" micro)
wf=$(best write_added_ns med "$M" micro)
wl=$(best write_libc_ns min "$M" micro)
awk -v rd="$rd" -v lp="$lp" -v lpf="$lpf" -v w1="$w1" -v w2="$w2" -v wf="$wf" -v wl="$wl" 'BEGIN {
  printf "%-44s %10s %10s %s\n", "per call (added by the interposer)", "ns", "x rdtsc", "target"
  printf "%-44s %10.2f\n", "one rdtsc", rd
  printf "%-44s %10.2f %10.2f %s\n", "mutex lock+unlock pair, uncontended", lp, lp/rd, "<= 5 ns"
  printf "%-44s %10.1f %10.2f %s\n", "write 1 B to /dev/null, below min duration", w1, w1/rd, "<= 3x rdtsc"
  printf "%-44s %10.1f %10.2f %s\n", "write 1 B to /dev/null, recorded", w2, w2/rd, "<= 5x rdtsc"
  printf "%-44s %10.1f %10.2f %s\n", "(noise floor: same, untraced; pair)", wf, wf/rd, ""
  printf "%-44s %10.2f %10s %s\n", "(noise floor: lock pair, untraced)", lpf, "", ""
  printf "%-44s %10.1f\n", "(the write itself, libc)", wl
}'
echo

# ---- contended mutexes ----
LOCKS=${LOCKS:-1000000}
c0=$(best contended_ns min "$M" contended "$LOCKS")
c1=$(best contended_ns min run_ct "$M" contended "$LOCKS")
LTTW=$(ls /usr/lib/*/liblttng-ust-pthread-wrapper.so.1 2>/dev/null | head -1)
c2=n/a
if [ -n "$LTTW" ] && command -v lttng >/dev/null; then
  SPID=
  if ! lttng list >/dev/null 2>&1; then
    # Our own session daemon, in the foreground of a background job so that
    # we know its pid and stop it (and only it) when done.
    lttng-sessiond >/dev/null 2>&1 &
    SPID=$!
    sleep 2
  fi
  run_lttng() {
    lttng create ctb --output="$T/lttng" >/dev/null 2>&1
    lttng enable-event -u 'lttng_ust_pthread:*' >/dev/null 2>&1
    lttng start >/dev/null 2>&1
    LD_PRELOAD="$LTTW" "$@"
    lttng stop >/dev/null 2>&1
    lttng destroy ctb >/dev/null 2>&1
    rm -rf "$T/lttng"
  }
  c2=$(best contended_ns min run_lttng "$M" contended "$LOCKS")
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
fi
awk -v a="$c0" -v b="$c1" -v c="$c2" -v n="$LOCKS" 'BEGIN {
  printf "%-44s %10s %10s %10s\n", "contended mutex, 2 threads, " n " locks", "ms", "x untraced", "added ms"
  printf "%-44s %10.1f %10.2f %10s\n", "untraced", a/1e6, 1, ""
  printf "%-44s %10.1f %10.2f %10.1f\n", "ctrace run", b/1e6, b/a, (b-a)/1e6
  if (c != "n/a") printf "%-44s %10.1f %10.2f %10.1f\n", "LTTng-UST pthread wrapper (lttng_ust_pthread:*)", c/1e6, c/a, (c-a)/1e6
  else printf "%-44s %10s\n", "LTTng-UST pthread wrapper", "n/a"
  if (c != "n/a") printf "%-44s %10s %10.2f %s\n", "ctrace added / LTTng added", "", (b-a)/(c-a), "(target <= 0.5; ctrace <= 1.5x untraced)"
}'
echo

# ---- loopback server ----
CL=${CLIENTS:-2}; RQ=${REQUESTS:-20000}
s0=$(best req_per_s max "$S" "$CL" "$RQ")
s1=$(best req_per_s max run_ct "$S" "$CL" "$RQ")
s2=n/a
if command -v strace >/dev/null; then
  s2=$(best req_per_s max strace -f -o "$T/strace.out" "$S" "$CL" "$RQ")
fi
awk -v a="$s0" -v b="$s1" -v c="$s2" -v cl="$CL" -v rq="$RQ" 'BEGIN {
  printf "%-44s %10s %10s\n", "loopback server, " cl " clients x " rq " requests", "req/s", "% untraced"
  printf "%-44s %10.0f %10.1f\n", "untraced", a, 100
  printf "%-44s %10.0f %10.1f %s\n", "ctrace run", b, 100*b/a, "(target >= 90 %)"
  if (c != "n/a") printf "%-44s %10.0f %10.1f\n", "strace -f -o FILE", c, 100*c/a
}'
echo

# ---- pigz ----
if command -v pigz >/dev/null; then
  MB=${PIGZ_MB:-200}
  head -c $((MB * 3 / 4 * 1024 * 1024)) /dev/urandom | base64 > "$T/in"
  # Wall time, and CPU time (user+sys of the program and its threads): on a
  # shared machine the wall time swings with others' load, CPU time less.
  tm() { s=$(date +%s%N); "$@"; e=$(date +%s%N); echo "wall_ns $((e - s))"; }
  cpu() { /usr/bin/time -f "cpu_s %U %S" "$@" 2>&1 >/dev/null | awk '$1=="cpu_s"{print "cpu_s", $2+$3}'; }
  p0=$(best wall_ns min tm sh -c "pigz -p 2 -n -c < '$T/in' > '$T/a.gz'")
  p1=$(best wall_ns min tm sh -c "'$CT' run -o '$T/p.ctrace' -- pigz -p 2 -n -c < '$T/in' > '$T/b.gz'")
  same=differ; cmp -s "$T/a.gz" "$T/b.gz" && same=identical
  q0=n/a; q1=n/a
  if [ -x /usr/bin/time ]; then
    q0=$(best cpu_s min cpu pigz -p 2 -n -c "$T/in")
    q1=$(best cpu_s min cpu "$CT" run -o "$T/p.ctrace" -- pigz -p 2 -n -c "$T/in")
  fi
  awk -v a="$p0" -v b="$p1" -v s="$same" -v c0="$q0" -v c1="$q1" -v mb="$(($(stat -c %s "$T/in") / 1048576))" 'BEGIN {
    printf "%-44s %10s %10s %10s\n", "pigz -p 2 -n, " mb " MB", "wall s", "x untraced", "cpu s"
    printf "%-44s %10.2f %10.2f %10s\n", "untraced", a/1e9, 1, c0
    printf "%-44s %10.2f %10.2f %10s output %s\n", "ctrace run", b/1e9, b/a, c1, s
  }'
fi
exit 0
