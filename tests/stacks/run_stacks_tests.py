#!/usr/bin/env python3
"""Tests of corolink-stacks (perf/corolink-stacks.c) against stacks_target.c.

Subcommands (one ctest each): live, core, stripped, errors, fuzz, sampling.
The target prints "ready PID" once its coroutines are parked (see the table
at the top of stacks_target.c) and then blocks; we run the tool on its pid
and on a core written by gcore, then kill it."""
import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time

ARGS = None
FAILURES = []

NAMES = {"sock-reader", "timer", "worker-0", "worker-1", "worker-2", "fresh", "done",
         "main-runner", "t2-parked", "t2-outer", "t2-inner"}
SUSPENDED = {  # innermost first, ending at the entry function
    "sock-reader": ["wait_on_socket", "handle_conn", "reader_body"],
    "timer": ["wait_on_timer", "timer_body"],
    "worker-0": ["idle_loop", "worker_body"],
    "worker-1": ["idle_loop", "worker_body"],
    "worker-2": ["idle_loop", "worker_body"],
    "t2-parked": ["park_leaf", "park_deep", "park_deep", "park_deep", "t2_parked_body"],
}
FOLDED = {
    "suspended;worker_body;idle_loop 3",
    "suspended;reader_body;handle_conn;wait_on_socket 1",
    "suspended;timer_body;wait_on_timer 1",
    "suspended;t2_parked_body;park_deep;park_deep;park_deep;park_leaf 1",
    "created 1",
    "finished 1",
}


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)


def run_tool(args, timeout=30, env=None):
    """Runs the tool; returns (rc, stdout, stderr). A signal or a hang fails."""
    cmd = [ARGS.tool] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        check(False, "tool hung: %s" % " ".join(cmd))
        return None, "", ""
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode >= 0, "tool killed by signal %d: %s" % (-p.returncode, " ".join(cmd)))
    return p.returncode, out, err


class Target:
    def __init__(self, program, args=(), env=None):
        self.p = subprocess.Popen([program] + [str(a) for a in args], stdout=subprocess.PIPE,
                                  env=env)
        line = b""
        deadline = time.time() + 60
        while not line.endswith(b"\n"):
            r, _, _ = select.select([self.p.stdout], [], [], max(0.0, deadline - time.time()))
            if not r:
                self.kill()
                raise SystemExit("the target did not get ready")
            ch = os.read(self.p.stdout.fileno(), 1)
            if not ch:
                raise SystemExit("the target exited before getting ready")
            line += ch
        m = re.match(rb"ready (\d+)", line)
        assert m, line
        self.pid = int(m.group(1))
        # "ready" is printed just before the pause(): wait until every
        # thread is in it (syscall 34), or the stacks differ (fflush)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                tasks = os.listdir("/proc/%d/task" % self.pid)
                calls = [open("/proc/%d/task/%s/syscall" % (self.pid, t)).read().split()[0]
                         for t in tasks]
            except (OSError, IndexError):
                calls = []
            if len(calls) == 2 and all(c == "34" for c in calls):
                break
            time.sleep(0.01)

    def kill(self):
        self.p.kill()
        self.p.wait()


def gcore(pid, prefix):
    subprocess.run([ARGS.gcore, "-o", prefix, str(pid)], capture_output=True, timeout=60)
    path = "%s.%d" % (prefix, pid)
    assert os.path.exists(path), "gcore wrote no core"
    return path


def check_all(src, pid, label, lines=True):
    """src: ["PID"] or ["--core", core, "--exe", exe]."""
    # --json
    rc, out, err = run_tool(["--json"] + src)
    check(rc == 0, "%s --json: rc %s (%s)" % (label, rc, err.strip()))
    try:
        data = json.loads(out)
    except ValueError as e:
        check(False, "%s --json does not parse: %s" % (label, e))
        return None
    by = {}
    for o in data:
        for k in ("id", "name", "state", "thread", "create_site", "suspended_ns", "frames"):
            check(k in o, "%s --json: field %s missing" % (label, k))
        for f in o.get("frames", []):
            for k in ("pc", "function", "file", "line"):
                check(k in f, "%s --json: frame field %s missing" % (label, k))
        by[o["name"]] = o
    check(set(by) == NAMES, "%s: coroutines %s" % (label, sorted(by)))
    if set(by) != NAMES:
        return data
    # With suspend timestamps on (the target turns them on) resumes go
    # through the library's traced resume: its frames sit between a
    # coroutine's root and its resumer's code. They are real, but not what
    # this test is about.
    # (corolink__enter is hidden: nameless in a stripped library.)
    traced = ("corolink__enter", "corolink__resume_traced")
    fn = lambda n: [f["function"] for f in by[n]["frames"]
                    if f["function"] not in traced and
                    not f["function"].startswith("libcorolink.so")]
    for n, want in SUSPENDED.items():
        check(by[n]["state"] == "suspended", "%s: %s state %s" % (label, n, by[n]["state"]))
        check(fn(n) == want, "%s: %s frames %s, want %s" % (label, n, fn(n), want))
        check(by[n]["thread"] is None, "%s: %s has a thread" % (label, n))
        check(isinstance(by[n]["suspended_ns"], int), "%s: %s no suspend time" % (label, n))
        if lines:
            check(by[n]["frames"][-1]["file"] and by[n]["frames"][-1]["file"].endswith("parked.h"),
                  "%s: %s no source line for its entry" % (label, n))
    check(by["fresh"]["state"] == "created" and by["fresh"]["frames"] == [], "%s: fresh" % label)
    check(by["done"]["state"] == "finished" and by["done"].get("finished") == "returned"
          and by["done"]["frames"] == [], "%s: done" % label)
    mr, ti, to = by["main-runner"], by["t2-inner"], by["t2-outer"]
    check(mr["state"] == "running" and mr["thread"] == pid, "%s: main-runner %s thread %s" % (label, mr["state"], mr["thread"]))
    check(fn("main-runner")[:4] == ["pause", "block_forever", "main_runner_wait", "main_runner_body"]
          and "main" in fn("main-runner"), "%s: main-runner frames %s" % (label, fn("main-runner")))
    check(ti["state"] == "running" and isinstance(ti["thread"], int) and ti["thread"] != pid,
          "%s: t2-inner thread %s" % (label, ti["thread"]))
    check(to["state"] == "running" and to["thread"] == ti["thread"] and to.get("resuming") == ti["id"],
          "%s: t2-outer thread %s resuming %s" % (label, to["thread"], to.get("resuming")))
    check(fn("t2-inner")[:4] == ["pause", "block_forever", "t2_block", "t2_inner_body"]
          and "t2_outer_body" in fn("t2-inner") and "thread2" in fn("t2-inner"),
          "%s: t2-inner frames %s" % (label, fn("t2-inner")))
    check(fn("t2-outer")[0] == "t2_outer_body" and "thread2" in fn("t2-outer"),
          "%s: t2-outer frames %s" % (label, fn("t2-outer")))
    # make() is static: in the stripped program only .dynsym is left (hex)
    site = "make" if lines else "stacks_target+0x"
    check(all(o["create_site"].startswith(site) for o in data), "%s: create sites" % label)

    # text
    rc, out, err = run_tool(src)
    check(rc == 0, "%s text: rc %s" % (label, rc))
    for n in NAMES:
        check(re.search(r'^coroutine %d "%s" ' % (by[n]["id"], n), out, re.M), "%s text: %s" % (label, n))
    check(re.search(r'"main-runner" running on thread %d' % pid, out), "%s text: main-runner thread" % label)
    check(re.search(r'"t2-outer" running on thread %d, resuming coroutine %d' % (ti["thread"], ti["id"]), out),
          "%s text: t2-outer" % label)
    check("wait_on_socket" in out and "park_leaf" in out, "%s text: frames" % label)
    if lines:
        check("parked.h:" in out, "%s text: no file:line" % label)

    # --group
    rc, out, err = run_tool(["--group"] + src)
    check(rc == 0, "%s --group: rc %s" % (label, rc))
    groups = re.findall(r"^(\d+) coroutines? ([a-z]+)[^:]*:(.*)$", out, re.M)
    check(len(groups) == 9, "%s --group: %d groups" % (label, len(groups)))
    if groups:
        check(groups[0][0] == "3" and groups[0][1] == "suspended"
              and all('"worker-%d"' % i in groups[0][2] for i in range(3)),
              "%s --group: first group %s" % (label, groups[0]))
        check(sum(int(g[0]) for g in groups) == 11, "%s --group: counts" % label)

    # --folded
    rc, out, err = run_tool(["--folded"] + src)
    check(rc == 0, "%s --folded: rc %s" % (label, rc))
    flines = out.splitlines()
    check(all(re.match(r"^(suspended|running|created|finished)(;[^; ]+)* \d+$", l) for l in flines),
          "%s --folded: line structure %s" % (label, flines))
    check(FOLDED <= set(flines), "%s --folded: missing %s" % (label, FOLDED - set(flines)))
    check(sum(int(l.rsplit(" ", 1)[1]) for l in flines) == 11, "%s --folded: total" % label)
    check(any(l.startswith("running;") and l.endswith(";t2_inner_body;t2_block;block_forever;pause 1")
              for l in flines), "%s --folded: t2-inner line" % label)
    return data


def test_live():
    t = Target(ARGS.program)
    try:
        check_all([t.pid], t.pid, "live")
        rc, out, err = run_tool(["--stats", "--folded", t.pid])
        m = re.search(r"stopped for ([\d.]+) ms", err)
        check(m is not None, "live --stats: %s" % err)
        if m:
            print("stop time (11 coroutines, 2 threads): %s ms" % m.group(1))
    finally:
        t.kill()


def test_core():
    t = Target(ARGS.program)
    try:
        core = gcore(t.pid, os.path.join(ARGS.workdir, "core"))
    finally:
        t.kill()
    check_all(["--core", core, "--exe", ARGS.program], t.pid, "core")
    rc, out, err = run_tool(["--core", core, "--exe", ARGS.program])
    check("relative to the newest suspend" in out, "core: time reference not stated")


def stripped_copies():
    d = os.path.join(ARGS.workdir, "stripped")
    os.makedirs(d, exist_ok=True)
    prog = os.path.join(d, "stacks_target")
    lib = os.path.join(d, "libcorolink.so.1")
    shutil.copy(ARGS.program, prog)
    shutil.copy(os.path.realpath(ARGS.lib), lib)
    subprocess.run([ARGS.strip, "--strip-all", prog, lib], check=True)
    env = dict(os.environ, LD_LIBRARY_PATH=d)
    return prog, lib, env


def test_stripped():
    prog, lib, env = stripped_copies()
    t = Target(prog, env=env)
    try:
        with open("/proc/%d/maps" % t.pid) as f:
            check(lib in f.read(), "stripped: the target did not load the stripped library")
        check_all([t.pid], t.pid, "stripped live", lines=False)
        core = gcore(t.pid, os.path.join(ARGS.workdir, "core-stripped"))
    finally:
        t.kill()
    check_all(["--core", core, "--exe", prog], t.pid, "stripped core", lines=False)


def phdrs(data):
    """(type, offset, vaddr, filesz) of an ELF64 file's program headers."""
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    out = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        out.append((p_type, p_offset, p_vaddr, p_filesz))
    return out


def v2off(ph, addr):
    for t, off, va, sz in ph:
        if t == 1 and va <= addr < va + sz:
            return off + addr - va
    return None


def find_registry(data):
    """File offsets of the first chunk pointer's target (the chunk) and
    chunk_off_next, from the table found by its magic."""
    ph = phdrs(data)
    pos = data.find(b"CLNKDBG\0")
    while pos >= 0:
        registry, = struct.unpack_from("<Q", data, pos + 0x98)
        off_next, = struct.unpack_from("<I", data, pos + 0xa0)
        ro = v2off(ph, registry)
        if ro is not None:
            chunk, = struct.unpack_from("<Q", data, ro)
            co = v2off(ph, chunk)
            if co is not None:
                return ph, ro, chunk, co, off_next
        pos = data.find(b"CLNKDBG\0", pos + 1)
    return None


def expect_error(args, label, contains=None):
    rc, out, err = run_tool(args)
    if rc is None:
        return
    check(rc != 0, "%s: rc 0 (want an error)" % label)
    lines = err.strip().splitlines()
    check(len(lines) == 1 and lines[0].startswith("corolink-stacks: "), "%s: stderr %r" % (label, err))
    if contains:
        check(contains in err, "%s: %r not in %r" % (label, contains, err))
    print("%-28s rc=%s  %s" % (label, rc, err.strip()))


def test_errors():
    # a pid that does not exist: one of a child that has been reaped
    p = subprocess.Popen(["true"])
    p.wait()
    expect_error([p.pid], "nonexistent pid", "no process")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.1)
        expect_error([sleeper.pid], "pid without corolink", "does not use corolink")
        foreign = gcore(sleeper.pid, os.path.join(ARGS.workdir, "core-sleep"))
    finally:
        sleeper.kill()
        sleeper.wait()
    expect_error(["--core", foreign, "--exe", shutil.which("sleep")], "foreign core", "does not use corolink")
    notelf = os.path.join(ARGS.workdir, "not-elf")
    with open(notelf, "w") as f:
        f.write("this is not an ELF file\n" * 10)
    expect_error(["--core", notelf, "--exe", ARGS.program], "core not ELF", "not an ELF")
    expect_error(["--core", ARGS.program, "--exe", ARGS.program], "core is a program", "not a core")
    expect_error(["--core", "/nonexistent/core", "--exe", ARGS.program], "missing core")

    t = Target(ARGS.program)
    try:
        core = gcore(t.pid, os.path.join(ARGS.workdir, "core"))
    finally:
        t.kill()
    expect_error(["--core", core, "--exe", shutil.which("sleep")], "wrong --exe", "not the program")
    expect_error(["--core", core, "--exe", notelf], "--exe not ELF", "not an ELF")
    data = open(core, "rb").read()
    for n in (0, 16, 64, 4096, len(data) // 2, len(data) - 4096):
        tr = os.path.join(ARGS.workdir, "core-trunc")
        with open(tr, "wb") as f:
            f.write(data[:n])
        expect_error(["--core", tr, "--exe", ARGS.program], "truncated core (%d)" % n)

    found = find_registry(data)
    check(found is not None, "errors: the registry is not in the core")
    if found:
        ph, ro, chunk, co, off_next = found

        def patched(label, patches, contains=None, may_pass=False):
            b = bytearray(data)
            for off, val in patches:
                struct.pack_into("<Q", b, off, val)
            path = os.path.join(ARGS.workdir, "core-patched")
            with open(path, "wb") as f:
                f.write(b)
            if may_pass:
                rc, out, err = run_tool(["--core", path, "--exe", ARGS.program])
                check(rc is not None and (rc != 0 or "coroutine" in out), "%s: rc %s" % (label, rc))
                print("%-28s rc=%s  %s" % (label, rc, (err.strip() or "(listed)")))
            else:
                expect_error(["--core", path, "--exe", ARGS.program], label, contains)

        patched("registry: chunk cycle", [(co + off_next, chunk)], "cycle")
        patched("registry: wild next", [(co + off_next, 0xdead00000000)], "corrupt")
        patched("registry: wild first chunk", [(ro, 0x10)], "corrupt")
        patched("registry: huge slot count", [(co + 8, 1 << 40)], "corrupt")
        rnd = random.Random(7)
        patched("registry: wild slots", [(co + 16 + 8 * i, rnd.randrange(1 << 47) & ~7) for i in range(64)],
                may_pass=True)


def test_fuzz():
    t = Target(ARGS.program)
    try:
        core = gcore(t.pid, os.path.join(ARGS.workdir, "core"))
    finally:
        t.kill()
    rc, out, err = run_tool(["--json", "--core", core, "--exe", ARGS.program])
    blocks = [int(o["address"], 16) for o in json.loads(out)]
    data = open(core, "rb").read()
    ph = phdrs(data)
    hot = [v2off(ph, a) for a in blocks]
    found = find_registry(data)
    if found:
        hot.append(found[3])
    hot = [h for h in hot if h is not None]
    notes = [(off, sz) for ty, off, va, sz in ph if ty == 4]
    rnd = random.Random(20240611)
    path = os.path.join(ARGS.workdir, "core-fuzz")
    results = {}
    for v in range(20):
        b = bytearray(data)
        offs = [rnd.randrange(0, min(len(b), 8192)) for _ in range(8)]
        for off, sz in notes:
            offs += [off + rnd.randrange(sz) for _ in range(8)]
        offs += [rnd.choice(hot) + rnd.randrange(-2048, 512) for _ in range(32)]
        offs += [rnd.randrange(len(b)) for _ in range(16)]
        for o in offs:
            if 0 <= o < len(b):
                b[o] ^= 1 << rnd.randrange(8)
        with open(path, "wb") as f:
            f.write(b)
        for mode in ([], ["--json"]):
            rc, out, err = run_tool(mode + ["--core", path, "--exe", ARGS.program])
            if rc is None:
                continue
            if rc == 0 and mode == ["--json"]:
                try:
                    json.loads(out)
                except ValueError:
                    check(False, "fuzz %d: --json output does not parse" % v)
            if rc != 0:
                check(len(err.strip().splitlines()) == 1, "fuzz %d: stderr %r" % (v, err))
            results[rc] = results.get(rc, 0) + 1
    print("fuzzed cores: exit codes %s (no signal, no hang)" % results)


def test_sampling():
    t = Target(ARGS.program)
    try:
        start = time.time()
        rc, out, err = run_tool(["--interval", 20, "--count", 5, t.pid])
        check(rc == 0, "sampling: rc %s %s" % (rc, err))
        lines = set(out.splitlines())
        check("suspended;worker_body;idle_loop 15" in lines, "sampling: %s" % lines)
        check(sum(int(l.rsplit(" ", 1)[1]) for l in lines) == 55, "sampling: total")
        check(re.search(r"stop time per sample: mean [\d.]+ ms", err), "sampling: %s" % err)
        check(time.time() - start >= 0.08, "sampling: interval not honoured")
    finally:
        t.kill()
    # 10,000 suspended coroutines: the stop time per sample
    t = Target(ARGS.program, [10000])
    try:
        rc, out, err = run_tool(["--stats", "--folded", t.pid])
        check("suspended;bulk_body;bulk_wait 10000" in out.splitlines(), "scale: %s" % out[:300])
        print("10,000 coroutines, one snapshot:", err.strip())
        rc, out, err = run_tool(["--interval", 100, "--count", 5, t.pid])
        check("suspended;bulk_body;bulk_wait 50000" in out.splitlines(), "scale sampling: %s" % out[:300])
        print("10,000 coroutines, sampling:", err.strip())
    finally:
        t.kill()


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--program", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--gcore", required=True)
    ap.add_argument("--strip", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("test", choices=["live", "core", "stripped", "errors", "fuzz", "sampling"])
    ARGS = ap.parse_args()
    os.makedirs(ARGS.workdir, exist_ok=True)
    globals()["test_" + ARGS.test]()
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
