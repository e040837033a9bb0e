"""`facedge eval`'s result: the JSON report (AP per setting, what was evaluated,
the protocol and inference options), its table and the plot's title."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facedge.bench.wider.ap import IOU_THRESHOLD, THRESH_NUM
from facedge.bench.wider.gt import SETTINGS


def make_report(result, val, source, options):
    def number(x):
        return None if x is None or not np.isfinite(x) else float(x)

    report = {s: number(result.settings[s].ap) for s in SETTINGS}
    report.update({
        "images": result.images,
        "faces": result.faces,
        "faces_counted": {s: result.settings[s].faces for s in SETTINGS},
        "detections": result.predictions,
        "images_in_split": len(val.images),
        "model": source["model"],
        "predictions": source["predictions"],
        "inference": options.to_json() if options else None,
        "protocol": {"iou_threshold": IOU_THRESHOLD, "score_thresholds": THRESH_NUM,
                     "score_normalisation": "min-max over all evaluated predictions",
                     "reference": "WIDER FACE eval_tools (Python port semantics)"},
        "wider": str(val.root),
    })
    return report


def format_report(report, options):
    model = report["model"]
    runs = f"; runs {model['runs']}" if model and model.get("runs") not in (None, model["precision"]) else ""
    source = f"model {model['path']} ({model['family']}, {model['precision']}{runs})" \
        if model else f"predictions {report['predictions']}"
    lines = [f"WIDER FACE val: {report['images']} of {report['images_in_split']} images, "
             f"{report['faces']} annotated faces, {report['detections']} detections",
             source]
    if options:
        lines.append(options.describe())
    lines.append(f"{'':8}{'AP':>8}  faces counted")
    for s in SETTINGS:
        ap = report[s]
        lines.append(f"{s.capitalize():8}{'n/a' if ap is None else f'{ap:.4f}':>8}  {report['faces_counted'][s]}")
    return "\n".join(lines)


def plot_title(report, options):
    model = report["model"]
    if model:
        path = Path(model["path"])
        name = f"{path.parent.name}/{path.name}" if path.name in ("fp32", "fp16", "int8") else path.name
        runs = f"; runs {model['runs']}" if model.get("runs") not in (None, model["precision"]) else ""
        source = f"{name} ({model['family']}, {model['precision']}{runs})"
    else:
        source = f"predictions {Path(report['predictions']).name}"
    detail = options.describe() if options else "as saved"
    return f"{source}: WIDER FACE val, {report['images']}/{report['images_in_split']} images\n{detail}"
