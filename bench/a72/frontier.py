"""The accuracy-speed frontier a Raspberry Pi 4B user chooses from: every model x input
size x precision, its WIDER val AP (`facedge eval`'s protocol) beside its Cortex-A72
cost at 1 and 4 threads, OpenCV's YuNet (`cv2.FaceDetectorYN`) as the peer.

    python -m bench.a72.frontier --model OUT [--model OUT ...] --wider ROOT
        [--yunet face_detection_yunet_2023mar.onnx] [--sizes 160x120,320x240,480x360,640x480]
        [--threads 1,4] [--precisions fp32,int8] [--cached-only] [--arm-tools DIR] [--ncnn-aarch64 PREFIX] [--work DIR] [--out PREFIX]

Run from the repository root. OUT: a `facedge convert` output (its fp32/ and, after
--int8, int8/ model directories) or one model directory. A size a family cannot take
(RetinaFace needs multiples of 32, BlazeFace of 16) is replaced by the nearest smaller
valid one, and labelled "for" the size it stands for; YuNet pads like FaceDetectorYN.
AP is measured with facedge's runtime on this machine (the same ncnn model gives the
same detections on the A72 within float rounding: tests/arm). Cost: see
frontier_cost.py (estimated ms from the A72 timing model when this checkout has
bench/a72/timing, else guest instruction counts at one thread, labelled as such).
OpenCV's YuNet is scored for AP at every size; its A72 cost needs an OpenCV >= 4.8
aarch64 build in the guest, which this tool does not have (the timing model's
`.ci/arm timing` run does).

Results are kept in WORK/frontier.json and reused (delete it to measure again);
writes PREFIX.json, PREFIX.md (tables) and PREFIX.png (AP vs A72 cost, Pareto front).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Run from the repository root: `bench` is found there, but its facedge/ source folder
# must not shadow the installed facedge (whose facedge.bench, facedge.base this uses).
_ROOT = Path(__file__).resolve().parents[2]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT]

from facedge.base.errors import FacedgeError  # noqa: E402

from . import frontier_report  # noqa: E402

SIZES = ((160, 120), (320, 240), (480, 360), (640, 480))
THREADS = (1, 4)
PEER = "OpenCV YuNet"
EVAL_SCORE, EVAL_IOU, EVAL_TOP_K = 0.02, 0.3, 750  # facedge eval's defaults


def model_dirs(out: Path):
    """[(name, precision, model dir)] of a convert output or a model directory."""
    from facedge.base.model_dir import INFO_FILE, read_model_info

    out = Path(out)
    if (out / INFO_FILE).is_file():
        dirs = [out]
        name = Path(read_model_info(out).source.get("checkpoint", out.parent.name)).stem
    else:
        dirs = [out / p for p in ("fp32", "fp16", "int8") if (out / p / INFO_FILE).is_file()]
        name = out.name
    if not dirs:
        raise FacedgeError(f"{out}: neither a model directory nor a facedge convert output")
    return [(name, read_model_info(d).precision, d) for d in dirs]


def fit_size(family: str, size):
    """(size the model runs at, network size after padding) standing for `size`."""
    from facedge import _core

    info = _core.family_info(family)
    m, pad = info["size_multiple"], info["pad_multiple"]
    w, h = (max(m, side // m * m) for side in size)
    if pad:
        return (w, h), tuple(-(-side // pad) * pad for side in (w, h))
    return (w, h), (w, h)


def wider_ap(model_dir, size, val):
    from facedge.bench.wider import run as wider_run
    from facedge.bench.wider.ap import evaluate

    options = wider_run.InferenceOptions(input_size=tuple(size), max_side=None, score_threshold=EVAL_SCORE,
                                         iou_threshold=EVAL_IOU, top_k=EVAL_TOP_K, nms="hard", threads=1,
                                         resize="bilinear")  # as the peer's users resize (cv2.resize)
    images, rows, _ = wider_run.run_model(val, wider_run.open_detector(model_dir, options), options)
    return {k: round(v.ap, 4) for k, v in evaluate(images, rows).settings.items()}


def peer_ap(onnx, size, val):
    from facedge.bench.wider.opencv_yunet import opencv_val_predictions
    from facedge.bench.wider.ap import evaluate

    result = evaluate(*opencv_val_predictions(val, onnx, size, EVAL_SCORE, EVAL_IOU))
    return {k: round(v.ap, 4) for k, v in result.settings.items()}


def _say(text):
    print(f"[frontier {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def measure(args):
    from facedge.bench.wider.gt import load_wider_val
    from facedge.base.model_dir import read_model_info

    from .frontier_cost import A72Cost

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = work / "frontier.json"
    done = json.loads(store.read_text()) if store.is_file() else {}
    val = load_wider_val(args.wider)
    cost = A72Cost(work, Path(args.arm_tools), args.ncnn_aarch64)
    if done.get("_measure", cost.measure) != cost.measure:
        raise FacedgeError(f"{store}: holds {done['_measure']} results, this run measures {cost.measure}; delete it")
    done["_measure"] = cost.measure
    threads = [1] if cost.measure == "a72-insn" else args.threads

    plan = [(name, precision, d, size) for out in args.model for name, precision, d in model_dirs(out)
            if not args.precisions or precision in args.precisions for size in args.sizes]
    rows, skipped = [], []
    for i, (name, precision, d, asked) in enumerate(plan, 1):
        family = read_model_info(d).family
        size, net_size = fit_size(family, asked)
        key = f"{name}|{precision}|{size[0]}x{size[1]}"
        row = done.get(key) or {"model": name, "family": family, "precision": precision, "size": list(size),
                                "net_size": list(net_size), "cost": {}}
        row["asked"] = list(asked)
        if args.cached_only and ("ap" not in row or any(str(t) not in row["cost"] for t in threads)):
            skipped.append(key)
            continue
        if "ap" not in row:
            _say(f"{i}/{len(plan)} {key}: WIDER AP")
            row["ap"] = wider_ap(d, size, val)
        for t in threads:
            if str(t) not in row["cost"]:
                _say(f"{i}/{len(plan)} {key}: A72 {cost.measure}, {t} thread(s)")
                row["cost"][str(t)] = round(cost.cost(d, net_size, t), 3)
        done[key] = row
        _save(store, done)
        rows.append(row)
    if skipped:
        _say(f"--cached-only: not measured yet, left out: {', '.join(skipped)}")
    if args.yunet:
        for asked in args.sizes:
            key = f"{PEER}|fp32|{asked[0]}x{asked[1]}"
            if key not in done and args.cached_only:
                continue
            if key not in done:
                _say(f"{key}: WIDER AP")
                done[key] = {"model": PEER, "family": "yunet (OpenCV FaceDetectorYN)", "precision": "fp32",
                             "size": list(asked), "asked": list(asked), "ap": peer_ap(args.yunet, asked, val),
                             "cost": None}
                _save(store, done)
            rows.append(done[key])
    return rows, cost.measure, threads


def _save(path: Path, data):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def write_outputs(rows, measure, threads, out_prefix):
    unit = "ms" if measure == "a72-ms" else "M insns"
    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.with_suffix(".json")).write_text(json.dumps({"measure": measure, "threads": threads, "rows": rows}, indent=1))
    md = ["Every model x input size x precision (AP: WIDER val, 39 images, `facedge eval` protocol):", "",
          frontier_report.table(rows, threads, unit), ""]
    if measure == "a72-ms":
        md += ["Which model for which budget (most accurate by Medium AP within the budget):", "",
               frontier_report.budget_table(rows, threads, PEER), ""]
    (out.with_suffix(".md")).write_text("\n".join(md))
    frontier_report.plot(rows, threads, "ms" if measure == "a72-ms" else "insn", out.with_suffix(".png"),
                         "Face detectors on a Raspberry Pi 4B (Cortex-A72, "
                         + ("estimated by the A72 timing model" if measure == "a72-ms" else "guest instructions")
                         + "): WIDER val Medium AP vs cost; OpenCV's YuNet (not costed on the A72 here): see the table")
    print("\n".join(md))


def parse_sizes(text):
    sizes = []
    for part in text.split(","):
        w, _, h = part.lower().partition("x")
        if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
            raise FacedgeError(f"--sizes: expected WxH,WxH,... (e.g. 320x240,640x480), got {part!r}")
        sizes.append((int(w), int(h)))
    return sizes


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.a72.frontier", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, type=Path, metavar="OUT")
    p.add_argument("--wider", required=True, metavar="ROOT")
    p.add_argument("--yunet", metavar="ONNX", help="OpenCV's face_detection_yunet_2023mar.onnx: the peer")
    p.add_argument("--sizes", type=parse_sizes, default=list(SIZES), metavar="WxH,...")
    p.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")], default=list(THREADS))
    p.add_argument("--cached-only", action="store_true",
                   help="measure nothing: report the rows WORK/frontier.json already holds")
    p.add_argument("--precisions", type=lambda s: s.split(","), metavar="LIST",
                   help="only these model directories (fp32,int8; default: every one present)")
    p.add_argument("--arm-tools", default=str(Path(os.environ.get("FACEDGE_SHARED", "../shared")) / "tools" / "arm"))
    p.add_argument("--ncnn-aarch64", metavar="PREFIX", help="aarch64 ncnn install (default: facedge's ARM build cache)")
    p.add_argument("--work", default="build/frontier", metavar="DIR")
    p.add_argument("--out", default="bench/results/frontier", metavar="PREFIX")
    args = p.parse_args(argv)
    try:
        rows, kind, threads = measure_and_check(args)
        write_outputs(rows, kind, threads, args.out)
    except FacedgeError as e:
        print(f"frontier: {e}", file=sys.stderr)
        return 2
    return 0


def measure_and_check(args):
    for out in args.model:
        if not out.exists():
            raise FacedgeError(f"--model {out}: no such folder")
    if args.yunet and not Path(args.yunet).is_file():
        raise FacedgeError(f"--yunet {args.yunet}: no such file")
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
