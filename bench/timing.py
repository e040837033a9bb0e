"""Thread counts, the cores they are pinned to, and the statistics of timed samples."""

from __future__ import annotations

import os

import numpy as np

from facedge.base.errors import FacedgeError

STAGES = ("preprocess", "inference", "postprocess")


def parse_threads(text) -> list:
    """--threads: N means 1..N, a comma-separated list means exactly those counts."""
    text = str(text).strip()
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise FacedgeError(f"--threads {text}: expected a thread count such as 4 (meaning 1..4) or a list such as 1,2,4")
    bad = [v for v in values if v < 1]
    if bad:
        raise FacedgeError(f"--threads {text}: thread counts must be 1 or more, got {bad[0]}")
    counts = list(range(1, values[0] + 1)) if len(values) == 1 else values
    return sorted(set(counts))


def allowed_cores() -> list:
    """The cores this process may run on (its affinity mask), in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cores_for(threads: int, allowed) -> list:
    """The first `threads` allowed cores; all of them when more threads than cores are asked for."""
    return list(allowed[:threads]) if threads <= len(allowed) else list(allowed)


def wait_policy_for(threads: int, allowed) -> str:
    """OMP_WAIT_POLICY for a worker: idle OpenMP threads spin (ACTIVE) when each has a
    core of its own, which is what keeps per-layer hand-offs fast; they sleep
    (PASSIVE) when threads outnumber cores, where spinning would take the core from
    the thread that has work."""
    return "ACTIVE" if threads <= len(allowed) else "PASSIVE"


def summarize(samples: dict) -> dict:
    """{'total': [ms], 'stages': {stage: [ms]}} -> min / median / p90 / fps and stage medians."""
    total = np.asarray(samples["total"], dtype=np.float64)
    if total.size == 0:
        raise ValueError("no samples")
    median = float(np.median(total))
    stages = {s: round(float(np.median(samples["stages"][s])), 4) if samples["stages"].get(s) else None for s in STAGES}
    return {"median_ms": round(median, 4), "min_ms": round(float(total.min()), 4),
            "p90_ms": round(float(np.percentile(total, 90)), 4), "fps": round(1000.0 / median, 2) if median > 0 else None,
            "stages_ms": stages, "repeats": int(total.size)}
