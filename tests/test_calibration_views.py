"""What the ranked agreement of `--keep-fp32 auto` is measured on (mixed.check_views)
and the IoU it compares detections with (base.boxes.iou_matrix, blocked for large sets)."""

import numpy as np
import pytest

from facedge.base.boxes import _BLOCK, _dense_iou, iou_matrix
from facedge.calibration import mixed


def images(n, h=50, w=80):
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_views_follow_the_images_in_turn():
    imgs = images(5)
    views = mixed.check_views(imgs, "views", count=4)
    assert len(views) == 4
    assert np.array_equal(views[0], imgs[0][:, ::-1])  # image 0 mirrored, 1 shifted, 2 zoomed, 3 mirrored
    assert np.array_equal(views[1], imgs[1][1:, 1:])  # 1/80 of 50 and 80 pixels, rounded
    assert np.array_equal(views[2], imgs[2][5:45, 8:72])  # the centre 0.8 of each side
    assert np.array_equal(views[3], imgs[3][:, ::-1])
    assert all(v.flags["C_CONTIGUOUS"] for v in views)  # the detector reads rows as laid out


def test_images_as_read_views_or_both():
    imgs = images(5)
    assert mixed.check_views(imgs, "images", count=3) == imgs[:3]  # the images as read
    assert mixed.DEFAULT_CHECK_ON == "views"
    assert all(np.array_equal(d, v) for d, v in zip(mixed.check_views(imgs, count=3), mixed.check_views(imgs, "views", count=3)))
    both = mixed.check_views(imgs, "both", count=3)
    assert len(both) == 6 and all(b is i for b, i in zip(both[:3], imgs))
    assert all(np.array_equal(b, v) for b, v in zip(both[3:], mixed.check_views(imgs, "views", count=3)))
    assert len(mixed.check_views(imgs, "views", count=9, kinds=("zoom",))) == 5  # fewer images than asked


def test_an_unknown_check_or_view_kind_is_refused():
    with pytest.raises(ValueError, match="check on: expected one of images, views, both, got 'mirrors'"):
        mixed.check_views(images(1), "mirrors")
    with pytest.raises(ValueError, match="view kind: expected one of mirror, shift, zoom, got 'rotate'"):
        mixed.check_views(images(1), "views", kinds=("rotate",))


def boxes(rng, n, spread=1000.0):
    xy = rng.uniform(0, spread, (n, 2))
    b = np.hstack([xy, xy + rng.uniform(-5, 80, (n, 2))])  # some without area
    b[: n // 10, 2] = b[: n // 10, 0]
    return b


@pytest.mark.parametrize("n, m", [(_BLOCK + 1, 700), (750, 750), (3, 750), (200, 10)])
def test_blocked_iou_is_the_dense_one_bit_for_bit(n, m):
    rng = np.random.default_rng(n * 1000 + m)
    a, b = boxes(rng, n), boxes(rng, m)
    k = min(n, m) // 2
    b[:k] = a[:k] + rng.normal(0, 1, (k, 4))  # overlapping pairs too
    b[0] = a[0] = (10, 10, 60, 60)
    got, want = iou_matrix(a, b), _dense_iou(a, b)
    assert got.shape == (n, m) and got.dtype == np.float64
    assert np.array_equal(got, want) and not np.signbit(got).any()
    assert (got >= 0.5).sum() > 0  # the case the ranked agreement decides on is there


def test_iou_of_known_boxes():
    got = iou_matrix([[0, 0, 10, 10], [5, 5, 15, 15]], [[0, 0, 10, 10], [0, 0, 0, 10], [20, 20, 30, 30]])
    assert np.allclose(got, [[1.0, 0.0, 0.0], [25 / 175, 0.0, 0.0]])
