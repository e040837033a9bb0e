"""Simplified ONNX -> ncnn `model.param` / `model.bin` with pnnx (the `pnnx` wheel ships
the binary), and the blob names pnnx gave the input and outputs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from facedge.base.errors import FacedgeError
from facedge.base.model_dir import BIN_FILE, PARAM_FILE
from facedge.calibration.ncnn_model import read_param

PNNX_TIMEOUT_S = 300
# pnnx writes a size-agnostic flatten as a shape expression, e.g. 6="4,*(*(2,0c),0h)"
# (width 4, height = 2 * channels * height of the input); see _classic_reshapes
RESHAPE_EXPRESSION = re.compile(r'\s6="([^"]*)"')


@dataclass
class NcnnGraph:
    input: str
    outputs: list  # output blob names in the ONNX graph's output order


def pnnx_executable() -> str:
    import pnnx

    return pnnx.EXEC_PATH


def convert(onnx_path: Path, out_dir: Path, scratch: Path, input_size, fp16: bool, n_outputs: int) -> NcnnGraph:
    """Write out_dir/model.param and model.bin; pnnx's by-products stay in scratch."""
    w, h = input_size
    scratch.mkdir(parents=True, exist_ok=True)
    src = scratch / "model.onnx"  # pnnx writes <input stem>.pnnxsim.onnx beside its input
    shutil.copyfile(onnx_path, src)
    args = [
        pnnx_executable(), str(src),
        f"inputshape=[1,3,{h},{w}]",
        # A second shape marks height and width as dynamic: reshapes are written as
        # expressions of the input instead of constants for this one size.
        f"inputshape2=[1,3,{2 * h},{2 * w}]",
        f"fp16={int(fp16)}",
        f"ncnnparam={out_dir / PARAM_FILE}", f"ncnnbin={out_dir / BIN_FILE}", f"ncnnpy={scratch / 'model_ncnn.py'}",
        f"pnnxparam={scratch / 'model.pnnx.param'}", f"pnnxbin={scratch / 'model.pnnx.bin'}",
        f"pnnxpy={scratch / 'model_pnnx.py'}", f"pnnxonnx={scratch / 'model.pnnx.onnx'}",
    ]
    try:
        run = subprocess.run(args, cwd=scratch, capture_output=True, text=True, timeout=PNNX_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FacedgeError(f"{onnx_path}: pnnx did not finish within {PNNX_TIMEOUT_S} s") from None
    param = out_dir / PARAM_FILE
    if run.returncode != 0 or not param.is_file() or not (out_dir / BIN_FILE).is_file():
        tail = " | ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
        raise FacedgeError(f"{onnx_path}: pnnx failed (exit {run.returncode}): {tail}")
    _classic_reshapes(param)
    return read_graph(param, n_outputs)


def _classic_reshapes(param: Path):
    """Rewrite 2-D shape-expression Reshapes as ncnn's classic `0=W 1=-1`: the same
    meaning (keep W columns, infer the rows), readable by any ncnn and by param checkers
    that know only numeric parameters (the upstream ULFD models use exactly this form)."""
    def classic(match):
        dims = _top_level_split(match.group(1))
        if len(dims) == 2 and re.fullmatch(r"\d+", dims[0]):
            return f" 0={dims[0]} 1=-1"
        return match.group(0)  # another shape: left as pnnx wrote it

    lines = param.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Reshape "):
            lines[i] = RESHAPE_EXPRESSION.sub(classic, line)
    param.write_text("\n".join(lines) + "\n")


def _top_level_split(expr: str):
    """'2,*(*(3,0c),0h)' -> ['2', '*(*(3,0c),0h)']: commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expr):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return parts


def read_graph(param: Path, n_outputs: int) -> NcnnGraph:
    """Input and output blob names of an ncnn param file: the Input layer's blob, and
    the blobs no layer consumes, in the order the graph produces them."""
    inputs, produced, consumed = [], [], set()
    for layer in read_param(param):
        consumed.update(layer.bottoms)
        produced.extend(layer.tops)
        if layer.type == "Input":
            inputs.extend(layer.tops)
    outputs = [b for b in produced if b not in consumed]
    if len(inputs) != 1 or len(outputs) != n_outputs:
        raise FacedgeError(f"{param}: expected 1 input and {n_outputs} outputs, found inputs {inputs} and outputs {outputs}")
    # pnnx names graph outputs out0, out1, ... in the ONNX output order
    if all(name.startswith("out") and name[3:].isdigit() for name in outputs):
        outputs.sort(key=lambda name: int(name[3:]))
    return NcnnGraph(input=inputs[0], outputs=outputs)
