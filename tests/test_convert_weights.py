"""The default checkpoint: sha256-pinned download into the cache, local alternatives,
and what an offline machine is told (fast; no torch; a local HTTP server only)."""

import hashlib
import http.server
import socket
import threading

import pytest

from facedge.convert import weights
from facedge.base.errors import FacedgeError

PAYLOAD = b"not really a checkpoint, but bytes with a known hash" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(weights.ENV_DIR, raising=False)
    monkeypatch.setenv("FACEDGE_PROGRESS", "0")
    return tmp_path / "cache" / "weights"


@pytest.fixture
def server():
    """A loopback HTTP server answering /good with PAYLOAD and /bad with other bytes."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = PAYLOAD if self.path == "/good" else b"something else"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def test_download_is_verified_and_cached(cache, server):
    base, hits = server
    path = weights.default_checkpoint(url=f"{base}/good", sha256=PAYLOAD_SHA, name="w.pth")
    assert path == cache / "w.pth" and path.read_bytes() == PAYLOAD
    again = weights.default_checkpoint(url=f"{base}/good", sha256=PAYLOAD_SHA, name="w.pth")
    assert again == path and hits == ["/good"]  # the second call used the cache


def test_download_with_wrong_hash_leaves_nothing(cache, server):
    base, _ = server
    with pytest.raises(FacedgeError, match=f"{base}/bad: sha256 .* does not match the pinned {PAYLOAD_SHA}"):
        weights.default_checkpoint(url=f"{base}/bad", sha256=PAYLOAD_SHA, name="w.pth")
    assert not cache.exists() or list(cache.iterdir()) == []


def test_offline_says_how_to_point_at_a_local_file(cache):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FacedgeError) as e:
        weights.default_checkpoint(url=f"http://127.0.0.1:{port}/w.pth", sha256=PAYLOAD_SHA)
    msg = str(e.value)
    assert msg.startswith(f"cannot download http://127.0.0.1:{port}/w.pth")
    assert "pass the .pth path" in msg and "set FACEDGE_WEIGHTS_DIR to a folder containing version-RFB-320.pth" in msg


def test_weights_dir_environment_variable(cache, tmp_path, monkeypatch):
    local = tmp_path / "mine"
    local.mkdir()
    (local / "w.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv(weights.ENV_DIR, str(local))
    assert weights.default_checkpoint(url="http://127.0.0.1:9/never", sha256=PAYLOAD_SHA, name="w.pth") == local / "w.pth"
    (local / "w.pth").write_bytes(b"changed")
    with pytest.raises(FacedgeError, match="w.pth: sha256 .* does not match"):
        weights.default_checkpoint(url="http://127.0.0.1:9/never", sha256=PAYLOAD_SHA, name="w.pth")
    monkeypatch.setenv(weights.ENV_DIR, str(tmp_path / "empty"))
    with pytest.raises(FacedgeError, match="w.pth: not found"):
        weights.default_checkpoint(url="http://127.0.0.1:9/never", sha256=PAYLOAD_SHA, name="w.pth")


def test_pinned_hash_is_the_shared_upstream_file(shared):
    path = shared / "weights" / "ultraface" / weights.DEFAULT_NAME
    assert hashlib.sha256(path.read_bytes()).hexdigest() == weights.DEFAULT_SHA256
    assert weights.DEFAULT_URL.endswith("/models/pretrained/version-RFB-320.pth")
