// A model family: everything numeric its decoder needs, in one place.
//
// Every supported detector is an SSD-style network whose outputs follow one contract
// (see DESIGN in README): `scores` [N, classes] probabilities with face = column 1,
// `boxes` [N, 4] raw center/size regression, optionally `landmarks` [N, 2*K] raw
// offsets, N = number of priors. A family therefore differs only in data: its prior
// layout, its variances and its default preprocessing. Anchor-free heads (YuNet) fit
// the same contract as one prior per cell whose size is the stride, at the cell's
// corner (cell_offset 0), with variances 1: center = (cell + d) * stride, size =
// exp(d) * stride. Detector code never branches on the family name; each family is
// one file in src/families/ that registers a FamilySpec.
#pragma once

#include <string>
#include <vector>

namespace facedge {

enum class PixelOrder
{
    RGB,
    BGR,
};

// Priors of one feature level: the feature map is ceil(input / stride) cells, each
// cell holds one square-in-input-pixels prior per entry of min_sizes.
struct PriorLevel
{
    int stride = 8;
    std::vector<float> min_sizes;
};

struct FamilySpec
{
    std::string name;
    std::string description;

    // Default preprocessing (a model directory's facedge.json may override it):
    // x = (pixel - mean) * norm, channels in `pixel_order`.
    PixelOrder pixel_order = PixelOrder::RGB;
    float mean[3] = {0.f, 0.f, 0.f};
    float norm[3] = {1.f, 1.f, 1.f};
    int default_width = 320;
    int default_height = 240;

    // Default blob names for bare ncnn files (Detector::from_ncnn).
    std::string input_blob = "input";
    std::string scores_blob = "scores";
    std::string boxes_blob = "boxes";
    std::string landmarks_blob; // empty: the family has no landmarks

    // Priors: for each level, row-major cells, min_sizes innermost.
    std::vector<PriorLevel> levels;
    float cell_offset = 0.5f;  // prior center = (cell + offset) / cells of the feature map
    bool clip_priors = false;  // clamp prior center/size to [0, 1]

    // Box decoding: center = prior_c + d * center_variance * prior_size,
    // size = prior_size * exp(d * size_variance). Landmarks use center_variance.
    float center_variance = 0.1f;
    float size_variance = 0.2f;
    int num_landmarks = 0; // points per face

    // Input sizes must be a multiple of this (the network's total stride for the
    // feature maps to line up with the priors), checked before inference.
    int size_multiple = 1;

    // Nonzero: any input size is taken; the resized image is padded at the right and
    // bottom up to a multiple of this before the network (OpenCV's FaceDetectorYN
    // rule for YuNet). Priors and boxes stay in the unpadded input's coordinates.
    int pad_multiple = 0;
};

// The size the network runs at for an input of width x height: padded up to
// pad_multiple, or unchanged.
inline void network_size(const FamilySpec& family, int width, int height, int& net_width, int& net_height)
{
    const int m = family.pad_multiple;
    net_width = m > 0 ? (width + m - 1) / m * m : width;
    net_height = m > 0 ? (height + m - 1) / m * m : height;
}

// The registry. find_family throws facedge::Error listing the known names.
const FamilySpec& find_family(const std::string& name);
std::vector<std::string> family_names();

// Used by the families' registration objects (src/families/*.cpp).
struct FamilyRegistration
{
    explicit FamilyRegistration(const FamilySpec& spec);
};

} // namespace facedge
