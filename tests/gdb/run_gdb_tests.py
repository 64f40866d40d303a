#!/usr/bin/env python3
"""Tests of the corolink gdb plugin (gdb/corolink-gdb.py) with real gdb in
batch mode, against a live process and against a core file of it.

  run_gdb_tests.py --gdb GDB --plugin PY --workdir DIR MODE [options]

MODE target:   the scenario of gdb_target.c (see there): info coroutines
               and its filters, coroutine apply all bt, coroutine ID + info
               locals, the frame decorator, the pretty-printers, errors;
               live, then on a core written by gcore. --strip/--lib: run
               with a copy of the library stripped with --strip-all, the
               program stripped too.
MODE errors:   a program without corolink; a corrupted registry (the test
               corrupts the inferior's memory; the plugin never writes).
MODE autoload: the script embedded in libcorolink.so (COROLINK_GDB_EMBED=ON;
               otherwise: none, and no warning in a default session) and
               the installed auto-load file.
MODE damage:   damaged control blocks (saved pc, saved sp, a self-looping
               frame pointer, a chain leaving the stack) and one control
               block in many registry slots, made by the test through the
               debug-offsets table; live, then on the gcore core.
MODE scale:    100,000 suspended coroutines, info coroutines -group.
MODE qemu_live, qemu_core (cross builds: --emulator is qemu-user, gdb is
               gdb-multiarch): the scenario of gdb_target.c built for
               another machine, live through qemu's gdb stub (qemu -g PORT,
               target remote), and on the core file qemu writes when the
               target kills itself with SIGQUIT (gdb_target core); with
               --self-core (RISC-V: qemu 7.2 writes no core of a RISC-V
               guest) the core the program writes itself in the kernel's
               format (tests/common/self_core.h).
"""
import argparse
import glob
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

FAILS = []
ARGS = None

HELPER = r'''
import gdb
import re

class _TCase(gdb.Command):
    """tcase NAME COMMAND: runs COMMAND between markers; {{co-name}} in
    COMMAND becomes that coroutine's id."""
    def __init__(self):
        super(_TCase, self).__init__("tcase", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        name, cmd = arg.split(None, 1)
        gdb.write("@@@BEGIN %s\n" % name)
        try:
            if "{{" in cmd:
                ids = dict((c.name, c.id) for c in coroutines())
                cmd = re.sub(r"\{\{([^}]*)\}\}",
                             lambda m: str(ids.get(m.group(1), 999999)), cmd)
            out = gdb.execute(cmd, to_string=True)
            gdb.write(out)
        except gdb.error as e:
            gdb.write("ERROR: %s\n" % e)
        except Exception as e:
            gdb.write("PYEXC: %r\n" % (e,))
        gdb.write("@@@END %s\n" % name)

_TCase()
'''


def fail(msg):
    FAILS.append(msg)
    print("FAIL: " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


class Gdb(object):
    def __init__(self, args):
        self.args = args
        self.helper = os.path.join(args.workdir, "tcase_helper.py")
        with open(self.helper, "w") as f:
            f.write(HELPER)

    def run(self, target_args, pre=(), cases=(), post=(), source=True,
            autoload_off=True, iex=(), env=None, label=""):
        cmd = [self.args.gdb, "-nx", "-batch"]
        for c in iex:
            cmd += ["-iex", c]
        if autoload_off:
            cmd += ["-iex", "set auto-load python-scripts off"]
        cmd += ["-ex", "set pagination off", "-ex", "set width 0",
                "-ex", "set confirm off"]
        if source:
            cmd += ["-ex", "source " + self.args.plugin]
        cmd += ["-ex", "source " + self.helper]
        for c in pre:
            cmd += ["-ex", c]
        for name, c in cases:
            cmd += ["-ex", "tcase %s %s" % (name, c)]
        for c in post:
            cmd += ["-ex", c]
        cmd += target_args
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=240,
                           universal_newlines=True, errors="replace")
        dt = time.monotonic() - t0
        out = p.stdout
        log = os.path.join(self.args.workdir, "gdb-%s.log" % label)
        with open(log, "w") as f:
            f.write(" ".join(cmd) + "\n\n" + out)
        print("gdb %s: %.2fs (log: %s)" % (label, dt, log))
        for bad in ("Traceback", "Python Exception", "Error occurred in Python",
                    "PYEXC:"):
            check(bad not in out, "%s: %r in gdb output" % (label, bad))
        secs = {}
        for m in re.finditer(r"@@@BEGIN (\S+)\n(.*?)@@@END \1\n", out, re.S):
            secs[m.group(1)] = m.group(2)
        for name, _ in cases:
            check(name in secs, "%s: case %s did not run" % (label, name))
        return out, secs


# ---------------------------------------------------------------------------
# the scenario of gdb_target.c

SUSPENDED = {
    # name: (entry, innermost non-corolink function, frames innermost first)
    "sock-reader": ("reader_body", "wait_on_socket",
                    ["wait_on_socket", "handle_conn", "reader_body"]),
    "timer": ("timer_body", "wait_on_timer", ["wait_on_timer", "timer_body"]),
    "worker-0": ("worker_body", "idle_loop", ["idle_loop", "worker_body"]),
    "worker-1": ("worker_body", "idle_loop", ["idle_loop", "worker_body"]),
    "worker-2": ("worker_body", "idle_loop", ["idle_loop", "worker_body"]),
    "t2-parked": ("t2_parked_body", "park_leaf",
                  ["park_leaf", "park_deep", "park_deep", "park_deep",
                   "t2_parked_body"]),
}
RUNNING = {
    # name: (entry, frames that must appear, in this order)
    "main-runner": ("main_runner_body",
                    ["test_ready", "main_runner_work", "main_runner_body",
                     '[coroutine # "main-runner" resumed here]', "main"]),
    "t2-inner": ("t2_inner_body",
                 ["t2_spin", "t2_inner_body",
                  '[coroutine # "t2-inner" resumed here]', "t2_outer_body",
                  '[coroutine # "t2-outer" resumed here]', "thread2"]),
    "t2-outer": ("t2_outer_body",
                 ["t2_outer_body", '[coroutine # "t2-outer" resumed here]',
                  "thread2"]),
}

# The library's resume path (the debug table's hidden range), which bt
# leaves out.
HIDDEN_FRAMES = ("corolink__enter", "corolink.enter", "corolink__resume_traced",
                 "cl_enter", "cl_tools_enter", "cl_resume_cmd",
                 "corolink_resume_with", "corolink__ontop")

ROW = re.compile(r'^(\*?)\s+(\d+)\s+(created|running \(resuming another\)|'
                 r'running|suspended|finished \(\w+\))\s+"([^"]*)"\s+'
                 r'(?:(\d+)\s+)?(\S+)(?:\s+(.*))?$')


def parse_rows(text):
    rows = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(4)] = dict(star=m.group(1), id=int(m.group(2)),
                                    state=m.group(3), thread=m.group(5),
                                    entry=m.group(6), rest=m.group(7) or "")
    return rows


FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\[coroutine \d+ \"[^\"]*\" "
                   r"resumed here\]|\S+) ")


def frame_names(text):
    names = []
    for line in text.splitlines():
        m = FRAME.match(line)
        if m:
            n = m.group(2)
            n = re.sub(r"\[coroutine \d+", "[coroutine #", n)
            # gcc clones: foo.constprop.0, foo.isra.0
            n = re.sub(r"\.(constprop|isra|part|cold)\.\d+$", "", n)
            # glibc's internal aliases, named where its debug information
            # is installed (libc6-dbg): __GI_kill is kill
            n = re.sub(r"^__GI_", "", n)
            names.append(n)
    return names


def in_order(names, want):
    i = 0
    for n in names:
        if i < len(want) and n == want[i]:
            i += 1
    return i == len(want)


def check_info(label, text, live, stripped, timed=True):
    rows = parse_rows(text)
    for name, (entry, where, _) in SUSPENDED.items():
        r = rows.get(name)
        if not check(r is not None, "%s: no row for %s:\n%s" % (label, name,
                                                               text)):
            continue
        check(r["state"] == "suspended", "%s: %s state %s" % (label, name,
                                                              r["state"]))
        check(r["entry"] == entry, "%s: %s entry %s" % (label, name,
                                                        r["entry"]))
        check(re.match(re.escape(where) + r"\b", r["rest"]) is not None,
              "%s: %s where %r" % (label, name, r["rest"]))
        if not stripped:
            check(re.search(r"\(parked\.h:\d+\)", r["rest"]) is not None,
                  "%s: %s: no file:line in %r" % (label, name, r["rest"]))
        age = "ago" if live else "before newest"
        if timed:
            check(age in r["rest"], "%s: %s: no %r in %r" % (label, name,
                                                              age, r["rest"]))
        else:
            check("ago" not in r["rest"] and "before" not in r["rest"],
                  "%s: %s: a time without timestamps: %r" % (label, name,
                                                             r["rest"]))
    for name, (entry, _) in RUNNING.items():
        r = rows.get(name)
        if not check(r is not None, "%s: no row for %s" % (label, name)):
            continue
        want = "running (resuming another)" if name == "t2-outer" \
            else "running"
        check(r["state"] == want, "%s: %s state %r" % (label, name,
                                                       r["state"]))
        check(r["entry"] == entry, "%s: %s entry %s" % (label, name,
                                                        r["entry"]))
        check(r["thread"] is not None, "%s: %s has no thread" % (label, name))
    if "main-runner" in rows:
        check(rows["main-runner"]["star"] == "*" and
              rows["main-runner"]["thread"] == "1",
              "%s: main-runner not marked current on thread 1" % label)
    if "t2-inner" in rows and "t2-outer" in rows:
        check(rows["t2-inner"]["thread"] == rows["t2-outer"]["thread"] and
              rows["t2-inner"]["thread"] != "1",
              "%s: t2 coroutines not on the second thread" % label)
    check(rows.get("fresh", {}).get("state") == "created",
          "%s: fresh not created" % label)
    check(rows.get("done", {}).get("state") == "finished (returned)",
          "%s: done not finished (returned)" % label)
    stars = [n for n, r in rows.items() if r["star"]]
    check(len(stars) == 1, "%s: %d rows marked *" % (label, len(stars)))
    return rows


def apply_blocks(text):
    """`coroutine apply ... bt` output: {name: (header, its backtrace)}."""
    blocks = re.split(r'^\nCoroutine (\d+) "([^"]*)" \(([^)]*)\):\n', "\n" + text,
                      flags=re.M)
    got = {}
    for i in range(1, len(blocks) - 3 + 1, 4):
        got[blocks[i + 1]] = (blocks[i + 2], blocks[i + 3])
    return got


def check_apply(label, text, to_boundary=False):
    """to_boundary: running coroutines' frames are checked up to their
    first linked boundary only (gdb stops in the library's out-of-line
    resume where it cannot strip signed return addresses)."""
    got = apply_blocks(text)
    for name, (entry, _, frames) in SUSPENDED.items():
        if not check(name in got, "%s: apply: no block for %s" % (label,
                                                                  name)):
            continue
        names = frame_names(got[name][1])
        check(names and names[-1] == entry,
              "%s: apply: %s does not end at %s: %s" % (label, name, entry,
                                                        names))
        core = [n for n in names if not n.startswith("corolink_")]
        check(core == frames, "%s: apply: %s frames %s, want %s"
              % (label, name, core, frames))
        for bad in ("??", "<signal handler called>", "corolink__trampoline",
                    "main ", "thread2", "Backtrace stopped"):
            check(bad not in got[name][1], "%s: apply: %r in %s's bt:\n%s"
                  % (label, bad, name, got[name][1]))
    for name, (entry, frames) in RUNNING.items():
        if not check(name in got, "%s: apply: no block for %s" % (label,
                                                                  name)):
            continue
        check(got[name][0].startswith("running, thread "),
              "%s: apply: %s header %r" % (label, name, got[name][0]))
        names = frame_names(got[name][1])
        if to_boundary:
            # t2-outer runs the thread's frames from t2-inner's on: what
            # gdb reaches ends at t2-inner's boundary
            if name == "t2-outer":
                frames = RUNNING["t2-inner"][1]
            b = [i for i, f in enumerate(frames) if f.startswith("[")][0]
            frames = frames[:b + 1]
            check("Backtrace stopped" in got[name][1],
                  "%s: apply: %s: no end of the backtrace:\n%s"
                  % (label, name, got[name][1]))
        check(in_order(names, frames), "%s: apply: %s frames %s, want %s"
              % (label, name, names, frames))
    for name in ("fresh", "done"):
        check(name not in got, "%s: apply all lists %s" % (label, name))


def target_cases(stripped):
    cases = [
        ("info", "info coroutines"),
        ("group", "info coroutines -group"),
        ("f_name", "info coroutines -name ^worker"),
        ("f_susp", "info coroutines -state suspended"),
        ("f_run", "info coroutines -state running"),
        ("f_bt", "info coroutines -bt ^park_deep$"),
        ("f_bt_none", "info coroutines -bt no_such_function"),
        ("f_ids", "info coroutines {{timer}} {{fresh}}"),
        ("apply", "coroutine apply all bt"),
        ("apply_q", "coroutine apply {{timer}} -q bt 1"),
        ("sel", "coroutine {{sock-reader}}"),
        ("sel_bt", "bt"),
        ("sel_up", "up"),
        ("sel_info", "info coroutines {{sock-reader}}"),
        ("up_top", "up 100"),
        ("up_more", "up"),
    ]
    if not stripped:
        cases += [
            ("sel_frame", "frame 2"),
            ("sel_locals", "info locals"),
            ("sel_frame2", "frame function handle_conn"),
            ("sel_print", "print request_no"),
            ("sel2", "coroutine {{timer}}"),
            ("sel2_frame", "frame 2"),
            ("sel2_locals", "info locals"),
            ("sel3", "coroutine {{t2-parked}}"),
            ("sel3_frame", "frame 2"),
            ("sel3_print", "print/x leaf_mark"),
        ]
    cases += [
        ("back", "coroutine"),
        ("back_bt", "bt"),
        ("run_sel", "coroutine {{t2-inner}}"),
        ("run_thread", "thread"),
        ("back_thread", "thread 1"),
        ("plain_bt", "bt"),
        ("err_id", "coroutine 999999"),
        ("err_info_id", "info coroutines 999999"),
        ("err_created", "coroutine {{fresh}}"),
        ("err_finished", "coroutine {{done}}"),
        ("err_state", "info coroutines -state bogus"),
        ("err_opt", "info coroutines -frobnicate"),
        ("err_apply", "coroutine apply 999999 bt"),
        ("err_apply_nocmd", "coroutine apply all"),
    ]
    if not stripped:
        cases += [
            ("pp_co", "print g_timer"),
            ("pp_y", "print g_timer_yielder"),
            ("pp_null", "print (corolink *)0"),
            ("pp_bad", "print (corolink *)&sink"),
        ]
    return cases


def check_target(label, secs, live, stripped, timed=True,
                 top=("test_ready",), ldso_syscall=False,
                 libc_syscall=False):
    """top: the thread's innermost frames at the stop (a core written from
    test_ready() has the kill() it called on top). ldso_syscall: threads in
    a system call stop in a nameless frame of ld.so (i686 under qemu-i386,
    see _LDSO_SYSCALL). libc_syscall: alike in libc (ARM32, see
    _LIBC_SYSCALL)."""
    rows = check_info(label, secs.get("info", ""), live, stripped, timed)
    g = secs.get("group", "")
    check(re.search(r"^3\s+suspended\s+worker_body\s+idle_loop\b.*\b%d %d %d$"
                    % tuple(rows.get("worker-%d" % i, {}).get("id", -1)
                            for i in range(3)), g, re.M) is not None,
          "%s: -group has no count-3 worker group:\n%s" % (label, g))
    check(re.search(r"^1\s+suspended\s+reader_body\b", g, re.M) is not None,
          "%s: -group has no sock-reader group" % label)
    check(sorted(parse_rows(secs.get("f_name", ""))) ==
          ["worker-0", "worker-1", "worker-2"], "%s: -name: %s"
          % (label, secs.get("f_name")))
    check(sorted(parse_rows(secs.get("f_susp", ""))) ==
          sorted(SUSPENDED), "%s: -state suspended: %s"
          % (label, secs.get("f_susp")))
    check(sorted(parse_rows(secs.get("f_run", ""))) ==
          sorted(RUNNING), "%s: -state running: %s"
          % (label, secs.get("f_run")))
    check(sorted(parse_rows(secs.get("f_bt", ""))) == ["t2-parked"],
          "%s: -bt: %s" % (label, secs.get("f_bt")))
    check("No coroutines." in secs.get("f_bt_none", ""),
          "%s: -bt no match: %s" % (label, secs.get("f_bt_none")))
    check(sorted(parse_rows(secs.get("f_ids", ""))) == ["fresh", "timer"],
          "%s: ids: %s" % (label, secs.get("f_ids")))
    check_apply(label, secs.get("apply", ""))
    aq = secs.get("apply_q", "")
    check("Coroutine" not in aq and "wait_on_timer" in aq or
          "corolink_suspend" in aq, "%s: apply -q: %s" % (label, aq))
    # coroutine ID
    check("ERROR" not in secs.get("sel", "") and
          re.search(r"^#1 ", secs.get("sel", ""), re.M),
          "%s: coroutine ID: %s" % (label, secs.get("sel")))
    names = frame_names(secs.get("sel_bt", ""))
    check([n for n in names if not n.startswith("corolink_")] ==
          SUSPENDED["sock-reader"][2], "%s: bt of selected: %s"
          % (label, names))
    check("#0 " not in secs.get("sel_bt", ""), "%s: bt of selected shows #0"
          % label)
    check(re.search(r"^#\d+\s+.*(wait_on_socket|handle_conn)",
                    secs.get("sel_up", ""), re.M) is not None,
          "%s: up: %s" % (label, secs.get("sel_up")))
    # `up` stops at the root frame: nothing stale beyond it
    ut = secs.get("up_top", "")
    # (gdb shows the .dynsym name of a stripped library as
    # "corolink.trampoline")
    check(re.search(r"corolink(__|\.)trampoline", ut) is not None and "corolink_resume" not in ut and
          re.search(r"\bmain \(", ut) is None, "%s: up 100: %r" % (label, ut))
    check("Initial frame selected; you cannot go up" in
          secs.get("up_more", ""), "%s: up past the root: %r"
          % (label, secs.get("up_more")))
    check(parse_rows(secs.get("sel_info", "")).get("sock-reader", {})
          .get("star") == "*", "%s: selected coroutine not marked *" % label)
    if not stripped:
        check(re.search(r"^fd = 42$", secs.get("sel_locals", ""), re.M),
              "%s: info locals: %s" % (label, secs.get("sel_locals")))
        check(re.search(r"= 7$", secs.get("sel_print", ""), re.M),
              "%s: print request_no: %s" % (label, secs.get("sel_print")))
        check(re.search(r"^deadline_ms = 1500$", secs.get("sel2_locals", ""),
                        re.M), "%s: timer locals: %s"
              % (label, secs.get("sel2_locals")))
        check(re.search(r"= 0x1eaf$", secs.get("sel3_print", ""), re.M),
              "%s: print leaf_mark: %s" % (label, secs.get("sel3_print")))
    # back to the thread's stack
    names = frame_names(secs.get("back_bt", ""))
    check(names[:len(top)] == list(top) and "main" in names,
          "%s: after `coroutine`: %s" % (label, names))
    # The second thread may be stopped anywhere in its wait loop: in
    # t2_spin itself (which has no name in the stripped variant) or in
    # libc's sleep. Which thread it selected is checked just below.
    # Or wherever else the stop found the thread on its way through the
    # wait: libc's sleep and its cancellation points (named with libc's
    # debug information: __pthread_enable_asynccancel, __libc_do_syscall,
    # ...). What must hold is that the selection is that thread's innermost
    # frame: frame #0 of t2-inner's backtrace in `coroutine apply all bt`
    # at the same stop, which check_apply checks goes on through t2_spin
    # and t2_inner_body to thread2.
    run_sel = secs.get("run_sel", "")
    t2_bt = apply_blocks(secs.get("apply", "")).get("t2-inner", ("", ""))[1]
    t2_top = frame_names(t2_bt)[:1]
    check("t2_spin" in run_sel or "sleep" in run_sel or
          (t2_top and frame_names(run_sel)[:1] == t2_top) or
          (stripped and re.search(r"^#0 ", run_sel, re.M) is not None) or
          (ldso_syscall and re.search(_LDSO_SYSCALL, run_sel, re.M)
           is not None) or
          (libc_syscall and re.search(_LIBC_SYSCALL, run_sel, re.M)
           is not None),
          "%s: coroutine <running>: %s" % (label, run_sel))
    t2 = rows.get("t2-inner", {}).get("thread")
    check(re.search(r"Current thread is %s " % t2, secs.get("run_thread", ""))
          is not None, "%s: running coroutine did not select thread %s: %s"
          % (label, t2, secs.get("run_thread")))
    # the decorator in a plain bt
    pb = secs.get("plain_bt", "")
    check(re.search(r'^#\d+\s+\[coroutine %d "main-runner" resumed here\]'
                    % rows.get("main-runner", {}).get("id", -1), pb, re.M),
          "%s: no decorator in bt:\n%s" % (label, pb))
    check("<signal handler called>" not in pb,
          "%s: bt still shows <signal handler called>" % label)
    # The library's resume path (suspend timestamps route resumes through
    # corolink__resume_traced() and corolink__enter()) is left out: the
    # boundary is followed by the resumer's own frames, with timestamps as
    # without, and so in every running coroutine's backtrace.
    # (In a stripped library its frames would be "??": the frame after each
    # boundary must be the resumer's own.)
    for case in ("plain_bt", "apply"):
        names = frame_names(secs.get(case, ""))
        shown = [n for n in names if n in HIDDEN_FRAMES]
        check(not shown, "%s: %s shows the library's resume path: %s"
              % (label, case, names))
        for i, n in enumerate(names[:-1]):
            if n.startswith("[coroutine #"):
                check(names[i + 1] not in HIDDEN_FRAMES + ("??",),
                      "%s: %s: the boundary is followed by %s, not the "
                      "resumer: %s" % (label, case, names[i + 1], names))
    # errors: one line each
    for case, pat in (("err_id", r"^ERROR: corolink: no coroutine with id "
                                 r"999999$"),
                      ("err_info_id", r"^ERROR: corolink: no coroutine with "
                                      r"id 999999$"),
                      ("err_created", r"^ERROR: corolink: coroutine \d+ has "
                                      r"not started"),
                      ("err_finished", r"^ERROR: corolink: coroutine \d+ has "
                                       r"finished \(returned\)"),
                      ("err_state", r"^ERROR: corolink: unknown state"),
                      ("err_opt", r"^ERROR: corolink: unknown option"),
                      ("err_apply", r"^ERROR: corolink: no coroutine with id"),
                      ("err_apply_nocmd", r"^ERROR: corolink: coroutine "
                                          r"apply: no command")):
        s = secs.get(case, "")
        check(re.search(pat, s, re.M) is not None and
              len(s.strip().splitlines()) == 1,
              "%s: %s: %r" % (label, case, s))
    if not stripped:
        rg = r'0x[0-9a-f]+ \{id = %d, name = "timer", state = suspended, ' \
             r'stack = \[0x[0-9a-f]+, 0x[0-9a-f]+\), used \d+ of \d+\}' \
             % rows.get("timer", {}).get("id", -1)
        check(re.search(rg, secs.get("pp_co", "")),
              "%s: printer corolink *: %s" % (label, secs.get("pp_co")))
        check(re.search(rg, secs.get("pp_y", "")),
              "%s: printer corolink_yielder *: %s" % (label,
                                                      secs.get("pp_y")))
        check(re.search(r"= 0x0$", secs.get("pp_null", ""), re.M),
              "%s: printer NULL: %s" % (label, secs.get("pp_null")))
        check("not a corolink control block" in secs.get("pp_bad", ""),
              "%s: printer bad pointer: %s" % (label, secs.get("pp_bad")))


def mode_target(args, g):
    stripped = args.strip is not None
    program = args.program
    env = dict(os.environ)
    pre_env = []
    if stripped:
        d = os.path.join(args.workdir, "stripped")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        real = os.path.realpath(args.lib)
        lib = os.path.join(d, os.path.basename(real))
        shutil.copy(real, lib)
        prog = os.path.join(d, os.path.basename(program))
        shutil.copy(program, prog)
        subprocess.check_call([args.strip, "--strip-all", lib, prog])
        # --lib is the SONAME link (libcorolink.so.<ABI version>): the
        # loader looks the copy up by its name.
        os.symlink(os.path.basename(real),
                   os.path.join(d, os.path.basename(args.lib)))
        program = prog
        pre_env = ["set environment LD_LIBRARY_PATH=" + d]
        out = subprocess.check_output(["readelf", "-S", lib],
                                      universal_newlines=True)
        check(".symtab" not in out and ".debug_info" not in out,
              "the stripped library still has symbols")
    core = os.path.join(args.workdir, "core.%s" % args.variant)
    if os.path.exists(core):
        os.unlink(core)
    cases = target_cases(stripped)
    cases_live = cases + [("solib", "info sharedlibrary corolink"),
                          ("gcore", "gcore " + core)]
    # untimed: no suspend timestamps, so resumes are inline (timed, the
    # default, routes them through the library's resume path, which bt
    # hides: both are checked)
    set_args = ["set args untimed"] if args.untimed else []
    out, secs = g.run([program],
                      pre=pre_env + set_args + ["break test_ready", "run"],
                      cases=cases_live, post=["kill"], label="live")
    check_target("live", secs, True, stripped, timed=not args.untimed)
    if stripped:
        check(os.path.join(args.workdir, "stripped") in secs.get("solib", ""),
              "live: not running with the stripped library: %s"
              % secs.get("solib"))
    if not check(os.path.exists(core), "no core file written"):
        return
    out, secs = g.run([program, core], cases=cases, label="core")
    check_target("core", secs, False, stripped, timed=not args.untimed)


def mode_errors(args, g):
    cases = [("info", "info coroutines"), ("sel", "coroutine 1"),
             ("apply", "coroutine apply all bt"), ("bt", "bt")]
    out, secs = g.run([args.no_corolink], pre=["break test_ready", "run"],
                      cases=cases, post=["kill"], label="no-corolink")
    for c in ("info", "sel", "apply"):
        s = secs.get(c, "")
        check(re.match(r"^ERROR: corolink: this program does not use "
                       r"corolink", s) is not None and
              len(s.strip().splitlines()) == 1,
              "no-corolink: %s: %r" % (c, s))
    check("test_ready" in secs.get("bt", ""), "no-corolink: bt broken")
    # no process at all
    out, secs = g.run([args.no_corolink], cases=[("noproc",
                                                  "info coroutines")],
                      label="no-process")
    check(secs.get("noproc", "").strip() ==
          "ERROR: corolink: no process or core file",
          "no process: %r" % secs.get("noproc"))
    # corruption of the registry, done by the test through gdb
    # the table's target description (unwind-info/debug-table.md): a
    # version 1 table (what programs built against the first release
    # export) is read as x86-64's; a target the plugin does not know, or
    # another architecture than gdb's, is one clear error
    def table_set(off, fmt, value):
        return ("python gdb.selected_inferior().write_memory(int("
                "gdb.parse_and_eval('(unsigned long)&corolink_debug_offsets'))"
                " + %d, struct.pack('%s', %d)); _clear_table_cache()"
                % (off, fmt, value))
    corrupt = [
        ("ok", "info coroutines"),
        ("t_v1", table_set(0x08, "<Q", (0xc8 << 32) | 1)),
        ("v1_info", "info coroutines"),
        ("v1_target", "python print('V1 %s %s %s' % (_table().version, "
                      "_table().target, _table().sp_reg))"),
        ("v1_apply", "coroutine apply {{sock-reader}} {{main-runner}} bt"),
        ("t_v2", table_set(0x08, "<Q", (0x120 << 32) | 2)),
        ("t_em", table_set(0xe8, "<I", 20)),
        ("em_info", "info coroutines"),
        ("t_arch", table_set(0xe8, "<I", 183)),
        ("arch_info", "info coroutines"),
        ("t_reg", table_set(0xe8, "<Q", (99 << 32) | 62)),
        ("reg_info", "coroutine 1"),
        # pointer sizes (0x14): i386's tables have 4-byte pointers; an
        # i386 table read under x86-64 is another architecture
        ("t_i386", table_set(0xe8, "<Q", (8 << 32) | 3)),
        ("t_i386_ra", table_set(0xf8, "<I", 8)),
        ("i386_info", "info coroutines"),
        ("t_ptr4", table_set(0x14, "<I", 4)),
        ("i386_arch_info", "info coroutines"),
        ("t_ptr4_x86", table_set(0xe8, "<Q", (16 << 32) | 62)),
        ("ptr4_info", "info coroutines"),
        ("t_ptr8", table_set(0x14, "<I", 8)),
        ("t_ra16", table_set(0xf8, "<I", 16)),
        ("t_ok", table_set(0xe8, "<Q", (16 << 32) | 62)),
        ("ok2", "info coroutines"),
        # a wild pointer in a slot, and a bad check word
        ("w1", "python _c = coroutines(); _t = _table(); "
               "gdb.execute('set var *(unsigned long *)%d = 0x10000' % "
               "[a for a in _slot_addrs(_t)][0]); "
               "gdb.execute('set var *(unsigned long *)%d = 0' % "
               "(_c[1].addr + _t.off_check))"),
        ("bad", "info coroutines"),
        # a cycle in the chunk list
        ("w2", "python _t = _table(); _ch = _u64(_t.registry); "
               "_l = _last_chunk(_t); "
               "gdb.execute('set var *(unsigned long *)%d = %d' % "
               "(_l + _t.chunk_off_next, _ch))"),
        ("cycle", "info coroutines"),
        ("cycle_apply", "coroutine apply all -q p 1"),
        # a wild chunk pointer
        ("w3", "python _t = _table(); "
               "gdb.execute('set var *(unsigned long *)%d = 0xdead0000' % "
               "_t.registry)"),
        ("wild", "info coroutines"),
        ("wild_sel", "coroutine 1"),
    ]
    helper = os.path.join(args.workdir, "slots.py")
    with open(helper, "w") as f:
        f.write("def _slot_addrs(t):\n"
                "    ch = _u64(t.registry)\n"
                "    n = _u64(ch + t.chunk_off_nslots)\n"
                "    for i in range(n):\n"
                "        a = ch + t.chunk_off_slots + 8 * i\n"
                "        v = _u64(a)\n"
                "        if v and not v & t.slot_tag_mask:\n"
                "            yield a\n"
                "def _last_chunk(t):\n"
                "    ch = _u64(t.registry)\n"
                "    while _u64(ch + t.chunk_off_next):\n"
                "        ch = _u64(ch + t.chunk_off_next)\n"
                "    return ch\n")
    out, secs = g.run([args.program], pre=["source " + helper,
                                           "break test_ready", "run"],
                      cases=corrupt, post=["kill"], label="corrupt")
    n_ok = len(parse_rows(secs.get("ok", "")))
    for case in ("t_v1", "t_v2", "t_em", "t_arch", "t_reg", "t_ok"):
        check(secs.get(case, "?").strip() == "", "table write %s: %r"
              % (case, secs.get(case)))

    def rows_of(case):      # the rows without the (changing) ages
        return dict((n, (r["id"], r["state"], r["thread"], r["entry"],
                         r["rest"].split("  ")[0]))
                    for n, r in parse_rows(secs.get(case, "")).items())
    check(n_ok >= 10 and rows_of("v1_info") == rows_of("ok"),
          "version 1 table: %s" % secs.get("v1_info"))
    check("V1 1 x86_64-sysv-elf rsp" in secs.get("v1_target", ""),
          "version 1 table: %r" % secs.get("v1_target"))
    v1a = frame_names(secs.get("v1_apply", ""))
    check([n for n in v1a if not n.startswith("corolink_")][:3] ==
          SUSPENDED["sock-reader"][2] and in_order(
              v1a, RUNNING["main-runner"][1]),
          "version 1 table: apply: %s" % v1a)
    for case, pat in (
            ("em_info", r"^ERROR: corolink: unsupported target "
                        r"'x86_64-sysv-elf' \(ELF machine 20\) in the debug "
                        r"table: this plugin knows x86-64, AArch64, RISC-V 64, i386, ARM32$"),
            ("arch_info", r"^ERROR: corolink: the debug table describes "
                          r"AArch64 \(x86_64-sysv-elf\) but gdb debugs "
                          r"i386:x86-64$"),
            ("reg_info", r"^ERROR: corolink: bad debug table at 0x[0-9a-f]+: "
                         r"pc register 99 is not a x86-64 register$"),
            ("i386_info", r"^ERROR: corolink: bad debug table at "
                          r"0x[0-9a-f]+: pointer size 8 for i386 \(4\)$"),
            ("i386_arch_info", r"^ERROR: corolink: the debug table describes "
                               r"i386 \(x86_64-sysv-elf\) but gdb debugs "
                               r"i386:x86-64$"),
            ("ptr4_info", r"^ERROR: corolink: bad debug table at "
                          r"0x[0-9a-f]+: pointer size 4 for x86-64 \(8\)$")):
        s = secs.get(case, "")
        check(re.match(pat, s) is not None and len(s.splitlines()) == 1,
              "table: %s: %r" % (case, s))
    check(rows_of("ok2") == rows_of("ok"),
          "table restored: %s" % secs.get("ok2"))
    n_bad = len(parse_rows(secs.get("bad", "")))
    check(n_ok >= 10 and n_bad == n_ok - 2, "corrupt: %d rows, then %d"
          % (n_ok, n_bad))
    check("warning: corolink: 2 registry slot(s) do not hold a valid control "
          "block" in secs.get("bad", ""), "corrupt: no warning: %s"
          % secs.get("bad"))
    check("has a cycle" in secs.get("cycle", "") and
          len(parse_rows(secs.get("cycle", ""))) == n_bad,
          "corrupt: cycle: %s" % secs.get("cycle"))
    s = secs.get("wild", "")
    check("cannot read" in s and "Traceback" not in s,
          "corrupt: wild chunk pointer: %r" % s)
    check(secs.get("wild_sel", "").startswith("ERROR: corolink:") or
          "cannot read" in secs.get("wild_sel", ""),
          "corrupt: coroutine 1 after wild pointer: %r"
          % secs.get("wild_sel"))


# ---------------------------------------------------------------------------
# damage: the test damages control blocks and the registry of the stopped
# target through the debug-offsets table (unwind-info/debug-table.md: its
# own decoding, not the plugin's), then checks every command, live and on
# the gcore core of the damaged process.

DAMAGE_HELPER = r'''
import gdb
import struct

_T = {  # field: (offset, format), from unwind-info/debug-table.md
    "magic": (0x00, "8s"), "version": (0x08, "<I"), "off_pc": (0x1c, "<I"),
    "off_sp": (0x20, "<I"), "off_fp": (0x24, "<I"), "off_id": (0x34, "<I"),
    "off_name": (0x38, "<I"), "name_size": (0x3c, "<I"),
    "off_stack_limit": (0x40, "<I"), "off_guard": (0x48, "<I"),
    "registry": (0x98, "<Q"),
    "chunk_off_next": (0xa0, "<I"), "chunk_off_nslots": (0xa4, "<I"),
    "chunk_off_slots": (0xa8, "<I"), "slot_tag_mask": (0xb0, "<Q"),
}


def _rd(a, n):
    return bytes(gdb.selected_inferior().read_memory(a, n))


def _u64(a):
    return struct.unpack("<Q", _rd(a, 8))[0]


def _put(a, v):
    gdb.selected_inferior().write_memory(a, struct.pack("<Q", v))


def _dmg_table():
    a = int(gdb.parse_and_eval("(unsigned long)&corolink_debug_offsets"))
    raw = _rd(a, 0xc8)
    t = dict((k, struct.unpack_from(f, raw, o)[0]) for k, (o, f) in _T.items())
    assert t["magic"] == b"CLNKDBG\0" and t["version"] >= 1
    return t


def _dmg_registry(t):
    out = []
    ch = _u64(t["registry"])
    while ch:
        n = _u64(ch + t["chunk_off_nslots"])
        base = ch + t["chunk_off_slots"]
        out += [(base + 8 * i, _u64(base + 8 * i)) for i in range(n)]
        ch = _u64(ch + t["chunk_off_next"])
    return out


def _damage():
    t = _dmg_table()
    b = {}
    for slot, v in _dmg_registry(t):
        if v == 0 or v & t["slot_tag_mask"]:
            continue
        nm = _rd(v + t["off_name"], t["name_size"]).split(b"\0")[0].decode()
        b[nm] = dict(addr=v, slot=slot, id=_u64(v + t["off_id"]),
                     pc=_u64(v + t["off_pc"]), sp=_u64(v + t["off_sp"]),
                     fp=_u64(v + t["off_fp"]),
                     limit=_u64(v + t["off_stack_limit"]),
                     guard=_u64(v + t["off_guard"]))

    def expect(n, what):
        gdb.write("EXPECT %s\t\tcorolink: coroutine %d \"%s\" (control block "
                  "0x%x): %s\n" % (n, b[n]["id"], n, b[n]["addr"], what))

    # a saved pc outside all code
    co = b["sock-reader"]
    _put(co["addr"] + t["off_pc"], 0x4141414141414141)
    expect("sock-reader", "saved pc 0x4141414141414141 is outside every "
           "code section")
    # a saved sp in the guard region below the coroutine's stack: named a
    # stack overflow (a watched zone, which nothing protects, can hold it)
    co = b["timer"]
    _put(co["addr"] + t["off_sp"], co["limit"] - 64)
    expect("timer", "saved sp 0x%x is outside its stack [0x%x, 0x%x): a "
           "stack overflow, 64 bytes into the %d-byte guard region below it"
           % (co["limit"] - 64, co["limit"], co["addr"], co["guard"]))
    # a frame pointer chain pointing to itself: fp = X, *X = X, X[1] = the
    # return address the innermost frame holds (the -O0 build has frame
    # pointers: CFA = rbp + 16, so every frame from #2 on has sp X + 16)
    co = b["worker-0"]
    ra = _u64(co["fp"] + 8)
    x = (co["sp"] + 16) & ~7
    assert x + 16 < co["addr"]
    _put(x, x)
    _put(x + 8, ra)
    _put(co["addr"] + t["off_fp"], x)
    expect("worker-0", "the frame chain loops at sp 0x%x" % (x + 16))
    # a chain leaving the stack: fp = a word in another coroutine's unused
    # stack whose return address slot points into code
    co = b["worker-1"]
    y = b["fresh"]["addr"] - 512
    _put(y, 0)
    _put(y + 8, ra)
    _put(co["addr"] + t["off_fp"], y)
    expect("worker-1", "the frame chain leaves its stack [0x%x, 0x%x) at sp "
           "0x%x" % (co["limit"], co["addr"], y + 16))
    # one control block copied into every free slot (up to 4096 in all)
    co = b["worker-2"]
    free = [a for a, v in _dmg_registry(t)
            if v == 0 or v & t["slot_tag_mask"]][:4095]
    for a in free:
        _put(a, co["addr"])
    slots = sorted([co["slot"]] + free)
    expect("worker-2", "in %d registry slots (%s, ...), listed once"
           % (len(slots), ", ".join("0x%x" % a for a in slots[:3])))
'''

# worker-2's control block is in 4096 slots: a damaged registry, its line
# instead of its frames too
DAMAGED = ("sock-reader", "timer", "worker-0", "worker-1", "worker-2")


def damage_cases():
    return [
        ("info", "info coroutines"),
        ("group", "info coroutines -group"),
        ("sel_pc", "coroutine {{sock-reader}}"),
        ("sel_sp", "coroutine {{timer}}"),
        ("sel_loop", "coroutine {{worker-0}}"),
        ("sel_leave", "coroutine {{worker-1}}"),
        ("sel_dup", "coroutine {{worker-2}}"),
        ("back", "coroutine"),
        ("apply", "coroutine apply all bt"),
        ("sel_ok", "coroutine {{t2-parked}}"),
        ("sel_ok_bt", "bt"),
    ]


def check_damage(label, secs, want):
    check(len(want) == 5, "%s: expected lines %s" % (label, want))
    info = secs.get("info", "")
    lines = info.splitlines()
    rows = parse_rows(info)
    for n, line in want.items():
        check(lines.count(line) == 1, "%s: info: no line %r:\n%s"
              % (label, line, info))
    for n in DAMAGED:
        check(rows.get(n, {}).get("rest", "").startswith("<damaged>"),
              "%s: info: %s row %s" % (label, n, rows.get(n)))
    check(len([l for l in lines if ROW.match(l)]) == 11 and
          sorted(rows) == sorted(list(SUSPENDED) + list(RUNNING) +
                                 ["fresh", "done"]),
          "%s: info: rows %s" % (label, sorted(rows)))
    for n in ("t2-parked",):
        where = SUSPENDED[n][1]
        rest = rows.get(n, {}).get("rest", "")
        check(re.match(re.escape(where) + r"\b", rest) is not None,
              "%s: info: %s where %r" % (label, n, rows.get(n)))
    for n in RUNNING:
        check(rows.get(n, {}).get("thread") is not None,
              "%s: info: %s has no thread" % (label, n))
    g = secs.get("group", "")
    for n, line in want.items():
        check(g.splitlines().count(line) == 1, "%s: -group: no line %r"
              % (label, line))
    check(re.search(r"^1\s+suspended\s+t2_parked_body\s+park_leaf\b", g,
                    re.M), "%s: -group: no t2-parked group" % label)
    for n in DAMAGED:
        check(not re.search(r"^\d+\s+suspended\s.*\b%d$"
                            % rows.get(n, {}).get("id", -1), g, re.M),
              "%s: -group: %s grouped" % (label, n))
    # coroutine ID: one clean error line
    for case, n in (("sel_pc", "sock-reader"), ("sel_sp", "timer"),
                    ("sel_loop", "worker-0"), ("sel_leave", "worker-1"),
                    ("sel_dup", "worker-2")):
        check(secs.get(case, "").strip() == "ERROR: " + want.get(n, "?"),
              "%s: %s: %r" % (label, case, secs.get(case)))
    names = [n for n in frame_names(secs.get("sel_ok_bt", ""))
             if not n.startswith("corolink_")]
    check(names == SUSPENDED["t2-parked"][2], "%s: t2-parked bt %s"
          % (label, names))
    # coroutine apply all bt: one line for each damaged one, the others'
    # frames as usual
    text = secs.get("apply", "")
    blocks = re.split(r'^\nCoroutine (\d+) "([^"]*)" \(([^)]*)\):\n',
                      "\n" + text, flags=re.M)
    got = {}
    for i in range(1, len(blocks) - 3 + 1, 4):
        got[blocks[i + 1]] = blocks[i + 3]
    for n in DAMAGED:
        check(got.get(n, "").strip() == want.get(n),
              "%s: apply: %s: %r" % (label, n, got.get(n)))
    for n in ("t2-parked",):
        names = [x for x in frame_names(got.get(n, ""))
                 if not x.startswith("corolink_")]
        check(names == SUSPENDED[n][2], "%s: apply: %s frames %s"
              % (label, n, names))
    for n, (_, frames) in RUNNING.items():
        check(in_order(frame_names(got.get(n, "")), frames),
              "%s: apply: %s frames %s" % (label, n,
                                           frame_names(got.get(n, ""))))
    check("0x4141414141414131" not in text and "0x41414141" not in
          text.replace(want.get("sock-reader", "?"), ""),
          "%s: apply printed a garbage frame" % label)


def mode_damage(args, g):
    helper = os.path.join(args.workdir, "damage.py")
    with open(helper, "w") as f:
        f.write(DAMAGE_HELPER)
    core = os.path.join(args.workdir, "core.damaged")
    if os.path.exists(core):
        os.unlink(core)
    out, secs = g.run([args.program],
                      pre=["source " + helper, "break test_ready", "run"],
                      cases=[("damage", "python _damage()")] +
                      damage_cases() + [("gcore", "gcore " + core)],
                      post=["kill"], label="damage-live")
    want = dict(m.groups() for m in
                re.finditer(r"^EXPECT (\S+)\t\t(.*)$", secs.get("damage", ""),
                            re.M))
    for line in want.values():
        print("expected: " + line)
    check_damage("live", secs, want)
    if not check(os.path.exists(core), "damage: no core file written"):
        return
    out, secs = g.run([args.program, core], cases=damage_cases(),
                      label="damage-core")
    check_damage("core", secs, want)
    os.unlink(core)


def sections(path):
    return subprocess.check_output(["readelf", "-W", "-S", path],
                                   universal_newlines=True)


def mode_autoload(args, g):
    if args.embedded == "on":
        autoload_embedded(args, g)
    else:
        # The default build embeds nothing: a default gdb session on a
        # program linked with the library prints nothing about auto-loading
        # (gdb warns about every script outside its safe-path).
        check(".debug_gdb_scripts" not in sections(os.path.realpath(args.lib)),
              ".debug_gdb_scripts in the library (COROLINK_GDB_EMBED=OFF)")
        if args.static_program:
            check(".debug_gdb_scripts" not in sections(args.static_program),
                  ".debug_gdb_scripts in the static program")
        out, secs = g.run([args.program], source=False, autoload_off=False,
                          pre=["break test_ready", "run"],
                          cases=[("scripts", "info auto-load python-scripts")],
                          post=["kill"], label="autoload-default")
        noise = [l for l in out.splitlines()
                 if re.search(r"auto-load|declined|safe-path", l) and
                 not l.startswith(("tcase", "@@@", "No auto-load"))]
        check(not noise, "default session warns:\n" + "\n".join(noise))
    autoload_installed(args, g)


def autoload_embedded(args, g):
    libdir = os.path.dirname(os.path.realpath(args.lib))
    check(".debug_gdb_scripts" in sections(os.path.realpath(args.lib)),
          "no .debug_gdb_scripts in the library")
    # A static link carries it too (src/gdb_autoload.S's anchor).
    if args.static_program:
        check(".debug_gdb_scripts" in sections(args.static_program),
              "no .debug_gdb_scripts in the static program")
    # the inline script, allowed by the safe-path
    out, secs = g.run([args.program], source=False, autoload_off=False,
                      iex=["add-auto-load-safe-path " + libdir],
                      pre=["break test_ready", "run"],
                      cases=[("scripts", "info auto-load python-scripts"),
                             ("info", "info coroutines")],
                      post=["kill"], label="autoload-inline")
    check(re.search(r"Yes\s+corolink-gdb\.py", secs.get("scripts", "")),
          "inline script not loaded: %s" % secs.get("scripts"))
    check("sock-reader" in secs.get("info", ""), "autoload: info coroutines: %s"
          % secs.get("info"))
    # the default safe-path declines it (and says how to allow it)
    out, secs = g.run([args.program], source=False, autoload_off=False,
                      iex=["set auto-load safe-path /nonexistent"],
                      pre=["break test_ready", "run"],
                      cases=[("scripts", "info auto-load python-scripts")],
                      post=["kill"], label="autoload-declined")
    check("declined" in out, "safe-path did not decline the inline script")


def autoload_installed(args, g):
    # the installed file: share/gdb/auto-load/<abs libdir>/<real name>-gdb.py
    prefix = os.path.join(args.workdir, "prefix")
    shutil.rmtree(prefix, ignore_errors=True)
    subprocess.check_call([args.cmake, "--install", args.build_dir,
                           "--prefix", prefix], stdout=subprocess.DEVNULL)
    found = []
    for root, _, files in os.walk(os.path.join(prefix, "share", "gdb",
                                               "auto-load")):
        for f in files:
            found.append(os.path.join(root, f))
    want_lib = os.path.basename(os.path.realpath(args.lib))
    installed = [f for f in found if f.endswith("/" + want_lib + "-gdb.py")]
    check(len(installed) == 1, "installed auto-load file: %s" % found)
    if installed:
        rel = os.path.relpath(os.path.dirname(installed[0]),
                              os.path.join(prefix, "share", "gdb",
                                           "auto-load"))
        libs = [os.path.join(r, f) for r, _, fs in os.walk(prefix)
                for f in fs if f == want_lib]
        check(libs and "/" + rel == os.path.dirname(libs[0]),
              "auto-load dir %s does not name the installed library's "
              "directory (%s)" % (rel, libs))
        with open(installed[0]) as a, open(args.plugin) as b:
            check(a.read() == b.read(), "installed script differs")
        # gdb loads it for the installed library
        out, secs = g.run([], source=False, autoload_off=False,
                          iex=["set auto-load scripts-directory " +
                               os.path.join(prefix, "share", "gdb",
                                            "auto-load"),
                               "set auto-load safe-path " + prefix],
                          pre=["file " + libs[0]],
                          cases=[("scripts", "info auto-load python-scripts"),
                                 ("help", "help info coroutines")],
                          label="autoload-installed")
        check(re.search(r"Yes\s+\S*%s-gdb\.py" % re.escape(want_lib),
                        secs.get("scripts", "")),
              "installed script not loaded: %s" % secs.get("scripts"))


def mode_scale(args, g):
    out, secs = g.run([args.program], pre=["break test_ready", "run"],
                      cases=[("t0", "python _t0 = time.monotonic()"),
                             ("group", "info coroutines -group"),
                             ("t1", "python print('TIME %.2f' % "
                                    "(time.monotonic() - _t0))"),
                             ("t2", "python _t0 = time.monotonic()"),
                             ("list", "info coroutines -state suspended "
                                      "-name ^$ 1-20"),
                             ("t3", "python print('TIME %.2f' % "
                                    "(time.monotonic() - _t0))")],
                      post=["kill"], label="scale")
    gtext = secs.get("group", "")
    groups = sorted((m.group(2), int(m.group(1))) for m in re.finditer(
        r"^(\d+)\s+suspended\s+scale_body\s+(\w+)", gtext, re.M))
    check(groups == [("scale_leaf", 25000), ("scale_leaf", 25000),
                     ("scale_wait_a", 25000), ("scale_wait_b", 25000)],
          "scale: groups %s:\n%s" % (groups, gtext[:2000]))
    # the two scale_leaf groups differ only in their callers (same pc and
    # offsets): each group's stack names its own
    stacks = re.findall(r"^25000 coroutines \(suspended\) with stack:\n"
                        r"((?:  .*\n)+)", gtext, re.M)
    callers = sorted(f for st in stacks for f in ("scale_from_c",
                                                   "scale_from_d")
                     if re.search(r"^  %s\b" % f, st, re.M))
    check(callers == ["scale_from_c", "scale_from_d"],
          "scale: the scale_leaf groups' callers %s:\n%s"
          % (callers, gtext[:2000]))
    tm = re.search(r"TIME (\S+)", secs.get("t1", ""))
    print("scale: info coroutines -group of 100000 coroutines took %s s"
          % (tm.group(1) if tm else "?"))
    tm = re.search(r"TIME (\S+)", secs.get("t3", ""))
    print("scale: info coroutines (20 ids) took %s s"
          % (tm.group(1) if tm else "?"))
    check(len(re.findall(r"^\*?\s+\d+\s+suspended\s", secs.get("list", ""),
                         re.M)) == 20,
          "scale: 20 ids: %s" % secs.get("list"))


# ---------------------------------------------------------------------------
# qemu_live, qemu_core (cross builds): the target runs under qemu-user
# (--emulator: CMAKE_CROSSCOMPILING_EMULATOR, words joined by "|"), which
# cannot be ptraced as the guest: gdb-multiarch debugs it through qemu's gdb
# stub, or reads the core qemu writes of the guest on a fatal signal.
#
# The target runs "untimed" (no suspend timestamps): with them, every
# resume goes through the library's out-of-line resume, whose frames sign
# their return addresses (the library is built with
# -mbranch-protection=standard), and gdb strips pointer-authentication
# codes only when the target says how (the pauth feature of the target
# description, the PAC mask note of a core); qemu 7.2's stub and cores do
# neither, so gdb would lose the resumer chain there (gdb/README.md,
# "Limits"). The program itself is built without branch protection.

def _emulator():
    """The emulator's words, and its library prefix (-L) or None."""
    emu = args_emulator = ARGS.emulator.split("|")
    prefix = None
    if "-L" in emu and emu.index("-L") + 1 < len(emu):
        prefix = emu[emu.index("-L") + 1]
        # The prefix's ld.so would find the host's multiarch libc
        # (/lib/<triple>/libc.so.6, another glibc build) before the
        # prefix's own: the two disagree and pthread_create() never
        # returns. Put the prefix's libraries first.
        args_emulator = emu + ["-E", "LD_LIBRARY_PATH=%s/lib" % prefix]
    return args_emulator, prefix


def _gdb_paths(prefix):
    """gdb settings that find the target's libraries: the emulator's
    library prefix as sysroot, the library under test by its directory."""
    iex = []
    dirs = [os.path.dirname(os.path.realpath(ARGS.lib))]
    if prefix:
        iex.append("set sysroot " + prefix)
        dirs.append(os.path.join(prefix, "lib"))
    else:
        # the host's multiarch libraries (qemu without -L runs the guest
        # on them), read from the local file system
        iex.append("set sysroot /")
    iex.append("set solib-search-path " + ":".join(dirs))
    return iex


def _free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _check_machine(label, secs):
    """The plugin read the target's description from the table."""
    m = re.search(r"TARGET (\S+) (\d+) (\S+) (\S+) (\S+)",
                  secs.get("target", ""))
    if not check(m is not None, "%s: no target description: %r"
                 % (label, secs.get("target"))):
        return
    print("%s: table target %s, ELF machine %s, registers pc %s sp %s fp %s"
          % ((label,) + m.groups()))
    want = {"aarch64": ("aarch64-aapcs-elf", "183", "pc", "sp", "x29"),
            "i686": ("i386-sysv-elf", "3", "eip", "esp", "ebp"),
            "arm": ("arm-aapcs-elf", "40", "pc", "sp", "r7"),
            "riscv64": ("riscv64-lp64d-elf", "243", "pc", "sp", "s0")}
    w = want.get(ARGS.machine)
    if w is not None:
        check(m.groups() == w, "%s: target description %s, want %s"
              % (label, m.groups(), w))


_TARGET_CASE = ("target", "python t = _table(); print('TARGET %s %d %s %s %s'"
                " % (t.target, t.elf_machine, t.pc_reg, t.sp_reg, t.fp_reg))")


def mode_qemu_live(args, g):
    emu, prefix = _emulator()
    port = _free_port()
    q = subprocess.Popen(emu + ["-g", str(port), args.program, "untimed"],
                         stdout=subprocess.DEVNULL)
    try:
        # gdb retries the connection until qemu listens (tcp auto-retry,
        # up to connect-timeout seconds)
        out, secs = g.run([args.program],
                          iex=_gdb_paths(prefix) +
                          (["set tdesc filename " + args.tdesc]
                           if args.tdesc else []) +
                          ["set tcp connect-timeout 120"],
                          pre=["target remote 127.0.0.1:%d" % port,
                               "break test_ready", "continue"],
                          cases=[_TARGET_CASE] + target_cases(False),
                          post=["kill"], label="qemu-live")
        check("Breakpoint 1, test_ready" in out or
              re.search(r"hit Breakpoint 1, test_ready", out),
              "qemu-live: did not stop in test_ready")
        q.wait(timeout=60)
    finally:
        if q.poll() is None:
            q.kill()
            q.wait()
    _check_machine("qemu-live", secs)
    check_target("qemu-live", secs, False, False, timed=False,
                 ldso_syscall=args.machine == "i686",
                 libc_syscall=args.machine == "arm")


# i686 under qemu-i386: glibc enters the kernel through the AT_SYSINFO
# entry, which qemu-i386 (no vDSO) leaves at ld.so's _dl_sysinfo_int80
# (int $0x80; ret), a local symbol Debian strips: a thread in a system
# call has a nameless frame #0 in ld.so above its libc function.
_LDSO_SYSCALL = r"^#0 .* in \?\? \(\) from \S*/ld-linux\.so\.2$"
# ARM32: glibc's cancellable system calls go through a local function of
# libc (Debian strips its symbol): a thread in one has a nameless frame #0
# in libc above its libc function, e.g. nanosleep (gdb unwinds past it
# with libc's EHABI table). With libc's debug information installed
# (libc6-dbg:armhf) gdb names it: __libc_do_syscall.
_LIBC_SYSCALL = (r"^#0 .* in \?\? \(\) from \S*/libc\.so\.6$|"
                 r"^#0\s+(0x[0-9a-f]+ in )?__libc_do_syscall \(")


def mode_qemu_core(args, g):
    emu, prefix = _emulator()
    wd = os.path.join(args.workdir, "qemu")
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    # With kernel.core_pattern "core", the kernel would also dump qemu
    # itself (hundreds of MB) as it dies of the signal: a directory of that
    # name makes that fail; qemu's own file of the guest has another name.
    os.mkdir(os.path.join(wd, "core"))
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        raise SystemExit("RLIMIT_CORE's hard limit is 0: qemu cannot write "
                         "the core")

    def limits():
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

    env = None
    if args.self_core:
        # RISC-V: qemu 7.2 writes no core of a RISC-V guest; the program
        # writes its own on SIGQUIT, in the kernel's format
        # (tests/common/self_core.h)
        env = dict(os.environ, COROLINK_TEST_SELF_CORE="1")
    p = subprocess.Popen(emu + [args.program, "core"] +
                         ([] if args.timed else ["untimed"]), cwd=wd,
                         stdout=subprocess.DEVNULL, preexec_fn=limits,
                         env=env)
    try:
        p.wait(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(p.returncode == -signal.SIGQUIT,
          "qemu-core: exit status %s, want SIGQUIT" % p.returncode)
    pattern = "self_*_%d.core" if args.self_core else "qemu_*_%d.core"
    cores = glob.glob(os.path.join(wd, pattern % p.pid))
    if not check(len(cores) == 1, "qemu-core: no core of the target (%s)"
                 % os.listdir(wd)):
        return
    print("core: %s (%d bytes)" % (cores[0], os.path.getsize(cores[0])))
    if args.self_core:
        print("(written by the program itself, in the kernel's format: "
              "qemu 7.2 writes no core of a RISC-V guest)")
    if args.timed:
        # Timestamps on: every resume goes through the library's
        # out-of-line resume, whose frames sign their return addresses;
        # gdb cannot strip them from a qemu core (no PAC mask note), so
        # a running coroutine's backtrace ends in the resume, cleanly. The
        # rest is as usual.
        cases = [_TARGET_CASE, ("info", "info coroutines"),
                 ("apply", "coroutine apply all bt")]
        out, secs = g.run([args.program, cores[0]], iex=_gdb_paths(prefix),
                          cases=cases, label="qemu-core-timed")
        _check_machine("qemu-core-timed", secs)
        check_info("qemu-core-timed", secs.get("info", ""), False, False)
        # (only AArch64 signs return addresses: the other targets'
        # backtraces go on to main)
        check_apply("qemu-core-timed", secs.get("apply", ""),
                    to_boundary=args.machine == "aarch64")
        os.unlink(cores[0])
        return
    out, secs = g.run([args.program, cores[0]], iex=_gdb_paths(prefix),
                      cases=[_TARGET_CASE] + target_cases(False),
                      label="qemu-core")
    _check_machine("qemu-core", secs)
    i686 = args.machine == "i686"
    check_target("qemu-core", secs, False, False, timed=False,
                 top=(("??",) if i686 else ()) + ("kill", "test_ready"),
                 ldso_syscall=i686, libc_syscall=args.machine == "arm")
    if args.self_core:
        # the program's own core: gdb reads its notes as a kernel's (the
        # signal from NT_PRSTATUS, both threads, the command line from
        # NT_PRPSINFO)
        check("Program terminated with signal SIGQUIT" in out,
              "qemu-core: self-written core: no SIGQUIT in gdb's output")
        check(re.search(r"\[New LWP \d+\]\s*\n\[New LWP \d+\]", out) is not None,
              "qemu-core: self-written core: not two threads")
        # (the kernel keeps ELF_PRARGSZ - 1 = 79 bytes of the command line,
        # NULs made spaces, and BFD drops one trailing space: a checkout
        # with a long path gives a cut command line)
        cmdline = ("%s core untimed" % args.program)[:79]
        if cmdline.endswith(" "):
            cmdline = cmdline[:-1]
        check("Core was generated by `%s'." % cmdline in out,
              "qemu-core: self-written core: command line (expected `%s')"
              % cmdline)
    os.unlink(cores[0])


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--gdb", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("mode", choices=["target", "errors", "autoload", "scale",
                                     "damage", "qemu_live", "qemu_core"])
    ap.add_argument("--emulator", help="qemu_*: the emulator's words, "
                    "joined by |")
    ap.add_argument("--tdesc", help="qemu_live: a target description for "
                    "gdb (gdb/i386-linux-qemu.xml for qemu-i386's stub)")
    ap.add_argument("--machine", help="qemu_*: the target's processor "
                    "(CMAKE_SYSTEM_PROCESSOR)")
    ap.add_argument("--self-core", action="store_true", help="qemu_core: "
                    "the program writes its own core (COROLINK_TEST_SELF_CORE;"
                    " RISC-V, of which qemu 7.2 writes none)")
    ap.add_argument("--timed", action="store_true", help="qemu_core: with "
                    "suspend timestamps (see mode_qemu_core)")
    ap.add_argument("--program")
    ap.add_argument("--variant", default="x")
    ap.add_argument("--strip")
    ap.add_argument("--untimed", action="store_true", help="target: run "
                    "the program without suspend timestamps")
    ap.add_argument("--lib")
    ap.add_argument("--no-corolink")
    ap.add_argument("--build-dir")
    ap.add_argument("--cmake")
    ap.add_argument("--embedded", choices=["on", "off"], default="off",
                    help="autoload: built with COROLINK_GDB_EMBED")
    ap.add_argument("--static-program", help="autoload: a program linked "
                    "with libcorolink.a")
    args = ap.parse_args()
    ARGS = args
    for a in ("program", "lib", "plugin"):
        if getattr(args, a):
            setattr(args, a, os.path.abspath(getattr(args, a)))
    if args.mode.startswith("qemu_") and not (args.emulator and args.lib):
        ap.error("%s needs --emulator and --lib" % args.mode)
    os.makedirs(args.workdir, exist_ok=True)
    g = Gdb(args)
    {"target": mode_target, "errors": mode_errors, "autoload": mode_autoload,
     "scale": mode_scale, "damage": mode_damage, "qemu_live": mode_qemu_live,
     "qemu_core": mode_qemu_core}[args.mode](args, g)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
