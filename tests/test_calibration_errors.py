"""Bad input to quantization: a clear one-line error naming what is wrong, and
nothing written; unreadable images among good ones are skipped and counted."""

import json
import shutil

import pytest

import facedge.calibration.evaluate as evaluate_module
from facedge.calibration.images import find_calibration_set
from facedge.calibration.quantize import quantize
from facedge.base.errors import FacedgeError

INFO = {"format": 1, "family": "ultraface-rfb", "input_size": [320, 240], "precision": "fp32", "pixel": "rgb",
        "mean": [127, 127, 127], "norm": [0.0078125] * 3, "input": "input", "outputs": {"scores": "scores", "boxes": "boxes"}}


@pytest.fixture
def fp32_dir(reference_ultraface, tmp_path):
    d = tmp_path / "model" / "fp32"
    d.mkdir(parents=True)
    param, bin_ = reference_ultraface["RFB-320"]
    shutil.copy(param, d / "model.param")
    shutil.copy(bin_, d / "model.bin")
    (d / "facedge.json").write_text(json.dumps(INFO))
    return d


@pytest.fixture
def few_images(demo_images, tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    for p in demo_images[:3]:
        shutil.copy(p, d / p.name)
    return d


def nothing_written(out):
    return not out.exists() or not any(out.iterdir())


def test_empty_calibration_folder(fp32_dir, tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    out = tmp_path / "out"
    with pytest.raises(FacedgeError, match=r"--calib .*empty: no images \(\.jpg.*WIDER FACE") as e:
        quantize(fp32_dir, out, calib=empty, count=4, eval_dir=False)
    assert "\n" not in str(e.value) and nothing_written(out)


def test_missing_calibration_set_says_how_to_get_wider(fp32_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDGE_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(FacedgeError, match=r"no calibration images: pass --calib DIR.*WIDER_train\.zip.*shuoyang1213\.me"):
        quantize(fp32_dir, tmp_path / "out", count=4, eval_dir=False)
    with pytest.raises(FacedgeError, match=r"--calib .*missing: no such folder"):
        quantize(fp32_dir, tmp_path / "out", calib=tmp_path / "missing", count=4, eval_dir=False)


def test_unreadable_images_are_skipped_and_counted(fp32_dir, few_images, tmp_path):
    (few_images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (few_images / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    report = quantize(fp32_dir, out, calib=few_images, count=10, keep_fp32="none", eval_dir=False)
    assert report["settings"]["images_used"] == 3
    assert report["settings"]["images_unreadable"] == 2
    assert sorted(p.rsplit("/", 1)[1] for p in report["unreadable_images"]) == ["broken.jpg", "empty.png"]
    assert (out / "int8" / "model.bin").is_file()


def test_only_unreadable_images_is_an_error(fp32_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"{i}.jpg").write_bytes(b"garbage")
    out = tmp_path / "out"
    with pytest.raises(FacedgeError, match=r"none of the 3 chosen images could be read"):
        quantize(fp32_dir, out, calib=bad, count=3, eval_dir=False)
    assert nothing_written(out)


def test_image_list_file(fp32_dir, few_images, tmp_path):
    names = sorted(p.name for p in few_images.iterdir())
    listing = few_images / "list.txt"
    listing.write_text("# calibration images\n" + "\n".join(names[:2]) + "\n")
    chosen = find_calibration_set(listing, 10)
    assert chosen.kind == "list" and sorted(p.name for p in chosen.paths) == names[:2]
    listing.write_text("notes.doc\n")
    with pytest.raises(FacedgeError, match=r"list\.txt:1: expected an image path"):
        find_calibration_set(listing, 10)


def test_sampling_is_deterministic_and_stable(shared):
    root = shared / "wider" / "WIDER_test"
    if not (root / "images").is_dir():
        pytest.skip("no WIDER test images")
    a = find_calibration_set(root, 20)
    b = find_calibration_set(root, 20)
    assert a.paths == b.paths and a.kind == "wider:WIDER_test" and a.available > 20
    assert find_calibration_set(root, 10).paths == a.paths[:10]  # a smaller sample is a prefix of a larger one
    assert len({p.parent.name for p in a.paths}) > 5  # spread over events, not the first folder
    assert find_calibration_set(shared / "wider", 20).paths == a.paths  # the WIDER root picks the split


def test_model_without_quantizable_layers(tmp_path, few_images):
    d = tmp_path / "fp32"
    d.mkdir()
    (d / "model.param").write_text("7767517\n4 5\nInput input 0 1 input\nReLU relu 1 1 input r\n"
                                   "Split split 1 2 r scores boxes_in\nSigmoid boxes 1 1 boxes_in boxes\n")
    (d / "model.bin").write_bytes(b"")
    (d / "facedge.json").write_text(json.dumps(INFO))
    out = tmp_path / "out"
    with pytest.raises(FacedgeError, match=r"model\.param: no quantizable layer \(Convolution"):
        quantize(d, out, calib=few_images, count=2, eval_dir=False)
    assert nothing_written(out)


@pytest.mark.parametrize("table,message", [
    ("nosuch_param_0 1 2 \nnosuch 3 \n", r"layer 'nosuch' is not a quantizable layer of .*made for another model"),
    ("245_param_0 1 2 \n245 3 \n", r"layer '245' has 2 weight scales but the model's layer has 16 output channels"),
    ("245_param_0 1 2 \n", r"no input scale line"),
])
def test_a_table_that_does_not_match_the_model(fp32_dir, few_images, tmp_path, table, message):
    path = tmp_path / "model.table"
    path.write_text(table)
    out = tmp_path / "out"
    with pytest.raises(FacedgeError, match=message):
        quantize(fp32_dir, out, calib=few_images, count=2, table=path, eval_dir=False)
    assert nothing_written(out)


@pytest.mark.parametrize("kwargs,message", [
    ({"method": "entropy"}, r"--calib-method: expected one of kl, aciq, percentile, minmax, eq"),
    ({"keep_fp32": "245,conv99"}, r"--keep-fp32: no quantizable layer named 'conv99'"),
    ({"count": 0}, r"--calib-count: expected at least 1"),
    ({"eval_dir": "/nonexistent/wider"}, r"/nonexistent/wider"),
    ({"rounding": "stochastic"}, r"--rounding: expected one of nearest, adaptive, got 'stochastic'"),
    ({"float_order": "speed"}, r"--float-order: expected one of sensitivity, cycles, got 'speed'"),
    ({"check_on": "mirrors"}, r"--check-on: expected one of images, views, both, got 'mirrors'"),
])
def test_bad_options_fail_before_any_work(fp32_dir, few_images, tmp_path, kwargs, message):
    out = tmp_path / "out"
    with pytest.raises(FacedgeError, match=message):
        quantize(fp32_dir, out, **{"calib": few_images, "count": 2, "eval_dir": False, **kwargs})
    assert nothing_written(out)


def test_an_int8_model_is_not_quantized_again(fp32_dir, tmp_path):
    info = dict(INFO, precision="int8")
    (fp32_dir / "facedge.json").write_text(json.dumps(info))
    with pytest.raises(FacedgeError, match="already an int8 model"):
        quantize(fp32_dir, tmp_path / "out", eval_dir=False)


def test_a_failure_late_in_the_run_leaves_the_output_as_it_was(fp32_dir, few_images, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = quantize(fp32_dir, out, calib=few_images, count=2, keep_fp32="none", eval_dir=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(evaluate_module, "latency", broken)
    with pytest.raises(OSError):
        quantize(fp32_dir, out, calib=few_images, count=3, keep_fp32="245", eval_dir=False)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # no half-written model, no leftover temporary folder
    assert first["int8_layers"] == 52


def test_cli_prints_one_line_errors(run_cli, fp32_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("quantize", fp32_dir, "-o", tmp_path / "o", "--calib", empty, "--no-eval")
    assert r.returncode == 1
    assert r.stderr.startswith("facedge quantize: error: --calib ") and r.stderr.count("\n") == 1


def _summary_report(fp32_ms, int8_ms):
    return {"model": {"int8": "/m/int8"}, "int8_layers": 30,
            "settings": {"method": "percentile", "images_used": 10, "images_unreadable": 0, "float_layers": ["a"]},
            "agreement": {"f1": 0.99, "images": 10}, "latency": {"fp32_ms": fp32_ms, "int8_ms": int8_ms},
            "timings_s": {"total": 5.0}}


def test_the_summary_says_when_int8_is_not_faster_here_and_why():
    from facedge.bench.machine import describe, int8_note
    from facedge.calibration.summary import summary

    slower = summary(_summary_report(4.0, 4.2))
    assert "note: int8 is not faster than fp32 on this machine" in slower
    why = int8_note(describe())
    if why:
        assert why in slower
    assert "note:" not in summary(_summary_report(4.0, 3.0))


def test_the_summary_says_what_the_check_ran_on():
    from facedge.calibration.summary import summary

    def with_check(on):
        r = _summary_report(4.0, 3.0)
        r["wider_ap"] = {"fp32": {"easy": 0.8, "medium": 0.7, "hard": 0.5}, "int8": {"easy": 0.8, "medium": 0.7, "hard": 0.5}}
        r["mixed_precision"] = {"ap_loss": 0.0036, "max_ap_loss": 0.005, "met": True, "check": {"on": on, "images": 120}}
        return summary(r)

    assert "AP lost against fp32's own detections on views of the calibration images: 0.0036 (at most 0.005: met)" \
        in with_check("views")
    assert "detections on the calibration images: 0.0036" in with_check("images")
    assert "detections on the calibration images and views of them: 0.0036" in with_check("both")
