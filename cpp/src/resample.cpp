#include "facedge/resample.h"

#include <algorithm>
#include <cmath>

namespace facedge {

namespace {

// One output pixel's (index, weight) pairs before padding.
using Taps = std::vector<std::pair<int, float> >;

Taps bilinear(int src, double scale, int o)
{
    // half-pixel centres, clamped at the borders as OpenCV and ncnn do
    double f = (o + 0.5) * scale - 0.5;
    int i = (int)std::floor(f);
    f -= i;
    if (i < 0)
    {
        i = 0;
        f = 0;
    }
    if (src == 1)
        return {{0, 1.f}};
    if (i >= src - 1)
    {
        i = src - 2;
        f = 1;
    }
    return {{i, (float)(1 - f)}, {i + 1, (float)f}};
}

Taps area(int src, double scale, int o)
{
    const double a = o * scale, b = std::min((double)src, (o + 1) * scale);
    Taps taps;
    for (int i = (int)std::floor(a); i < b && i < src; i++)
    {
        const double cover = std::min(b, i + 1.0) - std::max(a, (double)i);
        if (cover > 1e-9)
            taps.push_back({i, (float)(cover / (b - a))});
    }
    return taps;
}

} // namespace

AxisTaps axis_taps(int src, int dst, ResizeFilter filter)
{
    const double scale = (double)src / dst;
    const bool use_area = filter == ResizeFilter::Area ? scale > 1.0 : filter == ResizeFilter::Auto && scale > 2.0;
    std::vector<Taps> all(dst);
    int most = 1;
    for (int o = 0; o < dst; o++)
    {
        all[o] = use_area ? area(src, scale, o) : bilinear(src, scale, o);
        most = std::max(most, (int)all[o].size());
    }
    AxisTaps t;
    t.outputs = dst;
    t.taps = most;
    t.index.assign((size_t)most * dst, 0);
    t.weight.assign((size_t)most * dst, 0.f);
    for (int o = 0; o < dst; o++)
        for (int k = 0; k < most; k++)
        {
            const bool used = k < (int)all[o].size();
            t.index[(size_t)k * dst + o] = used ? all[o][k].first : all[o][0].first;
            t.weight[(size_t)k * dst + o] = used ? all[o][k].second : 0.f;
        }
    return t;
}

std::vector<int> fixed_point_weights(const float* weights, int count, int total)
{
    std::vector<int> out(count);
    int sum = 0, biggest = 0;
    for (int k = 0; k < count; k++)
    {
        out[k] = (int)std::lround(weights[k] * total);
        sum += out[k];
        if (weights[k] > weights[biggest])
            biggest = k;
    }
    out[biggest] += total - sum; // the rounding residue goes where it matters least, relatively
    return out;
}

} // namespace facedge
