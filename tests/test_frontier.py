"""bench/a72/frontier's own logic, fast: which sizes stand for the frontier's sizes, the
Pareto front, the budget table. (The measurements themselves are in bench/RESULTS.md.)"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # bench/a72 is a development tool, not installed; appended so facedge stays the installed one

from bench.a72 import frontier, frontier_report  # noqa: E402


def _row(model, ms1, medium, precision="fp32", size=(320, 240)):
    return {"model": model, "precision": precision, "size": list(size), "asked": list(size),
            "ap": {"easy": medium, "medium": medium, "hard": medium}, "cost": {"1": ms1, "4": ms1 / 3}}


def test_pareto_front_keeps_only_unbeaten_rows():
    rows = [_row("a", 10, 0.70), _row("b", 20, 0.80), _row("c", 25, 0.75), _row("d", 20, 0.80, "int8"),
            _row("e", 40, 0.90), {**_row("peer", 1, 0.99), "cost": None}]
    front = frontier_report.pareto(rows, 1)
    # c costs more than b for less AP; b and d tie (neither beats the other); the peer has no cost
    assert [(r["model"], r["precision"]) for r in front] == [("a", "fp32"), ("b", "fp32"), ("d", "int8"), ("e", "fp32")]


def test_pareto_front_leaves_the_peer_out():
    rows = [_row("a", 10, 0.70), {**_row("OpenCV YuNet", 5, 0.90), "peer": True}]
    assert [r["model"] for r in frontier_report.pareto(rows, 1)] == ["a"]


def test_budget_table_picks_the_most_accurate_model_within_each_budget():
    rows = [_row("a", 9, 0.70), _row("b", 35, 0.80), _row("c", 150, 0.90), _row("d", 159, 0.901),
            {**_row("OpenCV YuNet", 1, 0.99), "peer": True}]
    lines = frontier_report.budget_table(rows, [1]).splitlines()
    assert lines[2] == "| 10 ms | a fp32 320x240: 0.700 (9 ms) |"
    assert lines[4] == "| 40 ms | b fp32 320x240: 0.800 (35 ms) |"
    assert lines[6] == "| 160 ms | c fp32 320x240: 0.900 (150 ms) |"  # d is no better than c within 0.002, and dearer


def test_goal_is_checked_at_each_peer_cost():
    peer = lambda ms, ap, size: {**_row("OpenCV YuNet", ms, ap, size=size), "peer": True}  # noqa: E731
    rows = [_row("a", 8, 0.60, size=(160, 120)), _row("b", 30, 0.80), _row("c", 45, 0.86, "int8"),
            peer(10, 0.62, (160, 120)), peer(40, 0.85, (320, 240)), peer(5, 0.50, (128, 96))]
    goal = frontier_report.goal_rows(rows, 1)
    assert [g["budget"] for g in goal] == [5, 10, 40]           # in the peer's cost order
    assert goal[0]["best"] is None and goal[0]["margin"] is None  # nothing of facedge's fits in 5 ms
    assert goal[1]["best"]["model"] == "a" and goal[1]["margin"] == -0.02
    # within 40 ms facedge has b (0.80): 0.05 short; c matches the peer's 0.85 but needs 45 ms
    assert goal[2]["best"]["model"] == "b" and goal[2]["margin"] == -0.05
    assert goal[2]["cheapest_as_accurate"]["model"] == "c"
    table = frontier_report.goal_table(rows, [1]).splitlines()
    assert table[4] == ("| 1 | 320x240 | 40.0 | 0.850 / 0.850 / 0.850 | b fp32 320x240 | 30.0 | -0.050 / -0.050 / -0.050 "
                        "| c int8 320x240 | 45.0 |")


@pytest.mark.parametrize("family,asked,expected", [
    ("retinaface-mnet", (320, 240), ((320, 224), (320, 224))),    # multiples of 32: the nearest smaller
    ("blazeface-fpn-ssh", (480, 360), ((480, 352), (480, 352))),  # multiples of 16
    ("ultraface-rfb", (160, 120), ((160, 120), (160, 120))),
    ("yunet-s", (320, 240), ((320, 240), (320, 256))),            # taken as asked, padded for the network
])
def test_fit_size(family, asked, expected):
    pytest.importorskip("facedge._core", reason="facedge's C++ runtime is not built")
    assert frontier.fit_size(family, asked) == expected


def _workload_spec(model_dir, frame, **extra):
    from bench.a72.timing import apply

    return {"runtime": "facedge", "model": apply.model_spec(model_dir), "frame": str(frame), "threads": [1],
            "warmup": 0, "iterations": 1, "score_threshold": 0.6, "iou_threshold": 0.3, **extra}


def test_guest_workload_measures_each_size_asked_as_a_phase(tmp_path, model_dir, demo_images):
    """The frontier's guest job: facedge detect() only, at each size (run here on x86: the
    phase markers are a system call x86 refuses harmlessly)."""
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    from bench.a72.timing import guest_workload

    frame = tmp_path / "frame.npy"
    np.save(frame, cv2.imread(str(demo_images[0])))
    out = guest_workload.measure(_workload_spec(model_dir, frame, sizes=[[160, 120], [640, 480]], rows=["facedge"]))
    assert out["phases"] == {1: {"row": "facedge", "threads": 1, "size": [160, 120]},
                             2: {"row": "facedge", "threads": 1, "size": [640, 480]}}
    # the detector really ran at each size: a 4x larger input finds more of the crowd's faces
    assert out["faces"]["facedge 640x480"] > out["faces"]["facedge 160x120"]


def test_guest_workload_refuses_more_phases_than_the_profiler_marks(tmp_path, model_dir):
    from bench.a72.timing import guest_workload

    spec = _workload_spec(model_dir, tmp_path / "unused.npy", threads=[1, 2, 3, 4],
                          sizes=[[160, 120], [320, 240], [480, 360], [640, 480]], rows=["facedge"])
    with pytest.raises(ValueError, match="more than the 15 phases"):
        guest_workload.measure(spec)
    with pytest.raises(ValueError, match=r"rows \['onnx'\]: facedge measures facedge, ncnn-bare, ncnn-python"):
        guest_workload.measure({**spec, "threads": [1], "rows": ["onnx"]})


def test_goal_can_use_the_peers_cost_as_profiled():
    peer = {**_row("OpenCV YuNet", 40, 0.85), "peer": True, "cost_detail": {"1": {"as_profiled_ms": 50.0}}}
    rows = [_row("b", 30, 0.80), _row("c", 45, 0.86), peer]
    assert frontier_report.goal_rows(rows, 1)[0]["best"]["model"] == "b"                    # 40 ms: c does not fit
    assert frontier_report.goal_rows(rows, 1, as_profiled=True)[0]["best"]["model"] == "c"  # 50 ms: it does


def test_goal_gaps_are_the_budgets_where_the_peer_is_more_accurate():
    peer = lambda ms, ap: {**_row("OpenCV YuNet", ms, ap), "peer": True}  # noqa: E731
    rows = [_row("a", 5, 0.60), _row("a2", 22, 0.70), _row("b", 25, 0.80), _row("c", 60, 0.90), peer(4, 0.50),
            peer(20, 0.80), peer(50, 0.899)]
    # below 5 ms facedge has nothing; from 20 ms the peer's 0.80 needs b (25 ms: a2 on the way is one gap with it);
    # 0.899 is matched within the tie by c
    assert frontier_report.goal_gaps(rows, 1) == [(4, 5, 0.50, None), (20, 25, 0.80, 0.70), (50, 60, 0.899, 0.80)]
    assert frontier_report.goal_summary(rows, [1]).startswith("- 1 thread: fails for budgets of 4.0-5.0 ms "
                                                             "(OpenCV's YuNet 0.500, facedge nothing)")
    assert frontier_report.goal_gaps([_row("a", 5, 0.60), peer(10, 0.601)], 1) == []  # within 0.002: a tie
