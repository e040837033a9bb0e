"""Proof that conversion kept the numbers: the raw outputs of the PyTorch network (fp32),
the ONNX graph (onnxruntime) and the ncnn model on the same real images, each against
the reference, and the faces a reference decode finds in the reference's and ncnn's
outputs.

The reference is the PyTorch network evaluated in float64: the exact result every fp32
engine approximates. Against it, each engine's own rounding shows; against PyTorch's
fp32 result, the rounding of both would add up (PyTorch fp32 itself is up to 1.6e-4
from the exact boxes of BlazeFace-FPN-SSH on the demo images).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError
from facedge.base.progress import progress
from facedge.base.boxes import iou_matrix
from facedge.bench.reference_decode import CENTER_VARIANCE, SIZE_VARIANCE, detect, layout_for
from facedge.runtime.detector import default_options

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MAX_IMAGES = 24
MATCH_IOU = 0.99  # a face counts as the same face when its boxes overlap this much
MIN_MATCHED = 0.99  # share of PyTorch's faces the converted model must find again
FP32_TOLERANCE = 1e-4  # max abs difference of raw outputs from the reference, fp32 models


def image_paths(images_dir):
    """Up to MAX_IMAGES images, sorted by name; None when there is no folder to read."""
    if images_dir is None:
        return None
    folder = Path(images_dir)
    if not folder.is_dir():
        raise FacedgeError(f"{folder}: --images must be a folder of .jpg/.png images")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FacedgeError(f"{folder}: no .jpg/.png images in it")
    return paths[:MAX_IMAGES]


def read_images(paths):
    import cv2

    images = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise FacedgeError(f"{p}: not a readable image")
        images.append(img)
    return images


class NcnnRunner:
    """The converted model in ncnn's Python binding, in plain fp32 arithmetic."""

    def __init__(self, param, bin_, input_name, output_names, fp16_storage=False):
        import ncnn

        self.net = ncnn.Net()
        opt = self.net.opt
        opt.use_fp16_storage = fp16_storage
        opt.use_fp16_packed = fp16_storage
        opt.use_fp16_arithmetic = False
        opt.use_bf16_storage = False
        opt.num_threads = 1
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(bin_)) != 0:
            raise FacedgeError(f"{param}: ncnn could not load the converted model")
        self.input_name = input_name
        self.output_names = output_names
        self._ncnn = ncnn

    def __call__(self, x: np.ndarray):
        chw = np.ascontiguousarray(x[0], dtype=np.float32)  # kept alive while ncnn reads it
        ex = self.net.create_extractor()
        ex.input(self.input_name, self._ncnn.Mat(chw))
        outs = []
        for name in self.output_names:
            ret, mat = ex.extract(name)
            if ret != 0:
                raise FacedgeError(f"ncnn could not compute blob {name!r}")
            outs.append(np.array(mat).copy())
        return outs


@dataclass
class StageDiff:
    max_abs: dict = field(default_factory=dict)   # role -> max over images
    mean_abs: dict = field(default_factory=dict)  # role -> mean over images

    def add(self, role, ref, got, n_images):
        if ref.shape != got.shape:
            raise FacedgeError(f"output {role!r}: shape {got.shape} differs from torch's {ref.shape}")
        d = np.abs(ref.astype(np.float64) - got.astype(np.float64))
        self.max_abs[role] = max(self.max_abs.get(role, 0.0), float(d.max()))
        self.mean_abs[role] = self.mean_abs.get(role, 0.0) + float(d.mean()) / n_images

    def worst(self):
        return max(self.max_abs.values())


def match_faces(ref_boxes, boxes, min_iou=MATCH_IOU):
    """How many reference faces have a distinct counterpart overlapping >= min_iou."""
    if len(ref_boxes) == 0 or len(boxes) == 0:
        return 0
    ious = iou_matrix(ref_boxes, boxes)
    matched, used = 0, set()
    for i in range(len(ref_boxes)):
        for j in np.argsort(-ious[i]):
            if ious[i, j] < min_iou:
                break
            if j not in used:
                used.add(j)
                matched += 1
                break
    return matched


def decode_faces(raw: dict, priors, image_size, family=None) -> np.ndarray:
    """Face boxes in image pixels from one image's raw outputs: the numpy reference
    decoder (with the variances it restates for `family`), the runtime's priors and
    default thresholds."""
    o = default_options()
    landmarks = raw.get("landmarks")
    variances = layout_for(family).variances if family else (CENTER_VARIANCE, SIZE_VARIANCE)
    return detect(priors, raw["scores"], raw["boxes"], image_size, o["score_threshold"], o["iou_threshold"], o["top_k"],
                  landmarks=landmarks, num_landmarks=0 if landmarks is None else landmarks.shape[1] // 2,
                  variances=variances)[0]


def compare_stages(family, reference_fn, stage_fns: dict, images, input_size, faces_stage="ncnn"):
    """Run the reference and every stage on every image. Returns the differences of
    each stage's raw outputs from the reference's, per output role, and the faces the
    reference decode finds in the reference's vs `faces_stage`'s outputs."""
    roles = family.outputs
    diffs = {stage: StageDiff() for stage in stage_fns}
    priors = family.priors(*input_size)
    o = default_options()
    faces = {"reference": 0, faces_stage: 0, "matched": 0, "min_iou": MATCH_IOU,
             "score_threshold": o["score_threshold"], "iou_threshold": o["iou_threshold"]}
    for img in progress(images, total=len(images), desc="verify"):
        x = family.preprocess(img, input_size)
        ref = dict(zip(roles, reference_fn(x)))
        for stage, fn in stage_fns.items():
            got = dict(zip(roles, fn(x)))
            for role in roles:
                diffs[stage].add(role, ref[role], got[role], len(images))
            if stage == faces_stage:
                size = (img.shape[1], img.shape[0])
                ref_boxes = decode_faces(ref, priors, size, family.name)
                got_boxes = decode_faces(got, priors, size, family.name)
                faces["reference"] += len(ref_boxes)
                faces[stage] += len(got_boxes)
                faces["matched"] += match_faces(ref_boxes, got_boxes)
    return diffs, faces
