#!/usr/bin/env python3
"""Instructions per iteration of every corolink_bench row, counted by
valgrind's callgrind: deterministic for a given binary, whatever the
machine is doing (issue 13).

  count_instructions.py --bench build/bench/corolink_bench
                        [--valgrind valgrind] [--limits bench/instruction_limits.txt]
                        [--filter REGEX]

Each row runs twice under callgrind, alone (--benchmark_filter), with a
fixed number of iterations (corolink_bench --clbench_iterations=N): N1 and
N2. The difference of the two runs' instruction totals divided by N2 - N1
is what one iteration executes, both sides of every switch included, with
the program's start, the benchmark's set-up and its warm-up cancelled out.
COROLINK_TOOLS=0 keeps the library's valgrind hooks off, so that the
counted path is the one a program runs outside valgrind.

--limits FILE: each line `ROW CEILING TARGET` (ROW a benchmark name, or
`ratio:A:B` for the count of row A over the count of row B). The run fails (exit
1) if a count is above its ceiling; the target is reported as met or not.
The counts depend on the compiler and flags: the file holds those of the
default build (gcc 12, -O2, the CI machine's Debian).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

N1, N2 = 2000, 52000


def rows(bench, pattern):
    out = subprocess.run([bench, "--clbench_iterations=1", "--benchmark_list_tests=true"],
                         check=True, capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines():
        name = line.split("/iterations:")[0].strip()
        if name and name not in names and (not pattern or re.search(pattern, name)):
            names.append(name)
    return names


def total(valgrind, bench, row, n, tmp):
    env = dict(os.environ, COROLINK_TOOLS="0")
    out_file = os.path.join(tmp, "callgrind.out")
    p = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=" + out_file,
                        bench, "--clbench_iterations=%d" % n,
                        "--benchmark_filter=^%s/" % re.escape(row)],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit("count_instructions: %s failed under callgrind (exit %d):\n%s"
                 % (row, p.returncode, p.stderr[-2000:]))
    if ("%s/iterations:%d" % (row, n)) not in p.stdout:
        sys.exit("count_instructions: %s did not run:\n%s" % (row, p.stdout[-2000:]))
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        sys.exit("count_instructions: no callgrind total for %s:\n%s" % (row, p.stderr[-2000:]))
    return int(m.group(1))


def read_limits(path):
    limits = []
    with open(path) as f:
        for k, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3:
                sys.exit("count_instructions: %s:%d: want ROW CEILING TARGET" % (path, k))
            limits.append((parts[0], float(parts[1]), float(parts[2])))
    return limits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--valgrind", default="valgrind")
    ap.add_argument("--limits")
    ap.add_argument("--filter")
    a = ap.parse_args()

    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows(a.bench, a.filter):
            c1 = total(a.valgrind, a.bench, row, N1, tmp)
            c2 = total(a.valgrind, a.bench, row, N2, tmp)
            counts[row] = (c2 - c1) / (N2 - N1)
            print("%-40s %8.1f instructions per iteration" % (row, counts[row]), flush=True)

    if not a.limits:
        return 0
    failed = False
    print("\n%-52s %8s %8s %8s" % ("limit", "count", "ceiling", "target"))
    for name, ceiling, target in read_limits(a.limits):
        if name.startswith("ratio:"):
            num, den = _ratio_names(name)
            if num not in counts or den not in counts:
                print("%-52s not counted in this run" % name)
                continue
            value = counts[num] / counts[den]
        elif name in counts:
            value = counts[name]
        else:
            print("%-52s not counted in this run" % name)
            continue
        over = value > ceiling
        failed |= over
        print("%-52s %8.2f %8.2f %8.2f  %s%s" % (
            name, value, ceiling, target, "target MET" if value <= target else "target not met",
            "  ABOVE THE CEILING" if over else ""))
    if failed:
        print("count_instructions: a count is above its ceiling (%s)" % a.limits)
        return 1
    return 0


def _ratio_names(name):
    """ratio:A:B -> (A, B); row names hold slashes, so the two are split at
    the colon."""
    body = name[len("ratio:"):]
    if ":" not in body:
        sys.exit("count_instructions: %s: want ratio:ROW_A:ROW_B" % name)
    num, den = body.split(":", 1)
    return num, den


if __name__ == "__main__":
    sys.exit(main())
