"""The numpy decoder the runtime tests hold facedge's C++ decoder to.

It lives in bench/numpy_decode.py, shared with the benchmark's peers (onnxruntime,
OpenCV DNN, the ncnn wheel), so that there is one numpy implementation, written from
the upstream projects' published facts rather than from facedge's C++."""

from facedge.bench.numpy_decode import detect, make_priors


def ultraface_priors(width, height):
    return make_priors("ultraface-rfb", width, height)


def ultraface_detect(scores, boxes, image_w, image_h, input_w, input_h, score_threshold, iou_threshold):
    """Faces from raw ULFD outputs: (boxes (N, 4) image pixels, scores (N,))."""
    boxes, scores, _ = detect(make_priors("ultraface-rfb", input_w, input_h), scores, boxes, (image_w, image_h),
                              score_threshold, iou_threshold)
    return boxes, scores
