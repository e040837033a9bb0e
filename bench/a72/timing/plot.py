"""Plots of the timing model's results (matplotlib, written atomically):

    python -m bench.a72.timing.plot --validation VALIDATION.json [--estimates A72-TIMING.json] -o OUT.png

Left: published against estimated milliseconds, log-log, a marker per table and thread
count, the fitted rows hollow, the ±15 % and ±35 % bands. Right (with --estimates): the
estimated Pi 4B ms of each model and runtime against threads."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def plot(validation: dict, estimates: dict | None, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if estimates else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 6))
    ax = axes[0] if panels > 1 else axes
    rows = [r for r in validation["rows"] if r.get("estimated_ms")]
    lo = min(min(r["published_ms"], r["estimated_ms"]) for r in rows) * 0.8
    hi = max(max(r["published_ms"], r["estimated_ms"]) for r in rows) * 1.2
    xs = [lo, hi]
    ax.plot(xs, xs, color="black", lw=1)
    for f, style in ((0.15, "--"), (0.35, ":")):
        ax.plot(xs, [x * (1 + f) for x in xs], color="grey", ls=style, lw=0.8)
        ax.plot(xs, [x * (1 - f) for x in xs], color="grey", ls=style, lw=0.8, label=f"±{f:.0%}")
    colors = {"pi4b-1500": "tab:blue", "pi4b-1800": "tab:orange", "pi5-2400": "tab:green"}
    for table in sorted({r["table"] for r in rows}):
        for threads, marker in ((1, "o"), (4, "s")):
            for fit in (False, True):
                sel = [r for r in rows if r["table"] == table and r["threads"] == threads and r["fit"] == fit]
                if sel:
                    ax.scatter([r["published_ms"] for r in sel], [r["estimated_ms"] for r in sel], marker=marker,
                               facecolors="none" if fit else colors.get(table, "k"), edgecolors=colors.get(table, "k"),
                               label=f"{table}, {threads} thread{'s' if threads > 1 else ''}{' (fit rows)' if fit else ''}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("published ms (ncnn benchmark/README.md, real boards)")
    ax.set_ylabel("estimated ms (A72 timing model under qemu)")
    ax.set_title("Timing model validation: benchncnn networks")
    ax.legend(fontsize=7)
    if estimates:
        ax = axes[1]
        keyed = {}
        for r in estimates["estimates"]:
            keyed.setdefault((r["model"], r["precision"], r["runtime"]), {})[r["threads"]] = r["estimated_ms"]
        for (model, precision, runtime), by_t in sorted(keyed.items()):
            ts = sorted(by_t)
            ax.plot(ts, [by_t[t] for t in ts], marker="o", lw=2 if runtime == "facedge" else 1,
                    label=f"{model} {precision} {runtime}")
        ax.set_yscale("log")
        ax.set_xlabel("threads")
        ax.set_xticks(sorted({t for v in keyed.values() for t in v}))
        ax.set_ylabel(f"estimated ms per frame, Pi 4B at {estimates['clock_mhz']:g} MHz")
        ax.set_title("Estimated Pi 4B latency (an estimate, not a measurement)")
        ax.legend(fontsize=5, ncol=2)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validation", type=Path, required=True)
    p.add_argument("--estimates", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args(argv)
    plot(json.loads(args.validation.read_text()),
         json.loads(args.estimates.read_text()) if args.estimates else None, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
