"""The few lines `facedge quantize` and `facedge convert --int8` print about an int8
model: layers, agreement, latency, WIDER AP, and why int8 may not be faster here."""


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
            lines.append(f"AP lost against fp32's own detections on the calibration images: {mp['ap_loss']:.4f} "
                         f"(at most {mp['max_ap_loss']}: {'met' if mp['met'] else 'NOT met'})")
    if lat.get("int8_ms") and lat.get("fp32_ms") and lat["int8_ms"] > 0.95 * lat["fp32_ms"]:
        from facedge.bench.machine import describe, int8_note

        why = int8_note(describe()) or "more of the model is float than int8 pays for"
        lines.append(f"note: int8 is not faster than fp32 on this machine ({why}); "
                     "measure on the board you deploy to with `facedge bench`")
    lines.append(f"report: {r['model']['int8'].rsplit('/int8', 1)[0]}/report.md ({r['timings_s']['total']:.0f} s)")
    return "\n".join(lines)
