"""HTTP helpers for the `--serve` tests: a GET with headers, an MJPEG stream read
part by part with the time each part arrived, and `facedge camera --serve` run as
a subprocess (with the stand-in detector) whose printed URL is parsed."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

import facedge

TESTS = Path(__file__).resolve().parent
FACEDGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(facedge.__file__)))


def get(host, port, path, headers=None, timeout=5.0):
    """(status, response headers, body) of one GET."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


class MjpegStream:
    """GET /stream.mjpg; `status` and `headers` at once, then `next_part()`."""

    def __init__(self, host, port, path="/stream.mjpg", headers=None, timeout=5.0):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.boundary = (self.response.getheader("Content-Type") or "").partition("boundary=")[2]

    def next_part(self):
        """(arrival time.monotonic(), JPEG bytes) of the next part."""
        fp = self.response.fp
        line = fp.readline()
        assert line == f"--{self.boundary}\r\n".encode(), line
        length = None
        while (line := fp.readline()) != b"\r\n":
            key, _, value = line.decode().partition(":")
            if key.strip().lower() == "content-length":
                length = int(value)
        jpeg = fp.read(length)
        assert fp.read(2) == b"\r\n"
        return time.monotonic(), jpeg

    def next_image(self):
        t, jpeg = self.next_part()
        return t, cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)

    def close(self):
        self.response.close()  # the socket closes only once the response's file lets go of it too
        self.conn.close()


def camera_env(**extra):
    env = dict(os.environ, FACEDGE_PROGRESS="0", PYTHONUNBUFFERED="1", **extra)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("FACEDGE_CAMERA_TOKEN", None)
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (FACEDGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


_URL = re.compile(r"(http://[^\s/]+/)(?:\?token=([A-Za-z0-9._~-]+))?")


class ServedCamera:
    """`facedge camera ARGS` (stand-in detector) running until stop(); `url`, `host`,
    `port` and `token` (None without one) from the line it prints; `stderr` lines
    are collected as they come."""

    url = host = port = token = None

    def __init__(self, args, cwd, env=None, fake_picamera2=False, wait_s=60.0):
        command = [sys.executable, str(TESTS / "camera_fakes.py"), *(["--fake-picamera2"] if fake_picamera2 else []),
                   "--", *map(str, args)]
        self.proc = subprocess.Popen(command, cwd=cwd, env=env or camera_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.stderr = []
        self._served = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._served.wait(wait_s) or self.url is None:
            self.stop()
            raise AssertionError("no 'serving on' line:\n" + "".join(self.stderr))

    def _read(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            urls = _URL.findall(line) if "serving on" in line else []
            if urls and self.url is None:
                self.url = urls[0][0]
                self.token = next((token for _, token in urls if token), None)
                parts = urlsplit(self.url)
                self.host, self.port = parts.hostname, parts.port
                self._served.set()
        self._served.set()

    def get(self, path, headers=None):
        return get(self.host, self.port, path, headers)

    def stream(self, path="/stream.mjpg", headers=None):
        return MjpegStream(self.host, self.port, path, headers)

    def stats(self):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        status, _, body = self.get("/stats.json", headers)
        assert status == 200, status
        return json.loads(body)

    def wait_for_viewers(self, n, timeout=10.0):
        """Until the server counts `n` stream clients (a closed one is noticed within a second)."""
        deadline = time.monotonic() + timeout
        while (viewers := self.stats()["viewers"]) != n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert viewers == n, viewers

    def stop(self, sig=signal.SIGINT, timeout=30):
        """Stop it as Ctrl-C does; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode
