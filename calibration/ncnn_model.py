"""An ncnn model (.param + .bin) as Python data: layers with their parameters and
weight chunks, read the way ncnn's ModelBin reads them, and written back.

Only what quantization needs is interpreted: layer types, blob names, the
parameters of the quantizable layers and the layout of every weight-bearing layer
(the same table as facedge's C++ model check, cpp/src/model_check.cpp). Everything
else is carried through untouched, so a model written back without changes is
byte-identical to the one read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError

PARAM_MAGIC = "7767517"
TAG_FP16 = 0x01306B47
TAG_BF16 = 0x01348B83
TAG_INT8 = 0x000D4B38
TAG_FP32 = 0x0002C056
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
    params: list  # [(key text, value text)] in file order; array keys are the -233xx form
    line_no: int
    chunks: list = field(default_factory=list)

    def param(self, pid: int, default=None):
        for key, value in self.params:
            if key == str(pid):
                return _number(value)
            if key == str(-23300 - pid):
                return [float(v) for v in value.split(",")[1:]]
        return default

    def int_param(self, pid: int, default: int = 0) -> int:
        return int(self.param(pid, default))

    def set_param(self, pid: int, value):
        """Set parameter pid: an int or float, or a list of floats (written in
        ncnn's array form -233xx=n,v1,...). Replaces it in place, else appends."""
        if isinstance(value, (list, tuple)):
            key, text = str(-23300 - pid), ",".join([str(len(value)), *(_float_text(v) for v in value)])
        else:
            key, text = str(pid), str(value) if isinstance(value, int) else _float_text(value)
        keys = (str(pid), str(-23300 - pid))
        for i, (k, _) in enumerate(self.params):
            if k in keys:
                self.params[i] = (key, text)
                return
        self.params.append((key, text))

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
        layers = [Layer(l.type, l.name, list(l.bottoms), list(l.tops), list(l.params), l.line_no, list(l.chunks))
                  for l in self.layers]  # noqa: E741
        return NcnnModel(layers, self.param_path)

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
                      *layer.bottoms, *layer.tops, *(f"{k}={v}" for k, v in layer.params)]
            lines.append(" ".join(fields))
        return "\n".join(lines) + "\n"

    def bin_bytes(self) -> bytes:
        return b"".join(c.data for layer in self.layers for c in layer.chunks)


def _float_text(v) -> str:
    return f"{float(v):e}"  # as ncnn's own writer prints floats


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _fail(path, line_no, what):
    raise FacedgeError(f"{path}:{line_no}: {what}" if line_no else f"{path}: {what}")


def parse_param(text: str, path="model.param") -> list:
    lines = text.splitlines()
    if not lines or lines[0].strip() != PARAM_MAGIC:
        _fail(path, 1, f"not an ncnn .param file (first line must be {PARAM_MAGIC})")
    if len(lines) < 2 or len(lines[1].split()) != 2 or not all(t.isdigit() for t in lines[1].split()):
        _fail(path, 2, "expected 'layer_count blob_count'")
    layer_count = int(lines[1].split()[0])
    layers = []
    for line_no, line in enumerate(lines[2:], start=3):
        t = line.split()
        if not t:
            continue
        if len(t) < 4 or not t[2].isdigit() or not t[3].isdigit() or len(t) < 4 + int(t[2]) + int(t[3]):
            _fail(path, line_no, f"expected 'type name bottom_count top_count blobs... params...', got {line.strip()[:80]!r}")
        nb, nt = int(t[2]), int(t[3])
        params = []
        for kv in t[4 + nb + nt:]:
            key, eq, value = kv.partition("=")
            if not eq or not key.lstrip("-").isdigit():
                _fail(path, line_no, f"layer '{t[1]}': bad parameter {kv!r} (expected id=value)")
            params.append((key, value))
        layers.append(Layer(t[0], t[1], t[4:4 + nb], t[4 + nb:4 + nb + nt], params, line_no))
    if len(layers) != layer_count:
        _fail(path, 2, f"declares {layer_count} layers but lists {len(layers)}")
    return layers


class _BinReader:
    def __init__(self, data: bytes, path):
        self.data, self.pos, self.path = data, 0, path

    def _take(self, layer, n, what):
        if len(self.data) - self.pos < n:
            raise FacedgeError(f"{self.path}: too short for layer '{layer.name}' ({layer.type}) {what}: needs {n} bytes at offset "
                               f"{self.pos}, {len(self.data) - self.pos} remain (truncated, or the .bin of another .param)")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def raw(self, layer, n, what):
        b = self._take(layer, 4 * n, what)
        layer.chunks.append(Chunk(what, False, b, np.frombuffer(b, dtype="<f4").astype(np.float32)))

    def tagged(self, layer, n, what):
        head = self._take(layer, 4, what)
        tag = struct.unpack("<I", head)[0]
        if tag == TAG_FP16:
            body = self._take(layer, _align4(2 * n), what)
            values = np.frombuffer(body[:2 * n], dtype="<f2").astype(np.float32)
        elif tag == TAG_BF16:
            body = self._take(layer, _align4(2 * n), what)
            bits = np.frombuffer(body[:2 * n], dtype="<u2").astype(np.uint32) << 16
            values = bits.view(np.float32)
        elif tag == TAG_INT8:
            body = self._take(layer, _align4(n), what)
            values = np.frombuffer(body[:n], dtype=np.int8).copy()
        elif tag == TAG_FP32 or sum(head) == 0:
            body = self._take(layer, 4 * n, what)
            values = np.frombuffer(body, dtype="<f4").astype(np.float32)
        else:  # a 256-entry value table and one byte index per weight
            body = self._take(layer, 1024 + _align4(n), what)
            table = np.frombuffer(body[:1024], dtype="<f4")
            values = table[np.frombuffer(body[1024:1024 + n], dtype=np.uint8)].astype(np.float32)
        layer.chunks.append(Chunk(what, True, head + body, values))


def _align4(n):
    return (n + 3) & ~3


def _read_weights(layer: Layer, r: _BinReader, path, allow_int8):
    t = layer.type
    p = layer.int_param
    if not allow_int8 and (t in INT8_TYPES or (t in QUANTIZABLE and p(8, 0))):
        raise FacedgeError(f"{path}: layer '{layer.name}' ({t}) is already int8; quantize the fp32 model instead")
    if t in ("Convolution", "ConvolutionDepthWise", "Deconvolution"):
        if p(19, 0):
            return  # dynamic weights come from a second input
        r.tagged(layer, p(6, 0), "weight")
        if p(5, 0):
            r.raw(layer, p(0, 0), "bias")
        _read_int8_scales(layer, r)
    elif t == "InnerProduct":
        r.tagged(layer, p(2, 0), "weight")
        if p(1, 0):
            r.raw(layer, p(0, 0), "bias")
        _read_int8_scales(layer, r)
    elif t in INT8_TYPES:
        r.raw(layer, p(0, 1), "scales")
        if t == "Requantize":
            r.raw(layer, p(1, 1), "output scales")
            if p(2, 0):
                r.raw(layer, p(2, 0), "bias")
        elif p(1, 0):
            r.raw(layer, p(1, 0), "bias")
    elif t == "BatchNorm":
        for what in ("slope", "mean", "var", "bias"):
            r.raw(layer, p(0, 0), what)
    elif t == "Scale":
        n = p(0, 0)
        if n != -233:
            r.raw(layer, n, "scale")
            if p(1, 0):
                r.raw(layer, n, "bias")
    elif t in ("Bias", "PReLU"):
        r.raw(layer, p(0, 0), "data")
    elif t == "MemoryData":
        w, h, d, c = p(0, 0), p(1, 0), p(11, 0), p(2, 0)
        if w:
            n = max(w, 1) * max(h, 1) * max(d, 1) * max(c, 1)
            (r.raw if p(21, 1) == 1 else r.tagged)(layer, n, "data")
    elif t == "Padding" and p(6, 0):
        r.raw(layer, p(6, 0), "pad values")


def _read_int8_scales(layer: Layer, r: _BinReader):
    term = layer.int_param(8, 0)
    if not term:
        return
    count = layer.int_param(0, 0)
    if layer.type == "ConvolutionDepthWise":
        count = layer.int_param(7, 1) if term in (1, 101) else 1
    r.raw(layer, count, "weight scales")
    r.raw(layer, 1, "input scale")
    if term > 100:
        r.raw(layer, 1, "output scale")


def read_model(param_path, bin_path, allow_int8=False) -> NcnnModel:
    """The model's layers and weights; an int8 model only with allow_int8 (for
    inspecting one: quantization starts from float)."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    try:
        text = param_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FacedgeError(f"{param_path}: cannot read ({e})") from None
    layers = parse_param(text, param_path)
    try:
        data = bin_path.read_bytes()
    except OSError as e:
        raise FacedgeError(f"{bin_path}: cannot read ({e})") from None
    reader = _BinReader(data, bin_path)
    for layer in layers:
        try:
            _read_weights(layer, reader, bin_path, allow_int8)
        except (TypeError, ValueError) as e:
            if isinstance(e, FacedgeError):
                raise
            raise FacedgeError(f"{param_path}:{layer.line_no}: layer '{layer.name}': bad parameter ({e})") from None
    if reader.pos != len(data):
        raise FacedgeError(f"{bin_path}: {len(data) - reader.pos} bytes left after the last layer's weights "
                           "(a layer type facedge does not know carries weights, or the .bin belongs to another .param)")
    return NcnnModel(layers, str(param_path))


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
