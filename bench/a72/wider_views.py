"""WIDER AP of int8 models against their fp32 model on the val images as read and on the
views the mixed-precision check uses (calibration/mixed.view: mirrored, shifted by half
a stride, zoomed 1.25x), each view's labels moved with it (bench/RESULTS.md, "Session 7").

A detector is not invariant to these views (its anchors sit on a grid they move against
the faces), so whether int8 loses a face near WIDER's IoU or score margins is partly a
coin the view tosses again: a face lost as read but kept on every view is such a coin,
a loss that persists across views is the model's. A label the view's border cuts to
under half its area is ignored in every setting (a detection on it neither hits nor
counts as false), as WIDER ignores faces a setting does not count. The interval
resamples the val images, each with all its views (200 resamples, seed 0, 2.5 / 97.5 %).

    python bench/a72/wider_views.py FP32_DIR INT8_DIR [INT8_DIR ...] --wider WIDER_ROOT [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from facedge.calibration import mixed

KINDS = ("as read", *mixed.VIEW_KINDS)
RESAMPLES = 200
CUT_SHARE = 0.5  # a label keeping less than this share of its area inside the view is ignored


def view_labels(gt, kind, height, width):
    """GtImage `gt` of a height x width picture, its boxes moved as mixed.view(picture, kind) moves the pixels."""
    from facedge.bench.wider.gt import SETTINGS

    if kind == "as read":
        return gt
    b = np.asarray(gt.boxes, np.float64).reshape(-1, 4)  # x y w h
    keep = {s: np.asarray(gt.keep[s], bool).copy() for s in SETTINGS}
    if kind == "mirror":
        return dataclasses.replace(gt, boxes=np.column_stack([width - b[:, 0] - b[:, 2], b[:, 1:]]), keep=keep)
    if kind not in ("shift", "zoom"):
        raise ValueError(f"view kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    x0, y0, x1, y1 = mixed.view_crop(kind, height, width)
    cx1, cy1 = np.clip(b[:, 0], x0, x1), np.clip(b[:, 1], y0, y1)
    cx2, cy2 = np.clip(b[:, 0] + b[:, 2], x0, x1), np.clip(b[:, 1] + b[:, 3], y0, y1)
    cut = (cx2 - cx1) * (cy2 - cy1) < CUT_SHARE * np.maximum(b[:, 2] * b[:, 3], 1e-9)
    for s in SETTINGS:
        keep[s] &= ~cut
    moved = np.column_stack([cx1 - x0, cy1 - y0, cx2 - cx1, cy2 - cy1])
    moved[cut] = b[cut] - [x0, y0, 0, 0]  # ignored: where it was, whole
    return dataclasses.replace(gt, boxes=moved, keep=keep)


def predictions(model_dir, val, size, pictures):
    """{kind: [rows per val image]} of one model on every view, under `facedge eval`'s
    defaults at the model's input size (the report's WIDER AP: calibration/evaluate.py),
    each image's rows through the prediction file format as `facedge eval` reads them."""
    from facedge.bench.wider.predictions import format_prediction, parse_prediction
    from facedge.bench.wider.run import (DEFAULT_IOU, DEFAULT_NMS, DEFAULT_SCORE_THRESHOLD, DEFAULT_TOP_K,
                                         InferenceOptions, detections_to_rows, open_detector)

    options = InferenceOptions(input_size=size, max_side=None, score_threshold=DEFAULT_SCORE_THRESHOLD,
                               iou_threshold=DEFAULT_IOU, top_k=DEFAULT_TOP_K, nms=DEFAULT_NMS, threads=1)
    detector = open_detector(model_dir, options)
    out = {}
    for kind in KINDS:
        rows = []
        for gt, picture in pictures:
            res = detector.detect(picture if kind == "as read" else mixed.view(picture, kind))
            text = format_prediction(gt.name, detections_to_rows(res.boxes, res.scores))
            rows.append(parse_prediction(text, f"{gt.relpath} ({kind})")[1])
        out[kind] = rows
    return out


def deltas(labels, fp32, int8, groups, resamples=RESAMPLES, seed=0):
    """(delta, low end, faces) per setting of int8 AP - fp32 AP over `labels`; the interval
    resamples the groups (lists of indices into labels) with replacement."""
    from facedge.bench.wider.ap import evaluate
    from facedge.bench.wider.gt import SETTINGS

    def ap(idx):
        a = evaluate([labels[i] for i in idx], [fp32[i] for i in idx])
        b = evaluate([labels[i] for i in idx], [int8[i] for i in idx])
        return {s: b.settings[s].ap - a.settings[s].ap for s in SETTINGS}, {s: a.settings[s].faces for s in SETTINGS}

    delta, faces = ap([i for g in groups for i in g])
    rng = np.random.default_rng(seed)
    boot = {s: [] for s in SETTINGS}
    for _ in range(resamples):
        d, _ = ap([i for k in rng.integers(0, len(groups), len(groups)) for i in groups[k]])
        for s in SETTINGS:
            boot[s].append(d[s])
    low = {s: float(np.nanpercentile(boot[s], 2.5)) for s in SETTINGS}
    return delta, low, faces


def main(argv=None):
    import cv2

    from facedge.base.model_dir import read_model_info
    from facedge.bench.wider.gt import SETTINGS, load_wider_val
    from facedge.bench.wider.gt import find_val_images

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fp32")
    ap.add_argument("int8", nargs="+")
    ap.add_argument("--wider", required=True, help="WIDER FACE root (WIDER_val/, eval_tools_ground_truth/, wider_face_split/)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    val = load_wider_val(a.wider)
    pictures = [(gt, cv2.imread(str(path), cv2.IMREAD_COLOR)) for gt, path in find_val_images(val)]
    size = tuple(read_model_info(a.fp32).input_size)
    n = len(pictures)
    labels = {k: [view_labels(gt, k, *p.shape[:2]) for gt, p in pictures] for k in KINDS}
    fp32 = predictions(a.fp32, val, size, pictures)
    report = {"wider": a.wider, "images": n, "resamples": RESAMPLES, "models": {}}
    for d in a.int8:
        int8 = predictions(d, val, size, pictures)
        rows = {}
        for k in KINDS:
            rows[k] = deltas(labels[k], fp32[k], int8[k], [[i] for i in range(n)])
        pooled = [x for k in KINDS for x in labels[k]]
        rows["all views"] = deltas(pooled, [x for k in KINDS for x in fp32[k]], [x for k in KINDS for x in int8[k]],
                                   [[j * n + i for j in range(len(KINDS))] for i in range(n)])
        report["models"][d] = {k: {"delta": v[0], "lower_end": v[1], "faces": v[2]} for k, v in rows.items()}
        print(f"\n{d}: int8 - fp32 WIDER AP, Easy / Medium / Hard (2.5 % end of the interval)")
        for k, (delta, low, faces) in rows.items():
            print(f"  {k:10s} " + " / ".join(f"{delta[s]:+.4f}" for s in SETTINGS) + "   ("
                  + " / ".join(f"{low[s]:+.3f}" for s in SETTINGS) + ")   faces " + " / ".join(str(faces[s]) for s in SETTINGS))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
