"""Reading a PyTorch checkpoint safely, and holding it against a network strictly.

Only tensors are loaded (`torch.load(weights_only=True)`): a checkpoint is data, never
code. A state_dict may come bare or under a 'state_dict' / 'model' key, with the
'module.' prefix DataParallel adds.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from facedge.base.errors import FacedgeError

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
LEGACY_MAGIC = b"\x80"  # a pickle stream: torch's pre-1.6 format
ZIP_MAGIC = b"PK\x03\x04"  # torch >= 1.6 saves a zip archive


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _looks_like_torch(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_MAGIC)


def load_state_dict(path) -> dict:
    """name -> tensor, with 'module.' prefixes stripped; a FacedgeError naming the file
    for anything that is not a readable state_dict."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FacedgeError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise FacedgeError(f"{path}: empty file, not a PyTorch checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):  # a pickled class or function: code, not data
            raise FacedgeError(f"{path}: holds Python objects besides tensors; facedge loads only plain "
                               f"state_dicts (save one with torch.save(model.state_dict(), path))") from None
        raise FacedgeError(_unreadable(path)) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, IndexError, KeyError):
        raise FacedgeError(_unreadable(path)) from None
    state = _unwrap(obj, path)
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _unreadable(path: Path) -> str:
    if _looks_like_torch(path):
        return f"{path}: truncated or corrupt PyTorch checkpoint (torch.load could not read it; download it again)"
    return f"{path}: not a PyTorch checkpoint (expected a .pth/.pt file written by torch.save)"


def _unwrap(obj, path):
    import torch

    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise FacedgeError(f"{path}: expected a state_dict (a dict of tensors), got {type(obj).__name__}")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise FacedgeError(f"{path}: expected a state_dict (a dict of tensors); {not_tensors[0]!r} is a "
                           f"{type(obj[not_tensors[0]]).__name__}")
    return obj


@dataclass
class Mismatch:
    missing: list = field(default_factory=list)     # the network has it, the checkpoint not
    unexpected: list = field(default_factory=list)  # the checkpoint has it, the network not
    shapes: list = field(default_factory=list)      # (key, checkpoint shape, network shape)

    def empty(self) -> bool:
        return not (self.missing or self.unexpected or self.shapes)

    def summary(self, limit: int = 5) -> str:
        def some(items):
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        parts = []
        if self.missing:
            parts.append(f"missing {some(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected {some(self.unexpected)}")
        if self.shapes:
            parts.append("shape " + some([f"{k} {tuple(c)} vs {tuple(n)}" for k, c, n in self.shapes]))
        return "; ".join(parts) or "fits"


def _counter(key: str) -> bool:
    # BatchNorm's update counter: absent from checkpoints of old torch, unused at inference
    return key.endswith("num_batches_tracked")


def compare(net, state_dict) -> Mismatch:
    expected = net.state_dict()
    return Mismatch(
        missing=[k for k in expected if k not in state_dict and not _counter(k)],
        unexpected=[k for k in state_dict if k not in expected and not _counter(k)],
        shapes=[(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in state_dict.items()
                if k in expected and tuple(v.shape) != tuple(expected[k].shape)],
    )


def load_into(net, state_dict, what: str):
    """Load strictly: every key present on both sides with the same shape, or an error
    listing what did not fit (shape pairs read 'checkpoint vs network')."""
    mismatch = compare(net, state_dict)
    if not mismatch.empty():
        raise FacedgeError(f"{what}: checkpoint does not fit the network: {mismatch.summary()}")
    # strictness is the comparison above; strict=False only lets the BN counters be absent
    net.load_state_dict({k: v for k, v in state_dict.items() if not _counter(k)}, strict=False)
    net.eval()
    return net
