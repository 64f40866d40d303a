#!/usr/bin/env python3
"""perf.sdt_record(_noinline): the corolink USDT probes as perf sees them.

In a scratch HOME and build-id cache: `perf buildid-cache --add` the
library, `perf probe -x LIB -a 'sdt_corolink:*'`, `perf record -e
'sdt_corolink:*'` the target (probe_target.c), which prints the events the
probes must report; `perf script` must show exactly those, in order, with
the same arguments. The probes are deleted afterwards. Skips (77) where
perf_event_open or uprobes are refused.
"""
import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_common import REFUSED, check_perf_works, run, scratch_env, skip  # noqa: E402

EVENT = re.compile(r"\bsdt_corolink:(\w+):\s*\([0-9a-f]+\)(.*)$")
ARG = re.compile(r"\barg\d+=(-?\w+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", default="perf")
    ap.add_argument("--lib", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    env = scratch_env(a.work)
    check_perf_works(a.perf, a.work, env)
    lib = os.path.realpath(a.lib)

    r = run([a.perf, "probe", "-l", "sdt_corolink:*"], env)
    if "sdt_corolink:" in r.stdout:
        skip("sdt_corolink:* probe events exist already (someone else's): "
             "not touching them\n" + r.stdout)

    r = run([a.perf, "buildid-cache", "--add", lib], env)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        print("FAIL: perf buildid-cache --add")
        return 1
    r = run([a.perf, "probe", "-x", lib, "-a", "sdt_corolink:*"], env)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        text = r.stdout + r.stderr
        if any(s in text for s in REFUSED) or "uprobe" in text.lower():
            skip("uprobes are refused here (perf probe failed)")
        print("FAIL: perf probe")
        return 1
    try:
        data = os.path.join(a.work, "perf.data")
        r = run([a.perf, "record", "-e", "sdt_corolink:*", "-o", data, "--",
                 a.target], env)
        print(r.stderr)
        if r.returncode != 0:
            print(r.stdout)
            print("FAIL: perf record (or the target) failed")
            return 1
        expected = []
        for line in r.stdout.splitlines():
            f = line.split()
            expected.append((f[0], [int(x, 0) for x in f[1:]]))
        s = run([a.perf, "script", "-i", data], env)
        if s.returncode != 0:
            print(s.stdout + s.stderr)
            print("FAIL: perf script")
            return 1
        got = []
        for line in s.stdout.splitlines():
            m = EVENT.search(line)
            if m:
                got.append((m.group(1),
                            [int(x, 0) for x in ARG.findall(m.group(2))]))
        with open(os.path.join(a.work, "script.txt"), "w") as f:
            f.write(s.stdout)
    finally:
        d = run([a.perf, "probe", "-d", "sdt_corolink:*"], env)
        print(d.stdout + d.stderr)

    ok = got == expected
    width = max(len(str(e)) for e in expected + [("", [])])
    print(f"{'expected':<{width}}  got")
    for i in range(max(len(expected), len(got))):
        e = expected[i] if i < len(expected) else ""
        g = got[i] if i < len(got) else ""
        mark = "" if e == g else "   <-- differs"
        print(f"{str(e):<{width}}  {g}{mark}")
    if not expected:
        print("FAIL: the target printed no events")
        ok = False
    print("OK" if ok else "FAIL: perf recorded other events than expected")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
