// facedge's fused preprocessing: equal to ncnn's own path at the network size, and
// within stated bounds of a float reference (and of ncnn's bilinear) when resampling.
#include <cmath>
#include <cstdlib>
#include <vector>

#include "facedge/preprocess.h"
#include "facedge/resample.h"
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

static double max_levels_vs_reference(int sw, int sh, int w, int h, ResizeFilter filter, bool area)
{
    std::vector<uint8_t> px = noise((size_t)sw * sh * 3, 777);
    ImageView img{px.data(), sw, sh, sw * 3, PixelFormat::RGB};
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    ncnn::Mat out;
    resize_normalize(img, PixelOrder::RGB, zero, one, w, h, out, nullptr, filter);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                worst = std::max(worst, std::fabs(((const float*)out.channel(c))[y * w + x] - reference_sample(px, sw, sh, 3, c, w, h, x, y, area)));
    return worst;
}

TEST(resampling_equals_the_float_reference_within_the_stated_bounds)
{
    // Stated bounds, in pixel levels: the 8-bit vertical weights of one output row sum
    // to exactly 256 and each is within 1/512 of its true value, so the error is at
    // most 255 / 512 per pair of taps: 0.5 level for bilinear, (taps - 1) * 0.5 for
    // area. Float rounding adds < 1e-3.
    CHECK_NEAR(max_levels_vs_reference(1024, 768, 320, 240, ResizeFilter::Bilinear, false), 0, 0.5 + 1e-3);
    CHECK_NEAR(max_levels_vs_reference(200, 150, 320, 240, ResizeFilter::Auto, false), 0, 0.5 + 1e-3); // upscale: bilinear
    CHECK_NEAR(max_levels_vs_reference(500, 400, 320, 240, ResizeFilter::Auto, false), 0, 0.5 + 1e-3); // 1.6x: bilinear
    // 3.2x: Auto is area, footprints of up to 5 source rows
    CHECK_NEAR(max_levels_vs_reference(1024, 768, 320, 240, ResizeFilter::Auto, true), 0, 2.0 + 1e-3);
    CHECK_NEAR(max_levels_vs_reference(1280, 960, 160, 120, ResizeFilter::Area, true), 0, 4.0 + 1e-3); // 8x
    // area and bilinear agree at exactly 2x (the mean of each pixel pair)
    CHECK_NEAR(max_levels_vs_reference(640, 480, 320, 240, ResizeFilter::Area, false), 0, 0.5 + 1e-3);
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
