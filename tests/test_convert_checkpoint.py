"""Reading checkpoints and recognising their architecture (fast; needs torch)."""

import pytest

torch = pytest.importorskip("torch", reason="needs the facedge[convert] extra (torch)")

from facedge.convert import families  # noqa: E402
from facedge.convert.checkpoint import compare, load_into, load_state_dict  # noqa: E402
from facedge.base.errors import FacedgeError  # noqa: E402

pytestmark = pytest.mark.convert

SHARED_CHECKPOINTS = {
    "ultraface/version-slim-320.pth": "ultraface-slim",
    "ultraface/version-slim-640.pth": "ultraface-slim",
    "ultraface/version-RFB-320.pth": "ultraface-rfb",
    "ultraface/version-RFB-640.pth": "ultraface-rfb",
    "retinaface/mobilenet0.25_Final.pth": "retinaface-mnet",
    "blazeface-fpn-ssh/blazeface_fpn_ssh_1000e.pt": "blazeface-fpn-ssh",
}


class NotATensor:
    pass


def _small_state():
    return {"layer.weight": torch.arange(6.0).reshape(2, 3), "layer.bias": torch.zeros(2)}


def test_plain_wrapped_and_dataparallel_state_dicts_load(tmp_path):
    plain, wrapped, parallel = tmp_path / "plain.pth", tmp_path / "wrapped.pth", tmp_path / "parallel.pt"
    torch.save(_small_state(), plain)
    torch.save({"state_dict": _small_state(), "epoch": 3}, wrapped)
    torch.save({f"module.{k}": v for k, v in _small_state().items()}, parallel)
    for path in (plain, wrapped, parallel):
        state = load_state_dict(path)
        assert sorted(state) == ["layer.bias", "layer.weight"]
        assert torch.equal(state["layer.weight"], torch.arange(6.0).reshape(2, 3))


def test_legacy_format_loads(tmp_path):
    path = tmp_path / "legacy.pth"
    torch.save(_small_state(), path, _use_new_zipfile_serialization=False)
    assert torch.equal(load_state_dict(path)["layer.bias"], torch.zeros(2))


@pytest.mark.parametrize("content,expected", [
    (b"", "empty file, not a PyTorch checkpoint"),
    (b"Ultra-Light-Fast face detector\n", "not a PyTorch checkpoint"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a PyTorch checkpoint"),
])
def test_non_checkpoints_are_named_as_such(tmp_path, content, expected):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(FacedgeError, match=f"^{path}: {expected}"):
        load_state_dict(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_checkpoints_say_truncated(tmp_path, legacy):
    full = tmp_path / "full.pth"
    torch.save({"w": torch.randn(64, 64)}, full, _use_new_zipfile_serialization=not legacy)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(FacedgeError, match=f"^{cut}: truncated or corrupt PyTorch checkpoint"):
        load_state_dict(cut)


def test_checkpoints_with_code_are_refused_not_run(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"model": NotATensor()}, path)
    with pytest.raises(FacedgeError, match="holds Python objects besides tensors"):
        load_state_dict(path)


def test_non_dict_and_non_tensor_contents(tmp_path):
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(FacedgeError, match=r"expected a state_dict \(a dict of tensors\), got list"):
        load_state_dict(listed)
    mixed = tmp_path / "mixed.pth"
    torch.save({"w": torch.zeros(1), "lr": 0.1}, mixed)
    with pytest.raises(FacedgeError, match="'lr' is a float"):
        load_state_dict(mixed)


def test_missing_file(tmp_path):
    with pytest.raises(FacedgeError, match="no such checkpoint file"):
        load_state_dict(tmp_path / "nope.pth")


def test_strict_comparison_lists_missing_unexpected_and_shapes():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    state = dict(net.state_dict())
    state["0.weight"] = torch.zeros(8, 3, 5, 5)
    del state["1.bias"]
    state["2.weight"] = torch.zeros(1)
    mismatch = compare(net, state)
    assert mismatch.missing == ["1.bias"]
    assert mismatch.unexpected == ["2.weight"]
    assert mismatch.shapes == [("0.weight", (8, 3, 5, 5), (8, 3, 3, 3))]
    with pytest.raises(FacedgeError, match=r"missing 1\.bias; unexpected 2\.weight; shape 0\.weight \(8, 3, 5, 5\) vs \(8, 3, 3, 3\)"):
        load_into(net, state, "test.pth")


def test_batchnorm_counters_may_be_absent():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert compare(net, state).empty()
    load_into(net, state, "old-torch.pth")


@pytest.mark.parametrize("rel,family", sorted(SHARED_CHECKPOINTS.items()))
def test_shared_checkpoints_are_recognised_and_fit(shared, rel, family):
    path = shared / "weights" / rel
    state = load_state_dict(path)
    detected = families.detect(state, path)
    assert detected.name == family
    net, num_classes = families.fit(detected, state, path)
    assert num_classes == 2
    for key, value in net.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, state[key]), key


def test_checkpoint_of_another_architecture_names_what_did_not_fit(shared):
    path = shared / "weights" / "ultraface" / "version-RFB-320.pth"
    state = load_state_dict(path)
    with pytest.raises(FacedgeError) as e:
        families.fit(families.get("ultraface-slim"), state, path)
    msg = str(e.value)
    assert "\n" not in msg
    assert "as ultraface-slim: checkpoint does not fit the network" in msg
    assert "missing base_net.7.0.weight" in msg and "unexpected base_net.7.branch0.0.conv.weight" in msg


def test_unrecognised_checkpoint_reports_every_family():
    state = {"features.0.weight": torch.zeros(16, 3, 3, 3)}
    with pytest.raises(FacedgeError) as e:
        families.detect(state, "mystery.pth")
    msg = str(e.value)
    assert msg.startswith("mystery.pth: fits none of the supported architectures")
    for name in families.NAMES:
        assert f"{name}: no " in msg


def test_near_miss_reports_the_shapes_that_differ(shared):
    path = shared / "weights" / "retinaface" / "mobilenet0.25_Final.pth"
    state = load_state_dict(path)
    state["fpn.merge1.0.weight"] = torch.zeros(64, 64, 1, 1)
    # every layer name fits RetinaFace: the error is about it alone, naming the layer
    with pytest.raises(FacedgeError, match=r"has the layers of retinaface-mnet, but 1 of them with other shapes "
                                           r"\(another width or variant of it\?\); checkpoint vs retinaface-mnet: "
                                           r"fpn\.merge1\.0 weight \(64, 64, 1, 1\) vs \(64, 64, 3, 3\)$"):
        families.detect(state, path)


def test_class_count_is_read_from_the_checkpoint():
    family = families.get("ultraface-rfb")
    state = family.build(4).state_dict()
    assert families.detect(state, "four.pth").name == "ultraface-rfb"
    net, num_classes = families.fit(family, state, "four.pth")
    assert num_classes == 4
    assert net.classification_headers[0][2].out_channels == 3 * 4


def test_unknown_arch_name():
    with pytest.raises(FacedgeError, match="--arch yolo: unknown architecture"):
        families.get("yolo")
