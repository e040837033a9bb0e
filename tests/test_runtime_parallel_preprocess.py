"""A Detector with more than one thread and a single caller resizes the frame on its
OpenMP team, split by output rows (cpp/src/preprocess.cpp): the network input it makes
must be the serial one byte for byte, and so the faces too."""

import cv2
import numpy as np
import pytest

import facedge


def _frames(demo_images):
    photo = cv2.imread(str(demo_images[0]))
    big = cv2.resize(photo, (1024, 768), interpolation=cv2.INTER_CUBIC)
    odd = np.ascontiguousarray(photo[3:480, 5:722])  # odd sides and a row stride wider than the row
    return {"photo": photo, "1024x768": big, "odd-strided": photo[3:480, 5:722], "odd": odd}


@pytest.mark.parametrize("resize", ["auto", "bilinear", "area"])
def test_two_threads_make_the_serial_input_and_faces(reference_ultraface, demo_images, resize):
    param, bin_ = reference_ultraface["RFB-320"]
    make = lambda threads: facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", threads=threads,
                                                     score_threshold=0.5, resize=resize)
    serial, split = make(1), make(2)
    name = facedge._core.ModelConfig.defaults_for("ultraface-rfb").input_blob
    compared = 0
    for label, frame in _frames(demo_images).items():
        for size in [(320, 240), (160, 120), (480, 360), (frame.shape[1], frame.shape[0])]:
            for fmt, image in [("bgr", frame), ("rgb", frame[:, :, ::-1]), ("bgra", cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)),
                               ("gray", cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))]:
                if fmt == "gray" and size != (320, 240):
                    continue
                a = serial.extract_blobs(image, [name], input_size=size, pixel_format=fmt)[name]
                b = split.extract_blobs(image, [name], input_size=size, pixel_format=fmt)[name]
                assert a.shape == b.shape == (3, size[1], size[0])
                assert a.tobytes() == b.tobytes(), f"{label} {fmt} -> {size}: inputs differ"
                compared += 1
            fa = serial.detect(frame, input_size=size)
            fb = split.detect(frame, input_size=size)
            assert len(fa) == len(fb), f"{label} -> {size}"
            np.testing.assert_array_equal(fb.boxes, fa.boxes, err_msg=f"{label} -> {size}")
            np.testing.assert_array_equal(fb.scores, fa.scores, err_msg=f"{label} -> {size}")
            assert fb.timings_ms["preprocess"] > 0
    assert compared == 4 * 4 * 3 + 4


@pytest.mark.parametrize("threads", [1, 2])
def test_bf16_input_made_by_facedge_equals_ncnns_own_cast(reference_ultraface, demo_images, threads):
    # With bf16 storage facedge writes the network input in bf16 itself (where ncnn would
    # cast it): the network must compute exactly what it computes from the fp32 input
    # cast by ncnn (infer_normalized: an fp32 tensor handed to ncnn as it is).
    param, bin_ = reference_ultraface["RFB-320"]
    make = lambda bf16: facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", threads=threads, bf16=bf16)
    fp32, bf16 = make(False), make(True)
    if bf16.float_storage != "bf16":
        pytest.skip(f"this facedge's ncnn stores floats as {bf16.float_storage} with bf16 asked")
    name = facedge._core.ModelConfig.defaults_for("ultraface-rfb").input_blob
    for label, frame in _frames(demo_images).items():
        for size in [(320, 240), (160, 120)]:
            chw = fp32.extract_blobs(frame, [name], input_size=size)[name]
            ours = bf16.infer(frame, input_size=size)
            cast_by_ncnn = bf16.infer_normalized(chw)
            for key in ("scores", "boxes"):
                assert np.asarray(ours[key]).tobytes() == np.asarray(cast_by_ncnn[key]).tobytes(), f"{label} {size} {key}"
