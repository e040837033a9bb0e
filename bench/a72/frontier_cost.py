"""What one detector costs per frame on a Raspberry Pi 4B (Cortex-A72, 1.5 GHz), without a
Pi: the A72 timing model's apply path (bench/a72/timing/apply.py), reused as it is.

facedge's `Detector.detect()` (resize of the frame, inference, decoding, NMS: what a
user's call costs) and OpenCV's `cv2.FaceDetectorYN` (cv2.resize + detect(), as
`facedge bench` runs it) run in the arm64 rootfs under `qemu-aarch64 -cpu cortex-a72`
with the tbprofile plugin and the Pi 4B cache simulation (timing.apply.run_job and
timing/guest_workload.py: one warm-up and one measured call per thread count); each
measured call is costed by timing.apply.phase_costs (llvm-mca block cycles, the fitted
cache/DRAM and thread model). Profiles are kept under WORK/timing/profiles and reused
while the wheels, the workload, the model files and the spec are unchanged; each cost
records its profile and the timing model's version (block model, fitted memory
parameters), and a cost made under another version is re-costed from its kept profile
on the next run, without qemu.

This module only says which jobs to run; every figure comes from the timing package.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from facedge.base.errors import FacedgeError

from .timing import apply
from .timing.estimate import model_version

MEASURE = "a72-detect-ms"  # what a frontier.json's costs are (older stores: "a72-ms" bare inference)


class A72Cost:
    """Estimated ms per frame at each thread count, for facedge models and the YuNet peer."""

    measure = MEASURE

    def __init__(self, work: Path, rootfs: Path, pythonpath: str, image: Path, yunet=None,
                 threads=(1, 4), clock_mhz: float = 1500):
        rootfs = Path(rootfs)
        if not (rootfs / "usr/bin/python3.11").is_file():
            raise FacedgeError(f"--rootfs {rootfs}: not an arm64 rootfs with python3.11 (make one with `.ci/arm rootfs`)")
        for part in pythonpath.split(":"):
            if not Path(part).is_dir():
                raise FacedgeError(f"--guest-pythonpath: {part} is not a folder (the guest's facedge wheel and "
                                   "dependencies: `.ci/arm frontier` passes them)")
        if not any((Path(p) / "facedge").is_dir() for p in pythonpath.split(":")):
            raise FacedgeError(f"--guest-pythonpath {pythonpath}: no facedge in it (install the aarch64 wheel: "
                               "`.ci/arm wheel frontier`)")
        self.threads = [int(t) for t in threads]
        self.clock_mhz = clock_mhz
        timing_work = Path(work) / "timing"
        timing_work.mkdir(parents=True, exist_ok=True)
        self.args = SimpleNamespace(rootfs=rootfs, pythonpath=pythonpath, work=timing_work,
                                    yunet=Path(yunet) if yunet else None, kept_only=False)
        self.frame = apply.frame_file(timing_work, Path(image))
        self.fingerprint = apply.guest_fingerprint(pythonpath)

    def _run(self, runtime, spec, size):
        path, answer = apply.run_job(self.args, runtime, spec, self.frame, self.threads, self.fingerprint,
                                     extra={"sizes": [list(size)], "rows": [runtime]})
        if "error" in answer:
            raise FacedgeError(f"{spec['name']} {spec['precision']} {size[0]}x{size[1]}: {answer['error']}")
        return self.recost(path.relative_to(self.args.work))

    def recost(self, profile):
        """A kept profile (relative to WORK/timing) costed by the timing model as it is now:
        {"cost": {threads: ms}, "cost_detail": {threads: {...}}, "profile", "cost_model"}."""
        path = self.args.work / profile
        answer_file = path.with_suffix("").with_suffix(".json")
        if not (path.is_file() and answer_file.is_file()):
            raise FacedgeError(f"{path}: kept profile missing")
        answer = json.loads(answer_file.read_text())
        costs, detail = {}, {}
        for _, what, res in apply.phase_costs(path, answer, self.clock_mhz):
            t = str(what["threads"])
            costs[t] = round(res["ms"], 3)
            detail[t] = {"core_only_ms": round(res["core_only_ms"], 3), "as_profiled_ms": round(res["as_profiled_ms"], 3),
                         "minsns": round(sum(res["per_thread_insns"]) / 1e6, 3), "ipc": round(res["ipc"], 3),
                         "per_thread_mcycles": [round(c / 1e6, 3) for c in res["per_thread_cycles"] if c]}
        return {"cost": costs, "cost_detail": detail, "profile": str(profile), "cost_model": model_version()}

    def model_cost(self, model_dir: Path, size):
        """recost()'s result for facedge detect() with this model at size (w, h)."""
        return self._run("facedge", apply.model_spec(Path(model_dir)), size)

    def peer_cost(self, size):
        """The same for cv2.FaceDetectorYN with the YuNet ONNX at size (w, h)."""
        if self.args.yunet is None:
            raise FacedgeError("no YuNet model given (--yunet)")
        spec = {"name": "yunet", "precision": "fp32", "input_size": list(size), "family": "yunet", "outputs": {}}
        return self._run("yunet", spec, size)
