"""Many callers, one Detector: aggregate frames per second of N Python threads
sharing one Detector(threads=T), for N = 1, 2, 4, 8 (a benchmark, not a test).

    python -m facedge.bench.threads (--model DIR | --param P --bin B) [--threads 2]
        [--callers 1,2,4,8] [--seconds 3] [--frame 640x480] [--json out.json]

Each caller detects on its own copy of a camera-sized frame in a loop; the rounds
for the N values alternate (N=1, 2, 4, 8, then again) so that load from other
processes falls on every N alike, and each N's best round is reported with the
median, and the CPU time this process spent per frame (robust to other processes'
load, and what grows when threads spin against each other). A Detector runs its inferences one at a time on its own inference thread,
so its ncnn threads stay at T however many callers there are; what N adds is the
callers' preprocessing and decoding running beside the inference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time


def _cpu_seconds():
    t = os.times()
    return t.user + t.system


def one_round(detector, frame, callers, seconds):
    """(frames done by all callers, wall seconds, this process's CPU seconds) for
    `callers` threads detecting for `seconds`."""
    stop = threading.Event()
    counts = [0] * callers
    start = threading.Barrier(callers + 1)

    def work(k):
        image = frame.copy()
        start.wait()
        while not stop.is_set():
            detector.detect(image)
            counts[k] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(callers)]
    for t in threads:
        t.start()
    start.wait()
    t0, c0 = time.perf_counter(), _cpu_seconds()
    time.sleep(seconds / 2)
    os_threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None
    time.sleep(seconds / 2)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - t0, _cpu_seconds() - c0, os_threads


def measure(detector, frame, callers_list, seconds, rounds):
    for _ in range(20):  # warm-up: pools, priors, caches
        detector.detect(frame)
    fps = {n: [] for n in callers_list}
    cpu = {n: [] for n in callers_list}
    os_threads = {}
    for _ in range(rounds):
        for n in callers_list:
            done, wall, cpu_s, os_threads[n] = one_round(detector, frame, n, seconds)
            fps[n].append(done / wall)
            cpu[n].append(1000.0 * cpu_s / max(done, 1))
    return {n: {"fps_median": statistics.median(v), "fps_best": max(v), "rounds": v,
                "cpu_ms_per_frame": statistics.median(cpu[n]), "process_threads": os_threads[n]} for n, v in fps.items()}


def table(results, threads):
    base = results[min(results)]["fps_median"]
    lines = ["| callers | aggregate FPS (median) | best round | vs 1 caller | CPU ms per frame | threads in the process |",
             "|---|---|---|---|---|---|"]
    for n, r in results.items():
        lines.append(f"| {n} | {r['fps_median']:.1f} | {r['fps_best']:.1f} | {r['fps_median'] / base:.2f}x "
                     f"| {r['cpu_ms_per_frame']:.2f} | {r['process_threads']} |")
    return "\n".join(lines)


def main(argv=None):
    import cv2
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model directory or cached name")
    p.add_argument("--param")
    p.add_argument("--bin")
    p.add_argument("--threads", type=int, default=2, help="the Detector's ncnn threads (default 2)")
    p.add_argument("--callers", default="1,2,4,8")
    p.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frame", default="640x480")
    p.add_argument("--wait-policy", choices=("active", "passive"),
                   help="OMP_WAIT_POLICY for ncnn's OpenMP threads (as `facedge bench` sets ACTIVE); default: the environment's")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    if args.wait_policy:  # before the C++ core (and OpenMP) loads
        os.environ["OMP_WAIT_POLICY"] = args.wait_policy.upper()

    import facedge
    from facedge.bench.machine import describe
    from facedge.runtime.detector import kernel_variants
    from facedge.base.sample_photos import bench_photo
    from facedge.base.sizes import parse_size

    if args.model:
        det, name = facedge.Detector(args.model, threads=args.threads), args.model
    else:
        param, bin_ = args.param, args.bin
        if not (param and bin_):
            p.error("give --model, or --param and --bin (bare ultraface-rfb ncnn files)")
        det = facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", threads=args.threads)
        name = str(param)
    fw, fh = parse_size(args.frame, "--frame")
    frame = cv2.resize(cv2.imread(str(bench_photo())), (fw, fh), interpolation=cv2.INTER_AREA)
    callers = [int(v) for v in args.callers.split(",")]
    results = measure(det, frame, callers, args.seconds, args.rounds)
    print(f"model {name}, one Detector(threads={args.threads}), frame {fw}x{fh}, {args.rounds} rounds of {args.seconds:g} s, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    print(table(results, args.threads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": name, "threads": args.threads, "frame": [fw, fh], "seconds": args.seconds,
                       "machine": describe(kernel_variants()), "results": {str(k): v for k, v in results.items()}}, f, indent=2)


if __name__ == "__main__":
    main()
