"""The picamera2 source, against tests/fake_picamera2.py: a STAND-IN that follows
picamera2's documented API (configuration, capture_request, MappedArray,
SensorTimestamp) and models a Pi 4 camera. There is no camera here; what these
tests show is that facedge uses that API as documented, not that a camera works."""

import sys
import threading

import cv2
import numpy as np
import pytest

import fake_picamera2
from camera_fakes import FakeDetector, require_core
from facedge.runtime.camera.pipeline import run_pipeline
from facedge.runtime.camera.sources import Picamera2Source, make_source, picamera2_available
from facedge.base.errors import FacedgeError


class Collect:
    def __init__(self):
        self.reports, self.images = [], []

    def write(self, image, report):
        self.reports.append(report)
        self.images.append(image.copy())


def test_default_source_is_picamera2_when_it_sees_a_pi_camera(camera):
    assert picamera2_available()
    source = make_source(None, lores_size=(320, 240))
    try:
        assert isinstance(source, Picamera2Source) and source.name == "picamera2 camera 0"
    finally:
        source.close()
    camera.cameras = [{"Model": "uvcvideo", "Id": "/base/scb/pcie@7d500000/pci@0,0/usb@0,0-1:1.0-046d:0825", "Num": 0}]
    assert not picamera2_available()  # a USB camera alone is left to OpenCV


def test_streams_main_rgb888_for_display_and_lores_yuv420_at_the_model_size(camera):
    source = make_source("picamera2", lores_size=(320, 240), size=(800, 600))
    source.close()
    configured = [entry[1] for entry in camera.log if entry[0] == "configure"][-1]
    assert configured["main"]["format"] == "RGB888" and configured["main"]["size"] == (800, 600)
    assert configured["lores"]["format"] == "YUV420" and configured["lores"]["size"] == (320, 240)


def test_image_is_the_camera_buffer_in_bgr_and_detect_input_the_lores_stream(camera):
    source = make_source("picamera2", lores_size=(300, 224), size=(600, 450))  # both strides padded
    frame = source.read()
    try:
        image = frame.image()
        request = frame._request
        assert image.shape == (450, 600, 3)
        assert np.shares_memory(image, request.pixels["main"])  # zero-copy
        assert tuple(image[-1, -1]) == (0, 0, 255)  # the scene's red corner reads as red in BGR
        image[0, 0] = (1, 2, 3)
        assert tuple(request.pixels["main"][:3]) == (1, 2, 3)  # drawing lands in the camera buffer
        small = frame.detect_input()
        assert small.shape == (224, 300, 3)
        b, g, r = small[-3, -3].astype(int)
        assert r > 230 and g < 25 and b < 25  # red after YUV420 -> BGR, stride padding cut off
        white = np.nonzero(small.min(axis=2) > 200)
        assert white[0].size > 0 and white[1].max() < 300
    finally:
        frame.release()
    source.close()
    assert not camera.instances[-1].held


def test_detections_come_back_in_main_stream_pixels(camera):
    source = make_source("picamera2", lores_size=(320, 240), size=(640, 480))
    out = Collect()
    run_pipeline(source, FakeDetector(), [out], max_frames=10)
    for report in out.reports:
        (box,) = report["detections"].boxes
        i, s = report["frame"], 480 // 6
        x = (i * 5) % (640 - s)
        np.testing.assert_allclose(box, [x, 160, x + s, 160 + s], atol=2.5)


def test_stale_requests_are_released_unseen_and_timestamps_only_go_forward(camera):
    camera.stale_every = 3
    source = make_source("picamera2", lores_size=(320, 240))
    out = Collect()
    run_pipeline(source, FakeDetector(), [out], max_frames=20)
    assert source.stale_frames >= 5
    times = [r["time"] for r in out.reports]
    assert all(b > a for a, b in zip(times, times[1:]))
    cam = camera.instances[-1]
    assert not cam.held and not cam.is_open
    assert [e[0] for e in camera.log[-4:]] == ["start", "cancel_all_and_flush", "stop", "close"]


def test_latency_counts_from_the_sensor_timestamp(camera):
    source = make_source("picamera2", lores_size=(320, 240))
    out = Collect()
    run_pipeline(source, FakeDetector(delay_s=0.02), [out], max_frames=5)
    # The stand-in's exposure starts 10 ms before the frame is handed out.
    assert min(r["latency_ms"] for r in out.reports) >= 10 + 20


def test_a_slow_detector_on_a_fast_camera_never_runs_out_of_buffers(camera):
    camera.fps = 120.0
    source = make_source("picamera2", lores_size=(320, 240))
    summary = run_pipeline(source, FakeDetector(delay_s=0.03), [], duration=1.0)
    assert summary.frames >= 15 and summary.dropped > summary.frames
    assert not camera.instances[-1].held


def test_an_unplugged_camera_is_reported_and_reopened(camera):
    Picamera2Source.READ_TIMEOUT_S, saved = 0.2, Picamera2Source.READ_TIMEOUT_S
    try:
        source = make_source("picamera2", lores_size=(320, 240))
        messages, out = [], Collect()
        threading.Timer(0.3, lambda: setattr(camera, "unplugged", True)).start()
        threading.Timer(0.9, lambda: setattr(camera, "unplugged", False)).start()
        run_pipeline(source, FakeDetector(), [out], duration=2.0, retry_s=0.1, log=messages.append)
    finally:
        Picamera2Source.READ_TIMEOUT_S = saved
    assert any("picamera2 camera 0: no frame for 0.2 s (camera cable loose or camera stopped?); retrying" in m
               for m in messages), messages
    assert any("frames again" in m for m in messages), messages
    assert ("open-failed", 0) in camera.log  # it kept trying while unplugged
    assert len(camera.instances) >= 2 and not any(c.is_open for c in camera.instances)
    assert out.reports[-1]["frame"] > 0 and out.reports[-1]["time"] > 1.0  # frames after the replug


def test_lores_larger_than_main_is_refused(camera):
    with pytest.raises(FacedgeError, match=r"--size 320x240: smaller than the model input 640x480"):
        make_source("picamera2", lores_size=(640, 480), size=(320, 240))


def test_missing_camera_and_missing_picamera2_are_clear_errors(camera, monkeypatch):
    with pytest.raises(FacedgeError, match=r"picamera2 camera 1: cannot be opened \(IndexError"):
        make_source("picamera2:1", lores_size=(320, 240))
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(FacedgeError, match=r"picamera2 cannot be imported .*sudo apt install python3-picamera2"):
        make_source("picamera2", lores_size=(320, 240))
    assert not picamera2_available()


def test_the_stand_in_enforces_picamera2s_rules(camera):
    # So that the tests above would catch a configuration a Pi 4 refuses.
    cam = fake_picamera2.Picamera2()
    with pytest.raises(RuntimeError, match="lores stream must be YUV"):
        cam.configure(cam.create_video_configuration(main={"size": (640, 480), "format": "RGB888"},
                                                     lores={"size": (320, 240), "format": "RGB888"}))
    cam.configure(cam.create_video_configuration(main={"size": (640, 480), "format": "RGB888"},
                                                 lores={"size": (320, 240)}))
    cam.start()
    request = cam.capture_request()
    request.release()
    with pytest.raises(RuntimeError, match="used after release"):
        request.get_metadata()
    cam.close()


def test_real_detector_through_the_picamera2_path_finds_the_faces_of_the_photo(camera, demo_images, reference_ultraface):
    # The stand-in's camera "sees" a demo photo; through main/lores, YUV420 and the
    # coordinate mapping, the detector must find what it finds in the photo itself.
    require_core()
    import facedge

    param, bin_ = reference_ultraface["RFB-320"]
    detector = facedge.Detector.from_ncnn(str(param), str(bin_), family="ultraface-rfb", input_size=(320, 240))
    for path in demo_images:
        photo = cv2.resize(cv2.imread(str(path)), (640, 480), interpolation=cv2.INTER_AREA)
        expected = detector.detect(photo)
        if 5 <= len(expected) <= 40:
            break
    camera.scene = lambda index, size: cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    source = make_source("picamera2", lores_size=(320, 240), size=(640, 480))
    out = Collect()
    run_pipeline(source, detector, [out], max_frames=3)
    got = out.reports[-1]["detections"]
    confident = expected.boxes[expected.scores > 0.8]
    assert len(confident) >= 3
    matched = sum(_best_iou(box, got.boxes) > 0.6 for box in confident)
    assert matched >= 0.9 * len(confident), (matched, len(confident))
    assert abs(len(got) - len(expected)) <= max(2, 0.2 * len(expected))


def _best_iou(box, boxes):
    if len(boxes) == 0:
        return 0.0
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return float((inter / (area(box) + area(boxes) - inter)).max())


def test_main_grows_to_hold_a_large_model_input(camera):
    source = make_source("picamera2", lores_size=(640, 640))
    source.close()
    configured = [entry[1] for entry in camera.log if entry[0] == "configure"][-1]
    assert configured["main"]["size"] == (640, 640) and configured["lores"]["size"] == (640, 640)
