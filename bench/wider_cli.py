"""`facedge eval`: WIDER FACE val Easy / Medium / Hard AP of a model, or of a folder
of predictions in the official submission layout, under the standard protocol.

    facedge eval MODEL --wider ROOT [--input-size WxH | --max-side N] [--score-threshold 0.02]
                 [--iou 0.3] [--top-k 750] [--save-predictions DIR] [--plot PR.png] [--json]
    facedge eval --predictions DIR --wider ROOT [--plot PR.png] [--json]

A model is run on every val image present under ROOT/WIDER_val/images; a
predictions folder is evaluated on the images it has files for. The inference
options decide AP, so all of them are explicit and recorded in the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedge.bench.wider_ap import IOU_THRESHOLD, THRESH_NUM, evaluate
from facedge.bench.wider_gt import SETTINGS, check_image_size, find_val_images, load_wider_val
from facedge.bench.wider_predictions import (check_output_dir, format_prediction, parse_prediction,
                                             read_predictions, write_predictions)
from facedge.runtime.cores import default_threads
from facedge.runtime.errors import FacedgeError
from facedge.runtime.progress import progress

# The evaluation's defaults: a low score threshold (AP integrates over the whole
# precision-recall curve; the demo's 0.6 would cut it short), hard NMS at 0.3 and
# 750 boxes as in the ULFD and RetinaFace evaluations.
DEFAULT_SCORE_THRESHOLD = 0.02
DEFAULT_IOU = 0.3
DEFAULT_TOP_K = 750
DEFAULT_NMS = "hard"
SIZE_MULTIPLE = 32  # --max-side input sizes are multiples of this (the largest stride but ULFD's 64, whose last map rounds up)


def configure_parser(p):
    p.add_argument("model", nargs="?", help="model directory or cached model name to run")
    p.add_argument("--predictions", metavar="DIR",
                   help="evaluate a folder of predictions (<event>/<image>.txt, the submission layout) instead of a model")
    p.add_argument("--wider", metavar="ROOT", required=True,
                   help="WIDER FACE folder with wider_face_split/, eval_tools_ground_truth/ and WIDER_val/images/")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--input-size", metavar="WxH",
                      help="fixed network input size for every image (default: the model's own, from facedge.json)")
    size.add_argument("--max-side", type=int, metavar="N",
                      help=f"keep each image's aspect: input scaled so the longer side is N, rounded to a multiple of {SIZE_MULTIPLE}")
    p.add_argument("--score-threshold", type=float, metavar="S", help=f"keep detections scoring at least S (default {DEFAULT_SCORE_THRESHOLD})")
    p.add_argument("--iou", type=float, metavar="T", help=f"NMS IoU threshold (default {DEFAULT_IOU})")
    p.add_argument("--top-k", type=int, metavar="K", help=f"keep at most K detections per image (default {DEFAULT_TOP_K})")
    p.add_argument("--nms", choices=("hard", "blend"), help=f"NMS kind (default {DEFAULT_NMS})")
    p.add_argument("--threads", type=int, metavar="N", help="inference threads (default: the usable cores, at most 4); does not change AP")
    p.add_argument("--resize", choices=("auto", "bilinear", "area"),
                   help="how images are scaled to the input size (default auto: area filtering above a 2x downscale)")
    p.add_argument("--label", metavar="NAME,...",
                   help="multi-class models: evaluate only faces of these classes (default: all classes)")
    p.add_argument("--save-predictions", metavar="DIR", help="also write the model's predictions in the submission layout")
    p.add_argument("--plot", metavar="PNG", help="draw the three precision-recall curves to this PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


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

    def to_json(self):
        return {"input_size": list(self.input_size) if self.input_size else None, "max_side": self.max_side,
                "size_multiple": SIZE_MULTIPLE if self.max_side else None,
                "score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold,
                "top_k": self.top_k, "nms": self.nms, "threads": self.threads, "labels": self.labels,
                "resize": self.resize}

    def describe(self):
        size = f"input {self.input_size[0]}x{self.input_size[1]}" if self.input_size else \
            f"input max side {self.max_side} (multiple of {SIZE_MULTIPLE})"
        classes = f", classes {','.join(self.labels)}" if self.labels else ""
        return (f"{size} (resize {self.resize}), score >= {self.score_threshold:g}, NMS {self.nms} IoU {self.iou_threshold:g}, "
                f"top-k {self.top_k}{classes}")


def run(args) -> int:
    # Everything that can be refused is refused before the long part starts.
    if (args.model is None) == (args.predictions is None):
        raise FacedgeError("give either a MODEL to run or --predictions DIR to evaluate (exactly one)")
    if args.plot and not Path(args.plot).parent.is_dir():
        raise FacedgeError(f"--plot {args.plot}: its folder does not exist")
    if args.predictions is not None:
        _reject_model_options(args)
        val = load_wider_val(args.wider)
        images, rows = predictions_for_val(val, args.predictions)
        source = {"model": None, "predictions": str(Path(args.predictions))}
        options = texts = None
    else:
        from facedge.runtime.model_dir import read_model_info, resolve_model

        model_dir = resolve_model(args.model)
        info = read_model_info(model_dir)
        options = inference_options(args, info.input_size)
        if args.save_predictions:
            check_output_dir(args.save_predictions)
        val = load_wider_val(args.wider)
        detector = open_detector(model_dir, options)
        images, rows, texts = run_model(val, detector, options)
        source = {"model": {"path": str(model_dir), "family": info.family, "precision": info.precision},
                  "predictions": None}
    result = evaluate(images, rows)
    if args.save_predictions:
        write_predictions(args.save_predictions, ((im.event, im.name, t) for im, t in zip(images, texts)))
    report = make_report(result, val, source, options)
    if args.plot:
        from facedge.bench.wider_plot import plot_pr_curves

        plot_pr_curves(result, args.plot, plot_title(report, options))
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report, options))
    return 0


def _reject_model_options(args):
    for flag, value in (("--input-size", args.input_size), ("--max-side", args.max_side),
                        ("--score-threshold", args.score_threshold), ("--iou", args.iou),
                        ("--top-k", args.top_k), ("--nms", args.nms), ("--threads", args.threads),
                        ("--save-predictions", args.save_predictions), ("--label", getattr(args, "label", None)),
                        ("--resize", getattr(args, "resize", None))):
        if value is not None:
            raise FacedgeError(f"{flag} applies when running a model; --predictions {args.predictions} is evaluated as written")


def inference_options(args, model_input_size) -> InferenceOptions:
    input_size = None
    if args.input_size is not None:
        input_size = parse_size(args.input_size)
    elif args.max_side is None:
        input_size = tuple(model_input_size)
    if args.max_side is not None and args.max_side < SIZE_MULTIPLE:
        raise FacedgeError(f"--max-side: expected at least {SIZE_MULTIPLE}, got {args.max_side}")
    score = DEFAULT_SCORE_THRESHOLD if args.score_threshold is None else args.score_threshold
    if not 0.0 <= score < 1.0:
        raise FacedgeError(f"--score-threshold: expected a value in [0, 1), got {score}")
    iou = DEFAULT_IOU if args.iou is None else args.iou
    if not 0.0 < iou <= 1.0:
        raise FacedgeError(f"--iou: expected a value in (0, 1], got {iou}")
    top_k = DEFAULT_TOP_K if args.top_k is None else args.top_k
    if top_k < 1:
        raise FacedgeError(f"--top-k: expected at least 1, got {top_k}")
    threads = default_threads() if args.threads is None else args.threads
    if threads < 1:
        raise FacedgeError(f"--threads: expected at least 1, got {threads}")
    label = getattr(args, "label", None)
    labels = [n.strip() for n in label.split(",")] if label else None
    return InferenceOptions(input_size=input_size, max_side=args.max_side, score_threshold=score,
                            iou_threshold=iou, top_k=top_k, nms=args.nms or DEFAULT_NMS, threads=threads, labels=labels,
                            resize=getattr(args, "resize", None) or "auto")


def parse_size(text):
    parts = str(text).lower().split("x")
    if len(parts) == 2 and all(p.isdigit() and int(p) > 0 for p in parts):
        return int(parts[0]), int(parts[1])
    raise FacedgeError(f"--input-size: expected WxH with positive integers (e.g. 320x240), got {text!r}")


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
                            top_k=options.top_k, nms=options.nms, resize=options.resize)
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
        if keep is not None:
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


def make_report(result, val, source, options):
    def number(x):
        return None if x is None or not np.isfinite(x) else float(x)

    report = {s: number(result.settings[s].ap) for s in SETTINGS}
    report.update({
        "images": result.images,
        "faces": result.faces,
        "faces_counted": {s: result.settings[s].faces for s in SETTINGS},
        "detections": result.predictions,
        "images_in_split": len(val.images),
        "model": source["model"],
        "predictions": source["predictions"],
        "inference": options.to_json() if options else None,
        "protocol": {"iou_threshold": IOU_THRESHOLD, "score_thresholds": THRESH_NUM,
                     "score_normalisation": "min-max over all evaluated predictions",
                     "reference": "WIDER FACE eval_tools (Python port semantics)"},
        "wider": str(val.root),
    })
    return report


def format_report(report, options):
    source = f"model {report['model']['path']} ({report['model']['family']}, {report['model']['precision']})" \
        if report["model"] else f"predictions {report['predictions']}"
    lines = [f"WIDER FACE val: {report['images']} of {report['images_in_split']} images, "
             f"{report['faces']} annotated faces, {report['detections']} detections",
             source]
    if options:
        lines.append(options.describe())
    lines.append(f"{'':8}{'AP':>8}  faces counted")
    for s in SETTINGS:
        ap = report[s]
        lines.append(f"{s.capitalize():8}{'n/a' if ap is None else f'{ap:.4f}':>8}  {report['faces_counted'][s]}")
    return "\n".join(lines)


def plot_title(report, options):
    model = report["model"]
    if model:
        path = Path(model["path"])
        name = f"{path.parent.name}/{path.name}" if path.name in ("fp32", "fp16", "int8") else path.name
        source = f"{name} ({model['family']}, {model['precision']})"
    else:
        source = f"predictions {Path(report['predictions']).name}"
    detail = options.describe() if options else "as saved"
    return f"{source}: WIDER FACE val, {report['images']}/{report['images_in_split']} images\n{detail}"
