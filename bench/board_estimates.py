"""Estimated milliseconds on the board an int8 model was made for, for `facedge bench`:
int8 vs fp32 at 1 and 4 threads, next to what was timed here.

`facedge convert --int8` / `facedge quantize` price the model with the cost table of
its `--target` board (calibration/costs.py) and write the estimate into the report
beside the model (`OUT/report.json`, `calibration.target`); the bench reads it from
there, so it needs nothing of the calibration package. An int8 model without such a
report is skipped with a note.
"""

from __future__ import annotations

import json
from pathlib import Path

REPORT = "report.json"


def estimates(models) -> tuple:
    """([record per int8 model], [notes]); models: bench BenchModel list."""
    rows, notes = [], []
    for m in models:
        if m.precision != "int8":
            continue
        path = Path(m.model_dir).parent / REPORT
        try:
            target = json.loads(path.read_text(encoding="utf-8"))["calibration"]["target"]
            row = {"model": m.name, "board": target["board"], "cpu": target["cpu"], "unit": target["unit"],
                   "fp32_ms": target["fp32_ms"], "int8_ms": target["int8_ms"], "ratio": target["ratio"],
                   "pays": target["pays"], "pays_at": target.get("pays_at"), "fallbacks": target.get("fallbacks", {})}
        except (OSError, ValueError, KeyError, TypeError):
            notes.append(f"{m.name} int8: no board estimate in {path} (made before facedge priced int8 models "
                         "per board: convert it again with --int8)")
            continue
        rows.append(row)
    return rows, notes


def format_estimates(rows) -> str:
    if not rows:
        return ""
    lines = ["estimated on the board each int8 model was made for (facedge's cost tables; not timed here):",
             f"  {'model':24s} {'board':5s} {'fp32 1T':>8s} {'int8 1T':>8s} {'ratio':>6s} {'fp32 4T':>8s} {'int8 4T':>8s} {'ratio':>6s}"]
    for r in rows:
        lines.append(f"  {r['model']:24s} {r['board']:5s} {r['fp32_ms']['1']:8.2f} {r['int8_ms']['1']:8.2f} "
                     f"{r['ratio']['1']:6.3f} {r['fp32_ms']['4']:8.2f} {r['int8_ms']['4']:8.2f} {r['ratio']['4']:6.3f}"
                     + _pays_note(r))
    return "\n".join(lines)


def _pays_note(r) -> str:
    at = r.get("pays_at") or {"1": r["pays"], "4": r["pays"]}
    if at["1"] and at["4"]:
        return ""
    if at["1"] or at["4"]:
        return f"  int8 pays there at {'1 thread' if at['1'] else '4 threads'} only"
    return "  int8 does not pay there"
