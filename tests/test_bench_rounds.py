"""facedge bench: worker processes (pinning, stop while idle, failures) and the rounds."""

import importlib.util
import os
import sys

import cv2
import numpy as np
import pytest

from bench_fixtures import ULFD_INPUT, ulfd_output  # noqa: F401 (fixture)
from facedge.bench import rounds
from facedge.bench.targets import _load
from facedge.bench.timing import allowed_cores

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are pinned and stopped the Linux way")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("FACEDGE_PROGRESS", "0")


@pytest.fixture
def settings(demo_images, tmp_path):
    frame = tmp_path / "frame.npy"
    np.save(frame, cv2.resize(cv2.imread(str(demo_images[0])), ULFD_INPUT, interpolation=cv2.INTER_AREA))
    return {"frames": {"320x240": str(frame)}, "warmup": 1, "repeats": 5, "batch": 2, "score_threshold": 0.6,
            "iou_threshold": 0.3, "wait_policy": "ACTIVE"}


def _state(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(line.split()[1] for line in f if line.startswith("State:"))


def _job(model_dir, runtime="facedge", **model_changes):
    spec = _load(model_dir).spec()
    spec.update(model_changes)
    return {"runtime": runtime, "model": spec}


def test_a_worker_is_pinned_and_stopped_while_not_timed(ulfd_output, settings, tmp_path):
    core = allowed_cores()[-1]
    job = dict(_job(ulfd_output / "fp32"), threads=1, cores=[core], frame=settings["frames"]["320x240"], warmup=1,
               score_threshold=0.6, iou_threshold=0.3)
    worker = rounds.Worker(job, job, rounds.worker_env("ACTIVE"), str(tmp_path))
    try:
        assert worker.ready["cores"] == [core]
        assert worker.ready["faces"] > 0
        assert _state(worker.proc.pid) == "T"  # stopped: its spinning threads cannot take the timed worker's core
        answer = worker.batch(3)
        assert _state(worker.proc.pid) == "T"
        assert set(answer["samples"]) == {"facedge", "ncnn-bare"}
        for row in answer["samples"].values():
            assert len(row["total"]) == 3
            assert set(row["stages"]) == {"preprocess", "inference", "postprocess"}
            assert all(len(v) == 3 for v in row["stages"].values())
    finally:
        worker.close()
    assert worker.proc.returncode is not None
    assert not list(tmp_path.glob("worker-*.log"))


def test_worker_environment_sets_the_wait_policy(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert rounds.worker_env("ACTIVE")["OMP_WAIT_POLICY"] == "ACTIVE"


def test_rounds_give_every_job_its_repeats_and_report_failures(ulfd_output, settings):
    good = _job(ulfd_output / "fp32")
    broken = _job(ulfd_output / "fp32", runtime="ncnn-python", param=str(ulfd_output / "missing.param"))
    if importlib.util.find_spec("ncnn") is None:
        pytest.skip("the ncnn wheel is not installed")
    failures = []
    results = rounds.measure([good, broken], 1, allowed_cores()[:1], settings, lambda job, msg: failures.append((job, msg)))
    assert len(failures) == 1 and failures[0][0] is broken
    assert "could not load" in failures[0][1] and "missing.param" in failures[0][1]
    assert len(results) == 1 and results[0]["job"] is good
    for row in ("facedge", "ncnn-bare"):
        assert len(results[0]["samples"][row]["total"]) == 5  # 2 + 2 + 1 over three rounds
    assert results[0]["faces"] > 0


def test_a_worker_that_dies_is_reported_with_its_last_words(ulfd_output, settings, tmp_path):
    job = dict(_job(ulfd_output / "fp32"), threads=1, cores=allowed_cores()[:1], frame=str(tmp_path / "absent.npy"),
               warmup=1, score_threshold=0.6, iou_threshold=0.3)
    with pytest.raises(rounds.WorkerFailed, match=r"FileNotFoundError: .*absent\.npy"):
        rounds.Worker(job, job, dict(os.environ), str(tmp_path))
