"""Ultra-Light-Fast-Generic-Face-Detector-1MB: version-slim and version-RFB.

Both are a 13-block MobileNet-style backbone (the RFB one swaps block 7 for a
receptive-field block) with SSD heads on four levels, strides 8/16/32/64. Written here
from the architecture; module names follow the upstream checkpoints' state_dict keys
(`base_net.*`, `extras.*`, `classification_headers.*`, `regression_headers.*`).
"""

import torch
from torch import nn

from facedge.convert.families.base import Family

BASE = 16  # channels of the first block; the others are multiples of it
# (out channels, stride) of the depthwise-separable blocks 1..12 after the stem
BLOCKS = [(2, 1), (2, 2), (2, 1), (4, 2), (4, 1), (4, 1), (4, 1), (8, 2), (8, 1), (8, 1), (16, 2), (16, 1)]
RFB_BLOCK = 7  # index in base_net of the block RFB replaces
LEVEL_ENDS = (8, 11, 13)  # heads 0..2 read base_net[:8], [:11], [:13]; head 3 reads the extra block
ANCHORS = (3, 2, 2, 3)


def _conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def _conv_dw(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
    )


def _separable(cin, cout, stride=1):
    """Depthwise 3x3 (with bias) + ReLU + pointwise 1x1: the heads' and extra block's unit."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin), nn.ReLU(), nn.Conv2d(cin, cout, 1))


class _ConvBN(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, padding=0, dilation=1, relu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU() if relu else nn.Identity()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class _RFB(nn.Module):
    """Three dilated branches (dilation 2, 3, 5), concatenated, projected and added to a
    1x1 shortcut (scale 1.0 in the face detector)."""

    def __init__(self, channels):
        super().__init__()
        mid = channels // 8
        self.branch0 = nn.Sequential(_ConvBN(channels, mid, 1, relu=False), _ConvBN(mid, 2 * mid, 3, padding=1),
                                     _ConvBN(2 * mid, 2 * mid, 3, padding=2, dilation=2, relu=False))
        self.branch1 = nn.Sequential(_ConvBN(channels, mid, 1, relu=False), _ConvBN(mid, 2 * mid, 3, padding=1),
                                     _ConvBN(2 * mid, 2 * mid, 3, padding=3, dilation=3, relu=False))
        self.branch2 = nn.Sequential(_ConvBN(channels, mid, 1, relu=False), _ConvBN(mid, mid // 2 * 3, 3, padding=1),
                                     _ConvBN(mid // 2 * 3, 2 * mid, 3, padding=1),
                                     _ConvBN(2 * mid, 2 * mid, 3, padding=5, dilation=5, relu=False))
        self.ConvLinear = _ConvBN(6 * mid, channels, 1, relu=False)
        self.shortcut = _ConvBN(channels, channels, 1, relu=False)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.ConvLinear(torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1))
        return self.relu(y + self.shortcut(x))


class UltraFace(nn.Module):
    def __init__(self, num_classes: int, rfb: bool):
        super().__init__()
        layers = [_conv_bn(3, BASE, 2)]
        cin = BASE
        for i, (mult, stride) in enumerate(BLOCKS, start=1):
            cout = BASE * mult
            layers.append(_RFB(cin) if rfb and i == RFB_BLOCK else _conv_dw(cin, cout, stride))
            cin = cout
        self.base_net = nn.Sequential(*layers)
        self.extras = nn.ModuleList([nn.Sequential(
            nn.Conv2d(BASE * 16, BASE * 4, 1), nn.ReLU(), _separable(BASE * 4, BASE * 16, stride=2), nn.ReLU())])
        level_channels = (BASE * 4, BASE * 8, BASE * 16, BASE * 16)

        def heads(width):
            return nn.ModuleList([_separable(c, a * width) for c, a in zip(level_channels[:3], ANCHORS[:3])]
                                 + [nn.Conv2d(level_channels[3], ANCHORS[3] * width, 3, padding=1)])

        self.classification_headers = heads(num_classes)
        self.regression_headers = heads(4)

    def forward(self, x):
        features = []
        start = 0
        for end in LEVEL_ENDS:
            for i in range(start, end):  # indexing, not slicing: a slice is a new module torch.fx cannot trace
                x = self.base_net[i](x)
            features.append(x)
            start = end
        features.append(self.extras[0](x))
        return {"scores": [h(f) for h, f in zip(self.classification_headers, features)],
                "boxes": [h(f) for h, f in zip(self.regression_headers, features)]}


def _num_classes(state_dict):
    # classification head 0 has ANCHORS[0] * num_classes output channels
    return int(state_dict["classification_headers.0.2.weight"].shape[0]) // ANCHORS[0]


def _family(name, rfb, summary):
    return Family(
        name=name, summary=summary, size_multiple=8, min_side=64,
        outputs=("scores", "boxes"), build=lambda num_classes: UltraFace(num_classes, rfb=rfb),
        num_classes=_num_classes,
        size_rule="its finest level has stride 8 and its coarsest 64",
        sizes_by_name=(("-640", (640, 480)),),
    )


SLIM = _family("ultraface-slim", False, "Ultra-Light-Fast-Generic-Face-Detector-1MB version-slim")
RFB = _family("ultraface-rfb", True, "Ultra-Light-Fast-Generic-Face-Detector-1MB version-RFB")
FAMILIES = (SLIM, RFB)
