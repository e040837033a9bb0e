"""`facedge bench` as a library call: every runtime on every model at each thread
count, measured as the CLI's docstring describes; returns the report (schema in
bench/tables.py) and writes nothing."""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

from facedge.base.errors import FacedgeError
from facedge.runtime.detector import default_options
from facedge.base.sample_photos import bench_photo
from facedge.bench import machine as machine_info
from facedge.bench import rounds, tables, targets, timing
from facedge.bench.peers import OPENMP_BLOCKTIME_MS, YUNET_TOP_K

DEFAULT_REPEATS = 60
DEFAULT_WARMUP = 10
BATCH = 10  # timed frames per turn of a worker
MAX_DEFAULT_THREADS = 4
BUSY_WARNING = 0.10  # share of the cores' time taken by other processes that makes a run noisy


def _note(text):
    print(f"facedge bench: {text}", file=sys.stderr, flush=True)


def check_output_folder(option, path):
    if path and not Path(path).expanduser().resolve().parent.is_dir():
        raise FacedgeError(f"{option} {path}: its folder does not exist")


def image_path_for(arg) -> Path:
    """--image, else the photo shipped with facedge."""
    if arg:
        p = Path(arg).expanduser()
        if not p.is_file():
            raise FacedgeError(f"--image {arg}: no such file")
        return p
    return bench_photo()


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


def _check_models_load(models, bf16=None):
    """A model directory that does not load (or a bf16 this build cannot run) is an
    error before anything is timed."""
    import facedge

    for m in models:
        facedge.Detector(m.model_dir, bf16=bf16)


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


def run_bench(model_names, thread_counts, peers, yunet, image_path, repeats=DEFAULT_REPEATS, warmup=DEFAULT_WARMUP,
              bf16=None) -> dict:
    """The report of one benchmark run; `thread_counts` None: 1..cores (at most 4);
    bf16: facedge's bf16 storage, as facedge.Detector takes it (None: its default)."""
    models, notes = targets.resolve_models(model_names)
    _check_models_load(models, bf16)
    jobs, plan_notes = targets.plan_jobs(models, peers, yunet, bf16)
    notes += plan_notes
    allowed = timing.allowed_cores()
    if thread_counts is None:
        thread_counts = list(range(1, min(MAX_DEFAULT_THREADS, len(allowed)) + 1))
    if max(thread_counts) > len(allowed):
        _note(f"warning: {max(thread_counts)} threads asked for, but this process may use only {len(allowed)} "
              f"core(s) ({','.join(map(str, allowed))}); those counts share cores and measure contention, not speed")
    for n in notes:
        _note(n)

    defaults = default_options()  # facedge's, for every runtime
    from facedge.runtime.detector import kernel_variants

    machine = machine_info.describe(kernel_variants())
    before = machine_info.thermal()
    with tempfile.TemporaryDirectory(prefix="facedge-bench-") as folder:
        settings = {"frames": _frames(image_path, [tuple(j["model"]["input_size"]) for j in jobs], folder),
                    "warmup": warmup, "repeats": repeats, "batch": BATCH,
                    "score_threshold": defaults["score_threshold"],
                    "iou_threshold": defaults["iou_threshold"]}
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
        "schema": tables.SCHEMA, "command": command_line(),
        "machine": machine, "thermal": {"before": before, "after": after, "throttled_during": throttled},
        "other_load": other_load,
        "settings": {"image": str(image_path), "repeats": repeats, "warmup": warmup, "batch": BATCH,
                     "threads": thread_counts, "cores_allowed": allowed, "score_threshold": defaults["score_threshold"],
                     "iou_threshold": defaults["iou_threshold"], "nms": "hard", "openmp_blocktime_ms": OPENMP_BLOCKTIME_MS,
                     "bf16": defaults["bf16"] if bf16 is None else bf16,
                     "omp_wait_policy": {str(t): timing.wait_policy_for(t, allowed) for t in thread_counts},
                     "yunet": str(yunet) if yunet else None, "yunet_top_k": YUNET_TOP_K,
                     "onnxruntime": "intra_op_num_threads=N, inter_op_num_threads=1, sequential, all graph optimizations",
                     "openmp_library": openmp},
        "records": tables.sort_records(records), "ratios": versus, "overhead": overhead, "notes": notes,
        "board_estimates": boards,
    }
    return report


def print_report(report):
    print(_header(report["machine"], report["thermal"]["before"], report["thermal"]["after"]))
    print(_how(report["settings"]) + "\n")
    print(tables.format_report(report))
    if report.get("board_estimates"):
        from facedge.bench.board_estimates import format_estimates

        print("\n" + format_estimates(report["board_estimates"]))
    if report["notes"]:
        print("\nnotes:\n" + "\n".join(f"  {n}" for n in report["notes"]))


def command_line():
    argv = sys.argv[1:]
    return "facedge " + " ".join(shlex.quote(a) for a in argv) if argv[:1] == ["bench"] else None


def _how(settings) -> str:
    policies = sorted(set(settings["omp_wait_policy"].values()))
    libraries = sorted({lib for lib in settings["openmp_library"].values() if lib})
    return (f"threads pinned to the first N of cores {','.join(map(str, settings['cores_allowed']))}; "
            f"OMP_WAIT_POLICY={'/'.join(policies)}; ncnn OpenMP blocktime {settings['openmp_blocktime_ms']} ms"
            + (f" (OpenMP: {', '.join(libraries)}" + ("; libgomp ignores the blocktime)" if libraries == ["libgomp"] else ")")
               if libraries else ""))


def plot_title(machine):
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
