#include "facedge/priors.h"

#include <algorithm>

namespace facedge {

static float clamp01(float v)
{
    return std::min(1.f, std::max(0.f, v));
}

std::vector<Prior> generate_priors(const FamilySpec& family, int input_width, int input_height)
{
    std::vector<Prior> priors;
    // A padding family's feature maps cover the padded size; its priors are still
    // normalized to the unpadded input (the scale is exactly 1 for the others).
    int net_width = 0, net_height = 0;
    network_size(family, input_width, input_height, net_width, net_height);
    const float pad_x = (float)net_width / input_width, pad_y = (float)net_height / input_height;
    for (const PriorLevel& level : family.levels)
    {
        // ceil: a stride-2 convolution with padding maps n pixels to ceil(n / 2).
        const int cols = (net_width + level.stride - 1) / level.stride;
        const int rows = (net_height + level.stride - 1) / level.stride;
        for (int y = 0; y < rows; y++)
        {
            for (int x = 0; x < cols; x++)
            {
                // Centers spread over the feature map as the models were trained:
                // (cell + offset) / cells. Where the input is not a multiple of the
                // stride this differs from (cell + offset) * stride / size, the rule
                // some inference demos use (ULFD's at height 240, strides 32 and 64).
                const float cx = (x + family.cell_offset) / cols * pad_x;
                const float cy = (y + family.cell_offset) / rows * pad_y;
                for (float size : level.min_sizes)
                {
                    Prior p = {cx, cy, size / input_width, size / input_height};
                    if (family.clip_priors)
                        p = {clamp01(p.cx), clamp01(p.cy), clamp01(p.w), clamp01(p.h)};
                    priors.push_back(p);
                }
            }
        }
    }
    return priors;
}

} // namespace facedge
