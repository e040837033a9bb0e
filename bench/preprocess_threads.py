"""Preprocessing on the Detector's team against on one thread: a single caller's detect()
with Detector(threads=1) (the frame resized on the caller's thread) and Detector(threads=N)
(resized inside the inference job, split by output rows over the OpenMP team), called
alternately in one run, per frame size.

    python -m facedge.bench.preprocess_threads [--param P --bin B --family F | --model DIR]
        [--frames 1024x768,720x478] [--threads 2] [--repeats 200] [--json]

Reports per frame the median preprocessing ms (detect()'s own timings_ms['preprocess'])
and the median detect() ms at each thread count, and their ratios. Ratios taken side by
side: other load on the machine moves both.
"""

import argparse
import json
import statistics
import time

import numpy as np

from facedge.bench.model_args import add_model_arguments, open_detector


def measure(detectors, frame, repeats, warmup=10):
    pre = {t: [] for t in detectors}
    total = {t: [] for t in detectors}
    for i in range(warmup + repeats):
        for t, det in detectors.items():
            t0 = time.perf_counter()
            faces = det.detect(frame)
            elapsed = (time.perf_counter() - t0) * 1e3
            if i >= warmup:
                pre[t].append(faces.timings_ms["preprocess"])
                total[t].append(elapsed)
    return {t: {"preprocess_ms": statistics.median(pre[t]), "detect_ms": statistics.median(total[t])} for t in detectors}


def main(argv=None):
    import cv2

    from facedge.base.sample_photos import bench_photo
    from facedge.base.sizes import parse_size

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(p)
    p.add_argument("--frames", default="1024x768,720x478", help="sizes of the BGR frames given to detect()")
    p.add_argument("--image", help="photo resized into the frames (default: the photo shipped with facedge)")
    p.add_argument("--threads", type=int, default=2, help="the Detector's threads, against 1")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    detectors = {t: open_detector(p, args, threads=t)[0] for t in (1, args.threads)}
    photo = cv2.imread(str(args.image or bench_photo()))
    if photo is None:
        raise SystemExit(f"{args.image}: not a readable image")
    rows = []
    for text in args.frames.split(","):
        w, h = parse_size(text, "--frames")
        frame = np.ascontiguousarray(cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA))
        m = measure(detectors, frame, args.repeats)
        one, many = m[1], m[args.threads]
        rows.append({"frame": [w, h], "threads": args.threads, "input_size": list(detectors[1].input_size),
                     "preprocess_ms": {"1": one["preprocess_ms"], str(args.threads): many["preprocess_ms"]},
                     "detect_ms": {"1": one["detect_ms"], str(args.threads): many["detect_ms"]},
                     "preprocess_ratio": many["preprocess_ms"] / one["preprocess_ms"],
                     "detect_ratio": many["detect_ms"] / one["detect_ms"]})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    n = args.threads
    print(f"| frame | preprocess ms, 1 thread | {n} threads | ratio | detect() ms, 1 thread | {n} threads | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        pr, dt = r["preprocess_ms"], r["detect_ms"]
        print(f"| {r['frame'][0]}x{r['frame'][1]} | {pr['1']:.3f} | {pr[str(n)]:.3f} | {r['preprocess_ratio']:.2f} "
              f"| {dt['1']:.3f} | {dt[str(n)]:.3f} | {r['detect_ratio']:.2f} |")


if __name__ == "__main__":
    main()
