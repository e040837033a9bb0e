"""Running a model over the WIDER FACE val images, with every inference option
that decides AP explicit (`facedge eval`, and the int8 report's fp32 vs int8 AP),
and reading a predictions folder in the same form."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError
from facedge.base.progress import progress
from facedge.bench.wider.ap import evaluate
from facedge.bench.wider.gt import check_image_size, find_val_images, load_wider_val
from facedge.bench.wider.predictions import (check_output_dir, format_prediction, parse_prediction,
                                             read_predictions, write_predictions)
from facedge.bench.wider.report import make_report

# The evaluation's defaults: a low score threshold (AP integrates over the whole
# precision-recall curve; the demo's 0.6 would cut it short), hard NMS at 0.3 and
# 750 boxes as in the ULFD and RetinaFace evaluations.
DEFAULT_SCORE_THRESHOLD = 0.02
DEFAULT_IOU = 0.3
DEFAULT_TOP_K = 750
DEFAULT_NMS = "hard"
SIZE_MULTIPLE = 32  # --max-side input sizes are multiples of this (the largest stride but ULFD's 64, whose last map rounds up)


@dataclass
class InferenceOptions:
    input_size: tuple | None  # fixed (w, h); None with max_side
    max_side: int | None
    score_threshold: float
    iou_threshold: float
    top_k: int
    nms: str
    threads: int
    labels: list | None = None  # class names kept; None: all
    resize: str = "auto"
    bf16: str | None = None  # "on" / "off" / "auto"; None: the runtime's default

    def to_json(self):
        return {"input_size": list(self.input_size) if self.input_size else None, "max_side": self.max_side,
                "size_multiple": SIZE_MULTIPLE if self.max_side else None,
                "score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold,
                "top_k": self.top_k, "nms": self.nms, "threads": self.threads, "labels": self.labels,
                "resize": self.resize, "bf16": self.bf16}

    def describe(self):
        size = f"input {self.input_size[0]}x{self.input_size[1]}" if self.input_size else \
            f"input max side {self.max_side} (multiple of {SIZE_MULTIPLE})"
        classes = f", classes {','.join(self.labels)}" if self.labels else ""
        return (f"{size} (resize {self.resize}), score >= {self.score_threshold:g}, NMS {self.nms} IoU {self.iou_threshold:g}, "
                f"top-k {self.top_k}{classes}")


def keep_aspect_size(width, height, max_side):
    """Input size for a width x height image: the longer side max_side, the aspect
    kept, each side rounded to the nearest multiple of SIZE_MULTIPLE (at least one)."""
    scale = max_side / max(width, height)
    return tuple(max(SIZE_MULTIPLE, int(round(side * scale / SIZE_MULTIPLE)) * SIZE_MULTIPLE) for side in (width, height))


def open_detector(model_dir, options: InferenceOptions):
    """The runtime's Detector, every option that decides AP given explicitly."""
    try:
        from facedge import Detector

        detector = Detector(str(model_dir), threads=options.threads, input_size=options.input_size,
                            score_threshold=options.score_threshold, iou_threshold=options.iou_threshold,
                            top_k=options.top_k, nms=options.nms, resize=options.resize, bf16=options.bf16)
    except ImportError as e:  # a source tree without the compiled core
        raise FacedgeError(f"the facedge runtime is not available ({e}); "
                           "evaluate saved predictions with --predictions DIR instead") from None
    for name in options.labels or ():
        detector.label_index(name)  # refuse a class the model does not have, before the long part
    return detector


def run_model(val, detector, options: InferenceOptions):
    """Run the detector on every val image present: (images, rows, file texts).
    The rows are the file texts parsed back, so a saved folder evaluates the same."""
    import cv2

    images, rows, texts = [], [], []
    keep = [detector.label_index(n) for n in options.labels] if options.labels else None
    present = find_val_images(val)
    for image, path in progress(present, total=len(present), desc="WIDER val images"):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FacedgeError(f"{path}: cannot read the image")
        height, width = img.shape[:2]
        check_image_size(image, val.txt_path, width, height, path)
        if options.max_side:
            res = detector.detect(img, input_size=keep_aspect_size(width, height, options.max_side))
        else:
            res = detector.detect(img)
        if keep is not None:  # one class of a multi-class model
            res = res.only(keep)
        text = format_prediction(image.name, detections_to_rows(res.boxes, res.scores))
        images.append(image)
        rows.append(parse_prediction(text, f"{image.relpath} predictions")[1])
        texts.append(text)
    return images, rows, texts


def detections_to_rows(boxes, scores):
    """x1, y1, x2, y2 boxes and scores -> x, y, w, h, score rows (w = x2 - x1)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise FacedgeError(f"detector returned {len(boxes)} boxes but {len(scores)} scores")
    wh = np.maximum(boxes[:, 2:4] - boxes[:, 0:2], 0.0)
    return np.column_stack([boxes[:, 0:2], wh, scores])


def predictions_for_val(val, pred_dir):
    """(images, rows) for the images the folder has prediction files for, in gt order."""
    preds = read_predictions(pred_dir)
    events_of = {}
    for image in val.images:
        events_of.setdefault(image.name, image.event)
    for (event, name), (path, _) in preds.items():
        if (event, name) not in val.by_key:
            hint = f" (it is listed under {events_of[name]}/)" if name in events_of else ""
            raise FacedgeError(f"{path}: no image {event}/{name}.jpg in {val.txt_path}{hint}")
    chosen = [image for image in val.images if (image.event, image.name) in preds]
    return chosen, [preds[(image.event, image.name)][1] for image in chosen]


def evaluate_model(wider_root, model_dir, options: InferenceOptions, save_predictions=None):
    """Run the model over every val image present under wider_root and evaluate it:
    (report, result). `save_predictions`: a folder to write them to, submission layout."""
    from facedge.base.model_dir import read_model_info

    info = read_model_info(model_dir)
    if save_predictions:
        check_output_dir(save_predictions)
    val = load_wider_val(wider_root)
    detector = open_detector(model_dir, options)
    images, rows, texts = run_model(val, detector, options)
    result = evaluate(images, rows)
    if save_predictions:
        write_predictions(save_predictions, ((im.event, im.name, t) for im, t in zip(images, texts)))
    source = {"model": {"path": str(model_dir), "family": info.family, "precision": info.precision,
                        "runs": getattr(detector, "precision", None)},  # "bf16", "int8 + fp32": what ncnn ran
              "predictions": None}
    return make_report(result, val, source, options), result


def evaluate_predictions(wider_root, pred_dir):
    """Evaluate a folder of predictions (submission layout) on the images it has
    files for: (report, result)."""
    val = load_wider_val(wider_root)
    images, rows = predictions_for_val(val, pred_dir)
    result = evaluate(images, rows)
    return make_report(result, val, {"model": None, "predictions": str(Path(pred_dir))}, None), result
