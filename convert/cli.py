"""`facedge convert`: a PyTorch checkpoint -> an ncnn model directory with a parity report.

Imports nothing heavy at parse time: torch and the other conversion tools load in
run(), and their absence is reported as the extra to install.
"""

import importlib.util
import sys

from facedge.convert.families import NAMES
from facedge.base.errors import FacedgeError
from facedge.base.sizes import parse_size

# import name -> what pip calls it; all come with `pip install 'facedge[convert]'`
CONVERT_DEPENDENCIES = {"torch": "torch", "onnx": "onnx", "onnxsim": "onnxsim", "onnxruntime": "onnxruntime",
                        "pnnx": "pnnx", "ncnn": "ncnn"}


def configure_parser(p):
    p.add_argument("weights", nargs="?", metavar="WEIGHTS",
                   help="a .pth/.pt state_dict (default: ULFD version-RFB-320, downloaded once into the cache, "
                        "or found in $FACEDGE_WEIGHTS_DIR)")
    p.add_argument("--arch", choices=NAMES, help="the architecture, when not to detect it from the checkpoint's keys")
    p.add_argument("--input-size", metavar="WxH",
                   help="network input size in pixels, e.g. 640x480 (default: the size the checkpoint was trained at)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output folder (default: the facedge model cache, where other commands find it by --name)")
    p.add_argument("--name", help="name of the converted model in the cache and report (default: the checkpoint's "
                                  "file name, plus -WxH for a non-default input size)")
    p.add_argument("--class-names", metavar="NAME,...",
                   help="names of the checkpoint's face classes, in score-column order after the background, e.g. "
                        "face,mask (default: face for a two-class checkpoint, class1,class2,... otherwise)")
    p.add_argument("--fp16", action="store_true", help="store weights as fp16 (OUT/fp16/; default fp32 in OUT/fp32/)")
    p.add_argument("--images", metavar="DIR",
                   help="folder of real images for the parity check (default: the two public-domain photos shipped with facedge)")
    q = p.add_argument_group("int8", "post-training quantization after the conversion (as `facedge quantize`)")
    q.add_argument("--int8", action="store_true", help="also calibrate an int8 model into OUT/int8/")
    q.add_argument("--calib", metavar="DIR", help="calibration images, needed with --int8: a WIDER FACE folder, any folder "
                                               "of face photos, or a list file")
    q.add_argument("--calib-count", type=int, default=None, metavar="N", help="images sampled from --calib")
    q.add_argument("--calib-method", default=None, help="kl | aciq | percentile | minmax | eq")
    q.add_argument("--keep-fp32", default=None, metavar="auto|none|LAYER,...", help="layers to leave in float (default auto)")
    q.add_argument("--max-ap-loss", type=float, default=None, metavar="L",
                   help="with --keep-fp32 auto: the AP the int8 model may lose against fp32's own detections "
                        "(default 0.005; see facedge quantize --help)")
    q.add_argument("--eval", metavar="DIR", help="WIDER FACE root for fp32 vs int8 AP (default: no AP evaluation)")
    q.add_argument("--target", default=None, metavar="pi4|pi5|this-machine",
                   help="the board the int8 model is for: estimated milliseconds there in the report (default pi4)")
    q.add_argument("--float-order", choices=("sensitivity", "cycles"), default=None,
                   help="with --keep-fp32 auto: by accuracy lost per cycle saved on --target (cycles, the default) "
                        "or the most sensitive layers float first (sensitivity)")
    q.add_argument("--bias-correction", action="store_true",
                   help="correct the int8 layers' biases for their weights' rounding (off by default)")
    q.add_argument("--rounding", choices=("nearest", "adaptive"), default=None,
                   help="how weights become int8 (see facedge quantize --help)")
    q.add_argument("--check-on", choices=("images", "views", "both"), default=None,
                   help="with --keep-fp32 auto: what the AP lost is measured on (default views; see facedge quantize --help)")


def missing_dependencies():
    return [pip for module, pip in CONVERT_DEPENDENCIES.items() if importlib.util.find_spec(module) is None]


def run(args) -> int:
    int8_options = (args.calib, args.calib_count, args.calib_method, args.keep_fp32, args.max_ap_loss, args.eval,
                    args.target, args.float_order, args.bias_correction or None, args.rounding, args.check_on)
    if not args.int8 and any(v is not None for v in int8_options):
        raise FacedgeError("--calib, --calib-count, --calib-method, --keep-fp32, --max-ap-loss, --eval, --target, "
                           "--float-order, --bias-correction, --rounding and --check-on need --int8")
    if args.int8:
        from facedge.calibration.costs import resolve_target

        resolve_target(args.target or "pi4")  # an unknown board is refused before converting
    if args.int8 and args.calib is None:
        from facedge.calibration.images import WIDER_HINT

        raise FacedgeError(f"--int8 needs calibration images: pass --calib DIR. {WIDER_HINT}")
    missing = missing_dependencies()
    if missing:
        raise FacedgeError(f"needs the conversion tools, missing {', '.join(missing)}: "
                           f"install them with pip install 'facedge[convert]'")
    from facedge.convert.pipeline import convert

    size = parse_size(args.input_size, "--input-size") if args.input_size else None
    class_names = args.class_names.split(",") if args.class_names is not None else None
    result = convert(args.weights, arch=args.arch, input_size=size, out_dir=args.output, name=args.name,
                     fp16=args.fp16, images=args.images, class_names=class_names)
    _summary(result, cached=args.output is None)
    if args.int8:
        from facedge.calibration import quantize as calibration
        from facedge.calibration.summary import summary

        report = calibration.quantize(
            result.model_dir, result.out_dir, calib=args.calib,
            count=args.calib_count if args.calib_count is not None else calibration.DEFAULT_COUNT,
            method=args.calib_method or calibration.DEFAULT_METHOD, keep_fp32=args.keep_fp32 or "auto", eval_dir=args.eval,
            max_ap_loss=args.max_ap_loss if args.max_ap_loss is not None else calibration.mixed.DEFAULT_MAX_AP_LOSS,
            target=args.target or calibration.DEFAULT_TARGET, bias_correction=args.bias_correction,
            float_order=args.float_order or calibration.DEFAULT_FLOAT_ORDER,
            rounding=args.rounding or calibration.DEFAULT_ROUNDING,
            check_on=args.check_on or calibration.mixed.DEFAULT_CHECK_ON)
        print(summary(report))
    return 0


def _summary(result, cached):
    r = result.report
    w, h = r["input_size"]
    ncnn = r["parity"]["stages"]["ncnn"]["max_abs"]
    faces = r["faces"]
    print(f"{result.model_dir}: {r['family']} {w}x{h} {r['precision']} model from {r['checkpoint']['name']} "
          f"in {r['timings_s']['total']:.1f} s")
    print("  ncnn vs PyTorch (float64), max abs: " + ", ".join(f"{k} {v:.1e}" for k, v in ncnn.items()))
    print(f"  classes: {', '.join(r['class_names'])}")
    print(f"  faces on {r['images']['count']} test images: {faces['matched']} of {faces['reference']} the same "
          f"(IoU >= {faces['min_iou']})")
    print(f"  report: {result.out_dir / 'report.md'}")
    if cached:
        print(f"  cached as '{r['name']}' ('{r['name']}-{r['precision']}'): other commands take that name as the model")
    if r["parity"]["within_tolerance"] is False:
        print(f"facedge convert: warning: raw outputs differ from PyTorch by more than "
              f"{r['parity']['tolerance_max_abs']:g}; see the report", file=sys.stderr)
