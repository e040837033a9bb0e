// From raw network outputs to candidate faces in image pixels.
#pragma once

#include <vector>

#include "facedge/family.h"
#include "facedge/priors.h"

namespace facedge {

struct Face
{
    float x1, y1, x2, y2;
    float score;
    float landmarks[10]; // (x, y) pairs in image pixels; the first 2*num_landmarks are valid
    int label;           // the winning score column: 1 .. num_classes - 1 (column 0 is background)
};

// Raw outputs of one image, row-major: scores [num_priors x num_classes], boxes
// [num_priors x 4], landmarks [num_priors x 2K] or null.
struct RawOutputs
{
    const float* scores = nullptr;
    int num_classes = 2;
    const float* boxes = nullptr;
    const float* landmarks = nullptr;
    int num_priors = 0;
};

// Candidates decoded and scaled to an image of image_width x image_height pixels,
// clipped to the image, in descending score order. Every non-background class is a
// face class: each prior takes its best class (the highest of columns 1..C-1; the
// lowest column on ties) and is a candidate when that score > score_threshold.
std::vector<Face> decode_faces(const FamilySpec& family, const std::vector<Prior>& priors, const RawOutputs& raw,
                               float score_threshold, int image_width, int image_height);

} // namespace facedge
