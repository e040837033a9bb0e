"""What a model costs on the board it is converted for, fp32 or mixed int8, estimated
from the cost tables shipped in calibration/costs/<cpu>.json: no emulation and no
timing on the user's machine.

A table holds, per layer class (conv1x1, conv3x3s1, dw3x3s2, ...; `layer_class`),
linear costs in the multiply-adds, input and output elements of a layer:
  fp32      the float layer
  int8      int8 weights and an int8 input, float output (dequantized in its epilogue)
  int8_rq   the same with an int8 output (requantized for the next int8 layer)
  quantize  the pass an int8 layer makes over a float input before it starts
  repack_float_pack8  (optional) the pass each reader makes over an int8 depthwise
            convolution's float output: ncnn's int8 depthwise writes float outputs
            packed by 8 lanes, which fp32 layers on a CPU without fp16 storage (the
            A72) must repack to 4 with ncnn's generic, element-by-element Packing
            (a float 1x1 convolution after an int8 depthwise one then costs 2-6 times
            its own price; the per-element cycles are the table's). Absent: no such pass.
and the measured cost of every layer of the bundled models at their own shapes
(`shapes`, used where a layer matches exactly). An int8 depthwise convolution off
ncnn's ARM fast paths (3x3, stride 1 or 2, no dilation, no activation or ReLU, channels
by 8) runs a generic loop instead, priced by the `dw_int8_generic` class where the
table has one (RetinaFace's leaky ReLU and BlazeFace's 5x5 kernels go there). Layers that are never quantized cost
the same in both models and enter as `other_per_element` times their output size.
A layer class the table does not have falls back to its type's `default_class` and
is reported as such.

The numbers' unit is the table's `unit`; estimated milliseconds are
units x `cycles_per_unit` / `clock_ghz`. 4-thread estimates divide the fp32 and the
int8 layers by their own speed-up at 4 threads (`speedup_4`, from whole models run
at 1 and 4 threads through the timing model: the busiest thread's cycles).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError
from facedge.calibration.graph import fuse_activations

TARGETS = {"pi4": "cortex-a72", "pi5": "cortex-a76"}
TARGET_NAMES = (*TARGETS, "this-machine")
DEFAULT_TARGET = "pi4"
ARM_PARTS = {"0xd08": "cortex-a72", "0xd0b": "cortex-a76"}  # /proc/cpuinfo "CPU part"
VARIANTS = ("fp32", "int8", "int8_rq")


def resolve_target(target: str) -> str:
    """--target -> the cost table's CPU name; a clear error for anything else."""
    if target in TARGETS:
        return TARGETS[target]
    if target == "this-machine":
        cpu = _this_cpu()
        if cpu is None:
            raise FacedgeError(f"--target this-machine: no cost table for this CPU ({platform.machine()}, "
                               f"{_cpu_model_name() or 'unknown model'}); facedge has tables for "
                               f"{', '.join(f'{k} ({v})' for k, v in TARGETS.items())}: pass one of them")
        return cpu
    raise FacedgeError(f"--target: expected one of {', '.join(TARGET_NAMES)}, got {target!r}")


def _cpu_model_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _this_cpu():
    if platform.machine().lower() not in ("aarch64", "arm64"):
        return None
    try:
        parts = [line.split(":", 1)[1].strip().lower() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("CPU part")]
    except OSError:
        return None
    cpus = {ARM_PARTS.get(p) for p in parts}
    return cpus.pop() if len(cpus) == 1 else None


@dataclass
class CostTable:
    cpu: str
    unit: str
    clock_ghz: float
    cycles_per_unit: float
    classes: dict  # class -> {variant: [fixed, per_mac, per_in, per_out]}
    quantize: list  # [fixed, per_element]
    other_per_element: float
    default_class: dict  # layer type -> class
    shapes: dict = field(default_factory=dict)  # shape key -> {variant: cost}
    source: str = ""
    # layers cut out of their model cost a few % more (fp32) or less (int8) than inside
    # it; these factors make the per-layer sums reproduce whole-model measurements
    scale: dict = field(default_factory=lambda: {"fp32": 1.0, "int8": 1.0})
    # whole-model speed-up at 4 threads per precision (the timing model's busiest thread):
    # ncnn's int8 kernels split over threads less evenly than its fp32 ones
    speedup_4: dict = field(default_factory=lambda: {"fp32": 4.0, "int8": 4.0})
    repack_float_pack8: list | None = None  # [fixed, per_element] per reader, or None

    @classmethod
    def load(cls, cpu: str, path=None) -> "CostTable":
        if path is None:
            ref = resources.files("facedge.calibration").joinpath("costs", f"{cpu}.json")
            if not ref.is_file():
                raise FacedgeError(f"no cost table for {cpu} in facedge/calibration/costs/")
            text = ref.read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        d = json.loads(text)
        return cls(d["cpu"], d["unit"], float(d["clock_ghz"]), float(d["cycles_per_unit"]), d["classes"],
                   d["quantize"], float(d["other_per_element"]), d["default_class"], d.get("shapes", {}),
                   d.get("source", ""), d.get("scale", {"fp32": 1.0, "int8": 1.0}),
                   d.get("speedup_4", {"fp32": 4.0, "int8": 4.0}), d.get("repack_float_pack8"))

    def ms(self, units: float) -> float:
        return units * self.cycles_per_unit / (self.clock_ghz * 1e6)


@dataclass
class LayerShape:
    name: str
    type: str
    cls: str
    key: str
    macs: int
    in_elems: int
    out_elems: int
    out_channels: int
    int8_fast: bool = True  # an int8 depthwise layer on ncnn's ARM fast path (dw_int8_fast)


def layer_class(layer_type, kernel, stride, dilation) -> str:
    k = f"{kernel[0]}x{kernel[1]}"
    if layer_type == "InnerProduct":
        return "fc"
    prefix = "dw" if layer_type == "ConvolutionDepthWise" else "conv"
    if kernel == (1, 1) and stride == (1, 1):
        return f"{prefix}1x1"
    if kernel == (3, 3) and dilation == (1, 1) and stride in ((1, 1), (2, 2)):
        return f"{prefix}3x3s{stride[0]}"
    if kernel == (3, 3) and stride == (1, 1):
        return f"{prefix}3x3dil"
    return f"{prefix}_{k}s{stride[0]}d{dilation[0]}"


GENERIC_DW = "dw_int8_generic"


def dw_int8_fast(layer, kernel, stride, dilation, channels) -> bool:
    """Whether ncnn 20261020's ARM int8 depthwise convolution runs this layer on its
    assembly fast path (ConvolutionDepthWise_arm::forward_int8_arm); always True for
    other layer types."""
    if layer.type != "ConvolutionDepthWise":
        return True
    return (kernel == (3, 3) and dilation == (1, 1) and stride in ((1, 1), (2, 2)) and layer.int_param(9, 0) in (0, 1)
            and channels % 8 == 0)


def shape_key(layer_type, kernel, stride, dilation, group, in_shape, out_shape) -> str:
    return (f"{layer_type}:k{kernel[0]}x{kernel[1]}:s{stride[0]}x{stride[1]}:d{dilation[0]}x{dilation[1]}:g{group}:"
            f"in{'x'.join(map(str, in_shape))}:out{'x'.join(map(str, out_shape))}")


def geometry(layer):
    """(kernel, stride, dilation, group) of a quantizable ncnn layer."""
    p = layer.int_param
    if layer.type == "InnerProduct":
        return (1, 1), (1, 1), (1, 1), 1
    kw, sw, dw = p(1, 0), p(3, 1), p(2, 1)
    return ((p(11, kw), kw), (p(13, sw), sw), (p(12, dw), dw), p(7, 1) if layer.type == "ConvolutionDepthWise" else 1)


def _cost(coef, macs, n_in, n_out):
    fixed, per_mac, per_in, per_out = coef
    return fixed + per_mac * macs + per_in * n_in + per_out * n_out


@dataclass
class Estimate:
    """A model's estimated cost: per layer and in total, units and ms at 1 and 4 threads."""

    table: CostTable
    layers: list  # [{"layer", "class", "precision", "input", "output", "cost", "source"}]
    other: float
    fallbacks: dict  # layer class not in the table -> the class used

    @property
    def total(self) -> float:
        return self.other + sum(r["cost"] for r in self.layers)

    @property
    def total_4(self) -> float:
        s = self.table.speedup_4
        return self.other / s["fp32"] + sum(r["cost"] / s[r["precision"] if r["precision"] == "int8" else "fp32"]
                                            for r in self.layers)

    def to_json(self):
        return {"cpu": self.table.cpu, "unit": self.table.unit, "total": round(self.total),
                "ms_1_thread": round(self.table.ms(self.total), 3), "ms_4_threads": round(self.table.ms(self.total_4), 3),
                "other_layers": round(self.other), "fallbacks": self.fallbacks,
                "layers": [{k: (round(v) if k == "cost" else v) for k, v in r.items() if k != "parallel"}
                           for r in self.layers]}


class ModelCosts:
    """One model's layer shapes, priced by one cost table."""

    def __init__(self, table: CostTable, fused_fp32, blob_shapes: dict, protected=()):
        """fused_fp32: the fp32 NcnnModel with activations fused (as int8 models are
        written); blob_shapes: {blob: (c, h, w)} from running it."""
        from facedge.calibration.graph import quantizable_layers

        self.table = table
        self.model = fused_fp32
        self.shapes = blob_shapes
        by_name = {layer.name: layer for layer in fused_fp32.layers}
        self.layers = {}
        for q in quantizable_layers(fused_fp32):
            layer = by_name[q.name]
            kernel, stride, dilation, group = geometry(layer)
            cin = tuple(blob_shapes[q.bottom])
            cout = tuple(blob_shapes[layer.tops[0]])
            n_in, n_out = int(np.prod(cin)), int(np.prod(cout))
            if layer.type == "InnerProduct":
                macs = n_in * layer.int_param(0, 0)
            else:
                macs = n_out * (cin[0] // group) * kernel[0] * kernel[1]
            self.layers[q.name] = LayerShape(q.name, layer.type, layer_class(layer.type, kernel, stride, dilation),
                                             shape_key(layer.type, kernel, stride, dilation, group, cin, cout),
                                             macs, n_in, n_out, cout[0],
                                             dw_int8_fast(layer, kernel, stride, dilation, cout[0]))
        quantizable = set(self.layers)
        self.other_elements = sum(int(np.prod(blob_shapes[t])) for layer in fused_fp32.layers
                                  if layer.name not in quantizable and layer.type not in ("Input", "Split")
                                  for t in layer.tops if t in blob_shapes)

    def _coef(self, s: LayerShape, variant: str, fallbacks: dict):
        cls = s.cls
        if cls not in self.table.classes:
            cls = self.table.default_class.get(s.type, "conv1x1")
            fallbacks[s.cls] = cls
        return self.table.classes[cls][variant]

    def layer_cost(self, name: str, variant: str, fallbacks=None) -> tuple:
        """(units, source) of one layer in one variant (fp32, int8, int8_rq)."""
        s = self.layers[name]
        if variant != "fp32" and not s.int8_fast and GENERIC_DW in self.table.classes:
            return max(_cost(self.table.classes[GENERIC_DW][variant], s.macs, s.in_elems, s.out_elems), 0.0), "fitted"
        exact = self.table.shapes.get(s.key)
        if exact is not None and variant in exact:
            return float(exact[variant]), "measured"
        fb = {} if fallbacks is None else fallbacks
        return max(_cost(self._coef(s, variant, fb), s.macs, s.in_elems, s.out_elems), 0.0), "fitted"

    def quantize_cost(self, name: str) -> float:
        fixed, per = self.table.quantize
        return fixed + per * self.layers[name].in_elems

    def repack_cost(self, layer, out_int8: bool, readers: dict) -> float:
        """The boundary pass(es) behind an int8 depthwise convolution whose output stays
        float (table.repack_float_pack8): one per layer reading it, Splits seen through."""
        coef = self.table.repack_float_pack8
        s = self.layers[layer.name]
        if not coef or out_int8 or layer.type != "ConvolutionDepthWise" or s.out_channels % 8:
            return 0.0
        n = max(1, readers.get(layer.tops[0], 0))
        return n * (coef[0] + coef[1] * s.out_elems)

    def estimate(self, int8_model=None) -> Estimate:
        """The cost of the fp32 model (int8_model None) or of an int8 model built
        from it (build_int8_model's output: which layers are int8, which requantize)."""
        from facedge.calibration.ncnn_model import QUANTIZABLE

        rows, fallbacks = [], {}
        int8 = {}
        producer_int8 = set()  # blobs written as int8
        if int8_model is not None:
            for layer in int8_model.layers:
                if layer.type in QUANTIZABLE and layer.int_param(8, 0) > 0:
                    int8[layer.name] = layer
                    if layer.int_param(8, 0) > 100:
                        producer_int8.update(layer.tops)
            split_of = {t: layer.bottoms[0] for layer in int8_model.layers if layer.type == "Split" for t in layer.tops}
            readers = _readers(int8_model)
        for name, s in self.layers.items():
            parallel = max(1, min(4, s.out_channels // 4))
            if name not in int8:
                units, source = self.layer_cost(name, "fp32", fallbacks)
                units *= self.table.scale["fp32"]
                rows.append({"layer": name, "class": s.cls, "precision": "fp32", "input": "float", "output": "float",
                             "cost": units, "source": source, "parallel": parallel})
                continue
            layer = int8[name]
            bottom = layer.bottoms[0]
            bottom = split_of.get(bottom, bottom)
            in_int8 = bottom in producer_int8
            out_int8 = layer.int_param(8, 0) > 100
            units, source = self.layer_cost(name, "int8_rq" if out_int8 else "int8", fallbacks)
            if not in_int8:
                units += self.quantize_cost(name)
            units *= self.table.scale["int8"]
            row = {"layer": name, "class": s.cls, "precision": "int8", "input": "int8" if in_int8 else "float",
                   "output": "int8" if out_int8 else "float", "cost": units, "source": source, "parallel": parallel}
            repack = self.repack_cost(layer, out_int8, readers)
            if repack:
                row["cost"] += repack
                row["repack"] = round(repack)
            rows.append(row)
        return Estimate(self.table, rows, self.table.other_per_element * self.other_elements, fallbacks)


def _readers(model) -> dict:
    """{blob: how many non-Split layers read it, directly or through Splits}"""
    consumers = model.consumers()

    def count(blob):
        n = 0
        for i, _ in consumers.get(blob, []):
            layer = model.layers[i]
            n += sum(count(t) for t in layer.tops) if layer.type == "Split" else 1
        return n

    return {t: count(t) for layer in model.layers for t in layer.tops}


def blob_shapes_of(model_dir, names) -> dict:
    """{blob: (c, h, w)} of a model directory's fp32 model on one frame at its input
    size, through facedge's runtime."""
    import facedge

    det = facedge.Detector(str(model_dir), threads=1, fp16=False, int8=False)
    w, h = det.input_size
    blobs = det.extract_blobs(np.zeros((h, w, 3), np.uint8), list(names))
    out = {}
    for n, a in blobs.items():
        a = np.asarray(a)
        out[n] = tuple(int(v) for v in (a.shape if a.ndim == 3 else (a.size, 1, 1)))
    return out


def model_costs_of(model_dir, fp32, protected, table: CostTable) -> ModelCosts:
    """A model directory's fp32 model priced by `table`: its activations fused as its
    int8 model will have them (`protected` blobs, the outputs, left alone), every blob's
    shape from one run through the runtime."""
    protected = set(protected)
    fused = fp32.copy()
    fuse_activations(fused, protected)
    names = sorted({t for layer in fused.layers for t in (*layer.bottoms, *layer.tops)})
    return ModelCosts(table, fused, blob_shapes_of(model_dir, names), protected)
