#!/usr/bin/env python3
"""perf.buildid: the same library at two paths (the build tree, then an
"installed" copy: same build id). Recording with one, then with the other
(the program loads the copy through LD_LIBRARY_PATH) must work: perf's
build-id cache maps the build id to the first path, and `perf probe -x`
on the second used to fail with "No such file or directory" behind an
empty message. Then a library without probes (the copy's notes stripped)
must fail with perf's own message and a line starting "fix:". Skips (77)
where perf or uprobes are refused."""
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_tool import parse_args, record, tool  # noqa: E402


def main():
    a, env = parse_args()
    lib = os.path.realpath(a.lib)
    inst = os.path.join(a.work, "installed", "lib")
    os.makedirs(inst)
    copy = os.path.join(inst, os.path.basename(lib))
    shutil.copy2(lib, copy)
    os.symlink(os.path.basename(lib), os.path.join(inst, "libcorolink.so.2"))
    ranges = os.path.join(a.work, "ranges.txt")
    record(a, env, os.path.join(a.work, "one.data"), "fp",
           [ranges, "mix", "20"])
    # the same build id, now at the installed path
    record(a, env, os.path.join(a.work, "two.data"), "fp",
           [ranges, "mix", "20"], lib=copy,
           extra_env={"LD_LIBRARY_PATH": inst}, may_skip=False)
    ok = True
    r = tool(a, env, "report", "-i", os.path.join(a.work, "two.data"))
    if r.returncode != 0 or "inside coroutines" not in r.stdout:
        print(r.stdout + r.stderr)
        print("FAIL: report of the second recording")
        ok = False
    # A library without the notes: a clear failure, perf's words and a fix.
    bare = os.path.join(a.work, "bare.so")
    subprocess.run(["objcopy", "--remove-section=.note.stapsdt", copy, bare],
                   check=True)
    r = tool(a, env, "record", "-o", os.path.join(a.work, "three.data"),
             "--lib", bare, "--", a.target, ranges, "mix", "1")
    print(r.stdout + r.stderr)
    if r.returncode != 1 or "Traceback" in r.stderr or \
            "perf probe -x %s -a sdt_corolink:" % bare not in r.stderr or \
            "\nfix: " not in r.stderr or "no SDT notes" not in r.stderr or \
            r.stderr.split("failed:\n", 1)[-1].startswith("fix:"):
        print("FAIL: expected exit status 1 with perf's message and a fix")
        ok = False
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
