"""Activation statistics of the quantizable layers' inputs, collected through the
runtime (facedge.Detector.extract_blobs: facedge's own preprocessing, ncnn's own
kernels).

Two passes over the images, as the histogram needs the range first: (1) per blob
the largest |x|, the sum of |x|, the element count and the per-channel sums (their
means drive bias correction); (2) a 2048-bin
histogram of the non-zero |x| over [0, absmax]. Each image runs on a single-threaded
ncnn extractor and the per-image results are combined in image order (counts are
integers, the range a maximum, the sums added in order), so the statistics are
identical for any number of worker threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from facedge.calibration.images import read_image
from facedge.base.progress import progress

HISTOGRAM_BINS = 2048


@dataclass
class BlobStats:
    absmax: float = 0.0
    abs_sum: float = 0.0
    count: int = 0  # elements seen, zeros included
    nonzero: int = 0
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS, dtype=np.int64))
    channel_sum: np.ndarray | None = None  # per channel, over every image and position (bias correction)
    channel_count: int = 0  # positions per channel summed

    @property
    def channel_mean(self):
        return None if self.channel_sum is None or not self.channel_count else self.channel_sum / self.channel_count

    def to_json(self):
        return {"absmax": float(self.absmax), "mean_abs_nonzero": self.abs_sum / max(self.nonzero, 1),
                "elements": int(self.count), "nonzero": int(self.nonzero)}


@dataclass
class CollectedStats:
    blobs: dict  # source blob name -> BlobStats
    used: list  # image paths that were read and measured
    unreadable: list  # image paths skipped


def ordered_map(fn, items, threads, desc):
    """fn over items on `threads` workers, results yielded in item order, at most a
    few items ahead of the consumer (bounded memory)."""
    items = list(items)
    if threads <= 1:
        yield from (fn(x) for x in progress(items, total=len(items), desc=desc))
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        window = 2 * threads
        pending = [pool.submit(fn, x) for x in items[:window]]
        next_item = window
        for _ in progress(range(len(items)), total=len(items), desc=desc):
            result = pending.pop(0).result()
            if next_item < len(items):
                pending.append(pool.submit(fn, items[next_item]))
                next_item += 1
            yield result


def collect(detector, paths, blob_names, threads=1, histograms=True) -> CollectedStats:
    names = sorted(set(blob_names))
    stats = {n: BlobStats() for n in names}

    def first_pass(path):
        img = read_image(path)
        if img is None:
            return path, None
        blobs = detector.extract_blobs(img, names)
        out = {}
        for n in names:
            b = np.asarray(blobs[n])
            a = np.abs(b).ravel()
            channels = b.reshape(b.shape[0], -1) if b.ndim >= 2 else b.reshape(-1, 1)
            out[n] = (float(a.max(initial=0.0)), float(np.sum(a, dtype=np.float64)), a.size, int(np.count_nonzero(a)),
                      np.sum(channels, axis=1, dtype=np.float64), channels.shape[1])
        return path, out

    used, unreadable = [], []
    for path, result in ordered_map(first_pass, paths, threads, "calibration: ranges"):
        if result is None:
            unreadable.append(path)
            continue
        used.append(path)
        for n, (absmax, abs_sum, count, nonzero, channel_sum, positions) in result.items():
            s = stats[n]
            s.absmax = max(s.absmax, absmax)
            s.abs_sum += abs_sum
            s.count += count
            s.nonzero += nonzero
            s.channel_sum = channel_sum if s.channel_sum is None else s.channel_sum + channel_sum
            s.channel_count += positions
    if not used or not histograms:
        return CollectedStats(stats, used, unreadable)

    def second_pass(path):
        img = read_image(path)
        blobs = detector.extract_blobs(img, names)
        out = {}
        for n in names:
            absmax = stats[n].absmax
            if absmax <= 0.0:
                continue
            a = np.abs(blobs[n]).ravel()
            idx = np.minimum((a * np.float32(HISTOGRAM_BINS / absmax)).astype(np.int32), HISTOGRAM_BINS - 1)
            h = np.bincount(idx, minlength=HISTOGRAM_BINS)
            h[0] -= a.size - np.count_nonzero(a)  # zeros are exact in int8: not part of the distribution
            out[n] = h
        return out

    for result in ordered_map(second_pass, used, threads, "calibration: histograms"):
        for n, h in result.items():
            stats[n].histogram += h
    return CollectedStats(stats, used, unreadable)
