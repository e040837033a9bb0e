"""What every supported family shares: SSD priors and the box/landmark decode (numpy
only; the torch side of the output contract is in `export_wrapper.py`).

The contract the C++ runtime decodes (one row per prior, standard SSD order: level by
ascending stride, then row, then column, then anchor size):
  scores    [N, num_classes]  softmax probabilities, face = column 1
  boxes     [N, 4]            raw regression (dx, dy, dw, dh)
  landmarks [N, 10]           raw regression (RetinaFace only)

The numpy decode here is the independent reference the tests and the report hold the
runtime to; it never runs on a user's device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2


@dataclass(frozen=True)
class PriorSpec:
    """Anchors of one family: per level its stride and square anchor sizes in pixels.

    `center_from_grid`: the cell centre is (j + offset) / feature_width (ULFD's training
    code) rather than (j + offset) * stride / width (RetinaFace, PaddleDetection); the two
    agree whenever the side is a multiple of the stride. `clip` clamps all four prior
    values to [0, 1] (ULFD only). `cell_offset` 0.5 puts the prior at the cell centre,
    0 at its top-left corner (YuNet's anchor-free points). `pad_multiple`: the runtime
    pads the input at the right and bottom up to a multiple of this before the network
    (YuNet), so the feature maps are those of the padded size while coordinates stay
    normalized to the unpadded input."""

    strides: tuple
    min_sizes: tuple
    clip: bool = False
    center_from_grid: bool = False
    cell_offset: float = 0.5
    center_variance: float = CENTER_VARIANCE
    size_variance: float = SIZE_VARIANCE
    pad_multiple: int = 0

    def padded(self, side: int) -> int:
        m = self.pad_multiple
        return -(-side // m) * m if m else side

    def feature_size(self, side: int, stride: int) -> int:
        # Every family downsamples with padded stride-2 convolutions: ceil at each step.
        return math.ceil(self.padded(side) / stride)

    def priors(self, width: int, height: int) -> np.ndarray:
        """(N, 4) float32 priors as (cx, cy, w, h), normalized to the input size."""
        out = []
        for stride, sizes in zip(self.strides, self.min_sizes):
            fw, fh = self.feature_size(width, stride), self.feature_size(height, stride)
            if self.center_from_grid:
                cx = (np.arange(fw) + self.cell_offset) / fw
                cy = (np.arange(fh) + self.cell_offset) / fh
            else:
                cx = (np.arange(fw) + self.cell_offset) * stride / width
                cy = (np.arange(fh) + self.cell_offset) * stride / height
            k = len(sizes)
            grid = np.zeros((fh, fw, k, 4), dtype=np.float64)
            grid[..., 0] = cx[None, :, None]
            grid[..., 1] = cy[:, None, None]
            grid[..., 2] = np.asarray(sizes, dtype=np.float64)[None, None, :] / width
            grid[..., 3] = np.asarray(sizes, dtype=np.float64)[None, None, :] / height
            out.append(grid.reshape(-1, 4))
        priors = np.concatenate(out, axis=0)
        if self.clip:
            priors = np.clip(priors, 0.0, 1.0)
        return priors.astype(np.float32)


def decode_boxes(boxes: np.ndarray, priors: np.ndarray, variances=(CENTER_VARIANCE, SIZE_VARIANCE)) -> np.ndarray:
    """Raw (dx, dy, dw, dh) -> corner boxes (x1, y1, x2, y2) normalized to the input."""
    b = boxes.astype(np.float64)
    p = priors.astype(np.float64)
    centers = p[:, :2] + b[:, :2] * variances[0] * p[:, 2:]
    sizes = p[:, 2:] * np.exp(b[:, 2:] * variances[1])
    return np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)


def decode_landmarks(landmarks: np.ndarray, priors: np.ndarray, center_variance=CENTER_VARIANCE) -> np.ndarray:
    """Raw (N, 10) -> (N, 5, 2) points normalized to the input: centre + l * variance * size."""
    l = landmarks.astype(np.float64).reshape(-1, 5, 2)
    p = priors.astype(np.float64)
    return p[:, None, :2] + l * center_variance * p[:, None, 2:]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def hard_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first."""
    order = np.argsort(-scores, kind="stable")[:top_k]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        ious = iou_matrix(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def reference_detect(raw: dict, priors: np.ndarray, image_size, score_threshold=0.6,
                     iou_threshold=0.3, top_k=750, variances=(CENTER_VARIANCE, SIZE_VARIANCE)):
    """Decode raw outputs of one image into detections in image pixels.

    raw: {'scores': (N, C), 'boxes': (N, 4)[, 'landmarks': (N, 10)]}; image_size: (w, h)
    of the original image (the network saw it resized to the input size); variances:
    the family's (PriorSpec.center_variance, size_variance). Returns
    (boxes (K, 4), scores (K,), landmarks (K, 5, 2) or None), scores descending."""
    w, h = image_size
    face = raw["scores"][:, 1]
    cand = np.nonzero(face > score_threshold)[0]
    boxes = decode_boxes(raw["boxes"][cand], priors[cand], variances)
    keep = cand[hard_nms(boxes, face[cand], iou_threshold, top_k)] if cand.size else cand
    scale = np.array([w, h, w, h], dtype=np.float64)
    out_boxes = (decode_boxes(raw["boxes"][keep], priors[keep], variances) * scale).astype(np.float32)
    landmarks = None
    if "landmarks" in raw:
        landmarks = (decode_landmarks(raw["landmarks"][keep], priors[keep], variances[0]) * np.array([w, h])).astype(np.float32)
    return out_boxes, face[keep].astype(np.float32), landmarks
