"""`quantize()`: an fp32 ncnn model directory -> its int8 model, calibration table
and report.

OUT/
  int8/            model.param, model.bin, facedge.json (precision "int8"), model.table
  report.json      {"calibration": {...}}, merged into a report already there (convert's)
  report.md        with an "int8 calibration" section, replacing an older one

Everything is computed first and written into a temporary folder beside OUT/int8,
which is renamed into place at the end: a failure leaves OUT as it was. Inputs are
checked before the long work starts. The table and the model depend only on the
inputs and options (not on timing or thread count): two runs give the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedge.calibration import evaluate, localisation, mixed
from facedge.calibration.equalize import equalize as equalize_ranges
from facedge.calibration.graph import fuse_activations, quantizable_layers
from facedge.calibration.images import find_calibration_set, read_image
from facedge.calibration.int8_model import build_int8_model, check_table_matches, quantize_weights
from facedge.calibration.ncnn_model import read_model
from facedge.calibration.report import write_reports
from facedge.calibration.scales import METHODS, scale_from_threshold, threshold_for, weight_scales
from facedge.calibration.compare import Agreement
from facedge.calibration.costs import DEFAULT_TARGET, CostTable, model_costs_of, resolve_target
from facedge.calibration.stats import collect, ordered_map
from facedge.calibration.table import LayerScales, read_table, table_text
from facedge.calibration.trial import TrialModels, write_model_dir
from facedge.base.errors import FacedgeError
from facedge.base.model_dir import BIN_FILE, INFO_FILE, PARAM_FILE, read_model_info, resolve_model

DEFAULT_COUNT = 200
FLOAT_ORDERS = ("sensitivity", "cycles")
DEFAULT_FLOAT_ORDER = "cycles"
ROUNDINGS = ("nearest", "adaptive")
DEFAULT_ROUNDING = "adaptive"
DEFAULT_METHOD = "percentile"
TABLE_FILE = "model.table"
SIMILARITY_IMAGES = 8
AGREEMENT_IMAGES = 200


@dataclass
class _Job:
    """quantize()'s inputs, checked."""

    fp32_dir: Path
    info: object  # ModelInfo
    out: Path
    fp32: object  # NcnnModel as read
    qlayers: list
    given_table: dict | None
    table_path: str | None
    float_mode: str
    float_names: list
    calib_set: object
    wider_root: Path | None
    method: str
    threads: int
    max_ap_loss: float
    equalize: bool
    bias_correction: bool
    target: str  # --target as given (pi4, pi5, this-machine)
    float_order: str  # sensitivity | cycles
    rounding: str  # nearest | adaptive
    costs: object  # costs.ModelCosts of this model on the target's CPU
    check_on: str = mixed.DEFAULT_CHECK_ON  # images | views | both: what the mixed-precision check runs on

    def cost_of(self, model, scales, float_names=()) -> float:
        """Estimated units on the target of `model` with every layer of `scales` int8 but float_names."""
        q = {n: s for n, s in scales.items() if n not in set(float_names)}
        if not q:
            return self.costs.estimate(None).total
        return self.costs.estimate(build_int8_model(model, q, self.protected, structure_only=True)[0]).total

    @property
    def protected(self):
        return set(self.info.outputs.values())


def quantize(fp32_dir, out_dir=None, *, calib=None, count=DEFAULT_COUNT, method=DEFAULT_METHOD, keep_fp32="auto",
             eval_dir=None, table=None, threads=None, max_ap_loss=mixed.DEFAULT_MAX_AP_LOSS, equalize=True,
             bias_correction=False, target=DEFAULT_TARGET, float_order=DEFAULT_FLOAT_ORDER, rounding=DEFAULT_ROUNDING,
             check_on=mixed.DEFAULT_CHECK_ON) -> dict:
    """Quantize the fp32 model directory `fp32_dir` into `out_dir`/int8 and return
    the report (a dict).

    calib: calibration images (WIDER split folder, image folder or list file;
    needed, there is no default). count: images sampled from it.
    method: kl | aciq | percentile | minmax | eq. keep_fp32: "auto" (sensitivity-ranked
    layers in float until the int8 model loses at most `max_ap_loss` of AP against
    the fp32 model's own detections on the calibration images), "none",
    or layer names (list or comma-separated). eval_dir: a WIDER FACE root for AP
    (None or False: no AP evaluation). table: an
    existing ncnn calibration table to apply instead of calibrating. threads: worker
    threads for measuring (default: CPU count, at most 4); results do not depend on it.
    equalize: rescale layer pairs so activation channels span similar ranges first
    (equalize.py; not with a given table, which describes the model as it is).
    bias_correction: cancel the mean output shift int8 weights cause (bias_correction.py);
    off by default: on RFB-320 it raised agreement with fp32 but not WIDER AP.
    target: the board the model is for (pi4, pi5, this-machine): its cost table
    (costs.py) ranks the layers for mixed precision by accuracy lost per cycle saved,
    and the report estimates fp32 and int8 milliseconds there.
    float_order: how `keep_fp32="auto"` ranks the layers: "cycles" (the default: by
    accuracy lost per cycle saved on the target, priced in context from its cost
    table) or "sensitivity" (the most sensitive first, whatever they cost).
    rounding: how float weights become int8: "adaptive" (the default: each rounded down
    or up for the least layer output error on calibration activations, rounding.py) or
    "nearest" (each to its nearest level, as ncnn2int8).
    check_on: what `keep_fp32="auto"` measures the AP lost on: "views" (the default: the
    first calibration images, each mirrored, shifted or zoomed, in turn), "images" (as
    read) or "both" (mixed.check_views)."""
    started = time.monotonic()
    job = _check(fp32_dir, out_dir, calib, count, method, keep_fp32, eval_dir, table, threads, max_ap_loss, equalize,
                 bias_correction, target, float_order, rounding, check_on)
    with tempfile.TemporaryDirectory(prefix="facedge-calibration-") as scratch:
        return _run(job, Path(scratch), started)


def _check(fp32_dir, out_dir, calib, count, method, keep_fp32, eval_dir, table, threads, max_ap_loss, equalize,
           bias_correction=False, target=DEFAULT_TARGET, float_order=DEFAULT_FLOAT_ORDER, rounding=DEFAULT_ROUNDING,
           check_on=mixed.DEFAULT_CHECK_ON) -> _Job:
    """Everything that can be refused, refused before the long part starts."""
    threads = _threads(threads)
    if check_on not in mixed.CHECK_ON:
        raise FacedgeError(f"--check-on: expected one of {', '.join(mixed.CHECK_ON)}, got {check_on!r}")
    if float_order not in FLOAT_ORDERS:
        raise FacedgeError(f"--float-order: expected one of {', '.join(FLOAT_ORDERS)}, got {float_order!r}")
    if rounding not in ROUNDINGS:
        raise FacedgeError(f"--rounding: expected one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    cpu = resolve_target(target)
    if method not in METHODS:
        raise FacedgeError(f"--calib-method: expected one of {', '.join(METHODS)}, got {method!r}")
    if not 0.0 < float(max_ap_loss) < 1.0:
        raise FacedgeError(f"--max-ap-loss: expected a value between 0 and 1 (e.g. {mixed.DEFAULT_MAX_AP_LOSS}), got {max_ap_loss}")
    fp32_dir = _fp32_dir(fp32_dir)
    info = read_model_info(fp32_dir)
    out = _out_dir(fp32_dir, out_dir)
    fp32 = read_model(fp32_dir / PARAM_FILE, fp32_dir / BIN_FILE)
    qlayers = quantizable_layers(fp32)
    if not qlayers:
        raise FacedgeError(f"{fp32_dir / PARAM_FILE}: no quantizable layer (Convolution, ConvolutionDepthWise or "
                           "InnerProduct with fixed weights): nothing to quantize")
    given_table = None
    if table is not None:
        given_table = read_table(table)
        check_table_matches(fp32, given_table, table)
    float_mode, float_names = _keep_fp32(keep_fp32, qlayers)
    calib_set = find_calibration_set(calib, count)
    wider_root = _eval_root(eval_dir)
    costs = model_costs_of(fp32_dir, fp32, info.outputs.values(), CostTable.load(cpu))
    job = _Job(fp32_dir, info, out, fp32, qlayers, given_table, None if table is None else str(table), float_mode,
               float_names, calib_set, wider_root, method, threads, float(max_ap_loss), bool(equalize),
               bool(bias_correction), target, float_order, rounding, costs, check_on)
    _check_worth_quantizing(job)
    return job


def _check_worth_quantizing(job):
    """Refuses a model none of whose layers is cheaper in int8 on the target, whatever
    the scales (costs depend only on which layers are int8): neither the all-int8
    model nor any model with a single int8 layer beats fp32 there."""
    dummy = {q.name: LayerScales(np.ones(q.groups, np.float32), np.float32(1.0)) for q in job.qlayers}
    base = job.cost_of(job.fp32, dummy)
    fp32_cost = job.costs.estimate(None).total
    if base < fp32_cost:
        return
    if any(job.cost_of(job.fp32, {n: s}) < fp32_cost for n, s in dummy.items()):
        return
    t = job.costs.table
    raise FacedgeError(f"{job.fp32_dir}: no layer is worth quantizing for --target {job.target} ({t.cpu}): "
                       f"the all-int8 model is estimated at {t.ms(base):.2f} ms against fp32's {t.ms(fp32_cost):.2f} ms "
                       "and no layer is cheaper in int8 on its own; use the fp32 model, or another --target")


def _run(job: _Job, scratch: Path, started: float) -> dict:
    import facedge

    timings = {}
    original = facedge.Detector(str(job.fp32_dir), **mixed.MEASURE_OPTIONS)

    # 0. equalization: the float model the int8 one is made from
    t = time.monotonic()
    fp32, measure, equalized_blobs = job.fp32, original, 0
    if job.equalize and job.given_table is None:
        fp32, equalized_blobs = equalize_ranges(job.fp32, original, job.calib_set.paths, job.protected)
        if equalized_blobs:
            write_model_dir(scratch / "equalized", fp32, job.info.to_json())
            measure = facedge.Detector(str(scratch / "equalized"), **mixed.MEASURE_OPTIONS)
    timings["equalization"] = time.monotonic() - t

    # 1. scales: from the given table, or from activation statistics
    t = time.monotonic()
    if job.given_table is not None:
        scales = {q.name: job.given_table[q.name] for q in job.qlayers if q.name in job.given_table}
        stats = collect(measure, job.calib_set.paths, [], job.threads, histograms=False)
        stats_json = {}
    else:
        stats = collect(measure, job.calib_set.paths, sorted({q.source for q in job.qlayers}), job.threads,
                        histograms=job.method in ("kl", "percentile", "eq"))
        _check_some_read(job, stats)  # before the rounding, which needs images
        scales, stats_json = _calibrate(fp32, job.qlayers, stats, job.method, measure, job.protected)
        if job.rounding == "adaptive":
            _round_adaptively(fp32, job.qlayers, scales, measure, stats.used, job.threads)
        if job.bias_correction:
            _correct_biases(fp32, job.qlayers, stats, scales)
    _check_some_read(job, stats)
    timings["statistics"] = time.monotonic() - t

    # 2. mixed precision
    t = time.monotonic()
    sensitivity, choice, float_names, order, thresholds, check_json = None, None, job.float_names, None, None, None
    if job.float_mode == "auto":
        images = [read_image(p) for p in stats.used[:max(mixed.CHECK_IMAGES, mixed.SENSITIVITY_IMAGES)]]
        views = mixed.check_views(images, job.check_on)  # the sensitivity runs on the first SENSITIVITY_IMAGES
        ranked = facedge.Detector(str(job.fp32_dir), **mixed.MEASURE_OPTIONS, **mixed.RANKED_OPTIONS)
        ref = mixed.Reference.measure(original, views, job.threads, ranked)
        with TrialModels(fp32, job.info.to_json(), job.protected) as trials:
            sensitivity = mixed.layer_sensitivity(trials, scales, ref.subset(mixed.SENSITIVITY_IMAGES), job.threads)
            timings["mixed_precision_sensitivity"] = time.monotonic() - t  # with the fp32 reference
            check = ref.subset(len(views))
            thresholds = check.thresholds
            check_json = {"on": job.check_on, "images": len(views),
                          "view_kinds": [] if job.check_on == "images" else list(mixed.VIEW_KINDS),
                          "faces": check.face_count()}
            if job.float_order == "sensitivity":
                choice = mixed.choose_float_layers(trials, scales, sensitivity, check, job.threads, job.max_ap_loss)
                order = {"by": "sensitivity", "free": [], "ranked": sorted(scales, key=lambda n: -sensitivity[n])}
            else:
                choice, order = _by_cycles(job, fp32, trials, scales, sensitivity, check)
        float_names = choice.kept
    quantized = {n: s for n, s in scales.items() if n not in set(float_names)}
    if not quantized:
        if job.float_mode == "auto":
            raise FacedgeError(f"{job.fp32_dir}: int8 cannot lose at most --max-ap-loss {job.max_ap_loss} here without "
                               "every layer in float: use the fp32 model, or allow more loss")
        raise FacedgeError("every quantizable layer is kept in float (--keep-fp32): the int8 model would have no int8 layer")
    timings["mixed_precision"] = time.monotonic() - t

    # 3. the int8 model directory, in a temporary folder beside its destination
    int8_model, graph_notes = build_int8_model(fp32, quantized, job.protected)
    settings = {"method": job.method if job.given_table is None else "table", "equalized_blobs": equalized_blobs,
                "calibration_images": job.calib_set.to_json(),
                "images_used": len(stats.used), "images_unreadable": len(stats.unreadable),
                "keep_fp32": job.float_mode, "float_layers": list(float_names),
                "bias_correction": job.bias_correction and job.given_table is None,
                "rounding": job.rounding if job.given_table is None else "nearest",
                "max_ap_loss": job.max_ap_loss if job.float_mode == "auto" else None,
                "check_on": job.check_on if job.float_mode == "auto" else None,
                "table_sha256": hashlib.sha256(table_text(quantized).encode()).hexdigest()}
    if job.table_path is not None:
        settings["table"] = job.table_path
    int8_info = job.info.to_json()
    int8_info["precision"] = "int8"
    int8_info["source"] = dict(int8_info.get("source", {}), calibration=settings,
                               fp32_model_sha256=_fp32_files_sha256(job.fp32_dir))
    job.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=job.out, prefix=".int8.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o755)
        int8_dir = tmp / "int8"
        write_model_dir(int8_dir, int8_model, int8_info)
        (int8_dir / TABLE_FILE).write_text(table_text(quantized), encoding="utf-8")

        # 4. measurements for the report
        t = time.monotonic()
        report = _measure(job, int8_dir, int8_model, measure, stats)
        timings["report"] = time.monotonic() - t
        timings["total"] = time.monotonic() - started
        report.update({
            "model": {"fp32": str(job.fp32_dir), "int8": str(job.out / "int8"), "family": job.info.family,
                      "input_size": list(job.info.input_size)},
            "settings": settings,
            "unreadable_images": [str(p) for p in stats.unreadable],
            "layers": _layer_rows(job.qlayers, scales, quantized, stats_json, sensitivity, report.pop("similarity")),
            "target": _target_report(job, int8_model),
            "mixed_precision": None if choice is None else {"max_ap_loss": choice.target, "met": choice.met,
                                                             "ap_loss": round(choice.loss, 6), "order": order,
                                                             "check": check_json,
                                                             "face_score": round(thresholds[0], 4),
                                                             "ignore_score": round(thresholds[1], 4),
                                                             "localisation_sigma": localisation.SIGMA,
                                                             "float_layers": choice.kept, "steps": choice.steps},
            "graph": {"fused_activations": len(graph_notes["fused_activations"]),
                      "requantized_layers": len(graph_notes["requantized"])},
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
        })
        _replace_dir(int8_dir, job.out / "int8")
        write_reports(job.out, report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _check_some_read(job, stats):
    if not stats.used:
        raise FacedgeError(f"--calib {job.calib_set.source}: none of the {len(job.calib_set.paths)} chosen images could be read")


def _by_cycles(job, fp32, trials, scales, sensitivity, check):
    """--float-order cycles: the layers int8 saves nothing on first, then by accuracy lost
    per cycle saved (mixed.cost_ranking)."""
    cost_of = functools.lru_cache(maxsize=None)(lambda names: job.cost_of(fp32, scales, names))
    free, ranked = mixed.cost_ranking(scales, sensitivity, cost_of)
    choice = mixed.choose_float_layers(trials, scales, sensitivity, check, job.threads, job.max_ap_loss, ranked, free,
                                       cost_of)
    order = {"by": "accuracy lost per cycle saved", "free": free, "ranked": ranked}
    if not choice.met or len(choice.kept) > len(free) + (len(scales) - len(free)) * mixed.MAX_FLOAT_FRACTION:
        # a layer that saves much but alone breaks the budget ranks last by error per cycle and
        # drags everything before it into float: try the sensitivity order too, after the free
        # layers, and keep the cheaper model that meets the budget (the lower loss when neither does)
        by_error = [n for n in sorted(scales, key=lambda n: -sensitivity[n]) if n not in free]
        other = mixed.choose_float_layers(trials, scales, sensitivity, check, job.threads, job.max_ap_loss, by_error, free,
                                          cost_of)
        cheaper = job.cost_of(fp32, scales, other.kept) < job.cost_of(fp32, scales, choice.kept)
        if (other.met and (cheaper or not choice.met)) or (not choice.met and other.loss < choice.loss):
            choice = other
            order = {"by": "sensitivity, after the free layers (better here than by error per cycle)",
                     "free": free, "ranked": by_error}
    return choice, order


PAYS_BELOW = 0.97  # int8 / fp32 estimated time below which int8 is worth its accuracy cost


def _target_report(job, int8_model) -> dict:
    fp32 = job.costs.estimate(None)
    int8 = job.costs.estimate(int8_model)
    r1, r4 = int8.total / fp32.total, int8.total_4 / fp32.total_4
    t = job.costs.table
    return {"board": job.target, "cpu": t.cpu, "unit": t.unit, "clock_ghz": t.clock_ghz,
            "cycles_per_unit": t.cycles_per_unit, "source": t.source,
            "fp32_ms": {"1": round(t.ms(fp32.total), 3), "4": round(t.ms(fp32.total_4), 3)},
            "int8_ms": {"1": round(t.ms(int8.total), 3), "4": round(t.ms(int8.total_4), 3)},
            "ratio": {"1": round(r1, 4), "4": round(r4, 4)}, "pays": min(r1, r4) < PAYS_BELOW,
            "pays_at": {"1": r1 < PAYS_BELOW, "4": r4 < PAYS_BELOW},
            "fallbacks": {**fp32.fallbacks, **int8.fallbacks}, "layers": int8.to_json()["layers"],
            "fp32_layers": fp32.to_json()["layers"]}


def _threads(threads):
    if threads is None:
        return max(1, min(4, os.cpu_count() or 1))
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise FacedgeError(f"--threads: expected a positive integer, got {threads!r}")
    return threads


def _fp32_dir(fp32_dir) -> Path:
    text = str(fp32_dir)
    d = None
    if "/" not in text and not Path(text).exists():  # a cached model's name: its fp32 model
        try:
            d = resolve_model(text + "-fp32")
        except FacedgeError:
            pass
    d = d or resolve_model(fp32_dir)
    if not (d / INFO_FILE).is_file():
        raise FacedgeError(f"{d}: not a facedge model directory (no {INFO_FILE})")
    info = read_model_info(d)
    if info.precision == "int8":
        raise FacedgeError(f"{d}: is already an int8 model; quantize its fp32 model directory")
    for f in (PARAM_FILE, BIN_FILE):
        if not (d / f).is_file():
            raise FacedgeError(f"{d}: missing {f}")
    return d


def _out_dir(fp32_dir: Path, out_dir) -> Path:
    if out_dir is None:
        if fp32_dir.name != "fp32":
            raise FacedgeError(f"{fp32_dir}: give an output folder (-o OUT); OUT/int8 is written there")
        return fp32_dir.parent
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FacedgeError(f"-o {out}: exists and is not a folder")
    if (out / "int8").exists() and not (out / "int8" / INFO_FILE).is_file():
        raise FacedgeError(f"-o {out}: {out / 'int8'} exists and is not a model directory; not replacing it")
    return out


def _keep_fp32(keep, qlayers):
    """("auto" | "none" | "list", [names])"""
    if keep is None or keep == "none" or keep == "" or keep == []:
        return "none", []
    if keep == "auto":
        return "auto", []
    names = [n.strip() for n in keep.split(",")] if isinstance(keep, str) else [str(n) for n in keep]
    known = {q.name for q in qlayers}
    for n in names:
        if n not in known:
            sample = ", ".join(q.name for q in qlayers[:8])
            raise FacedgeError(f"--keep-fp32: no quantizable layer named '{n}' in the model (e.g. {sample}); "
                               "or use 'auto' or 'none'")
    return "list", names


def _eval_root(eval_dir):
    if eval_dir is False:
        return None
    if eval_dir is None:
        return None  # AP is measured only on WIDER FACE val images the user points at
    root = Path(eval_dir)
    from facedge.bench.wider.gt import load_wider_val

    load_wider_val(root)  # a bad folder fails now, not after calibrating
    return root


def _calibrate(fp32, qlayers, stats, method, detector, protected):
    scales, rows = {}, {}
    for q in qlayers:
        s = stats.blobs[q.source]
        threshold = threshold_for(method, s)
        scales[q.name] = LayerScales(weight_scales(q.weights(fp32), q.groups, q.weight_6bit), scale_from_threshold(threshold))
        rows[q.name] = dict(s.to_json(), threshold=threshold)
    if method == "eq":
        from facedge.calibration.eq import search_input_scales

        fused = fp32.copy()
        fuse_activations(fused, protected)
        weights = {q.name: quantize_weights(q.weights(fp32), scales[q.name].weight) for q in qlayers}
        chosen = search_input_scales(detector, fused, qlayers, weights, scales, stats.used)
        for name, s in chosen.items():
            scales[name].input = s
            rows[name]["threshold"] = 127.0 / float(s)
    return scales, rows


def _round_adaptively(fp32, qlayers, scales, detector, images, threads):
    """int8 weights rounded for the least output error of each layer (rounding.py), from
    the float model's activations on the first calibration images, summed in image order."""
    from facedge.calibration import rounding
    from facedge.calibration.stats import ordered_map

    by_name = {q.name: q for q in qlayers}
    hessians = rounding.Hessians([fp32.layers[q.index] for q in qlayers])
    source_of = {n: by_name[n].source for n in hessians.layers}
    sources = sorted(set(source_of.values()))
    for blobs in ordered_map(lambda p: detector.extract_blobs(read_image(p), sources), images[:rounding.IMAGES], threads,
                             "calibration: adaptive rounding"):
        hessians.add(blobs, source_of)
    for name, layer in hessians.layers.items():
        if name not in hessians.h:  # no image reached it
            continue
        q, s = by_name[name], scales[name]
        s.weight_int8 = rounding.round_weights(q.weights(fp32), s.weight, hessians.h[name],
                                               layer.type == "ConvolutionDepthWise", 31 if q.weight_6bit else 127)


def _correct_biases(fp32, qlayers, stats, scales):
    from facedge.calibration.bias_correction import weight_error_shift

    for q in qlayers:
        s = scales[q.name]
        s.bias_delta = weight_error_shift(q.type, q.weights(fp32), q.num_output, q.groups, s.weight,
                                          stats.blobs[q.source].channel_mean, s.weight_int8)


def _measure(job: _Job, int8_dir, int8_model, layer_reference, stats) -> dict:
    """End results compare with the fp32 model as given; layer outputs with
    `layer_reference`, the float model the int8 one was made from (equalized)."""
    import facedge

    fp32_det = facedge.Detector(str(job.fp32_dir), threads=1)
    int8_det = facedge.Detector(str(int8_dir), threads=1)

    def both(path):
        img = read_image(path)
        return fp32_det.detect(img), int8_det.detect(img)

    agree = Agreement()
    for ref, got in ordered_map(both, stats.used[:AGREEMENT_IMAGES], job.threads, "calibration: fp32 vs int8"):
        agree.add(ref, got)
    images = [read_image(p) for p in stats.used[:SIMILARITY_IMAGES]]
    exact_int8 = facedge.Detector(str(int8_dir), **mixed.MEASURE_OPTIONS)
    size = lambda d: (d / BIN_FILE).stat().st_size + (d / PARAM_FILE).stat().st_size  # noqa: E731
    return {
        "agreement": agree.to_json(),
        "similarity": evaluate.layer_similarity(layer_reference, exact_int8, int8_model, images[:SIMILARITY_IMAGES]),
        "int8_layers": int8_det.int8_layer_count,
        "int8_kernels": evaluate.int8_kernel_check(exact_int8, int8_model, images[0]),
        "stock_ncnn": evaluate.stock_ncnn_check(int8_dir, exact_int8, job.info, images),
        "sizes_bytes": {"fp32": size(job.fp32_dir), "int8": size(int8_dir)},
        "latency": evaluate.latency(job.fp32_dir, int8_dir, images[0]),
        "wider_ap": evaluate.wider_ap(job.fp32_dir, int8_dir, job.wider_root) if job.wider_root else None,
    }


def _layer_rows(qlayers, scales, quantized, stats_json, sensitivity, similarity):
    sim = {r["layer"]: r for r in similarity}
    rows = []
    for q in qlayers:
        row = {"layer": q.name, "type": q.type, "precision": "int8" if q.name in quantized else "float",
               "input_scale": float(scales[q.name].input) if q.name in scales else None,
               "weight_bits": 6 if q.weight_6bit else 8}
        row.update({k: (round(v, 6) if isinstance(v, float) else v) for k, v in stats_json.get(q.name, {}).items()})
        if sensitivity is not None:
            row["sensitivity"] = round(sensitivity[q.name], 6)
        if q.name in sim:
            row["cosine"] = sim[q.name]["cosine"]
            row["requantized"] = sim[q.name]["requantized"]
        rows.append(row)
    return rows


def _fp32_files_sha256(fp32_dir: Path) -> str:
    h = hashlib.sha256()
    for f in (PARAM_FILE, BIN_FILE):
        h.update((fp32_dir / f).read_bytes())
    return h.hexdigest()


def _replace_dir(new: Path, dest: Path):
    """Put new where dest is; an older dest is removed only after the swap."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.{os.getpid()}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    os.replace(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
