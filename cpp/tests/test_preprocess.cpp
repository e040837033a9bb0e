// facedge's fused preprocessing equals ncnn's own three-step path value for value.
#include <cmath>
#include <cstdlib>

#include "facedge/preprocess.h"
#include "mat.h"
#include "test.h"

using namespace facedge;

static double max_diff_vs_ncnn(PixelFormat format, int ncnn_type, PixelOrder order, int sw, int sh, int stride_pad, int w, int h)
{
    const int ch = channels_of(format);
    const int stride = sw * ch + stride_pad;
    std::vector<uint8_t> pixels((size_t)stride * sh);
    unsigned seed = 12345;
    for (auto& p : pixels)
        p = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
    const float mean[3] = {104.f, 117.f, 123.f};
    const float norm[3] = {1 / 58.f, 1 / 57.f, 1 / 59.f};
    ImageView img{pixels.data(), sw, sh, stride, format};
    ncnn::Mat ours;
    resize_normalize(img, order, mean, norm, w, h, ours);
    ncnn::Mat ref = ncnn::Mat::from_pixels_resize(pixels.data(), ncnn_type, sw, sh, stride, w, h);
    ref.substract_mean_normalize(mean, norm);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < w * h; i++)
            worst = std::max(worst, (double)std::fabs(((const float*)ours.channel(c))[i] - ((const float*)ref.channel(c))[i]));
    return worst;
}

TEST(fused_preprocessing_matches_ncnn)
{
    // values are identical up to float rounding of x * norm - mean * norm (an FMA or not)
    const double tol = 1e-5;
    CHECK_NEAR(max_diff_vs_ncnn(PixelFormat::BGR, ncnn::Mat::PIXEL_BGR2RGB, PixelOrder::RGB, 1024, 768, 0, 320, 240), 0, tol);
    CHECK_NEAR(max_diff_vs_ncnn(PixelFormat::BGR, ncnn::Mat::PIXEL_BGR, PixelOrder::BGR, 641, 479, 5, 640, 480), 0, tol);
    CHECK_NEAR(max_diff_vs_ncnn(PixelFormat::RGB, ncnn::Mat::PIXEL_RGB, PixelOrder::RGB, 200, 150, 3, 320, 240), 0, tol); // upscale
    CHECK_NEAR(max_diff_vs_ncnn(PixelFormat::BGRA, ncnn::Mat::PIXEL_BGRA2RGB, PixelOrder::RGB, 333, 222, 0, 160, 120), 0, tol);
    CHECK_NEAR(max_diff_vs_ncnn(PixelFormat::RGBA, ncnn::Mat::PIXEL_RGBA2BGR, PixelOrder::BGR, 333, 222, 4, 160, 120), 0, tol);
    CHECK_NEAR(max_diff_vs_ncnn(PixelFormat::GRAY, ncnn::Mat::PIXEL_GRAY2RGB, PixelOrder::RGB, 97, 61, 3, 32, 24), 0, tol);
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
