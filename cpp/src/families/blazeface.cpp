// PaddleDetection's BlazeFace-FPN-SSH (the Arcface-Paddle face detector): two levels,
// 2 and 6 anchors per cell. PaddleDetection orders the classes face, background; the
// export wrapper (convert/families/blazeface.py) swaps them into the common contract.
#include "facedge/family.h"

namespace facedge {

static FamilySpec blazeface_fpn_ssh()
{
    FamilySpec f;
    f.name = "blazeface-fpn-ssh";
    f.description = "BlazeFace-FPN-SSH (PaddleDetection)";
    f.pixel_order = PixelOrder::RGB;
    f.mean[0] = 123.f;
    f.mean[1] = 117.f;
    f.mean[2] = 104.f;
    for (int i = 0; i < 3; i++)
        f.norm[i] = 1.f / 127.502231f;
    f.default_width = 640;
    f.default_height = 640;
    // pnnx's names for facedge convert's outputs (scores, boxes)
    f.input_blob = "in0";
    f.scores_blob = "out0";
    f.boxes_blob = "out1";
    f.levels = {{8, {16.f, 24.f}}, {16, {32.f, 48.f, 64.f, 80.f, 96.f, 128.f}}};
    f.clip_priors = false;
    f.center_variance = 0.1f;
    f.size_variance = 0.2f;
    // the FPN upsamples the stride-16 map onto the stride-8 one
    f.size_multiple = 16;
    return f;
}

static FamilyRegistration registration(blazeface_fpn_ssh());

} // namespace facedge
