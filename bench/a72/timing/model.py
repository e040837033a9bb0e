"""From per-thread cycles (the block model's sum) to milliseconds: the parts of the
timing model beyond the pipeline (threads; memory where validation asked for it)."""

from __future__ import annotations


def predict_ms(per_thread_cycles: list, clock_mhz: float, cpu: str = "cortex-a72", threads: int = 1) -> float:
    """Wall time of one iteration: the busiest thread's cycles at the clock. With a passive
    OpenMP wait policy a thread waiting at a barrier executes (almost) nothing, so the
    busiest thread's work is the critical path when the work is evenly split."""
    busiest = max(per_thread_cycles) if per_thread_cycles else 0.0
    return busiest / (clock_mhz * 1e3)
