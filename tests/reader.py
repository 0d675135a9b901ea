#!/usr/bin/env python3
"""A second, minimal reader of .ctrace files, written from docs/FORMAT.md
alone (standard library only). It prints what `ctrace dump --raw` prints,
so that a test can check, event for event, that the document says enough
to read a trace. Even the table of event kinds comes from the document: the
"### NAME (0xNN)" sections and their "Fields:" lines, and the repeated
fields (1.4) from the table of "Repeated fields".

Usage: reader.py FILE [FORMAT.md]
"""
import os
import re
import struct
import sys

MASK64 = (1 << 64) - 1


def kinds_from_doc(path):
    """{code: (name, nfields, has_blob)} from the FORMAT.md sections."""
    text = open(path, encoding="utf-8").read()
    kinds = {}
    for m in re.finditer(r"^### (\w+) \(0x([0-9a-f]{2})\)\n\nFields: `([^`]*)`", text, re.M):
        name, code, fields = m.group(1), int(m.group(2), 16), m.group(3)
        fixed, _, blob = fields.partition("|")
        kinds[code] = (name, len(fixed.split()), "|" in fields)
    return kinds


def repeated_from_doc(path):
    """{kind name: (set of field names, "last" or "stack")} from the
    "Repeated fields" table."""
    text = open(path, encoding="utf-8").read()
    section = text.split("## Repeated fields", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): (set(m.group(2).split()), m.group(3))
            for m in re.finditer(r"^\| (\w+) \| `([^`]*)` \| (last|stack) \|$", section, re.M)}


def field_names(path):
    """{code: [field names]} (without "s:") from the "Fields:" lines."""
    text = open(path, encoding="utf-8").read()
    return {int(m.group(1), 16): [f.split(":")[-1] for f in m.group(2).partition("|")[0].split()]
            for m in re.finditer(r"^### \w+ \(0x([0-9a-f]{2})\)\n\nFields: `([^`]*)`", text, re.M)}


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C: reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ CRC_TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


class Bad(Exception):
    pass


def uvarint(buf, pos, end):
    v = shift = 0
    for i in range(10):
        if pos >= end:
            raise Bad("cut short")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v & MASK64, pos
    raise Bad("varint longer than 10 bytes")


def read(path, doc):
    kinds = kinds_from_doc(doc)
    repeated, names = repeated_from_doc(doc), field_names(doc)
    d = open(path, "rb").read()
    if len(d) < 32 or d[:8] != b"\x7fCTRACE\n":
        raise SystemExit("not a ctrace file")
    major, minor, hsize, flags, pid = struct.unpack_from("<HHIII", d, 8)
    if major != 1 or hsize < (40 if minor >= 1 else 32) or hsize > 4096 or hsize > len(d):
        raise SystemExit("unsupported header")
    tsc = flags & 1
    tick_hz = struct.unpack_from("<Q", d, 32)[0] if minor >= 1 else 0
    out = ["# version 1.%d tsc %d pid %d tick_hz %d" % (minor, tsc, pid, tick_hz)]
    records = []  # (line prefix, fields, blob, tid, ticks), ns filled in at the end
    syncs, first = [], None
    stacks = [[]]  # 1.3: each STACK shares the end of the one before
    off, ended, status = hsize, False, None
    zero_from = len(d)
    while zero_from > off and d[zero_from - 1] == 0:
        zero_from -= 1
    while off < len(d):
        if off >= zero_from and ended:
            break  # zero bytes after END: padding
        if off >= zero_from or len(d) - off < 32:
            status = "cut off at offset %d" % off
            break
        magic, blen, tid, bflags, seq, base = struct.unpack_from("<IIIIQQ", d, off)
        if magic != 0x31425443 or blen > 16 << 20:
            status = "corrupt at offset %d" % off
            break
        if blen > len(d) - off - 32:
            status = "cut off at offset %d" % off
            break
        end = off + 32 + blen
        if minor >= 1:
            t = end - 7
            if blen < 7 or d[t:t + 3] != b"\x80\x00\x04" or \
                    crc32c(d[off:t]) != struct.unpack_from("<I", d, t + 3)[0]:
                status = ("cut off at offset %d" if zero_from < end and len(d) - zero_from >= 8
                          else "corrupt at offset %d") % off
                break
            end = t
        meta = bflags & 1
        batch = ["# batch %d tid %d flags 0x%x seq %d base %d len %d" % (off, tid, bflags, seq, base, blen)]
        pos, ticks = off + 32, base
        rel = [0, 0, 0]  # relative fields (1.3): the batch's last task, object, result
        last = {}  # repeated fields (1.4): each kind's last stored fields in the batch
        by_stack = {}  # and WAIT's and WAKE's values by (kind, stack % 16)
        try:
            while pos < end:
                at = pos
                kind = d[pos]
                pos += 1
                rep, how = set(), None
                if minor >= 4 and not meta and 0x40 <= kind < 0x80:
                    kind &= ~0x40
                    if kind not in kinds or kinds[kind][0] not in repeated:
                        raise Bad("repeat")
                    rep, how = repeated[kinds[kind][0]]
                    if how == "last" and kind not in last:
                        raise Bad("repeat")
                if kind < 0x80 and kind not in kinds:
                    raise Bad("unknown kind")
                delta, pos = uvarint(d, pos, end)
                prev = ticks
                ticks = (ticks + delta) & MASK64
                nf, has_blob = (kinds[kind][1], kinds[kind][2]) if kind in kinds else (0, True)
                fields = []
                for i in range(nf):
                    if names[kind][i] in rep:
                        v = last[kind][i] if how == "last" else None
                    else:
                        v, pos = uvarint(d, pos, end)
                    fields.append(v)
                mode = repeated.get(kinds[kind][0], (None, None))[1] if kind in kinds else None
                if minor >= 4 and not meta and mode == "last":
                    last[kind] = list(fields)
                if how == "stack":
                    stack = fields[names[kind].index("stack")]
                    entry = by_stack.get((kind, stack % 16))
                    if entry is None or entry[names[kind].index("stack")] != stack:
                        raise Bad("repeat")
                    for i in range(nf):
                        if names[kind][i] in rep:
                            fields[i] = entry[i]
                    rel[1] = fields[names[kind].index("object")]
                    if kinds[kind][0] == "WAIT":
                        ticks = (prev + unzigzag(delta) + fields[2]) & MASK64
                elif minor >= 3 and not meta and kind in kinds:
                    relative(kinds[kind][0], fields, tid, rel)
                    span = {"WAIT": 2, "SYSCALL": 4}.get(kinds[kind][0])
                    if span is not None and span < len(fields):
                        ticks = (prev + unzigzag(delta) + fields[span]) & MASK64
                if minor >= 4 and not meta and mode == "stack":
                    by_stack[(kind, fields[names[kind].index("stack")] % 16)] = list(fields)
                blob = None
                if has_blob:
                    n, pos = uvarint(d, pos, end)
                    if n > 1 << 20 or n > end - pos:
                        raise Bad("blob")
                    blob = d[pos:pos + n]
                    pos += n
                if minor >= 3 and meta and kinds.get(kind, ("",))[0] == "STACK":
                    stacks.append(stack_pcs(blob, stacks[-1]))  # checked; printed as stored
                if ended:
                    raise Bad("after END")
                if meta:
                    if 0x10 <= kind < 0x80:
                        raise Bad("event in a metadata batch")
                    if kind == 0x01:
                        syncs.append(fields)
                    if kind == 0x81:
                        ended = True
                elif kind < 0x10 or kind == 0x81:
                    raise Bad("definition outside a metadata batch")
                elif kind < 0x80 and (first is None or ticks < first):
                    first = ticks
                batch.append((at, tid, kind, ticks, fields, blob))
        except Bad:
            status = "corrupt at offset %d" % off
            break
        records.extend(batch)
        off += 32 + blen
    if status is None and minor >= 1 and not ended:
        status = "cut off at offset %d" % off

    to_ns = clock(tsc, tick_hz, syncs, first)
    for r in records:
        if isinstance(r, str):
            out.append(r)
            continue
        at, tid, kind, ticks, fields, blob = r
        line = "%d %d 0x%02x %d %s" % (at, tid, kind, ticks, to_ns(ticks) if tid else "-")
        line += "".join(" %d" % f for f in fields)
        if blob is not None:
            line += " |" + (" " + blob.hex() if blob else "")
        out.append(line)
        if not tid and kinds.get(kind, ("",))[0] in ("SCHED", "SAMPLES", "SCHED_LOST"):
            out.extend(sched_lines(kinds[kind][0], blob, to_ns))
    out.append("# complete" if status is None else "# " + status)
    return out


def unzigzag(u):
    return (u >> 1) ^ -(u & 1)


def stack_pcs(blob, prev):
    """The PCs of a 1.3 STACK blob, innermost first (FORMAT.md, STACK)."""
    shared, pos = uvarint(blob, 0, len(blob))
    if shared > len(prev):
        raise Bad("stack shares more than the previous one has")
    last = prev[len(prev) - shared] if shared else 0
    rest = []
    while pos < len(blob):
        z, pos = uvarint(blob, pos, len(blob))
        last = (last + unzigzag(z)) & MASK64
        rest.append(last)
    pcs = rest[::-1] + prev[len(prev) - shared:]
    if len(pcs) > 128:
        raise Bad("stack deeper than 128")
    return pcs


def relative(name, fields, tid, rel):
    """The stored fields of a 1.3 data batch's event to their values, per
    FORMAT.md "Relative fields"; rel is the batch's [task, object, result]."""
    def task(i):
        if fields[i]:
            rel[0] = (rel[0] + unzigzag(fields[i] - 1)) & MASK64
            fields[i] = rel[0]

    def obj(i):
        rel[1] = (rel[1] + unzigzag(fields[i])) & MASK64
        fields[i] = rel[1]

    if name == "TASK_BEGIN":
        task(0)
        task(1)
    elif name in ("TASK_END", "REGION_BEGIN", "LOG"):
        task(0)
    elif name == "WAIT":
        obj(1)
    elif name == "WAKE":
        fields[0] = (tid + unzigzag(fields[0])) & MASK64
        obj(1)
    elif name == "SYSCALL":
        # the result is signed: kept as its zigzag encoding, as 1.2 stores it
        r = (rel[2] + unzigzag(fields[3])) & MASK64
        rel[2] = r
        signed = r - (1 << 64) if r >> 63 else r
        fields[3] = ((signed << 1) ^ (signed >> 63)) & MASK64


def sched_lines(name, blob, to_ns):
    """The entries of a scheduling record, per FORMAT.md "Scheduling"."""
    out, end, pos = [], len(blob), 0
    try:
        if name == "SCHED_LOST":
            cpu, pos = uvarint(blob, pos, end)
            ticks, pos = uvarint(blob, pos, end)
            lost, pos = uvarint(blob, pos, end)
            if cpu > 0xFFFFFFFF:
                raise Bad("cpu")
            return ["# sched_lost cpu %d ticks %d lost %d" % (cpu, ticks, lost)]
        cpu, pos = uvarint(blob, pos, end)
        prev, pos = uvarint(blob, pos, end)
        ntids, pos = uvarint(blob, pos, end)
        if cpu > 0xFFFFFFFF or ntids > end - pos:
            raise Bad("head")
        tids = []
        for _ in range(ntids):
            t, pos = uvarint(blob, pos, end)
            if t > 0xFFFFFFFF:
                raise Bad("tid")
            tids.append(t)
        while pos < end:
            a, pos = uvarint(blob, pos, end)
            b, pos = uvarint(blob, pos, end)
            c, pos = uvarint(blob, pos, end)
            if name == "SAMPLES":
                if b >= ntids:
                    raise Bad("index")
                prev = (prev + a) & MASK64
                out.append("# sample cpu %d tid %d ticks %d ns %d stack %d"
                           % (cpu, tids[b], prev, to_ns(prev), c))
            else:
                if c >> 3 >= ntids:
                    raise Bad("index")
                start = (prev + a) & MASK64
                prev = (start + b) & MASK64
                out.append("# oncpu cpu %d tid %d ticks %d %d ns %d %d left %d start_unknown %d"
                           % (cpu, tids[c >> 3], start, prev, to_ns(start), to_ns(prev),
                              c & 3, (c >> 2) & 1))
    except Bad:
        out.append("# bad blob")
    return out


def clock(tsc, tick_hz, syncs, first):
    """ticks -> ns since the start, per FORMAT.md "Time"."""
    if not tsc or not syncs:
        origin = syncs[0][1] if syncs else (first if first is not None else 0)
        pts = [(origin, 0)]
        num, den = (10**9, tick_hz) if tsc and tick_hz else (1, 1)
    else:
        m0 = syncs[0][1]
        pts = []
        for t, m, _ in syncs:
            if pts and (t <= pts[-1][0] or m < m0 or m - m0 < pts[-1][1]):
                continue
            pts.append((t, m - m0))
        if len(pts) >= 2:
            num, den = pts[-1][1] - pts[0][1], pts[-1][0] - pts[0][0]
        elif tick_hz:
            num, den = 10**9, tick_hz
        else:
            num, den = 1, 3

    def to_ns(t):
        if len(pts) >= 2 and pts[0][0] <= t < pts[-1][0]:
            lo, hi = 0, len(pts) - 1
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if pts[mid][0] <= t:
                    lo = mid
                else:
                    hi = mid
            (ta, na), (tb, nb) = pts[lo], pts[lo + 1]
            return na + (t - ta) * (nb - na) // (tb - ta)
        ta, na = pts[0] if t < pts[0][0] else pts[-1]
        return na + (t - ta) * num // den

    return to_ns


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    doc = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "docs", "FORMAT.md")
    sys.stdout.write("\n".join(read(sys.argv[1], doc)) + "\n")


if __name__ == "__main__":
    main()
