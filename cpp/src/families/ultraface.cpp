// Ultra-Light-Fast-Generic-Face-Detector-1MB, version-slim and version-RFB.
// Both share the head layout; they differ only in the backbone.
#include "facedge/family.h"

namespace facedge {

static FamilySpec ultraface(const char* name, const char* description)
{
    FamilySpec f;
    f.name = name;
    f.description = description;
    f.pixel_order = PixelOrder::RGB;
    for (int i = 0; i < 3; i++)
    {
        f.mean[i] = 127.f;
        f.norm[i] = 1.f / 128.f;
    }
    f.default_width = 320;
    f.default_height = 240;
    f.input_blob = "input";
    f.scores_blob = "scores";
    f.boxes_blob = "boxes";
    f.levels = {{8, {10.f, 16.f, 24.f}}, {16, {32.f, 48.f}}, {32, {64.f, 96.f}}, {64, {128.f, 192.f, 256.f}}};
    f.clip_priors = true; // the upstream prior generator clamps priors to the image
    f.center_variance = 0.1f;
    f.size_variance = 0.2f;
    // A plain stride-2 pyramid without upsampling: feature maps are ceil(input / stride)
    // at any input size, exactly as the priors assume.
    f.size_multiple = 1;
    return f;
}

static FamilyRegistration slim(ultraface("ultraface-slim", "Ultra-Light-Fast-Generic-Face-Detector-1MB version-slim"));
static FamilyRegistration rfb(ultraface("ultraface-rfb", "Ultra-Light-Fast-Generic-Face-Detector-1MB version-RFB"));

} // namespace facedge
