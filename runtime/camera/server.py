"""`--serve`: the live picture and numbers for a browser, for a Pi without a screen.

    /             an HTML page: the stream, and numbers refreshed from /stats.json
    /stream.mjpg  multipart/x-mixed-replace MJPEG of the annotated frames
    /stats.json   the latest numbers (frames, fps, latency_ms, faces, ...)

Standard library only (http.server), one thread per client. The pipeline never
waits for the web: `publish()` only leaves the newest frame and numbers behind.
JPEG encoding runs in the server's own thread, only while someone watches the
stream, and only for the newest frame; every client sends the newest JPEG when it
is ready for one, so a slow client skips frames instead of queueing them.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from facedge.base.errors import FacedgeError

JPEG_QUALITY = 80
BOUNDARY = "facedgeframe"


def parse_serve(text):
    """'PORT', ':PORT' or 'HOST:PORT' -> (host, port); the host defaults to
    127.0.0.1 so the camera is not on the network unless asked for."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise FacedgeError(f"--serve {text}: expected PORT or HOST:PORT (e.g. 8000 or 0.0.0.0:8000)")
    return host, int(port)


class StreamServer:
    def __init__(self, host="127.0.0.1", port=0, title="facedge camera"):
        self.title = title
        self._cond = threading.Condition()
        self._stats = {}
        self._stats_json = b"{}"
        self._pending = None  # newest annotated frame not yet encoded
        self._jpeg = None
        self._jpeg_seq = 0
        self._stream_clients = 0
        self._closing = False
        self.stats_requests = 0
        server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
        try:
            self._httpd = server_class((host, port), _make_handler(self))
        except OSError as e:
            raise FacedgeError(f"--serve {host}:{port}: cannot listen ({e.strerror or e})") from e
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[:2]
        self._threads = [threading.Thread(target=self._httpd.serve_forever, name="facedge-http", daemon=True),
                         threading.Thread(target=self._encode_loop, name="facedge-jpeg", daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # --- the pipeline side -----------------------------------------------------------

    def write(self, image, report):
        """Pipeline output: keep the newest numbers, and the frame if anyone watches."""
        stats = {k: v for k, v in report.items() if k != "detections"}
        with self._cond:
            self._stats = stats
            self._stats_json = json.dumps(stats).encode()
            if self._stream_clients:
                self._pending = image.copy()  # the image's buffer goes back to the camera after this call
                self._cond.notify_all()

    def close(self):
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        for t in self._threads:
            t.join(timeout=2.0)

    # --- the server side ---------------------------------------------------------------

    def _encode_loop(self):
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                image, self._pending = self._pending, None
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                with self._cond:
                    self._jpeg, self._jpeg_seq = jpeg.tobytes(), self._jpeg_seq + 1
                    self._cond.notify_all()

    def _next_jpeg(self, after_seq):
        """The newest JPEG newer than `after_seq`, waiting for it; None when closing."""
        with self._cond:
            while self._jpeg_seq <= after_seq and not self._closing:
                self._cond.wait(1.0)
            if self._closing:
                return None, after_seq
            return self._jpeg, self._jpeg_seq

    def _client_joined(self, delta):
        with self._cond:
            self._stream_clients += delta

    def _stats_body(self):
        with self._cond:
            self.stats_requests += 1
            return self._stats_json


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _make_handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, "text/html; charset=utf-8", _page(server.title).encode())
            elif path == "/stats.json":
                self._send(200, "application/json", server._stats_body())
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, code, content_type, body):
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _stream(self):
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            server._client_joined(+1)
            seq = 0
            try:
                while True:
                    jpeg, seq = server._next_jpeg(seq)
                    if jpeg is None:
                        return
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode())
                    self.wfile.write(jpeg)
                    self.wfile.write(b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the browser went away
            finally:
                server._client_joined(-1)

        def log_message(self, format, *args):  # no access log on stderr
            pass

    return Handler


def _page(title):
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 body {{ margin: 0; background: #111; color: #eee; font: 16px system-ui, sans-serif; }}
 header {{ padding: 8px 12px; }}
 #numbers span {{ margin-right: 1.5em; }}
 #numbers b {{ font-variant-numeric: tabular-nums; }}
 img {{ display: block; max-width: 100%; height: auto; }}
</style></head>
<body>
<header id="numbers">
 <span><b id="fps">-</b> FPS</span><span><b id="latency_ms">-</b> ms latency</span>
 <span><b id="faces">-</b> faces</span><span><b id="frames">-</b> frames</span>
 <span id="state">connecting</span>
</header>
<img id="stream" src="/stream.mjpg" alt="live camera stream">
<script>
let updates = 0;
async function refresh() {{
  try {{
    const r = await fetch("/stats.json", {{cache: "no-store"}});
    const s = await r.json();
    for (const k of ["fps", "latency_ms", "faces", "frames"]) {{
      if (k in s) document.getElementById(k).textContent = k === "fps" ? s[k].toFixed(1) : Math.round(s[k]);
    }}
    updates += 1;
    document.body.dataset.updates = updates;
    document.getElementById("state").textContent = "live";
  }} catch (e) {{
    document.getElementById("state").textContent = "camera stopped";
  }}
}}
refresh();
setInterval(refresh, 500);
</script>
</body></html>
"""


def print_serving(server):
    where = server.url
    if server.host in ("0.0.0.0", "::"):
        where += " (all interfaces: open http://<this Pi's address>:%d/ from another machine)" % server.port
    print(f"facedge camera: serving on {where}", file=sys.stderr, flush=True)
