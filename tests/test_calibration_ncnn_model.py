"""calibration.ncnn_model reads with the C++ reader (`_core.ncnn_layers`, the model
check's): parameters keep their text and gain their values, weights come decoded by
storage, and bad files fail with the reader's one-line message."""

import struct

import numpy as np
import pytest

from facedge.base.errors import FacedgeError
from facedge.calibration.ncnn_model import TAG_FP16, TAG_INT8, read_model, read_param

PARAM = ("7767517\n3 3\n"
         "Input in0 0 1 in0 0=4 1=4 2=2\n"
         "ConvolutionDepthWise dw0 1 1 in0 d0 0=2 1=1 5=1 6=2 7=2 8=2\n"
         "Convolution conv0 1 1 d0 out0 0=1 1=1 6=2 9=2 -23310=1,1.000000e-01\n")


def write(tmp_path, param, chunks):
    (tmp_path / "m.param").write_text(param)
    (tmp_path / "m.bin").write_bytes(b"".join(chunks))
    return tmp_path / "m.param", tmp_path / "m.bin"


def fp32(*values):
    return struct.pack(f"<{len(values)}f", *values)


BIN = [struct.pack("<I", TAG_INT8) + bytes([0xFD, 0x05, 0, 0]),  # dw0: int8 weights -3, 5
       fp32(0.5, -0.5),  # bias
       fp32(64.0), fp32(8.0),  # one weight scale (8=2), the input scale
       struct.pack("<I", TAG_FP16) + struct.pack("<2e", 1.5, -2.0)]  # conv0: fp16 weights


def test_parameters_and_weights(tmp_path):
    model = read_model(*write(tmp_path, PARAM, BIN), allow_int8=True)
    dw, conv = model.layers[1], model.layers[2]
    assert (dw.bottoms, dw.tops, dw.line_no) == (["in0"], ["d0"], 4)
    assert [c.what for c in dw.chunks] == ["weight", "bias", "weight scales", "input scale"]
    weight = dw.chunk("weight")
    assert weight.values.dtype == np.int8 and weight.values.tolist() == [-3, 5] and weight.data == BIN[0]
    np.testing.assert_array_equal(dw.chunk("bias").values, np.float32([0.5, -0.5]))
    assert conv.chunk("weight").values.dtype == np.float32 and conv.chunk("weight").values.tolist() == [1.5, -2.0]
    assert conv.param(9) == 2 and isinstance(conv.param(9), int)
    assert conv.param(10) == [0.1] and conv.param(11, "absent") == "absent"
    assert model.bin_bytes() == b"".join(BIN)


def test_set_param_writes_ncnn_text_and_reads_back_what_ncnn_will(tmp_path):
    conv = read_param(write(tmp_path, PARAM, BIN)[0])[2]
    conv.set_param(10, [0.123456789, 6])
    conv.set_param(8, 2)
    assert conv.param_fields()[-2:] == ["-23310=2,1.234568e-01,6.000000e+00", "8=2"]
    assert conv.param(10) == [0.1234568, 6.0] and conv.param(8) == 2


@pytest.mark.parametrize("param,bin_cut,message", [
    (PARAM.replace("6=2 9=2", "6=2x 9=2"), 0, r"m\.param:5: layer 'conv0' \(Convolution\): bad parameter value '6=2x' \(expected a number\)"),
    (PARAM.replace("3 3\n", "4 3\n"), 0, r"m\.param: header says 4 layers but the file has 3 layer lines"),
    (PARAM, 2, r"m\.bin: too short for layer 'conv0' \(Convolution\) weight: needs 8 bytes at offset 24 but only 6 remain"),
])
def test_bad_files_fail_with_the_readers_message(tmp_path, param, bin_cut, message):
    param_path, bin_path = write(tmp_path, param, BIN)
    if bin_cut:
        bin_path.write_bytes(bin_path.read_bytes()[:-bin_cut])
    with pytest.raises(FacedgeError, match=message):
        read_model(param_path, bin_path, allow_int8=True)


def test_an_int8_model_is_refused_unless_asked_for(tmp_path):
    with pytest.raises(FacedgeError, match=r"m\.bin: layer 'dw0' \(ConvolutionDepthWise\) is already int8"):
        read_model(*write(tmp_path, PARAM, BIN))
