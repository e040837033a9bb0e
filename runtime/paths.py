"""Where facedge keeps things on a user's machine, and where the shared test data is."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """Per-user cache: FACEDGE_CACHE_DIR, else $XDG_CACHE_HOME/facedge, else ~/.cache/facedge.
    The same rule as cpp/cmake/ncnn.cmake uses for the ncnn build cache."""
    if os.environ.get("FACEDGE_CACHE_DIR"):
        return Path(os.environ["FACEDGE_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "facedge"
    return Path.home() / ".cache" / "facedge"


def models_dir() -> Path:
    """Converted models by name: <cache>/models/<name>/ (each a model directory)."""
    return cache_dir() / "models"


def weights_dir() -> Path:
    """Downloaded checkpoints, sha256-pinned: <cache>/weights/."""
    return cache_dir() / "weights"


def shared_dir():
    """The shared data folder (WIDER FACE samples, weights, reference models):
    FACEDGE_SHARED, else ../shared beside the repository root. None when absent."""
    if os.environ.get("FACEDGE_SHARED"):
        p = Path(os.environ["FACEDGE_SHARED"])
        return p if p.is_dir() else None
    repo_root = Path(__file__).resolve().parent.parent
    for candidate in (repo_root.parent / "shared", Path.cwd().parent / "shared"):
        if candidate.is_dir():
            return candidate
    return None


def require_shared(what: str) -> Path:
    """shared_dir(), or a clear error saying what needed it and how to point at it."""
    p = shared_dir()
    if p is None:
        from facedge.runtime.errors import FacedgeError

        raise FacedgeError(f"{what} needs the shared data folder: set FACEDGE_SHARED to it (it holds reference/, images/, wider/)")
    return p
