"""What in an ncnn graph gets quantized, and where int8 can flow between layers.

A quantizable layer (Convolution, ConvolutionDepthWise, InnerProduct with fixed
weights and one input) is quantized at its input blob: ncnn's int8 scales describe
that blob (`bottom_blob_int8_scales`). Blobs split by a Split layer carry the same
data, so statistics are collected once per `source` blob.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facedge.calibration.ncnn_model import QUANTIZABLE, NcnnModel

# Activation layers ncnn can fuse into the layer before (its activation_type, 9=)
FUSABLE_ACTIVATIONS = ("ReLU", "Clip", "Sigmoid", "Mish", "HardSwish")


@dataclass
class QuantLayer:
    index: int  # position in the model's layer list
    name: str
    type: str
    bottom: str  # the input blob its int8 scale describes
    source: str  # the blob holding the same data before any Split
    num_output: int
    groups: int  # weight scale count: num_output, or the depthwise group
    weight_6bit: bool  # ncnn's int8 winograd F(4,3) needs weights in 6 bits

    def weights(self, model: NcnnModel) -> np.ndarray:
        return model.layers[self.index].chunk("weight").values


def quantizable_layers(model: NcnnModel) -> list:
    producer = model.producer()
    layers = []
    for i, layer in enumerate(model.layers):
        if layer.type not in QUANTIZABLE or len(layer.bottoms) != 1 or layer.chunk("weight") is None:
            continue
        source = layer.bottoms[0]
        while source in producer and model.layers[producer[source]].type == "Split":
            source = model.layers[producer[source]].bottoms[0]
        num_output = layer.int_param(0, 0)
        groups = layer.int_param(7, 1) if layer.type == "ConvolutionDepthWise" else num_output
        kw = layer.int_param(1, 0)
        kh = layer.int_param(11, kw)
        dw = layer.int_param(2, 1)
        sw = layer.int_param(3, 1)
        six = (layer.type == "Convolution" and kw == 3 and kh == 3 and dw == 1 and layer.int_param(12, dw) == 1
               and sw == 1 and layer.int_param(13, sw) == 1)
        layers.append(QuantLayer(i, layer.name, layer.type, layer.bottoms[0], source, num_output, groups, six))
    return layers


def activation_of(layer) -> tuple:
    """The ncnn activation_type and params a standalone activation layer fuses to,
    or None where it cannot fuse."""
    if layer.type == "ReLU":
        slope = float(layer.param(0, 0.0))
        return (1, []) if slope == 0.0 else (2, [slope])
    if layer.type == "Clip":
        return (3, [float(layer.param(0, -3.4028235e38)), float(layer.param(1, 3.4028235e38))])
    if layer.type == "Sigmoid":
        return (4, [])
    if layer.type == "Mish":
        return (5, [])
    if layer.type == "HardSwish":
        return (6, [float(layer.param(0, 0.2)), float(layer.param(1, 0.5))])
    return None


def fuse_activations(model: NcnnModel, protected: set) -> list:
    """ncnn's own graph optimization (ncnnoptimize's fuse_*_activation): a Convolution,
    ConvolutionDepthWise or InnerProduct without activation whose only consumer is
    a ReLU/Clip/Sigmoid/Mish/HardSwish takes that activation over; the layer then
    writes the activation's output blob. Exact in float; in int8 it lets the layer
    requantize its output for the next one. Blobs in `protected` (the model's
    outputs) are never removed. Returns the fused (layer, activation) name pairs."""
    consumers = model.consumers()
    fused, drop = [], set()
    for i, layer in enumerate(model.layers):
        if layer.type not in QUANTIZABLE or layer.int_param(9, 0) != 0 or len(layer.tops) != 1:
            continue
        top = layer.tops[0]
        users = consumers.get(top, [])
        if top in protected or len(users) != 1:
            continue
        act_layer = model.layers[users[0][0]]
        act = activation_of(act_layer)
        if act is None or len(act_layer.bottoms) != 1 or len(act_layer.tops) != 1:
            continue
        activation_type, params = act
        layer.set_param(9, activation_type)
        if params:
            layer.set_param(10, params)
        layer.tops = [act_layer.tops[0]]
        drop.add(users[0][0])
        fused.append((layer.name, act_layer.name))
    model.layers = [layer for i, layer in enumerate(model.layers) if i not in drop]
    return fused
