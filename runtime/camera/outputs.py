"""Where `facedge camera` sends annotated frames besides the web server: a window,
JSON lines on stdout, a video file. Each has `write(image, report)` and `close()`;
`wants_stop` says the user asked to stop (window closed, 'q', stdout gone).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2

from facedge.base.errors import FacedgeError


class JsonLinesOutput:
    """--json: one line per processed frame on stdout, flushed, e.g.
    {"frame": 12, "time": 0.41, "fps": 29.5, "latency_ms": 12.3, "inference_ms": 8.1,
     "faces": [{"box": [x1, y1, x2, y2], "score": 0.98, "label": "face", "landmarks": [[x, y], ...]}]} (facedge.base.faces)
    Coordinates are pixels of the displayed (main) frame; "time" is the frame's
    capture time in seconds after the first processed frame's; "frame" counts the
    source's frames (for a live camera the gaps are frames dropped to stay current)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.wants_stop = False

    def write(self, image, report):
        line = {k: report[k] for k in ("frame", "time", "fps", "latency_ms", "inference_ms")}
        line["faces"] = report["detections"].to_json()
        try:
            self.stream.write(json.dumps(line) + "\n")
            self.stream.flush()
        except BrokenPipeError:  # piped into `head` and the like: stop quietly
            self.wants_stop = True

    def close(self):
        pass


class Recorder:
    """--record FILE (.mp4 with MPEG-4 Part 2, or .avi with MJPEG): the annotated
    frames, written to a hidden temporary file beside FILE and renamed when the run
    ends, so FILE is never half-written.

    A file source's frames are all processed, so the recording keeps its frame rate.
    A live source is processed at whatever rate the model allows, so the first
    second of frames is held back to measure that rate, and the video plays at it."""

    CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
    MEASURE_S = 1.0
    MEASURE_FRAMES = 30

    def __init__(self, path, fps=None):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in self.CODECS:
            raise FacedgeError(f"--record {path}: expected a .mp4 or .avi file name")
        if not self.path.parent.is_dir():
            raise FacedgeError(f"--record {path}: folder {self.path.parent} does not exist")
        self.fourcc = cv2.VideoWriter_fourcc(*self.CODECS[suffix])
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{suffix}")
        self.fps = fps
        self.frames = 0
        self._writer = None
        self._held = []  # (capture time, image) while measuring a live rate
        self._probe()

    def _probe(self):
        # Fail now, not at the first frame, when this OpenCV cannot write the format.
        writer = cv2.VideoWriter(os.fspath(self.tmp), self.fourcc, 10.0, (64, 48))
        ok = writer.isOpened()
        writer.release()
        self.tmp.unlink(missing_ok=True)
        if not ok:
            raise FacedgeError(f"--record {self.path}: this OpenCV cannot write {self.path.suffix} video; try .avi (MJPEG)")

    def write(self, image, report):
        if self._writer is not None:
            self._writer.write(image)
            self.frames += 1
            return
        if self.fps is not None:
            self._open(image.shape, self.fps)
            self.write(image, report)
            return
        self._held.append((report["time"], image.copy()))
        span = self._held[-1][0] - self._held[0][0]
        if span >= self.MEASURE_S or len(self._held) >= self.MEASURE_FRAMES:
            self._flush_held()

    def _flush_held(self):
        held, self._held = self._held, []
        span = held[-1][0] - held[0][0]
        fps = (len(held) - 1) / span if len(held) > 1 and span > 0 else 10.0
        self._open(held[0][1].shape, min(max(fps, 1.0), 120.0))
        for _, image in held:
            self._writer.write(image)
            self.frames += 1

    def _open(self, shape, fps):
        h, w = shape[:2]
        self._writer = cv2.VideoWriter(os.fspath(self.tmp), self.fourcc, float(fps), (w, h))
        if not self._writer.isOpened():
            raise FacedgeError(f"--record {self.path}: OpenCV cannot open a {w}x{h} video for writing")
        self.fps = fps

    def close(self):
        """Finish the file and put it in place; returns its path, or None when no frame came."""
        if self._writer is None and self._held:
            self._flush_held()
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        os.replace(self.tmp, self.path)
        return self.path


def display_available():
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class WindowOutput:
    """A window on the Pi's own screen (OpenCV highgui); 'q' or Esc, or closing the
    window, stops the run."""

    def __init__(self, title="facedge camera"):
        self.title = title
        self.wants_stop = False
        self._was_visible = False
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise FacedgeError(
                "this OpenCV has no window support (opencv-python-headless?); on Raspberry Pi OS use apt's "
                "python3-opencv (see the README), or watch in a browser with --serve") from e

    def write(self, image, report):
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        # A window closed with the mouse reads as not visible, on the GUI backends
        # that report visibility at all; those that do not never read as visible.
        visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        closed = self._was_visible and not visible
        self._was_visible = self._was_visible or visible
        if key in (ord("q"), 27) or closed:
            self.wants_stop = True

    def close(self):
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
