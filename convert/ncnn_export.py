"""Simplified ONNX -> ncnn `model.param` / `model.bin` with pnnx (the `pnnx` wheel ships
the binary), and the blob names pnnx gave the input and outputs.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from facedge.runtime.errors import FacedgeError
from facedge.runtime.model_dir import BIN_FILE, PARAM_FILE

PNNX_TIMEOUT_S = 300


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
    return read_graph(param, n_outputs)


def read_graph(param: Path, n_outputs: int) -> NcnnGraph:
    """Input and output blob names of an ncnn param file: the Input layer's blob, and
    the blobs no layer consumes, in the order the graph produces them."""
    lines = param.read_text().splitlines()
    if not lines or lines[0].strip() != "7767517":
        raise FacedgeError(f"{param}: not an ncnn param file (bad magic)")
    inputs, produced, consumed = [], [], set()
    for line in lines[2:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        kind, n_in, n_out = fields[0], int(fields[2]), int(fields[3])
        bottoms = fields[4:4 + n_in]
        tops = fields[4 + n_in:4 + n_in + n_out]
        consumed.update(bottoms)
        produced.extend(tops)
        if kind == "Input":
            inputs.extend(tops)
    outputs = [b for b in produced if b not in consumed]
    if len(inputs) != 1 or len(outputs) != n_outputs:
        raise FacedgeError(f"{param}: expected 1 input and {n_outputs} outputs, found inputs {inputs} and outputs {outputs}")
    # pnnx names graph outputs out0, out1, ... in the ONNX output order
    if all(name.startswith("out") and name[3:].isdigit() for name in outputs):
        outputs.sort(key=lambda name: int(name[3:]))
    return NcnnGraph(input=inputs[0], outputs=outputs)
