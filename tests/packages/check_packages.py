#!/usr/bin/env python3
"""packages.debian: the Debian packages as a user gets them.

Builds the packages (cpack -G DEB), installs them on this machine with
dpkg -i (root only: skips with 77 otherwise), then, with nothing of the
build tree on any path:
  - lists each package's files and checks what is where (Debian's names:
    libcorolink2 the runtime, libcorolink-dev, corolink-tools);
  - builds a consumer with pkg-config and one with find_package, runs them;
  - runs corolink-stacks from PATH on a live program of its own;
  - runs gdb (no gdbinit, default settings) on that program: the plugin is
    auto-loaded from /usr/share/gdb/auto-load, `info coroutines` lists the
    program's coroutines, and gdb prints no warning about auto-loading;
  - renders the man pages with man(1), groff warnings on;
then purges the packages and checks that none of their files is left.

Packages of ours installed before the test are purged first (they would be
replaced anyway), and always at the end, pass or fail.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

PACKAGES = ["libcorolink2", "libcorolink-dev", "corolink-tools"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, flush=True)
    return cond


def run(cmd, **kw):
    """Runs cmd; returns (rc, stdout+stderr)."""
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, **kw)
    return p.returncode, p.stdout


def must(cmd, **kw):
    rc, out = run(cmd, **kw)
    if rc != 0:
        print(out)
        raise SystemExit("FAIL: exit %d: %s" % (rc, " ".join(cmd)))
    return out


def installed(pkg):
    rc, out = run(["dpkg-query", "-W", "-f=${Status}", pkg])
    return rc == 0 and "ok installed" in out


def purge_ours():
    present = [p for p in PACKAGES if installed(p)]
    if present:
        must(["dpkg", "--purge"] + present)


def user_env(work):
    """An environment without the build tree: a scratch HOME (no gdbinit,
    no pkg-config or CMake paths of the user's)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PKG_CONFIG", "CMAKE_", "LD_LIBRARY",
                                "COROLINK_"))}
    env["HOME"] = os.path.join(work, "home")
    os.makedirs(env["HOME"], exist_ok=True)
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def check_contents(files):
    arch = must(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).strip()
    libdir = "/usr/lib/" + arch
    want = {
        "libcorolink2": [libdir + "/libcorolink.so.2",
                         libdir + "/libcorolink.so.2.0.0"],
        "libcorolink-dev": ["/usr/include/corolink.h", "/usr/include/corolink.hpp",
                            "/usr/include/corolink/x86_64_sysv_elf.h",
                            libdir + "/libcorolink.so",
                            libdir + "/libcorolink.a",
                            libdir + "/pkgconfig/corolink.pc",
                            libdir + "/cmake/corolink/corolinkConfig.cmake",
                            "/usr/share/man/man3/corolink.3.gz"],
        "corolink-tools": ["/usr/bin/corolink-stacks", "/usr/bin/corolink-perf",
                           "/usr/share/gdb/auto-load" + libdir +
                           "/libcorolink.so.2.0.0-gdb.py",
                           "/usr/share/man/man1/corolink-stacks.1.gz",
                           "/usr/share/man/man1/corolink-perf.1.gz"],
    }
    for pkg, paths in want.items():
        for p in paths:
            check(p in files[pkg], "%s does not ship %s" % (pkg, p))
    # Each file in exactly one package; the runtime package holds nothing
    # but the library (it must be co-installable with a future
    # libcorolink3).
    for p in files["libcorolink2"]:
        check(os.path.isdir(p) or "/libcorolink.so.2" in p or
              p.startswith("/usr/share/doc/libcorolink2/"),
              "libcorolink2 ships %s" % p)
    # Debian's copyright file and changelog in each package's doc
    # directory.
    for pkg in PACKAGES:
        for doc in ("copyright", "changelog.Debian.gz"):
            p = "/usr/share/doc/%s/%s" % (pkg, doc)
            check(p in files[pkg], "%s does not ship %s" % (pkg, p))
    with open(libdir + "/pkgconfig/corolink.pc") as f:
        pc = f.read()
    check(".." not in pc, "corolink.pc has relative paths:\n" + pc)
    return libdir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpack", required=True)
    ap.add_argument("--config", required=True, help="CPackConfig.cmake")
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--cmake", default="cmake")
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("SKIP: installing packages needs root")
        return 77
    for tool in ("dpkg", "gdb", "man", "pkg-config"):
        if not shutil.which(tool):
            print("FAIL: %s is not installed" % tool)
            return 1

    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    pkgdir = os.path.join(work, "packages")
    must([args.cpack, "-G", "DEB", "--config", args.config, "-B", pkgdir])
    debs = {}
    for pkg in PACKAGES:
        found = glob.glob(os.path.join(pkgdir, pkg + "_*.deb"))
        if not check(len(found) == 1, "package %s: %s" % (pkg, found)):
            return 1
        debs[pkg] = found[0]

    purge_ours()
    files = {}
    try:
        must(["dpkg", "-i"] + [debs[p] for p in PACKAGES])
        files = {p: must(["dpkg", "-L", p]).split("\n") for p in PACKAGES}
        files = {p: [f for f in fs if f.startswith("/")]
                 for p, fs in files.items()}
        check_contents(files)
        use_installed(args, work)
    finally:
        purge_ours()
    # Nothing left: every file the packages had is gone, and dpkg knows
    # none of them.
    for pkg, fs in files.items():
        check(not installed(pkg), "%s still installed" % pkg)
        for f in fs:
            if not os.path.isdir(f):
                check(not os.path.lexists(f), "left after purge: " + f)
    left = [p for pat in ("/usr/lib/*/libcorolink*", "/usr/include/corolink*",
                          "/usr/share/gdb/auto-load/usr/lib/*/libcorolink*",
                          "/usr/bin/corolink-*", "/usr/share/man/man*/corolink*")
            for p in glob.glob(pat)]
    check(not left, "left after purge: %s" % left)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("packages.debian: all checks passed")
    return 0


def use_installed(args, work):
    env = user_env(work)
    src = args.source

    # pkg-config: the flags of an installed library, nothing else.
    flags = must(["pkg-config", "--cflags", "--libs", "corolink"],
                 env=env).split()
    check(not any("/build" in f or ".." in f for f in flags),
          "pkg-config flags: %s" % flags)
    target = os.path.join(work, "pkg_target")
    must([args.cc, "-g", "-O1", "-o", target,
          os.path.join(src, "tests/packages/pkg_target.c")] + flags, env=env)
    consumer = os.path.join(work, "pc_consumer")
    must([args.cc, "-o", consumer,
          os.path.join(src, "tests/install/consumer/consumer.c")] + flags,
         env=env)
    out = must([consumer], env=env)
    check("consumer ok" in out, "pkg-config consumer: " + out)

    # find_package, from the default search path (no CMAKE_PREFIX_PATH).
    cm = os.path.join(work, "cmake-consumer")
    must([args.cmake, "-S", os.path.join(src, "tests/install/consumer"),
          "-B", cm, "-DCMAKE_C_COMPILER=" + args.cc], env=env)
    must([args.cmake, "--build", cm], env=env)
    for exe in ("consumer", "consumer_static"):
        out = must([os.path.join(cm, exe)], env=env)
        check("consumer ok" in out, "find_package %s: %s" % (exe, out))

    # corolink-stacks from PATH on a live program.
    check(shutil.which("corolink-stacks", path=env["PATH"]) ==
          "/usr/bin/corolink-stacks", "corolink-stacks is not on PATH")
    proc = subprocess.Popen([target], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, universal_newlines=True,
                            env=env)
    try:
        line = proc.stdout.readline()
        check(line == "ready\n", "pkg_target said %r" % line)
        rc, out = run(["corolink-stacks", str(proc.pid)], env=env)
        check(rc == 0, "corolink-stacks exit %d" % rc)
        for name in ("pkg-alpha", "pkg-beta", "pkg-gamma"):
            check(name in out, "corolink-stacks does not list %s:\n%s"
                  % (name, out))
        check("pkg_wait" in out, "corolink-stacks: no pkg_wait frame:\n" + out)
    finally:
        proc.stdin.close()
        rest = proc.stdout.read()
        check(proc.wait() == 0 and "done" in rest,
              "pkg_target did not finish: %r" % rest)

    # gdb as a user runs it: no -nx (the system gdbinit and gdb's default
    # auto-load settings apply), a HOME without a gdbinit.
    rc, out = run(["gdb", "-q", "-batch", "-ex", "break pkg_ready",
                   "-ex", "run </dev/null",
                   "-ex", "info auto-load python-scripts",
                   "-ex", "info coroutines", "-ex", "kill", target], env=env)
    check(re.search(r"Yes\s+\S*libcorolink\.so\.2\.0\.0-gdb\.py", out),
          "gdb did not auto-load the plugin:\n" + out)
    for name in ("pkg-alpha", "pkg-beta", "pkg-gamma"):
        check(re.search(r"suspended\s+\"%s\"" % name, out),
              "info coroutines does not show %s:\n%s" % (name, out))
    noise = [l for l in out.splitlines()
             if re.search(r"auto-load|declined|safe-path|corolink.*warning|"
                          r"warning.*corolink", l, re.I) and
             not l.startswith(("Loaded", "Yes", "No "))]
    check(not noise, "gdb printed:\n" + "\n".join(noise))

    # man pages: found by name, rendered with groff's warnings on.
    for sec, page, word in (("3", "corolink", "corolink_resume"),
                            ("1", "corolink-stacks", "--core"),
                            ("1", "corolink-perf", "record")):
        menv = dict(env, MANPAGER="cat", MANWIDTH="80", MAN_KEEP_STDERR="1")
        p = subprocess.run(["man", "--warnings", sec, page],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=menv)
        check(p.returncode == 0 and word in p.stdout,
              "man %s %s (exit %d): %s" % (sec, page, p.returncode,
                                           p.stdout[:300]))
        check(p.stderr.strip() == "", "man %s %s warns:\n%s"
              % (sec, page, p.stderr))


if __name__ == "__main__":
    sys.exit(main())
