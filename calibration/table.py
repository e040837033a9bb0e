"""The ncnn calibration table, as ncnn2table writes it and ncnn2int8 reads it:

    <layer>_param_0 <weight scale> <weight scale> ...     one line per quantized layer
    <layer> <input scale>                                  then one line per quantized layer

each value followed by a space. A layer left out of the table stays in float.
Values are written as the shortest text that reads back to the same float32 (where
ncnn2table prints '%f', which loses digits of small scales), so the int8 model
made from a table read back is the one written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError

WEIGHT_SUFFIX = "_param_0"


@dataclass
class LayerScales:
    weight: np.ndarray  # float32, one per output channel (per group for depthwise)
    input: np.float32
    bias_delta: np.ndarray | None = None  # added to the int8 layer's bias (bias correction); not part of the table
    weight_int8: np.ndarray | None = None  # the int8 weights, where not nearest-rounded (rounding.py); not in the table


def _number_text(v) -> str:
    return np.format_float_positional(np.float32(v), unique=True, trim="-")


def table_text(scales: dict) -> str:
    """scales: layer name -> LayerScales, in model order."""
    lines = [f"{name}{WEIGHT_SUFFIX} " + "".join(_number_text(v) + " " for v in s.weight) for name, s in scales.items()]
    lines += [f"{name} {_number_text(s.input)} " for name, s in scales.items()]
    return "\n".join(lines) + "\n"


def read_table(path) -> dict:
    """The table's scales by layer name: {name: LayerScales}, in file order of the
    weight lines. Both lines of a layer must be present, the values positive numbers
    (weight scales may be 0 for an all-zero channel)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FacedgeError(f"{path}: cannot read the calibration table ({e})") from None
    weights, inputs, where = {}, {}, {}
    for line_no, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        key, values = fields[0], fields[1:]
        try:
            numbers = np.array([float(v) for v in values], dtype=np.float32)
        except ValueError:
            raise FacedgeError(f"{path}:{line_no}: '{key}': expected numbers after the name, got {' '.join(values)[:60]!r}") from None
        if not values or not np.all(np.isfinite(numbers)) or np.any(numbers < 0):
            raise FacedgeError(f"{path}:{line_no}: '{key}': expected one or more finite non-negative scales")
        if key.endswith(WEIGHT_SUFFIX):
            target, name = weights, key[: -len(WEIGHT_SUFFIX)]
        else:
            target, name = inputs, key
            if len(numbers) != 1 or numbers[0] <= 0:
                raise FacedgeError(f"{path}:{line_no}: '{key}': expected one positive input scale, got {len(numbers)} value(s)")
        if name in target:
            raise FacedgeError(f"{path}:{line_no}: '{key}' appears twice (first on line {where[(key)]})")
        target[name] = numbers
        where[key] = line_no
    for name in weights:
        if name not in inputs:
            raise FacedgeError(f"{path}:{where[name + WEIGHT_SUFFIX]}: layer '{name}' has weight scales but no input scale line '{name} <scale>'")
    for name in inputs:
        if name not in weights:
            raise FacedgeError(f"{path}:{where[name]}: layer '{name}' has an input scale but no weight scale line '{name}{WEIGHT_SUFFIX} ...'")
    if not weights:
        raise FacedgeError(f"{path}: the calibration table lists no layers")
    return {name: LayerScales(w, np.float32(inputs[name][0])) for name, w in weights.items()}
