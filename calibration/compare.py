"""How far an int8 model's results are from the fp32 model's on the same images:
detection agreement, raw output error, per-layer output similarity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facedge.base.boxes import iou_matrix
from facedge.calibration.localisation import match_credit

AGREEMENT_IOU = 0.5  # a face found by both: boxes overlapping at least this much

# Ranked agreement (WIDER AP with the fp32 model's detections as the ground truth):
# fp32 faces scoring at least FACE_SCORE are the faces the int8 model must find; those
# between IGNORE_SCORE and FACE_SCORE are borderline (like WIDER's ignore boxes), an
# int8 detection on one is neither right nor wrong. Low enough to cover the small,
# low-score faces WIDER Hard ranks, where a threshold of 0.6 would see none of them.
# An int8 box on an fp32 face counts as the share of that face's plausible WIDER labels
# it still matches (localisation.py): WIDER judges boxes against labels the fp32 box only
# approximates, so a move of a few pixels can lose a face there.
FACE_SCORE = 0.1
IGNORE_SCORE = 0.03
# A model whose every anchor scores at least some floor (slim-320's softmax gives its
# background anchors 0.105-0.106) fills top-k with detections at that floor: 745 of the
# 750 per WIDER test image. They are no faces, and which of them survive NMS and top-k
# turns on the last bit of a score, so they would dominate the agreement (slim-320 all
# int8: 0.58 of AP lost at 0.1 / 0.03, 0.0017 at 0.3 / 0.1, while its WIDER AP moved by
# about 0.001). A floor that reaches FACE_SCORE moves the thresholds above it
# (background_floor); one below it (RFB-320's: 0.065) leaves them as they are.
SATURATED = 0.9  # fp32 fills top-k this much on average: its detections are mostly background
FLOOR_FACE_FACTOR = 2.0  # a face scores at least twice the floor; between the two: borderline


def background_floor(refs, top_k) -> float:
    """The score of the fp32 model's background detections: the median of its ranked
    detections where they fill top-k on average (else 0: no floor)."""
    scores = [np.asarray(r.scores, np.float64) for r in refs]
    if not scores or top_k <= 0 or np.mean([len(s) for s in scores]) < SATURATED * top_k:
        return 0.0
    return float(np.median(np.concatenate(scores)))


def ranked_thresholds(refs, top_k) -> tuple:
    """(face score, ignore score) for ranked_agreement against these fp32 detections."""
    floor = background_floor(refs, top_k)
    if floor < FACE_SCORE:
        return FACE_SCORE, IGNORE_SCORE
    return FLOOR_FACE_FACTOR * floor, floor


def match(ref_boxes, ref_scores, boxes, scores):
    """Greedy one-to-one matching, highest reference score first: [(i_ref, j, iou)]."""
    if len(ref_boxes) == 0 or len(boxes) == 0:
        return []
    iou = iou_matrix(np.asarray(ref_boxes, np.float64), np.asarray(boxes, np.float64))
    taken = np.zeros(len(boxes), dtype=bool)
    pairs = []
    for i in np.argsort(-np.asarray(ref_scores), kind="stable"):
        cand = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(cand))
        if cand[j] >= AGREEMENT_IOU:
            taken[j] = True
            pairs.append((int(i), j, float(iou[i, j])))
    return pairs


@dataclass
class Agreement:
    images: int = 0
    fp32_faces: int = 0
    int8_faces: int = 0
    matched: int = 0
    iou_sum: float = 0.0
    score_diff_sum: float = 0.0

    def add(self, ref, got):
        pairs = match(ref.boxes, ref.scores, got.boxes, got.scores)
        self.images += 1
        self.fp32_faces += len(ref.scores)
        self.int8_faces += len(got.scores)
        self.matched += len(pairs)
        self.iou_sum += sum(p[2] for p in pairs)
        self.score_diff_sum += sum(abs(float(ref.scores[i]) - float(got.scores[j])) for i, j, _ in pairs)

    @property
    def f1(self) -> float:
        total = self.fp32_faces + self.int8_faces
        return 1.0 if total == 0 else 2.0 * self.matched / total

    def to_json(self):
        m = max(self.matched, 1)
        from facedge.runtime.detector import default_options

        # the detectors ran at the runtime's default score threshold: the faces a user sees
        return {"images": self.images, "score_threshold": default_options()["score_threshold"], "iou_threshold": AGREEMENT_IOU,
                "fp32_faces": self.fp32_faces, "int8_faces": self.int8_faces, "matched": self.matched,
                "f1": round(self.f1, 4),
                "recall_of_fp32": round(self.matched / self.fp32_faces, 4) if self.fp32_faces else None,
                "precision_vs_fp32": round(self.matched / self.int8_faces, 4) if self.int8_faces else None,
                "mean_iou_matched": round(self.iou_sum / m, 4), "mean_abs_score_diff_matched": round(self.score_diff_sum / m, 4)}


def ranked_agreement(refs, gots, face_score=FACE_SCORE, ignore_score=IGNORE_SCORE, localise=True) -> float:
    """AP of the int8 detections `gots` (every score, as WIDER ranks them) against the
    fp32 detections `refs` of the same images taken as the ground truth: 1.0 when the
    int8 model ranks a detection on every fp32 face, at the fp32 box, above every
    detection fp32 did not make. Its shortfall is the AP an int8 model loses relative
    to fp32, measured on as many faces as the calibration images hold instead of WIDER
    val's few labelled ones. An int8 box on an fp32 face (IoU >= AGREEMENT_IOU) counts
    as the share of that face's plausible WIDER labels it still matches
    (localisation.match_credit; localise=False: wholly), so a box that moved is priced
    as WIDER's IoU threshold would price it, where matching the fp32 box at 0.5 does not
    see a move of a few pixels. face_score / ignore_score: see FACE_SCORE, IGNORE_SCORE
    and ranked_thresholds."""
    return ranked_ap([image_hits(ref, got, face_score, ignore_score, localise) for ref, got in zip(refs, gots)])


def image_hits(ref, got, face_score=FACE_SCORE, ignore_score=IGNORE_SCORE, localise=True) -> tuple:
    """One image's part of ranked_agreement: (fp32 faces, the scores of the int8
    detections that count, how much each counts as a hit). Images are independent, so
    this can run beside the detections (numpy releases the GIL); ranked_ap combines
    them in image order."""
    m = image_matches(ref, got, face_score, ignore_score)
    if m.got_scores is None:
        return m.faces, None, None
    hit = np.zeros(len(m.got_scores))
    if len(m.pairs):
        # a hit counts as much as WIDER would still count it (localisation.py): the
        # rest of it is a false detection, as a box WIDER no longer matches is
        k, i = m.pairs.T
        hit[k] = match_credit(m.ref_boxes[i], m.got_boxes[k]) if localise else 1.0
    return m.faces, m.got_scores[m.counted], hit[m.counted]


@dataclass
class Matches:
    """How one image's int8 detections meet its fp32 detections (image_matches)."""

    ref_scores: np.ndarray  # the fp32 detections at the ignore score or above
    ref_boxes: np.ndarray
    face: np.ndarray  # (n,) bool: which of them are faces (the rest are borderline)
    faces: int
    got_scores: np.ndarray | None  # the int8 detections, highest score first (None: there are none)
    got_boxes: np.ndarray | None
    iou: np.ndarray | None  # (int8, fp32) IoU
    pairs: np.ndarray  # (m, 2) [int8 index, fp32 index]: an int8 detection that finds an fp32 face
    counted: np.ndarray | None  # (int8,) bool: the int8 detections ranked_agreement counts (hits and false ones)


def image_matches(ref, got, face_score=FACE_SCORE, ignore_score=IGNORE_SCORE) -> Matches:
    """The matching image_hits prices: fp32 detections below ignore_score are left out;
    those from face_score up are faces, the rest borderline. The int8 detections in
    score order find fp32 faces greedily at IoU >= AGREEMENT_IOU, as WIDER matches; one
    on a borderline detection only, or a second on a found face that is also on a
    borderline one, counts neither way; every other one is a false detection."""
    ref_scores = np.asarray(ref.scores, np.float64)
    ref_boxes = np.asarray(ref.boxes, np.float64).reshape(-1, 4)
    keep = ref_scores >= ignore_score  # lower fp32 detections play no part: leave them out of the IoUs
    ref_scores, ref_boxes = ref_scores[keep], ref_boxes[keep]
    face = ref_scores >= face_score
    borderline = (ref_scores >= ignore_score) & ~face
    faces = int(face.sum())
    got_scores = np.asarray(got.scores, np.float64)
    if len(got_scores) == 0:
        return Matches(ref_scores, ref_boxes, face, faces, None, None, None, np.zeros((0, 2), np.int64), None)
    order = np.argsort(-got_scores, kind="stable")
    got_boxes = np.asarray(got.boxes, np.float64).reshape(-1, 4)[order]
    iou = iou_matrix(got_boxes, ref_boxes)
    on_face = (iou[:, face] >= AGREEMENT_IOU).any(axis=1) if face.any() else np.zeros(len(order), dtype=bool)
    on_borderline = (iou[:, borderline] >= AGREEMENT_IOU).any(axis=1) if borderline.any() else np.zeros(len(order), dtype=bool)
    counted = ~on_face & ~on_borderline  # far from every fp32 face: a false detection
    found = np.zeros(len(ref_scores), dtype=bool)
    pairs = []
    for k in np.flatnonzero(on_face):  # greedy in score order, as WIDER matches
        cand = np.where(face & ~found, iou[k], -1.0)
        i = int(np.argmax(cand))
        if cand[i] >= AGREEMENT_IOU:
            found[i] = counted[k] = True
            pairs.append((k, i))
        else:
            counted[k] = not on_borderline[k]  # a second box on a found face, unless borderline
    pairs = np.array(pairs, np.int64).reshape(-1, 2)
    return Matches(ref_scores, ref_boxes, face, faces, got_scores[order], got_boxes, iou, pairs, counted)


def ranked_ap(per_image) -> float:
    """ranked_agreement's AP from image_hits of every image, in image order."""
    from facedge.bench.wider.ap import voc_ap

    faces = sum(f for f, _, _ in per_image)
    if faces == 0:
        return 1.0
    scores = [s for _, s, _ in per_image if s is not None]
    hits = [h for _, _, h in per_image if h is not None]
    scores = np.concatenate(scores) if scores else np.zeros(0)
    hits = np.concatenate(hits) if hits else np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    tp, fp = np.cumsum(hits[order]), np.cumsum(1.0 - hits[order])
    return voc_ap(tp / faces, tp / np.maximum(tp + fp, 1.0))


def _norm(x) -> float:
    # not np.linalg.norm: BLAS, which may use threads, on busy cores slower than this
    x = np.asarray(x, np.float64)
    return float(np.sqrt(np.sum(x * x)))


def output_error(ref: dict, got: dict, face_column=-1, relevant=0.05) -> float:
    """Error of the raw outputs that decide detections: the face scores
    (||s8 - s|| / ||s||) plus the boxes of the anchors that could become detections
    (fp32 face score >= `relevant`), each relative to its norm. Landmarks do not
    decide which faces are found (nor AP) and are left out."""
    s, s8 = ref["scores"][:, face_column].astype(np.float64), got["scores"][:, face_column].astype(np.float64)
    err = _norm(s8 - s) / max(_norm(s), 1e-12)
    mask = s >= relevant
    if mask.any():
        a = np.asarray(ref["boxes"], np.float64).reshape(len(s), -1)[mask]
        b = np.asarray(got["boxes"], np.float64).reshape(len(s), -1)[mask]
        err += _norm(b - a) / max(_norm(a), 1e-12)
    return float(err)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    d = _norm(a) * _norm(b)
    return float(np.sum(a * b) / d) if d > 0 else (1.0 if not a.any() and not b.any() else 0.0)
