"""Cost on a Raspberry Pi 4's Cortex-A72, measured as guest instructions under
`qemu-aarch64 -cpu cortex-a72` (wall time under emulation means nothing; instruction
counts of a one-thread run repeat exactly). Run by `.ci/arm bench`:

    python bench/a72/insn_count.py --rootfs ROOTFS --pythonpath SITE:DEPS --plugin libinsncount.so
                                   --work DIR [--frame IMAGE] [--json OUT.json] [--prepare]

Models: ULFD RFB-320 and slim-320 at 320x240, fp32 from the upstream ncnn files
(written as model folders DIR/models/<name>/fp32; --prepare stops there), int8 where
DIR/models/<name>/int8 holds a quantized model folder (`.ci/arm bench` makes them
with `facedge quantize`); rows without one are printed as pending.
Each path of bench/a72/workload.py (facedge detect(), bare ncnn inference,
facedge's preprocessing, the naive ncnn-wheel + numpy path) runs in the arm64 rootfs
under the counting plugin with ITER and ITER + EXTRA calls; the difference / EXTRA is
one call, start-up and model loading cancelling out. The ITER run is done twice and
must count the same (the run is pinned: PYTHONHASHSEED, no address randomization,
PID 1 in its own PID namespace; a run's count depends on its PID otherwise).
Also: detect() vs bare on the frame already at the input size (no resize), and bare
inference on a Cortex-A76 (Pi 5), where ncnn dispatches its armv8.2 kernels.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

QEMU = "/usr/bin/qemu-aarch64"  # the dynamic build: the static one cannot load plugins
MODELS = {"RFB-320": "ultraface-rfb", "slim_320": "ultraface-slim"}
INPUT_SIZE = (320, 240)
PATHS = ("facedge", "bare", "preprocess", "naive")
# the same photo at the network's input size, as a camera's second (lores) stream can
# deliver it: facedge then skips the resize
SMALL_PATHS = ("facedge", "bare")
WORKLOAD = Path(__file__).resolve().with_name("workload.py")  # guest paths fall through to the host
ITER, EXTRA = 2, 3  # the first call allocates ncnn's blobs and pools: it is in both runs


def reference_model_dir(work: Path, shared: Path, name: str) -> Path:
    """A facedge model directory holding the upstream ULFD ncnn files (fp32)."""
    from facedge.base.model_dir import ModelInfo, write_model_info

    out = work / "models" / name / "fp32"
    if (out / "facedge.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".fp32-"))
    src = shared / "reference" / "ultraface-ncnn"
    shutil.copyfile(src / f"{name}.param", tmp / "model.param")
    shutil.copyfile(src / f"{name}.bin", tmp / "model.bin")
    write_model_info(tmp, ModelInfo(family=MODELS[name], input_size=INPUT_SIZE, input="input",
                                    outputs={"scores": "scores", "boxes": "boxes"}, pixel="rgb",
                                    mean=[127.0] * 3, norm=[1 / 128] * 3,
                                    source={"ncnn": f"upstream ULFD {name}.param/.bin"}))
    os.replace(tmp, out)
    return out


def frame_files(work: Path, image: Path):
    """The image as BGR arrays: (as it is, resized to INPUT_SIZE)."""
    import cv2
    import numpy as np

    pixels = None
    out = []
    for suffix, size in (("", None), (f"-{INPUT_SIZE[0]}x{INPUT_SIZE[1]}", INPUT_SIZE)):
        path = work / f"frame-{image.stem}{suffix}.npy"
        if not path.is_file():
            if pixels is None:
                pixels = cv2.imread(str(image))
                if pixels is None:
                    raise SystemExit(f"{image}: not a readable image")
            np.save(work / "frame.tmp.npy", pixels if size is None else cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))
            os.replace(work / "frame.tmp.npy", path)
        out.append(path)
    return out


class Guest:
    """Runs the workload in the rootfs under the counting plugin; returns (count, result)."""

    def __init__(self, rootfs: Path, pythonpath: str, plugin: Path, work: Path):
        self.rootfs, self.plugin, self.work = rootfs, plugin, work
        (work / "tmp").mkdir(parents=True, exist_ok=True)
        self.env = {"HOME": str(work), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TMPDIR": str(work / "tmp"),
                    "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0", "PYTHONPATH": pythonpath,
                    "PYTHONPYCACHEPREFIX": str(work / "pycache"), "OMP_NUM_THREADS": "1",
                    "OPENBLAS_NUM_THREADS": "1"}
        self.pin = ["unshare", "--pid", "--fork", "setarch", os.uname().machine, "-R"]
        if subprocess.run(self.pin + ["true"], capture_output=True).returncode != 0:
            print("a72_insn_count: cannot pin the PID (unshare needs root); counts may differ run to run",
                  file=sys.stderr)
            self.pin = ["setarch", os.uname().machine, "-R"]

    def count(self, path, model_dir, frame, iterations, cpu="cortex-a72"):
        fd, name = tempfile.mkstemp(dir=self.work / "tmp", prefix="insns-")
        os.close(fd)
        out = Path(name)
        cmd = self.pin + [QEMU, "-cpu", cpu, "-L", str(self.rootfs), "-plugin", f"{self.plugin},out={out}",
                          str(self.rootfs / "usr/bin/python3.11"), str(WORKLOAD),
                          path, str(model_dir), str(frame), str(iterations)]
        # the workload runs from this checkout (it is not in the wheel); it imports facedge from the wheel
        run = subprocess.run(cmd, env=self.env, capture_output=True, text=True, cwd=self.work)
        text = out.read_text()
        out.unlink()
        if run.returncode != 0 or "insns:" not in text:
            raise SystemExit(f"guest run failed ({' '.join(cmd[-4:])}):\n{run.stdout}{run.stderr}")
        insns = int(text.split("insns:")[1].split()[0])
        return insns, json.loads(run.stdout.strip().splitlines()[-1])["result"]


def measure(guest: Guest, path, model_dir, frame, cpu="cortex-a72", tolerance=0.0):
    """Instructions per call: count(ITER + EXTRA calls) - count(ITER calls), over EXTRA
    (start-up, imports and loading cancel out). The ITER run is made twice; its counts
    must agree within `tolerance` (relative): exactly on the A72. The A76 comparison
    allows 1e-4: there the counts have differed by 10 thousand in 435 million between
    identical runs (seen with ncnn's fp16 kernels), which moves no figure it reports."""
    base, result = guest.count(path, model_dir, frame, ITER, cpu)
    more, _ = guest.count(path, model_dir, frame, ITER + EXTRA, cpu)
    again, _ = guest.count(path, model_dir, frame, ITER, cpu)
    if abs(again - base) > tolerance * base:
        raise SystemExit(f"{path} {model_dir} ({cpu}): {base} then {again} instructions for the same run; "
                         "counts do not repeat (more than one guest thread?)")
    return {"per_call": (more - base) / EXTRA, "runs": {ITER: base, ITER + EXTRA: more}, "repeat": again,
            "result": result}


def fmt(insns):
    return f"{insns / 1e6:.2f} M"


def table(rows, frame_name, frame_size) -> str:
    w, h = INPUT_SIZE
    lines = [f"Guest instructions per call (M = 10^6), qemu-aarch64 -cpu cortex-a72, 1 thread, network input {w}x{h}.", "",
             f"Frame {frame_name} ({frame_size[0]}x{frame_size[1]}, resized by each path):", "",
             "| model | precision | facedge detect() | bare ncnn | facedge / bare | facedge preprocessing | "
             "naive ncnn-Python + numpy | naive / facedge | faces |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row.get("pending"):
            lines.append(f"| {row['model']} | {row['precision']} | pending | pending | | pending | pending | | |")
            continue
        f, b, pre, n = (row[p]["per_call"] for p in PATHS)
        lines.append(f"| {row['model']} | {row['precision']} | {fmt(f)} | {fmt(b)} | {f / b:.3f} | {fmt(pre)} | "
                     f"{fmt(n)} | {n / f:.3f} | {row['facedge']['result'][0]} |")
    lines += ["", f"The same frame already at {w}x{h} (no resize):", "",
              "| model | precision | facedge detect() | bare ncnn | facedge / bare |", "|---|---|---:|---:|---:|"]
    for row in rows:
        if not row.get("pending"):
            f, b = (row["small"][p]["per_call"] for p in SMALL_PATHS)
            lines.append(f"| {row['model']} | {row['precision']} | {fmt(f)} | {fmt(b)} | {f / b:.3f} |")
    lines += ["", "For comparison, a Pi 5's Cortex-A76 (qemu -cpu cortex-a76: ncnn dispatches its armv8.2 "
              "fp16 and dot-product kernels; fp16 arithmetic is facedge's default), bare ncnn inference:", "",
              "| model | precision | bare ncnn, A76 | A76 / A72 |", "|---|---|---:|---:|"]
    for row in rows:
        if not row.get("pending"):
            a76 = row["a76"]["bare"]["per_call"]
            lines.append(f"| {row['model']} | {row['precision']} | {fmt(a76)} | {a76 / row['bare']['per_call']:.3f} |")
    by_key = {(r["model"], r["precision"]): r for r in rows if not r.get("pending")}
    ratios = []
    for model in MODELS:
        fp32, int8 = by_key.get((model, "fp32")), by_key.get((model, "int8"))
        if fp32 and int8:
            ratios.append(f"{model} {int8['bare']['per_call'] / fp32['bare']['per_call']:.3f}")
    if ratios:
        lines += ["", "int8 / fp32, bare ncnn inference on the A72: " + ", ".join(ratios)]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rootfs", type=Path, required=True, help="the arm64 rootfs (qemu -L prefix)")
    p.add_argument("--pythonpath", required=True, help="guest PYTHONPATH: the installed wheel, then its dependencies")
    p.add_argument("--plugin", type=Path, required=True, help="libinsncount.so (shared/tools/arm/qemu-insn-count)")
    p.add_argument("--work", type=Path, required=True, help="a host folder outside the rootfs for models, frames, counts")
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEDGE_SHARED", "../shared")))
    p.add_argument("--frame", type=Path, help="the image detected (default: shared images/ultraface-demo/1.jpg)")
    p.add_argument("--json", type=Path, help="also write every count here")
    p.add_argument("--prepare", action="store_true",
                   help="only write the fp32 model folders (WORK/models/<name>/fp32) and the frames, then stop")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    image = args.frame or args.shared / "images" / "ultraface-demo" / "1.jpg"
    frame, small_frame = frame_files(args.work, image)
    for model in MODELS:
        reference_model_dir(args.work, args.shared, model)
    if args.prepare:
        return 0
    guest = Guest(args.rootfs, args.pythonpath, args.plugin, args.work)

    # Python compiles and caches each module's bytecode on its first import, which a
    # first counted run would pay and the next not: one uncounted run per path first
    for path in PATHS:
        guest.count(path, reference_model_dir(args.work, args.shared, next(iter(MODELS))), frame, 1)

    rows = []
    for model in MODELS:
        for precision in ("fp32", "int8"):
            if precision == "fp32":
                model_dir = reference_model_dir(args.work, args.shared, model)
            else:
                model_dir = args.work / "models" / model / "int8"
                if not (model_dir / "facedge.json").is_file():
                    rows.append({"model": model, "precision": precision, "pending": str(model_dir)})
                    continue
            row = {"model": model, "precision": precision, "model_dir": str(model_dir)}
            for path in PATHS:
                row[path] = measure(guest, path, model_dir, frame)
                print(f"  {model} {precision} {path}: {fmt(row[path]['per_call'])} per call", file=sys.stderr)
            row["small"] = {path: measure(guest, path, model_dir, small_frame) for path in SMALL_PATHS}
            row["a76"] = {"bare": measure(guest, "bare", model_dir, frame, cpu="cortex-a76", tolerance=1e-4)}
            # like with like: facedge resizing bilinearly, as the naive path does
            if row["facedge"]["result"][1] != row["naive"]["result"]:
                raise SystemExit(f"{model} {precision}: facedge (resize='bilinear') found {row['facedge']['result'][1]} "
                                 f"faces, the naive path {row['naive']['result']}: they are not doing the same work")
            rows.append(row)
    import numpy as np

    text = table(rows, image.name, np.load(frame).shape[1::-1])
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"frame": str(image), "iter": ITER, "extra": EXTRA, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
