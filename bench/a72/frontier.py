"""The accuracy-speed frontier a Raspberry Pi 4B user chooses from: every model x input
size x precision, its WIDER val AP (`facedge eval`'s protocol) beside its estimated Pi 4B
milliseconds per frame at 1 and 4 threads, OpenCV's YuNet (`cv2.FaceDetectorYN`) as the peer.

    python -m bench.a72.frontier --model OUT [--model OUT ...] --wider ROOT
        --rootfs ROOTFS --guest-pythonpath SITE:DEPS --image PHOTO
        [--yunet face_detection_yunet_2023mar.onnx] [--sizes 160x120,320x240,480x360,640x480]
        [--threads 1,4] [--precisions fp32,bf16,int8,int8+bf16] [--jobs 2] [--cached-only]
        [--work DIR] [--out PREFIX]

`.ci/arm frontier` runs it with the arm64 rootfs, this checkout's aarch64 wheel and the six
families converted. Run from the repository root. OUT: a `facedge convert` output (its
fp32/ and, after --int8, int8/ model directories) or one model directory. Precisions: each
model directory with ncnn's float storage fp32 and bf16 (`Detector(bf16='off'/'on')`:
bfloat16 blobs and weights, fp32 arithmetic): "fp32", "bf16" from fp32/, "int8",
"int8+bf16" from int8/ (its layers kept in float store bf16). A size a family
cannot take (RetinaFace needs multiples of 32, BlazeFace of 16) is replaced by the
nearest smaller valid one, and labelled "for" the size it stands for; YuNet pads like
FaceDetectorYN.

AP: measured with facedge's runtime on this machine (an fp32 ncnn model gives the same
detections on the A72 within float rounding: tests/arm). bf16 and int8 rows run their
storage and kernels here, which only approximate the A72's: ncnn has no x86 bf16
depthwise convolution (those layers run fp32 here) and its x86 int8 kernels round
otherwise (bench/RESULTS.md, "bf16 storage", has both measured under qemu's A72 at
320x240). Cost: frontier_cost.py, the A72
timing model with its cache/DRAM and thread parts applied to facedge's detect() and to
cv2.FaceDetectorYN end to end, in the arm64 rootfs. Estimates, not measurements on a Pi.

Resumable: every finished AP and every finished cost is written to WORK/frontier.json at
once (the guest profiles are kept too) and reused by the next run. A cost whose kept
profile is not the one the row's guest job would get now (another aarch64 wheel, workload
or model files) is measured again, and so is an AP measured by another x86 build or of other model files (their
contents; the peer's: its OpenCV version). Writes PREFIX.json, PREFIX.md (tables, the goal check) and PREFIX.png (AP vs
estimated ms, the Pareto front of facedge's models, the peer).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
# How facedge scales the frame to the input size, in the AP runs: the Detector's default,
# which is what the guest's detect() runs (bench.peers.FacedgeRunner sets no resize), so
# a row's AP and its milliseconds are of one configuration (the peer: cv2.resize bilinear
# in both). "auto" is area filtering above a 2x downscale (from the 720x478 photo:
# 160x120 and 320x240), bilinear below.
FACEDGE_RESIZE = "auto"
# a row's precision: (the model directory's precision, facedge's bf16 storage)
PRECISIONS = {"fp32": ("fp32", "off"), "bf16": ("fp32", "on"), "int8": ("int8", "off"), "int8+bf16": ("int8", "on")}


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


def precisions_of(model_precision: str):
    """[(the row's precision label, bf16 storage)] a model directory of this precision
    gives (PRECISIONS; another precision, e.g. fp16, runs as it is, bf16 off)."""
    pairs = [(label, bf16) for label, (mp, bf16) in PRECISIONS.items() if mp == model_precision]
    return pairs or [(model_precision, "off")]


def wider_ap(model_dir, size, val, bf16="off"):
    from facedge.bench.wider import run as wider_run
    from facedge.bench.wider.ap import evaluate

    options = wider_run.InferenceOptions(input_size=tuple(size), max_side=None, score_threshold=EVAL_SCORE,
                                         iou_threshold=EVAL_IOU, top_k=EVAL_TOP_K, nms="hard", threads=1,
                                         resize=FACEDGE_RESIZE, bf16=bf16)
    detector = wider_run.open_detector(model_dir, options)
    want = "bf16" if bf16 == "on" else "fp32"
    if detector.float_storage != want:  # e.g. an x86 facedge whose ncnn lacks NCNN_BF16 would refuse; fp16 would win
        raise FacedgeError(f"{model_dir}: asked bf16 {bf16}, this machine's facedge stores floats as "
                           f"{detector.float_storage}: its AP would not be the row's")
    images, rows, _ = wider_run.run_model(val, detector, options)
    return {k: round(v.ap, 4) for k, v in evaluate(images, rows).settings.items()}


def peer_ap(onnx, size, val):
    from facedge.bench.wider.opencv_yunet import opencv_val_predictions
    from facedge.bench.wider.ap import evaluate

    result = evaluate(*opencv_val_predictions(val, onnx, size, EVAL_SCORE, EVAL_IOU))
    return {k: round(v.ap, 4) for k, v in result.settings.items()}


def ap_build(model_dir=None) -> str:
    """What a row's AP depends on here besides the protocol: facedge's compiled core and the
    model's files (their contents: a model re-quantized in the same folder is another
    model), or for the peer (model_dir None) OpenCV's version. An AP measured by
    another is measured again."""
    if model_dir is None:
        import cv2

        return f"opencv {cv2.__version__}"
    from facedge import _core

    h = hashlib.sha1(Path(_core.__file__).read_bytes())
    core = h.hexdigest()[:12]
    for name in ("model.param", "model.bin", "facedge.json"):
        h.update((Path(model_dir) / name).read_bytes())
    return f"facedge core {core}, model {h.hexdigest()[:12]}, resize {FACEDGE_RESIZE}"


def _say(text):
    print(f"[frontier {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Store:
    """WORK/frontier.json: every finished row part, written (atomically) as soon as it is
    known, so a crash loses at most the jobs in flight."""

    def __init__(self, path: Path, measure: str):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}
        if self.data.get("_measure", measure) != measure:
            raise FacedgeError(f"{path}: holds {self.data['_measure']} costs, this run estimates {measure}; "
                               "use a fresh --work folder")
        self.data["_measure"] = measure
        self.lock = threading.Lock()

    def row(self, key, described):
        """The row under key, its description (model, sizes, precision...) as planned now
        and what was measured for it so far (ap, cost...)."""
        row = self.data.setdefault(key, {"cost": {}})
        row.update(described)
        row.setdefault("cost", {})
        return row

    def save(self):
        with self.lock:
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, indent=1))
            os.replace(tmp, self.path)


def plan_rows(args, store):
    """[(key, row, model dir or None for the peer)], the peer's row first at each size, and
    {key: priority} (the peer, then the fp32 models' fp32 and bf16 rows by --model order,
    then the int8 ones; sizes ascending)."""
    from facedge.base.model_dir import read_model_info

    planned, priority = [], {}
    for s_index, asked in enumerate(args.sizes):
        if args.yunet:
            key = f"{PEER}|fp32|{asked[0]}x{asked[1]}"
            planned.append((key, store.row(key, {"model": PEER, "family": "yunet (OpenCV FaceDetectorYN)", "peer": True,
                                                 "precision": "fp32", "size": list(asked), "asked": list(asked),
                                                 "net_size": list(asked)}), None))
            priority[key] = (0, 0, 0, s_index, 0)
        for m_index, out in enumerate(args.model):
            for name, model_precision, d in model_dirs(out):
                family = read_model_info(d).family
                size, net_size = fit_size(family, asked)
                for precision, bf16 in precisions_of(model_precision):
                    if args.precisions and precision not in args.precisions:
                        continue
                    key = f"{name}|{precision}|{size[0]}x{size[1]}"
                    planned.append((key, store.row(key, {"model": name, "family": family, "precision": precision,
                                                         "model_precision": model_precision, "bf16": bf16,
                                                         "size": list(size), "asked": list(asked),
                                                         "net_size": list(net_size)}), d))
                    priority[key] = (1, model_precision != "fp32", m_index, s_index, bf16 == "on")
    return planned, priority


def measure(args):
    """Every planned row with its AP and its cost: the ones WORK/frontier.json has, the
    rest measured (costs in a pool of guest processes, AP meanwhile on this machine)."""
    from facedge.bench.wider.gt import load_wider_val

    from .frontier_cost import MEASURE, A72Cost
    from .timing.estimate import model_version

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = Store(work / "frontier.json", MEASURE)
    planned, priority = plan_rows(args, store)
    threads = [str(t) for t in args.threads]
    current = model_version()
    # a cost made under another timing model version is re-costed (from its kept profile)
    needs_cost = [(k, r, d) for k, r, d in planned
                  if any(t not in r["cost"] for t in threads) or r.get("cost_model") != current]
    builds = {d: ap_build(d) for d in {d for _, _, d in planned}}
    needs_ap = [(k, r, d) for k, r, d in planned if "ap" not in r or r.get("ap_build") != builds[d]]
    if args.cached_only:  # rows with an AP stay in the table ("not costed" where a cost is missing; no guest
        # here to tell a stale profile)
        no_ap = sorted(k for k, r, _ in needs_ap if "ap" not in r)
        if no_ap:
            _say(f"--cached-only: no AP measured yet, left out: {', '.join(no_ap)}")
        other = sorted(k for k, r, _ in needs_ap if "ap" in r)
        if other:
            _say(f"--cached-only: AP measured by another build than this one: {', '.join(other)}")
        uncosted = sorted(k for k, r, _ in needs_cost if k not in no_ap and any(t not in r["cost"] for t in threads))
        if uncosted:
            _say(f"--cached-only: not costed yet: {', '.join(uncosted)}")
        stale = sorted(k for k, r, _ in needs_cost if k not in no_ap and k not in uncosted)
        if stale:
            _say(f"--cached-only: costed by another timing model version than {current!r}: {', '.join(stale)}")
        return [r for k, r, _ in planned if k not in no_ap]

    cost = A72Cost(work, args.rootfs, args.guest_pythonpath, args.image, args.yunet, args.threads, args.clock_mhz)
    # and a cost from a profile the row's job would not get now (another aarch64 wheel,
    # workload or model files) is measured again
    profile = {k: cost.profile_of(d, r["size"], None if d is None else r["bf16"]) for k, r, d in planned}
    stale = [(k, r, d) for k, r, d in planned if r["cost"] and r.get("profile") != profile[k]]
    if stale:
        _say(f"{len(stale)} costs were made with another aarch64 wheel, workload or model files: measured again")
    needs_cost += [item for item in stale if item not in needs_cost]
    # what the comparison needs first: the peer, then fp32 in --model order, then int8; each
    # model's sizes smallest first (a run cut short still has whole lines at the front)
    needs_cost.sort(key=lambda krd: priority[krd[0]])
    started = time.time()

    failed, finished = [], []

    def estimate(item):
        key, row, d = item
        kept = (work / "timing" / profile[key]).is_file()  # then no guest run: only costed again
        try:
            result = cost.peer_cost(row["size"]) if d is None else cost.model_cost(d, row["size"], row["bf16"])
        except FacedgeError as e:
            failed.append(f"{key}: {e}")
            _say(f"A72 {key}: failed: {e}")
            if row.get("profile") != profile[key]:  # its old cost stands for another build: not shown
                with store.lock:
                    row["cost"], row["stale_cost"] = {}, row["cost"]
                store.save()
            return
        with store.lock:  # saved the moment it is known: a crash later loses nothing of it
            row.update(result)
            row.pop("stale_cost", None)
        store.save()
        finished.append(key)
        _say(f"A72 {len(finished)}/{len(needs_cost)} {key}{' (re-costed)' if kept else ''}: "
             + ", ".join(f"{t} thr {result['cost'][t]:.1f} ms" for t in threads)
             + f" ({(time.time() - started) / 60:.0f} min)")

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(estimate, item) for item in needs_cost]
        _say(f"{len(needs_cost)} rows to estimate on the A72 in the arm64 rootfs ({args.jobs} at a time), "
             f"{len(needs_ap)} WIDER AP evaluations here")
        val = load_wider_val(args.wider) if needs_ap else None
        for i, (key, row, d) in enumerate(needs_ap, 1):
            _say(f"AP {i}/{len(needs_ap)} {key}")
            ap = peer_ap(args.yunet, row["size"], val) if d is None else wider_ap(d, row["size"], val, row["bf16"])
            with store.lock:
                row["ap"], row["ap_build"] = ap, builds[d]
            store.save()
        for fut in futures:
            fut.result()
    if failed:
        _say("not costed: " + "; ".join(failed))
    return [r for _, r, _ in planned]


def pi4_default_precisions(mode: str):
    """The precisions a Pi 4B user gets from Detector(bf16=None), facedge's default bf16
    mode being `mode` ("auto" turns bf16 storage on where fp16 storage does not run: a Pi 4)."""
    if mode not in ("on", "off", "auto"):
        raise FacedgeError(f"facedge's default bf16 mode {mode!r}: expected on, off or auto")
    return ("fp32", "int8") if mode == "off" else ("bf16", "int8+bf16")


def pi4_default(mode: str) -> str:
    """The sentence saying which rows a Pi 4B user gets by default."""
    precisions = pi4_default_precisions(mode)
    storage = "fp32" if precisions[0] == "fp32" else "bf16"
    return f"facedge's default on a Pi 4B (bf16 {mode}) is {storage} storage: the {' and '.join(precisions)} rows."


def write_outputs(rows, threads, out_prefix):
    from facedge.runtime import default_options

    defaults = pi4_default_precisions(default_options()["bf16"])

    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"measure": "a72-detect-ms", "clock_mhz": 1500, "threads": threads, "rows": rows},
                              indent=1))
    os.replace(tmp, out.with_suffix(".json"))
    md = ["Every model x input size x precision (AP: WIDER val, 39 images, `facedge eval` protocol; ms: "
          "estimated Pi 4B ms per frame, detect() end to end, A72 timing model at 1.5 GHz):", "",
          frontier_report.table(rows, threads, "ms"), "", pi4_default(default_options()["bf16"]), "",
          "Which model for which budget (most accurate by Medium AP within the budget):", "",
          frontier_report.budget_table(rows, threads), "",
          "Against OpenCV's YuNet: at the budget each FaceDetectorYN size takes, facedge's most accurate model "
          "within it:", "", frontier_report.goal_table(rows, threads), "",
          "The goal, at every budget (Medium AP):", "", frontier_report.goal_summary(rows, threads),
          frontier_report.goal_summary(rows, [t for t in threads if t > 1], as_profiled=True),
          frontier_report.goal_summary(rows, threads, precisions=defaults), "",
          "The same with OpenCV's multi-thread figures as profiled (its thread pool's epochs not balanced over "
          "its threads; see the method):", "", frontier_report.goal_table(rows, [t for t in threads if t > 1],
                                                                          as_profiled=True), ""]
    (out.with_suffix(".md")).write_text("\n".join(md))
    frontier_report.plot(rows, threads, out.with_suffix(".png"),
                         "Face detectors on a Raspberry Pi 4B (Cortex-A72 1.5 GHz, estimated by the A72 timing model): "
                         "WIDER val Medium AP vs ms per frame")
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
    p.add_argument("--threads", type=parse_threads, default=list(THREADS), metavar="N,...")
    p.add_argument("--rootfs", type=Path, help="the arm64 rootfs (.ci/arm's)")
    p.add_argument("--guest-pythonpath", metavar="SITE:DEPS",
                   help="the guest's PYTHONPATH: this checkout's aarch64 facedge wheel installed, its dependencies")
    p.add_argument("--image", type=Path, help="the photo each detector is given (resized by each to its input size)")
    p.add_argument("--clock-mhz", type=float, default=1500)
    p.add_argument("--jobs", type=int, default=2, help="guest processes at a time")
    p.add_argument("--cached-only", action="store_true",
                   help="measure nothing: report the rows WORK/frontier.json already holds")
    p.add_argument("--precisions", type=parse_precisions, metavar="LIST",
                   help=f"only these ({','.join(PRECISIONS)}; default: every one the model directories give)")
    p.add_argument("--work", default="build/frontier", metavar="DIR")
    p.add_argument("--out", default="bench/results/frontier", metavar="PREFIX")
    args = p.parse_args(argv)
    try:
        rows = measure_and_check(args)
        write_outputs(rows, args.threads, args.out)
    except FacedgeError as e:
        print(f"frontier: {e}", file=sys.stderr)
        return 2
    return 0


def parse_precisions(text):
    parts = text.split(",")
    unknown = [p for p in parts if p not in PRECISIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown precision {unknown[0]!r}: expected some of {', '.join(PRECISIONS)}")
    return parts


def parse_threads(text):
    parts = text.split(",")
    if not all(t.isdigit() and 1 <= int(t) <= 4 for t in parts):
        raise argparse.ArgumentTypeError(f"expected thread counts 1-4 (a Pi 4B's cores), e.g. 1,4; got {text!r}")
    return [int(t) for t in parts]


def measure_and_check(args):
    for out in args.model:
        if not out.exists():
            raise FacedgeError(f"--model {out}: no such folder")
    if args.yunet and not Path(args.yunet).is_file():
        raise FacedgeError(f"--yunet {args.yunet}: no such file")
    if not args.cached_only:
        for name in ("rootfs", "guest_pythonpath", "image"):
            if getattr(args, name) is None:
                raise FacedgeError(f"--{name.replace('_', '-')} is needed to estimate A72 costs "
                                   "(`.ci/arm frontier` passes it; or --cached-only)")
        if not args.image.is_file():
            raise FacedgeError(f"--image {args.image}: no such file")
    if Path(args.out).with_suffix(".json").resolve() == (Path(args.work) / "frontier.json").resolve():
        raise FacedgeError(f"--out {args.out}: its .json would overwrite the results kept in {args.work}/frontier.json")
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
