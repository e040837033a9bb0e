"""`facedge bench`: milliseconds per frame on 1..N threads, fp32 and int8, for facedge
and for what a user would otherwise run, in one run.

    facedge bench [MODEL ...] [--threads 4 | --threads 1,2,4] [--peers all|none|LIST]
                  [--yunet PATH] [--image PHOTO] [--repeats N] [--warmup N]
                  [--json FILE] [--csv FILE] [--plot FILE.png]

MODEL: a model directory, a `facedge convert` output folder or a cached name
(default: the cached fp32 and int8 models of version-RFB-320). Every runtime gets the
same photo, resized once to the model's input size, and does its whole detection
per frame: preprocessing, inference, decoding and NMS.

How it measures (recorded in the output's settings): each runtime on each model runs
in a worker process of its own, pinned to the first N allowed cores before any
thread starts, with OMP_WAIT_POLICY set (ACTIVE while threads <= cores, else
PASSIVE) and ncnn's OpenMP blocktime at 20 ms (read only by LLVM's OpenMP); after a
warm-up the workers take turns in short batches, so drift on the machine hits all
of them alike, and only the worker being timed is running.
"""

from __future__ import annotations

from pathlib import Path

from facedge.base.errors import FacedgeError
from facedge.bench import speed, tables, targets, timing
from facedge.bench.peers import PEERS
from facedge.base.sample_photos import BENCH_PHOTO
from facedge.bench.speed import DEFAULT_REPEATS, DEFAULT_WARMUP, MAX_DEFAULT_THREADS
from facedge.runtime.detector import add_bf16_argument


def configure_parser(p):
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="model directory, convert output folder or cached model name "
                        f"(default: the cached fp32 and int8 models of {targets.DEFAULT_MODEL})")
    p.add_argument("--threads", metavar="N|LIST",
                   help=f"N: every thread count 1..N; or a list such as 1,2,4 (default: 1..cores, at most {MAX_DEFAULT_THREADS})")
    p.add_argument("--peers", default="all", metavar="LIST",
                   help=f"runtimes to compare with: all (default), none, or some of {','.join(PEERS)}")
    p.add_argument("--yunet", metavar="PATH",
                   help="YuNet ONNX for the yunet peer (opencv_zoo's face_detection_yunet_2023mar.onnx); without it the yunet peer is skipped")
    p.add_argument("--image", metavar="PHOTO",
                   help=f"photo to detect faces in, resized to each model's input size (default: {BENCH_PHOTO}, shipped with facedge)")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="N",
                   help=f"timed frames per runtime and thread count (default {DEFAULT_REPEATS})")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="N",
                   help=f"untimed frames after loading (default {DEFAULT_WARMUP})")
    p.add_argument("--json", metavar="FILE", help="write every record (schema facedge-bench/1, see bench/tables.py)")
    p.add_argument("--csv", metavar="FILE", help="write every record as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="draw latency against threads, one line per model/runtime")
    add_bf16_argument(p)


def _options(args):
    """Everything that can be refused, refused before anything is timed."""
    thread_counts = timing.parse_threads(args.threads) if args.threads is not None else None
    peers = targets.parse_peers(args.peers)
    if args.repeats < 1:
        raise FacedgeError(f"--repeats {args.repeats}: expected 1 or more")
    if args.warmup < 0:
        raise FacedgeError(f"--warmup {args.warmup}: expected 0 or more")
    for option in ("json", "csv", "plot"):
        speed.check_output_folder(f"--{option}", getattr(args, option))
    yunet = None
    if "yunet" in peers and args.yunet:
        yunet = Path(args.yunet).expanduser()
        if not yunet.is_file():
            raise FacedgeError(f"--yunet {args.yunet}: no such file (expected face_detection_yunet_2023mar.onnx)")
    return thread_counts, peers, yunet, speed.image_path_for(args.image)


def run(args) -> int:
    thread_counts, peers, yunet, image_path = _options(args)
    report = speed.run_bench(args.models, thread_counts, peers, yunet, image_path, repeats=args.repeats,
                             warmup=args.warmup, bf16=args.bf16)
    speed.print_report(report)
    if args.json:
        tables.write_json(args.json, report)
    if args.csv:
        tables.write_csv(args.csv, report["records"])
    if args.plot:
        tables.write_plot(args.plot, report["records"], speed.plot_title(report["machine"]))
    return 0
