"""facedge's one numpy reference decoder: face detections from raw SSD-head outputs in
plain numpy, what someone running the model on another runtime (onnxruntime, OpenCV
DNN, the ncnn wheel) writes around it. The bench's numpy peers run it, and the tests
(and convert's parity check) hold facedge's C++ decoder to it.

Written from the upstream projects' published facts (prior sizes, strides, variances),
not from facedge's C++ family registry: it restates those facts on purpose, so that
a mistake in one is caught by the other.

It does the same work as facedge's decoder, the way a careful numpy user would:
priors made once per input size, only the candidates above the score threshold
decoded, greedy NMS with one vectorised IoU row per kept face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facedge.base.boxes import iou_matrix
from facedge.base.errors import FacedgeError

CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2
FACE_COLUMN = 1  # scores are softmax probabilities: column 0 background, 1.. face classes


@dataclass(frozen=True)
class PriorLayout:
    """One family's anchors: per level a stride and its square anchor sizes in pixels."""

    strides: tuple
    min_sizes: tuple
    clip: bool  # ULFD clamps every prior value to [0, 1]
    num_landmarks: int = 0
    cell_offset: float = 0.5  # 0: the cell's top-left corner (YuNet's anchor-free points)
    variances: tuple = (CENTER_VARIANCE, SIZE_VARIANCE)
    pad_multiple: int = 0  # the input is padded up to this before the network (YuNet)


# Cell centres are (i + 0.5) / cells of the feature map, cells = ceil(side / stride), as
# the models were trained (ULFD's training code; RetinaFace and PaddleDetection write
# (i + 0.5) * stride / side, the same wherever their size rules allow a side). The
# upstream ncnn demo uses the stride rule for ULFD too: it differs at height 240,
# strides 32 and 64.
FAMILIES = {
    "ultraface-rfb": PriorLayout((8, 16, 32, 64), ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256)), clip=True),
    "ultraface-slim": PriorLayout((8, 16, 32, 64), ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256)), clip=True),
    "retinaface-mnet": PriorLayout((8, 16, 32), ((16, 32), (64, 128), (256, 512)), clip=False, num_landmarks=5),
    # PaddleDetection's blazeface_fpn_ssh config: anchor sizes per level
    "blazeface-fpn-ssh": PriorLayout((8, 16), ((16, 24), (32, 48, 64, 80, 96, 128)), clip=False),
    # libfacedetection.train / OpenCV FaceDetectorYN: centre (cell + d) * stride, size
    # exp(d) * stride on the input padded to a multiple of 32
    "yunet-n": PriorLayout((8, 16, 32), ((8,), (16,), (32,)), clip=False, num_landmarks=5, cell_offset=0.0,
                           variances=(1.0, 1.0), pad_multiple=32),
    "yunet-s": PriorLayout((8, 16, 32), ((8,), (16,), (32,)), clip=False, num_landmarks=5, cell_offset=0.0,
                           variances=(1.0, 1.0), pad_multiple=32),
}


def layout_for(family: str) -> PriorLayout:
    if family not in FAMILIES:
        raise FacedgeError(f"family {family!r}: no numpy decoder for it (known: {', '.join(sorted(FAMILIES))})")
    return FAMILIES[family]


def make_priors(family: str, width: int, height: int) -> np.ndarray:
    """(N, 4) float64 priors (cx, cy, w, h) normalized to the input, in the network's
    output order: level by level, row by row, column by column, anchor by anchor."""
    layout = layout_for(family)
    m = layout.pad_multiple
    net_w, net_h = (-(-width // m) * m, -(-height // m) * m) if m else (width, height)
    levels = []
    for stride, sizes in zip(layout.strides, layout.min_sizes):
        cols, rows = math.ceil(net_w / stride), math.ceil(net_h / stride)
        # centers spread over the feature map, as the models were trained (scaled from
        # the padded network input to the input when the family pads)
        cx = (np.arange(cols) + layout.cell_offset) / cols * (net_w / width)
        cy = (np.arange(rows) + layout.cell_offset) / rows * (net_h / height)
        grid = np.empty((rows, cols, len(sizes), 4))
        grid[..., 0] = cx[None, :, None]
        grid[..., 1] = cy[:, None, None]
        grid[..., 2] = np.asarray(sizes, dtype=np.float64) / width
        grid[..., 3] = np.asarray(sizes, dtype=np.float64) / height
        levels.append(grid.reshape(-1, 4))
    priors = np.concatenate(levels)
    return np.clip(priors, 0.0, 1.0) if layout.clip else priors


def decode_boxes(priors: np.ndarray, boxes: np.ndarray, variances=(CENTER_VARIANCE, SIZE_VARIANCE)) -> np.ndarray:
    """Raw (dx, dy, dw, dh) against priors -> corners (x1, y1, x2, y2), normalized."""
    boxes = boxes.astype(np.float64)
    centers = priors[:, :2] + boxes[:, :2] * variances[0] * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(boxes[:, 2:] * variances[1])
    return np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)


def decode_landmarks(priors: np.ndarray, landmarks: np.ndarray, count: int, center_variance=CENTER_VARIANCE) -> np.ndarray:
    """Raw (N, 2 * count) -> (N, count, 2) points, normalized."""
    points = landmarks.astype(np.float64).reshape(len(priors), count, 2)
    return priors[:, None, :2] + points * center_variance * priors[:, None, 2:]


def hard_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int = 0) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, best score first (ties: earlier index first)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and not (top_k > 0 and len(keep) >= top_k):
        best, rest = order[0], order[1:]
        keep.append(best)
        iou = iou_matrix(boxes[best:best + 1], boxes[rest])[0]  # empty boxes overlap nothing
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def best_class(scores: np.ndarray):
    """Each prior's best face class: (score (N,), label (N,) as an index into the face
    classes, 0 = column 1). Ties go to the lower column; NaN never wins."""
    faces = np.asarray(scores)[:, FACE_COLUMN:]
    finite = np.where(np.isnan(faces), -np.inf, faces)
    label = np.argmax(finite, axis=1)
    return faces[np.arange(len(faces)), label], label


def class_aware_nms(boxes, scores, labels, iou_threshold, top_k=0):
    """Greedy NMS within each label; the kept indices of all labels in descending score
    order (ties: earlier index first), at most top_k in all."""
    kept = [np.nonzero(labels == c)[0][hard_nms(boxes[labels == c], scores[labels == c], iou_threshold)]
            for c in np.unique(labels)]
    keep = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    keep = keep[np.lexsort((keep, -scores[keep]))]
    return keep[:top_k] if top_k > 0 else keep


def detect(priors: np.ndarray, scores: np.ndarray, boxes: np.ndarray, image_size, score_threshold: float,
           iou_threshold: float, top_k: int = 0, landmarks: np.ndarray | None = None, num_landmarks: int = 0,
           with_labels: bool = False, class_aware: bool = True, variances=(CENTER_VARIANCE, SIZE_VARIANCE)):
    """Faces in image pixels from one image's raw outputs.

    scores (N, C) softmax probabilities, boxes (N, 4) raw regression, optional
    landmarks (N, 2 * num_landmarks); image_size (w, h) of the image the network saw
    resized. Every column after the background is a face class: each prior takes its
    best class, NMS runs within each class (class_aware) or across all. Returns
    (boxes float32 (K, 4), scores float32 (K,), landmarks float32 (K, num_landmarks, 2)
    or None), scores descending; variances: the family's (layout_for(name).variances); with_labels: (boxes, scores, labels int32 (K,), landmarks)."""
    if len(scores) != len(priors) or len(boxes) != len(priors):
        raise FacedgeError(f"raw outputs have {len(scores)} score rows and {len(boxes)} box rows, "
                           f"expected {len(priors)} (one per prior)")
    w, h = image_size
    face, label = best_class(scores)
    candidates = np.nonzero(face > score_threshold)[0]
    scale = np.array([w, h, w, h], dtype=np.float64)
    corners = np.minimum(np.maximum(decode_boxes(priors[candidates], boxes[candidates], variances) * scale, 0.0), scale)
    cand_scores = face[candidates].astype(np.float64)
    if class_aware and scores.shape[1] > 2:
        keep = class_aware_nms(corners, cand_scores, label[candidates], iou_threshold, top_k)
    else:
        keep = hard_nms(corners, cand_scores, iou_threshold, top_k)
    chosen = candidates[keep]
    points = None
    if landmarks is not None and num_landmarks:
        points = (decode_landmarks(priors[chosen], landmarks[chosen], num_landmarks, variances[0]) * [w, h]).astype(np.float32)
    if with_labels:
        return corners[keep].astype(np.float32), face[chosen].astype(np.float32), label[chosen].astype(np.int32), points
    return corners[keep].astype(np.float32), face[chosen].astype(np.float32), points


def preprocess(image_bgr: np.ndarray, input_size, pixel: str, mean, norm) -> np.ndarray:
    """A BGR uint8 image -> the network input (1, 3, h, w) float32: bilinear resize,
    channel order, (pixel - mean) * norm. Reordered as uint8 views first, so the only
    float pass is the one that writes the result."""
    import cv2

    w, h = input_size
    resized = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_LINEAR)
    planes = resized.transpose(2, 0, 1)
    if pixel == "rgb":
        planes = planes[::-1]
    x = np.empty((1, 3, h, w), dtype=np.float32)
    np.subtract(planes, np.asarray(mean, np.float32).reshape(3, 1, 1), out=x[0], dtype=np.float32)
    x[0] *= np.asarray(norm, np.float32).reshape(3, 1, 1)
    return x
