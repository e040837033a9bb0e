"""Can int8 flow through a Concat in ncnn 20261020? Two int8 models of RFB-320 that
differ only in its RFB block's three branch convolutions: (a) they dequantize to
float, the Concat joins floats and the 1x1 convolution after it quantizes (what
facedge writes), (b) they requantize to that convolution's input scale, so the Concat
joins int8 blobs. Both run on the stock `ncnn` wheel here and, with
layer_cost.cpp built for aarch64, on the emulated Cortex-A72 and A76; printed: the
largest difference of the convolution's output and of the face scores.

    python bench/a72/layer_cost/concat_int8_check.py FP32_MODEL_DIR PHOTO --harness layer_cost --prefix A72_PREFIX

Measured (RFB-320, qemu 7.2): x86 wheel identical (0.0); A72 and A76 wrong (blob
differences as large as the values): ncnn's Concat_arm has no int8 path and copies
8-packed int8 channels as if 4-packed, while Concat_x86 keeps the 8-packing. So facedge
does not requantize into a Concat.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from facedge.calibration.graph import quantizable_layers
from facedge.calibration.int8_model import build_int8_model
from facedge.calibration.ncnn_model import Chunk, raw_fp32, read_model
from facedge.calibration.scales import weight_scales
from facedge.calibration.table import LayerScales

BRANCHES = ("conv_47", "conv_50", "conv_54")  # facedge's RFB-320: the RFB block's branch outputs
AFTER = "conv_55"  # the 1x1 convolution reading their Concat
PROBE = "29"  # its output blob


def models(fp32_dir: Path, image):
    import facedge

    fp32 = read_model(fp32_dir / "model.param", fp32_dir / "model.bin")
    det = facedge.Detector(str(fp32_dir), threads=1, fp16=False)
    ql = quantizable_layers(fp32)
    blobs = det.extract_blobs(image, sorted({q.source for q in ql}))
    scales = {q.name: LayerScales(weight_scales(q.weights(fp32), q.groups, q.weight_6bit),
                                  np.float32(127 / np.abs(blobs[q.source]).max())) for q in ql}
    base, _ = build_int8_model(fp32, scales, {"out0", "out1"})
    through = base.copy()
    s = np.array([scales[AFTER].input], np.float32)
    for layer in through.layers:
        if layer.name in BRANCHES:
            layer.set_param(8, layer.int_param(8) + 100)
            layer.chunks.append(Chunk("output scale", False, raw_fp32(s), s))
    return base, through


def _write(model, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.param").write_text(model.param_text())
    (folder / "m.bin").write_bytes(model.bin_bytes())
    return folder / "m.param", folder / "m.bin"


def on_wheel(model, image, folder):
    import ncnn

    param, binf = _write(model, folder)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    net.load_param(str(param))
    net.load_model(str(binf))
    x = cv2.resize(image, (320, 240))
    mat = ncnn.Mat.from_pixels(x, ncnn.Mat.PixelType.PIXEL_BGR2RGB, 320, 240)
    mat.substract_mean_normalize([127, 127, 127], [1 / 128] * 3)
    ex = net.create_extractor()
    ex.input("in0", mat)
    return np.concatenate([np.array(ex.extract(b)[1]).ravel() for b in (PROBE, "out0")])


def on_qemu(model, folder, harness, prefix, cpu):
    param, binf = _write(model, folder)
    env = dict(os.environ, LAYER_COST_DUMP=str(folder / "out.f32"), OMP_NUM_THREADS="1")
    r = subprocess.run(["/usr/bin/qemu-aarch64", "-cpu", cpu, "-L", str(prefix), str(harness), str(param), str(binf),
                        "320", "240", "3", "1", "in0", f"{PROBE},out0"], env=env, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return np.fromfile(folder / "out.f32", np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("fp32_dir", type=Path)
    p.add_argument("photo", type=Path)
    p.add_argument("--harness", type=Path)
    p.add_argument("--prefix", type=Path)
    args = p.parse_args(argv)
    image = cv2.imread(str(args.photo))
    base, through = models(args.fp32_dir, image)
    n = 64 * 30 * 40  # blob 29: 64 x 30 x 40
    with tempfile.TemporaryDirectory() as t:
        t = Path(t)
        runs = [("x86 ncnn wheel", lambda m, tag: on_wheel(m, image, t / tag))]
        if args.harness:
            for cpu in ("cortex-a72", "cortex-a76"):
                runs.append((f"qemu {cpu}", lambda m, tag, cpu=cpu: on_qemu(m, t / f"{cpu}-{tag}", args.harness,
                                                                            args.prefix, cpu)))
        for name, run in runs:
            a, b = run(base, "float-concat"), run(through, "int8-concat")
            print(f"{name}: conv after the Concat differs by at most {np.abs(a[:n] - b[:n]).max():.4g} "
                  f"(its values up to {np.abs(a[:n]).max():.4g}); face scores by {np.abs(a[n:] - b[n:]).max():.4g}")


if __name__ == "__main__":
    main()
