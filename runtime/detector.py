"""facedge.Detector: the Python face of the C++ detector.

Everything per frame (resize, normalize, inference, decoding, NMS) happens in C++
with the GIL released; this module resolves model names, reads facedge.json and
shapes the results as numpy arrays.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError
from facedge.base.faces import faces_to_json
from facedge.base.sizes import parse_size
from facedge.base.model_dir import BIN_FILE, PARAM_FILE, read_model_info, resolve_model

try:
    from facedge import _core
except ImportError as e:  # pragma: no cover - only in a source tree without a build
    _core = None
    _core_error = e

PIXEL_FORMATS = ("bgr", "rgb", "bgra", "rgba", "gray")


def default_options() -> dict:
    """The C++ core's default detection options (facedge::DetectorOptions in
    cpp/include/facedge/detector.h): score_threshold, iou_threshold, top_k, nms. The
    one place these numbers live; every command and report reads them from here."""
    o = _require_core().DetectorOptions()
    return {"score_threshold": round(o.score_threshold, 6), "iou_threshold": round(o.iou_threshold, 6),
            "top_k": o.top_k, "nms": o.nms}


def _require_core():
    if _core is None:
        raise ImportError(f"facedge's C++ core is not built ({_core_error}); install facedge with 'pip install .' from the repository")
    return _core


@dataclass
class DetectionResult:
    """Faces found in one image, in that image's pixel coordinates.

    boxes: float32 (N, 4) x1, y1, x2, y2; scores: float32 (N,), descending;
    landmarks: float32 (N, K, 2) or None for models without landmarks;
    timings_ms: {"preprocess", "inference", "postprocess"} of this call."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None
    timings_ms: dict

    def __len__(self):
        return len(self.scores)

    def to_list(self):
        """JSON-ready: one dict per face (facedge.base.faces)."""
        return faces_to_json(self.boxes, self.scores, self.landmarks)


def _size(value, what):
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        value = parse_size(value, what)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        raise FacedgeError(f"{what} must be (width, height) integers or 'WxH', got {value!r}")
    if value[0] <= 0 or value[1] <= 0:
        raise FacedgeError(f"{what} must be positive, got {value[0]}x{value[1]}")
    return (int(value[0]), int(value[1]))


def _number(value, what, kind=numbers.Real):
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if kind is numbers.Integral else "a number"
        raise FacedgeError(f"{what} must be {expected}, got {value!r}")
    return value


def _options(threads, input_size, score_threshold, iou_threshold, top_k, nms, fp16, int8, lightmode, openmp_blocktime_ms):
    core = _require_core()
    o = core.DetectorOptions()  # the C++ defaults; None keeps them
    o.num_threads = int(_number(threads, "threads", numbers.Integral))
    o.input_width, o.input_height = _size(input_size, "input_size")
    if score_threshold is not None:
        o.score_threshold = float(_number(score_threshold, "score_threshold"))
    if iou_threshold is not None:
        o.iou_threshold = float(_number(iou_threshold, "iou_threshold"))
    if top_k is not None:
        o.top_k = int(_number(top_k, "top_k", numbers.Integral))
    if nms not in ("hard", "blend"):
        raise FacedgeError(f"nms must be 'hard' or 'blend', got {nms!r}")
    o.nms = nms
    o.use_fp16 = bool(fp16)
    o.use_int8 = bool(int8)
    o.lightmode = bool(lightmode)
    o.openmp_blocktime_ms = int(_number(openmp_blocktime_ms, "openmp_blocktime_ms", numbers.Integral))
    return o


def _check_file(path: Path, what):
    if not path.is_file():
        raise FacedgeError(f"{path}: missing {what}")
    return str(path)


class Detector:
    """Detect faces with an ncnn model.

    Detector(model, threads=1, input_size=None, score_threshold=None, iou_threshold=None,
             top_k=None, nms="hard", fp16=True, int8=True, lightmode=True)

    model: a model directory (model.param, model.bin, facedge.json) or the name of a
    cached model (e.g. 'version-RFB-320-int8'). input_size (w, h) overrides the
    model's own. score_threshold, iou_threshold, top_k: None keeps the C++ core's
    defaults (`default_options()`). One Detector may be shared by several threads."""

    def __init__(self, model, threads=1, input_size=None, score_threshold=None, iou_threshold=None, top_k=None, nms="hard",
                 fp16=True, int8=True, lightmode=True, openmp_blocktime_ms=20):
        core = _require_core()
        model_dir = resolve_model(model)
        info = read_model_info(model_dir)
        config = core.ModelConfig()
        config.family = info.family
        config.input_width, config.input_height = info.input_size
        config.pixel = info.pixel
        config.mean = info.mean
        config.norm = info.norm
        config.input_blob = info.input
        for role in ("scores", "boxes"):
            if role not in info.outputs:
                raise FacedgeError(f"{model_dir / 'facedge.json'}: 'outputs' lacks '{role}'")
        config.scores_blob = info.outputs["scores"]
        config.boxes_blob = info.outputs["boxes"]
        config.landmarks_blob = info.outputs.get("landmarks", "")
        options = _options(threads, input_size, score_threshold, iou_threshold, top_k, nms, fp16, int8, lightmode, openmp_blocktime_ms)
        self._init(core.Detector(_check_file(model_dir / PARAM_FILE, "ncnn .param"), _check_file(model_dir / BIN_FILE, "ncnn .bin"), config, options),
                   model_dir, info)

    def _init(self, core_detector, model_dir, info):
        self._core = core_detector
        self.model_dir = model_dir
        self.info = info

    @classmethod
    def from_ncnn(cls, param, bin, family, input_size=None, threads=1, score_threshold=None, iou_threshold=None, top_k=None, nms="hard",
                  fp16=True, int8=True, lightmode=True, openmp_blocktime_ms=20):
        """Load bare ncnn files (e.g. the upstream ULFD models) with the family's
        default preprocessing and blob names. input_size: the model's size."""
        core = _require_core()
        if not isinstance(family, str):
            raise FacedgeError(f"family must be a name such as 'ultraface-rfb', got {family!r}")
        config = core.ModelConfig.defaults_for(family)
        if input_size is not None:
            config.input_width, config.input_height = _size(input_size, "input_size")
        options = _options(threads, None, score_threshold, iou_threshold, top_k, nms, fp16, int8, lightmode, openmp_blocktime_ms)
        self = cls.__new__(cls)
        self._init(core.Detector(_check_file(Path(param), "ncnn .param"), _check_file(Path(bin), "ncnn .bin"), config, options), None, None)
        return self

    @staticmethod
    def _image(image, pixel_format):
        if not isinstance(image, np.ndarray):
            raise FacedgeError(f"image must be a numpy uint8 array, got {type(image).__name__}")
        if image.dtype != np.uint8:
            raise FacedgeError(f"image must be uint8, got dtype {image.dtype}")
        if pixel_format is not None and pixel_format not in PIXEL_FORMATS:
            raise FacedgeError(f"pixel_format must be one of {', '.join(PIXEL_FORMATS)}, got {pixel_format!r}")
        if image.ndim in (2, 3) and image.size:
            pixel_bytes = image.shape[2] if image.ndim == 3 else 1
            packed = image.strides[0] > 0 and image.strides[1] == pixel_bytes and (image.ndim == 2 or image.strides[2] == 1)
            if not packed:  # flipped or column-strided views; row-strided crops go through uncopied
                image = np.ascontiguousarray(image)
        return image, pixel_format or ""

    def detect(self, image, input_size=None, pixel_format=None) -> DetectionResult:
        """Faces in a uint8 image: HxWx3 (BGR unless pixel_format='rgb'), HxWx4
        (BGRA / 'rgba') or HxW gray. input_size (w, h) overrides the network input
        size for this call."""
        image, fmt = self._image(image, pixel_format)
        w, h = _size(input_size, "input_size")
        boxes, scores, landmarks, timings = self._core.detect(image, fmt, w, h)
        return DetectionResult(boxes, scores, landmarks, timings)

    def infer(self, image, input_size=None, pixel_format=None) -> dict:
        """Raw network outputs ('scores' (N, classes), 'boxes' (N, 4), 'landmarks') for
        this image, after facedge's own preprocessing: what the decoder sees."""
        image, fmt = self._image(image, pixel_format)
        w, h = _size(input_size, "input_size")
        return self._core.infer(image, fmt, w, h)

    def extract_blobs(self, image, names, input_size=None, pixel_format=None) -> dict:
        """Intermediate blobs by name ({name: float32 array (c, h, w) / (h, w) / (w,)})
        after facedge's own preprocessing: what int8 calibration measures."""
        image, fmt = self._image(image, pixel_format)
        w, h = _size(input_size, "input_size")
        return self._core.extract_blobs(image, list(names), fmt, w, h)

    @property
    def blob_names(self):
        return list(self._core.blob_names)

    def infer_normalized(self, chw) -> dict:
        """Bare ncnn inference of a normalized 3xHxW float32 input."""
        return self._core.infer_normalized(chw)

    @property
    def family(self) -> str:
        return self._core.family

    @property
    def input_size(self):
        o, c = self._core.options, self._core.config
        return (o.input_width, o.input_height) if o.input_width else (c.input_width, c.input_height)

    @property
    def layer_types(self):
        return list(self._core.layer_types)

    @property
    def int8_layer_count(self) -> int:
        return self._core.int8_layer_count

    def __repr__(self):
        where = self.model_dir if self.model_dir else "bare ncnn files"
        return f"Detector({self.family}, {self.input_size[0]}x{self.input_size[1]}, {where})"
