"""Faces as JSON, the same in every output (`facedge detect --json`, the camera's JSON
lines and web page): [{"box": [x1, y1, x2, y2], "score": s, "landmarks": [[x, y], ...]}]
in image pixels, coordinates to 0.01 pixel, scores to 1e-4; "landmarks" only for
models that have them."""

COORDINATE_DECIMALS = 2
SCORE_DECIMALS = 4


def faces_to_json(boxes, scores, landmarks=None) -> list:
    faces = []
    for i in range(len(scores)):
        face = {"box": [round(float(v), COORDINATE_DECIMALS) for v in boxes[i]],
                "score": round(float(scores[i]), SCORE_DECIMALS)}
        if landmarks is not None:
            face["landmarks"] = [[round(float(x), COORDINATE_DECIMALS), round(float(y), COORDINATE_DECIMALS)]
                                 for x, y in landmarks[i]]
        faces.append(face)
    return faces
