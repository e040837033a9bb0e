"""`facedge camera` as a library call: opens the source and the outputs asked for,
runs the pipeline until the source ends, a limit is reached or Ctrl-C / SIGTERM,
and closes everything, whatever happened."""

from __future__ import annotations

import os
import signal
import threading

from facedge.base.errors import FacedgeError

DEFAULT_MODEL = "version-RFB-320"
# The detector's threads spin between layers; one core is left to capture, draw
# and encode, or those would take turns with the detector on every core.
DEFAULT_THREADS = max(1, min(4, (os.cpu_count() or 1) - 1))


def run_camera(model=DEFAULT_MODEL, source=None, size=None, threads=DEFAULT_THREADS, input_size=None,
               score_threshold=None, serve=None, json_lines=False, record=None, window=True, max_frames=None,
               duration=None, detector=None) -> int:
    """`detector` replaces the one made from `model` (tests pass a stand-in); its
    `input_size` is the size picamera2's small stream is made. score_threshold None:
    the runtime's default."""
    from facedge.runtime.camera.pipeline import _log_stderr as log
    from facedge.runtime.camera.pipeline import run_pipeline
    from facedge.runtime.camera.sources import make_source

    if detector is None:
        import facedge

        detector = facedge.Detector(model, threads=threads, input_size=input_size, score_threshold=score_threshold)
    input_size = tuple(input_size or detector.input_size)
    source = make_source(source, lores_size=input_size, size=size)
    log(f"{source.name}: {'live' if source.live else 'file'}, detector input {input_size[0]}x{input_size[1]}")
    stop = threading.Event()
    try:
        outputs = _open_outputs(source, log, serve=serve, json_lines=json_lines, record=record, window=window)
    except BaseException:
        source.close()
        raise
    try:
        with _StopOnSignal(stop, log):
            summary = run_pipeline(source, detector, outputs, stop=stop, max_frames=max_frames,
                                   duration=duration, log=log, status_every_s=5.0)
    finally:
        _close_outputs(outputs, log)
    log(f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps), "
        f"mean latency {summary.mean_latency_ms:.0f} ms, {summary.dropped} frames dropped to stay current")
    return 0


def _open_outputs(source, log, serve, json_lines, record, window):
    from facedge.runtime.camera.outputs import JsonLinesOutput, Recorder, WindowOutput, display_available
    from facedge.runtime.camera.server import StreamServer, parse_serve, print_serving

    outputs = []
    try:
        if record:
            outputs.append(Recorder(record, fps=None if source.live else (source.fps or 30.0)))
        if serve:
            server = StreamServer(*parse_serve(serve), title=f"facedge camera: {source.name}")
            outputs.append(server)
            print_serving(server)
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
