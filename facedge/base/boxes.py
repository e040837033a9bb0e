"""Geometry of x1, y1, x2, y2 boxes shared by the layers that compare detections."""

import numpy as np


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every box of `a` (K, 4) with every box of `b` (N, 4): (K, N) float64.
    Boxes without area overlap nothing (IoU 0)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    # one contiguous (K, N) array per coordinate, not (K, N, 2) slices: the same
    # arithmetic (bit for bit), three times faster on the calibration's 750 x 750
    # ranked detections, where this was half of mixed precision's time
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
