"""WIDER FACE val ground truth: the text file, the evaluation .mat files, the
images present, and clear errors when they do not fit together."""

import shutil

import numpy as np
import pytest

from facedge.bench.wider.gt import (SETTINGS, check_image_size, find_val_images, load_wider_val, read_gt_txt)
from facedge.base.errors import FacedgeError

# A small val split: two events, three images. Per image: boxes and the
# (1-based) boxes easy/medium/hard count.
SPLIT = {
    "1--Handshaking": {
        "1_Handshaking_a": ([[10, 20, 30, 40], [100, 20, 8, 9], [200, 50, 4, 4]], [1], [1, 2], [1, 2, 3]),
        "1_Handshaking_b": ([[0, 0, 0, 0]], [], [], []),  # a face-less image, as the val file writes it
    },
    "12--Group": {
        "12_Group_c": ([[5, 5, 50, 60], [70, 5, 20, 22]], [1, 2], [1, 2], [1, 2]),
    },
}


def cell_column(items):
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def write_split(root, split=SPLIT, txt=None, skip_mat=None):
    """ROOT with the gt text file, the four .mat files (same structure as the
    official ones) and, per image, a 320x240 jpg."""
    from scipy.io import savemat

    (root / "wider_face_split").mkdir(parents=True, exist_ok=True)
    (root / "eval_tools_ground_truth").mkdir(exist_ok=True)
    lines = []
    for event, files in split.items():
        for name, (boxes, *_) in files.items():
            lines.append(f"{event}/{name}.jpg")
            lines.append(str(len(boxes)))
            lines += [" ".join(str(v) for v in b) + " 0 0 0 0 0 0 " for b in boxes]
    (root / "wider_face_split" / "wider_face_val_bbx_gt.txt").write_text(txt if txt is not None else "\n".join(lines) + "\n")
    events = list(split)
    common = {
        "event_list": cell_column(events),
        "file_list": cell_column([cell_column(list(split[e])) for e in events]),
        "face_bbx_list": cell_column([cell_column([np.array(v[0], dtype=np.int32).reshape(-1, 4) for v in split[e].values()]) for e in events]),
    }
    if skip_mat != "face":
        savemat(root / "eval_tools_ground_truth" / "wider_face_val.mat", common)
    for k, setting in enumerate(SETTINGS):
        if skip_mat == setting:
            continue
        gt_list = cell_column([cell_column([np.array(v[1 + k], dtype=np.uint16).reshape(-1, 1) for v in split[e].values()]) for e in events])
        savemat(root / "eval_tools_ground_truth" / f"wider_{setting}_val.mat", {**common, "gt_list": gt_list})
    import cv2

    for event, files in split.items():
        (root / "WIDER_val" / "images" / event).mkdir(parents=True, exist_ok=True)
        for name in files:
            cv2.imwrite(str(root / "WIDER_val" / "images" / event / f"{name}.jpg"), np.zeros((240, 320, 3), np.uint8))
    return root


def test_reads_a_split_and_its_settings(tmp_path):
    val = load_wider_val(write_split(tmp_path))
    assert [im.relpath for im in val.images] == ["1--Handshaking/1_Handshaking_a.jpg", "1--Handshaking/1_Handshaking_b.jpg", "12--Group/12_Group_c.jpg"]
    a = val.by_key[("1--Handshaking", "1_Handshaking_a")]
    np.testing.assert_array_equal(a.boxes, [[10, 20, 30, 40], [100, 20, 8, 9], [200, 50, 4, 4]])
    assert [a.keep[s].tolist() for s in SETTINGS] == [[True, False, False], [True, True, False], [True, True, True]]
    assert a.line == 1 and val.images[2].line == 9
    assert len(find_val_images(val)) == 3


def test_the_real_val_ground_truth(shared):
    val = load_wider_val(shared / "wider")
    assert len(val.images) == 3226
    assert sum(len(im.boxes) for im in val.images) == 39708
    assert [sum(int(im.keep[s].sum()) for im in val.images) for s in SETTINGS] == [7211, 13319, 31958]
    present = find_val_images(val)
    assert len(present) == 39
    assert {im.event for im, _ in present} == {"12--Group", "14--Traffic", "15--Stock_Market"}


def test_a_missing_mat_is_named(tmp_path):
    write_split(tmp_path, skip_mat="medium")
    with pytest.raises(FacedgeError, match=r"eval_tools_ground_truth/wider_medium_val\.mat: no such file"):
        load_wider_val(tmp_path)


def test_a_file_that_is_not_a_mat_is_named(tmp_path):
    write_split(tmp_path)
    (tmp_path / "eval_tools_ground_truth" / "wider_hard_val.mat").write_text("not a mat\n")
    with pytest.raises(FacedgeError, match=r"wider_hard_val\.mat: not a readable MATLAB \.mat file"):
        load_wider_val(tmp_path)


@pytest.mark.parametrize("txt, where, what", [
    ("1--Handshaking/1_Handshaking_a.jpg\nthree\n", ":2:", "expected the face count"),
    ("1--Handshaking/1_Handshaking_a.jpg\n2\n10 20 30 40 0 0 0 0 0 0\n", ":4:", "file ends after 1 of the 2 boxes"),
    ("1--Handshaking/1_Handshaking_a.jpg\n1\n10 20 x 40 0 0 0 0 0 0\n", ":3:", "expected a box 'x y w h"),
    ("1_Handshaking_a\n1\n10 20 30 40\n", ":1:", "expected an image path"),
])
def test_malformed_gt_text_names_the_line(tmp_path, txt, where, what):
    write_split(tmp_path, txt=txt)
    with pytest.raises(FacedgeError, match=rf"wider_face_val_bbx_gt\.txt{where} {what}"):
        load_wider_val(tmp_path)


def test_face_count_zero_with_its_placeholder_line(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1--H/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n1--H/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n")
    parsed = read_gt_txt(path)
    assert [(line, rel, boxes.tolist()) for line, rel, boxes in parsed] == [(1, "1--H/a.jpg", []), (4, "1--H/b.jpg", [[1, 2, 3, 4]])]
    # such a text file agrees with mats holding one zero box for the image
    write_split(tmp_path / "root")
    txt = tmp_path / "root" / "wider_face_split" / "wider_face_val_bbx_gt.txt"
    txt.write_text(txt.read_text().replace("1--Handshaking/1_Handshaking_b.jpg\n1\n", "1--Handshaking/1_Handshaking_b.jpg\n0\n"))
    val = load_wider_val(tmp_path / "root")
    assert val.by_key[("1--Handshaking", "1_Handshaking_b")].boxes.tolist() == [[0, 0, 0, 0]]


def test_text_and_mats_that_disagree(tmp_path):
    split = {e: dict(f) for e, f in SPLIT.items()}
    write_split(tmp_path)
    # the text file moves one box: the image and the line are named
    text = (tmp_path / "wider_face_split" / "wider_face_val_bbx_gt.txt").read_text().replace("70 5 20 22", "71 5 20 22")
    (tmp_path / "wider_face_split" / "wider_face_val_bbx_gt.txt").write_text(text)
    with pytest.raises(FacedgeError, match=r"wider_face_val_bbx_gt\.txt:9: the 2 boxes of 12--Group/12_Group_c\.jpg differ"):
        load_wider_val(tmp_path)
    # the text file lacks an image the mats have
    del split["12--Group"]["12_Group_c"]
    other = tmp_path / "other"
    write_split(other, split=SPLIT, txt=_text_of(split))
    with pytest.raises(FacedgeError, match=r"wider_face_val\.mat: 1 images are not in .*first: 12--Group/12_Group_c\.jpg"):
        load_wider_val(other)


def _text_of(split):
    lines = []
    for event, files in split.items():
        for name, (boxes, *_) in files.items():
            lines += [f"{event}/{name}.jpg", str(len(boxes))] + [" ".join(map(str, b)) + " 0 0 0 0 0 0" for b in boxes]
    return "\n".join(lines) + "\n"


def test_a_setting_naming_a_box_the_image_lacks(tmp_path):
    split = {e: dict(f) for e, f in SPLIT.items()}
    boxes, easy, medium, hard = split["12--Group"]["12_Group_c"]
    split["12--Group"]["12_Group_c"] = (boxes, easy, medium, [1, 2, 3])
    write_split(tmp_path, split=split)
    with pytest.raises(FacedgeError, match=r"wider_hard_val\.mat: gt_list of 12--Group/12_Group_c\.jpg names box 3, but the image has 2"):
        load_wider_val(tmp_path)


def test_images_the_gt_file_does_not_list(tmp_path):
    val = load_wider_val(write_split(tmp_path))
    stray = tmp_path / "WIDER_val" / "images" / "12--Group" / "12_Group_z.jpg"
    shutil.copy(tmp_path / "WIDER_val" / "images" / "12--Group" / "12_Group_c.jpg", stray)
    with pytest.raises(FacedgeError, match=r"12_Group_z\.jpg: not in .*wider_face_val_bbx_gt\.txt; the gt file does not match the images"):
        find_val_images(val)


def test_gt_boxes_beyond_the_image(tmp_path):
    val = load_wider_val(write_split(tmp_path))
    c = val.by_key[("12--Group", "12_Group_c")]
    check_image_size(c, val.txt_path, 320, 240, "c.jpg")  # fits
    check_image_size(c, val.txt_path, 88, 64, "c.jpg")  # overhangs by a pixel or two, as some val boxes do
    with pytest.raises(FacedgeError, match=r"wider_face_val_bbx_gt\.txt:9: box 70 5 20 22 of 12--Group/12_Group_c\.jpg reaches past the 80x60 image c\.jpg"):
        check_image_size(c, val.txt_path, 80, 60, "c.jpg")


def test_a_root_without_the_layout(tmp_path):
    with pytest.raises(FacedgeError, match=r"wider_face_val_bbx_gt\.txt: no such file"):
        load_wider_val(tmp_path)
    with pytest.raises(FacedgeError, match="no such WIDER FACE folder"):
        load_wider_val(tmp_path / "nope")
