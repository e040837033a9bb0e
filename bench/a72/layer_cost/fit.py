"""Turns layer-cost measurements (measure.py's JSON, one or more files for one CPU)
into the cost table facedge ships: calibration/costs/<cpu>.json (costs.CostTable).

    python bench/a72/layer_cost/fit.py MEASURED.json... --out calibration/costs/cortex-a72.json
        --clock-ghz 1.5 --cycles-per-unit 1.0 --unit "..."

Per layer class and variant, a non-negative least-squares fit of
cost = fixed + per_mac * MACs + per_in * input elements + per_out * output elements
(fewer terms where a class has few layers); every measured layer is also kept
exactly under its shape key. Prints how well the fit and the per-layer sums
reproduce the measurements (whole models included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from facedge.calibration.costs import layer_class, shape_key


OVERHEAD = 0.0  # per forward pass of any network (extractor, dispatch): --overhead


def variants(row):
    q = row["quantize"]
    return {"fp32": row["fp32"] - OVERHEAD, "int8": row["q_int8"] - q, "int8_rq": row["q_int8_rq"] - q}


def features(row):
    return [1.0, float(row["macs"]), float(np.prod(row["in"])), float(np.prod(row["out"]))]


def fit(rows, values):
    x = np.array([features(r) for r in rows])
    y = np.array(values, dtype=np.float64)
    if len(rows) >= 6:
        cols = [0, 1, 2, 3]
    elif len(rows) >= 2:
        cols = [1, 3]
    else:
        cols = [1]
    coef, _ = nnls(x[:, cols], y)
    full = np.zeros(4)
    full[cols] = coef
    return full


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("measured", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--clock-ghz", type=float, required=True)
    p.add_argument("--cycles-per-unit", type=float, required=True)
    p.add_argument("--unit", required=True)
    p.add_argument("--source", default="")
    p.add_argument("--speedup-4", metavar="FP32,INT8", default="4,4",
                   help="whole-model speed-up at 4 threads of fp32 and of int8 models (timing_check.py's cycles "
                        "at 1 and 4 threads)")
    p.add_argument("--overhead", type=float, default=None,
                   help="cost of a forward pass of an empty network (Input -> ReLU on 4 values), taken off every "
                        "measured network: a layer inside a model does not pay it (default: measure.py's)")
    args = p.parse_args(argv)
    global OVERHEAD
    data = [json.loads(m.read_text()) for m in args.measured]
    OVERHEAD = args.overhead if args.overhead is not None else float(np.mean([d.get("overhead", 0.0) for d in data]))
    cpus = {d["cpu"] for d in data}
    if len(cpus) != 1:
        raise SystemExit(f"measurements of several CPUs: {sorted(cpus)}")
    rows, models = [], []
    for d in data:
        for m in d["models"]:
            models.append(m)
            for r in m["layers"]:
                r = dict(r, cls=layer_class(r["type"], tuple(r["kernel"]), tuple(r["stride"]), tuple(r["dilation"])))
                r["key"] = shape_key(r["type"], tuple(r["kernel"]), tuple(r["stride"]), tuple(r["dilation"]), r["group"],
                                     tuple(r["in"]), tuple(r["out"]))
                rows.append(r)
    classes = {}
    for cls in sorted({r["cls"] for r in rows}):
        members = [r for r in rows if r["cls"] == cls]
        classes[cls] = {v: [round(float(c), 6) for c in fit(members, [variants(r)[v] for r in members])]
                        for v in ("fp32", "int8", "int8_rq")}
    # the type-wide classes a layer of an unknown class falls back to
    for t, name in (("Convolution", "conv_any"), ("ConvolutionDepthWise", "dw_any")):
        members = [r for r in rows if r["type"] == t]
        if members:
            classes[name] = {v: [round(float(c), 6) for c in fit(members, [variants(r)[v] for r in members])]
                             for v in ("fp32", "int8", "int8_rq")}
    x = np.array([[1.0, float(np.prod(r["in"]))] for r in rows])
    qcoef, _ = nnls(x, np.array([r["quantize"] - OVERHEAD for r in rows]))
    other = sum(m["whole"]["fp32_fused"] - OVERHEAD - sum(variants(r)["fp32"] for r in m["layers"]) for m in models)
    other_elems = sum(m["other_elements"] for m in models)
    table = {
        "cpu": next(iter(cpus)), "unit": args.unit, "clock_ghz": args.clock_ghz, "cycles_per_unit": args.cycles_per_unit,
        "source": args.source, "models": [m["model"] for m in models],
        "classes": classes, "quantize": [round(float(c), 6) for c in qcoef],
        "other_per_element": round(max(other, 0.0) / max(other_elems, 1), 6),
        "speedup_4": dict(zip(("fp32", "int8"), (float(v) for v in args.speedup_4.split(",")))),
        "default_class": {"Convolution": "conv_any", "ConvolutionDepthWise": "dw_any", "InnerProduct": "conv_any"},
        "shapes": {r["key"]: {v: round(c, 1) for v, c in variants(r).items()} for r in rows},
    }
    # how well the fits reproduce the measurements
    for cls, coefs in classes.items():
        members = [r for r in rows if r["cls"] == cls]
        if not members:
            continue
        err = [abs(np.dot(features(r), coefs["fp32"]) - r["fp32"]) / max(r["fp32"], 1) for r in members]
        err8 = [abs(np.dot(features(r), coefs["int8"]) - variants(r)["int8"]) / max(variants(r)["int8"], 1) for r in members]
        print(f"{cls:14s} {len(members):3d} layers: fit error fp32 median {np.median(err):.3f} max {max(err):.3f}; "
              f"int8 median {np.median(err8):.3f} max {max(err8):.3f}", file=sys.stderr)
    _write(table, args.out)
    # scale the per-layer costs so that their sums reproduce the whole models
    sums = check_whole_models(models, args.out, quiet=True)
    table["scale"] = {k: round(sum(m[k] for m, _ in sums) / sum(e[k] for _, e in sums), 4) for k in ("fp32", "int8")}
    print(f"per-layer sums scaled by {table['scale']} to match the whole models", file=sys.stderr)
    _write(table, args.out)
    check_whole_models(models, args.out)


def _write(table, out):
    tmp = out.with_suffix(".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    os.replace(tmp, out)


def check_whole_models(models, table_path, quiet=False):
    """The table's estimate of each whole model (fp32, every layer int8) against its measurement."""
    from facedge.calibration.costs import CostTable, model_costs_of
    from facedge.calibration.graph import quantizable_layers
    from facedge.calibration.int8_model import build_int8_model
    from facedge.calibration.ncnn_model import read_model
    from facedge.calibration.scales import weight_scales
    from facedge.calibration.table import LayerScales

    table = CostTable.load(None, table_path)
    sums = []
    for m in models:
        d = Path(m["dir"])
        info = json.loads((d / "facedge.json").read_text())
        protected = set(info["outputs"].values())
        fp32 = read_model(d / "model.param", d / "model.bin")
        mc = model_costs_of(d, fp32, protected, table)
        scales = {q.name: LayerScales(weight_scales(q.weights(fp32), q.groups, q.weight_6bit), np.float32(16))
                  for q in quantizable_layers(fp32)}
        all8, _ = build_int8_model(fp32, scales, protected)
        e32, e8 = mc.estimate(None), mc.estimate(all8)
        w = m["whole"]
        m32, m8 = w["fp32_fused"] - OVERHEAD, w["int8_all"] - OVERHEAD
        sums.append(({"fp32": m32 - e32.other, "int8": m8 - e8.other},
                      {"fp32": e32.total - e32.other, "int8": e8.total - e8.other}))
        e32, e8 = e32.total, e8.total
        if quiet:
            continue
        print(f"{m['model']}: fp32 measured {m32 / 1e6:.2f} M, estimated {e32 / 1e6:.2f} M; every layer int8 measured "
              f"{m8 / 1e6:.2f} M, estimated {e8 / 1e6:.2f} M; int8/fp32 measured {m8 / m32:.3f}, estimated {e8 / e32:.3f}",
              file=sys.stderr)
    return sums  # [(measured, estimated)] of the quantizable layers' part, per model


if __name__ == "__main__":
    main()
