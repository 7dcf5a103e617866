#!/usr/bin/env python3
"""Kernel instructions by function, for two windows of tools/bench/icount.c.

    profile.py ICOUNT_TXT KALLSYMS A B [DIVISOR]

ICOUNT_TXT holds the plugin's ICTB lines (profile=on), KALLSYMS the guest's
/proc/kallsyms. Prints, per function, the instructions of window A and of
window B divided by DIVISOR (default 0x100000, virtio_test's buffers), and
B - A, largest differences first; with PROFILE_BLOCKS=1, block runs instead.
"""
import bisect
import os
import re
import subprocess
import sys
from collections import defaultdict


def main():
    path, ksyms, a, b = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    div = int(sys.argv[5], 0) if len(sys.argv) > 5 else 0x100000
    # PROFILE_BLOCKS=1: count block runs (each a dispatch under TCG), not instructions.
    blocks = os.environ.get("PROFILE_BLOCKS") == "1"
    syms = []
    for line in open(ksyms, errors="replace"):
        f = line.split()
        if len(f) >= 3 and f[1] in "tTwW":
            mod = f[3] if len(f) > 3 else ""
            syms.append((int(f[0], 16), f[2] + (" " + mod if mod else "")))
    syms.sort()
    # Rust's v0 names, demangled (llvm-cxxfilt knows them); hashes dropped.
    try:
        out = subprocess.run(["llvm-cxxfilt-19"], input="\n".join(n for _, n in syms),
                             capture_output=True, text=True, check=True).stdout.splitlines()
        if len(out) == len(syms):
            syms = [(a, re.sub(r"\[[0-9a-f]{16}\]", "", n)) for (a, _), n in zip(syms, out)]
    except (OSError, subprocess.CalledProcessError):
        pass
    addrs = [s[0] for s in syms]
    per = {a: defaultdict(int), b: defaultdict(int)}
    for line in open(path):
        f = line.split()
        if len(f) < 4 or f[0] != "ICTB" or int(f[1]) not in per:
            continue
        i = bisect.bisect_right(addrs, int(f[2], 16)) - 1
        name = syms[i][1] if i >= 0 else "?"
        per[int(f[1])][name] += int(f[3 if not blocks else 4]) if len(f) > 4 or not blocks else 0
    names = set(per[a]) | set(per[b])
    rows = sorted(names, key=lambda n: -abs(per[b][n] - per[a][n]))
    ta, tb = sum(per[a].values()) / div, sum(per[b].values()) / div
    print(f"{'function':70} {'A':>9} {'B':>9} {'B-A':>9}")
    print(f"{'(all)':70} {ta:9.1f} {tb:9.1f} {tb - ta:9.1f}")
    for n in rows[:60]:
        va, vb = per[a][n] / div, per[b][n] / div
        if abs(vb - va) < 0.05 and max(va, vb) < 1:
            continue
        print(f"{n[-70:]:70} {va:9.1f} {vb:9.1f} {vb - va:9.1f}")


if __name__ == "__main__":
    main()
