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
    assert out["float_storage"] == "fp32"


@pytest.mark.parametrize("bf16,storage", [("on", "bf16"), ("off", "fp32")])
def test_guest_workload_runs_the_bf16_storage_asked(tmp_path, model_dir, demo_images, bf16, storage):
    """A frontier bf16 row's guest job runs facedge with bf16 storage, and says so (the
    host refuses a cost whose storage is not the row's)."""
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    from bench.a72.timing import guest_workload

    frame = tmp_path / "frame.npy"
    np.save(frame, cv2.imread(str(demo_images[0])))
    out = guest_workload.measure(_workload_spec(model_dir, frame, sizes=[[160, 120]], rows=["facedge"], bf16=bf16))
    assert out["float_storage"] == storage and out["faces"]["facedge"] > 0


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
    # the goal over facedge's default rows only: without the bf16 row that closes the gap
    rows = [_row("b", 25, 0.80), _row("b", 18, 0.80, "bf16"), peer(20, 0.80)]
    assert frontier_report.goal_summary(rows, [1]) == "- 1 thread: holds at every budget (Medium AP within 0.002 or better)."
    assert frontier_report.goal_summary(rows, [1], precisions=("fp32", "int8")) == (
        "- 1 thread, facedge's fp32 and int8 rows only: fails for budgets of 20.0-25.0 ms (OpenCV's YuNet 0.800, "
        "facedge nothing); holds at every other budget.")


def test_precisions_are_each_model_directory_with_fp32_and_bf16_storage():
    assert frontier.precisions_of("fp32") == [("fp32", "off"), ("bf16", "on")]
    assert frontier.precisions_of("int8") == [("int8", "off"), ("int8+bf16", "on")]
    assert frontier.precisions_of("fp16") == [("fp16", "off")]  # runs as it is
    assert frontier.parse_precisions("bf16,int8+bf16") == ["bf16", "int8+bf16"]
    with pytest.raises(Exception, match="unknown precision 'int4': expected some of fp32, bf16, int8, int8[+]bf16"):
        frontier.parse_precisions("fp32,int4")


def test_guest_answer_must_show_the_storage_asked():
    from bench.a72.frontier_cost import check_storage
    from facedge.base.errors import FacedgeError

    check_storage({"float_storage": "bf16"}, "on", "m")
    check_storage({"float_storage": "fp32"}, "off", "m")
    check_storage({}, None, "the peer")  # OpenCV: no facedge storage to check
    with pytest.raises(FacedgeError, match="m: asked bf16 on, the guest's facedge stored floats as fp32"):
        check_storage({"float_storage": "fp32"}, "on", "m")
    with pytest.raises(FacedgeError, match="asked bf16 off, the guest's facedge stored floats as bf16"):
        check_storage({"float_storage": "bf16"}, "off", "m")
    with pytest.raises(FacedgeError, match="stored floats as None"):  # an older wheel's workload that says nothing
        check_storage({}, "on", "m")


def test_a_profile_is_named_by_what_it_depends_on(tmp_path, model_dir):
    from types import SimpleNamespace

    from bench.a72.timing import apply

    args = SimpleNamespace(work=tmp_path, yunet=None)
    spec = apply.model_spec(model_dir)
    path = lambda fingerprint="w1", **extra: apply.job_profile(args, "facedge", spec, tmp_path / "f.npy", [1, 4],  # noqa: E731
                                                               fingerprint, {"sizes": [[320, 240]], **extra})[1]
    assert path(bf16="on") == path(bf16="on") and path(bf16="on").parent == tmp_path / "profiles"
    assert path(bf16="on") != path(bf16="off")            # another row
    assert path("w2", bf16="on") != path(bf16="on")       # another wheel
    before = path(bf16="on")
    (model_dir / "model.bin").write_bytes((model_dir / "model.bin").read_bytes()[:-4] + bytes(4))
    assert path(bf16="on") != before                      # the same folder, other weights


def _convert_output(tmp_path, reference_ultraface):
    """A convert output with fp32/ (the upstream RFB-320) and an int8/ beside it (planning
    reads only its facedge.json)."""
    import json
    import shutil

    from conftest import write_reference_model_dir

    out = tmp_path / "rfb"
    write_reference_model_dir(out / "fp32", reference_ultraface)
    shutil.copytree(out / "fp32", out / "int8")
    info = json.loads((out / "int8" / "facedge.json").read_text())
    (out / "int8" / "facedge.json").write_text(json.dumps({**info, "precision": "int8"}))
    return out


def _args(tmp_path, out, **kw):
    from types import SimpleNamespace

    return SimpleNamespace(**{"model": [out], "sizes": [(320, 240)], "yunet": None, "precisions": None, "threads": [1],
                              "work": tmp_path / "work", "cached_only": False, "rootfs": None, "guest_pythonpath": None,
                              "image": None, "clock_mhz": 1500, "jobs": 1, "wider": None, **kw})


def test_plan_gives_four_precisions_and_keeps_what_was_measured(tmp_path, reference_ultraface):
    pytest.importorskip("facedge._core", reason="facedge's C++ runtime is not built")
    from bench.a72.frontier_cost import MEASURE

    out = _convert_output(tmp_path, reference_ultraface)
    store = frontier.Store(tmp_path / "frontier.json", MEASURE)
    # a row of an older run: no bf16 field yet, its AP and cost kept
    store.data["rfb|fp32|320x240"] = {"model": "rfb", "precision": "fp32", "ap": {"medium": 0.7}, "cost": {"1": 9.0}}
    planned, priority = frontier.plan_rows(_args(tmp_path, out), store)
    rows = {k: r for k, r, _ in planned}
    assert sorted(rows, key=priority.get) == ["rfb|fp32|320x240", "rfb|bf16|320x240", "rfb|int8|320x240",
                                              "rfb|int8+bf16|320x240"]
    assert [(r["model_precision"], r["bf16"]) for r in rows.values()] == [("fp32", "off"), ("fp32", "on"),
                                                                         ("int8", "off"), ("int8", "on")]
    assert rows["rfb|fp32|320x240"]["ap"] == {"medium": 0.7} and rows["rfb|fp32|320x240"]["cost"] == {"1": 9.0}
    assert rows["rfb|bf16|320x240"]["cost"] == {} and "ap" not in rows["rfb|bf16|320x240"]
    planned, _ = frontier.plan_rows(_args(tmp_path, out, precisions=["bf16"]), store)
    assert [k for k, _, _ in planned] == ["rfb|bf16|320x240"]


def _stored(work, rows):
    import json

    from bench.a72.frontier_cost import MEASURE

    work.mkdir(parents=True, exist_ok=True)
    (work / "frontier.json").write_text(json.dumps({"_measure": MEASURE, **rows}))


def test_a_cost_from_another_wheel_is_measured_again(tmp_path, reference_ultraface, monkeypatch):
    """A row whose kept profile is not the one its guest job would get now (another
    aarch64 wheel, workload, model files) is costed again; a current one is not; a stale
    cost whose new run fails is not shown."""
    pytest.importorskip("facedge._core", reason="facedge's C++ runtime is not built")
    from bench.a72 import frontier_cost
    from bench.a72.timing.estimate import model_version
    from facedge.base.errors import FacedgeError

    out = _convert_output(tmp_path, reference_ultraface)
    args = _args(tmp_path, out, precisions=["fp32", "bf16", "int8"])
    ap = {"easy": 0.8, "medium": 0.7, "hard": 0.4}
    row = lambda ms, profile: {"ap": ap, "cost": {"1": ms}, "profile": profile, "cost_model": model_version(),  # noqa: E731
                               "ap_build": frontier.ap_build(out / ("int8" if profile.startswith("profiles/int8") else "fp32"))}
    _stored(args.work, {"rfb|fp32|320x240": row(9.0, "profiles/off-old.txt.gz"),
                        "rfb|bf16|320x240": row(7.0, "profiles/on-now.txt.gz"),
                        "rfb|int8|320x240": row(8.0, "profiles/int8-old.txt.gz")})
    runs = []

    class Cost:  # what A72Cost does, without a guest
        def __init__(self, *a, **k):
            pass

        def profile_of(self, d, size, bf16):
            return f"profiles/{'int8' if d.name == 'int8' else bf16}-now.txt.gz"

        def model_cost(self, d, size, bf16):
            runs.append((d.name, bf16))
            if d.name == "int8":
                raise FacedgeError("the guest run failed")
            return {"cost": {"1": 5.0}, "profile": self.profile_of(d, size, bf16), "cost_model": model_version()}

    monkeypatch.setattr(frontier_cost, "A72Cost", Cost)
    rows = {r["precision"]: r for r in frontier.measure(args)}
    assert sorted(runs) == [("fp32", "off"), ("int8", "off")]  # the bf16 row's profile is current
    assert rows["fp32"]["cost"] == {"1": 5.0} and rows["fp32"]["profile"] == "profiles/off-now.txt.gz"
    assert rows["bf16"]["cost"] == {"1": 7.0}
    assert rows["int8"]["cost"] == {} and rows["int8"]["stale_cost"] == {"1": 8.0}  # "not costed" in the tables
    assert "not costed" in frontier_report.table(list(rows.values()), [1], "ms")


def test_the_rows_a_pi4_user_gets_by_default():
    assert frontier.pi4_default_precisions("off") == ("fp32", "int8")
    assert frontier.pi4_default_precisions("auto") == ("bf16", "int8+bf16")
    assert frontier.pi4_default("off").endswith("fp32 storage: the fp32 and int8 rows.")
    assert frontier.pi4_default("auto").endswith("bf16 storage: the bf16 and int8+bf16 rows.")  # a Pi 4 has no fp16
    assert frontier.pi4_default("on").endswith("bf16 storage: the bf16 and int8+bf16 rows.")
    with pytest.raises(Exception, match="default bf16 mode 'maybe'"):
        frontier.pi4_default("maybe")


def test_an_ap_measured_by_another_build_is_measured_again(tmp_path, reference_ultraface, monkeypatch):
    pytest.importorskip("facedge._core", reason="facedge's C++ runtime is not built")
    from bench.a72 import frontier_cost

    out = _convert_output(tmp_path, reference_ultraface)
    args = _args(tmp_path, out, precisions=["fp32", "bf16"], cached_only=True)
    here = frontier.ap_build(out / "fp32")
    assert here.startswith("facedge core ") and here == frontier.ap_build(out / "fp32")
    assert frontier.ap_build(None).startswith("opencv ")  # the peer's
    # the same core, other model files (the int8 folder's facedge.json says int8): another AP
    assert frontier.ap_build(out / "int8").split(",")[0] == here.split(",")[0] and frontier.ap_build(out / "int8") != here
    ap = {"easy": 0.8, "medium": 0.7, "hard": 0.4}
    from bench.a72.timing.estimate import model_version

    costed = {"profile": "profiles/p.txt.gz", "cost_model": model_version()}
    _stored(args.work, {"rfb|fp32|320x240": {"ap": ap, "cost": {"1": 9.0}, "ap_build": here.replace("model ", "model 0"),
                                             **costed},
                        "rfb|bf16|320x240": {"ap": ap, "cost": {"1": 7.0}, "ap_build": here, **costed}})
    measured = []
    monkeypatch.setattr(frontier, "wider_ap", lambda d, size, val, bf16: measured.append(bf16) or {**ap, "medium": 0.75})
    monkeypatch.setattr(frontier_cost, "A72Cost", None)  # --cached-only: nothing measured
    assert len(frontier.measure(args)) == 2 and measured == []
    args.cached_only = False

    class Cost:  # every cost current
        def __init__(self, *a, **k):
            pass

        def profile_of(self, d, size, bf16):
            return "profiles/p.txt.gz"

    monkeypatch.setattr(frontier_cost, "A72Cost", Cost)
    monkeypatch.setattr("facedge.bench.wider.gt.load_wider_val", lambda root: "val")
    rows = {r["precision"]: r for r in frontier.measure(args)}
    assert measured == ["off"] and rows["fp32"]["ap"]["medium"] == 0.75 and rows["fp32"]["ap_build"] == here
    assert rows["bf16"]["ap"]["medium"] == 0.7


def test_ap_runs_resize_as_the_costed_detect_does():
    """A row's AP and its milliseconds are of one configuration: the guest's detect()
    (bench.peers.FacedgeRunner) runs the Detector's default resize, the AP runs
    FACEDGE_RESIZE, which must be that default."""
    import inspect

    from facedge import Detector
    from facedge.bench import peers

    assert inspect.signature(Detector).parameters["resize"].default == frontier.FACEDGE_RESIZE
    assert "resize" not in inspect.getsource(peers.FacedgeRunner.__init__)  # the Detector's default, then


def test_pi_ap_replaces_the_x86_ap_of_rows_measured_on_the_a72(tmp_path):
    from bench.a72 import frontier_pi_ap

    peer = {**_row("OpenCV YuNet", 16.5, 0.792), "peer": True}
    rows = [peer, _row("yunet_s", 30, 0.783), _row("yunet_s", 14.6, 0.794, "bf16"), _row("yunet_s", 15.9, 0.793, "int8+bf16"),
            _row("yunet_n", 19.3, 0.845, "bf16")]
    (tmp_path / "yunet_s-bf16-320x240").mkdir()
    (tmp_path / "yunet_s-int8bf16-320x240").mkdir()
    (tmp_path / "OpenCV YuNet-fp32-320x240").mkdir()  # the peer and fp32 rows keep their x86 AP
    (tmp_path / "yunet_s-fp32-320x240").mkdir()
    a72 = {"yunet_s-bf16-320x240": 0.784, "yunet_s-int8bf16-320x240": 0.7926}
    out, done = frontier_pi_ap.with_pi_ap(rows, tmp_path, lambda f: {s: a72[f.name] for s in ("easy", "medium", "hard")})
    assert sorted(done) == sorted(a72)
    assert [r["ap"]["medium"] for r in out] == [0.792, 0.783, 0.784, 0.7926, 0.845]
    assert out[2]["ap_x86"]["medium"] == 0.794 and out[2]["ap_a72"]["medium"] == 0.784
    # ranked by the A72 AP: at the peer's 16.5 ms (x 1/3 at 4 threads here) yunet_s bf16 no longer ties, int8+bf16 does
    assert frontier_report.best_within(out, 1, 16.5)["precision"] == "int8+bf16"
