"""An independent numpy decoder for the SSD-style face models, written from the
upstream projects' published facts (prior sizes, strides, variances) rather than from
facedge's C++: the reference the runtime's detections are checked against."""

import math

import numpy as np

ULTRAFACE_MIN_BOXES = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
ULTRAFACE_STRIDES = [8, 16, 32, 64]


def ultraface_priors(width, height):
    priors = []
    for stride, sizes in zip(ULTRAFACE_STRIDES, ULTRAFACE_MIN_BOXES):
        fw, fh = math.ceil(width / stride), math.ceil(height / stride)
        scale_w, scale_h = width / stride, height / stride
        for j in range(fh):
            for i in range(fw):
                for s in sizes:
                    priors.append([(i + 0.5) / scale_w, (j + 0.5) / scale_h, s / width, s / height])
    return np.clip(np.array(priors, dtype=np.float64), 0.0, 1.0)


def decode(priors, boxes, center_variance=0.1, size_variance=0.2):
    boxes = boxes.astype(np.float64)
    centers = priors[:, :2] + boxes[:, :2] * center_variance * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(boxes[:, 2:] * size_variance)
    return np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)


def hard_nms(boxes, scores, iou_threshold):
    order = np.argsort(-scores, kind="stable")
    keep = []
    suppressed = np.zeros(len(order), dtype=bool)
    for a in range(len(order)):
        if suppressed[a]:
            continue
        i = order[a]
        keep.append(i)
        rest = order[a + 1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / (area(boxes[i]) + area(boxes[rest]) - inter)
        suppressed[a + 1:] |= iou > iou_threshold
    return np.array(keep, dtype=np.int64)


def ultraface_detect(scores, boxes, image_w, image_h, input_w, input_h, score_threshold, iou_threshold):
    """Faces from raw ULFD outputs: (boxes (N, 4) image pixels, scores (N,))."""
    priors = ultraface_priors(input_w, input_h)
    assert len(priors) == len(scores), (len(priors), len(scores))
    face = scores[:, 1].astype(np.float64)
    mask = face > score_threshold
    decoded = decode(priors[mask], boxes[mask])
    decoded = np.clip(decoded * [image_w, image_h, image_w, image_h], 0, [image_w, image_h, image_w, image_h])
    keep = hard_nms(decoded, face[mask], iou_threshold)
    return decoded[keep], face[mask][keep]
