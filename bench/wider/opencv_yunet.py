"""OpenCV's YuNet (`cv2.FaceDetectorYN`) on the WIDER val images under `facedge eval`'s
protocol: the peer a Pi user would otherwise run, scored the same way as facedge.

Each image is resized whole to the input size (FaceDetectorYN then pads it to a
multiple of 32 itself), detected with the evaluation's score threshold and NMS IoU,
and its boxes scaled back to the image. FaceDetectorYN's top_k caps the candidates
before NMS (facedge's caps the faces after it); the default 5000 is more than any
val image has above the 0.02 threshold at the sizes measured, so it cuts nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facedge.bench.wider.gt import find_val_images
from facedge.bench.wider.predictions import format_prediction, parse_prediction
from facedge.base.errors import FacedgeError
from facedge.base.progress import progress

MODEL_NAME = "face_detection_yunet_2023mar.onnx"
TOP_K = 5000


def open_opencv_yunet(model_path, input_size, score_threshold, iou_threshold, top_k=TOP_K):
    import cv2

    path = Path(model_path)
    if not path.is_file():
        raise FacedgeError(f"{path}: no such file (expected OpenCV's {MODEL_NAME})")
    if not hasattr(cv2, "FaceDetectorYN"):
        raise FacedgeError(f"OpenCV {cv2.__version__} has no FaceDetectorYN (needs 4.5.4 or later)")
    return cv2.FaceDetectorYN.create(str(path), "", tuple(input_size), score_threshold, iou_threshold, top_k)


def detect_opencv(detector, image, input_size):
    """(boxes x1, y1, x2, y2 (N, 4), scores (N,), landmarks (N, 5, 2)) in image pixels,
    boxes clipped to the image as facedge clips them."""
    import cv2

    h, w = image.shape[:2]
    iw, ih = input_size
    _, faces = detector.detect(cv2.resize(image, (iw, ih), interpolation=cv2.INTER_LINEAR))
    if faces is None:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    sx, sy = w / iw, h / ih
    boxes = np.stack([faces[:, 0] * sx, faces[:, 1] * sy, (faces[:, 0] + faces[:, 2]) * sx,
                      (faces[:, 1] + faces[:, 3]) * sy], axis=1)
    boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
    landmarks = (faces[:, 4:14].reshape(-1, 5, 2) * [sx, sy]).astype(np.float32)
    return boxes, faces[:, 14].astype(np.float32), landmarks


def opencv_val_predictions(val, model_path, input_size, score_threshold, iou_threshold):
    """(images, rows) for `facedge.bench.wider.ap.evaluate`, as `facedge eval` makes them."""
    import cv2

    from facedge.bench.wider.run import detections_to_rows

    detector = open_opencv_yunet(model_path, input_size, score_threshold, iou_threshold)
    images, rows = [], []
    present = find_val_images(val)
    for image, path in progress(present, total=len(present), desc=f"OpenCV YuNet {input_size[0]}x{input_size[1]}"):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FacedgeError(f"{path}: cannot read the image")
        boxes, scores, _ = detect_opencv(detector, img, input_size)
        text = format_prediction(image.name, detections_to_rows(boxes, scores))
        images.append(image)
        rows.append(parse_prediction(text, f"{image.relpath} predictions")[1])
    return images, rows
