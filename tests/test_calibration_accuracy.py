"""The accuracy promise of `facedge quantize` with its defaults: the int8 ULFD models
lose at most 0.01 WIDER val AP (Easy, Medium, Hard) against their fp32 models, to the
resolution 39 images give it: one face more. With 62 Easy faces one face is 0.016 of
Easy AP, more than the promise, and which face flips (a box a few pixels from IoU 0.5
with its label, two neighbouring anchors trading scores) the calibration images cannot
see (bench/RESULTS.md, "Session 5": RFB-320's default loses one Easy face of these 39
images, 15_102, to a score swap no confident face of the 183 calibration images shows).
So a lost face passes, two fail, and so does any larger loss. With `--check-on views`
(the check on mirrored, shifted and zoomed views of the calibration images, which see
what these val images see) RFB-320 keeps the promise read at the bootstrap interval's
lower end, no face allowed (session 6: -0.004 / -0.002 / -0.001).

Protocol: the upstream ULFD ncnn models (320x240), calibrated on the WIDER test
samples of the shared data (all 183: the default 200 asks for more), evaluated on the
WIDER val images there with `facedge eval`'s defaults. Slow: a full calibration per
model (1 to 3 minutes each on two cores; three of them)."""

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


@pytest.mark.parametrize("name", ["RFB-320", "slim_320"])
def test_int8_ap_within_0_01_of_fp32(reference_ultraface, shared, tmp_path, name):
    fp32 = upstream_fp32(reference_ultraface, shared, tmp_path, name)
    report = quantize(fp32, tmp_path, calib=shared / "wider" / "WIDER_test", eval_dir=shared / "wider")
    assert report["settings"]["max_ap_loss"] == 0.005 and report["settings"]["method"] == "percentile"  # the defaults
    ap = report["wider_ap"]
    print(name, json.dumps({k: ap[k] for k in ("fp32", "int8", "delta", "delta_interval")}),
          report["mixed_precision"], report["timings_s"])
    for setting in ("easy", "medium", "hard"):
        one_face = 1.0 / ap["faces"][setting]
        assert ap["int8"][setting] >= ap["fp32"][setting] - MAX_AP_LOSS - one_face, (setting, ap)
    assert report["int8_kernels"]["ran_int8"]


def test_rfb_320_checked_on_views_keeps_the_promise_at_the_interval_s_lower_end(reference_ultraface, shared, tmp_path):
    fp32 = upstream_fp32(reference_ultraface, shared, tmp_path, "RFB-320")
    report = quantize(fp32, tmp_path, calib=shared / "wider" / "WIDER_test", eval_dir=shared / "wider", check_on="views")
    assert report["settings"]["check_on"] == "views" and report["mixed_precision"]["check"]["on"] == "views"
    ap = report["wider_ap"]
    print(json.dumps({k: ap[k] for k in ("fp32", "int8", "delta", "delta_interval")}), report["mixed_precision"]["steps"])
    for setting in ("easy", "medium", "hard"):
        assert ap["delta_interval"][setting][0] >= -MAX_AP_LOSS, (setting, ap)
    # what the views cost: RFB-320's 1-thread target (0.85 of fp32's cycles, by the timing model; the
    # table the report prints reads about 0.01 high: 0.859 here), so the table may not go above 0.87
    assert report["target"]["ratio"]["1"] <= 0.87, report["target"]["ratio"]
