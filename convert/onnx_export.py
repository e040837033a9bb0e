"""PyTorch -> ONNX -> simplified ONNX.

The graph keeps the input height and width symbolic: pnnx then writes an ncnn graph
whose reshapes follow the input, so the runtime can run a model at another input size
than the one it was converted at.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from facedge.base.errors import FacedgeError

INPUT_NAME = "in0"
OPSET = 13


def fold_batchnorm(module):
    """A copy with every BatchNorm folded into the convolution before it, computed in
    float64 and rounded to float32 once: the exported weights then sit closer to the
    exact network than PyTorch's own fp32 conv-then-BN does (the exporter would fold
    them in float32 anyway)."""
    import copy

    with warnings.catch_warnings():
        # importing it loads torch.utils.mkldnn, whose TorchScript classes warn of deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.fx.experimental.optimization import fuse

    return fuse(copy.deepcopy(module).double().eval()).float()


def export(wrapper, input_size, path: Path, output_names):
    import torch

    w, h = input_size
    dummy = torch.zeros(1, 3, h, w)
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of torch.export, which needs
        # onnxscript and gives pnnx a graph it converts less cleanly; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        with torch.no_grad():
            torch.onnx.export(
                wrapper, (dummy,), str(path), input_names=[INPUT_NAME], output_names=list(output_names),
                opset_version=OPSET, dynamo=False, do_constant_folding=True,
                dynamic_axes={INPUT_NAME: {2: "height", 3: "width"}},
            )


def simplify(src: Path, dst: Path, input_size):
    import onnx
    import onnxsim

    w, h = input_size
    model, ok = onnxsim.simplify(onnx.load(str(src)), test_input_shapes={INPUT_NAME: [1, 3, h, w]})
    if not ok:
        raise FacedgeError(f"{src}: onnxsim could not verify the simplified graph against the original")
    onnx.save(model, str(dst))
