"""The aarch64 wheel, installed in an arm64 Debian rootfs and run under qemu, finds the
same faces as the x86 build on real images (.ci/arm parity writes the x86 reference
with x86_reference.py, then runs this file in the rootfs, once as a Pi 4's Cortex-A72
and once as a Pi 5's Cortex-A76).

On an A72, ncnn must take its armv8.0 kernels: fp16 options change nothing. On an A76
it must take the runtime-dispatched armv8.2 fp16 kernels: they change the raw outputs a
little and the faces not at all. bf16 storage finds the faces x86's bf16 build finds
(its scores close, not equal: see the test), and runs exactly where facedge says it
does (fp16 storage wins where it runs)."""

import hashlib
import os
import platform
import struct

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    platform.machine() != "aarch64" or not os.environ.get("FACEDGE_X86_REFERENCE"),
    reason="runs in the arm64 rootfs with FACEDGE_X86_REFERENCE set (.ci/arm parity)")

import x86_reference as ref  # noqa: E402  (tests/arm is on sys.path under pytest)

HWCAP_ASIMDHP = 1 << 10  # armv8.2 fp16 vector arithmetic (Linux's AT_HWCAP bits)
HWCAP_ASIMDDP = 1 << 20  # armv8.2 dot product
# bf16 outputs of the aarch64 and x86 builds, any single score (measured under qemu's
# A72 on the 5 reference photos: up to 0.022 on a face, 0.030 on any prior)
BF16_SCORE_TOL = 5e-2


def hwcap():
    """AT_HWCAP from this process's auxiliary vector: what ncnn's runtime dispatch reads."""
    with open("/proc/self/auxv", "rb") as f:
        data = f.read()
    for offset in range(0, len(data) - 15, 16):
        kind, value = struct.unpack_from("<QQ", data, offset)
        if kind == 16:  # AT_HWCAP
            return value
    raise AssertionError("no AT_HWCAP in /proc/self/auxv")


def has_fp16_kernels():
    return bool(hwcap() & HWCAP_ASIMDHP)


def iou_matrix(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def match_faces(got, want):
    """got[i] <-> want[j]: each face's best overlap, one to one (fp16 scores can reorder
    faces of nearly equal score). Returns (order into got, smallest matched IoU)."""
    iou = iou_matrix(want, got)
    order = iou.argmax(axis=1)
    assert len(set(order.tolist())) == len(order), "two faces matched the same detection"
    return order, float(iou[np.arange(len(want)), order].min())


@pytest.fixture(scope="module")
def reference():
    with np.load(os.environ["FACEDGE_X86_REFERENCE"]) as data:
        return dict(data)


@pytest.fixture(scope="module")
def images():
    import cv2

    return {path.name: cv2.imread(str(path)) for path in ref.image_paths()}


def test_the_emulated_cpu_is_the_one_asked_for():
    """qemu's default CPU ("max") has fp16, dot product and SVE: a run that silently used
    it would test kernels no Pi 4 runs."""
    expected = os.environ.get("FACEDGE_EXPECT_CPU")
    if expected is None:
        pytest.skip("FACEDGE_EXPECT_CPU not set")
    features = hwcap() & (HWCAP_ASIMDHP | HWCAP_ASIMDDP)
    assert features == {"cortex-a72": 0, "cortex-a76": HWCAP_ASIMDHP | HWCAP_ASIMDDP}[expected]


def test_images_decode_as_on_x86(reference, images):
    # the comparison below is of detectors, not of JPEG decoders
    for name, image in images.items():
        digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
        assert digest == str(reference[f"image/{name}/sha256"]), f"{name} decodes differently on aarch64"


@pytest.mark.parametrize("model", list(ref.MODELS))
def test_fp32_detections_equal_x86(reference, images, model):
    det = ref.make_detector(model, fp16=False)
    faces, largest_shift = 0, 0.0
    for name, image in images.items():
        key = f"{model}/{name}"
        raw = det.infer(image)
        # NEON and SSE/AVX kernels sum in different orders: float rounding only
        np.testing.assert_allclose(raw["scores"], reference[f"{key}/raw_scores"], atol=1e-4, err_msg=key)
        np.testing.assert_allclose(raw["boxes"], reference[f"{key}/raw_boxes"], atol=1e-4, err_msg=key)
        got = det.detect(image)
        want_boxes, want_scores = reference[f"{key}/boxes"], reference[f"{key}/scores"]
        assert len(got) == len(want_scores), f"{key}: {len(got)} faces on aarch64, {len(want_scores)} on x86"
        np.testing.assert_allclose(got.boxes, want_boxes, atol=1e-3, rtol=0, err_msg=f"{key} boxes (px)")
        np.testing.assert_allclose(got.scores, want_scores, atol=1e-5, rtol=0, err_msg=f"{key} scores")
        faces += len(got)
        largest_shift = max(largest_shift, float(np.abs(got.boxes - want_boxes).max(initial=0.0)))
    print(f"\n{model}: {faces} faces, boxes within {largest_shift:.2e} px of x86")
    assert faces >= 10, f"{model}: only {faces} faces in {len(images)} crowd photos; the comparison is vacuous"


@pytest.mark.parametrize("model", list(ref.MODELS))
def test_fp16_option_takes_the_kernels_this_cpu_has(reference, images, model):
    fp32 = ref.make_detector(model, fp16=False)
    fp16 = ref.make_detector(model, fp16=True)
    score_change = regression_change = largest_shift = 0.0
    for name, image in images.items():
        key = f"{model}/{name}"
        a, b = fp32.infer(image), fp16.infer(image)
        score_change = max(score_change, float(np.abs(a["scores"] - b["scores"]).max()))
        regression_change = max(regression_change, float(np.abs(a["boxes"] - b["boxes"]).max()))
        got = fp16.detect(image)
        want_boxes = reference[f"{key}/boxes"]
        assert len(got) == len(want_boxes), f"{key}: {len(got)} faces with fp16, {len(want_boxes)} on x86"
        if has_fp16_kernels() and len(want_boxes):
            # fp16 storage and arithmetic: the same faces, boxes nearly where they were
            order, worst_iou = match_faces(got.boxes, want_boxes)
            assert worst_iou > 0.9, f"{key}: a face moved (IoU {worst_iou:.3f}) with the fp16 kernels"
            largest_shift = max(largest_shift, float(np.abs(got.boxes[order] - want_boxes).max()))
    if has_fp16_kernels():
        print(f"\n{model}: fp16 kernels changed scores by up to {score_change:.4f}, box regressions by "
              f"{regression_change:.3f}, matched boxes by {largest_shift:.2f} px")
        # measured on qemu's A76: scores move by up to 0.016; fp32 kernels would give ~1e-6
        assert 1e-4 < score_change < 5e-2, f"{model}: fp16 kernels changed scores by {score_change}"
    else:
        assert score_change == regression_change == 0.0, \
            f"{model}: fp16=True changed outputs on a CPU without fp16 arithmetic"


@pytest.mark.parametrize("model", list(ref.MODELS))
def test_bf16_detections_equal_x86_bf16(reference, images, model):
    """The Pi's bf16 and the x86 build's are close, not equal: both round fp32 to bf16
    alike (+0x8000, ties away; facedge's x86 build leaves out the AVX-512 BF16 kernels,
    which round to even), but ncnn's x86 depthwise convolution has no bf16 path and runs
    fp32 with fp32 weights, where the ARM one keeps weights and blobs in bf16; and each
    layer sums in another order, which moves a value across a bf16 rounding step now and
    then. So the comparison is at bf16's tolerance, not fp32's. Measured under qemu's A72
    and A76 (5 photos): the same faces (IoU > 0.95), single scores within 0.022 (0.030
    on any prior), on average 2.3e-4 / 3.2e-4 apart (slim / RFB), against 3.5e-4 / 2.7e-4
    between x86 bf16 and x86 fp32 and under 1e-5 between the two builds' fp32."""
    det = ref.make_detector(model, fp16=False, bf16=True)
    assert det.float_storage == "bf16"
    faces, score_max, arm_mean, storage_mean, largest_shift = 0, 0.0, [], [], 0.0
    for name, image in images.items():
        key = f"{model}/{name}/bf16"
        raw = det.infer(image)
        x86_bf16, x86_fp32 = reference[f"{key}/raw_scores"], reference[f"{model}/{name}/raw_scores"]
        score_max = max(score_max, float(np.abs(raw["scores"] - x86_bf16).max()))
        arm_mean.append(float(np.abs(raw["scores"] - x86_bf16).mean()))
        storage_mean.append(float(np.abs(x86_fp32 - x86_bf16).mean()))
        got = det.detect(image)
        want_boxes, want_scores = reference[f"{key}/boxes"], reference[f"{key}/scores"]
        assert len(got) == len(want_scores), f"{key}: {len(got)} faces on aarch64, {len(want_scores)} on x86"
        if len(got):
            order, worst_iou = match_faces(got.boxes, want_boxes)
            assert worst_iou > 0.95, f"{key}: a face moved (IoU {worst_iou:.3f}) between aarch64 and x86 bf16"
            largest_shift = max(largest_shift, float(np.abs(got.boxes[order] - want_boxes).max()))
            np.testing.assert_allclose(got.scores[order], want_scores, atol=BF16_SCORE_TOL, rtol=0, err_msg=key)
        faces += len(got)
    print(f"\n{model} bf16: {faces} faces, boxes within {largest_shift:.2f} px of x86 bf16; raw scores within "
          f"{score_max:.4f}, on average {np.mean(arm_mean):.2e} (x86 bf16 against x86 fp32: {np.mean(storage_mean):.2e})")
    assert score_max < BF16_SCORE_TOL, f"{model}: raw scores differ from x86 bf16 by {score_max}"
    # bf16 ran here: its outputs are bf16's distance from fp32, not fp32's 1e-5
    assert np.mean(np.abs(det.infer(images[next(iter(images))])["scores"]
                          - reference[f"{model}/{next(iter(images))}/raw_scores"])) > 5e-5
    assert faces >= 10, f"{model}: only {faces} faces in {len(images)} crowd photos; the comparison is vacuous"


def test_bf16_runs_where_facedge_says():
    fp16 = has_fp16_kernels()
    auto = ref.make_detector("RFB-320", bf16="auto")  # fp16=True, the default
    asked = ref.make_detector("RFB-320", bf16=True)
    # a Pi 4 (no fp16 storage): auto and on run bf16; a Pi 5: fp16 storage wins
    assert (auto.float_storage, asked.float_storage) == (("fp16", "fp16") if fp16 else ("bf16", "bf16"))
    assert ref.make_detector("RFB-320", fp16=False, bf16="auto").float_storage == ("fp32" if fp16 else "bf16")
