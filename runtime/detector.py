"""facedge.Detector: the Python face of the C++ detector.

Everything per frame (resize, normalize, inference, decoding, NMS) happens in C++
with the GIL released; this module resolves model names, reads facedge.json and
shapes the results as numpy arrays.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError
from facedge.base.faces import faces_to_json
from facedge.base.sizes import parse_size
from facedge.base.model_dir import BIN_FILE, INFO_FILE, PARAM_FILE, default_class_names, read_model_info, resolve_model
from facedge.runtime.cores import default_threads, usable_cores

try:
    from facedge import _core
except ImportError as e:  # pragma: no cover - only in a source tree without a build
    _core = None
    _core_error = e

PIXEL_FORMATS = ("bgr", "rgb", "bgra", "rgba", "gray")
_UINT8 = np.dtype(np.uint8)


def build_info() -> dict:
    """ncnn's version and its CPU kernel variants in facedge's build: {"ncnn": "1.0...",
    "kernels": [{"variant": "avx512_vnni", "compiled": bool, "cpu": bool, "runs": bool}, ...]}
    (runs: compiled and this CPU has the instructions, so ncnn's dispatch picks it)."""
    return _require_core().build_info()


def kernel_variants():
    """build_info()'s kernels, or None without the compiled core."""
    try:
        return build_info()["kernels"]
    except ImportError:  # a source tree without the compiled core
        return None


def default_options() -> dict:
    """The C++ core's default detection options (facedge::DetectorOptions in
    cpp/include/facedge/detector.h): score_threshold, iou_threshold, top_k, nms, bf16. The
    one place these numbers live; every command and report reads them from here."""
    o = _require_core().DetectorOptions()
    return {"score_threshold": round(o.score_threshold, 6), "iou_threshold": round(o.iou_threshold, 6),
            "top_k": o.top_k, "nms": o.nms, "bf16": o.bf16}


def _require_core():
    if _core is None:
        raise ImportError(f"facedge's C++ core is not built ({_core_error}); install facedge with 'pip install .' from the repository")
    return _core


@dataclass
class DetectionResult:
    """Faces found in one image, in that image's pixel coordinates.

    boxes: float32 (N, 4) x1, y1, x2, y2; scores: float32 (N,), descending;
    landmarks: float32 (N, K, 2) or None for models without landmarks;
    timings_ms: {"preprocess", "inference", "postprocess"} of this call;
    labels: int32 (N,), each face's class as an index into class_names (the model's
    face classes, e.g. ("face",) or ("face", "mask")): each face is its prior's
    best-scoring class, and scores are that class's."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None
    timings_ms: dict
    labels: np.ndarray | None = None
    class_names: tuple = ("face",)

    def __post_init__(self):
        if self.labels is None:
            self.labels = np.zeros(len(self.scores), np.int32)

    def __len__(self):
        return len(self.scores)

    @property
    def names(self):
        """The class name of each face."""
        return [self.class_names[i] for i in self.labels.tolist()]

    def only(self, labels) -> "DetectionResult":
        """The faces whose label is one of `labels` (indices into class_names)."""
        keep = np.isin(self.labels, np.asarray(list(labels), np.int32))
        return DetectionResult(self.boxes[keep], self.scores[keep], None if self.landmarks is None else self.landmarks[keep],
                               self.timings_ms, self.labels[keep], self.class_names)

    def to_list(self):
        """JSON-ready: one dict per face (facedge.base.faces)."""
        return faces_to_json(self.boxes, self.scores, self.landmarks, self.names)


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


def _threads(threads):
    if threads is None:
        return default_threads()
    threads = int(_number(threads, "threads", numbers.Integral))
    if threads < 1:
        raise FacedgeError(f"threads must be at least 1, got {threads}")
    cores = usable_cores()
    if threads > cores:
        warnings.warn(f"facedge.Detector: threads={threads} is more than the {cores} cores this process may use; "
                      f"ncnn's threads will compete for them and inference can slow down many times", RuntimeWarning,
                      stacklevel=4)
    return threads


RESIZE_FILTERS = ("auto", "bilinear", "area")
BF16_MODES = {True: "on", False: "off", "on": "on", "off": "off", "auto": "auto"}


def add_bf16_argument(parser):
    """The `--bf16 on|off|auto` option every command that runs a Detector shares."""
    try:
        default = f"default {default_options()['bf16']}"
    except ImportError:  # no built core: the help still works
        default = "default: the runtime's"
    parser.add_argument("--bf16", choices=("on", "off", "auto"), default=None,
                        help="bfloat16 storage of the network's float blobs and weights (half the memory traffic, "
                             f"fp32 arithmetic): on, off, or auto (on where the CPU has no fp16 storage: a Pi 4) ({default})")


def _bf16_mode(bf16) -> str:
    """The core's name for a `bf16` argument: True / False / 'on' / 'off' / 'auto'."""
    if isinstance(bf16, (bool, str)) and bf16 in BF16_MODES:
        return BF16_MODES[bf16]
    raise FacedgeError(f"bf16 must be True, False, 'on', 'off' or 'auto' (None: the default), got {bf16!r}")


def _options(threads, input_size, score_threshold, iou_threshold, top_k, nms, fp16, int8, lightmode, openmp_blocktime_ms,
             class_agnostic_nms, resize="auto", bf16=None):
    core = _require_core()
    o = core.DetectorOptions()  # the C++ defaults; None keeps them
    o.num_threads = _threads(threads)
    o.input_width, o.input_height = _size(input_size, "input_size")
    if score_threshold is not None:
        o.score_threshold = float(_number(score_threshold, "score_threshold"))
    if iou_threshold is not None:
        o.iou_threshold = float(_number(iou_threshold, "iou_threshold"))
    if top_k is not None:
        o.top_k = int(_number(top_k, "top_k", numbers.Integral))  # <= 0: no limit
    if nms not in ("hard", "blend"):
        raise FacedgeError(f"nms must be 'hard' or 'blend', got {nms!r}")
    o.nms = nms
    o.use_fp16 = bool(fp16)
    if bf16 is not None:
        o.bf16 = _bf16_mode(bf16)
    o.use_int8 = bool(int8)
    o.lightmode = bool(lightmode)
    o.openmp_blocktime_ms = int(_number(openmp_blocktime_ms, "openmp_blocktime_ms", numbers.Integral))
    o.class_agnostic_nms = bool(class_agnostic_nms)
    if resize not in RESIZE_FILTERS:
        raise FacedgeError(f"resize must be one of {', '.join(RESIZE_FILTERS)}, got {resize!r}")
    o.resize = resize
    return o


def _check_file(path: Path, what):
    if not path.is_file():
        raise FacedgeError(f"{path}: missing {what}")
    return str(path)


class Detector:
    """Detect faces with an ncnn model.

    Detector(model, threads=None, input_size=None, score_threshold=None, iou_threshold=None,
             top_k=None, nms="hard", fp16=True, bf16=None, int8=True, lightmode=True, class_agnostic_nms=False,
             resize="auto")

    model: a model directory (model.param, model.bin, facedge.json) or the name of a
    cached model (e.g. 'version-RFB-320-int8'). input_size (w, h) overrides the
    model's own. score_threshold, iou_threshold, top_k: None keeps the C++ core's
    defaults (`default_options()`); top_k <= 0: no limit. threads: ncnn's threads for
    inference (default: the cores this process may use, at most 4). Multi-class
    models (e.g. face / mask): each face gets its prior's best class; NMS runs per
    class unless class_agnostic_nms. resize: how frames are scaled to the input size:
    "auto" (area filtering above a 2x downscale, bilinear below), "bilinear", "area".
    bf16: bfloat16 storage of the float blobs and weights (fp32 arithmetic, half the
    memory traffic): True / "on", False / "off", or "auto" (on where the CPU has no
    fp16 storage, i.e. ARM without armv8.2 fp16: a Pi 4); None: the core's default
    (`default_options()["bf16"]`). Where fp16 storage runs (fp16=True on a Pi 5) it
    wins, as in ncnn. `float_storage` says which storage runs.

    One Detector may be shared by any number of threads: their inferences run one at
    a time on the Detector's own inference thread, so it never keeps more than
    `threads` cores busy in ncnn, while resizing, decoding and NMS run concurrently
    on the callers' threads. For more throughput from many callers, give each of a
    few Detectors a share of the cores."""

    def __init__(self, model, threads=None, input_size=None, score_threshold=None, iou_threshold=None, top_k=None, nms="hard",
                 fp16=True, int8=True, lightmode=True, openmp_blocktime_ms=20, class_agnostic_nms=False, resize="auto",
                 bf16=None):
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
        config.num_classes = len(info.class_names) if info.class_names else 0
        options = _options(threads, input_size, score_threshold, iou_threshold, top_k, nms, fp16, int8, lightmode, openmp_blocktime_ms,
                           class_agnostic_nms, resize, bf16)
        try:
            core_detector = core.Detector(_check_file(model_dir / PARAM_FILE, "ncnn .param"),
                                          _check_file(model_dir / BIN_FILE, "ncnn .bin"), config, options)
        except FacedgeError as e:
            if "'class_names'" in str(e):  # say which file to fix
                raise FacedgeError(f"{model_dir / INFO_FILE}: {e}") from None
            raise
        self._init(core_detector, model_dir, info)

    def _init(self, core_detector, model_dir, info):
        self._core = core_detector
        self.model_dir = model_dir
        self.info = info
        names = info.class_names if info is not None and info.class_names else None
        self.class_names = tuple(names or default_class_names(core_detector.num_score_columns))

    def label_index(self, name) -> int:
        """The label (index into class_names) of a class name; FacedgeError naming the
        classes when the model has no such class."""
        if name not in self.class_names:
            raise FacedgeError(f"class {name!r}: the model has no such class (its classes: {', '.join(self.class_names)})")
        return self.class_names.index(name)

    @classmethod
    def from_ncnn(cls, param, bin, family, input_size=None, threads=None, score_threshold=None, iou_threshold=None, top_k=None,
                  nms="hard", fp16=True, int8=True, lightmode=True, openmp_blocktime_ms=20, class_agnostic_nms=False,
                  resize="auto", bf16=None):
        """Load bare ncnn files (e.g. the upstream ULFD models) with the family's
        default preprocessing and blob names. input_size: the model's size."""
        core = _require_core()
        if not isinstance(family, str):
            raise FacedgeError(f"family must be a name such as 'ultraface-rfb', got {family!r}")
        config = core.ModelConfig.defaults_for(family)
        if input_size is not None:
            config.input_width, config.input_height = _size(input_size, "input_size")
        options = _options(threads, None, score_threshold, iou_threshold, top_k, nms, fp16, int8, lightmode, openmp_blocktime_ms,
                           class_agnostic_nms, resize, bf16)
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
        if input_size is None and pixel_format is None and type(image) is np.ndarray and image.dtype is _UINT8:
            # The common call, per frame, in the fewest Python steps (after an inference
            # they run from cold caches: about 20 us saved on a 3 ms detect). The core
            # checks the shape and the row packing; views it cannot read, and bad
            # images, take the full path below, which copies or says what is wrong.
            try:
                boxes, scores, labels, landmarks, timings = self._core.detect(image, "", 0, 0)
                return DetectionResult(boxes, scores, landmarks, timings, labels, self.class_names)
            except FacedgeError:
                pass
        image, fmt = self._image(image, pixel_format)
        w, h = _size(input_size, "input_size")
        boxes, scores, labels, landmarks, timings = self._core.detect(image, fmt, w, h)
        return DetectionResult(boxes, scores, landmarks, timings, labels, self.class_names)

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

    @property
    def float_storage(self) -> str:
        """How ncnn stores the float blobs and weights here: 'fp32', 'fp16' or 'bf16'
        (decided from fp16/bf16 and this CPU when the model loaded)."""
        return self._core.float_storage

    @property
    def precision(self) -> str:
        """What runs: the float storage, after 'int8 + ' when int8 layers run as int8."""
        int8 = self.int8_layer_count and self._core.options.use_int8
        return f"int8 + {self.float_storage}" if int8 else self.float_storage

    def __repr__(self):
        where = self.model_dir if self.model_dir else "bare ncnn files"
        return f"Detector({self.family}, {self.input_size[0]}x{self.input_size[1]}, {self.precision}, {where})"
