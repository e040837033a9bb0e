"""`facedge camera`: faces boxed live from a camera, a video file or a stream.

    facedge camera [MODEL] [--source picamera2|N|/dev/videoN|FILE|URL]
                   [--serve [HOST:]PORT [--token T | --no-auth] [--max-clients N]]
                   [--json] [--record FILE] [--no-window] [--realtime | --no-realtime] [--loop]
                   [--max-frames N] [--duration S]

Outputs combine: a window when there is a display, a web page with the live
stream (--serve), JSON lines on stdout (--json), an annotated video (--record).
Ctrl-C or SIGTERM stops cleanly: the camera is released and the recording
finished; that is a normal end and exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from facedge.runtime.errors import FacedgeError

DEFAULT_MODEL = "version-RFB-320"
# The detector's threads spin between layers; one core is left to capture, draw
# and encode, or those would take turns with the detector on every core.
DEFAULT_THREADS = max(1, min(4, (os.cpu_count() or 1) - 1))


def _size(text):
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 640x480")
    if int(w) % 2 or int(h) % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be even (camera streams need it)")
    return int(w), int(h)


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a positive {'integer' if kind is int else 'number'}")
        return value
    return parse


def configure_parser(p):
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL,
                   help=f"model directory or cached model name (default: {DEFAULT_MODEL})")
    p.add_argument("--source", default=None,
                   help="picamera2[:N], a camera number, /dev/videoN, a video file or a stream URL "
                        "(default: picamera2 when it finds a Raspberry Pi camera, else camera 0)")
    p.add_argument("--size", type=_size, default=None, metavar="WxH",
                   help="frame size asked of the camera: picamera2's main stream (default 640x480, or the model "
                        "input if larger) or a USB camera's (default: its own)")
    p.add_argument("--threads", type=_positive(int), default=DEFAULT_THREADS,
                   help=f"detector threads (default here: {DEFAULT_THREADS}, one fewer than the cores and at most 4, "
                        "leaving a core to capture, draw and encode)")
    p.add_argument("--input-size", type=_size, default=None, metavar="WxH",
                   help="detector input size (default: the model's); picamera2's small stream is made this size")
    p.add_argument("--score-threshold", type=float, default=0.6, help="minimum face score (default 0.6)")
    p.add_argument("--serve", default=None, metavar="[HOST:]PORT",
                   help="serve a web page with the live stream and numbers; binds 127.0.0.1 unless HOST is given "
                        "(0.0.0.0:8000 for other machines on the network)")
    p.add_argument("--token", default=None, metavar="TOKEN",
                   help="the token --serve asks for, at least 16 characters (default: $FACEDGE_CAMERA_TOKEN, else "
                        "a random one for each run whenever HOST is not 127.0.0.1, printed in a ready URL)")
    p.add_argument("--no-auth", action="store_true",
                   help="serve without a token even on the network: anyone who reaches it sees the camera")
    p.add_argument("--max-clients", type=int, default=None, metavar="N",
                   help="stream viewers at once (default 4); the next one gets 503 'busy'")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=None,
                   help="video files: hand frames out at the file's frame rate, like a camera (default: on when "
                        "serving or showing a window, off for --json/--record runs, which then get every frame fast)")
    p.add_argument("--loop", action="store_true", help="video files: start again at the end")
    p.add_argument("--json", action="store_true", help="print one JSON line per frame with its detections on stdout")
    p.add_argument("--record", default=None, metavar="FILE", help="write the annotated video to FILE (.mp4 or .avi)")
    p.add_argument("--no-window", action="store_true", help="no window even when a display exists")
    p.add_argument("--max-frames", type=_positive(int), default=None, metavar="N", help="stop after N frames")
    p.add_argument("--duration", type=_positive(float), default=None, metavar="S", help="stop after S seconds")


def _make_detector(args):
    import facedge

    return facedge.Detector(args.model, threads=args.threads, input_size=args.input_size,
                            score_threshold=args.score_threshold)


def _serve_options(args):
    """--serve's (host, port, token, token origin, max clients), checked before
    anything is opened; one-line errors for bad values."""
    from facedge.runtime.camera_auth import choose_token
    from facedge.runtime.camera_server import DEFAULT_MAX_CLIENTS, parse_serve

    if not args.serve:
        for given, flag in ((args.token is not None, "--token"), (args.no_auth, "--no-auth"),
                            (args.max_clients is not None, "--max-clients")):
            if given:
                raise FacedgeError(f"{flag}: only with --serve")
        return None
    host, port = parse_serve(args.serve)
    if args.max_clients is not None and args.max_clients < 1:
        raise FacedgeError(f"--max-clients {args.max_clients}: expected at least 1 (stream viewers at once)")
    token, origin = choose_token(host, token=args.token, no_auth=args.no_auth)
    return host, port, token, origin, args.max_clients or DEFAULT_MAX_CLIENTS


def _open_outputs(args, source, serve, log):
    from facedge.runtime.camera_outputs import JsonLinesOutput, Recorder, WindowOutput, display_available
    from facedge.runtime.camera_server import StreamServer

    outputs = []
    try:
        if args.record:
            outputs.append(Recorder(args.record, fps=None if source.live else (source.fps or 30.0)))
        if serve:
            host, port, token, origin, max_clients = serve
            server = StreamServer(host, port, title=f"facedge camera: {source.name}", token=token,
                                  token_origin=origin, max_clients=max_clients)
            outputs.append(server)
            _use_camera_encoder(source, server, outputs, log)
        if args.json:
            outputs.append(JsonLinesOutput())
        if not args.no_window and display_available():
            try:
                outputs.append(WindowOutput(f"facedge camera: {source.name}"))
            except FacedgeError as e:
                log(f"no window: {e}")
    except BaseException:
        _close_outputs(outputs, log)
        raise
    if not outputs:
        log("no display and no output asked for: printing numbers only (--serve 0.0.0.0:8000 shows the "
            "stream in a browser, --json prints detections, --record FILE saves a video)")
    return outputs


def _use_camera_encoder(source, server, outputs, log):
    """A Pi camera streams through the VideoCore's JPEG encoder where there is one."""
    from facedge.runtime.camera_hw_mjpeg import CameraMjpegStream, hardware_mjpeg_unavailable
    from facedge.runtime.camera_sources import Picamera2Source

    if not isinstance(source, Picamera2Source):
        return
    why = hardware_mjpeg_unavailable()
    if why:
        log(f"--serve: {why}; encoding JPEGs with OpenCV on the CPU")
        return
    stream = CameraMjpegStream(server, log)
    outputs.append(stream)
    source.add_camera_stream(stream)
    log(f"--serve: JPEGs from the {server.encoder}")


def _play_options(args, source, outputs, log):
    """--realtime / --loop for a file; a note when they cannot apply. Then the
    line that says what the source is, and the stats page's words for it."""
    from facedge.runtime.camera_outputs import Recorder, WindowOutput
    from facedge.runtime.camera_server import StreamServer

    if source.live:
        if args.realtime is not None:
            flag = "--realtime" if args.realtime else "--no-realtime"
            log(f"{flag}: {source.name} is live, its frames come at its own pace; ignored")
        if args.loop:
            log(f"--loop: {source.name} is live; ignored")
    elif hasattr(source, "realtime"):
        watched = any(isinstance(out, (StreamServer, WindowOutput)) for out in outputs)
        source.realtime = watched if args.realtime is None else args.realtime
        source.loop = args.loop
        for out in outputs:
            if isinstance(out, Recorder) and source.realtime:
                out.fps = None  # frames the detector had no time for are skipped: measure the rate, as live
    details = source.mode
    if getattr(source, "realtime", False):
        rate = f"{source.fps:g} fps" if source.fps else f"{source.pace_fps:g} fps (the file gives no frame rate)"
        details += f" at {rate}"
    if getattr(source, "loop", False):
        details += ", looping"
    return details


def _announce_server(source, outputs):
    """The stats page's word for the source, then the ready URL: once everything is set."""
    from facedge.runtime.camera_server import StreamServer, print_serving

    for out in outputs:
        if isinstance(out, StreamServer):
            out.info["source"] = source.mode
            print_serving(out, token_origin=out.token_origin)


def _close_outputs(outputs, log):
    from facedge.runtime.camera_outputs import Recorder

    for out in outputs:
        try:
            result = out.close()
            if isinstance(out, Recorder):
                log(f"recorded {out.frames} frames to {result}" if result else f"nothing recorded to {out.path}")
        except Exception as e:  # one output failing to close must not keep the others open
            log(f"closing {type(out).__name__}: {e}")


class _StopOnSignal:
    """Ctrl-C and SIGTERM set `stop`, so the run ends cleanly; a second Ctrl-C
    interrupts at once (for a device that hangs)."""

    def __init__(self, stop, log):
        self.stop, self.log, self.previous = stop, log, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        self.log(f"{signal.Signals(signum).name}: stopping (Ctrl-C again to force)")

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run(args, detector=None):
    """`detector` replaces the one made from args.model (tests pass a stand-in);
    its `input_size` is the size picamera2's small stream is made."""
    from facedge.runtime.camera_pipeline import _log_stderr as log
    from facedge.runtime.camera_pipeline import run_pipeline
    from facedge.runtime.camera_sources import make_source

    serve = _serve_options(args)
    stop = threading.Event()
    # From here on Ctrl-C stops cleanly, also while starting: the run then ends at once.
    with _StopOnSignal(stop, log):
        if detector is None:
            detector = _make_detector(args)
        input_size = tuple(args.input_size or detector.input_size)
        source = make_source(args.source, lores_size=input_size, size=args.size)
        outputs = []
        try:
            outputs = _open_outputs(args, source, serve, log)
            log(f"{source.name}: {_play_options(args, source, outputs, log)}, "
                f"detector input {input_size[0]}x{input_size[1]}")
            _announce_server(source, outputs)
        except BaseException:
            source.close()
            _close_outputs(outputs, log)
            raise
        try:
            summary = run_pipeline(source, detector, outputs, stop=stop, max_frames=args.max_frames,
                                   duration=args.duration, log=log, status_every_s=5.0)
        finally:
            _close_outputs(outputs, log)
    log(f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps), "
        f"mean latency {summary.mean_latency_ms:.0f} ms, {summary.dropped} frames dropped to stay current")
    return 0

