"""An ncnn model (.param + .bin) as Python data, for quantization: layers with their
parameters and weight chunks, and a writer for the changed model.

Reading is facedge's C++ reader's (cpp/src/ncnn_param.cpp, ncnn_weights.cpp, through
`_core.ncnn_layers`), the one the model check uses: the .param syntax, and the one
table of which chunks each layer type loads from the .bin. This module adds Python
ergonomics: parameters by id, chunks by name, copies, and the writer. Parameters and
chunks keep their text and bytes as read, so a model written back without changes is
byte-identical to the one read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facedge import _core
from facedge.base.errors import FacedgeError

PARAM_MAGIC = "7767517"
TAG_FP16 = 0x01306B47  # the storage tags the writer uses
TAG_INT8 = 0x000D4B38
QUANTIZABLE = ("Convolution", "ConvolutionDepthWise", "InnerProduct")
INT8_TYPES = ("Quantize", "Dequantize", "Requantize")


@dataclass
class Chunk:
    """One mb.load() of a layer: `tagged` chunks (mb.load(n, 0)) start with a 4-byte
    storage tag; raw ones (mb.load(n, 1)) are bare float32."""

    what: str
    tagged: bool
    data: bytes  # as stored, tag and alignment padding included
    values: np.ndarray  # decoded float32, or int8 for int8-tagged chunks


@dataclass
class Layer:
    type: str
    name: str
    bottoms: list
    tops: list
    params: list  # [(key text, value text, value)] in file order; array keys are the -233xx form, their values lists
    line_no: int
    chunks: list = field(default_factory=list)

    def param(self, pid: int, default=None):
        for key, _, value in self.params:
            if key in (str(pid), str(-23300 - pid)):
                return value
        return default

    def int_param(self, pid: int, default: int = 0) -> int:
        return int(self.param(pid, default))

    def set_param(self, pid: int, value):
        """Set parameter pid: an int or float, or a list of floats (written in
        ncnn's array form -233xx=n,v1,...). Replaces it in place, else appends."""
        if isinstance(value, (list, tuple)):
            texts = [_float_text(v) for v in value]
            key, text, value = str(-23300 - pid), ",".join([str(len(texts)), *texts]), [float(t) for t in texts]
        elif isinstance(value, int):
            key, text = str(pid), str(value)
        else:
            key, text = str(pid), _float_text(value)
            value = float(text)  # as ncnn reads it back
        keys = (str(pid), str(-23300 - pid))
        for i, (k, _, _) in enumerate(self.params):
            if k in keys:
                self.params[i] = (key, text, value)
                return
        self.params.append((key, text, value))

    def param_fields(self) -> list:
        """The parameters as the .param line writes them: ["0=16", "-23310=2,...", ...]"""
        return [f"{key}={text}" for key, text, _ in self.params]

    def copy(self) -> "Layer":
        """A copy whose parameters, blobs and chunk list can change without touching
        this one; chunks are shared, as they are replaced, never modified."""
        return Layer(self.type, self.name, list(self.bottoms), list(self.tops), list(self.params), self.line_no, list(self.chunks))

    def chunk(self, what: str):
        for c in self.chunks:
            if c.what == what:
                return c
        return None


@dataclass
class NcnnModel:
    layers: list
    param_path: str = ""

    def copy(self) -> "NcnnModel":
        """A copy whose layers can be changed (parameters, blobs, chunk lists) without
        touching this one; chunks are shared, as they are replaced, never modified."""
        return NcnnModel([layer.copy() for layer in self.layers], self.param_path)

    def consumers(self):
        """blob name -> [(layer index, bottom slot)]"""
        out = {}
        for i, layer in enumerate(self.layers):
            for slot, b in enumerate(layer.bottoms):
                out.setdefault(b, []).append((i, slot))
        return out

    def producer(self):
        """blob name -> index of the layer that writes it"""
        return {t: i for i, layer in enumerate(self.layers) for t in layer.tops}

    def blob_count(self) -> int:
        names = set()
        for layer in self.layers:
            names.update(layer.bottoms)
            names.update(layer.tops)
        return len(names)

    def layer_index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def param_text(self) -> str:
        lines = [PARAM_MAGIC, f"{len(self.layers)} {self.blob_count()}"]
        for layer in self.layers:
            fields = [f"{layer.type:<16}", f"{layer.name:<24}", str(len(layer.bottoms)), str(len(layer.tops)),
                      *layer.bottoms, *layer.tops, *layer.param_fields()]
            lines.append(" ".join(fields))
        return "\n".join(lines) + "\n"

    def bin_bytes(self) -> bytes:
        return b"".join(c.data for layer in self.layers for c in layer.chunks)


def _float_text(v) -> str:
    return f"{float(v):e}"  # as ncnn's own writer prints floats


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise FacedgeError(f"{path}: cannot read {what} ({e})") from None


def _layer(d: dict, data: bytes) -> Layer:
    chunks = [Chunk(what, tagged, data[offset:offset + size], values.astype(np.int8) if storage == "int8" else values)
              for what, tagged, offset, size, storage, values in d["chunks"]]
    return Layer(d["type"], d["name"], d["bottoms"], d["tops"], d["params"], d["line"], chunks)


def read_param(param_path) -> list:
    """The layers of a .param file (no weights), as facedge's C++ reader parses it."""
    param_path = Path(param_path)
    text = _read_bytes(param_path, "ncnn .param").decode("utf-8", errors="replace")
    return [_layer(d, b"") for d in _core.ncnn_layers(text, str(param_path))]


def read_model(param_path, bin_path, allow_int8=False) -> NcnnModel:
    """The model's layers and weights, read by facedge's C++ reader (the model check's);
    an int8 model only with allow_int8 (for inspecting one: quantization starts from
    float)."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    text = _read_bytes(param_path, "ncnn .param").decode("utf-8", errors="replace")
    data = _read_bytes(bin_path, "ncnn .bin")
    layers = [_layer(d, data) for d in _core.ncnn_layers(text, str(param_path), data, str(bin_path))]
    for layer in layers:
        if not allow_int8 and (layer.type in INT8_TYPES or (layer.type in QUANTIZABLE and layer.int_param(8, 0))):
            raise FacedgeError(f"{bin_path}: layer '{layer.name}' ({layer.type}) is already int8; quantize the fp32 model instead")
    return NcnnModel(layers, str(param_path))


def _align4(n):
    return (n + 3) & ~3


def tagged_fp32(values: np.ndarray) -> bytes:
    return struct.pack("<I", 0) + np.ascontiguousarray(values, dtype="<f4").tobytes()


def tagged_fp16(values: np.ndarray) -> bytes:
    body = np.ascontiguousarray(values, dtype=np.float32).astype("<f2").tobytes()
    return struct.pack("<I", TAG_FP16) + body + b"\0" * (_align4(len(body)) - len(body))


def tagged_int8(values: np.ndarray) -> bytes:
    body = np.ascontiguousarray(values, dtype=np.int8).tobytes()
    return struct.pack("<I", TAG_INT8) + body + b"\0" * (_align4(len(body)) - len(body))


def raw_fp32(values) -> bytes:
    return np.ascontiguousarray(values, dtype="<f4").tobytes()
