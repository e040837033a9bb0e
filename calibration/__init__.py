"""facedge.calibration: int8 post-training quantization of ncnn models.

The entry point is `facedge.calibration.quantize.quantize(fp32_dir, out_dir, ...)`
(with DEFAULT_COUNT, DEFAULT_METHOD beside it); the CLI verb is `facedge quantize`
(cli.py)."""
