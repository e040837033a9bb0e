"""RetinaFace with a MobileNet-0.25 backbone and five landmarks (the Pytorch_Retinaface
checkpoint layout: `body.stage{1,2,3}`, `fpn.*`, `ssh{1,2,3}.*`, `ClassHead`,
`BboxHead`, `LandmarkHead`).

Backbone stages end at strides 8/16/32; a three-level FPN (nearest 2x upsampling) feeds
one SSH context module per level, then 1x1 heads with two anchors per cell. LeakyReLU
0.1 throughout. Written here from the architecture.
"""

import torch
from torch import nn
from torch.nn import functional as F

from facedge.convert.families.base import Family

LEAK = 0.1
ANCHORS = 2
FPN_CHANNELS = 64


def _conv_bn(cin, cout, kernel, stride=1, act=True, groups=1):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.LeakyReLU(LEAK))
    return nn.Sequential(*layers)


def _conv_dw(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.LeakyReLU(LEAK),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(LEAK),
    )


class _MobileNetV1(nn.Module):
    """MobileNet v1 at width 0.25, split where the three detection levels branch off."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(_conv_bn(3, 8, 3, stride=2), _conv_dw(8, 16, 1), _conv_dw(16, 32, 2),
                                    _conv_dw(32, 32, 1), _conv_dw(32, 64, 2), _conv_dw(64, 64, 1))
        self.stage2 = nn.Sequential(_conv_dw(64, 128, 2), *[_conv_dw(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x):
        c3 = self.stage1(x)
        c4 = self.stage2(c3)
        return c3, c4, self.stage3(c4)


class _FPN(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.output1 = _conv_bn(in_channels[0], out, 1)
        self.output2 = _conv_bn(in_channels[1], out, 1)
        self.output3 = _conv_bn(in_channels[2], out, 1)
        self.merge1 = _conv_bn(out, out, 3)
        self.merge2 = _conv_bn(out, out, 3)

    def forward(self, c3, c4, c5):
        # A fixed 2x nearest upsampling equals upsampling to the finer map's size because
        # input sides are multiples of 32; a scale (not a size) keeps the ncnn graph
        # usable at any such input size.
        p5 = self.output3(c5)
        p4 = self.merge2(self.output2(c4) + F.interpolate(p5, scale_factor=2.0, mode="nearest"))
        p3 = self.merge1(self.output1(c3) + F.interpolate(p4, scale_factor=2.0, mode="nearest"))
        return p3, p4, p5


class _SSH(nn.Module):
    """Context module: 3x3, 5x5 and 7x7 receptive fields (stacked 3x3s) concatenated."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv3X3 = _conv_bn(cin, cout // 2, 3, act=False)
        self.conv5X5_1 = _conv_bn(cin, cout // 4, 3)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, 3, act=False)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4, 3)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, 3, act=False)

    def forward(self, x):
        mid = self.conv5X5_1(x)
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(mid), self.conv7x7_3(self.conv7X7_2(mid))], 1))


class _Head(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1x1 = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.conv1x1(x)


class RetinaFace(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.body = _MobileNetV1()
        self.fpn = _FPN((64, 128, 256), FPN_CHANNELS)
        self.ssh1 = _SSH(FPN_CHANNELS, FPN_CHANNELS)
        self.ssh2 = _SSH(FPN_CHANNELS, FPN_CHANNELS)
        self.ssh3 = _SSH(FPN_CHANNELS, FPN_CHANNELS)
        self.ClassHead = nn.ModuleList([_Head(FPN_CHANNELS, ANCHORS * num_classes) for _ in range(3)])
        self.BboxHead = nn.ModuleList([_Head(FPN_CHANNELS, ANCHORS * 4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([_Head(FPN_CHANNELS, ANCHORS * 10) for _ in range(3)])

    def forward(self, x):
        p3, p4, p5 = self.fpn(*self.body(x))
        features = (self.ssh1(p3), self.ssh2(p4), self.ssh3(p5))
        return {"scores": [h(f) for h, f in zip(self.ClassHead, features)],
                "boxes": [h(f) for h, f in zip(self.BboxHead, features)],
                "landmarks": [h(f) for h, f in zip(self.LandmarkHead, features)]}


def _num_classes(state_dict):
    return int(state_dict["ClassHead.0.conv1x1.weight"].shape[0]) // ANCHORS


RETINAFACE = Family(
    name="retinaface-mnet", summary="RetinaFace MobileNet-0.25 with 5 landmarks (Pytorch_Retinaface)",
    size_multiple=32, min_side=32,
    outputs=("scores", "boxes", "landmarks"), build=RetinaFace, num_classes=_num_classes,
    size_rule="its FPN upsamples the stride-32 level twice by 2",
)
FAMILIES = (RETINAFACE,)
