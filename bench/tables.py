"""The benchmark's results: records, ratios, the terminal table, JSON, CSV and the plot.

JSON (`facedge bench --json FILE`), schema "facedge-bench/1":
  {"schema": "facedge-bench/1", "command": str, "machine": {...}  (bench/machine.py),
   "thermal": {"before": {...}, "after": {...}}, "settings": {...},
   "other_load": {threads: share of the allowed cores' time other processes took while
                  that thread count was timed (0..1; above 0.1 the numbers are noisy)},
   "records": [ {"model": str, "precision": "fp32"|"fp16"|"int8", "runtime": str,
                 "threads": int, "input_size": [w, h], "median_ms": float,
                 "min_ms": float, "p90_ms": float, "fps": float (1000 / median_ms),
                 "stages_ms": {"preprocess", "inference", "postprocess": median ms or null},
                 "repeats": int, "faces": int|null, "cores": [int], "omp_wait_policy": str,
                 "float_storage": "fp32"|"fp16"|"bf16"|null (how facedge's ncnn stored the float
                 blobs and weights: facedge and ncnn-bare rows; null for the peers)} ],
   "ratios": [ {"model", "precision", "threads", "versus", "versus_precision",
                "facedge_ms", "versus_ms", "versus_over_facedge" (of medians),
                "versus_over_facedge_min" (of minimums: steadier on a busy machine)} ],
   "overhead": [ {"model", "precision", "threads", "facedge_ms", "bare_ms", "facedge_over_bare",
                  "facedge_over_bare_min"} ],
   "notes": [str]}
runtime is one of facedge, ncnn-bare (the bare ncnn inference inside facedge's
process: create_extractor, input, extract of an already normalized input), ncnn-python,
onnxruntime, opencv-dnn, yunet. versus_over_facedge above 1 means facedge is faster.
The CSV has one line per record, the stages as preprocess_ms, inference_ms, postprocess_ms.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from facedge.bench.timing import STAGES, summarize
from facedge.base.errors import FacedgeError
from facedge.base.atomic import atomic_path, atomic_write_text

SCHEMA = "facedge-bench/1"
RUNTIME_ORDER = ("facedge", "ncnn-bare", "ncnn-python", "onnxruntime", "opencv-dnn", "yunet")
PEER_COLUMNS = ("ncnn-python", "onnxruntime", "opencv-dnn", "yunet")
OVERHEAD_TARGET = 1.10
CSV_FIELDS = ("model", "precision", "runtime", "threads", "input_size", "median_ms", "min_ms", "p90_ms", "fps",
              "preprocess_ms", "inference_ms", "postprocess_ms", "repeats", "faces", "cores", "omp_wait_policy",
              "float_storage")


def records_from(results, threads, cores, wait_policy) -> list:
    """One record per (job row) of one thread count's results (bench/rounds.py)."""
    out = []
    for result in results:
        model = result["job"]["model"]
        for row, samples in result["samples"].items():
            if not samples["total"]:
                continue
            out.append({"model": model["name"], "precision": model["precision"], "runtime": row, "threads": threads,
                        "input_size": list(model["input_size"]), **summarize(samples),
                        "faces": None if row == "ncnn-bare" else result["faces"], "cores": list(cores),
                        "omp_wait_policy": wait_policy, "float_storage": result["ready"].get("float_storage")})
    return out


def _row_key(r):
    yunet_last = r["runtime"] == "yunet"
    return (yunet_last, r["model"], tuple(r["input_size"]), RUNTIME_ORDER.index(r["runtime"]), r["precision"])


def sort_records(records):
    return sorted(records, key=lambda r: (_row_key(r), r["threads"]))


def ratios(records) -> tuple:
    """(ratios to each peer, facedge's overhead over bare ncnn) for every facedge record."""
    index = {(r["model"], r["precision"], r["runtime"], r["threads"], tuple(r["input_size"])): r for r in records}
    versus, overhead = [], []
    for f in (r for r in records if r["runtime"] == "facedge"):
        size = tuple(f["input_size"])
        bare = index.get((f["model"], f["precision"], "ncnn-bare", f["threads"], size))
        if bare:
            overhead.append({"model": f["model"], "precision": f["precision"], "threads": f["threads"],
                             "facedge_ms": f["median_ms"], "bare_ms": bare["median_ms"],
                             "facedge_over_bare": round(f["median_ms"] / bare["median_ms"], 3),
                             "facedge_over_bare_min": round(f["min_ms"] / bare["min_ms"], 3)})
        candidates = {"ncnn-python": (f["model"], f["precision"]), "onnxruntime": (f["model"], "fp32"),
                      "opencv-dnn": (f["model"], "fp32"), "yunet": ("yunet", "fp32")}
        for runtime, (model, precision) in candidates.items():
            other = index.get((model, precision, runtime, f["threads"], size))
            if other:
                versus.append({"model": f["model"], "precision": f["precision"], "threads": f["threads"],
                               "versus": runtime, "versus_precision": precision, "facedge_ms": f["median_ms"],
                               "versus_ms": other["median_ms"],
                               "versus_over_facedge": round(other["median_ms"] / f["median_ms"], 3),
                               "versus_over_facedge_min": round(other["min_ms"] / f["min_ms"], 3)})
    return versus, overhead


def _table(header, rows) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
             for cells in [header, *rows]]
    return "\n".join(lines)


def _label(r, with_size=False):
    runtime = {"ncnn-bare": "ncnn bare inference"}.get(r["runtime"], r["runtime"])
    model = f"{r['model']} {r['input_size'][0]}x{r['input_size'][1]}" if with_size else r["model"]
    storage = r.get("float_storage")
    # what ran where it is not the model's own precision (e.g. "fp32, bf16 storage")
    precision = r["precision"] if storage in (None, "fp32") else f"{r['precision']}, {storage} storage"
    return [model, precision, runtime]


def _several_sizes(records):
    return len({tuple(r["input_size"]) for r in records}) > 1


def format_report(report: dict) -> str:
    records = report["records"]
    threads = sorted({r["threads"] for r in records})
    col = lambda t: f"{t} thread" + ("s" if t > 1 else "")
    rows = {}
    for r in sort_records(records):
        rows.setdefault(_row_key(r), (_label(r, _several_sizes(records)), {}))[1][r["threads"]] = r
    sizes = sorted({"x".join(map(str, r["input_size"])) for r in records})
    out = [f"median ms per frame (fps), input {', '.join(sizes)}, {report['settings']['repeats']} timed frames each"]
    out.append(_table(["model", "precision", "runtime", *map(col, threads)],
                      [label + [f"{c[t]['median_ms']:.2f} ({c[t]['fps']:.0f})" if t in c else "-" for t in threads]
                       for label, c in rows.values()]))
    out.append("")
    out.append("min / median / p90 ms, and the median stages: preprocess / inference / postprocess ms")
    detail = []
    for label, cells in rows.values():
        for t, r in sorted(cells.items()):
            s = r["stages_ms"]
            stages = " / ".join("-" if s[k] is None else f"{s[k]:.2f}" for k in STAGES)
            faces = "" if r["faces"] is None else str(r["faces"])
            detail.append(label + [str(t), f"{r['min_ms']:.2f} / {r['median_ms']:.2f} / {r['p90_ms']:.2f}", stages, faces])
    out.append(_table(["model", "precision", "runtime", "threads", "min / median / p90", "pre / inf / post", "faces"], detail))
    if report["ratios"] or report["overhead"]:
        out.append("")
        out.append("ratios of medians: other runtime / facedge (above 1.00: facedge is faster); "
                   f"overhead: facedge end-to-end / bare ncnn inference (target <= {OVERHEAD_TARGET:.2f})")
        peers = [p for p in PEER_COLUMNS if any(x["versus"] == p for x in report["ratios"])]
        ratio_rows = []
        for f in sort_records([r for r in records if r["runtime"] == "facedge"]):
            key = (f["model"], f["precision"], f["threads"])
            over = next((o for o in report["overhead"] if (o["model"], o["precision"], o["threads"]) == key), None)
            cells = [f"{over['facedge_over_bare']:.3f}" if over else "-"]
            for p in peers:
                x = next((x for x in report["ratios"] if (x["model"], x["precision"], x["threads"]) == key and x["versus"] == p), None)
                cells.append(f"{x['versus_over_facedge']:.2f}" if x else "-")
            ratio_rows.append([f["model"], f["precision"], str(f["threads"]), *cells])
        out.append(_table(["model", "precision", "threads", "overhead", *peers], ratio_rows))
    load = {t: v for t, v in report.get("other_load", {}).items() if v is not None}
    if load:
        out.append("")
        out.append("other processes' share of the cores while timing: "
                   + ", ".join(f"{t} thread{'s' if int(t) > 1 else ''} {v:.0%}" for t, v in load.items())
                   + ("  (above 10%: noisy)" if max(load.values()) > 0.10 else ""))
    return "\n".join(out)


def write_json(path, report: dict):
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")


def write_csv(path, records):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in sort_records(records):
        row = {k: r.get(k) for k in CSV_FIELDS}
        row.update({f"{s}_ms": r["stages_ms"][s] for s in STAGES})
        row["input_size"] = "x".join(map(str, r["input_size"]))
        row["cores"] = " ".join(map(str, r["cores"]))
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


RUNTIME_COLOURS = {"facedge": "tab:red", "ncnn-bare": "tab:gray", "ncnn-python": "tab:blue",
                   "onnxruntime": "tab:green", "opencv-dnn": "tab:purple", "yunet": "tab:orange"}


def write_plot(path, records, title):
    """Median latency against threads: a panel per model (YuNet, a peer with its own
    model, drawn in every panel of its input size), a colour per runtime, solid fp32
    and dashed int8 lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise FacedgeError(f"--plot {path}: needs matplotlib (pip install matplotlib)")
    path = Path(path)
    records = sort_records(records)
    models = list(dict.fromkeys(r["model"] for r in records if r["runtime"] != "yunet")) or ["yunet"]
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models) + 1.8, 4.2), squeeze=False, sharey=True)
    for ax, model in zip(axes[0], models):
        sizes = {tuple(r["input_size"]) for r in records if r["model"] == model}
        lines = {}
        for r in records:
            if r["model"] == model or (r["runtime"] == "yunet" and tuple(r["input_size"]) in sizes):
                lines.setdefault((r["runtime"], r["precision"]), []).append((r["threads"], r["median_ms"]))
        for (runtime, precision), points in lines.items():
            xs, ys = zip(*sorted(points))
            ax.plot(xs, ys, "--" if precision == "int8" else "-", marker="o", color=RUNTIME_COLOURS.get(runtime),
                    linewidth=2.5 if runtime == "facedge" else 1.2,
                    label=f"{' '.join(_label({'runtime': runtime, 'precision': precision, 'model': '', 'input_size': (0, 0)})[1:][::-1])}")
        size = "/".join(f"{w}x{h}" for w, h in sorted(sizes))
        ax.set_title(f"{model} ({size})", fontsize=9)
        ax.set_xlabel("threads")
        ax.set_xticks(sorted({r["threads"] for r in records}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("median ms per frame")
    handles, labels = {}, []
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), fontsize=7, loc="center right")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 1.8 / (4.2 * len(models) + 1.8), 1))
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        plt.close(fig)
