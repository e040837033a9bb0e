"""Where facedge keeps things on a user's machine."""

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
