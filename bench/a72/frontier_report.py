"""The frontier's outputs: the Pareto front, the markdown tables and the plot.

A row is one model at one input size and precision: {"model", "family", "precision",
"size" [w, h], "asked" [w, h] (the frontier size it stands for), "ap" {"easy",
"medium", "hard"}, "cost" {threads: value}} ; the peer's rows have "cost" None when
it could not be costed.
"""

from __future__ import annotations

SETTINGS = ("easy", "medium", "hard")
FRONT_SETTING = "medium"  # the AP the front and the budget table rank by
BUDGETS_MS = (10, 20, 40, 80, 160)
TIE = 0.002  # AP differences this small are noise on the 39 val images


def pareto(rows, threads, setting=FRONT_SETTING):
    """Rows no other row beats: cheaper or as cheap, and more or as accurate, one strictly."""
    costed = [r for r in rows if r["cost"] and r["cost"].get(str(threads)) is not None]
    front = []
    for r in costed:
        c, a = r["cost"][str(threads)], r["ap"][setting]
        beaten = any(o["cost"][str(threads)] <= c and o["ap"][setting] >= a
                     and (o["cost"][str(threads)] < c or o["ap"][setting] > a) for o in costed if o is not r)
        if not beaten:
            front.append(r)
    return sorted(front, key=lambda r: r["cost"][str(threads)])


def label(r):
    size = f"{r['size'][0]}x{r['size'][1]}"
    if r["size"] != r["asked"]:
        size += f" (for {r['asked'][0]}x{r['asked'][1]})"
    return f"{r['model']} {r['precision']} {size}"


def _cost_text(r, threads, unit):
    if not r["cost"] or r["cost"].get(str(threads)) is None:
        return "not costed"
    v = r["cost"][str(threads)]
    return f"{v:.1f}" if unit == "ms" else f"{v:.1f} M"


def table(rows, threads_list, unit):
    fronts = {t: {id(r) for r in pareto(rows, t)} for t in threads_list}
    head = "| model | precision | input | Easy | Medium | Hard | " + " | ".join(
        f"A72 {t} thread{'s' if t > 1 else ''} ({unit})" for t in threads_list) + " | on the front |"
    lines = [head, "|" + "---|" * (7 + len(threads_list))]
    key = lambda r: (r["asked"][0] * r["asked"][1], r["model"], r["precision"])  # noqa: E731
    for r in sorted(rows, key=key):
        size = f"{r['size'][0]}x{r['size'][1]}" + ("" if r["size"] == r["asked"] else f" (for {r['asked'][0]}x{r['asked'][1]})")
        on = ", ".join(f"{t}T" for t in threads_list if id(r) in fronts[t]) or ""
        lines.append(f"| {r['model']} | {r['precision']} | {size} | "
                     + " | ".join(f"{r['ap'][s]:.3f}" for s in SETTINGS) + " | "
                     + " | ".join(_cost_text(r, t, unit) for t in threads_list) + f" | {on} |")
    return "\n".join(lines)


def budget_table(rows, threads_list, peer_model):
    """For each budget and thread count: the most accurate (Medium AP) non-peer row
    within it; of rows within TIE of the most accurate, the cheapest."""
    lines = ["| A72 budget | " + " | ".join(f"best at {t} thread{'s' if t > 1 else ''} (Medium AP)" for t in threads_list)
             + " |", "|---|" + "---|" * len(threads_list)]
    for budget in BUDGETS_MS:
        cells = []
        for t in threads_list:
            ours = [r for r in rows if r["model"] != peer_model and r["cost"] and r["cost"].get(str(t)) is not None
                    and r["cost"][str(t)] <= budget]
            if not ours:
                cells.append("nothing fits")
                continue
            top = max(r["ap"][FRONT_SETTING] for r in ours)
            # within TIE of the best is a tie on 39 images: the cheapest of those
            best = min((r for r in ours if r["ap"][FRONT_SETTING] >= top - TIE), key=lambda r: r["cost"][str(t)])
            cells.append(f"{label(best)}: {best['ap'][FRONT_SETTING]:.3f} ({best['cost'][str(t)]:.0f} ms)")
        lines.append(f"| {budget} ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows, threads_list, unit, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(threads_list), figsize=(7 * len(threads_list), 5.5), squeeze=False)
    for ax, t in zip(axes[0], threads_list):
        lines = {}
        for r in rows:
            if r["cost"] and r["cost"].get(str(t)) is not None:
                lines.setdefault(f"{r['model']} {r['precision']}", []).append(r)
        colours = plt.get_cmap("tab20").colors  # one colour per model and precision (more than the default 10)
        for k, (name, group) in enumerate(sorted(lines.items())):
            group.sort(key=lambda r: r["cost"][str(t)])
            xs = [r["cost"][str(t)] for r in group]
            ys = [r["ap"][FRONT_SETTING] for r in group]
            ax.plot(xs, ys, marker="o", ms=4, lw=1, ls="--" if "int8" in name else "-", label=name,
                    color=colours[k % len(colours)])
        front = pareto(rows, t)
        ax.plot([r["cost"][str(t)] for r in front], [r["ap"][FRONT_SETTING] for r in front], color="black", lw=2.5,
                alpha=0.35, label="Pareto front")
        for k, r in enumerate(front):  # alternate above and below: neighbours on the front are close
            ax.annotate(f"{r['model']} {r['precision']} {r['size'][0]}x{r['size'][1]}",
                        (r["cost"][str(t)], r["ap"][FRONT_SETTING]), fontsize=6,
                        xytext=(4, 6 if k % 2 else -10), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(f"Cortex-A72 {'estimated ms' if unit == 'ms' else 'guest instructions (M)'}, {t} thread"
                      + ("s" if t > 1 else ""))
        ax.set_ylabel(f"WIDER val AP ({FRONT_SETTING.capitalize()}, 39 images)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
