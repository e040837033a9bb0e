"""`--serve`: the page, the MJPEG stream and the numbers, over real HTTP on 127.0.0.1."""

import http.client
import json
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from facedge.runtime.camera.pipeline import Detections
from facedge.runtime.camera.server import BOUNDARY, StreamServer
from facedge.base.errors import FacedgeError


def _frame(i):
    image = np.full((240, 320, 3), 30, np.uint8)
    cv2.rectangle(image, (100, 60), (200, 160), (0, 255, 0), 4)
    cv2.putText(image, str(i), (10, 230), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    return image


def _report(i):
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), None)
    return {"frame": i, "time": i / 30, "frames": i + 1, "fps": 30.0, "latency_ms": 12.5, "inference_ms": 8.0,
            "faces": 1, "dropped": 0, "detections": empty}


class Publisher(threading.Thread):
    """Plays the pipeline: writes frames at ~100 fps until stopped; times each write."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.stop, self.write_times, self.count = server, threading.Event(), [], 0

    def run(self):
        while not self.stop.is_set() and self.count < 3000:
            t0 = time.perf_counter()
            self.server.write(_frame(self.count), _report(self.count))
            self.write_times.append(time.perf_counter() - t0)
            self.count += 1
            time.sleep(0.01)


@pytest.fixture
def served():
    server = StreamServer("127.0.0.1", 0)
    publisher = Publisher(server)
    publisher.start()
    yield server, publisher
    publisher.stop.set()
    publisher.join(5)
    server.close()


def _get(server, path):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.getheader("Content-Type"), response.read()


def _read_parts(server, n):
    """The first n JPEG parts of /stream.mjpg, decoded."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", "/stream.mjpg")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    images = []
    for _ in range(n):
        assert response.fp.readline() == f"--{BOUNDARY}\r\n".encode()
        headers = {}
        while (line := response.fp.readline()) != b"\r\n":
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        jpeg = response.fp.read(int(headers["content-length"]))
        assert response.fp.read(2) == b"\r\n"
        images.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
    conn.close()
    return images


def test_binds_localhost_by_default():
    server = StreamServer()
    try:
        assert server.host == "127.0.0.1" and server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/"
    finally:
        server.close()


def test_page_stats_and_404(served):
    server, publisher = served
    status, ctype, body = _get(server, "/")
    assert status == 200 and ctype.startswith("text/html")
    page = body.decode()
    assert '<img id="stream" src="/stream.mjpg"' in page and "/stats.json" in page
    time.sleep(0.1)
    status, ctype, body = _get(server, "/stats.json")
    first = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert set(first) == {"frame", "time", "frames", "fps", "latency_ms", "inference_ms", "faces", "dropped"}
    time.sleep(0.2)
    later = json.loads(_get(server, "/stats.json")[2])
    assert later["frames"] > first["frames"]
    assert _get(server, "/nothing")[0] == 404


def test_stream_sends_the_newest_frames_as_jpeg(served):
    server, publisher = served
    images = _read_parts(server, 5)
    for image in images:
        assert image.shape == (240, 320, 3)
        b, g, r = image[110, 100].astype(int)  # on the green box's left edge
        assert g > 200 and b < 60 and r < 60
    assert not np.array_equal(images[0], images[-1])  # the frame number changed


def test_a_client_that_stops_reading_stalls_neither_the_pipeline_nor_other_clients(served):
    server, publisher = served
    stalled = socket.create_connection((server.host, server.port), timeout=5)
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads a byte
    at_start = publisher.count
    time.sleep(1.5)  # long enough for its socket buffers to fill with ~20 KB frames
    before = publisher.count
    assert before - at_start >= 30  # the publisher (the pipeline) went on at ~100 fps, not blocked
    images = _read_parts(server, 10)
    assert len(images) == 10
    assert publisher.count > before
    assert float(np.median(publisher.write_times)) < 0.005
    stalled.close()


def test_frames_are_only_copied_while_someone_watches():
    server = StreamServer("127.0.0.1", 0)
    try:
        server.write(_frame(0), _report(0))
        assert server._pending is None and server._jpeg is None
    finally:
        server.close()


def test_close_ends_open_streams_promptly(served):
    server, publisher = served
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", "/stream.mjpg")
    response = conn.getresponse()
    response.fp.readline()
    t0 = time.monotonic()
    publisher.stop.set()
    server.close()
    assert time.monotonic() - t0 < 3.0


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FacedgeError, match=rf"--serve 127.0.0.1:{port}: cannot listen"):
            StreamServer("127.0.0.1", port)
