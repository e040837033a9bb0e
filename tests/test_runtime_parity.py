"""facedge's detections equal an independent path: the `ncnn` Python wheel for the raw
outputs, and a straightforward numpy decode + NMS (facedge/bench/reference_decode.py,
written from the upstream projects' facts, not from facedge's C++)."""

import cv2
import numpy as np
import pytest

import facedge
from facedge.bench.reference_decode import detect, make_priors

ncnn = pytest.importorskip("ncnn", reason="the ncnn Python wheel is the independent reference (pip install ncnn)")

INPUT_W, INPUT_H = 320, 240


def ultraface_priors(width, height):
    return make_priors("ultraface-rfb", width, height)


def ultraface_detect(scores, boxes, image_w, image_h, input_w, input_h, score_threshold, iou_threshold):
    """Faces from raw ULFD outputs: (boxes (N, 4) image pixels, scores (N,))."""
    boxes, scores, _ = detect(ultraface_priors(input_w, input_h), scores, boxes, (image_w, image_h),
                              score_threshold, iou_threshold)
    return boxes, scores


def wheel_outputs(param, bin_, image_bgr, fp16):
    net = ncnn.Net()
    net.opt.num_threads = 1
    net.opt.use_fp16_storage = fp16
    net.opt.use_fp16_packed = fp16
    net.opt.use_fp16_arithmetic = fp16
    net.opt.use_vulkan_compute = False
    net.load_param(str(param))
    net.load_model(str(bin_))
    h, w = image_bgr.shape[:2]
    mat = ncnn.Mat.from_pixels_resize(image_bgr, ncnn.Mat.PixelType.PIXEL_BGR2RGB, w, h, INPUT_W, INPUT_H)
    mat.substract_mean_normalize([127.0] * 3, [1 / 128.0] * 3)
    ex = net.create_extractor()
    ex.input("input", mat)
    _, scores = ex.extract("scores")
    _, boxes = ex.extract("boxes")
    return np.array(scores).reshape(-1, 2), np.array(boxes).reshape(-1, 4)


@pytest.mark.parametrize("name,family", [("RFB-320", "ultraface-rfb"), ("slim_320", "ultraface-slim")])
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_detections_equal_wheel_plus_numpy_decode(reference_ultraface, demo_images, name, family, fp16):
    param, bin_ = reference_ultraface[name]
    threshold = 0.5
    det = facedge.Detector.from_ncnn(param, bin_, family=family, input_size=(INPUT_W, INPUT_H), score_threshold=threshold, fp16=fp16)
    total_faces = 0
    for path in demo_images:
        # at the network size (no resampling: ncnn's and facedge's inputs are the same
        # floats; resampling is compared below and in the C++ tests)
        image = cv2.resize(cv2.imread(str(path)), (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        scores, boxes = wheel_outputs(param, bin_, image, fp16)

        # raw outputs: the same network on the same preprocessed input, in two ncnn
        # builds whose kernels round differently (fp16 storage rounds weights too)
        raw = det.infer(image)
        assert raw["scores"].shape == scores.shape == (4420, 2)
        atol = 2e-2 if fp16 else 1e-4
        np.testing.assert_allclose(raw["scores"], scores, atol=atol, err_msg=path.name)
        np.testing.assert_allclose(raw["boxes"], boxes, atol=atol, err_msg=path.name)

        # decoding and NMS: the numpy reference on the very same raw outputs
        ref_boxes, ref_scores = ultraface_detect(raw["scores"], raw["boxes"], w, h, INPUT_W, INPUT_H, threshold, 0.3)
        got = det.detect(image)
        assert len(got) == len(ref_scores), f"{path.name}: {len(got)} faces vs {len(ref_scores)} in the reference"
        np.testing.assert_allclose(got.boxes, ref_boxes, atol=1e-3, err_msg=path.name)
        np.testing.assert_allclose(got.scores, ref_scores, atol=1e-6, err_msg=path.name)
        assert got.landmarks is None
        total_faces += len(got)
    assert total_faces > 24  # crowd photos: the comparison is not vacuous


@pytest.mark.parametrize("name,family", [("RFB-320", "ultraface-rfb")])
def test_bilinear_resampling_gives_the_wheels_faces(reference_ultraface, demo_images, name, family):
    """Full-size photos, resampled by both: facedge's bilinear is within a pixel level of
    ncnn's (test_preprocess.cpp), so the faces agree to a fraction of a pixel."""
    param, bin_ = reference_ultraface[name]
    det = facedge.Detector.from_ncnn(param, bin_, family=family, score_threshold=0.5, fp16=False, resize="bilinear")
    matched = total = 0
    for path in demo_images:
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        scores, boxes = wheel_outputs(param, bin_, image, False)
        ref_boxes, _ = ultraface_detect(scores, boxes, w, h, INPUT_W, INPUT_H, 0.5, 0.3)
        got = det.detect(image)
        total += len(ref_boxes)
        for box in ref_boxes:
            matched += bool(len(got)) and np.abs(got.boxes - box).max(axis=1).min() < 2.0
    assert total > 24 and matched >= 0.97 * total, f"{matched} of {total} faces within 2 px"


@pytest.mark.parametrize("resize,interpolation", [("bilinear", cv2.INTER_LINEAR), ("area", cv2.INTER_AREA)])
def test_resampling_matches_opencv(reference_ultraface, demo_images, resize, interpolation):
    """facedge's fused resize + normalize of full-size photos against OpenCV's resize of
    the same filter, normalized in numpy: within 1.3 pixel levels anywhere and 0.3 on
    average (OpenCV rounds to uint8 where facedge keeps the float; measured: bilinear
    1.05 / 0.27, area 1.26 / 0.25 over the 24 demo photos)."""
    param, bin_ = reference_ultraface["RFB-320"]
    det = facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", input_size=(INPUT_W, INPUT_H), resize=resize)
    for path in demo_images:
        image = cv2.imread(str(path))
        ref = cv2.resize(image, (INPUT_W, INPUT_H), interpolation=interpolation)[:, :, ::-1]
        expected = ((ref.astype(np.float32) - 127) / 128).transpose(2, 0, 1)
        levels = np.abs(det.extract_blobs(image, ["input"])["input"] - expected) * 128
        assert levels.max() <= 1.3 and levels.mean() <= 0.3, (path.name, levels.max(), levels.mean())


def test_priors_match_the_reference_layout():
    for w, h in [(320, 240), (640, 480), (330, 250)]:
        np.testing.assert_allclose(facedge._core.generate_priors("ultraface-rfb", w, h), ultraface_priors(w, h), atol=1e-6)


def test_pixel_formats_and_strided_input_give_the_same_faces(reference_ultraface, demo_images):
    param, bin_ = reference_ultraface["RFB-320"]
    det = facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", score_threshold=0.5, fp16=False)
    image = cv2.imread(str(demo_images[0]))
    base = det.detect(image)
    assert len(base) > 0
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    for variant, fmt in [(rgb, "rgb"), (cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), "bgra"), (cv2.cvtColor(image, cv2.COLOR_BGR2RGBA), "rgba")]:
        r = det.detect(variant, pixel_format=fmt)
        np.testing.assert_allclose(r.boxes, base.boxes, atol=1e-3, err_msg=fmt)
    # a crop of a larger frame, passed as a row-strided view (no copy), equals the copied crop
    big = np.zeros((image.shape[0] + 40, image.shape[1] + 60, 3), np.uint8)
    big[20:20 + image.shape[0], 30:30 + image.shape[1]] = image
    view = big[20:20 + image.shape[0], 30:30 + image.shape[1]]
    assert not view.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(det.detect(view).boxes, base.boxes, atol=1e-3)
    # a view the core cannot read (mirrored: negative column strides) is copied, with
    # the same faces as the copy: the per-frame fast path hands it to the full one
    mirrored = image[:, ::-1]
    faces = det.detect(mirrored)
    assert len(faces) > 0
    np.testing.assert_allclose(faces.boxes, det.detect(np.ascontiguousarray(mirrored)).boxes, atol=1e-4)
    # gray input runs (faces may differ: the colour information is gone)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert det.detect(gray).boxes.shape[1] == 4


def test_input_size_override_uses_matching_priors(reference_ultraface, demo_images):
    param, bin_ = reference_ultraface["RFB-320"]
    det = facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", score_threshold=0.5, fp16=False)
    image = cv2.imread(str(demo_images[1]))
    h, w = image.shape[:2]
    raw = det.infer(image, input_size=(640, 480))
    ref_boxes, ref_scores = ultraface_detect(raw["scores"], raw["boxes"], w, h, 640, 480, 0.5, 0.3)
    got = det.detect(image, input_size=(640, 480))
    assert len(got) == len(ref_scores)
    np.testing.assert_allclose(got.boxes, ref_boxes, atol=1e-3)
