"""How likely an int8 box still counts where its fp32 box counts, when WIDER judges both
against an annotation that the fp32 box only approximates.

WIDER matches a detection to a labelled face at IoU >= 0.5. fp32's boxes sit at some
IoU with the labels (on the WIDER val faces that facedge's six fp32 models find: median
0.77, 12 % of them in [0.5, 0.6), 5 % in [0.5, 0.55)), so a face found near 0.5 is lost
when int8 moves its box a few pixels the wrong way: BlazeFace-FPN-SSH at 320x240 lost
WIDER Easy AP 0.021 by one face whose fp32 box has IoU 0.506 with its label and whose
int8 box moved 3.4 px (IoU 0.494), while the ranked agreement, which matched int8 boxes
to fp32 boxes at IoU 0.5, saw nothing. The credit here replaces that yes/no match: over
a fixed set of plausible annotations of each fp32 box (the box shifted by dx*w, dy*h and
scaled by exp(sx), exp(sy), with dx, dy, sx, sy ~ N(0, SIGMA) and IoU >= 0.5 with the
fp32 box, as WIDER requires of a found face), the fraction the int8 box also matches at
0.5. An unmoved box keeps credit 1; one moved sideways by 5 % of its width 0.98, by 10 % 0.92.

SIGMA = 0.1 gives the annotations 14 % of their IoUs in [0.5, 0.6) and 4 % in
[0.5, 0.55): the mass near WIDER's threshold, which decides how many faces flip, as
measured above (bench/RESULTS.md). IoU is invariant under shifting and scaling each axis,
so the annotations are drawn once, in the unit box's frame, and every pair of boxes is
compared in its fp32 box's frame. The points are a Halton sequence through the normal
distribution's inverse: no random generator, the same on every machine.
"""

from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist

import numpy as np

SIGMA = 0.1
POINTS = 256  # annotations drawn (those at IoU >= 0.5 with the fp32 box are kept: about 250)
MATCH_IOU = 0.5  # WIDER's


def _halton(n, base):
    out = np.empty(n)
    for i in range(n):
        f, r, k = 1.0, 0.0, i + 1
        while k:
            f /= base
            r += f * (k % base)
            k //= base
        out[i] = r
    return out


def _iou(a, b):
    """IoU of x1 y1 x2 y2 boxes broadcast against each other (..., 4)."""
    ix = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    iy = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = ix * iy
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


@lru_cache(maxsize=None)
def annotations(sigma=SIGMA, points=POINTS) -> np.ndarray:
    """(k, 4) plausible labels of the unit box (0, 0, 1, 1), each at IoU >= MATCH_IOU with it."""
    normal = NormalDist(0.0, sigma)
    d = np.column_stack([[normal.inv_cdf(u) for u in _halton(points, b)] for b in (2, 3, 5, 7)])
    cx, cy = 0.5 + d[:, 0], 0.5 + d[:, 1]
    w, h = np.exp(d[:, 2]), np.exp(d[:, 3])
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return boxes[_iou(boxes, np.array([0.0, 0.0, 1.0, 1.0])) >= MATCH_IOU]


def match_credit(ref_boxes, got_boxes, sigma=SIGMA) -> np.ndarray:
    """Per pair (ref_boxes[i], got_boxes[i]), x1 y1 x2 y2: the fraction of the plausible
    annotations of the fp32 box ref that the int8 box got matches at IoU >= MATCH_IOU."""
    ref = np.asarray(ref_boxes, np.float64).reshape(-1, 4)
    got = np.asarray(got_boxes, np.float64).reshape(-1, 4)
    if len(ref) == 0:
        return np.zeros(0)
    w = np.maximum(ref[:, 2] - ref[:, 0], 1e-12)
    h = np.maximum(ref[:, 3] - ref[:, 1], 1e-12)
    unit = np.column_stack([(got[:, 0] - ref[:, 0]) / w, (got[:, 1] - ref[:, 1]) / h,
                            (got[:, 2] - ref[:, 0]) / w, (got[:, 3] - ref[:, 1]) / h])
    labels = annotations(sigma)
    return (_iou(unit[:, None, :], labels[None, :, :]) >= MATCH_IOU).mean(axis=1)
