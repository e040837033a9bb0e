// The reference row kernels: plain C++, the fixed-point arithmetic of
// resample_kernels.h written out. They run where no SIMD set does (x86 without AVX2,
// gray images) and are what the SIMD kernels are tested against.
#include "facedge/resample_kernels.h"

namespace facedge {
namespace resample {
namespace {

bool usable(const Plan&)
{
    return true;
}

void prepare(Plan& p)
{
    // the row, then room for the padding taps of the last outputs (weight 0, read anyway)
    p.scratch_values = (size_t)(p.src_width + p.x_taps + 1) * p.channels;
}

// out[i] = sum of weight * row[i] over the taps: at most 255 * 256, so uint16.
// A pass per tap (the compiler vectorises each; `out` stays in L1).
void vertical(const Plan& p, const uint8_t* image, size_t stride, int y, int16_t* scratch)
{
    const int n = p.src_width * p.channels;
    uint16_t* __restrict out = (uint16_t*)scratch;
    for (int k = p.y_begin[y]; k < p.y_begin[y + 1]; k++)
    {
        const uint8_t* __restrict row = image + (size_t)p.y_row[k] * stride;
        const uint16_t w = p.y_weight[k];
        if (k == p.y_begin[y])
            for (int i = 0; i < n; i++)
                out[i] = (uint16_t)(row[i] * w);
        else
            for (int i = 0; i < n; i++)
                out[i] = (uint16_t)(out[i] + row[i] * w);
    }
}

void horizontal(const Plan& p, const int16_t* scratch, float* const* out, const float* scale, const float* bias, RowPrefetch*)
{
    const int C = p.channels, T = p.x_taps;
    const uint16_t* v = (const uint16_t*)scratch;
    const float s[3] = {scale[0] / (kVerticalOne * kHorizontalOne), scale[1] / (kVerticalOne * kHorizontalOne),
                        scale[2] / (kVerticalOne * kHorizontalOne)};
    for (int x = 0; x < p.width; x++)
    {
        const uint16_t* px = v + (size_t)p.x_first[x] * C;
        const int16_t* w = p.x_weight.data() + (size_t)x * T;
        int32_t sum[3] = {0, 0, 0};
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 3; k++)
                sum[k] += w[t] * px[t * C + p.pick[k]];
        for (int k = 0; k < 3; k++)
            out[k][x] = (float)sum[k] * s[k] + bias[k];
    }
}

} // namespace

const KernelSet kScalarKernels = {"scalar", usable, prepare, vertical, horizontal};

} // namespace resample
} // namespace facedge
