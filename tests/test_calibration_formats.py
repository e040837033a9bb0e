"""The pieces of int8 calibration against independent references: ncnn's own file
reading and load-time quantization, a loop-by-loop KL search, the table format
ncnn2int8 reads, and a numpy model of int8 layers checked against ncnn's output."""

import copy
import shutil
import struct

import numpy as np
import pytest

import facedge
from facedge.calibration.graph import quantizable_layers
from facedge.calibration.int8_model import build_int8_model, quantize_weights
from facedge.calibration.layer_sim import ConvGeometry, forward_int8, quantize_values
from facedge.calibration.ncnn_model import TAG_FP16, TAG_INT8, Chunk, read_model, tagged_fp32
from facedge.calibration.scales import kl_threshold, weight_scales
from facedge.calibration.table import LayerScales, read_table, table_text
from facedge.calibration.trial import write_model_dir
from facedge.base.errors import FacedgeError

ncnn = pytest.importorskip("ncnn", reason="the ncnn Python wheel is the independent reference (pip install ncnn)")

INFO = {"format": 1, "family": "ultraface-rfb", "input_size": [320, 240], "precision": "fp32", "pixel": "rgb",
        "mean": [127, 127, 127], "norm": [0.0078125] * 3, "input": "input", "outputs": {"scores": "scores", "boxes": "boxes"}}


@pytest.fixture(scope="module")
def rfb(reference_ultraface):
    param, bin_ = reference_ultraface["RFB-320"]
    return read_model(param, bin_)


@pytest.fixture(scope="module")
def image(demo_images):
    import cv2

    return cv2.imread(str(demo_images[0]))


def random_scales(model, seed=0):
    """Plausible scales for every quantizable layer (not calibrated: the tests here
    are about arithmetic and formats, not accuracy)."""
    rng = np.random.default_rng(seed)
    return {q.name: LayerScales(weight_scales(q.weights(model), q.groups, q.weight_6bit), np.float32(rng.uniform(20, 120)))
            for q in quantizable_layers(model)}


def test_reading_and_writing_back_is_byte_identical(reference_ultraface):
    for name, (param, bin_) in reference_ultraface.items():
        model = read_model(param, bin_)
        assert model.bin_bytes() == bin_.read_bytes(), name
        # the text is reformatted, but ncnn reads the same graph: same outputs
        relaid = [line.split() for line in model.param_text().splitlines()]
        original = [line.split() for line in param.read_text().splitlines()]
        assert relaid == original, name


def test_ncnn_own_load_time_quantization_gives_the_same_network(rfb, image, tmp_path):
    """ncnn quantizes fp32 weights itself when a layer has int8_scale_term (its
    quantize_to_int8): a model with our int8 weights must compute exactly what the
    same model with fp32 weights and the same scales computes."""
    scales = random_scales(rfb)
    int8, _ = build_int8_model(rfb, scales, {"scores", "boxes"})
    by_name = {layer.name: layer for layer in rfb.layers}
    fp32_weights = copy.deepcopy(int8)
    for layer in fp32_weights.layers:
        if layer.name in scales:
            w = by_name[layer.name].chunk("weight").values
            layer.chunks[0] = Chunk("weight", True, tagged_fp32(w), w)
    write_model_dir(tmp_path / "ours", int8, INFO)
    write_model_dir(tmp_path / "ncnn", fp32_weights, INFO)
    a = facedge.Detector(str(tmp_path / "ours"), threads=1, fp16=False).infer(image)
    b = facedge.Detector(str(tmp_path / "ncnn"), threads=1, fp16=False).infer(image)
    np.testing.assert_array_equal(a["scores"], b["scores"])
    np.testing.assert_array_equal(a["boxes"], b["boxes"])


def test_int8_model_layout_as_ncnn2int8_writes_it(rfb):
    scales = random_scales(rfb)
    int8, notes = build_int8_model(rfb, scales, {"scores", "boxes"})
    layers = {layer.name: layer for layer in int8.layers}
    data = int8.bin_bytes()
    assert len(data) % 4 == 0
    conv = layers["245"]  # 3x3 s2 Convolution, ReLU fused, feeds a depthwise int8 layer
    assert conv.int_param(8) == 102 and conv.int_param(9) == 1
    assert [c.what for c in conv.chunks] == ["weight", "bias", "weight scales", "input scale", "output scale"]
    tag = struct.unpack("<I", conv.chunks[0].data[:4])[0]
    assert tag == TAG_INT8 and len(conv.chunks[0].data) == 4 + 432
    np.testing.assert_array_equal(conv.chunks[2].values, scales["245"].weight)
    assert conv.chunks[3].values[0] == scales["245"].input
    assert conv.chunks[4].values[0] == scales["248"].input  # the next layer's input scale
    dw = layers["248"]
    assert dw.int_param(8) == 101 and len(dw.chunk("weight scales").values) == 16
    assert notes["requantized"] and notes["fused_activations"]


def test_float_layers_are_stored_fp16_and_left_out_of_the_table(rfb):
    scales = random_scales(rfb)
    kept = "248"
    int8, _ = build_int8_model(rfb, {n: s for n, s in scales.items() if n != kept}, {"scores", "boxes"})
    layer = {layer.name: layer for layer in int8.layers}[kept]
    assert layer.int_param(8, 0) == 0
    assert struct.unpack("<I", layer.chunk("weight").data[:4])[0] == TAG_FP16
    # the layer before no longer requantizes: its reader takes float
    assert {layer.name: layer for layer in int8.layers}["245"].int_param(8) == 2


def test_quantize_weights_rounds_half_away_from_zero_and_clamps():
    w = np.array([0.5, -0.5, 1.5, -2.5, 0.49999997, 200.0, -200.0, 0.0], np.float32)
    q = quantize_weights(w, np.array([1.0], np.float32))
    np.testing.assert_array_equal(q, [1, -1, 2, -3, 0, 127, -127, 0])
    assert weight_scales(np.zeros((2, 9), np.float32), 2, False).tolist() == [0.0, 0.0]  # ncnn: output = bias


def test_table_round_trip_and_format(rfb, tmp_path):
    scales = random_scales(rfb)
    text = table_text(scales)
    lines = text.splitlines()
    n = len(scales)
    assert len(lines) == 2 * n
    assert all(line.endswith(" ") for line in lines)  # as ncnn2table writes each value
    assert lines[0].startswith("245_param_0 ") and len(lines[0].split()) == 1 + 16
    assert lines[n].split()[0] == "245" and len(lines[n].split()) == 2
    path = tmp_path / "t.table"
    path.write_text(text)
    back = read_table(path)
    assert list(back) == list(scales)
    for name, s in scales.items():
        np.testing.assert_array_equal(back[name].weight, s.weight)
        assert back[name].input == s.input


@pytest.mark.parametrize("text,message", [
    ("245_param_0 1 2 \n", "no input scale line"),
    ("245 3.5 \n", "no weight scale line"),
    ("245_param_0 1 x \n245 1 \n", "expected numbers"),
    ("245_param_0 1 \n245 0 \n", "positive input scale"),
    ("245_param_0 1 \n245 1 2 \n", "positive input scale"),
    ("", "lists no layers"),
])
def test_bad_tables_are_refused_with_the_line(tmp_path, text, message):
    path = tmp_path / "bad.table"
    path.write_text(text)
    with pytest.raises(FacedgeError, match=message):
        read_table(path)


def kl_loop(h, absmax):
    """The entropy search written out bin by bin: P clipped at t bins (tail folded
    into the last), Q from the unclipped bins merged into 128 groups and spread over
    each group's non-empty bins, both normalized; min KL(P||Q) over t."""
    h = np.asarray(h, float)
    best = None
    for t in range(128, len(h)):
        p = h[:t].copy()
        p[t - 1] += h[t:].sum()
        p /= p.sum()
        group = (np.arange(t) * 128) // t
        mass = np.bincount(group, weights=h[:t], minlength=128)
        nonzero = np.bincount(group, weights=(p > 0), minlength=128)
        q = np.where(p > 0, mass[group] / np.maximum(nonzero[group], 1), 0.0)
        if q.sum() == 0:
            continue
        q /= q.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.sum(np.where(p > 0, p * np.log(p / q), 0.0))
        if np.isfinite(kl) and (best is None or kl < best[0] - 1e-12):
            best = (kl, t)
    return (best[1] + 0.5) * absmax / len(h)


@pytest.mark.parametrize("kind", ["laplace", "normal", "relu"])
def test_kl_threshold_equals_the_loop(kind):
    rng = np.random.default_rng(7)
    x = {"laplace": rng.laplace(size=100_000), "normal": rng.normal(size=100_000),
         "relu": np.maximum(rng.normal(0.3, 1.0, size=100_000), 0)}[kind]
    a = np.abs(x[x != 0])
    absmax = a.max()
    hist = np.bincount(np.minimum((a / absmax * 2048).astype(int), 2047), minlength=2048)
    got = kl_threshold(hist, absmax)
    assert got == pytest.approx(kl_loop(hist, absmax), rel=1e-12)
    assert 0 < got < absmax  # heavy tails get clipped


def test_layer_model_matches_ncnn_int8_output(rfb, image, tmp_path):
    """layer_sim's integer arithmetic against ncnn's int8 kernels, on the first
    layer (float input, int8 requantized output) and a depthwise layer."""
    scales = random_scales(rfb, seed=3)
    int8, _ = build_int8_model(rfb, scales, {"scores", "boxes"})
    write_model_dir(tmp_path / "m", int8, dict(INFO, precision="int8"))
    det = facedge.Detector(str(tmp_path / "m"), threads=1, fp16=False)
    layers = {layer.name: layer for layer in int8.layers}
    for name in ("245", "248"):
        layer = layers[name]
        blobs = det.extract_blobs(image, [layer.bottoms[0], layer.tops[0]])
        x, y = blobs[layer.bottoms[0]], blobs[layer.tops[0]]
        s_in = layer.chunk("input scale").values[0]
        if name != "245":
            x = x / s_in  # the blob holds the int8 values the previous layer requantized
        out = forward_int8(ConvGeometry.of(layer), x, layer.chunk("weight").values, layer.chunk("weight scales").values,
                           s_in, layer.chunk("bias").values)
        out = quantize_values(out, layer.chunk("output scale").values[0]).reshape(y.shape)
        diff = np.abs(out - y)
        assert diff.max() <= 1  # float rounding of the requantize step can land one level off
        assert np.mean(diff == 0) > 0.995, name


def test_stock_ncnn_loads_the_int8_model_and_agrees(rfb, image, tmp_path):
    int8, _ = build_int8_model(rfb, random_scales(rfb), {"scores", "boxes"})
    d = tmp_path / "m"
    write_model_dir(d, int8, dict(INFO, precision="int8"))
    det = facedge.Detector(str(d), threads=1, fp16=False)
    assert det.int8_layer_count == len(quantizable_layers(rfb))
    blobs = det.extract_blobs(image, ["input", "scores", "boxes"])
    net = ncnn.Net()
    net.opt.num_threads = 1
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    assert net.load_param(str(d / "model.param")) == 0 and net.load_model(str(d / "model.bin")) == 0
    ex = net.create_extractor()
    ex.input("input", ncnn.Mat(np.ascontiguousarray(blobs["input"])))
    for name in ("scores", "boxes"):
        _, out = ex.extract(name)
        np.testing.assert_allclose(np.array(out).reshape(blobs[name].shape), blobs[name], atol=1e-5, err_msg=name)


def test_an_int8_input_model_is_refused(rfb, tmp_path):
    int8, _ = build_int8_model(rfb, random_scales(rfb), {"scores", "boxes"})
    write_model_dir(tmp_path / "m", int8, INFO)
    with pytest.raises(FacedgeError, match="already int8"):
        read_model(tmp_path / "m" / "model.param", tmp_path / "m" / "model.bin")
    again = read_model(tmp_path / "m" / "model.param", tmp_path / "m" / "model.bin", allow_int8=True)
    assert again.bin_bytes() == int8.bin_bytes()


def test_a_truncated_bin_names_the_layer(reference_ultraface, tmp_path):
    param, bin_ = reference_ultraface["RFB-320"]
    shutil.copy(param, tmp_path / "m.param")
    (tmp_path / "m.bin").write_bytes(bin_.read_bytes()[:5000])
    with pytest.raises(FacedgeError, match="too short for layer"):
        read_model(tmp_path / "m.param", tmp_path / "m.bin")
    (tmp_path / "m.bin").write_bytes(bin_.read_bytes() + b"\0" * 8)
    with pytest.raises(FacedgeError, match="8 bytes left"):
        read_model(tmp_path / "m.param", tmp_path / "m.bin")
