"""The shape every family module fills in: one `Family` per supported architecture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from facedge.convert.families.ssd import PriorSpec
from facedge.runtime.errors import FacedgeError


@dataclass(frozen=True)
class Family:
    name: str                  # facedge.json "family", and the --arch value
    summary: str
    pixel: str                 # channel order the network was trained on: "rgb" or "bgr"
    mean: tuple                # x = (pixel - mean) * norm
    norm: tuple
    default_input_size: tuple  # (width, height)
    size_multiple: int         # every input side must be a multiple of this ...
    min_side: int              # ... and at least this
    prior_spec: PriorSpec
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
        """The size the network itself runs at for this input size (padding included)."""
        return self.prior_spec.padded(width), self.prior_spec.padded(height)

    @property
    def variances(self) -> tuple:
        return self.prior_spec.center_variance, self.prior_spec.size_variance

    def priors(self, width: int, height: int) -> np.ndarray:
        return self.prior_spec.priors(width, height)

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
