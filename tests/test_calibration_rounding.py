"""--rounding adaptive (calibration/rounding.py): the patches it builds are the layer's
own inputs, and the int8 weights it chooses give a smaller layer output error on the
calibration activations than nearest rounding, at the same scales and within int8."""

import numpy as np
import pytest

from facedge.calibration import rounding
from facedge.calibration.int8_model import quantize_weights
from facedge.calibration.ncnn_model import Chunk, Layer
from facedge.calibration.scales import weight_scales


def conv_layer(kind, cin, cout, k, stride=1, dilation=1, pad=1, seed=0):
    rng = np.random.default_rng(seed)
    per_out = (1 if kind == "ConvolutionDepthWise" else cin) * k * k
    w = (rng.standard_normal((cout, per_out)) * rng.uniform(0.2, 1.0, (cout, 1))).astype(np.float32).ravel()
    values = {0: cout, 1: k, 2: dilation, 3: stride, 4: pad, 6: w.size}
    if kind == "ConvolutionDepthWise":
        values[7] = cout
    params = [(str(pid), str(v), v) for pid, v in values.items()]  # (key, text, value), as ncnn_model reads them
    return Layer(kind, "l", ["in"], ["out"], params, 0, [Chunk("weight", True, b"", w)])


def reference_conv(x, layer):
    """Direct convolution in float64 (ncnn weight order: out, in / group, kh, kw)."""
    g = rounding._geometry(layer)
    c, h, w = x.shape
    cout = layer.int_param(0)
    dw = layer.type == "ConvolutionDepthWise"
    wt = layer.chunk("weight").values.astype(np.float64).reshape(cout, 1 if dw else c, g["kh"], g["kw"])
    xp = np.pad(x, ((0, 0), (g["pt"], g["pb"]), (g["pl"], g["pr"])))
    oh = (h + g["pt"] + g["pb"] - (g["dh"] * (g["kh"] - 1) + 1)) // g["sh"] + 1
    ow = (w + g["pl"] + g["pr"] - (g["dw"] * (g["kw"] - 1) + 1)) // g["sw"] + 1
    out = np.zeros((cout, oh, ow))
    for ky in range(g["kh"]):
        for kx in range(g["kw"]):
            win = xp[:, ky * g["dh"]: ky * g["dh"] + g["sh"] * oh: g["sh"], kx * g["dw"]: kx * g["dw"] + g["sw"] * ow: g["sw"]]
            out += wt[:, :, ky, kx][:, :, None, None].sum(1) * win if dw else np.einsum("oc,chw->ohw", wt[:, :, ky, kx], win)
    return out.reshape(cout, -1)


@pytest.mark.parametrize("kind,k,stride,dilation,pad", [("Convolution", 3, 1, 1, 1), ("Convolution", 3, 2, 1, 1),
                                                        ("Convolution", 3, 1, 2, 2), ("Convolution", 1, 1, 1, 0),
                                                        ("ConvolutionDepthWise", 3, 2, 1, 1)])
def test_patches_reproduce_the_convolution(kind, k, stride, dilation, pad):
    cin = 6
    layer = conv_layer(kind, cin, cin if kind == "ConvolutionDepthWise" else 5, k, stride, dilation, pad)
    x = np.random.default_rng(1).standard_normal((cin, 9, 11))
    p = rounding.patches(x, layer)  # all positions: fewer than POSITIONS
    w = layer.chunk("weight").values.astype(np.float64)
    if kind == "ConvolutionDepthWise":
        got = np.einsum("pck,ck->cp", p, w.reshape(cin, -1))
    else:
        got = w.reshape(5, -1) @ p.reshape(len(p), -1).T
    assert got == pytest.approx(reference_conv(x, layer), abs=1e-9)


@pytest.mark.parametrize("kind,factor", [("Convolution", 0.9), ("ConvolutionDepthWise", 0.97)])
def test_adaptive_rounding_lowers_the_output_error(kind, factor):
    """Each weight rounded down or up, never further; the output error falls (less for a
    depthwise channel: 9 weights to choose among)."""
    cin = 16
    layer = conv_layer(kind, cin, cin if kind == "ConvolutionDepthWise" else 8, 3)
    rng = np.random.default_rng(2)
    # correlated, ReLU'd inputs, as after a convolution
    x = np.maximum(np.einsum("ij,jhw->ihw", rng.standard_normal((cin, cin)), rng.standard_normal((cin, 20, 20))), 0)
    h = rounding.Hessians([layer])
    h.add({"in": x}, {"l": "in"})
    w = layer.chunk("weight").values
    groups = layer.int_param(0)
    s = weight_scales(w, groups, False)
    near = quantize_weights(w, s)
    ada = rounding.round_weights(w, s, h.h["l"], kind == "ConvolutionDepthWise", 127)
    assert ada.dtype == np.int8 and ada.shape == near.shape and np.abs(ada.astype(int)).max() <= 127
    assert np.abs(ada.astype(int) - near.astype(int)).max() == 1  # the other way, at most

    def output_error(q):
        dq = layer.chunk("weight").values.copy()
        dq[:] = (q.reshape(groups, -1) / s[:, None]).ravel()
        approx = Layer(layer.type, "l", ["in"], ["out"], layer.params, 0, [Chunk("weight", True, b"", dq)])
        return np.linalg.norm(reference_conv(x, approx) - reference_conv(x, layer))

    assert output_error(ada) < factor * output_error(near)
    # the same inputs, the same weights: the same bytes
    assert np.array_equal(ada, rounding.round_weights(w, s, h.h["l"], kind == "ConvolutionDepthWise", 127))


def test_six_bit_layers_stay_within_six_bits():
    layer = conv_layer("Convolution", 8, 4, 3)
    x = np.maximum(np.random.default_rng(3).standard_normal((8, 12, 12)), 0)
    h = rounding.Hessians([layer])
    h.add({"in": x}, {"l": "in"})
    w = layer.chunk("weight").values
    s = weight_scales(w, 4, True)
    q = rounding.round_weights(w, s, h.h["l"], False, 31)
    assert np.abs(q.astype(int)).max() <= 31
