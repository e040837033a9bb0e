"""One benchmark worker: one runtime, one model, one thread count, in its own process.

Why a process each: the process is pinned to its cores before any runtime starts a
thread (every thread it makes inherits the pinning), OMP_WAIT_POLICY is in its
environment before OpenMP reads it, and no runtime's thread pool meets another's.

Protocol (one JSON object per line): the job comes on the first line of stdin; the
worker answers {"ready": {...}} once the model is loaded and warmed up (or
{"error": "..."}), then for each {"batch": k} runs one untimed frame (caches and
spinning threads settle after the other workers' turns) and k timed ones, and
answers {"samples": {row: {"total": [ms...], "stages": {stage: [ms...]}}}}.
Answers go to a private copy of stdout; the runtimes' own chatter goes to stderr.
"""

import json
import os
import sys


def _openmp_library():
    """Which OpenMP runtime the process loaded (libgomp follows OMP_WAIT_POLICY, LLVM's
    libomp ncnn's blocktime): from the mapped libraries."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return None
    found = sorted({name for name in ("libgomp", "libiomp5", "libomp") if f"/{name}" in maps})
    return ", ".join(found) or None


def serve(job, answer, read_line):
    if job.get("cores"):  # first: numpy's and the runtimes' threads inherit it
        os.sched_setaffinity(0, job["cores"])
    import numpy as np

    from facedge.bench.peers import make_runner

    frame = np.load(job["frame"])
    runner = make_runner(job)
    for _ in range(job["warmup"]):
        runner.run(frame)
    answer({"ready": {"faces": runner.faces, "openmp": _openmp_library(),
                      "float_storage": getattr(runner, "float_storage", None),
                      "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}})
    for line in iter(read_line, ""):
        request = json.loads(line)
        if "batch" not in request:
            break
        runner.run(frame)
        samples = {row: {"total": [], "stages": {}} for row in runner.rows}
        for _ in range(request["batch"]):
            for row, (total, stages) in runner.run(frame).items():
                samples[row]["total"].append(total)
                for stage, ms in stages.items():
                    samples[row]["stages"].setdefault(stage, []).append(ms)
        answer({"samples": samples, "faces": runner.faces})


def main():
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the protocol

    def answer(obj):
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    try:
        serve(json.loads(sys.stdin.readline()), answer, sys.stdin.readline)
    except Exception as e:  # the controller decides whether this is fatal (facedge) or a skipped peer
        answer({"error": f"{type(e).__name__}: {e}".splitlines()[0]})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
