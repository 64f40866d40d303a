#!/usr/bin/env python3
"""perf.callgraph_fp: `perf record -e cpu-clock --call-graph fp` of
callgraph_target.c, whose hot loop runs inside coroutines (body ->
stage_outer -> stage_inner -> spin -> finish), resumed by drive(), called
by main(). Of the samples taken inside the body, most must have call chains
that go on body -> corolink__trampoline -> drive -> main: the frame-pointer
walk crosses from the coroutine stack into the resumer's through the root
frame's frame record (co->link_fp, co->link_ra). (perf may name the root
frame corolink__trampoline_ret, a label inside the trampoline.) Skips (77) where
perf_event_open is refused.
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_common import check_perf_works, record_fp, samples, scratch_env  # noqa: E402

BODY = ("finish", "spin", "stage_inner", "stage_outer", "body")
TAIL = ["body", "corolink__trampoline", "drive", "main"]
MIN_FRACTION = 0.8
MIN_SAMPLES = 200


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", default="perf")
    ap.add_argument("--target", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", default="1500")
    a = ap.parse_args()
    env = scratch_env(a.work)
    check_perf_works(a.perf, a.work, env)
    script = record_fp(a.perf, a.work, env, [a.target, a.rounds])
    if script is None:
        return 1
    total = inside = good = 0
    bad_example = None
    for frames in samples(script):
        total += 1
        if not frames or frames[0] not in BODY:
            continue
        inside += 1
        if "body" in frames:
            i = frames.index("body")
            if frames[i:i + len(TAIL)] == TAIL and all(
                    f in BODY for f in frames[:i]):
                good += 1
                continue
        if bad_example is None:
            bad_example = frames
    print(f"{total} samples, {inside} inside the body, {good} of them with "
          f"the chain ... -> {' -> '.join(TAIL)}")
    if bad_example:
        print("a sample without it: " + " <- ".join(bad_example))
    if inside < MIN_SAMPLES:
        print(f"FAIL: fewer than {MIN_SAMPLES} samples inside the body")
        return 1
    if good < MIN_FRACTION * inside:
        print(f"FAIL: fewer than {MIN_FRACTION:.0%} of them walk into main")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
