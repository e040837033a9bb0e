"""Plot of bench/results/int8-check-views.json (bench/RESULTS.md, "Session 6" and "Session 7"):
per model and check set, int8/fp32 cycles at 1 thread on the A72 timing model against the
lower end of WIDER Easy's delta (95 % bootstrap interval) on the 39 val images as read
(left) and on the val images with their mirrored, shifted and zoomed views pooled (right,
where measured: bench/a72/wider_views.py), with the promise and the targets.

    python bench/a72/check_views_plot.py bench/results/int8-check-views.json bench/results/int8-check-views.png
"""

import json
import sys

MARKER = {"images": "o", "views": "*"}


def _marker(r):
    if r.get("criterion", "ranked agreement") != "ranked agreement":
        return "P"  # another criterion (session 7's variants)
    return MARKER.get(r["check_on"], "x")


def _panel(ax, rows, models, lower_end, ylabel):
    for i, m in enumerate(models):
        colour = f"C{i}"
        mine = [r for r in rows if r["model"] == m and lower_end(r) is not None]
        for r in mine:
            default = r.get("default_now", False)
            ax.scatter(r["cycles_ratio_timing_model"]["1"], lower_end(r), color=colour, marker=_marker(r),
                       s=160 if r["check_on"] == "views" else 50, zorder=3, **({"edgecolors": "black"} if default else {}),
                       label=f"{m}: {r.get('label', r['check_on'])}" if r["check_on"] in MARKER or r.get("session") == 7 else None)
        base = next((r for r in mine if r["check_on"] == "images" and r.get("session") != 7), None)
        now = [r for r in mine if r.get("default_now")]
        if base and now:  # the check on the images as read (session 6's default) -> the default now
            ax.annotate("", xy=(now[-1]["cycles_ratio_timing_model"]["1"], lower_end(now[-1])),
                        xytext=(base["cycles_ratio_timing_model"]["1"], lower_end(base)),
                        arrowprops={"arrowstyle": "->", "color": colour, "alpha": 0.6})
    ax.axhline(-0.01, color="grey", ls="--", lw=1)
    ax.text(0.99, -0.0095, "ULFD promise (0.01)", ha="right", va="bottom", color="grey", transform=ax.get_yaxis_transform())
    ax.axhline(-0.02, color="grey", ls=":", lw=1)
    ax.text(0.99, -0.0195, "others (0.02)", ha="right", va="bottom", color="grey", transform=ax.get_yaxis_transform())
    for x, name in ((0.85, "RFB-320 target"), (0.90, "slim-320 target")):
        ax.axvline(x, color="grey", ls="-.", lw=0.8)
        ax.text(x, 0.99, name, rotation=90, ha="right", va="top", fontsize=8, color="grey", transform=ax.get_xaxis_transform())
    ax.set_xlabel("int8 / fp32 cycles, 1 thread (A72 timing model)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def main(src, dst):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = json.load(open(src))["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6), sharey=True)
    _panel(left, rows, models, lambda r: r["wider_delta_interval"]["easy"][0],
           "WIDER Easy delta, lower end of the 95 % interval")
    left.set_title("39 val images as read (o: check on the images as read, *: on views,\n"
                   "black edge: the default now, x: other check sets, P: other criteria)", fontsize=9)
    _panel(right, rows, models,
           lambda r: r["wider_views"]["all views"]["lower_end"]["easy"] if r.get("wider_views") else None, "")
    right.set_title("the same 39 images with their mirror, shift and zoom views pooled\n"
                    "(labels moved with the view; interval resampling images with their views)", fontsize=9)
    handles, labels = left.get_legend_handles_labels()
    right.legend(handles, labels, fontsize=7, loc="lower left")  # the right panel's lower left is empty
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:3])
