"""How fast can int8 be on a board with ncnn's kernels, whatever the accuracy? For
each model: the estimated int8/fp32 ratio of the all-int8 model and of the cheapest
mix (found greedily from both ends: layers made float while that lowers the cost,
layers made int8 while that does), and the per-layer fp32 and int8 costs that cap it.

    python bench/a72/layer_cost/bound.py FP32_MODEL_DIR... [--target pi4] [--markdown]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facedge.calibration.costs import CostTable, model_costs_of, resolve_target
from facedge.calibration.graph import quantizable_layers
from facedge.calibration.int8_model import build_int8_model
from facedge.calibration.ncnn_model import read_model
from facedge.calibration.table import LayerScales


def model_costs(d: Path, table):
    info = json.loads((d / "facedge.json").read_text())
    protected = set(info["outputs"].values())
    fp32 = read_model(d / "model.param", d / "model.bin")
    return fp32, protected, model_costs_of(d, fp32, protected, table)


def cheapest(fp32, protected, mc, threads):
    scales = {q.name: LayerScales(np.ones(q.groups, np.float32), np.float32(1)) for q in quantizable_layers(fp32)}

    def cost(int8_names):
        if not int8_names:
            e = mc.estimate(None)
        else:
            e = mc.estimate(build_int8_model(fp32, {n: scales[n] for n in int8_names}, protected)[0])
        return e.total if threads == 1 else e.total_4

    best = None
    for start in (set(scales), set()):
        current = set(start)
        c = cost(current)
        improved = True
        while improved:
            improved = False
            for n in scales:
                trial = current ^ {n}
                t = cost(trial)
                if t < c - 1e-9:
                    current, c, improved = trial, t, True
        if best is None or c < best[0]:
            best = (c, current)
    return best[0] / cost(set()), cost(set(scales)) / cost(set()), best[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--target", default="pi4")
    p.add_argument("--markdown", action="store_true", help="print the per-layer table in Markdown")
    args = p.parse_args(argv)
    table = CostTable.load(resolve_target(args.target))
    for d in args.models:
        fp32, protected, mc = model_costs(d, table)
        name = d.parent.name if d.name == "fp32" else d.name
        for threads in (1, 4):
            best, all8, chosen = cheapest(fp32, protected, mc, threads)
            print(f"{name} on {args.target} ({table.cpu}), {threads} thread(s): all-int8 / fp32 {all8:.3f}; "
                  f"cheapest mix {best:.3f} with {len(chosen)} of {len(mc.layers)} layers int8")
        if args.markdown:
            print(f"\n| layer | class | MACs | fp32 | int8 (int8 in, float out) | int8 / fp32 | quantize pass |\n|---|---|---:|---:|---:|---:|---:|")
            for n, s in mc.layers.items():
                f, _ = mc.layer_cost(n, "fp32")
                q, _ = mc.layer_cost(n, "int8")
                f *= table.scale["fp32"]
                q *= table.scale["int8"]
                print(f"| {n} | {s.cls} | {s.macs / 1e6:.2f} M | {f / 1e3:.0f} k | {q / 1e3:.0f} k | {q / f:.2f} | "
                      f"{mc.quantize_cost(n) * table.scale['int8'] / 1e3:.0f} k |")
            print()


if __name__ == "__main__":
    main()
