"""WIDER FACE AP on hand-made cases whose answers are known."""

import numpy as np
import pytest

from facedge.bench.wider.ap import box_iou, evaluate, score_thresholds, voc_ap
from facedge.bench.wider.gt import SETTINGS, GtImage
from facedge.base.errors import FacedgeError


def image(boxes, easy=(), medium=(), hard=(), name="img"):
    """A gt image; easy/medium/hard list the (0-based) boxes each setting counts."""
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    keep = {}
    for setting, idx in zip(SETTINGS, (easy, medium, hard)):
        keep[setting] = np.zeros(len(boxes), dtype=bool)
        keep[setting][list(idx)] = True
    return GtImage(event="0--Test", name=name, boxes=boxes, keep=keep, line=1)


def dets(*rows):
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def aps(result):
    return [result.settings[s].ap for s in SETTINGS]


# Three faces per image: a big easy one, a medium one, a small hard one; the
# settings nest as in WIDER FACE (hard counts all, medium the first two, easy one).
FACES = [[100, 100, 80, 90], [300, 120, 30, 34], [500, 40, 12, 12]]
NESTED = dict(easy=[0], medium=[0, 1], hard=[0, 1, 2])


def test_perfect_detector_scores_ap_1():
    images = [image(FACES, **NESTED, name=f"img{i}") for i in range(4)]
    preds = [dets(*[[*box, 0.9 - 0.1 * k - 0.01 * i] for k, box in enumerate(FACES)]) for i in range(4)]
    result = evaluate(images, preds)
    assert aps(result) == [1.0, 1.0, 1.0]
    assert result.images == 4 and result.faces == 12 and result.predictions == 12
    assert [result.settings[s].faces for s in SETTINGS] == [4, 8, 12]


def test_missing_all_hard_faces_splits_as_expected():
    # 3 easy faces, 2 more medium ones, 3 more hard ones: a detector finding the
    # easy and medium faces only is perfect on Easy and Medium and recalls 5/8 of Hard
    boxes = [[40 * i, 10, 30, 30] for i in range(8)]
    img = image(boxes, easy=[0, 1, 2], medium=[0, 1, 2, 3, 4], hard=range(8))
    found = dets(*[[*boxes[i], 0.95 - 0.05 * i] for i in range(5)])
    assert aps(evaluate([img], [found])) == [1.0, 1.0, 5 / 8]


def test_duplicates_count_as_false_positives():
    # face A (0.9), a duplicate of A (0.8), face B (0.0): recall 1/2 at precision 1,
    # then recall 1 at precision 2/3 -> AP = 1/2 + 1/2 * 2/3
    a, b = [10, 10, 50, 50], [200, 10, 50, 50]
    img = image([a, b], easy=[0, 1], medium=[0, 1], hard=[0, 1])
    result = evaluate([img], [dets([*a, 0.9], [12, 11, 50, 50, 0.8], [*b, 0.0])])
    assert aps(result) == pytest.approx([5 / 6] * 3, abs=1e-12)
    assert result.settings["hard"].precision[-1] == pytest.approx(2 / 3)
    # the same boxes without the duplicate: perfect
    assert aps(evaluate([img], [dets([*a, 0.9], [*b, 0.0])])) == [1.0, 1.0, 1.0]


def test_ignored_boxes_do_not_count():
    kept, ignored = [10, 10, 60, 60], [200, 10, 60, 60]
    img = image([kept, ignored], easy=[0], medium=[0], hard=[0, 1])
    # A detection of a box the setting ignores is neither a hit nor a false positive,
    # even ranked first; a missed ignored box costs no recall.
    result = evaluate([img], [dets([*ignored, 0.9], [*kept, 0.5])])
    assert aps(result) == [1.0, 1.0, 1.0]
    assert evaluate([img], [dets([*kept, 0.5])]).settings["easy"].ap == 1.0
    # whereas a detection on nothing, ranked first, is a false positive: AP 1/2
    result = evaluate([img], [dets([400, 300, 60, 60, 0.9], [*kept, 0.5])])
    assert result.settings["easy"].ap == pytest.approx(0.5, abs=1e-12)


def test_a_detection_matches_the_box_it_overlaps_most():
    # two overlapping faces, the first ignored by Easy: a detection overlapping both
    # at IoU >= 0.5 but the ignored one more is ignored, not a hit on the other
    ignored, kept = [100, 100, 100, 100], [120, 100, 100, 100]
    img = image([ignored, kept], easy=[1], medium=[0, 1], hard=[0, 1])
    det = [105, 100, 100, 100]
    iou = box_iou(np.array([det], dtype=float), img.boxes)[0]
    assert iou[0] > iou[1] >= 0.5
    result = evaluate([img], [dets([*det, 0.9], [*kept, 0.1])])
    assert result.settings["easy"].ap == 1.0  # the first is ignored, the second hits
    assert result.settings["medium"].ap == 1.0  # two hits on two faces
    assert result.settings["easy"].precision[-1] == 1.0


def test_iou_threshold_is_one_half_with_the_pixel_convention():
    gt = np.array([[0, 0, 9, 9]], dtype=float)  # 10x10 pixels with the +1 convention
    assert box_iou(np.array([[0, 0, 9, 9]], dtype=float), gt)[0, 0] == 1.0
    assert box_iou(np.array([[0, 0, 4, 9]], dtype=float), gt)[0, 0] == pytest.approx(0.5)
    assert box_iou(np.array([[20, 0, 9, 9]], dtype=float), gt)[0, 0] == 0.0
    img = image([[0, 0, 9, 9]], easy=[0], medium=[0], hard=[0])
    assert evaluate([img], [dets([0, 0, 4, 9, 0.9])]).settings["easy"].ap == 1.0  # IoU 0.5 exactly: a hit
    assert evaluate([img], [dets([0, 0, 3, 9, 0.9])]).settings["easy"].ap == 0.0  # IoU 0.4


def test_faces_of_images_without_predictions_still_count():
    imgs = [image([[10, 10, 40, 40]], easy=[0], medium=[0], hard=[0], name=n) for n in ("a", "b")]
    result = evaluate(imgs, [dets([10, 10, 40, 40, 0.7]), dets()])
    assert aps(result) == [0.5, 0.5, 0.5]
    assert result.settings["easy"].faces == 2


def test_scores_are_normalised_over_all_images_and_binned_into_1000_thresholds():
    # Normalised, face A scores 1.0, a false positive 0.9995, face B 0.0: the protocol
    # cannot rank A above the false positive (both pass threshold 0.999 together), so
    # precision is 1/2 at recall 1/2 and AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3 rather
    # than the 5/6 of an exact ranking.
    a, b = [10, 10, 50, 50], [200, 10, 50, 50]
    imgs = [image([a], easy=[0], medium=[0], hard=[0], name="a"), image([b], easy=[0], medium=[0], hard=[0], name="b")]
    raw = [dets([*a, 0.52], [400, 400, 50, 50, 0.51995]), dets([*b, 0.32])]
    assert evaluate(imgs, raw).settings["easy"].ap == pytest.approx(2 / 3, abs=1e-12)
    # a positive affine change of all scores changes nothing
    scaled = [np.column_stack([p[:, :4], p[:, 4] * 3 + 7]) for p in raw]
    assert evaluate(imgs, scaled).settings["easy"].ap == pytest.approx(2 / 3, abs=1e-12)


def test_the_higher_score_of_two_detections_of_a_face_is_the_hit():
    # Face 0 is found twice: badly-placed but IoU >= 0.5 at 0.9, well-placed at 0.2.
    # Whichever comes first in the file, the 0.9 one is the hit and the 0.2 one the
    # duplicate, so the file's order changes nothing.
    imgs = [image(FACES, **NESTED)]
    x, y, w, h = FACES[0]
    preds = dets([x, y, w, h, 0.2], [*FACES[1], 0.5], [x + 8, y + 6, w, h, 0.9], [500, 300, 20, 20, 0.6])
    expected = aps(evaluate(imgs, [preds]))
    for order in ([2, 0, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2]):
        assert aps(evaluate(imgs, [preds[order]])) == expected
    # easy: the hit at 0.9 first (precision 1 at full recall) -> 1.0; had the 0.2 one
    # been the hit, the false positive at 0.6 would rank above it
    assert expected[0] == 1.0
    assert expected[1] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-12)


def test_equal_scores_and_empty_predictions():
    imgs = [image(FACES, **NESTED)]
    same = dets(*[[*box, 0.5] for box in FACES])  # nothing to normalise: all count at every threshold
    assert aps(evaluate(imgs, [same])) == [1.0, 1.0, 1.0]
    result = evaluate(imgs, [dets()])
    assert aps(result) == [0.0, 0.0, 0.0] and result.predictions == 0


def test_a_setting_without_faces_has_no_ap():
    img = image([[10, 10, 8, 8]], easy=[], medium=[0], hard=[0])
    result = evaluate([img], [dets([10, 10, 8, 8, 0.9])])
    assert np.isnan(result.settings["easy"].ap) and result.settings["easy"].faces == 0
    assert result.settings["hard"].ap == 1.0


def test_bad_prediction_arrays_are_refused():
    img = image(FACES, **NESTED)
    with pytest.raises(FacedgeError, match=r"0--Test/img\.jpg.*width and height >= 0"):
        evaluate([img], [dets([10, 10, -5, 10, 0.5])])
    with pytest.raises(FacedgeError, match=r"0--Test/img\.jpg.*x y w h score"):
        evaluate([img], [np.ones((2, 4))])


def test_voc_ap_and_thresholds():
    thresholds = score_thresholds()
    assert len(thresholds) == 1000 and thresholds[0] == pytest.approx(0.999) and thresholds[-1] == 0.0
    # precision 1 up to recall 0.5, then 0.5 up to recall 1: area 0.75
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    # the envelope: a later higher precision lifts earlier points
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([0.4, 0.6, 0.8])) == pytest.approx(0.8)
    # thresholds that proposed nothing (nan precision, zero recall) add nothing
    assert voc_ap(np.array([0.0, 0.5]), np.array([np.nan, 1.0])) == pytest.approx(0.5)
