// mock-data.mjs - canned answers of the ctrace view HTTP API, shaped like a
// trace of examples/http_task with 3 requests (main fires 3 GETs, the
// "acceptor" thread spawns one "handler" thread per request; each handler
// runs the task "handleRequest" with a 50 ms region "db.query"). The
// blocking states are what the preload library is expected to record for it
// (sleep in the handlers, network in main and the acceptor); the sync
// profile is empty on purpose, to exercise the "no blocking events" state.
// makeMockData(overrides) lets a test add dropped events, overhead, etc.

const MS = 1_000_000;

function pct(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function latencyStats(name, durs) {
  const s = [...durs].sort((a, b) => a - b);
  const lo = s[0];
  const hi = s[s.length - 1];
  const nb = 8;
  const width = Math.max(1, Math.ceil((hi - lo + 1) / nb));
  const histogram = [];
  for (let i = 0; i < nb; i++) histogram.push({ lo_ns: lo + i * width, hi_ns: lo + (i + 1) * width, count: 0 });
  for (const d of s) histogram[Math.min(nb - 1, Math.floor((d - lo) / width))].count++;
  return { name, count: s.length, min_ns: lo, p50_ns: pct(s, 50), p90_ns: pct(s, 90), p99_ns: pct(s, 99), max_ns: hi, histogram };
}

const STATES0 = { running: 0, sync: 0, net: 0, io: 0, poll: 0, sleep: 0, syscall: 0 };

export function makeMockData(overrides = {}) {
  const threads = [
    { tid: 8895, name: 'main', first: 0, last: 154_800_106, states: { net: 152_900_000, io: 0, sleep: 0 } },
    { tid: 8897, name: 'acceptor', first: 512_750, last: 103_939_653, states: { net: 102_700_000 } },
    { tid: 8898, name: 'handler', first: 1_274_922, last: 53_000_802, states: { net: 95_000, sleep: 50_540_000, io: 120_000 } },
    { tid: 8899, name: 'handler', first: 52_980_153, last: 104_332_396, states: { net: 80_000, sleep: 50_190_000, io: 88_000 } },
    { tid: 8901, name: 'handler', first: 104_380_237, last: 154_829_031, states: { net: 70_000, sleep: 50_130_000, io: 160_000 } },
  ];
  const threadsApi = {
    threads: threads.map((t) => {
      const total = t.last - t.first;
      const states = { ...STATES0, ...t.states };
      states.running = total - Object.values(states).reduce((a, b) => a + b, 0);
      return { tid: t.tid, name: t.name, total_ns: total, states };
    }),
  };

  const handlers = [
    { id: 2, tid: 8898, start: 1_382_555, end: 52_150_583, sleep: 50_540_000, io: 120_000, net: 0 },
    { id: 4, tid: 8899, start: 53_298_345, end: 103_615_881, sleep: 50_190_000, io: 88_000, net: 0 },
    { id: 6, tid: 8901, start: 104_394_804, end: 154_731_005, sleep: 50_130_000, io: 160_000, net: 0 },
  ];
  const clients = [
    { id: 1, tid: 8895, start: 534_952, end: 52_218_071, net: 51_500_000 },
    { id: 3, tid: 8895, start: 52_222_269, end: 103_734_475, net: 51_300_000 },
    { id: 5, tid: 8895, start: 103_735_206, end: 154_800_106, net: 50_900_000 },
  ];
  const dbq = [
    { id: 101, tid: 8898, start: 1_400_189, end: 51_955_384, sleep: 50_540_000 },
    { id: 102, tid: 8899, start: 53_301_691, end: 103_511_243, sleep: 50_190_000 },
    { id: 103, tid: 8901, start: 104_398_541, end: 154_544_092, sleep: 50_130_000 },
  ];
  const wr = [
    { id: 104, tid: 8898, start: 52_014_546, end: 52_148_129, io: 120_000 },
    { id: 105, tid: 8899, start: 103_522_885, end: 103_615_480, io: 88_000 },
    { id: 106, tid: 8901, start: 154_556_555, end: 154_730_705, io: 160_000 },
  ];
  const inst = (name, list) =>
    list.map((x) => {
      const dur = x.end - x.start;
      const b = { ...STATES0, sleep: x.sleep || 0, io: x.io || 0, net: x.net || 0 };
      b.running = dur - b.sleep - b.io - b.net;
      return { id: x.id, name, start_ns: x.start, end_ns: x.end, dur_ns: dur, tids: [x.tid], breakdown: b };
    });
  const instances = {
    task: { handleRequest: inst('handleRequest', handlers), 'client.get': inst('client.get', clients) },
    region: { 'db.query': inst('db.query', dbq), 'write.response': inst('write.response', wr) },
  };
  const statsOf = (kind, name) => latencyStats(name, instances[kind][name].map((i) => i.dur_ns));
  const tasksApi = {
    tasks: [statsOf('task', 'handleRequest'), statsOf('task', 'client.get')],
    regions: [statsOf('region', 'db.query'), statsOf('region', 'write.response')],
  };

  const f = (fn, file, line) => ({ function: fn, file, line });
  const handleFrames = (inner) => [...inner, f('handle', '../examples/http_task.c', 35), f('start_thread', './nptl/pthread_create.c', 442), f('clone3', '../sysdeps/unix/sysv/linux/x86_64/clone3.S', 81)];
  const profiles = {
    sync: { kind: 'sync', total_ns: 0, stacks: [] },
    sleep: {
      kind: 'sleep',
      total_ns: 150_860_000,
      stacks: [{ total_ns: 150_860_000, count: 3, call: 'sleep', frames: handleFrames([f('nanosleep', '../sysdeps/unix/sysv/linux/nanosleep.c', 25)]) }],
    },
    net: {
      kind: 'net',
      total_ns: 255_845_000,
      stacks: [
        { total_ns: 152_900_000, count: 3, call: 'read', frames: [f('read', '../sysdeps/unix/sysv/linux/read.c', 26), f('get', '../examples/http_task.c', 90), f('main', '../examples/http_task.c', 125), f('__libc_start_call_main', '../sysdeps/nptl/libc_start_call_main.h', 58)] },
        { total_ns: 102_700_000, count: 3, call: 'accept', frames: [f('accept', '../sysdeps/unix/sysv/linux/accept.c', 26), f('serve', '../examples/http_task.c', 61), f('start_thread', './nptl/pthread_create.c', 442), f('clone3', '../sysdeps/unix/sysv/linux/x86_64/clone3.S', 81)] },
        { total_ns: 245_000, count: 3, call: 'read', frames: handleFrames([f('read', '../sysdeps/unix/sysv/linux/read.c', 26)]).map((x, i) => (i === 1 ? { ...x, line: 26 } : x)) },
      ],
    },
    poll: { kind: 'poll', total_ns: 0, stacks: [] },
    syscall: {
      kind: 'syscall',
      total_ns: 368_000,
      stacks: [{ total_ns: 368_000, count: 3, call: 'write', frames: handleFrames([f('write', '../sysdeps/unix/sysv/linux/write.c', 26)]).map((x, i) => (i === 1 ? { ...x, line: 44 } : x)) }],
    },
  };

  const summary = {
    file: '/tmp/http_task.ctrace',
    duration_ns: 154_829_031,
    start_ns: 0,
    end_ns: 154_829_031,
    processes: 1,
    threads: 5,
    events: 44,
    events_by_kind: { THREAD_START: 4, THREAD_EXIT: 4, THREAD_NAME: 5, THREAD_CREATE: 4, TASK_BEGIN: 6, TASK_END: 6, REGION_BEGIN: 6, REGION_END: 6, LOG: 3 },
    bytes: 1210,
    bytes_per_event: 27.5,
    dropped_events: 0,
    tasks: 6,
    regions: 6,
    logs: 3,
    tracer_overhead_ns: 0,
    tracer_events: 0,
    families: { sync: 0, sleep: 3, io: 3, net: 9, poll: 0, proc: 4 },
    task_names: { 'client.get': { count: 3, total_ns: 154_260_225 }, handleRequest: { count: 3, total_ns: 151_421_765 } },
    region_names: { 'db.query': 3, 'write.response': 3 },
    complete: true,
    thread_list: threads.map((t, i) => ({ index: i, tid: t.tid, pid: 8895, name: t.name, first_ns: t.first, last_ns: t.last, created_by: i === 0 ? 0 : i === 1 ? 8895 : 8897, exited: i !== 0, dropped: 0 })),
    process_list: [{ pid: 8895, ppid: 8800, exe: '/work/main/build/examples/http_task', argv: ['build/examples/http_task', '/tmp/http_task.ctrace', '3'] }],
    ...(overrides.summary || {}),
  };

  return { summary, threads: threadsApi, tasks: tasksApi, instances, profiles };
}
