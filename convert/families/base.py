"""The shape every family module fills in: one `Family` per supported architecture.

What the runtime also needs to know of a family (prior layout, variances, default
preprocessing and input size) is not restated here: it lives in the C++ family
registry (cpp/src/families/*.cpp) and is read through `_core.family_info()` and
`_core.generate_priors()`. A family module says only what conversion adds: the
network, the checkpoint's layout, the sizes export accepts."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from facedge.base.errors import FacedgeError


@dataclass(frozen=True)
class Family:
    name: str                  # facedge.json "family", and the --arch value
    summary: str
    size_multiple: int         # every input side must be a multiple of this ...
    min_side: int              # ... and at least this
    outputs: tuple             # output roles in export order, e.g. ("scores", "boxes")
    build: Callable            # num_classes -> torch network whose state_dict keys are the checkpoint's
    num_classes: Callable      # state_dict -> number of classes the heads were trained for
    size_rule: str = ""        # why the input size has to be what it is (for the error)
    background_last: bool = False  # the checkpoint's score columns are (classes..., background)
    # (file-name ending, input size): checkpoints whose name says they were trained at
    # another size than the default, e.g. ULFD's version-RFB-640.pth at 640x480
    sizes_by_name: tuple = ()
    # "softmax": the score maps are per-class logits (softmax in the exported graph);
    # "probability": they are already face probabilities, one channel per face class
    score_kind: str = "softmax"

    @property
    def pixel(self) -> str:
        """Channel order the network was trained on: "rgb" or "bgr"."""
        return family_info(self.name)["pixel"]

    @property
    def mean(self) -> tuple:
        """x = (pixel - mean) * norm"""
        return tuple(family_info(self.name)["mean"])

    @property
    def norm(self) -> tuple:
        return tuple(family_info(self.name)["norm"])

    @property
    def default_input_size(self) -> tuple:
        """(width, height)"""
        return tuple(family_info(self.name)["input_size"])

    def default_size_for(self, checkpoint_stem: str) -> tuple:
        for ending, size in self.sizes_by_name:
            if checkpoint_stem.endswith(ending):
                return size
        return self.default_input_size

    def _valid_sides(self, side: int) -> list:
        """The valid side lengths nearest to `side` (one or two)."""
        m = self.size_multiple
        down, up = side // m * m, -(-side // m) * m
        return sorted({max(self.min_side, s) for s in (down, up) if s > 0} or {self.min_side})

    def check_input_size(self, width: int, height: int):
        for side, what in ((width, "width"), (height, "height")):
            if side < self.min_side or side % self.size_multiple:
                nearest = [f"{w}x{h}" for w in self._valid_sides(width) for h in self._valid_sides(height)]
                need = (f"a multiple of {self.size_multiple} and at least {self.min_side}" if self.size_multiple > 1
                        else f"at least {self.min_side}")
                raise FacedgeError(
                    f"input size {width}x{height}: {self.name} needs a {what} that is {need}, got {side}"
                    + (f" ({self.size_rule})" if self.size_rule else "")
                    + f"; nearest valid: {', '.join(nearest)}")

    def network_size(self, width: int, height: int) -> tuple:
        """The size the network itself runs at for this input size: padded up to the
        family's pad_multiple (YuNet), or the input size."""
        m = family_info(self.name)["pad_multiple"]
        return (-(-width // m) * m, -(-height // m) * m) if m else (width, height)

    @property
    def variances(self) -> tuple:
        info = family_info(self.name)
        return info["center_variance"], info["size_variance"]

    def priors(self, width: int, height: int) -> np.ndarray:
        """(N, 4) float32 priors (cx, cy, w, h) normalized to the input, as the runtime makes them."""
        from facedge import _core

        return _core.generate_priors(self.name, width, height)

    def preprocess(self, image_bgr: np.ndarray, input_size) -> np.ndarray:
        """An 8-bit BGR image -> the (1, 3, H, W) float32 network input, the way the
        runtime prepares it: the whole image resized to the input size (bilinear; the
        runtime uses ncnn's resize, so pixels may differ slightly), channels reordered,
        mean subtracted, multiplied by norm; for a padding family, then padded at the
        right and bottom with black pixels up to network_size()."""
        import cv2

        w, h = input_size
        img = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.pixel == "rgb":
            img = img[:, :, ::-1]
        pw, ph = self.network_size(w, h)
        if (pw, ph) != (w, h):
            img = cv2.copyMakeBorder(img, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
        x = (img.astype(np.float32) - np.asarray(self.mean, np.float32)) * np.asarray(self.norm, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


@functools.lru_cache(maxsize=None)
def family_info(name: str) -> dict:
    """The C++ family registry's entry for `name` (priors, variances, preprocessing)."""
    from facedge import _core

    return _core.family_info(name)
