// facedge's fused preprocessing: equal to ncnn's own path at the network size, and
// within stated bounds of a float reference (and of ncnn's bilinear) when resampling,
// with every kernel set this CPU runs; the SIMD kernels equal the scalar reference.
#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <functional>
#include <string>
#include <vector>

#include "facedge/preprocess.h"
#include "facedge/resample.h"
#include "facedge/resample_kernels.h"
#include "mat.h"
#include "test.h"

using namespace facedge;

static std::vector<uint8_t> noise(size_t n, unsigned seed)
{
    std::vector<uint8_t> pixels(n);
    for (auto& p : pixels)
        p = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
    return pixels;
}

static const float kMean[3] = {104.f, 117.f, 123.f};
static const float kNorm[3] = {1 / 58.f, 1 / 57.f, 1 / 59.f};

// Largest |facedge - ncnn| over the planes, in pixel levels (units of 1 / norm).
static double max_levels_vs_ncnn(PixelFormat format, int ncnn_type, PixelOrder order, int sw, int sh, int stride_pad, int w, int h,
                                 ResizeFilter filter = ResizeFilter::Auto)
{
    const int ch = channels_of(format);
    const int stride = sw * ch + stride_pad;
    std::vector<uint8_t> pixels = noise((size_t)stride * sh, 12345);
    ImageView img{pixels.data(), sw, sh, stride, format};
    ncnn::Mat ours;
    resize_normalize(img, order, kMean, kNorm, w, h, ours, nullptr, filter);
    ncnn::Mat ref = ncnn::Mat::from_pixels_resize(pixels.data(), ncnn_type, sw, sh, stride, w, h);
    ref.substract_mean_normalize(kMean, kNorm);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < w * h; i++)
            worst = std::max(worst, std::fabs(((const float*)ours.channel(c))[i] - ((const float*)ref.channel(c))[i]) / (double)kNorm[c]);
    return worst;
}

TEST(at_the_network_size_preprocessing_equals_ncnn)
{
    // no resampling: values identical up to float rounding of x * norm - mean * norm
    const double tol = 1e-3; // levels, i.e. about 1e-5 in the normalized values
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::BGR, ncnn::Mat::PIXEL_BGR2RGB, PixelOrder::RGB, 320, 240, 0, 320, 240), 0, tol);
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::BGR, ncnn::Mat::PIXEL_BGR, PixelOrder::BGR, 640, 480, 5, 640, 480), 0, tol);
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::RGBA, ncnn::Mat::PIXEL_RGBA2BGR, PixelOrder::BGR, 160, 120, 4, 160, 120), 0, tol);
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::GRAY, ncnn::Mat::PIXEL_GRAY2RGB, PixelOrder::RGB, 32, 24, 3, 32, 24), 0, tol);
}

TEST(bilinear_resampling_is_within_a_level_of_ncnns)
{
    // ncnn rounds its resized pixels to 8 bits (0.5 level) after truncating shifts of
    // its 11-bit fixed point (up to about 0.5 more); facedge keeps the blend in 16 bits
    // with 8-bit vertical weights (0.5 level)
    const double tol = 1.5;
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::BGR, ncnn::Mat::PIXEL_BGR2RGB, PixelOrder::RGB, 1024, 768, 0, 320, 240, ResizeFilter::Bilinear), 0, tol);
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::BGR, ncnn::Mat::PIXEL_BGR, PixelOrder::BGR, 641, 479, 5, 640, 480, ResizeFilter::Bilinear), 0, tol);
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::RGB, ncnn::Mat::PIXEL_RGB, PixelOrder::RGB, 200, 150, 3, 320, 240, ResizeFilter::Bilinear), 0, tol); // upscale
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::BGRA, ncnn::Mat::PIXEL_BGRA2RGB, PixelOrder::RGB, 333, 222, 0, 160, 120, ResizeFilter::Bilinear), 0, tol);
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::RGBA, ncnn::Mat::PIXEL_RGBA2BGR, PixelOrder::BGR, 333, 222, 4, 160, 120, ResizeFilter::Bilinear), 0, tol);
    CHECK_NEAR(max_levels_vs_ncnn(PixelFormat::GRAY, ncnn::Mat::PIXEL_GRAY2RGB, PixelOrder::RGB, 97, 61, 3, 32, 24, ResizeFilter::Bilinear), 0, tol);
}

// The float reference, from the definitions: bilinear with half-pixel centres
// clamped at the borders; area as the coverage-weighted mean of the footprint.
static double reference_sample(const std::vector<uint8_t>& px, int sw, int sh, int C, int c, int w, int h, int x, int y, bool area)
{
    auto axis = [](int src, int dst, int o, bool use_area, std::vector<std::pair<int, double> >& taps) {
        const double s = (double)src / dst;
        taps.clear();
        if (use_area)
        {
            const double a = o * s, b = (o + 1) * s;
            for (int i = (int)a; i < b && i < src; i++)
            {
                const double cover = std::min(b, i + 1.0) - std::max(a, (double)i);
                if (cover > 0)
                    taps.push_back({i, cover / s});
            }
            return;
        }
        double f = (o + 0.5) * s - 0.5;
        int i = (int)std::floor(f);
        f -= i;
        if (i < 0)
            i = 0, f = 0;
        if (i >= src - 1)
            i = src - 2, f = 1;
        taps.push_back({i, 1 - f});
        taps.push_back({i + 1, f});
    };
    std::vector<std::pair<int, double> > tx, ty;
    axis(sw, w, x, area, tx);
    axis(sh, h, y, area, ty);
    double v = 0;
    for (const auto& a : ty)
        for (const auto& b : tx)
            v += a.second * b.second * px[((size_t)a.first * sw + b.first) * C + c];
    return v;
}

static double max_levels_vs_reference(int sw, int sh, int w, int h, ResizeFilter filter, bool area, int stride_pad = 0)
{
    const int stride = sw * 3 + stride_pad;
    std::vector<uint8_t> px = noise((size_t)stride * sh, 777);
    ImageView img{px.data(), sw, sh, stride, PixelFormat::RGB};
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    ncnn::Mat out;
    resize_normalize(img, PixelOrder::RGB, zero, one, w, h, out, nullptr, filter);
    // the reference reads a packed copy
    std::vector<uint8_t> packed((size_t)sw * sh * 3);
    for (int y = 0; y < sh; y++)
        std::copy(px.begin() + (size_t)y * stride, px.begin() + (size_t)y * stride + sw * 3, packed.begin() + (size_t)y * sw * 3);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                worst = std::max(worst, std::fabs(((const float*)out.channel(c))[y * w + x] - reference_sample(packed, sw, sh, 3, c, w, h, x, y, area)));
    return worst;
}

// The stated bound, in pixel levels, for filters of at most `taps` source pixels per
// axis. A filter's fixed-point weights sum exactly to one and each but the largest is
// within half a unit of its true value (the largest takes the rounding residue), so
// the error is at most 255 * (taps - 1) * unit / 2: the vertical pass's 8-bit weights
// (unit 1/256) give 255/512 per extra tap, the horizontal pass's 14-bit weights
// (1/16384) 255/32768 more; float rounding adds < 1e-3.
static double stated_bound(int taps)
{
    return (taps - 1) * (255.0 / 512 + 255.0 / 32768) + 1e-3;
}

// Every kernel set this CPU runs (the scalar reference always): `check` once with each forced.
static void for_each_kernel_set(const std::function<void(const std::string&)>& check)
{
    for (const resample::KernelSet* set : resample::kernel_sets())
    {
        const int pick[3] = {0, 1, 2};
        const resample::Plan probe = resample::make_plan(64, 48, 32, 24, ResizeFilter::Auto, 3, pick);
        if (set != &resample::kScalarKernels && !set->usable(probe))
            continue; // this CPU lacks the instructions
        resample::force_kernels(set->name);
        try
        {
            check(set->name);
        }
        catch (...)
        {
            resample::force_kernels("");
            throw;
        }
        resample::force_kernels("");
    }
}

TEST(resampling_equals_the_float_reference_within_the_stated_bounds)
{
    for_each_kernel_set([](const std::string&) {
        CHECK_NEAR(max_levels_vs_reference(1024, 768, 320, 240, ResizeFilter::Bilinear, false), 0, stated_bound(2));
        CHECK_NEAR(max_levels_vs_reference(200, 150, 320, 240, ResizeFilter::Auto, false), 0, stated_bound(2)); // upscale: bilinear
        CHECK_NEAR(max_levels_vs_reference(500, 400, 320, 240, ResizeFilter::Auto, false, 7), 0, stated_bound(2)); // 1.6x: bilinear
        // 3.2x: Auto is area, footprints of up to 5 source pixels each way
        CHECK_NEAR(max_levels_vs_reference(1024, 768, 320, 240, ResizeFilter::Auto, true), 0, stated_bound(5));
        CHECK_NEAR(max_levels_vs_reference(1021, 763, 317, 239, ResizeFilter::Auto, true, 5), 0, stated_bound(5)); // odd sizes
        CHECK_NEAR(max_levels_vs_reference(1280, 960, 160, 120, ResizeFilter::Area, true), 0, stated_bound(9)); // 8x
        // area and bilinear agree at exactly 2x (the mean of each pixel pair)
        CHECK_NEAR(max_levels_vs_reference(640, 480, 320, 240, ResizeFilter::Area, false), 0, stated_bound(2));
    });
}

// facedge's output for one image with the kernel set `kernels` (mean 0, norm 1: levels).
static ncnn::Mat resampled_with(const std::string& kernels, const std::vector<uint8_t>& px, int sw, int sh, int stride, PixelFormat format,
                                PixelOrder order, int w, int h, ResizeFilter filter)
{
    resample::force_kernels(kernels);
    ImageView img{px.data(), sw, sh, stride, format};
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    ncnn::Mat out;
    resize_normalize(img, order, zero, one, w, h, out, nullptr, filter);
    resample::force_kernels("");
    return out;
}

// A resampling case: a source image (format, size, row padding in bytes) made into
// the network's planes (order, size) with a filter.
namespace {
struct Case
{
    PixelFormat format;
    PixelOrder order;
    int sw, sh, pad, w, h;
    ResizeFilter filter;
};
} // namespace

TEST(simd_kernels_equal_the_scalar_reference_on_odd_sizes_and_tails)
{
    // Same integers, so the outputs differ only by float rounding in the last step
    // (a fused multiply-add, or not): any wrong tap, lane, channel or tail shows as
    // whole fractions of a level.
    const Case cases[] = {
        {PixelFormat::BGR, PixelOrder::RGB, 1024, 768, 0, 320, 240, ResizeFilter::Auto},      // area 3.2x, the benchmark's frame
        {PixelFormat::BGR, PixelOrder::RGB, 1024, 768, 0, 320, 240, ResizeFilter::Bilinear},
        {PixelFormat::BGR, PixelOrder::RGB, 720, 478, 0, 320, 240, ResizeFilter::Auto},       // the A72 benchmark's photo
        {PixelFormat::RGB, PixelOrder::RGB, 1021, 767, 5, 317, 241, ResizeFilter::Auto},      // odd: row tails, output tails of 5
        {PixelFormat::BGR, PixelOrder::BGR, 719, 477, 3, 321, 239, ResizeFilter::Bilinear},   // tail of 1 output
        {PixelFormat::BGRA, PixelOrder::RGB, 333, 222, 0, 159, 121, ResizeFilter::Bilinear},  // 4 channels
        {PixelFormat::RGBA, PixelOrder::BGR, 1001, 701, 4, 323, 227, ResizeFilter::Area},
        {PixelFormat::BGR, PixelOrder::RGB, 101, 77, 0, 163, 95, ResizeFilter::Auto},         // upscale
        {PixelFormat::BGR, PixelOrder::RGB, 1024, 240, 0, 320, 240, ResizeFilter::Auto},      // one axis at its size: single vertical taps
        {PixelFormat::BGR, PixelOrder::RGB, 1605, 1203, 1, 321, 241, ResizeFilter::Auto},     // 5x: 6-7 taps (NEON: two windows per group)
        {PixelFormat::BGR, PixelOrder::RGB, 720, 478, 0, 160, 120, ResizeFilter::Auto},       // 4.5x: the frontier's smallest input
        {PixelFormat::BGRA, PixelOrder::BGR, 1283, 722, 2, 163, 97, ResizeFilter::Area},      // 7.9x across: beyond both windows on NEON
        {PixelFormat::BGR, PixelOrder::RGB, 37, 29, 0, 7, 5, ResizeFilter::Auto},             // narrower than one group of 8
        {PixelFormat::GRAY, PixelOrder::RGB, 97, 61, 3, 32, 24, ResizeFilter::Auto},          // gray: the scalar kernels everywhere
    };
    int compared = 0;
    for (const Case& c : cases)
    {
        const int ch = channels_of(c.format), stride = c.sw * ch + c.pad;
        const std::vector<uint8_t> px = noise((size_t)stride * c.sh, 4242u + c.sw);
        const ncnn::Mat ref = resampled_with("scalar", px, c.sw, c.sh, stride, c.format, c.order, c.w, c.h, c.filter);
        for (const resample::KernelSet* set : resample::kernel_sets())
        {
            const int pick[3] = {0, 1, 2};
            const resample::Plan plan = resample::make_plan(c.sw, c.sh, c.w, c.h, c.filter, ch, pick);
            if (set == &resample::kScalarKernels || !set->usable(plan))
                continue;
            const ncnn::Mat got = resampled_with(set->name, px, c.sw, c.sh, stride, c.format, c.order, c.w, c.h, c.filter);
            double worst = 0;
            for (int k = 0; k < 3; k++)
                for (int i = 0; i < c.w * c.h; i++)
                    worst = std::max(worst, (double)std::fabs(((const float*)got.channel(k))[i] - ((const float*)ref.channel(k))[i]));
            CHECK_NEAR(worst, 0, 1e-4);
            compared++;
        }
    }
#if defined(__aarch64__)
    CHECK(compared == 12); // NEON ran every 3/4-channel case that fits its windows
#elif defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        CHECK(compared == 13); // AVX2 ran every 3/4-channel case
#endif
}

TEST(the_simd_kernels_are_chosen_where_the_cpu_has_them)
{
    const int pick[3] = {2, 1, 0};
    const std::string chosen = resample::make_plan(720, 478, 320, 240, ResizeFilter::Auto, 3, pick).kernels->name;
#if defined(__aarch64__)
    CHECK(chosen == "neon");
    // beyond 3.5x across each half group of 8 outputs gathers from its own window; beyond 7.5x, scalar
    CHECK(resample::make_plan(720, 478, 160, 120, ResizeFilter::Auto, 3, pick).kernels->name == std::string("neon"));
    CHECK(resample::make_plan(1920, 1080, 160, 90, ResizeFilter::Auto, 3, pick).kernels->name == std::string("scalar"));
#elif defined(__x86_64__)
    CHECK(chosen == ((__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? "avx2" : "scalar"));
#endif
    CHECK(resample::make_plan(97, 61, 32, 24, ResizeFilter::Auto, 1, pick).kernels->name == std::string("scalar")); // gray
    CHECK_THROWS_WITH(resample::make_plan(720, 478, 320, 240, ResizeFilter::Auto, 3, pick, "no-such-set"),
                      "no resampling kernels named 'no-such-set' in this build");
}

TEST(area_taps_cover_each_source_pixel_once)
{
    AxisTaps t = axis_taps(1024, 320, ResizeFilter::Auto);
    std::vector<double> covered(1024, 0.0);
    for (int o = 0; o < t.outputs; o++)
        for (int k = 0; k < t.taps; k++)
            covered[t.index[(size_t)k * t.outputs + o]] += t.weight[(size_t)k * t.outputs + o] * 1024.0 / 320.0;
    for (double c : covered)
        CHECK_NEAR(c, 1.0, 1e-5);
    CHECK(axis_taps(1024, 512, ResizeFilter::Auto).taps == 2); // 2x: bilinear
    CHECK(axis_taps(1030, 512, ResizeFilter::Auto).taps == 4); // above 2x: area, a 2.01-pixel footprint may touch 4
    const float w[3] = {0.3333f, 0.3333f, 0.3334f};
    std::vector<int> fixed = fixed_point_weights(w, 3, 256);
    CHECK(fixed[0] + fixed[1] + fixed[2] == 256);
}

TEST(tiny_images_are_rejected)
{
    uint8_t px[3] = {0, 0, 0};
    ImageView img{px, 1, 1, 3, PixelFormat::BGR};
    ncnn::Mat out;
    const float mean[3] = {0, 0, 0}, norm[3] = {1, 1, 1};
    CHECK_THROWS_WITH(resize_normalize(img, PixelOrder::RGB, mean, norm, 32, 32, out), "image must be at least 2x2 pixels, got 1x1");
}

TEST(padding_keeps_the_input_at_the_top_left_and_fills_with_normalized_black)
{
    ncnn::Mat in(3, 2, 3); // 3 wide, 2 high
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 6; i++)
            ((float*)in.channel(c))[i] = (float)(10 * c + i);
    const float mean[3] = {1.f, 2.f, 3.f}, norm[3] = {0.5f, 1.f, 2.f};
    pad_bottom_right(in, 4, 3, mean, norm);
    CHECK(in.w == 4 && in.h == 3 && in.c == 3);
    for (int c = 0; c < 3; c++)
    {
        const float* p = in.channel(c);
        const float black = -mean[c] * norm[c];
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                CHECK_NEAR(p[y * 4 + x], (x < 3 && y < 2) ? (float)(10 * c + y * 3 + x) : black, 0);
    }
    ncnn::Mat same(4, 3, 3);
    const void* before = same.data;
    pad_bottom_right(same, 4, 3, mean, norm); // already the network size: untouched
    CHECK(same.data == before);
    CHECK_THROWS_WITH(pad_bottom_right(same, 2, 3, mean, norm), "cannot pad a 4x3 input to the smaller 2x3");
}

TEST(preprocessing_split_over_threads_padded_in_place_or_in_bf16_gives_the_same_bytes)
{
    // The Detector runs the resampling on its OpenMP team when it has one caller: each
    // output row computed alone, so any split must give exactly the serial bytes, with
    // every kernel set, filter, pixel format and at the network's own size too.
    const Case cases[] = {
        {PixelFormat::BGR, PixelOrder::RGB, 720, 478, 0, 160, 120, ResizeFilter::Auto},      // the A72 photo, area 4.5x
        {PixelFormat::BGR, PixelOrder::RGB, 1024, 768, 0, 320, 240, ResizeFilter::Auto},     // area 3.2x
        {PixelFormat::BGR, PixelOrder::RGB, 1024, 768, 0, 320, 240, ResizeFilter::Bilinear},
        {PixelFormat::RGBA, PixelOrder::BGR, 1001, 701, 4, 323, 227, ResizeFilter::Area},
        {PixelFormat::BGRA, PixelOrder::RGB, 333, 222, 0, 159, 121, ResizeFilter::Bilinear},
        {PixelFormat::BGR, PixelOrder::RGB, 101, 77, 3, 163, 95, ResizeFilter::Auto},        // upscale
        {PixelFormat::GRAY, PixelOrder::RGB, 97, 61, 3, 32, 24, ResizeFilter::Auto},         // the scalar kernels
        {PixelFormat::BGR, PixelOrder::RGB, 320, 240, 5, 320, 240, ResizeFilter::Auto},      // network size: no resampling
        {PixelFormat::BGR, PixelOrder::RGB, 37, 29, 0, 7, 5, ResizeFilter::Auto},            // fewer rows than 2 per thread
    };
    int compared = 0;
    for_each_kernel_set([&](const std::string&) {
        for (const Case& c : cases)
        {
            const int ch = channels_of(c.format), stride = c.sw * ch + c.pad;
            const std::vector<uint8_t> px = noise((size_t)stride * c.sh, 777u + c.sw);
            ImageView img{px.data(), c.sw, c.sh, stride, c.format};
            ncnn::Mat serial;
            resize_normalize(img, c.order, kMean, kNorm, c.w, c.h, serial, nullptr, c.filter, 1);
            for (int threads : {2, 3, 4, 7})
            {
                ncnn::Mat split;
                resize_normalize(img, c.order, kMean, kNorm, c.w, c.h, split, nullptr, c.filter, threads);
                CHECK(split.w == c.w && split.h == c.h && split.c == 3);
                bool same = true;
                for (int k = 0; k < 3; k++)
                    same = same && std::memcmp(split.channel(k), serial.channel(k), sizeof(float) * c.w * c.h) == 0;
                if (!same)
                    std::cerr << "  differs: " << c.sw << "x" << c.sh << " -> " << c.w << "x" << c.h << " threads " << threads << "\n";
                CHECK(same);
                compared++;
            }
            // a padding family's input (YuNet: up to multiples of 32), made in the same
            // pass: the bytes of resizing, then pad_bottom_right
            const int pw = (c.w + 31) / 32 * 32 + 32, ph = (c.h + 31) / 32 * 32;
            ncnn::Mat padded_after = serial.clone();
            pad_bottom_right(padded_after, pw, ph, kMean, kNorm);
            for (int threads : {1, 3})
            {
                ncnn::Mat padded;
                resize_normalize(img, c.order, kMean, kNorm, c.w, c.h, padded, nullptr, c.filter, threads, pw, ph);
                CHECK(padded.w == pw && padded.h == ph && padded.c == 3);
                bool same = true;
                for (int k = 0; k < 3; k++)
                    same = same && std::memcmp(padded.channel(k), padded_after.channel(k), sizeof(float) * pw * ph) == 0;
                CHECK(same);
                compared++;
            }
            // bf16 storage's input: the bytes ncnn's own cast gives the fp32 input
            for (const ncnn::Mat* fp32 : {&serial, &padded_after})
            {
                ncnn::Mat cast;
                ncnn::cast_float32_to_bfloat16(*fp32, cast);
                for (int threads : {1, 3})
                {
                    ncnn::Mat bf16;
                    resize_normalize(img, c.order, kMean, kNorm, c.w, c.h, bf16, nullptr, c.filter, threads, fp32->w, fp32->h, true);
                    CHECK(bf16.w == fp32->w && bf16.h == fp32->h && bf16.c == 3 && bf16.elemsize == 2 && cast.elemsize == 2);
                    bool same = true;
                    for (int k = 0; k < 3; k++)
                        same = same && std::memcmp(bf16.channel(k), cast.channel(k), 2 * (size_t)fp32->w * fp32->h) == 0;
                    CHECK(same);
                    compared++;
                }
            }
        }
    });
    CHECK(compared >= 90);
}

TEST(the_rows_asked_ahead_are_every_line_of_those_rows_in_order)
{
    // The x86 kernels ask for these lines a few per group of outputs while the rows
    // before them are blended; a wrong cursor would ask for the wrong memory (slower,
    // never wrong results), so check the walk itself: rows of odd lengths and strides
    // (lines shared by two rows are asked for with each), an empty range, one row.
    std::vector<uint8_t> pixels(64 * 1024);
    const uint8_t* base = pixels.data() + 13; // rows start off the lines
    for (int stride_pad : {0, 5, 70})
        for (int width : {1, 21, 100, 333})
        {
            ImageView img{base, width, 40, width * 3 + stride_pad, PixelFormat::BGR};
            for (int first : {0, 3})
                for (int last : {first - 1, first, first + 3})
                {
                    std::vector<const char*> expected;
                    for (int r = first; r <= last; r++)
                    {
                        const uintptr_t begin = (uintptr_t)base + (size_t)r * img.stride, end = begin + (size_t)width * 3;
                        for (uintptr_t line = begin / 64 * 64; line < end; line += 64)
                            expected.push_back((const char*)line);
                    }
                    resample::RowPrefetch ahead = resample::rows_between(img, first, last);
                    CHECK(ahead.lines == expected.size());
                    std::vector<const char*> taken;
                    while (ahead.lines > 0)
                        taken.push_back(ahead.take());
                    CHECK(taken == expected);
                    ahead.ask(5); // nothing left: asks for nothing
                    CHECK(ahead.lines == 0);
                }
        }
    // spread over groups: every line asked for by the last group
    ImageView img{base, 333, 40, 333 * 3, PixelFormat::BGR};
    resample::RowPrefetch ahead = resample::rows_between(img, 2, 6);
    const size_t lines = ahead.lines;
    const int groups = 40, per_group = ahead.per_group(groups);
    CHECK((size_t)per_group * groups >= lines && (size_t)(per_group - 1) * groups < lines); // the fewest per group that cover them
    for (int g = 0; g < groups; g++)
        ahead.ask(per_group);
    CHECK(ahead.lines == 0);
}
