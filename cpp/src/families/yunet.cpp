// YuNet (libfacedetection.train; OpenCV's FaceDetectorYN): an anchor-free head on
// strides 8/16/32 with five landmarks, in two widths (yunet-n, yunet-s) that decode
// alike. facedge convert exports its score as sqrt(sigmoid(cls) * sigmoid(obj)), as
// FaceDetectorYN computes it, and its raw box/landmark maps unchanged; decoding them
// as SSD priors of size = stride at the cell's top-left corner with variances 1 gives
// FaceDetectorYN's boxes exactly: center = (cell + d) * stride, size = exp(d) * stride,
// landmark = (cell + l) * stride.
#include "facedge/family.h"

namespace facedge {

static FamilySpec yunet(const char* name, const char* description)
{
    FamilySpec f;
    f.name = name;
    f.description = description;
    f.pixel_order = PixelOrder::BGR; // 0..255, no mean or scale
    f.default_width = 640;
    f.default_height = 480;
    f.input_blob = "in0";
    // pnnx's names for facedge convert's outputs (scores, boxes, landmarks)
    f.scores_blob = "out0";
    f.boxes_blob = "out1";
    f.landmarks_blob = "out2";
    f.levels = {{8, {8.f}}, {16, {16.f}}, {32, {32.f}}};
    f.cell_offset = 0.f;
    f.center_variance = 1.f;
    f.size_variance = 1.f;
    f.num_landmarks = 5;
    // Its FPN adds each level's 2x upsampling into the next finer one, so the network
    // needs sides that are multiples of 32; like FaceDetectorYN, pad up to one.
    f.size_multiple = 1;
    f.pad_multiple = 32;
    return f;
}

static FamilyRegistration registration_n(yunet("yunet-n", "YuNet-n (libfacedetection.train), 5 landmarks"));
static FamilyRegistration registration_s(yunet("yunet-s", "YuNet-s (libfacedetection.train; OpenCV FaceDetectorYN), 5 landmarks"));

} // namespace facedge
