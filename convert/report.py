"""OUT/report.json and OUT/report.md: what a conversion produced and how close each
stage stayed to the PyTorch network."""

from __future__ import annotations

import json
from pathlib import Path

from facedge.base.atomic import atomic_write_text

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CONVERTED_STAGES = ("onnxruntime", "ncnn")


def build(*, name, family, input_size, precision, checkpoint, images, diffs, faces, tolerance,
          files, timings, outputs, version, class_names=("face",)):
    """The report as a JSON-ready dict. `diffs`: stage -> StageDiff; `faces`: counts from
    verify.compare_stages; `files`: relative path -> bytes; `timings`: step -> seconds."""
    stages = {stage: {"max_abs": d.max_abs, "mean_abs": d.mean_abs} for stage, d in diffs.items()}
    # PyTorch's own fp32 result is shown for scale; the converted stages are what is checked
    raw_ok = (all(d.worst() <= tolerance for stage, d in diffs.items() if stage in CONVERTED_STAGES)
              if tolerance is not None else None)
    matched_fraction = faces["matched"] / faces["reference"] if faces["reference"] else 1.0
    return {
        "format": 1,
        "facedge": version,
        "name": name,
        "family": family.name,
        "input_size": list(input_size),
        "precision": precision,
        "outputs": outputs,
        "class_names": list(class_names),
        "checkpoint": checkpoint,
        "images": images,
        "parity": {"reference": "torch float64", "tolerance_max_abs": tolerance, "within_tolerance": raw_ok,
                   "stages": stages},
        "faces": {**faces, "matched_fraction": matched_fraction},
        "files": files,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }


def write(out_dir: Path, report: dict):
    atomic_write_text(out_dir / REPORT_JSON, json.dumps(report, indent=2) + "\n")
    atomic_write_text(out_dir / REPORT_MD, markdown(report))


def _sci(v):
    return f"{v:.2e}"


def markdown(r: dict) -> str:
    w, h = r["input_size"]
    ck = r["checkpoint"]
    par = r["parity"]
    lines = [
        f"# facedge convert: {r['name']}",
        "",
        f"- family: `{r['family']}`, input {w}x{h}, {r['precision']}, facedge {r['facedge']}",
        f"- checkpoint: `{ck['name']}` ({ck['bytes']} bytes, sha256 `{ck['sha256']}`), {ck['num_classes']} classes",
        f"- images: {r['images']['count']} ({r['images']['source']})",
        "",
        "## Raw outputs against the reference (the PyTorch network in float64)",
        "",
        "| stage | output | max abs | mean abs |",
        "|---|---|---|---|",
    ]
    for stage, d in par["stages"].items():
        for role in d["max_abs"]:
            lines.append(f"| {stage} | {role} | {_sci(d['max_abs'][role])} | {_sci(d['mean_abs'][role])} |")
    if par["tolerance_max_abs"] is not None:
        verdict = "within" if par["within_tolerance"] else "NOT within"
        lines += ["", f"The converted stages ({', '.join(CONVERTED_STAGES)}) are {verdict} "
                      f"{par['tolerance_max_abs']:g} max abs of the reference; PyTorch's own fp32 result is shown for scale."]
    f = r["faces"]
    lines += [
        "",
        "## Faces",
        "",
        f"Reference decode (score > {f['score_threshold']}, NMS IoU {f['iou_threshold']}) of the reference's and ncnn's "
        f"outputs: {f['reference']} and "
        f"{f['ncnn']} faces; {f['matched']} the same (IoU >= {f['min_iou']}), "
        f"{100 * f['matched_fraction']:.1f} %.",
        "",
        "## Files",
        "",
        "| file | bytes |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {size} |" for name, size in r["files"].items()]
    lines += ["", "## Time", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {step} | {sec:.2f} |" for step, sec in r["timings_s"].items()]
    return "\n".join(lines) + "\n"
