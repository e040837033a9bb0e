"""Family definitions: priors, output layout, input sizes, preprocessing (fast; torch)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the facedge[convert] extra (torch)")

from facedge.convert import families  # noqa: E402
from facedge.convert.checkpoint import load_state_dict  # noqa: E402
from facedge.convert.families.export_wrapper import ExportWrapper  # noqa: E402
from facedge.bench.reference_decode import decode_boxes, decode_landmarks, detect  # noqa: E402
from facedge.base.errors import FacedgeError  # noqa: E402

pytestmark = pytest.mark.convert

# ULFD's training code (fd_config.define_img_size): feature maps per input size, as
# published there ([widths], [heights]); centres are (i + 0.5) / feature size.
ULFD_FEATURE_MAPS = {(320, 240): ([40, 20, 10, 5], [30, 15, 8, 4]), (640, 480): ([80, 40, 20, 10], [60, 30, 15, 8]),
                     (160, 120): ([20, 10, 5, 3], [15, 8, 4, 2])}
ULFD_MIN_BOXES = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]


def _ulfd_priors_as_trained(width, height):
    widths, heights = ULFD_FEATURE_MAPS[(width, height)]
    out = []
    for level, sizes in enumerate(ULFD_MIN_BOXES):
        for j in range(heights[level]):
            for i in range(widths[level]):
                for s in sizes:
                    out.append([(i + 0.5) / widths[level], (j + 0.5) / heights[level], s / width, s / height])
    return np.clip(np.array(out), 0, 1)


def _anchor_grid(width, height, steps, min_sizes):
    """RetinaFace's PriorBox / PaddleDetection's prior_box: centre (j + 0.5) * step / size."""
    out = []
    for step, sizes in zip(steps, min_sizes):
        for i in range(math.ceil(height / step)):
            for j in range(math.ceil(width / step)):
                for s in sizes:
                    out.append([(j + 0.5) * step / width, (i + 0.5) * step / height, s / width, s / height])
    return np.array(out)


@pytest.mark.parametrize("size", sorted(ULFD_FEATURE_MAPS))
def test_ultraface_priors_are_the_training_priors(size):
    for name in ("ultraface-rfb", "ultraface-slim"):
        np.testing.assert_allclose(families.get(name).priors(*size), _ulfd_priors_as_trained(*size), atol=1e-7)


def test_ultraface_320x240_prior_facts():
    p = families.get("ultraface-rfb").priors(320, 240)
    assert len(p) == 4420
    np.testing.assert_allclose(p[0], [0.5 / 40, 0.5 / 30, 10 / 320, 10 / 240], rtol=1e-6)
    # the last prior: bottom-right cell of the stride-64 level, anchor 256 (height clipped to 1)
    np.testing.assert_allclose(p[-1], [4.5 / 5, 3.5 / 4, 256 / 320, 1.0], rtol=1e-6)


@pytest.mark.parametrize("name,size,steps,min_sizes,count", [
    ("retinaface-mnet", (640, 640), (8, 16, 32), ((16, 32), (64, 128), (256, 512)), 16800),
    ("retinaface-mnet", (320, 256), (8, 16, 32), ((16, 32), (64, 128), (256, 512)), 2 * (40 * 32 + 20 * 16 + 10 * 8)),
    ("blazeface-fpn-ssh", (640, 640), (8, 16), ((16, 24), (32, 48, 64, 80, 96, 128)), 22400),
    ("blazeface-fpn-ssh", (320, 240), (8, 16), ((16, 24), (32, 48, 64, 80, 96, 128)), 40 * 30 * 2 + 20 * 15 * 6),
])
def test_anchor_grid_priors(name, size, steps, min_sizes, count):
    p = families.get(name).priors(*size)
    assert len(p) == count
    np.testing.assert_allclose(p, _anchor_grid(*size, steps, min_sizes), atol=1e-7)


@pytest.mark.parametrize("name,sizes", [
    ("ultraface-slim", [(320, 240), (128, 96), (200, 136)]),
    ("ultraface-rfb", [(640, 480)]),
    ("retinaface-mnet", [(320, 320), (224, 160)]),
    ("blazeface-fpn-ssh", [(320, 240), (160, 96)]),
])
def test_network_rows_equal_prior_count(name, sizes):
    family = families.get(name)
    wrapper = ExportWrapper(family.build(2).eval(), family, 2).eval()
    for w, h in sizes:
        with torch.no_grad():
            outs = wrapper(torch.zeros(1, 3, h, w))
        n = len(family.priors(w, h))
        widths = {"scores": 2, "boxes": 4, "landmarks": 10}
        assert [tuple(o.shape) for o in outs] == [(n, widths[r]) for r in family.outputs]


class _PositionNet(torch.nn.Module):
    """Head maps whose values encode (level, row, column, channel)."""

    def __init__(self, shapes, roles):
        super().__init__()
        self.shapes, self.roles = shapes, roles

    def forward(self, x):
        maps = {}
        for role, width in self.roles.items():
            maps[role] = []
            for level, (h, w, anchors) in enumerate(self.shapes):
                c = torch.arange(anchors * width).view(1, -1, 1, 1).float()
                y = torch.arange(h).view(1, 1, -1, 1).float()
                xx = torch.arange(w).view(1, 1, 1, -1).float()
                maps[role].append(level * 1e6 + y * 1e4 + xx * 1e2 + c + x.sum() * 0)
        return maps


def test_rows_are_level_row_column_anchor():
    family = families.get("retinaface-mnet")
    shapes = [(3, 4, 2), (2, 2, 2)]
    wrapper = ExportWrapper(_PositionNet(shapes, {"scores": 2, "boxes": 4, "landmarks": 10}), family, 2)
    _, boxes, landmarks = wrapper(torch.zeros(1, 3, 8, 8))
    row = 0
    for level, (h, w, anchors) in enumerate(shapes):
        for y in range(h):
            for x in range(w):
                for a in range(anchors):
                    base = level * 1e6 + y * 1e4 + x * 1e2
                    assert boxes[row].tolist() == [base + a * 4 + v for v in range(4)]
                    assert landmarks[row].tolist() == [base + a * 10 + v for v in range(10)]
                    row += 1
    assert row == len(boxes)


def test_scores_are_softmaxed_with_face_in_column_one():
    logits = {"ultraface-rfb": [0.0, 3.0], "blazeface-fpn-ssh": [3.0, 0.0]}  # blazeface: (face, background)
    for name, (c0, c1) in logits.items():
        family = families.get(name)

        class Net(torch.nn.Module):
            def forward(self, x):
                scores = torch.tensor([c0, c1]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
                return {"scores": [scores], "boxes": [torch.zeros(1, 4, 2, 2)]}

        scores, _ = ExportWrapper(Net(), family, 2)(torch.zeros(1, 3, 2, 2))
        np.testing.assert_allclose(scores.numpy(), np.tile([[1 / (1 + math.e ** 3), 1 / (1 + math.e ** -3)]], (4, 1)),
                                   rtol=1e-6)


@pytest.mark.parametrize("name,good,bad", [
    ("ultraface-rfb", [(320, 240), (640, 480), (160, 120), (128, 96)], [(330, 240), (320, 244), (56, 64)]),
    ("retinaface-mnet", [(640, 640), (320, 224)], [(640, 500), (600, 640), (16, 32)]),
    ("blazeface-fpn-ssh", [(640, 640), (320, 240), (656, 480)], [(648, 640), (640, 600), (8, 16)]),
])
def test_input_size_rule(name, good, bad):
    family = families.get(name)
    for size in good:
        family.check_input_size(*size)
    for w, h in bad:
        with pytest.raises(FacedgeError, match=rf"^input size {w}x{h}: {name} needs a (width|height) that is a multiple of"):
            family.check_input_size(w, h)


def test_default_sizes_follow_the_checkpoint_name():
    rfb = families.get("ultraface-rfb")
    assert rfb.default_size_for("version-RFB-320") == (320, 240)
    assert rfb.default_size_for("version-RFB-640") == (640, 480)
    assert families.get("retinaface-mnet").default_size_for("mobilenet0.25_Final") == (640, 480)


def test_preprocessing_channel_order_and_normalisation():
    pixel = np.array([[[10, 20, 30]]], dtype=np.uint8)  # one BGR pixel
    rgb = families.get("ultraface-slim").preprocess(pixel, (1, 1))[0, :, 0, 0]
    np.testing.assert_allclose(rgb, [(30 - 127) / 128, (20 - 127) / 128, (10 - 127) / 128], rtol=1e-6)
    bgr = families.get("retinaface-mnet").preprocess(pixel, (1, 1))[0, :, 0, 0]
    np.testing.assert_allclose(bgr, [10 - 104, 20 - 117, 30 - 123])
    blaze = families.get("blazeface-fpn-ssh").preprocess(pixel, (1, 1))[0, :, 0, 0]
    np.testing.assert_allclose(blaze, [(30 - 123) / 127.502231, (20 - 117) / 127.502231, (10 - 104) / 127.502231],
                               rtol=1e-6)


def test_decode_of_zero_regression_is_the_prior():
    priors = np.array([[0.5, 0.25, 0.2, 0.1]], dtype=np.float32)
    np.testing.assert_allclose(decode_boxes(priors, np.zeros((1, 4))), [[0.4, 0.2, 0.6, 0.3]], atol=1e-7)
    np.testing.assert_allclose(decode_boxes(priors, np.array([[1.0, -1.0, 0.0, 5.0]])),
                               [[0.5 + 0.02 - 0.1, 0.25 - 0.01 - 0.05 * math.e, 0.5 + 0.02 + 0.1,
                                 0.25 - 0.01 + 0.05 * math.e]], atol=1e-6)
    lm = decode_landmarks(priors, np.tile([1.0, 2.0], 5)[None], 5)
    np.testing.assert_allclose(lm[0], np.tile([0.5 + 0.02, 0.25 + 0.02], (5, 1)), atol=1e-7)


def test_reference_decode_scales_to_the_image_and_suppresses_overlaps():
    priors = np.array([[0.5, 0.5, 0.2, 0.2], [0.51, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]], dtype=np.float32)
    raw = {"scores": np.array([[0.1, 0.9], [0.2, 0.8], [0.05, 0.95]]), "boxes": np.zeros((3, 4))}
    boxes, scores, landmarks = detect(priors.astype(np.float64), raw["scores"], raw["boxes"], (200, 100), 0.6, 0.3)
    np.testing.assert_allclose(scores, [0.95, 0.9], rtol=1e-6)
    np.testing.assert_allclose(boxes, [[10, 5, 30, 15], [80, 40, 120, 60]], atol=1e-4)
    assert landmarks is None


@pytest.mark.parametrize("checkpoint,reference", [("version-RFB-320", "RFB-320"), ("version-slim-320", "slim_320")])
def test_ultraface_definitions_match_upstreams_own_ncnn_model(shared, reference_ultraface, demo_images,
                                                               checkpoint, reference):
    """The network written here, on the upstream weights, computes what the upstream
    project's own ncnn conversion computes (blobs 'input' -> 'scores', 'boxes')."""
    import cv2

    ncnn = pytest.importorskip("ncnn")
    path = shared / "weights" / "ultraface" / f"{checkpoint}.pth"
    state = load_state_dict(path)
    family = families.detect(state, path)
    net, _ = families.fit(family, state, path)
    wrapper = ExportWrapper(net, family, 2).double()
    param, bin_ = reference_ultraface[reference]
    upstream = ncnn.Net()
    upstream.opt.use_fp16_storage = upstream.opt.use_fp16_packed = upstream.opt.use_fp16_arithmetic = False
    upstream.opt.use_bf16_storage = False
    upstream.load_param(str(param))
    upstream.load_model(str(bin_))
    worst = 0.0
    for image in demo_images:
        x = family.preprocess(cv2.imread(str(image)), (320, 240))
        with torch.no_grad():
            ours = [t.numpy() for t in wrapper(torch.from_numpy(x).double())]
        chw = np.ascontiguousarray(x[0])
        ex = upstream.create_extractor()
        ex.input("input", ncnn.Mat(chw))
        theirs = [np.array(ex.extract(blob)[1]) for blob in ("scores", "boxes")]
        worst = max(worst, *(float(np.abs(a - b).max()) for a, b in zip(ours, theirs)))
    assert worst < 1e-4
