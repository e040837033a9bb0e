"""facedge.runtime: the Detector (C++ core on ncnn), model directories, the camera demo."""

from facedge.base.errors import FacedgeError


def __getattr__(name):
    # Detector imports the compiled core; keep `import facedge.base.model_dir` light.
    if name in ("Detector", "DetectionResult", "default_options"):
        from facedge.runtime import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'facedge.runtime' has no attribute {name!r}")


__all__ = ["Detector", "DetectionResult", "FacedgeError", "default_options"]
