"""Helpers for the camera tests: a synthetic source (a moving bright square), a
stand-in detector that finds bright squares,
the demo video maker, the real-detector helpers (skip without the C++ core; a
model directory for the upstream RFB-320 files), and a `facedge camera` runner
that uses the stand-in detector.

FakeDetector has facedge.Detector's `detect()` interface and finds the one
bright (>= 200 gray) region of the picture, which is where SyntheticSource puts
its square: tests of the pipeline's mechanics (threads, coordinates, outputs)
need detections that depend on the frame, not a trained model. `delay_s` makes
it as slow as a real model; time.sleep releases the GIL as the real one does.

Counter videos (`make_counter_video`) carry each frame's number in big gray
blocks that survive JPEG and sit below the numbers drawn at the top, so a test
that reads the MJPEG stream knows which frame of the file each picture is.

Run as a script, it is `facedge camera` with that detector (and with
--fake-picamera2, the picamera2 stand-in of tests/fake_picamera2.py):
    python tests/camera_fakes.py [--delay S] [--fake-picamera2] -- <facedge camera arguments>
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from facedge.runtime.camera.sources import Frame, SourceLost


class SyntheticSource:
    """A test pattern: a white square (the "face") gliding over a dark background.
    `square_box(i)` is where frame i has it, so tests can check coordinates.

    fps paces it like a camera (live); fps=None hands frames out as fast as they
    are taken, like a file, ending after `frames`. `lose_at`: frame number at which
    it raises SourceLost once, as an unplugged camera would; it opens again."""

    def __init__(self, size=(640, 480), fps=30.0, frames=None, lose_at=None, square=80):
        self.size = tuple(size)
        self.fps = fps
        self.live = fps is not None
        self.frames = frames
        self.lose_at = lose_at
        self.square = square
        self.name = "synthetic"
        self.opened = 0
        self._index = 0
        self._next_t = None
        self._is_open = False

    def square_box(self, index):
        w, h = self.size
        x = (index * 7) % (w - self.square)
        y = h // 3
        return (x, y, x + self.square, y + self.square)

    def open(self):
        self.opened += 1
        self._is_open = True
        self._next_t = time.monotonic()

    def read(self):
        if not self._is_open:
            raise SourceLost("synthetic: read while closed")
        if self.frames is not None and self._index >= self.frames:
            return None
        if self.lose_at is not None and self._index == self.lose_at:
            self.lose_at = None
            self._index += 1
            raise SourceLost("synthetic: stopped delivering frames")
        if self.fps:
            self._next_t += 1.0 / self.fps
            delay = self._next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self._next_t = time.monotonic()
        w, h = self.size
        image = np.full((h, w, 3), 40, np.uint8)
        x1, y1, x2, y2 = self.square_box(self._index)
        image[y1:y2, x1:x2] = 255
        frame = Frame(self._index, time.monotonic(), image)
        self._index += 1
        return frame

    def close(self):
        self._is_open = False


class FakeResult:
    def __init__(self, boxes, scores, landmarks):
        self.boxes, self.scores, self.landmarks = boxes, scores, landmarks
        self.timings_ms = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}


class FakeDetector:
    input_size = (320, 240)

    def __init__(self, delay_s=0.0):
        self.delay_s = delay_s
        self.calls = 0
        self.shapes = []
        self.threads = set()

    def detect(self, image, input_size=None, pixel_format="bgr"):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, image.shape
        self.calls += 1
        self.shapes.append(image.shape)
        self.threads.add(threading.get_ident())
        t0 = time.perf_counter()
        if self.delay_s:
            time.sleep(self.delay_s)
        ys, xs = np.nonzero(image.min(axis=2) >= 200)
        if len(xs) == 0:
            result = FakeResult(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))
        else:
            x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            marks = [[x1, y1], [x2, y1], [cx, cy], [x1, y2], [x2, y2]]
            result = FakeResult(np.array([[x1, y1, x2, y2]], np.float32), np.array([0.99], np.float32),
                                np.array([marks], np.float32))
        result.timings_ms["inference"] = (time.perf_counter() - t0) * 1000
        return result


def make_demo_video(path, images, size=(640, 480), repeat=1, fps=25.0):
    """A video of the demo photos (each resized to `size`), `repeat` times over; returns its frame count."""
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if str(path).endswith(".mp4") else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    assert writer.isOpened(), path
    frames = [cv2.resize(cv2.imread(str(p)), size, interpolation=cv2.INTER_AREA) for p in images]
    n = 0
    for _ in range(repeat):
        for f in frames:
            writer.write(f)
            n += 1
    writer.release()
    return n


COUNTER_BITS = 6  # frame numbers 0..63
_BLOCK = 20
_ON, _OFF = 170, 40  # below FakeDetector's 200: the blocks are not "faces"


def _block_origins(size):
    w, h = size
    gap = (w - COUNTER_BITS * _BLOCK) // (COUNTER_BITS + 1)
    y = h - _BLOCK - max(4, h // 10)  # the bottom: the drawn numbers take the top
    return [(gap + i * (_BLOCK + gap), y) for i in range(COUNTER_BITS)]


def counter_frame(index, size=(160, 120)):
    w, h = size
    image = np.full((h, w, 3), _OFF, np.uint8)
    for bit, (x, y) in enumerate(_block_origins(size)):
        if index >> bit & 1:
            image[y: y + _BLOCK, x: x + _BLOCK] = _ON
    return image


def read_counter(image):
    """The frame number a counter_frame() shows (after JPEG, drawing, scaling back to its size)."""
    h, w = image.shape[:2]
    value = 0
    for bit, (x, y) in enumerate(_block_origins((w, h))):
        centre = image[y + 6: y + _BLOCK - 6, x + 6: x + _BLOCK - 6]
        if centre.mean() > (_ON + _OFF) / 2:
            value |= 1 << bit
    return value


def make_counter_video(path, frames, fps, size=(160, 120)):
    """An MJPEG .avi of `frames` counter frames at `fps`; returns its path."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), path
    for i in range(frames):
        writer.write(counter_frame(i, size))
    writer.release()
    return path


def require_core():
    """Skip (with the reason) when facedge's C++ core is not built."""
    import pytest

    try:
        import facedge._core  # noqa: F401
    except ImportError as e:
        pytest.skip(f"facedge's C++ core is not built ({e}): the real-detector camera tests need 'pip install .'")


def reference_model_dir(folder, param, bin_):
    """A facedge model directory for the upstream ULFD RFB-320 ncnn files (linked, not
    copied): ultraface-rfb, 320x240, RGB, (x - 127) / 128, blobs input/scores/boxes."""
    from facedge.base.model_dir import ModelInfo, write_model_info

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.param").symlink_to(Path(param).resolve())
    (folder / "model.bin").symlink_to(Path(bin_).resolve())
    write_model_info(folder, ModelInfo(family="ultraface-rfb", input_size=(320, 240), input="input",
                                       outputs={"scores": "scores", "boxes": "boxes"}, pixel="rgb",
                                       mean=[127.0] * 3, norm=[1 / 128] * 3, source={"upstream": "RFB-320"}))
    return folder


def main(argv):
    delay = 0.0
    if argv[:1] == ["--delay"]:
        delay, argv = float(argv[1]), argv[2:]
    if argv[:1] == ["--fake-picamera2"]:
        import fake_picamera2

        fake_picamera2.install()
        argv = argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    from facedge.cli import build_parser
    from facedge.runtime.camera import cli as camera_cli
    from facedge.base.errors import FacedgeError

    args = build_parser().parse_args(["camera", *argv])
    try:
        return camera_cli.run(args, detector=FakeDetector(delay))
    except FacedgeError as e:
        print(f"facedge camera: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
