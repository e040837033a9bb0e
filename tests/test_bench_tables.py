"""facedge bench: ratios, the terminal table, CSV and the plot, from made-up records."""

import csv

import pytest

from facedge.bench import tables
from facedge.base.errors import FacedgeError


def _record(runtime, threads, median, precision="fp32", model="RFB-320", size=(320, 240), minimum=None):
    return {"model": model, "precision": precision, "runtime": runtime, "threads": threads, "input_size": list(size),
            "median_ms": median, "min_ms": minimum or median * 0.9, "p90_ms": median * 1.2, "fps": round(1000 / median, 2),
            "stages_ms": {"preprocess": 0.2, "inference": median - 0.3, "postprocess": 0.1 if runtime != "ncnn-bare" else 0.0},
            "repeats": 5, "faces": None if runtime == "ncnn-bare" else 5, "cores": list(range(threads)),
            "omp_wait_policy": "ACTIVE"}


@pytest.fixture
def records():
    return [
        _record("facedge", 1, 10.0), _record("ncnn-bare", 1, 9.5), _record("facedge", 2, 6.0), _record("ncnn-bare", 2, 5.0),
        _record("facedge", 1, 8.0, "int8"), _record("ncnn-bare", 1, 7.8, "int8"),
        _record("ncnn-python", 1, 12.0), _record("ncnn-python", 1, 9.0, "int8"),
        _record("onnxruntime", 1, 15.0), _record("onnxruntime", 2, 9.0), _record("opencv-dnn", 1, 20.0),
        _record("yunet", 1, 11.0, model="yunet"), _record("yunet", 1, 30.0, model="yunet", size=(640, 480)),
    ]


def _find(rows, **match):
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_ratios_pair_facedge_with_each_peer_on_the_same_model_threads_and_size(records):
    versus, overhead = tables.ratios(records)
    assert _find(versus, precision="fp32", threads=1, versus="onnxruntime")["versus_over_facedge"] == 1.5
    assert _find(versus, precision="fp32", threads=1, versus="opencv-dnn")["versus_over_facedge"] == 2.0
    assert _find(versus, precision="fp32", threads=1, versus="ncnn-python")["versus_over_facedge"] == 1.2
    assert _find(versus, precision="fp32", threads=1, versus="yunet")["versus_over_facedge"] == 1.1  # not the 640x480 one
    # int8 facedge: against the int8 ncnn wheel, and the fp32 ONNX (the only one there is)
    assert _find(versus, precision="int8", threads=1, versus="ncnn-python")["versus_over_facedge"] == 1.125
    int8_ort = _find(versus, precision="int8", threads=1, versus="onnxruntime")
    assert int8_ort["versus_precision"] == "fp32" and int8_ort["versus_over_facedge"] == 1.875
    assert _find(versus, precision="fp32", threads=2, versus="onnxruntime")["versus_over_facedge"] == 1.5
    assert not [v for v in versus if v["threads"] == 2 and v["versus"] != "onnxruntime"]
    assert _find(overhead, precision="fp32", threads=2)["facedge_over_bare"] == 1.2
    assert _find(overhead, precision="int8", threads=1)["facedge_over_bare"] == pytest.approx(1.026, abs=1e-3)
    assert len(overhead) == 3


def test_terminal_table_has_a_row_per_runtime_and_a_column_per_thread_count(records):
    versus, overhead = tables.ratios(records)
    text = tables.format_report({"records": records, "ratios": versus, "overhead": overhead,
                                 "settings": {"repeats": 5}, "other_load": {"1": 0.02, "2": 0.3}})
    lines = text.splitlines()
    header = lines[1].split()
    assert header[:3] == ["model", "precision", "runtime"] and header[3:] == ["1", "thread", "2", "threads"]
    facedge_fp32 = next(ln for ln in lines[2:] if ln.split()[:4] == ["RFB-320", "320x240", "fp32", "facedge"])
    assert facedge_fp32.split()[4:] == ["10.00", "(100)", "6.00", "(167)"]
    opencv = next(ln for ln in lines[2:] if "opencv-dnn" in ln)
    assert opencv.split()[4:] == ["20.00", "(50)", "-"]  # not measured at 2 threads
    ratio_line = next(ln for ln in lines if ln.split()[:3] == ["RFB-320", "fp32", "1"])
    assert ratio_line.split()[3:] == ["1.053", "1.20", "1.50", "2.00", "1.10"]
    assert "1 thread 2%, 2 threads 30%  (above 10%: noisy)" in text
    # rows: model by model, facedge first, YuNet last
    rows = [ln.split()[1:4] for ln in lines[2:12]]  # with two input sizes, the size follows the model
    assert rows == [["320x240", "fp32", "facedge"], ["320x240", "int8", "facedge"], ["320x240", "fp32", "ncnn"],
                    ["320x240", "int8", "ncnn"], ["320x240", "fp32", "ncnn-python"], ["320x240", "int8", "ncnn-python"],
                    ["320x240", "fp32", "onnxruntime"], ["320x240", "fp32", "opencv-dnn"], ["320x240", "fp32", "yunet"],
                    ["640x480", "fp32", "yunet"]]
    assert lines[12] == ""


def test_csv_one_line_per_record(records, tmp_path):
    path = tmp_path / "bench.csv"
    tables.write_csv(path, records)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(tables.CSV_FIELDS)
    assert len(rows) == len(records)
    row = _find(rows, runtime="onnxruntime", threads="2")
    assert row["median_ms"] == "9.0" and row["input_size"] == "320x240" and row["cores"] == "0 1"
    assert float(row["inference_ms"]) == pytest.approx(8.7)


def test_plot_is_a_png(records, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    tables.write_plot(path, records, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["bench.png"]  # no temporary file left


def test_plot_without_matplotlib_says_what_to_install(records, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(FacedgeError, match=r"--plot .*bench.png: needs matplotlib \(pip install matplotlib\)"):
        tables.write_plot(tmp_path / "bench.png", records, "test")
