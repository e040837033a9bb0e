"""Model folders for the `facedge bench` tests, made from the upstream ULFD ncnn files
(no conversion, no torch), and one real conversion for the ONNX peers."""

import os
import shutil
import subprocess
import sys

import pytest

from facedge.base.model_dir import ModelInfo, write_model_info

ULFD_INPUT = (320, 240)


def make_model_dir(folder, param, bin_, precision="fp32"):
    """A model directory over the upstream RFB-320 files (blobs 'input', 'scores', 'boxes')."""
    folder.mkdir(parents=True)
    shutil.copyfile(param, folder / "model.param")
    shutil.copyfile(bin_, folder / "model.bin")
    write_model_info(folder, ModelInfo(family="ultraface-rfb", input_size=ULFD_INPUT, input="input",
                                       outputs={"scores": "scores", "boxes": "boxes"}, pixel="rgb",
                                       mean=[127.0] * 3, norm=[1 / 128] * 3, precision=precision))
    return folder


@pytest.fixture(scope="session")
def ulfd_output(reference_ultraface, tmp_path_factory):
    """A convert output folder holding only fp32/ (no model.onnx): RFB-320/fp32."""
    out = tmp_path_factory.mktemp("bench-ulfd") / "RFB-320"
    make_model_dir(out / "fp32", *reference_ultraface["RFB-320"])
    return out


@pytest.fixture(scope="session")
def ulfd_two_precisions(reference_ultraface, tmp_path_factory):
    """fp32/ and int8/ folders; the 'int8' one holds the same fp32 weights, labelled int8
    in facedge.json: it tests the bookkeeping per precision, its speed means nothing."""
    out = tmp_path_factory.mktemp("bench-two") / "RFB-320"
    make_model_dir(out / "fp32", *reference_ultraface["RFB-320"])
    make_model_dir(out / "int8", *reference_ultraface["RFB-320"], precision="int8")
    return out


@pytest.fixture(scope="session")
def converted_rfb(shared, demo_images, tmp_path_factory):
    """`facedge convert` of version-RFB-320.pth: OUT/fp32/ and OUT/model.onnx."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    base = tmp_path_factory.mktemp("bench-convert")
    images = base / "images"
    images.mkdir()
    for p in demo_images[:2]:  # a short parity check inside the converter
        shutil.copyfile(p, images / p.name)
    out = base / "version-RFB-320"
    proc = subprocess.run([sys.executable, "-m", "facedge", "convert", str(shared / "weights" / "ultraface" / "version-RFB-320.pth"),
                           "-o", str(out), "--images", str(images)], cwd=base, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "FACEDGE_PROGRESS": "0"})
    if proc.returncode != 0:
        pytest.fail(f"facedge convert failed: {proc.stderr[-2000:]}")
    return out
