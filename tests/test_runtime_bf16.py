"""bf16 storage (`facedge.Detector(bf16=...)`, `--bf16`): which storage runs, and that
bf16 detections equal fp32's within bf16's rounding, for float and int8 models."""

import platform

import cv2
import numpy as np
import pytest

import facedge
from facedge.base.errors import FacedgeError
from facedge.runtime.detector import default_options

# Measured on the 24 demo photos (RFB-320 and slim-320 at 320x240, x86): of the 1167
# faces scoring >= 0.7 in fp32, bf16 finds 99 % with IoU >= 0.965 and all with IoU >=
# 0.883, scores within 0.016. (Before the output tail ran in fp32, bf16 scores came in
# steps of 2^-8, faces tied at 0.996 or 1.0 and another box of the same head could win
# NMS: overlaps down to 0.867.)
MATCH_IOU = 0.85
MEDIAN_IOU = 0.98
SCORE_TOL = 0.03
SURE = 0.7  # faces this far above the 0.6 threshold cannot drop below it by rounding


def _iou(a, b):
    x1, y1 = np.maximum(a[:2], b[:, :2]).T
    x2, y2 = np.minimum(a[2:], b[:, 2:]).T
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])
    return inter / (area(a) + area(b) - inter)


def _assert_same_faces(want, got, what):
    """Every sure face of `want` is in `got`: same place, score within SCORE_TOL.
    Returns the best overlaps found."""
    overlaps = []
    for box, score in zip(want.boxes, want.scores):
        if score < SURE:
            continue
        assert len(got), f"{what}: a face scoring {score:.3f} in fp32 is missing"
        ious = _iou(box, got.boxes)
        j = int(np.argmax(ious))
        assert ious[j] >= MATCH_IOU, f"{what}: face {box} (score {score:.3f}) best overlap {ious[j]:.3f}"
        assert abs(got.scores[j] - score) <= SCORE_TOL, f"{what}: score {score:.4f} vs {got.scores[j]:.4f}"
        overlaps.append(ious[j])
    return overlaps


def _pair(param, bin_, family, **kw):
    fp32 = facedge.Detector.from_ncnn(param, bin_, family=family, fp16=False, bf16=False, **kw)
    bf16 = facedge.Detector.from_ncnn(param, bin_, family=family, fp16=False, bf16=True, **kw)
    return fp32, bf16


@pytest.mark.parametrize("name,family", [("RFB-320", "ultraface-rfb"), ("slim_320", "ultraface-slim")])
def test_bf16_detections_equal_fp32_within_rounding(reference_ultraface, demo_images, name, family):
    param, bin_ = reference_ultraface[name]
    fp32, bf16 = _pair(param, bin_, family, input_size=(320, 240), threads=1)
    assert (fp32.float_storage, bf16.float_storage) == ("fp32", "bf16")
    assert "bf16" in repr(bf16) and "fp32" in repr(fp32)
    overlaps, changed = [], 0
    for path in demo_images[:8]:
        image = cv2.imread(str(path))
        a, b = fp32.detect(image), bf16.detect(image)
        overlaps += _assert_same_faces(a, b, f"{name} {path.name} fp32 -> bf16")
        _assert_same_faces(b, a, f"{name} {path.name} bf16 -> fp32")
        raw_a, raw_b = fp32.infer(image), bf16.infer(image)
        changed += int(np.sum(raw_a["scores"] != raw_b["scores"]))
    assert len(overlaps) >= 50  # the photos are crowds: the comparison covered many faces
    # the layers after the last convolutions run fp32: scores are not rounded to bf16
    assert np.mean(b.scores.view(np.uint32) & 0xFFFF != 0) > 0.9
    assert np.median(overlaps) >= MEDIAN_IOU
    assert changed > 0  # bf16 really ran (not fp32 by accident)


def test_int8_model_with_bf16_float_layers(reference_ultraface, demo_images, tmp_path):
    """An int8 model's float layers run bf16 too; its int8 layers quantize their bf16
    input and give bf16 back. bf16 rounding moves some values across an int8 step, so
    int8 + bf16 differs from int8 + fp32 by about int8's own noise (measured on RFB-320,
    every other layer int8: scores 0.04-0.13 at most, 0.0011-0.0020 on average, against
    0.04-0.67 and 0.0010-0.0036 for int8 against fp32), never by a misread blob (a
    bf16 blob read as fp32 gives garbage of order 1)."""
    calibration = pytest.importorskip("facedge.calibration.int8_model")
    from facedge.calibration.graph import quantizable_layers
    from facedge.calibration.ncnn_model import read_model
    from facedge.calibration.scales import weight_scales
    from facedge.calibration.table import LayerScales
    from facedge.calibration.trial import write_model_dir

    param, bin_ = reference_ultraface["RFB-320"]
    rfb = read_model(param, bin_)
    images = [cv2.imread(str(p)) for p in demo_images[:3]]
    fp32 = facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", fp16=False, threads=1)
    layers = quantizable_layers(rfb)
    blobs = fp32.extract_blobs(images[0], [q.bottom for q in layers])
    # every other layer int8 (float/int8 boundaries both ways), input scales from the
    # activations of one photo
    scales = {q.name: LayerScales(weight_scales(q.weights(rfb), q.groups, q.weight_6bit),
                                  np.float32(127 / max(np.abs(blobs[q.bottom]).max(), 1e-3)))
              for q in layers[::2]}
    int8, _ = calibration.build_int8_model(rfb, scales, {"scores", "boxes"})
    info = {"format": 1, "family": "ultraface-rfb", "input_size": [320, 240], "precision": "int8", "pixel": "rgb",
            "mean": [127, 127, 127], "norm": [0.0078125] * 3, "input": "input",
            "outputs": {"scores": "scores", "boxes": "boxes"}}
    write_model_dir(tmp_path / "m", int8, info)
    a = facedge.Detector(str(tmp_path / "m"), fp16=False, bf16=False, threads=1)
    b = facedge.Detector(str(tmp_path / "m"), fp16=False, bf16=True, threads=1)
    assert b.int8_layer_count == len(scales) and b.precision == "int8 + bf16" and a.precision == "int8 + fp32"
    for image in images:
        reference, ra, rb = fp32.infer(image)["scores"], a.infer(image)["scores"], b.infer(image)["scores"]
        int8_noise = np.abs(ra - reference).mean()
        assert 0 < np.abs(rb - ra).max() < 0.25
        assert np.abs(rb - reference).mean() <= 1.5 * int8_noise + 0.0015  # bf16 alone: about 0.0007
        assert abs(len(a.detect(image)) - len(b.detect(image))) <= 1


def test_bf16_option_values(model_dir):
    assert default_options()["bf16"] == "off"
    for value, storage in ((True, "bf16"), ("on", "bf16"), (False, "fp32"), ("off", "fp32")):
        assert facedge.Detector(str(model_dir), fp16=False, bf16=value, threads=1).float_storage == storage
    if platform.machine() in ("x86_64", "AMD64"):  # auto: bf16 only on an ARM CPU without fp16 storage
        assert facedge.Detector(str(model_dir), bf16="auto", threads=1).float_storage == "fp32"
    for bad in ("yes", 1, "bf16", "ON"):
        with pytest.raises(FacedgeError, match=r"bf16 must be True, False, 'on', 'off' or 'auto' \(None: the default\), got "):
            facedge.Detector(str(model_dir), bf16=bad)


def test_cli_bf16_flag(run_cli, model_dir, demo_images):
    p = run_cli("detect", model_dir, demo_images[0], "--bf16", "on", "--json")
    assert p.returncode == 0, p.stderr
    p = run_cli("detect", model_dir, demo_images[0], "--bf16", "maybe")
    assert p.returncode == 2 and "--bf16: invalid choice: 'maybe'" in p.stderr
