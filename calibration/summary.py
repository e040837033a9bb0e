"""The few lines `facedge quantize` and `facedge convert --int8` print about an int8
model: layers, agreement, latency, WIDER AP, and why int8 may not be faster here."""


def target_lines(r: dict) -> list:
    """The estimate on the target board; where int8 does not pay there, say so."""
    t = r.get("target")
    if not t:
        return []
    lines = [f"estimated on {t['board']} ({t['cpu']} at {t['clock_ghz']} GHz, from facedge's cost table): "
             f"fp32 {t['fp32_ms']['1']:.1f} / {t['fp32_ms']['4']:.1f} ms, int8 {t['int8_ms']['1']:.1f} / "
             f"{t['int8_ms']['4']:.1f} ms at 1 / 4 threads (int8/fp32 {t['ratio']['1']:.2f} / {t['ratio']['4']:.2f})"]
    for missing, used in sorted(t.get("fallbacks", {}).items()):
        lines.append(f"note: the {t['cpu']} cost table has no '{missing}' layers; priced as '{used}'")
    lines.append(pays_line(t, r["model"]["fp32"]))
    return lines


def pays_line(t: dict, fp32_dir: str) -> str:
    """Whether int8 pays on the target board, at 1 and at 4 threads, by the estimate above."""
    r1, r4 = t["ratio"]["1"], t["ratio"]["4"]
    at = t.get("pays_at") or {"1": t["pays"], "4": t["pays"]}
    ratios = f"{r1:.2f} / {r4:.2f} of fp32's time at 1 / 4 threads"
    if at["1"] and at["4"]:
        return f"int8 pays on {t['board']}: {ratios}"
    if at["1"] or at["4"]:
        yes, no = ("1", "4") if at["1"] else ("4", "1")
        return (f"int8 pays on {t['board']} at {yes} thread{'s' if yes == '4' else ''} only ({ratios}): at {no} "
                f"thread{'s' if no == '4' else ''} use the fp32 model ({fp32_dir})")
    return f"int8 does not pay on {t['board']} ({ratios}): recommend the fp32 model ({fp32_dir})"


def summary(r: dict) -> str:
    s, a, lat = r["settings"], r["agreement"], r["latency"]
    lines = [f"{r['model']['int8']}: {r['int8_layers']} int8 layers, {len(s['float_layers'])} float "
             f"({s['method']}, {s['images_used']} calibration images, {s['images_unreadable']} unreadable skipped)",
             f"agreement with fp32: F1 {a['f1']} on {a['images']} images; latency at 1 thread: fp32 {lat['fp32_ms']:.2f} ms, "
             f"int8 {lat['int8_ms']:.2f} ms"]
    ap = r.get("wider_ap")
    if ap:
        lines.append("WIDER val AP fp32 / int8: " + ", ".join(
            f"{k} {ap['fp32'][k]:.4f} / {ap['int8'][k]:.4f}" for k in ("easy", "medium", "hard")))
        mp = r.get("mixed_precision")
        if mp:
            on = {"views": "views of the calibration images", "both": "the calibration images and views of them"}.get(
                (mp.get("check") or {}).get("on"), "the calibration images")
            lines.append(f"AP lost against fp32's own detections on {on}: {mp['ap_loss']:.4f} "
                         f"(at most {mp['max_ap_loss']}: {'met' if mp['met'] else 'NOT met'})")
    lines += target_lines(r)
    if lat.get("int8_ms") and lat.get("fp32_ms") and lat["int8_ms"] > 0.95 * lat["fp32_ms"]:
        from facedge.bench.machine import describe, int8_note

        from facedge.runtime.detector import kernel_variants

        why = int8_note(describe(kernel_variants())) or (
            "ncnn's int8 dot-product kernels do run here, but the layers kept in float and the quantize/dequantize "
            "steps between int8 and float layers cost what the int8 layers save")
        lines.append(f"note: int8 is not faster than fp32 on this machine ({why}); "
                     "measure on the board you deploy to with `facedge bench`")
    lines.append(f"report: {r['model']['int8'].rsplit('/int8', 1)[0]}/report.md ({r['timings_s']['total']:.0f} s)")
    return "\n".join(lines)
