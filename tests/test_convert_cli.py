"""`facedge convert` argument handling and the runtime-only install (fast)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from facedge import cli
from facedge.convert import cli as convert_cli


def _main(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_parsing_the_command_line_imports_no_conversion_tool():
    code = ("import sys; from facedge.cli import build_parser; "
            "build_parser().parse_args(['convert', 'w.pth', '--arch', 'ultraface-rfb']); "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxsim', 'onnxruntime', 'pnnx', 'ncnn') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent,
                         env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_runtime_only_install_is_told_which_extra_to_install(monkeypatch, capsys, tmp_path):
    real = convert_cli.importlib.util.find_spec
    hidden = {"torch", "onnxsim", "pnnx"}
    monkeypatch.setattr(convert_cli.importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    rc, out, err = _main(["convert", str(tmp_path / "w.pth"), "-o", str(tmp_path / "out")], capsys)
    assert rc == 1
    assert err.strip() == ("facedge convert: error: needs the conversion tools, missing torch, onnxsim, pnnx: "
                           "install them with pip install 'facedge[convert]'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", [["--calib", "."], ["--keep-fp32", "none"], ["--max-ap-loss", "0.01"],
                                    ["--target", "pi5"], ["--float-order", "cycles"], ["--bias-correction"],
                                    ["--rounding", "adaptive"], ["--check-on", "views"]])
def test_calibration_options_need_int8(capsys, tmp_path, option):
    rc, _, err = _main(["convert", *option, "-o", str(tmp_path / "out")], capsys)
    assert rc == 1
    assert ("--calib, --calib-count, --calib-method, --keep-fp32, --max-ap-loss, --eval, --target, "
            "--float-order, --bias-correction, --rounding and --check-on need --int8") in err
    assert not (tmp_path / "out").exists()


def test_int8_without_calibration_images_says_where_they_come_from(capsys, tmp_path):
    rc, _, err = _main(["convert", "--int8", "-o", str(tmp_path / "out")], capsys)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facedge convert: error: --int8 needs calibration images: pass --calib DIR. ")
    assert "http://shuoyang1213.me/WIDERFACE/" in lines[0] and "any folder of face photos also works" in lines[0]
    assert not (tmp_path / "out").exists()


def test_unknown_arch_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["convert", "w.pth", "--arch", "yolov8"])
    assert e.value.code == 2
    assert "invalid choice: 'yolov8'" in capsys.readouterr().err


@pytest.mark.convert
@pytest.mark.parametrize("text", ["640", "640x", "x480", "640*480", "640x-480", "0x480"])
def test_malformed_input_size(capsys, tmp_path, text):
    pytest.importorskip("torch")
    rc, _, err = _main(["convert", str(tmp_path / "w.pth"), "--input-size", text], capsys)
    assert rc == 1
    assert err.strip() == f"facedge convert: error: --input-size {text}: expected WIDTHxHEIGHT in pixels, e.g. 640x480"
