"""Estimated Raspberry Pi 4B milliseconds, 1-4 threads, for facedge and the runtimes a Pi
user would otherwise pick: the A72 timing model applied (run by `.ci/arm timing`).

    python -m bench.a72.timing.apply --rootfs ROOTFS --pythonpath SITE:DEPS:PEERS --work DIR
        --model MODEL_DIR [--model ...] [--yunet face_detection_yunet_2023mar.onnx]
        [--threads 1,2,3,4] [--clock-mhz 1500] [--validation VALIDATION.json] [--json OUT] [--jobs 2]

Per model directory (a `facedge convert` output's fp32/ or int8/): facedge detect() end
to end, the bare ncnn inference of the same network input, and the naive ncnn-wheel +
numpy path, all in one guest process; per fp32 model with its model.onnx beside it,
onnxruntime and OpenCV DNN on that ONNX; per input size, cv2.FaceDetectorYN with YuNet.
Each runs in the arm64 rootfs under qemu -cpu cortex-a72 with the tbprofile plugin
(guest_workload.py), one warm-up and one measured call per thread count; the profile of
each is costed by the block model. A peer whose aarch64 wheel is missing, or a model a
runtime cannot load, becomes a row saying so; the rest of the table is still made.
Profiles are kept under WORK/profiles and reused while the spec, the wheels and the
workload are unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .estimate import GuestRunError, PLUGIN_SOURCE, phase_estimate, profile_run
from .profile import read_profile

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "guest_workload.py"
SCORE_THRESHOLD, IOU_THRESHOLD = 0.6, 0.3  # facedge's defaults, as `facedge bench` uses
# runtimes whose thread pools hand out work dynamically (see model.predict_ms(balanced=))
DYNAMIC_POOLS = ("onnxruntime", "opencv-dnn", "yunet")
ROW_ORDER = ("facedge", "ncnn-bare", "ncnn-python", "onnxruntime", "opencv-dnn", "yunet")
ROW_NAMES = {"facedge": "facedge detect()", "ncnn-bare": "ncnn bare inference", "ncnn-python": "naive ncnn wheel + numpy",
             "onnxruntime": "onnxruntime (same ONNX)", "opencv-dnn": "OpenCV DNN (same ONNX)",
             "yunet": "cv2.FaceDetectorYN (YuNet)"}


def model_spec(model_dir: Path, onnx: bool = False) -> dict:
    """The job spec `facedge bench` gives its workers (as facedge.bench.targets makes it),
    read from the model directory's facedge.json (the host needs no facedge import)."""
    model_dir = model_dir.resolve()
    info_file = model_dir / "facedge.json"
    if not info_file.is_file():
        raise SystemExit(f"{model_dir}: not a facedge model directory (no facedge.json)")
    info = json.loads(info_file.read_text())
    in_convert_output = model_dir.name in ("fp32", "fp16", "int8")
    name = model_dir.parent.name if in_convert_output else model_dir.name
    onnx_file = (model_dir.parent if in_convert_output else model_dir) / "model.onnx"
    return {"name": name, "precision": "fp32" if onnx else info["precision"], "model_dir": str(model_dir),
            "param": str(model_dir / "model.param"), "bin": str(model_dir / "model.bin"),
            "onnx": str(onnx_file) if onnx_file.is_file() else None, "family": info["family"],
            "input_size": list(info["input_size"]), "pixel": info["pixel"], "mean": info["mean"], "norm": info["norm"],
            "input": info["input"], "outputs": dict(info["outputs"])}


def plan(model_dirs, yunet):
    """[(runtime, spec, label)]: facedge per model, onnxruntime/OpenCV DNN per fp32 ONNX, YuNet per size."""
    jobs, sizes = [], set()
    for d in model_dirs:
        m = model_spec(Path(d))
        jobs.append(("facedge", m, f"{m['name']} {m['precision']}"))
        if m["precision"] == "fp32":
            if m["onnx"] is None:
                jobs.append(("onnxruntime", None, f"{m['name']}: no model.onnx beside {m['model_dir']}"))
            else:
                for rt in ("onnxruntime", "opencv-dnn"):
                    jobs.append((rt, model_spec(Path(d), onnx=True), f"{m['name']} fp32"))
        size = tuple(m["input_size"])
        if size not in sizes:
            sizes.add(size)
            spec = {"name": "yunet", "precision": "fp32", "input_size": list(size), "family": "yunet", "outputs": {}}
            jobs.append(("yunet", spec if yunet else None, f"YuNet {size[0]}x{size[1]}"))
    return jobs


def guest_env(work: Path, pythonpath: str) -> dict:
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    return {"HOME": str(work), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TMPDIR": str(work / "tmp"),
            "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0", "PYTHONPATH": pythonpath,
            "PYTHONPYCACHEPREFIX": str(work / "pycache"), "OPENBLAS_NUM_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}


def guest_fingerprint(pythonpath: str) -> str:
    """What the guest runs besides the spec: the installed wheels and this tool's code."""
    h = hashlib.sha1()
    for p in pythonpath.split(":"):
        for name in (".wheel-sha", ".complete"):
            f = Path(p) / name
            if f.is_file():
                h.update(f.read_bytes() + str(f.stat().st_mtime_ns).encode())
    for f in (WORKLOAD, PLUGIN_SOURCE):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _files_digest(spec: dict, yunet) -> str:
    """The contents of the files a job reads: a model re-quantized or re-converted in the
    same directory must be profiled again (its paths alone do not change)."""
    h = hashlib.sha1()
    for name in ("param", "bin", "onnx"):
        if spec.get(name) and Path(spec[name]).is_file():
            h.update(Path(spec[name]).read_bytes())
    if spec.get("family") == "yunet" and yunet and Path(yunet).is_file():
        h.update(Path(yunet).read_bytes())
    return h.hexdigest()[:16]


def job_profile(args, runtime, spec, frame, threads, fingerprint, extra=None):
    """(the guest spec, the path its profile is kept under): the path names everything the
    profile depends on (the spec, the wheels and this tool's code, the files read), so a
    kept profile under it is current and one under another path is not."""
    full = {"runtime": runtime, "model": spec, "yunet": str(args.yunet) if args.yunet else None, "frame": str(frame),
            "threads": threads, "warmup": 1, "iterations": 1, "score_threshold": SCORE_THRESHOLD,
            "iou_threshold": IOU_THRESHOLD, "cache_simulation": True, **(extra or {})}
    key = hashlib.sha1((json.dumps(full, sort_keys=True) + fingerprint + _files_digest(spec, args.yunet)).encode()
                       ).hexdigest()[:16]
    return full, args.work / "profiles" / f"{runtime}-{key}.txt.gz"


def run_job(args, runtime, spec, frame, threads, fingerprint, extra=None):
    """(profile path, guest answer) of one guest process, from the kept profile when unchanged.
    args: .rootfs, .pythonpath, .work, .yunet, .kept_only. extra: more spec keys for the
    guest workload ("sizes", "rows", "bf16": see guest_workload.py)."""
    full, keep = job_profile(args, runtime, spec, frame, threads, fingerprint, extra)
    answer_file = keep.with_suffix("").with_suffix(".json")
    if keep.is_file() and answer_file.is_file():
        return keep, json.loads(answer_file.read_text())
    if args.kept_only:
        return None, {"error": f"{runtime}: not profiled yet (--kept-only)"}
    spec_file = args.work / "specs" / keep.name.replace(".txt.gz", ".json")
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(full))
    argv = [args.rootfs / "usr/bin/python3.11", WORKLOAD, spec_file]
    try:
        _, run = profile_run(argv, prefix=args.rootfs, env=guest_env(args.work, args.pythonpath), cwd=args.work,
                             keep=keep, cache=True)
    except GuestRunError as e:
        return None, {"error": f"{runtime}: the guest run failed: {str(e).splitlines()[-1][:200]}"}
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    answer_file.write_text(json.dumps(answer))
    return keep, answer


def phase_costs(profile_path: Path, answer: dict, clock_mhz: float):
    """[(phase, the guest's note on it, phase_estimate())] of one kept guest profile, each
    phase costed with the Pi 4B memory model; dynamic pools balanced (DYNAMIC_POOLS)."""
    prof = read_profile(profile_path)
    out = []
    for phase, what in answer["phases"].items():
        dynamic = what["row"] in DYNAMIC_POOLS
        res = phase_estimate(prof, int(phase), what["threads"], "cortex-a72", clock_mhz, balanced=dynamic)
        res["balanced"] = dynamic
        out.append((int(phase), what, res))
    return out


def frame_file(work: Path, image: Path) -> Path:
    """The photo as a BGR numpy array (no JPEG decoder runs in the guest)."""
    import cv2
    import numpy as np

    out = work / f"frame-{image.stem}.npy"
    if not out.is_file():
        pixels = cv2.imread(str(image))
        if pixels is None:
            raise SystemExit(f"{image}: not a readable image")
        np.save(work / "frame.tmp.npy", pixels)
        os.replace(work / "frame.tmp.npy", out)
    return out


def validation_error(validation: dict | None, threads: int):
    """The validation's median |error| at this thread count (Pi 4B tables), or None."""
    if not validation:
        return None
    errs = [abs(r["error"]) for r in validation["rows"]
            if r.get("error") is not None and r["cpu"] == "cortex-a72" and r["threads"] == threads]
    return statistics.median(errs) if errs else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rootfs", type=Path, required=True)
    p.add_argument("--pythonpath", required=True, help="guest PYTHONPATH: the facedge wheel, its dependencies, the peers")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--model", type=Path, action="append", default=[], help="a facedge model directory (repeat)")
    p.add_argument("--yunet", type=Path)
    p.add_argument("--image", type=Path, required=True, help="the photo detected")
    p.add_argument("--threads", default="1,2,3,4")
    p.add_argument("--clock-mhz", type=float, default=1500)
    p.add_argument("--validation", type=Path, help="the validation JSON, for the error beside each estimate")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--kept-only", action="store_true", help="emulate nothing: jobs without a kept profile become notes")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    threads = [int(t) for t in args.threads.split(",")]
    frame = frame_file(args.work, args.image)
    fingerprint = guest_fingerprint(args.pythonpath)
    validation = json.loads(args.validation.read_text()) if args.validation and args.validation.is_file() else None

    rows, notes = [], []
    jobs = plan(args.model, args.yunet)
    for runtime, spec, label in jobs:
        if spec is None:
            notes.append(f"{runtime}: skipped for {label}" if "no model.onnx" in label
                         else f"{runtime}: skipped for {label}, no YuNet model given (--yunet)")
    runnable = [j for j in jobs if j[1] is not None]

    def work(job):
        runtime, spec, label = job
        t = time.time()
        path, answer = run_job(args, runtime, spec, frame, threads, fingerprint)
        print(f"  {runtime} {label}: {'error: ' + answer['error'] if 'error' in answer else 'profiled'} "
              f"({time.time() - t:.0f} s)", file=sys.stderr)
        return path, answer

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        done = list(pool.map(work, runnable))
    for (runtime, spec, label), (path, answer) in zip(runnable, done):
        model = spec["name"] if runtime != "yunet" else f"yunet {spec['input_size'][0]}x{spec['input_size'][1]}"
        if "error" in answer:
            notes.append(f"{label}: {answer['error']}")
            continue
        for phase, what, res in phase_costs(path, answer, args.clock_mhz):
            rows.append({"model": model, "input_size": spec["input_size"], "precision": spec["precision"],
                         "runtime": what["row"], "threads": what["threads"], "estimated_ms": res["ms"],
                         "validation_median_abs_error": validation_error(validation, what["threads"]),
                         "core_only_ms": res["core_only_ms"],
                         "thread_pool": "dynamic: epochs balanced" if res["balanced"] else "static (OpenMP)",
                         "as_profiled_ms": res["as_profiled_ms"],
                         "per_thread_mcycles": [round(c / 1e6, 3) for c in res["per_thread_cycles"] if c],
                         "minsns": round(sum(res["per_thread_insns"]) / 1e6, 3), "ipc": round(res["ipc"], 3),
                         "faces": answer["faces"].get(what["row"])})
    rows.sort(key=lambda r: (r["model"], r["precision"], ROW_ORDER.index(r["runtime"]), r["threads"]))
    report = {"cpu": "cortex-a72", "clock_mhz": args.clock_mhz, "threads": threads, "image": str(args.image),
              "estimates": rows, "notes": notes, "validation": validation}
    print(table(rows, threads, args.clock_mhz, validation))
    for n in notes:
        print(f"note: {n}")
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1) + "\n")
        os.replace(tmp, args.json)
    return 0


def table(rows, threads, clock_mhz, validation) -> str:
    errs = {t: validation_error(validation, t) for t in threads}
    err_text = ", ".join(f"{t} thread{'s' if t > 1 else ''} ±{100 * e:.0f} %" for t, e in errs.items() if e is not None)
    lines = [f"Estimated Raspberry Pi 4B ms per frame (Cortex-A72 timing model, {clock_mhz:g} MHz; median |error| "
             f"against published Pi tables: {err_text or 'not validated'}; other thread counts not validated)", "",
             "| model | precision | runtime | " + " | ".join(f"{t} thr" for t in threads) + " |",
             "|---|---|---|" + "---:|" * len(threads)]
    keyed = {}
    for r in rows:
        keyed.setdefault((r["model"], r["precision"], r["runtime"]), {})[r["threads"]] = r["estimated_ms"]
    for (model, precision, runtime), by_t in keyed.items():
        cells = " | ".join(f"~{by_t[t]:.1f}" if t in by_t else "" for t in threads)
        lines.append(f"| {model} | {precision} | {ROW_NAMES.get(runtime, runtime)} | {cells} |")
    # peer / facedge on the same model (fp32 ONNX peers against facedge of each precision)
    lines += ["", "Peer / facedge detect() (above 1: facedge is faster):", "",
              "| model | facedge precision | peer | " + " | ".join(f"{t} thr" for t in threads) + " |",
              "|---|---|---|" + "---:|" * len(threads)]
    for (model, precision, runtime), by_t in keyed.items():
        if runtime != "facedge":
            continue
        size = next(r["input_size"] for r in rows if r["model"] == model)
        for peer in ROW_ORDER[2:]:
            src = keyed.get((model, precision, peer)) or keyed.get((model, "fp32", peer))
            if peer == "yunet":
                src = keyed.get((f"yunet {size[0]}x{size[1]}", "fp32", "yunet"))
            if src:
                cells = " | ".join(f"{src[t] / by_t[t]:.2f}" if t in src and t in by_t else "" for t in threads)
                lines.append(f"| {model} | {precision} | {ROW_NAMES[peer]} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
