"""The measured work of `.ci/arm timing`, run by the arm64 rootfs's Python under qemu with
the tbprofile plugin (bench/a72/timing/apply.py starts it; it is a plain script so that it
needs only the installed facedge wheel and the peers' aarch64 wheels in the guest).

    python3.11 guest_workload.py SPEC.json

SPEC: {"runtime": "facedge" | "onnxruntime" | "opencv-dnn" | "yunet", "model": a facedge
bench model spec, "yunet": path, "frame": a BGR frame saved with numpy, "threads": [1, 2,
3, 4], "warmup": 1, "iterations": 1, "score_threshold", "iou_threshold"}; optional
"sizes": [[w, h], ...] (run at each of these input sizes instead of the model's own: the
A72 frontier), "rows": the rows to measure (default every row of the runtime) and "bf16"
(facedge's bf16 storage, as facedge.Detector takes it; absent: its default).

For each thread count (ascending) it builds the runtime as `facedge bench` does
(facedge.bench.peers) and marks each measured call as one tbprofile phase
(syscall(0x7fac, K)): for facedge, its detect() end to end, the bare ncnn inference of
the same network input, and the naive ncnn-wheel + numpy path; for a peer, its run()
(pre-processing, inference, decoding and NMS, as in `facedge bench`). Prints one JSON
line: {"phases": {K: {"row", "threads", "size"}}, "faces": {row: n}, "float_storage": how
facedge's ncnn stored floats ("fp32", "bf16", "fp16"; facedge only)} or {"error": "..."}
when a wheel is missing or the model does not load.

Threads: spinning is not work. OpenMP waits passively (OMP_WAIT_POLICY=PASSIVE in the
environment, set by the host), onnxruntime's pool is told not to spin, and OpenCV's
pool does not wait actively."""

import ctypes
import json
import os
import sys

os.environ.setdefault("OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER", "0")
os.environ.setdefault("OPENCV_THREAD_POOL_ACTIVE_WAIT_MAIN", "0")
os.environ.setdefault("OPENCV_THREAD_POOL_ACTIVE_WAIT_PAUSE_LIMIT", "0")

_libc = ctypes.CDLL(None, use_errno=True)
MAX_PHASE = 15  # tbprofile's phases 1-15
ROWS = {"facedge": ("facedge", "ncnn-bare", "ncnn-python"), "onnxruntime": ("onnxruntime",),
        "opencv-dnn": ("opencv-dnn",), "yunet": ("yunet",)}


def mark(phase):
    _libc.syscall(ctypes.c_long(0x7FAC), ctypes.c_long(phase))


def no_spinning_onnxruntime():
    """onnxruntime's intra-op threads spin between jobs by default: turn that off for
    every session (the work measured is the same; the spinning would count as work)."""
    import onnxruntime as ort

    base = ort.SessionOptions

    class Options(base):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.add_session_config_entry("session.intra_op.allow_spinning", "0")

    ort.SessionOptions = Options


def measure(spec):
    import numpy as np

    from facedge.bench import peers

    runtime = spec["runtime"]
    if runtime == "onnxruntime":
        no_spinning_onnxruntime()
    sizes = spec.get("sizes") or [spec["model"]["input_size"]]
    rows = spec.get("rows") or ROWS[runtime]
    unknown = set(rows) - set(ROWS[runtime])
    if unknown:
        raise ValueError(f"rows {sorted(unknown)}: {runtime} measures {', '.join(ROWS[runtime])}")
    if len(sizes) * len(spec["threads"]) * len(rows) > MAX_PHASE:
        raise ValueError(f"{len(sizes)} sizes x {len(spec['threads'])} thread counts x {len(rows)} rows: "
                         f"more than the {MAX_PHASE} phases the profiler marks")
    frame = np.load(spec["frame"])
    phases, faces, phase, storage = {}, {}, 0, None

    def timed(row, threads, size, call, warmup=True):
        nonlocal phase
        if row not in rows:
            return
        phase += 1
        for _ in range(spec["warmup"] if warmup else 0):
            call()
        for _ in range(spec["iterations"]):
            mark(phase)
            found = call()
            mark(0)
        phases[phase] = {"row": row, "threads": threads, "size": list(size)}
        faces[row if len(sizes) == 1 else f"{row} {size[0]}x{size[1]}"] = found

    for t in spec["threads"]:
        for size in sizes:
            job = {"runtime": runtime, "model": {**spec["model"], "input_size": list(size)}, "threads": t,
                   "score_threshold": spec["score_threshold"], "iou_threshold": spec["iou_threshold"],
                   "yunet": spec.get("yunet"), "bf16": spec.get("bf16")}
            if runtime == "facedge":
                runner = peers.FacedgeRunner(job)
                det, storage = runner.det, runner.float_storage
                chw = np.ascontiguousarray(det.extract_blobs(frame, [det.info.input])[det.info.input])
                timed("facedge", t, size, lambda: len(det.detect(frame)))
                # the same network and pools detect() just warmed up (a warm-up when detect() was not measured)
                timed("ncnn-bare", t, size, lambda: len(det.infer_normalized(chw)["scores"]),
                      warmup="facedge" not in rows)
                if "ncnn-python" in rows:
                    naive = peers.NcnnPythonRunner({**job, "runtime": "ncnn-python"})
                    timed("ncnn-python", t, size, lambda: (naive.run(frame), naive.faces)[1])
            else:
                runner = peers.make_runner(job)
                timed(runtime, t, size, lambda: (runner.run(frame), runner.faces)[1])
    out = {"phases": phases, "faces": faces}
    if runtime == "facedge":
        out["float_storage"] = storage
    return out


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: guest_workload.py SPEC.json")
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        out = measure(spec)
    except ImportError as e:
        out = {"error": f"{spec['runtime']}: not installed for aarch64 in the guest ({e})"}
    except Exception as e:  # a model the runtime cannot load: reported, the table goes on
        out = {"error": f"{spec['runtime']}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
