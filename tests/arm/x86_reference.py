"""The detections the arm64 build must reproduce, made by the x86 build on the host.

`python x86_reference.py OUT.npz` (with the x86 facedge importable and FACEDGE_SHARED
set) writes, for each reference model and each of the first IMAGE_COUNT demo images,
the raw network outputs and the final detections (fp32 inference, and bf16 storage
under `bf16/`). test_arm_parity.py
reads the file inside the arm64 rootfs. Also imported there for the shared constants.
"""

import hashlib
import os
import sys
import tempfile
from pathlib import Path

MODELS = {"RFB-320": "ultraface-rfb", "slim_320": "ultraface-slim"}
INPUT_SIZE = (320, 240)
SCORE_THRESHOLD = 0.5
IMAGE_COUNT = 5


def shared_dir() -> Path:
    return Path(os.environ.get("FACEDGE_SHARED") or Path(__file__).resolve().parents[3] / "shared")


def model_files(name):
    root = shared_dir() / "reference" / "ultraface-ncnn"
    return root / f"{name}.param", root / f"{name}.bin"


def image_paths():
    images = sorted((shared_dir() / "images" / "ultraface-demo").glob("*.jpg"))[:IMAGE_COUNT]
    if len(images) != IMAGE_COUNT:
        raise SystemExit(f"expected {IMAGE_COUNT} demo images in {shared_dir() / 'images' / 'ultraface-demo'}")
    return images


def make_detector(name, **options):
    """The reference model at the reference settings; bf16 off unless asked for, so a
    change of the runtime's default does not turn the fp32 comparisons into bf16 ones."""
    import facedge

    options.setdefault("bf16", False)

    param, bin_ = model_files(name)
    return facedge.Detector.from_ncnn(param, bin_, family=MODELS[name], input_size=INPUT_SIZE,
                                      score_threshold=SCORE_THRESHOLD, **options)


def main(out_path):
    import cv2
    import numpy as np

    arrays = {}
    for path in image_paths():
        pixels = np.ascontiguousarray(cv2.imread(str(path))).tobytes()
        arrays[f"image/{path.name}/sha256"] = np.array(hashlib.sha256(pixels).hexdigest())
    for name in MODELS:
        for storage in ("fp32", "bf16"):
            det = make_detector(name, fp16=False, bf16=storage == "bf16")
            assert det.float_storage == storage, (name, storage, det.float_storage)
            for path in image_paths():
                image = cv2.imread(str(path))
                raw = det.infer(image)
                res = det.detect(image)
                key = f"{name}/{path.name}" + ("/bf16" if storage == "bf16" else "")
                arrays[f"{key}/raw_scores"] = raw["scores"]
                arrays[f"{key}/raw_boxes"] = raw["boxes"]
                arrays[f"{key}/boxes"] = res.boxes
                arrays[f"{key}/scores"] = res.scores
    out = Path(out_path)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, **arrays)
    os.replace(tmp.name, out)
    faces = sum(len(v) for k, v in arrays.items() if k.endswith("/scores") and "/raw_" not in k and "/bf16/" not in k)
    print(f"x86 reference: {len(MODELS)} models x {IMAGE_COUNT} images, {faces} faces -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python x86_reference.py OUT.npz")
    main(sys.argv[1])
