"""Faces as JSON, the same in every output (`facedge detect --json`, the camera's JSON
lines and web page): [{"box": [x1, y1, x2, y2], "score": s, "label": "face",
"landmarks": [[x, y], ...]}] in image pixels, coordinates to 0.01 pixel, scores to 1e-4;
"label" is the face's class name from the model (e.g. "face", or "mask" for a mask
detector); "landmarks" only for models that have them."""

COORDINATE_DECIMALS = 2
SCORE_DECIMALS = 4


def faces_to_json(boxes, scores, landmarks=None, names=None) -> list:
    """names: each face's class name (default "face")."""
    faces = []
    for i in range(len(scores)):
        face = {"box": [round(float(v), COORDINATE_DECIMALS) for v in boxes[i]],
                "score": round(float(scores[i]), SCORE_DECIMALS), "label": names[i] if names is not None else "face"}
        if landmarks is not None:
            face["landmarks"] = [[round(float(x), COORDINATE_DECIMALS), round(float(y), COORDINATE_DECIMALS)]
                                 for x, y in landmarks[i]]
        faces.append(face)
    return faces
