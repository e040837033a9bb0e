"""The boundary pass the per-layer costs miss: an int8 depthwise convolution whose
output stays float writes it packed by 8 lanes (ncnn 20261020,
ConvolutionDepthWise_arm::forward_int8_arm), and on a CPU without fp16 storage (the
A72) every fp32 reader repacks it to 4 lanes with ncnn's generic, element-by-element
`Packing::forward`. measure.py runs each layer alone and never sees that pass; in a
whole model it costs about 44 cycles per element (a float 1x1 convolution after an
int8 depthwise one: 2-6 times the convolution's own price).

For each int8 depthwise convolution of the every-layer-int8 model read by one
quantizable layer, that reader is put in float, the whole model run through the A72
timing model, and what the cost table (without the repack) says the change costs
subtracted; the rest, against the depthwise output's element count, gives the
table's `repack_float_pack8` line ([fixed, per element], per reader).

    PYTHONPATH=<dir holding this checkout's bench/> python bench/a72/layer_cost/repack_cost.py \\
        FP32_MODEL_DIR... --harness layer_cost --prefix A72_PREFIX --table calibration/costs/cortex-a72.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from facedge.calibration.costs import CostTable, model_costs_of
from facedge.calibration.graph import quantizable_layers
from facedge.calibration.int8_model import build_int8_model
from facedge.calibration.ncnn_model import read_model
from facedge.calibration.scales import weight_scales
from facedge.calibration.table import LayerScales

from bench.a72.layer_cost.timing_check import cycles


def _cases(fp32, qlayers):
    """[(depthwise layer, its one quantizable reader)]"""
    by_name = {q.name: q for q in qlayers}
    consumers = fp32.consumers()
    out = []
    for q in qlayers:
        layer = fp32.layers[q.index]
        if q.type != "ConvolutionDepthWise" or q.num_output % 8:
            continue
        users = consumers.get(layer.tops[0], [])
        if len(users) == 1 and fp32.layers[users[0][0]].name in by_name:
            out.append((q.name, fp32.layers[users[0][0]].name))
    return out


def measure(model_dir: Path, harness, prefix, table: CostTable, limit: int) -> list:
    info = json.loads((model_dir / "facedge.json").read_text())
    protected = set(info["outputs"].values())
    fp32 = read_model(model_dir / "model.param", model_dir / "model.bin")
    # activations fused as in the int8 models, so that the depthwise layers read as they will
    from facedge.calibration.graph import fuse_activations

    fused = fp32.copy()
    fuse_activations(fused, protected)
    qlayers = quantizable_layers(fused)
    inp = next(layer for layer in fp32.layers if layer.type == "Input").tops[0]
    scales = {q.name: LayerScales(weight_scales(q.weights(fused), q.groups, q.weight_6bit), np.float32(16)) for q in qlayers}
    mc = model_costs_of(model_dir, fp32, protected, replace(table, repack_float_pack8=None))

    def run(float_names):
        model, _ = build_int8_model(fp32, {n: s for n, s in scales.items() if n not in float_names}, protected)
        with tempfile.TemporaryDirectory() as t:
            p, b = Path(t) / "m.param", Path(t) / "m.bin"
            p.write_text(model.param_text())
            b.write_bytes(model.bin_bytes())
            c, _ = cycles(harness, prefix, p, b, inp, sorted(protected), info["input_size"], 1)
        return c, mc.estimate(model).total

    base, base_est = run(())
    rows = []
    for dw, reader in _cases(fused, qlayers)[:limit]:
        c, est = run((reader,))
        elements = mc.layers[dw].out_elems
        extra = (c - base) - (est - base_est)
        rows.append({"model": str(model_dir), "depthwise": dw, "reader": reader, "elements": elements,
                     "cycles": round(c), "table_delta": round(est - base_est), "repack": round(extra)})
        print(f"{model_dir.parent.name} {reader} float after int8 {dw}: {elements} elements, "
              f"{extra / 1e6:.3f} M cycles beyond the table ({extra / elements:.1f} per element)", file=sys.stderr,
              flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--harness", type=Path, required=True)
    p.add_argument("--prefix", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True, help="cost table JSON to price with and to update")
    p.add_argument("--limit", type=int, default=6, help="cases per model (default 6)")
    p.add_argument("--json", type=Path, help="also write the measured cases here")
    args = p.parse_args(argv)
    table = CostTable.load(None, args.table)
    rows = [r for m in args.models for r in measure(m, args.harness, args.prefix, table, args.limit)]
    x = np.array([r["elements"] for r in rows], np.float64)
    y = np.array([r["repack"] for r in rows], np.float64)
    per, fixed = np.polyfit(x, y, 1)
    d = json.loads(args.table.read_text())
    d["repack_float_pack8"] = [round(max(float(fixed), 0.0), 1), round(float(per), 4)]
    d["repack_source"] = (f"bench/a72/layer_cost/repack_cost.py: {len(rows)} readers of int8 depthwise convolutions "
                          f"({int(x.min())}-{int(x.max())} elements) put in float in every-layer-int8 "
                          f"{', '.join(m.parent.name for m in args.models)}: the A72 timing model's cycles less the table's "
                          "price of that change without the repack")
    tmp = args.table.with_suffix(".tmp")
    tmp.write_text(json.dumps(d, indent=1) + "\n")
    tmp.replace(args.table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"repack_float_pack8 = {d['repack_float_pack8']}", file=sys.stderr)


if __name__ == "__main__":
    main()
