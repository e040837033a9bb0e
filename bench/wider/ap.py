"""WIDER FACE Easy / Medium / Hard AP under the standard evaluation protocol, vectorised.

The protocol (the WIDER FACE eval_tools and its widely used Python port):
- Scores are min-max normalised over all predictions of all evaluated images.
- Each image's predictions are taken in descending score order (stable). Each one
  is matched to the gt box it overlaps most (IoU with the +1 pixel convention,
  first box on ties); at IoU >= 0.5 it hits that box: if the box is one the
  setting ignores, the prediction is ignored too (neither hit nor false positive);
  otherwise it recalls the box if no earlier prediction did, else it is a false
  positive (a duplicate). Below 0.5 it is a false positive.
- At each of 1000 thresholds t = 1 - k/1000 (k = 1..1000) an image contributes its
  predictions with normalised score >= t: how many are not ignored, and how many
  gt boxes they recall. Summed over images: precision = recalled / proposed,
  recall = recalled / faces the setting counts (its non-ignored boxes over all
  evaluated images, including images without predictions).
- AP is the VOC area under the precision envelope.
- Images without gt boxes or without predictions add nothing but their face count.

This is the Python port's arithmetic, the numbers ULFD, RetinaFace and most
lightweight detectors publish. The MATLAB original computes the IoU against the
.mat's int32 boxes, and MATLAB arithmetic mixing int32 and double stays int32: the
prediction's corners, the union and the IoU itself are rounded (IoU 0 or 1, so
the first gt box at >= 0.5 wins rather than the best). Measured on realistic
sub-pixel predictions over the val set, that moves AP by about -0.002; on
whole-pixel predictions by a few 1e-4.

Where the reference loops per prediction and per threshold, this finds each
prediction's best-overlapping gt box once per image (an argmax over the IoU
matrix, shared by the three settings) and turns the 1000 thresholds into one
histogram over all predictions followed by a cumulative sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facedge.bench.wider.gt import SETTINGS
from facedge.base.errors import FacedgeError

IOU_THRESHOLD = 0.5
THRESH_NUM = 1000


@dataclass
class SettingResult:
    ap: float  # nan when the setting counts no faces in the evaluated images
    faces: int  # the faces this setting counts: its non-ignored gt boxes
    precision: np.ndarray  # (THRESH_NUM,), nan where nothing is proposed at that threshold
    recall: np.ndarray  # (THRESH_NUM,)


@dataclass
class WiderResult:
    settings: dict  # setting -> SettingResult
    images: int
    faces: int  # annotated gt boxes in the evaluated images
    predictions: int


def score_thresholds():
    """The protocol's thresholds, highest first, computed as the reference does."""
    return 1 - np.arange(1, THRESH_NUM + 1) / THRESH_NUM


def evaluate(images, predictions) -> WiderResult:
    """AP per setting for `predictions[i]` ((k, 5) x, y, w, h, raw score) made on
    `images[i]` (GtImage)."""
    if len(images) != len(predictions):
        raise ValueError(f"{len(images)} images but {len(predictions)} prediction arrays")
    preds = [_check(image, p) for image, p in zip(images, predictions)]
    normalised = _normalise_scores([p[:, 4] for p in preds])

    # Per prediction over all images: the threshold index from which it counts, and
    # per setting whether it is proposed (not ignored) and whether it recalls a face.
    first_threshold, proposed, recalls = [], {s: [] for s in SETTINGS}, {s: [] for s in SETTINGS}
    ascending = score_thresholds()[::-1]
    for image, p, scores in zip(images, preds, normalised):
        if len(image.boxes) == 0 or len(p) == 0:
            continue
        order = np.argsort(-p[:, 4], kind="stable")  # the reference sorts the raw scores
        p, scores = p[order], scores[order]
        # thresholds t with t <= score are the last `passed` of the descending list
        first_threshold.append(THRESH_NUM - np.searchsorted(ascending, scores, side="right"))
        iou = box_iou(p[:, :4], image.boxes)
        best = np.argmax(iou, axis=1)
        hit = iou[np.arange(len(p)), best] >= IOU_THRESHOLD
        for s in SETTINGS:
            kept = image.keep[s][best]
            proposed[s].append(~(hit & ~kept))
            candidates = np.flatnonzero(hit & kept)
            first = np.zeros(len(p), dtype=bool)
            first[candidates[np.unique(best[candidates], return_index=True)[1]]] = True
            recalls[s].append(first)

    start = np.concatenate(first_threshold) if first_threshold else np.zeros(0, dtype=np.int64)
    results = {}
    for s in SETTINGS:
        faces = int(sum(int(image.keep[s].sum()) for image in images))
        n_proposed = _per_threshold(start, proposed[s])
        n_recalled = _per_threshold(start, recalls[s])
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = n_recalled / n_proposed
            recall = n_recalled / faces if faces else np.full(THRESH_NUM, np.nan)
        ap = voc_ap(recall, precision) if faces else float("nan")
        results[s] = SettingResult(ap=ap, faces=faces, precision=precision, recall=recall)
    return WiderResult(settings=results, images=len(images),
                       faces=int(sum(len(image.boxes) for image in images)),
                       predictions=int(sum(len(p) for p in preds)))


def _check(image, p):
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        return np.zeros((0, 5))
    if p.ndim != 2 or p.shape[1] != 5:
        raise FacedgeError(f"predictions for {image.relpath}: expected rows of x y w h score, got shape {p.shape}")
    if not np.isfinite(p).all() or (p[:, 2:4] < 0).any():
        raise FacedgeError(f"predictions for {image.relpath}: values must be finite with width and height >= 0")
    return p


def _normalise_scores(score_lists):
    """Min-max normalisation over every prediction of every image, as the protocol
    does. All scores equal (no spread to normalise) makes every score 1."""
    nonempty = [s for s in score_lists if len(s)]
    if not nonempty:
        return score_lists
    lo = min(float(s.min()) for s in nonempty)
    hi = max(float(s.max()) for s in nonempty)
    if hi == lo:
        return [np.ones_like(s) for s in score_lists]
    return [(s - lo) / (hi - lo) for s in score_lists]


def _per_threshold(start, flags):
    """How many flagged predictions count at each threshold: a prediction counts
    from its start index on (the thresholds fall as the index grows)."""
    if not flags:
        return np.zeros(THRESH_NUM)
    counts = np.bincount(start, weights=np.concatenate(flags).astype(np.float64), minlength=THRESH_NUM + 1)
    return np.cumsum(counts[:THRESH_NUM])


def box_iou(pred_xywh, gt_xywh):
    """IoU matrix (k, n) of x, y, w, h boxes with the reference's pixel convention:
    corners x2 = x + w, and widths, heights and areas counted with +1."""
    px1, py1 = pred_xywh[:, 0:1], pred_xywh[:, 1:2]
    px2, py2 = px1 + pred_xywh[:, 2:3], py1 + pred_xywh[:, 3:4]
    gx1, gy1 = gt_xywh[:, 0], gt_xywh[:, 1]
    gx2, gy2 = gx1 + gt_xywh[:, 2], gy1 + gt_xywh[:, 3]
    iw = np.minimum(px2, gx2) - np.maximum(px1, gx1) + 1
    ih = np.minimum(py2, gy2) - np.maximum(py1, gy1) + 1
    inter = iw * ih
    union = (px2 - px1 + 1) * (py2 - py1 + 1) + (gx2 - gx1 + 1) * (gy2 - gy1 + 1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    iou[(iw <= 0) | (ih <= 0) | ~(union > 0)] = 0.0
    return iou


def voc_ap(recall, precision) -> float:
    """Area under the precision envelope with sentinels (0, 0) and (1, 0).
    Thresholds with nothing proposed have no precision; they have no recall either,
    so they add no area."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], np.nan_to_num(precision, nan=0.0), [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
