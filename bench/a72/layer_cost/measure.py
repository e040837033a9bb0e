"""What each quantizable layer of an ncnn model costs on an emulated Cortex-A72 / A76,
in fp32 and in int8, with and without the quantize pass at its input and the
requantize at its output: guest instructions under qemu, counted by the
shared/tools/arm/qemu-insn-count plugin.

With --cycles, each network's cycles come from the Cortex-A72 timing model (issue 12,
bench/a72/timing/, importable as bench.a72.timing): one run, the passes after the
first marked. Without it, guest instructions (an interim stand-in: instruction counts
favour fp32, whose NEON kernels retire fewer instructions per cycle than the int8
ones); the cost table built from the numbers says which in its "unit" field.

    python bench/a72/layer_cost/measure.py MODEL_DIR... --out costs.json [--cpu cortex-a72]
        [--prefix A72_PREFIX] [--plugin libinsncount.so] [--harness layer_cost] [--jobs 2]

Every layer is cut out of its model into a network of its own (Input -> [Quantize]
-> layer) at the shape it has in the model (input shape found by running the fp32
model in facedge's runtime on this machine), and run by layer_cost.cpp. Variants:
  fp32      the float layer (float in, float out)
  q_int8    int8 weights, int8 input (a Quantize layer before it), float out
  q_int8_rq int8 in, int8 out (requantized for the next int8 layer)
  quantize  the Quantize layer alone (once per input shape): subtracted from the
            q_ variants, and the pass an int8 layer makes over a float input
One forward pass = count(2 passes) - count(1 pass), in one process each (the first
pass makes the allocations). Whole models are measured too (fp32, every layer int8),
so that the per-layer sums can be checked against them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from facedge.calibration.costs import blob_shapes_of
from facedge.calibration.graph import fuse_activations, quantizable_layers
from facedge.calibration.int8_model import INT8_SCALE_TERM, REQUANTIZE_OFFSET, build_int8_model, quantize_weights
from facedge.calibration.ncnn_model import Chunk, NcnnModel, raw_fp32, read_model, tagged_int8
from facedge.calibration.scales import weight_scales
from facedge.calibration.table import LayerScales

QEMU = "/usr/bin/qemu-aarch64"
PASSES = (1, 2)
VARIANTS = ("fp32", "q_int8", "q_int8_rq", "quantize")


def _param_line(layer, bottoms, tops):
    fields = [layer.type, layer.name, str(len(bottoms)), str(len(tops)), *bottoms, *tops,
              *layer.param_fields()]
    return " ".join(fields)


def single_layer_net(layer, shape, quantize_scale=None):
    """(param text, bin bytes) of Input -> [Quantize] -> layer, blobs 'in' and 'out'."""
    c, h, w = shape
    lines = [f"Input in 0 1 in 0={w} 1={h} 2={c}"]
    data = b""
    src = "in"
    if quantize_scale is not None:
        lines.append("Quantize q 1 1 in qin 0=1")
        data += raw_fp32([quantize_scale])
        src = "qin"
    if layer is not None:
        lines.append(_param_line(layer, [src], ["out"]))
        data += b"".join(ch.data for ch in layer.chunks)
    else:
        lines[-1] = lines[-1].replace(" qin ", " out ")
    return "7767517\n" + f"{len(lines)} {len(lines) + 1}\n" + "\n".join(lines) + "\n", data


def int8_layer(layer, requantize: bool):
    """The layer with int8 weights (scales from its weights, input scale 1), as
    build_int8_model writes it; requantize: int8 output."""
    q = layer.copy()
    wchunk = q.chunk("weight")
    groups = q.int_param(7, 1) if q.type == "ConvolutionDepthWise" else q.int_param(0, 0)
    kw = q.int_param(1, 0)
    six = (q.type == "Convolution" and kw == 3 and q.int_param(11, kw) == 3 and q.int_param(2, 1) == 1
           and q.int_param(12, 1) == 1 and q.int_param(3, 1) == 1 and q.int_param(13, 1) == 1)
    ws = weight_scales(wchunk.values, groups, six)
    iw = quantize_weights(wchunk.values, ws)
    q.chunks[q.chunks.index(wchunk)] = Chunk("weight", True, tagged_int8(iw), iw)
    term = INT8_SCALE_TERM[q.type] + (REQUANTIZE_OFFSET if requantize else 0)
    q.set_param(8, term)
    q.chunks.append(Chunk("weight scales", False, raw_fp32(ws), ws))
    q.chunks.append(Chunk("input scale", False, raw_fp32([16.0]), np.array([16.0], np.float32)))
    if requantize:
        q.chunks.append(Chunk("output scale", False, raw_fp32([8.0]), np.array([8.0], np.float32)))
    return q


class Counter:
    def __init__(self, harness: Path, prefix: Path, plugin: Path, cpu: str, work: Path, timing=False):
        self.harness, self.prefix, self.plugin, self.cpu, self.work = harness, prefix, plugin, cpu, work
        self.timing = timing
        self.pin = ["unshare", "--pid", "--fork", "setarch", os.uname().machine, "-R"]
        if subprocess.run(self.pin + ["true"], capture_output=True).returncode != 0:
            self.pin = ["setarch", os.uname().machine, "-R"]

    def count(self, param: Path, binf: Path, shape, passes: int, io=()) -> int:
        fd, name = tempfile.mkstemp(dir=self.work, prefix="insns-")
        os.close(fd)
        c, h, w = shape
        cmd = self.pin + ["nice", "-n", "10", QEMU, "-cpu", self.cpu, "-L", str(self.prefix), "-plugin",
                          f"{self.plugin},out={name}", str(self.harness), str(param), str(binf), str(w), str(h), str(c),
                          str(passes), *io]
        run = subprocess.run(cmd, capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
        text = Path(name).read_text()
        os.unlink(name)
        if run.returncode != 0 or "insns:" not in text:
            raise SystemExit(f"layer_cost failed on {param}: {run.stdout}{run.stderr}")
        return int(text.split("insns:")[1].split()[0])

    def cycles(self, param: Path, binf: Path, shape, io=()) -> float:
        """Cycles of one pass by the A72 timing model (bench/a72/timing): layer_cost.cpp
        marks its passes after the first as phase 1; the busiest thread's cycles."""
        from bench.a72.timing import cycles_of, profile_run

        c, h, w = shape
        argv = [str(self.harness), str(param), str(binf), str(w), str(h), str(c), "3", *io]
        prof, _ = profile_run(argv, qemu_cpu=self.cpu, prefix=str(self.prefix), env={"LAYER_COST_THREADS": "1"},
                              threads=1)
        return max(cycles_of(prof, self.cpu, phase=1)["per_thread_cycles"])

    def per_pass(self, param_text, bin_bytes, shape, tag, io=()) -> float:
        d = Path(tempfile.mkdtemp(dir=self.work, prefix=tag.replace("/", "_") + "-"))
        (d / "m.param").write_text(param_text)
        (d / "m.bin").write_bytes(bin_bytes)
        if self.timing:
            return self.cycles(d / "m.param", d / "m.bin", shape, io)
        a, b = (self.count(d / "m.param", d / "m.bin", shape, n, io) for n in PASSES)
        return (b - a) / (PASSES[1] - PASSES[0])


def layer_geometry(layer, shape_in, shape_out):
    p = layer.int_param
    row = {"type": layer.type, "in": list(shape_in), "out": list(shape_out)}
    if layer.type == "InnerProduct":
        row.update(kernel=[1, 1], stride=[1, 1], dilation=[1, 1], group=1)
        row["macs"] = int(np.prod(shape_in)) * p(0, 0)
        return row
    kw = p(1, 0)
    row.update(kernel=[p(11, kw), kw], stride=[p(13, p(3, 1)), p(3, 1)], dilation=[p(12, p(2, 1)), p(2, 1)],
               group=p(7, 1) if layer.type == "ConvolutionDepthWise" else 1)
    k = row["kernel"][0] * row["kernel"][1]
    cin_per_group = shape_in[0] // row["group"]
    row["macs"] = int(np.prod(shape_out)) * cin_per_group * k
    return row


def measure_model(model_dir: Path, counter: Counter, jobs: int) -> dict:
    info = json.loads((model_dir / "facedge.json").read_text())
    fp32 = read_model(model_dir / "model.param", model_dir / "model.bin")
    protected = set(info.get("outputs", {}).values())
    fused = fp32.copy()
    fuse_activations(fused, protected)  # as the int8 models are written (ncnnoptimize's fusion)
    qlayers = quantizable_layers(fused)
    by_name = {layer.name: layer for layer in fused.layers}
    qnames = {q.name for q in qlayers}
    others = [t for layer in fused.layers if layer.name not in qnames and layer.type not in ("Input", "Split")
              for t in layer.tops]
    blobs = sorted({b for q in qlayers for b in (q.bottom, *by_name[q.name].tops)} | set(others))
    shapes = blob_shapes_of(model_dir, blobs)
    tasks, quantized_shapes = [], set()
    for q in qlayers:
        layer = by_name[q.name]
        shape = shapes[q.bottom]
        tasks += [(q.name, "fp32", single_layer_net(layer, shape), shape),
                  (q.name, "q_int8", single_layer_net(int8_layer(layer, False), shape, 16.0), shape),
                  (q.name, "q_int8_rq", single_layer_net(int8_layer(layer, True), shape, 16.0), shape)]
        if shape not in quantized_shapes:
            quantized_shapes.add(shape)
            tasks.append((f"quantize {shape}", "quantize", single_layer_net(None, shape, 16.0), shape))
    in_shape = (3, info["input_size"][1], info["input_size"][0])
    all_int8, _ = build_int8_model(fp32, {q.name: LayerScales(weight_scales(q.weights(fp32), q.groups, q.weight_6bit),
                                                                np.float32(16.0)) for q in quantizable_layers(fp32)},
                                   protected)
    outputs = sorted(protected)
    for tag, m in (("fp32", fp32), ("fp32_fused", fused), ("int8_all", all_int8)):
        param, data, inp, outs = _whole_net(m, outputs)
        tasks.append(("(whole model)", tag, (param, data, (inp, outs)), in_shape))

    def run(task):
        name, variant, net, shape = task
        param, data = net[0], net[1]
        io = net[2] if len(net) > 2 else ()
        return name, variant, counter.per_pass(param, data, shape, f"{name}-{variant}", io)

    results = {}
    done = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, variant, cost in pool.map(run, tasks):
            results.setdefault(name, {})[variant] = cost
            done += 1
            print(f"\r{model_dir.parent.name}/{model_dir.name}: {done}/{len(tasks)} networks counted", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    rows = []
    for q in qlayers:
        layer = by_name[q.name]
        row = {"layer": q.name, **layer_geometry(layer, shapes[q.bottom], shapes[layer.tops[0]]),
               "activation": layer.int_param(9, 0)}
        row.update({k: round(v, 1) for k, v in results[q.name].items()})
        row["quantize"] = round(results[f"quantize {shapes[q.bottom]}"]["quantize"], 1)
        rows.append(row)
    name = info.get("name") or (model_dir.parent.name if model_dir.name in ("fp32", "fp16") else model_dir.name)
    return {"model": name, "dir": str(model_dir), "input_size": info["input_size"],
            "other_elements": int(sum(np.prod(shapes[t]) for t in others)),
            "layers": rows, "whole": {k: round(v, 1) for k, v in results["(whole model)"].items()}}


def _whole_net(model: NcnnModel, outputs):
    """(param, bin, input blob, output blobs) of a whole model."""
    inp = next(layer for layer in model.layers if layer.type == "Input")
    return model.param_text(), model.bin_bytes(), inp.tops[0], ",".join(outputs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cpu", default="cortex-a72")
    p.add_argument("--prefix", type=Path, required=True, help="qemu -L prefix (shared/tools/arm/make-a72-prefix.sh)")
    p.add_argument("--plugin", type=Path, required=True)
    p.add_argument("--harness", type=Path, required=True, help="layer_cost built for aarch64")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--cycles", action="store_true",
                   help="cycles from the A72 timing model (bench.a72.timing, importable) instead of instruction counts")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="facedge-layer-cost-") as work:
        counter = Counter(args.harness.resolve(), args.prefix.resolve(), args.plugin.resolve(), args.cpu, Path(work),
                          args.cycles)
        # a pass of a network that does nearly nothing (ReLU on 4 values): what every
        # measured network pays besides its layers (extractor, dispatch)
        tiny = "7767517\n2 2\nInput in 0 1 in 0=1 1=1 2=4\nReLU relu 1 1 in out\n"
        unit = ("cycles per forward pass (A72 timing model: llvm-mca per block, busiest thread, no memory model)"
                if args.cycles else "guest instructions per forward pass (qemu, interim for cycles)")
        out = {"cpu": args.cpu, "unit": unit,
               "overhead": counter.per_pass(tiny, b"", (4, 1, 1), "overhead"),
               "models": [measure_model(m.resolve(), counter, args.jobs) for m in args.models]}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
