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

from facedge.base.errors import FacedgeError
from facedge.base.sizes import parse_size
from facedge.base.model_dir import DEFAULT_MODEL
from facedge.runtime.camera.app import DEFAULT_THREADS


def _size(text):
    try:
        w, h = parse_size(text)
    except FacedgeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    if w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be even (camera streams need it)")
    return w, h


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
    p.add_argument("--score-threshold", type=float, default=None, help="minimum face score (default: the runtime's)")
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
    from facedge.runtime.detector import add_bf16_argument

    add_bf16_argument(p)


def run(args, detector=None):
    """`detector` replaces the one made from args.model (tests pass a stand-in)."""
    from facedge.runtime.camera.app import run_camera

    return run_camera(args.model, source=args.source, size=args.size, threads=args.threads, input_size=args.input_size,
                      score_threshold=args.score_threshold, serve=args.serve, token=args.token, no_auth=args.no_auth,
                      max_clients=args.max_clients, json_lines=args.json, record=args.record,
                      window=not args.no_window, realtime=args.realtime, loop=args.loop, max_frames=args.max_frames,
                      duration=args.duration, detector=detector, bf16=args.bf16)
