"""facedge bench: the peers' numpy decoding and the runners find the faces facedge finds.

Every runner gets the frame at the model's input size, as the benchmark gives it, so
all of them see the same network input and must agree face for face."""

import cv2
import numpy as np
import pytest

from bench_fixtures import ULFD_INPUT, converted_rfb, ulfd_output  # noqa: F401 (fixtures)
from facedge.bench import reference_decode
from facedge.bench.peers import make_runner
from facedge.base.errors import FacedgeError
from facedge.base.model_dir import read_model_info


def _job(runtime, model_dir, onnx=None, **extra):
    info = read_model_info(model_dir)
    model = {"name": "m", "precision": info.precision, "model_dir": str(model_dir), "param": str(model_dir / "model.param"),
             "bin": str(model_dir / "model.bin"), "onnx": str(onnx) if onnx else None, "family": info.family,
             "input_size": list(info.input_size), "pixel": info.pixel, "mean": info.mean, "norm": info.norm,
             "input": info.input, "outputs": info.outputs}
    return {"runtime": runtime, "model": model, "threads": 1, "score_threshold": 0.6, "iou_threshold": 0.3, **extra}


def _frames(demo_images, n=6):
    return [cv2.resize(cv2.imread(str(p)), ULFD_INPUT, interpolation=cv2.INTER_AREA) for p in demo_images[:n]]


def _assert_same_faces(got, want, box_atol, score_atol):
    (boxes, scores), (ref_boxes, ref_scores) = got, want
    assert len(scores) == len(ref_scores)
    np.testing.assert_allclose(scores, ref_scores, atol=score_atol)
    np.testing.assert_allclose(boxes, ref_boxes, atol=box_atol)


def test_hard_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 8], [20, 20, 30, 30], [0, 1, 10, 11]], dtype=np.float64)
    scores = np.array([0.7, 0.9, 0.8, 0.7])
    # box 1 (best) overlaps box 0 with IoU 0.8 and box 3 with IoU 0.64; boxes 0 and 3 tie (IoU 0.82)
    assert reference_decode.hard_nms(boxes, scores, 0.3).tolist() == [1, 2]
    assert reference_decode.hard_nms(boxes, scores, 0.75).tolist() == [1, 2, 3]
    assert reference_decode.hard_nms(boxes, scores, 0.95).tolist() == [1, 2, 0, 3]
    assert reference_decode.hard_nms(boxes, scores, 0.95, top_k=2).tolist() == [1, 2]
    assert reference_decode.hard_nms(boxes[:0], scores[:0], 0.3).tolist() == []


def test_priors_count_and_layout():
    priors = reference_decode.make_priors("ultraface-rfb", 320, 240)
    assert priors.shape == (4420, 4)  # the upstream model's output rows at 320x240
    np.testing.assert_allclose(priors[0], [4 / 320, 4 / 240, 10 / 320, 10 / 240])
    np.testing.assert_allclose(priors[2], [4 / 320, 4 / 240, 24 / 320, 24 / 240])
    assert priors.min() >= 0 and priors.max() <= 1
    assert len(reference_decode.make_priors("retinaface-mnet", 640, 640)) == 16800
    with pytest.raises(FacedgeError, match="family 'yolo': no numpy decoder"):
        reference_decode.make_priors("yolo", 320, 240)


def test_decode_rejects_outputs_of_another_size():
    priors = reference_decode.make_priors("ultraface-rfb", 320, 240)
    with pytest.raises(FacedgeError, match="4000 score rows and 4000 box rows, expected 4420"):
        reference_decode.detect(priors, np.zeros((4000, 2)), np.zeros((4000, 4)), (320, 240), 0.6, 0.3)


def test_ncnn_wheel_finds_the_faces_facedge_finds(ulfd_output, demo_images):
    pytest.importorskip("ncnn")
    facedge_runner = make_runner(_job("facedge", ulfd_output / "fp32"))
    peer = make_runner(_job("ncnn-python", ulfd_output / "fp32"))
    total = 0
    for frame in _frames(demo_images):
        want = facedge_runner.detections(frame)
        _assert_same_faces(peer.detections(frame), want, box_atol=0.05, score_atol=1e-4)
        total += len(want[1])
    assert total > 10


def test_runners_time_themselves_and_count_faces(ulfd_output, demo_images):
    frame = _frames(demo_images, 1)[0]
    runner = make_runner(_job("facedge", ulfd_output / "fp32"))
    rows = runner.run(frame)
    assert set(rows) == {"facedge", "ncnn-bare"}
    total, stages = rows["facedge"]
    assert set(stages) == {"preprocess", "inference", "postprocess"} and total > 0
    assert runner.faces == len(runner.detections(frame)[1]) > 0
    bare, bare_stages = rows["ncnn-bare"]
    assert bare == bare_stages["inference"] > 0


def test_yunet_finds_the_clear_faces_facedge_finds(shared, ulfd_output, demo_images):
    yunet = shared / "peers" / "yunet" / "face_detection_yunet_2023mar.onnx"
    if not hasattr(cv2, "FaceDetectorYN") or not yunet.is_file():
        pytest.skip("no cv2.FaceDetectorYN or no YuNet model")
    facedge_runner = make_runner(_job("facedge", ulfd_output / "fp32"))
    peer = make_runner({**_job("yunet", ulfd_output / "fp32"), "yunet": str(yunet)})
    matched = clear = 0
    for frame in _frames(demo_images):
        boxes, scores = facedge_runner.detections(frame)
        theirs, their_scores = peer.detections(frame)
        assert theirs.shape[1:] == (4,) and len(their_scores) == len(theirs)
        assert np.all(theirs[:, 2:] > theirs[:, :2])  # corners, not (x, y, w, h)
        for box in boxes[scores > 0.95]:
            clear += 1
            lt = np.maximum(box[:2], theirs[:, :2])
            rb = np.minimum(box[2:], theirs[:, 2:])
            inter = np.clip(rb - lt, 0, None).prod(axis=1)
            union = np.prod(box[2:] - box[:2]) + np.prod(theirs[:, 2:] - theirs[:, :2], axis=1) - inter
            matched += bool(len(theirs)) and (inter / union).max() > 0.4
    assert clear >= 5 and matched >= 0.7 * clear


@pytest.mark.convert
@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv-dnn"])
def test_onnx_peers_find_the_faces_facedge_finds(converted_rfb, demo_images, runtime):
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
    facedge_runner = make_runner(_job("facedge", converted_rfb / "fp32"))
    peer = make_runner(_job(runtime, converted_rfb / "fp32", onnx=converted_rfb / "model.onnx"))
    total = 0
    for frame in _frames(demo_images):
        want = facedge_runner.detections(frame)
        _assert_same_faces(peer.detections(frame), want, box_atol=0.05, score_atol=1e-4)
        total += len(want[1])
    assert total > 10
