"""Shared by the perf.* test scripts: a scratch perf environment and the
skip rule (exit 77 only where the kernel or perf refuses)."""
import os
import shutil
import subprocess
import sys

SKIP = 77


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def scratch_env(work):
    """A fresh work directory, HOME and build-id cache inside it: perf
    leaves nothing in the real ~/.debug."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ)
    env["HOME"] = work
    env["PERF_BUILDID_DIR"] = os.path.join(work, ".debug")
    env.pop("PERF_EXEC_PATH", None)
    return env


def run(cmd, env, **kw):
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)


REFUSED = ("Permission denied", "perf_event_paranoid", "Operation not permitted",
           "not supported", "No permission", "Access to performance monitoring",
           "perf_event_open", "Failed to open", "No such file or directory",
           "Function not implemented")


def check_perf_works(perf, work, env):
    """Skips unless perf exists and perf_event_open works (cpu-clock)."""
    if shutil.which(perf) is None and not os.path.exists(perf):
        skip(f"{perf} not found (install linux-perf)")
    data = os.path.join(work, "probe-perf.data")
    r = run([perf, "record", "-q", "-e", "cpu-clock", "-o", data, "--",
             "true"], env)
    if r.returncode != 0:
        text = r.stdout + r.stderr
        print(text)
        if any(s in text for s in REFUSED):
            skip("perf_event_open is refused here: " + text.strip()[:300])
        print("FAIL: perf record of `true` failed")
        sys.exit(1)


# The root frame's return address is the label corolink__trampoline_ret
# (hidden, inside corolink__trampoline): with the library's .symtab, perf
# names it by either symbol, depending on the build's symbol layout.
ROOT_NAMES = ("corolink__trampoline", "corolink__trampoline_ret")
# The library's resume path (the traced resume that probes and suspend
# timestamps route resumes through; the debug table's hidden range): never
# in a stack corolink-perf reports (it counts such samples with the switch).
RESUME_PATH = ("corolink__resume_traced", "corolink__enter", "cl_enter",
               "cl_tools_enter", "cl_resume_cmd", "corolink_resume_with")


def record_fp(perf, work, env, cmd):
    """The frame-pointer recipe of perf/README.md ("Call chains with perf")
    on cmd: perf record -e cpu-clock -F max --call-graph fp, then perf
    script -F comm,tid,ip,sym,dso. Returns the script's text (also left in
    work/script.txt), or None after printing why it failed."""
    data = os.path.join(work, "perf.data")
    r = run([perf, "record", "-e", "cpu-clock", "-F", "max",
             "--call-graph", "fp", "-o", data, "--"] + cmd, env)
    print(r.stderr)
    if r.returncode != 0:
        print("FAIL: perf record (or the target) failed")
        return None
    s = run([perf, "script", "-i", data, "-F", "comm,tid,ip,sym,dso"], env)
    if s.returncode != 0:
        print(s.stdout + s.stderr)
        print("FAIL: perf script")
        return None
    with open(os.path.join(work, "script.txt"), "w") as f:
        f.write(s.stdout)
    return s.stdout


def samples(text):
    """Yields each sample's frames (symbol names, innermost first), the
    root frame named corolink__trampoline whichever symbol perf chose."""
    frames, in_sample = [], False
    for line in text.splitlines():
        if not line.strip():
            if in_sample:
                yield frames
            frames, in_sample = [], False
            continue
        if line[0].isspace():  # "   addr sym+off (dso)"
            parts = line.split()
            sym = parts[1] if len(parts) > 2 else "[unknown]"
            sym = sym.split("+")[0]
            frames.append("corolink__trampoline" if sym in ROOT_NAMES else sym)
        else:  # the sample's header
            if in_sample:
                yield frames
            frames, in_sample = [], True
    if in_sample:
        yield frames


def record_stitched(perf, tool, lib, target, work, env, target_args):
    """perf/corolink-perf record of target (--call-graph dwarf,4096 at
    4 kHz: enough samples on a fast machine, 4 KiB stack copies to keep
    the recording small): the recording's path, or None after a failure
    is printed. Skips where sdt_corolink:* events exist already or perf
    or uprobes are refused."""
    r = run([perf, "probe", "-l", "sdt_corolink:*"], env)
    if "sdt_corolink:" in r.stdout:
        skip("sdt_corolink:* probe events exist already (someone else's)")
    data = os.path.join(work, "perf.data")
    r = run([sys.executable, tool, "--perf", perf, "record", "-o", data,
             "-F", "4000", "--call-graph", "dwarf,4096",
             "--lib", os.path.realpath(lib), "--", target] + target_args, env)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        if any(s in r.stderr for s in REFUSED) or "uprobes refused" in r.stderr:
            skip("perf or uprobes refused here")
        print("FAIL: corolink-perf record")
        return None
    return data
