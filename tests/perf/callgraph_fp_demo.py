#!/usr/bin/env python3
"""perf.callgraph_fp_demo: the frame-pointer recipe of README.md
("Profiling with perf") on the demo as users run it: `perf record -e
cpu-clock -F max --call-graph fp -- build/examples/demo 300` (the pipeline
300 times; coroutine "counter" checksums every word in checksum()). At
least 90% of the samples taken in the coroutines' code (checksum, counter,
longest, words, track) must have a call chain that goes through the root
frame, corolink__trampoline, and on to main. This holds because the
examples are built with frame pointers (examples/CMakeLists.txt); built
without them, the demo's chains stop in the coroutine (3 of 16,053 samples
in checksum reached main when this test was written). Skips (77) where
perf_event_open is refused.
"""
import argparse
import collections
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_common import check_perf_works, record_fp, samples, scratch_env  # noqa: E402

# The functions that run on the demo's coroutine stacks.
BODY = ("checksum", "counter", "longest", "words", "track")
MIN_FRACTION = 0.9
MIN_SAMPLES = 200


def reaches_main(frames):
    """The frames innermost first: coroutine code, the root frame, then
    main somewhere below it (repeat() may be inlined into main)."""
    if "corolink__trampoline" not in frames:
        return False
    i = frames.index("corolink__trampoline")
    return "main" in frames[i + 1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", default="perf")
    ap.add_argument("--demo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--pipelines", default="300")
    a = ap.parse_args()
    env = scratch_env(a.work)
    check_perf_works(a.perf, a.work, env)
    script = record_fp(a.perf, a.work, env, [a.demo, a.pipelines])
    if script is None:
        return 1
    total = 0
    inside = collections.Counter()  # innermost function -> samples
    good = collections.Counter()
    good_example = bad_example = None
    for frames in samples(script):
        total += 1
        if not frames or frames[0] not in BODY:
            continue
        inside[frames[0]] += 1
        if reaches_main(frames):
            good[frames[0]] += 1
            good_example = good_example or frames
        else:
            bad_example = bad_example or frames
    n_inside, n_good = sum(inside.values()), sum(good.values())
    print(f"{total} samples, {n_inside} in the coroutines' code, {n_good} "
          f"of them reach main through corolink__trampoline")
    for fn, n in inside.most_common():
        print(f"  {fn}: {good[fn]} of {n}")
    if good_example:
        print("a sample that does: " + " <- ".join(good_example))
    if bad_example:
        print("a sample that does not: " + " <- ".join(bad_example))
    if n_inside < MIN_SAMPLES:
        print(f"FAIL: fewer than {MIN_SAMPLES} samples in the coroutines")
        return 1
    if n_good < MIN_FRACTION * n_inside:
        print(f"FAIL: fewer than {MIN_FRACTION:.0%} of them reach main "
              f"(is the demo built with -fno-omit-frame-pointer?)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
