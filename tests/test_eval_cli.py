"""`facedge eval` end to end on the shared WIDER FACE val images: a fake detector
with known answers (monkeypatched into the detector factory), saved predictions
read back, options recorded, bad input refused with one clear line; and the real
upstream ULFD model when the compiled core is there."""

import hashlib
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from facedge.bench.wider import run as wider_run
from facedge.bench.wider.ap import evaluate
from facedge.bench.wider.gt import SETTINGS, find_val_images, load_wider_val
from facedge.bench.wider.predictions import read_predictions
from facedge.cli import main
from facedge.base.model_dir import ModelInfo, write_model_info


@pytest.fixture(scope="module")
def wider(shared):
    return shared / "wider"


@pytest.fixture(scope="module")
def gt_by_image(wider):
    """sha1 of each present val image's pixels -> its gt boxes: how the fake detector
    knows which image it was given."""
    import cv2

    out = {}
    for image, path in find_val_images(load_wider_val(wider)):
        out[hashlib.sha1(cv2.imread(str(path)).tobytes()).hexdigest()] = image
    return out


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("FACEDGE_PROGRESS", "0")


class FakeDetector:
    """Answers from the gt: every face (perfect), or faces jittered with false
    positives added and float32 values as the runtime returns them."""

    precision = "fp32"  # what the runtime says ran

    def __init__(self, gt_by_image, options, noisy=False):
        self.gt, self.options, self.noisy = gt_by_image, options, noisy
        self.calls = []

    def detect(self, img, input_size=None):
        image = self.gt[hashlib.sha1(img.tobytes()).hexdigest()]
        self.calls.append((image.name, img.shape, input_size))
        xywh = image.boxes[(image.boxes[:, 2] > 0) & (image.boxes[:, 3] > 0)]
        boxes = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
        scores = np.linspace(0.99, 0.5, len(boxes))
        if self.noisy:
            rng = np.random.default_rng(len(self.calls))
            boxes = boxes + rng.normal(0, 1.5, boxes.shape) * np.sqrt(xywh[:, 2:3])
            fp = rng.uniform(0, 600, (5, 2))
            boxes = np.vstack([boxes, np.column_stack([fp, fp + rng.uniform(8, 60, (5, 1))])])
            scores = np.concatenate([rng.uniform(0.05, 1.0, len(xywh)), rng.uniform(0.02, 0.6, 5)])
        order = np.argsort(-scores)
        return SimpleNamespace(boxes=boxes[order].astype(np.float32), scores=scores[order].astype(np.float32),
                               landmarks=None, timings_ms={})


@pytest.fixture
def model_dir(tmp_path):
    """A model directory's facedge.json (no ncnn files: the detector is faked)."""
    folder = tmp_path / "rfb320" / "fp32"
    folder.mkdir(parents=True)
    write_model_info(folder, ModelInfo(family="ultraface-rfb", input_size=(320, 240), input="input",
                                       outputs={"scores": "scores", "boxes": "boxes"}, pixel="rgb",
                                       mean=[127.0] * 3, norm=[1 / 128] * 3))
    return folder


@pytest.fixture
def fake(monkeypatch, gt_by_image):
    made = []

    def factory(noisy=False):
        def open_detector(model_dir, options):
            made.append(FakeDetector(gt_by_image, options, noisy))
            return made[-1]

        monkeypatch.setattr(wider_run, "open_detector", open_detector)
        return made

    return factory


def run_json(capsys, *argv):
    rc = main(["eval", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def run_error(capsys, *argv):
    rc = main(["eval", *map(str, argv)])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    assert err.startswith("facedge eval: error: ") and err.count("\n") == 1, err
    return err


def test_perfect_fake_detector_end_to_end(capsys, wider, model_dir, fake, tmp_path):
    made = fake()
    saved, png = tmp_path / "preds", tmp_path / "pr.png"
    report = run_json(capsys, model_dir, "--wider", wider, "--save-predictions", saved, "--plot", png)
    assert [report[s] for s in SETTINGS] == [1.0, 1.0, 1.0]
    assert report["images"] == 39 and report["images_in_split"] == 3226
    assert report["faces"] == 338 and report["faces_counted"] == {"easy": 62, "medium": 92, "hard": 217}
    assert report["detections"] == 338
    assert report["model"] == {"path": str(model_dir), "family": "ultraface-rfb", "precision": "fp32", "runs": "fp32"}
    # every option that decides AP, explicit: the model's own size by default
    assert report["inference"] == {"input_size": [320, 240], "max_side": None, "size_multiple": None,
                                   "score_threshold": 0.02, "iou_threshold": 0.3, "top_k": 750, "nms": "hard",
                                   "threads": report["inference"]["threads"], "labels": None,
                                   "resize": "auto", "bf16": None}
    options = made[0].options
    assert (options.input_size, options.score_threshold, options.iou_threshold, options.top_k, options.nms) == ((320, 240), 0.02, 0.3, 750, "hard")
    assert [size for _, _, size in made[0].calls] == [None] * 39  # the fixed size is the detector's own
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10000
    files = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*.txt"))
    assert len(files) == 39 and files[0] == "12--Group/12_Group_Group_12_Group_Group_12_728.txt"
    lines = (saved / "12--Group" / "12_Group_Group_12_Group_Group_12_728.txt").read_text().splitlines()
    assert lines[0] == "12_Group_Group_12_Group_Group_12_728" and lines[1] == "6" and len(lines) == 8
    again = run_json(capsys, "--predictions", saved, "--wider", wider)
    assert [again[s] for s in SETTINGS] == [1.0, 1.0, 1.0] and again["images"] == 39
    assert again["model"] is None and again["inference"] is None and again["predictions"] == str(saved)


def test_saved_predictions_evaluate_exactly_as_the_model_run(capsys, wider, model_dir, fake, tmp_path):
    fake(noisy=True)
    saved = tmp_path / "preds"
    report = run_json(capsys, model_dir, "--wider", wider, "--save-predictions", saved, "--score-threshold", "0.05")
    assert report["inference"]["score_threshold"] == 0.05
    assert all(0.1 < report[s] < 0.99 for s in SETTINGS), report
    again = run_json(capsys, "--predictions", saved, "--wider", wider)
    assert [again[s] for s in SETTINGS] == [report[s] for s in SETTINGS]
    # and the folder is what the AP module sees
    val = load_wider_val(wider)
    preds = read_predictions(saved)
    images = [im for im in val.images if (im.event, im.name) in preds]
    direct = evaluate(images, [preds[(im.event, im.name)][1] for im in images])
    assert [direct.settings[s].ap for s in SETTINGS] == [report[s] for s in SETTINGS]


def test_a_subset_of_predictions_is_evaluated_on_its_images(capsys, wider, model_dir, fake, tmp_path):
    fake()
    saved = tmp_path / "preds"
    run_json(capsys, model_dir, "--wider", wider, "--save-predictions", saved)
    for p in (saved / "14--Traffic").iterdir():
        p.unlink()
    report = run_json(capsys, "--predictions", saved, "--wider", wider)
    assert report["images"] == 20  # 12--Group: 1, 15--Stock_Market: 19
    kept = [im for im in load_wider_val(wider).images if im.event in ("12--Group", "15--Stock_Market")
            and (saved / im.event / f"{im.name}.txt").exists()]
    assert len(kept) == 20
    assert report["faces"] == sum(len(im.boxes) for im in kept) < 338
    assert report["faces_counted"] == {s: sum(int(im.keep[s].sum()) for im in kept) for s in SETTINGS}
    assert [report[s] for s in SETTINGS] == [1.0, 1.0, 1.0]


def test_max_side_keeps_the_aspect(capsys, wider, model_dir, fake):
    made = fake()
    report = run_json(capsys, model_dir, "--wider", wider, "--max-side", "640", "--iou", "0.4", "--top-k", "100", "--nms", "blend")
    assert report["inference"]["input_size"] is None and report["inference"]["max_side"] == 640
    assert report["inference"]["size_multiple"] == 32
    assert (report["inference"]["iou_threshold"], report["inference"]["top_k"], report["inference"]["nms"]) == (0.4, 100, "blend")
    assert made[0].options.input_size is None
    for name, shape, (w, h) in made[0].calls:
        height, width = shape[:2]
        assert w % 32 == 0 and h % 32 == 0
        assert max(w, h) == 640 and abs(w / h - width / height) < 0.1, (name, shape, (w, h))
    assert wider_run.keep_aspect_size(1024, 683, 640) == (640, 416)
    assert wider_run.keep_aspect_size(1024, 1366, 640) == (480, 640)


def test_text_report(capsys, wider, model_dir, fake):
    fake()
    assert main(["eval", str(model_dir), "--wider", str(wider), "--input-size", "640x480"]) == 0
    out = capsys.readouterr().out
    assert "WIDER FACE val: 39 of 3226 images, 338 annotated faces" in out
    assert "input 640x480 (resize auto), score >= 0.02, NMS hard IoU 0.3, top-k 750" in out
    assert "Easy      1.0000  62" in out and "Hard      1.0000  217" in out


@pytest.mark.parametrize("argv, message", [
    ([], "give either a MODEL to run or --predictions DIR"),
    (["MODEL", "--input-size", "640*480"], r"--input-size 640\*480: expected WIDTHxHEIGHT in pixels, e.g. 640x480"),
    (["MODEL", "--score-threshold", "0.6", "--max-side", "16"], "--max-side: expected at least 32, got 16"),
    (["MODEL", "--score-threshold", "1.5"], r"--score-threshold: expected a value in \[0, 1\), got 1\.5"),
    (["MODEL", "--top-k", "0"], "--top-k: expected at least 1, got 0"),
    (["--predictions", "PREDS", "--score-threshold", "0.1"], "--score-threshold applies when running a model"),
    (["--predictions", "PREDS", "--bf16", "on"], "--bf16 applies when running a model"),
])
def test_bad_options_are_refused_before_any_work(capsys, model_dir, tmp_path, argv, message):
    # --wider names no folder at all: option errors come first
    argv = [str(model_dir) if a == "MODEL" else str(tmp_path) if a == "PREDS" else a for a in argv]
    assert re.search(message, run_error(capsys, *argv, "--wider", tmp_path / "no-wider-here"))


def test_without_wider_it_says_what_it_needs(capsys, model_dir):
    err = run_error(capsys, model_dir)
    assert err.startswith("facedge eval: error: needs --wider ROOT: a folder ROOT holding WIDER FACE val from "
                          "http://shuoyang1213.me/WIDERFACE/: WIDER_val.zip and wider_face_split.zip unpacked"), err


def test_predictions_for_images_the_gt_file_lacks(capsys, wider, tmp_path):
    (tmp_path / "14--Traffic").mkdir()
    bad = tmp_path / "14--Traffic" / "14_Traffic_Traffic_14_999999.txt"
    bad.write_text("14_Traffic_Traffic_14_999999\n0\n")
    err = run_error(capsys, "--predictions", tmp_path, "--wider", wider)
    assert f"{bad}: no image 14--Traffic/14_Traffic_Traffic_14_999999.jpg in " in err and "wider_face_val_bbx_gt.txt" in err
    bad.unlink()
    moved = tmp_path / "14--Traffic" / "15_Stock_Market_Stock_Market_15_102.txt"
    moved.write_text("15_Stock_Market_Stock_Market_15_102\n0\n")
    assert "(it is listed under 15--Stock_Market/)" in run_error(capsys, "--predictions", tmp_path, "--wider", wider)


def test_malformed_prediction_line_through_the_cli(capsys, wider, tmp_path):
    (tmp_path / "14--Traffic").mkdir()
    bad = tmp_path / "14--Traffic" / "14_Traffic_Traffic_14_170.txt"
    bad.write_text("14_Traffic_Traffic_14_170\n2\n1 2 3 4 0.9\n1 2 3 0.5\n")
    err = run_error(capsys, "--predictions", tmp_path, "--wider", wider)
    assert f"{bad}:4: expected 5 numbers 'x y w h score', got 4 fields" in err


def test_missing_mat_through_the_cli(capsys, wider, tmp_path):
    root = tmp_path / "wider"
    (root / "eval_tools_ground_truth").mkdir(parents=True)
    os.symlink(wider / "wider_face_split", root / "wider_face_split")
    os.symlink(wider / "WIDER_val", root / "WIDER_val")
    for name in ("face", "easy", "hard"):
        os.symlink(wider / "eval_tools_ground_truth" / f"wider_{name}_val.mat", root / "eval_tools_ground_truth" / f"wider_{name}_val.mat")
    err = run_error(capsys, "--predictions", tmp_path, "--wider", root)
    assert f"{root / 'eval_tools_ground_truth' / 'wider_medium_val.mat'}: no such file" in err


def test_save_predictions_refuses_a_folder_with_other_things_before_running(capsys, wider, model_dir, fake, tmp_path):
    made = fake()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("keep me\n")
    err = run_error(capsys, model_dir, "--wider", wider, "--save-predictions", tmp_path / "docs")
    assert "holds other things than predictions" in err and made == []
    assert (tmp_path / "docs" / "notes.md").read_text() == "keep me\n"


def test_real_ultraface_model(capsys, wider, reference_ultraface, tmp_path):
    """The upstream ULFD RFB-320 ncnn model through facedge's runtime, 320x240 as
    ULFD evaluates it: AP in the range ULFD reports for the full val set (0.787 /
    0.698 / 0.438 there; these 39 images differ), Easy >= Medium >= Hard, and the
    saved folder evaluating to the same numbers."""
    pytest.importorskip("facedge._core", reason="facedge's C++ core is not built")
    param, bin_ = reference_ultraface["RFB-320"]
    model = tmp_path / "rfb320"
    model.mkdir()
    (model / "model.param").symlink_to(Path(param).resolve())
    (model / "model.bin").symlink_to(Path(bin_).resolve())
    write_model_info(model, ModelInfo(family="ultraface-rfb", input_size=(320, 240), input="input",
                                      outputs={"scores": "scores", "boxes": "boxes"}, pixel="rgb",
                                      mean=[127.0] * 3, norm=[1 / 128] * 3))
    saved = tmp_path / "preds"
    report = run_json(capsys, model, "--wider", wider, "--score-threshold", "0.1", "--save-predictions", saved)
    aps = [report[s] for s in SETTINGS]
    assert 0.6 < aps[0] < 0.95 and 0.5 < aps[1] < 0.95 and 0.3 < aps[2] < 0.75, aps
    assert aps[0] >= aps[1] - 0.05 and aps[1] > aps[2]
    assert report["detections"] > 338 // 2
    again = run_json(capsys, "--predictions", saved, "--wider", wider)
    assert [again[s] for s in SETTINGS] == aps
    assert report["model"]["runs"] == "fp32" and report["inference"]["bf16"] is None
    # bf16 storage: recorded, and AP within bf16's reach (measured here on x86: -0.0003 / -0.0015 / -0.0079)
    bf16 = run_json(capsys, model, "--wider", wider, "--score-threshold", "0.1", "--bf16", "on")
    assert bf16["model"]["runs"] == "bf16" and bf16["inference"]["bf16"] == "on"
    assert [bf16[s] for s in SETTINGS] == pytest.approx(aps, abs=0.015)  # other x86 kernels sum in other orders


def test_resized_images_do_not_match_the_gt(capsys, wider, model_dir, fake, tmp_path):
    import cv2

    fake()
    root = tmp_path / "wider"
    root.mkdir()
    for name in ("wider_face_split", "eval_tools_ground_truth"):
        os.symlink(wider / name, root / name)
    folder = root / "WIDER_val" / "images" / "14--Traffic"
    folder.mkdir(parents=True)
    img = cv2.imread(str(wider / "WIDER_val" / "images" / "14--Traffic" / "14_Traffic_Traffic_14_170.jpg"))
    cv2.imwrite(str(folder / "14_Traffic_Traffic_14_170.jpg"), cv2.resize(img, (256, 192)))
    err = run_error(capsys, model_dir, "--wider", root)
    assert re.search(r"wider_face_val_bbx_gt\.txt:\d+: box \d+ \d+ \d+ \d+ of 14--Traffic/14_Traffic_Traffic_14_170\.jpg "
                     r"reaches past the 256x192 image .*14_Traffic_Traffic_14_170\.jpg; the gt file does not match the images", err)
