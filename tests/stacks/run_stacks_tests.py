#!/usr/bin/env python3
"""Tests of corolink-stacks (perf/corolink-stacks.c) against stacks_target.c.

Subcommands (one ctest each): live, core, stripped, errors, fuzz, sampling,
damage, flamegraph (native builds); qemu_core, qemu_errors (cross builds: the target
runs under qemu-user, which writes a core of it on a fatal signal, and the
host's corolink-stacks reads that core; with --self-core, for RISC-V, of which
qemu 7.2 writes none, the program writes its own: tests/common/self_core.h).
The target prints "ready PID" once its coroutines are parked (see the table
at the top of stacks_target.c) and then blocks; we run the tool on its pid
and on a core written by gcore (or qemu), then kill it."""
import argparse
import json
import glob
import os
import platform
import random
import resource
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
TOOL = []  # the command that runs the tool: [--tool] (or the emulator and --target-tool)

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
    cmd = TOOL + [str(a) for a in args]
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


def tool_json(src, label):
    """corolink-stacks --json on src, parsed; None (and a failed check) if
    it fails or does not parse."""
    rc, out, err = run_tool(["--json"] + src)
    check(rc == 0, "%s --json: rc %s (%s)" % (label, rc, err.strip()))
    try:
        return json.loads(out)
    except ValueError as e:
        check(False, "%s --json does not parse: %s" % (label, e))
        return None


# The library's resume path (suspend timestamps route resumes through it):
# the tool leaves these frames out (the debug table's hidden range, version
# 3), whether the library has symbols or not.
TRACED = ("corolink__enter", "corolink__resume_traced", "cl_enter", "cl_tools_enter",
          "cl_resume_cmd", "corolink_resume_with", "corolink__ontop")


# i686 under qemu-i386 (no vDSO): glibc enters the kernel through ld.so's
# _dl_sysinfo_int80 (int $0x80; ret), a local symbol Debian strips, so a
# thread in a system call has that nameless frame above its libc function.
LDSO_SYSCALL = r"ld-linux\.so\.2\+0x[0-9a-f]+"
# ARM32 (EM_ARM cores only): glibc's Thumb-2 build
# enters the kernel through __libc_do_syscall (r7 is Thumb's frame pointer,
# so the system call number is moved into it there), a frame of its own
# above pause(). libdw unwinds it only with libc's .debug_frame
# (libc6-dbg:armhf: it reads no EHABI table, the only unwind information
# of the stripped libc), which also names it.
ARM_SYSCALL = r"__libc_do_syscall"


# The alignment of every instruction's address, by ELF machine: frames
# must show code addresses (ARM32: Thumb's state bit, bit 0 of a Thumb
# resume point or return address, stripped; AArch64: no pointer-
# authentication code left). x86 instructions have none.
PC_ALIGN = {183: 4, 40: 2, 243: 2}  # EM_AARCH64, EM_ARM, EM_RISCV (RVC)


def check_all(src, pid, label, lines=True, timed=True, hidden=True):
    """src: ["PID"] or ["--core", core, "--exe", exe]. timed: the target
    records suspend times (COROLINK_TEST_UNTIMED unset). hidden: the
    table has the resume-path range (version 3)."""
    data = tool_json(src, label)
    if data is None:
        return None
    machine = core_machine(src[1]) if src[0] == "--core" else None
    align = PC_ALIGN.get(machine, 1)
    # the frame #0 a thread in a system call may have above its libc
    # function
    syscall = LDSO_SYSCALL + ("|" + ARM_SYSCALL if machine == EM_ARM else "")
    by = {}
    for o in data:
        for k in ("id", "name", "state", "thread", "create_site", "suspended_ns", "frames"):
            check(k in o, "%s --json: field %s missing" % (label, k))
        for f in o.get("frames", []):
            for k in ("pc", "function", "file", "line"):
                check(k in f, "%s --json: frame field %s missing" % (label, k))
            check(int(f.get("pc", "0"), 16) % align == 0,
                  "%s: %s frame %s: pc %s is not a code address (%d-byte instructions)"
                  % (label, o.get("name"), f.get("function"), f.get("pc"), align))
        by[o["name"]] = o
    check(set(by) == NAMES, "%s: coroutines %s" % (label, sorted(by)))
    if set(by) != NAMES:
        return data
    # With suspend timestamps on, resumes go through the library's traced
    # resume, whose frames sit between a coroutine's root and its resumer's
    # code: the tool leaves them out (a table without the range, version
    # 1 or 2, cannot: then they are skipped here).
    # (corolink__enter is hidden: nameless in a stripped library.)
    for o in data:
        if hidden:
            check(not [f for f in o["frames"] if f["function"] in TRACED],
                  "%s: %s shows the library's resume path: %s"
                  % (label, o["name"], [f["function"] for f in o["frames"]]))
    fn = lambda n: [f["function"] for k, f in enumerate(by[n]["frames"])
                    if (hidden or f["function"] not in TRACED) and
                    not f["function"].startswith("libcorolink.so") and
                    not (k == 0 and re.fullmatch(syscall, f["function"]))]
    for n, want in SUSPENDED.items():
        check(by[n]["state"] == "suspended", "%s: %s state %s" % (label, n, by[n]["state"]))
        check(fn(n) == want, "%s: %s frames %s, want %s" % (label, n, fn(n), want))
        check(by[n]["thread"] is None, "%s: %s has a thread" % (label, n))
        if timed:
            check(isinstance(by[n]["suspended_ns"], int), "%s: %s no suspend time" % (label, n))
        else:
            check(by[n]["suspended_ns"] is None, "%s: %s has a suspend time, untimed"
                  % (label, n))
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
    check(fn("t2-outer")[:1] == ["t2_outer_body"] and "thread2" in fn("t2-outer"),
          "%s: t2-outer frames %s" % (label, fn("t2-outer")))
    if src[0] == "--core":
        # a running coroutine's frame #0 is its thread's pc, as the core's
        # NT_PRSTATUS has it (read above without the tool)
        pcs = core_thread_pcs(src[1])
        for n in ("main-runner", "t2-inner"):
            got = int(by[n]["frames"][0]["pc"], 16) if by[n]["frames"] else None
            check(got == pcs.get(by[n]["thread"]),
                  "%s: %s frame #0 pc %s, its thread's pc in the core %s"
                  % (label, n, by[n]["frames"][0]["pc"] if by[n]["frames"] else None,
                     hex(pcs.get(by[n]["thread"], 0))))
    # linked: the body's frames, then (past the roots) each resumer in
    # turn, down to main / the thread's start function
    linked = lambda n: [f for f in fn(n) if f != "corolink__trampoline"
                        and not f.startswith("libcorolink")]
    check(linked("main-runner")[:5] == ["pause", "block_forever", "main_runner_wait", "main_runner_body", "main"],
          "%s: main-runner not linked to main: %s" % (label, linked("main-runner")))
    check(linked("t2-inner")[:6] == ["pause", "block_forever", "t2_block", "t2_inner_body", "t2_outer_body",
                                     "thread2"],
          "%s: t2-inner not linked through t2-outer to thread2: %s" % (label, linked("t2-inner")))
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
    check(any(l.startswith("running;") and
              re.search(r";t2_inner_body;t2_block;block_forever;pause(;(?:%s))? 1$" % syscall, l)
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


def test_live_untimed():
    """Without suspend timestamps resumes are inline: the same backtraces
    (the first test shows them with the library's resume path in between,
    hidden)."""
    env = dict(os.environ, COROLINK_TEST_UNTIMED="1")
    env.pop("COROLINK_TIMESTAMPS", None)
    t = Target(ARGS.program, env=env)
    try:
        check_all([t.pid], t.pid, "live untimed", timed=False)
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
    # A version 1 table (a program built against the first release, x86-64
    # only): no target description, the x86-64 defaults. The same core with
    # its table turned into version 1 and the description overwritten.
    data = bytearray(open(core, "rb").read())
    pos = table_offsets(data)
    check(len(pos) == 1, "core: %d debug tables in the core" % len(pos))
    # Older tables, made from this one: version 2 (the library before the
    # resume-path range: the target description, no range, so the resume
    # path's frames are shown) and version 1 (neither).
    for version, size, label in ((2, 0x120, "v2"), (1, 0xc8, "v1")):
        old = bytearray(data)
        for p in pos:
            struct.pack_into("<II", old, p + 8, version, size)
            old[p + size:p + 0x130] = b"\xff" * (0x130 - size)
        path = os.path.join(ARGS.workdir, "core-" + label)
        with open(path, "wb") as f:
            f.write(old)
        check_all(["--core", path, "--exe", ARGS.program], t.pid,
                  "core (version %d table)" % version, hidden=False)


def table_offsets(data):
    """File offsets of the debug tables in a core (by magic, version 3 and
    size 0x130, or version 2 and size 0x120: unwind-info/debug-table.md)."""
    out = []
    pos = data.find(b"CLNKDBG\0")
    while pos >= 0:
        if struct.unpack_from("<II", data, pos + 8) in ((3, 0x130), (2, 0x120)):
            out.append(pos)
        pos = data.find(b"CLNKDBG\0", pos + 1)
    return out


def machine_errors(core, program, machine, label):
    """A core whose table describes another machine, and a core of a
    machine the tool does not know: refused with a message."""
    data = bytearray(open(core, "rb").read())
    pos = table_offsets(data)
    check(len(pos) == 1, "%s: %d debug tables in the core" % (label, len(pos)))
    path = os.path.join(ARGS.workdir, "core-machine")
    other = {62: 183, 183: 62, 3: 62, 40: 62, 243: 62}[machine]
    for p in pos:
        struct.pack_into("<I", data, p + 0xe8, other)
    with open(path, "wb") as f:
        f.write(data)
    expect_error(["--core", path, "--exe", program], "%s: table of machine %d" % (label, other),
                 "core is of ELF machine %d" % machine)
    data = bytearray(open(core, "rb").read())
    check(struct.unpack_from("<H", data, 0x12)[0] == machine, "%s: e_machine" % label)
    struct.pack_into("<H", data, 0x12, 0x9026)  # EM_ALPHA (64-bit)
    with open(path, "wb") as f:
        f.write(data)
    expect_error(["--core", path, "--exe", program], "%s: unknown machine" % label, "cannot read")
    # a table whose pointer size (0x14; registry slots, 0xac, alike) is not
    # its machine's: 4 on x86-64, 8 on i386
    data = bytearray(open(core, "rb").read())
    for p in pos:
        size, = struct.unpack_from("<I", data, p + 0x14)
        struct.pack_into("<I", data, p + 0x14, 12 - size)
        struct.pack_into("<I", data, p + 0xac, 12 - size)
    with open(path, "wb") as f:
        f.write(data)
    expect_error(["--core", path, "--exe", program], "%s: table pointer size" % label, "pointer size")


def stripped_copies():
    d = os.path.join(ARGS.workdir, "stripped")
    os.makedirs(d, exist_ok=True)
    prog = os.path.join(d, "stacks_target")
    # Named as --lib, the SONAME link (libcorolink.so.<ABI version>), as
    # the loader looks it up.
    lib = os.path.join(d, os.path.basename(ARGS.lib))
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


def word(data):
    """The struct format of a pointer of an ELF file: "<I" for ELFCLASS32
    (i686 cores), else "<Q"."""
    return "<I" if data[4] == 1 else "<Q"


def phdrs(data):
    """(type, offset, vaddr, filesz) of an ELF64 (or ELF32) file's program
    headers."""
    if word(data) == "<I":
        phoff, = struct.unpack_from("<I", data, 0x1c)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x2a)
        fmt = "<IIIII"      # p_type p_offset p_vaddr p_paddr p_filesz
    else:
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        fmt = "<IIQQQQ"     # p_type p_flags p_offset p_vaddr p_paddr p_filesz
    out = []
    for i in range(phnum):
        v = struct.unpack_from(fmt, data, phoff + i * phentsize)
        if fmt == "<IIIII":
            p_type, p_offset, p_vaddr, _, p_filesz = v
        else:
            p_type, _, p_offset, p_vaddr, _, p_filesz = v
        out.append((p_type, p_offset, p_vaddr, p_filesz))
    return out


# Where a thread's pc is in a core's NT_PRSTATUS, by ELF machine: (offset
# of pr_pid, of pr_reg, the pc's word in pr_reg), read here independently of
# the tool (the kernel's struct elf_prstatus: pr_reg at 112 on 64-bit
# machines, 72 on 32-bit ones).
PRSTATUS_PC = {62: (32, 112, 16),   # x86-64: user_regs_struct's rip
               183: (32, 112, 32),  # AArch64: x0-x30, sp, pc
               243: (32, 112, 0),   # RISC-V: pc, x1-x31
               3: (24, 72, 12),     # i386: eip
               40: (24, 72, 15)}    # ARM32: r15


def core_thread_pcs(core):
    """{tid: pc} from the NT_PRSTATUS notes of a core file."""
    with open(core, "rb") as f:
        data = f.read()
    machine = struct.unpack_from("<H", data, 0x12)[0]
    pid_off, reg_off, pc_word = PRSTATUS_PC[machine]
    fmt = word(data)
    out = {}
    for p_type, p_offset, _, p_filesz in phdrs(data):
        if p_type != 4:  # PT_NOTE
            continue
        off, end = p_offset, p_offset + p_filesz
        while off + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", data, off)
            desc = off + 12 + (namesz + 3) // 4 * 4
            if n_type == 1 and data[off + 12:off + 12 + namesz].rstrip(b"\0") == b"CORE":
                tid, = struct.unpack_from("<i", data, desc + pid_off)
                pc, = struct.unpack_from(fmt, data, desc + reg_off + pc_word * struct.calcsize(fmt))
                out[tid] = pc
            off = desc + (descsz + 3) // 4 * 4
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
            chunk, = struct.unpack_from(word(data), data, ro)
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
    core_errors(core, ARGS.program, 62, "", notelf)


def core_errors(core, program, machine, label, notelf):
    """The bad-core checks on a core of the target: wrong or bad --exe,
    truncated, another machine, a corrupt registry."""
    expect_error(["--core", core, "--exe", shutil.which("sleep")], label + "wrong --exe", "not the program")
    expect_error(["--core", core, "--exe", notelf], label + "--exe not ELF", "not an ELF")
    machine_errors(core, program, machine, label + "machine")
    data = open(core, "rb").read()
    for n in (0, 16, 64, 4096, len(data) // 2, len(data) - 4096):
        tr = os.path.join(ARGS.workdir, "core-trunc")
        with open(tr, "wb") as f:
            f.write(data[:n])
        expect_error(["--core", tr, "--exe", program], label + "truncated core (%d)" % n)

    found = find_registry(data)
    check(found is not None, label + "errors: the registry is not in the core")
    if found:
        ph, ro, chunk, co, off_next = found

        def patched(what, patches, contains=None, may_pass=False):
            b = bytearray(data)
            for patch in patches:
                # (offset, value[, format]): a pointer unless told
                struct.pack_into(patch[2] if len(patch) > 2 else word(b), b, patch[0], patch[1])
            path = os.path.join(ARGS.workdir, "core-patched")
            with open(path, "wb") as f:
                f.write(b)
            if may_pass:
                rc, out, err = run_tool(["--core", path, "--exe", program])
                check(rc is not None and (rc != 0 or "coroutine" in out), "%s: rc %s" % (what, rc))
                print("%-28s rc=%s  %s" % (what, rc, (err.strip() or "(listed)")))
            else:
                expect_error(["--core", path, "--exe", program], what, contains)

        patched(label + "registry: chunk cycle", [(co + off_next, chunk)], "cycle")
        wild = 0xdead0000 if word(data) == "<I" else 0xdead00000000
        patched(label + "registry: wild next", [(co + off_next, wild)], "corrupt")
        patched(label + "registry: wild first chunk", [(ro, 0x10)], "corrupt")
        # the chunk's nslots (64-bit everywhere) and slots (pointers), where
        # the table says (chunk_off_nslots, chunk_off_slots)
        pos = table_offsets(data)[0]
        off_nslots, off_slots = struct.unpack_from("<II", data, pos + 0xa4)
        patched(label + "registry: huge slot count", [(co + off_nslots, 1 << 40, "<Q")], "corrupt")
        rnd = random.Random(7)
        w = struct.calcsize(word(data))
        patched(label + "registry: wild slots",
                [(co + off_slots + w * i, rnd.randrange(1 << (8 * w - 1)) & ~7) for i in range(64)],
                may_pass=True)


def test_fuzz():
    t = Target(ARGS.program)
    try:
        core = gcore(t.pid, os.path.join(ARGS.workdir, "core"))
    finally:
        t.kill()
    fuzz_core(core, ARGS.program, 20)


def fuzz_core(core, program, count):
    """count variants of the core with random bits flipped (fixed seed):
    the tool exits with a listing or one line on stderr, never a signal
    or a hang."""
    rc, out, err = run_tool(["--json", "--core", core, "--exe", program])
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
    for v in range(count):
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
            rc, out, err = run_tool(mode + ["--core", path, "--exe", program])
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


# ---------------------------------------------------------------------------
# flamegraph: --svg, sampled and single snapshot, live and core, checked
# against --folded of the same run (tests/common/flamegraph_check.py) on
# the target with its crafted coroutine (a name with <>&" and a stack
# deeper than the tool walks), and against corolink-perf's renderer given
# the same stacks (the layout rules and the script are shared).

CRAFTED = '"<a&"b\'> x;y"'  # its key as the tooltips show it (stacks_target.c)
NCO = len(NAMES) + 1


def svg_graph(path, label):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
    import flamegraph_check  # noqa: E402
    g = flamegraph_check.Graph(path)
    for p in g.problems:
        check(False, "%s: %s" % (label, p))
    return g, flamegraph_check


def test_flamegraph():
    svg = os.path.join(ARGS.workdir, "wait.svg")
    t = Target(ARGS.program, [0, "crafted"])
    try:
        # sampled: the SVG and the folded lines of the same run
        rc, out, err = run_tool(["--interval", 10, "--count", 4, "--svg", svg, "--folded", t.pid])
        check(rc == 0, "sampling --svg: rc %s %s" % (rc, err))
        g, fc = svg_graph(svg, "sampling --svg")
        if g.problems:
            return
        folded = fc.folded(out)
        check(g.total == 4 * NCO and sum(folded.values()) == 4 * NCO,
              "sampling --svg: root %d, folded %d, want 4 x %d" % (g.total, sum(folded.values()), NCO))
        check("%d coroutine stacks" % (4 * NCO) in err, "sampling --svg: stderr %s" % err)
        check(g.stacks() == folded, "sampling --svg: the SVG's stacks are not --folded's:\n%s\n%s"
              % (sorted(g.stacks().items())[:5], sorted(folded.items())[:5]))
        # colours: the frames of one coroutine share its hue, state roots
        # are grey, each corolink__trampoline is a boundary frame in the
        # hue of the coroutine whose stack it starts
        hues = {}
        for f in g.frames[1:]:
            if f.coroutine and f.coroutine.startswith("coroutine "):
                hues.setdefault(f.coroutine[10:], set()).add(fc.hue(f.fill))
        check(all(len(h) == 1 for h in hues.values()), "sampling --svg: hues %s" % hues)
        check(set(hues) >= {'"sock-reader"', '"timer"', '"t2-parked"', '"main-runner"', '"t2-inner"',
                            '"t2-outer"', CRAFTED}, "sampling --svg: coroutines %s" % sorted(hues))
        check(hues.get('"timer"') != hues.get('"sock-reader"'), "sampling --svg: timer and sock-reader alike")
        roots = {f.name: f.fill for f in g.frames if f.parent is g.root}
        check(set(roots) == {"suspended", "running", "created", "finished"} and
              set(roots.values()) == {"hsl(0,0%,75%)"}, "sampling --svg: state roots %s" % roots)
        tramp = [f for f in g.frames if f.name == "corolink__trampoline"]
        check(tramp and all(f.boundary for f in tramp), "sampling --svg: trampolines not boundaries")
        body = {f.name: f for f in g.frames if f.name in ("t2_outer_body", "t2_inner_body", "idle_loop")}
        check(body["t2_outer_body"].coroutine == 'coroutine "t2-outer"' and
              body["t2_inner_body"].coroutine == 'coroutine "t2-inner"',
              "sampling --svg: resumer chain %s" % [(f.name, f.coroutine) for f in body.values()])
        check(body["idle_loop"].coroutine == "several coroutines", "sampling --svg: the workers' idle_loop")
        deep = max(len(f.path()) for f in g.frames)
        check(deep == 1 + 256, "sampling --svg: deepest frame at %d, want the state and 256 frames" % deep)
        # deterministic: the same (parked) process gives the same bytes
        first = open(svg, "rb").read()
        rc, out2, err = run_tool(["--interval", 10, "--count", 4, "--svg", svg, t.pid])
        check(rc == 0 and out2 == "", "sampling --svg alone: rc %s, stdout %r" % (rc, out2[:100]))
        check(open(svg, "rb").read() == first, "sampling --svg: not the same bytes twice")

        # one snapshot, live and from a core
        rc, out, err = run_tool(["--svg", svg, t.pid])
        check(rc == 0 and out == "", "snapshot --svg: rc %s, stdout %r" % (rc, out[:100]))
        g1, _ = svg_graph(svg, "snapshot --svg")
        rc, out, err = run_tool(["--folded", t.pid])
        check(not g1.problems and g1.total == NCO and g1.stacks() == fc.folded(out),
              "snapshot --svg: %d frames, not --folded's stacks" % len(g1.frames))
        rc, out, err = run_tool(["--svg", "-", t.pid])
        check(rc == 0 and out.encode() == open(svg, "rb").read(), "--svg -: not the same as to a file")
        core = gcore(t.pid, os.path.join(ARGS.workdir, "flame"))
        rc, out, err = run_tool(["--svg", svg, "--folded", "--core", core, "--exe", ARGS.program])
        g2, _ = svg_graph(svg, "core --svg")
        check(rc == 0 and not g2.problems and g2.total == NCO and g2.stacks() == fc.folded(out),
              "core --svg: rc %s %s" % (rc, err))
        os.unlink(core)

        # bad input: one line, nothing left behind
        for args, code, says in (
                (["--svg", os.path.join(ARGS.workdir, "no", "such.svg"), t.pid], 1, "No such file"),
                (["--svg", ARGS.workdir, t.pid], 1, "not a regular file"),
                (["--svg", "", t.pid], 1, "needs a file name"),
                (["--svg", "-", "--json", t.pid], 2, "cannot share stdout"),
                (["--svg", os.path.join(ARGS.workdir, "gone.svg"), "2147483647"], 1, "no process"),
                (["--svg"], 2, "")):
            rc, out, err = run_tool(args)
            check(rc == code and says in err and len(err.strip().splitlines()) <= (1 if code == 1 else 20),
                  "--svg %s: rc %s, %r" % (args[1:], rc, err))
        check(not os.path.exists(os.path.join(ARGS.workdir, "gone.svg")), "a failed --svg left its file")
    finally:
        t.kill()

    # the same stacks through corolink-perf's renderer: the same layout
    # (frames, places, widths, labels), style and script
    if not ARGS.perf_script:
        return
    import importlib.machinery
    sys.dont_write_bytecode = True
    cp = importlib.machinery.SourceFileLoader("corolink_perf", ARGS.perf_script).load_module()
    py = os.path.join(ARGS.workdir, "python.svg")
    with open(py, "w") as f:
        f.write(cp.flame_svg(folded, "t", "s"))
    gp, _ = svg_graph(py, "corolink-perf's renderer")
    shape = lambda gr: [(f.name, f.n, f.x, f.w, f.y, f.label) for f in gr.frames]
    check(shape(gp) == shape(g), "the renderers lay the same stacks out differently")
    check(gp.script == g.script and gp.style == g.style, "the renderers' style or script differ")


# ---------------------------------------------------------------------------
# damage: the test damages a parked target's control blocks and registry
# through the debug-offsets table (unwind-info/debug-table.md), writing
# /proc/PID/mem, then checks every output mode, live and on a gcore core.

TABLE = {  # field: (offset, struct format), from unwind-info/debug-table.md
    "version": (0x08, "<I"), "size": (0x0c, "<I"), "control_size": (0x18, "<I"),
    "off_pc": (0x1c, "<I"), "off_sp": (0x20, "<I"), "off_fp": (0x24, "<I"),
    "off_id": (0x34, "<I"), "off_name": (0x38, "<I"), "name_size": (0x3c, "<I"),
    "off_stack_limit": (0x40, "<I"), "off_guard": (0x48, "<I"), "off_check": (0x58, "<I"),
    "check_xor": (0x70, "<Q"), "registry": (0x98, "<Q"), "chunk_off_next": (0xa0, "<I"),
    "chunk_off_nslots": (0xa4, "<I"), "chunk_off_slots": (0xa8, "<I"),
    "slot_tag_mask": (0xb0, "<Q"),
}


class Mem:
    """The memory of a live process, through /proc/PID/mem."""

    def __init__(self, pid):
        self.f = open("/proc/%d/mem" % pid, "r+b", buffering=0)
        self.pid = pid

    def read(self, addr, n):
        self.f.seek(addr)
        return self.f.read(n)

    def u64(self, addr):
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def put64(self, addr, v):
        self.f.seek(addr)
        self.f.write(struct.pack("<Q", v))

    def table(self):
        """The debug table, found by its magic in libcorolink's mappings
        (confirmed by version and size, as the spec says)."""
        for line in open("/proc/%d/maps" % self.pid):
            parts = line.split()
            if len(parts) < 6 or "libcorolink" not in parts[5]:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            try:
                data = self.read(lo, hi - lo)
            except OSError:
                continue
            pos = data.find(b"CLNKDBG\0")
            while pos >= 0:
                t = {k: struct.unpack_from(f, data, pos + o)[0] for k, (o, f) in TABLE.items()}
                try:  # (the magic is also in the code that checks it)
                    if t["version"] >= 1 and t["size"] >= 0xc4 and self.u64(t["registry"]):
                        return t
                except (OSError, OverflowError, struct.error):
                    pass
                pos = data.find(b"CLNKDBG\0", pos + 1)
        raise SystemExit("the debug table is not in the target")

    def registry(self, t):
        """[(slot address, value)] of every slot of every chunk."""
        out = []
        chunk = self.u64(t["registry"])
        while chunk:
            n = self.u64(chunk + t["chunk_off_nslots"])
            base = chunk + t["chunk_off_slots"]
            vals = struct.unpack("<%dQ" % n, self.read(base, 8 * n))
            out += [(base + 8 * i, v) for i, v in enumerate(vals)]
            chunk = self.u64(chunk + t["chunk_off_next"])
        return out

    def blocks(self, t):
        """name -> dict of the live control blocks."""
        out = {}
        for slot, v in self.registry(t):
            if v == 0 or v & t["slot_tag_mask"]:
                continue
            nm = self.read(v + t["off_name"], t["name_size"]).split(b"\0")[0].decode()
            out[nm] = dict(addr=v, slot=slot, id=self.u64(v + t["off_id"]),
                           pc=self.u64(v + t["off_pc"]), sp=self.u64(v + t["off_sp"]),
                           fp=self.u64(v + t["off_fp"]),
                           limit=self.u64(v + t["off_stack_limit"]),
                           guard=self.u64(v + t["off_guard"]))
        return out


def damage_target(t_pid):
    """Damages the parked target; returns (expected one-line diagnostics by
    name, set of damaged names, name of the duplicated one, its slot count)."""
    m = Mem(t_pid)
    t = m.table()
    b = m.blocks(t)
    want = {}

    def line(n, what):
        want[n] = 'coroutine %d "%s" (control block 0x%x): %s' % (b[n]["id"], n, b[n]["addr"], what)

    # 1. a saved pc outside all code
    co = b["sock-reader"]
    m.put64(co["addr"] + t["off_pc"], 0x4141414141414141)
    line("sock-reader", "saved pc 0x4141414141414141 is outside every executable mapping")
    # 2. a saved sp in the guard region below the coroutine's stack: named
    # a stack overflow (a watched zone, which nothing protects, can hold it)
    co = b["timer"]
    bad_sp = co["limit"] - 64
    m.put64(co["addr"] + t["off_sp"], bad_sp)
    line("timer", "saved sp 0x%x is outside its stack [0x%x, 0x%x): a stack overflow, 64 bytes into the "
         "%d-byte guard region below it" % (bad_sp, co["limit"], co["addr"], co["guard"]))
    # 3. a frame pointer chain that points to itself: fp = X, *X = X,
    # X[1] = the return address into worker_body that idle_loop's frame
    # holds (built with frame pointers: CFA = rbp + 16, so every frame from
    # the second on has sp X + 16)
    co = b["worker-0"]
    ra = m.u64(co["fp"] + 8)
    x = (co["sp"] + 16) & ~7
    check(x + 16 < co["addr"], "damage: no room for the loop in worker-0's stack")
    m.put64(x, x)
    m.put64(x + 8, ra)
    m.put64(co["addr"] + t["off_fp"], x)
    line("worker-0", "the frame chain loops at sp 0x%x" % (x + 16))
    # 4. a frame chain that leaves the stack: fp = a word in another
    # coroutine's (unused) stack, its return address slot pointing into code
    co = b["worker-1"]
    y = b["fresh"]["addr"] - 512
    m.put64(y, 0)
    m.put64(y + 8, ra)
    m.put64(co["addr"] + t["off_fp"], y)
    line("worker-1", "the frame chain leaves its stack [0x%x, 0x%x) at sp 0x%x"
         % (co["limit"], co["addr"], y + 16))
    # 5. a stack limit above the control block
    co = b["bulk"]
    m.put64(co["addr"] + t["off_stack_limit"], co["addr"] + 4096)
    line("bulk", "stack limit 0x%x is not below its control block" % (co["addr"] + 4096))
    # 6. one control block copied into every free slot (up to 4096)
    co = b["worker-2"]
    free = [a for a, v in m.registry(t) if v == 0 or v & t["slot_tag_mask"]][:4095]
    for a in free:
        m.put64(a, co["addr"])
    slots = sorted([co["slot"]] + free)
    check(len(slots) >= 64, "damage: only %d slots for the duplicate" % len(slots))
    line("worker-2", "in %d registry slots (%s, ...), listed once"
         % (len(slots), ", ".join("0x%x" % a for a in slots[:3])))
    m.f.close()
    # the duplicated one is damaged too (a damaged registry: its line
    # instead of its frames)
    return (want, {"sock-reader", "timer", "worker-0", "worker-1", "worker-2", "bulk"},
            "worker-2", len(slots), b)


def check_damage(src, label, want, damaged, dup, nslots, blocks):
    undamaged = {  # name: frames (innermost first, entry last)
        "t2-parked": SUSPENDED["t2-parked"],
    }
    traced = ("corolink__enter", "corolink__resume_traced")
    data = tool_json(src, label)
    if data is None:
        return
    by = {}
    for o in data:
        check(o["name"] not in by, "%s --json: %s listed twice" % (label, o["name"]))
        by[o["name"]] = o
    check(set(by) == NAMES | {"bulk"}, "%s --json: coroutines %s" % (label, sorted(by)))
    for n in NAMES | {"bulk"}:
        o = by.get(n, {})
        if n in damaged:
            check(o.get("diagnostic") == want[n], "%s --json: %s diagnostic %r, want %r"
                  % (label, n, o.get("diagnostic"), want[n]))
            check(o.get("error") == want[n].split("): ", 1)[1] and o.get("frames") == [],
                  "%s --json: %s error %r frames %s" % (label, n, o.get("error"), o.get("frames")))
        else:
            check("error" not in o, "%s --json: %s has an error %r" % (label, n, o.get("error")))
    o = by.get(dup, {})
    check(o.get("registry_slots") == nslots and o.get("diagnostic") == want[dup],
          "%s --json: duplicate %s: %s slots, %r" % (label, dup, o.get("registry_slots"), o.get("diagnostic")))
    for n, frames in undamaged.items():
        got = [f["function"] for f in by.get(n, {}).get("frames", []) if f["function"] not in traced]
        check(got == frames, "%s --json: %s frames %s, want %s" % (label, n, got, frames))
    fn = [f["function"] for f in by.get("main-runner", {}).get("frames", [])]
    check(fn[:4] == ["pause", "block_forever", "main_runner_wait", "main_runner_body"],
          "%s --json: main-runner frames %s" % (label, fn))
    check(by.get("fresh", {}).get("state") == "created" and by.get("done", {}).get("state") == "finished",
          "%s --json: fresh/done" % label)

    # text: the line instead of the block; the others as usual
    rc, out, err = run_tool(src)
    check(rc == 0, "%s text: rc %s" % (label, rc))
    lines = out.splitlines()
    for n in want:
        check(lines.count(want[n]) == 1, "%s text: no line %r" % (label, want[n]))
    for n in damaged:
        check(not re.search(r'^coroutine %d "%s" suspended' % (blocks[n]["id"], n), out, re.M),
              "%s text: %s has its block" % (label, n))
    for n in NAMES - damaged:
        check(re.search(r'^coroutine %d "%s" ' % (by[n]["id"], n), out, re.M) is not None,
              "%s text: %s not listed" % (label, n))
    m = re.search(r'^coroutine %d "t2-parked" suspended.*\n.*\n((?:    #.*\n)+)' % by["t2-parked"]["id"], out, re.M)
    check(m is not None and [re.split(r"[+ ]", l.split()[2])[0] for l in m.group(1).splitlines()
                             if not any(x in l for x in traced)] == SUSPENDED["t2-parked"],
          "%s text: t2-parked frames %s" % (label, m and m.group(1)))
    check("0x41414141414141" not in out.replace(want["sock-reader"], ""), "%s text: garbage pc printed" % label)

    # --group: the damaged ones one line each, not grouped
    rc, out, err = run_tool(["--group"] + src)
    check(rc == 0, "%s --group: rc %s" % (label, rc))
    lines = out.splitlines()
    check(re.match(r"^(process|core of process) \d+: \d+ coroutines in \d+ groups and %d damaged" % len(damaged),
                   lines[0] if lines else "") is not None, "%s --group: header %r" % (label, lines[:1]))
    for n in want:
        check(lines.count(want[n]) == 1, "%s --group: no line %r" % (label, want[n]))
    groups = re.findall(r"^(\d+) coroutines? ([a-z]+)[^:]*:(.*)$", out, re.M)
    check(sum(int(g[0]) for g in groups) == len(NAMES) + 1 - len(damaged), "%s --group: counts %s" % (label, groups))
    check(not any('"%s"' % n in g[2] for g in groups for n in damaged), "%s --group: a damaged one grouped" % label)

    # --folded: [damaged] lines on stdout, the diagnostics on stderr
    rc, out, err = run_tool(["--folded"] + src)
    check(rc == 0, "%s --folded: rc %s" % (label, rc))
    flines = out.splitlines()
    check(all(re.match(r"^(suspended|running|created|finished)(;[^; ]+)* \d+$", l) for l in flines),
          "%s --folded: line structure %s" % (label, flines))
    check("suspended;[damaged] %d" % len(damaged) in flines, "%s --folded: %s" % (label, flines))
    check("suspended;t2_parked_body;park_deep;park_deep;park_deep;park_leaf 1" in flines,
          "%s --folded: undamaged stacks missing: %s" % (label, flines))
    check(sum(int(l.rsplit(" ", 1)[1]) for l in flines) == len(NAMES) + 1, "%s --folded: total" % label)
    elines = err.splitlines()
    check(sorted(elines) == sorted("corolink-stacks: " + w for w in want.values()),
          "%s --folded: stderr %r" % (label, elines))


def test_damage():
    t = Target(ARGS.program_fp, [1])
    try:
        want, damaged, dup, nslots, blocks = damage_target(t.pid)
        for w in want.values():
            print("expected:", w)
        check_damage([t.pid], "live", want, damaged, dup, nslots, blocks)
        core = gcore(t.pid, os.path.join(ARGS.workdir, "core-damaged"))
    finally:
        t.kill()
    check_damage(["--core", core, "--exe", ARGS.program_fp], "core", want, damaged, dup, nslots, blocks)
    rc, out, err = run_tool(["--core", core, "--exe", ARGS.program_fp])
    print(out)
    os.unlink(core)


# ---------------------------------------------------------------------------
# qemu_core, qemu_errors (cross builds): the target, built for another
# machine, runs under qemu-user (--emulator), which cannot be ptraced as the
# guest (no live tests, no gcore) but writes an ELF core of the guest,
# qemu_<program>_<date>-<time>_<pid>.core in its working directory, when a
# signal kills it. The tool under test (--tool) is the host's.

# The host's syscall number of ppoll: qemu-user runs a guest's pause()
# (glibc: ppoll(NULL, 0, NULL, NULL)) as that host syscall.
HOST_PPOLL = {"x86_64": 271, "aarch64": 73}
# An i386 guest's pause() is the pause system call, which qemu-user runs
# as the host's rt_sigsuspend(mask, 8).
HOST_SIGSUSPEND = {"x86_64": 130, "aarch64": 133}


def parked_call(call):
    """/proc/<pid>/task/<tid>/syscall words of a guest thread in pause()."""
    if call[:5] == [str(HOST_PPOLL[platform.machine()]), "0x0", "0x0", "0x0", "0x0"]:
        return True
    return call[:1] == [str(HOST_SIGSUSPEND[platform.machine()])] and call[2:3] == ["0x8"]


def emulator():
    """The emulator's command line (--emulator)."""
    emu = ARGS.emulator.split("|")
    # The toolchain's `-L PREFIX` gives the guest the cross sysroot's ld.so,
    # which then finds the host's multiarch libc (/lib/<triple>/libc.so.6,
    # another glibc build) before the sysroot's: the two disagree and
    # pthread_create() never returns. Put the sysroot's libraries first.
    if "-L" in emu and emu.index("-L") + 1 < len(emu):
        emu += ["-E", "LD_LIBRARY_PATH=%s/lib" % emu[emu.index("-L") + 1]]
    return emu


def qemu_core():
    """Runs the target under the emulator until both of its threads are
    parked, kills it with SIGQUIT (default action: a core), returns (core
    path, pid)."""
    emu = emulator()
    wd = os.path.join(ARGS.workdir, "qemu")
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    # kernel.core_pattern "core" would also have the kernel dump qemu
    # itself (hundreds of MB) as qemu dies of the signal: a directory of
    # that name makes that dump fail; qemu's own file has another name.
    os.mkdir(os.path.join(wd, "core"))
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        raise SystemExit("RLIMIT_CORE's hard limit is 0: qemu cannot write the core")

    def limits():
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

    env = None
    if ARGS.self_core:
        # RISC-V: qemu 7.2 writes no core of a RISC-V guest; the program
        # writes its own on SIGQUIT, in the kernel's format
        # (tests/common/self_core.h)
        env = dict(os.environ, COROLINK_TEST_SELF_CORE="1")
    p = subprocess.Popen(emu + [ARGS.program], stdout=subprocess.PIPE, cwd=wd, preexec_fn=limits, env=env)
    try:
        line = b""
        deadline = time.time() + 120
        while not line.endswith(b"\n"):
            r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
            if not r:
                raise SystemExit("the target did not get ready under the emulator")
            ch = os.read(p.stdout.fileno(), 1)
            if not ch:
                raise SystemExit("the target exited before getting ready")
            line += ch
        pid = int(re.match(rb"ready (\d+)", line).group(1))
        check(pid == p.pid, "qemu: the guest's pid %d is not qemu's %d" % (pid, p.pid))
        # "ready" comes before the main thread's pause() and maybe before
        # the second thread's: wait until both are in it (qemu's own
        # threads wait in futex).
        deadline = time.time() + 60
        while True:
            parked = 0
            for t in os.listdir("/proc/%d/task" % pid):
                try:
                    call = open("/proc/%d/task/%s/syscall" % (pid, t)).read().split()
                except OSError:
                    continue
                parked += parked_call(call)
            if parked == 2:
                break
            if time.time() > deadline:
                raise SystemExit("the target's threads did not park under the emulator")
            time.sleep(0.01)
        os.kill(pid, signal.SIGQUIT)
        p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(p.returncode == -signal.SIGQUIT, "qemu: exit status %s, want SIGQUIT" % p.returncode)
    pattern = "self_*_%d.core" if ARGS.self_core else "qemu_*_%d.core"
    cores = glob.glob(os.path.join(wd, pattern % pid))
    if len(cores) != 1:
        raise SystemExit("%s wrote no core of the target (%s)"
                         % ("the program" if ARGS.self_core else "qemu", os.listdir(wd)))
    print("core:", cores[0], os.path.getsize(cores[0]), "bytes")
    if ARGS.self_core:
        print("(written by the program itself, in the kernel's format: qemu 7.2 writes no core of a RISC-V guest)")
    return cores[0], pid


EM_ARM = 40


def core_machine(core):
    with open(core, "rb") as f:
        return struct.unpack_from("<H", f.read(0x14), 0x12)[0]


def test_qemu_core():
    core, pid = qemu_core()
    src = ["--core", core, "--exe", ARGS.program]
    check_all(src, pid, "qemu core")
    rc, out, err = run_tool(src)
    check("relative to the newest suspend" in out, "qemu core: time reference not stated")
    print(out)
    if ARGS.target_tool:
        # the tool built for the target, under the emulator, on the same core
        global TOOL
        TOOL = emulator() + [ARGS.target_tool]
        check_all(src, pid, "qemu core, the target's tool")


def test_qemu_errors():
    core, pid = qemu_core()
    notelf = os.path.join(ARGS.workdir, "not-elf")
    with open(notelf, "w") as f:
        f.write("this is not an ELF file\n" * 10)
    garbage = os.path.join(ARGS.workdir, "garbage.core")
    with open(garbage, "wb") as f:
        f.write(bytes(random.Random(3).randrange(256) for _ in range(65536)))
    expect_error(["--core", garbage, "--exe", ARGS.program], "garbage core", "not an ELF")
    expect_error(["--core", ARGS.program, "--exe", ARGS.program], "core is a program", "not a core")
    core_errors(core, ARGS.program, core_machine(core), "qemu ", notelf)
    fuzz_core(core, ARGS.program, 10)
    damaged_core(core, ARGS.program, "qemu damaged core")


def damaged_core(core, program, label):
    """Damaged control blocks in a core (as stacks.damage does live): a
    saved pc outside all code (not taken for a signed return address), a
    saved sp outside the stack (above it: no overflow); one line each
    instead of the frames, the others listed as before."""
    data = tool_json(["--core", core, "--exe", program], label)
    if data is None:
        return
    by = {o["name"]: o for o in data}
    b = bytearray(open(core, "rb").read())
    pos = table_offsets(b)
    check(len(pos) == 1, "%s: %d debug tables" % (label, len(pos)))
    if len(pos) != 1:
        return
    off_pc, off_sp = struct.unpack_from("<II", b, pos[0] + 0x1c)
    off_limit, = struct.unpack_from("<I", b, pos[0] + 0x40)
    ph = phdrs(b)
    reader, timer = int(by["sock-reader"]["address"], 16), int(by["timer"]["address"], 16)
    w = word(b)
    bad_pc = 0x41414141 if w == "<I" else 0x4141414141414141
    struct.pack_into(w, b, v2off(ph, reader + off_pc), bad_pc)
    limit, = struct.unpack_from(w, b, v2off(ph, timer + off_limit))
    struct.pack_into(w, b, v2off(ph, timer + off_sp), timer + 64)
    path = os.path.join(ARGS.workdir, "core-damaged")
    with open(path, "wb") as f:
        f.write(b)
    got = tool_json(["--core", path, "--exe", program], label)
    if got is None:
        return
    gby = {o["name"]: o for o in got}
    check(set(gby) == NAMES, "%s: coroutines %s" % (label, sorted(gby)))
    check(gby.get("sock-reader", {}).get("error") == "saved pc 0x%x is outside every executable mapping" % bad_pc
          and gby["sock-reader"]["frames"] == [], "%s: sock-reader %r" % (label, gby.get("sock-reader")))
    check(gby.get("timer", {}).get("error") == "saved sp 0x%x is outside its stack [0x%x, 0x%x)"
          % (timer + 64, limit, timer) and gby["timer"]["frames"] == [], "%s: timer %r" % (label, gby.get("timer")))
    for n in NAMES - {"sock-reader", "timer"}:
        check("error" not in gby.get(n, {}) and gby.get(n, {}).get("frames") == by[n]["frames"],
              "%s: %s changed" % (label, n))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--program", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--gcore")
    ap.add_argument("--strip")
    ap.add_argument("--emulator", help="the emulator command, its arguments separated by |")
    ap.add_argument("--target-tool", help="qemu_core: corolink-stacks built for the target, run under --emulator")
    ap.add_argument("--self-core", action="store_true",
                    help="qemu_*: the program writes its own core (COROLINK_TEST_SELF_CORE; "
                    "RISC-V, of which qemu 7.2 writes none)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--program-fp")
    ap.add_argument("--perf-script", help="flamegraph: perf/corolink-perf, whose renderer must agree")
    ap.add_argument("test", choices=["live", "live_untimed", "core", "stripped", "errors", "fuzz", "sampling",
                                     "damage", "flamegraph",
                                     "qemu_core", "qemu_errors"])
    ARGS = ap.parse_args()
    TOOL.append(ARGS.tool)
    os.makedirs(ARGS.workdir, exist_ok=True)
    globals()["test_" + ARGS.test]()
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
