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


def variants(row):
    q = row["quantize"]
    return {"fp32": row["fp32"], "int8": row["q_int8"] - q, "int8_rq": row["q_int8_rq"] - q}


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
    args = p.parse_args(argv)
    data = [json.loads(m.read_text()) for m in args.measured]
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
    qcoef, _ = nnls(x, np.array([r["quantize"] for r in rows]))
    other = sum(m["whole"]["fp32_fused"] - sum(r["fp32"] for r in m["layers"]) for m in models)
    other_elems = sum(m["other_elements"] for m in models)
    table = {
        "cpu": next(iter(cpus)), "unit": args.unit, "clock_ghz": args.clock_ghz, "cycles_per_unit": args.cycles_per_unit,
        "source": args.source, "models": [m["model"] for m in models],
        "classes": classes, "quantize": [round(float(c), 6) for c in qcoef],
        "other_per_element": round(max(other, 0.0) / max(other_elems, 1), 6),
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
    for m in models:
        whole = m["whole"]
        print(f"{m['model']}: whole fp32 {whole['fp32']:.0f} (fused {whole['fp32_fused']:.0f}), every layer int8 "
              f"{whole['int8_all']:.0f}: ratio {whole['int8_all'] / whole['fp32_fused']:.3f}", file=sys.stderr)
    tmp = args.out.with_suffix(".tmp")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
