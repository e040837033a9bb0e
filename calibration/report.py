"""The calibration report: OUT/report.json gets a "calibration" entry and OUT/report.md
an "int8 calibration" section, beside whatever `facedge convert` wrote there."""

from __future__ import annotations

import json
from pathlib import Path

from facedge.base.errors import FacedgeError
from facedge.base.atomic import atomic_write_text
from facedge.calibration.summary import pays_line

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SECTION = "## int8 calibration"


def write_reports(out_dir: Path, calibration: dict):
    out_dir = Path(out_dir)
    path = out_dir / REPORT_JSON
    data = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FacedgeError(f"{path}: not valid JSON ({e}); move it away to write the calibration report") from None
        if not isinstance(data, dict):
            raise FacedgeError(f"{path}: expected a JSON object; move it away to write the calibration report")
    data["calibration"] = calibration
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    md_path = out_dir / REPORT_MD
    before = md_path.read_text(encoding="utf-8") if md_path.is_file() else ""
    atomic_write_text(md_path, _replace_section(before, markdown(calibration)))


def _replace_section(text: str, section: str) -> str:
    """`text` with its int8 calibration section (up to the next '## ' heading) replaced."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        head, tail = lines, []
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        head, tail = lines[:start], lines[end:]
    while head and not head[-1].strip():
        head.pop()
    parts = ["\n".join(head)] if head else []
    parts.append(section.rstrip("\n"))
    if tail:
        parts.append("\n".join(tail))
    return "\n\n".join(parts) + "\n"


def _ms(v):
    return "n/a" if v is None else f"{v:.2f} ms"


def _target_section(t) -> list:
    if not t:
        return []
    out = ["", f"### Estimated on the target board: {t['board']} ({t['cpu']} at {t['clock_ghz']} GHz)", "",
           f"From facedge's cost table for the {t['cpu']} ({t['unit']}; {t['source']}), not timed:", "",
           "| | 1 thread | 4 threads |", "|---|---|---|",
           f"| fp32 | {t['fp32_ms']['1']:.2f} ms | {t['fp32_ms']['4']:.2f} ms |",
           f"| int8 | {t['int8_ms']['1']:.2f} ms | {t['int8_ms']['4']:.2f} ms |",
           f"| int8 / fp32 | {t['ratio']['1']:.3f} | {t['ratio']['4']:.3f} |", ""]
    out.append(pays_line(t, "fp32/") + ".")
    for missing, used in sorted(t.get("fallbacks", {}).items()):
        out.append(f"The table has no '{missing}' layers: priced as '{used}'.")
    return out


def markdown(r: dict) -> str:
    s = r["settings"]
    m = r["model"]
    ci = s["calibration_images"]
    lines = [SECTION, "",
             f"{m['fp32']} -> {m['int8']} ({m['family']}, {m['input_size'][0]}x{m['input_size'][1]})", "",
             f"- method: {s['method']}; calibration images: {s['images_used']} used of {ci['chosen']} chosen "
             f"({ci['available']} available in {ci['source']}, {ci['kind']}); unreadable, skipped: {s['images_unreadable']}",
             f"- layers: {r['int8_layers']} int8, {len(s['float_layers'])} left in float"
             + (f" ({', '.join(s['float_layers'])})" if s["float_layers"] else "")
             + f"; keep-fp32 {s['keep_fp32']}",
             f"- graph: {r['graph']['fused_activations']} activations fused into the layer before, "
             f"{r['graph']['requantized_layers']} layers requantize into the next",
             f"- sizes: fp32 {r['sizes_bytes']['fp32']:,} bytes, int8 {r['sizes_bytes']['int8']:,} bytes",
             f"- bias correction: {'on' if s.get('bias_correction') else 'off'}"]
    mp = r.get("mixed_precision")
    if mp:
        lines.append(f"- mixed precision: at most {mp['max_ap_loss']} AP lost against fp32's own detections on the "
                     f"calibration images{_check_views(mp.get('check'))}: {'met' if mp['met'] else 'NOT met'} with {len(mp['float_layers'])} float "
                     "layer(s); float layers -> AP lost: " + ", ".join(f"{k} -> {e:.4f}" for k, e in mp["steps"])
                     + (f" (fp32 detections scoring >= {mp['face_score']} are the faces, {mp['ignore_score']} .. "
                        f"{mp['face_score']} borderline)" if "face_score" in mp else "")
                     + (f"; an int8 box counts as the share of its fp32 box's plausible WIDER labels it matches "
                        f"(label spread {mp['localisation_sigma']})" if mp.get("localisation_sigma") else ""))
    lines += _target_section(r.get("target"))
    a = r["agreement"]
    lines += ["", "### fp32 vs int8 on the calibration images", "",
              f"Faces at score >= {a['score_threshold']} (the runtime's default), matched at IoU >= {a['iou_threshold']}: "
              f"fp32 {a['fp32_faces']}, int8 {a['int8_faces']}, both {a['matched']} on {a['images']} images; "
              f"F1 {a['f1']}, mean IoU of matched boxes {a['mean_iou_matched']}, "
              f"mean |score difference| {a['mean_abs_score_diff_matched']}."]
    lat = r["latency"]
    lines += ["", "### Latency, 1 thread (ncnn inference, median of alternating runs)", "",
              f"fp32 {_ms(lat['fp32_ms'])}, int8 {_ms(lat['int8_ms'])} (int8/fp32 = {lat['int8_over_fp32']}) "
              f"over {lat['rounds']} rounds."]
    k = r.get("int8_kernels")
    if k:
        lines.append(f"int8 kernels: the output of layer {k['layer']} ({k['type']}, {k['elements']:,} values) differs from "
                     f"the integer model of the layer by {k['mean_abs_diff_integer_model']:.3g} on average "
                     f"({k['equal_to_integer_model']:.1%} equal), from the float computation with the same weights by "
                     f"{k['mean_abs_diff_float_model']:.3g}: {'ncnn ran int8 arithmetic' if k['ran_int8'] else 'NOT int8'}.")
    st = r.get("stock_ncnn")
    if st:
        f = st.get("faces") or {}
        lines.append(f"Stock ncnn {st['ncnn']} (Python wheel) loads the int8 model; its outputs differ from facedge's "
                     f"runtime by at most {st['max_abs_output_diff']:.3g} on {st['images']} images"
                     + (f", and decode to {f['stock']} faces against facedge's {f['facedge']} ({f['matched']} the same, "
                        f"mean IoU {f['mean_iou']})." if f else "."))
    ap = r.get("wider_ap")
    if ap:
        lines += ["", f"### WIDER FACE val AP ({ap['images']} images, `facedge eval` protocol at "
                      f"{ap['inference']['input_size'][0]}x{ap['inference']['input_size'][1]})", "",
                  "| | Easy | Medium | Hard |", "|---|---|---|---|"]
        for key in ("fp32", "int8", "delta"):
            lines.append(f"| {key} | " + " | ".join(f"{ap[key][s]:+.4f}" if key == "delta" else f"{ap[key][s]:.4f}"
                                                    for s in ("easy", "medium", "hard")) + " |")
        ci = ap.get("delta_interval")
        if ci:
            lines.append("| delta, 95 % interval | " + " | ".join(f"{ci[s][0]:+.4f} .. {ci[s][1]:+.4f}"
                                                               for s in ("easy", "medium", "hard")) + " |")
            lines += ["", f"The interval: {ap['faces']['easy']} / {ap['faces']['medium']} / {ap['faces']['hard']} "
                          "faces count in Easy / Medium / Hard here, so one face ranked differently moves AP by about "
                          "1/faces; the delta's 95 % bootstrap interval over the images (both models on the same "
                          "resampled images) says how far it can be trusted."]
    lines += ["", "### Layers", "", "| layer | type | precision | input scale | sensitivity | cosine |", "|---|---|---|---|---|---|"]
    for row in r["layers"]:
        sens = f"{row['sensitivity']:.4f}" if "sensitivity" in row else ""
        cos = f"{row['cosine']:.4f}" if "cosine" in row else ""
        scale = "" if row["input_scale"] is None else f"{row['input_scale']:.5g}"
        lines.append(f"| {row['layer']} | {row['type']} | {row['precision']} | {scale} | {sens} | {cos} |")
    t = r["timings_s"]
    lines += ["", "Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()), ""]
    return "\n".join(lines)


def _check_views(check) -> str:
    if not check:
        return ""
    what = {"images": "images as read", "views": "views: each mirrored, shifted or zoomed in turn",
            "both": "images as read and a view of each"}[check["on"]]
    return f" ({check['images']}, {what}: {check['faces']} fp32 faces)"
