"""Geometry of x1, y1, x2, y2 boxes shared by the layers that compare detections."""

import numpy as np

_BLOCK = 64  # rows per block of the blocked IoU; large sets only (the calibration's 750 x 750)


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every box of `a` (K, 4) with every box of `b` (N, 4): (K, N) float64.
    Boxes without area overlap nothing (IoU 0).

    Large sets are computed in blocks of rows next by x1, each against only the boxes
    of `b` its x-span overlaps: the rest have IoU 0 exactly, and the pairs computed
    take the same arithmetic, so the result is the dense one bit for bit (the ranked
    agreement of calibration compares 750 x 750 mostly far-apart boxes per image)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) <= _BLOCK or len(b) <= _BLOCK:
        return _dense_iou(a, b)
    out = np.zeros((len(a), len(b)))
    order = np.argsort(a[:, 0], kind="stable")
    for start in range(0, len(order), _BLOCK):
        rows = order[start:start + _BLOCK]
        cols = np.flatnonzero((b[:, 0] < a[rows, 2].max()) & (b[:, 2] > a[rows, 0].min()))
        if len(cols):
            out[np.ix_(rows, cols)] = _dense_iou(a[rows], b[cols])
    return out


def _dense_iou(a, b) -> np.ndarray:
    # one contiguous (K, N) array per coordinate, not (K, N, 2) slices: three times faster
    iw = np.minimum.outer(a[:, 2], b[:, 2]) - np.maximum.outer(a[:, 0], b[:, 0])
    np.clip(iw, 0, None, out=iw)
    ih = np.minimum.outer(a[:, 3], b[:, 3]) - np.maximum.outer(a[:, 1], b[:, 1])
    np.clip(ih, 0, None, out=ih)
    inter = iw * ih
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = np.add.outer(area_a, area_b) - inter
    positive = union > 0
    return np.where(positive, inter / np.where(positive, union, 1), 0.0)
