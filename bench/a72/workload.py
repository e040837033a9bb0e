"""One measured workload for the A72 instruction-count benchmark (bench/a72/insn_count.py
runs it under qemu-aarch64 -cpu cortex-a72 with an instruction-counting plugin).

    python bench/a72/workload.py PATH MODEL_DIR FRAME.npy ITERATIONS

Sets up PATH for the model, then calls it ITERATIONS times on the frame (a BGR uint8
array saved with numpy, so that no JPEG decoder runs in the guest), one thread:
  facedge  facedge.Detector.detect(frame): preprocessing, ncnn, decode and NMS in C++
  bare     Detector.infer_normalized(chw): ncnn alone (input + extract) on the very
           network input facedge makes from the frame
  preprocess  Detector.extract_blobs(frame, [input]): facedge's preprocessing alone
           (its fused resampling and normalization) and its copy out
  naive    the ncnn wheel as its examples use it (Mat.from_pixels_resize,
           substract_mean_normalize, extract) and numpy decode + NMS
           (facedge.bench.reference_decode, as the `facedge bench` ncnn-python peer)
Prints one JSON line: {"path", "iterations", "result"}: the last call's face count
(naive; facedge: [faces, faces with resize="bilinear"]), output rows (bare) or channels
(preprocess), a check that the calls did their work.
Counting the whole process twice with different ITERATIONS isolates the cost of one
call: start-up, imports and model loading are the same in both runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

PATHS = ("facedge", "bare", "preprocess", "naive")


def facedge_call(model_dir: Path, frame: np.ndarray):
    import facedge

    det = facedge.Detector(model_dir, threads=1)  # the runtime's default thresholds, as the naive path uses
    # and, once (start-up cancels out), the faces with bilinear resizing, as the naive
    # path resizes: those must be the naive path's (the default filters by area above
    # 2x downscale, which may find a face more or fewer)
    bilinear = len(facedge.Detector(model_dir, threads=1, resize="bilinear").detect(frame))
    return lambda: [len(det.detect(frame)), bilinear]


def bare_call(model_dir: Path, frame: np.ndarray):
    import facedge

    det = facedge.Detector(model_dir, threads=1)
    name = det.info.input
    chw = np.ascontiguousarray(det.extract_blobs(frame, [name])[name])
    return lambda: len(det.infer_normalized(chw)["scores"])


def preprocess_call(model_dir: Path, frame: np.ndarray):
    import facedge

    det = facedge.Detector(model_dir, threads=1)
    name = det.info.input
    return lambda: det.extract_blobs(frame, [name])[name].shape[0]


def naive_call(model_dir: Path, frame: np.ndarray):
    import ncnn

    from facedge.bench import reference_decode
    from facedge.base.model_dir import BIN_FILE, PARAM_FILE, read_model_info
    from facedge.runtime.detector import default_options

    defaults = default_options()
    info = read_model_info(model_dir)
    net = ncnn.Net()
    net.opt.num_threads = 1
    if net.load_param(str(model_dir / PARAM_FILE)) != 0 or net.load_model(str(model_dir / BIN_FILE)) != 0:
        raise SystemExit(f"the ncnn wheel could not load {model_dir}")
    w, h = info.input_size
    priors = reference_decode.make_priors(info.family, w, h)
    pixel = ncnn.Mat.PixelType.PIXEL_BGR2RGB if info.pixel == "rgb" else ncnn.Mat.PixelType.PIXEL_BGR
    blobs = [info.outputs["scores"], info.outputs["boxes"]]

    def call():
        mat = ncnn.Mat.from_pixels_resize(frame, pixel, frame.shape[1], frame.shape[0], w, h)
        mat.substract_mean_normalize(list(info.mean), list(info.norm))
        ex = net.create_extractor()
        ex.input(info.input, mat)
        scores, boxes = (np.array(ex.extract(name)[1]) for name in blobs)
        _, found, _ = reference_decode.detect(priors, scores.reshape(len(priors), -1), boxes.reshape(len(priors), 4),
                                          (frame.shape[1], frame.shape[0]), defaults["score_threshold"],
                                          defaults["iou_threshold"])
        return len(found)

    return call


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4 or args[0] not in PATHS:
        raise SystemExit(f"usage: python bench/a72/workload.py {{{','.join(PATHS)}}} MODEL_DIR FRAME.npy ITERATIONS")
    path, model_dir, frame_file, iterations = args[0], Path(args[1]), args[2], int(args[3])
    frame = np.load(frame_file)
    call = {"facedge": facedge_call, "bare": bare_call, "preprocess": preprocess_call,
            "naive": naive_call}[path](model_dir, frame)
    result = None
    for _ in range(iterations):
        result = call()
    print(json.dumps({"path": path, "iterations": iterations, "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
