"""WIDER val predictions of a facedge model from inside the arm64 rootfs under qemu (the
aarch64 wheel, as a Pi runs it), in the submission layout, for `facedge eval
--predictions` or bf16_accuracy.py --predictions on the host (the guest has no scipy
for the ground truth). The inference options are `facedge eval`'s defaults.

    python3.11 bench/a72/wider_guest.py MODEL_DIR WxH BF16(on|off|auto) WIDER_ROOT OUT_DIR
"""

import sys
from pathlib import Path


def main(argv) -> int:
    if len(argv) != 5:
        raise SystemExit(__doc__)
    import cv2

    import facedge
    from facedge.bench.wider.predictions import format_prediction, write_predictions
    from facedge.bench.wider.run import DEFAULT_IOU, DEFAULT_NMS, DEFAULT_SCORE_THRESHOLD, DEFAULT_TOP_K, detections_to_rows

    model, size, bf16, root, out = argv
    w, h = (int(v) for v in size.split("x"))
    det = facedge.Detector(model, threads=1, input_size=(w, h), score_threshold=DEFAULT_SCORE_THRESHOLD,
                           iou_threshold=DEFAULT_IOU, top_k=DEFAULT_TOP_K, nms=DEFAULT_NMS, bf16=bf16)
    items = []
    for path in sorted(Path(root, "WIDER_val", "images").glob("*/*.jpg")):
        res = det.detect(cv2.imread(str(path), cv2.IMREAD_COLOR))
        items.append((path.parent.name, path.stem, format_prediction(path.stem, detections_to_rows(res.boxes, res.scores))))
    write_predictions(out, items)
    print(f"{det!r}: {len(items)} images -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
