"""Where `facedge camera` gets its frames: a Raspberry Pi camera through picamera2,
a USB camera, video file or stream through OpenCV, or a synthetic test pattern.

Every source hands out `Frame`s. A frame owns its memory until `release()`; for
picamera2 that memory is the camera's own buffer, which goes back to the camera
on release. A frame has two pictures:

- `image()`: the BGR picture the outputs draw on and show (H x W x 3, writable);
- `detect_input()`: the BGR picture the detector sees, and `scale`, the factors
  (sx, sy) that take detector coordinates to `image()` coordinates.

For OpenCV both are the same array. For picamera2 they are the camera's two
streams (see `Picamera2Source`). A live source that stops delivering raises
`SourceLost` from `read()`; a file that ends returns None.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import cv2

from facedge.base.errors import FacedgeError


class SourceLost(Exception):
    """A live camera or stream stopped delivering frames (unplugged, cable loose, network down)."""


class Frame:
    """One captured frame whose pixels are already in memory (OpenCV, synthetic)."""

    def __init__(self, index, t_capture, image):
        self.index = index
        self.t_capture = t_capture  # time.monotonic() seconds when the frame was captured
        self.scale = (1.0, 1.0)
        self._image = image

    def image(self):
        return self._image

    def detect_input(self):
        return self._image

    def release(self):
        self._image = None


# --- OpenCV: USB cameras, files, network streams ----------------------------------

class OpenCVSource:
    """A camera by number or /dev/videoN, a video file or a stream URL, through cv2.VideoCapture.

    Cameras and URLs are live: only the newest frame matters, and a read that
    fails means the device went away. Files are not live: by default every frame
    is processed as fast as the detector goes and the run ends at the end of the
    file. Set before the first read:

    - `realtime`: frames are handed out at the file's own frame rate, as a camera
      would hand them out, so that someone can watch; the pipeline then treats the
      file like a camera and skips frames the detector has no time for.
    - `loop`: the file starts again at its end (frame numbers go on counting).
    """

    # For files whose frame rate OpenCV cannot read.
    DEFAULT_FILE_FPS = 25.0
    # A paced file this far behind its schedule (decoding slower than the file's
    # rate) starts a new schedule instead of rushing to catch up.
    MAX_LAG_S = 1.0

    def __init__(self, target, live, size=None):
        self.target = target  # int camera index, or a path/URL string
        self.live = live
        self.size = size  # (w, h) asked of a camera; None keeps its default
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self.fps = None
        self.realtime = False
        self.loop = False
        self.loops = 0  # times a looping file started again
        self._cap = None
        self._index = 0
        self._pass_frames = 0  # frames read since the file (re)started
        self._t0 = None  # when paced frame 0 was due
        self._paced = 0  # frames handed out on the current schedule

    @property
    def mode(self):
        """What the stats page says about the source."""
        if self.live:
            camera = isinstance(self.target, int) or _DEV_VIDEO.match(str(self.target))
            return "live camera" if camera else "live stream"
        return "file (realtime)" if self.realtime else "file (as fast as possible)"

    @property
    def pace_fps(self):
        """The rate a realtime file is played at."""
        return self.fps or self.DEFAULT_FILE_FPS

    def open(self):
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            raise SourceLost(f"{self.name}: cannot be opened")
        if self.live:
            # Keep the driver's queue short, so that a read returns a recent frame.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if self.size:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else None
        self._cap = cap
        self._pass_frames = 0

    def read(self):
        ok, image = self._cap.read()
        if not ok:
            if self.live:
                raise SourceLost(f"{self.name}: stopped delivering frames")
            if not (self.loop and self._pass_frames):  # a file without a single frame never loops
                return None  # end of file
            self._cap.release()
            self.open()  # reading again from a fresh capture works for every container and codec
            self.loops += 1
            ok, image = self._cap.read()
            if not ok:
                return None
        self._pass_frames += 1
        if self.realtime and not self.live:
            self._wait_for_schedule()
        frame = Frame(self._index, time.monotonic(), image)
        self._index += 1
        return frame

    def _wait_for_schedule(self):
        now = time.monotonic()
        due = None if self._t0 is None else self._t0 + self._paced / self.pace_fps
        if due is None or now - due > self.MAX_LAG_S:
            self._t0, self._paced, due = now, 0, now
        if due > now:
            time.sleep(due - now)
        self._paced += 1

    def close(self):
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# --- picamera2: the Raspberry Pi camera ----------------------------------------------

class Picamera2Source:
    """A Raspberry Pi camera through picamera2, configured the way its maintainers
    recommend for analysing video while showing it (the Picamera2 manual's
    main + lores pattern):

    - "main", RGB888 at the display size: what is drawn on, shown, streamed and
      recorded. picamera2's "RGB888" is B,G,R in memory, which is OpenCV's order, so
      this buffer is drawn on in place, without a copy or a colour conversion.
    - "lores", YUV420 at the model's input size: what the detector sees. The ISP
      scales it in hardware for free. On a Pi 4 (VC4 ISP) lores must be YUV, so one
      cv2.cvtColor(I420 -> BGR) of a 320x240 picture (vectorised in OpenCV: 0.05 ms
      on an x86 core, a few times that expected on a Cortex-A72) is the only pixel
      work done outside the detector; the detector's own
      BGR->RGB swap happens inside ncnn's input conversion at no extra cost. Using
      the Y plane alone as gray would skip even that, but the models are trained on
      colour and lose accuracy on gray.

    Frames are taken with capture_request() and returned with release(); a request
    whose SensorTimestamp is not newer than the last one handed out is a stale,
    queued frame and is released unseen.

    A stream fed by the camera itself (the hardware JPEG encoder for --serve, see
    hw_mjpeg.py) is added with `add_camera_stream()`: it is attached to
    every camera this source opens, and detached before the camera stops."""

    # The pipeline holds up to four requests (waiting for detection, in detection,
    # waiting for the outputs, in the outputs) and picamera2 keeps one back; eight
    # buffers leave the camera three to fill. At 640x480 that is about 8 MB of CMA.
    BUFFERS = 8

    # capture_request() waits at most this long: a camera that sends nothing for
    # this long (cable out, sensor stopped) counts as lost.
    READ_TIMEOUT_S = 5.0

    def __init__(self, camera_num=0, main_size=(640, 480), lores_size=(320, 240)):
        self.camera_num = camera_num
        self.main_size = tuple(main_size)
        self.lores_size = tuple(lores_size)
        self.live = True
        self.mode = "live camera"
        self.name = f"picamera2 camera {camera_num}"
        self.fps = None
        self.scale = (1.0, 1.0)  # lores -> main pixels, known once configured
        self.stale_frames = 0
        self._cam = None
        self._last_ts = None
        self._index = 0
        self._camera_streams = []

    def add_camera_stream(self, stream):
        """`stream.attach(camera)` now and after every reopening, `stream.detach(camera)` before it stops."""
        self._camera_streams.append(stream)
        if self._cam is not None:
            stream.attach(self._cam)

    def open(self):
        Picamera2, MappedArray = import_picamera2()
        self._mapped_array = MappedArray
        try:
            cam = Picamera2(self.camera_num)
        except Exception as e:  # no such camera, or it is busy in another process
            raise SourceLost(f"{self.name}: cannot be opened ({type(e).__name__}: {e})") from e
        try:
            config = cam.create_video_configuration(
                main={"size": self.main_size, "format": "RGB888"},
                lores={"size": self.lores_size, "format": "YUV420"},
                buffer_count=self.BUFFERS,
            )
            cam.configure(config)
            main = cam.stream_configuration("main")
            lores = cam.stream_configuration("lores")
            self._lores_size = tuple(lores["size"])
            main_w, main_h = main["size"]
            self.scale = (main_w / self._lores_size[0], main_h / self._lores_size[1])
            cam.start()
        except Exception as e:
            cam.close()
            raise SourceLost(f"{self.name}: cannot be started ({type(e).__name__}: {e})") from e
        self._cam = cam
        self._last_ts = None
        for stream in self._camera_streams:
            stream.attach(cam)

    def read(self):
        while True:
            try:
                request = self._cam.capture_request(wait=self.READ_TIMEOUT_S)
            except TimeoutError as e:
                raise SourceLost(f"{self.name}: no frame for {self.READ_TIMEOUT_S:g} s (camera cable loose or camera stopped?)") from e
            except Exception as e:
                raise SourceLost(f"{self.name}: capture failed ({type(e).__name__}: {e})") from e
            ts = request.get_metadata().get("SensorTimestamp")
            if ts is not None and self._last_ts is not None and ts <= self._last_ts:
                request.release()  # an older frame than one already handed out
                self.stale_frames += 1
                continue
            self._last_ts = ts
            # picamera2 runs post_callback before it hands the request out: when one is
            # set, what it draws is already in the picture.
            annotated = getattr(self._cam, "post_callback", None) is not None
            frame = _PicameraFrame(self, request, self._index, _capture_time(ts), annotated)
            self._index += 1
            return frame

    def close(self):
        cam, self._cam = self._cam, None
        if cam is None:
            return
        try:
            # picamera2 asks for this after a timed-out capture, before close()
            # (older picamera2 releases lack it).
            flush = getattr(cam, "cancel_all_and_flush", None)
            if flush is not None:
                flush()
            cam.stop()
            for stream in self._camera_streams:  # as picamera2's stop_recording: the camera, then its encoders
                stream.detach(cam)
        finally:
            cam.close()


def _capture_time(sensor_ts_ns):
    """SensorTimestamp (start of exposure, ns on the monotonic clock picamera2
    itself compares it with) as time.monotonic() seconds; the arrival time when the
    timestamp is missing or implausible."""
    now = time.monotonic_ns()
    if sensor_ts_ns is not None and 0 <= now - sensor_ts_ns < 10_000_000_000:
        return sensor_ts_ns / 1e9
    return now / 1e9


class _PicameraFrame:
    """A frame that is still the camera's buffer: `image()` maps "main" without a
    copy; `release()` unmaps it and gives the buffer back to the camera."""

    def __init__(self, source, request, index, t_capture, annotated=False):
        self.index = index
        self.t_capture = t_capture
        self.annotated = annotated  # the camera's post_callback drew the detections already
        self.scale = source.scale
        self._source = source
        self._request = request
        self._main = None

    def image(self):
        if self._main is None:
            self._main = self._source._mapped_array(self._request, "main")
            self._main.__enter__()
        return self._main.array

    def detect_input(self):
        w = self._source._lores_size[0]
        with self._source._mapped_array(self._request, "lores", write=False) as m:
            # picamera2 shapes YUV420 as (h * 3/2, stride); OpenCV's I420 conversion
            # reads that layout directly, and the stride padding is cut afterwards.
            bgr = cv2.cvtColor(m.array, cv2.COLOR_YUV2BGR_I420)
        return bgr[:, :w]  # a row-strided view; the detector reads it without a copy

    def release(self):
        if self._main is not None:
            self._main.__exit__(None, None, None)
            self._main = None
        if self._request is not None:
            self._request.release()
            self._request = None


def import_picamera2():
    """(Picamera2, MappedArray), or a FacedgeError saying how to install picamera2."""
    try:
        from picamera2 import MappedArray, Picamera2
    except Exception as e:  # ImportError, or libcamera failing to load
        raise FacedgeError(
            f"--source picamera2: picamera2 cannot be imported ({type(e).__name__}: {e}); on Raspberry Pi OS "
            "install it with 'sudo apt install python3-picamera2' and make the venv with --system-site-packages"
        ) from e
    return Picamera2, MappedArray


def picamera2_available():
    """True when picamera2 imports and sees a Raspberry Pi camera (USB cameras,
    which libcamera also lists, are left to OpenCV)."""
    try:
        from picamera2 import Picamera2

        cameras = Picamera2.global_camera_info()
    except Exception:
        return False
    return any("/usb" not in str(c.get("Id", "")) for c in cameras)


# --- choosing a source from --source ---------------------------------------------------

_DEV_VIDEO = re.compile(r"^/dev/video\d+$")


def make_source(spec, lores_size, size=None):
    """The source `--source SPEC` names (None: picamera2 when it sees a Pi camera, else
    camera 0), opened. Errors name the spec and say what was expected."""
    if spec is None:
        spec = "picamera2" if picamera2_available() else "0"
    if spec == "picamera2" or spec.startswith("picamera2:"):
        num = spec.partition(":")[2] or "0"
        if not num.isdigit():
            raise FacedgeError(f"--source {spec}: expected picamera2 or picamera2:N with N a camera number")
        lores_size = (lores_size[0] - lores_size[0] % 2, lores_size[1] - lores_size[1] % 2)  # camera streams are even
        # main defaults to 640x480, or larger when the model's input is (lores may not exceed main).
        main_size = size or (max(640, lores_size[0]), max(480, lores_size[1]))
        source = Picamera2Source(int(num), main_size=main_size, lores_size=lores_size)
        if source.main_size[0] < lores_size[0] or source.main_size[1] < lores_size[1]:
            raise FacedgeError(f"--size {source.main_size[0]}x{source.main_size[1]}: smaller than the model input "
                               f"{lores_size[0]}x{lores_size[1]}; picamera2's lores stream cannot exceed main")
    elif spec.isdigit():
        source = OpenCVSource(int(spec), live=True, size=size)
    elif _DEV_VIDEO.match(spec):
        source = OpenCVSource(spec, live=True, size=size)
    elif "://" in spec:
        source = OpenCVSource(spec, live=True)
    else:
        path = Path(spec)
        if not path.is_file():
            raise FacedgeError(f"--source {spec}: no such file; expected picamera2, a camera number, /dev/videoN, "
                               "a video file or a stream URL")
        source = OpenCVSource(os.fspath(path), live=False)
    try:
        source.open()
    except SourceLost as e:
        if isinstance(source, OpenCVSource) and not source.live:
            raise FacedgeError(f"{spec}: OpenCV cannot read it as a video") from e
        hint = " (is a camera attached? 'ls /dev/video*' lists them)" if isinstance(source, OpenCVSource) else ""
        raise FacedgeError(f"{e}{hint}") from e
    return source
