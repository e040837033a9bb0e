#include "facedge/preprocess.h"

#include <string>
#include <vector>

#include "facedge/error.h"

#include "mat.h"

namespace facedge {
namespace {

// uint8 interleaved pixels -> three float planes, channel `pick[k]` into plane k,
// x * norm - mean * norm (how ncnn's substract_mean_normalize computes it).
template<int C>
void to_planes(const uint8_t* src, int n, const int pick[3], const float scale[3], const float offset[3], float* planes[3])
{
    for (int k = 0; k < 3; k++)
    {
        const uint8_t* s = src + pick[k];
        float* d = planes[k];
        const float a = scale[k], b = offset[k];
        for (int i = 0; i < n; i++)
            d[i] = (float)s[(size_t)i * C] * a + b;
    }
}

} // namespace

void resize_normalize(const ImageView& image, PixelOrder order, const float mean[3], const float norm[3], int width, int height, ncnn::Mat& out,
                      ncnn::Allocator* allocator)
{
    if (image.width < 2 || image.height < 2) // bilinear needs two source pixels per axis
        throw Error("image must be at least 2x2 pixels, got " + std::to_string(image.width) + "x" + std::to_string(image.height));
    const int channels = channels_of(image.format);

    // 1. ncnn's bilinear resize on the 8-bit pixels (NEON-optimized on ARM), into a
    //    buffer each thread keeps between calls
    thread_local std::vector<uint8_t> resized;
    resized.resize((size_t)width * height * channels);
    const bool same_size = image.width == width && image.height == height;
    const uint8_t* pixels = resized.data();
    if (same_size && image.stride == width * channels)
        pixels = image.data;
    else if (channels == 1)
        ncnn::resize_bilinear_c1(image.data, image.width, image.height, image.stride, resized.data(), width, height, width);
    else if (channels == 3)
        ncnn::resize_bilinear_c3(image.data, image.width, image.height, image.stride, resized.data(), width, height, width * 3);
    else
        ncnn::resize_bilinear_c4(image.data, image.width, image.height, image.stride, resized.data(), width, height, width * 4);

    // 2. one pass: channel order, float conversion and normalization together
    out.create(width, height, 3, (size_t)4u, allocator);
    if (out.empty())
        throw Error("could not allocate the input tensor");
    float* planes[3] = {out.channel(0), out.channel(1), out.channel(2)};
    const bool src_rgb = image.format == PixelFormat::RGB || image.format == PixelFormat::RGBA;
    int pick[3];
    float offset[3];
    for (int k = 0; k < 3; k++)
    {
        pick[k] = channels == 1 ? 0 : (src_rgb == (order == PixelOrder::RGB)) ? k : 2 - k;
        offset[k] = -mean[k] * norm[k];
    }
    const int n = width * height;
    if (channels == 1)
        to_planes<1>(pixels, n, pick, norm, offset, planes);
    else if (channels == 3)
        to_planes<3>(pixels, n, pick, norm, offset, planes);
    else
        to_planes<4>(pixels, n, pick, norm, offset, planes);
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
