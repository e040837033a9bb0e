"""--serve from a Pi camera through picamera2's MJPEGEncoder (runtime/camera/hw_mjpeg.py),
against tests/fake_picamera2.py: a STAND-IN that follows picamera2's encoder API
(start_encoder, FileOutput, post_callback, MappedArray) and models a Pi 4's
VideoCore codec and a Pi 5 without one. There is no camera and no VideoCore here:
these tests show that facedge wires the encoder as picamera2 documents it, draws
where picamera2's examples draw, and falls back to the CPU encoder when it must."""

import threading

import cv2
import numpy as np

from camera_fakes import FakeDetector
from camera_http import MjpegStream, ServedCamera, get
from facedge.runtime.camera import pipeline as camera_pipeline
from facedge.runtime.camera.hw_mjpeg import HW_ENCODER, CameraMjpegStream, hardware_mjpeg_unavailable
from facedge.runtime.camera.pipeline import run_pipeline
from facedge.runtime.camera.server import CPU_ENCODER, StreamServer
from facedge.runtime.camera.sources import Picamera2Source, make_source

SQUARE = 480 // 6  # the stand-in scene's white square at 640x480; it moves 5 px a frame


class Collect:
    def __init__(self):
        self.images, self.annotated = [], []

    def write(self, image, report):
        self.images.append(image.copy())


def _green_box(image):
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    ys, xs = np.nonzero((g > 180) & (r < 90) & (b < 90))
    return None if len(xs) < 50 else (xs.min(), ys.min(), xs.max(), ys.max())


def _white_square(image):
    top = 60  # below the numbers' band, whose text is white too
    ys, xs = np.nonzero(image[top:].min(axis=2) > 200)
    return xs.min(), ys.min() + top, xs.max(), ys.max() + top


def _serve_picamera(camera, log):
    source = make_source("picamera2", lores_size=(320, 240), size=(640, 480))
    server = StreamServer("127.0.0.1", 0)
    stream = CameraMjpegStream(server, log)
    source.add_camera_stream(stream)
    return source, server, stream


def _run_in_background(source, outputs, stop):
    thread = threading.Thread(target=run_pipeline, args=(source, FakeDetector(), outputs),
                              kwargs={"stop": stop, "duration": 60}, daemon=True)
    thread.start()
    return thread


def test_a_pi_4_streams_the_videocore_jpegs_annotated_in_post_callback(camera, monkeypatch):
    assert hardware_mjpeg_unavailable() is None
    pipeline_draws = []
    monkeypatch.setattr(camera_pipeline, "draw_detections", lambda *a: pipeline_draws.append(a))
    log = []
    source, server, stream = _serve_picamera(camera, log.append)
    cam = camera.instances[-1]
    (encoder,) = cam.encoders
    assert ("start_encoder", "MJPEGEncoder", "main") in camera.log and ("codec-open", "MJPEGEncoder") in camera.log
    assert (encoder.width, encoder.height, encoder.format) == (640, 480, "RGB888")
    assert server.encoder == HW_ENCODER and cam.post_callback is not None and not log
    collect, stop = Collect(), threading.Event()
    thread = _run_in_background(source, [stream, server, collect], stop)
    client = MjpegStream(server.host, server.port)
    try:
        parts = [client.next_part()[1] for _ in range(15)]
        status, _, body = get(server.host, server.port, "/stats.json")
    finally:
        client.close()
        stop.set()
        thread.join(10)
        server.close()
    # Every JPEG served is one the encoder made, byte for byte: nothing was encoded on the CPU.
    made = set(encoder.jpegs)
    assert all(part in made for part in parts)
    assert server._pending is None
    assert status == 200 and b'"encoder": "VideoCore MJPEG (picamera2 MJPEGEncoder)"' in body
    # The boxes and numbers were drawn by post_callback, before the encoder: on the
    # newest detection, a few frames behind the moving square.
    pictures = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in parts[5:]]
    for picture in pictures:
        box, square = _green_box(picture), _white_square(picture)
        assert box is not None
        assert abs(box[1] - square[1]) <= 4 and abs((box[3] - box[1]) - SQUARE) <= 6
        # behind by the detection's latency: 1-4 frames of the stand-in's 60 fps here, more
        # on a loaded machine; a drawing of a stale detection would trail by far more
        assert abs(box[0] - square[0]) <= 12 * 5 + 4
        assert picture[:20, :150].mean() < 90  # the dark band of the numbers at the top left
    # The pipeline got frames with the drawing already in them, and drew nothing itself.
    assert not pipeline_draws
    assert sum(_green_box(image) is not None for image in collect.images) >= len(collect.images) - 3
    # Stopping: the camera, then its encoder, as picamera2's stop_recording.
    names = [entry[0] for entry in camera.log]
    assert names.index("stop") < names.index("stop_encoder") < names.index("close")
    assert ("codec-close", "MJPEGEncoder") in camera.log and not cam.encoders and not cam.held


def test_a_pi_5_keeps_the_cpu_encoder(camera):
    camera.platform = "PISP"
    why = hardware_mjpeg_unavailable()
    assert why == ("picamera2's MJPEGEncoder is LibavMjpegEncoder, a software encoder, on this board "
                   "(no VideoCore JPEG codec)")


def test_a_busy_codec_falls_back_to_the_cpu_and_the_pipeline_draws(camera):
    camera.codec_busy = True
    log = []
    source, server, stream = _serve_picamera(camera, log.append)
    cam = camera.instances[-1]
    assert log == ["--serve: the VideoCore MJPEG encoder did not start (OSError: [Errno 16] Device or resource "
                   "busy: '/dev/video11'); encoding JPEGs with OpenCV on the CPU"]
    assert server.encoder == CPU_ENCODER and cam.post_callback is None and not cam.encoders
    stop = threading.Event()
    thread = _run_in_background(source, [stream, server], stop)
    client = MjpegStream(server.host, server.port)
    try:
        for _ in range(5):
            _, picture = client.next_image()
        assert _green_box(picture) is not None  # drawn by the pipeline, encoded by OpenCV
    finally:
        client.close()
        stop.set()
        thread.join(10)
        server.close()


def test_the_encoder_follows_the_camera_when_it_is_reopened(camera):
    Picamera2Source.READ_TIMEOUT_S, saved = 0.2, Picamera2Source.READ_TIMEOUT_S
    try:
        log = []
        source, server, stream = _serve_picamera(camera, log.append)
        threading.Timer(0.3, lambda: setattr(camera, "unplugged", True)).start()
        threading.Timer(0.9, lambda: setattr(camera, "unplugged", False)).start()
        run_pipeline(source, FakeDetector(), [stream, server], duration=2.0, retry_s=0.1, log=log.append)
        server.close()
    finally:
        Picamera2Source.READ_TIMEOUT_S = saved
    assert any("frames again" in m for m in log), log
    started = [e for e in camera.log if e[0] == "start_encoder"]
    stopped = [e for e in camera.log if e[0] == "stop_encoder"]
    assert len(started) >= 2 and len(stopped) == len(started)  # one per camera opened, each stopped
    last = camera.instances[-1]
    assert last.encoders == set() and last.post_callback is None and not last.is_open
    assert next(iter(c for c in camera.instances if c.requests_made)).requests_made > 0


def test_the_cli_serves_a_pi_4_camera_through_the_videocore(tmp_path):
    camera = ServedCamera(["--source", "picamera2", "--serve", "127.0.0.2:0", "--realtime"], cwd=tmp_path,
                          fake_picamera2=True)
    try:
        assert camera.token is not None
        stats = camera.stats()
        assert stats["encoder"] == HW_ENCODER and stats["source"] == "live camera"
        client = camera.stream(headers={"Authorization": f"Bearer {camera.token}"})
        try:
            assert client.status == 200
            for _ in range(3):
                _, picture = client.next_image()
            assert picture.shape == (480, 640, 3)
        finally:
            client.close()
    finally:
        assert camera.stop() == 0
    err = "".join(camera.stderr)
    assert f"--serve: JPEGs from the {HW_ENCODER}" in err
    assert "--realtime: picamera2 camera 0 is live, its frames come at its own pace; ignored" in err
