"""The development machines' shared data folder (WIDER FACE samples, weights,
reference models). Leaving the product: issue 15 has its users take their data
explicitly or from the package."""

import os
from pathlib import Path


def shared_dir():
    """The shared data folder (WIDER FACE samples, weights, reference models):
    FACEDGE_SHARED, else ../shared beside the repository root. None when absent."""
    if os.environ.get("FACEDGE_SHARED"):
        p = Path(os.environ["FACEDGE_SHARED"])
        return p if p.is_dir() else None
    repo_root = Path(__file__).resolve().parents[2]
    for candidate in (repo_root.parent / "shared", Path.cwd().parent / "shared"):
        if candidate.is_dir():
            return candidate
    return None


def require_shared(what: str) -> Path:
    """shared_dir(), or a clear error saying what needed it and how to point at it."""
    p = shared_dir()
    if p is None:
        from facedge.base.errors import FacedgeError

        raise FacedgeError(f"{what} needs the shared data folder: set FACEDGE_SHARED to it (it holds reference/, images/, wider/)")
    return p
