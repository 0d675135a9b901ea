// timeline-procs.js - the processes of a trace of a process tree on the
// Timeline (docs/API.md, /api/summary's process_list and process_links):
// process groups in tree order (parent before its children, indented by
// depth), each collapsible to one summary row of its threads' states; the
// header's life bar with how the process ended (exit status, fatal signal,
// cut off, still running) and a link back to the call that made it; fork
// and exec arrows from the parent's call to the child's first event, and
// what is under the pointer among them.
//
// A trace of one process keeps the plain layout of timeline-model.js: none
// of this applies (m.multiProc is false).
import { LABEL_W, PROC_H, ROW_PAD, LOG_H, STATE_H, REGION_H, rowKey, formatAt } from './timeline-model.js';

const LINK_COLOR = '#7b3fb8';
const INDENT = 14;

/** Takes /api/summary: the processes (tree order) and their links. */
export function setProcs(m, s) {
  const list = Array.isArray(s.process_list) ? s.process_list : [];
  m.procList = list.map((p, i) => ({
    index: p.index ?? i, pid: p.pid, ppid: p.ppid, parent: p.parent ?? -1, depth: p.depth || 0, order: p.order ?? i,
    exe: String(p.exe || '').split('/').pop(), path: p.exe || '', argv: p.argv || [], status: p.status || 'complete',
    exitCode: p.exit_status ?? null, signal: p.signal || 0, signalName: p.signal_name || '', end: p.exit_ns ?? null,
    first: p.first_ns ?? 0, last: p.last_ns ?? 0, nthreads: p.threads ?? 0, mainTid: p.main_tid || 0, exec: p.exec || '',
  }));
  m.multiProc = m.procList.length > 1;
  m.procLinks = (Array.isArray(s.process_links) ? s.process_links : []).map((l) => ({
    kind: l.kind, t0: l.t_ns, t1: l.child_first_ns, process: l.process, child: l.child,
    parent: l.tid, parentKey: rowKey({ tid: l.tid, instance: l.instance }),
    childTid: l.child_tid, childKey: rowKey({ tid: l.child_tid, instance: l.child_instance }), stack: l.stack || [],
  }));
  if (!m.multiProc) return;
  // threads in tree order of their processes, then in creation order
  const rank = (t) => (m.procList[t.proc] ? m.procList[t.proc].order : 0);
  m.allThreads.sort((x, y) => rank(x) - rank(y) || x.i - y.i);
}

/** Whether the track filter f (lower case) names thread t's process: its pid or program. */
export function procMatches(m, t, f) {
  const p = m.procList[t.proc];
  return !!p && (String(p.pid).includes(f) || p.exe.toLowerCase().includes(f));
}

/** The process with index i, or null. */
export const procOf = (m, i) => (m.procList && m.procList[i]) || null;

/** How process p ended, in words: '' while nothing is known. */
export function endText(p) {
  if (p.signal) return `killed by ${p.signalName || `signal ${p.signal}`}`;
  if (p.exitCode !== null && p.exitCode !== undefined) return `exit ${p.exitCode}`;
  if (p.exec) return `exec'd ${String(p.exec).split('/').pop()}`;
  if (p.status === 'running') return 'still running';
  if (p.status === 'cut off' || p.status === 'corrupt') return `trace ${p.status}`;
  return '';
}

/** The link that made process i (fork, exec, spawn), or null. */
export const linkTo = (m, i) => (m.procLinks || []).find((l) => l.child === i) || null;

/**
 * The threads of a process tree to arrange (m.arrange, multi-process), with
 * each collapsed process's threads replaced, in place, by one summary row
 * (a group row with .procGroup, drawn as its members' states); m.rowOf
 * maps those threads to it.
 */
export function arrangeCollapsed(m, rest) {
  const out = [];
  const seen = new Set();
  for (const t of rest) {
    if (!m.tracks.collapsed.has(t.proc)) { out.push(t); continue; }
    if (seen.has(t.proc)) continue;
    seen.add(t.proc);
    const members = rest.filter((x) => x.proc === t.proc);
    const n = members.length;
    const g = { group: true, procGroup: true, key: `proc:${t.proc}`, name: `${n} thread${n === 1 ? '' : 's'}`, label: `▸ ${n} thread${n === 1 ? '' : 's'} (collapsed)`,
      pid: t.pid, proc: t.proc, members, open: false, tid: undefined, depth: 0,
      first: Math.min(...members.map((x) => x.first)), last: Math.max(...members.map((x) => x.last)) };
    out.push(g);
    for (const x of members) m.rowOf.set(x.tid, g);
  }
  return out;
}

/** Places the process headers and rows (multi-process); returns the new y. */
export function layoutProcs(m, y) {
  let cur = null;
  const pinned = m.threads.filter((t) => t.pinned).length;
  if (pinned) {
    m.procs.push({ pid: 'pinned', label: `Pinned (${pinned})`, y });
    y += PROC_H;
  }
  for (const t of m.threads) {
    if (!t.pinned && t.proc !== cur) {
      cur = t.proc;
      const p = procOf(m, cur) || { pid: t.pid, depth: 0, exe: '', index: cur };
      const collapsed = m.tracks.collapsed.has(cur);
      m.procs.push({ pid: p.pid, key: cur, tree: true, proc: p, collapsed, indent: Math.min(p.depth, 8) * INDENT,
        label: `${collapsed ? '▸' : '▾'} Process ${p.pid}${p.exe ? ` · ${p.exe}` : ''}`, y });
      y += PROC_H;
    }
    t.y = y;
    t.h = t.group ? ROW_PAD + LOG_H + STATE_H + ROW_PAD : ROW_PAD + LOG_H + STATE_H + 2 + t.depth * REGION_H + ROW_PAD;
    y += t.h;
  }
  indexRows(m);
  return y;
}

/** m.rowByKey: the row showing each thread, by tid#instance (tids of exec'd images repeat). */
export function indexRows(m) {
  m.rowByKey = new Map();
  for (const r of m.threads) {
    if (r.group && !r.open) for (const x of r.members) m.rowByKey.set(rowKey(x), r);
    else if (!r.group) m.rowByKey.set(rowKey(r), r);
  }
}

/** y of the middle of the state strip of the row showing thread key (tid#instance), or null. */
function keyY(m, key) {
  const r = m.rowByKey && m.rowByKey.get(key);
  return r ? r.y + ROW_PAD + LOG_H + STATE_H / 2 : null;
}

/** The segment of link l on the canvas (content y), or null when an end is not shown. */
function linkGeom(m, l) {
  const y0 = keyY(m, l.parentKey), y1 = keyY(m, l.childKey);
  if (y0 === null || y1 === null) return null;
  return { x0: m.xOf(l.t0), y0, x1: m.xOf(l.t1), y1: y1 + (y1 > y0 ? -STATE_H / 2 : y1 < y0 ? STATE_H / 2 : 0) };
}

/** The header of a process of a tree: name indented by depth, life bar, end mark, link back to its parent. */
export function drawProcHeader(g, m, p) {
  const pr = p.proc;
  g.fillStyle = '#eef1f5';
  g.fillRect(0, p.y, m.width, PROC_H);
  g.strokeStyle = '#dde2e9';
  g.beginPath();
  g.moveTo(0, p.y + 0.5);
  g.lineTo(m.width, p.y + 0.5);
  g.stroke();
  // the tree: a short elbow from the parent's column
  if (pr.depth > 0) {
    g.strokeStyle = '#9aa5b4';
    g.beginPath();
    g.moveTo(p.indent - INDENT / 2 + 4, p.y);
    g.lineTo(p.indent - INDENT / 2 + 4, p.y + PROC_H / 2);
    g.lineTo(p.indent + 6, p.y + PROC_H / 2);
    g.stroke();
  }
  g.fillStyle = '#1d2430';
  g.font = '600 12px system-ui, sans-serif';
  g.textAlign = 'left';
  let text = p.label;
  while (text.length > 4 && g.measureText(text).width > LABEL_W - 12 - p.indent) text = `${text.slice(0, -2)}…`;
  g.fillText(text, 10 + p.indent, p.y + PROC_H / 2);
  g.font = '12px system-ui, sans-serif';
  // back to the call that made it, at the right of the label column
  p.back = null;
  const l = linkTo(m, pr.index);
  if (l) {
    const parent = procOf(m, l.process);
    const text = `↖ ${l.kind === 'exec' ? 'exec' : l.kind} in ${parent ? parent.pid : l.parent}`;
    g.font = '11px system-ui, sans-serif';
    const w = g.measureText(text).width;
    // right of where the arrow arrives (it comes from the left), so that the two never overlap
    const x = Math.max(LABEL_W + 6, m.xOf(l.t1) + 10);
    if (x + w < m.width) {
      g.fillStyle = 'rgba(238,241,245,0.9)';
      g.fillRect(x - 3, p.y + 3, w + 6, PROC_H - 8);
      g.fillStyle = LINK_COLOR;
      g.fillText(text, x, p.y + PROC_H / 2 - 1);
    }
    g.font = '12px system-ui, sans-serif';
    p.back = x + w < m.width ? { x0: x - 3, x1: x + w + 3, link: l } : null;
  }
  // the life bar, in the plot
  g.save();
  g.beginPath();
  g.rect(LABEL_W, p.y, m.width - LABEL_W, PROC_H);
  g.clip();
  const x0 = Math.max(LABEL_W, m.xOf(pr.first)), x1 = Math.min(m.width + 4, m.xOf(pr.last));
  const bad = pr.signal || (pr.exitCode !== null && pr.exitCode !== 0) || pr.status === 'cut off' || pr.status === 'corrupt';
  if (x1 >= LABEL_W && x0 <= m.width) {
    g.fillStyle = '#b7c0cc';
    g.fillRect(x0, p.y + PROC_H - 6, Math.max(1, x1 - x0), 3);
    const end = endText(pr);
    const xe = m.xOf(pr.end ?? pr.last);
    if (end && xe >= LABEL_W - 2 && xe <= m.width + 2) {
      g.fillStyle = pr.signal ? '#c0392b' : bad ? '#b35c00' : '#3d6b35';
      g.beginPath();
      g.moveTo(xe, p.y + 3);
      g.lineTo(xe, p.y + PROC_H - 3);
      g.lineWidth = 2;
      g.strokeStyle = g.fillStyle;
      g.stroke();
      g.lineWidth = 1;
      g.font = '600 11px system-ui, sans-serif';
      const w = g.measureText(end).width;
      // right of the mark, past the link back when that is there
      const xt = p.back && p.back.x1 > xe - 4 && p.back.x0 < xe + 5 + w ? p.back.x1 + 6 : xe + 5;
      const right = xt + w < m.width - 4;
      g.textAlign = right ? 'left' : 'right';
      g.fillText(`${pr.signal ? '✖ ' : ''}${end}`, right ? xt : xe - 5, p.y + PROC_H / 2 - 1);
      g.textAlign = 'left';
      g.font = '12px system-ui, sans-serif';
    }
  }
  g.restore();
}

/** The fork and exec arrows: from the parent's call (a dot) to the child's first event. */
export function drawProcLinks(g, m) {
  if (!m.multiProc || !m.procLinks.length) return;
  g.save();
  g.beginPath();
  g.rect(LABEL_W, 0, m.width - LABEL_W, m.totalH);
  g.clip();
  for (const l of m.procLinks) {
    const a = linkGeom(m, l);
    if (!a) continue;
    if (Math.max(a.x0, a.x1) < LABEL_W - 10 || Math.min(a.x0, a.x1) > m.width + 10) continue;
    const sel = m.selected && m.selected.kind === 'proclink' && m.selected.link === l;
    g.strokeStyle = LINK_COLOR;
    g.fillStyle = LINK_COLOR;
    g.lineWidth = sel ? 2.5 : 1.5;
    if (l.kind === 'exec') g.setLineDash([5, 3]);
    g.beginPath();
    g.moveTo(a.x0, a.y0);
    g.lineTo(a.x1, a.y1);
    g.stroke();
    g.setLineDash([]);
    // the call, on the parent's strip
    g.beginPath();
    g.arc(a.x0, a.y0, sel ? 4.5 : 3.5, 0, 2 * Math.PI);
    g.fill();
    // the head, at the child's first event
    const ang = Math.atan2(a.y1 - a.y0, a.x1 - a.x0), hl = 8;
    g.beginPath();
    g.moveTo(a.x1, a.y1);
    g.lineTo(a.x1 - hl * Math.cos(ang - 0.4), a.y1 - hl * Math.sin(ang - 0.4));
    g.lineTo(a.x1 - hl * Math.cos(ang + 0.4), a.y1 - hl * Math.sin(ang + 0.4));
    g.closePath();
    g.fill();
  }
  g.lineWidth = 1;
  g.restore();
}

/** The link under content point (x, y): its call's dot or its line, or null. */
export function hitProcLink(m, x, y) {
  if (!m.multiProc || !m.procLinks || !m.procLinks.length || x < LABEL_W) return null;
  let best = null, bestD = 5;
  for (const l of m.procLinks) {
    const a = linkGeom(m, l);
    if (!a) continue;
    const dx = a.x1 - a.x0, dy = a.y1 - a.y0, len2 = dx * dx + dy * dy;
    const u = len2 ? Math.max(0, Math.min(1, ((x - a.x0) * dx + (y - a.y0) * dy) / len2)) : 0;
    const d = Math.hypot(x - (a.x0 + u * dx), y - (a.y0 + u * dy));
    const dot = Math.hypot(x - a.x0, y - a.y0) <= 6;
    if (dot || d < bestD) { best = l; bestD = dot ? -1 : d; }
  }
  return best ? { kind: 'proclink', link: best } : null;
}

/** Tooltip lines of a link. */
export function linkTip(m, l) {
  const parent = procOf(m, l.process), child = procOf(m, l.child);
  const verb = l.kind === 'exec' ? 'exec\'d' : l.kind === 'spawn' ? 'spawned' : 'forked';
  return [`${parent ? `Process ${parent.pid}` : `thread ${l.parent}`} ${verb} ${child ? `${child.pid}${child.exe ? ` (${child.exe})` : ''}` : 'a child'}`,
    `at ${formatAt(Math.round(l.t0))}; its first event ${formatAt(Math.round(l.t1))}`, 'Click to go to the child'];
}

/** The details of process p as [key, value] rows for the panel. */
export function procRows(m, p) {
  const parent = p.parent >= 0 ? procOf(m, p.parent) : null;
  return [
    ['Process', `${p.pid}${p.exe ? ` · ${p.exe}` : ''}`],
    ['Command', p.argv.join(' ')],
    ['Parent', parent ? `${parent.pid}${parent.exe ? ` · ${parent.exe}` : ''}` : p.ppid ? `${p.ppid} (not traced)` : ''],
    ['Threads', String(p.nthreads)],
    ['First event', formatAt(p.first)],
    ['Last', formatAt(p.last)],
    ['Ended', endText(p) || (p.exec ? `exec ${p.exec}` : '')],
    ['Trace', p.status === 'running' ? 'still being written' : p.status],
  ];
}

// ---- "data from" and shared-object wake edges (/api/flows) ----
const FLOW_COLOR = { data: '#0f8b8d', wake: '#c2571a' };

/** Fetches the trace's flows once (when the summary says it may have some); then redraw(). */
export async function loadFlows(api, m, redraw) {
  if (!m.summary || !m.summary.flows) return;
  try {
    const d = await api.getJSON('/api/flows', {});
    m.flows = (d.flows || []).map((f) => ({
      kind: f.kind, via: f.via, t0: f.from_ns, t1: f.to_ns, bytes: f.bytes, object: f.object, reason: f.reason,
      fromKey: rowKey({ tid: f.from_tid, instance: f.from_instance }), toKey: rowKey({ tid: f.to_tid, instance: f.to_instance }),
      from: f.from_tid, to: f.to_tid, fromFd: f.from_fd, toFd: f.to_fd,
    }));
    m.flowsTotal = d.total || 0;
    redraw();
  } catch {
    m.flows = [];
  }
}

/** The flows to draw: those crossing the window, while they can be told apart (one per 8 px). */
function flowsShown(m) {
  if (!m.flows || !m.flows.length || !m.rowByKey) return [];
  const vis = m.flows.filter((f) => Math.max(f.t0, f.t1) >= m.v0 && Math.min(f.t0, f.t1) <= m.v1);
  return vis.length <= m.plotW() / 8 ? vis : [];
}

function flowGeom(m, f) {
  const y0 = keyY(m, f.fromKey), y1 = keyY(m, f.toKey);
  if (y0 === null || y1 === null || y0 === y1) return null;
  return { x0: m.xOf(f.t0), y0, x1: m.xOf(f.t1), y1: y1 + (y1 > y0 ? -STATE_H / 2 : STATE_H / 2) };
}

/** Data edges (teal) and shared-object wake-ups (orange), drawn as the wake-up arrows are. */
export function drawFlows(g, m) {
  const shown = flowsShown(m);
  if (!shown.length) return;
  g.save();
  g.beginPath();
  g.rect(LABEL_W, 0, m.width - LABEL_W, m.totalH);
  g.clip();
  for (const f of shown) {
    const a = flowGeom(m, f);
    if (!a) continue;
    const sel = m.selected && m.selected.kind === 'flow' && m.selected.flow === f;
    g.strokeStyle = FLOW_COLOR[f.kind] || '#555';
    g.fillStyle = g.strokeStyle;
    g.lineWidth = sel ? 2.5 : 1.2;
    g.beginPath();
    g.moveTo(a.x0, a.y0);
    g.lineTo(a.x1, a.y1);
    g.stroke();
    const ang = Math.atan2(a.y1 - a.y0, a.x1 - a.x0), hl = 6;
    g.beginPath();
    g.moveTo(a.x1, a.y1);
    g.lineTo(a.x1 - hl * Math.cos(ang - 0.45), a.y1 - hl * Math.sin(ang - 0.45));
    g.lineTo(a.x1 - hl * Math.cos(ang + 0.45), a.y1 - hl * Math.sin(ang + 0.45));
    g.closePath();
    g.fill();
  }
  g.lineWidth = 1;
  g.restore();
}

/** The flow under content point (x, y), or null. */
export function hitFlow(m, x, y) {
  if (x < LABEL_W) return null;
  let best = null, bestD = 4;
  for (const f of flowsShown(m)) {
    const a = flowGeom(m, f);
    if (!a) continue;
    const dx = a.x1 - a.x0, dy = a.y1 - a.y0, len2 = dx * dx + dy * dy;
    const u = len2 ? Math.max(0, Math.min(1, ((x - a.x0) * dx + (y - a.y0) * dy) / len2)) : 0;
    const d = Math.hypot(x - (a.x0 + u * dx), y - (a.y0 + u * dy));
    if (d < bestD) { best = f; bestD = d; }
  }
  return best ? { kind: 'flow', flow: best } : null;
}

/** Tooltip lines of a flow. */
export function flowTip(m, f) {
  if (f.kind === 'data') {
    return [`Data from ${f.from} to ${f.to} (${f.via})`, `${Number(f.bytes).toLocaleString()} byte${f.bytes === 1 ? '' : 's'}: written at ${formatAt(Math.round(f.t0))}, read at ${formatAt(Math.round(f.t1))}`,
      `fd ${f.fromFd} → fd ${f.toFd}, object ${f.object}`];
  }
  return [`Wake-up across processes: ${f.from} woke ${f.to}`, `released at ${formatAt(Math.round(f.t0))}, the wait ended at ${formatAt(Math.round(f.t1))}`, `shared object ${f.object} (${f.via})`];
}
