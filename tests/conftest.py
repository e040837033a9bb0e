import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# The repository's folders install under other names (runtime/ -> facedge.runtime):
# the source folder facedge/ must not shadow the installed package, which
# `python -m pytest` run from the repository root would make it do.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT]


def _shared():
    if os.environ.get("FACEDGE_SHARED"):
        p = Path(os.environ["FACEDGE_SHARED"])
    else:
        p = REPO_ROOT.parent / "shared"
    return p if p.is_dir() else None


@pytest.fixture(scope="session")
def shared():
    """The shared data folder (../shared or FACEDGE_SHARED); tests skip without it."""
    p = _shared()
    if p is None:
        pytest.skip("shared data not found: set FACEDGE_SHARED or put it at ../shared beside the repository")
    return p


@pytest.fixture(scope="session")
def demo_images(shared):
    images = sorted((shared / "images" / "ultraface-demo").glob("*.jpg"))
    if not images:
        pytest.skip(f"no demo images in {shared / 'images' / 'ultraface-demo'}")
    return images


@pytest.fixture(scope="session")
def reference_ultraface(shared):
    """The upstream ULFD ncnn conversions: {'RFB-320': (param, bin), 'slim_320': (param, bin)}."""
    root = shared / "reference" / "ultraface-ncnn"
    out = {}
    for name in ("RFB-320", "slim_320"):
        param, bin_ = root / f"{name}.param", root / f"{name}.bin"
        if not (param.is_file() and bin_.is_file()):
            pytest.skip(f"reference model {param} missing")
        out[name] = (param, bin_)
    return out


def write_reference_model_dir(path, reference_ultraface, name="RFB-320"):
    """A facedge model directory made of the upstream ULFD ncnn files (blob names
    input/scores/boxes)."""
    import json
    import shutil

    param, bin_ = reference_ultraface[name]
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(param, path / "model.param")
    shutil.copy(bin_, path / "model.bin")
    family = "ultraface-rfb" if name.startswith("RFB") else "ultraface-slim"
    (path / "facedge.json").write_text(json.dumps({
        "format": 1, "family": family, "input_size": [320, 240], "precision": "fp32", "pixel": "rgb",
        "mean": [127, 127, 127], "norm": [1 / 128] * 3, "input": "input", "outputs": {"scores": "scores", "boxes": "boxes"}}))
    return path


@pytest.fixture
def model_dir(tmp_path, reference_ultraface):
    """The upstream RFB-320 as a model directory in a temporary folder."""
    return write_reference_model_dir(tmp_path / "rfb", reference_ultraface)


@pytest.fixture
def run_cli(tmp_path):
    """Run `python -m facedge ARGS...` from a folder outside the repository (so the
    installed package is the one imported); returns the CompletedProcess."""

    def run(*args, timeout=600, **kwargs):
        return subprocess.run([sys.executable, "-m", "facedge", *map(str, args)], cwd=kwargs.pop("cwd", tmp_path),
                              capture_output=True, text=True, timeout=timeout, **kwargs)

    return run


@pytest.fixture
def camera(monkeypatch):
    """The picamera2 stand-in (tests/fake_picamera2.py) installed as `picamera2` for one
    test: its world (scene, encoders, failures) to steer, reset before and after."""
    import fake_picamera2

    fake_picamera2.world.reset()
    fake_picamera2.install(lambda name, module: monkeypatch.setitem(sys.modules, name, module))
    yield fake_picamera2.world
    fake_picamera2.world.reset()
