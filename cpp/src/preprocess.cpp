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

// acc[i] = sum over taps of w[t] * rows[t][i], for a fixed tap count: one pass, the
// sum kept in a register (a pass per tap re-reads and re-writes acc, and GCC keeps
// such read-modify-write loops scalar where it cannot prove the rows apart)
template<int T>
FACEDGE_VECTOR_CLONES void vertical_taps(const uint8_t* const* rows, const uint16_t* w, int n, float* __restrict acc)
{
    const uint8_t* __restrict r[T];
    uint16_t k[T];
    for (int t = 0; t < T; t++)
    {
        r[t] = rows[t];
        k[t] = w[t];
    }
    for (int i = 0; i < n; i++)
    {
        uint16_t s = (uint16_t)(r[0][i] * k[0]);
        for (int t = 1; t < T; t++)
            s = (uint16_t)(s + r[t][i] * k[t]);
        acc[i] = (float)s; // widened here, in the same pass, for the horizontal gathers
    }
}

FACEDGE_VECTOR_CLONES
void add_vertical_tap(const uint8_t* __restrict row, uint16_t w, int n, float* __restrict acc)
{
    for (int i = 0; i < n; i++)
        acc[i] += (float)(uint16_t)(row[i] * w);
}

void vertical_pass(const uint8_t* const* rows, const uint16_t* w, int taps, int n, float* acc)
{
    switch (taps)
    {
    case 1: return vertical_taps<1>(rows, w, n, acc);
    case 2: return vertical_taps<2>(rows, w, n, acc);
    case 3: return vertical_taps<3>(rows, w, n, acc);
    case 4: return vertical_taps<4>(rows, w, n, acc);
    case 5: return vertical_taps<5>(rows, w, n, acc);
    default:
        // footprints above 5 rows (downscales beyond 4x): the first five in one pass,
        // the rest added
        vertical_taps<5>(rows, w, n, acc);
        for (int t = 5; t < taps; t++)
            add_vertical_tap(rows[t], w[t], n, acc);
    }
}

// out[x] = (sum over taps of weight * row[index]) * scale + bias: one channel of the
// interleaved float row (index = pixel * channels + channel) into its plane, so the
// gathers also do the channel order
FACEDGE_VECTOR_CLONES
void horizontal_pass(const float* __restrict row, const int* __restrict index, const float* __restrict weight, int taps, int width,
                     float scale, float bias, float* __restrict out)
{
    if (taps == 2)
    {
        const int* __restrict i1 = index + width;
        const float* __restrict w1 = weight + width;
        for (int x = 0; x < width; x++)
            out[x] = (row[index[x]] * weight[x] + row[i1[x]] * w1[x]) * scale + bias;
        return;
    }
    for (int x = 0; x < width; x++)
        out[x] = row[index[x]] * weight[x];
    for (int t = 1; t < taps; t++)
    {
        const int* __restrict it = index + (size_t)t * width;
        const float* __restrict wt = weight + (size_t)t * width;
        for (int x = 0; x < width; x++)
            out[x] += row[it[x]] * wt[x];
    }
    for (int x = 0; x < width; x++)
        out[x] = out[x] * scale + bias;
}

// The same for all three planes at once, pixel by pixel: each output pixel's taps are
// neighbouring source pixels (first, first + 1, ...), so one index serves every
// channel and the channels of a tap are adjacent in the row. Scalar code, but it
// loads each tap's index and weight once instead of once per plane, which beats the
// element-by-element gathers the vectoriser makes of horizontal_pass (about 1.5x
// here). The row must hold taps - 1 readable pixels past its end (zero padded):
// padding taps have weight 0 and may point there.
template<int C, int T>
void horizontal_pixels(const float* __restrict row, const int* __restrict first, const float* __restrict weight, int width,
                       const int* pick, const float* scale, const float* bias, float* const* out)
{
    const int p0 = pick[0], p1 = pick[1], p2 = pick[2];
    float* __restrict o0 = out[0];
    float* __restrict o1 = out[1];
    float* __restrict o2 = out[2];
    for (int x = 0; x < width; x++)
    {
        const float* px = row + (size_t)first[x] * C;
        float a = 0.f, b = 0.f, c = 0.f;
        for (int t = 0; t < T; t++)
        {
            const float w = weight[(size_t)t * width + x];
            a += px[t * C + p0] * w;
            b += px[t * C + p1] * w;
            c += px[t * C + p2] * w;
        }
        o0[x] = a * scale[0] + bias[0];
        o1[x] = b * scale[1] + bias[1];
        o2[x] = c * scale[2] + bias[2];
    }
}

// C = 3 or 4: the channels of one tap in one 4-lane register (GCC's vector
// extension: SSE on x86, NEON on ARM), so a tap costs one load and one multiply-add
// instead of three. The fourth lane of a 3-channel pixel is the next pixel's first
// channel, never stored (the zero padding keeps the last load inside the buffer).
typedef float Float4 __attribute__((vector_size(16)));

template<int C, int T, bool Swap>
void horizontal_pixels4(const float* __restrict row, const int* __restrict first, const float* __restrict weight, int width,
                        const float* scale, const float* bias, float* const* out)
{
    // constant lanes (a run-time lane index would send the register through memory)
    const int p0 = Swap ? 2 : 0, p1 = 1, p2 = Swap ? 0 : 2;
    float* __restrict o0 = out[0];
    float* __restrict o1 = out[1];
    float* __restrict o2 = out[2];
    for (int x = 0; x < width; x++)
    {
        const float* px = row + (size_t)first[x] * C;
        Float4 acc = {0.f, 0.f, 0.f, 0.f};
        for (int t = 0; t < T; t++)
        {
            Float4 v;
            std::memcpy(&v, px + t * C, sizeof(v));
            acc += v * weight[(size_t)t * width + x];
        }
        o0[x] = acc[p0] * scale[0] + bias[0];
        o1[x] = acc[p1] * scale[1] + bias[1];
        o2[x] = acc[p2] * scale[2] + bias[2];
    }
}

template<int C, int T>
void horizontal_taps(const float* row, const int* first, const float* weight, int width, const int* pick, const float* scale,
                     const float* bias, float* const* out)
{
    if (C == 1)
        horizontal_pixels<C, T>(row, first, weight, width, pick, scale, bias, out);
    else if (pick[0] == 2) // the other channel order (BGR to RGB and the like)
        horizontal_pixels4<C, T, true>(row, first, weight, width, scale, bias, out);
    else
        horizontal_pixels4<C, T, false>(row, first, weight, width, scale, bias, out);
}

template<int C>
bool horizontal_pixels_for(int taps, const float* row, const int* first, const float* weight, int width, const int* pick,
                           const float* scale, const float* bias, float* const* out)
{
    switch (taps)
    {
    case 2: horizontal_taps<C, 2>(row, first, weight, width, pick, scale, bias, out); return true;
    case 3: horizontal_taps<C, 3>(row, first, weight, width, pick, scale, bias, out); return true;
    case 4: horizontal_taps<C, 4>(row, first, weight, width, pick, scale, bias, out); return true;
    case 5: horizontal_taps<C, 5>(row, first, weight, width, pick, scale, bias, out); return true;
    case 6: horizontal_taps<C, 6>(row, first, weight, width, pick, scale, bias, out); return true;
    default: return false; // footprints above 6 pixels (downscales beyond 5x): horizontal_pass
    }
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
    std::vector<int> y_count;      // taps of each output row that carry weight (a prefix)
    int channels = 0;
    int pick[3] = {0, 0, 0};
    std::vector<int> x_index[3];   // x.index * channels + pick[k]: where plane k's taps are in a row
    bool x_contiguous = false;     // every output's weighted taps are first, first + 1, ...
};

const Plan& plan_for(int sw, int sh, int w, int h, ResizeFilter filter, int channels, const int pick[3])
{
    thread_local Plan plan;
    if (plan.sw != sw || plan.sh != sh || plan.w != w || plan.h != h || plan.filter != filter || plan.x.outputs == 0
            || plan.channels != channels || plan.pick[0] != pick[0] || plan.pick[1] != pick[1] || plan.pick[2] != pick[2])
    {
        plan.channels = channels;
        for (int k = 0; k < 3; k++)
            plan.pick[k] = pick[k];
        plan.sw = sw;
        plan.sh = sh;
        plan.w = w;
        plan.h = h;
        plan.filter = filter;
        plan.x = axis_taps(sw, w, filter);
        plan.y = axis_taps(sh, h, filter);
        plan.y_fixed.assign((size_t)h * plan.y.taps, 0);
        plan.y_count.assign(h, plan.y.taps);
        std::vector<float> row(plan.y.taps);
        for (int o = 0; o < h; o++)
        {
            for (int t = 0; t < plan.y.taps; t++)
                row[t] = plan.y.weight[(size_t)t * h + o];
            std::vector<int> fixed = fixed_point_weights(row.data(), plan.y.taps, kVerticalOne);
            int count = 1;
            for (int t = 0; t < plan.y.taps; t++)
            {
                plan.y_fixed[(size_t)o * plan.y.taps + t] = (uint16_t)fixed[t];
                if (fixed[t])
                    count = t + 1;
            }
            plan.y_count[o] = count;
        }
        plan.x_contiguous = true;
        for (int o = 0; o < w; o++)
            for (int t = 1; t < plan.x.taps; t++)
                if (plan.x.weight[(size_t)t * w + o] != 0.f && plan.x.index[(size_t)t * w + o] != plan.x.index[o] + t)
                    plan.x_contiguous = false;
        for (int k = 0; k < 3; k++)
        {
            plan.x_index[k] = plan.x.index;
            for (int& i : plan.x_index[k])
                i = i * channels + pick[k];
        }
    }
    return plan;
}

void resample_normalize(const ImageView& image, int channels, const int pick[3], const float norm[3], const float offset[3], int width,
                        int height, ResizeFilter filter, ncnn::Mat& out)
{
    const Plan& plan = plan_for(image.width, image.height, width, height, filter, channels, pick);
    const int n = image.width * channels;
    thread_local std::vector<float> acc;
    acc.assign(n + (size_t)plan.x.taps * channels, 0.f); // zero padding past the row for horizontal_pixels
    const float scale[3] = {norm[0] / kVerticalOne, norm[1] / kVerticalOne, norm[2] / kVerticalOne};
    std::vector<const uint8_t*> rows(plan.y.taps);
    for (int y = 0; y < height; y++)
    {
        for (int t = 0; t < plan.y.taps; t++)
            rows[t] = image.data + (size_t)plan.y.index[(size_t)t * height + y] * image.stride;
        vertical_pass(rows.data(), plan.y_fixed.data() + (size_t)y * plan.y.taps, plan.y_count[y], n, acc.data());
        float* dst[3] = {(float*)out.channel(0) + (size_t)y * width, (float*)out.channel(1) + (size_t)y * width,
                         (float*)out.channel(2) + (size_t)y * width};
        const int* first = plan.x.index.data(); // tap 0 of each output: the taps follow it
        const bool done = plan.x_contiguous
                          && (channels == 3   ? horizontal_pixels_for<3>(plan.x.taps, acc.data(), first, plan.x.weight.data(), width, pick, scale, offset, dst)
                              : channels == 4 ? horizontal_pixels_for<4>(plan.x.taps, acc.data(), first, plan.x.weight.data(), width, pick, scale, offset, dst)
                                              : horizontal_pixels_for<1>(plan.x.taps, acc.data(), first, plan.x.weight.data(), width, pick, scale, offset, dst));
        if (!done)
            for (int k = 0; k < 3; k++)
                horizontal_pass(acc.data(), plan.x_index[k].data(), plan.x.weight.data(), plan.x.taps, width, scale[k], offset[k], dst[k]);
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
    resample_normalize(image, channels, pick, norm, offset, width, height, filter, out);
}

void pad_bottom_right(ncnn::Mat& in, int net_width, int net_height, const float mean[3], const float norm[3], ncnn::Allocator* allocator)
{
    if (in.w == net_width && in.h == net_height)
        return;
    if (net_width < in.w || net_height < in.h)
        throw Error("cannot pad a " + std::to_string(in.w) + "x" + std::to_string(in.h) + " input to the smaller " + std::to_string(net_width) + "x"
                    + std::to_string(net_height));
    ncnn::Mat out;
    out.create(net_width, net_height, 3, (size_t)4u, allocator);
    if (out.empty())
        throw Error("could not allocate the padded input tensor");
    for (int k = 0; k < 3; k++)
    {
        const float fill = -mean[k] * norm[k];
        const float* src = in.channel(k);
        float* dst = out.channel(k);
        for (int y = 0; y < net_height; y++)
        {
            float* row = dst + (size_t)y * net_width;
            const int copied = y < in.h ? in.w : 0;
            for (int x = 0; x < copied; x++)
                row[x] = src[(size_t)y * in.w + x];
            for (int x = copied; x < net_width; x++)
                row[x] = fill;
        }
    }
    in = out;
}

} // namespace facedge
