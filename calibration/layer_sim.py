"""A numpy model of ncnn's quantizable layers, in float and in int8, for searching
scales (eq) and for checking that ncnn ran int8 arithmetic.

The int8 path follows ncnn's forward_int8: the input quantized with the input scale
(round half away from zero, clamped to [-127, 127]), an integer sum of int8
products (exact here: float64 holds every such sum), then
sum * (1 / (input_scale * weight_scale[c])) + bias in float32 and the activation.
Outputs can be computed at a subset of positions: a search over scales needs only a
sample of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ConvGeometry:
    kind: str  # "conv" (Convolution / ConvolutionDepthWise) or "fc" (InnerProduct)
    num_output: int
    group: int = 1
    kernel: tuple = (1, 1)  # (kh, kw)
    dilation: tuple = (1, 1)
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)  # left, right, top, bottom; -233 / -234: ncnn's SAME padding
    activation: int = 0
    activation_params: tuple = ()

    @classmethod
    def of(cls, layer):
        p = layer.int_param
        act = layer.param(10, [])
        act = tuple(act) if isinstance(act, list) else (act,)
        if layer.type == "InnerProduct":
            return cls("fc", p(0, 0), activation=p(9, 0), activation_params=act)
        kw = p(1, 0)
        dw, sw, pl = p(2, 1), p(3, 1), p(4, 0)
        pt = p(14, pl)
        return cls("conv", p(0, 0), group=p(7, 1) if layer.type == "ConvolutionDepthWise" else 1,
                   kernel=(p(11, kw), kw), dilation=(p(12, dw), dw), stride=(p(13, sw), sw),
                   pads=(pl, p(15, pl), pt, p(16, pt)), activation=p(9, 0), activation_params=act)

    def padded(self, x: np.ndarray) -> np.ndarray:
        _, h, w = x.shape
        left, right, top, bottom = self.pads
        if left in (-233, -234):
            (kh, kw), (dh, dw), (sh, sw) = self.kernel, self.dilation, self.stride
            wpad = dw * (kw - 1) + 1 + (w - 1) // sw * sw - w
            hpad = dh * (kh - 1) + 1 + (h - 1) // sh * sh - h
            wpad, hpad = max(wpad, 0), max(hpad, 0)
            if left == -233:
                left, right, top, bottom = wpad // 2, wpad - wpad // 2, hpad // 2, hpad - hpad // 2
            else:
                left, right, top, bottom = wpad - wpad // 2, wpad // 2, hpad - hpad // 2, hpad // 2
        return np.pad(x, ((0, 0), (top, bottom), (left, right)))

    def output_shape(self, x_shape):
        _, h, w = x_shape
        hp, wp = self.padded(np.zeros((1, h, w), np.float32)).shape[1:]
        (kh, kw), (dh, dw), (sh, sw) = self.kernel, self.dilation, self.stride
        return (self.num_output, (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1)


def sample_positions(out_shape, limit: int) -> np.ndarray:
    """At most `limit` output positions on a regular grid (flat indices): a fixed,
    evenly spread sample."""
    n = out_shape[1] * out_shape[2]
    if n <= limit:
        return np.arange(n)
    return np.linspace(0, n - 1, limit).round().astype(np.int64)


def patches(g: ConvGeometry, x: np.ndarray, positions=None) -> np.ndarray:
    """(group, channels_per_group * kh * kw, P) input patches at the output positions."""
    if g.kind == "fc":
        return x.reshape(1, -1, 1)
    xp = g.padded(x)
    _, oh, ow = g.output_shape(x.shape)
    flat = np.arange(oh * ow) if positions is None else positions
    oy, ox = flat // ow, flat % ow
    (kh, kw), (dh, dw), (sh, sw) = g.kernel, g.dilation, g.stride
    taps = [xp[:, oy * sh + ky * dh, ox * sw + kx * dw] for ky in range(kh) for kx in range(kw)]
    cols = np.stack(taps, axis=1)  # (C, K, P)
    c = x.shape[0]
    return cols.reshape(g.group, (c // g.group) * kh * kw, -1)


def _weights(g: ConvGeometry, w: np.ndarray) -> np.ndarray:
    return w.reshape(g.group, g.num_output // g.group, -1)


def activate(y: np.ndarray, kind: int, params) -> np.ndarray:
    if kind == 1:
        return np.maximum(y, 0)
    if kind == 2:
        return np.where(y > 0, y, y * np.float32(params[0]))
    if kind == 3:
        return np.clip(y, params[0], params[1])
    if kind == 4:
        return 1 / (1 + np.exp(-y))
    if kind == 5:
        return y * np.tanh(np.log1p(np.exp(y)))
    if kind == 6:
        return y * np.clip(y * params[0] + params[1], 0, 1)
    return y


def forward_float(g: ConvGeometry, x, w, bias, positions=None) -> np.ndarray:
    """(num_output, P) float64 outputs, activation applied."""
    return float_from_patches(g, patches(g, x, positions), w, bias)


def float_from_patches(g: ConvGeometry, cols, w, bias) -> np.ndarray:
    y = np.matmul(_weights(g, w).astype(np.float64), cols.astype(np.float64)).reshape(g.num_output, -1)
    if bias is not None:
        y = y + bias.astype(np.float64)[:, None]
    return activate(y, g.activation, g.activation_params)


def quantize_values(x, scale) -> np.ndarray:
    v = (np.asarray(x, np.float32) * np.float32(scale)).astype(np.float64)
    return np.clip(np.trunc(v + np.copysign(0.5, v)), -127, 127)


def forward_int8(g: ConvGeometry, x, w_int8, weight_scales, input_scale, bias, positions=None) -> np.ndarray:
    """(num_output, P) float32 outputs of ncnn's int8 arithmetic, activation applied."""
    return int8_from_patches(g, patches(g, np.asarray(x, np.float32), positions), w_int8, weight_scales, input_scale, bias)


def int8_from_patches(g: ConvGeometry, cols, w_int8, weight_scales, input_scale, bias) -> np.ndarray:
    """forward_int8 on float input patches (patches()): quantizing is elementwise and
    padding is zero either way, so patches of the quantized input are the quantized
    patches; a search over input scales gathers them once."""
    k = cols.shape[1]
    # integer sums are exact in float32 while they stay below 2^24, which k products
    # of at most 127 * 127 guarantee up to k = 1040; float64 beyond
    exact = np.float32 if k * 127 * 127 < 2 ** 24 else np.float64
    acc = np.matmul(_weights(g, w_int8).astype(exact), quantize_values(cols, input_scale).astype(exact))
    acc = acc.reshape(g.num_output, -1)
    ws = np.asarray(weight_scales, np.float32)
    if g.kind == "conv" and g.group > 1 and len(ws) == g.group and g.group != g.num_output:
        ws = np.repeat(ws, g.num_output // g.group)
    with np.errstate(divide="ignore"):
        dequant = np.where(ws > 0, np.float32(1) / (np.float32(input_scale) * ws), np.float32(0)).astype(np.float32)
    y = acc.astype(np.float32) * dequant[:, None]
    if bias is not None:
        y = y + bias.astype(np.float32)[:, None]
    return activate(y, g.activation, g.activation_params).astype(np.float32)
