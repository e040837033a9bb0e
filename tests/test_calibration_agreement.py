"""compare.ranked_agreement: WIDER-style AP of int8 detections with the fp32 model's
own detections as the ground truth (the criterion `--keep-fp32 auto` meets)."""

from types import SimpleNamespace

import numpy as np
import pytest

from facedge.calibration.compare import FACE_SCORE, IGNORE_SCORE, ranked_agreement, ranked_thresholds


def faces(*rows):
    """rows of (x1, y1, x2, y2, score)."""
    a = np.asarray(rows, np.float32).reshape(-1, 5)
    return SimpleNamespace(boxes=a[:, :4], scores=a[:, 4])


A = (10, 10, 50, 50)
B = (100, 100, 140, 150)
C = (200, 20, 230, 60)


def test_the_same_detections_agree_fully():
    ref = faces((*A, 0.9), (*B, 0.4), (*C, 0.05))
    assert ranked_agreement([ref], [ref]) == 1.0


def test_a_missed_face_costs_its_share_of_recall():
    ref = faces((*A, 0.9), (*B, 0.8))
    got = faces((*A, 0.7))
    assert ranked_agreement([ref], [got]) == pytest.approx(0.5)


def test_a_false_detection_ranked_first_halves_precision():
    ref = faces((*A, 0.9))
    got = faces((*C, 0.95), (*A, 0.9))  # C is no fp32 face: ranked above the face
    assert ranked_agreement([ref], [got]) == pytest.approx(0.5)
    got_below = faces((*A, 0.9), (*C, 0.5))  # ranked below every face: no AP lost
    assert ranked_agreement([ref], [got_below]) == 1.0


def test_a_shifted_box_is_a_miss_and_a_false_detection():
    ref = faces((*A, 0.9))
    shifted = (30, 30, 70, 70)  # IoU with A: 400 / 2800 < 0.5
    assert ranked_agreement([ref], [faces((*shifted, 0.9))]) == 0.0


def test_borderline_fp32_detections_are_ignored():
    assert IGNORE_SCORE < 0.05 < FACE_SCORE
    ref = faces((*A, 0.9), (*B, 0.05))
    # int8 scores the borderline B high: neither right nor wrong
    assert ranked_agreement([ref], [faces((*B, 0.95), (*A, 0.9))]) == 1.0
    # ... and missing it costs nothing either
    assert ranked_agreement([ref], [faces((*A, 0.9))]) == 1.0


def test_a_duplicate_of_a_found_face_is_a_false_detection():
    ref = faces((*A, 0.9), (*B, 0.8))
    got = faces((*A, 0.9), (11, 11, 51, 51, 0.85), (*B, 0.8))
    # ranked: TP, FP, TP -> precision 1 at recall 0.5, 2/3 at recall 1
    assert ranked_agreement([ref], [got]) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_ranks_across_images_and_no_faces_at_all():
    refs = [faces((*A, 0.9)), faces()]
    gots = [faces((*A, 0.6)), faces((*B, 0.7))]  # the FP in the empty image outranks the face
    assert ranked_agreement(refs, gots) == pytest.approx(0.5)
    assert ranked_agreement([faces()], [faces((*A, 0.9))]) == 1.0  # nothing to find


def test_a_background_floor_that_fills_top_k_moves_the_thresholds_up():
    """slim-320 scores every background anchor about 0.105: 745 of its 750 detections per
    image sit there. They are no faces; the thresholds move above them."""
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 300, (750, 2))
    floor = np.column_stack([boxes, boxes + 20, rng.uniform(0.104, 0.107, 750)])
    floor[:3, 4] = (0.9, 0.5, 0.25)
    ref = faces(*floor)
    face, ignore = ranked_thresholds([ref], 750)
    assert ignore == pytest.approx(np.median(floor[:, 4])) and face == pytest.approx(2 * ignore)
    got = faces(*floor[:3], *(floor[3:] + [30, 30, 30, 30, -0.004]))  # other background boxes: no face lost
    assert ranked_agreement([ref], [got], face, ignore) == 1.0
    assert ranked_agreement([ref], [got]) < 0.5  # with the fixed thresholds the floor counts as faces
    # a model that does not fill top-k has no floor, and a floor below FACE_SCORE (RFB-320's
    # 0.065) leaves the background out of the faces already: the fixed thresholds
    assert ranked_thresholds([faces((*A, 0.9), (*B, 0.05))], 750) == (FACE_SCORE, IGNORE_SCORE)
    low = faces(*np.column_stack([floor[:, :4], np.full(750, 0.065)]))
    assert ranked_thresholds([low], 750) == (FACE_SCORE, IGNORE_SCORE)


def test_a_box_moved_a_few_pixels_costs_what_wider_would_charge_for_it():
    """BlazeFace-FPN-SSH at 320x240, WIDER val 15_569: fp32's box (IoU 0.506 with its label)
    moved 3.4 px in int8 (IoU 0.494): WIDER Easy lost the face, 0.021 of AP. Matched to
    the fp32 boxes at IoU 0.5 the ranked agreement saw no loss; with each hit counted as
    the share of the face's plausible labels it still matches, boxes moved like that
    on every face lose about 1 % of it, and unmoved ones nothing."""
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 900, (200, 2))
    wh = rng.uniform(40, 120, (200, 1)) * np.array([[0.82, 1.0]])
    fp32 = np.column_stack([xy, xy + wh, rng.uniform(0.3, 1.0, 200)])
    ref = faces(*fp32)
    moved = fp32.copy()
    moved[:, [0, 2]] += 0.047 * wh[:, :1]  # 3.4 px of a 72 px wide box
    got = faces(*moved)
    assert ranked_agreement([ref], [ref]) == 1.0
    assert ranked_agreement([ref], [got], localise=False) == 1.0  # what the criterion saw before
    loss = 1.0 - ranked_agreement([ref], [got])
    assert 0.005 < loss < 0.05
    # more movement, more loss; a box moved by half its width is no match at all (as before)
    further = fp32.copy()
    further[:, [0, 2]] += 0.15 * wh[:, :1]
    assert 1.0 - ranked_agreement([ref], [faces(*further)]) > 2 * loss
