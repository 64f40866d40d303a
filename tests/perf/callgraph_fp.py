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
from perf_common import check_perf_works, run, scratch_env  # noqa: E402

BODY = ("finish", "spin", "stage_inner", "stage_outer", "body")
TAIL = ["body", "corolink__trampoline", "drive", "main"]
# The root frame's return address is the label corolink__trampoline_ret
# (hidden, inside corolink__trampoline): with the library's .symtab, perf
# names it by either symbol, depending on the build's symbol layout.
ROOT_NAMES = ("corolink__trampoline", "corolink__trampoline_ret")
MIN_FRACTION = 0.8
MIN_SAMPLES = 200


def samples(text):
    """Yields each sample's frames (symbol names, innermost first)."""
    frames, in_sample = [], False
    for line in text.splitlines():
        if not line.strip():
            if in_sample:
                yield frames
            frames, in_sample = [], False
            continue
        if line[0].isspace():  # "   addr sym+off (dso)"
            parts = line.split()
            sym = parts[1] if len(parts) > 2 else "[unknown]"
            frames.append(sym.split("+")[0])
        else:  # the sample's header
            if in_sample:
                yield frames
            frames, in_sample = [], True
    if in_sample:
        yield frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", default="perf")
    ap.add_argument("--target", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", default="1500")
    a = ap.parse_args()
    env = scratch_env(a.work)
    check_perf_works(a.perf, a.work, env)
    data = os.path.join(a.work, "perf.data")
    r = run([a.perf, "record", "-e", "cpu-clock", "-F", "max",
             "--call-graph", "fp", "-o", data, "--", a.target, a.rounds], env)
    print(r.stderr)
    if r.returncode != 0:
        print("FAIL: perf record (or the target) failed")
        return 1
    s = run([a.perf, "script", "-i", data, "-F", "comm,tid,ip,sym,dso"], env)
    if s.returncode != 0:
        print(s.stdout + s.stderr)
        print("FAIL: perf script")
        return 1
    with open(os.path.join(a.work, "script.txt"), "w") as f:
        f.write(s.stdout)
    total = inside = good = 0
    bad_example = None
    for frames in samples(s.stdout):
        total += 1
        frames = ["corolink__trampoline" if f in ROOT_NAMES else f
                  for f in frames]
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
