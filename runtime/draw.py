"""Drawing detections on BGR frames (facedge detect --save, the camera demo)."""

import cv2

BOX_COLOR = (0, 255, 0)  # BGR green
LANDMARK_COLORS = [(255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0)]


def draw_detections(frame, result, thickness=None):
    """Boxes, scores and landmarks of a DetectionResult, drawn in place on a BGR frame."""
    h, w = frame.shape[:2]
    thickness = thickness or max(1, round(max(h, w) / 400))
    for i in range(len(result)):
        x1, y1, x2, y2 = (int(round(float(v))) for v in result.boxes[i])
        cv2.rectangle(frame, (x1, y1), (x2, y2), BOX_COLOR, thickness)
        names = getattr(result, "class_names", ("face",))
        text = f"{float(result.scores[i]):.2f}"
        if len(names) > 1:  # a multi-class model: say which class
            text = f"{names[int(result.labels[i])]} {text}"
        cv2.putText(frame, text, (x1, max(0, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, BOX_COLOR, max(1, thickness // 2), cv2.LINE_AA)
        if result.landmarks is not None:
            for k, (x, y) in enumerate(result.landmarks[i]):
                cv2.circle(frame, (int(round(float(x))), int(round(float(y)))), thickness + 1, LANDMARK_COLORS[k % len(LANDMARK_COLORS)], -1)
    return frame
