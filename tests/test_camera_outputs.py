"""The camera's file and stdout outputs: recordings, JSON lines, option parsing."""

import io
import json

import cv2
import numpy as np
import pytest

from camera_fakes import FakeDetector, SyntheticSource
from facedge.runtime.camera.outputs import JsonLinesOutput, Recorder
from facedge.runtime.camera.pipeline import Detections, run_pipeline
from facedge.runtime.camera.server import parse_serve
from facedge.base.errors import FacedgeError
from facedge.runtime.camera.sources import make_source


def _read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return frames, fps


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_recording_of_a_file_source_has_every_frame_at_its_rate_and_appears_only_when_finished(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    source = SyntheticSource(size=(320, 240), fps=None, frames=30)
    source.open()
    recorder = Recorder(path, fps=25.0)
    run_pipeline(source, FakeDetector(), [recorder])
    assert not path.exists()  # still the hidden temporary file until close()
    assert recorder.close() == path
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    frames, fps = _read_video(path)
    assert len(frames) == 30 and fps == pytest.approx(25.0)
    # The drawn box is in the recording: green at the left edge of frame 29's square.
    x1, y1, x2, y2 = source.square_box(29)
    b, g, r = frames[29][(y1 + y2) // 2, x1].astype(int)
    assert g > 180 and b < 90 and r < 90


def test_recording_of_a_live_source_plays_at_the_measured_rate(tmp_path):
    path = tmp_path / "live.avi"
    recorder = Recorder(path, fps=None)
    image = np.zeros((120, 160, 3), np.uint8)
    for i in range(50):  # frames processed at 12.5 fps
        recorder.write(image, {"time": i * 0.08})
    recorder.close()
    frames, fps = _read_video(path)
    assert len(frames) == 50 and fps == pytest.approx(12.5, rel=0.01)


def test_a_short_live_recording_is_still_written(tmp_path):
    path = tmp_path / "short.mp4"
    recorder = Recorder(path, fps=None)
    for i in range(3):
        recorder.write(np.zeros((120, 160, 3), np.uint8), {"time": i * 0.1})
    recorder.close()
    frames, fps = _read_video(path)
    assert len(frames) == 3 and fps == pytest.approx(10.0)


def test_no_frames_means_no_recording(tmp_path):
    recorder = Recorder(tmp_path / "none.mp4", fps=30.0)
    assert recorder.close() is None
    assert list(tmp_path.iterdir()) == []


def test_recording_names_are_checked_up_front(tmp_path):
    with pytest.raises(FacedgeError, match=r"--record .*out\.mkv: expected a \.mp4 or \.avi file name"):
        Recorder(tmp_path / "out.mkv")
    with pytest.raises(FacedgeError, match="folder .*nowhere does not exist"):
        Recorder(tmp_path / "nowhere" / "out.mp4")


def test_json_lines_have_one_line_per_frame_with_faces_in_display_pixels():
    stream = io.StringIO()
    source = SyntheticSource(size=(320, 240), fps=None, frames=4)
    source.open()
    run_pipeline(source, FakeDetector(), [JsonLinesOutput(stream)])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2, 3]
    for line in lines:
        assert set(line) == {"frame", "time", "fps", "latency_ms", "inference_ms", "faces"}
        (face,) = line["faces"]
        assert face["box"] == [float(v) for v in source.square_box(line["frame"])]
        assert face["score"] == pytest.approx(0.99) and len(face["landmarks"]) == 5


def test_json_output_stops_quietly_when_stdout_goes_away():
    class Closed(io.StringIO):
        def write(self, s):
            raise BrokenPipeError

    out = JsonLinesOutput(Closed())
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), None)
    out.write(None, {"frame": 0, "time": 0, "fps": 0, "latency_ms": 0, "inference_ms": 0, "detections": empty})
    assert out.wants_stop


@pytest.mark.parametrize("text, expected", [("8000", ("127.0.0.1", 8000)), (":8000", ("127.0.0.1", 8000)),
                                            ("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::1]:9000", ("::1", 9000))])
def test_serve_address_defaults_to_localhost(text, expected):
    assert parse_serve(text) == expected


@pytest.mark.parametrize("text", ["http", "host:", "1.2.3.4:99999"])
def test_bad_serve_address_is_an_error(text):
    with pytest.raises(FacedgeError, match=rf"--serve {text}: expected PORT or HOST:PORT"):
        parse_serve(text)


def test_source_errors_name_what_was_given(tmp_path):
    with pytest.raises(FacedgeError, match=r"--source nosuch\.mp4: no such file; expected picamera2, a camera number"):
        make_source("nosuch.mp4", lores_size=(320, 240))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(FacedgeError, match=r"junk\.mp4: OpenCV cannot read it as a video"):
        make_source(str(junk), lores_size=(320, 240))
    with pytest.raises(FacedgeError, match=r"--source picamera2:x: expected picamera2 or picamera2:N"):
        make_source("picamera2:x", lores_size=(320, 240))
