"""The board cost model that chooses mixed precision (calibration/costs.py): the
shipped tables, how an int8 model is priced (boundaries included), --target, and
what happens where a table lacks a layer class or int8 saves nothing."""

import json
import shutil

import numpy as np
import pytest

from facedge.calibration import costs
from facedge.calibration.costs import CostTable, ModelCosts, blob_shapes_of, resolve_target
from facedge.calibration.graph import fuse_activations, quantizable_layers
from facedge.calibration.int8_model import build_int8_model
from facedge.calibration.ncnn_model import read_model
from facedge.calibration.table import LayerScales
from facedge.base.errors import FacedgeError

from conftest import write_reference_model_dir


@pytest.fixture(scope="module")
def rfb_dir(reference_ultraface, tmp_path_factory):
    return write_reference_model_dir(tmp_path_factory.mktemp("rfb") / "fp32", reference_ultraface)


@pytest.fixture(scope="module")
def rfb(rfb_dir):
    fp32 = read_model(rfb_dir / "model.param", rfb_dir / "model.bin")
    fused = fp32.copy()
    fuse_activations(fused, {"scores", "boxes"})
    names = sorted({t for layer in fused.layers for t in (*layer.bottoms, *layer.tops)})
    return fp32, fused, blob_shapes_of(rfb_dir, names)


def synthetic_table(**changes):
    """fp32 costs 4 per multiply-add, int8 2 (1 more per output element when it
    requantizes... no: 1 less), the quantize pass 3 per element, other layers 1."""
    classes = {c: {"fp32": [0, 4, 0, 0], "int8": [0, 2, 0, 0], "int8_rq": [0, 2, 0, -1]}
               for c in ("conv1x1", "conv3x3s1", "conv3x3s2", "conv3x3dil", "dw3x3s1", "dw3x3s2", "conv_any", "dw_any")}
    d = dict(cpu="test-cpu", unit="test units", clock_ghz=1.0, cycles_per_unit=1.0, classes=classes, quantize=[0, 3],
             other_per_element=1.0, default_class={"Convolution": "conv_any", "ConvolutionDepthWise": "dw_any"})
    d.update(changes)
    return CostTable(**d)


def scales_for(fp32, names=None):
    return {q.name: LayerScales(np.ones(q.groups, np.float32), np.float32(1.0)) for q in quantizable_layers(fp32)
            if names is None or q.name in names}


@pytest.mark.parametrize("target,cpu", [("pi4", "cortex-a72"), ("pi5", "cortex-a76")])
def test_targets_name_their_cpu_and_the_tables_ship(target, cpu, rfb):
    assert resolve_target(target) == cpu
    table = CostTable.load(cpu)
    assert table.cpu == cpu and table.clock_ghz > 0 and ("cycles" in table.unit or "instructions" in table.unit)
    fp32, fused, shapes = rfb
    est = ModelCosts(table, fused, shapes, {"scores", "boxes"}).estimate(None)
    assert est.fallbacks == {}  # every layer class of the default model is in the table
    assert est.total > 0 and est.total_4 < est.total


def test_unknown_target_is_refused():
    with pytest.raises(FacedgeError, match=r"--target: expected one of pi4, pi5, this-machine, got 'pi3'"):
        resolve_target("pi3")


def test_this_machine_without_a_table_says_which_to_pass(monkeypatch):
    monkeypatch.setattr(costs, "_this_cpu", lambda: None)
    with pytest.raises(FacedgeError, match=r"--target this-machine: no cost table for this CPU .*pi4 \(cortex-a72\)"):
        resolve_target("this-machine")


def test_an_int8_model_is_priced_with_its_boundaries(rfb):
    fp32, fused, shapes = rfb
    mc = ModelCosts(synthetic_table(shapes={}), fused, shapes, {"scores", "boxes"})
    fp32_cost = mc.estimate(None)
    macs = sum(s.macs for s in mc.layers.values())
    assert fp32_cost.total == pytest.approx(4 * macs + mc.other_elements)
    int8_model, notes = build_int8_model(fp32, scales_for(fp32), {"scores", "boxes"})
    est = mc.estimate(int8_model)
    requantizing = {name for name, _ in notes["requantized"]}
    fed_int8 = {r for _, readers in notes["requantized"] for r in readers}
    expected = mc.other_elements
    for name, s in mc.layers.items():
        expected += 2 * s.macs - (s.out_elems if name in requantizing else 0) + (0 if name in fed_int8 else 3 * s.in_elems)
    assert est.total == pytest.approx(expected)
    rows = {r["layer"]: r for r in est.layers}
    assert all(rows[n]["output"] == "int8" for n in requantizing) and all(rows[n]["input"] == "int8" for n in fed_int8)
    # one layer in float: it costs fp32, and the int8 layer after it quantizes its input again
    first = next(iter(fed_int8))
    producer = next(p for p, readers in notes["requantized"] if first in readers)
    mixed_model, _ = build_int8_model(fp32, {k: v for k, v in scales_for(fp32).items() if k != producer},
                                      {"scores", "boxes"})
    mixed_rows = {r["layer"]: r for r in mc.estimate(mixed_model).layers}
    assert mixed_rows[producer]["precision"] == "fp32" and mixed_rows[first]["input"] == "float"


def test_a_float_reader_of_an_int8_depthwise_layer_pays_the_repack(rfb):
    """ncnn's int8 depthwise convolution writes a float output packed by 8; an fp32 reader
    on the A72 repacks it element by element: priced per reader where the table has it."""
    fp32, fused, shapes = rfb
    protected = {"scores", "boxes"}
    mc = ModelCosts(synthetic_table(shapes={}, repack_float_pack8=[100, 7]), fused, shapes, protected)
    plain = ModelCosts(synthetic_table(shapes={}), fused, shapes, protected)
    by_name = {layer.name: layer for layer in fused.layers}
    consumers = fused.consumers()
    dw, reader = next((q.name, fused.layers[consumers[by_name[q.name].tops[0]][0][0]].name)
                      for q in quantizable_layers(fused) if q.type == "ConvolutionDepthWise" and q.num_output % 8 == 0)
    all8, _ = build_int8_model(fp32, scales_for(fp32), protected)
    mixed, _ = build_int8_model(fp32, {k: v for k, v in scales_for(fp32).items() if k != reader}, protected)
    assert mc.estimate(all8).total == pytest.approx(plain.estimate(all8).total)  # int8 readers: requantized, no repack
    row = {r["layer"]: r for r in mc.estimate(mixed).layers}[dw]
    assert row["output"] == "float" and row["repack"] == 100 + 7 * mc.layers[dw].out_elems
    assert mc.estimate(mixed).total == pytest.approx(plain.estimate(mixed).total + row["repack"])
    # what quantize prices candidates with: the structure alone, the same estimate
    shape_only, _ = build_int8_model(fp32, {k: v for k, v in scales_for(fp32).items() if k != reader}, protected,
                                     structure_only=True)
    assert mc.estimate(shape_only).total == mc.estimate(mixed).total
    assert CostTable.load("cortex-a72").repack_float_pack8[1] > 10  # the A72's: tens of cycles per element
    assert CostTable.load("cortex-a76").repack_float_pack8 is None  # the A76's fp16 layers read 8 lanes as they are


def test_cost_ranking_prices_each_step_in_context():
    """Floating x (sensitive) makes its int8 producer d cost more than it saves (the repack
    behind it): d follows x at once, before the next layer by error per unit saved."""
    from facedge.calibration.mixed import cost_ranking

    def cost_of(float_names):
        f = set(float_names)
        i8 = {n for n in "dxy" if n not in f}
        return 100 - 1 * ("d" in i8) - 10 * ("x" in i8) - 5 * ("y" in i8) + 4 * ("d" in i8 and "x" in f)

    free, ranked = cost_ranking({n: None for n in "dxy"}, {"d": 0.01, "x": 1.0, "y": 0.2}, cost_of)
    assert free == [] and ranked == ["x", "d", "y"]


def test_a_missing_layer_class_falls_back_and_says_so(rfb):
    fp32, fused, shapes = rfb
    table = synthetic_table(shapes={})
    del table.classes["dw3x3s2"]
    est = ModelCosts(table, fused, shapes, {"scores", "boxes"}).estimate(None)
    assert est.fallbacks == {"dw3x3s2": "dw_any"}
    assert est.to_json()["fallbacks"] == {"dw3x3s2": "dw_any"}


def test_measured_shapes_win_over_the_fit(rfb):
    fp32, fused, shapes = rfb
    mc = ModelCosts(synthetic_table(shapes={}), fused, shapes, {"scores", "boxes"})
    name, s = next(iter(mc.layers.items()))
    exact = ModelCosts(synthetic_table(shapes={s.key: {"fp32": 7.0, "int8": 5.0, "int8_rq": 4.0}}), fused, shapes,
                       {"scores", "boxes"})
    assert exact.layer_cost(name, "fp32") == (7.0, "measured")
    assert mc.layer_cost(name, "fp32") == (4.0 * s.macs, "fitted")


def test_no_layer_worth_quantizing_is_refused_before_any_work(rfb_dir, demo_images, tmp_path, monkeypatch):
    from facedge.calibration.quantize import quantize

    slower = synthetic_table(classes={c: {"fp32": [0, 1, 0, 0], "int8": [0, 2, 0, 0], "int8_rq": [0, 2, 0, 0]}
                                      for c in ("conv_any", "dw_any")}, shapes={})
    monkeypatch.setattr(CostTable, "load", classmethod(lambda cls, cpu, path=None: slower))
    out = tmp_path / "out"
    with pytest.raises(FacedgeError, match=r"no layer is worth quantizing for --target pi4 \(test-cpu\).*use the fp32 model"):
        quantize(rfb_dir, out, calib=demo_images[0].parent, count=2, eval_dir=False)
    assert not out.exists()


def test_the_summary_recommends_fp32_where_int8_does_not_pay():
    from facedge.calibration.summary import target_lines

    t = {"board": "pi4", "cpu": "cortex-a72", "clock_ghz": 1.5, "fp32_ms": {"1": 30.0, "4": 8.0},
         "int8_ms": {"1": 31.0, "4": 8.2}, "ratio": {"1": 1.033, "4": 1.025}, "pays": False,
         "fallbacks": {"conv_5x5s1d1": "conv_any"}}
    lines = target_lines({"target": t, "model": {"fp32": "/m/fp32"}})
    assert lines[0].startswith("estimated on pi4 (cortex-a72 at 1.5 GHz")
    assert "no 'conv_5x5s1d1' layers; priced as 'conv_any'" in lines[1]
    assert lines[2] == "int8 does not pay on pi4 (1.03 / 1.02 of fp32's time at 1 / 4 threads): recommend the fp32 model (/m/fp32)"
    paying = dict(t, pays=True, fallbacks={}, ratio={"1": 0.69, "4": 0.765}, pays_at={"1": True, "4": True})
    assert target_lines({"target": paying, "model": {"fp32": "/m/fp32"}})[1] == \
        "int8 pays on pi4: 0.69 / 0.77 of fp32's time at 1 / 4 threads"
    one = dict(paying, ratio={"1": 0.82, "4": 0.99}, pays_at={"1": True, "4": False})
    assert target_lines({"target": one, "model": {"fp32": "/m/fp32"}})[1] == (
        "int8 pays on pi4 at 1 thread only (0.82 / 0.99 of fp32's time at 1 / 4 threads): at 4 threads use the fp32 "
        "model (/m/fp32)")


def test_cost_ranking_floats_free_layers_first_then_error_per_unit_saved():
    from facedge.calibration.mixed import cost_ranking

    # int8 saves a 10 and b 1; c is slower in int8 (+2); d saves 0.5 reading c's int8
    # output, but pays a quantize pass of 1 once c is float
    def cost_of(float_names):
        f = set(float_names)
        i8 = {n for n in "abcd" if n not in f}
        return 100 - 10 * ("a" in i8) - 1 * ("b" in i8) + 2 * ("c" in i8) - 0.5 * ("d" in i8) + 1 * ("d" in i8 and "c" in f)

    sensitivity = {"a": 1.0, "b": 0.5, "c": 0.1, "d": 0.2}
    free, ranked = cost_ranking({n: None for n in "abcd"}, sensitivity, cost_of)
    assert free == ["c", "d"]  # c first (int8 is slower); then d, which with c float saves 0.5 - 1 < 0
    assert ranked == ["b", "a"]  # b: 0.5 per unit saved, a: 0.1


def test_bench_states_the_board_estimate_written_with_the_model(rfb_dir, rfb, tmp_path):
    from facedge.bench.board_estimates import estimates, format_estimates
    from facedge.bench.targets import _load
    from facedge.calibration.quantize import _target_report
    from facedge.calibration.trial import write_model_dir

    fp32, fused, shapes = rfb
    out = tmp_path / "version-RFB-320"
    shutil.copytree(rfb_dir, out / "fp32")
    int8_model, _ = build_int8_model(fp32, scales_for(fp32), {"scores", "boxes"})
    write_model_dir(out / "int8", int8_model, dict(json.loads((rfb_dir / "facedge.json").read_text()), precision="int8"))
    mc = ModelCosts(CostTable.load("cortex-a72"), fused, shapes, {"scores", "boxes"})

    class Job:  # what _target_report reads of quantize's job
        costs, target = mc, "pi4"

    target = _target_report(Job, int8_model)
    (out / "report.json").write_text(json.dumps({"calibration": {"target": target}}))
    rows, notes = estimates([_load(out / "fp32"), _load(out / "int8")])
    assert notes == [] and len(rows) == 1
    r = rows[0]
    assert r["model"] == "version-RFB-320" and r["board"] == "pi4" and r["cpu"] == "cortex-a72"
    expected = mc.estimate(int8_model).total / mc.estimate(None).total
    assert r["ratio"]["1"] == round(expected, 4) and r["int8_ms"]["4"] < r["int8_ms"]["1"]
    text = format_estimates(rows)
    assert "version-RFB-320" in text and "pi4" in text
    (out / "report.json").write_text("{}")
    rows, notes = estimates([_load(out / "int8")])
    assert rows == [] and "no board estimate in" in notes[0]


def test_a_budget_nothing_meets_keeps_int8_layers_and_says_not_met():
    from facedge.calibration import mixed

    class Trials:  # the loss falls as layers go float, but never to the budget (the float model moves too)
        def detector(self, scales, **options):
            return len(scales)

    names = [f"l{i}" for i in range(10)]
    scales = {n: None for n in names}
    losses = {}

    def fake_loss(det, ref, threads):
        losses[det] = 0.02 + 0.001 * det
        return losses[det]

    orig = mixed.ranked_loss
    mixed.ranked_loss = fake_loss
    try:
        choice = mixed.choose_float_layers(Trials(), scales, {n: 1.0 for n in names}, None, 1, 0.005,
                                           ranked=names[2:], free=names[:2])
    finally:
        mixed.ranked_loss = orig
    assert not choice.met and 0 < len(choice.kept) < len(names)  # some layers stay int8
    assert choice.kept[:2] == names[:2] and choice.loss == min(v for k, v in losses.items() if k > 0)


def test_bench_says_where_int8_pays_per_thread_count():
    from facedge.bench.board_estimates import format_estimates

    row = {"model": "m", "board": "pi4", "fp32_ms": {"1": 20.0, "4": 7.0}, "int8_ms": {"1": 18.0, "4": 7.0},
           "ratio": {"1": 0.9, "4": 1.0}, "pays": True, "pays_at": {"1": True, "4": False}}
    assert format_estimates([row]).endswith("1.000  int8 pays there at 1 thread only")
    assert format_estimates([dict(row, pays_at={"1": True, "4": True})]).endswith("1.000")
    assert format_estimates([dict(row, pays=False, pays_at=None)]).endswith("int8 does not pay there")


def test_a_longer_prefix_that_costs_less_and_meets_the_budget_is_taken():
    from facedge.calibration.mixed import CHEAPER_TRIALS, cheapest_within

    # cost of the model with the first k layers float, k = 0..6 (a float layer between two
    # float ones removes boundary passes: cost is not monotonic in k)
    costs = [0.80, 0.85, 0.97, 0.90, 0.88, 1.05, 1.0]
    ranked = list("abcdef")
    cost_of = lambda names: costs[len(names)]  # noqa: E731
    tried = []

    def meets(k, ok=(3, 5, 6)):
        tried.append(k)
        return k in ok

    assert cheapest_within(2, ranked, cost_of, meets) == 3 and tried == [4, 3]  # cheapest first: 0.88 fails, 0.90 meets
    tried.clear()
    assert cheapest_within(2, ranked, cost_of, lambda k: meets(k, ok=())) == 2 and tried == [4, 3]  # none meets: keep
    assert cheapest_within(4, ranked, cost_of, lambda k: True) == 4  # nothing longer is cheaper
    many = [1.0] + [0.5 + 0.01 * k for k in range(1, 10)]
    assert CHEAPER_TRIALS == 3
    tried.clear()
    assert cheapest_within(0, list("abcdefghi"), lambda n: many[len(n)], lambda k: meets(k, ok=(9,))) == 0
    assert tried == [1, 2, 3]  # at most CHEAPER_TRIALS trials


def test_the_bisection_keeps_the_cheaper_longer_prefix_within_the_budget():
    from facedge.calibration import mixed

    class Trials:
        def detector(self, scales, **options):
            return 6 - len(scales)  # float layers

    names = [f"l{i}" for i in range(6)]
    losses = {0: 0.03, 1: 0.02, 2: 0.004, 3: 0.0045, 4: 0.003, 5: 0.002, 6: 0.0}
    costs = [0.80, 0.85, 0.97, 0.90, 0.95, 1.05, 1.0]
    orig = mixed.ranked_loss
    mixed.ranked_loss = lambda det, ref, threads: losses[det]
    try:
        choice = mixed.choose_float_layers(Trials(), {n: None for n in names}, {n: 1.0 for n in names}, None, 1, 0.005,
                                           ranked=names, cost_of=lambda fl: costs[len(fl)])
    finally:
        mixed.ranked_loss = orig
    # the fewest meeting 0.005 are 2 (0.97); 3 float layers cost 0.90 and lose 0.0045: taken
    assert choice.met and choice.kept == names[:3] and choice.loss == 0.0045
