#!/usr/bin/env python3
"""perf.stitch: perf/corolink-perf on callgraph_target. `record` samples with
--call-graph dwarf (which copies only the sampled stack, so a sample inside
a coroutine stops at its root frame) together with the resume/suspend
probes; `report --folded` must stitch those samples through the resume that
entered the coroutine to main(); the summary must attribute the samples to
the four coroutines; `--coroutine ID` must keep only that coroutine's.
Skips (77) where perf_event_open or uprobes are refused."""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_common import (RESUME_PATH, check_perf_works, record_stitched, run,  # noqa: E402
                         scratch_env)

BODY = ["body", "stage_outer", "stage_inner", "spin"]
MIN_FRACTION = 0.8


def folded_lines(text):
    """(frames root first, count) of each `report --folded` line."""
    for line in text.splitlines():
        stack, n = line.rsplit(" ", 1)
        yield stack.split(";"), int(n)


def no_resume_path(text, label):
    bad = [";".join(f) for f, _ in folded_lines(text)
           if any(x in RESUME_PATH for x in f)]
    for l in bad[:5]:
        print("%s: %s" % (label, l))
    if bad:
        print("FAIL: %s: %d stacks show the library's resume path"
              % (label, len(bad)))
    return not bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", default="perf")
    ap.add_argument("--tool", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    env = scratch_env(a.work)
    check_perf_works(a.perf, a.work, env)
    data = record_stitched(a.perf, a.tool, a.lib, a.target, a.work, env, ["1500"])
    if data is None:
        return 1
    folded = run([sys.executable, a.tool, "--perf", a.perf, "report", "-i",
                  data, "--folded"], env)
    if folded.returncode != 0:
        print(folded.stderr)
        print("FAIL: corolink-perf report --folded")
        return 1
    ok = no_resume_path(folded.stdout, "report --folded")
    inside = stitched = 0
    ids = set()
    for frames, n in folded_lines(folded.stdout):
        if frames[-len(BODY):] != BODY:
            continue  # not a sample in the hot loop
        inside += n
        m = [i for i, f in enumerate(frames)
             if re.match(r'\[coroutine "worker-\d"\]$', f)]
        if m:
            ids.add(frames[m[-1]])
            # ... -> main -> drive -> [corolink_resume] -> [coroutine N] -> body
            before = [f for f in frames[:m[-1]] if f != "corolink_resume"]
            if before[-2:] == ["main", "drive"]:
                stitched += n
    print("samples in the body: %d, stitched to main: %d; coroutines: %s"
          % (inside, stitched, sorted(ids)))
    if inside < 100:
        print("FAIL: too few samples in the body")
        ok = False
    elif stitched < MIN_FRACTION * inside:
        print("FAIL: fewer than %d%% stitched to main" % (100 * MIN_FRACTION))
        ok = False
    if len(ids) != 4:
        print("FAIL: expected samples in 4 coroutines")
        ok = False
    summary = run([sys.executable, a.tool, "--perf", a.perf, "report", "-i",
                   data], env)
    print(summary.stdout)
    rows = re.findall(r'^\s+(\d+)\s+[\d.]+%\s+(\d+)\s+"worker-\d"\s+body$',
                      summary.stdout, re.M)
    if len(rows) != 4:
        print("FAIL: the summary should attribute samples to 4 coroutines")
        ok = False
    elif rows:
        one = rows[0][1]
        only = run([sys.executable, a.tool, "--perf", a.perf, "report", "-i",
                    data, "--coroutine", one], env)
        kept = re.findall(r'^\s+(\d+)\s+[\d.]+%\s+(\d+)\s+"worker-\d"\s+body$',
                          only.stdout, re.M)
        if [k[1] for k in kept] != [one] or kept[0][0] != rows[0][0]:
            print(only.stdout)
            print("FAIL: --coroutine %s kept other samples" % one)
            ok = False
    # Suspend timestamps on: the resume path also reads the clock; still
    # nothing of it in the stacks, and the body's samples still reach main.
    tenv = dict(env, COROLINK_TIMESTAMPS="1")
    os.makedirs(os.path.join(a.work, "timed"), exist_ok=True)
    tdata = record_stitched(a.perf, a.tool, a.lib, a.target,
                            os.path.join(a.work, "timed"), tenv, ["1500"])
    if tdata is None:
        return 1
    tf = run([sys.executable, a.tool, "--perf", a.perf, "report", "-i",
              tdata, "--folded"], env)
    ok = no_resume_path(tf.stdout, "timestamps on") and ok
    tin = tmain = 0
    for frames, n in folded_lines(tf.stdout):
        if frames[-len(BODY):] == BODY:
            tin += n
            tmain += n if "main" in frames else 0
    print("timestamps on: samples in the body %d, reaching main %d"
          % (tin, tmain))
    if tin < 100 or tmain < MIN_FRACTION * tin:
        print("FAIL: timestamps on: too few samples, or not stitched to main")
        ok = False
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
