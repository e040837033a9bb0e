"""bench/a72's tools for the int8 check (bench/RESULTS.md, "Session 7"), fast and without
models: WIDER labels moved with the check's views (wider_views.view_labels) and the
split of the check's loss by event (check_loss_parts)."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # bench/a72 is a development tool, not installed; appended so facedge stays the installed one

from bench.a72 import check_loss_parts as parts  # noqa: E402
from bench.a72.wider_views import view_labels  # noqa: E402
from facedge.bench.wider.gt import SETTINGS, GtImage  # noqa: E402
from facedge.calibration import mixed  # noqa: E402
from facedge.calibration.compare import ranked_agreement  # noqa: E402


def _gt(boxes):
    boxes = np.asarray(boxes, np.float64)
    return GtImage("0--Parade", "synthetic", boxes, {s: np.ones(len(boxes), bool) for s in SETTINGS}, 1)


@pytest.mark.parametrize("kind", mixed.VIEW_KINDS)
def test_labels_move_with_the_pixels_of_each_view(kind):
    h, w = 240, 400
    # x y w h: inside, at the left / top border (the shift and the zoom cut them), at the right edge
    boxes = [(150, 80, 40, 50), (0, 100, 8, 30), (200, 0, 30, 4), (360, 150, 40, 60), (30, 20, 60, 70)]
    picture = np.zeros((h, w, 3), np.uint8)
    for n, (x, y, bw, bh) in enumerate(boxes, 1):
        picture[y:y + bh, x:x + bw] = n
    seen = mixed.view(picture, kind)
    moved = view_labels(_gt(boxes), kind, h, w)
    for n, (x, y, bw, bh) in enumerate(boxes, 1):
        ys, xs = np.nonzero(seen[:, :, 0] == n)
        inside = len(xs) / (bw * bh)
        kept = moved.keep["hard"][n - 1]
        assert kept == (inside >= 0.5), (kind, n, inside)
        assert all(moved.keep[s][n - 1] == kept for s in SETTINGS)
        if kept:  # where the view shows it, clipped to the view
            assert tuple(moved.boxes[n - 1]) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)


def test_labels_as_read_are_the_labels():
    gt = _gt([(10, 10, 20, 20)])
    assert view_labels(gt, "as read", 100, 100) is gt
    with pytest.raises(ValueError, match="view kind"):
        view_labels(gt, "rotate", 100, 100)


def _dets(*rows):
    a = np.asarray(rows, np.float64).reshape(-1, 5)
    return SimpleNamespace(boxes=a[:, :4], scores=a[:, 4])


A, B = (10, 10, 50, 50), (100, 100, 140, 150)
BESIDE_B = (120, 100, 160, 150)  # IoU 1/3 with B: a neighbouring anchor's box


def test_a_face_won_by_its_neighbour_is_a_swap_and_carries_the_loss():
    ref = _dets((*A, 0.9), (*B, 0.8))
    got = _dets((*A, 0.9), (*BESIDE_B, 0.85))
    e = parts.image_events(ref, got, 1024, 0.1, 0.03)
    assert list(e.face_kind) == ["found", "swapped"] and list(e.det_kind) == ["hit", "beside"]
    p = parts.parts([e])
    assert p["loss"] == pytest.approx(1 - ranked_agreement([ref], [got], 0.1, 0.03))
    assert p["loss"] > 0.3 and p["by_event"]["swapped"] == pytest.approx(p["loss"])
    assert p["by_event"]["box moved"] == 0 and p["by_event"]["dropped"] == 0
    assert p["events"]["swapped"] == 1 and p["events"]["false: beside a face"] == 1


def test_a_moved_box_is_priced_as_a_move_in_its_height_band():
    ref = _dets((*A, 0.9))
    got = _dets((14, 10, 54, 50, 0.9))  # 10 % of its width sideways: credit 0.92
    p = parts.parts([parts.image_events(ref, got, 512, 0.1, 0.03)])  # a 512-wide picture: the box is 80 px at 1024
    assert p["loss"] == pytest.approx(1 - ranked_agreement([ref], [got])) and 0.05 < p["loss"] < 0.2
    assert p["by_event"]["box moved"] == pytest.approx(p["loss"])
    assert p["by_height"]["51-inf"] == [1, pytest.approx(p["loss"])] and p["by_height"]["31-51"] == [0, 0.0]
    assert p["by_fp32_score"]["0.9-1.01"][1] == pytest.approx(p["loss"])


def test_a_face_with_nothing_left_is_dropped_and_an_image_without_int8_detections_counts():
    ref = _dets((*A, 0.9), (*B, 0.8))
    e = parts.image_events(ref, _dets((*A, 0.9)), 1024, 0.1, 0.03)
    assert list(e.face_kind) == ["found", "dropped"]
    none = parts.image_events(ref, _dets(), 1024, 0.1, 0.03)
    assert list(none.face_kind) == ["dropped", "dropped"] and len(none.det_score) == 0
    p = parts.parts([e, none])
    assert p["faces"] == 4 and p["by_event"]["dropped"] == pytest.approx(p["loss"])
