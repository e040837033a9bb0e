// RetinaFace with a MobileNet-0.25 backbone (the Pytorch_Retinaface layout): three
// levels, two anchors per cell, five landmarks.
#include "facedge/family.h"

namespace facedge {

static FamilySpec retinaface_mnet()
{
    FamilySpec f;
    f.name = "retinaface-mnet";
    f.description = "RetinaFace MobileNet-0.25, 5 landmarks";
    f.pixel_order = PixelOrder::BGR;
    f.mean[0] = 104.f;
    f.mean[1] = 117.f;
    f.mean[2] = 123.f;
    f.default_width = 640;
    f.default_height = 480;
    f.input_blob = "in0";
    // pnnx's names for facedge convert's outputs (scores, boxes, landmarks)
    f.scores_blob = "out0";
    f.boxes_blob = "out1";
    f.landmarks_blob = "out2";
    f.levels = {{8, {16.f, 32.f}}, {16, {64.f, 128.f}}, {32, {256.f, 512.f}}};
    f.clip_priors = false;
    f.center_variance = 0.1f;
    f.size_variance = 0.2f;
    f.num_landmarks = 5;
    // The FPN upsamples stride-32 maps onto stride-16 and stride-8 maps: the sizes
    // only agree when the input is a multiple of 32.
    f.size_multiple = 32;
    return f;
}

static FamilyRegistration registration(retinaface_mnet());

} // namespace facedge
