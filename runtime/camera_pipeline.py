"""The live pipeline: capture in its own thread, detection, drawing, outputs.

    capture thread:  source.read() -> FrameSlot (newest frame only, for live sources)
    calling thread:  slot.take() -> detector.detect() -> draw -> outputs -> frame.release()

The capture thread never waits for the detector: a live frame that arrives while
the previous one is still waiting is replaced (and released back to the camera),
so the pipeline always works on the newest frame and never falls behind. A file
is not live: its frames are all processed, in order, and the capture thread waits
for the detector instead.

The detector is any object with `detect(image) -> result` where result has
`boxes` (N,4 x1,y1,x2,y2), `scores` (N,), `landmarks` (N,K,2 or None) and
optionally `timings_ms`; facedge.Detector releases the GIL while it works, so
capture, the detector and the outputs run on different cores.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from facedge.runtime.camera_draw import draw_detections, draw_overlay
from facedge.runtime.camera_sources import SourceLost

_END = object()  # the slot's marker for "no more frames"

# How long stopping waits for a read in progress: just over picamera2's capture
# timeout, and far above one frame of any camera or file.
STOP_WAIT_S = 6.0


class FrameSlot:
    """Hands frames from the capture thread to the pipeline.

    keep_all=False (live): holds only the newest frame; putting a new one releases
    the one not yet taken (counted in `dropped`). keep_all=True (files): `put` waits
    until the previous frame has been taken, so no frame is lost."""

    def __init__(self, keep_all):
        self.keep_all = keep_all
        self.dropped = 0
        self.error = None
        self._cond = threading.Condition()
        self._item = None
        self._closed = False

    def put(self, frame):
        """False when the slot is closed (the pipeline stopped): the caller keeps the frame."""
        with self._cond:
            if self.keep_all:
                while self._item is not None and not self._closed:
                    self._cond.wait()
            if self._closed:
                return False
            if self._item is not None:
                self._item.release()
                self.dropped += 1
            self._item = frame
            self._cond.notify_all()
            return True

    def finish(self, error=None):
        """No more frames will come; `error` (an exception) ends the run with it."""
        with self._cond:
            while self.keep_all and self._item is not None and not self._closed:
                self._cond.wait()
            self.error = error
            if not self._closed:
                self._item = _END
            self._cond.notify_all()

    def take(self, timeout):
        """The newest frame, None after `timeout` seconds without one, or _END."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, (None if self._item is not _END else _END)
            self._cond.notify_all()
            return item

    def close(self):
        with self._cond:
            self._closed = True
            if self._item is not None and self._item is not _END:
                self._item.release()
            self._item = None
            self._cond.notify_all()


class CaptureThread(threading.Thread):
    """Reads the source until told to stop. A live source that is lost is closed
    and opened again every `retry_s` seconds, with a message each way; a file that
    ends, or any other error, ends the run through the slot."""

    def __init__(self, source, slot, stop, retry_s=2.0, log=None):
        super().__init__(name="facedge-capture", daemon=True)
        self.source, self.slot, self.stop, self.retry_s = source, slot, stop, retry_s
        self.log = log or _log_stderr

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    frame = self.source.read()
                except SourceLost as e:
                    if not self.source.live:
                        raise
                    self._reopen(e)
                    continue
                if frame is None:
                    break
                if not self.slot.put(frame):
                    frame.release()
                    break
            self.slot.finish()
        except BaseException as e:  # hand it to the pipeline thread, which raises it
            self.slot.finish(error=e)

    def _reopen(self, lost):
        self.log(f"{lost}; retrying every {self.retry_s:g} s (Ctrl-C to stop)")
        self.source.close()
        while not self.stop.wait(self.retry_s):
            try:
                self.source.open()
            except SourceLost:
                continue
            self.log(f"{self.source.name}: frames again")
            return


@dataclass
class Detections:
    """One frame's faces in `image()` pixel coordinates."""

    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (N,)
    landmarks: np.ndarray | None  # (N, K, 2) or None

    @classmethod
    def from_result(cls, result, scale):
        sx, sy = scale
        boxes = np.asarray(result.boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(result.scores, np.float32).reshape(-1)
        landmarks = result.landmarks
        if (sx, sy) != (1.0, 1.0):
            boxes = boxes * np.array([sx, sy, sx, sy], np.float32)
            if landmarks is not None:
                landmarks = np.asarray(landmarks, np.float32) * np.array([sx, sy], np.float32)
        return cls(boxes, scores, landmarks)

    def __len__(self):
        return len(self.scores)

    def to_json(self):
        faces = []
        for i in range(len(self)):
            face = {"box": [round(float(v), 1) for v in self.boxes[i]], "score": round(float(self.scores[i]), 4)}
            if self.landmarks is not None:
                face["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks[i]]
            faces.append(face)
        return faces


class Stats:
    """FPS over the last second, end-to-end latency and face count, for the overlay,
    the JSON lines and the web page.

    Latency is from capture (the sensor timestamp for picamera2, the moment the
    frame was read for OpenCV) to the annotated frame being handed to the outputs:
    waiting in the slot, detection and drawing included."""

    WINDOW_S = 1.0

    def __init__(self):
        self.frames = 0
        self.faces = 0
        self.latency_ms = 0.0
        self.inference_ms = 0.0
        self.latency_total_ms = 0.0
        self.started = time.monotonic()
        self._times = collections.deque()

    def add(self, t_capture, t_done, faces, inference_ms):
        self.frames += 1
        self.faces = faces
        self.latency_ms = (t_done - t_capture) * 1000.0
        self.latency_total_ms += self.latency_ms
        self.inference_ms = inference_ms
        self._times.append(t_done)
        while len(self._times) > 2 and t_done - self._times[0] > self.WINDOW_S:
            self._times.popleft()

    @property
    def fps(self):
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)

    def snapshot(self, dropped=0):
        return {"frames": self.frames, "fps": round(self.fps, 2), "latency_ms": round(self.latency_ms, 1),
                "inference_ms": round(self.inference_ms, 1), "faces": self.faces, "dropped": dropped}


@dataclass
class Summary:
    frames: int
    seconds: float
    dropped: int
    mean_latency_ms: float

    @property
    def fps(self):
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_pipeline(source, detector, outputs, stop=None, max_frames=None, duration=None, retry_s=2.0,
                 log=None, status_every_s=None):
    """Run until the source ends, `max_frames` frames are done, `duration` seconds
    pass, `stop` (a threading.Event) is set, or an output asks to stop. The source
    must be open; it is closed on return, whatever happens. Each output has
    `write(image, report)` and may have `wants_stop`; closing them is the caller's.
    Returns a Summary."""
    log = log or _log_stderr
    stop = stop or threading.Event()
    slot = FrameSlot(keep_all=not source.live)
    capture = CaptureThread(source, slot, stop, retry_s=retry_s, log=log)
    stats = Stats()
    t_start = time.monotonic()
    next_status = t_start + status_every_s if status_every_s else None
    capture.start()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if duration is not None and now - t_start >= duration:
                break
            if next_status is not None and now >= next_status:
                next_status = now + status_every_s
                s = stats.snapshot(slot.dropped)
                log(f"{s['frames']} frames, {s['fps']:.1f} fps, latency {s['latency_ms']:.0f} ms, {s['faces']} faces")
            item = slot.take(timeout=0.1)
            if item is None:
                continue
            if item is _END:
                if slot.error is not None:
                    raise slot.error
                break
            try:
                _process(item, detector, outputs, stats, slot, t_start)
            finally:
                item.release()
            if max_frames is not None and stats.frames >= max_frames:
                break
            if any(getattr(out, "wants_stop", False) for out in outputs):
                break
    finally:
        stop.set()
        slot.close()
        capture.join(timeout=STOP_WAIT_S)
        if capture.is_alive():
            log(f"{source.name}: a read is still blocked; leaving the device to the operating system")
        else:
            source.close()
    seconds = time.monotonic() - t_start
    mean = stats.latency_total_ms / stats.frames if stats.frames else 0.0
    return Summary(stats.frames, seconds, slot.dropped, mean)


def _process(frame, detector, outputs, stats, slot, t_start):
    result = detector.detect(frame.detect_input())
    detections = Detections.from_result(result, frame.scale)
    timings = getattr(result, "timings_ms", None) or {}
    image = frame.image()
    draw_detections(image, detections)
    stats.add(frame.t_capture, time.monotonic(), len(detections), float(sum(timings.values())))
    snapshot = stats.snapshot(slot.dropped)
    draw_overlay(image, snapshot)
    report = {"frame": frame.index, "time": round(frame.t_capture - t_start, 4), **snapshot, "detections": detections}
    for out in outputs:
        out.write(image, report)


def _log_stderr(message):
    print(f"facedge camera: {message}", file=sys.stderr, flush=True)
