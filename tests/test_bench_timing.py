"""facedge bench: thread counts, pinning, wait policy and the statistics of samples."""

import numpy as np
import pytest

from facedge.bench.timing import cores_for, parse_threads, summarize, wait_policy_for
from facedge.base.errors import FacedgeError


@pytest.mark.parametrize("text,expected", [("1", [1]), ("4", [1, 2, 3, 4]), ("1,2,4", [1, 2, 4]),
                                           ("4,2,2", [2, 4]), (" 3 ", [1, 2, 3]), (2, [1, 2])])
def test_thread_counts(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text,message", [
    ("0", "--threads 0: thread counts must be 1 or more, got 0"),
    ("-2", "--threads -2: thread counts must be 1 or more, got -2"),
    ("1,0,2", "--threads 1,0,2: thread counts must be 1 or more, got 0"),
    ("two", "--threads two: expected a thread count such as 4 (meaning 1..4) or a list such as 1,2,4"),
    ("1,,2", "--threads 1,,2: expected a thread count"),
])
def test_bad_thread_counts(text, message):
    with pytest.raises(FacedgeError, match="^" + message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        parse_threads(text)


def test_threads_pin_to_the_first_allowed_cores():
    allowed = [2, 3, 6, 7]
    assert cores_for(1, allowed) == [2]
    assert cores_for(3, allowed) == [2, 3, 6]
    assert cores_for(6, allowed) == allowed  # more threads than cores: they share all of them
    assert wait_policy_for(4, allowed) == "ACTIVE"
    assert wait_policy_for(5, allowed) == "PASSIVE"


def test_summary_statistics():
    rng = np.random.default_rng(1)
    total = list(rng.uniform(5, 9, size=37))
    stages = {"preprocess": [0.5] * 37, "inference": list(np.array(total) - 1), "postprocess": [0.25, 0.75] * 18 + [0.25]}
    s = summarize({"total": total, "stages": stages})
    assert s["repeats"] == 37
    assert s["min_ms"] == pytest.approx(min(total), abs=1e-4)
    assert s["median_ms"] == pytest.approx(sorted(total)[18], abs=1e-4)
    assert s["p90_ms"] == pytest.approx(np.percentile(total, 90), abs=1e-4)
    assert s["min_ms"] <= s["median_ms"] <= s["p90_ms"]
    assert s["fps"] == pytest.approx(1000 / s["median_ms"], rel=1e-3)
    assert s["stages_ms"] == {"preprocess": 0.5, "inference": pytest.approx(sorted(total)[18] - 1, abs=1e-4),
                              "postprocess": 0.25}


def test_a_stage_a_runtime_does_not_report_is_null():
    s = summarize({"total": [2.0, 4.0], "stages": {"inference": [1.0, 3.0]}})
    assert s["stages_ms"] == {"preprocess": None, "inference": 2.0, "postprocess": None}
    assert s["median_ms"] == 3.0
