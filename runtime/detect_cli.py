"""`facedge detect MODEL IMAGE...`: faces in image files, as text or JSON, optionally
saved as annotated images."""

import json
import sys
from pathlib import Path


def configure_parser(p):
    p.add_argument("model", help="model directory or cached model name (e.g. version-RFB-320-int8)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.add_argument("--save", metavar="DIR", help="write annotated copies of the images here")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: the usable cores, at most 4)")
    p.add_argument("--input-size", metavar="WxH", help="network input size (default: the model's)")
    defaults = _runtime_defaults()
    p.add_argument("--score-threshold", type=float, help=f"minimum face score{defaults.get('score_threshold', '')}")
    p.add_argument("--iou-threshold", type=float, help=f"NMS overlap threshold{defaults.get('iou_threshold', '')}")
    p.add_argument("--top-k", type=int, help=f"most faces per image, 0 for no limit{defaults.get('top_k', '')}")
    p.add_argument("--nms", choices=("hard", "blend"), default="hard")
    p.add_argument("--class-agnostic-nms", action="store_true",
                   help="multi-class models: one NMS across all classes (default: NMS within each class)")
    p.add_argument("--label", metavar="NAME,...", help="keep only faces of these classes (multi-class models)")
    from facedge.runtime.detector import add_bf16_argument

    add_bf16_argument(p)


def _runtime_defaults() -> dict:
    """' (default X)' per option, from the C++ core; empty without a built core."""
    try:
        from facedge.runtime.detector import default_options

        return {k: f" (default {v})" for k, v in default_options().items()}
    except ImportError:
        return {}


def _write_image(path: Path, image):
    import cv2

    from facedge.base.atomic import atomic_write_bytes

    ok, data = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise OSError(f"{path}: could not encode image")
    atomic_write_bytes(path, data.tobytes())


def run(args):
    import cv2

    from facedge.runtime.detector import Detector
    from facedge.runtime.draw import draw_detections
    from facedge.base.errors import FacedgeError

    detector = Detector(args.model, threads=args.threads, input_size=args.input_size, score_threshold=args.score_threshold,
                        iou_threshold=args.iou_threshold, top_k=args.top_k, nms=args.nms,
                        class_agnostic_nms=args.class_agnostic_nms, bf16=args.bf16)
    keep = [detector.label_index(n) for n in args.label.split(",")] if args.label else None
    save_dir = Path(args.save) if args.save else None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name in args.images:
        image = cv2.imread(name, cv2.IMREAD_COLOR)
        if image is None:
            print(f"facedge detect: error: {name}: cannot read image (missing, or not an image format OpenCV reads)", file=sys.stderr)
            failures += 1
            continue
        result = detector.detect(image)
        if keep is not None:
            result = result.only(keep)
        if args.json:
            print(json.dumps({"image": name, "width": image.shape[1], "height": image.shape[0], "faces": result.to_list(),
                              "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()}}))
        else:
            t = result.timings_ms
            print(f"{name}: {len(result)} faces ({t['preprocess'] + t['inference'] + t['postprocess']:.1f} ms)")
            for face in result.to_list():
                x1, y1, x2, y2 = face["box"]
                label = f"  {face['label']}" if len(detector.class_names) > 1 else ""
                print(f"  {face['score']:.3f}  {x1:.0f},{y1:.0f} - {x2:.0f},{y2:.0f}{label}")
        if save_dir:
            _write_image(save_dir / Path(name).name, draw_detections(image, result))
    if failures:
        raise FacedgeError(f"{failures} of {len(args.images)} images could not be read")
    return 0
