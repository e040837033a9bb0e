"""The frontier's outputs: the Pareto front, the markdown tables and the plot.

A row is one model at one input size and precision: {"model", "family", "precision"
("fp32", "bf16", "int8", "int8+bf16": frontier.PRECISIONS), "size" [w, h], "asked" [w, h] (the frontier size it stands for), "ap" {"easy",
"medium", "hard"}, "cost" {threads: ms}}; the peer's rows (OpenCV's YuNet) also have
"peer": True. A row without a cost at some thread count is "not costed" there.
"""

from __future__ import annotations

SETTINGS = ("easy", "medium", "hard")
FRONT_SETTING = "medium"  # the AP the front and the budget table rank by
BUDGETS_MS = (10, 20, 40, 80, 160)
TIE = 0.002  # AP differences this small are noise on the 39 val images
LINE_STYLES = {"fp32": "-", "bf16": "-.", "int8": "--", "int8+bf16": ":"}
PEER_LABEL = "OpenCV YuNet"


def _costed(rows, threads):
    return [r for r in rows if r["cost"] and r["cost"].get(str(threads)) is not None]


def pareto(rows, threads, setting=FRONT_SETTING):
    """facedge's rows no other of them beats: cheaper or as cheap, and more or as accurate,
    one strictly (the peer is compared with the front, not part of it)."""
    costed = [r for r in _costed(rows, threads) if not r.get("peer")]
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


def budget_table(rows, threads_list, budgets=BUDGETS_MS):
    """For each budget and thread count: facedge's most accurate (Medium AP) row within
    it; of rows within TIE of the most accurate, the cheapest (best_within)."""
    lines = ["| A72 budget | " + " | ".join(f"best at {t} thread{'s' if t > 1 else ''} (Medium AP)" for t in threads_list)
             + " |", "|---|" + "---|" * len(threads_list)]
    for budget in budgets:
        cells = []
        for t in threads_list:
            best = best_within(rows, t, budget)
            cells.append("nothing fits" if best is None else
                         f"{label(best)}: {best['ap'][FRONT_SETTING]:.3f} ({best['cost'][str(t)]:.0f} ms)")
        lines.append(f"| {budget} ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_within(rows, threads, budget, setting=FRONT_SETTING):
    """facedge's most accurate row (by setting) costing at most budget ms; of rows within
    TIE of it, the cheapest. None when nothing fits."""
    ours = [r for r in _costed(rows, threads) if not r.get("peer") and r["cost"][str(threads)] <= budget]
    if not ours:
        return None
    top = max(r["ap"][setting] for r in ours)
    return min((r for r in ours if r["ap"][setting] >= top - TIE), key=lambda r: r["cost"][str(threads)])


def peer_ms(r, threads, as_profiled=False):
    """A peer row's ms; as_profiled: its dynamic pool's epochs as profiled, not balanced."""
    if as_profiled:
        return r.get("cost_detail", {}).get(str(threads), {}).get("as_profiled_ms", r["cost"][str(threads)])
    return r["cost"][str(threads)]


def goal_rows(rows, threads, setting=FRONT_SETTING, as_profiled=False):
    """The goal "at every budget, facedge offers a model at least as accurate as OpenCV's
    YuNet": the peer's best AP within a budget only changes at a peer row's cost, so it is
    checked there. Per peer row: facedge's best within its ms (margin = facedge AP - the
    peer's), and facedge's cheapest row at least as accurate (its ms, ratio to the peer's)."""
    out = []
    ours = [r for r in _costed(rows, threads) if not r.get("peer")]
    peers = [r for r in _costed(rows, threads) if r.get("peer")]
    for p in sorted(peers, key=lambda r: peer_ms(r, threads, as_profiled)):
        budget, need = peer_ms(p, threads, as_profiled), p["ap"][setting]
        best = best_within(rows, threads, budget, setting)
        matching = [r for r in ours if r["ap"][setting] >= need]
        cheapest = min(matching, key=lambda r: r["cost"][str(threads)]) if matching else None
        out.append({"peer": p, "budget": budget, "best": best,
                    "margin": None if best is None else round(best["ap"][setting] - need, 4),
                    "cheapest_as_accurate": cheapest})
    return out


def goal_gaps(rows, threads, setting=FRONT_SETTING, as_profiled=False, tie=TIE):
    """The budgets at which the goal fails: [(from ms, to ms or None, the peer's best AP
    within the budget, facedge's best at the end of that range)]. Both bests only change at some row's cost, so each
    interval between consecutive costs is checked once; facedge within tie of the peer
    counts as as accurate (a tie on 39 images)."""
    ours = [(r["cost"][str(threads)], r["ap"][setting]) for r in _costed(rows, threads) if not r.get("peer")]
    theirs = [(peer_ms(r, threads, as_profiled), r["ap"][setting]) for r in _costed(rows, threads) if r.get("peer")]
    edges = sorted({c for c, _ in ours + theirs})
    gaps = []
    for lo, hi in zip(edges, edges[1:] + [None]):
        peer_best = max((a for c, a in theirs if c <= lo), default=None)
        our_best = max((a for c, a in ours if c <= lo), default=None)
        if peer_best is not None and (our_best is None or our_best < peer_best - tie):
            if gaps and gaps[-1][1] == lo and gaps[-1][2] == peer_best:  # the same gap goes on: facedge's best in it
                gaps[-1] = (gaps[-1][0], hi, peer_best, our_best)
            else:
                gaps.append((lo, hi, peer_best, our_best))
    return gaps


def goal_summary(rows, threads_list, as_profiled=False, precisions=None):
    """One line per thread count: where the goal holds and where not, in ms and AP;
    precisions: facedge's rows of these precisions only (e.g. its defaults)."""
    lines = []
    if precisions is not None:
        rows = [r for r in rows if r.get("peer") or r["precision"] in precisions]
    for t in threads_list:
        gaps = goal_gaps(rows, t, as_profiled=as_profiled)
        head = (f"- {t} thread{'s' if t > 1 else ''}" + (" (OpenCV as profiled)" if as_profiled else "")
                + (f", facedge's {' and '.join(precisions)} rows only" if precisions is not None else "") + ": ")
        if not gaps:
            lines.append(head + f"holds at every budget (Medium AP within {TIE} or better).")
            continue
        parts = [f"{lo:.1f}-{'∞' if hi is None else f'{hi:.1f}'} ms (OpenCV's YuNet {peer:.3f}, facedge "
                 + ("nothing" if ours is None else f"at most {ours:.3f}") + ")" for lo, hi, peer, ours in gaps]
        lines.append(head + "fails for budgets of " + "; ".join(parts) + "; holds at every other budget.")
    return "\n".join(lines)


def goal_table(rows, threads_list, settings=SETTINGS, as_profiled=False):
    lines = ["| threads | OpenCV YuNet | its ms | its AP (E / M / H) | facedge's best within that ms (by Medium) "
             "| its ms | AP margin vs YuNet (E / M / H) | cheapest facedge model as accurate (Medium) | its ms |",
             "|---|---|---:|---|---|---:|---|---|---:|"]
    for t in threads_list:
        for g in goal_rows(rows, t, as_profiled=as_profiled):
            p, best, cheap = g["peer"], g["best"], g["cheapest_as_accurate"]
            peer_ap = " / ".join(f"{p['ap'][s]:.3f}" for s in settings)
            if best is None:
                ours, ours_ms, margins = "nothing fits", "", ""
            else:
                ours, ours_ms = label(best), f"{best['cost'][str(t)]:.1f}"
                margins = " / ".join(f"{best['ap'][s] - p['ap'][s]:+.3f}" for s in settings)
            cheap_text = (label(cheap), f"{cheap['cost'][str(t)]:.1f}") if cheap else ("none", "")
            lines.append(f"| {t} | {p['size'][0]}x{p['size'][1]} | {g['budget']:.1f} | {peer_ap} | {ours} | {ours_ms} "
                         f"| {margins} | {cheap_text[0]} | {cheap_text[1]} |")
    return "\n".join(lines)


def plot(rows, threads_list, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, len(threads_list), figsize=(8 * len(threads_list), 7.5), squeeze=False)
    models = sorted({r["model"] for r in rows if not r.get("peer")})
    colours = dict(zip(models, plt.get_cmap("tab10").colors))  # one colour per family, a line style per precision
    for ax, t in zip(axes[0], threads_list):
        lines = {}
        for r in _costed(rows, t):
            lines.setdefault((r["model"], r["precision"], bool(r.get("peer"))), []).append(r)
        for (model, precision, peer), group in sorted(lines.items()):
            group.sort(key=lambda r: r["cost"][str(t)])
            xs = [r["cost"][str(t)] for r in group]
            ys = [r["ap"][FRONT_SETTING] for r in group]
            if peer:
                ax.plot(xs, ys, marker="X", ms=8, lw=2, color="crimson", zorder=5)
                for r in group:
                    ax.annotate(f"{r['size'][0]}x{r['size'][1]}", (r["cost"][str(t)], r["ap"][FRONT_SETTING]),
                                fontsize=7, color="crimson", xytext=(6, -12), textcoords="offset points")
            else:
                ax.plot(xs, ys, marker="o", ms=3, lw=1, ls=LINE_STYLES.get(precision, "-"), color=colours[model], alpha=0.8)
        front = pareto(rows, t)
        # a staircase: the best AP facedge offers within each budget holds until the next front point
        ax.plot([r["cost"][str(t)] for r in front], [r["ap"][FRONT_SETTING] for r in front], color="black", lw=3,
                alpha=0.3, drawstyle="steps-post", zorder=1)
        for k, r in enumerate(front):  # alternate above and below: neighbours on the front are close
            ax.annotate(f"{r['model']} {r['precision']} {r['size'][0]}x{r['size'][1]}",
                        (r["cost"][str(t)], r["ap"][FRONT_SETTING]), fontsize=6,
                        xytext=(4, 6 if k % 2 else -10), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(f"estimated Pi 4B ms per frame, detect() end to end, {t} thread" + ("s" if t > 1 else ""))
        ax.set_ylabel(f"WIDER val AP ({FRONT_SETTING.capitalize()}, 39 images)")
        ax.set_title(f"{t} thread" + ("s" if t > 1 else ""), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    # one legend for both panels, below them: a colour per family, a line style per precision
    handles = [Line2D([], [], color=colours[m], lw=2, label=m) for m in models]
    handles += [Line2D([], [], color="crimson", marker="X", lw=2, label=f"{PEER_LABEL} (cv2.FaceDetectorYN)")]
    handles += [Line2D([], [], color="grey", ls=ls, lw=1.5, label=p) for p, ls in LINE_STYLES.items()
                if any(r["precision"] == p for r in rows if not r.get("peer"))]
    handles += [Line2D([], [], color="black", lw=3, alpha=0.3, label="Pareto front (facedge's best within the budget)")]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
