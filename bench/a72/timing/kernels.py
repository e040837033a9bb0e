"""What one multiply-add costs on the A72, per kernel: fp32 against int8 convolution,
depthwise convolution, and the quantize / dequantize steps int8 adds.

    python -m bench.a72.timing.kernels --ncnn-prefix NCNN_INSTALL [--json OUT]

Each kernel is a one-layer ncnn network at a shape the ULFD 320x240 models run (zero
weights, benchncnn's settings), run by ncnnbench (built against the given aarch64 ncnn:
the one facedge ships, ~/.cache/facedge/ncnn/<ver>-aarch64-*/install) under qemu
-cpu cortex-a72 with the timing model, one thread. Reported: estimated cycles per
multiply-add (per element for quantize / dequantize), with the pipeline alone and with
the Pi 4B memory costs. An int8 convolution layer in ncnn takes float input and gives
float output: it quantizes its input and dequantizes its output itself, so its row
includes those; the int8 core alone is that row less the Quantize and Dequantize rows
for the same element counts."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .estimate import cycles_of, profile_run
from .model import A72_PI4B, NO_MEMORY, features, predict_ms
from .ncnn_build import DRIVER, arm_cache
from .validate import a72_prefix

CLOCK_MHZ = 1500
# (name, input w h c, layer line after the Input layer, multiply-adds or elements, unit).
# int8 layers as facedge's int8 models have them: int8_scale_term 2 (conv) / 1
# (depthwise) give float out; 102 / 101 requantize to int8 for the next int8 layer.
W, H = 80, 60  # the stride-4 level of a 320x240 ULFD network


def _conv(name, c_in, c_out, k, int8, w=W, h=H, stride=1, term=2):
    pad = k // 2
    wsize = c_out * c_in * k * k
    ow, oh = (w + 2 * pad - k) // stride + 1, (h + 2 * pad - k) // stride + 1
    line = (f"Convolution conv 1 1 data out 0={c_out} 1={k} 11={k} 3={stride} 13={stride} 4={pad} 14={pad} 5=1 "
            f"6={wsize} 9=1" + (f" 8={term}" if int8 else ""))
    return (name, (w, h, c_in), line, ow * oh * c_out * c_in * k * k, "multiply-add")


def _dw(name, c, int8, w=W, h=H, term=1):
    line = f"ConvolutionDepthWise conv 1 1 data out 0={c} 1=3 11=3 3=1 4=1 5=1 6={c * 9} 7={c} 9=1" + (f" 8={term}" if int8 else "")
    return (name, (w, h, c), line, w * h * c * 9, "multiply-add")


KERNELS = [
    _conv("conv1x1 64->64 fp32", 64, 64, 1, False), _conv("conv1x1 64->64 int8", 64, 64, 1, True),
    _conv("conv3x3 32->32 fp32", 32, 32, 3, False), _conv("conv3x3 32->32 int8", 32, 32, 3, True),
    _conv("conv1x1 64->64 int8, int8 out", 64, 64, 1, True, term=102),
    _dw("depthwise3x3 64 fp32", 64, False), _dw("depthwise3x3 64 int8", 64, True),
    _dw("depthwise3x3 64 int8, int8 out", 64, True, term=101),
    ("quantize fp32->int8", (W, H, 64), "Quantize q 1 1 data out 0=1", W * H * 64, "element"),
    ("dequantize int32->fp32", (W, H, 64), "Dequantize dq 1 1 data out 0=1 1=0", W * H * 64, "element"),
]


def build_driver(prefix: Path) -> Path:
    out = arm_cache() / "ncnn-bench" / f"ncnnbench-{prefix.parent.name}"
    if not out.is_file() or out.stat().st_mtime < DRIVER.stat().st_mtime:
        lib = prefix / "lib" / "libncnn.a"
        if not lib.is_file():
            raise SystemExit(f"{lib}: no aarch64 ncnn library (run .ci/arm cpp, which builds facedge's)")
        subprocess.run(["aarch64-linux-gnu-g++", "-O2", "-mcpu=cortex-a72", "-fopenmp", "-fno-rtti", "-o", str(out),
                        str(DRIVER), f"-I{prefix / 'include' / 'ncnn'}", str(lib), "-lpthread"], check=True)
    return out


def measure(driver: Path, work: Path) -> list:
    rows = []
    for name, (w, h, c), line, work_items, unit in KERNELS:
        param = work / (name.replace(" ", "_").replace(">", "").replace("-", "_").replace(",", "") + ".param")
        param.write_text(f"7767517\n2 2\nInput data 0 1 data 0={w} 1={h} 2={c}\n{line}\n")
        keep = arm_cache() / "timing-kernels" / driver.name / (param.stem + ".txt.gz")
        if keep.is_file():  # the same layer on the same ncnn: re-cost the kept profile
            from .profile import read_profile

            prof = read_profile(keep)
        else:
            prof, _ = profile_run([driver, param, w, h, c, 1, 1, 1, 0], prefix=a72_prefix(), threads=1, cache=True,
                                  cwd=work, keep=keep)
        core = cycles_of(prof, "cortex-a72", 1)
        feat = features(prof, 1, core)
        ms_core, ms_mem = predict_ms(feat, CLOCK_MHZ, NO_MEMORY), predict_ms(feat, CLOCK_MHZ, A72_PI4B)
        cyc_core, cyc_mem = ms_core * CLOCK_MHZ * 1e3, ms_mem * CLOCK_MHZ * 1e3
        rows.append({"kernel": name, "unit": unit, "work": work_items, "cycles_core": cyc_core, "cycles": cyc_mem,
                     "per_unit_core": cyc_core / work_items, "per_unit": cyc_mem / work_items,
                     "insns": sum(core["per_thread_insns"]), "ipc": sum(core["per_thread_insns"]) / cyc_core})
        print(f"  {name}: {cyc_mem / work_items:.3f} cycles per {unit}", file=sys.stderr)
    return rows


def table(rows) -> str:
    lines = ["| kernel | work | cycles / unit (pipeline) | cycles / unit (with memory) | instructions / unit | IPC |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['work'] / 1e6:.2f} M {r['unit']}s | {r['per_unit_core']:.3f} | "
                     f"{r['per_unit']:.3f} | {r['insns'] / r['work']:.3f} | {r['ipc']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ncnn-prefix", type=Path, required=True, help="an aarch64 ncnn install (include/, lib/libncnn.a)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    driver = build_driver(args.ncnn_prefix.resolve())
    with tempfile.TemporaryDirectory(prefix="a72-kernels-") as tmp:
        rows = measure(driver, Path(tmp))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"clock_mhz": CLOCK_MHZ, "memory_params": A72_PI4B.as_dict(), "rows": rows},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
