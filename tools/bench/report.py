#!/usr/bin/env python3
"""Turn the guest's `make bench` output into a table, a JSON file and a chart.

    report.py BENCH_TXT OUT_DIR [--base JSON] MODULE_DIR...

--base names an earlier run's bench.json (tools/bench/2026-12-07.json is the
last one on Linux 6.12): its Rust/C ratios are printed beside this run's.

PRIM lines give ns/op in tenths (median, min, max over rounds) for the Rust
API and the C calls; DEV lines one virtio_test run each; MEM the kernel
memory per open device; ALLOC the Rust device's buffers and allocations.
ICOUNT lines (from the TCG plugin tools/bench/icount.c, appended by rvh.sh)
give the guest's kernel instructions, user instructions and kernel memory
accesses of each virtio_test run of the plugin's own boot, by window number;
WIN lines say which case and device each window ran.
"""
import json
import os
import statistics
import subprocess
import sys


def sizes(ko):
    """text and data+bss of a module, from llvm-size (Berkeley format)."""
    out = subprocess.run(["llvm-size-19", ko], capture_output=True, text=True).stdout
    t, d, b = (int(x) for x in out.splitlines()[1].split()[:3])
    return t, d + b


def used_part(user, lib):
    """Sizes of the functions of `lib` that `user` calls directly."""
    und = subprocess.run(["llvm-nm-19", "-u", user], capture_output=True, text=True).stdout
    want = {line.split()[-1] for line in und.splitlines()}
    tab = subprocess.run(["llvm-nm-19", "-S", "--defined-only", lib],
                         capture_output=True, text=True).stdout
    total = 0
    for line in tab.splitlines():
        f = line.split()
        if len(f) == 4 and f[3] in want and f[2] in "tT":
            total += int(f[1], 16)
    return total


def main():
    txt, out_dir, mod_dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    base = {"primitives": [], "device": [], "instructions": []}
    if "--base" in mod_dirs:
        i = mod_dirs.index("--base")
        mod_dirs_base = mod_dirs[i + 1]
        with open(mod_dirs_base) as fh:
            base.update({k: v for k, v in json.load(fh).items() if v})
        mod_dirs = mod_dirs[:i] + mod_dirs[i + 2:]
    # 7.3 renamed rcu_read_lock_trace() to rcu_read_lock_tasks_trace().
    b_prim = {p.get("name", "").replace("lock_trace", "lock_tasks_trace"): p.get("ratio")
              for p in base["primitives"]}
    b_dev = {d.get("case"): d.get("ratio") for d in base["device"]}
    b_ins = {d.get("case"): d.get("kernel_ratio") for d in base["instructions"]}
    nan = float("nan")
    if base["device"]:
        print(f"(column base: the Rust/C ratios of {os.path.basename(mod_dirs_base)})\n")
    prims, dev, mem, alloc, runs, icount, windows = [], {}, {}, None, 0, {}, {}
    binder = {}
    for line in open(txt):
        f = line.split()
        if not f:
            continue
        if f[0] == "PRIM" and len(f) >= 10:
            r, c = [int(x) / 10 for x in f[3:6]], [int(x) / 10 for x in f[7:10]]
            paired = int(f[11]) / 1000 if len(f) >= 12 else None
            prims.append({"name": f[1], "rust": r, "c": c, "ratio": r[0] / c[0],
                          "paired_ratio": paired})
        elif f[0] == "DEV" and len(f) >= 9:
            d = dev.setdefault(f[1], {}).setdefault(f[2], {"real": [], "sys": [], "spurious": []})
            d["real"].append(float(f[5]))
            d["sys"].append(float(f[7]))
            d["spurious"].append(int(f[9], 16) if len(f) > 9 else 0)
        elif f[0] == "WIN" and len(f) == 4:
            windows.setdefault((f[2], f[3]), []).append(int(f[1]))
        elif f[0] == "ICOUNT" and len(f) == 5:
            icount[int(f[1])] = [int(x) for x in f[2:5]] + icount.get(int(f[1]), [0, 0, 0, 0])[3:]
        elif f[0] == "ICLOCK" and len(f) == 3:
            icount.setdefault(int(f[1]), [0, 0, 0, 0])
            icount[int(f[1])][3:] = [int(f[2])]
        elif f[0] == "MEM":
            mem[f[1]] = int(f[2])
        elif f[0] == "BINDER" and len(f) >= 10:
            binder.setdefault(int(f[3]), []).append(int(f[9]))
        elif f[0] == "ALLOC":
            alloc = {"buffers": int(f[1]), "allocations": int(f[2])}
        elif f[0] == "RUNS":
            runs = int(f[1])
        elif f[0] == "CLOCK" and f[1:] != ["tsc"]:
            print(f"WARNING: the guest clocksource is {' '.join(f[1:])}, not tsc: the "
                  "primitive figures are in jiffies steps and not usable; run again")

    print("Primitives, ns/op (median of rounds; min-max), Rust API against C calls;")
    print("Rust/C is the ratio of the medians, paired the median of each round's own ratio:")
    print(f"  {'operation':44} {'Rust':>16} {'C':>16} {'Rust/C':>7} {'paired':>7} {'base':>7}")
    for p in prims:
        # Barrier latencies are in ns too; shown in ms.
        k, unit = (1e6, " ms") if "barrier" in p["name"] else (1, "")
        r, c = [x / k for x in p["rust"]], [x / k for x in p["c"]]
        print(f"  {p['name'] + unit:44} {r[0]:8.1f} ({r[1]:.0f}-{r[2]:.0f}) "
              f"{c[0]:8.1f} ({c[1]:.0f}-{c[2]:.0f}) {p['ratio']:7.3f} "
              f"{p['paired_ratio'] or nan:7.3f} {b_prim.get(p['name']) or nan:7.3f}")

    cases = []
    print("\nvirtio_test, 0x100000 buffers, wall seconds (median; min-max), guest sys seconds:")
    print(f"  {'case':18} {'C':>18} {'Rust':>18} {'Rust/C':>7} {'base':>7} {'sys C':>6} {'sys R':>6}"
          " spurious C/R")
    for case, d in dev.items():
        if "c" not in d or "rust" not in d:
            continue
        c, r = d["c"], d["rust"]
        mc, mr = statistics.median(c["real"]), statistics.median(r["real"])
        row = {"case": case, "c": c, "rust": r, "c_median": mc, "rust_median": mr,
               "ratio": mr / mc}
        cases.append(row)
        print(f"  {case:18} {mc:6.2f} ({min(c['real']):.2f}-{max(c['real']):.2f}) "
              f"{mr:6.2f} ({min(r['real']):.2f}-{max(r['real']):.2f}) {mr / mc:7.3f} "
              f"{b_dev.get(case) or nan:7.3f} "
              f"{statistics.median(c['sys']):6.2f} {statistics.median(r['sys']):6.2f} "
              f"{sum(c['spurious'])}/{sum(r['spurious'])}")

    # Instructions per buffer do not move with the host's load as wall time
    # does: the same code on the same inputs executes the same instructions,
    # give or take timer interrupts and scheduling.
    icases = []
    if icount:
        bufs = 0x100000
        print("\nvirtio_test, guest instructions per buffer (TCG plugin, a boot of"
              " its own; median of rounds; min-max):")
        print(f"  {'case':18} {'kernel C':>16} {'kernel Rust':>16} {'Rust/C':>7} {'base':>7}"
              f" {'kmem C':>7} {'kmem R':>7} {'Rust/C':>7} {'user C':>7} {'user R':>7}"
              f" {'lock C':>6} {'lock R':>6}")
        for row in cases:
            per = {}
            for k in ("c", "rust"):
                w = [icount[i] for i in windows.get((row["case"], k), []) if i in icount]
                per[k] = [[x[j] / bufs for x in w] for j in range(4)] if w else None
            if not per["c"] or not per["rust"]:
                print(f"  {row['case']:18} WARNING: no instruction counts for both devices")
                continue
            med = {k: [statistics.median(v) for v in per[k]] for k in per}
            kc, kr = per["c"][0], per["rust"][0]
            r = {"case": row["case"], "c": med["c"], "rust": med["rust"],
                 "kernel_ratio": med["rust"][0] / med["c"][0],
                 "kmem_ratio": med["rust"][2] / max(med["c"][2], 1e-9)}
            icases.append(r)
            print(f"  {row['case']:18} {med['c'][0]:6.0f} ({min(kc):.0f}-{max(kc):.0f})"
                  f" {med['rust'][0]:6.0f} ({min(kr):.0f}-{max(kr):.0f})"
                  f" {r['kernel_ratio']:7.3f} {b_ins.get(row['case']) or nan:7.3f}"
                  f" {med['c'][2]:7.0f} {med['rust'][2]:7.0f}"
                  f" {r['kmem_ratio']:7.3f} {med['c'][1]:7.0f} {med['rust'][1]:7.0f}"
                  f" {med['c'][3]:6.2f} {med['rust'][3]:6.2f}")

    size = {}
    find = {}
    for d in mod_dirs:
        for root, _, files in os.walk(d):
            for n in files:
                if n.endswith(".ko"):
                    find[n] = os.path.join(root, n)
    if all(k in find for k in ("rust_vhost_test.ko", "vhost_test.ko", "vhost.ko")):
        rt, rd = sizes(find["rust_vhost_test.ko"])
        ct, cd = sizes(find["vhost_test.ko"])
        vt, vd = sizes(find["vhost.ko"])
        used = used_part(find["vhost_test.ko"], find["vhost.ko"])
        size = {"rust_vhost_test": {"text": rt, "data": rd},
                "vhost_test": {"text": ct, "data": cd},
                "vhost": {"text": vt, "data": vd},
                "vhost_functions_called_by_vhost_test": used}
        print("\nModule sizes, bytes (text / data+bss):")
        print(f"  rust_vhost_test.ko  {rt:7} / {rd}")
        print(f"  vhost_test.ko       {ct:7} / {cd}")
        print(f"  vhost.ko            {vt:7} / {vd}   (the functions vhost_test.ko calls "
              f"directly: {used} bytes of text)")
    if mem:
        print("\nKernel memory per open device (owned, ring running; Slab+KernelStack+PageTables"
              " over 64):")
        for k, v in mem.items():
            print(f"  {k:5} {v} bytes")
    if binder:
        print("\nBinder close path: one BINDER_WRITE_READ with a BC_FREE_BUFFER of K fds, ns"
              " (median of the rounds' medians; min-max of the rounds' medians):")
        for k, meds in sorted(binder.items()):
            m = statistics.median(meds)
            print(f"  K={k:<4} {m:10.0f} ({min(meds)}-{max(meds)})  {m / k:8.0f} per fd")
    if alloc:
        per_buf = alloc["allocations"] / max(alloc["buffers"], 1)
        print(f"\nRust device allocations: {alloc['allocations']} for {alloc['buffers']} buffers "
              f"over {runs} virtio_test runs and 64 held devices: {per_buf:.2e} per buffer")

    os.makedirs(out_dir, exist_ok=True)
    js = os.path.join(out_dir, "bench.json")
    with open(js, "w") as fh:
        json.dump({"primitives": prims, "device": cases, "instructions": icases, "sizes": size,
                   "memory_per_device": mem, "allocations": alloc, "runs": runs,
                   "binder_close_ns": {str(k): v for k, v in binder.items()}}, fh, indent=1)
    print(f"\njson:  {js}")

    dat = os.path.join(out_dir, "bench.dat")
    with open(dat, "w") as fh:
        for row in cases:
            fh.write(f"virtio_test:{row['case']} {row['ratio']:.4f}\n")
        for row in icases:
            fh.write(f"insns:{row['case']} {row['kernel_ratio']:.4f}\n")
        for p in prims:
            fh.write(f"{p['name'].replace('(100k queued)', '')} {p['ratio']:.4f}\n")
    svg = os.path.join(out_dir, "bench.svg")
    script = f"""
set terminal svg size 900,480 font "sans,11"
set output "{svg}"
set title "Rust / C (lower is better; 1 = parity)"
set style fill solid 0.6
set boxwidth 0.7
set yrange [0:*]
set xtics rotate by -35 left
set grid ytics
unset key
plot "{dat}" using 0:2:xtic(1) with boxes lc rgb "#4477aa", 1 with lines lc rgb "#cc3311" lw 2
"""
    if subprocess.run(["gnuplot"], input=script, text=True).returncode == 0:
        print(f"chart: {svg}")


if __name__ == "__main__":
    main()
