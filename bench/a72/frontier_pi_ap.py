"""The frontier's goal check again, with the bf16 and int8 rows' AP measured on the Pi's
arithmetic instead of x86's (x86 ncnn has no bf16 depthwise convolution and rounds int8
otherwise, so those rows' x86 AP only approximates a Pi's).

    python -m bench.a72.frontier_pi_ap --frontier frontier.json --predictions DIR --wider ROOT [--json OUT]

DIR/<model>-<precision without "+">-<WxH>/ (e.g. yunet_s-int8bf16-320x240): WIDER val
predictions of that row made by the aarch64 wheel under `qemu -cpu cortex-a72`
(`bench/a72/wider_guest.py MODEL_DIR WxH on|off ROOT OUT` in the arm64 rootfs: facedge
eval's defaults, the frontier's AP protocol). Each row with such a folder gets its
A72 AP ("ap_a72") and is ranked by it; fp32 rows and the peer keep their x86 AP (fp32
detections agree within float rounding: tests/arm). Prints the rows' x86 and A72 AP, the
budget table and the goal lines; --json writes the rows with ap_a72 beside ap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Run from the repository root: its facedge/ source folder must not shadow the installed
# facedge (as in frontier.py)
_ROOT = Path(__file__).resolve().parents[2]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT]

from facedge.base.errors import FacedgeError  # noqa: E402

from . import frontier_report  # noqa: E402


def folder_name(row) -> str:
    return f"{row['model']}-{row['precision'].replace('+', '')}-{row['size'][0]}x{row['size'][1]}"


def with_pi_ap(rows, predictions: Path, measure):
    """The rows, each with a predictions folder given its A72 AP (measure(folder) ->
    {"easy", "medium", "hard"}) as "ap_a72", and ranked by it ("ap" := the A72 AP, the
    x86 one kept as "ap_x86"). Returns (rows, names of the rows that got one)."""
    out, done = [], []
    for r in rows:
        folder = predictions / folder_name(r)
        if r.get("peer") or r["precision"] == "fp32" or not folder.is_dir():
            out.append(r)
            continue
        ap = measure(folder)
        out.append({**r, "ap_x86": r["ap"], "ap_a72": ap, "ap": ap})
        done.append(folder.name)
    return out, done


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frontier", type=Path, required=True, help="the frontier's PREFIX.json")
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--wider", type=Path, required=True)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    try:
        return run(args)
    except FacedgeError as e:
        print(f"frontier_pi_ap: {e}", file=sys.stderr)
        return 2


def run(args) -> int:
    from facedge.bench.wider.ap import evaluate
    from facedge.bench.wider.gt import load_wider_val
    from facedge.bench.wider.run import find_val_images, predictions_for_val

    data = json.loads(args.frontier.read_text())
    val = load_wider_val(args.wider)
    present = find_val_images(val)

    def measure(folder):
        images, rows = predictions_for_val(val, folder)
        if len(images) != len(present):  # an AP over other images is not the row's (x86's ran on these)
            raise FacedgeError(f"{folder}: predictions for {len(images)} images, {len(present)} val images present")
        return {k: round(v.ap, 4) for k, v in evaluate(images, rows).settings.items()}

    rows, done = with_pi_ap(data["rows"], args.predictions, measure)
    print(f"{len(done)} rows with A72 predictions\n")
    print("| row | x86 AP (E / M / H) | A72 AP (E / M / H) | Medium A72 - x86 |\n|---|---|---|---:|")
    for r in sorted((r for r in rows if "ap_a72" in r), key=lambda r: frontier_report.label(r)):
        fmt = lambda ap: " / ".join(f"{ap[s]:.3f}" for s in frontier_report.SETTINGS)  # noqa: E731
        print(f"| {frontier_report.label(r)} | {fmt(r['ap_x86'])} | {fmt(r['ap_a72'])} | "
              f"{r['ap_a72']['medium'] - r['ap_x86']['medium']:+.3f} |")
    threads = data["threads"]
    print("\nWhich model for which budget, A72 AP where measured:\n")
    print(frontier_report.budget_table(rows, threads))
    print("\nThe goal, A72 AP where measured:\n")
    print(frontier_report.goal_summary(rows, threads))
    print(frontier_report.goal_summary(rows, [t for t in threads if t > 1], as_profiled=True))
    print(frontier_report.goal_summary(rows, threads, precisions=("fp32", "int8")))
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps({**data, "rows": rows, "ap_a72_rows": done}, indent=1))
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
