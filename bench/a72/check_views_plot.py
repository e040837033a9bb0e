"""Plot of bench/results/int8-check-views.json (bench/RESULTS.md, "Session 6"): per model
and check set, int8/fp32 cycles at 1 thread on the A72 timing model against the lower
end of WIDER Easy's delta (95 % bootstrap interval), with the promise and the targets.

    python bench/a72/check_views_plot.py bench/results/int8-check-views.json bench/results/int8-check-views.png
"""

import json
import sys


def main(src, dst):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = json.load(open(src))["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    marker = {"images": "o", "views": "*"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, m in enumerate(models):
        colour = f"C{i}"
        for r in (r for r in rows if r["model"] == m):
            x, y = r["cycles_ratio_timing_model"]["1"], r["wider_delta_interval"]["easy"][0]
            ax.scatter(x, y, color=colour, marker=marker.get(r["check_on"], "x"), s=120 if r["check_on"] == "views" else 50,
                       label=f"{m}: {r['check_on']}" if r["check_on"] in marker else None, zorder=3)
        base = next(r for r in rows if r["model"] == m and r["check_on"] == "images")
        views = next((r for r in rows if r["model"] == m and r["check_on"] == "views"), None)
        if views:
            ax.annotate("", xy=(views["cycles_ratio_timing_model"]["1"], views["wider_delta_interval"]["easy"][0]),
                        xytext=(base["cycles_ratio_timing_model"]["1"], base["wider_delta_interval"]["easy"][0]),
                        arrowprops={"arrowstyle": "->", "color": colour, "alpha": 0.6})
    ax.axhline(-0.01, color="grey", ls="--", lw=1)
    ax.text(0.99, -0.0095, "ULFD promise (0.01)", ha="right", va="bottom", color="grey", transform=ax.get_yaxis_transform())
    ax.axhline(-0.02, color="grey", ls=":", lw=1)
    ax.text(0.99, -0.0195, "others (0.02)", ha="right", va="bottom", color="grey", transform=ax.get_yaxis_transform())
    for x, name in ((0.85, "RFB-320 target"), (0.90, "slim-320 target")):
        ax.axvline(x, color="grey", ls="-.", lw=0.8)
        ax.text(x, 0.99, name, rotation=90, ha="right", va="top", fontsize=8, color="grey", transform=ax.get_xaxis_transform())
    ax.set_xlabel("int8 / fp32 cycles, 1 thread (A72 timing model)")
    ax.set_ylabel("WIDER Easy delta, lower end of the 95 % interval (39 val images)")
    ax.set_title("What the mixed-precision check runs on: the images as read (o), views (*), others (x)")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:3])
