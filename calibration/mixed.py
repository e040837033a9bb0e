"""Mixed precision: which layers to leave in float.

Sensitivity: each layer quantized alone (every other layer in float), its error at
the network outputs (compare.output_error: the face scores of every anchor and the
boxes of the anchors that could become detections, relative to their size) averaged
over a few calibration images. It ranks the layers; it is cheap and continuous.

`--keep-fp32 auto` then leaves the fewest layers in float, in the order below, for
the int8 model to lose at most `max_ap_loss` of ranked agreement with the fp32 model
on views of the calibration images (check_views; compare.ranked_agreement: WIDER's AP with fp32's own
detections as the ground truth, each int8 box priced by how likely it still matches
the labels WIDER would judge its fp32 box against), or half the layers if that is not
enough. The
criterion is in the unit of the accuracy promise (AP) and is measured on thousands of
faces: the 39 labelled WIDER val images here hold 62 Easy faces, so their AP moves by
about 0.015 for one face ranked differently and cannot choose layers (measured on
ULFD RFB-320: every-layer int8 models gave Easy deltas from -0.014 to +0.015 between
calibration methods whose ranked agreement differed by 0.02).

With `--float-order cycles` (the default) and the target board's cost table
(costs.py), the layers are ranked by accuracy lost per cycle saved, priced in
context: layers whose int8 form saves nothing on the board (the model with the
layer in float costs no more, boundary passes included) go float first and for
free; then, one at a time, the layer with the most sensitivity per unit its int8
form saves given the layers already float, each followed by whatever that makes
free (cost_ranking). The bisection takes as many as the budget needs, or a few more
where those cost less (cheapest_within) (all of them is
the fp32 model: the budget is always met, and where that takes most of the model the
report shows int8 does not pay). `--float-order sensitivity` ranks by sensitivity
alone (at most half the layers), whatever they cost.

All runs are single-threaded per image and combined in image order: the choice is
the same on every run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from facedge.calibration.compare import Agreement, image_hits, output_error, ranked_ap, ranked_thresholds
from facedge.base.progress import progress

SENSITIVITY_IMAGES = 16
CHECK_IMAGES = 120  # the more faces the steadier the AP loss (64 images: RFB-320 flipped by 0.003 between trials); each costs a detection per trial
# What the check runs on (check_views, `--check-on`): views of the calibration images
# (the default: each mirrored, shifted or zoomed, in turn), the images as read, or both.
# A detector is not invariant to a mirror, a shift or a zoom (its anchors sit on a grid
# those move against the faces, and int8 rounding falls differently), so a view is a new
# sample of where int8 moves a score or a box. Measured (bench/RESULTS.md, "Session 6"
# and "Session 7"): checked on views, RFB-320 and BlazeFace keep their WIDER val faces as
# read (lower ends -0.040 -> -0.004 and -0.056 -> -0.006) and slim-320 floats 17 layers
# instead of 6 (0.79 -> 0.89 of fp32's cycles); on views of the val images WIDER itself
# ranks slim-320's 6-float model below the 17-float one, as the check on views does and
# the check on the images as read does not. "both" doubles the check's detections per trial.
CHECK_ON = ("images", "views", "both")
DEFAULT_CHECK_ON = "views"
VIEW_KINDS = ("mirror", "shift", "zoom")
SHIFT = 1 / 80  # of the image's size, right and down: half the 8-pixel stride of a 320-wide input
ZOOM = 0.8  # the centre crop's share of each side: faces 1.25 times larger
DEFAULT_MAX_AP_LOSS = 0.005  # half the promised 0.01 of WIDER AP: the calibration images are not WIDER val
MAX_FLOAT_FRACTION = 0.5
MEASURE_OPTIONS = {"threads": 1, "fp16": False}  # what decisions are measured with: the same on every x86 / ARM build
RANKED_OPTIONS = {"score_threshold": 0.02, "iou_threshold": 0.3, "top_k": 750}  # as `facedge eval` ranks detections


def check_views(images, on=DEFAULT_CHECK_ON, count=None, kinds=VIEW_KINDS) -> list:
    """The images the ranked agreement is measured on, from the first `count`
    (CHECK_IMAGES) calibration images: image i as the view kinds[i % len(kinds)] ("views",
    the default), as read ("images"), or those images followed by those views ("both")."""
    if on not in CHECK_ON:
        raise ValueError(f"check on: expected one of {', '.join(CHECK_ON)}, got {on!r}")
    images = list(images[:CHECK_IMAGES if count is None else count])
    views = [view(im, kinds[i % len(kinds)]) for i, im in enumerate(images)] if on != "images" else []
    return {"images": images, "views": views, "both": images + views}[on]


def view_crop(kind, height, width):
    """The part (x0, y0, x1, y1) of a height x width picture that a shift (cut by SHIFT of
    its size at the left and top) or a zoom (its centre ZOOM of each side) keeps."""
    if kind == "shift":
        return int(round(width * SHIFT)), int(round(height * SHIFT)), width, height
    if kind == "zoom":
        ch, cw = max(1, int(height * ZOOM)), max(1, int(width * ZOOM))
        y, x = (height - ch) // 2, (width - cw) // 2
        return x, y, x + cw, y + ch
    raise ValueError(f"view kind: expected shift or zoom, got {kind!r}")


def view(image, kind):
    """`image` (H, W, 3) mirrored, shifted or zoomed (view_crop)."""
    h, w = image.shape[:2]
    if kind == "mirror":
        out = image[:, ::-1]
    elif kind in ("shift", "zoom"):
        x0, y0, x1, y1 = view_crop(kind, h, w)
        out = image[y0:y1, x0:x1]
    else:
        raise ValueError(f"view kind: expected one of {', '.join(VIEW_KINDS)}, got {kind!r}")
    return np.ascontiguousarray(out)


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
    ranked: list  # Detector.detect results with RANKED_OPTIONS, as `facedge eval` ranks them

    @property
    def thresholds(self) -> tuple:
        """(face score, ignore score) of the ranked agreement: above the model's background floor."""
        return ranked_thresholds(self.ranked, RANKED_OPTIONS["top_k"])

    @classmethod
    def measure(cls, fp32_detector, images, threads, ranked_detector=None):
        raw = _map(fp32_detector.infer, images, threads)
        faces = _map(fp32_detector.detect, images, threads)
        ranked = [] if ranked_detector is None else _map(ranked_detector.detect, images, threads)
        return cls(list(images), raw, faces, ranked)

    def subset(self, n):
        return Reference(self.images[:n], self.raw[:n], self.faces[:n], self.ranked[:n])

    def face_count(self) -> int:
        """How many fp32 faces the ranked agreement counts (ranked detections at the face score)."""
        face = self.thresholds[0]
        return int(sum(int((np.asarray(r.scores) >= face).sum()) for r in self.ranked))


def mean_output_error(detector, ref: Reference, threads) -> float:
    outs = _map(detector.infer, ref.images, threads)
    return float(np.mean([output_error(r, o) for r, o in zip(ref.raw, outs)]))


def ranked_loss(detector, ref: Reference, threads) -> float:
    """1 - ranked agreement of `detector` (made with RANKED_OPTIONS) with the fp32 model."""
    face, ignore = ref.thresholds
    # each image compared where it was detected: the comparison costs as much as the detection
    per_image = _map(lambda i: image_hits(ref.ranked[i], detector.detect(ref.images[i]), face, ignore),
                     range(len(ref.images)), threads)
    return 1.0 - ranked_ap(per_image)


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
    target: float  # the largest ranked-agreement AP loss allowed
    met: bool
    steps: list  # [(float layer count, ranked-agreement AP loss)] as tried
    loss: float  # the ranked-agreement AP loss with `kept` in float


def cost_ranking(scales: dict, sensitivity: dict, cost_of) -> tuple:
    """(free, ranked): the order in which layers go float, priced in context.

    `free` are the layers int8 saves nothing on in the every-layer-int8 model (floating
    them costs no time on the board, boundary passes included, and removes their
    error). Then, greedily, the layer with the most sensitivity per unit its int8 form
    saves *given the layers already float* goes next, and whatever that makes free
    follows at once: what a layer saves depends on its neighbours' precision (a float
    1x1 convolution after an int8 depthwise one adds a repacking pass that a float pair
    does not), so the savings are priced again after every step, on the whole model.
    cost_of(float_names) -> the estimated model cost. Deterministic: ties keep model order."""
    names = list(scales)
    floated = []

    def savings():
        base = cost_of(tuple(floated))
        return {n: cost_of((*floated, n)) - base for n in names if n not in floated}

    def take_free(saving):
        while True:
            free_now = [n for n in saving if saving[n] <= 0]
            if not free_now:
                return saving
            floated.append(max(free_now, key=lambda n: sensitivity[n]))  # max keeps the first of equals
            saving = savings()

    saving = take_free(savings())
    free = list(floated)
    while saving:
        floated.append(max(saving, key=lambda n: sensitivity[n] / saving[n]))
        saving = take_free(savings())
    return free, floated[len(free):]


CHEAPER_TRIALS = 3  # longer prefixes tried for one that costs less than the fewest layers meeting the budget


def cheapest_within(best, ranked, cost_of, meets) -> int:
    """The float-layer count to keep, from `best` (the fewest layers of `ranked` that meet
    the budget): the cheapest longer prefix that costs less and still meets it, or best.
    The fewest float layers are not always the cheapest model: floating a layer between
    two float ones removes the boundary passes around it (slim-320 checked on views, in
    the sensitivity order: 14 float layers 0.966 of fp32's cycles by the cost table, 15:
    0.895, 17: 0.901, 18: 1.036; bench/RESULTS.md "Session 7"). The loss falls (nearly)
    monotonically with more float layers, so the cheaper prefixes are tried cheapest
    first and the first that meets the budget is taken; at most CHEAPER_TRIALS of them
    (each a trial on the check images). Deterministic: ties keep the shorter prefix."""
    here = cost_of(tuple(ranked[:best]))
    cheaper = sorted((cost_of(tuple(ranked[:k])), k) for k in range(best + 1, len(ranked) + 1))
    for cost, k in [(c, k) for c, k in cheaper if c < here][:CHEAPER_TRIALS]:
        if meets(k):
            return k
    return best


def choose_float_layers(trials, scales: dict, sensitivity: dict, ref: Reference, threads, target=DEFAULT_MAX_AP_LOSS,
                        ranked=None, free=(), cost_of=None) -> FloatChoice:
    """The fewest layers, taken in `ranked` order (default: most sensitive first), to
    leave in float, besides the `free` ones, for the ranked-agreement AP loss to be at
    most the target. The loss falls (nearly) monotonically as layers go float, so a
    bisection over their count finds it in a few trials. Without `free` (the
    sensitivity order) at most half the layers go float; with it (the cost order)
    any number of the ranked ones may: every float layer then buys accuracy at the
    least time. With `cost_of`, a longer prefix that costs less and meets the target is
    taken instead (cheapest_within), and the layers after the chosen ones that then cost
    nothing to float (cost_of does not rise) go float too, while the loss stays within the target."""
    if ranked is None:
        ranked = sorted(scales, key=lambda n: -sensitivity[n])  # stable: equal errors stay in model order
    free = list(free)
    ranked = free + [n for n in ranked if n not in free]
    limit = len(ranked) if free else int(len(ranked) * MAX_FLOAT_FRACTION)
    tried = {}
    most = 3 + max(limit, 1).bit_length()  # trials a bisection can take
    bar = iter(progress(range(most), total=most, desc="calibration: mixed precision"))

    def error(k):
        if k not in tried:
            next(bar, None)
            det = trials.detector({n: s for n, s in scales.items() if n not in ranked[:k]}, **MEASURE_OPTIONS,
                                  **RANKED_OPTIONS)
            tried[k] = ranked_loss(det, ref, threads)
        return tried[k]

    start = len(free)
    if error(start) <= target:
        best = start
    elif error(limit) > target:
        best = None
    else:
        lo, hi = start, limit  # error(lo) > target >= error(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if error(mid) <= target else (mid, hi)
        best = hi
    for _ in bar:  # finish the progress line
        pass
    if best is None and free:
        # not even every layer in float meets it (fp16 weight storage and equalization move the
        # float model too): the lowest loss tried that leaves int8 layers, or half the layers
        half = max(start, int(len(ranked) * MAX_FLOAT_FRACTION))
        error(half)
        limit = min((k for k in tried if k < len(ranked)), key=lambda k: (tried[k], k))
    if best is not None and cost_of is not None:
        best = cheapest_within(best, ranked, cost_of, lambda k: error(k) <= target)
        while (best < len(ranked) and cost_of(tuple(ranked[:best + 1])) <= cost_of(tuple(ranked[:best]))
               and error(best + 1) <= target):
            best += 1
    steps = [(k, round(tried[k], 6)) for k in sorted(tried)]
    if best is None:
        return FloatChoice(ranked[:limit], target, False, steps, tried[limit])
    return FloatChoice(ranked[:best], target, True, steps, tried[best])
