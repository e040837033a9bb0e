"""The Easy / Medium / Hard precision-recall curves of one evaluation, as a PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from facedge.base.atomic import atomic_write_bytes
from facedge.base.errors import FacedgeError
from facedge.bench.wider.gt import SETTINGS


def plot_pr_curves(result, path, title):
    """Draw the three curves with their AP in the legend; written atomically."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    path = Path(path)
    if not path.parent.is_dir():
        raise FacedgeError(f"{path}: its folder does not exist")
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    try:
        for setting in SETTINGS:
            r = result.settings[setting]
            shown = np.isfinite(r.precision) & np.isfinite(r.recall)  # thresholds that proposed something
            label = f"{setting.capitalize()}  AP {r.ap:.4f}  ({r.faces} faces)"
            ax.plot(r.recall[shown], r.precision[shown], linewidth=2.0, label=label)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("Recall")
        ax.set_ylabel("Precision")
        ax.grid(True, alpha=0.4)
        ax.legend(loc="lower left")
        ax.set_title(title, fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
