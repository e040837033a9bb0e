"""`facedge quantize` / facedge.calibration.quantize end to end on the upstream ULFD
RFB-320 model with a few WIDER test images: outputs, determinism, int8 at run time."""

import json
import os
import shutil

import numpy as np
import pytest

import facedge
from facedge.calibration.quantize import quantize
from facedge.calibration.table import read_table

COUNT = 16  # calibration images in these tests: enough to exercise every step, quick on two cores
INFO = {"format": 1, "family": "ultraface-rfb", "input_size": [320, 240], "precision": "fp32", "pixel": "rgb",
        "mean": [127, 127, 127], "norm": [0.0078125] * 3, "input": "input", "outputs": {"scores": "scores", "boxes": "boxes"}}


@pytest.fixture(scope="module")
def fp32_dir(reference_ultraface, tmp_path_factory):
    d = tmp_path_factory.mktemp("rfb") / "fp32"
    d.mkdir()
    param, bin_ = reference_ultraface["RFB-320"]
    shutil.copy(param, d / "model.param")
    shutil.copy(bin_, d / "model.bin")
    (d / "facedge.json").write_text(json.dumps(INFO))
    return d


@pytest.fixture(scope="module")
def calib_dir(shared):
    d = shared / "wider" / "WIDER_test"
    if not (d / "images").is_dir():
        pytest.skip(f"no WIDER test images at {d}")
    return d


@pytest.fixture(scope="module")
def auto_run(fp32_dir, calib_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("auto")
    report = quantize(fp32_dir, out, calib=calib_dir, count=COUNT, method="kl", keep_fp32="auto", eval_dir=False, threads=2)
    return out, report


def files(out):
    return {name: (out / "int8" / name).read_bytes() for name in ("model.param", "model.bin", "model.table", "facedge.json")}


def test_writes_a_model_directory_the_runtime_loads(auto_run, fp32_dir, demo_images):
    import cv2

    out, report = auto_run
    info = json.loads((out / "int8" / "facedge.json").read_text())
    assert info["precision"] == "int8"
    assert info["source"]["calibration"]["method"] == "kl"
    assert info["source"]["calibration"]["images_used"] == COUNT
    table = read_table(out / "int8" / "model.table")
    det = facedge.Detector(str(out / "int8"), threads=1)
    assert det.int8_layer_count == len(table) == report["int8_layers"] > 0
    float_layers = report["settings"]["float_layers"]
    assert not set(float_layers) & set(table)  # float layers are not in the table
    # detections close to fp32's on images calibration never saw
    ref = facedge.Detector(str(fp32_dir), threads=1)
    found = both = 0
    from facedge.calibration.compare import match

    for path in demo_images[:6]:
        img = cv2.imread(str(path))
        a, b = ref.detect(img), det.detect(img)
        found += len(a)
        both += len(match(a.boxes, a.scores, b.boxes, b.scores))
    assert found > 10 and both >= 0.85 * found


def test_report_has_the_measurements(auto_run):
    out, report = auto_run
    saved = json.loads((out / "report.json").read_text())["calibration"]
    assert saved["settings"] == report["settings"]
    assert report["int8_kernels"]["ran_int8"]  # the integer model of a layer equals what ncnn computed
    k = report["int8_kernels"]
    assert k["mean_abs_diff_integer_model"] < 0.1 * k["mean_abs_diff_float_model"]
    stock = report["stock_ncnn"]  # float layers before int8 ones may round a few values a step apart
    assert stock["loads"] and stock["max_abs_output_diff"] < 0.1, stock
    assert stock["faces"]["matched"] == stock["faces"]["facedge"] == stock["faces"]["stock"] > 0, stock
    assert stock["faces"]["mean_iou"] > 0.99, stock
    assert report["sizes_bytes"]["int8"] < 0.45 * report["sizes_bytes"]["fp32"]
    assert report["latency"]["fp32_ms"] > 0 and report["latency"]["int8_ms"] > 0
    assert 0.8 <= report["agreement"]["f1"] <= 1.0
    rows = {r["layer"]: r for r in report["layers"]}
    assert all("sensitivity" in r and "cosine" in r for r in rows.values())
    assert all(r["cosine"] > 0.8 for r in rows.values())
    mp = report["mixed_precision"]
    assert mp["float_layers"] == report["settings"]["float_layers"]
    # the default order: the layers int8 saves nothing on, then by accuracy lost per cycle saved
    # (or by sensitivity after those, where that met the budget more cheaply); a prefix of it floats
    assert mp["order"]["by"] in ("accuracy lost per cycle saved",
                                 "sensitivity, after the free layers (better here than by error per cycle)")
    order = mp["order"]["free"] + [n for n in mp["order"]["ranked"] if n not in mp["order"]["free"]]
    assert sorted(order) == sorted(rows) and mp["float_layers"] == order[:len(mp["float_layers"])]
    assert 0 < mp["face_score"] and 0 < mp["ignore_score"] < mp["face_score"]
    assert mp["check"]["on"] == "views" and mp["check"]["images"] == COUNT and mp["check"]["faces"] > 0  # the default
    assert "views: each mirrored, shifted or zoomed in turn" in (out / "report.md").read_text()
    assert report["settings"]["rounding"] == "adaptive"
    t = report["target"]
    assert t["board"] == "pi4" and t["cpu"] == "cortex-a72" and t["fallbacks"] == {}
    assert t["int8_ms"]["1"] > 0 and abs(t["ratio"]["1"] - t["int8_ms"]["1"] / t["fp32_ms"]["1"]) < 1e-3
    assert "### Estimated on the target board: pi4" in (out / "report.md").read_text()
    md = (out / "report.md").read_text()
    assert md.startswith("## int8 calibration") and "Latency" in md


def test_two_runs_give_byte_identical_table_and_model(auto_run, fp32_dir, calib_dir, tmp_path):
    """Same inputs and options, another worker thread count: the same bytes."""
    out, _ = auto_run
    again = tmp_path / "again"
    quantize(fp32_dir, again, calib=calib_dir, count=COUNT, method="kl", keep_fp32="auto", eval_dir=False, threads=1)
    assert files(again) == files(out)


def test_the_images_as_read_as_the_check_give_the_same_bytes_at_any_thread_count(fp32_dir, calib_dir, tmp_path):
    """--check-on images (the default is views): the check runs on the images as read;
    still deterministic."""
    runs = [quantize(fp32_dir, tmp_path / str(t), calib=calib_dir, count=8, method="kl", keep_fp32="auto",
                     eval_dir=False, threads=t, check_on="images") for t in (2, 1)]
    check = runs[0]["mixed_precision"]["check"]
    assert check["on"] == "images" and check["images"] == 8 and check["faces"] > 0
    assert runs[0]["settings"]["check_on"] == "images"
    assert files(tmp_path / "2") == files(tmp_path / "1")
    assert "images as read" in (tmp_path / "2" / "report.md").read_text()


@pytest.mark.parametrize("method", ["minmax", "percentile", "aciq"])
def test_every_method_makes_a_working_model(fp32_dir, calib_dir, tmp_path, method):
    report = quantize(fp32_dir, tmp_path, calib=calib_dir, count=3, method=method, keep_fp32="none", eval_dir=False, threads=2)
    assert report["int8_layers"] == len(read_table(tmp_path / "int8" / "model.table")) == 52
    assert report["agreement"]["f1"] > 0.5
    for row in report["layers"]:
        assert 0 < row["threshold"] <= row["absmax"] * (1 + 1e-6)
        assert row["input_scale"] == pytest.approx(127 / row["threshold"], rel=1e-6)


def test_eq_searches_around_the_kl_scales(fp32_dir, calib_dir, tmp_path):
    """eq starts from KL and moves each input scale within [1/2, 2] of it, the same
    scale for layers reading one blob (so the layer before can requantize for all)."""
    quantize(fp32_dir, tmp_path / "kl", calib=calib_dir, count=3, method="kl", keep_fp32="none", eval_dir=False,
             equalize=False)
    report = quantize(fp32_dir, tmp_path / "eq", calib=calib_dir, count=3, method="eq", keep_fp32="none",
                      eval_dir=False, equalize=False)
    kl = read_table(tmp_path / "kl" / "int8" / "model.table")
    eq = read_table(tmp_path / "eq" / "int8" / "model.table")
    ratios = np.array([float(eq[n].input / kl[n].input) for n in kl])
    assert np.all((ratios > 0.5 - 1e-6) & (ratios < 2 + 1e-6))
    assert np.any(np.abs(ratios - 1) > 0.01)  # the search moved some
    for name in kl:
        np.testing.assert_array_equal(eq[name].weight, kl[name].weight)
    split_readers = ["284", "291", "298", "311"]  # the four readers of one Split in RFB-320
    assert len({float(eq[n].input) for n in split_readers}) == 1
    assert report["int8_layers"] == 52


def test_keep_fp32_list_and_an_existing_table(auto_run, fp32_dir, calib_dir, tmp_path):
    out, _ = auto_run
    table = out / "int8" / "model.table"
    report = quantize(fp32_dir, tmp_path, calib=calib_dir, count=4, table=table, keep_fp32="245,248", eval_dir=False)
    applied = read_table(tmp_path / "int8" / "model.table")
    given = read_table(table)
    assert set(applied) == set(given) - {"245", "248"}
    for name in applied:
        np.testing.assert_array_equal(applied[name].weight, given[name].weight)
        assert applied[name].input == given[name].input
    assert report["settings"]["method"] == "table"


def test_wider_ap_section(fp32_dir, calib_dir, shared, tmp_path):
    if not (shared / "wider" / "WIDER_val" / "images").is_dir():
        pytest.skip("no WIDER val images")
    report = quantize(fp32_dir, tmp_path, calib=calib_dir, count=8, keep_fp32="none", eval_dir=shared / "wider")
    ap = report["wider_ap"]
    assert ap["images"] > 0
    for s in ("easy", "medium", "hard"):
        assert 0.3 < ap["fp32"][s] <= 1 and 0 < ap["int8"][s] <= 1
        assert ap["delta"][s] == pytest.approx(ap["int8"][s] - ap["fp32"][s], abs=1e-4)
    assert "WIDER FACE val AP" in (tmp_path / "report.md").read_text()


def test_the_report_joins_an_existing_convert_report(fp32_dir, calib_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"name": "rfb", "parity": {"ok": True}}))
    (out / "report.md").write_text("# rfb\n\nconverted.\n\n## int8 calibration\n\nold section\n\n## later\n\nkept\n")
    quantize(fp32_dir, out, calib=calib_dir, count=4, keep_fp32="none", eval_dir=False)
    data = json.loads((out / "report.json").read_text())
    assert data["name"] == "rfb" and data["parity"] == {"ok": True} and "calibration" in data
    md = (out / "report.md").read_text()
    assert md.startswith("# rfb") and "old section" not in md and md.count("## int8 calibration") == 1
    assert "## later\n\nkept" in md


def test_cli_quantize(run_cli, fp32_dir, calib_dir, tmp_path):
    r = run_cli("quantize", fp32_dir, "-o", tmp_path / "o", "--calib", calib_dir, "--calib-count", "4",
                "--keep-fp32", "none", "--no-eval", "--json", env=dict(os.environ, FACEDGE_PROGRESS="0"))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["int8_layers"] == 52 and (tmp_path / "o" / "int8" / "model.bin").is_file()

