"""Candidate int8 models, written to a scratch folder and loaded in the runtime to
measure them (sensitivity, mixed precision, the report)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from facedge.calibration.int8_model import build_int8_model
from facedge.base.model_dir import BIN_FILE, INFO_FILE, PARAM_FILE


def write_model_dir(folder, model, info_json: dict):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PARAM_FILE).write_text(model.param_text(), encoding="utf-8")
    (folder / BIN_FILE).write_bytes(model.bin_bytes())
    (folder / INFO_FILE).write_text(json.dumps(info_json, indent=2) + "\n", encoding="utf-8")


class TrialModels:
    """Builds int8 variants of one fp32 model in a scratch folder."""

    def __init__(self, fp32_model, info_json: dict, protected_blobs):
        self.fp32_model = fp32_model
        self.info = dict(info_json, precision="int8")
        self.protected = set(protected_blobs)
        self._tmp = tempfile.TemporaryDirectory(prefix="facedge-calibration-")
        self._n = 0

    def detector(self, scales: dict, **options):
        """A facedge.Detector on the model with `scales` ({layer: LayerScales}) in int8."""
        import facedge

        model, _ = build_int8_model(self.fp32_model, scales, self.protected)
        self._n += 1
        folder = Path(self._tmp.name) / str(self._n)
        write_model_dir(folder, model, self.info)
        try:
            return facedge.Detector(str(folder), **options)  # reads the files into memory
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self):
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
