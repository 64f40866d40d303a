#!/usr/bin/env python3
"""ctest man.lint: each page is clean under `mandoc -T lint -W warning`
(when mandoc is there) and `groff -ww -z` (-mdoc or -man, as the page is
written): any message, or a failing status, fails the test. Pages must be
ASCII (roff escapes for anything else). mandoc's style messages are
printed for information only: which manuals `Xr` finds depends on what
the machine has installed.

usage: check_lint.py [--mandoc PATH] [--groff PATH] PAGE...
Exits 77 (skipped) when neither program is given.
"""
import argparse
import os
import subprocess
import sys


def run(cmd):
    env = dict(os.environ, LC_ALL="C")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=env, timeout=120)
    return r.returncode, (r.stdout + r.stderr).strip()


def macro_package(page):
    """-mdoc for a page that starts with .Dd, -man otherwise."""
    with open(page, encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith(".Dd"):
                return "-mdoc"
            if line.startswith(".TH"):
                return "-man"
    return "-man"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mandoc", default="")
    ap.add_argument("--groff", default="")
    ap.add_argument("pages", nargs="+")
    a = ap.parse_args()
    if not a.mandoc and not a.groff:
        print("man.lint: neither mandoc nor groff found: skipped")
        return 77
    if not a.mandoc:
        print("man.lint: mandoc not found (Debian: mandoc): groff only")
    if not a.groff:
        print("man.lint: groff not found (Debian: groff-base): mandoc only")
    failed = []
    for page in a.pages:
        name = os.path.basename(page)
        data = open(page, "rb").read()
        bad = [i for i, b in enumerate(data) if b > 127]
        if bad:
            line = data[:bad[0]].count(b"\n") + 1
            failed.append("%s: a non-ASCII byte at line %d (use a roff "
                          "escape)" % (name, line))
        if a.mandoc:
            rc, out = run([a.mandoc, "-T", "lint", "-W", "warning", page])
            if rc != 0 or out:
                failed.append("%s: mandoc -T lint -W warning (status %d):\n%s"
                              % (name, rc, out))
            else:
                print("%s: mandoc -T lint: clean" % name)
            _, style = run([a.mandoc, "-T", "lint", "-W", "style", page])
            for line in style.splitlines():
                print("  (style, not checked) %s" % line)
        if a.groff:
            cmd = [a.groff, "-ww", "-z", macro_package(page), page]
            rc, out = run(cmd)
            if rc != 0 or out:
                failed.append("%s: %s (status %d):\n%s"
                              % (name, " ".join(cmd[:-1]), rc, out))
            else:
                print("%s: groff -ww -z %s: clean" % (name,
                                                       macro_package(page)))
    if failed:
        print("\nFAILED:")
        for f in failed:
            print("  - " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
