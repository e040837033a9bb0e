"""Bias correction (Nagel et al., "Data-Free Quantization", 2019, section 4.2): int8
weights shift each output channel's mean by E[(W8 / s - W) x] = (W8 / s - W) E[x];
adding the opposite to the layer's bias removes that shift. E[x] is the per-channel
mean of the layer's input over the calibration images (stats.BlobStats.channel_mean),
so the correction costs no extra pass over the images and is the same on every run.

Zero padding at the borders makes the true mean slightly smaller than E[x] there;
the correction ignores that (it is exact for 1x1 convolutions). InnerProduct layers
are left uncorrected: their input mean per element is not collected.
"""

from __future__ import annotations

import numpy as np

from facedge.calibration.int8_model import quantize_weights


def weight_error_shift(layer_type: str, weights: np.ndarray, num_output: int, groups: int, weight_scales: np.ndarray,
                       channel_mean: np.ndarray | None, weight_int8: np.ndarray | None = None) -> np.ndarray | None:
    """The per-output-channel bias delta that cancels the mean output error of int8
    weights, or None where it cannot be computed (InnerProduct, no mean, a shape
    that does not match)."""
    if layer_type not in ("Convolution", "ConvolutionDepthWise") or channel_mean is None:
        return None
    mean = np.asarray(channel_mean, np.float64)
    group = groups if layer_type == "ConvolutionDepthWise" else 1
    cin = len(mean)
    if num_output <= 0 or cin % group or num_output % group or weights.size % num_output:
        return None
    per_out = weights.size // num_output  # (cin / group) * kh * kw
    cin_g, out_g = cin // group, num_output // group
    if per_out % cin_g:
        return None
    k = per_out // cin_g
    q = (quantize_weights(weights, weight_scales) if weight_int8 is None else weight_int8).astype(np.float64)
    ws = np.asarray(weight_scales, np.float64)
    if len(ws) != num_output:  # depthwise: one scale per group
        ws = np.repeat(ws, num_output // len(ws))
    with np.errstate(divide="ignore", invalid="ignore"):
        dequant = np.where(ws[:, None] > 0, q.reshape(num_output, per_out) / ws[:, None], 0.0)
    err = (dequant - weights.astype(np.float64).reshape(num_output, per_out)).reshape(group, out_g, cin_g, k)
    shift = np.einsum("goik,gi->go", err, mean.reshape(group, cin_g)).reshape(num_output)
    return (-shift).astype(np.float32)
