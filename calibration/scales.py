"""int8 scales: per-output-channel weight scales and one activation scale per
quantizable layer input, by the method the user picks.

A scale s maps float x to round(x * s) clamped to [-127, 127] (ncnn's convention);
s = 127 / T for a clipping threshold T.
"""

from __future__ import annotations

import numpy as np

from facedge.calibration.stats import HISTOGRAM_BINS, BlobStats

METHODS = ("kl", "aciq", "percentile", "minmax", "eq")
KL_TARGET_BINS = 128  # int8 has 128 non-negative levels
PERCENTILE = 99.99  # of the non-zero |x|
ACIQ_LAPLACE_ALPHA_8BIT = 9.89  # Banner et al., ACIQ: optimal clip of Laplace(b) at 8 bits is 9.89 b


def weight_scales(weights: np.ndarray, groups: int, six_bit: bool) -> np.ndarray:
    """127 / max|w| per output channel (per group for depthwise); 31 / max|w| where
    ncnn's int8 winograd F(4,3) runs the layer (it needs 6-bit weights); 0 for an
    all-zero channel, which ncnn reads as 'output = bias'."""
    levels = np.float32(31.0 if six_bit else 127.0)
    absmax = np.abs(weights.astype(np.float32).reshape(groups, -1)).max(axis=1)
    with np.errstate(divide="ignore"):
        return np.where(absmax > 0, levels / np.where(absmax > 0, absmax, 1), 0).astype(np.float32)


def threshold_for(method: str, s: BlobStats) -> float:
    """The clipping threshold of one blob's activations (eq starts from kl)."""
    if s.absmax <= 0.0:
        return 0.0
    if method == "minmax":
        return s.absmax
    if method in ("kl", "eq"):
        return kl_threshold(s.histogram, s.absmax)
    if method == "percentile":
        return percentile_threshold(s.histogram, s.absmax)
    if method == "aciq":
        # Laplace(b) fitted to the non-zero values (post-ReLU zeros carry no spread)
        b = s.abs_sum / max(s.nonzero, 1)
        return min(ACIQ_LAPLACE_ALPHA_8BIT * b, s.absmax) if b > 0 else s.absmax
    raise ValueError(method)


def scale_from_threshold(threshold: float) -> np.float32:
    return np.float32(127.0 / threshold) if threshold > 0 else np.float32(1.0)


def percentile_threshold(histogram, absmax) -> float:
    total = int(histogram.sum())
    if total == 0:
        return absmax
    cum = np.cumsum(histogram)
    k = int(np.searchsorted(cum, total * PERCENTILE / 100.0))
    return (k + 1) * absmax / HISTOGRAM_BINS


def kl_threshold(histogram, absmax) -> float:
    """Entropy calibration: the threshold T (a histogram bin edge) whose 128-level
    quantization loses least information, min KL(P || Q) over t in [128, 2048) bins.

    P is the distribution clipped at t bins: the first t bins, the mass beyond
    folded into bin t-1. Q is what 128 levels can say about the same range: the t
    bins split into 128 equal-count groups (group j starts at bin ceil(j t / 128)),
    each group's unclipped mass m_j spread evenly over its n_j non-empty bins, then
    normalized. Clipping too early piles mass into P's last bin that Q does not
    have; clipping too late makes the groups coarse. With P_j the group masses of P
    and M the unclipped mass below t:
        KL = sum_i P_i log P_i - sum_j P_j log(m_j / (n_j M)),
    computed for every t at once from cumulative sums."""
    h = np.asarray(histogram, dtype=np.float64)
    total = h.sum()
    if total <= 0:
        return absmax
    n_bins = len(h)
    p = h / total
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0)
    cum_p = np.concatenate([[0.0], np.cumsum(p)])  # cum_p[i]: mass of bins < i
    cum_plogp = np.concatenate([[0.0], np.cumsum(plogp)])
    cum_nz = np.concatenate([[0], np.cumsum(h > 0)])

    t = np.arange(KL_TARGET_BINS, n_bins)  # candidate bin counts
    last = 1.0 - cum_p[t - 1]  # P's last bin: bin t-1 plus the clipped tail
    entropy = cum_plogp[t - 1] + np.where(last > 0, last * np.log(np.where(last > 0, last, 1)), 0.0)

    j = np.arange(KL_TARGET_BINS + 1)
    edges = (j[None, :] * t[:, None] + KL_TARGET_BINS - 1) // KL_TARGET_BINS  # group j: bins [edges[j], edges[j+1])
    m = np.diff(cum_p[edges], axis=1)  # unclipped group masses (Q before normalization)
    n = np.diff(cum_nz[edges], axis=1).astype(np.float64)
    n[:, -1] += (h[t - 1] == 0) & (last > 0)  # bin t-1 holds P's tail even where it was empty
    p_groups = m.copy()
    p_groups[:, -1] += 1.0 - cum_p[t]  # the tail belongs to P's last group
    unclipped = cum_p[t][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.log(m / (n * unclipped))
        cross = np.where(p_groups > 0, p_groups * log_q, 0.0)
    kl = entropy - cross.sum(axis=1)
    kl = np.where(np.isfinite(kl), kl, np.inf)  # a group holding only tail mass: Q cannot represent P there
    best = int(np.argmin(kl))  # the first of equal minima: the smaller threshold
    return (int(t[best]) + 0.5) * absmax / n_bins
