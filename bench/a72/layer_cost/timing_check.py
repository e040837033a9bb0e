"""Whole models through the Cortex-A72 timing model (bench/a72/timing, issue 12):
core cycles per inference at 1 and 4 threads of an fp32 model, of int8 models made
from it, and of its every-layer-int8 form, next to what the shipped cost table
(instruction counts, interim) estimates for the same models. This is how the interim
table's int8/fp32 ratios are checked against cycles until the table is rebuilt from
the timing model's per-layer cycles.

    PYTHONPATH=<checkout with bench/a72/timing> python bench/a72/layer_cost/timing_check.py \\
        FP32_MODEL_DIR [INT8_MODEL_DIR...] --harness layer_cost --prefix A72_PREFIX [--json OUT]

Cycles: the busiest guest thread's, per pass (layer_cost.cpp marks every pass after
the first as the timing model's phase 1), costed by llvm-mca's Cortex-A72 model
without the memory model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from facedge.calibration.costs import CostTable, model_costs_of
from facedge.calibration.graph import quantizable_layers
from facedge.calibration.int8_model import build_int8_model
from facedge.calibration.ncnn_model import read_model
from facedge.calibration.scales import weight_scales
from facedge.calibration.table import LayerScales

PASSES = 3  # one unmeasured, two measured


def cycles(harness, prefix, param, binf, inp, outs, size, threads, cpu="cortex-a72"):
    from bench.a72.timing import cycles_of, profile_run

    w, h = size
    argv = [str(harness), str(param), str(binf), str(w), str(h), "3", str(PASSES), inp, ",".join(outs)]
    prof, _ = profile_run(argv, qemu_cpu=cpu, prefix=str(prefix), env={"LAYER_COST_THREADS": str(threads)},
                          threads=threads)
    c = cycles_of(prof, cpu, phase=1)
    return max(c["per_thread_cycles"]), sum(c["per_thread_insns"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("fp32", type=Path)
    p.add_argument("int8", nargs="*", type=Path)
    p.add_argument("--harness", type=Path, required=True)
    p.add_argument("--prefix", type=Path, required=True)
    p.add_argument("--threads", default="1,4")
    p.add_argument("--cpu", default="cortex-a72", choices=("cortex-a72", "cortex-a76"))
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    info = json.loads((args.fp32 / "facedge.json").read_text())
    protected = set(info["outputs"].values())
    outs = sorted(protected)
    fp32 = read_model(args.fp32 / "model.param", args.fp32 / "model.bin")
    inp = next(layer for layer in fp32.layers if layer.type == "Input").tops[0]
    table = CostTable.load(args.cpu)
    mc = model_costs_of(args.fp32, fp32, protected, table)
    scales = {q.name: LayerScales(weight_scales(q.weights(fp32), q.groups, q.weight_6bit), np.float32(16))
              for q in quantizable_layers(fp32)}
    all8, _ = build_int8_model(fp32, scales, protected)
    rows = []
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        (d / "all8.param").write_text(all8.param_text())
        (d / "all8.bin").write_bytes(all8.bin_bytes())
        variants = [("fp32", args.fp32 / "model.param", args.fp32 / "model.bin", None),
                    ("every layer int8", d / "all8.param", d / "all8.bin", all8)]
        for m in args.int8:
            variants.append((str(m), m / "model.param", m / "model.bin",
                             read_model(m / "model.param", m / "model.bin", allow_int8=True)))
        for threads in [int(x) for x in args.threads.split(",")]:
            base = None
            for name, param, binf, model in variants:
                c, insns = cycles(args.harness, args.prefix, param, binf, inp, outs, info["input_size"], threads, args.cpu)
                e = mc.estimate(model)
                est = e.total if threads == 1 else e.total_4
                if base is None:
                    base = (c, est)
                row = {"model": name, "threads": threads, "cycles": round(c), "ms": round(table.ms(c), 3),
                       "insns": round(insns), "ratio_cycles": round(c / base[0], 4), "ratio_table": round(est / base[1], 4)}
                rows.append(row)
                print(f"{threads} thread(s) {name}: {c / 1e6:.2f} M cycles ({table.ms(c):.2f} ms at {table.clock_ghz} GHz), "
                      f"int8/fp32 by cycles {row['ratio_cycles']:.3f}, by the cost table {row['ratio_table']:.3f}",
                      file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
