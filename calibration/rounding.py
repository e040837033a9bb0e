"""Weight rounding chosen for the layer's output, not weight by weight (`--rounding adaptive`).

Rounding every weight to its nearest int8 level minimises each weight's own error,
not the error of the layer's output, which is what the next layers see. AdaRound
(Nagel et al. 2020) learns per weight whether to round up or down so that the
output error on calibration data is least; OPTQ/GPTQ (Frantar et al. 2022) gets
close to it without training: the weights of one output channel are rounded one
input position at a time, and each rounding error is fed forward into the weights
not yet rounded, in proportion to how the layer's inputs correlate (the inverse of
H = E[x x^T] over calibration patches x). The result is an ordinary int8 weight per
position with the same per-channel scales: ncnn runs it as it runs any other.

H comes from the float model's own activations (its input blob, as calibration
reads it) on the first IMAGES calibration images, at most POSITIONS output positions
of each (evenly strided), summed in image order in float64: the same on every run
and for any --threads. Convolutions (any kernel, stride, dilation, explicit padding)
and depthwise convolutions are rounded this way; others keep nearest rounding.
"""

from __future__ import annotations

import numpy as np

IMAGES = 24
POSITIONS = 2048  # output positions per image and layer that enter H
DAMPING = 0.01  # of H's mean diagonal, added to its diagonal: keeps the inverse stable


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
                h = np.einsum("pci,pcj->cij", p, p)  # (C, k, k)
            else:
                flat = p.reshape(len(p), -1)  # (positions, C * k): ncnn's weight order within an output channel
                h = flat.T @ flat
            self.h[name] = h if name not in self.h else self.h[name] + h


def _inverse_cholesky_upper(h: np.ndarray) -> np.ndarray:
    """U with U^T U = H^-1 (upper triangular), for a (..., n, n) stack."""
    n = h.shape[-1]
    diag = np.einsum("...ii->...i", h)
    damp = DAMPING * np.maximum(diag.mean(axis=-1), 1e-12)
    h = h + damp[..., None, None] * np.eye(n)
    dead = diag == 0  # inputs that never fire: their weights do not matter, keep H invertible
    h = h + np.where(dead, 1.0, 0.0)[..., None] * np.eye(n)
    inv = np.linalg.inv(h)
    return np.swapaxes(np.linalg.cholesky(inv), -1, -2)


def round_weights(weights: np.ndarray, scales: np.ndarray, h: np.ndarray, depthwise: bool, levels: int) -> np.ndarray:
    """int8 weights (flat, ncnn order) of one layer, rounded with error feedback.
    weights: the float weights (flat); scales: per output channel (per group for
    depthwise); h: (n, n) for a convolution, (C, k, k) for depthwise."""
    s = np.asarray(scales, np.float64)
    rows = len(s)
    w = np.asarray(weights, np.float64).reshape(rows, -1).copy()
    n = w.shape[1]
    u = _inverse_cholesky_upper(h)  # (n, n) or (rows, n, n)
    if not depthwise:
        u = np.broadcast_to(u, (rows, n, n))
    q = np.zeros_like(w)
    live = s > 0  # an all-zero channel stays zero (ncnn: output = bias)
    for i in range(n):
        wq = np.clip(np.trunc(w[:, i] * s + np.copysign(0.5, w[:, i])), -levels, levels)
        q[:, i] = np.where(live, wq, 0)
        err = np.where(live, (w[:, i] - q[:, i] / np.where(live, s, 1)) / u[:, i, i], 0.0)
        w[:, i + 1:] -= err[:, None] * u[:, i, i + 1:]
    return q.astype(np.int8).reshape(-1)
