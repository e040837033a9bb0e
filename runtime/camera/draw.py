"""Drawing on camera frames with OpenCV, in place (BGR images).

Boxes are pure green and the landmarks red, so that tests (and eyes) can find
them; the numbers go in a dark band at the top left so they stay readable on any
picture. A model with several face classes (e.g. face / mask) draws its first class
green and the others in their own colours, each box with its class name.
"""

import cv2
import numpy as np

BOX_BGR = (0, 255, 0)
LANDMARK_BGR = (0, 0, 255)
TEXT_BGR = (255, 255, 255)
BAND_BGR = (0, 0, 0)
# the second, third, ... class of a multi-class model: orange, magenta, cyan, yellow
OTHER_CLASS_BGR = [(0, 140, 255), (255, 0, 255), (255, 255, 0), (0, 255, 255)]


def class_color(label):
    return BOX_BGR if label == 0 else OTHER_CLASS_BGR[(label - 1) % len(OTHER_CLASS_BGR)]


def _line_width(image):
    return max(2, round(min(image.shape[:2]) / 240))


def draw_detections(image, detections):
    width = _line_width(image)
    labels = getattr(detections, "labels", None)
    labels = [0] * len(detections) if labels is None else np.asarray(labels).tolist()
    class_names = getattr(detections, "class_names", ("face",))
    named = len(class_names) > 1
    scale = max(0.4, min(image.shape[:2]) / 900)
    # One numpy conversion for all faces: a crowd photo has a hundred of them.
    for (x1, y1, x2, y2), label in zip(np.rint(detections.boxes).astype(np.int32).tolist(), labels):
        color = class_color(label)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, width)
        if named:
            cv2.putText(image, class_names[label], (x1, max(0, y1 - width - 2)), cv2.FONT_HERSHEY_SIMPLEX, scale, color,
                        max(1, width // 2), cv2.LINE_AA)
    if detections.landmarks is not None and len(detections):
        for x, y in np.rint(detections.landmarks).astype(np.int32).reshape(-1, 2).tolist():
            cv2.circle(image, (x, y), width + 1, LANDMARK_BGR, -1)


def overlay_text(stats):
    return f"{stats['fps']:.1f} FPS  {stats['latency_ms']:.0f} ms  {stats['faces']} faces"


def draw_overlay(image, stats):
    text = overlay_text(stats)
    scale = max(0.5, min(image.shape[:2]) / 600)
    thickness = max(1, round(scale * 1.5))
    (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(4, th // 3)
    cv2.rectangle(image, (0, 0), (tw + 2 * pad, th + baseline + 2 * pad), BAND_BGR, -1)
    cv2.putText(image, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_BGR, thickness, cv2.LINE_AA)
