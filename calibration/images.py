"""The calibration images: which files, which of them, and reading them.

A calibration source is a WIDER FACE split folder (WIDER_train/, WIDER_val/ or
WIDER_test/, each with images/<event>/*.jpg), a folder holding such splits, any
folder of images (searched recursively) or a text file listing image paths (one a
line, relative to the list's folder). The sample of N is deterministic and stable:
images are ordered by a hash of their path relative to the source, so adding or
removing other files changes few of the chosen ones, and the order does not depend
on the file system.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from facedge.base.errors import FacedgeError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
WIDER_SPLITS = ("WIDER_train", "WIDER_test", "WIDER_val")  # preferred first: val is what AP is measured on
WIDER_HINT = ("WIDER FACE images: download WIDER_train.zip (or WIDER_test.zip) from "
              "http://shuoyang1213.me/WIDERFACE/ and unpack it, then pass --calib <folder>/WIDER_train "
              "(any folder of face photos also works)")


@dataclass
class CalibrationSet:
    source: Path  # what the user named (or the default)
    root: Path  # the folder the images were listed from
    kind: str  # "wider:<split>", "folder" or "list"
    available: int  # images found
    paths: list  # the chosen ones, in sample order

    def relpaths(self):
        return [_rel(p, self.root) for p in self.paths]

    def to_json(self):
        return {"source": str(self.source), "kind": self.kind, "available": self.available, "chosen": len(self.paths)}


def find_calibration_set(calib, count: int) -> CalibrationSet:
    if count < 1:
        raise FacedgeError(f"--calib-count: expected at least 1, got {count}")
    if calib is None:
        raise FacedgeError(f"no calibration images: pass --calib DIR. {WIDER_HINT}")
    source = Path(calib).expanduser()
    if not source.exists():
        raise FacedgeError(f"--calib {source}: no such folder or list file. {WIDER_HINT}")
    if source.is_file():
        root, kind, paths = source.parent, "list", _read_list(source)
    else:
        root, kind = _wider_images_dir(source)
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise FacedgeError(f"--calib {source}: no images ({', '.join(IMAGE_SUFFIXES)}) in it or its subfolders. {WIDER_HINT}")
    ordered = sorted(paths, key=lambda p: (hashlib.sha256(_rel(p, root).encode()).hexdigest(), _rel(p, root)))
    return CalibrationSet(source, root, kind, len(paths), ordered[:count])


def _wider_images_dir(folder: Path):
    """A WIDER split's images/ folder where `folder` is a split or holds splits."""
    if (folder / "images").is_dir() and folder.name in WIDER_SPLITS:
        return folder / "images", f"wider:{folder.name}"
    for split in WIDER_SPLITS:
        if (folder / split / "images").is_dir():
            return folder / split / "images", f"wider:{split}"
    return folder, "folder"


def _read_list(path: Path):
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FacedgeError(f"--calib {path}: cannot read the image list ({e})") from None
    paths = []
    for line_no, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        p = Path(text).expanduser()
        p = p if p.is_absolute() else path.parent / p
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise FacedgeError(f"{path}:{line_no}: expected an image path ({', '.join(IMAGE_SUFFIXES)}), got {text!r}")
        paths.append(p)
    if not paths:
        raise FacedgeError(f"--calib {path}: the list names no images. {WIDER_HINT}")
    return sorted(set(paths))


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def read_image(path):
    """BGR uint8, or None where the file is missing or not a readable image."""
    import cv2

    try:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if img is None or img.size == 0:
        return None
    return img
