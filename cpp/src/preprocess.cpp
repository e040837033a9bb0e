#include "facedge/preprocess.h"

#include <cstring>
#include <string>
#include <vector>

#include "facedge/error.h"
#include "facedge/resample.h"

#include "mat.h"

// The kernels below are plain loops written for the compiler's vectoriser: NEON on
// ARM (baseline in aarch64), and on x86 an AVX2 copy beside the SSE2 baseline, picked
// at run time from the CPU (GCC's target_clones: an ifunc resolved once at load).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FACEDGE_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FACEDGE_VECTOR_CLONES
#endif

namespace facedge {
namespace {

// Vertical pass weights are 8-bit fixed point summing to 256: a uint8 pixel times
// them sums to at most 255 * 256, so the row accumulates in uint16 (16 lanes of a
// 256-bit register). What this rounding costs is at most 255 * taps / 512 of a
// pixel level (0.5 level per tap pair), stated and checked in test_preprocess.cpp.
const int kVerticalOne = 256;

// acc[i] = sum over taps of w[t] * rows[t][i]
FACEDGE_VECTOR_CLONES
void vertical_pass(const uint8_t* const* rows, const uint16_t* w, int taps, int n, uint16_t* __restrict acc)
{
    if (taps == 2)
    {
        const uint8_t* __restrict r0 = rows[0];
        const uint8_t* __restrict r1 = rows[1];
        const uint16_t w0 = w[0], w1 = w[1];
        for (int i = 0; i < n; i++)
            acc[i] = (uint16_t)(r0[i] * w0 + r1[i] * w1);
        return;
    }
    {
        const uint8_t* __restrict r0 = rows[0];
        const uint16_t w0 = w[0];
        for (int i = 0; i < n; i++)
            acc[i] = (uint16_t)(r0[i] * w0);
    }
    for (int t = 1; t < taps; t++)
    {
        const uint8_t* __restrict r = rows[t];
        const uint16_t wt = w[t];
        for (int i = 0; i < n; i++)
            acc[i] = (uint16_t)(acc[i] + r[i] * wt);
    }
}

// One channel of an interleaved row into a float plane.
template<int C>
FACEDGE_VECTOR_CLONES void channel_to_float(const uint16_t* __restrict acc, int width, int channel, float* __restrict plane)
{
    for (int x = 0; x < width; x++)
        plane[x] = (float)acc[x * C + channel];
}

// out[x] = (sum over taps of weight * plane[index]) * scale + bias
FACEDGE_VECTOR_CLONES
void horizontal_pass(const float* __restrict plane, const int* __restrict index, const float* __restrict weight, int taps, int width,
                     float scale, float bias, float* __restrict out)
{
    if (taps == 2)
    {
        const int* __restrict i1 = index + width;
        const float* __restrict w1 = weight + width;
        for (int x = 0; x < width; x++)
            out[x] = (plane[index[x]] * weight[x] + plane[i1[x]] * w1[x]) * scale + bias;
        return;
    }
    for (int x = 0; x < width; x++)
        out[x] = plane[index[x]] * weight[x];
    for (int t = 1; t < taps; t++)
    {
        const int* __restrict it = index + (size_t)t * width;
        const float* __restrict wt = weight + (size_t)t * width;
        for (int x = 0; x < width; x++)
            out[x] += plane[it[x]] * wt[x];
    }
    for (int x = 0; x < width; x++)
        out[x] = out[x] * scale + bias;
}

// uint8 interleaved pixels -> three float planes, channel `pick[k]` into plane k,
// x * norm - mean * norm (how ncnn's substract_mean_normalize computes it).
template<int C>
FACEDGE_VECTOR_CLONES void to_planes(const uint8_t* __restrict src, int n, const int* pick, const float* scale, const float* offset,
                                     float* const* planes)
{
    for (int k = 0; k < 3; k++)
    {
        const uint8_t* __restrict s = src + pick[k];
        float* __restrict d = planes[k];
        const float a = scale[k], b = offset[k];
        for (int i = 0; i < n; i++)
            d[i] = (float)s[(size_t)i * C] * a + b;
    }
}

// The resampling weights of one (source size, output size, filter), kept per thread:
// a camera or a benchmark sends frames of one size.
struct Plan
{
    int sw = 0, sh = 0, w = 0, h = 0;
    ResizeFilter filter = ResizeFilter::Auto;
    AxisTaps x, y;
    std::vector<uint16_t> y_fixed; // [row * y.taps + t]
};

const Plan& plan_for(int sw, int sh, int w, int h, ResizeFilter filter)
{
    thread_local Plan plan;
    if (plan.sw != sw || plan.sh != sh || plan.w != w || plan.h != h || plan.filter != filter || plan.x.outputs == 0)
    {
        plan.sw = sw;
        plan.sh = sh;
        plan.w = w;
        plan.h = h;
        plan.filter = filter;
        plan.x = axis_taps(sw, w, filter);
        plan.y = axis_taps(sh, h, filter);
        plan.y_fixed.assign((size_t)h * plan.y.taps, 0);
        std::vector<float> row(plan.y.taps);
        for (int o = 0; o < h; o++)
        {
            for (int t = 0; t < plan.y.taps; t++)
                row[t] = plan.y.weight[(size_t)t * h + o];
            std::vector<int> fixed = fixed_point_weights(row.data(), plan.y.taps, kVerticalOne);
            for (int t = 0; t < plan.y.taps; t++)
                plan.y_fixed[(size_t)o * plan.y.taps + t] = (uint16_t)fixed[t];
        }
    }
    return plan;
}

template<int C>
void resample_normalize(const ImageView& image, const int pick[3], const float norm[3], const float offset[3], int width, int height,
                        ResizeFilter filter, ncnn::Mat& out)
{
    const Plan& plan = plan_for(image.width, image.height, width, height, filter);
    const int n = image.width * C;
    thread_local std::vector<uint16_t> acc;
    thread_local std::vector<float> planes;
    acc.resize(n);
    planes.resize((size_t)image.width * 3);
    std::vector<const uint8_t*> rows(plan.y.taps);
    // the float planes this image needs: one for gray, else the picked channels
    const int distinct = C == 1 ? 1 : 3;
    for (int y = 0; y < height; y++)
    {
        for (int t = 0; t < plan.y.taps; t++)
            rows[t] = image.data + (size_t)plan.y.index[(size_t)t * height + y] * image.stride;
        vertical_pass(rows.data(), plan.y_fixed.data() + (size_t)y * plan.y.taps, plan.y.taps, n, acc.data());
        for (int k = 0; k < distinct; k++)
            channel_to_float<C>(acc.data(), image.width, pick[k], planes.data() + (size_t)k * image.width);
        for (int k = 0; k < 3; k++)
        {
            const float* plane = planes.data() + (size_t)(C == 1 ? 0 : k) * image.width;
            float* dst = (float*)out.channel(k) + (size_t)y * width;
            horizontal_pass(plane, plan.x.index.data(), plan.x.weight.data(), plan.x.taps, width, norm[k] / kVerticalOne, offset[k], dst);
        }
    }
}

} // namespace

void resize_normalize(const ImageView& image, PixelOrder order, const float mean[3], const float norm[3], int width, int height, ncnn::Mat& out,
                      ncnn::Allocator* allocator, ResizeFilter filter)
{
    if (image.width < 2 || image.height < 2) // bilinear needs two source pixels per axis
        throw Error("image must be at least 2x2 pixels, got " + std::to_string(image.width) + "x" + std::to_string(image.height));
    const int channels = channels_of(image.format);

    out.create(width, height, 3, (size_t)4u, allocator);
    if (out.empty())
        throw Error("could not allocate the input tensor");
    const bool src_rgb = image.format == PixelFormat::RGB || image.format == PixelFormat::RGBA;
    int pick[3];
    float offset[3];
    for (int k = 0; k < 3; k++)
    {
        pick[k] = channels == 1 ? 0 : (src_rgb == (order == PixelOrder::RGB)) ? k : 2 - k;
        offset[k] = -mean[k] * norm[k];
    }

    if (image.width == width && image.height == height)
    {
        // the network's own size: no resampling, each pixel converted once, row by row
        // (rows may be strided)
        for (int y = 0; y < height; y++)
        {
            const uint8_t* row = image.data + (size_t)y * image.stride;
            float* planes[3] = {(float*)out.channel(0) + (size_t)y * width, (float*)out.channel(1) + (size_t)y * width,
                                (float*)out.channel(2) + (size_t)y * width};
            if (channels == 1)
                to_planes<1>(row, width, pick, norm, offset, planes);
            else if (channels == 3)
                to_planes<3>(row, width, pick, norm, offset, planes);
            else
                to_planes<4>(row, width, pick, norm, offset, planes);
        }
        return;
    }
    if (channels == 1)
        resample_normalize<1>(image, pick, norm, offset, width, height, filter, out);
    else if (channels == 3)
        resample_normalize<3>(image, pick, norm, offset, width, height, filter, out);
    else
        resample_normalize<4>(image, pick, norm, offset, width, height, filter, out);
}

} // namespace facedge
