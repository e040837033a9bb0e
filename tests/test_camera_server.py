"""`--serve`: the page, the MJPEG stream and the numbers, over real HTTP on 127.0.0.1;
the limits that keep a server on a network responsive (bounded requests, slow and
idle clients dropped, a bound on connections), and the token on 127.0.0.2."""

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
    # the publisher's first frame can come late on a loaded machine: wait for it (at most 10 s)
    deadline = time.monotonic() + 10
    while True:
        status, ctype, body = _get(server, "/stats.json")
        first = json.loads(body)
        assert status == 200 and ctype == "application/json"
        if "frame" in first or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert set(first) == {"frame", "time", "frames", "fps", "latency_ms", "inference_ms", "faces", "dropped", "encoder",
                          "viewers"}
    assert first["encoder"] == "OpenCV cv2.imencode (CPU)"
    deadline = time.monotonic() + 10
    while (later := json.loads(_get(server, "/stats.json")[2]))["frames"] <= first["frames"] \
            and time.monotonic() < deadline:
        time.sleep(0.05)
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


# --- limits: a server on the network must not be held up by what clients send or fail to read ---

def _raw(server, data, timeout=5):
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_request_lines_and_headers_have_bounds(served):
    server, publisher = served
    long_path = b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _raw(server, long_path).startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    many = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n"
    assert _raw(server, many).startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    huge = b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    assert _raw(server, huge).startswith(b"HTTP/1.1 431 ")
    assert _raw(server, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    assert _get(server, "/")[0] == 200  # and it goes on serving


def test_an_idle_connection_is_closed_after_the_client_timeout():
    server = StreamServer("127.0.0.1", 0, client_timeout_s=0.5)
    try:
        with socket.create_connection((server.host, server.port), timeout=10) as s:
            t0 = time.monotonic()
            s.sendall(b"GET / HTTP/1.1\r\n")  # and never the rest
            assert s.recv(100) == b""
            assert time.monotonic() - t0 < 5
    finally:
        server.close()


def test_a_client_that_stops_reading_is_dropped_and_its_place_freed():
    # Noisy frames make big JPEGs (~60 KB), so the stalled client's socket buffers fill in a moment.
    server = StreamServer("127.0.0.1", 0, max_clients=1, client_timeout_s=1.0)
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    stop = threading.Event()

    def publish():
        i = 0
        while not stop.is_set():
            server.write(np.roll(noise, i, axis=1), _report(i))
            i += 1
            time.sleep(0.01)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        stalled.connect((server.host, server.port))
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads a byte
        time.sleep(0.3)
        assert _get(server, "/stream.mjpg")[0] == 503  # its place is taken
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
            conn.request("GET", "/stream.mjpg")
            response = conn.getresponse()
            status = response.status
            response.close()
            conn.close()
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200  # the stalled client was dropped
    finally:
        stop.set()
        publisher.join(5)
        stalled.close()
        server.close()


def test_connections_beyond_the_bound_get_503_and_are_closed():
    from facedge.runtime.camera.server import SPARE_CONNECTIONS

    server = StreamServer("127.0.0.1", 0, max_clients=1, client_timeout_s=5.0)
    idle = []
    try:
        for _ in range(1 + SPARE_CONNECTIONS):
            idle.append(socket.create_connection((server.host, server.port), timeout=5))
        deadline = time.monotonic() + 10
        while server._httpd._open < len(idle) and time.monotonic() < deadline:
            time.sleep(0.05)  # until all are accepted, each waiting for its request
        assert _raw(server, b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        for s in idle:
            s.close()
        deadline = time.monotonic() + 5
        while _raw(server, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")[:12] != b"HTTP/1.1 200" \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _get(server, "/")[0] == 200
    finally:
        for s in idle:
            s.close()
        server.close()


def test_with_a_token_every_route_answers_403_until_it_is_given():
    token = "t" * 16 + "0123456789"
    server = StreamServer("127.0.0.2", 0, token=token)
    try:
        for path in ("/", "/stats.json", "/stream.mjpg", "/x"):
            assert _get(server, path)[0] == 403
        assert _get(server, f"/stats.json?token={token}")[0] == 200
        assert _get(server, f"/stats.json?token={token}x")[0] == 403
        assert server.refused[403] == 5
    finally:
        server.close()
