"""Where the int8 mixed-precision check's loss comes from (bench/RESULTS.md, "Session 7").

The check (`facedge quantize`, `--keep-fp32 auto`) prices an int8 model by the ranked
agreement of its detections with the fp32 model's on the check images or their views
(calibration/compare.py). This splits that loss by what happened to each fp32 face, by
repairing one kind of event at a time and measuring what the loss falls by:

- box moved: an int8 box on the face, at less than full localisation credit (credit -> 1)
- score moved: an int8 box on the face at another score (score -> fp32's)
- swapped: the face not found, a neighbouring int8 box (IoU 0.2-0.5 with it) scoring at
  least half as high instead (the face restored at its fp32 score, those boxes removed)
- dropped: the face not found, nothing beside it (restored at its fp32 score)
- false detections (removed): beside a face (IoU >= 0.2 with one), a duplicate on a found
  face, where fp32 scored below the ignore score ("promoted"), or new

and then by the fp32 face's score, by its box height in a 1024-pixel-wide picture
(WIDER val's pictures: its Easy / Medium / Hard settings count labelled faces from 51 /
31 / 11 pixels high, which decides 99.8 / 99.4 / 98.0 % of the labels' membership), by
view kind, and per image (the loss without it). The repairs do not add up exactly (AP
is not additive) but show what carries the loss.

    python bench/a72/check_loss_parts.py FP32_DIR INT8_DIR [INT8_DIR ...] --calib WIDER_test [--on views] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from facedge.base.boxes import iou_matrix
from facedge.calibration import mixed
from facedge.calibration.compare import AGREEMENT_IOU, image_matches, ranked_ap, ranked_thresholds
from facedge.calibration.localisation import match_credit

NEIGHBOUR_IOU = 0.2  # an int8 box this close to an fp32 face it does not match is "beside" it
SWAP_SHARE = 0.5  # ... and wins it when it scores at least this share of the face's fp32 score
WIDER_WIDTH = 1024  # WIDER val's pictures are 1024 pixels wide
HEIGHT_CUTS = (11, 31, 51)  # WIDER Hard / Medium / Easy count labelled faces from these heights (val .mat files)
SCORE_BANDS = (0.3, 0.5, 0.7, 0.9)
FALSE_KINDS = {"beside a face": "beside", "duplicate": "duplicate", "promoted": "promoted", "new": "new"}


@dataclass
class ImageEvents:
    """One image: its fp32 faces and the int8 detections the check counts."""

    face_score: np.ndarray  # per fp32 face
    face_height: np.ndarray  # in a WIDER_WIDTH-wide picture
    face_kind: np.ndarray  # "found" | "swapped" | "dropped"
    det_score: np.ndarray  # per counted int8 detection
    det_hit: np.ndarray  # its localisation credit (0: a false detection)
    det_face: np.ndarray  # the fp32 face it finds or stands beside (-1: none)
    det_kind: np.ndarray  # "hit" | "beside" | "duplicate" | "promoted" | "new"
    det_height: np.ndarray


def image_events(ref, got, width, face_score, ignore_score) -> ImageEvents:
    """ref, got: detections (scores, x1 y1 x2 y2 boxes) on a picture `width` pixels wide."""
    m = image_matches(ref, got, face_score, ignore_score)
    scale = WIDER_WIDTH / width
    faces = np.flatnonzero(m.face)
    index = {int(i): n for n, i in enumerate(faces)}
    heights = (m.ref_boxes[:, 3] - m.ref_boxes[:, 1]) * scale
    kinds = np.full(len(faces), "dropped", dtype=object)
    if m.got_scores is None:
        return ImageEvents(m.ref_scores[faces], heights[faces], kinds, np.zeros(0), np.zeros(0), np.zeros(0, np.int64),
                           np.zeros(0, object), np.zeros(0))
    found = dict(zip(m.pairs[:, 1].tolist(), m.pairs[:, 0].tolist()))
    credit = np.zeros(len(m.got_scores))
    if len(m.pairs):
        credit[m.pairs[:, 0]] = match_credit(m.ref_boxes[m.pairs[:, 1]], m.got_boxes[m.pairs[:, 0]])
    for n, i in enumerate(faces):
        if i in found:
            kinds[n] = "found"
            continue
        near = (m.iou[:, i] >= NEIGHBOUR_IOU) & (m.iou[:, i] < AGREEMENT_IOU)
        if near.any() and m.got_scores[near].max() >= SWAP_SHARE * m.ref_scores[i]:
            kinds[n] = "swapped"
    low = np.asarray(ref.scores, np.float64) < ignore_score
    low_boxes = np.asarray(ref.boxes, np.float64).reshape(-1, 4)[low]
    iou_low = iou_matrix(m.got_boxes, low_boxes) if len(low_boxes) else np.zeros((len(m.got_boxes), 0))
    matched = {int(k): int(i) for k, i in m.pairs}
    det_face, det_kind = [], []
    for k in np.flatnonzero(m.counted):
        if k in matched:
            det_face.append(index[matched[k]])
            det_kind.append("hit")
            continue
        on = m.iou[k, faces] if len(faces) else np.zeros(0)
        best = int(np.argmax(on)) if len(on) else -1
        det_face.append(best if best >= 0 and on[best] >= NEIGHBOUR_IOU else -1)
        if best >= 0 and on[best] >= AGREEMENT_IOU:
            det_kind.append("duplicate")
        elif det_face[-1] >= 0:
            det_kind.append("beside")
        elif iou_low.shape[1] and (iou_low[k] >= AGREEMENT_IOU).any():
            det_kind.append("promoted")
        else:
            det_kind.append("new")
    k = np.flatnonzero(m.counted)
    return ImageEvents(m.ref_scores[faces], heights[faces], kinds, m.got_scores[k], credit[k],
                       np.array(det_face, np.int64), np.array(det_kind, object),
                       (m.got_boxes[k, 3] - m.got_boxes[k, 1]) * scale)


def _of_face(e, per_face):
    """A per-face mask carried to the counted detections that find or stand beside that face."""
    if not len(e.face_score):
        return np.zeros(len(e.det_score), bool)
    return per_face[np.maximum(e.det_face, 0)] & (e.det_face >= 0)


def loss(images, restore=None, drop=None, full_credit=None, fp32_score=None) -> float:
    """The check's loss of `images` (ImageEvents) with some events repaired: restore(e) ->
    bool per face (found at its fp32 score, credit 1, its own int8 hit removed), drop(e) ->
    bool per counted detection (removed), full_credit(e) / fp32_score(e) -> bool per
    face (its hit's credit -> 1 / its hit's score -> the fp32 score)."""
    per = []
    for e in images:
        n = len(e.face_score)
        r = restore(e) if restore else np.zeros(n, bool)
        keep = ~drop(e) if drop else np.ones(len(e.det_score), bool)
        hit = e.det_kind == "hit"
        keep &= ~(hit & _of_face(e, r))
        score, credit = e.det_score.copy(), e.det_hit.copy()
        if full_credit is not None:
            credit[hit & _of_face(e, full_credit(e))] = 1.0
        if fp32_score is not None:
            moved = hit & _of_face(e, fp32_score(e))
            score[moved] = e.face_score[e.det_face[moved]]
        per.append((n, np.concatenate([score[keep], e.face_score[r]]), np.concatenate([credit[keep], np.ones(int(r.sum()))])))
    return 1.0 - ranked_ap(per)


def _swapped_beside(e):
    """Counted detections standing beside a face the int8 model swapped away."""
    return (e.det_kind == "beside") & _of_face(e, e.face_kind == "swapped")


def parts(images) -> dict:
    """{what: loss without it} for the event kinds, score bands, heights and images."""
    total = loss(images)
    every = lambda e: np.ones(len(e.face_score), bool)  # noqa: E731
    out = {"loss": total, "faces": int(sum(len(e.face_score) for e in images)), "by_event": {
        "box moved": total - loss(images, full_credit=every),
        "score moved": total - loss(images, fp32_score=every),
        "swapped": total - loss(images, restore=lambda e: e.face_kind == "swapped", drop=_swapped_beside),
        "dropped": total - loss(images, restore=lambda e: e.face_kind == "dropped"),
        **{f"false: {name}": total - loss(images, drop=lambda e, k=k: e.det_kind == k) for name, k in FALSE_KINDS.items()}}}
    out["events"] = {k: int(sum((e.face_kind == k).sum() for e in images)) for k in ("found", "swapped", "dropped")}
    out["events"].update({f"false: {name}": int(sum((e.det_kind == k).sum() for e in images)) for name, k in FALSE_KINDS.items()})

    def band(key_face, key_det, lo, hi):
        inside = lambda e: (key_face(e) >= lo) & (key_face(e) < hi)  # noqa: E731
        return total - loss(images, restore=lambda e: inside(e) & (e.face_kind != "found"),
                            drop=lambda e: (e.det_kind != "hit") & (key_det(e) >= lo) & (key_det(e) < hi),
                            full_credit=inside, fp32_score=inside)

    edges = (0.0, *SCORE_BANDS, 1.01)
    out["by_fp32_score"] = {f"{lo:g}-{hi:g}": [int(sum(((e.face_score >= lo) & (e.face_score < hi)).sum() for e in images)),
                                               band(lambda e: e.face_score, lambda e: e.det_score, lo, hi)]
                            for lo, hi in zip(edges[:-1], edges[1:])}
    edges = (0.0, *HEIGHT_CUTS, np.inf)
    out["by_height"] = {f"{lo:g}-{hi:g}": [int(sum(((e.face_height >= lo) & (e.face_height < hi)).sum() for e in images)),
                                           band(lambda e: e.face_height, lambda e: e.det_height, lo, hi)]
                        for lo, hi in zip(edges[:-1], edges[1:])}
    without = [(total - loss(images[:i] + images[i + 1:]), i) for i in range(len(images))]
    out["by_image"] = [[i, len(images[i].face_score), round(v, 6)] for v, i in sorted(without, reverse=True)[:8]]
    return out


def setting_loss(refs, gots, widths, face_score, ignore_score, min_height) -> float:
    """The check's loss counting only the fp32 faces at least min_height pixels high in a
    WIDER_WIDTH-wide picture (as WIDER's settings count labels); smaller faces become
    borderline: an int8 detection on one counts neither way, as WIDER ignores a detection
    on a label the setting does not count."""
    from facedge.calibration.compare import image_hits

    per = []
    for ref, got, width in zip(refs, gots, widths):
        scores = np.asarray(ref.scores, np.float64).copy()
        boxes = np.asarray(ref.boxes, np.float64).reshape(-1, 4)
        small = (scores >= face_score) & ((boxes[:, 3] - boxes[:, 1]) * WIDER_WIDTH / width < min_height)
        scores[small] = ignore_score
        per.append(image_hits(SimpleNamespace(scores=scores, boxes=boxes), got, face_score, ignore_score))
    return 1.0 - ranked_ap(per)


def check_images(calib, on):
    """The check's images as `facedge quantize` takes them: the first CHECK_IMAGES
    readable calibration images, as read or as views (mixed.check_views)."""
    from facedge.calibration.images import find_calibration_set, read_image
    from facedge.calibration.quantize import DEFAULT_COUNT

    images = []
    for path in find_calibration_set(calib, DEFAULT_COUNT).paths:
        image = read_image(path)
        if image is not None:
            images.append(image)
        if len(images) == mixed.CHECK_IMAGES:
            break
    return mixed.check_views(images, on)


def main(argv=None):
    import facedge

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fp32")
    ap.add_argument("int8", nargs="+")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--on", default="views", choices=mixed.CHECK_ON)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    views = check_images(a.calib, a.on)
    ranked = lambda d: facedge.Detector(str(d), **mixed.MEASURE_OPTIONS, **mixed.RANKED_OPTIONS)  # noqa: E731
    refs = mixed._map(ranked(a.fp32).detect, views, a.threads)
    face, ignore = ranked_thresholds(refs, mixed.RANKED_OPTIONS["top_k"])
    kinds = ([None] * mixed.CHECK_IMAGES if a.on != "views" else []) + \
        ([mixed.VIEW_KINDS[i % len(mixed.VIEW_KINDS)] for i in range(mixed.CHECK_IMAGES)] if a.on != "images" else [])
    report = {"on": a.on, "images": len(views), "face_score": face, "ignore_score": ignore, "models": {}}
    for d in a.int8:
        gots = mixed._map(ranked(d).detect, views, a.threads)
        events = [image_events(r, g, v.shape[1], face, ignore) for r, g, v in zip(refs, gots, views)]
        p = parts(events)
        if a.on != "images":
            p["by_view"] = {k: loss([e for e, kk in zip(events, kinds) if kk == k]) for k in (None, *mixed.VIEW_KINDS)
                            if k in kinds}
            p["by_view"] = {("as read" if k is None else k): v for k, v in p["by_view"].items()}
        widths = [v.shape[1] for v in views]
        p["by_setting"] = {s: setting_loss(refs, gots, widths, face, ignore, cut)
                           for s, cut in zip(("hard", "medium", "easy"), HEIGHT_CUTS)}
        report["models"][d] = p
        print(f"\n{d}: loss {p['loss']:.5f} on {p['faces']} fp32 faces ({a.on}, face score {face:.3f}, ignore {ignore:.3f})")
        print("  events:", ", ".join(f"{k} {v}" for k, v in p["events"].items()))
        for k, v in p["by_event"].items():
            print(f"  {k:22s} {v:+.5f}")
        for what in ("by_fp32_score", "by_height"):
            print(f"  {what}: " + "  ".join(f"[{k}) {n} faces {v:+.5f}" for k, (n, v) in p[what].items()))
        print("  counting only the faces a WIDER setting counts (by height): "
              + "  ".join(f"{k} {v:.5f}" for k, v in p["by_setting"].items()))
        if "by_view" in p:
            print("  by view (loss on those images alone): " + "  ".join(f"{k} {v:.5f}" for k, v in p["by_view"].items()))
        print("  images carrying most (index, fp32 faces, loss without it lower by):", p["by_image"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1, default=float)


if __name__ == "__main__":
    sys.exit(main())
