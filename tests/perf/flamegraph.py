#!/usr/bin/env python3
"""perf.flamegraph: corolink-perf report --svg.

First, without perf: its renderer (flame_svg) on crafted stacks (names
with <>&"', control characters, a lone surrogate, [coroutine ...]
boundaries, a 3,000-frame stack, 5,000 one-sample stacks that are too
narrow to draw) must give valid, self-contained XML whose frames add up,
the same bytes for the same stacks in any order. Then a recording of
callgraph_target, as perf.stitch makes it: the SVG's root must hold every
sample `report --folded` prints and its frames exactly those stacks (as
far as frames are wide enough to draw). Skips (77) where perf.stitch does:
perf_event_open or uprobes refused, or sdt_corolink:* events exist."""
import argparse
import importlib.machinery
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ next to the sources
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from perf_common import check_perf_works, record_stitched, run, scratch_env  # noqa: E402
import flamegraph_check as fc  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def graph(path, label):
    g = fc.Graph(path)
    for p in g.problems[:20]:
        check(False, "%s: %s" % (label, p))
    return g


def crafted(tool, work):
    cp = importlib.machinery.SourceFileLoader("corolink_perf", tool).load_module()
    odd = ['std::vector<int>::push_back', 'a&b "quoted" \'single\'', 'ctl\x01\x1f\x7f',
           'lone\udcff', 'caf\u00e9', ']]>', '']
    stacks = {}
    for i, name in enumerate(odd):
        stacks[("_start", "main", "corolink_resume", '[coroutine "<odd & \\"name\\">"]', "body", name)] = 10 + i
    stacks[("_start", "main", "[coroutine 17]", "body", "spin")] = 50
    deep = tuple(["_start", "main", '[coroutine "deep"]'] + ["recurse"] * 3000)
    stacks[deep] = 20000  # makes a 1-sample frame narrower than 0.1 px
    for i in range(5000):
        stacks[("_start", "main", "tiny_%04d" % i)] = 1
    total = sum(stacks.values())
    path = os.path.join(work, "crafted.svg")
    svg = cp.flame_svg(stacks, 'title <&"> \x00', "sub")
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg)
    g = graph(path, "crafted")
    if g.problems:
        return
    check(g.total == total, "crafted: root %d, want %d" % (g.total, total))
    clean = {tuple(cp.flame_clean(f) for f in s): n for s, n in stacks.items()}
    check(g.stacks() == fc.expected_stacks(clean), "crafted: the stacks differ from the input")
    check(max(len(f.path()) for f in g.frames) == len(deep), "crafted: the deep stack is cut")
    check(not any(f.name.startswith("tiny_") for f in g.frames), "crafted: too narrow frames drawn")
    names = {f.name for f in g.frames}
    check({"std::vector<int>::push_back", 'a&b "quoted" \'single\'', "ctl???", "lone?", "caf\u00e9"} <= names,
          "crafted: names %s" % sorted(n for n in names if not n.startswith("recurse"))[:20])
    odd_hue = {fc.hue(f.fill) for f in g.frames if f.coroutine == 'coroutine "<odd & \\"name\\">"'}
    check(len(odd_hue) == 1, "crafted: one coroutine, hues %s" % odd_hue)
    bounds = [f for f in g.frames if f.boundary]
    check(sorted(f.name for f in bounds) == ['[coroutine "<odd & \\"name\\">"]', '[coroutine "deep"]',
                                            "[coroutine 17]"], "crafted: boundaries %s" % bounds)
    check(all(f.coroutine is None for f in g.frames if f.name in ("_start", "main")),
          "crafted: thread frames given a coroutine")
    shuffled = list(stacks.items())
    random.Random(7).shuffle(shuffled)
    check(cp.flame_svg(dict(shuffled), 'title <&"> \x00', "sub") == svg, "crafted: depends on the input's order")
    empty = os.path.join(work, "empty.svg")
    with open(empty, "w") as f:
        f.write(cp.flame_svg({}, "nothing", ""))
    e = graph(empty, "no samples")
    check(not e.problems and e.total == 0 and len(e.frames) == 1, "no samples: %d frames" % len(e.frames))


def recorded(a, env):
    data = record_stitched(a.perf, a.tool, a.lib, a.target, a.work, env, ["1500"])
    if data is None:
        check(False, "corolink-perf record")
        return
    report = [sys.executable, a.tool, "--perf", a.perf, "report", "-i", data]
    folded = run(report + ["--folded"], env)
    check(folded.returncode == 0, "report --folded: %s" % folded.stderr)
    want = fc.folded(folded.stdout)
    svg = os.path.join(a.work, "cpu.svg")
    both = run(report + ["--svg", svg, "--folded"], env)
    check(both.returncode == 0 and both.stdout == folded.stdout, "report --svg --folded: not the same folded lines")
    g = graph(svg, "report --svg")
    if g.problems:
        return
    print("samples: %d folded, %d in the SVG's root; %d frames drawn"
          % (sum(want.values()), g.total, len(g.frames)))
    check(sum(want.values()) > 100, "too few samples")
    check(g.total == sum(want.values()), "the root holds %d samples, --folded %d" % (g.total, sum(want.values())))
    check(g.stacks() == fc.expected_stacks(want), "the SVG's stacks are not --folded's")
    workers = {fc.hue(f.fill) for f in g.frames if f.coroutine == 'coroutine "worker-0"'}
    check(len(workers) == 1, "worker-0's frames in hues %s" % workers)
    first = open(svg, "rb").read()
    alone = run(report + ["--svg", svg], env)
    check(alone.returncode == 0 and alone.stdout == "", "report --svg: stdout %r" % alone.stdout[:200])
    check(open(svg, "rb").read() == first, "report --svg: not the same bytes twice")
    out = run(report + ["--svg", "-"], env)
    check(out.stdout.encode() == first, "report --svg -: not the file's bytes")
    for args, code, says in ((["--svg", os.path.join(a.work, "no", "x.svg")], 1, "No such file"),
                             (["--svg", a.work], 1, "is a directory"),
                             (["--svg", "-", "--folded"], 2, "cannot share stdout")):
        r = run(report + args, env)
        check(r.returncode == code and says in r.stderr and len(r.stderr.strip().splitlines()) == 1,
              "report %s: rc %s, %r" % (args, r.returncode, r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", default="perf")
    ap.add_argument("--tool", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    env = scratch_env(a.work)
    crafted(a.tool, a.work)
    if FAILS:  # before any skip: the renderer's own faults always count
        print("%d failure(s)" % len(FAILS))
        return 1
    check_perf_works(a.perf, a.work, env)
    recorded(a, env)
    print("%d failure(s)" % len(FAILS) if FAILS else "OK")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
