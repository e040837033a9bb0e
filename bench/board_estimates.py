"""Estimated milliseconds on the boards facedge targets, from the cost tables that
`facedge convert --int8` chooses with (calibration/costs.py), for `facedge bench`:
int8 vs fp32 at 1 and 4 threads per model and board, next to what was timed here.

An int8 model is priced against its fp32 model: the `fp32/` folder beside its
`int8/` one (a `facedge convert` output); an int8 model without one is skipped with
a note.
"""

from __future__ import annotations

from pathlib import Path

from facedge.calibration.costs import TARGETS, CostTable, ModelCosts, blob_shapes_of
from facedge.calibration.graph import fuse_activations
from facedge.calibration.ncnn_model import read_model
from facedge.base.model_dir import BIN_FILE, PARAM_FILE, read_model_info


def _costs(fp32_dir: Path, table: CostTable) -> ModelCosts:
    fp32 = read_model(fp32_dir / PARAM_FILE, fp32_dir / BIN_FILE)
    protected = set(read_model_info(fp32_dir).outputs.values())
    fused = fp32.copy()
    fuse_activations(fused, protected)
    names = sorted({t for layer in fused.layers for t in (*layer.bottoms, *layer.tops)})
    return ModelCosts(table, fused, blob_shapes_of(fp32_dir, names), protected)


def estimates(models) -> tuple:
    """([record per int8 model and board], [notes]); models: bench BenchModel list."""
    rows, notes = [], []
    for m in models:
        if m.precision != "int8":
            continue
        fp32_dir = Path(m.model_dir).parent / "fp32"
        if not (fp32_dir / PARAM_FILE).is_file():
            notes.append(f"{m.name} int8: no fp32 model beside it ({fp32_dir}): no board estimate")
            continue
        int8 = read_model(Path(m.model_dir) / PARAM_FILE, Path(m.model_dir) / BIN_FILE, allow_int8=True)
        for board, cpu in TARGETS.items():
            table = CostTable.load(cpu)
            mc = _costs(fp32_dir, table)
            f, q = mc.estimate(None), mc.estimate(int8)
            rows.append({"model": m.name, "board": board, "cpu": cpu, "unit": table.unit,
                         "fp32_ms": {"1": round(table.ms(f.total), 2), "4": round(table.ms(f.total_4), 2)},
                         "int8_ms": {"1": round(table.ms(q.total), 2), "4": round(table.ms(q.total_4), 2)},
                         "ratio": {"1": round(q.total / f.total, 3), "4": round(q.total_4 / f.total_4, 3)},
                         "fallbacks": {**f.fallbacks, **q.fallbacks}})
    return rows, notes


def format_estimates(rows) -> str:
    if not rows:
        return ""
    lines = ["estimated on the boards (facedge's cost tables; not timed here):",
             f"  {'model':24s} {'board':5s} {'fp32 1T':>8s} {'int8 1T':>8s} {'ratio':>6s} {'fp32 4T':>8s} {'int8 4T':>8s} {'ratio':>6s}"]
    for r in rows:
        lines.append(f"  {r['model']:24s} {r['board']:5s} {r['fp32_ms']['1']:8.2f} {r['int8_ms']['1']:8.2f} "
                     f"{r['ratio']['1']:6.3f} {r['fp32_ms']['4']:8.2f} {r['int8_ms']['4']:8.2f} {r['ratio']['4']:6.3f}")
    return "\n".join(lines)
