"""The module that is exported: a family network with its heads flattened into the
facedge output contract (see ssd.py), and nothing decoded.

Each family network returns, per output role, one NCHW head map per level (stride
ascending), channels laid out as anchor-major blocks of `width` values (the SSD
convention: channel = anchor * width + value). Permuting to NHWC and reshaping to
(-1, width) then gives rows in level, row, column, anchor order. The reshapes keep -1
for the prior count so the ncnn graph runs at any input size.
"""

import torch
from torch import nn

ROLE_WIDTH = {"boxes": 4, "landmarks": 10}


class ExportWrapper(nn.Module):
    def __init__(self, net: nn.Module, family, num_classes: int):
        super().__init__()
        self.net = net
        self.roles = tuple(family.outputs)
        self.num_classes = num_classes
        self.background_last = family.background_last
        self.score_kind = family.score_kind

    def forward(self, x):
        maps = self.net(x)
        outs = []
        for role in self.roles:
            width = self.num_classes if role == "scores" else ROLE_WIDTH[role]
            if role == "scores" and self.score_kind == "probability":
                width -= 1  # the maps hold face-class probabilities only
            flat = torch.cat([m.permute(0, 2, 3, 1).reshape(-1, width) for m in maps[role]], dim=0)
            if role == "scores" and self.score_kind == "probability":
                # the contract's (background, face, ...) columns: background = 1 - best face class
                best = flat if width == 1 else flat.max(dim=1, keepdim=True)[0]
                flat = torch.cat([1.0 - best, flat], dim=1)
            elif role == "scores":
                if self.background_last:
                    # (face, ..., background) -> (background, face, ...): face is column 1
                    flat = torch.cat([flat[:, -1:], flat[:, :-1]], dim=1)
                flat = torch.softmax(flat, dim=1)
            outs.append(flat)
        return tuple(outs)
