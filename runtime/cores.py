"""How many cores this process may really use: the CPU affinity mask and, in a
container, the cgroup CPU quota (os.cpu_count() counts the host's cores)."""

from __future__ import annotations

import math
import os
from pathlib import Path


def _cgroup_quota_cores():
    """The cgroup v2 CPU limit in whole cores (rounded up), or None when unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS, Windows
        n = os.cpu_count() or 1
    quota = _cgroup_quota_cores()
    return max(1, min(n, quota) if quota else n)


def default_threads(reserve: int = 0, cap: int = 4) -> int:
    """ncnn threads for a Detector: the usable cores less `reserve` (cores the caller
    keeps for capture and drawing), at most `cap` (ncnn gains little beyond four
    threads on these models), at least 1. Never more than the cores: with more, ncnn's
    spinning threads fight over them and inference slows by an order of magnitude."""
    return max(1, min(cap, usable_cores() - reserve))
