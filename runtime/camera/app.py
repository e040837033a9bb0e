"""`facedge camera` as a library call: opens the source and the outputs asked for,
runs the pipeline until the source ends, a limit is reached or Ctrl-C / SIGTERM,
and closes everything, whatever happened."""

from __future__ import annotations

import signal
import threading

from facedge.base.errors import FacedgeError
from facedge.base.model_dir import DEFAULT_MODEL
from facedge.runtime.cores import default_threads

# The detector's threads spin between layers; one core is left to capture, draw
# and encode, or those would take turns with the detector on every core. The cores
# counted are the usable ones (CPU affinity, a container's quota), at most 4 used.
DEFAULT_THREADS = default_threads(reserve=1)


def run_camera(model=DEFAULT_MODEL, source=None, size=None, threads=DEFAULT_THREADS, input_size=None,
               score_threshold=None, serve=None, token=None, no_auth=False, max_clients=None, json_lines=False,
               record=None, window=True, realtime=None, loop=False, max_frames=None, duration=None,
               detector=None, bf16=None) -> int:
    """`detector` replaces the one made from `model` (tests pass a stand-in); its
    `input_size` is the size picamera2's small stream is made. score_threshold None:
    the runtime's default. `serve`: "[HOST:]PORT"; `token`, `no_auth`, `max_clients`
    as --token, --no-auth, --max-clients. `realtime`: play a file at its frame rate
    (None: when someone watches); `loop`: start a file again at its end. `bf16`: the
    detector's bf16 storage, as facedge.Detector takes it (None: its default)."""
    from facedge.runtime.camera.pipeline import _log_stderr as log
    from facedge.runtime.camera.pipeline import run_pipeline
    from facedge.runtime.camera.sources import make_source

    serving = _serve_options(serve, token, no_auth, max_clients)
    stop = threading.Event()
    # From here on Ctrl-C stops cleanly, also while starting: the run then ends at once.
    with _StopOnSignal(stop, log):
        if detector is None:
            import facedge

            detector = facedge.Detector(model, threads=threads, input_size=input_size,
                                        score_threshold=score_threshold, bf16=bf16)
        input_size = tuple(input_size or detector.input_size)
        source = make_source(source, lores_size=input_size, size=size)
        outputs = []
        try:
            outputs = _open_outputs(source, log, serving=serving, json_lines=json_lines, record=record,
                                    window=window)
            log(f"{source.name}: {_play_options(source, outputs, realtime, loop, log)}, "
                f"detector input {input_size[0]}x{input_size[1]}"
                + (f", {detector.precision}" if hasattr(detector, "precision") else ""))
            _announce_server(source, outputs)
        except BaseException:
            source.close()
            _close_outputs(outputs, log)
            raise
        try:
            summary = run_pipeline(source, detector, outputs, stop=stop, max_frames=max_frames,
                                   duration=duration, log=log, status_every_s=5.0)
        finally:
            _close_outputs(outputs, log)
    log(f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps), "
        f"mean latency {summary.mean_latency_ms:.0f} ms, {summary.dropped} frames dropped to stay current")
    return 0


def _serve_options(serve, token, no_auth, max_clients):
    """--serve's (host, port, token, token origin, max clients), checked before
    anything is opened; one-line errors for bad values."""
    from facedge.runtime.camera.auth import choose_token
    from facedge.runtime.camera.server import DEFAULT_MAX_CLIENTS, parse_serve

    if not serve:
        for given, flag in ((token is not None, "--token"), (no_auth, "--no-auth"),
                            (max_clients is not None, "--max-clients")):
            if given:
                raise FacedgeError(f"{flag}: only with --serve")
        return None
    host, port = parse_serve(serve)
    if max_clients is not None and max_clients < 1:
        raise FacedgeError(f"--max-clients {max_clients}: expected at least 1 (stream viewers at once)")
    token, origin = choose_token(host, token=token, no_auth=no_auth)
    return host, port, token, origin, max_clients or DEFAULT_MAX_CLIENTS


def _open_outputs(source, log, serving, json_lines, record, window):
    from facedge.runtime.camera.outputs import JsonLinesOutput, Recorder, WindowOutput, display_available
    from facedge.runtime.camera.server import StreamServer

    outputs = []
    try:
        if record:
            outputs.append(Recorder(record, fps=None if source.live else (source.fps or 30.0)))
        if serving:
            host, port, token, origin, max_clients = serving
            server = StreamServer(host, port, title=f"facedge camera: {source.name}", token=token,
                                  token_origin=origin, max_clients=max_clients)
            outputs.append(server)
            _use_camera_encoder(source, server, outputs, log)
        if json_lines:
            outputs.append(JsonLinesOutput())
        if window and display_available():
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
    from facedge.runtime.camera.hw_mjpeg import CameraMjpegStream, hardware_mjpeg_unavailable
    from facedge.runtime.camera.sources import Picamera2Source

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


def _play_options(source, outputs, realtime, loop, log):
    """Applies realtime / loop to a file, with a note when they cannot apply;
    returns the words that say what the source is and how it plays."""
    from facedge.runtime.camera.outputs import Recorder, WindowOutput
    from facedge.runtime.camera.server import StreamServer

    if source.live:
        if realtime is not None:
            flag = "--realtime" if realtime else "--no-realtime"
            log(f"{flag}: {source.name} is live, its frames come at its own pace; ignored")
        if loop:
            log(f"--loop: {source.name} is live; ignored")
    elif hasattr(source, "realtime"):
        watched = any(isinstance(out, (StreamServer, WindowOutput)) for out in outputs)
        source.realtime = watched if realtime is None else realtime
        source.loop = loop
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
    from facedge.runtime.camera.server import StreamServer, print_serving

    for out in outputs:
        if isinstance(out, StreamServer):
            out.info["source"] = source.mode
            print_serving(out, token_origin=out.token_origin)


def _close_outputs(outputs, log):
    from facedge.runtime.camera.outputs import Recorder

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
