#!/usr/bin/env python3
"""perf.stack_copy: a 4 KiB dwarf stack copy of a sample deep in a
coroutine (attr_target deep: about 24 KiB of frames) ends before the
coroutine's root; `corolink-perf report` must warn and name a copy size
that would have been enough. Recording again with that size, the warning
must be gone and the samples in the deep frames must reach the root (be
stitched through `main`). Skips (77) where perf or uprobes are refused."""
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_tool import parse_args, record, tool  # noqa: E402


def report(a, env, data):
    r = tool(a, env, "report", "-i", data, "--folded")
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        print("FAIL: corolink-perf report")
        sys.exit(1)
    print(r.stderr)
    return r


def main():
    a, env = parse_args()
    ranges = os.path.join(a.work, "ranges.txt")
    small = os.path.join(a.work, "small.data")
    record(a, env, small, "dwarf,4096", [ranges, "deep", "300"])
    r = report(a, env, small)
    m = re.search(r"warning: (\d+) of the \d+ samples taken on coroutine "
                  r"stacks stop short .* the 4096-byte stack copy ended first"
                  r".*--call-graph dwarf,(\d+)` would have been enough "
                  r"\(the deepest needed (\d+) bytes\)", r.stderr, re.S)
    if not m:
        print("FAIL: no warning naming the stack copy size")
        return 1
    size, need = int(m.group(2)), int(m.group(3))
    if not (need <= size <= 65528 and size > 4096):
        print("FAIL: suggested size %d for %d bytes" % (size, need))
        return 1
    big = os.path.join(a.work, "big.data")
    record(a, env, big, "dwarf,%d" % size, [ranges, "deep", "300"])
    r = report(a, env, big)
    ok = True
    if "stop short" in r.stderr:
        print("FAIL: still warned with the suggested size")
        ok = False
    deep = reached = 0
    for line in r.stdout.splitlines():
        stack, n = line.rsplit(" ", 1)
        frames = stack.split(";")
        if frames.count("dive") < 50:
            continue
        deep += int(n)
        if "main" in frames and '[coroutine "deep"]' in frames:
            reached += int(n)
    print("samples deep in dive(): %d, stitched through main: %d"
          % (deep, reached))
    if deep < 20 or reached < 0.9 * deep:
        print("FAIL: with %d bytes the deep samples should reach the root"
              % size)
        ok = False
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
