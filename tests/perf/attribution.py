#!/usr/bin/env python3
"""perf.attribution: corolink-perf charges every sample to the coroutine
whose stack it was taken on.

attr_target runs nested ("outer" resumes "inner"), migrating ("outer" and
"nomad" resumed from the main thread, then from a second thread) and
fast-switching coroutines ("fast-*", about a microsecond per run), and
writes each coroutine's stack range [limit, base). `corolink-perf report
--samples` lists each sample with the coroutine it was charged to; the
test takes each sample's stack pointer from perf script itself (by thread
and time) and checks: a sample charged to coroutine C has its sp in C's
stack, a sample charged to the thread's own stack has it in no coroutine's
stack; the innermost [coroutine] marker of its stitched stack is C's.
It also checks that the run covered the cases: samples in the switch and
the library's traced resume path (corolink__resume_traced, on both sides
of the switch), which must be counted apart and never charged, nested
samples stitched through "outer", "nomad" on both threads. Skips (77)
where perf or uprobes are refused."""
import collections
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_common import RESUME_PATH  # noqa: E402
from perf_tool import parse_args, read_ranges, record, run, sample_rows, tool  # noqa: E402


def main():
    a, env = parse_args(lambda ap: ap.add_argument("--call-graph", default="dwarf,4096"))
    data = os.path.join(a.work, "perf.data")
    ranges_file = os.path.join(a.work, "ranges.txt")
    record(a, env, data, a.call_graph, [ranges_file, "mix", "3000"])
    ranges = read_ranges(ranges_file)
    r = tool(a, env, "report", "-i", data, "--samples")
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        print("FAIL: corolink-perf report --samples")
        return 1
    rows = sample_rows(r.stdout)
    # The stack pointers as perf script gives them, by (tid, time).
    s = run([a.perf, "script", "--ns", "-i", data, "-F", "tid,time,event,uregs"],
            env)
    sps = {}
    for m in re.finditer(r"^\s*(\d+)\s+(\d+\.\d+):\s+cpu-clock\S*:.*?\bSP:(0x[0-9a-f]+)",
                         s.stdout, re.M | re.S):
        sps[(int(m.group(1)), m.group(2))] = int(m.group(3), 16)

    def owner(sp):
        for i, (name, lo, hi, n) in ranges.items():
            if lo <= sp < hi:
                return i
        return 0

    bad = []
    checked = traced = nested = 0
    nomad_tids = set()
    kinds = collections.Counter()
    for t, tid, sp, co, stack in rows:
        kinds[co if co in ("probe", "switch", "-") else "coroutine"] += 1
        if co == "switch":
            traced += 1  # in the switch or the library's resume path
        if co in ("probe", "switch"):
            continue
        real = sps.get((tid, t))
        if real is None:
            bad.append("%s %d: no sp in perf script" % (t, tid))
            continue
        if sp != real:
            bad.append("%s %d: sp 0x%x, perf script says 0x%x" % (t, tid, sp, real))
        want = owner(real)
        got = 0 if co == "-" else int(co)
        checked += 1
        if got != want:
            bad.append("%s tid %d sp 0x%x is on the stack of %s, charged to %s: %s"
                       % (t, tid, real, ranges[want][0] if want else "the thread",
                          ranges[got][0] if got in ranges else co,
                          " -> ".join(stack)))
            continue
        markers = [f for f in stack if f.startswith("[coroutine")]
        if got and (not markers or markers[-1] != '[coroutine "%s"]' % ranges[got][0]):
            bad.append("%s: innermost marker %s, expected %s"
                       % (t, markers[-1:] or None, ranges[got][0]))
        if any(f in RESUME_PATH for f in stack):
            bad.append("%s: the library's resume path in a charged sample: %s"
                       % (t, " -> ".join(stack)))
        if got == 2 and '[coroutine "outer"]' in stack:
            nested += 1
        if got == 3:
            nomad_tids.add(tid)
    print("samples: %s; checked %d, in the switch or resume path %d, nested "
          "%d, nomad on %d threads" % (dict(kinds), checked, traced, nested,
                                       len(nomad_tids)))
    for b in bad[:20]:
        print("  " + b)
    ok = not bad
    if checked < 50:
        print("FAIL: too few samples to check")
        ok = False
    if traced == 0:
        print("FAIL: no sample in the switch or the library's resume path: "
              "the case the attribution must keep apart was not exercised")
        ok = False
    if nested == 0:
        print("FAIL: no sample of \"inner\" stitched through \"outer\"")
        ok = False
    if len(nomad_tids) != 2:
        print("FAIL: \"nomad\" should have samples on two threads")
        ok = False
    if bad:
        print("FAIL: %d samples charged to the wrong stack" % len(bad))
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
