#!/usr/bin/env python3
"""scale.million: a million parked coroutines, and the tools on them.

Starts `corolink_scale N --hold --check`, waits until it has parked its
coroutines, runs `corolink-stacks --group PID` and gdb's
`info coroutines -group` on the live process, checks that each lists all N
coroutines in one group, then lets the program tear down and checks its
exit status (its --check: resident memory per coroutine, mappings and
memory after the trim). Prints how long each step took; asserts no
timing (speed is measured in bench/README.md).

usage: run_million.py --scale PROG --stacks TOOL [--gdb GDB --plugin PY] [N]
"""
import argparse
import re
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", required=True)
    ap.add_argument("--stacks", required=True)
    ap.add_argument("--gdb")
    ap.add_argument("--plugin")
    ap.add_argument("n", nargs="?", type=int, default=1000000)
    a = ap.parse_args()

    t0 = time.monotonic()
    prog = subprocess.Popen([a.scale, str(a.n), "--hold", "--check"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        lines = []
        while True:
            line = prog.stdout.readline()
            if not line:
                fail("corolink_scale ended before parking:\n" +
                     "".join(lines))
            lines.append(line)
            print(line, end="")
            if line.strip() == "parked":
                break
        print("parked in %.1f s" % (time.monotonic() - t0))
        pid = str(prog.pid)

        t = time.monotonic()
        r = subprocess.run([a.stacks, "--group", pid], capture_output=True,
                           text=True, timeout=600)
        print("corolink-stacks --group: %.1f s, exit %d"
              % (time.monotonic() - t, r.returncode))
        head = r.stdout.splitlines()[:3]
        print("\n".join(head))
        if r.returncode != 0 or not re.search(
                r": %d coroutines in 1 groups" % a.n, r.stdout):
            fail("corolink-stacks did not list %d coroutines in one group:\n"
                 "%s\n%s" % (a.n, r.stdout[:2000], r.stderr[:2000]))
        if "park3" not in r.stdout or "park1" not in r.stdout:
            fail("corolink-stacks: the group's stack lacks park3/park1")

        if a.gdb:
            t = time.monotonic()
            r = subprocess.run(
                [a.gdb, "-nx", "-batch", "-iex",
                 "set auto-load python-scripts off", "-p", pid,
                 "-ex", "source " + a.plugin,
                 "-ex", "info coroutines -group"],
                capture_output=True, text=True, timeout=600)
            print("gdb info coroutines -group: %.1f s"
                  % (time.monotonic() - t))
            row = re.search(r"^%d\s+suspended\s+parked_body\s+park3" % a.n,
                            r.stdout, re.M)
            if not row:
                fail("gdb did not list %d suspended coroutines in one "
                     "group:\n%s\n%s" % (a.n, r.stdout[-3000:],
                                         r.stderr[-2000:]))
            if "corolink: read " not in r.stdout and \
                    "corolink: unwound " not in r.stdout:
                print("(no progress line: the listing took under a second)")

        t = time.monotonic()
        out, _ = prog.communicate("go\n", timeout=600)
        print(out, end="")
        print("teardown: %.1f s, exit %d" % (time.monotonic() - t,
                                              prog.returncode))
        if prog.returncode != 0:
            fail("corolink_scale exited with %d" % prog.returncode)
    finally:
        if prog.poll() is None:
            prog.kill()
    print("scale.million: passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
