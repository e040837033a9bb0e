"""facedge: face detection for the Raspberry Pi and other ARM boards.

`facedge.Detector` is the runtime (C++ on ncnn). The subpackages are the stages:
`facedge.convert` (PyTorch -> ONNX -> ncnn), `facedge.calibration` (int8),
`facedge.bench` (speed and WIDER FACE accuracy), `facedge.runtime` (Detector,
model directories, camera).
"""

from facedge.base.errors import FacedgeError

__version__ = "0.1.0"

__all__ = ["Detector", "DetectionResult", "FacedgeError", "__version__"]


def __getattr__(name):
    # Lazy, so that pure-Python parts (evaluation, conversion) import without the
    # compiled core being built yet.
    if name in ("Detector", "DetectionResult"):
        from facedge import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'facedge' has no attribute {name!r}")
