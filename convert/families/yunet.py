"""YuNet (libfacedetection.train, the model behind OpenCV's FaceDetectorYN): yunet_n and
yunet_s from their mmdet checkpoints (`backbone.model{0..5}`, `neck.lateral_convs`,
`bbox_head.multi_level_{cls,obj,bbox,kps}`), written here in plain PyTorch.

Every layer is a "depthwise-pointwise unit": a 1x1 convolution, then a 3x3 depthwise
one, both with bias, then BatchNorm + ReLU (except in the heads). Six backbone stages
with 2x2 max pooling after stages 0, 2, 3 and 4 give stride-8/16/32 features; a tiny
top-down FPN adds each coarser level (nearest 2x upsampling) into the finer one; per
level, 1x1-channel heads predict classification, objectness, box and 5 landmarks.

Anchor-free decoding (libfacedetection.train's MlvlPointGenerator with offset 0, and
OpenCV's FaceDetectorYN) is the SSD decode with one prior per cell whose size is the
stride, placed at the cell's top-left corner, and variances 1:
  centre = (cell + d) * stride, size = exp(d) * stride, landmark = (cell + l) * stride.
So the runtime needs no separate decoder: the priors carry stride and cell. The score
is sqrt(sigmoid(cls) * sigmoid(obj)), as OpenCV computes it (libfacedetection.train's
own test code ranks by the product; the square root keeps the order and matches the
thresholds OpenCV users know), computed inside the exported graph.

Preprocessing (BGR 0..255), the priors and the padding are the C++ family's
(cpp/src/families/yunet.cpp). Input sizes: like FaceDetectorYN, the runtime pads the resized image at the right and
bottom with zeros up to the next multiple of 32 (the FPN needs every level to be exactly
half the one below), so 320x240 runs the network at 320x256; boxes stay in the
unpadded input's coordinates.
"""

import torch
from torch import nn
from torch.nn import functional as F

from facedge.convert.families.base import Family

STRIDES = (8, 16, 32)
PAD_MULTIPLE = 32  # as cpp/src/families/yunet.cpp pads; the smallest side accepted
NUM_LANDMARKS = 5
POOL_AFTER = (0, 2, 3, 4)  # backbone stages followed by 2x2 max pooling
FEATURE_STAGES = (3, 4, 5)  # stages whose outputs are the stride-8/16/32 features


class _DepthwisePointwise(nn.Module):
    """1x1 conv (channel mixing) then 3x3 depthwise conv, optionally BN + ReLU."""

    def __init__(self, cin, cout, bn_relu=True):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1, bias=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=True)
        self.bn_relu = bn_relu
        if bn_relu:
            self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        return F.relu(self.bn(x)) if self.bn_relu else x


class _Stem(nn.Module):
    """Stage 0: a plain stride-2 3x3 conv + BN + ReLU, then one unit."""

    def __init__(self, cin, mid, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 3, 2, 1, bias=True)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = _DepthwisePointwise(mid, cout)

    def forward(self, x):
        return self.conv2(F.relu(self.bn1(self.conv1(x))))


class _Stage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = _DepthwisePointwise(cin, cin)
        self.conv2 = _DepthwisePointwise(cin, cout)

    def forward(self, x):
        return self.conv2(self.conv1(x))


class _Backbone(nn.Module):
    def __init__(self, stage_channels):
        super().__init__()
        self.num_stages = len(stage_channels)
        self.model0 = _Stem(*stage_channels[0])
        for i in range(1, self.num_stages):
            self.add_module(f"model{i}", _Stage(*stage_channels[i]))

    def forward(self, x):
        features = []
        for i in range(self.num_stages):
            x = getattr(self, f"model{i}")(x)
            if i in FEATURE_STAGES:
                features.append(x)
            if i in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        return features


class _TopDownFPN(nn.Module):
    def __init__(self, channels, levels=len(STRIDES)):
        super().__init__()
        self.lateral_convs = nn.ModuleList(_DepthwisePointwise(channels, channels) for _ in range(levels))

    def forward(self, features):
        feats = list(features)
        for i in range(len(feats) - 1, 0, -1):
            feats[i] = self.lateral_convs[i](feats[i])
            feats[i - 1] = feats[i - 1] + F.interpolate(feats[i], scale_factor=2.0, mode="nearest")
        feats[0] = self.lateral_convs[0](feats[0])
        return feats


class _Head(nn.Module):
    def __init__(self, channels, num_face_classes, shared_convs):
        super().__init__()
        levels = range(len(STRIDES))
        if shared_convs:
            self.multi_level_share_convs = nn.ModuleList(
                nn.Sequential(*[_DepthwisePointwise(channels, channels) for _ in range(shared_convs)]) for _ in levels)
        else:
            self.multi_level_share_convs = None
        self.multi_level_cls = nn.ModuleList(_DepthwisePointwise(channels, num_face_classes, False) for _ in levels)
        self.multi_level_bbox = nn.ModuleList(_DepthwisePointwise(channels, 4, False) for _ in levels)
        self.multi_level_kps = nn.ModuleList(_DepthwisePointwise(channels, 2 * NUM_LANDMARKS, False) for _ in levels)
        self.multi_level_obj = nn.ModuleList(_DepthwisePointwise(channels, 1, False) for _ in levels)

    def forward(self, features):
        if self.multi_level_share_convs is not None:
            features = [convs(f) for convs, f in zip(self.multi_level_share_convs, features)]
        # sqrt(sigmoid(c) * sigmoid(o)) written as 1 / sqrt((1 + e^-c) (1 + e^-o)): the
        # same number, but no engine's approximate Sigmoid (onnxruntime's is off by
        # ~1e-7 in the tails) gets magnified by the square root near 0
        scores = [torch.rsqrt((1.0 + torch.exp(-cls(f))) * (1.0 + torch.exp(-obj(f))))
                  for cls, obj, f in zip(self.multi_level_cls, self.multi_level_obj, features)]
        return {"scores": scores,
                "boxes": [h(f) for h, f in zip(self.multi_level_bbox, features)],
                "landmarks": [h(f) for h, f in zip(self.multi_level_kps, features)]}


class YuNet(nn.Module):
    """Returns per level the face probability map(s) and the raw box/landmark maps."""

    def __init__(self, stage_channels, shared_convs, num_classes=2):
        super().__init__()
        channels = stage_channels[-1][-1]
        self.backbone = _Backbone(stage_channels)
        self.neck = _TopDownFPN(channels)
        self.bbox_head = _Head(channels, num_classes - 1, shared_convs)

    def forward(self, x):
        return self.bbox_head(self.neck(self.backbone(x)))


# The two published sizes (libfacedetection.train configs/yunet_{n,s}.py): stage
# channels [in, (mid,) out] and the number of per-level shared head units.
YUNET_N = dict(stage_channels=((3, 16, 16), (16, 64), (64, 64), (64, 64), (64, 64), (64, 64)), shared_convs=1)
YUNET_S = dict(stage_channels=((3, 16, 16), (16, 32), (32, 64), (64, 64), (64, 64), (64, 64)), shared_convs=0)


def _num_classes(state_dict):
    # sigmoid classification: one channel per foreground class; facedge counts background too
    return int(state_dict["bbox_head.multi_level_cls.0.conv1.weight"].shape[0]) + 1


def _family(name, config, summary):
    return Family(
        name=name, summary=summary, size_multiple=1, min_side=PAD_MULTIPLE,
        outputs=("scores", "boxes", "landmarks"), build=lambda num_classes: YuNet(num_classes=num_classes, **config),
        num_classes=_num_classes, score_kind="probability",
        size_rule=f"it pads each side up to a multiple of {PAD_MULTIPLE}, as OpenCV's FaceDetectorYN does",
    )


YUNET_N_FAMILY = _family("yunet-n", YUNET_N, "YuNet-n (libfacedetection.train), 5 landmarks")
YUNET_S_FAMILY = _family("yunet-s", YUNET_S, "YuNet-s (libfacedetection.train, OpenCV's FaceDetectorYN), 5 landmarks")
FAMILIES = (YUNET_N_FAMILY, YUNET_S_FAMILY)
