"""WIDER AP with bf16 storage against fp32 storage, model by model: the `facedge eval`
protocol (defaults, one ncnn thread) on the WIDER val images present, the delta and
its 95 % bootstrap interval over the images (calibration.evaluate.delta_interval, as
the int8 report computes it).

    python bench/a72/bf16_accuracy.py --wider ROOT [--json OUT] MODEL_DIR@WxH[+off=DIR][+on=DIR] ...

Each side runs in the installed facedge (this machine), or is read from a predictions
folder (`+on=DIR`): what bench/a72/wider_guest.py wrote under qemu's Cortex-A72, the
Pi's own arithmetic. The two differ: ncnn's x86 depthwise convolution has no bf16 path
and runs fp32 with fp32 weights, the ARM one keeps its weights and blobs in bf16, so
only the A72 side is what a Pi 4 with bf16 detects.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def study(model_dir: Path, size, val, predictions=None) -> dict:
    """predictions: {"off"|"on": folder} read instead of running that side here."""
    from facedge.bench.wider.ap import evaluate
    from facedge.bench.wider.gt import SETTINGS
    from facedge.bench.wider.run import (DEFAULT_IOU, DEFAULT_NMS, DEFAULT_SCORE_THRESHOLD, DEFAULT_TOP_K,
                                         InferenceOptions, open_detector, run_model)
    from facedge.bench.wider.run import predictions_for_val
    from facedge.calibration.evaluate import delta_interval

    predictions = predictions or {}

    out, rows = {"model": str(model_dir), "input_size": list(size)}, {}
    for bf16 in ("off", "on"):
        options = InferenceOptions(input_size=size, max_side=None, score_threshold=DEFAULT_SCORE_THRESHOLD,
                                   iou_threshold=DEFAULT_IOU, top_k=DEFAULT_TOP_K, nms=DEFAULT_NMS, threads=1, bf16=bf16)
        if bf16 in predictions:
            images, rows[bf16] = predictions_for_val(val, predictions[bf16])
            int8 = "int8 + " if json.loads((model_dir / "facedge.json").read_text())["precision"] == "int8" else ""
            runs = f"{int8}{'bf16' if bf16 == 'on' else 'fp32'} (aarch64, qemu cortex-a72)"
        else:
            detector = open_detector(model_dir, options)
            images, rows[bf16], _ = run_model(val, detector, options)
            runs = detector.precision
        if bf16 == "off":
            first = [im.name for im in images]
        elif [im.name for im in images] != first:
            raise SystemExit(f"{model_dir}: the two sides cover different images")
        result = evaluate(images, rows[bf16])
        out[runs] = {s: round(float(result.settings[s].ap), 4) for s in SETTINGS}
        out["images"] = result.images
    (a, b) = [k for k in out if isinstance(out[k], dict)]
    out["runs"] = [a, b]
    out["delta"] = {s: round(out[b][s] - out[a][s], 4) for s in SETTINGS}
    out["delta_interval"] = delta_interval(images, rows["off"], rows["on"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wider", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("models", nargs="+", metavar="MODEL_DIR@WxH[+off=DIR][+on=DIR]")
    args = p.parse_args(argv)
    from facedge.bench.wider.gt import load_wider_val

    val = load_wider_val(args.wider)
    results = []
    print("| model | input | fp32 Easy / Medium / Hard | bf16 Easy / Medium / Hard | delta | delta, 95 % interval |")
    print("|---|---|---|---|---|---|")
    for spec in args.models:
        folder, _, rest = spec.partition("@")
        size, *sides = rest.split("+")
        predictions = dict(side.split("=", 1) for side in sides)
        r = study(Path(folder), tuple(int(v) for v in size.split("x")), val, predictions)
        results.append(r)
        a, b = r["runs"]
        ap = lambda d: " / ".join(f"{d[s]:.4f}" for s in ("easy", "medium", "hard"))  # noqa: E731
        print(f"| {Path(folder).parent.name} {Path(folder).name} ({a} -> {b}) | {size} | {ap(r[a])} | {ap(r[b])} | "
              f"{' / '.join(f'{v:+.4f}' for v in r['delta'].values())} | "
              f"{' / '.join(f'{lo:+.3f} .. {hi:+.3f}' for lo, hi in r['delta_interval'].values())} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
