"""What `facedge bench` measures: the models asked for (or the cached default ones)
and, for each, the jobs of facedge and of the peers that can run it here.

A job is one runtime on one model file; it is what one worker process runs. Notes
say why a peer was left out (not installed, no ONNX, no decoder for the family);
a missing optional peer is never an error.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from facedge.bench import reference_decode
from facedge.bench.peers import PEERS
from facedge.base.errors import FacedgeError
from facedge.base.model_dir import BIN_FILE, DEFAULT_MODEL, INFO_FILE, PARAM_FILE, PRECISIONS, ModelInfo, read_model_info
from facedge.base.paths import models_dir

ONNX_FILE = "model.onnx"  # written by `facedge convert` beside the fp32/ model directory
YUNET_FILE = "face_detection_yunet_2023mar.onnx"  # opencv_zoo's YuNet, given with --yunet
MAKE_MODELS = f"facedge convert && facedge quantize {DEFAULT_MODEL}"


@dataclass
class BenchModel:
    name: str          # the convert output's name, e.g. version-RFB-320
    model_dir: Path
    info: ModelInfo
    onnx: Path | None  # the fp32 ONNX the model came from, for onnxruntime and OpenCV DNN

    @property
    def precision(self):
        return self.info.precision

    def spec(self, onnx=False) -> dict:
        """What a worker needs to load it (JSON-ready)."""
        i = self.info
        return {"name": self.name, "precision": "fp32" if onnx else i.precision, "model_dir": str(self.model_dir),
                "param": str(self.model_dir / PARAM_FILE), "bin": str(self.model_dir / BIN_FILE),
                "onnx": str(self.onnx) if self.onnx else None, "family": i.family, "input_size": list(i.input_size),
                "pixel": i.pixel, "mean": i.mean, "norm": i.norm, "input": i.input, "outputs": dict(i.outputs)}


def _load(model_dir: Path) -> BenchModel:
    model_dir = model_dir.resolve()
    info = read_model_info(model_dir)
    in_convert_output = model_dir.name in PRECISIONS
    name = model_dir.parent.name if in_convert_output else model_dir.name
    onnx = model_dir.parent / ONNX_FILE if in_convert_output else model_dir / ONNX_FILE
    return BenchModel(name=name, model_dir=model_dir, info=info, onnx=onnx if onnx.is_file() else None)


def _precision_dirs(folder: Path):
    return [folder / p for p in PRECISIONS if (folder / p / INFO_FILE).is_file()]


def resolve_models(names) -> tuple:
    """([BenchModel], notes) for the MODEL arguments: a model directory, a convert output
    folder (each precision in it), a cached name ('version-RFB-320' for each of its
    precisions, 'version-RFB-320-int8' for one). None: the default model's cached ones."""
    from facedge.base.model_dir import resolve_model

    notes = []
    if not names:
        dirs = _precision_dirs(models_dir() / DEFAULT_MODEL)
        if not dirs:
            raise FacedgeError(f"no models given and none cached as {DEFAULT_MODEL} in {models_dir()}: "
                               f"make them with '{MAKE_MODELS}', or pass model directories")
        if not any(d.name == "int8" for d in dirs):
            notes.append(f"{DEFAULT_MODEL}: no int8 model cached; make it with 'facedge quantize {DEFAULT_MODEL}'")
        return [_load(d) for d in dirs], notes
    models = []
    for name in names:
        p = Path(str(name)).expanduser()
        if p.is_dir() and not (p / INFO_FILE).is_file() and _precision_dirs(p):
            dirs = _precision_dirs(p)
        elif not p.exists() and "/" not in str(name) and _precision_dirs(models_dir() / str(name)):
            dirs = _precision_dirs(models_dir() / str(name))
        else:
            dirs = [resolve_model(name)]  # a model directory or 'NAME-PRECISION'; its errors name the argument
        models.extend(_load(d) for d in dirs)
    seen, unique = set(), []
    for m in models:
        if m.model_dir not in seen:
            seen.add(m.model_dir)
            unique.append(m)
    return unique, notes


def parse_peers(text: str) -> list:
    """--peers: 'all', 'none', or a comma-separated list of peer names."""
    if text.strip() == "all":
        return list(PEERS)
    if text.strip() == "none":
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        if n not in PEERS:
            raise FacedgeError(f"--peers {text}: unknown peer {n!r} (known: {', '.join(PEERS)}, or 'all' / 'none')")
    return [p for p in PEERS if p in names]


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _peer_missing(peer):
    """Why a peer cannot run on this machine at all, or None."""
    if peer == "onnxruntime" and not _installed("onnxruntime"):
        return "onnxruntime is not installed (pip install onnxruntime)"
    if peer == "ncnn-python" and not _installed("ncnn"):
        return "the ncnn wheel is not installed (pip install ncnn)"
    if peer in ("opencv-dnn", "yunet"):
        import cv2

        if peer == "opencv-dnn" and not hasattr(cv2, "dnn"):
            return f"this OpenCV ({cv2.__version__}) has no dnn module"
        if peer == "yunet" and not hasattr(cv2, "FaceDetectorYN"):
            return f"this OpenCV ({cv2.__version__}) has no FaceDetectorYN (4.5.4 or later has)"
    return None


def plan_jobs(models, peers, yunet=None, bf16=None) -> tuple:
    """(jobs, notes): facedge on every model, then each requested peer where it can run.

    A job: {"runtime", "model": spec, "yunet"?, "bf16"? (facedge's, as Detector takes it)}. onnxruntime and OpenCV DNN run the
    fp32 ONNX, once for all precisions of a model; YuNet runs once per input size."""
    jobs, notes, seen = [], [], set()

    def add(runtime, model_spec, key, **extra):
        if key not in seen:
            seen.add(key)
            jobs.append({"runtime": runtime, "model": model_spec, **extra})

    for m in models:
        add("facedge", m.spec(), ("facedge", str(m.model_dir)), bf16=bf16)
    missing = {p: _peer_missing(p) for p in peers}
    for p, why in missing.items():
        if why:
            notes.append(f"{p}: skipped, {why}")
    for peer in (p for p in peers if not missing[p]):
        for m in models:
            if peer == "yunet":
                if yunet is None:
                    if not any("yunet:" in n for n in notes):
                        notes.append(f"yunet: skipped, no YuNet model given (pass --yunet PATH to {YUNET_FILE})")
                    continue
                size = tuple(m.info.input_size)
                spec = {"name": "yunet", "precision": "fp32", "input_size": list(size), "family": "yunet", "outputs": {}}
                add("yunet", spec, ("yunet", size), yunet=str(yunet))
                continue
            if m.info.family not in reference_decode.FAMILIES:
                notes.append(f"{peer}: skipped for {m.name} {m.precision}, no numpy decoder for family {m.info.family}")
                continue
            if peer == "ncnn-python":
                add(peer, m.spec(), (peer, str(m.model_dir)))
            elif m.onnx is None:
                note = f"{peer}: skipped for {m.name}, no {ONNX_FILE} beside {m.model_dir} ('facedge convert' writes one)"
                if note not in notes:
                    notes.append(note)
            else:
                add(peer, m.spec(onnx=True), (peer, str(m.onnx)))
    return jobs, notes
