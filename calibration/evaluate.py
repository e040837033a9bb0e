"""What the report measures on the finished int8 model: WIDER AP next to fp32 (the
`facedge eval` protocol, bench/wider/), latency at one thread, per-layer output
similarity, proof that ncnn ran int8 arithmetic, and stock ncnn's view of the files."""

from __future__ import annotations

import statistics
from types import SimpleNamespace
from pathlib import Path

import numpy as np

from facedge.calibration.compare import cosine
from facedge.calibration.layer_sim import ConvGeometry, forward_float, forward_int8, quantize_values
from facedge.calibration.ncnn_model import QUANTIZABLE
from facedge.base.errors import FacedgeError

LATENCY_ROUNDS = 30


BOOTSTRAP_RESAMPLES = 200


def wider_ap(fp32_dir, int8_dir, wider_root):
    """{"fp32": {easy, medium, hard}, "int8": {...}, "delta": {...}, "images", "faces", "protocol"}
    under `facedge eval`'s defaults at the model's own input size, one ncnn thread
    (AP does not depend on it; on busy cores it is the fastest)."""
    from facedge.bench.wider.ap import evaluate
    from facedge.bench.wider.run import (DEFAULT_IOU, DEFAULT_NMS, DEFAULT_SCORE_THRESHOLD, DEFAULT_TOP_K,
                                         InferenceOptions, open_detector, run_model)
    from facedge.bench.wider.gt import SETTINGS, load_wider_val
    from facedge.base.model_dir import read_model_info

    val = load_wider_val(wider_root)
    size = tuple(read_model_info(fp32_dir).input_size)
    options = InferenceOptions(input_size=size, max_side=None, score_threshold=DEFAULT_SCORE_THRESHOLD,
                               iou_threshold=DEFAULT_IOU, top_k=DEFAULT_TOP_K, nms=DEFAULT_NMS, threads=1)
    out = {"wider": str(wider_root), "inference": options.to_json()}
    rows = {}
    for name, model_dir in (("fp32", fp32_dir), ("int8", int8_dir)):
        images, rows[name], _ = run_model(val, open_detector(model_dir, options), options)
        result = evaluate(images, rows[name])
        out[name] = {s: round(float(result.settings[s].ap), 4) for s in SETTINGS}
        out["images"], out["faces"] = result.images, {s: result.settings[s].faces for s in SETTINGS}
    out["delta"] = {s: round(out["int8"][s] - out["fp32"][s], 4) for s in out["fp32"]}
    out["delta_interval"] = delta_interval(images, rows["fp32"], rows["int8"])
    return out


def delta_interval(images, fp32_rows, int8_rows, resamples=BOOTSTRAP_RESAMPLES, seed=0):
    """{setting: [low, high]}: the 95 % bootstrap interval of int8 AP - fp32 AP over the
    evaluated images (both models on the same resampled images). With a few dozen
    images one face ranked differently moves AP by about 1/faces, and this interval
    says how far the measured delta can be trusted.

    Not scipy.stats.bootstrap: with a few dozen images some resamples have no face
    of a setting, its AP is undefined (NaN) there, and scipy's percentile interval
    turns NaN; these resamples are skipped here (nanpercentile)."""
    from facedge.bench.wider.ap import evaluate
    from facedge.bench.wider.gt import SETTINGS

    rng = np.random.default_rng(seed)
    deltas = {s: [] for s in SETTINGS}
    for _ in range(resamples):
        pick = rng.integers(0, len(images), len(images))
        chosen = [images[i] for i in pick]
        a = evaluate(chosen, [fp32_rows[i] for i in pick])
        b = evaluate(chosen, [int8_rows[i] for i in pick])
        for s in SETTINGS:
            deltas[s].append(b.settings[s].ap - a.settings[s].ap)
    return {s: [round(float(np.nanpercentile(d, 2.5)), 4), round(float(np.nanpercentile(d, 97.5)), 4)]
            for s, d in deltas.items()}


def latency(fp32_dir, int8_dir, image, rounds=LATENCY_ROUNDS):
    """Median inference time (ms, ncnn only, measured in C++) at one thread, the
    two models alternating so both see the same machine load."""
    import facedge

    dets = {"fp32": facedge.Detector(str(fp32_dir), threads=1), "int8": facedge.Detector(str(int8_dir), threads=1)}
    for d in dets.values():
        d.detect(image)  # warm-up: first-call allocations
    times = {k: [] for k in dets}
    for _ in range(rounds):
        for k, d in dets.items():
            times[k].append(d.detect(image).timings_ms["inference"])
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"threads": 1, "rounds": rounds, "fp32_ms": round(med["fp32"], 3), "int8_ms": round(med["int8"], 3),
            "int8_over_fp32": round(med["int8"] / med["fp32"], 3) if med["fp32"] else None}


def layer_similarity(fp32_det, int8_det, int8_model, images) -> list:
    """Per quantizable layer of the int8 model, in model order: cosine similarity of
    its output in the int8 model and in the fp32 model, averaged over the images.
    Requantized (int8) outputs are divided by their scale first."""
    rows = []
    layers = [layer for layer in int8_model.layers if layer.type in QUANTIZABLE and len(layer.tops) == 1]
    tops = [layer.tops[0] for layer in layers]
    sims = {t: [] for t in tops}
    for img in images:
        ref = fp32_det.extract_blobs(img, tops)
        got = int8_det.extract_blobs(img, tops)
        for layer, top in zip(layers, tops):
            y = got[top]
            if layer.int_param(8, 0) > 100:
                y = y / layer.chunk("output scale").values[0]
            sims[top].append(cosine(ref[top], y))
    for layer, top in zip(layers, tops):
        rows.append({"layer": layer.name, "type": layer.type, "int8": bool(layer.int_param(8, 0)),
                     "requantized": layer.int_param(8, 0) > 100, "cosine": round(float(np.mean(sims[top])), 5)})
    return rows


def int8_kernel_check(int8_det, int8_model, image):
    """Evidence that ncnn ran integer arithmetic: the first int8 layer's output in the
    runtime is what the integer model of that layer computes (layer_sim: int8 input
    and weights, integer sums), and not what the float computation with the same
    (dequantized) weights computes. None where no layer is int8."""
    for layer in int8_model.layers:
        term = layer.int_param(8, 0) if layer.type in QUANTIZABLE else 0
        if not term:
            continue
        bottom, top = layer.bottoms[0], layer.tops[0]
        blobs = int8_det.extract_blobs(image, [bottom, top])
        x, y = blobs[bottom], blobs[top]
        g = ConvGeometry.of(layer)
        bias = layer.chunk("bias").values if layer.chunk("bias") is not None else None
        w8, ws = layer.chunk("weight").values, layer.chunk("weight scales").values
        s_in = layer.chunk("input scale").values[0]
        integer = forward_int8(g, x, w8, ws, s_in, bias)
        per_output = np.repeat(ws, g.num_output // len(ws)) if len(ws) != g.num_output else ws
        dequantized = w8.astype(np.float32).reshape(g.num_output, -1) / np.where(per_output > 0, per_output, 1)[:, None]
        floating = forward_float(g, x, dequantized.reshape(-1), bias)
        if term > 100:  # int8 output: compare the requantized values
            s_out = layer.chunk("output scale").values[0]
            integer, floating = quantize_values(integer, s_out), quantize_values(floating, s_out)
        y = y.reshape(integer.shape).astype(np.float64)
        err_int = float(np.mean(np.abs(integer - y)))
        err_float = float(np.mean(np.abs(floating - y)))
        # ncnn's kernels order float operations differently (FMA, folded scales): the
        # integer model is not bit-exact, but an order of magnitude closer than float
        return {"layer": layer.name, "type": layer.type, "elements": int(y.size),
                "mean_abs_diff_integer_model": err_int, "mean_abs_diff_float_model": err_float,
                "equal_to_integer_model": round(float(np.mean(integer == y)), 6),
                "ran_int8": err_int <= 0.1 * err_float}
    return None


def stock_ncnn_check(int8_dir, int8_det, info, images):
    """Load the int8 files in the `ncnn` Python wheel (stock ncnn) and compare its raw
    outputs with facedge's runtime on the same network input, and the faces both sets
    of outputs decode to (one numpy decoder for both). None without the wheel.

    Raw outputs are equal where int8 layers follow int8 layers. A float layer before
    an int8 one can differ in the last bits between the two builds (another compiler's
    contraction of multiply-adds); the int8 layer after it then rounds a few values to
    the neighbouring step, which shows as output differences of up to a few 1e-2 with
    the same faces found."""
    try:
        import ncnn
    except ImportError:
        return None
    from facedge.bench.reference_decode import FAMILIES, detect, make_priors
    from facedge.runtime.detector import default_options
    from facedge.calibration.compare import Agreement

    net = ncnn.Net()
    net.opt.num_threads = 1
    net.opt.use_vulkan_compute = False
    for flag in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic"):
        setattr(net.opt, flag, False)
    net.opt.use_int8_inference = True
    int8_dir = Path(int8_dir)
    if net.load_param(str(int8_dir / "model.param")) != 0 or net.load_model(str(int8_dir / "model.bin")) != 0:
        raise FacedgeError(f"{int8_dir}: stock ncnn (the ncnn Python wheel) could not load the int8 model")
    outputs = info.outputs
    w, h = info.input_size
    priors = make_priors(info.family, w, h) if info.family in FAMILIES else None

    o = default_options()

    def faces(blobs):
        boxes, scores, _ = detect(priors, blobs[outputs["scores"]].reshape(len(priors), -1),
                                  blobs[outputs["boxes"]].reshape(len(priors), 4), (w, h), o["score_threshold"],
                                  o["iou_threshold"], o["top_k"])
        return SimpleNamespace(boxes=boxes, scores=scores)

    worst, agree = 0.0, Agreement()
    for img in images:
        blobs = int8_det.extract_blobs(img, [info.input, *outputs.values()])
        ex = net.create_extractor()
        ex.input(info.input, ncnn.Mat(np.ascontiguousarray(blobs[info.input])))
        stock = {}
        for name in outputs.values():
            ret, mat = ex.extract(name)
            if ret != 0:
                raise FacedgeError(f"{int8_dir}: stock ncnn could not compute '{name}' of the int8 model")
            stock[name] = np.array(mat).reshape(blobs[name].shape)
            worst = max(worst, float(np.abs(stock[name] - blobs[name]).max()))
        if priors is not None:
            agree.add(faces(blobs), faces(stock))
    return {"ncnn": getattr(ncnn, "__version__", "?"), "images": len(images), "loads": True,
            "max_abs_output_diff": worst,
            "faces": None if priors is None else {"facedge": agree.fp32_faces, "stock": agree.int8_faces,
                                                  "matched": agree.matched,
                                                  "mean_iou": round(agree.iou_sum / max(agree.matched, 1), 4)}}
