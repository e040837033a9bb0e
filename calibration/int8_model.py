"""Apply a calibration table to an fp32 ncnn model: the int8 model ncnn2int8 makes.

- Each layer in the table gets int8 weights (tag 0x000D4B38, rounded half away from
  zero and clamped to [-127, 127] as ncnn's quantize_to_int8 does), its
  int8_scale_term (Convolution 2, ConvolutionDepthWise 1, InnerProduct 2, as
  ncnn2int8 sets them) and, after the bias, its weight scales and input scale.
- A Convolution/ConvolutionDepthWise whose output feeds only int8 convolutions
  (directly or through a Split) requantizes: int8_scale_term + 100 and the next
  layer's input scale appended, so int8 flows between them without a round trip
  through float. Before that, activations are fused into the layer before them, as
  ncnnoptimize does, which is what makes convolutions consecutive.
- Every other weight that ncnn stores with a tag is written as fp16.
"""

from __future__ import annotations

import numpy as np

from facedge.calibration.graph import fuse_activations, quantizable_layers
from facedge.calibration.ncnn_model import Chunk, NcnnModel, raw_fp32, tagged_fp16, tagged_int8
from facedge.base.errors import FacedgeError

INT8_SCALE_TERM = {"Convolution": 2, "ConvolutionDepthWise": 1, "InnerProduct": 2}
REQUANTIZE_OFFSET = 100
FP16_MAX = 65504.0


def quantize_weights(weights: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """round(w * s) clamped to [-127, 127] per output channel, as ncnn does it: the
    product in float32, rounded half away from zero."""
    groups = len(scales)
    v = (weights.astype(np.float32).reshape(groups, -1) * scales.astype(np.float32)[:, None]).astype(np.float64)
    q = np.trunc(v + np.copysign(0.5, v))
    return np.clip(q, -127, 127).astype(np.int8).reshape(-1)


def check_table_matches(model: NcnnModel, scales: dict, table_path="calibration table"):
    """Every table entry must name a quantizable layer of this model with the right
    number of weight scales."""
    layers = {q.name: q for q in quantizable_layers(model)}
    for name, s in scales.items():
        if name not in layers:
            others = ", ".join(list(layers)[:6]) + (", ..." if len(layers) > 6 else "")
            raise FacedgeError(f"{table_path}: layer '{name}' is not a quantizable layer of {model.param_path} "
                               f"(its Convolution/ConvolutionDepthWise/InnerProduct layers: {others or 'none'}); "
                               "the table was made for another model")
        if len(s.weight) != layers[name].groups:
            raise FacedgeError(f"{table_path}: layer '{name}' has {len(s.weight)} weight scales but the model's layer "
                               f"has {layers[name].groups} output channels; the table was made for another model")


def build_int8_model(fp32: NcnnModel, scales: dict, protected_blobs=(), structure_only=False) -> tuple:
    """(int8 model, {"fused_activations": [...], "requantized": [...]}) from an fp32
    model and {layer name: LayerScales} for the layers to quantize. structure_only: which
    layers are int8 and which requantize, without their weights (what the cost model
    reads; the weights stay float and the model must not be written)."""
    if not structure_only:
        check_table_matches(fp32, scales)
    model = fp32.copy()
    fused = fuse_activations(model, set(protected_blobs))
    by_name = {layer.name: layer for layer in model.layers}
    for name, s in scales.items():
        layer = by_name[name]
        if structure_only:
            layer.set_param(8, INT8_SCALE_TERM[layer.type])
            continue
        weight = layer.chunk("weight")
        q = s.weight_int8 if getattr(s, "weight_int8", None) is not None else quantize_weights(weight.values, s.weight)
        layer.chunks[layer.chunks.index(weight)] = Chunk("weight", True, tagged_int8(q), q)
        layer.set_param(8, INT8_SCALE_TERM[layer.type])
        if getattr(s, "bias_delta", None) is not None:
            _add_to_bias(layer, weight, s.bias_delta)
        layer.chunks.append(Chunk("weight scales", False, raw_fp32(s.weight), s.weight.copy()))
        layer.chunks.append(Chunk("input scale", False, raw_fp32([s.input]), np.array([s.input], np.float32)))
    requantized = _fuse_requantize(model, scales, set(protected_blobs))
    if not structure_only:
        _store_fp16(model)
    return model, {"fused_activations": fused, "requantized": requantized}


def _add_to_bias(layer, weight_chunk, delta):
    """bias += delta (bias correction); a layer without bias gets one."""
    delta = np.asarray(delta, np.float32)
    bias = layer.chunk("bias")
    flag = 1 if layer.type == "InnerProduct" else 5
    if bias is None:
        layer.set_param(flag, 1)
        values = delta.copy()
        layer.chunks.insert(layer.chunks.index(layer.chunk("weight")) + 1, Chunk("bias", False, raw_fp32(values), values))
        return
    values = (bias.values.astype(np.float32) + delta).astype(np.float32)
    layer.chunks[layer.chunks.index(bias)] = Chunk("bias", False, raw_fp32(values), values)


def _fuse_requantize(model: NcnnModel, scales: dict, protected: set) -> list:
    consumers = model.consumers()

    def int8_conv_reading(blob):
        """The int8 Convolution/ConvolutionDepthWise that alone reads blob, else None."""
        users = consumers.get(blob, [])
        if blob in protected or len(users) != 1:
            return None
        layer = model.layers[users[0][0]]
        ok = layer.type in ("Convolution", "ConvolutionDepthWise") and len(layer.bottoms) == 1 and layer.name in scales
        return layer if ok else None

    fused = []
    for layer in model.layers:
        if layer.name not in scales or layer.type not in ("Convolution", "ConvolutionDepthWise") or len(layer.tops) != 1:
            continue
        top = layer.tops[0]
        nxt = int8_conv_reading(top)
        if nxt is not None:
            readers = [nxt]
        else:
            users = consumers.get(top, [])
            if top in protected or len(users) != 1 or model.layers[users[0][0]].type != "Split":
                continue
            readers = [int8_conv_reading(t) for t in model.layers[users[0][0]].tops]
            if any(r is None for r in readers):
                continue
        out_scales = {float(scales[r.name].input) for r in readers}
        if len(out_scales) != 1:
            continue  # the readers quantize differently: each must quantize the float output itself
        layer.set_param(8, layer.int_param(8) + REQUANTIZE_OFFSET)
        s = np.array([scales[readers[0].name].input], np.float32)
        layer.chunks.append(Chunk("output scale", False, raw_fp32(s), s))
        fused.append((layer.name, [r.name for r in readers]))
    return fused


def _store_fp16(model: NcnnModel):
    for layer in model.layers:
        for i, c in enumerate(layer.chunks):
            if c.tagged and c.values.dtype == np.float32 and np.all(np.abs(c.values) <= FP16_MAX):
                layer.chunks[i] = Chunk(c.what, True, tagged_fp16(c.values), c.values.astype(np.float16).astype(np.float32))
