"""BlazeFace-FPN-SSH, PaddleDetection's face detector, from a PyTorch state_dict in
PaddleDetection's naming (`backbone.*`, `neck.*`, `blaze_head.*`).

BlazeNet backbone (a 3x3 stem, five single and six double BlazeBlocks with 5x5
depthwise convolutions), a two-level FPN + SSH neck at strides 8 and 16, and 3x3 SSD
heads with 2 and 6 square anchors per cell. Activations follow PaddleDetection's
dygraph layers, which the weights were trained with: every ConvBN has ReLU unless said
otherwise; a single block's pointwise conv has none, a double block's first pointwise
conv has hard-swish; the neck uses LeakyReLU 0.01. Written here from the architecture.
"""

import torch
from torch import nn
from torch.nn import functional as F

from facedge.convert.families.base import Family

SINGLE_BLOCKS = [(24, 24, 1), (24, 24, 1), (24, 48, 2), (48, 48, 1), (48, 48, 1)]  # (dw channels, out, stride)
DOUBLE_BLOCKS = [(48, 24, 96, 2), (96, 24, 96, 1), (96, 24, 96, 1),
                 (96, 24, 96, 2), (96, 24, 96, 1), (96, 24, 96, 1)]  # (dw channels, mid, out, stride)
NECK_LEAK = 0.01
ANCHORS = (2, 6)


class _ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm + activation, with PaddleDetection's member names."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1, act="relu"):
        super().__init__()
        self._conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self._batch_norm = nn.BatchNorm2d(cout)
        self.act = {"relu": nn.ReLU(), "hard_swish": nn.Hardswish(), "leaky": nn.LeakyReLU(NECK_LEAK),
                    None: nn.Identity()}[act]

    def forward(self, x):
        return self.act(self._batch_norm(self._conv(x)))


class _BlazeBlock(nn.Module):
    def __init__(self, cin, dw_channels, out1, out2=None, stride=1):
        super().__init__()
        double = out2 is not None
        self.conv_dw = nn.ModuleList([_ConvBN(cin, dw_channels, 5, stride, groups=dw_channels)])
        self.conv_pw = _ConvBN(dw_channels, out1, 1, act="hard_swish" if double else None)
        if double:
            self.conv_dw2 = nn.ModuleList([_ConvBN(out1, out1, 5, groups=out1)])
            self.conv_pw2 = _ConvBN(out1, out2, 1)
        self.double = double
        self.stride = stride
        if stride != 1:
            # ceil_mode pooling keeps the shortcut's size equal to the strided conv's
            self._shortcut = nn.Sequential(nn.MaxPool2d(stride, stride, ceil_mode=True),
                                           _ConvBN(cin, out2 if double else out1, 1))

    def forward(self, x):
        y = self.conv_pw(self.conv_dw[0](x))
        if self.double:
            y = self.conv_pw2(self.conv_dw2[0](y))
        if self.stride != 1:
            x = self._shortcut(x)
        return F.relu(x + y)


class _BlazeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = _ConvBN(3, 24, 3, stride=2)
        cin = 24
        single = []
        for dw, out, stride in SINGLE_BLOCKS:
            single.append(_BlazeBlock(cin, dw, out, stride=stride))
            cin = out
        double = []
        for dw, mid, out, stride in DOUBLE_BLOCKS:
            double.append(_BlazeBlock(cin, dw, mid, out, stride=stride))
            cin = out
        self.blaze_ = nn.ModuleList(single)
        self.double_blaze_ = nn.ModuleList(double)

    def forward(self, x):
        x = self.conv1(x)
        for block in self.blaze_:
            x = block(x)
        for i, block in enumerate(self.double_blaze_):
            x = block(x)
            if i == 2:
                stride8 = x  # the last block before the second downsampling
        return stride8, x


class _FPN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1_fpn = _ConvBN(cin, cout, 1, act="leaky")
        self.conv2_fpn = _ConvBN(cin, cout, 1, act="leaky")
        self.conv3_fpn = _ConvBN(cout, cout, 3, act="leaky")

    def forward(self, c8, c16):
        p16 = self.conv2_fpn(c16)
        # 2x nearest == upsampling to the stride-8 map's size, as input sides are multiples of 16
        p8 = self.conv3_fpn(self.conv1_fpn(c8) + F.interpolate(p16, scale_factor=2.0, mode="nearest"))
        return p8, p16


class _SSH(nn.Module):
    """PaddleDetection's SSH: a chain of five 3x3 ConvBNs, outputs 0, 2 and 4 concatenated."""

    def __init__(self, channels):
        super().__init__()
        half, quarter = channels // 2, channels // 4
        self.conv0_ssh = _ConvBN(channels, half, 3, act=None)
        self.conv1_ssh = _ConvBN(half, quarter, 3, act="leaky")
        self.conv2_ssh = _ConvBN(quarter, quarter, 3, act=None)
        self.conv3_ssh = _ConvBN(quarter, quarter, 3, act="leaky")
        self.conv4_ssh = _ConvBN(quarter, quarter, 3, act=None)

    def forward(self, x):
        c0 = self.conv0_ssh(x)
        c2 = self.conv2_ssh(self.conv1_ssh(c0))
        c4 = self.conv4_ssh(self.conv3_ssh(c2))
        return F.relu(torch.cat([c0, c2, c4], 1))


class _Neck(nn.Module):
    def __init__(self, cin=96, cout=48):
        super().__init__()
        self.fpn = _FPN(cin, cout)
        self.ssh1 = _SSH(cout)
        self.ssh2 = _SSH(cout)

    def forward(self, c8, c16):
        p8, p16 = self.fpn(c8, c16)
        return self.ssh1(p8), self.ssh2(p16)


class _Head(nn.Module):
    def __init__(self, num_classes, channels=48):
        super().__init__()
        self.boxes = nn.ModuleList([nn.Conv2d(channels, a * 4, 3, padding=1) for a in ANCHORS])
        self.scores = nn.ModuleList([nn.Conv2d(channels, a * num_classes, 3, padding=1) for a in ANCHORS])


class BlazeFaceFPNSSH(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.backbone = _BlazeNet()
        self.neck = _Neck()
        self.blaze_head = _Head(num_classes)

    def forward(self, x):
        features = self.neck(*self.backbone(x))
        return {"scores": [h(f) for h, f in zip(self.blaze_head.scores, features)],
                "boxes": [h(f) for h, f in zip(self.blaze_head.boxes, features)]}


def _num_classes(state_dict):
    # PaddleDetection's FaceHead adds the background class: 1 face class -> 2 columns
    return int(state_dict["blaze_head.scores.0.weight"].shape[0]) // ANCHORS[0]


BLAZEFACE = Family(
    name="blazeface-fpn-ssh", summary="BlazeFace-FPN-SSH (PaddleDetection face detector)",
    size_multiple=16, min_side=16,
    outputs=("scores", "boxes"), build=BlazeFaceFPNSSH, num_classes=_num_classes,
    size_rule="its FPN upsamples the stride-16 level by 2",
    # PaddleDetection's post-process passes num_classes as the NMS background label:
    # column 0 is the face, the last column the background.
    background_last=True,
)
FAMILIES = (BLAZEFACE,)
