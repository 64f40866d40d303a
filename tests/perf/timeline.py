#!/usr/bin/env python3
"""perf.timeline: `corolink-perf timeline` on a recording of attr_target
mix (7 coroutines, each resumed ROUNDS + 1 times; "inner" always from
"outer"; "outer" and "nomad" on two threads). Checks: the JSON parses;
on every thread the coroutine slices ("X") never overlap except by proper
nesting; every run ends in a suspend or return (none "lost" or left open);
"inner" slices lie inside "outer" slices; per coroutine, the slices number
the resume events perf script shows and the resumes the program counted,
and there is one create and one destroy instant each. Skips (77) where
perf or uprobes are refused."""
import collections
import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_tool import parse_args, read_ranges, record, run, tool  # noqa: E402

ROUNDS = 400


def ns(us):
    return round(us * 1000)


def main():
    a, env = parse_args()
    data = os.path.join(a.work, "perf.data")
    ranges_file = os.path.join(a.work, "ranges.txt")
    record(a, env, data, "fp", [ranges_file, "mix", str(ROUNDS)])
    ranges = read_ranges(ranges_file)
    out = os.path.join(a.work, "timeline.json")
    r = tool(a, env, "timeline", "-i", data, "-o", out)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        print("FAIL: corolink-perf timeline")
        return 1
    try:
        with open(out) as f:
            doc = json.load(f)
    except ValueError as e:
        print("FAIL: the timeline is not JSON: %s" % e)
        return 1
    evs = doc["traceEvents"]
    ok = True
    # resumes per coroutine as perf script shows them
    s = run([a.perf, "script", "-i", data, "-F", "event,trace"], env)
    probe_resumes = collections.Counter(
        int(m.group(1)) for m in
        re.finditer(r"sdt_corolink:resume:.*arg2=(\d+)", s.stdout))
    slices = collections.defaultdict(list)  # (pid, tid) -> [(start, end, id)]
    per_co = collections.Counter()
    ends = collections.Counter()
    instants = collections.Counter()
    tids_of = collections.defaultdict(set)
    for e in evs:
        if e.get("ph") == "X":
            i = e["args"]["id"]
            slices[(e["pid"], e["tid"])].append(
                (ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]), i))
            per_co[i] += 1
            ends[e["args"]["end"]] += 1
            tids_of[i].add(e["tid"])
            if e["name"] != "%s (%d)" % (ranges[i][0], i):
                print("FAIL: slice named %r for %d" % (e["name"], i))
                ok = False
        elif e.get("ph") == "i":
            instants[(e["cat"], e["args"]["id"])] += 1
    print("slices per coroutine %s; ends %s; threads %d"
          % (dict(per_co), dict(ends), len(slices)))
    for i, (name, lo, hi, n) in sorted(ranges.items()):
        if not (per_co[i] == probe_resumes[i] == n):
            print("FAIL: %s (%d): %d slices, %d resume events, %d resumes"
                  % (name, i, per_co[i], probe_resumes[i], n))
            ok = False
        if instants[("create", i)] != 1 or instants[("destroy", i)] != 1:
            print("FAIL: %s: %d create and %d destroy instants"
                  % (name, instants[("create", i)], instants[("destroy", i)]))
            ok = False
    if set(ends) - {"suspend", "return"}:
        print("FAIL: runs that did not end in a suspend or return: %s"
              % dict(ends))
        ok = False
    if ends["return"] != len(ranges):
        print("FAIL: %d runs ended in a return, expected %d"
              % (ends["return"], len(ranges)))
        ok = False
    for name in ("outer", "nomad"):
        i = [k for k, v in ranges.items() if v[0] == name][0]
        if len(tids_of[i]) != 2:
            print("FAIL: %s should run on two threads" % name)
            ok = False
    inner = [k for k, v in ranges.items() if v[0] == "inner"][0]
    outer = [k for k, v in ranges.items() if v[0] == "outer"][0]
    for key, sl in slices.items():
        sl.sort(key=lambda x: (x[0], -x[1]))
        open_ = []
        for start, end, i in sl:
            while open_ and open_[-1][1] <= start:
                open_.pop()
            if open_ and end > open_[-1][1]:
                print("FAIL: thread %s: slice of %d [%d, %d) overlaps %d "
                      "[%d, %d) without nesting" % (key, i, start, end,
                                                    open_[-1][2], *open_[-1][:2]))
                ok = False
                break
            if i == inner and not (open_ and open_[-1][2] == outer):
                print("FAIL: a slice of inner not inside one of outer")
                ok = False
                break
            open_.append((start, end, i))
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
