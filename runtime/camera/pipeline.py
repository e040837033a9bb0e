"""The live pipeline: three threads, so that the detector is never kept waiting.

    capture thread:  source.read() ---------------> frames slot
    detect thread:   frames slot -> detector.detect() -> results slot
    calling thread:  results slot -> draw, numbers -> outputs -> frame.release()

The capture thread never waits for the detector: a live frame that arrives while
the previous one is still waiting is replaced (and released back to the camera),
so detection always starts on the newest frame and the pipeline never falls
behind. A file is not live: every frame is processed, in order; the capture
thread decodes a few frames ahead and then waits for the detector. A file
played in real time (`source.realtime`, --realtime) hands its frames out at its
own rate and is treated like a live source.

Drawing and the outputs run beside the detection of the next frame rather than
after it: detection, the slow part, starts again as soon as it has handed its
result on. For a live source the results slot holds one result and makes the
detect thread wait when the outputs are slower, so the frame it then fetches is
still the newest.

The detector is any object with `detect(image) -> result` where result has
`boxes` (N,4 x1,y1,x2,y2), `scores` (N,), `landmarks` (N,K,2 or None) and
optionally `timings_ms`; facedge.Detector releases the GIL while it works, and
so do OpenCV's decoding, colour conversion and drawing, so the three threads
use different cores.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from facedge.base.faces import faces_to_json
from facedge.runtime.camera.draw import draw_detections, draw_overlay
from facedge.runtime.camera.sources import SourceLost

_END = object()  # the slot's marker for "no more frames"

# How long stopping waits for a read in progress: just over picamera2's capture
# timeout, and far above one frame of any camera or file.
STOP_WAIT_S = 6.0

# Frames a file source may have decoded ahead, and results waiting for the outputs.
FILE_QUEUE_DEPTH = 4


class FrameSlot:
    """Hands frames (anything with `release()`) from one thread to the next.

    keep_all=False (live): holds only the newest frame; putting a new one releases
    the one not yet taken (counted in `dropped`). keep_all=True: holds up to `depth`
    frames in order and `put` waits for room, so no frame is lost; a depth above
    one absorbs the moments when a busy machine slows one thread down."""

    def __init__(self, keep_all, depth=1):
        self.keep_all = keep_all
        self.depth = depth
        self.dropped = 0
        self.error = None
        self._cond = threading.Condition()
        self._items = collections.deque()
        self._ended = False
        self._closed = False

    def put(self, frame):
        """False when the slot is closed (the pipeline stopped): the caller keeps the frame."""
        with self._cond:
            if self.keep_all:
                while len(self._items) >= self.depth and not self._closed:
                    self._cond.wait()
            if self._closed:
                return False
            if not self.keep_all and self._items:
                self._items.popleft().release()
                self.dropped += 1
            self._items.append(frame)
            self._cond.notify_all()
            return True

    def finish(self, error=None):
        """No more frames will come after those held; `error` (an exception) ends the run with it."""
        with self._cond:
            self.error = error
            self._ended = True
            self._cond.notify_all()

    def take(self, timeout):
        """The oldest frame held (the newest, for live), None after `timeout`
        seconds without one, or _END once finished and empty."""
        with self._cond:
            if not self._items and not self._ended:
                self._cond.wait(timeout)
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return _END if self._ended else None

    def close(self):
        with self._cond:
            self._closed = True
            while self._items:
                self._items.popleft().release()
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
    labels: np.ndarray | None = None  # (N,) int: index into class_names
    class_names: tuple = ("face",)

    def __post_init__(self):
        if self.labels is None:
            self.labels = np.zeros(len(self.scores), np.int32)

    @property
    def names(self):
        return [self.class_names[i] for i in self.labels.tolist()]

    def counts(self):
        """Faces per class name, every class listed."""
        counts = dict.fromkeys(self.class_names, 0)
        for name in self.names:
            counts[name] += 1
        return counts

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
        labels = getattr(result, "labels", None)
        labels = np.zeros(len(scores), np.int32) if labels is None else np.asarray(labels, np.int32).reshape(-1)
        return cls(boxes, scores, landmarks, labels, tuple(getattr(result, "class_names", ("face",))))

    def __len__(self):
        return len(self.scores)

    def to_json(self):
        return faces_to_json(self.boxes, self.scores, self.landmarks, self.names)


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
        self.classes = {}  # faces per class name in the latest frame
        self.latency_ms = 0.0
        self.inference_ms = 0.0
        self.latency_total_ms = 0.0
        self.t_first_capture = None
        self._times = collections.deque()

    def add(self, t_capture, t_done, faces, inference_ms, classes=None):
        if self.frames == 0:
            self.t_first_capture = t_capture
        self.frames += 1
        self.faces = faces
        self.classes = dict(classes) if classes is not None else {}
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
                "inference_ms": round(self.inference_ms, 1), "faces": self.faces, "classes": dict(self.classes),
                "dropped": dropped}


@dataclass
class Summary:
    frames: int
    seconds: float
    dropped: int
    mean_latency_ms: float

    @property
    def fps(self):
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class Detected:
    """A frame and its detections, from the detect thread to the outputs."""

    def __init__(self, frame, detections, inference_ms):
        self.frame, self.detections, self.inference_ms = frame, detections, inference_ms

    def release(self):
        self.frame.release()


class DetectThread(threading.Thread):
    """Takes the newest frame, detects, hands frame and detections on; passes the
    end of the frames (and any error) on to the results."""

    def __init__(self, detector, frames, results, stop):
        super().__init__(name="facedge-detect", daemon=True)
        self.detector, self.frames, self.results, self.stop = detector, frames, results, stop

    def run(self):
        try:
            while not self.stop.is_set():
                frame = self.frames.take(timeout=0.1)
                if frame is None:
                    continue
                if frame is _END:
                    self.results.finish(error=self.frames.error)
                    return
                try:
                    result = self.detector.detect(frame.detect_input())
                    timings = getattr(result, "timings_ms", None) or {}
                    item = Detected(frame, Detections.from_result(result, frame.scale), float(sum(timings.values())))
                except BaseException:
                    frame.release()
                    raise
                if not self.results.put(item):
                    item.release()
                    return
        except BaseException as e:  # hand it to the calling thread, which raises it
            self.results.finish(error=e)


def run_pipeline(source, detector, outputs, stop=None, max_frames=None, duration=None, retry_s=2.0,
                 log=None, status_every_s=None):
    """Run until the source ends, `max_frames` frames are done, `duration` seconds
    pass, `stop` (a threading.Event) is set, or an output asks to stop. The source
    must be open; it is closed on return, whatever happens. Each output has
    `write(image, report)` and may have `wants_stop`; outputs are called from the
    calling thread (a window must be); closing them is the caller's.
    Returns a Summary."""
    log = log or _log_stderr
    stop = stop or threading.Event()
    # Files queue a few frames at each step; live sources, and files played in
    # real time, hold one, the newest.
    newest_only = source.live or getattr(source, "realtime", False)
    depth = 1 if newest_only else FILE_QUEUE_DEPTH
    frames = FrameSlot(keep_all=not newest_only, depth=depth)
    results = FrameSlot(keep_all=True, depth=depth)
    capture = CaptureThread(source, frames, stop, retry_s=retry_s, log=log)
    detect = DetectThread(detector, frames, results, stop)
    stats = Stats()
    t_start = time.monotonic()
    next_status = t_start + status_every_s if status_every_s else None
    capture.start()
    detect.start()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if duration is not None and now - t_start >= duration:
                break
            if next_status is not None and now >= next_status:
                next_status = now + status_every_s
                s = stats.snapshot(frames.dropped)
                log(f"{s['frames']} frames, {s['fps']:.1f} fps, latency {s['latency_ms']:.0f} ms, {s['faces']} faces")
            item = results.take(timeout=0.1)
            if item is None:
                continue
            if item is _END:
                if results.error is not None:
                    raise results.error
                break
            try:
                _output(item, outputs, stats, frames.dropped)
            finally:
                item.release()
            if max_frames is not None and stats.frames >= max_frames:
                break
            if any(getattr(out, "wants_stop", False) for out in outputs):
                break
    finally:
        stop.set()
        frames.close()
        results.close()
        detect.join(timeout=STOP_WAIT_S)
        capture.join(timeout=STOP_WAIT_S)
        if capture.is_alive():
            log(f"{source.name}: a read is still blocked; leaving the device to the operating system")
        else:
            source.close()
    seconds = time.monotonic() - t_start
    mean = stats.latency_total_ms / stats.frames if stats.frames else 0.0
    return Summary(stats.frames, seconds, frames.dropped, mean)


def _output(item, outputs, stats, dropped):
    frame, detections = item.frame, item.detections
    image = frame.image()
    annotated = getattr(frame, "annotated", False)  # drawn by the camera itself (hw_mjpeg.py)
    if not annotated:
        draw_detections(image, detections)
    stats.add(frame.t_capture, time.monotonic(), len(detections), item.inference_ms, detections.counts())
    snapshot = stats.snapshot(dropped)
    if not annotated:
        draw_overlay(image, snapshot)
    report = {"frame": frame.index, "time": round(frame.t_capture - stats.t_first_capture, 4), **snapshot,
              "detections": detections}
    for out in outputs:
        out.write(image, report)


def _log_stderr(message):
    print(f"facedge camera: {message}", file=sys.stderr, flush=True)
