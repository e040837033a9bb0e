// The fixed-point resampling plan of one frame size, and the choice of kernels for it.
#include "facedge/resample_kernels.h"

#include "facedge/error.h"

namespace facedge {
namespace resample {

const std::vector<const KernelSet*>& kernel_sets()
{
    static const std::vector<const KernelSet*> sets = {
#if defined(FACEDGE_HAVE_AVX2_KERNELS)
        &kAvx2Kernels,
#endif
#if defined(FACEDGE_HAVE_NEON_KERNELS)
        &kNeonKernels,
#endif
        &kScalarKernels,
    };
    return sets;
}

namespace {

thread_local std::string forced;

void vertical_plan(Plan& p)
{
    const AxisTaps y = axis_taps(p.src_height, p.height, p.filter);
    p.y_begin.assign(1, 0);
    p.y_row.clear();
    p.y_weight.clear();
    std::vector<float> w(y.taps);
    for (int o = 0; o < p.height; o++)
    {
        for (int t = 0; t < y.taps; t++)
            w[t] = y.weight[(size_t)t * p.height + o];
        const std::vector<int> fixed = fixed_point_weights(w.data(), y.taps, kVerticalOne);
        for (int t = 0; t < y.taps; t++)
            if (fixed[t])
            {
                p.y_row.push_back(y.index[(size_t)t * p.height + o]);
                p.y_weight.push_back((uint16_t)fixed[t]);
            }
        p.y_begin.push_back((int)p.y_row.size());
    }
}

void horizontal_plan(Plan& p)
{
    const AxisTaps x = axis_taps(p.src_width, p.width, p.filter);
    p.x_taps = (x.taps + 1) / 2 * 2;
    p.x_first.assign(p.width, 0);
    p.x_weight.assign((size_t)p.width * p.x_taps, 0);
    std::vector<float> w(x.taps);
    for (int o = 0; o < p.width; o++)
    {
        // axis_taps lists each output's weighted pixels in order, neighbours of the
        // first; the padding taps (weight 0) may point past the row's end, which the
        // kernels' scratch rows allow for
        const int first = x.index[o];
        p.x_first[o] = first;
        for (int t = 0; t < x.taps; t++)
        {
            w[t] = x.weight[(size_t)t * p.width + o];
            if (w[t] != 0.f && x.index[(size_t)t * p.width + o] != first + t)
                throw Error("resampling taps are not contiguous"); // axis_taps never makes such taps
        }
        const std::vector<int> fixed = fixed_point_weights(w.data(), x.taps, kHorizontalOne);
        for (int t = 0; t < x.taps; t++)
            p.x_weight[(size_t)o * p.x_taps + t] = (int16_t)fixed[t];
    }
}

} // namespace

bool simd_can_run(const Plan& p)
{
    if (p.channels != 3 && p.channels != 4)
        return false;
    for (int y = 0; y < p.height; y++)
        if (p.y_begin[y + 1] - p.y_begin[y] > kMaxSimdVerticalTaps)
            return false;
    return true;
}

Plan make_plan(int src_width, int src_height, int width, int height, ResizeFilter filter, int channels, const int pick[3],
               const std::string& kernels)
{
    Plan p;
    p.src_width = src_width;
    p.src_height = src_height;
    p.width = width;
    p.height = height;
    p.filter = filter;
    p.channels = channels;
    for (int k = 0; k < 3; k++)
        p.pick[k] = pick[k];
    vertical_plan(p);
    horizontal_plan(p);
    // the first usable set, or the named one where it is usable; the scalar set runs
    // every plan
    bool named = kernels.empty();
    for (const KernelSet* set : kernel_sets())
    {
        named = named || kernels == set->name;
        if ((kernels.empty() || kernels == set->name) && set->usable(p))
        {
            p.kernels = set;
            break;
        }
    }
    if (!named)
        throw Error("no resampling kernels named '" + kernels + "' in this build");
    if (!p.kernels)
        p.kernels = &kScalarKernels;
    p.kernels->prepare(p);
    return p;
}

void force_kernels(const std::string& name)
{
    forced = name;
}

const std::string& forced_kernels()
{
    return forced;
}

} // namespace resample
} // namespace facedge
