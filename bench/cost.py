#!/usr/bin/env python3
"""bench/cost.py - every row of issue 14's target table in one run, each
beside its target and beside the peers that do the same job (LTTng-UST,
uftrace, strace -f) where they are installed.

  python3 bench/cost.py [BUILD_DIR]       (default: build; ~5 minutes on 2 cores)
  ROUNDS=N   alternating rounds of the process benchmarks (default 9)
  COST_RT=1  the contended-mutex runs at SCHED_FIFO 1 (needs root): on a
             loaded machine its two threads otherwise seldom run at once

How it measures, so that a shared machine's noise hits every column alike:
- per-event and per-call costs are measured inside one process, in short
  rounds alternating with a loop of one rdtsc (and with libc's own function
  for interposed calls), as CPU time of the thread; each is printed as the
  median [min..max] of the rounds (for interposed calls, the median and
  interquartile range of the rounds' differences);
- whole programs run in alternating order (untraced, traced, peer, then the
  reverse order), ROUNDS times; wall time and CPU time (user+sys of the
  program and its threads, from wait4) are printed as median [min..max];
- the load average is printed at start and end; a run taken while it was
  above half the number of cores is flagged: its wall times are not the
  machine's, its CPU times and in-process ratios mostly are.
A peer that is not installed is skipped with a line that says so. Never
fails on slow numbers: it prints a table to read.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

B = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROUNDS = int(os.environ.get("ROUNDS", "9"))
CT = os.path.join(B, "ctrace")
MUTEX = os.path.join(B, "src/preload/bench_preload_mutex")
SERVER = os.path.join(B, "src/preload/bench_preload_server")
RECORD = os.path.join(B, "bench/record_bench")
FPLAIN = os.path.join(B, "bench/fentry_plain")
FPG = os.path.join(B, "bench/fentry_pg")
FCT = os.path.join(B, "bench/fentry_ctrace")
PEER_LTTNG = os.path.join(B, "bench/peer_lttng")
NCPU = os.cpu_count() or 1
ROWS = []  # (measure, target, ctrace, peer): the summary table


def load():
    return float(open("/proc/loadavg").read().split()[0])


def run(cmd, env=None, cwd=None):
    """Runs cmd; (stdout, wall s, cpu s) with CPU from wait4."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                         cwd=cwd, text=True)
    out = p.stdout.read()
    _, _, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    wall = time.monotonic() - t0
    return out, wall, ru.ru_utime + ru.ru_stime


def kv(out):
    """key v [min max] lines -> {key: [floats]}"""
    d = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2:
            try:
                d[f[0]] = [float(x) for x in f[1:]]
            except ValueError:
                pass
    return d


def mr(v, prec=1, scale=1.0):
    v = [x * scale for x in v if x is not None]
    if not v:
        return "n/a"
    return "%.*f [%.*f..%.*f]" % (prec, statistics.median(v), prec, min(v), prec, max(v))


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def have(path, what):
    if os.access(path, os.X_OK):
        return True
    print("  (skipped: %s not built: %s)" % (what, path))
    return False


# ---- LTTng: our own session daemon, in a temporary LTTNG_HOME, by pid ----
class Lttng:
    def __init__(self, tmp):
        self.ok = False
        self.pid = None
        self.tmp = tmp
        if not shutil.which("lttng") or not shutil.which("lttng-sessiond"):
            self.why = "lttng-tools not installed (apt-get install lttng-tools)"
            return
        self.env = dict(os.environ, LTTNG_HOME=os.path.join(tmp, "lttng-home"))
        os.makedirs(self.env["LTTNG_HOME"], exist_ok=True)
        p = subprocess.Popen(["lttng-sessiond"], env=self.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.pid = p
        for _ in range(50):
            if subprocess.run(["lttng", "list"], env=self.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                self.ok = True
                break
            time.sleep(0.1)
        if not self.ok:
            self.why = "lttng-sessiond did not start"
            self.stop()

    def session(self, events):
        c = lambda *a: subprocess.run(["lttng"] + list(a), env=self.env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = os.path.join(self.tmp, "lttng-out")
        c("create", "costb", "--output=" + out)
        c("enable-event", "-u", events)
        c("start")
        return lambda: (c("stop"), c("destroy", "costb"), shutil.rmtree(out, True))

    def stop(self):
        if self.pid is not None:
            self.pid.send_signal(signal.SIGTERM)
            try:
                self.pid.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.pid.kill()
                self.pid.wait()
            self.pid = None


def section_api(lt):
    print("## The API, per event (record_bench --kv: in-process, CPU time of the thread, "
          "15 rounds alternating with an rdtsc loop)")
    if not have(RECORD, "record_bench"):
        return
    d = kv(run([RECORD, "--kv"])[0])
    rd = d["rdtsc_ns"][0]
    print("| measure | ns per event | x rdtsc | target |")
    print("|---|---|---|---|")
    print("| one rdtsc | %s | 1 | |" % mr(d["rdtsc_ns"][1:] + d["rdtsc_ns"][:1]))
    for key, label, target in (("region_ns", "region begin/end (CTRACE_REGION), per event", ""),
                               ("log_ns", "ctrace_log_str, 7-byte message", "<= 1.5x"),
                               ("log_plain_ns", "ctrace_log, 7-byte message without a conversion",
                                "<= 1.5x"),
                               ("log_fmt_ns", "ctrace_log(..., \"rows=%d\", 42)", ""),
                               ("counter_ns", "ctrace_counter", "<= 1.3x"),
                               ("log_untraced_ns", "ctrace_log_str, not tracing", "")):
        v = d[key]
        print("| %s | %.1f [%.1f..%.1f] | %.2fx | %s |" % (label, v[0], v[1], v[2], v[0] / rd,
                                                          target))
        if target:
            ROWS.append((label + ", x rdtsc", target, "%.2fx" % (v[0] / rd), ""))
        if key == "log_fmt_ns":
            ROWS.append((label + ", x rdtsc", "", "%.2fx" % (v[0] / rd), ""))
    tp = None
    if lt.ok and os.access(PEER_LTTNG, os.X_OK):
        vals = []
        for _ in range(3):
            end = lt.session("ctrace_bench:*")
            vals.append(kv(run([PEER_LTTNG], env=lt.env)[0]))
            end()
        tp = med([v["tracepoint_ns"][0] for v in vals])
        trd = med([v["rdtsc_ns"][0] for v in vals])
        print("| peer: LTTng-UST tracepoint, one integer (3 runs, median of medians) | %.1f | "
              "%.2fx | |" % (tp, tp / trd))
    elif not lt.ok:
        print("  (skipped LTTng-UST tracepoint: %s)" % lt.why)
    else:
        print("  (skipped LTTng-UST tracepoint: %s not built: liblttng-ust-dev missing)"
              % PEER_LTTNG)
    if tp:
        ROWS[-1] = ROWS[-1][:3] + ("LTTng-UST tracepoint %.2fx" % (tp / rd),)
    print()
    print("| recording threads (2 cores, region pairs) | ns per event, CPU | x 1 thread |")
    print("|---|---|---|")
    one = d["threads_1_ns"][0]
    worst = 1.0
    for n in (1, 2, 8, 64):
        v = d["threads_%d_ns" % n]
        worst = max(worst, v[0] / one)
        print("| %d | %.1f [%.1f..%.1f] | %.2fx |" % (n, v[0], v[1], v[2], v[0] / one))
    ROWS.append(("per-event cost, 1/2/8/64 threads, worst / 1 thread", "<= 1.2x",
                 "%.2fx" % worst, ""))
    print()
    print("| file and reader | value | target |")
    print("|---|---|---|")
    print("| file bytes per event, the HTTP example's API pattern at volume | %.2f | <= 5 |"
          % d["http_pattern_bpe"][0])
    v = d["decode_mev"]
    print("| reader decode after open, M events/s (CPU) | %.0f [%.0f..%.0f] | >= 250 |"
          % (v[0], v[1], v[2]))
    ROWS.append(("file bytes per event, HTTP API pattern", "<= 5", "%.2f" % d["http_pattern_bpe"][0],
                 ""))
    ROWS.append(("reader decode after open, M events/s", ">= 250", "%.0f" % v[0], ""))
    print()


def section_fentry(tmp):
    print("## Function entry+exit (fentry_bench.c: a leaf function, CPU time per call, "
          "3 runs alternating, median of the runs' medians)")
    if not (have(FPLAIN, "fentry_plain") and have(FCT, "fentry_ctrace")):
        return
    uft = shutil.which("uftrace")
    if not uft:
        print("  (skipped uftrace: not installed (apt-get install uftrace))")
    res = {"plain": [], "ctrace": [], "uftrace": [], "rdtsc": []}
    for r in range(3):
        order = ["plain", "ctrace", "uftrace"]
        if r % 2:
            order.reverse()
        for m in order:
            if m == "plain":
                d = kv(run([FPLAIN], cwd=tmp)[0])
            elif m == "ctrace":
                d = kv(run([FCT, os.path.join(tmp, "f.ctrace")], cwd=tmp)[0])
            elif uft and os.access(FPG, os.X_OK):
                d = kv(run([uft, "record", "-d", os.path.join(tmp, "uftrace.data"),
                            os.path.abspath(FPG)], cwd=tmp)[0])
                shutil.rmtree(os.path.join(tmp, "uftrace.data"), True)
            else:
                continue
            if "call_ns" in d:
                res[m].append(d["call_ns"][0])
                res["rdtsc"].append(d["rdtsc_ns"][0])
    rd = med(res["rdtsc"])
    base = med(res["plain"])
    print("| tracer | ns per call | added per call | added x rdtsc |")
    print("|---|---|---|---|")
    print("| untraced | %s | | |" % mr(res["plain"]))
    for m, label in (("ctrace", "ctrace region begin+end (2 events)"),
                     ("uftrace", "uftrace record (-pg: entry+exit)")):
        if res[m]:
            a = med(res[m]) - base
            print("| %s | %s | %.1f | %.2fx |" % (label, mr(res[m]), a, a / rd))
    if res["ctrace"] and res["uftrace"]:
        ROWS.append(("function entry+exit, added ns", "", "%.1f" % (med(res["ctrace"]) - base),
                     "uftrace %.1f" % (med(res["uftrace"]) - base)))
    print()


def section_calls(tmp):
    print("## Interposed calls under ctrace run (preload_mutex micro: in-process, each round "
          "libc's call, an rdtsc loop, the interposed call; median [interquartile] of the "
          "rounds' added cost, 3 runs alternating, median run; then the same from quantiles "
          "of single calls, libc's and the interposed alternating call by call)")
    if not (have(CT, "ctrace") and have(MUTEX, "bench_preload_mutex")):
        return
    tr = os.path.join(tmp, "m.ctrace")
    modes = [("untraced (noise floor)", []), ("ctrace run", [CT, "run", "-o", tr, "--"]),
             ("ctrace run --min-duration 0", [CT, "run", "--min-duration", "0", "-o", tr, "--"])]
    res = {m: [] for m, _ in modes}
    for r in range(3):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for name, pre in order:
            res[name].append(kv(run(pre + [MUTEX, "micro"])[0]))
    print("| measure | mode | added ns | added x rdtsc | target |")
    print("|---|---|---|---|---|")
    def pick(name, key):
        runs = sorted(res[name], key=lambda d: d.get(key, [0])[0])
        return runs[len(runs) // 2].get(key, [0, 0, 0])
    for name, _ in modes:
        lp = pick(name, "lockpair_added_ns")
        print("| uncontended lock+unlock | %s | %.2f [%.2f..%.2f] | | <= 5 ns |" % (name, *lp))
    for name, _ in modes:
        w = pick(name, "write_added_ns")
        x = pick(name, "write_x_rdtsc")
        target = {"ctrace run": "<= 3x (not recorded)",
                  "ctrace run --min-duration 0": "<= 5x (recorded)"}.get(name, "")
        print("| 1-byte write to /dev/null | %s | %.1f [%.1f..%.1f] | %.2fx [%.2f..%.2f] | %s |"
              % (name, *w, *x, target))
        if target:
            ROWS.append(("write below CTRACE_MIN_NS, added x rdtsc" if "min" not in name
                         else "the same write recorded, added x rdtsc", target.split(" (")[0],
                         "%.2fx" % x[0], ""))
    # the same from quantiles of single calls (steadier under load)
    for name, _ in modes:
        q = pick(name, "write_call_x_rdtsc")
        target = {"ctrace run": "<= 3x (not recorded)",
                  "ctrace run --min-duration 0": "<= 5x (recorded)"}.get(name, "")
        print("| 1-byte write, single calls (10th/25th/50th percentile) | %s | | "
              "%.2fx / %.2fx / %.2fx | %s |" % (name, *q, target))
        if target:
            ROWS.append(("write below CTRACE_MIN_NS, single calls, 25th pct, x rdtsc"
                         if "min" not in name
                         else "the same write recorded, single calls, 25th pct, x rdtsc",
                         target.split(" (")[0], "%.2fx" % q[1], ""))
    print()


def section_mutex(tmp, lt):
    locks = os.environ.get("LOCKS", "1000000")
    print("## Contended mutex, 2 threads, %s locks (%d rounds alternating; wall and CPU "
          "(wait4) median [min..max]; futex sleeps: the threads' voluntary switches)"
          % (locks, ROUNDS))
    if not (have(CT, "ctrace") and have(MUTEX, "bench_preload_mutex")):
        return
    tr = os.path.join(tmp, "c.ctrace")
    lttw = None
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib"):
        p = os.path.join(d, "liblttng-ust-pthread-wrapper.so.1")
        if os.path.exists(p):
            lttw = p
    modes = ["untraced", "ctrace run"]
    if lt.ok and lttw:
        modes.append("LTTng-UST pthread wrapper")
    elif not lt.ok:
        print("  (skipped LTTng-UST pthread wrapper: %s)" % lt.why)
    else:
        print("  (skipped LTTng-UST pthread wrapper: liblttng-ust-pthread-wrapper.so.1 not "
              "installed (apt-get install liblttng-ust-dev))")
    # COST_RT=1: the runs at SCHED_FIFO priority 1 (root or CAP_SYS_NICE),
    # so that on a loaded machine both threads run at once and the locks
    # are contended; each run holds both cores for ~0.1 s.
    rt = ["chrt", "-f", "1"] if os.environ.get("COST_RT") == "1" and shutil.which("chrt") else []
    if rt:
        print("  (runs at SCHED_FIFO 1: COST_RT=1)")
    res = {m: [] for m in modes}
    for r in range(ROUNDS):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for m in order:
            cmd = rt + [MUTEX, "contended", locks]
            if m == "untraced":
                out = run(cmd)
            elif m == "ctrace run":
                out = run(rt + [CT, "run", "-o", tr, "--"] + cmd[len(rt):])
            else:
                end = lt.session("lttng_ust_pthread:*")
                out = run(cmd, env=dict(lt.env, LD_PRELOAD=lttw))
                end()
            d = kv(out[0])
            res[m].append((d.get("contended_ns", [None])[0], out[2], d.get("sleeps", [None])[0],
                           d.get("cpu_ns", [None])[0]))
    base_w = med([x[0] for x in res["untraced"]])
    base_c = med([x[1] for x in res["untraced"]])
    base_l = med([x[3] for x in res["untraced"]])
    print("| mode | wall ms (in-process) | x untraced | CPU ms of the locking (in-process) | "
          "x untraced | CPU s of the process (wait4) | x untraced | futex sleeps |")
    print("|---|---|---|---|---|---|---|---|")
    for m in modes:
        w = [x[0] for x in res[m]]
        c = [x[1] for x in res[m]]
        lc = [x[3] for x in res[m]]
        print("| %s | %s | %.2fx | %s | %.2fx | %s | %.2fx | %s |" % (
            m, mr(w, 1, 1e-6), med(w) / base_w, mr(lc, 1, 1e-6), med(lc) / base_l, mr(c, 3),
            med(c) / base_c, mr([x[2] for x in res[m]], 0)))
    tw = med([x[0] for x in res["ctrace run"]]) / base_w
    tc = med([x[3] for x in res["ctrace run"]]) / base_l
    peer = ""
    if "LTTng-UST pthread wrapper" in res:
        peer = "LTTng-UST wrapper %.2fx wall" % (
            med([x[0] for x in res["LTTng-UST pthread wrapper"]]) / base_w)
    ROWS.append(("contended mutex, traced / untraced", "<= 1.3x",
                 "%.2fx wall, %.2fx CPU of the locking" % (tw, tc), peer))
    print()


def section_server(tmp):
    cl, rq = os.environ.get("CLIENTS", "2"), os.environ.get("REQUESTS", "20000")
    # As many rounds as the other process benchmarks: this VM's throughput
    # swings 60-150 % between neighbouring runs, and 4 rounds' medians
    # differed by 10 points from one run of the script to the next.
    rounds = max(3, ROUNDS)
    print("## Loopback server, %s clients x %s requests (%d rounds alternating; %% untraced: "
          "of the medians, then the median [range] of each round's ratio)" % (cl, rq, rounds))
    if not (have(CT, "ctrace") and have(SERVER, "bench_preload_server")):
        return
    modes = ["untraced", "ctrace run"]
    if shutil.which("strace"):
        modes.append("strace -f")
    else:
        print("  (skipped strace -f: not installed (apt-get install strace))")
    res = {m: [] for m in modes}
    for r in range(rounds):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for m in order:
            cmd = [SERVER, cl, rq]
            pre = {"untraced": [], "ctrace run": [CT, "run", "-o", os.path.join(tmp, "s.ctrace"),
                                                  "--"],
                   "strace -f": ["strace", "-f", "-o", os.path.join(tmp, "strace.out")]}[m]
            out = run(pre + cmd)
            res[m].append((kv(out[0]).get("req_per_s", [None])[0], out[2]))
    base = med([x[0] for x in res["untraced"]])
    basec = med([x[1] for x in res["untraced"]])
    print("| mode | req/s | % untraced | per round | CPU s | x untraced |")
    print("|---|---|---|---|---|---|")
    for m in modes:
        v = [x[0] for x in res[m]]
        c = [x[1] for x in res[m]]
        per = [a / b for a, b in zip(v, [x[0] for x in res["untraced"]])
               if a is not None and b]
        print("| %s | %s | %.1f %% | %s %% | %s | %.2fx |" % (m, mr(v, 0), 100 * med(v) / base,
                                                             mr(per, 1, 100.0), mr(c, 2),
                                                             med(c) / basec))
    peer = ""
    if "strace -f" in res:
        peer = "strace -f %.1f %%" % (100 * med([x[0] for x in res["strace -f"]]) / base)
    ROWS.append(("loopback server throughput, traced", ">= 90 %",
                 "%.1f %%" % (100 * med([x[0] for x in res["ctrace run"]]) / base), peer))
    print()


def section_pigz(tmp):
    mb = int(os.environ.get("PIGZ_MB", "64"))
    print("## pigz -p 2 -n on %d MB under ctrace run (3 rounds alternating): file bytes per "
          "event" % mb)
    pigz = shutil.which("pigz")
    if not pigz:
        print("  (skipped: pigz not installed)")
        return
    if not have(CT, "ctrace"):
        return
    inp = os.path.join(tmp, "in")
    with open(inp, "wb") as f:
        r = os.urandom(mb * 1024 * 1024 * 3 // 4)
        import base64
        f.write(base64.encodebytes(r))
    tr = os.path.join(tmp, "p.ctrace")
    res = {"untraced": [], "ctrace run": []}
    bpe = []
    for r in range(3):
        for m in (["untraced", "ctrace run"] if r % 2 == 0 else ["ctrace run", "untraced"]):
            pre = [] if m == "untraced" else [CT, "run", "-o", tr, "--"]
            out = run(pre + [pigz, "-p", "2", "-n", "-k", "-f", "-S", ".%d.gz" % r, inp])
            res[m].append(out[1:])
            if m != "untraced":
                s = json.loads(subprocess.run([CT, "stats", "--json", tr], stdout=subprocess.PIPE,
                                              stderr=subprocess.DEVNULL, text=True).stdout)
                ev = s.get("events", 0)
                kinds = s.get("events_by_kind", {})
                bpe.append((os.path.getsize(tr) / ev if ev else 0, ev, kinds))
    # the bytes per event: the events (wait, wake, syscall with
    # stacks) and their definitions, without the kernel's scheduling records
    run([CT, "run", "-o", tr, "--", pigz, "-p", "2", "-n", "-k", "-f", "-S", ".x.gz", inp],
        env=dict(os.environ, CTRACE_SCHED="off"))
    s = json.loads(subprocess.run([CT, "stats", "--json", tr], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True).stdout)
    nosched = os.path.getsize(tr) / s["events"] if s.get("events") else 0
    print("| mode | wall s | CPU s |")
    print("|---|---|---|")
    for m in res:
        print("| %s | %s | %s |" % (m, mr([x[0] for x in res[m]], 2), mr([x[1] for x in res[m]], 2)))
    b = med([x[0] for x in bpe])
    print("file bytes per event: %.2f with CTRACE_SCHED=off (the events and their definitions);"
          " with scheduling data and samples (the default) %s (%d events a run; %s)" % (nosched,
        mr([x[0] for x in bpe], 2), int(med([x[1] for x in bpe])),
        ", ".join("%s %s" % kv_ for kv_ in sorted(bpe[-1][2].items())) if isinstance(bpe[-1][2], dict)
        else ""))
    ROWS.append(("file bytes per event, ctrace run pigz (CTRACE_SCHED=off)", "<= 8",
                 "%.2f (%.2f with scheduling data)" % (nosched, b), ""))
    print()


def main():
    l0 = load()
    print("# ctrace cost benchmark (issue 14): %s, %d cores, load average %.2f at start"
          % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), NCPU, l0))
    print()
    with tempfile.TemporaryDirectory(prefix="ctrace-cost.") as tmp:
        lt = Lttng(tmp)
        try:
            section_api(lt)
            section_fentry(tmp)
            section_calls(tmp)
            section_mutex(tmp, lt)
            section_server(tmp)
            section_pigz(tmp)
        finally:
            lt.stop()
    l1 = load()
    print("## Summary: the issue's targets")
    print("| measure | target | ctrace | peer, same run |")
    print("|---|---|---|---|")
    for r in ROWS:
        print("| %s | %s | %s | %s |" % r)
    loaded = max(l0, l1) > NCPU / 2
    print()
    print("load average %.2f at start, %.2f at end%s" % (
        l0, l1, ": TAKEN UNDER LOAD (wall times are not this machine's; CPU times and "
        "in-process ratios are the comparable numbers)" if loaded else " (idle)"))


if __name__ == "__main__":
    main()
