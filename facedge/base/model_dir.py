"""The model directory: the contract between conversion, calibration and the runtime.

A model directory holds `model.param`, `model.bin` (ncnn) and `facedge.json`:

    {"format": 1, "family": "ultraface-rfb", "input_size": [320, 240],
     "precision": "fp32", "pixel": "rgb", "mean": [127, 127, 127],
     "norm": [0.0078125, 0.0078125, 0.0078125], "input": "in0",
     "outputs": {"scores": "out0", "boxes": "out1"}, "source": {...}}

`class_names` (optional) names the face classes, one per score column after the
background: ["face"] for a two-class model, e.g. ["face", "mask"] for a mask
detector; without it a model's classes are called "face" (two-class) or
"class1", "class2", ... The runtime checks the count against the model's output.
`family` names the decoder (priors, variances, landmark count live in C++, one file
per family); `outputs` maps the family's output roles to ncnn blob names; the
preprocessing fields say how 8-bit pixels become the network input:
x = (pixel - mean) * norm, channels in `pixel` order. `source` is free-form
provenance (checkpoint sha256, facedge version, calibration settings).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facedge.base.atomic import atomic_write_text
from facedge.base.errors import FacedgeError
from facedge.base.paths import models_dir

FORMAT_VERSION = 1
PARAM_FILE = "model.param"
BIN_FILE = "model.bin"
INFO_FILE = "facedge.json"
PRECISIONS = ("fp32", "fp16", "int8")
# The model `facedge convert` makes when given no checkpoint (ULFD version-RFB-320), and
# the one the camera and the benchmarks run when given no model.
DEFAULT_MODEL = "version-RFB-320"
PIXEL_ORDERS = ("rgb", "bgr")


@dataclass
class ModelInfo:
    family: str
    input_size: tuple  # (width, height) the model was converted for; the runtime may use another
    input: str
    outputs: dict
    pixel: str
    mean: list
    norm: list
    precision: str = "fp32"
    source: dict = field(default_factory=dict)
    format: int = FORMAT_VERSION
    class_names: list | None = None  # face classes after the background column; None: default_class_names()

    def to_json(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        order = ["format", "family", "input_size", "precision", "pixel", "mean", "norm", "input", "outputs", "class_names",
                 "source"]
        return {k: d[k] for k in order if k != "class_names" or d[k] is not None}


def default_class_names(num_classes: int) -> list:
    """Names of a model's face classes when facedge.json gives none: 'face' for a
    background + face model, else class1, class2, ... (num_classes counts the background)."""
    return ["face"] if num_classes == 2 else [f"class{i}" for i in range(1, num_classes)]


def check_class_names(names, what) -> list:
    """A list of distinct, non-empty names without commas or surrounding spaces, or a
    FacedgeError that starts with `what`."""
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise FacedgeError(f"{what}: class names must be a non-empty list of strings, got {names!r}")
    for n in names:
        if not n or n != n.strip() or "," in n:
            raise FacedgeError(f"{what}: class name {n!r} must be non-empty, without commas or surrounding spaces")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FacedgeError(f"{what}: class names must be distinct, {', '.join(dup)} repeats")
    return list(names)


def _fail(path, what):
    raise FacedgeError(f"{path}: {what}")


def _numbers(path, key, value, n):
    if not (isinstance(value, list) and len(value) == n and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        _fail(path, f"'{key}' must be a list of {n} numbers, got {value!r}")
    return [float(v) for v in value]


def parse_model_info(data, path="facedge.json") -> ModelInfo:
    """Validate a decoded facedge.json object; errors name the file and the field."""
    if not isinstance(data, dict):
        _fail(path, "expected a JSON object")
    fmt = data.get("format")
    if fmt != FORMAT_VERSION:
        _fail(path, f"'format' must be {FORMAT_VERSION}, got {fmt!r} (written by a newer facedge?)")
    for key in ("family", "input_size", "input", "outputs", "pixel", "mean", "norm"):
        if key not in data:
            _fail(path, f"missing field '{key}'")
    if not isinstance(data["family"], str) or not data["family"]:
        _fail(path, f"'family' must be a non-empty string, got {data['family']!r}")
    size = data["input_size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        _fail(path, f"'input_size' must be [width, height] with positive integers, got {size!r}")
    if not isinstance(data["input"], str) or not data["input"]:
        _fail(path, f"'input' must be the ncnn input blob name, got {data['input']!r}")
    outputs = data["outputs"]
    if not (isinstance(outputs, dict) and outputs and all(isinstance(k, str) and isinstance(v, str) and v for k, v in outputs.items())):
        _fail(path, f"'outputs' must map output roles to ncnn blob names, got {outputs!r}")
    pixel = data["pixel"]
    if pixel not in PIXEL_ORDERS:
        _fail(path, f"'pixel' must be one of {', '.join(PIXEL_ORDERS)}, got {pixel!r}")
    precision = data.get("precision", "fp32")
    if precision not in PRECISIONS:
        _fail(path, f"'precision' must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    source = data.get("source", {})
    if not isinstance(source, dict):
        _fail(path, f"'source' must be an object, got {source!r}")
    class_names = data.get("class_names")
    if class_names is not None:
        class_names = check_class_names(class_names, f"{path}: 'class_names'")
    return ModelInfo(
        family=data["family"], input_size=(size[0], size[1]), input=data["input"], outputs=dict(outputs),
        pixel=pixel, mean=_numbers(path, "mean", data["mean"], 3), norm=_numbers(path, "norm", data["norm"], 3),
        precision=precision, source=source, class_names=class_names,
    )


def read_model_info(model_dir) -> ModelInfo:
    model_dir = Path(model_dir)
    path = model_dir / INFO_FILE
    if not path.is_file():
        _fail(model_dir, f"not a facedge model directory (no {INFO_FILE}; expected {PARAM_FILE}, {BIN_FILE} and {INFO_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail(path, f"not valid JSON ({e})")
    return parse_model_info(data, path)


def write_model_info(model_dir, info: ModelInfo):
    atomic_write_text(Path(model_dir) / INFO_FILE, json.dumps(info.to_json(), indent=2) + "\n")


def cached_model_names():
    """Names every command accepts for the models in the cache: '<name>-fp32', '<name>-int8'."""
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(f"{d.name}-{p.name}" for d in root.iterdir() if d.is_dir()
                  for p in d.iterdir() if p.name in PRECISIONS and (p / INFO_FILE).is_file())


def resolve_model(name_or_path) -> Path:
    """A model directory by path, or by name from the model cache.

    The cache holds one `facedge convert` output folder per model,
    <cache>/models/<name>/{fp32,int8}/; 'version-RFB-320-int8' names the int8
    model directory of 'version-RFB-320', and a bare 'version-RFB-320' its int8
    model where there is one, else its fp32 model."""
    text = str(name_or_path)
    p = Path(text).expanduser()
    if p.is_dir():
        if not (p / INFO_FILE).is_file():
            for precision in ("int8", "fp32", "fp16"):  # a convert output folder given as a path
                if (p / precision / INFO_FILE).is_file():
                    return p / precision
        return p
    if p.exists():
        raise FacedgeError(f"{p}: expected a model directory ({PARAM_FILE}, {BIN_FILE}, {INFO_FILE}), got a file")
    if "/" not in text and os.sep not in text:
        root = models_dir()
        for precision in PRECISIONS:
            if text.endswith("-" + precision) and (root / text[: -len(precision) - 1] / precision / INFO_FILE).is_file():
                return root / text[: -len(precision) - 1] / precision
        for precision in ("int8", "fp32", "fp16"):
            if (root / text / precision / INFO_FILE).is_file():
                return root / text / precision
    known = cached_model_names()
    hint = f"cached models: {', '.join(known)}" if known else "no models are cached yet; make one with 'facedge convert'"
    raise FacedgeError(f"{text}: no such model directory or cached model name ({hint})")
