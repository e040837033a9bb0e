"""`facedge quantize`: int8 post-training quantization of an fp32 model directory.

    facedge quantize FP32_MODEL_DIR [-o OUT] [--calib DIR|LIST] [--calib-count N]
                     [--calib-method kl|aciq|percentile|minmax|eq] [--keep-fp32 auto|none|LAYER,...]
                     [--eval DIR | --no-eval] [--table FILE] [--threads N] [--json]
                     [--target pi4|pi5|this-machine] [--float-order sensitivity|cycles] [--bias-correction]
                     [--rounding nearest|adaptive] [--check-on images|views|both]
"""

from __future__ import annotations

import json

from facedge.calibration.costs import DEFAULT_TARGET, TARGET_NAMES
from facedge.calibration.mixed import CHECK_ON, DEFAULT_CHECK_ON, DEFAULT_MAX_AP_LOSS
from facedge.calibration.quantize import (DEFAULT_COUNT, DEFAULT_FLOAT_ORDER, DEFAULT_METHOD, DEFAULT_ROUNDING, FLOAT_ORDERS,
                                          ROUNDINGS)
from facedge.calibration.scales import METHODS
from facedge.calibration.summary import summary


def configure_parser(p):
    p.add_argument("model", metavar="FP32_MODEL_DIR", help="fp32 model directory (or cached model name) to quantize")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output folder: OUT/int8/ and OUT/report.{json,md} (default: beside FP32_MODEL_DIR when it is "
                        "a convert output's fp32/ folder)")
    p.add_argument("--calib", metavar="DIR",
                   help="calibration images: a WIDER FACE folder (WIDER_train/, WIDER_test/ ...), any image folder, "
                        "or a text file listing images (needed)")
    p.add_argument("--calib-count", type=int, default=DEFAULT_COUNT, metavar="N",
                   help=f"images sampled (deterministically) from --calib (default {DEFAULT_COUNT})")
    p.add_argument("--calib-method", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"how activation scales are chosen (default {DEFAULT_METHOD})")
    p.add_argument("--keep-fp32", default="auto", metavar="auto|none|LAYER,...",
                   help="layers to leave in float: 'auto' (the most sensitive, until the int8 model loses at most "
                        "--max-ap-loss), 'none', or a comma-separated list of layer names (default auto)")
    p.add_argument("--max-ap-loss", type=float, default=DEFAULT_MAX_AP_LOSS, metavar="L",
                   help="with --keep-fp32 auto: the AP the int8 model may lose against the fp32 model's own detections "
                        f"on the calibration images (ranked as WIDER AP ranks them; default {DEFAULT_MAX_AP_LOSS})")
    ev = p.add_mutually_exclusive_group()
    ev.add_argument("--eval", metavar="DIR",
                    help="WIDER FACE root (wider_face_split/, eval_tools_ground_truth/, WIDER_val/images/) for fp32 vs "
                         "int8 AP (default: none)")
    ev.add_argument("--no-eval", action="store_true", help="skip the WIDER AP evaluation")
    p.add_argument("--table", metavar="FILE", help="apply this ncnn calibration table instead of calibrating")
    p.add_argument("--threads", type=int, metavar="N", help="worker threads (default: CPU cores, at most 4); "
                                                             "the results do not depend on it")
    p.add_argument("--target", default=DEFAULT_TARGET, metavar="|".join(TARGET_NAMES),
                   help="the board the int8 model is for: its cost table (Cortex-A72 for pi4, A76 for pi5) gives the "
                        f"report's estimated milliseconds there (default {DEFAULT_TARGET})")
    p.add_argument("--float-order", choices=FLOAT_ORDERS, default=DEFAULT_FLOAT_ORDER,
                   help="with --keep-fp32 auto: rank the layers by accuracy lost per cycle saved on --target, priced "
                        "with the float/int8 boundaries each choice makes (cycles, the default), or float the most "
                        "sensitive first whatever they cost (sensitivity)")
    p.add_argument("--bias-correction", action="store_true",
                   help="correct the mean output shift int8 weights cause (off by default: it did not move WIDER AP "
                        "its way on RFB-320 or slim-320)")
    p.add_argument("--rounding", choices=ROUNDINGS, default=DEFAULT_ROUNDING,
                   help="how float weights become int8: each to its nearest level, or 'adaptive': rounded up or down "
                        f"for the least layer output error on the calibration images (default {DEFAULT_ROUNDING})")
    p.add_argument("--check-on", choices=CHECK_ON, default=DEFAULT_CHECK_ON,
                   help="with --keep-fp32 auto: measure the AP lost on views of the calibration images, each "
                        "mirrored, shifted or zoomed in turn (views), on the images as read (images: where the scales "
                        "were fitted, int8 looks best there), or on both (twice the detections) "
                        f"(default {DEFAULT_CHECK_ON})")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from facedge.calibration.quantize import quantize

    report = quantize(args.model, args.output, calib=args.calib, count=args.calib_count, method=args.calib_method,
                      keep_fp32=args.keep_fp32, eval_dir=False if args.no_eval else args.eval, table=args.table,
                      threads=args.threads, max_ap_loss=args.max_ap_loss, target=args.target,
                      float_order=args.float_order, bias_correction=args.bias_correction, rounding=args.rounding,
                      check_on=args.check_on)
    if args.json:
        print(json.dumps(report))
    else:
        print(summary(report))
    return 0
