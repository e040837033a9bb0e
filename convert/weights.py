"""The checkpoint `facedge convert` uses when given none: ULFD version-RFB-320, from the
upstream repository's models/pretrained folder, pinned by sha256.

Looked for, in order: $FACEDGE_WEIGHTS_DIR/version-RFB-320.pth, the user cache
(<cache>/weights/), then downloaded into the cache. Every copy is checked against the
pinned hash before use.
"""

from __future__ import annotations

import os
from pathlib import Path

from facedge.convert.checkpoint import sha256_of
from facedge.base.atomic import atomic_path
from facedge.base.errors import FacedgeError
from facedge.base.model_dir import DEFAULT_MODEL
from facedge.base.paths import weights_dir

DEFAULT_NAME = f"{DEFAULT_MODEL}.pth"
DEFAULT_URL = f"https://github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/raw/master/models/pretrained/{DEFAULT_NAME}"
DEFAULT_SHA256 = "c722b4427cc71642768baef6e15c659931b56f07425e5d2b0ec033ad41b145b3"
ENV_DIR = "FACEDGE_WEIGHTS_DIR"


def _offline_hint():
    return (f"pass the .pth path (facedge convert path/to/{DEFAULT_NAME}) or set {ENV_DIR} "
            f"to a folder containing {DEFAULT_NAME}")


def _check(path: Path, sha256: str, label=None):
    got = sha256_of(path)
    if got != sha256:
        raise FacedgeError(f"{label or path}: sha256 {got} does not match the pinned {sha256} "
                           f"(a different or damaged file); {_offline_hint()}")


def default_checkpoint(url: str = DEFAULT_URL, sha256: str = DEFAULT_SHA256, name: str = DEFAULT_NAME) -> Path:
    if os.environ.get(ENV_DIR):
        local = Path(os.environ[ENV_DIR]) / name
        if not local.is_file():
            raise FacedgeError(f"{local}: not found ({ENV_DIR} is set to {os.environ[ENV_DIR]}, "
                               f"which should contain {name})")
        _check(local, sha256)
        return local
    cached = weights_dir() / name
    if cached.is_file():
        _check(cached, sha256)
        return cached
    return _download(url, cached, sha256)


def _download(url: str, dest: Path, sha256: str) -> Path:
    """torch.hub's downloader (conversion needs torch anyway) into a temporary file beside
    `dest`, checked against the pinned hash, then renamed: never a partial checkpoint."""
    from torch.hub import download_url_to_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest, suffix=".part") as tmp:
        try:
            download_url_to_file(url, str(tmp), progress=os.environ.get("FACEDGE_PROGRESS", "1") != "0")
        except OSError as e:  # URLError, timeouts, refused connections
            reason = getattr(e, "reason", e)
            raise FacedgeError(f"cannot download {url} ({reason}); {_offline_hint()}") from None
        _check(tmp, sha256, label=url)
    return dest
