"""`facedge detect` as a user runs it."""

import json
import shutil

import cv2
import pytest


def test_detect_json_and_saved_images(run_cli, model_dir, demo_images, tmp_path):
    images = demo_images[:3]
    out = tmp_path / "annotated"
    proc = run_cli("detect", model_dir, *images, "--json", "--save", out)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in images]
    import facedge

    det = facedge.Detector(model_dir)
    for r, path in zip(records, images):
        expected = det.detect(cv2.imread(str(path)))
        assert len(r["faces"]) == len(expected) > 0
        assert r["faces"][0]["box"] == pytest.approx([float(v) for v in expected.boxes[0]], abs=0.01)
        saved = cv2.imread(str(out / path.name))
        assert saved is not None and saved.shape == cv2.imread(str(path)).shape
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_detect_text_output_and_errors(run_cli, model_dir, demo_images, tmp_path):
    proc = run_cli("detect", model_dir, demo_images[0])
    assert proc.returncode == 0 and " faces (" in proc.stdout
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("hello")
    proc = run_cli("detect", model_dir, demo_images[0], bad)
    assert proc.returncode == 1
    assert f"{bad}: cannot read image" in proc.stderr
    assert "1 of 2 images could not be read" in proc.stderr
    proc = run_cli("detect", tmp_path / "missing-model", demo_images[0])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("facedge detect: error: ")
    assert "Traceback" not in proc.stderr
    proc = run_cli("detect", model_dir, demo_images[0], "--threads", "0")
    assert proc.returncode == 1 and "threads must be at least 1, got 0" in proc.stderr
