#!/usr/bin/env python3
"""gdb.static_stripped: the plugin on a program linked with libcorolink.a
and stripped with --strip-all (no symbols at all: the debug table is found
through its section, .corolink_debug), live and from a core file.

usage: static_stripped.py GDB PLUGIN PROGRAM STRIP WORKDIR"""
import os
import re
import shutil
import subprocess
import sys


def gdb(gdb_exe, plugin, args, cmds):
    argv = [gdb_exe, "-batch", "-nx", "-ex", "source " + plugin]
    for c in cmds:
        argv += ["-ex", c]
    out = subprocess.run(argv + args, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=120,
                         universal_newlines=True).stdout
    if "Traceback" in out:
        sys.exit("Python traceback from the plugin:\n" + out)
    return out


def check(label, out):
    rows = re.findall(r'^\s*\d+\s+suspended\s+"(alpha|beta)"', out, re.M)
    if sorted(rows) != ["alpha", "beta"]:
        sys.exit("%s: info coroutines did not list alpha and beta "
                 "suspended:\n%s" % (label, out))
    blocks = re.split(r"^Coroutine \d+ ", out, flags=re.M)[1:]
    if len(blocks) != 2:
        sys.exit("%s: coroutine apply all bt: %d coroutines\n%s"
                 % (label, len(blocks), out))
    for b in blocks:
        frames = re.findall(r"^#\d+ ", b, re.M)
        # wait_here, parked_body: nothing past the entry function
        if len(frames) != 2 or "resumed here" in b:
            sys.exit("%s: frames of a suspended coroutine:\n%s" % (label, b))
    print("%s: ok" % label)


def main():
    gdb_exe, plugin, program, strip, work = sys.argv[1:6]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    prog = os.path.join(work, "static-stripped")
    subprocess.check_call([strip, "--strip-all", "-o", prog, program])
    syms = subprocess.run(["nm", prog], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          universal_newlines=True).stdout
    if "no symbols" not in syms:
        sys.exit("the stripped program still has symbols:\n" + syms[:500])
    core = os.path.join(work, "core")
    cmds = ["info coroutines", "coroutine apply all bt"]
    live = gdb(gdb_exe, plugin, [prog], ["run"] + cmds + ["gcore " + core])
    check("live", live)
    if not os.path.exists(core):
        sys.exit("gcore wrote no core:\n" + live)
    check("core", gdb(gdb_exe, plugin, [prog, core], cmds))


main()
