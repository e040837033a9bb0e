"""Mixed precision: which layers to leave in float.

Sensitivity: each layer quantized alone (every other layer in float), its error at
the network outputs (compare.output_error: the face scores of every anchor and the
boxes of the anchors that could become detections, relative to their size) averaged
over a few calibration images. `--keep-fp32 auto` then leaves the fewest layers in float,
most sensitive first, for the whole int8 model's output error on the calibration
images to be at most the target (or half the layers, if that is not enough).

Why output error and not detection agreement at one score threshold: WIDER AP ranks
every detection down to score 0.02, so it moves with errors that leave the faces
above 0.6 unchanged (measured on ULFD slim-320: agreement 0.98 at score 0.6 with
AP 0.02 lower). An output error of 0.07 kept AP within 0.01 of fp32 for both ULFD
models with kl, minmax and percentile scales.

All runs are single-threaded per image and combined in image order: the choice is
the same on every run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from facedge.calibration.compare import Agreement, output_error
from facedge.runtime.progress import progress

SENSITIVITY_IMAGES = 16
CHECK_IMAGES = 64
DEFAULT_TARGET_ERROR = 0.07
MAX_FLOAT_FRACTION = 0.5
MEASURE_OPTIONS = {"threads": 1, "fp16": False}  # what decisions are measured with: the same on every x86 / ARM build


def _map(fn, items, threads):
    if threads <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, items))


@dataclass
class Reference:
    """The fp32 model's results on some images."""

    images: list
    raw: list  # Detector.infer outputs
    faces: list  # Detector.detect results at the runtime's default thresholds

    @classmethod
    def measure(cls, fp32_detector, images, threads):
        raw = _map(fp32_detector.infer, images, threads)
        faces = _map(fp32_detector.detect, images, threads)
        return cls(list(images), raw, faces)

    def subset(self, n):
        return Reference(self.images[:n], self.raw[:n], self.faces[:n])


def mean_output_error(detector, ref: Reference, threads) -> float:
    outs = _map(detector.infer, ref.images, threads)
    return float(np.mean([output_error(r, o) for r, o in zip(ref.raw, outs)]))


def agreement(detector, ref: Reference, threads) -> Agreement:
    a = Agreement()
    for r, got in zip(ref.faces, _map(detector.detect, ref.images, threads)):
        a.add(r, got)
    return a


def layer_sensitivity(trials, scales: dict, ref: Reference, threads) -> dict:
    """{layer name: output error with only that layer in int8}, in `scales` order."""
    out = {}
    for name in progress(list(scales), total=len(scales), desc="calibration: layer sensitivity"):
        det = trials.detector({name: scales[name]}, **MEASURE_OPTIONS)
        out[name] = mean_output_error(det, ref, threads)
    return out


@dataclass
class FloatChoice:
    kept: list  # layer names left in float, most sensitive first
    target: float
    met: bool
    steps: list  # [(float layer count, output error)] as tried


def choose_float_layers(trials, scales: dict, sensitivity: dict, ref: Reference, threads, target=DEFAULT_TARGET_ERROR) -> FloatChoice:
    """The fewest most-sensitive layers to leave in float for the output error to
    reach the target. The error falls (nearly) monotonically as layers go float, so
    a bisection over their count finds it in a few trials."""
    ranked = sorted(scales, key=lambda n: -sensitivity[n])  # stable: equal errors stay in model order
    limit = int(len(ranked) * MAX_FLOAT_FRACTION)
    tried = {}
    most = 2 + max(limit, 1).bit_length()  # trials a bisection can take
    bar = iter(progress(range(most), total=most, desc="calibration: mixed precision"))

    def error(k):
        if k not in tried:
            next(bar, None)
            det = trials.detector({n: s for n, s in scales.items() if n not in ranked[:k]}, **MEASURE_OPTIONS)
            tried[k] = mean_output_error(det, ref, threads)
        return tried[k]

    if error(0) <= target:
        best = 0
    elif error(limit) > target:
        best = None
    else:
        lo, hi = 0, limit  # error(lo) > target >= error(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if error(mid) <= target else (mid, hi)
        best = hi
    for _ in bar:  # finish the progress line
        pass
    steps = [(k, round(tried[k], 6)) for k in sorted(tried)]
    if best is None:
        return FloatChoice(ranked[:limit], target, False, steps)
    return FloatChoice(ranked[:best], target, True, steps)
