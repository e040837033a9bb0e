"""Does the camera pipeline keep up with the detector, and does it leak?

    python -m facedge.bench.camera_bench [MODEL] [--video FILE] [--threads N]
        [--rounds 10] [--round-frames 300] [--frames 10000] [--json OUT]

Throughput: the same detector, same threads, same video frames, two ways:
- standalone: `detector.detect()` in a loop over the frames, already decoded:
  the most the runtime can do;
- pipeline: `run_pipeline()` on the video file, every frame processed (as for
  any file): decoding in the capture thread, detection, boxes and numbers drawn.
They run in pairs, in alternating order, and the result is the median of the
pairs' ratios, so that load from other processes (which changes over seconds)
falls on both sides of a pair. The target is at least 95 %.

Memory: one long pipeline run (`--frames`, the video played over and over),
resident memory every 1,000 frames; the target is flat after warm-up.

MODEL defaults to the cached version-RFB-320 (`facedge convert`); the video, to one
made from the photos shipped with facedge (640x480). A benchmark, not a test: it
prints the numbers and exits 0 unless it cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2

from facedge.base.sample_photos import sample_photos
from facedge.base.model_dir import DEFAULT_MODEL
from facedge.runtime.camera.app import DEFAULT_THREADS
from facedge.runtime.camera.pipeline import run_pipeline
from facedge.runtime.camera.sources import OpenCVSource
from facedge.base.errors import FacedgeError

TARGET_SHARE = 0.95
FLAT_MB = 4.0  # resident memory may wander this much after warm-up (allocator noise), not grow
WARMUP_FRAMES = 1000
SAMPLE_EVERY = 1000


def rss_mb():
    """Resident memory of this process now (Linux /proc), in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # elsewhere: the peak, which still shows growth

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LoopingVideo:
    """The video file from the start again at its end, every frame processed, until `frames` frames."""

    live = False

    def __init__(self, path, frames):
        self._video = OpenCVSource(os.fspath(path), live=False)
        self.name = f"{path} (looped)"
        self.fps = None
        self.frames = frames
        self._count = 0

    def open(self):
        self._video.open()

    def read(self):
        if self._count >= self.frames:
            return None
        frame = self._video.read()
        if frame is None:
            self._video.close()
            self._video.open()
            frame = self._video.read()
        frame.index = self._count
        self._count += 1
        return frame

    def close(self):
        self._video.close()


class Meter:
    """A pipeline output that only counts: when the first and last frames came out,
    and resident memory every SAMPLE_EVERY frames when asked."""

    def __init__(self, sample_memory=False):
        self.count = 0
        self.t_first = self.t_last = None
        self.sample_memory = sample_memory
        self.samples = []  # (frames done, RSS MiB)

    def write(self, image, report):
        self.count += 1
        self.t_last = time.perf_counter()
        if self.t_first is None:
            self.t_first = self.t_last
        if self.sample_memory and self.count % SAMPLE_EVERY == 0:
            self.samples.append((self.count, rss_mb()))
            print(f"  pipeline: {self.count} frames, RSS {self.samples[-1][1]:.1f} MiB", file=sys.stderr, flush=True)

    @property
    def fps(self):
        return (self.count - 1) / (self.t_last - self.t_first)


class TimedDetector:
    """The detector, with the wall time spent inside detect() added up: in the
    pipeline, `busy / elapsed` says how much of the time the detector was working;
    detect()'s own time there against standalone says what the other threads
    cost it (cores, caches)."""

    def __init__(self, detector):
        self.detector = detector
        self.input_size = detector.input_size
        self.busy = 0.0
        self.calls = 0

    def detect(self, image):
        t0 = time.perf_counter()
        result = self.detector.detect(image)
        self.busy += time.perf_counter() - t0
        self.calls += 1
        return result


def decode_all(path):
    cap = cv2.VideoCapture(os.fspath(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise FacedgeError(f"{path}: OpenCV cannot read it as a video")
    return frames


def standalone_fps(detector, frames, count):
    t0 = time.perf_counter()
    for i in range(count):
        detector.detect(frames[i % len(frames)])
    return count / (time.perf_counter() - t0)


def standalone_cpu_ms(detector, frames, count):
    """CPU time of the whole process per detect() call, detector threads included."""
    c0 = time.process_time()
    for i in range(count):
        detector.detect(frames[i % len(frames)])
    return 1000 * (time.process_time() - c0) / count


def pipeline(detector, video, frames, sample_memory=False):
    """(output meter, timed detector, seconds, process CPU seconds) of one pipeline run."""
    timed = TimedDetector(detector)
    source = LoopingVideo(video, frames)
    source.open()
    meter = Meter(sample_memory)
    t0, c0 = time.perf_counter(), time.process_time()
    run_pipeline(source, timed, [meter])
    return meter, timed, time.perf_counter() - t0, time.process_time() - c0


def measure(detector, video, frames, rounds, round_frames):
    """Throughput share: `rounds` pairs of (standalone, pipeline) runs of
    `round_frames` frames, in alternating order; each pair gives a ratio and the
    median ratio is the result, so that load from other processes, which changes
    over seconds, falls on both sides of a pair. Memory: one long pipeline run."""
    decoded = decode_all(video)
    for frame in decoded[:10]:  # warm-up: first-call allocations, caches
        detector.detect(frame)
    pairs = []
    for r in range(rounds):
        if r % 2 == 0:
            alone = standalone_fps(detector, decoded, round_frames)
            piped = pipeline(detector, video, round_frames)[0].fps
        else:
            piped = pipeline(detector, video, round_frames)[0].fps
            alone = standalone_fps(detector, decoded, round_frames)
        pairs.append((alone, piped))
        print(f"  round {r + 1}/{rounds}: standalone {alone:.1f} fps, pipeline {piped:.1f} fps", file=sys.stderr, flush=True)
    ratios = sorted(p / a for a, p in pairs)
    share = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
    detect_cpu_ms = standalone_cpu_ms(detector, decoded, round_frames)
    long_run, timed, seconds, cpu_seconds = pipeline(detector, video, frames, sample_memory=True)
    memory = [(n, round(mb, 1)) for n, mb in long_run.samples]
    after_warmup = [mb for n, mb in memory if n >= WARMUP_FRAMES]
    growth = after_warmup[-1] - after_warmup[0] if len(after_warmup) > 1 else 0.0
    spread = max(after_warmup, default=0) - min(after_warmup, default=0)
    return {
        "frame_size": list(decoded[0].shape[1::-1]),
        "rounds": [[round(a, 2), round(p, 2)] for a, p in pairs], "round_frames": round_frames,
        "standalone_fps_median": round(sorted(a for a, _ in pairs)[len(pairs) // 2], 2),
        "pipeline_fps_median": round(sorted(p for _, p in pairs)[len(pairs) // 2], 2),
        "share": round(share, 4), "share_ok": share >= TARGET_SHARE,
        "long_run_frames": frames, "long_run_fps": round(long_run.fps, 2),
        "long_run_detector_busy": round(timed.busy / seconds, 4),
        "long_run_detect_ms": round(1000 * timed.busy / timed.calls, 2),
        "standalone_detect_ms": round(1000 / sorted(a for a, _ in pairs)[len(pairs) // 2], 2),
        # CPU the pipeline spends per frame besides detection (decoding, drawing,
        # handing over): with a core to spare for it, the detector sets the pace.
        "other_cpu_ms_per_frame": round(1000 * cpu_seconds / frames - detect_cpu_ms, 2),
        "rss_mib": memory, "rss_growth_mib": round(growth, 1),
        "memory_flat": abs(growth) <= FLAT_MB and spread <= FLAT_MB,
    }


def report(result):
    lines = [
        f"facedge camera benchmark: {result['model']}, {result['threads']} threads, "
        f"{result['video']} ({result['frame_size'][0]}x{result['frame_size'][1]})",
        f"  throughput, {len(result['rounds'])} paired rounds of {result['round_frames']} frames: standalone detect() "
        f"{result['standalone_fps_median']:.1f} fps, pipeline {result['pipeline_fps_median']:.1f} fps (medians)",
        f"  pipeline / standalone: {100 * result['share']:.1f} % (median of pairs; target >= {100 * TARGET_SHARE:.0f} %: "
        f"{'met' if result['share_ok'] else 'NOT met'})",
        f"  long run: {result['long_run_frames']} frames at {result['long_run_fps']:.1f} fps; the detector was busy "
        f"{100 * result['long_run_detector_busy']:.1f} % of the time, {result['long_run_detect_ms']:.2f} ms a call "
        f"(standalone: {result['standalone_detect_ms']:.2f} ms)",
        f"  CPU per frame besides detection (decode, draw, hand-over): {result['other_cpu_ms_per_frame']:.2f} ms "
        f"on other threads; it needs a core the detector's threads leave free",
        "  resident memory (MiB) by frame: " + ", ".join(f"{n}: {mb:.1f}" for n, mb in result["rss_mib"]),
        f"  memory after {WARMUP_FRAMES} frames: {result['rss_growth_mib']:+.1f} MiB "
        f"(flat within {FLAT_MB:g} MiB: {'yes' if result['memory_flat'] else 'NO'})",
    ]
    return "\n".join(lines)


def default_video(folder):
    """A 640x480 video of the photos shipped with facedge, 25 frames each."""
    path = Path(folder) / "demo.avi"
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 480))
    for p in sample_photos():
        frame = cv2.resize(cv2.imread(os.fspath(p)), (640, 480), interpolation=cv2.INTER_AREA)
        for _ in range(25):
            writer.write(frame)
    writer.release()
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m facedge.bench.camera_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL, help=f"model directory or cached name (default {DEFAULT_MODEL})")
    p.add_argument("--video", help="video file (default: one made from the photos shipped with facedge, 640x480)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"detector threads (default: as 'facedge camera', here {DEFAULT_THREADS})")
    p.add_argument("--frames", type=int, default=10_000, help="frames of the long pipeline run for memory (default 10000)")
    p.add_argument("--rounds", type=int, default=10, help="paired standalone/pipeline rounds for throughput (default 10)")
    p.add_argument("--round-frames", type=int, default=300, help="frames per run in a round (default 300)")
    p.add_argument("--json", metavar="OUT", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    try:
        import facedge

        detector, name = facedge.Detector(args.model, threads=args.threads), args.model
        with tempfile.TemporaryDirectory() as tmp:
            video = Path(args.video) if args.video else default_video(tmp)
            if not video.is_file():
                raise FacedgeError(f"--video {video}: no such file")
            result = {"model": name, "threads": args.threads, "video": video.name,
                      **measure(detector, video, args.frames, args.rounds, args.round_frames)}
    except FacedgeError as e:
        print(f"camera_bench: error: {e}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
