"""Shared by the tests of perf/corolink-perf (perf.attribution,
perf.stack_copy, perf.timeline, perf.buildid): runs the tool's record on
attr_target in a scratch perf environment, skipping (77) where perf or
uprobes are refused."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from perf_common import REFUSED, check_perf_works, run, scratch_env, skip  # noqa: E402,F401


def setup(a):
    env = scratch_env(a.work)
    check_perf_works(a.perf, a.work, env)
    r = run([a.perf, "probe", "-l", "sdt_corolink:*"], env)
    if "sdt_corolink:" in r.stdout:
        skip("sdt_corolink:* probe events exist already (someone else's)")
    return env


def tool(a, env, *args):
    return run([sys.executable, a.tool, "--perf", a.perf] + list(args), env)


def record(a, env, data, call_graph, target_args, lib=None, extra_env=None,
           may_skip=True):
    """corolink-perf record; skips where refused (unless may_skip is
    False: an earlier record worked), exits 1 if it fails."""
    e = dict(env)
    if extra_env:
        e.update(extra_env)
    r = tool(a, e, "record", "-o", data, "-F", "4000", "--call-graph",
             call_graph, "--lib", os.path.realpath(lib or a.lib), "--",
             a.target, *target_args)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        if may_skip and (any(s in r.stderr for s in REFUSED) or
                         "uprobes" in r.stderr):
            skip("perf or uprobes refused here")
        print("FAIL: corolink-perf record")
        sys.exit(1)
    return r


def read_ranges(path):
    """{id: (name, lo, hi, resumes)} as attr_target wrote them."""
    out = {}
    with open(path) as f:
        for line in f:
            i, name, lo, hi, n = line.split()
            out[int(i)] = (name, int(lo, 16), int(hi, 16), int(n))
    return out


def sample_rows(text):
    """corolink-perf report --samples: [(time, tid, sp, coroutine, stack)]."""
    rows = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        t, tid, sp, co, stack = line.split("\t")
        rows.append((t, int(tid), None if sp == "-" else int(sp, 16), co,
                     stack.split(";") if stack else []))
    return rows


def parse_args(extra=None):
    """The tests' common options (and setup(): a scratch perf env)."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", default="perf")
    ap.add_argument("--tool", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--work", required=True)
    if extra:
        extra(ap)
    a = ap.parse_args()
    return a, setup(a)
