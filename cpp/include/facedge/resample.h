// Separable resampling weights: which source pixels make each output pixel, and how
// much of each. Shared by the fused preprocessing (preprocess.cpp) and its tests.
#pragma once

#include <vector>

namespace facedge {

enum class ResizeFilter
{
    // Area above 2x downscale on an axis, bilinear otherwise (at exactly 2x the two
    // are the same: the mean of two pixels).
    Auto,
    // Bilinear with half-pixel centres, as OpenCV's INTER_LINEAR and ncnn's
    // resize_bilinear: each output reads 2 source pixels, so a 3x downscale skips a
    // third of the picture and aliases (fine lines and textures turn to noise).
    Bilinear,
    // Area (box) filtering, as OpenCV's INTER_AREA: each output is the mean of the
    // source pixels its footprint covers, partial pixels weighted by coverage.
    Area,
};

// Per output pixel `taps` (source index, weight) pairs, laid out tap-major
// (index[t * outputs + o]) so that a loop over outputs runs on contiguous memory.
// Weights of one output sum to 1; unused taps have weight 0 and a valid index.
struct AxisTaps
{
    int outputs = 0;
    int taps = 0;
    std::vector<int> index;
    std::vector<float> weight;
};

// The taps along one axis from `src` to `dst` pixels. Auto: area when src > 2 * dst.
AxisTaps axis_taps(int src, int dst, ResizeFilter filter);

// `weights` (floats summing to 1) as integers summing to exactly `total`, each the
// nearest possible: the fixed-point weights of the vertical pass.
std::vector<int> fixed_point_weights(const float* weights, int count, int total);

} // namespace facedge
