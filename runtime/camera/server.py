"""`--serve`: the live picture and numbers for a browser, for a Pi without a screen.

    /             an HTML page: the stream, and numbers refreshed from /stats.json
    /stream.mjpg  multipart/x-mixed-replace MJPEG of the annotated frames
    /stats.json   the latest numbers (frames, fps, latency_ms, faces, source, encoder, ...)

Standard library only (http.server), one thread per client. The pipeline never
waits for the web: `write()` only leaves the newest frame and numbers behind.
JPEG encoding runs in the server's own thread, only while someone watches the
stream, and only for the newest frame; every client sends the newest JPEG when it
is ready for one, so a slow client skips frames instead of queueing them. A
camera with its own JPEG encoder (picamera2's MJPEGEncoder on a Pi 4) hands its
JPEGs in through `put_jpeg()` instead, and nothing is encoded on the CPU.

Safe on a network (see auth.py for the token):
- with a token, every route answers 403 without it, with no detail;
- at most `max_clients` streams at once; the next viewer gets 503 at once;
- a client that stops reading is dropped after `client_timeout_s` (its writes
  time out), without stalling the pipeline or the other clients; an idle or
  half-sent request is dropped after the same time;
- request lines and headers are read with fixed bounds (414, 431), and at most
  `max_clients + 32` connections are open at once (beyond that: 503, closed).
"""

from __future__ import annotations

import html
import io
import json
import select
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from facedge.base.errors import FacedgeError
from facedge.runtime.camera.auth import TokenCheck

JPEG_QUALITY = 80
BOUNDARY = "facedgeframe"
CPU_ENCODER = "OpenCV cv2.imencode (CPU)"
DEFAULT_MAX_CLIENTS = 4
CLIENT_TIMEOUT_S = 10.0
# The page's own URLs are under 100 bytes and a browser's headers under 2 KB.
MAX_REQUEST_LINE = 2048
MAX_HEADER_BYTES = 8192
MAX_HEADER_LINES = 64
# Connections beyond the streams: page loads, stats polls, a browser's spare sockets.
SPARE_CONNECTIONS = 32


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
    """`token`: None serves everyone; a string is asked of every request.
    `token_origin`: where the user's token came from (e.g. "--token"), so that
    it is not printed; None for one made for this run."""

    def __init__(self, host="127.0.0.1", port=0, title="facedge camera", token=None, token_origin=None,
                 max_clients=DEFAULT_MAX_CLIENTS, client_timeout_s=CLIENT_TIMEOUT_S):
        if max_clients < 1:
            raise FacedgeError(f"--max-clients {max_clients}: expected at least 1 stream client")
        self.title = title
        self.max_clients = max_clients
        self.client_timeout_s = client_timeout_s
        self.info = {}  # more numbers for /stats.json, e.g. {"source": "file (realtime)"}
        self.encoder = CPU_ENCODER
        self._cond = threading.Condition()
        self._stats = {}
        self._pending = None  # newest annotated frame not yet encoded
        self._external = False  # JPEGs come from put_jpeg(), not from encoding write()'s frames
        self._jpeg = None
        self._jpeg_seq = 0
        self._stream_clients = 0
        self._closing = False
        self.stats_requests = 0
        self.refused = {403: 0, 503: 0}
        try:
            self._httpd = _http_server_class(host)((host, port), _make_handler(self))
        except OSError as e:
            raise FacedgeError(f"--serve {host}:{port}: cannot listen ({e.strerror or e})") from e
        self._httpd.max_connections = max_clients + SPARE_CONNECTIONS
        self.host, self.port = self._httpd.server_address[:2]
        self.token, self.token_origin = token, token_origin
        self._auth = TokenCheck(token, self.port) if token is not None else None
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
            if self._stream_clients and not self._external:
                self._pending = image.copy()  # the image's buffer goes back to the camera after this call
                self._cond.notify_all()

    def take_jpegs_from(self, encoder_name):
        """From now on the JPEGs come from put_jpeg() (a hardware encoder), named so on the stats page."""
        with self._cond:
            self._external, self._pending, self.encoder = True, None, encoder_name

    def encode_on_cpu(self):
        """Back to encoding write()'s frames with OpenCV (the hardware encoder went away)."""
        with self._cond:
            self._external, self.encoder = False, CPU_ENCODER

    def put_jpeg(self, data):
        """A finished JPEG from an external encoder; the newest one is what clients get."""
        with self._cond:
            if self._external and not self._closing:
                self._jpeg, self._jpeg_seq = bytes(data), self._jpeg_seq + 1
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
                    if not self._external:
                        self._jpeg, self._jpeg_seq = jpeg.tobytes(), self._jpeg_seq + 1
                        self._cond.notify_all()

    def _next_jpeg(self, after_seq, wait_s):
        """The newest JPEG newer than `after_seq` and its number, waiting up to
        `wait_s` for it; (None, after_seq) after that or when closing."""
        with self._cond:
            self._cond.wait_for(lambda: self._jpeg_seq > after_seq or self._closing, wait_s)
            if self._closing or self._jpeg_seq <= after_seq:
                return None, after_seq
            return self._jpeg, self._jpeg_seq

    def _join_stream(self):
        """Take a stream place: the number of the JPEG to send after (the newest
        one is sent at once unless it is stale), or None when all `max_clients`
        places are taken."""
        with self._cond:
            if self._stream_clients >= self.max_clients:
                self.refused[503] += 1
                return None
            # Frames are encoded on the CPU only while someone watches: the JPEG
            # left from the last viewer may be minutes old.
            stale = not self._external and self._stream_clients == 0
            self._stream_clients += 1
            return self._jpeg_seq if stale else max(self._jpeg_seq - 1, 0)

    def _leave_stream(self):
        with self._cond:
            self._stream_clients -= 1

    @property
    def stream_clients(self):
        with self._cond:
            return self._stream_clients

    def _stats_body(self):
        with self._cond:
            self.stats_requests += 1
            numbers = {**self._stats, **self.info, "encoder": self.encoder, "viewers": self._stream_clients}
        return json.dumps(numbers).encode()

    def _forbidden(self):
        with self._cond:
            self.refused[403] += 1


def _http_server_class(host):
    return _BoundedHTTPServer6 if ":" in host else _BoundedHTTPServer


class _BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, but no more than `max_connections` at once: the
    next one gets a short 503 and is closed, so no number of sockets opened from
    the network makes the Pi start thousands of threads."""

    daemon_threads = True
    max_connections = DEFAULT_MAX_CLIENTS + SPARE_CONNECTIONS
    # socketserver's default backlog of 5 drops the SYNs of a browser opening a
    # few sockets at once, which then wait a second for their retry.
    request_queue_size = 64

    def __init__(self, *args, **kwargs):
        self._open = 0
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._open_lock:
            full = self._open >= self.max_connections
            if not full:
                self._open += 1
        if full:
            try:  # never block the accepting thread on this client
                request.setblocking(False)
                request.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._closed_one()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._closed_one()

    def _closed_one(self):
        with self._open_lock:
            self._open -= 1


class _BoundedHTTPServer6(_BoundedHTTPServer):
    address_family = socket.AF_INET6


def _make_handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Applied to the socket by setup(): reads of a request and writes of the
        # stream that take longer end the connection.
        timeout = server.client_timeout_s

        def handle_one_request(self):
            """BaseHTTPRequestHandler's, with bounded request line and headers."""
            # What parse_request would set, for answers refused before it runs.
            self.command, self.requestline, self.request_version = None, "", "HTTP/1.1"
            try:
                line = self.rfile.readline(MAX_REQUEST_LINE + 1)
                if not line:
                    self.close_connection = True
                    return
                if len(line) > MAX_REQUEST_LINE or not line.endswith(b"\n"):
                    self._refuse(414, "URI Too Long")
                    return
                head = self._read_head()
                if head is None:
                    self._refuse(431, "Request Header Fields Too Large")
                    return
                self.raw_requestline = line
                self.rfile, socket_file = io.BytesIO(head), self.rfile
                try:
                    parsed = self.parse_request()  # reads the headers from `head`
                finally:
                    self.rfile = socket_file
                if not parsed:
                    return
                if self.command != "GET":
                    self._refuse(405, "Method Not Allowed", [("Allow", "GET")])
                    return
                self.do_GET()
                self.wfile.flush()
            except OSError:  # a timeout (idle or too slow), or the client went away
                self.close_connection = True

        def _read_head(self):
            """The header lines up to the blank line, or None past the bounds."""
            lines, size = [], 0
            while True:
                line = self.rfile.readline(MAX_HEADER_BYTES - size + 1)
                if not line:
                    raise ConnectionResetError("closed in the middle of its request")
                size += len(line)
                if size > MAX_HEADER_BYTES or len(lines) >= MAX_HEADER_LINES:
                    return None
                lines.append(line)
                if line in (b"\r\n", b"\n"):
                    return b"".join(lines)

        def _refuse(self, code, reason, headers=()):
            self.close_connection = True
            self.send_response(code, reason)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        def do_GET(self):
            path, _, query = self.path.partition("?")
            auth = server._auth
            if auth is not None and not auth.allows(query, self.headers):
                server._forbidden()
                self._send(403, "text/plain; charset=utf-8", b"forbidden\n")  # no word on why
                return
            if path == "/":
                token = auth.query_token(query) if auth is not None else None
                if auth is not None and auth.matches(token):
                    # Keep the token in a cookie and take it out of the address bar.
                    self._send(303, "text/plain; charset=utf-8", b"", [("Location", "/"),
                                                                       ("Set-Cookie", auth.set_cookie(token))])
                else:
                    self._send(200, "text/html; charset=utf-8", _page(server.title).encode())
            elif path == "/stats.json":
                self._send(200, "application/json", server._stats_body())
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, code, content_type, body, headers=()):
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _stream(self):
            self.close_connection = True
            seq = server._join_stream()
            if seq is None:
                self._send(503, "text/plain; charset=utf-8",
                           f"{server.max_clients} viewers already; try again later\n".encode(),
                           [("Retry-After", "10"), ("Connection", "close")])
                return
            try:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                while not server._closing:
                    jpeg, seq = server._next_jpeg(seq, wait_s=0.5)
                    if self._client_gone():
                        return  # its place is free at once, not after the next failed write
                    if jpeg is None:
                        continue
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode())
                    self.wfile.write(jpeg)
                    self.wfile.write(b"\r\n")
                    self.wfile.flush()
            except OSError:
                return  # the browser went away, or stopped reading for client_timeout_s (a timeout)
            finally:
                server._leave_stream()

        def _client_gone(self):
            """True once the client closed its end (a stream client sends nothing after its request)."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def log_message(self, format, *args):  # no access log on stderr
            pass

    return Handler


def _page(title):
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
 body {{ margin: 0; background: #111; color: #eee; font: 16px system-ui, sans-serif; }}
 header {{ padding: 8px 12px; }}
 #numbers span {{ margin-right: 1.5em; }}
 #numbers b {{ font-variant-numeric: tabular-nums; }}
 #about {{ color: #999; font-size: 13px; }}
 img {{ display: block; max-width: 100%; height: auto; }}
</style></head>
<body>
<header id="numbers">
 <span><b id="fps">-</b> FPS</span><span><b id="latency_ms">-</b> ms latency</span>
 <span><b id="faces">-</b> faces</span><span id="classes"></span><span><b id="frames">-</b> frames</span>
 <span id="state">connecting</span>
 <div id="about"><span id="source"></span><span id="encoder"></span></div>
</header>
<img id="stream" src="/stream.mjpg" alt="live camera stream">
<script>
let updates = 0;
async function refresh() {{
  const state = document.getElementById("state");
  try {{
    const r = await fetch("/stats.json", {{cache: "no-store"}});
    if (r.status === 403) {{
      state.textContent = "no access: open the address with ?token= that facedge camera printed";
      return;
    }}
    const s = await r.json();
    for (const k of ["fps", "latency_ms", "faces", "frames"]) {{
      if (k in s) document.getElementById(k).textContent = k === "fps" ? s[k].toFixed(1) : Math.round(s[k]);
    }}
    if ("source" in s) document.getElementById("source").textContent = "source: " + s.source;
    if ("encoder" in s) document.getElementById("encoder").textContent = "JPEG encoder: " + s.encoder;
    // a multi-class model (e.g. face / mask): the faces of each class
    const classes = s.classes || {{}};
    document.getElementById("classes").textContent = Object.keys(classes).length > 1
      ? "(" + Object.entries(classes).map(([name, n]) => n + " " + name).join(", ") + ")" : "";
    updates += 1;
    document.body.dataset.updates = updates;
    state.textContent = "live";
  }} catch (e) {{
    state.textContent = "camera stopped";
  }}
}}
refresh();
setInterval(refresh, 500);
</script>
</body></html>
"""


def lan_address():
    """This machine's address on its default route (no packet is sent), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def serving_message(server, token_origin=None):
    """The line that says where to watch. A token made for this run is printed
    once, inside a ready URL; one the user gave (`token_origin`, e.g. "--token")
    is not repeated into logs."""
    port = server.port
    if server.host in ("0.0.0.0", "::"):
        here = lan_address()
        base = f"http://{here or '<this machine>'}:{port}/"
        where = f"all interfaces, port {port}"
    else:
        base = server.url
        where = base
    if server.token is None:
        if server.host in ("127.0.0.1", "::1"):
            return f"serving on {where}"
        return (f"serving on {where} WITHOUT a token (--no-auth): anyone who can reach this address sees the camera"
                + (f"; open {base}" if where != base else ""))
    if token_origin:
        return f"serving on {where}; open {base}?token=<the token from {token_origin}> (the browser then keeps it)"
    return f"serving on {where}; open {base}?token={server.token}"


def print_serving(server, token_origin=None):
    print(f"facedge camera: {serving_message(server, token_origin)}", file=sys.stderr, flush=True)
