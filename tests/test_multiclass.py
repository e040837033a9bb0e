"""Checkpoints with more than one face class, as a user runs them: a real 3-class
model (tests/multiclass_model.py: RFB-320 re-headed to background / face / mask)
through `facedge convert --class-names`, detect(), `facedge detect --json`, int8
calibration and `facedge camera --json`, each held to the numpy reference decode of
the same raw outputs. Conversion ~10 s, int8 calibration ~20 s on 2 cores."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import facedge
from camera_fakes import make_demo_video, require_core
from multiclass_model import CLASS_NAMES, make_three_class_checkpoint
from facedge.bench.reference_decode import detect as reference_detect
from facedge.bench.reference_decode import make_priors

pytestmark = pytest.mark.convert
FACEDGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(facedge.__file__)))


def _env():
    env = dict(os.environ, FACEDGE_PROGRESS="0", PYTHONUNBUFFERED="1")
    env.pop("DISPLAY", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (FACEDGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _facedge(args, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "facedge", *map(str, args)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def checkpoint(shared, tmp_path_factory):
    pytest.importorskip("torch")
    return make_three_class_checkpoint(shared / "weights" / "ultraface" / "version-RFB-320.pth",
                                       tmp_path_factory.mktemp("multiclass") / "rfb320-mask.pth")


@pytest.fixture(scope="module")
def converted(checkpoint, shared, tmp_path_factory):
    require_core()
    out = tmp_path_factory.mktemp("multiclass") / "rfb320-mask"
    proc = _facedge(["convert", checkpoint, "-o", out, "--class-names", ",".join(CLASS_NAMES),
                     "--images", shared / "images" / "ultraface-demo"], cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    assert "classes: face, mask" in proc.stdout
    return out


def _reference(detector, image, score_threshold=0.6, iou_threshold=0.3, class_aware=True):
    """The numpy decode of facedge's own raw outputs for this image."""
    raw = detector.infer(image)
    w, h = detector.input_size
    return reference_detect(make_priors("ultraface-rfb", w, h), raw["scores"].astype(np.float64), raw["boxes"],
                            (image.shape[1], image.shape[0]), score_threshold, iou_threshold, with_labels=True,
                            class_aware=class_aware)


def _assert_same(result, reference):
    boxes, scores, labels, _ = reference
    assert len(result) == len(scores)
    np.testing.assert_array_equal(result.labels, labels)
    np.testing.assert_allclose(result.scores, scores, atol=1e-6)
    np.testing.assert_allclose(result.boxes, boxes, atol=2e-3)


def _assert_decoded_as_the_reference(det, demo_images):
    """det's faces on the first 8 demo images equal the numpy reference decode, and both
    classes really occur (the test would catch a class-1-only decoder)."""
    seen = set()
    for path in demo_images[:8]:
        image = cv2.imread(str(path))
        result = det.detect(image)
        _assert_same(result, _reference(det, image))
        seen.update(result.names)
    assert seen == set(CLASS_NAMES)


def test_convert_writes_the_class_names(converted):
    info = json.loads((converted / "fp32" / "facedge.json").read_text())
    assert info["class_names"] == list(CLASS_NAMES)
    assert json.loads((converted / "report.json").read_text())["class_names"] == list(CLASS_NAMES)


def test_every_class_is_decoded_as_the_numpy_reference_does(converted, demo_images):
    det = facedge.Detector(converted / "fp32", threads=2)
    assert det.class_names == CLASS_NAMES
    _assert_decoded_as_the_reference(det, demo_images)


def test_class_agnostic_nms_is_one_group(converted, demo_images):
    det = facedge.Detector(converted / "fp32", threads=2, class_agnostic_nms=True)
    aware = facedge.Detector(converted / "fp32", threads=2)
    fewer = False
    for path in demo_images[:8]:
        image = cv2.imread(str(path))
        result = det.detect(image)
        _assert_same(result, _reference(det, image, class_aware=False))
        fewer |= len(result) < len(aware.detect(image))
    assert fewer  # overlapping face and mask boxes: per-class NMS keeps both, one group keeps one


def test_detect_cli_json_carries_the_label(converted, demo_images, tmp_path):
    proc = _facedge(["detect", converted / "fp32", demo_images[0], "--json", "--threads", "2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    det = facedge.Detector(converted / "fp32", threads=2)
    expected = det.detect(cv2.imread(str(demo_images[0])))
    assert [f["label"] for f in out["faces"]] == expected.names
    only = _facedge(["detect", converted / "fp32", demo_images[0], "--json", "--label", "mask"], cwd=tmp_path)
    assert only.returncode == 0, only.stderr
    assert {f["label"] for f in json.loads(only.stdout)["faces"]} == {"mask"}
    assert len(json.loads(only.stdout)["faces"]) == expected.names.count("mask")


def test_a_label_filter_naming_no_class_is_a_one_line_error(converted, demo_images, tmp_path, shared):
    proc = _facedge(["detect", converted / "fp32", demo_images[0], "--label", "hat"], cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "facedge detect: error: class 'hat': the model has no such class (its classes: face, mask)"]
    proc = _facedge(["eval", converted / "fp32", "--wider", shared / "wider", "--label", "face,hat"], cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == \
        "facedge eval: error: class 'hat': the model has no such class (its classes: face, mask)"


def test_eval_of_one_class_counts_only_its_faces(converted, shared, tmp_path):
    results = {}
    for label in (None, "face", "mask"):
        args = ["eval", converted / "fp32", "--wider", shared / "wider", "--json", "--threads", "2"]
        proc = _facedge(args + (["--label", label] if label else []), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        results[label] = json.loads(proc.stdout)
    assert results["face"]["detections"] + results["mask"]["detections"] == results[None]["detections"]
    assert results["mask"]["inference"]["labels"] == ["mask"] and results[None]["inference"]["labels"] is None


def test_wrong_class_name_count_is_a_one_line_error_and_writes_nothing(checkpoint, tmp_path):
    out = tmp_path / "out"
    proc = _facedge(["convert", checkpoint, "-o", out, "--class-names", "face"], cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "facedge convert: error: --class-names face: 1 name for rfb320-mask.pth, whose score head has 2 face classes "
        "(after the background)")
    assert not out.exists()
    proc = _facedge(["convert", checkpoint, "-o", out, "--class-names", "face,face"], cwd=tmp_path)
    assert proc.stderr.strip().splitlines()[-1] == \
        "facedge convert: error: --class-names face,face: class names must be distinct, face repeats"


def test_class_names_in_facedge_json_that_do_not_fit_the_model(converted, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(converted / "fp32", model)
    info = json.loads((model / "facedge.json").read_text())
    info["class_names"] = ["face"]
    (model / "facedge.json").write_text(json.dumps(info))
    with pytest.raises(facedge.FacedgeError) as e:
        facedge.Detector(model)
    message = str(e.value)
    assert "\n" not in message
    assert message == (f"{model / 'facedge.json'}: {model / 'model.param'}: the scores output 'out0' has 3 columns "
                       f"(background + 2 face classes), but the model's class names list 1 (facedge.json 'class_names')")
    info["class_names"] = ["face", ""]
    (model / "facedge.json").write_text(json.dumps(info))
    with pytest.raises(facedge.FacedgeError, match="'class_names': class name '' must be non-empty"):
        facedge.Detector(model)


def test_default_names_without_class_names(converted, tmp_path, reference_ultraface):
    import shutil

    from conftest import write_reference_model_dir

    model = tmp_path / "model"
    shutil.copytree(converted / "fp32", model)
    info = json.loads((model / "facedge.json").read_text())
    del info["class_names"]
    (model / "facedge.json").write_text(json.dumps(info))
    assert facedge.Detector(model).class_names == ("class1", "class2")
    two = facedge.Detector(write_reference_model_dir(tmp_path / "two", reference_ultraface))
    assert two.class_names == ("face",)


def test_a_two_class_model_labels_every_face_face(reference_ultraface, demo_images, tmp_path):
    from conftest import write_reference_model_dir

    det = facedge.Detector(write_reference_model_dir(tmp_path / "two", reference_ultraface), threads=2)
    result = det.detect(cv2.imread(str(demo_images[0])))
    assert len(result) > 0 and result.labels.tolist() == [0] * len(result)
    assert result.to_list()[0]["label"] == "face"


def test_int8_keeps_the_classes(converted, shared, demo_images):
    from facedge.calibration.quantize import quantize

    quantize(converted / "fp32", converted, calib=shared / "wider" / "WIDER_test" / "images", count=8,
             keep_fp32="none", eval_dir=False, threads=2)
    info = json.loads((converted / "int8" / "facedge.json").read_text())
    assert info["class_names"] == list(CLASS_NAMES) and info["precision"] == "int8"
    det = facedge.Detector(converted / "int8", threads=2)
    assert det.int8_layer_count > 0 and det.class_names == CLASS_NAMES
    _assert_decoded_as_the_reference(det, demo_images)


def test_camera_json_lines_carry_the_labels(converted, demo_images, tmp_path):
    video = tmp_path / "demo.avi"
    n = make_demo_video(video, demo_images[:6], size=(640, 480))
    proc = _facedge(["camera", converted / "fp32", "--source", video, "--json", "--threads", "2",
                     "--record", tmp_path / "out.avi"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == n
    det = facedge.Detector(converted / "fp32", threads=2)
    cap = cv2.VideoCapture(str(video))
    seen = set()
    for line in lines:
        ok, frame = cap.read()
        assert ok
        expected = det.detect(frame)
        _, _, labels, _ = _reference(det, frame)
        assert [f["label"] for f in line["faces"]] == expected.names == [CLASS_NAMES[i] for i in labels]
        np.testing.assert_allclose(np.array([f["box"] for f in line["faces"]], np.float32).reshape(-1, 4),
                                   expected.boxes, atol=0.1)
        seen.update(expected.names)
    assert seen == set(CLASS_NAMES)
