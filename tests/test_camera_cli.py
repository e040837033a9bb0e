"""`facedge camera` as a user runs it: a subprocess on a video made from the demo
images, with --json and --record, stopped by its end, by --max-frames, or by
Ctrl-C / SIGTERM. The pipeline-mechanics runs use the stand-in detector through
tests/camera_fakes.py (the real CLI with only the detector swapped); the
real-detector runs skip until facedge's C++ core is built."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import facedge
from camera_fakes import make_demo_video, reference_model_dir, require_core

TESTS = Path(__file__).resolve().parent
FACEDGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(facedge.__file__)))  # where `import facedge` found it


def _env():
    env = dict(os.environ, FACEDGE_PROGRESS="0", PYTHONUNBUFFERED="1")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (FACEDGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _fake_camera(args, cwd, delay=0.0):
    """`facedge camera ARGS` with the stand-in detector, as a subprocess."""
    command = [sys.executable, str(TESTS / "camera_fakes.py"), "--delay", str(delay), "--", *map(str, args)]
    return subprocess.Popen(command, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _count_frames(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def demo_video(demo_images, tmp_path_factory):
    path = tmp_path_factory.mktemp("camera") / "demo.mp4"
    return path, make_demo_video(path, demo_images, size=(640, 480))


@pytest.fixture(scope="module")
def long_demo_video(demo_images, tmp_path_factory):
    path = tmp_path_factory.mktemp("camera") / "demo_long.avi"
    return path, make_demo_video(path, demo_images, size=(320, 240), repeat=10)


def test_a_video_file_runs_to_its_end_with_json_and_recording(demo_video, tmp_path):
    video, n = demo_video
    out = tmp_path / "annotated.mp4"
    proc = _fake_camera(["--source", video, "--json", "--record", out], tmp_path)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["frame"] for line in lines] == list(range(n))
    assert all(line["faces"] and len(line["faces"][0]["box"]) == 4 for line in lines)
    assert f"recorded {n} frames to {out}" in stderr
    assert _count_frames(out) == n
    assert "no display and no output" not in stderr


def test_max_frames_stops_early(demo_video, tmp_path):
    video, n = demo_video
    proc = _fake_camera(["--source", video, "--json", "--max-frames", 5], tmp_path)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert len(stdout.splitlines()) == 5


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_cleanly_and_finishes_the_recording(long_demo_video, tmp_path, sig):
    video, n = long_demo_video
    out = tmp_path / "stopped.avi"
    proc = _fake_camera(["--source", video, "--json", "--record", out], tmp_path, delay=0.05)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while len(lines) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert len(lines) >= 8, proc.stderr.read() if proc.poll() is not None else "no frames within 60 s"
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    reader.join(5)
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    assert f"{signal.Signals(sig).name}: stopping" in stderr
    assert len(lines) < n  # it stopped long before the end of the video
    assert f"recorded {len(lines)} frames to {out}" in stderr
    assert _count_frames(out) == len(lines)  # every processed frame, in a finished file
    assert not list(tmp_path.glob(".*partial*"))


def test_errors_are_one_line_and_exit_1(demo_video, tmp_path):
    video, n = demo_video
    for args, message in [
        (["--source", "nosuch.mp4"], "facedge camera: error: --source nosuch.mp4: no such file; expected picamera2"),
        (["--source", video, "--record", "out.mkv"], "facedge camera: error: --record out.mkv: expected a .mp4 or .avi"),
        (["--source", video, "--serve", "localhost:http"], "facedge camera: error: --serve localhost:http: expected PORT"),
    ]:
        proc = _fake_camera(args, tmp_path)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 1 and message in stderr, stderr
        assert "Traceback" not in stderr
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_bad_option_values_are_usage_errors(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "facedge", "camera", "--size", "640by480"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "argument --size: '640by480': expected WIDTHxHEIGHT" in proc.stderr


# --- with the real detector ---------------------------------------------------------------

def test_real_detector_faces_in_json_match_the_detector_on_the_same_frames(demo_video, reference_ultraface, tmp_path):
    require_core()
    video, n = demo_video
    model = reference_model_dir(tmp_path / "rfb320", *reference_ultraface["RFB-320"])
    proc = subprocess.run([sys.executable, "-m", "facedge", "camera", str(model), "--source", str(video), "--json",
                           "--threads", "2", "--record", str(tmp_path / "real.mp4")],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == n and _count_frames(tmp_path / "real.mp4") == n

    detector = facedge.Detector(str(model), threads=2)
    cap = cv2.VideoCapture(str(video))
    total = 0
    for line in lines:
        ok, frame = cap.read()
        assert ok
        expected = detector.detect(frame)
        got = np.array([f["box"] for f in line["faces"]], np.float32).reshape(-1, 4)
        assert len(got) == len(expected.boxes), line["frame"]
        np.testing.assert_allclose(got, expected.boxes, atol=0.1)
        np.testing.assert_allclose([f["score"] for f in line["faces"]], expected.scores, atol=1e-3)
        total += len(got)
    assert total >= n  # crowd photos: faces in most frames


@pytest.mark.skipif(not re.search(r"^\s*GUI:\s*NONE\s*$", cv2.getBuildInformation(), re.M),
                    reason="this OpenCV has a GUI backend; a bogus DISPLAY could abort it")
def test_a_display_with_a_headless_opencv_says_so_and_carries_on(demo_video, tmp_path):
    video, n = demo_video
    command = [sys.executable, str(TESTS / "camera_fakes.py"), "--", "--source", str(video), "--max-frames", "3"]
    proc = subprocess.run(command, cwd=tmp_path, env=dict(_env(), DISPLAY=":99"), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "no window: this OpenCV has no window support (opencv-python-headless?)" in proc.stderr
    assert "3 frames in" in proc.stderr


def test_without_any_output_it_says_how_to_see_something(demo_video, tmp_path):
    video, n = demo_video
    proc = _fake_camera(["--source", video, "--max-frames", 2], tmp_path)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "no display and no output asked for" in stderr and "--serve 0.0.0.0:8000" in stderr


def test_bf16_reaches_the_detector_and_is_announced(demo_video, reference_ultraface, tmp_path):
    require_core()
    video, _ = demo_video
    model = reference_model_dir(tmp_path / "rfb320", *reference_ultraface["RFB-320"])
    args = [sys.executable, "-m", "facedge", "camera", str(model), "--source", str(video), "--json", "--max-frames", "2",
            "--threads", "1"]
    on = subprocess.run(args + ["--bf16", "on"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert on.returncode == 0, on.stderr
    assert re.search(r"detector input 320x240, bf16$", on.stderr, re.M), on.stderr
    off = subprocess.run(args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert re.search(r"detector input 320x240, fp32$", off.stderr, re.M), off.stderr
