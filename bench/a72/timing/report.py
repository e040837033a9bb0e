"""Markdown for bench/RESULTS.md from the timing model's JSON files:

    python -m bench.a72.timing.report --validation VALIDATION.json [--estimates A72-TIMING.json]
                                      [--kernels KERNELS.json]

The validation table is shaped like ncnn's Pi tables: a row per network, per table and
thread count the published ms, the estimate and the error; fit rows are marked."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def validation_md(v: dict) -> str:
    rows = v["rows"]
    cols = [(t, n) for t in ("pi4b-1500", "pi4b-1800", "pi5-2400") for n in (1, 4)
            if any(r["table"] == t and r["threads"] == n for r in rows)]
    by = {(r["table"], r["threads"], r["model"]): r for r in rows}
    models = list(dict.fromkeys(r["model"] for r in sorted(rows, key=lambda r: r.get("order", 0))))
    head = " | ".join(f"{t} {n}t: published / estimated (error)" for t, n in cols)
    lines = [f"| network | {head} |", "|---|" + "---:|" * len(cols)]
    for m in models:
        cells = []
        for t, n in cols:
            r = by.get((t, n, m))
            if r is None:
                cells.append("")
            elif r.get("estimated_ms") is None:
                cells.append(f"{r['published_ms']:.1f} / not run")
            else:
                mark = "*" if r.get("fit") else ""
                cells.append(f"{r['published_ms']:.1f} / {r['estimated_ms']:.1f} ({100 * r['error']:+.0f} %){mark}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "| rows | n | median abs error | mean abs error | worst | within 15 % | within 35 % |",
              "|---|---:|---:|---:|---|---:|---:|"]
    for k, s in v["stats"].items():
        if s.get("n"):
            lines.append(f"| {k} | {s['n']} | {100 * s['median_abs_error']:.1f} % | {100 * s['mean_abs_error']:.1f} % | "
                         f"{100 * s['worst_abs_error']:.0f} % ({s['worst_row']}) | {s['within_15pct']} | {s['within_35pct']} |")
    return "\n".join(lines)


def kernels_md(k: dict) -> str:
    lines = ["| kernel (80x60 feature map, 1 thread) | work | cycles / unit, pipeline only | cycles / unit, with Pi 4B memory | "
             "instructions / unit | IPC |", "|---|---:|---:|---:|---:|---:|"]
    for r in k["rows"]:
        lines.append(f"| {r['kernel']} | {r['work'] / 1e6:.2f} M {r['unit']}s | {r['per_unit_core']:.3f} | "
                     f"{r['per_unit']:.3f} | {r['insns'] / r['work']:.3f} | {r['ipc']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validation", type=Path)
    p.add_argument("--estimates", type=Path)
    p.add_argument("--kernels", type=Path)
    args = p.parse_args(argv)
    if args.validation:
        print(validation_md(json.loads(args.validation.read_text())), end="\n\n")
    if args.estimates:
        from .apply import table

        e = json.loads(args.estimates.read_text())
        print(table(e["estimates"], e["threads"], e["clock_mhz"], e.get("validation")), end="\n\n")
        for n in e["notes"]:
            print(f"- {n}")
        print()
    if args.kernels:
        print(kernels_md(json.loads(args.kernels.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
