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
