"""What facedge adds on top of ncnn: a full detect() call from a camera-sized BGR frame
vs the bare ncnn inference of the same network input, measured alternately in one run.

    python -m facedge.bench.overhead [--param P --bin B --family F | --model DIR] [--frame 1024x768]

Both sides run with the same ncnn options (threads, fp16 storage). 'bare' is ncnn's
create_extractor + input + extract on an already preprocessed tensor, timed inside
C++; 'detect' is the Python call facedge.Detector.detect(frame): resize, normalize,
inference, decoding, NMS and the numpy results. The ratio of medians is the overhead.
--opencv also times, alternately, what an OpenCV user would write for the same input
(cv2.resize with INTER_AREA or INTER_LINEAR at 1 thread, then a numpy normalize into
planes), beside facedge's own preprocessing time.
"""

import argparse
import json
import statistics
import time

import numpy as np

from facedge.bench.model_args import add_model_arguments, open_detector


def opencv_preprocess(frame, input_size, interpolation):
    """An OpenCV user's preprocessing for ULFD: resize, RGB, (x - 127) / 128, planes."""
    import cv2

    small = cv2.resize(frame, input_size, interpolation=interpolation)
    return np.ascontiguousarray(((small[:, :, ::-1].astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1))


def measure(detector, frame, input_size, repeats, warmup=10, opencv=False):
    import cv2

    w, h = input_size
    chw = np.ascontiguousarray(np.random.default_rng(0).standard_normal((3, h, w)).astype(np.float32))
    others = {}
    if opencv:
        cv2.setNumThreads(1)
        others = {"opencv_area_ms": cv2.INTER_AREA, "opencv_linear_ms": cv2.INTER_LINEAR}
    for _ in range(warmup):
        detector.detect(frame)
        detector.infer_normalized(chw)
    detect_ms, bare_ms, stages = [], [], {"preprocess": [], "inference": [], "postprocess": []}
    other_ms = {k: [] for k in others}
    for _ in range(repeats):  # alternate, so load on the machine hits both sides alike
        t0 = time.perf_counter()
        r = detector.detect(frame)
        detect_ms.append((time.perf_counter() - t0) * 1000)
        for k in stages:
            stages[k].append(r.timings_ms[k])
        bare_ms.append(detector.infer_normalized(chw)["timings_ms"]["inference"])
        for k, interpolation in others.items():
            t0 = time.perf_counter()
            opencv_preprocess(frame, input_size, interpolation)
            other_ms[k].append((time.perf_counter() - t0) * 1000)
    med = statistics.median
    return {
        "detect_median_ms": med(detect_ms), "detect_min_ms": min(detect_ms),
        "bare_inference_median_ms": med(bare_ms), "bare_inference_min_ms": min(bare_ms),
        "ratio_median": med(detect_ms) / med(bare_ms), "ratio_min": min(detect_ms) / min(bare_ms),
        # each detect over the bare inference right after it: neighbours in time share the
        # machine's load, so this median says the most on a busy machine
        "ratio_paired_median": med([d / b for d, b in zip(detect_ms, bare_ms)]),
        "stages_median_ms": {k: med(v) for k, v in stages.items()}, "stages_min_ms": {k: min(v) for k, v in stages.items()},
        "repeats": repeats, **{k: {"min": min(v), "median": med(v)} for k, v in other_ms.items()},
    }


def main(argv=None):
    import cv2

    from facedge.base.sample_photos import bench_photo
    from facedge.base.sizes import parse_size

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(p)
    p.add_argument("--input-size", default="320x240")
    p.add_argument("--frame", default="1024x768", help="size of the BGR frame given to detect()")
    p.add_argument("--image", help="photo to resize into the frame (default: the photo shipped with facedge)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--resize", default="auto", choices=("auto", "bilinear", "area"), help="the Detector's resampling filter")
    p.add_argument("--opencv", action="store_true", help="also time OpenCV's resize + a numpy normalize, alternately")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    size = parse_size(args.input_size, "--input-size")
    det, name = open_detector(p, args, threads=args.threads, input_size=size, resize=args.resize)
    fw, fh = parse_size(args.frame, "--frame")
    image_path = args.image or str(bench_photo())
    frame = cv2.resize(cv2.imread(image_path), (fw, fh))
    result = measure(det, frame, size, args.repeats, opencv=args.opencv)
    result.update({"model": name, "input_size": list(size), "frame": [fw, fh], "threads": args.threads, "resize": args.resize})
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        s = result["stages_median_ms"]
        print(f"model {name}, input {size[0]}x{size[1]}, frame {fw}x{fh}, {args.threads} thread(s), resize {args.resize}, "
              f"{args.repeats} alternating repeats")
        print(f"  bare ncnn inference  median {result['bare_inference_median_ms']:.3f} ms  min {result['bare_inference_min_ms']:.3f} ms")
        print(f"  facedge detect()     median {result['detect_median_ms']:.3f} ms  min {result['detect_min_ms']:.3f} ms"
              f"  (pre {s['preprocess']:.3f} / inf {s['inference']:.3f} / post {s['postprocess']:.3f})")
        print(f"  overhead ratio       median {result['ratio_median']:.3f}x  min {result['ratio_min']:.3f}x"
              f"  median of paired calls {result['ratio_paired_median']:.3f}x")
        print(f"  preprocessing        median {s['preprocess']:.3f} ms  min {result['stages_min_ms']['preprocess']:.3f} ms")
        for k in ("opencv_area_ms", "opencv_linear_ms"):
            if k in result:
                print(f"  {k[:-3].replace('_', ' ') + ' + numpy':20s} median {result[k]['median']:.3f} ms  min {result[k]['min']:.3f} ms")


if __name__ == "__main__":
    main()
