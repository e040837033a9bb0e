"""The `--serve` page in a real headless Chromium (Debian's `chromium` package):
the page loads, the MJPEG stream shows frames with boxes (pixels of a
screenshot), and the numbers update. The pipeline runs for real, on the
synthetic source with the stand-in detector, served on 127.0.0.1 only."""

import re
import shutil
import subprocess
import threading

import cv2
import numpy as np
import pytest

from camera_fakes import FakeDetector, SyntheticSource
from facedge.runtime.camera.pipeline import run_pipeline
from facedge.runtime.camera.server import StreamServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")


@pytest.fixture(scope="module")
def live_page():
    server = StreamServer("127.0.0.1", 0)
    source = SyntheticSource(size=(640, 480), fps=30.0, square=96)
    source.open()
    stop = threading.Event()
    pipeline = threading.Thread(target=run_pipeline, args=(source, FakeDetector(), [server]),
                                kwargs={"stop": stop, "duration": 120}, daemon=True)
    pipeline.start()
    yield server
    stop.set()
    pipeline.join(10)
    server.close()


def _chromium(tmp_path, url, *args):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=tmp_path)


def test_stream_shows_frames_with_boxes(live_page, tmp_path):
    shot = tmp_path / "page.png"
    _chromium(tmp_path, live_page.url, "--window-size=800,600", f"--screenshot={shot}")
    image = cv2.imread(str(shot))
    assert image is not None, "chromium wrote no screenshot"
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    green = (g > 200) & (r < 80) & (b < 80)
    assert green.sum() > 200, "no green box in the page"
    ys, xs = np.nonzero(green)
    inside = image[ys.min() + 6: ys.max() - 5, xs.min() + 6: xs.max() - 5]
    # The box is drawn around the square the detector found: white inside, the
    # synthetic background around it.
    assert (inside.min(axis=2) > 200).mean() > 0.9
    assert 80 <= xs.max() - xs.min() <= 110 and 80 <= ys.max() - ys.min() <= 110
    background = (np.abs(image.astype(int) - 40).max(axis=2) <= 6).sum()
    assert background > 100_000  # most of the 640x480 frame is on the page


def test_numbers_update(live_page, tmp_path):
    frames_before = live_page._stats.get("frames", 0)
    requests_before = live_page.stats_requests
    dom = _chromium(tmp_path, live_page.url, "--dump-dom").stdout
    updates = int(re.search(r'<body data-updates="(\d+)"', dom).group(1))
    shown = {k: re.search(rf'<b id="{k}">([^<]*)</b>', dom).group(1) for k in ("fps", "latency_ms", "faces", "frames")}
    assert updates >= 3, dom[:2000]
    assert live_page.stats_requests - requests_before >= updates
    assert int(shown["frames"]) > frames_before
    assert float(shown["fps"]) > 0 and int(shown["faces"]) == 1 and float(shown["latency_ms"]) >= 0
    assert '<span id="state">live</span>' in dom
