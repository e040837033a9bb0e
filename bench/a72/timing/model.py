"""From a profile to milliseconds: the parts of the timing model beyond the pipeline.

Per guest thread v, llvm-mca's block costs give its core cycles C_v over I_v
instructions (CPI_v = C_v / I_v, no cache misses: every load an L1 hit). The cache
simulation (tbprofile cache=1: the Pi 4B's 32 KB L1D per core, 1 MB shared L2) gives
each thread's L1 misses that hit L2 (M1) and its L2 misses (M2, lines from DRAM).
The run is cut into epochs at each thread wake-up (an OpenMP region's start or end
with passive waiting). Epoch e costs its slowest thread, and at least the time its
DRAM traffic needs at the memory's bandwidth:

    t_v,e   = I_v,e * CPI_v + a * M1_v,e + b_ns * f_GHz * M2_v,e          (cycles)
    T_e     = max( max_v t_v,e ,  64 B * sum_v M2_v,e / (bw_GBps / f_GHz) )
    ms      = sum_e T_e / (f_MHz * 1000)

a: cycles an L1 miss that hits L2 costs beyond llvm-mca's L1 latency; b_ns: what a
DRAM line costs a thread (latency less what prefetching and out-of-order execution
hide), in ns so that it scales with the clock; bw: the DRAM bandwidth all cores share.
They are fitted on a declared subset of the validation rows (validate.py) and fixed
here; nothing is fitted per network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

LINE_BYTES = 64


@dataclass(frozen=True)
class MemoryParams:
    l2_hit_cycles: float = 0.0   # a
    dram_ns: float = 0.0         # b_ns
    dram_gbps: float = 1e9       # bw (1e9: no bandwidth limit)

    def as_dict(self):
        return asdict(self)


# Fitted by `python -m bench.a72.timing.validate --fit` on the declared fit rows (see
# validate.FIT_RULE); the validation JSON records the values used and the fit's error.
A72_PI4B = MemoryParams(l2_hit_cycles=16.01, dram_ns=7.76, dram_gbps=2.81)
# The Pi 5 (Cortex-A76, LPDDR4X): fitted the same way on its own declared rows (pi5-2400,
# networks at even positions).
A76_PI5 = MemoryParams(l2_hit_cycles=9.20, dram_ns=0.28, dram_gbps=4.72)
PARAMS = {"cortex-a72": A72_PI4B, "cortex-a76": A76_PI5}
NO_MEMORY = MemoryParams()
# merge_late_cuts(): neighbouring epochs are priced as one where that costs at most this
# fraction of pricing them apart. Not the default (predict_ms(merge_gain=None)): the memory
# parameters above were fitted on epochs as cut, late cuts included, and with the merge the
# 4-thread validation rows come out a median 5.5 % lower and further from the published
# figures (bench/RESULTS.md, "Late epoch cuts"); phase_estimate() reports it beside "ms".
MERGE_GAIN = 0.9


def features(profile, phase: int, core: dict) -> dict:
    """What predict() needs from one profiled phase, per iteration, JSON-ready.
    core: cycles_of()'s result for the same phase (per-thread cycles and instructions)."""
    iterations = profile.marks.get(phase, 1) or 1
    n = profile.vcpus
    cache = profile.cache.get(phase)
    out = {"threads": [{"cycles": core["per_thread_cycles"][v], "insns": core["per_thread_insns"][v],
                        "l1_misses": cache["l1_misses"][v] / iterations if cache else None,
                        "l2_misses": cache["l2_misses"][v] / iterations if cache else None} for v in range(n)],
           "epochs": [[[e.insns[v] / iterations, e.l1_misses[v] / iterations, e.l2_misses[v] / iterations]
                       for v in range(n)] for e in profile.epochs if e.phase == phase],
           "cache_simulated": cache is not None}
    return out


def predict_ms(feat, clock_mhz: float, params: MemoryParams = A72_PI4B, balanced: bool = False,
               threads: int = 1, merge_gain: float | None = None) -> float:
    """Milliseconds per iteration (see the module docstring). feat: features(), or a
    plain list of per-thread core cycles (no memory, no epochs: the busiest thread).

    balanced: for thread pools that hand out work dynamically (onnxruntime, OpenCV):
    under emulation on a busy host their workers wake late and the caller takes most of
    the work, which an idle Pi's cores would share; an epoch in which several threads
    worked then costs its total work over the threads that worked in it (at most
    `threads`, the pool's size), not its busiest thread. (OpenMP's static schedules, as ncnn uses, split work the same way
    whatever the timing: there the busiest thread is right.)

    merge_gain: join epochs that a late cut split (merge_late_cuts) before pricing them;
    None: every epoch priced on its own."""
    if isinstance(feat, list):
        return (max(feat) if feat else 0.0) / (clock_mhz * 1e3)
    f_ghz = clock_mhz / 1e3
    per_thread = feat["threads"]
    cpi = [t["cycles"] / t["insns"] if t["insns"] else 0.0 for t in per_thread]
    dram_cycles = params.dram_ns * f_ghz
    bytes_per_cycle = params.dram_gbps / f_ghz

    def thread_cycles(v, insns, m1, m2):
        return insns * cpi[v] + params.l2_hit_cycles * max(m1 - m2, 0.0) + dram_cycles * m2

    epochs = feat.get("epochs") or []
    if not feat.get("cache_simulated"):
        return max((t["cycles"] for t in per_thread), default=0.0) / (clock_mhz * 1e3)
    if not epochs:  # one epoch: the whole phase
        epochs = [[[t["insns"], t["l1_misses"], t["l2_misses"]] for t in per_thread]]

    def cost(work, lines):
        active = sum(1 for w in work if w > 0)
        share = min(active, threads)
        busiest = max(sum(work) / share, max(work) / threads) if balanced and share > 1 else max(work)
        return max(busiest, LINE_BYTES * lines / bytes_per_cycle)

    stretches = [([thread_cycles(v, i, m1, m2) for v, (i, m1, m2) in enumerate(epoch)], sum(m2 for _, _, m2 in epoch))
                 for epoch in epochs]
    if merge_gain is not None:
        stretches = merge_late_cuts(stretches, cost, merge_gain)
    return sum(cost(work, lines) for work, lines in stretches) / (clock_mhz * 1e3)


def merge_late_cuts(stretches: list, cost, gain: float = MERGE_GAIN) -> list:
    """Joins neighbouring epochs that a late cut split: [(per-thread cycles, DRAM lines)]
    in run order -> the same, fewer.

    The plugin cuts an epoch when the waking thread's futex system call returns; under
    qemu on a busy host the threads it woke often run before that, so a parallel
    region's work lands partly (or wholly, for some threads) in the epoch before the
    cut, with the serial work that preceded it, and pricing each epoch by its slowest
    thread charges the region about twice. Which cuts come late varies from run to run
    of the same workload (bench/a72/timing/epochs.py shows it on repeat profiles).
    Priced as one, such a pair costs about half of the two priced apart, while a real
    boundary between a region and serial work costs the same either way whenever the
    thread that does the serial work is the region's busiest (it works on both sides).
    So a stretch is joined to the one before it when one price for both is at most
    `gain` times the two prices; a stretch in which only one thread works is never
    joined (a one-thread run is priced as before)."""
    out = []
    for work, lines in stretches:
        if out:
            prev_work, prev_lines = out[-1]
            joined = [a + b for a, b in zip(prev_work, work)]
            several = sum(1 for w in joined if w > 0) > 1
            if several and cost(joined, prev_lines + lines) <= gain * (cost(prev_work, prev_lines) + cost(work, lines)):
                out[-1] = (joined, prev_lines + lines)
                continue
        out.append((work, lines))
    return out
