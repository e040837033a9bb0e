"""`facedge eval`: WIDER FACE val Easy / Medium / Hard AP of a model, or of a folder
of predictions in the official submission layout, under the standard protocol.

    facedge eval MODEL --wider ROOT [--input-size WxH | --max-side N] [--score-threshold 0.02]
                 [--iou 0.3] [--top-k 750] [--bf16 on|off|auto] [--save-predictions DIR] [--plot PR.png] [--json]
    facedge eval --predictions DIR --wider ROOT [--plot PR.png] [--json]

A model is run on every val image present under ROOT/WIDER_val/images; a
predictions folder is evaluated on the images it has files for. The inference
options decide AP, so all of them are explicit and recorded in the output.
"""

from __future__ import annotations

import json
from pathlib import Path

from facedge.base.errors import FacedgeError
from facedge.base.model_dir import read_model_info, resolve_model
from facedge.base.sizes import parse_size
from facedge.runtime.cores import default_threads
from facedge.runtime.detector import add_bf16_argument
from facedge.bench.wider.report import format_report, plot_title
from facedge.bench.wider.run import (DEFAULT_IOU, DEFAULT_NMS, DEFAULT_SCORE_THRESHOLD, DEFAULT_TOP_K, SIZE_MULTIPLE,
                                     InferenceOptions, evaluate_model, evaluate_predictions)


WIDER_NEEDS = ("a folder ROOT holding WIDER FACE val from http://shuoyang1213.me/WIDERFACE/: WIDER_val.zip and "
               "wider_face_split.zip unpacked, and eval_tools.zip's ground_truth/ as ROOT/eval_tools_ground_truth/")


def configure_parser(p):
    p.add_argument("model", nargs="?", help="model directory or cached model name to run")
    p.add_argument("--predictions", metavar="DIR",
                   help="evaluate a folder of predictions (<event>/<image>.txt, the submission layout) instead of a model")
    p.add_argument("--wider", metavar="ROOT",
                   help="WIDER FACE folder with wider_face_split/, eval_tools_ground_truth/ and WIDER_val/images/ (needed)")
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
    add_bf16_argument(p)


def run(args) -> int:
    # Everything that can be refused is refused before the long part starts.
    if args.wider is None:
        raise FacedgeError(f"needs --wider ROOT: {WIDER_NEEDS}")
    if (args.model is None) == (args.predictions is None):
        raise FacedgeError("give either a MODEL to run or --predictions DIR to evaluate (exactly one)")
    if args.plot and not Path(args.plot).parent.is_dir():
        raise FacedgeError(f"--plot {args.plot}: its folder does not exist")
    if args.predictions is not None:
        _reject_model_options(args)
        options = None
        report, result = evaluate_predictions(args.wider, args.predictions)
    else:
        model_dir = resolve_model(args.model)
        options = inference_options(args, read_model_info(model_dir).input_size)
        report, result = evaluate_model(args.wider, model_dir, options, save_predictions=args.save_predictions)
    if args.plot:
        from facedge.bench.wider.plot import plot_pr_curves

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
                        ("--label", getattr(args, "label", None)), ("--resize", getattr(args, "resize", None)),
                        ("--bf16", getattr(args, "bf16", None)),
                        ("--save-predictions", args.save_predictions)):
        if value is not None:
            raise FacedgeError(f"{flag} applies when running a model; --predictions {args.predictions} is evaluated as written")


def inference_options(args, model_input_size) -> InferenceOptions:
    input_size = None
    if args.input_size is not None:
        input_size = parse_size(args.input_size, "--input-size")
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
                            resize=getattr(args, "resize", None) or "auto", bf16=getattr(args, "bf16", None))



