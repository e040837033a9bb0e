"""WIDER FACE val ground truth: the annotation text file and the four .mat files
the standard evaluation reads, cross-checked against each other and against the
images present.

Layout under ROOT (as distributed):

    wider_face_split/wider_face_val_bbx_gt.txt
    eval_tools_ground_truth/wider_{face,easy,medium,hard}_val.mat
    WIDER_val/images/<event>/<image>.jpg

`wider_face_val.mat` holds every image's boxes (x, y, w, h); each setting's mat
holds `gt_list`: per image, the 1-based indices of the boxes that setting counts.
The other boxes of the image are that setting's "ignore" boxes: a detection that
best matches one of them is neither a hit nor a false positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedge.base.errors import FacedgeError

SETTINGS = ("easy", "medium", "hard")
GT_TXT = Path("wider_face_split") / "wider_face_val_bbx_gt.txt"
MAT_DIR = Path("eval_tools_ground_truth")
IMAGES_DIR = Path("WIDER_val") / "images"


@dataclass
class GtImage:
    event: str  # '0--Parade'
    name: str  # '0_Parade_marchingband_1_465', without '.jpg'
    boxes: np.ndarray  # (n, 4) float64 x, y, w, h as annotated
    keep: dict  # setting -> (n,) bool: the boxes that setting counts; the others are ignored
    line: int  # line of the image's name in the gt text file, for messages

    @property
    def relpath(self) -> str:
        return f"{self.event}/{self.name}.jpg"


@dataclass
class WiderVal:
    root: Path
    txt_path: Path
    images: list  # GtImage, in the order of the gt text file
    by_key: dict  # (event, name) -> GtImage


def load_wider_val(root) -> WiderVal:
    """The val ground truth under ROOT, with the text file and the .mat files checked
    to describe the same images and boxes."""
    root = Path(root)
    if not root.is_dir():
        raise FacedgeError(f"{root}: no such WIDER FACE folder (expected {GT_TXT}, {MAT_DIR}/ and {IMAGES_DIR}/ in it)")
    txt_path = root / GT_TXT
    txt = read_gt_txt(txt_path)
    mats = read_eval_mats(root / MAT_DIR)
    images = []
    by_key = {}
    for line, relpath, boxes in txt:
        event, _, filename = relpath.partition("/")
        key = (event, filename[: -len(".jpg")])
        if key not in mats:
            raise FacedgeError(f"{txt_path}:{line}: {relpath} is not in {root / MAT_DIR / 'wider_face_val.mat'}; "
                               "the gt text file and the evaluation .mat files are from different releases")
        mat_boxes, keep = mats.pop(key)
        placeholder = len(boxes) == 0 and not mat_boxes.any()  # 'count 0' in the text, a zero box in the mat
        if not placeholder and (mat_boxes.shape != boxes.shape or not np.array_equal(mat_boxes, boxes)):
            raise FacedgeError(f"{txt_path}:{line}: the {len(boxes)} boxes of {relpath} differ from the "
                               f"{len(mat_boxes)} in {root / MAT_DIR / 'wider_face_val.mat'}")
        image = GtImage(event=key[0], name=key[1], boxes=mat_boxes, keep=keep, line=line)
        images.append(image)
        by_key[key] = image
    if mats:
        event, name = next(iter(mats))
        raise FacedgeError(f"{root / MAT_DIR / 'wider_face_val.mat'}: {len(mats)} images are not in {txt_path} "
                           f"(first: {event}/{name}.jpg)")
    return WiderVal(root=root, txt_path=txt_path, images=images, by_key=by_key)


def read_gt_txt(path):
    """[(line of the name, 'event/image.jpg', boxes (n, 4) float64)] from the
    wider_face_*_bbx_gt.txt format: a name line, a count line, then one line per
    box, 'x y w h' followed by six attribute labels. An image without faces is
    written with count 0 and one all-zero line, or count 1 and an all-zero box."""
    path = Path(path)
    if not path.is_file():
        raise FacedgeError(f"{path}: no such file (the WIDER FACE val annotations, wider_face_val_bbx_gt.txt)")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    out = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        name_line = i + 1
        relpath = lines[i].strip()
        parts = relpath.split("/")
        if len(parts) != 2 or not parts[0] or not parts[1].endswith(".jpg"):
            raise FacedgeError(f"{path}:{name_line}: expected an image path '<event>/<image>.jpg', got {relpath[:80]!r}")
        if i + 1 >= len(lines):
            raise FacedgeError(f"{path}:{name_line + 1}: file ends where the face count of {relpath} should be")
        count_text = lines[i + 1].strip()
        if not count_text.isdigit():
            raise FacedgeError(f"{path}:{name_line + 1}: expected the face count of {relpath}, got {count_text[:80]!r}")
        count = int(count_text)
        i += 2
        boxes = []
        for k in range(count):
            if i >= len(lines):
                raise FacedgeError(f"{path}:{i + 1}: file ends after {k} of the {count} boxes of {relpath}")
            boxes.append(_box(path, i + 1, lines[i], relpath))
            i += 1
        if count == 0 and i < len(lines) and _is_zero_line(lines[i]):
            i += 1  # the placeholder line of a face-less image
        out.append((name_line, relpath, np.array(boxes, dtype=np.float64).reshape(-1, 4)))
    if not out:
        raise FacedgeError(f"{path}: no images in the file")
    return out


def _box(path, line_no, text, relpath):
    # Widths and heights are taken as annotated: the val file has a box of width -2,
    # which the protocol simply never matches.
    fields = text.split()
    try:
        values = [int(f) for f in fields[:4]]
    except ValueError:
        values = []
    if len(fields) < 4 or len(values) < 4:
        raise FacedgeError(f"{path}:{line_no}: expected a box 'x y w h ...' of {relpath} (integers), got {text.strip()[:80]!r}")
    return values


def _is_zero_line(text):
    fields = text.split()
    return bool(fields) and all(f.lstrip("-").isdigit() and int(f) == 0 for f in fields)


def read_eval_mats(mat_dir):
    """{(event, name): (boxes (n, 4) float64, {setting: keep (n,) bool})} from
    wider_face_val.mat and the three setting files."""
    mat_dir = Path(mat_dir)
    face_path = mat_dir / "wider_face_val.mat"
    face = _load_mat(face_path, ("event_list", "file_list", "face_bbx_list"))
    events = [_string(face_path, e) for e in _cells(face_path, face["event_list"])]
    files = [[_string(face_path, f) for f in _cells(face_path, event_files)] for event_files in _cells(face_path, face["file_list"])]
    boxes = [[_box_array(face_path, b) for b in _cells(face_path, event_boxes)] for event_boxes in _cells(face_path, face["face_bbx_list"])]
    if not (len(events) == len(files) == len(boxes)) or any(len(f) != len(b) for f, b in zip(files, boxes)):
        raise FacedgeError(f"{face_path}: event_list, file_list and face_bbx_list do not have the same shape")
    keeps = {}
    for setting in SETTINGS:
        path = mat_dir / f"wider_{setting}_val.mat"
        mat = _load_mat(path, ("event_list", "file_list", "gt_list"))
        setting_files = [[_string(path, f) for f in _cells(path, ef)] for ef in _cells(path, mat["file_list"])]
        if setting_files != files:
            raise FacedgeError(f"{path}: its file_list differs from that of {face_path}; the .mat files are from different releases")
        gt_lists = _cells(path, mat["gt_list"])
        if len(gt_lists) != len(files) or any(len(_cells(path, g)) != len(f) for g, f in zip(gt_lists, files)):
            raise FacedgeError(f"{path}: gt_list does not have one entry per image of file_list")
        keeps[setting] = [[_keep_mask(path, idx, len(b), f"{events[i]}/{name}.jpg")
                           for idx, b, name in zip(_cells(path, gt_lists[i]), boxes[i], files[i])]
                          for i in range(len(events))]
    out = {}
    for i, event in enumerate(events):
        for j, name in enumerate(files[i]):
            out[(event, name)] = (boxes[i][j], {s: keeps[s][i][j] for s in SETTINGS})
    return out


def _load_mat(path, keys):
    if not path.is_file():
        raise FacedgeError(f"{path}: no such file (the standard WIDER FACE evaluation ground truth, eval_tools/ground_truth)")
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as e:  # scipy raises several types for a file that is not a .mat
        raise FacedgeError(f"{path}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from None
    missing = [k for k in keys if k not in mat]
    if missing:
        raise FacedgeError(f"{path}: missing {', '.join(missing)}; not a WIDER FACE evaluation ground-truth file")
    return mat


def _cells(path, array):
    """The entries of a MATLAB cell column (loaded by scipy as an (n, 1) object array)."""
    if not isinstance(array, np.ndarray) or array.dtype != object:
        raise FacedgeError(f"{path}: expected a cell array, got {type(array).__name__} {getattr(array, 'dtype', '')}")
    return [cell for cell in array.ravel()]


def _string(path, cell):
    value = cell
    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise FacedgeError(f"{path}: expected a name string in a cell, got an array of shape {value.shape}")
        value = value.ravel()[0]
    if not isinstance(value, str):
        raise FacedgeError(f"{path}: expected a name string in a cell, got {value!r}")
    return str(value)


def _box_array(path, cell):
    a = np.asarray(cell)
    if a.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 4:
        raise FacedgeError(f"{path}: expected boxes of shape (n, 4) in face_bbx_list, got {a.shape}")
    return a.astype(np.float64)


def _keep_mask(path, cell, n, relpath):
    idx = np.asarray(cell).ravel().astype(np.int64)
    if idx.size and (idx.min() < 1 or idx.max() > n):
        raise FacedgeError(f"{path}: gt_list of {relpath} names box {int(idx.max() if idx.max() > n else idx.min())}, "
                           f"but the image has {n} boxes")
    keep = np.zeros(n, dtype=bool)
    keep[idx - 1] = True
    return keep


def find_val_images(val: WiderVal):
    """[(GtImage, image path)] for every image under ROOT/WIDER_val/images, in gt order.
    An image the gt file does not list means the gt file does not match the images."""
    images_dir = val.root / IMAGES_DIR
    if not images_dir.is_dir():
        raise FacedgeError(f"{images_dir}: no such folder (the WIDER FACE val images, <event>/<image>.jpg)")
    found = {}
    for path in sorted(images_dir.glob("*/*.jpg")):
        key = (path.parent.name, path.stem)
        if key not in val.by_key:
            raise FacedgeError(f"{path}: not in {val.txt_path}; the gt file does not match the images "
                               "(is this the val split?)")
        found[key] = path
    if not found:
        raise FacedgeError(f"{images_dir}: no images (<event>/<image>.jpg)")
    return [(image, found[(image.event, image.name)]) for image in val.images if (image.event, image.name) in found]


def check_image_size(image: GtImage, txt_path, width, height, image_path):
    """Boxes reaching well past the image mean the gt file describes another image
    (or the images were resized). A few val boxes overhang their image by a few
    pixels, hence the margin."""
    boxes = image.boxes
    sized = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    beyond = sized & ((boxes[:, 0] + boxes[:, 2] > width * 1.05 + 2) | (boxes[:, 1] + boxes[:, 3] > height * 1.05 + 2))
    if beyond.any():
        x, y, w, h = (int(v) for v in boxes[int(np.argmax(beyond))])
        raise FacedgeError(f"{txt_path}:{image.line}: box {x} {y} {w} {h} of {image.relpath} reaches past the "
                           f"{width}x{height} image {image_path}; the gt file does not match the images")
