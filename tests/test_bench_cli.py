"""`facedge bench` end to end with tiny repeat counts: what it writes, what it refuses.
Nothing here judges a timing (the machines are shared and noisy)."""

import csv
import json
import os

import pytest

from bench_fixtures import converted_rfb, make_model_dir, ulfd_output, ulfd_two_precisions  # noqa: F401 (fixtures)

QUICK = ["--repeats", "3", "--warmup", "1"]
RECORD_KEYS = {"model", "precision", "runtime", "threads", "input_size", "median_ms", "min_ms", "p90_ms", "fps",
               "stages_ms", "repeats", "faces", "cores", "omp_wait_policy", "float_storage"}


@pytest.fixture
def bench(run_cli, tmp_path, shared):
    env = {k: v for k, v in os.environ.items() if k != "FACEDGE_SHARED"}  # the product never reads it
    env.update({"FACEDGE_PROGRESS": "0", "FACEDGE_CACHE_DIR": str(tmp_path / "cache")})
    yunet = shared / "peers" / "yunet" / "face_detection_yunet_2023mar.onnx"  # the yunet peer runs when given

    def run(*args, **kwargs):
        return run_cli("bench", "--yunet", yunet, *args, env={**env, **kwargs.pop("env", {})}, **kwargs)

    return run


def _error(proc):
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facedge bench: error: "), proc.stderr
    return lines[0][len("facedge bench: error: "):]


def _report(path):
    report = json.loads(path.read_text())
    assert report["schema"] == "facedge-bench/1"
    for r in report["records"]:
        assert set(r) == RECORD_KEYS
        assert r["min_ms"] <= r["median_ms"] <= r["p90_ms"] and r["fps"] > 0
        assert set(r["stages_ms"]) == {"preprocess", "inference", "postprocess"}
    return report


def test_one_thread_against_every_peer_that_can_run(bench, ulfd_output, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = bench(ulfd_output, "--threads", "1", *QUICK, "--json", out / "b.json", "--csv", out / "b.csv",
                 "--plot", out / "b.png")
    assert proc.returncode == 0, proc.stderr
    report = _report(out / "b.json")
    rows = [(r["model"], r["precision"], r["runtime"], r["threads"]) for r in report["records"]]
    expected = [("RFB-320", "fp32", "facedge", 1), ("RFB-320", "fp32", "ncnn-bare", 1)]
    if report["machine"]["versions"]["ncnn-python"]:
        expected.append(("RFB-320", "fp32", "ncnn-python", 1))
    expected.append(("yunet", "fp32", "yunet", 1))
    assert rows == expected
    for r in report["records"]:
        assert r["repeats"] == 3 and r["input_size"] == [320, 240] and r["omp_wait_policy"] == "ACTIVE"
        assert r["cores"] == [report["settings"]["cores_allowed"][0]]
    faces = {r["runtime"]: r["faces"] for r in report["records"]}
    assert faces["ncnn-bare"] is None and faces["facedge"] > 0
    storage = {r["runtime"]: r["float_storage"] for r in report["records"]}  # x86: no fp16 storage path
    assert storage == {**{k: None for k in storage}, "facedge": "fp32", "ncnn-bare": "fp32"}
    assert report["settings"]["bf16"] == "off"
    if "ncnn-python" in faces:
        assert faces["ncnn-python"] == faces["facedge"]  # the same model sees the same faces
    # the ONNX peers have no model.onnx here: skipped with a note, not a failure
    assert any(n.startswith("onnxruntime: skipped") and "no model.onnx" in n for n in report["notes"]) or \
        any(n.startswith("onnxruntime: skipped, onnxruntime is not installed") for n in report["notes"])
    assert any(n.startswith("opencv-dnn: skipped") for n in report["notes"])
    assert {(x["versus"], x["threads"]) for x in report["ratios"]} >= {("yunet", 1)}
    assert [(o["precision"], o["threads"]) for o in report["overhead"]] == [("fp32", 1)]
    assert report["command"].startswith("facedge bench ") and "--threads 1" in report["command"]
    assert report["settings"]["omp_wait_policy"] == {"1": "ACTIVE"}
    assert report["settings"]["openmp_blocktime_ms"] == 20
    assert report["settings"]["image"].endswith("facedge/data/astronaut-trio.jpg")  # the photo facedge ships
    with open(out / "b.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(report["records"])
    assert (out / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["b.csv", "b.json", "b.png"]
    # the terminal table: one row per runtime, one column per thread count
    assert "model    precision  runtime" in proc.stdout and "1 thread" in proc.stdout
    assert "onnxruntime: skipped" in proc.stdout  # the notes close the report


def test_thread_list_and_precisions(bench, ulfd_two_precisions, tmp_path):
    path = tmp_path / "b.json"
    proc = bench(ulfd_two_precisions, "--threads", "2,1", "--peers", "none", *QUICK, "--json", path)
    assert proc.returncode == 0, proc.stderr
    report = _report(path)
    rows = [(r["precision"], r["runtime"], r["threads"]) for r in report["records"]]
    assert rows == [("fp32", "facedge", 1), ("fp32", "facedge", 2), ("int8", "facedge", 1), ("int8", "facedge", 2),
                    ("fp32", "ncnn-bare", 1), ("fp32", "ncnn-bare", 2), ("int8", "ncnn-bare", 1), ("int8", "ncnn-bare", 2)]
    assert report["ratios"] == [] and len(report["overhead"]) == 4
    allowed = report["settings"]["cores_allowed"]
    two = [r for r in report["records"] if r["threads"] == 2]
    assert all(r["cores"] == allowed[:2] for r in two)
    assert all(r["omp_wait_policy"] == ("ACTIVE" if len(allowed) >= 2 else "PASSIVE") for r in two)


def test_more_threads_than_cores_warns(bench, ulfd_output, tmp_path):
    cores = len(os.sched_getaffinity(0))
    path = tmp_path / "b.json"
    proc = bench(ulfd_output, "--threads", str(cores + 1), "--peers", "none", "--repeats", "1", "--warmup", "0", "--json", path)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {cores + 1} threads asked for, but this process may use only {cores} core(s)" in proc.stderr
    over = [r for r in _report(path)["records"] if r["threads"] == cores + 1]
    assert over and all(r["omp_wait_policy"] == "PASSIVE" and len(r["cores"]) == cores for r in over)


def test_default_models_from_the_cache(bench, reference_ultraface, tmp_path):
    make_model_dir(tmp_path / "cache" / "models" / "version-RFB-320" / "fp32", *reference_ultraface["RFB-320"])
    proc = bench("--threads", "1", "--peers", "none", "--repeats", "1", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr
    assert "version-RFB-320: no int8 model cached; make it with 'facedge quantize version-RFB-320'" in proc.stderr
    assert "version-RFB-320  fp32       facedge" in proc.stdout


def test_a_failing_peer_is_skipped_with_its_reason(bench, ulfd_output, tmp_path):
    fake = tmp_path / "broken.onnx"
    fake.write_text("not an onnx model")
    path = tmp_path / "b.json"
    proc = bench(ulfd_output, "--threads", "1", "--peers", "yunet", "--yunet", fake, *QUICK, "--json", path)
    assert proc.returncode == 0, proc.stderr
    report = _report(path)
    assert [r["runtime"] for r in report["records"]] == ["facedge", "ncnn-bare"]
    assert any(n.startswith("yunet: skipped for yunet fp32, it failed: ") for n in report["notes"]), report["notes"]


@pytest.mark.parametrize("args,message", [
    (["--threads", "0"], "--threads 0: thread counts must be 1 or more, got 0"),
    (["--threads", "-1"], "--threads -1: thread counts must be 1 or more, got -1"),
    (["--threads", "1,x"], "--threads 1,x: expected a thread count such as 4 (meaning 1..4) or a list such as 1,2,4"),
    (["--peers", "tflite"], "--peers tflite: unknown peer 'tflite' (known: onnxruntime, opencv-dnn, ncnn-python, yunet, "
                            "or 'all' / 'none')"),
    (["--repeats", "0"], "--repeats 0: expected 1 or more"),
    (["--json", "/no/such/folder/b.json"], "--json /no/such/folder/b.json: its folder does not exist"),
    (["--yunet", "/no/such/yunet.onnx"], "--yunet /no/such/yunet.onnx: no such file (expected face_detection_yunet_2023mar.onnx)"),
    (["--image", "/no/such/photo.jpg"], "--image /no/such/photo.jpg: no such file"),
])
def test_bad_options(bench, ulfd_output, args, message):
    assert _error(bench(ulfd_output, *args)) == message


def test_a_model_that_does_not_load(bench, reference_ultraface, tmp_path):
    broken = make_model_dir(tmp_path / "broken", *reference_ultraface["RFB-320"])
    (broken / "model.bin").write_bytes((broken / "model.bin").read_bytes()[:1000])
    message = _error(bench(broken, "--peers", "none"))
    assert str(broken / "model.bin") in message
    assert _error(bench(tmp_path / "nothing-here")).startswith(f"{tmp_path / 'nothing-here'}: no such model directory")


def test_no_cached_models_names_the_command(bench):
    message = _error(bench("--peers", "none"))
    assert message.startswith("no models given and none cached as version-RFB-320")
    assert "make them with 'facedge convert && facedge quantize version-RFB-320'" in message


def test_an_unreadable_image(bench, ulfd_output, tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_text("no pixels")
    assert _error(bench(ulfd_output, "--image", bad, "--peers", "none")) == f"{bad}: not an image OpenCV can read"


@pytest.mark.convert
@pytest.mark.slow
def test_every_peer_on_a_converted_model(bench, converted_rfb, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ncnn")
    path = tmp_path / "b.json"
    proc = bench(converted_rfb, "--threads", "1", *QUICK, "--json", path)
    assert proc.returncode == 0, proc.stderr
    report = _report(path)
    assert [r["runtime"] for r in report["records"]] == ["facedge", "ncnn-bare", "ncnn-python", "onnxruntime",
                                                         "opencv-dnn", "yunet"]
    faces = {r["runtime"]: r["faces"] for r in report["records"] if r["runtime"] not in ("ncnn-bare", "yunet")}
    assert len(set(faces.values())) == 1, faces  # one model, one input: the same faces everywhere
    assert {x["versus"] for x in report["ratios"]} == {"ncnn-python", "onnxruntime", "opencv-dnn", "yunet"}
    assert not [n for n in report["notes"] if "skipped" in n]


def test_bf16_storage_is_asked_for_and_reported(bench, ulfd_output, tmp_path):
    proc = bench(ulfd_output, "--threads", "1", "--peers", "none", *QUICK, "--bf16", "on", "--json", tmp_path / "b.json")
    assert proc.returncode == 0, proc.stderr
    report = _report(tmp_path / "b.json")
    assert [(r["runtime"], r["float_storage"]) for r in report["records"]] == [("facedge", "bf16"), ("ncnn-bare", "bf16")]
    assert report["settings"]["bf16"] == "on"
    assert "fp32, bf16 storage" in proc.stdout  # the table says what ran
