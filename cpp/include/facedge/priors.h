// SSD prior (anchor) boxes, computed once per input size and cached by the Detector.
#pragma once

#include <vector>

#include "facedge/family.h"

namespace facedge {

// Center form, normalized to the input size: (cx, cy, w, h) in [0, 1] units.
struct Prior
{
    float cx, cy, w, h;
};

std::vector<Prior> generate_priors(const FamilySpec& family, int input_width, int input_height);

} // namespace facedge
