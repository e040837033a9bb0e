"""Mutated .param/.bin files never crash facedge: each is either rejected with a
FacedgeError or loads and runs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("fuzz_model_load.py")
CASES = int(os.environ.get("FACEDGE_FUZZ_CASES", "300"))
SEED = os.environ.get("FACEDGE_FUZZ_SEED", "1234")


@pytest.mark.parametrize("model", ["RFB-320", "slim_320"])
def test_mutated_models_never_crash(reference_ultraface, tmp_path, model):
    param, bin_ = reference_ultraface[model]
    proc = subprocess.run([sys.executable, str(WORKER), str(param), str(bin_), SEED, str(CASES), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    lines = proc.stdout.strip().splitlines()
    last_case = next((l for l in reversed(lines) if l.startswith("case ")), "no case started")
    assert proc.returncode == 0, f"worker died (exit {proc.returncode}) at {last_case}\n{proc.stderr[-2000:]}"
    assert lines[-1].startswith("done"), lines[-1]
    ok, rejected = (int(x.split("=")[1]) for x in lines[-1].split()[1:])
    assert ok + rejected == CASES
    assert rejected > CASES // 3  # most mutations must be caught, not silently accepted
