#!/usr/bin/env python3
"""ctest man.tools: the section-1 pages document exactly the options that
the tools accept.

corolink-stacks: the options are read from the built program's usage text
(`corolink-stacks --help`, when the program is built: --stacks-bin) and
from its getopt_long table in perf/corolink-stacks.c (which also gives the
short spellings and --help, which the usage text does not list); the
usage text must name only options the table has. The program must exit
0 for --help and 2 for an unknown option, as the page's EXIT STATUS says.

corolink-perf: the options of the top level and of each subcommand are
read from argparse's `--help` of each (run with this Python), and the
subcommands from the top level's usage line; without a command the script
must exit 2.

In each page, every option must have an `.It Fl ...` entry (all its
spellings: `.It Fl o Ar file , Fl \\-output Ar file`) in the part of the
page for its command (corolink-perf: before the first `.Ss` for the top
level, `.Ss record` for record, ...), and at least one spelling in
SYNOPSIS on that command's line; and the other way round, every option in
those entries and in SYNOPSIS must be accepted by that command, and every
`.Ss` of corolink-perf must be a subcommand. Prints what is missing or
extra and exits 1 if anything is.

usage: check_tools.py --stacks-page man/corolink-stacks.1
           --stacks-source perf/corolink-stacks.c [--stacks-bin PROGRAM]
           [--emulator 'qemu-aarch64|-cpu|max']
           --perf-page man/corolink-perf.1 --perf-script perf/corolink-perf
"""
import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roff  # noqa: E402

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z])(?![\w-])")

problems = []


def problem(msg):
    problems.append(msg)


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


# ---- what the tools accept --------------------------------------------------

def stacks_source_options(path):
    """[{spellings}] from the getopt_long table and option string."""
    src = open(path, encoding="utf-8").read()
    m = re.search(r"getopt_long\s*\([^,]+,[^,]+,\s*\"([^\"]*)\"", src)
    if not m:
        raise SystemExit("check_tools: no getopt_long() call in %s" % path)
    shorts = set(re.findall(r"([A-Za-z0-9])", m.group(1)))
    table = re.search(r"struct option\s+\w+\[\]\s*=\s*\{(.*?)\};", src, re.S)
    if not table:
        raise SystemExit("check_tools: no struct option table in %s" % path)
    groups = []
    for name, val in re.findall(
            r"\{\s*\"([a-z][a-z0-9-]*)\"\s*,\s*\w+\s*,\s*NULL\s*,\s*'(.)'\s*\}",
            table.group(1)):
        g = {"--" + name}
        if val in shorts:
            g.add("-" + val)
            shorts.discard(val)
        groups.append(g)
    groups += [{"-" + s} for s in sorted(shorts)]  # short-only options
    return groups


def stacks_usage_options(binary, emulator):
    cmd = emulator + [binary]
    rc, out = run(cmd + ["--help"])
    if rc != 0:
        problem("corolink-stacks --help exited %d (0 expected):\n%s"
                % (rc, out))
    rc2, out2 = run(cmd + ["--no-such-option"])
    if rc2 != 2:
        problem("corolink-stacks --no-such-option exited %d (2 expected, "
                "as EXIT STATUS says)" % rc2)
    return set(OPTION.findall(out)), out


def argparse_options(script, args):
    """[{spellings}] of an argparse --help, and the subcommands its usage
    line names."""
    rc, out = run([sys.executable, script] + args + ["--help"])
    if rc != 0:
        problem("%s %s --help exited %d:\n%s"
                % (os.path.basename(script), " ".join(args), rc, out))
    groups, section = [], None
    for line in out.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line  # "options:" or "optional arguments:"
            continue
        m = re.match(r"^  (-\S.*?)(?:\s{2,}|$)", line)
        # "options:" (Python 3.10 on) or "optional arguments:"
        if m and section in ("options:", "optional arguments:"):
            spellings = {s.split()[0] for s in m.group(1).split(", ")}
            groups.append(spellings)
    subcommands = []
    m = re.search(r"\{([a-z,-]+)\}", out.split("\n\n")[0])
    if m:
        subcommands = m.group(1).split(",")
    return groups, subcommands


# ---- what the pages document ------------------------------------------------

def options_of(line):
    """The options a macro line spells with `Fl` (`--` alone left out)."""
    out = []
    for w in line.tokens_after("Fl"):
        opt = "-" + w
        if opt != "--":
            out.append(opt)
    return out


def page_entries(lines, region):
    """[{spellings}] of the `.It Fl` entries on the lines for which
    region(line) holds, outside SYNOPSIS."""
    groups = []
    for ln in lines:
        if ln.macro == "It" and ln.sh != "SYNOPSIS" and region(ln):
            opts = options_of(ln)
            if opts:
                groups.append((set(opts), ln.lineno))
    return groups


def synopsis_lines(lines):
    """SYNOPSIS as a list of (command or None, [options]) per `.Nm` line:
    options before a `.Cm` belong to the top level (None), after it to
    that command."""
    out = []
    for ln in lines:
        if ln.sh != "SYNOPSIS" or not ln.macro:
            continue
        if ln.macro == "Nm":
            out.append([None, {None: []}])
            continue
        if not out:
            continue
        if ln.macro == "Cm" and ln.args:
            out[-1][0] = ln.args[0]
            out[-1][1].setdefault(ln.args[0], [])
            continue
        out[-1][1][out[-1][0]].extend(options_of(ln))
    return out


def compare(tool, command, accepted, entries, synopsis_opts):
    """accepted: [{spellings}]; entries: [({spellings}, lineno)];
    synopsis_opts: the options SYNOPSIS gives the command."""
    where = tool if command is None else "%s %s" % (tool, command)
    all_accepted = set().union(*accepted) if accepted else set()
    documented = set()
    for spellings, lineno in entries:
        documented |= spellings
        for s in sorted(spellings - all_accepted):
            problem("%s: the page documents %s (line %d), which it does "
                    "not accept" % (where, s, lineno))
    for g in accepted:
        for s in sorted(g - documented):
            problem("%s: accepts %s, which has no `.It Fl` entry in the "
                    "page" % (where, s))
        if not g & set(synopsis_opts):
            problem("%s: accepts %s, which SYNOPSIS does not show"
                    % (where, " / ".join(sorted(g))))
    for s in sorted(set(synopsis_opts) - all_accepted):
        problem("%s: SYNOPSIS shows %s, which it does not accept"
                % (where, s))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stacks-page", required=True)
    ap.add_argument("--stacks-source", required=True)
    ap.add_argument("--stacks-bin", default="")
    ap.add_argument("--emulator", default="",
                    help="the cross build's emulator, its words joined by |")
    ap.add_argument("--perf-page", required=True)
    ap.add_argument("--perf-script", required=True)
    a = ap.parse_args()
    emulator = [w for w in a.emulator.split("|") if w]

    # corolink-stacks
    groups = stacks_source_options(a.stacks_source)
    from_source = set().union(*groups)
    if a.stacks_bin:
        usage, text = stacks_usage_options(a.stacks_bin, emulator)
        for s in sorted(usage - from_source):
            problem("corolink-stacks: its usage text names %s, which its "
                    "getopt_long table does not have" % s)
        print("corolink-stacks: usage text names %s"
              % " ".join(sorted(usage)))
    else:
        print("corolink-stacks: not built here; options from %s only"
              % a.stacks_source)
    print("corolink-stacks: accepts %s" % " ".join(sorted(from_source)))
    lines = roff.read(a.stacks_page)
    syn = synopsis_lines(lines)
    syn_opts = [o for _, by in syn for opts in by.values() for o in opts]
    compare("corolink-stacks", None, groups,
            page_entries(lines, lambda ln: True), syn_opts)

    # corolink-perf
    top, subcommands = argparse_options(a.perf_script, [])
    if not subcommands:
        problem("corolink-perf: no subcommands found in its --help")
    rc, _ = run([sys.executable, a.perf_script])
    if rc != 2:
        problem("corolink-perf without a command exited %d (2 expected, as "
                "EXIT STATUS says)" % rc)
    lines = roff.read(a.perf_page)
    syn = synopsis_lines(lines)
    shown = {}
    for cmd, by in syn:
        for c, opts in by.items():
            shown.setdefault(c, []).extend(opts)
        if cmd is None:
            problem("corolink-perf: a SYNOPSIS line without a command")
    print("corolink-perf: commands %s" % " ".join(subcommands))
    compare("corolink-perf", None, top,
            page_entries(lines, lambda ln: ln.sh == "DESCRIPTION" and
                         not ln.ss), shown.get(None, []))
    for c in subcommands:
        groups_c, _ = argparse_options(a.perf_script, [c])
        if c not in shown:
            problem("corolink-perf: command %s is not in SYNOPSIS" % c)
        if not any(ln.macro == "Ss" and ln.args == [c] for ln in lines):
            problem("corolink-perf: command %s has no `.Ss %s`" % (c, c))
        compare("corolink-perf", c, groups_c,
                page_entries(lines, lambda ln, c=c: ln.ss == c),
                shown.get(c, []))
    for ln in lines:
        if ln.macro == "Ss" and " ".join(ln.args) not in subcommands:
            problem("corolink-perf: `.Ss %s` (line %d) is no command"
                    % (" ".join(ln.args), ln.lineno))
    for c in shown:
        if c is not None and c not in subcommands:
            problem("corolink-perf: SYNOPSIS shows command %s, which does "
                    "not exist" % c)

    if problems:
        print("\nFAILED: the pages and the tools disagree:")
        for p in problems:
            print("  - " + p)
        return 1
    print("OK: every option of corolink-stacks and corolink-perf is "
          "documented, and nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main())
