"""End to end: every shared checkpoint through `convert()`, the numbers checked here
independently of the converter's own report (slow: several conversions)."""

import hashlib
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the facedge[convert] extra (torch)")
ncnn = pytest.importorskip("ncnn", reason="needs the ncnn wheel")
pytest.importorskip("pnnx", reason="needs the facedge[convert] extra (pnnx)")

import cv2  # noqa: E402

from facedge.convert import families, pipeline  # noqa: E402
from facedge.convert.checkpoint import load_state_dict  # noqa: E402
from facedge.convert.families.export_wrapper import ExportWrapper  # noqa: E402
from facedge.convert.verify import decode_faces, match_faces  # noqa: E402
from facedge.base.errors import FacedgeError  # noqa: E402
from facedge.base.model_dir import read_model_info, resolve_model  # noqa: E402

pytestmark = [pytest.mark.convert, pytest.mark.slow]

TOLERANCE = 1e-4
CHECKPOINTS = {
    "ultraface-rfb": "ultraface/version-RFB-320.pth",
    "ultraface-slim": "ultraface/version-slim-320.pth",
    "retinaface-mnet": "retinaface/mobilenet0.25_Final.pth",
    "blazeface-fpn-ssh": "blazeface-fpn-ssh/blazeface_fpn_ssh_1000e.pt",
    "yunet-n": "yunet/yunet_n.pth",
    "yunet-s": "yunet/yunet_s.pth",
}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("FACEDGE_PROGRESS", "0")
    monkeypatch.setenv("FACEDGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # two OpenMP threads on two busy cores ran PyTorch several times slower than one
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def converted(shared, tmp_path_factory):
    """family -> pipeline.Result, each shared checkpoint converted once per module."""
    done = {}

    def get(family):
        if family not in done:
            os.environ["FACEDGE_PROGRESS"] = "0"
            out = tmp_path_factory.mktemp("converted") / family
            done[family] = pipeline.convert(shared / "weights" / CHECKPOINTS[family], out_dir=out,
                                            images=shared / "images" / "ultraface-demo")  # 24 crowd photos
        return done[family]

    return get


def _reference(shared, family_name):
    """The family's PyTorch network on the checkpoint, in float64."""
    path = shared / "weights" / CHECKPOINTS[family_name]
    state = load_state_dict(path)
    family = families.get(family_name)
    net, num_classes = families.fit(family, state, path)
    wrapper = ExportWrapper(net, family, num_classes).double()

    def run(x):
        with torch.no_grad():
            return [t.numpy() for t in wrapper(torch.from_numpy(x).double())]

    return family, run


@pytest.fixture(scope="module")
def reference_outputs(shared, demo_images):
    """family -> [(image, {role: float64 PyTorch output at the default input size})] for
    the 24 demo images, computed once (float64 PyTorch is the slow part of these tests)."""
    done = {}

    def get(family_name):
        if family_name not in done:
            family, reference = _reference(shared, family_name)
            rows = []
            for path in demo_images:
                image = cv2.imread(str(path))
                rows.append((image, dict(zip(family.outputs, reference(family.preprocess(image, family.default_input_size))))))
            done[family_name] = rows
        return done[family_name]

    return get


def _ncnn_model(model_dir):
    info = read_model_info(model_dir)
    net = ncnn.Net()
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    assert net.load_param(str(model_dir / "model.param")) == 0
    assert net.load_model(str(model_dir / "model.bin")) == 0

    def run(x, roles):
        chw = np.ascontiguousarray(x[0])
        ex = net.create_extractor()
        ex.input(info.input, ncnn.Mat(chw))
        return [np.array(ex.extract(info.outputs[role])[1]) for role in roles]

    return info, run


def report_class_names(result):
    return json.loads((result.out_dir / "report.json").read_text())["class_names"]


@pytest.mark.parametrize("family_name", sorted(CHECKPOINTS))
def test_model_directory_and_report(shared, converted, family_name):
    result = converted(family_name)
    family = families.get(family_name)
    checkpoint = shared / "weights" / CHECKPOINTS[family_name]
    info = read_model_info(result.model_dir)
    assert result.model_dir == result.out_dir / "fp32"
    assert (info.family, info.precision, info.pixel) == (family_name, "fp32", family.pixel)
    assert info.input_size == family.default_input_size
    np.testing.assert_allclose(info.mean, family.mean)
    np.testing.assert_allclose(info.norm, family.norm)
    assert sorted(info.outputs) == sorted(family.outputs)
    assert info.source["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert info.source["num_classes"] == 2 and info.source["arch"] == family_name
    assert info.class_names == ["face"] and report_class_names(result) == ["face"]
    param_text = (result.model_dir / "model.param").read_text()
    for blob in [info.input, *info.outputs.values()]:
        assert f" {blob}" in param_text
    assert "=\"" not in param_text  # only numeric layer parameters

    report = json.loads((result.out_dir / "report.json").read_text())
    assert report == json.loads(json.dumps(result.report))
    assert report["images"]["count"] == 24
    for stage in ("onnxruntime", "ncnn"):
        for role in family.outputs:
            assert report["parity"]["stages"][stage]["max_abs"][role] <= TOLERANCE
    assert report["parity"]["within_tolerance"] is True
    assert report["faces"]["reference"] > 100 and report["faces"]["matched_fraction"] >= 0.99
    for rel, size in report["files"].items():
        assert (result.out_dir / rel).stat().st_size == size
    assert "## Raw outputs against the reference" in (result.out_dir / "report.md").read_text()
    leftovers = [p.name for p in result.out_dir.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert sorted(p.name for p in result.out_dir.iterdir()) == ["fp32", "model.onnx", "report.json", "report.md"]


@pytest.mark.parametrize("family_name", sorted(CHECKPOINTS))
def test_ncnn_raw_outputs_match_pytorch(converted, reference_outputs, family_name):
    """Checked here without the converter's verification code: ncnn's fp32 outputs on
    the 24 demo images within 1e-4 of the PyTorch network (float64)."""
    family = families.get(family_name)
    info, run = _ncnn_model(converted(family_name).model_dir)
    worst = {role: 0.0 for role in family.outputs}
    rows = reference_outputs(family_name)
    assert len(rows) == 24
    for image, ref in rows:
        got = dict(zip(family.outputs, run(family.preprocess(image, info.input_size), family.outputs)))
        for role in family.outputs:
            assert got[role].shape == ref[role].shape
            worst[role] = max(worst[role], float(np.abs(got[role] - ref[role]).max()))
    assert max(worst.values()) <= TOLERANCE, worst


@pytest.mark.parametrize("family_name,reference_name", [("ultraface-rfb", "RFB-320"), ("ultraface-slim", "slim_320")])
def test_same_raw_outputs_as_upstreams_ncnn_files(converted, reference_ultraface, demo_images, family_name,
                                                  reference_name):
    info, ours = _ncnn_model(converted(family_name).model_dir)
    param, bin_ = reference_ultraface[reference_name]
    upstream = ncnn.Net()
    upstream.opt.use_fp16_storage = upstream.opt.use_fp16_packed = upstream.opt.use_fp16_arithmetic = False
    upstream.opt.use_bf16_storage = False
    upstream.load_param(str(param))
    upstream.load_model(str(bin_))
    family = families.get(family_name)
    worst = 0.0
    for image in demo_images:
        x = family.preprocess(cv2.imread(str(image)), (320, 240))
        chw = np.ascontiguousarray(x[0])
        ex = upstream.create_extractor()
        ex.input("input", ncnn.Mat(chw))
        theirs = [np.array(ex.extract(blob)[1]) for blob in ("scores", "boxes")]
        for a, b in zip(ours(x, ("scores", "boxes")), theirs):
            assert a.shape == b.shape == (4420, a.shape[1])
            worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= TOLERANCE


@pytest.mark.parametrize("family_name,sizes", [("ultraface-rfb", [(640, 480), (160, 120)]),
                                              ("retinaface-mnet", [(320, 320), (480, 256)]),
                                              ("blazeface-fpn-ssh", [(320, 240)]),
                                              ("yunet-s", [(320, 240), (160, 120)])])  # padded to 320x256, 160x128
def test_a_converted_model_runs_at_other_input_sizes(shared, converted, demo_images, family_name, sizes):
    """The ncnn graph follows the input size (what the runtime's input_size= relies on)."""
    family, reference = _reference(shared, family_name)
    _, run = _ncnn_model(converted(family_name).model_dir)
    image = cv2.imread(str(demo_images[0]))
    for w, h in sizes:
        x = family.preprocess(image, (w, h))
        for role, ref, got in zip(family.outputs, reference(x), run(x, family.outputs)):
            assert got.shape == ref.shape == (len(family.priors(w, h)), ref.shape[1])
            assert float(np.abs(got - ref).max()) <= TOLERANCE, (role, w, h)


@pytest.mark.parametrize("family_name", sorted(CHECKPOINTS))
def test_facedge_detector_finds_the_reference_faces(converted, reference_outputs, family_name):
    """facedge.Detector on the converted model vs the reference decode of PyTorch's
    outputs: the same faces (IoU >= 0.99) for at least 99 % of them."""
    import facedge

    try:
        from facedge import _core
    except ImportError as e:
        pytest.skip(f"facedge's C++ runtime is not built: {e}")
    assert family_name in _core.family_names(), f"the runtime has no {family_name} family"
    family = families.get(family_name)
    det = facedge.Detector(converted(family_name).model_dir, nms="hard", fp16=False, int8=False)  # default thresholds
    w, h = family.default_input_size
    priors = family.priors(w, h)
    found = matched = 0
    for img, raw in reference_outputs(family_name):
        ref_boxes = decode_faces(raw, priors, (img.shape[1], img.shape[0]), family_name)
        # the frame already at the input size, resized as the reference's was (cv2): the
        # Detector then only copies it, and what is compared is inference and decoding
        faces = det.detect(cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR))
        faces.boxes[:] *= np.array([img.shape[1] / w, img.shape[0] / h] * 2, np.float32)
        found += len(ref_boxes)
        matched += match_faces(ref_boxes, faces.boxes)
    assert found > 100
    assert matched >= 0.99 * found, (matched, found)


def test_input_size_and_cache_name(shared):
    """--input-size 640x480 on a 320-trained checkpoint, into the cache by name."""
    result = pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-rfb"], input_size=(640, 480))
    assert result.out_dir.name == "version-RFB-320-640x480"
    assert resolve_model("version-RFB-320-640x480") == result.model_dir
    assert resolve_model("version-RFB-320-640x480-fp32") == result.model_dir
    assert read_model_info(result.model_dir).input_size == (640, 480)
    assert result.report["parity"]["within_tolerance"] is True


def test_other_class_count(tmp_path):
    """A user-trained ULFD with three classes: the class count comes from the checkpoint."""
    family = families.get("ultraface-slim")
    torch.manual_seed(0)
    net = family.build(3)
    for m in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    checkpoint = tmp_path / "slim-3-classes.pth"
    torch.save(net.state_dict(), checkpoint)
    result = pipeline.convert(checkpoint, out_dir=tmp_path / "out")
    info, run = _ncnn_model(result.model_dir)
    assert info.family == "ultraface-slim" and info.source["num_classes"] == 3
    assert info.class_names == ["class1", "class2"]  # no --class-names: the default names
    x = family.preprocess(np.full((240, 320, 3), 90, np.uint8), (320, 240))
    scores, boxes = run(x, ("scores", "boxes"))
    assert scores.shape == (4420, 3) and boxes.shape == (4420, 4)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert result.report["parity"]["within_tolerance"] is True


def test_fp16_weights(shared, tmp_path):
    result = pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-rfb"], out_dir=tmp_path / "out", fp16=True)
    assert result.model_dir == tmp_path / "out" / "fp16"
    assert read_model_info(result.model_dir).precision == "fp16"
    fp32_bin = (shared / "reference" / "ultraface-ncnn" / "RFB-320.bin").stat().st_size
    assert (result.model_dir / "model.bin").stat().st_size < 0.6 * fp32_bin
    assert result.report["parity"]["within_tolerance"] is None  # 1e-4 is an fp32 promise
    assert result.report["faces"]["matched_fraction"] >= 0.99


def test_reconverting_replaces_a_previous_output(shared, converted, tmp_path):
    import shutil

    out = tmp_path / "again"
    shutil.copytree(converted("ultraface-slim").out_dir, out)
    (out / "stale.txt").write_text("from an earlier conversion")
    pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-rfb"], out_dir=out)
    assert read_model_info(out / "fp32").family == "ultraface-rfb"
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["again"]


def _assert_nothing_left(parent, out):
    assert not out.exists()
    assert [p.name for p in parent.iterdir()] == []


def test_bad_inputs_leave_no_output(shared, tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    out = parent / "out"
    not_a_checkpoint = tmp_path / "notes.pth"
    not_a_checkpoint.write_text("these are not weights")
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes((shared / "weights" / CHECKPOINTS["retinaface-mnet"]).read_bytes()[:300_000])
    cases = [
        (dict(weights=not_a_checkpoint), "not a PyTorch checkpoint"),
        (dict(weights=truncated), "truncated or corrupt"),
        (dict(weights=shared / "weights" / CHECKPOINTS["ultraface-rfb"], arch="blazeface-fpn-ssh"),
         "not a blazeface-fpn-ssh checkpoint"),
        (dict(weights=shared / "weights" / CHECKPOINTS["retinaface-mnet"], input_size=(640, 500)),
         "input size 640x500: retinaface-mnet needs a height that is a multiple of 32"),
        (dict(weights=shared / "weights" / CHECKPOINTS["ultraface-rfb"], input_size=(322, 240)),
         "input size 322x240: ultraface-rfb needs a width that is a multiple of 8"),
    ]
    for kwargs, message in cases:
        weights = kwargs.pop("weights")
        with pytest.raises(FacedgeError, match=message):
            pipeline.convert(weights, out_dir=out, **kwargs)
        _assert_nothing_left(parent, out)


def test_failure_late_in_the_pipeline_leaves_no_output(shared, tmp_path, monkeypatch):
    def broken_pnnx(*args, **kwargs):
        raise FacedgeError("pnnx failed (simulated)")

    monkeypatch.setattr(pipeline.ncnn_export, "convert", broken_pnnx)
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(FacedgeError, match="simulated"):
        pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-slim"], out_dir=parent / "out")
    _assert_nothing_left(parent, parent / "out")


def test_a_foreign_folder_is_not_overwritten(shared, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FacedgeError, match="exists and is not a facedge convert output"):
        pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-rfb"], out_dir=out)
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]
    assert (out / "holiday.jpg").read_bytes() == b"precious"


def test_cli_without_images_checks_on_the_shipped_photos(shared, tmp_path, monkeypatch, capsys):
    """A user with no data set still gets a model verified on real faces: the photos in facedge/data."""
    from facedge import cli

    monkeypatch.delenv("FACEDGE_SHARED", raising=False)
    out = tmp_path / "out"
    rc = cli.main(["convert", str(shared / "weights" / CHECKPOINTS["ultraface-slim"]), "-o", str(out)])
    stdout = capsys.readouterr().out
    assert rc == 0
    assert stdout.startswith(f"{out / 'fp32'}: ultraface-slim 320x240 fp32 model from version-slim-320.pth")
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == {"count": 2, "source": "facedge's sample photos"}
    faces = report["faces"]
    assert faces["reference"] >= 4 and faces["matched"] == faces["reference"]  # one face, then three
    assert f"faces on 2 test images: {faces['reference']} of {faces['reference']} the same" in stdout
    assert report["parity"]["within_tolerance"] is True


def test_images_option(shared, demo_images, tmp_path):
    chosen = tmp_path / "mine"
    chosen.mkdir()
    for path in demo_images[:2]:
        (chosen / path.name).write_bytes(path.read_bytes())
    result = pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-slim"], out_dir=tmp_path / "out", images=chosen)
    assert result.report["images"] == {"count": 2, "source": str(chosen)}
    with pytest.raises(FacedgeError, match="--images must be a folder"):
        pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-slim"], out_dir=tmp_path / "out2",
                         images=tmp_path / "missing")
    assert not (tmp_path / "out2").exists()


def test_a_relative_output_folder(shared, tmp_path, monkeypatch):
    """-o relative/to/cwd: pnnx runs in a scratch folder, so the path must not be passed on relative."""
    monkeypatch.chdir(tmp_path)
    result = pipeline.convert(shared / "weights" / CHECKPOINTS["ultraface-slim"], out_dir="rel/slim")
    assert result.out_dir == tmp_path / "rel" / "slim"
    assert (tmp_path / "rel" / "slim" / "fp32" / "model.param").is_file()
