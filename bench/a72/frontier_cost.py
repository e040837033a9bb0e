"""What one detector costs per frame on a Raspberry Pi 4B (Cortex-A72, 1.5 GHz), without a
Pi: the A72 timing model's apply path (bench/a72/timing/apply.py), reused as it is.

facedge's `Detector.detect()` (resize of the frame, inference, decoding, NMS: what a
user's call costs) and OpenCV's `cv2.FaceDetectorYN` (cv2.resize + detect(), as
`facedge bench` runs it) run in the arm64 rootfs under `qemu-aarch64 -cpu cortex-a72`
with the tbprofile plugin and the Pi 4B cache simulation (timing.apply.run_job and
timing/guest_workload.py: one warm-up and one measured call per thread count); each
measured call is costed by timing.apply.phase_costs (llvm-mca block cycles, the fitted
cache/DRAM and thread model). facedge runs with bf16 storage "on" or "off" as the row
says (never facedge's default, which may differ by CPU and release), and the guest's
answer must confirm the storage that ran. Profiles are kept under WORK/timing/profiles,
named by what they depend on (the spec, the wheels, the workload, the model files:
apply.job_profile); each cost records its profile and the timing model's version (block
model, fitted memory parameters). A cost whose profile is not the one the job would get
now (a new wheel, a re-converted model) is measured again; one made under another
timing model version is re-costed from its kept profile, without qemu.

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

    def _job(self, model_dir, size, bf16):
        """(runtime, spec, extra) of the guest job for a facedge model (model_dir) with bf16
        storage "on" or "off", or for the peer (model_dir None)."""
        if model_dir is None:
            if self.args.yunet is None:
                raise FacedgeError("no YuNet model given (--yunet)")
            spec = {"name": "yunet", "precision": "fp32", "input_size": list(size), "family": "yunet", "outputs": {}}
            return "yunet", spec, {"sizes": [list(size)], "rows": ["yunet"]}
        if bf16 not in ("on", "off"):  # said explicitly: a row must not change with facedge's default
            raise ValueError(f"bf16 must be 'on' or 'off', got {bf16!r}")
        return "facedge", apply.model_spec(Path(model_dir)), {"sizes": [list(size)], "rows": ["facedge"], "bf16": bf16}

    def profile_of(self, model_dir, size, bf16=None) -> str:
        """Where this job's profile is kept, relative to WORK/timing: a row costed from
        another profile was made with other wheels, workload or model files (stale)."""
        runtime, spec, extra = self._job(model_dir, size, bf16)
        _, path = apply.job_profile(self.args, runtime, spec, self.frame, self.threads, self.fingerprint, extra)
        return str(path.relative_to(self.args.work))

    def _run(self, model_dir, size, bf16):
        runtime, spec, extra = self._job(model_dir, size, bf16)
        path, answer = apply.run_job(self.args, runtime, spec, self.frame, self.threads, self.fingerprint, extra=extra)
        what = f"{spec['name']} {spec['precision']}{' bf16 ' + bf16 if bf16 else ''} {size[0]}x{size[1]}"
        if "error" in answer:
            raise FacedgeError(f"{what}: {answer['error']}")
        check_storage(answer, bf16, what)
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
                         "late_cuts_merged_ms": round(res["late_cuts_merged_ms"], 3),
                         "minsns": round(sum(res["per_thread_insns"]) / 1e6, 3), "ipc": round(res["ipc"], 3),
                         "per_thread_mcycles": [round(c / 1e6, 3) for c in res["per_thread_cycles"] if c]}
        return {"cost": costs, "cost_detail": detail, "profile": str(profile), "cost_model": model_version()}

    def model_cost(self, model_dir: Path, size, bf16: str = "off"):
        """recost()'s result for facedge detect() with this model at size (w, h), bf16
        storage "on" or "off"."""
        return self._run(model_dir, size, bf16)

    def peer_cost(self, size):
        """The same for cv2.FaceDetectorYN with the YuNet ONNX at size (w, h)."""
        return self._run(None, size, None)


def check_storage(answer: dict, bf16, what: str):
    """The guest's facedge stored floats as asked: a bf16 row costed with fp32 storage (an
    ncnn built without NCNN_BF16, fp16 storage winning) would be a wrong row, not a slow one."""
    if bf16 is None:
        return
    ran = answer.get("float_storage")
    if ran != ("bf16" if bf16 == "on" else "fp32"):
        raise FacedgeError(f"{what}: asked bf16 {bf16}, the guest's facedge stored floats as {ran} "
                           "(rebuild the aarch64 wheel: `.ci/arm wheel`)")
