"""bf16 against fp32 storage on the Pi 4B, by the A72 timing model: bare ncnn inference
(ncnnbench: benchncnn's settings, the model's own weights, every output extracted)
of facedge model files at 1 and 4 threads, each run once with bf16 storage and once without, profiled under
qemu -cpu cortex-a72 with the cache simulation and costed with the memory and thread
model (estimate.phase_estimate).

    python -m bench.a72.timing.bf16 --ncnn-prefix PREFIX [--json OUT] [--plot PNG] NAME=MODEL_DIR[@WxH] ...

PREFIX: an aarch64 ncnn install built with NCNN_BF16 (facedge's cross build under
~/.cache/facedge/ncnn/20261020-aarch64-*/install). WxH: the input size (default the
model's); a padding family (YuNet) runs at its padded size. Profiles are kept under the
ARM cache, so a rerun re-costs them without emulating. The model's estimates have no
bf16 rows in their validation (ncnn's published Pi tables are fp32): they rest on the
same instruction and memory costs as fp32, not on a bf16 measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .estimate import phase_estimate, profile_run
from .kernels import build_driver
from .ncnn_build import arm_cache
from .prefix import cpu_prefix


def network_size(family: str, w: int, h: int) -> tuple:
    """The size the network runs at: YuNet pads each side up to a multiple of 32."""
    if family.startswith("yunet"):
        return -(-w // 32) * 32, -(-h // 32) * 32
    return w, h


def estimate(driver: Path, name: str, model_dir: Path, size, threads: int, bf16: bool) -> dict:
    info = json.loads((model_dir / "facedge.json").read_text())
    w, h = size or info["input_size"]
    nw, nh = network_size(info["family"], w, h)
    import hashlib

    files = hashlib.sha256((model_dir / "model.param").read_bytes() + (model_dir / "model.bin").read_bytes()).hexdigest()[:12]
    keep = (arm_cache() / "timing-bf16" / driver.name
            / f"{name}-{info['precision']}-{files}-{nw}x{nh}-t{threads}-{'bf16' if bf16 else 'fp32'}.txt.gz")
    if keep.is_file():
        from .profile import read_profile

        prof = read_profile(keep)
    else:
        keep.parent.mkdir(parents=True, exist_ok=True)
        prof, _ = profile_run([driver, model_dir / "model.param", nw, nh, 3, threads, 1, 1, 0, int(bf16), model_dir / "model.bin"],
                              prefix=cpu_prefix("cortex-a72"), threads=threads, cache=True, keep=keep)
    est = phase_estimate(prof, 1, threads)
    return {"model": name, "input": f"{w}x{h}", "network": f"{nw}x{nh}", "precision": info["precision"],
            "threads": threads, "storage": "bf16" if bf16 else "fp32", "ms": round(est["ms"], 2),
            "core_only_ms": round(est["core_only_ms"], 2)}


def plot(rows, path: Path):
    """Estimated ms per model, fp32 and bf16 storage side by side, at each thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = list(zip(rows[::2], rows[1::2]))
    threads = sorted({a["threads"] for a, _ in pairs})
    fig, axes = plt.subplots(1, len(threads), figsize=(6 * len(threads), 5), sharey=False)
    for ax, t in zip(axes if len(threads) > 1 else [axes], threads):
        mine = [(a, b) for a, b in pairs if a["threads"] == t]
        labels = [f"{a['model']} {a['precision']}\n{a['input']}" for a, _ in mine]
        x = range(len(mine))
        ax.bar([i - 0.2 for i in x], [a["ms"] for a, _ in mine], 0.4, label="fp32 storage", color="tab:gray")
        ax.bar([i + 0.2 for i in x], [b["ms"] for _, b in mine], 0.4, label="bf16 storage", color="tab:red")
        for i, (_, b) in zip(x, mine):
            ax.text(i + 0.2, b["ms"], f"{b['bf16_over_fp32']:.2f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("estimated ms, bare ncnn inference")
        ax.set_title(f"Pi 4B (A72 timing model, 1.5 GHz), {t} thread{'s' if t > 1 else ''}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ncnn-prefix", type=Path, required=True, help="an aarch64 ncnn install built with NCNN_BF16")
    p.add_argument("--threads", default="1,4")
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path, help="bars of fp32 and bf16 ms per model and thread count")
    p.add_argument("--from-json", action="store_true", help="re-draw and re-print --json's rows; run nothing")
    p.add_argument("models", nargs="*", metavar="NAME=MODEL_DIR[@WxH]")
    args = p.parse_args(argv)
    platform_h = args.ncnn_prefix / "include" / "ncnn" / "platform.h"
    if not platform_h.is_file() or "#define NCNN_BF16 1" not in platform_h.read_text():
        raise SystemExit(f"{args.ncnn_prefix}: not an ncnn install built with NCNN_BF16 (its include/ncnn/platform.h says not)")
    if args.from_json:
        rows = json.loads(args.json.read_text())
        args.models = []
    else:
        driver = build_driver(args.ncnn_prefix)
        rows = []
    for spec in args.models:
        name, _, rest = spec.partition("=")
        folder, _, size = rest.partition("@")
        wh = tuple(int(v) for v in size.split("x")) if size else None
        for threads in (int(t) for t in args.threads.split(",")):
            pair = [estimate(driver, name, Path(folder), wh, threads, bf16) for bf16 in (False, True)]
            pair[1]["bf16_over_fp32"] = round(pair[1]["ms"] / pair[0]["ms"], 3)
            rows += pair
            print(json.dumps(pair[0]), json.dumps(pair[1]), sep="\n", flush=True)
    print("\n| model | input | precision | threads | fp32 ms | bf16 ms | bf16 / fp32 |\n|---|---|---|---:|---:|---:|---:|")
    for a, b in zip(rows[::2], rows[1::2]):
        print(f"| {a['model']} | {a['input']} | {a['precision']} | {a['threads']} | {a['ms']:.1f} | {b['ms']:.1f} | "
              f"{b['bf16_over_fp32']:.2f} |")
    if args.json and not args.from_json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
