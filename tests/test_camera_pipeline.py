"""The camera pipeline's mechanics, with the synthetic source and the stand-in
detector (tests/camera_fakes.py): frames flow, live sources stay current, files
are processed whole and in order, lost cameras come back, every frame is released."""

import threading
import time

import numpy as np
import pytest

from camera_fakes import FakeDetector, FakeResult, SyntheticSource
from facedge.runtime.camera.pipeline import _END, Detections, FrameSlot, Stats, run_pipeline
from facedge.runtime.camera.sources import SourceLost


class Collect:
    """An output that keeps every report (and a copy of the drawn frame when asked)."""

    def __init__(self, keep_images=False):
        self.reports, self.images, self.keep_images = [], [], keep_images

    def write(self, image, report):
        self.reports.append(report)
        if self.keep_images:
            self.images.append(image.copy())


class Counting:
    """Wraps a source; counts how often each frame is released."""

    def __init__(self, source):
        self.source = source
        self.released = {}

    def __getattr__(self, name):
        return getattr(self.source, name)

    def read(self):
        frame = self.source.read()
        if frame is None:
            return None
        index, inner = frame.index, frame.release
        self.released[index] = 0

        def release():
            self.released[index] += 1
            inner()

        frame.release = release
        return frame


def test_file_like_source_processes_every_frame_in_order_with_boxes_where_the_square_is():
    source = SyntheticSource(size=(320, 240), fps=None, frames=40)
    source.open()
    out = Collect()
    summary = run_pipeline(source, FakeDetector(delay_s=0.002), [out])
    assert summary.frames == 40 and summary.dropped == 0
    assert [r["frame"] for r in out.reports] == list(range(40))
    for r in out.reports:
        assert len(r["detections"]) == 1
        np.testing.assert_allclose(r["detections"].boxes[0], source.square_box(r["frame"]))
        assert r["faces"] == 1 and r["latency_ms"] > 0


def test_live_source_keeps_only_the_newest_frame_and_never_falls_behind():
    # A 100 fps camera and a detector that manages 25 fps: most frames must be
    # dropped, and the latency must stay near one detection, not grow.
    source = Counting(SyntheticSource(size=(320, 240), fps=100.0))
    source.open()
    out = Collect()
    summary = run_pipeline(source, FakeDetector(delay_s=0.04), [out], duration=1.5)
    indices = [r["frame"] for r in out.reports]
    assert 15 <= summary.frames <= 40, summary
    assert summary.dropped >= summary.frames, summary
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    latencies = [r["latency_ms"] for r in out.reports[3:]]
    # About one detection (40 ms) plus part of a camera frame; queued frames would
    # add 40 ms each. The median, so that a busy machine's odd hiccup does not count.
    assert np.median(latencies) < 40 + 10 + 25, latencies
    assert np.median(latencies[-5:]) < 2 * np.median(latencies) + 20  # not growing
    # Every frame the camera gave, processed or dropped, went back exactly once.
    assert source.released and set(source.released.values()) == {1}


def test_capture_detection_and_outputs_run_in_three_threads():
    read_threads, write_threads = set(), set()
    source = SyntheticSource(size=(160, 120), fps=None, frames=5)
    read = source.read
    source.read = lambda: (read_threads.add(threading.get_ident()), read())[1]
    source.open()
    detector = FakeDetector()

    class Where:
        def write(self, image, report):
            write_threads.add(threading.get_ident())

    run_pipeline(source, detector, [Where()])
    assert write_threads == {threading.get_ident()}  # outputs (a window) in the calling thread
    assert len(read_threads) == 1 and len(detector.threads) == 1
    assert len(read_threads | detector.threads | write_threads) == 3


def test_drawing_overlaps_the_next_detection():
    # Detection 60 ms, outputs 50 ms: in sequence 110 ms a frame, overlapped 60 ms.
    source = SyntheticSource(size=(160, 120), fps=None, frames=15)
    source.open()

    class Slow:
        def write(self, image, report):
            time.sleep(0.05)

    summary = run_pipeline(source, FakeDetector(delay_s=0.06), [Slow()])
    assert summary.frames == 15 and summary.seconds < 15 * 0.085, summary


def test_max_frames_and_duration_stop_the_run():
    source = SyntheticSource(size=(160, 120), fps=200.0)
    source.open()
    assert run_pipeline(source, FakeDetector(), [], max_frames=7).frames == 7
    source = SyntheticSource(size=(160, 120), fps=200.0)
    source.open()
    t0 = time.monotonic()
    summary = run_pipeline(source, FakeDetector(), [], duration=0.5)
    assert 0.5 <= time.monotonic() - t0 < 1.5 and summary.frames > 10


def test_stop_event_ends_the_run_and_closes_the_source():
    source = SyntheticSource(size=(160, 120), fps=100.0)
    source.open()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    summary = run_pipeline(source, FakeDetector(), [], stop=stop)
    assert time.monotonic() - t0 < 2.0 and summary.frames > 5
    assert not source._is_open


def test_a_lost_live_camera_is_reported_reopened_and_frames_resume():
    source = SyntheticSource(size=(160, 120), fps=100.0, lose_at=10)
    source.open()
    messages = []
    out = Collect()
    run_pipeline(source, FakeDetector(), [out], duration=1.0, retry_s=0.1, log=messages.append)
    assert source.opened == 2
    assert any("stopped delivering frames; retrying every 0.1 s" in m for m in messages), messages
    assert any("frames again" in m for m in messages), messages
    assert max(r["frame"] for r in out.reports) > 20


def test_an_error_in_capture_ends_the_run_with_that_error_and_closes_the_source():
    source = SyntheticSource(size=(160, 120), fps=None, frames=100)
    source.open()
    read = source.read

    def broken():
        frame = read()
        if frame.index == 3:
            raise OSError("decoder crashed")
        return frame

    source.read = broken
    with pytest.raises(OSError, match="decoder crashed"):
        run_pipeline(source, FakeDetector(), [])
    assert not source._is_open


def test_a_lost_file_ends_the_run_with_the_error():
    source = SyntheticSource(size=(160, 120), fps=None, frames=100, lose_at=4)
    source.open()
    with pytest.raises(SourceLost):
        run_pipeline(source, FakeDetector(), [])


def test_detections_are_scaled_from_detector_to_display_pixels():
    result = FakeResult(np.array([[10, 20, 30, 40]], np.float32), np.array([0.9], np.float32),
                        np.array([[[10, 20], [30, 40], [20, 30], [10, 40], [30, 20]]], np.float32))
    d = Detections.from_result(result, (2.0, 3.0))
    np.testing.assert_allclose(d.boxes, [[20, 60, 60, 120]])
    np.testing.assert_allclose(d.landmarks[0, 1], [60, 120])
    assert d.to_json() == [{"box": [20.0, 60.0, 60.0, 120.0], "score": 0.9, "label": "face",
                            "landmarks": [[20.0, 60.0], [60.0, 120.0], [40.0, 90.0], [20.0, 120.0], [60.0, 60.0]]}]
    result.landmarks = None
    assert "landmarks" not in Detections.from_result(result, (1.0, 1.0)).to_json()[0]


def test_frames_are_drawn_on_boxes_green_and_numbers_in_the_band():
    source = SyntheticSource(size=(320, 240), fps=None, frames=3)
    source.open()
    out = Collect(keep_images=True)
    run_pipeline(source, FakeDetector(), [out])
    image, box = out.images[-1], source.square_box(2)
    x1, y1, x2, y2 = box
    assert tuple(image[(y1 + y2) // 2, x1]) == (0, 255, 0)  # left edge of the box
    assert (image[2:20, 2:120] == 255).any()  # white text in the black band


def test_stats_fps_and_latency():
    stats = Stats()
    for i in range(21):
        stats.add(t_capture=i * 0.05 - 0.03, t_done=i * 0.05, faces=2, inference_ms=7.0)
    assert stats.fps == pytest.approx(20.0, rel=1e-6)
    assert stats.latency_ms == pytest.approx(30.0)
    assert stats.snapshot(dropped=4) == {"frames": 21, "fps": 20.0, "latency_ms": 30.0, "inference_ms": 7.0,
                                         "faces": 2, "classes": {}, "dropped": 4}
    stats.add(t_capture=1.0, t_done=1.03, faces=3, inference_ms=7.0, classes={"face": 2, "mask": 1})
    assert stats.snapshot()["classes"] == {"face": 2, "mask": 1}


class _Item:
    def __init__(self):
        self.released = 0

    def release(self):
        self.released += 1


def test_frame_slot_live_replaces_and_releases_the_waiting_frame():
    slot = FrameSlot(keep_all=False)
    a, b = _Item(), _Item()
    slot.put(a)
    slot.put(b)
    assert a.released == 1 and slot.dropped == 1
    assert slot.take(0.01) is b and slot.take(0.01) is None


def test_frame_slot_for_files_waits_instead_of_dropping():
    slot = FrameSlot(keep_all=True, depth=2)
    a, b, c = _Item(), _Item(), _Item()
    slot.put(a)
    slot.put(b)
    t = threading.Thread(target=slot.put, args=(c,))
    t.start()
    time.sleep(0.1)
    assert t.is_alive()  # waiting for room
    assert slot.take(0.01) is a
    t.join(1.0)
    slot.finish()
    assert [slot.take(0.01) for _ in range(3)] == [b, c, _END]
    assert a.released == b.released == c.released == 0 and slot.dropped == 0


def test_frame_slot_close_releases_what_it_holds_and_refuses_more():
    slot = FrameSlot(keep_all=True, depth=3)
    held = [_Item(), _Item()]
    for item in held:
        slot.put(item)
    slot.close()
    assert [item.released for item in held] == [1, 1]
    assert slot.put(_Item()) is False
