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

import shlex
import sys
import tempfile
from pathlib import Path

from facedge.bench import machine as machine_info
from facedge.bench import rounds, tables, targets, timing
from facedge.bench.peers import OPENMP_BLOCKTIME_MS, PEERS, YUNET_TOP_K
from facedge.runtime.errors import FacedgeError
from facedge.runtime.paths import shared_dir

DEFAULT_IMAGE = Path("images") / "ultraface-demo" / "12.jpg"  # inside the shared folder: 4:3, five faces
DEFAULT_REPEATS = 60
DEFAULT_WARMUP = 10
BATCH = 10  # timed frames per turn of a worker
SCORE_THRESHOLD = 0.6  # facedge's defaults, for every runtime
IOU_THRESHOLD = 0.3
MAX_DEFAULT_THREADS = 4
BUSY_WARNING = 0.10  # share of the cores' time taken by other processes that makes a run noisy


def configure_parser(p):
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="model directory, convert output folder or cached model name "
                        f"(default: the cached fp32 and int8 models of {targets.DEFAULT_MODEL})")
    p.add_argument("--threads", metavar="N|LIST",
                   help=f"N: every thread count 1..N; or a list such as 1,2,4 (default: 1..cores, at most {MAX_DEFAULT_THREADS})")
    p.add_argument("--peers", default="all", metavar="LIST",
                   help=f"runtimes to compare with: all (default), none, or some of {','.join(PEERS)}")
    p.add_argument("--yunet", metavar="PATH",
                   help=f"YuNet ONNX for the yunet peer (default: {targets.YUNET_FILE} in the shared folder)")
    p.add_argument("--image", metavar="PHOTO",
                   help=f"photo to detect faces in, resized to each model's input size (default: {DEFAULT_IMAGE} in the shared folder)")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="N",
                   help=f"timed frames per runtime and thread count (default {DEFAULT_REPEATS})")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="N",
                   help=f"untimed frames after loading (default {DEFAULT_WARMUP})")
    p.add_argument("--json", metavar="FILE", help="write every record (schema facedge-bench/1, see bench/tables.py)")
    p.add_argument("--csv", metavar="FILE", help="write every record as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="draw latency against threads, one line per model/runtime")


def _note(text):
    print(f"facedge bench: {text}", file=sys.stderr, flush=True)


def _check_output(option, path):
    if path and not Path(path).expanduser().resolve().parent.is_dir():
        raise FacedgeError(f"{option} {path}: its folder does not exist")


def _image_path(arg) -> Path:
    if arg:
        p = Path(arg).expanduser()
        if not p.is_file():
            raise FacedgeError(f"--image {arg}: no such file")
        return p
    root = shared_dir()
    if root is None or not (root / DEFAULT_IMAGE).is_file():
        raise FacedgeError("no photo to benchmark on: pass --image PHOTO (a photo with faces), "
                           "or set FACEDGE_SHARED to the shared data folder")
    return root / DEFAULT_IMAGE


def _frames(image_path: Path, sizes, folder) -> dict:
    """The photo at each input size, as .npy files the workers load: {'WxH': path}."""
    import cv2
    import numpy as np

    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacedgeError(f"{image_path}: not an image OpenCV can read")
    frames = {}
    for w, h in sorted(set(sizes)):
        path = Path(folder) / f"frame-{w}x{h}.npy"
        np.save(path, np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)))
        frames[f"{w}x{h}"] = str(path)
    return frames


def _check_models_load(models):
    """A model directory that does not load is an error before anything is timed."""
    import facedge

    for m in models:
        facedge.Detector(m.model_dir)


def _options(args):
    """Everything that can be refused, refused before anything is timed."""
    thread_counts = timing.parse_threads(args.threads) if args.threads is not None else None
    peers = targets.parse_peers(args.peers)
    if args.repeats < 1:
        raise FacedgeError(f"--repeats {args.repeats}: expected 1 or more")
    if args.warmup < 0:
        raise FacedgeError(f"--warmup {args.warmup}: expected 0 or more")
    for option in ("json", "csv", "plot"):
        _check_output(f"--{option}", getattr(args, option))
    yunet = None
    if "yunet" in peers:
        if args.yunet:
            yunet = Path(args.yunet).expanduser()
            if not yunet.is_file():
                raise FacedgeError(f"--yunet {args.yunet}: no such file (expected face_detection_yunet_2023mar.onnx)")
        else:
            yunet = targets.default_yunet()
    return thread_counts, peers, yunet, _image_path(args.image)


def _measure(jobs, thread_counts, allowed, settings, notes):
    """Records of every job at every thread count, and what was seen meanwhile."""
    records, failed = [], set()
    openmp = {}  # runtime -> the OpenMP library its worker loaded
    other_load = {}  # thread count -> share of its cores' time other processes took meanwhile

    def on_failure(job, message):
        m = job["model"]
        if job["runtime"] == "facedge":
            raise FacedgeError(f"{m['model_dir']}: facedge failed in its benchmark worker: {message}")
        failed.add(id(job))
        notes.append(f"{job['runtime']}: skipped for {m['name']} {m['precision']}, it failed: {message}")
        _note(notes[-1])

    for t in thread_counts:
        cores = timing.cores_for(t, allowed)
        settings["wait_policy"] = timing.wait_policy_for(t, allowed)
        _note(f"{t} thread(s) on core(s) {','.join(map(str, cores))}, OMP_WAIT_POLICY={settings['wait_policy']}")
        load = machine_info.OtherLoad(cores)
        results = rounds.measure([j for j in jobs if id(j) not in failed], t, cores, settings, on_failure)
        other_load[str(t)] = share = load.share()
        if share is not None and share > BUSY_WARNING:
            notes.append(f"other processes took {share:.0%} of core(s) {','.join(map(str, cores))} while {t} thread(s) "
                         "were timed: these numbers are noisy, multi-thread ones most")
            _note("warning: " + notes[-1])
        records += tables.records_from(results, t, cores, settings["wait_policy"])
        openmp.update({r["job"]["runtime"]: r["ready"].get("openmp") for r in results})
    return records, openmp, other_load


def run(args) -> int:
    thread_counts, peers, yunet, image_path = _options(args)
    models, notes = targets.resolve_models(args.models)
    _check_models_load(models)
    jobs, plan_notes = targets.plan_jobs(models, peers, yunet)
    notes += plan_notes
    allowed = timing.allowed_cores()
    if thread_counts is None:
        thread_counts = list(range(1, min(MAX_DEFAULT_THREADS, len(allowed)) + 1))
    if max(thread_counts) > len(allowed):
        _note(f"warning: {max(thread_counts)} threads asked for, but this process may use only {len(allowed)} "
              f"core(s) ({','.join(map(str, allowed))}); those counts share cores and measure contention, not speed")
    for n in notes:
        _note(n)

    machine = machine_info.describe()
    before = machine_info.thermal()
    with tempfile.TemporaryDirectory(prefix="facedge-bench-") as folder:
        settings = {"frames": _frames(image_path, [tuple(j["model"]["input_size"]) for j in jobs], folder),
                    "warmup": args.warmup, "repeats": args.repeats, "batch": BATCH,
                    "score_threshold": SCORE_THRESHOLD, "iou_threshold": IOU_THRESHOLD}
        records, openmp, other_load = _measure(jobs, thread_counts, allowed, settings, notes)
    after = machine_info.thermal()
    throttled = machine_info.throttled_during(before, after)
    if throttled:
        notes.append(f"the CPU reported {', '.join(throttled)} during the run: these numbers are not its full speed")
        _note("warning: " + notes[-1])
    int8_note = machine_info.int8_note(machine) if any(m.precision == "int8" for m in models) else None
    if int8_note:
        notes.append(f"int8: {int8_note}")

    from facedge.bench.board_estimates import estimates

    boards, board_notes = estimates(models)
    notes += board_notes
    versus, overhead = tables.ratios(records)
    report = {
        "schema": tables.SCHEMA, "command": _command(),
        "machine": machine, "thermal": {"before": before, "after": after, "throttled_during": throttled},
        "other_load": other_load,
        "settings": {"image": str(image_path), "repeats": args.repeats, "warmup": args.warmup, "batch": BATCH,
                     "threads": thread_counts, "cores_allowed": allowed, "score_threshold": SCORE_THRESHOLD,
                     "iou_threshold": IOU_THRESHOLD, "nms": "hard", "openmp_blocktime_ms": OPENMP_BLOCKTIME_MS,
                     "omp_wait_policy": {str(t): timing.wait_policy_for(t, allowed) for t in thread_counts},
                     "yunet": str(yunet) if yunet else None, "yunet_top_k": YUNET_TOP_K,
                     "onnxruntime": "intra_op_num_threads=N, inter_op_num_threads=1, sequential, all graph optimizations",
                     "openmp_library": openmp},
        "records": tables.sort_records(records), "ratios": versus, "overhead": overhead, "notes": notes,
        "board_estimates": boards,
    }
    _print_report(report)
    if args.json:
        tables.write_json(args.json, report)
    if args.csv:
        tables.write_csv(args.csv, report["records"])
    if args.plot:
        tables.write_plot(args.plot, report["records"], _title(machine))
    return 0


def _print_report(report):
    print(_header(report["machine"], report["thermal"]["before"], report["thermal"]["after"]))
    print(_how(report["settings"]) + "\n")
    print(tables.format_report(report))
    if report.get("board_estimates"):
        from facedge.bench.board_estimates import format_estimates

        print("\n" + format_estimates(report["board_estimates"]))
    if report["notes"]:
        print("\nnotes:\n" + "\n".join(f"  {n}" for n in report["notes"]))


def _command():
    argv = sys.argv[1:]
    return "facedge " + " ".join(shlex.quote(a) for a in argv) if argv[:1] == ["bench"] else None


def _how(settings) -> str:
    policies = sorted(set(settings["omp_wait_policy"].values()))
    libraries = sorted({lib for lib in settings["openmp_library"].values() if lib})
    return (f"threads pinned to the first N of cores {','.join(map(str, settings['cores_allowed']))}; "
            f"OMP_WAIT_POLICY={'/'.join(policies)}; ncnn OpenMP blocktime {settings['openmp_blocktime_ms']} ms"
            + (f" (OpenMP: {', '.join(libraries)}" + ("; libgomp ignores the blocktime)" if libraries == ["libgomp"] else ")")
               if libraries else ""))


def _title(machine):
    return f"facedge bench on {machine.get('board') or machine.get('cpu')}, {len(machine['cores_allowed'] or [])} cores"


def _header(machine, before, after) -> str:
    cpu = machine.get("cpu") or machine.get("arch")
    parts = [f"{machine['board']} (rev {machine['board_revision']})" if machine.get("board") else None, cpu,
             f"{len(machine['cores_allowed'] or [])} of {machine['cores']} cores",
             f"{machine['current_mhz']} MHz" if machine.get("current_mhz") else None,
             f"governor {machine['governor']}" if machine.get("governor") else None,
             "virtual machine" if machine.get("virtual_machine") else None,
             f"load {machine['load_average'][0]:.2f}" if machine.get("load_average") else None]
    line = ", ".join(p for p in parts if p)
    if before.get("temp_c") is not None:
        line += f"; SoC {before['temp_c']} -> {after.get('temp_c')} C"
    return line
