"""facedge.calibration: int8 post-training quantization of ncnn models.

`quantize(fp32_dir, out_dir, ...)` is the entry point (see quantize.py); the CLI verb
is `facedge quantize` (cli.py)."""


def quantize(*args, **kwargs):
    from facedge.calibration.quantize import quantize as _quantize

    return _quantize(*args, **kwargs)
