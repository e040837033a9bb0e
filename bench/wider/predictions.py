"""Predictions in the WIDER FACE submission layout: DIR/<event>/<image>.txt, each

    <image name>
    <number of boxes>
    x y w h score        (one line per box; x, y the top-left corner, in pixels)

The evaluation reads what this module writes; a model run is evaluated on the
values as written (formatted, then parsed back), so evaluating a saved folder gives
the very same AP.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError

# 0.01 px and 1e-6 in score: far below what changes an IoU at 0.5 or a rank.
ROW_FORMAT = "%.2f %.2f %.2f %.2f %.6f"


def format_prediction(name, rows) -> str:
    """The file text for image `name` (no extension) and rows (k, 5) x, y, w, h, score."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    lines = [name, str(len(rows))]
    lines += [ROW_FORMAT % tuple(r) for r in rows.tolist()]
    return "\n".join(lines) + "\n"


def parse_prediction(text, path):
    """(image name from the first line, rows (k, 5) float64); errors name the file and line."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not lines[0].strip():
        raise FacedgeError(f"{path}:1: expected the image name")
    name = lines[0].strip().replace("\\", "/").split("/")[-1]
    if name.lower().endswith(".jpg"):
        name = name[:-4]
    if len(lines) < 2:
        raise FacedgeError(f"{path}:2: expected the number of boxes, the file ends")
    count_text = lines[1].strip()
    if not count_text.isdigit():
        raise FacedgeError(f"{path}:2: expected the number of boxes, got {count_text[:80]!r}")
    count = int(count_text)
    body = lines[2:]
    if len(body) != count:
        raise FacedgeError(f"{path}:2: says {count} boxes but {len(body)} box lines follow")
    rows = [line.split() for line in body]
    try:
        values = np.array(rows, dtype=np.float64) if all(len(r) == 5 for r in rows) else None
    except ValueError:
        values = None
    if values is None:  # the slow way, which names the first bad line
        values = np.array([_parse_row(fields, path, k + 3, body[k]) for k, fields in enumerate(rows)], dtype=np.float64)
    values = values.reshape(-1, 5)
    bad = ~np.isfinite(values).all(axis=1) | (values[:, 2] < 0) | (values[:, 3] < 0)
    if bad.any():
        k = int(np.argmax(bad))
        _parse_row(rows[k], path, k + 3, body[k])
    return name, values


def _parse_row(fields, path, line_no, text):
    shown = text.strip()[:80]
    if len(fields) != 5:
        raise FacedgeError(f"{path}:{line_no}: expected 5 numbers 'x y w h score', got {len(fields)} fields: {shown!r}")
    try:
        x, y, w, h, s = (float(f) for f in fields)
    except ValueError:
        raise FacedgeError(f"{path}:{line_no}: expected 5 numbers 'x y w h score', got {shown!r}") from None
    if not all(np.isfinite([x, y, w, h, s])):
        raise FacedgeError(f"{path}:{line_no}: values must be finite, got {shown!r}")
    if w < 0 or h < 0:
        raise FacedgeError(f"{path}:{line_no}: width and height must be >= 0, got {shown!r}")
    return [x, y, w, h, s]


def read_predictions(pred_dir):
    """{(event, image name): (path, rows (k, 5))} for every DIR/<event>/<image>.txt."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FacedgeError(f"{pred_dir}: no such predictions folder (expected <event>/<image>.txt files)")
    files = sorted(pred_dir.glob("*/*.txt"))
    if not files:
        raise FacedgeError(f"{pred_dir}: no prediction files (expected <event>/<image>.txt)")
    out = {}
    for path in files:
        name, rows = parse_prediction(path.read_text(encoding="utf-8", errors="replace"), path)
        if name != path.stem:
            raise FacedgeError(f"{path}:1: names image {name!r}, but the file is for {path.stem!r}")
        out[(path.parent.name, path.stem)] = (path, rows)
    return out


def check_output_dir(pred_dir):
    """Fail before a long run if DIR cannot become a predictions folder: it may be
    new, empty, or an earlier predictions folder (which is then replaced)."""
    pred_dir = Path(pred_dir)
    if not pred_dir.exists():
        if not pred_dir.parent.is_dir():
            raise FacedgeError(f"{pred_dir}: its parent folder does not exist")
        return
    if not pred_dir.is_dir():
        raise FacedgeError(f"{pred_dir}: exists and is not a folder")
    for entry in pred_dir.iterdir():
        if not (entry.is_dir() and all(f.is_file() and f.suffix == ".txt" for f in entry.iterdir())):
            raise FacedgeError(f"{pred_dir}: exists and holds other things than predictions ({entry.name}); "
                               "choose a new folder")


def write_predictions(pred_dir, items):
    """Write the folder from (event, name, text) items: all files into a temporary
    folder beside it, then one rename, so DIR is never half-written."""
    pred_dir = Path(pred_dir)
    check_output_dir(pred_dir)
    tmp = Path(tempfile.mkdtemp(dir=pred_dir.parent, prefix=f".{pred_dir.name}."))
    try:
        for event, name, text in items:
            (tmp / event).mkdir(exist_ok=True)
            (tmp / event / f"{name}.txt").write_text(text, encoding="utf-8")
        if pred_dir.exists():
            old = Path(tempfile.mkdtemp(dir=pred_dir.parent, prefix=f".{pred_dir.name}.old."))
            os.replace(pred_dir, old / "predictions")
            os.replace(tmp, pred_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, pred_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
