"""A STAND-IN for the `picamera2` module, for tests on machines without a Raspberry
Pi camera. It is not picamera2 and talks to no camera.

It follows the part of picamera2's documented API that facedge uses (the
Picamera2 manual, and the library's sources at github.com/raspberrypi/picamera2):

- `Picamera2.global_camera_info()`: one dict per camera with "Model", "Id", "Num";
  USB cameras have "/usb" in their Id.
- `Picamera2(camera_num)`, `create_video_configuration(main=..., lores=...)`
  (defaults as picamera2's: main XBGR8888 1280x720, lores YUV420 at main's size,
  buffer_count 6, queue True), `configure()` with picamera2's checks (even sizes,
  lores no larger than main, and on a Pi 4's VC4 ISP "lores stream must be YUV"),
  `stream_configuration(name)` with the "stride" that configure fills in,
  `start()`, `stop()`, `close()`, `cancel_all_and_flush()`.
- `capture_request(wait=None)`: a CompletedRequest the caller must `release()`;
  `wait` as a number of seconds raises TimeoutError when no frame comes.
  `request.make_array(name)` (a copy), `request.get_metadata()` with
  "SensorTimestamp" (ns, monotonic clock, start of exposure), "ExposureTime" (us)
  and "FrameDuration" (us).
- `MappedArray(request, name, reshape=True, write=True)`: a context manager whose
  `.array` is the buffer itself, no copy: RGB888 as (h, w, 3), which is B, G, R in
  memory; YUV420 as (h * 3 // 2, stride), I420 planes with the stride's padding.

What it models of a real camera, for the tests to check against:
- Pixels come from `scene(index) -> BGR image at main's size` (a dark picture with
  a white square and a red patch by default). lores is that picture scaled down
  and converted to I420, as the ISP would.
- Strides are padded to 64 bytes, as the hardware does, so code that ignores the
  stride reads sheared pictures.
- Frames come at `fps`, each with a later SensorTimestamp. With `queue=True`
  picamera2 keeps the last completed request back for the next caller, so a
  capture may return a frame that is older than one already seen:
  `stale_every=N` hands out a repeat of the previous frame (same timestamp) every
  N captures.
- Buffers are finite: with all `buffer_count` buffers held by the application
  the camera stalls, and capture_request(wait=...) times out, as a leak would.
- `unplug()` makes captures time out and `Picamera2()` fail, like a pulled cable;
  `plug()` undoes it. Everything is recorded in `Picamera2.log` and the instance
  attributes, for the tests.

Encoders, as picamera2 has them (picamera2/encoders, picamera2/outputs):
- `picamera2.encoders.MJPEGEncoder` is the VideoCore's codec (a V4L2Encoder,
  `picamera2.encoders.v4l2_encoder`) on a Pi 4 (platform "VC4"), and libav's
  software encoder (`LibavMjpegEncoder`, no V4L2Encoder) on a Pi 5 ("PISP"),
  chosen when the name is imported, as picamera2 chooses it at import time.
  Its constructor refuses to make a V4L2 one without the hardware.
- `start_encoder(encoder, output, quality=None, name=None)` gives the encoder the
  stream's size, format and stride and starts it; a V4L2 encoder refuses formats
  outside its table and fails to start when `world.codec_busy` (/dev/video11
  taken). `stop_encoder()`, `start_recording()`, `stop_recording()`.
- `FileOutput(file)` takes a file name or an io.BufferedIOBase and writes each
  encoded frame to it, then flushes, while the encoder runs.
- `post_callback(request)` runs on each new request before the encoders see it,
  and both before the application gets it, as in picamera2's process_requests.
  The stand-in camera makes a frame only when the application asks for one
  (capture_request), so the encoders get the frames the application captures,
  not every frame a free-running camera would deliver.
- The "hardware" JPEG is cv2.imencode of the stream as the request holds it when
  encoded (after post_callback); each encoder keeps its last JPEGs in `jpegs`.
"""

from __future__ import annotations

import collections
import enum
import errno
import io
import threading
import time
import types
from pathlib import Path

import cv2
import numpy as np

STRIDE_ALIGN = 64
YUV_FORMATS = {"YUV420", "YVU420", "NV12", "NV21", "YUYV", "YVYU", "UYVY", "VYUY"}
RGB_FORMATS = {"RGB888", "BGR888", "XBGR8888", "XRGB8888"}


def default_scene(index, size):
    w, h = size
    image = np.full((h, w, 3), 40, np.uint8)
    s = h // 6
    x = (index * 5) % (w - s)
    image[h // 3: h // 3 + s, x: x + s] = 255  # the "face" FakeDetector finds
    image[h - s: h, w - s: w] = (0, 0, 255)  # pure red (B, G, R) in the bottom right corner
    return image


class _World:
    """State shared by every Picamera2 instance, as the real camera is one device."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.cameras = [{"Model": "imx219", "Id": "/base/soc/i2c0mux/i2c@1/imx219@10", "Num": 0, "Location": 2}]
        self.platform = "VC4"  # a Pi 4
        self.unplugged = False
        self.fps = 60.0
        self.stale_every = None
        self.scene = default_scene
        self.codec_busy = False
        self.instances = []
        self.log = []


world = _World()


def _align(n):
    return (n + STRIDE_ALIGN - 1) // STRIDE_ALIGN * STRIDE_ALIGN


class Picamera2:
    @staticmethod
    def global_camera_info():
        return [dict(c) for c in world.cameras]

    def __init__(self, camera_num=0, tuning=None):
        if world.unplugged or camera_num >= len(world.cameras):
            world.log.append(("open-failed", camera_num))
            raise IndexError("list index out of range")  # what picamera2 raises for a missing camera
        self.camera_num = camera_num
        self.camera_config = None
        self.started = False
        self.is_open = True
        self.held = set()  # requests handed out and not released
        self.post_callback = None
        self.encoders = set()
        self.requests_made = 0
        self._index = 0
        self._last = None
        self._next_t = None
        self._lock = threading.Lock()
        world.instances.append(self)
        world.log.append(("open", camera_num))

    # --- configuration ---------------------------------------------------------------

    def create_video_configuration(self, main={}, lores=None, raw=None, buffer_count=6, controls={}, queue=True,
                                   display="main", encode="main"):
        main_cfg = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True, **main}
        lores_cfg = None if lores is None else {"format": "YUV420", "size": main_cfg["size"], "preserve_ar": False, **lores}
        return {"use_case": "video", "buffer_count": buffer_count, "queue": queue, "main": main_cfg,
                "lores": lores_cfg, "raw": raw, "display": display, "encode": encode,
                "controls": {"FrameDurationLimits": (33333, 33333), **controls}}

    def configure(self, config):
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is None:
                continue
            fmt, (w, h) = stream["format"], stream["size"]
            if fmt not in YUV_FORMATS | RGB_FORMATS:
                raise RuntimeError(f"Bad format {fmt} in stream {name}")
            if not isinstance(stream["size"], tuple) or w % 2 or h % 2:
                raise RuntimeError("width and height should be even")
        if config.get("lores") is not None:
            (mw, mh), (lw, lh) = config["main"]["size"], config["lores"]["size"]
            if lw > mw or lh > mh:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if world.platform == "VC4" and config["lores"]["format"] not in YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is not None:
                w, h = stream["size"]
                bpp = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4}.get(stream["format"], 1)
                stream["stride"] = _align(w * bpp)
                stream["framesize"] = stream["stride"] * (h * 3 // 2 if stream["format"] == "YUV420" else h)
        self.camera_config = config
        world.log.append(("configure", {k: dict(config[k]) if config[k] else None for k in ("main", "lores")}))

    def stream_configuration(self, name="main"):
        return self.camera_config[name]

    def start(self, config=None, show_preview=False):
        if config is not None:
            self.configure(config)
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self._next_t = time.monotonic()
        world.log.append(("start", self.camera_num))

    def stop(self):
        self.started = False
        world.log.append(("stop", self.camera_num))

    def cancel_all_and_flush(self):
        world.log.append(("cancel_all_and_flush", self.camera_num))

    def close(self):
        if self.started:
            self.stop()
        self.is_open = False
        world.log.append(("close", self.camera_num))

    # --- capture ------------------------------------------------------------------------

    def capture_request(self, wait=None, signal_function=None, flush=None):
        timeout = None if wait in (None, True) else float(wait)
        if not self.started:
            raise RuntimeError("Camera is not started")
        if world.unplugged or len(self.held) >= self.camera_config["buffer_count"]:
            # No frame will come: a pulled cable, or every buffer held by the application.
            time.sleep(min(timeout, 0.05) if timeout is not None else 0.05)
            if timeout is None:
                raise RuntimeError("fake picamera2: a capture without a timeout would hang forever here")
            raise TimeoutError()
        with self._lock:
            stale = world.stale_every and self._last is not None and self.requests_made % world.stale_every == world.stale_every - 1
            if stale:
                request = CompletedRequest(self, self._last.pixels, self._last.metadata)
            else:
                self._pace()
                request = CompletedRequest(self, self._render(self._index), self._metadata())
                self._index += 1
                self._last = request
                # As picamera2's process_requests: post_callback, then the encoders.
                if self.post_callback is not None:
                    self.post_callback(request)
                for encoder in list(self.encoders):
                    if request.config.get(encoder.name) is not None:
                        encoder.encode(encoder.name, request)
            self.requests_made += 1
            self.held.add(request)
        return request

    # --- encoders -----------------------------------------------------------------------

    def start_encoder(self, encoder=None, output=None, pts=None, quality=None, name=None):
        if encoder is None:
            raise RuntimeError("No encoder specified")
        if output is not None:
            encoder.output = FileOutput(output) if isinstance(output, str) else output
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        name = name or self.camera_config["encode"]
        stream = self.camera_config.get(name)
        if stream is None:
            raise RuntimeError(f"Encode stream {name} was not defined")
        encoder.name = name
        encoder.width, encoder.height = stream["size"]
        encoder.format = stream["format"]
        encoder.stride = stream["stride"]
        encoder.start(quality=quality)
        with self._lock:
            self.encoders.add(encoder)
        world.log.append(("start_encoder", type(encoder).__name__, name))

    def stop_encoder(self, encoders=None):
        if encoders is None:
            chosen = list(self.encoders)
        else:
            chosen = [encoders] if isinstance(encoders, Encoder) else list(encoders)
        for encoder in chosen:
            encoder.stop()
        with self._lock:
            for encoder in chosen:
                self.encoders.remove(encoder)
        world.log.append(("stop_encoder", self.camera_num))

    def start_recording(self, encoder, output, pts=None, config=None, quality=None, name=None):
        if config is not None:
            self.configure(config)
        self.start_encoder(encoder, output, pts=pts, quality=quality, name=name)
        self.start()

    def stop_recording(self):
        self.stop()
        self.stop_encoder()

    def _pace(self):
        self._next_t += 1.0 / world.fps
        delay = self._next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_t = time.monotonic()

    def _metadata(self):
        exposure_us = 10000
        return {"SensorTimestamp": time.monotonic_ns() - exposure_us * 1000, "ExposureTime": exposure_us,
                "FrameDuration": int(1e6 / world.fps)}

    def _render(self, index):
        main = self.camera_config["main"]
        bgr = world.scene(index, main["size"])
        pixels = {"main": _pack_rgb(bgr, main)}
        lores = self.camera_config["lores"]
        if lores is not None:
            small = cv2.resize(bgr, lores["size"], interpolation=cv2.INTER_AREA)
            pixels["lores"] = _pack_i420(small, lores)
        return pixels


def _pack_rgb(bgr, stream):
    """Camera memory for an RGB stream; picamera2's "RGB888" is B, G, R byte order."""
    w, h = stream["size"]
    order = {"RGB888": bgr, "BGR888": bgr[:, :, ::-1]}
    if stream["format"] not in order:
        raise NotImplementedError(f"fake picamera2 makes RGB888/BGR888 main streams, not {stream['format']}")
    buf = np.zeros((h, stream["stride"]), np.uint8)
    buf[:, : w * 3] = order[stream["format"]].reshape(h, w * 3)
    return buf.reshape(-1)


def _pack_i420(bgr, stream):
    """Camera memory for YUV420: Y (h rows of stride), then U and V (h/2 rows of stride/2 each)."""
    w, h = stream["size"]
    stride = stream["stride"]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    y, u, v = yuv[: w * h].reshape(h, w), yuv[w * h: w * h * 5 // 4].reshape(h // 2, w // 2), yuv[w * h * 5 // 4:].reshape(h // 2, w // 2)
    y_plane = np.zeros((h, stride), np.uint8)
    y_plane[:, :w] = y
    u_plane = np.zeros((h // 2, stride // 2), np.uint8)
    u_plane[:, : w // 2] = u
    v_plane = np.zeros((h // 2, stride // 2), np.uint8)
    v_plane[:, : w // 2] = v
    return np.concatenate([y_plane.reshape(-1), u_plane.reshape(-1), v_plane.reshape(-1)])


class CompletedRequest:
    def __init__(self, camera, pixels, metadata):
        self.camera = camera
        self.pixels = pixels  # stream name -> 1-D uint8 buffer (the "camera memory")
        self.metadata = metadata
        self.config = {k: camera.camera_config[k] for k in ("main", "lores")}
        self.ref_count = 1
        self.mapped = 0

    def release(self):
        self.ref_count -= 1
        if self.ref_count < 0:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        if self.mapped:
            raise RuntimeError("fake picamera2: request released while a MappedArray of it is still open")
        if self.ref_count == 0:
            self.camera.held.discard(self)

    def get_metadata(self):
        self._check()
        return dict(self.metadata)

    def make_array(self, name):
        with MappedArray(self, name) as m:
            return np.ascontiguousarray(m.array).copy()

    def _check(self):
        if self.ref_count <= 0:
            raise RuntimeError("fake picamera2: request used after release()")


class MappedArray:
    def __init__(self, request, stream, reshape=True, write=True):
        self.request, self.stream, self.reshape, self.write = request, stream, reshape, write
        self._array = None

    def __enter__(self):
        self.request._check()
        config = self.request.config[self.stream]
        if config is None:
            raise RuntimeError(f"Stream {self.stream!r} is not defined")
        buf = self.request.pixels[self.stream]
        buf.flags.writeable = self.write
        array = buf
        if self.reshape:
            (w, h), stride = config["size"], config["stride"]
            if config["format"] in ("RGB888", "BGR888"):
                array = buf.reshape(h, stride)[:, : w * 3].reshape(h, w, 3)
            else:
                array = buf.reshape(h * 3 // 2, stride)
        self._array = array
        self.request.mapped += 1
        return self

    def __exit__(self, *exc):
        self._array = None
        self.request.mapped -= 1
        self.request.pixels[self.stream].flags.writeable = True

    @property
    def array(self):
        return self._array


# --- picamera2.encoders and picamera2.outputs ----------------------------------------------

class Quality(enum.Enum):
    VERY_LOW = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    VERY_HIGH = 4


class Output:
    def __init__(self, pts=None):
        self.recording = False

    def start(self):
        self.recording = True

    def stop(self):
        self.recording = False

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        pass


class FileOutput(Output):
    def __init__(self, file=None, pts=None, split=None):
        super().__init__(pts=pts)
        self._needs_close = False
        if isinstance(file, (str, Path)):
            self._file, self._needs_close = open(file, "wb"), True
        elif file is None or isinstance(file, io.BufferedIOBase):
            self._file = file
        else:
            raise RuntimeError("Must pass io.BufferedIOBase")

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
        if self._file is not None and self.recording:
            self._file.write(frame)
            self._file.flush()

    def stop(self):
        super().stop()
        if self._needs_close:
            self._file.close()


class Encoder:
    def __init__(self):
        self._output = []
        self._running = False
        self.name = None
        self.width = self.height = self.stride = None
        self.format = None
        self.frames_encoded = 0
        self.jpegs = collections.deque(maxlen=64)  # the last frames encoded, for the tests

    @property
    def running(self):
        return self._running

    @property
    def output(self):
        return self._output[0] if len(self._output) == 1 else self._output

    @output.setter
    def output(self, value):
        value = value if isinstance(value, list) else [value]
        if not all(isinstance(out, Output) for out in value):
            raise RuntimeError("Must pass Output")
        self._output = value

    def start(self, quality=None):
        if self._running:
            raise RuntimeError("Encoder already running")
        self._start()
        self._running = True
        for out in self._output:
            out.start()

    def stop(self):
        if not self._running:
            raise RuntimeError("Encoder already stopped")
        self._running = False
        self._stop()
        for out in self._output:
            out.stop()

    def _start(self):
        pass

    def _stop(self):
        pass

    def encode(self, stream, request):
        if not self._running:
            return
        with MappedArray(request, stream, write=False) as m:
            if self.format not in ("RGB888", "BGR888"):
                raise NotImplementedError(f"fake picamera2 encodes RGB888/BGR888 streams, not {self.format}")
            bgr = m.array if self.format == "RGB888" else m.array[:, :, ::-1]
            ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
        data = jpeg.tobytes()
        self.jpegs.append(data)
        self.frames_encoded += 1
        for out in self._output:
            out.outputframe(data, True, request.metadata["SensorTimestamp"] // 1000)


class V4L2Encoder(Encoder):
    """The VideoCore's codecs, through /dev/video11."""

    FORMATS = {"RGB888", "BGR888", "XBGR8888", "XRGB8888", "YUV420"}  # picamera2's V4L2 format table

    def _start(self):
        if self.format not in self.FORMATS:
            raise RuntimeError("Unrecognised format", self.format, "for V4L2")
        if world.codec_busy:
            raise OSError(errno.EBUSY, "Device or resource busy", "/dev/video11")
        world.log.append(("codec-open", type(self).__name__))

    def _stop(self):
        world.log.append(("codec-close", type(self).__name__))


class MJPEGEncoder(V4L2Encoder):
    def __init__(self, bitrate=None):
        if world.platform != "VC4":
            raise RuntimeError("Hardware MJPEG not available on this platform")
        super().__init__()
        self.bitrate = bitrate


class LibavMjpegEncoder(Encoder):
    """What picamera2 names MJPEGEncoder on a Pi 5: a software encoder."""

    def __init__(self, bitrate=None, repeat=True, iperiod=30, framerate=30, qp=None):
        super().__init__()


def _encoders_getattr(name):
    if name == "MJPEGEncoder":  # picamera2 picks it by platform when its encoders module is imported
        return MJPEGEncoder if world.platform == "VC4" else LibavMjpegEncoder
    raise AttributeError(f"module 'picamera2.encoders' has no attribute {name!r}")


encoders = types.ModuleType("picamera2.encoders")
encoders.__dict__.update(Encoder=Encoder, Quality=Quality, LibavMjpegEncoder=LibavMjpegEncoder,
                         __getattr__=_encoders_getattr)
v4l2_encoder = types.ModuleType("picamera2.encoders.v4l2_encoder")
v4l2_encoder.V4L2Encoder = V4L2Encoder
encoders.v4l2_encoder = v4l2_encoder
outputs = types.ModuleType("picamera2.outputs")
outputs.__dict__.update(Output=Output, FileOutput=FileOutput)

MODULES = {"picamera2": None, "picamera2.encoders": encoders, "picamera2.encoders.v4l2_encoder": v4l2_encoder,
           "picamera2.outputs": outputs}


def install(setitem=None):
    """Make `import picamera2` (and its encoders and outputs) import the stand-in:
    `setitem(name, module)` defaults to sys.modules.__setitem__; tests pass
    monkeypatch's, which undoes it."""
    import sys

    setitem = setitem or sys.modules.__setitem__
    for name, module in MODULES.items():
        setitem(name, module or sys.modules[__name__])
