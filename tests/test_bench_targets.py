"""facedge bench: which models and peers a run covers, and why one is left out."""

import pytest

from bench_fixtures import make_model_dir, ulfd_output, ulfd_two_precisions  # noqa: F401 (fixtures)
from facedge.bench import targets
from facedge.base.errors import FacedgeError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDGE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def test_no_models_and_none_cached_says_how_to_make_them(cache):
    with pytest.raises(FacedgeError, match=r"^no models given and none cached as version-RFB-320 in .*: make them with "
                                           r"'facedge convert && facedge quantize version-RFB-320'"):
        targets.resolve_models([])


def test_default_models_come_from_the_cache(cache, reference_ultraface):
    make_model_dir(cache / "version-RFB-320" / "fp32", *reference_ultraface["RFB-320"])
    models, notes = targets.resolve_models([])
    assert [(m.name, m.precision) for m in models] == [("version-RFB-320", "fp32")]
    assert notes == ["version-RFB-320: no int8 model cached; make it with 'facedge quantize version-RFB-320'"]
    make_model_dir(cache / "version-RFB-320" / "int8", *reference_ultraface["RFB-320"], precision="int8")
    models, notes = targets.resolve_models([])
    assert [m.precision for m in models] == ["fp32", "int8"] and notes == []
    models, _ = targets.resolve_models(["version-RFB-320-int8"])
    assert [m.precision for m in models] == ["int8"]


def test_a_convert_output_folder_means_each_precision_in_it(ulfd_two_precisions):
    models, _ = targets.resolve_models([ulfd_two_precisions])
    assert [(m.name, m.precision, m.onnx) for m in models] == [("RFB-320", "fp32", None), ("RFB-320", "int8", None)]
    models, _ = targets.resolve_models([ulfd_two_precisions / "int8", ulfd_two_precisions / "int8"])
    assert [m.precision for m in models] == ["int8"]  # once


def test_the_onnx_beside_the_model_directory_is_found(ulfd_two_precisions, tmp_path):
    out = tmp_path / "withonnx"
    for p in ("fp32", "int8"):
        (out / p).mkdir(parents=True)
        for f in ("model.param", "model.bin", "facedge.json"):
            (out / p / f).write_bytes((ulfd_two_precisions / p / f).read_bytes())
    (out / "model.onnx").write_bytes(b"onnx")
    models, _ = targets.resolve_models([out])
    assert all(m.onnx == (out / "model.onnx").resolve() for m in models)
    jobs, notes = targets.plan_jobs(models, ["onnxruntime", "opencv-dnn"])
    runtimes = [(j["runtime"], j["model"]["precision"]) for j in jobs]
    # the peers on the ONNX run once, as fp32, for both precisions
    assert runtimes == [("facedge", "fp32"), ("facedge", "int8"), ("onnxruntime", "fp32"), ("opencv-dnn", "fp32")]


def test_bad_model_arguments_are_clear(tmp_path):
    with pytest.raises(FacedgeError, match="nosuchmodel: no such model directory or cached model name"):
        targets.resolve_models(["nosuchmodel"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FacedgeError, match=r"empty: not a facedge model directory \(no facedge.json"):
        targets.resolve_models([tmp_path / "empty"])


@pytest.mark.parametrize("text,expected", [("all", ["onnxruntime", "opencv-dnn", "ncnn-python", "yunet"]), ("none", []),
                                           ("yunet,onnxruntime", ["onnxruntime", "yunet"])])
def test_peer_names(text, expected):
    assert targets.parse_peers(text) == expected


def test_an_unknown_peer_is_an_error():
    with pytest.raises(FacedgeError, match=r"^--peers onnxruntime,tflite: unknown peer 'tflite' \(known: onnxruntime, "
                                           r"opencv-dnn, ncnn-python, yunet, or 'all' / 'none'\)$"):
        targets.parse_peers("onnxruntime,tflite")


def test_a_missing_peer_is_skipped_with_a_note(ulfd_output, monkeypatch, tmp_path):
    monkeypatch.setattr(targets, "_installed", lambda module: module != "onnxruntime")
    models, _ = targets.resolve_models([ulfd_output])
    yunet = tmp_path / "yunet.onnx"
    jobs, notes = targets.plan_jobs(models, ["onnxruntime", "opencv-dnn", "ncnn-python", "yunet"], yunet)
    assert [j["runtime"] for j in jobs] == ["facedge", "ncnn-python", "yunet"]
    assert jobs[-1]["yunet"] == str(yunet) and jobs[-1]["model"]["input_size"] == [320, 240]
    assert notes == ["onnxruntime: skipped, onnxruntime is not installed (pip install onnxruntime)",
                     f"opencv-dnn: skipped for RFB-320, no model.onnx beside {ulfd_output.resolve() / 'fp32'} "
                     "('facedge convert' writes one)"]
    _, notes = targets.plan_jobs(models, ["yunet"], None)
    assert notes == ["yunet: skipped, no YuNet model given (pass --yunet PATH to face_detection_yunet_2023mar.onnx)"]


def test_a_family_without_numpy_decoder_keeps_facedge_and_yunet(ulfd_output, monkeypatch):
    models, _ = targets.resolve_models([ulfd_output])
    models[0].info.family = "a-user-family"  # a family facedge knows but bench/reference_decode.py does not
    jobs, notes = targets.plan_jobs(models, ["ncnn-python", "yunet"], "yunet.onnx")
    assert [j["runtime"] for j in jobs] == ["facedge", "yunet"]
    assert notes == ["ncnn-python: skipped for RFB-320 fp32, no numpy decoder for family a-user-family"]
