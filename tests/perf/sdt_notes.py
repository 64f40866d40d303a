#!/usr/bin/env python3
"""perf.sdt_notes: `readelf -n libcorolink.so` lists the seven USDT probes of
provider corolink, each once, with its number of arguments and a semaphore
(--expect on), or no stapsdt note at all (--expect off: COROLINK_PROBES=OFF).
"""
import argparse
import re
import subprocess
import sys

EXPECTED = {"create": 4, "resume": 2, "suspend": 1, "return": 1,
            "destroy": 1, "trap": 3, "name": 5}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readelf", default="readelf")
    ap.add_argument("--lib", required=True)
    ap.add_argument("--expect", choices=("on", "off"), required=True)
    a = ap.parse_args()
    out = subprocess.run([a.readelf, "-n", a.lib], check=True,
                         capture_output=True, text=True).stdout
    notes = []
    for block in re.split(r"\n\s*stapsdt\s", out)[1:]:
        prov = re.search(r"Provider:\s*(\S+)", block)
        name = re.search(r"Name:\s*(\S+)", block)
        sem = re.search(r"Semaphore:\s*(0x[0-9a-f]+)", block)
        args = re.search(r"Arguments:\s*(.*)", block)
        # Arguments are separated by spaces; an AArch64 memory operand has
        # one inside its brackets ("8@[x0, 56]").
        notes.append((prov and prov.group(1), name and name.group(1),
                      int(sem.group(1), 16) if sem else 0,
                      re.findall(r"\S+@(?:\[[^\]]*\]|\S+)", args.group(1))
                      if args else []))
    if a.expect == "off":
        if notes:
            print("FAIL: COROLINK_PROBES=OFF, yet stapsdt notes:\n" + out)
            return 1
        print("no stapsdt notes (COROLINK_PROBES=OFF)")
        return 0
    ok = True
    seen = {}
    for prov, name, sem, args in notes:
        print(f"{prov}:{name} semaphore={sem:#x} args={' '.join(args)}")
        if prov != "corolink":
            print(f"FAIL: unexpected provider {prov}")
            ok = False
            continue
        # A probe may have several sites (clang inlines cl_probe_suspend()
        # into two callers; perf probe and bpftrace attach to all of a
        # probe's sites): each with the probe's one semaphore.
        if name in seen and seen[name] != sem:
            print(f"FAIL: probe {name} has sites with different semaphores")
            ok = False
        seen[name] = sem
        if name not in EXPECTED:
            print(f"FAIL: unexpected probe {name}")
            ok = False
            continue
        if len(args) != EXPECTED[name]:
            print(f"FAIL: {name} has {len(args)} arguments, "
                  f"expected {EXPECTED[name]}")
            ok = False
        if sem == 0:
            print(f"FAIL: {name} has no semaphore")
            ok = False
        for arg in args:
            if not re.match(r"^-?[1248]@", arg):
                print(f"FAIL: {name}: argument {arg} has no size")
                ok = False
    for name in EXPECTED:
        if name not in seen:
            print(f"FAIL: probe {name} missing")
            ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
