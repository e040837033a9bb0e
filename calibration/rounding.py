"""Weight rounding chosen for the layer's output, not weight by weight (`--rounding adaptive`).

Rounding every weight to its nearest int8 level minimises each weight's own error,
not the error of the layer's output, which is what the next layers see. AdaRound
(Nagel et al. 2020) chooses per weight whether to round down or up so that the
output error on calibration data is least; for one layer and one output channel
with weight errors e that error is e^T H e, H = sum of x x^T over the calibration
patches x the layer reads. AdaRound relaxes and trains the up/down choice; here it
is searched directly: starting from nearest rounding, each weight in turn takes the
other direction where that lowers e^T H e (the change is 2 d (H e)_i + d^2 H_ii for
a step d in e_i, so a pass over the weights costs one row of H per flip), for a few
passes. No training, no random start, no matrix inversion. The result is an ordinary
int8 weight per position with the same per-channel scales: ncnn runs it as any other.

H comes from the float model's own activations (its input blob, as calibration
reads it) on the first IMAGES calibration images, at most POSITIONS output positions
of each (evenly strided), summed in image order in float64: the same on every run
and for any --threads. Convolutions (any kernel, stride, dilation, explicit padding)
and depthwise convolutions are rounded this way; others keep nearest rounding.
"""

from __future__ import annotations

import numpy as np

IMAGES = 16
POSITIONS = 1024  # output positions per image and layer that enter H (16 k per layer in all)
SWEEPS = 4  # passes over the weights; each weight may change its rounding once per pass


def _geometry(layer):
    p = layer.int_param
    kw, dw, sw, pl = p(1, 0), p(2, 1), p(3, 1), p(4, 0)
    return dict(kw=kw, kh=p(11, kw), dw=dw, dh=p(12, dw), sw=sw, sh=p(13, sw), pl=pl, pr=p(15, pl), pt=p(14, pl),
                pb=p(16, p(14, pl)), group=p(7, 1), pad_value=float(layer.param(18, 0.0)))


def supported(layer) -> bool:
    if layer.type not in ("Convolution", "ConvolutionDepthWise") or layer.chunk("weight") is None:
        return False
    g = _geometry(layer)
    if min(g["pl"], g["pr"], g["pt"], g["pb"]) < 0:  # ncnn's "same" padding codes (-233, -234)
        return False
    return layer.type == "Convolution" or g["group"] == layer.int_param(0, 0)


def patches(x: np.ndarray, layer) -> np.ndarray:
    """(positions, C, kh * kw) input patches of `layer` over the blob x (C, H, W), at most
    POSITIONS of its output positions, evenly strided."""
    g = _geometry(layer)
    c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (g["pt"], g["pb"]), (g["pl"], g["pr"])), constant_values=g["pad_value"])
    oh = (h + g["pt"] + g["pb"] - (g["dh"] * (g["kh"] - 1) + 1)) // g["sh"] + 1
    ow = (w + g["pl"] + g["pr"] - (g["dw"] * (g["kw"] - 1) + 1)) // g["sw"] + 1
    pos = np.arange(oh * ow)
    if len(pos) > POSITIONS:
        pos = pos[np.linspace(0, len(pos) - 1, POSITIONS).round().astype(np.int64)]
    oy, ox = pos // ow * g["sh"], pos % ow * g["sw"]
    ky, kx = np.meshgrid(np.arange(g["kh"]) * g["dh"], np.arange(g["kw"]) * g["dw"], indexing="ij")
    ys = oy[:, None] + ky.ravel()[None, :]  # (positions, kh * kw)
    xs = ox[:, None] + kx.ravel()[None, :]
    return np.transpose(xp[:, ys, xs], (1, 0, 2))  # (positions, C, k)


class Hessians:
    """H = sum of x x^T over input patches, per layer (per channel for depthwise)."""

    def __init__(self, layers):
        self.layers = {layer.name: layer for layer in layers if supported(layer)}
        self.h = {}

    def add(self, blobs: dict, source_of: dict):
        for name, layer in self.layers.items():
            p = patches(np.asarray(blobs[source_of[name]], np.float64), layer)
            if layer.type == "ConvolutionDepthWise":
                pc = np.ascontiguousarray(np.transpose(p, (1, 0, 2)))  # (C, positions, k)
                h = np.matmul(np.swapaxes(pc, 1, 2), pc)  # (C, k, k)
            else:
                flat = p.reshape(len(p), -1)  # (positions, C * k): ncnn's weight order within an output channel
                h = flat.T @ flat
            self.h[name] = h if name not in self.h else self.h[name] + h


def round_weights(weights: np.ndarray, scales: np.ndarray, h: np.ndarray, depthwise: bool, levels: int) -> np.ndarray:
    """int8 weights (flat, ncnn order) of one layer, each rounded down or up for the least
    output error e^T H e (e: the weight errors of one output channel) on the calibration
    patches. weights: the float weights (flat); scales: per output channel (per group
    for depthwise); h: (n, n) for a convolution, (C, k, k) for depthwise."""
    s = np.asarray(scales, np.float64)
    rows = len(s)
    w = np.asarray(weights, np.float64).reshape(rows, -1)
    n = w.shape[1]
    live = s > 0  # an all-zero channel stays zero (ncnn: output = bias)
    safe = np.where(live, s, 1.0)[:, None]
    v = w * safe
    q = np.where(live[:, None], np.clip(np.trunc(v + np.copysign(0.5, v)), -levels, levels), 0.0)  # nearest, as ncnn
    low = np.clip(np.floor(v), -levels, levels)
    other = np.where(q == low, np.minimum(low + 1, levels), low)  # the other way to round each weight
    err = w - q / safe
    hh = np.broadcast_to(h, (rows, n, n)) if not depthwise else np.asarray(h, np.float64)
    g = np.einsum("ri,rij->rj", err, hh)  # H e per channel (einsum: numpy's own loops, no BLAS threads)
    diag = np.einsum("rii->ri", hh)
    for _ in range(SWEEPS):
        flips = 0
        for i in range(n):
            d = (q[:, i] - other[:, i]) / safe[:, 0]  # how e_i changes if weight i rounds the other way
            better = live & (other[:, i] != q[:, i]) & (2.0 * d * g[:, i] + d * d * diag[:, i] < 0)
            if not better.any():
                continue
            flips += int(better.sum())
            d = np.where(better, d, 0.0)
            q[:, i], other[:, i] = np.where(better, other[:, i], q[:, i]), np.where(better, q[:, i], other[:, i])
            g += d[:, None] * hh[:, i, :]
        if not flips:
            break
    return q.astype(np.int8).reshape(-1)
