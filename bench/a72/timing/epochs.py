"""Late epoch cuts: why repeat profiles of one workload give different 4-thread estimates.

    python -m bench.a72.timing.epochs PROFILE.txt.gz [PROFILE ...] [--phase 2] [--threads 4]
        [--balanced] [--clock-mhz 1500] [--show 20]

Give it profiles of the same workload (same wheel, model, size: the per-thread
instruction totals agree to ~0.01 %). For each it prints the estimate with every epoch
priced on its own (the model's default) and with late cuts merged
(model.merge_late_cuts), the number of epochs, and the per-thread instruction totals;
then, epoch by epoch, where the profiles split the same work differently: the same
cuts (the epoch counts agree) with a thread's share on the other side of a cut.

What it shows (bench/RESULTS.md, "Late epoch cuts"): the plugin cuts an epoch when the
waking thread's futex system call returns. The threads it woke run meanwhile, so a
parallel region's share of a woken thread lands in the epoch before the cut, next to
the serial work that preceded the region, and the region is charged about twice."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .estimate import phase_estimate
from .profile import read_profile


def epoch_table(profile, phase: int) -> list:
    """[[instructions per active thread] per epoch] of one phase; threads that never ran
    in it are left out (their columns would be zeros)."""
    epochs = [e for e in profile.epochs if e.phase == phase]
    active = [v for v in range(profile.vcpus) if any(e.insns[v] for e in epochs)]
    return [[e.insns[v] for v in active] for e in epochs]


def differing_epochs(tables: list, min_insns: int = 2000) -> list:
    """[(epoch index, [row per table or None])] where some thread's instructions differ
    by more than min_insns between the tables (the first table is the reference)."""
    out = []
    for i in range(max(len(t) for t in tables)):
        rows = [t[i] if i < len(t) else None for t in tables]
        ref = rows[0]
        if ref is None or any(r is None or len(r) != len(ref) for r in rows):
            out.append((i, rows))
            continue
        if any(abs(a - b) > min_insns for r in rows[1:] for a, b in zip(r, ref)):
            out.append((i, rows))
    return out


def estimates(path: Path, phase: int, threads: int, clock_mhz: float, balanced: bool, cpu: str = "cortex-a72"):
    """(profile, ms as cut, ms with late cuts merged) of one profiled phase."""
    try:
        prof = read_profile(path)
    except (OSError, ValueError) as e:
        raise SystemExit(f"{path}: not a readable tbprofile profile ({e})") from None
    if phase not in prof.marks:
        raise SystemExit(f"{path}: no phase {phase} (marked phases: {prof.phases})")
    est = phase_estimate(prof, phase, threads, cpu, clock_mhz, balanced=balanced)
    return prof, est["ms"], est["late_cuts_merged_ms"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("profiles", nargs="+", type=Path)
    p.add_argument("--phase", type=int, default=2, help="the marked phase to compare (frontier profiles: 2 = 4 threads)")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--balanced", action="store_true", help="a dynamic pool (OpenCV, onnxruntime): see model.predict_ms")
    p.add_argument("--clock-mhz", type=float, default=1500)
    p.add_argument("--show", type=int, default=20, help="how many differing epochs to print")
    args = p.parse_args(argv)
    tables, cut, merged = [], [], []
    for path in args.profiles:
        if not path.is_file():
            raise SystemExit(f"{path}: no such profile")
        prof, a, b = estimates(path, args.phase, args.threads, args.clock_mhz, args.balanced)
        tables.append(epoch_table(prof, args.phase))
        cut.append(a)
        merged.append(b)
        totals = [sum(col) / 1e6 for col in zip(*tables[-1])] if tables[-1] else []
        print(f"{path}: {len(tables[-1])} epochs, M instructions per thread {[round(t, 3) for t in totals]}, "
              f"{a:.3f} ms as cut, {b:.3f} ms late cuts merged")
    if len(args.profiles) > 1:
        print(f"spread: {max(cut) - min(cut):.3f} ms as cut, {max(merged) - min(merged):.3f} ms late cuts merged")
        diff = differing_epochs(tables)
        print(f"{len(diff)} epochs split differently (k instructions per thread, one column group per profile):")
        for i, rows in diff[:args.show]:
            print(f"  {i:4d}  " + " | ".join(" ".join(f"{c / 1e3:6.1f}" for c in r) if r else "-" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
