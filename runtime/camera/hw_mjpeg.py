"""--serve from a Raspberry Pi camera: JPEGs from the Pi 4's VideoCore, not its CPU.

On a Pi 4, cv2.imencode of a 640x480 frame takes milliseconds of the same four
cores the detector uses. picamera2's MJPEGEncoder drives the VideoCore's codec
(V4L2, /dev/video11) instead. It is wired up the way picamera2's own examples
do (mjpeg_server_2.py, opencv_face_detect_3.py):

- The camera hands each completed request to its `post_callback` before its
  encoders see it; there the newest detections and numbers are drawn into the
  main stream through a MappedArray, so the encoder encodes an annotated picture.
- The encoder writes each JPEG to a FileOutput whose file is the web server
  (`StreamServer.put_jpeg`); clients get the newest one.

So the stream runs at the camera's frame rate, and the boxes drawn on a frame
are the newest detection's, which may be a frame or two older than the picture
(the detector works on the lores stream meanwhile). The JSON lines stay exact
per frame. Frames handed to the pipeline already carry the drawing (picamera2
runs post_callback before the application gets a request), so the pipeline does
not draw on them again (`frame.annotated`); a window or a recording shows the
same pictures as the stream.

On a Pi 5 picamera2's MJPEGEncoder is libav's software encoder (it has no
VideoCore codec): that would encode every camera frame on the CPU, so the
server's own encoder (the newest frame only, only while someone watches) stays.
"""

from __future__ import annotations

import io

from facedge.runtime.camera.draw import draw_detections, draw_overlay

HW_ENCODER = "VideoCore MJPEG (picamera2 MJPEGEncoder)"


def hardware_mjpeg_unavailable():
    """None when picamera2's MJPEGEncoder is the VideoCore's codec; else why not."""
    try:
        from picamera2.encoders import MJPEGEncoder
        from picamera2.encoders.v4l2_encoder import V4L2Encoder
    except Exception as e:  # ImportError, or a picamera2 without encoders
        return f"picamera2's encoders cannot be imported ({type(e).__name__}: {e})"
    if not (isinstance(MJPEGEncoder, type) and issubclass(MJPEGEncoder, V4L2Encoder)):
        return (f"picamera2's MJPEGEncoder is {getattr(MJPEGEncoder, '__name__', MJPEGEncoder)}, a software "
                "encoder, on this board (no VideoCore JPEG codec)")
    return None


class _ToServer(io.BufferedIOBase):
    """The file FileOutput writes each JPEG to: the web server."""

    def __init__(self, server):
        super().__init__()
        self._server = server

    def writable(self):
        return True

    def write(self, data):
        self._server.put_jpeg(data)
        return len(data)


class CameraMjpegStream:
    """Attached to a Picamera2Source (`add_camera_stream`), and a pipeline output:
    `write()` keeps the newest detections and numbers for the camera's
    post_callback to draw."""

    def __init__(self, server, log):
        self.server = server
        self.log = log
        self.draw_errors = 0
        self._latest = None  # (detections, numbers), replaced whole: the camera's thread reads it
        self._encoder = None

    # --- the camera side ------------------------------------------------------------

    def attach(self, cam):
        """Start the hardware encoder on `cam`'s main stream; on failure say so and
        leave the server encoding on the CPU. Returns whether it started."""
        from picamera2.encoders import MJPEGEncoder
        from picamera2.outputs import FileOutput

        from facedge.runtime.camera.sources import import_picamera2

        self._mapped_array = import_picamera2()[1]
        try:
            encoder = MJPEGEncoder()
            cam.start_encoder(encoder, FileOutput(_ToServer(self.server)), name="main")
        except Exception as e:  # the codec device missing or busy, a format it refuses
            self.server.encode_on_cpu()
            self.log(f"--serve: the VideoCore MJPEG encoder did not start ({type(e).__name__}: {e}); "
                     "encoding JPEGs with OpenCV on the CPU")
            return False
        self._encoder = encoder
        cam.post_callback = self._annotate
        self.server.take_jpegs_from(HW_ENCODER)
        return True

    def detach(self, cam):
        encoder, self._encoder = self._encoder, None
        cam.post_callback = None
        if encoder is not None:
            try:
                cam.stop_encoder(encoder)
            except Exception as e:  # the camera is going away; nothing more to do with it
                self.log(f"--serve: stopping the MJPEG encoder: {type(e).__name__}: {e}")

    def _annotate(self, request):
        """post_callback, in picamera2's camera thread: must be quick and must not raise."""
        latest = self._latest
        if latest is None:
            return
        detections, numbers = latest
        try:
            with self._mapped_array(request, "main") as m:
                draw_detections(m.array, detections)
                draw_overlay(m.array, numbers)
        except Exception as e:
            self.draw_errors += 1
            if self.draw_errors == 1:
                self.log(f"--serve: drawing on the camera's frame failed ({type(e).__name__}: {e})")

    # --- the pipeline side: an output ---------------------------------------------------

    def write(self, image, report):
        numbers = {k: v for k, v in report.items() if k != "detections"}
        self._latest = (report["detections"], numbers)

    def close(self):
        pass
