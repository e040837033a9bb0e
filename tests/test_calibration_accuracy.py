"""The accuracy promise of `facedge quantize` with its defaults: the int8 ULFD models
lose at most 0.01 WIDER val AP (Easy, Medium, Hard) against their fp32 models, read at
the lower end of the 95 % bootstrap interval over the 39 val images: no face allowed.
With 62 Easy faces one face is 0.016 of Easy AP, more than the promise; the check on
views of the calibration images (the default since session 7; each mirrored, shifted or
zoomed) keeps them, where the check on the images as read lost RFB-320's Easy face
15_102 (bench/RESULTS.md, "Session 5" to "Session 7").

Protocol: the upstream ULFD ncnn models (320x240), calibrated on the WIDER test
samples of the shared data (all 183: the default 200 asks for more), evaluated on the
WIDER val images there with `facedge eval`'s defaults. Slow: a full calibration per
model (1 to 2 minutes each on two cores; two of them)."""

import json
import shutil

import pytest

from facedge.calibration.quantize import quantize

pytestmark = pytest.mark.slow

FAMILY = {"RFB-320": "ultraface-rfb", "slim_320": "ultraface-slim"}
MAX_AP_LOSS = 0.01


def upstream_fp32(reference_ultraface, shared, tmp_path, name):
    if not (shared / "wider" / "WIDER_val" / "images").is_dir() or not (shared / "wider" / "WIDER_test" / "images").is_dir():
        pytest.skip("needs the WIDER val and test images of the shared data")
    fp32 = tmp_path / "fp32"
    fp32.mkdir()
    param, bin_ = reference_ultraface[name]
    shutil.copy(param, fp32 / "model.param")
    shutil.copy(bin_, fp32 / "model.bin")
    (fp32 / "facedge.json").write_text(json.dumps({
        "format": 1, "family": FAMILY[name], "input_size": [320, 240], "precision": "fp32", "pixel": "rgb",
        "mean": [127, 127, 127], "norm": [0.0078125] * 3, "input": "input", "outputs": {"scores": "scores", "boxes": "boxes"}}))
    return fp32


# what the views cost, by the report's cost table (the timing model reads 0.005-0.01 lower):
# RFB-320's 1-thread target is 0.85, slim-320's 0.90, by the timing model
TABLE_RATIO_AT_MOST = {"RFB-320": 0.87, "slim_320": 0.91}


@pytest.mark.parametrize("name", ["RFB-320", "slim_320"])
def test_int8_keeps_the_promise_at_the_interval_s_lower_end(reference_ultraface, shared, tmp_path, name):
    fp32 = upstream_fp32(reference_ultraface, shared, tmp_path, name)
    report = quantize(fp32, tmp_path, calib=shared / "wider" / "WIDER_test", eval_dir=shared / "wider")
    settings = report["settings"]
    assert (settings["max_ap_loss"], settings["method"], settings["check_on"]) == (0.005, "percentile", "views")  # the defaults
    assert report["mixed_precision"]["check"]["on"] == "views"
    ap = report["wider_ap"]
    print(name, json.dumps({k: ap[k] for k in ("fp32", "int8", "delta", "delta_interval")}),
          report["mixed_precision"]["steps"], report["target"]["ratio"], report["timings_s"])
    for setting in ("easy", "medium", "hard"):
        assert ap["delta_interval"][setting][0] >= -MAX_AP_LOSS, (setting, ap)
    assert report["target"]["ratio"]["1"] <= TABLE_RATIO_AT_MOST[name], report["target"]["ratio"]
    assert report["int8_kernels"]["ran_int8"]
