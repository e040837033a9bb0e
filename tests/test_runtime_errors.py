"""Bad input gets one clear FacedgeError, never a crash."""

import json
import shutil

import numpy as np
import pytest

import facedge
from facedge import FacedgeError


def test_model_directory_loads(model_dir):
    det = facedge.Detector(model_dir)
    assert det.family == "ultraface-rfb" and det.input_size == (320, 240)
    assert len(det.detect(np.zeros((100, 100, 3), np.uint8))) == 0


def errors(fn):
    with pytest.raises(FacedgeError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_bad_model_files(model_dir, tmp_path):
    param, bin_ = model_dir / "model.param", model_dir / "model.bin"
    good_bin = bin_.read_bytes()
    assert "no such model directory or cached model name" in errors(lambda: facedge.Detector(tmp_path / "nope"))
    assert "missing ncnn .bin" in errors(lambda: facedge.Detector.from_ncnn(param, tmp_path / "x.bin", family="ultraface-rfb"))

    bin_.write_bytes(good_bin[: len(good_bin) // 2])
    assert "model.bin: too short for layer" in errors(lambda: facedge.Detector(model_dir))
    bin_.write_bytes(good_bin + b"\0" * 64)
    assert "64 bytes left over" in errors(lambda: facedge.Detector(model_dir))
    bin_.write_bytes(good_bin)

    text = param.read_text()
    param.write_text(text[: len(text) // 2])
    assert "model.param: header says" in errors(lambda: facedge.Detector(model_dir))
    param.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert "model.param" in errors(lambda: facedge.Detector(model_dir))
    param.write_text("")
    assert "model.param: empty file" in errors(lambda: facedge.Detector(model_dir))


def test_bin_of_another_model(model_dir, reference_ultraface):
    shutil.copy(reference_ultraface["slim_320"][1], model_dir / "model.bin")
    assert "model.bin" in errors(lambda: facedge.Detector(model_dir))


def test_bad_facedge_json(model_dir):
    info_path = model_dir / "facedge.json"
    info = json.loads(info_path.read_text())
    info_path.write_text("{not json")
    assert "facedge.json: not valid JSON" in errors(lambda: facedge.Detector(model_dir))
    for key, value, expected in [("family", "yolo", "unknown model family 'yolo'"), ("pixel", "yuv", "'pixel' must be one of rgb, bgr"),
                                 ("input_size", [320], "'input_size' must be [width, height]"), ("format", 7, "'format' must be 1"),
                                 ("outputs", {"scores": "scores", "boxes": "bbox"}, "has no blob named 'bbox'")]:
        info_path.write_text(json.dumps({**info, key: value}))
        assert expected in errors(lambda: facedge.Detector(model_dir)), key


@pytest.mark.parametrize("kwargs,expected", [
    ({"threads": 0}, "threads must be at least 1, got 0"),
    ({"threads": -2}, "threads must be at least 1, got -2"),
    ({"threads": 1.5}, "threads must be an integer"),
    ({"score_threshold": 0}, "score_threshold must be between 0 and 1"),
    ({"score_threshold": -0.1}, "score_threshold must be between 0 and 1"),
    ({"iou_threshold": 0}, "iou_threshold must be in (0, 1]"),
    ({"top_k": 2.5}, "top_k must be an integer"),
    ({"resize": "cubic"}, "resize must be one of auto, bilinear, area, got 'cubic'"),
    ({"nms": "soft"}, "nms must be 'hard' or 'blend'"),
    ({"input_size": (320, 0)}, "input_size must be positive"),
    ({"input_size": "big"}, "input_size big: expected WIDTHxHEIGHT"),
])
def test_bad_options(model_dir, kwargs, expected):
    assert expected in errors(lambda: facedge.Detector(model_dir, **kwargs))


def test_unknown_family(reference_ultraface):
    param, bin_ = reference_ultraface["RFB-320"]
    msg = errors(lambda: facedge.Detector.from_ncnn(param, bin_, family="blazeface"))
    assert "unknown model family 'blazeface' (expected one of:" in msg and "ultraface-rfb" in msg


def test_bad_images(model_dir):
    det = facedge.Detector(model_dir)
    assert "image must be uint8, got dtype float32" in errors(lambda: det.detect(np.zeros((10, 10, 3), np.float32)))
    assert "image must be a numpy uint8 array, got list" in errors(lambda: det.detect([[1, 2, 3]]))
    assert "image must be HxW (gray), HxWx3 or HxWx4, got shape (10x10x2)" in errors(lambda: det.detect(np.zeros((10, 10, 2), np.uint8)))
    assert "got shape (10)" in errors(lambda: det.detect(np.zeros(10, np.uint8)))
    assert "image is empty" in errors(lambda: det.detect(np.zeros((0, 10, 3), np.uint8)))
    assert "pixel_format 'rgba' needs 4 channels, the image has 3" in errors(lambda: det.detect(np.zeros((10, 10, 3), np.uint8), pixel_format="rgba"))
    assert "pixel_format must be one of" in errors(lambda: det.detect(np.zeros((10, 10, 3), np.uint8), pixel_format="yuv"))
    # flipped and column-strided views are accepted (copied), not rejected
    image = np.zeros((50, 60, 3), np.uint8)
    assert len(det.detect(image[::-1])) == 0 and len(det.detect(image[:, ::2])) == 0


def test_input_size_rules(reference_ultraface):
    param, bin_ = reference_ultraface["RFB-320"]
    det = facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb")
    assert "input_size must be positive, got 0x5" in errors(lambda: det.detect(np.zeros((10, 10, 3), np.uint8), input_size=(0, 5)))
    assert "out of range" in errors(lambda: det.detect(np.zeros((10, 10, 3), np.uint8), input_size=(9000, 100)))


def test_top_k_zero_or_none_means_no_limit(model_dir, demo_images):
    import cv2

    image = cv2.imread(str(demo_images[0]))
    everything = facedge.Detector(model_dir, top_k=0).detect(image)
    assert len(everything) > 3
    assert len(facedge.Detector(model_dir, top_k=None).detect(image)) == len(everything)
    assert len(facedge.Detector(model_dir, top_k=-1).detect(image)) == len(everything)
    assert len(facedge.Detector(model_dir, top_k=3).detect(image)) == 3


def test_more_threads_than_cores_warns(model_dir):
    from facedge.runtime.cores import usable_cores

    with pytest.warns(RuntimeWarning, match=f"threads={usable_cores() + 1} is more than the {usable_cores()} cores"):
        facedge.Detector(model_dir, threads=usable_cores() + 1)
    assert facedge.Detector(model_dir)._core.options.num_threads == min(4, usable_cores())
