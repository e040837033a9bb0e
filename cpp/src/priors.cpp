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
    for (const PriorLevel& level : family.levels)
    {
        // ceil: a stride-2 convolution with padding maps n pixels to ceil(n / 2).
        const int cols = (input_width + level.stride - 1) / level.stride;
        const int rows = (input_height + level.stride - 1) / level.stride;
        for (int y = 0; y < rows; y++)
        {
            for (int x = 0; x < cols; x++)
            {
                // Centers spread over the feature map as the models were trained:
                // (cell + offset) / cells. Where the input is not a multiple of the
                // stride this differs from (cell + offset) * stride / size, the rule
                // some inference demos use (ULFD's at height 240, strides 32 and 64).
                const float cx = (x + family.cell_offset) / cols;
                const float cy = (y + family.cell_offset) / rows;
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
