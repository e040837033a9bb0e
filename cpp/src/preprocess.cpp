#include "facedge/preprocess.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "facedge/error.h"
#include "facedge/resample.h"
#include "facedge/resample_kernels.h"

#include "mat.h"

// to_planes is a plain loop written for the compiler's vectoriser: NEON on ARM
// (baseline in aarch64), and on x86 an AVX2 copy beside the SSE2 baseline, picked at
// run time from the CPU (GCC's target_clones: an ifunc resolved once at load).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FACEDGE_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FACEDGE_VECTOR_CLONES
#endif

namespace facedge {
namespace {

using resample::RowPrefetch;

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

// The resampling plan of one (source size, output size, filter, channels, order),
// kept per thread: a camera or a benchmark sends frames of one size.
const resample::Plan& plan_for(int sw, int sh, int w, int h, ResizeFilter filter, int channels, const int pick[3])
{
    thread_local resample::Plan plan;
    thread_local std::string plan_kernels;
    const std::string& kernels = resample::forced_kernels();
    if (plan.src_width != sw || plan.src_height != sh || plan.width != w || plan.height != h || plan.filter != filter || !plan.kernels
            || plan.channels != channels || plan.pick[0] != pick[0] || plan.pick[1] != pick[1] || plan.pick[2] != pick[2]
            || plan_kernels != kernels)
    {
        plan = resample::make_plan(sw, sh, w, h, filter, channels, pick, kernels);
        plan_kernels = kernels;
    }
    return plan;
}

// Source rows [first, last], for a horizontal pass to ask into L2 (resample_kernels.h:
// RowPrefetch) while the vertical passes of the rows before them run. A frame is read
// once, 3 to 5 rows at a time, and comes from memory (the inference in between evicts
// it from the caches); the hardware prefetchers restart at every row and 4 KB page.
// resample_rows asks, while it makes output row y, for the rows up to the last one
// output row y + kRowsAhead reads. On a 1024x768 frame from memory here (Zen 4):
// 0.27-0.30 ms with no prefetch or with each row's lines asked all at once, 0.20 spread
// one row ahead; 2, 3 or 4 rows ahead each 0.007 ms less than one (C++ microbenchmark,
// interleaved). x86 only: on the A72 its instructions are counted, and there it is not
// measured.
const int kRowsAhead = 2;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
const bool kAskRowsAhead = true;
#else
const bool kAskRowsAhead = false;
#endif

} // namespace

RowPrefetch resample::rows_between(const ImageView& image, int first, int last)
{
    RowPrefetch ahead;
    if (last < first)
        return ahead;
    ahead.stride = image.stride;
    ahead.bytes = (size_t)image.width * channels_of(image.format);
    const char* row = (const char*)image.data + (size_t)first * image.stride;
    ahead.next = (const char*)((uintptr_t)row & ~(uintptr_t)63);
    ahead.row_end = row + ahead.bytes;
    ahead.rows_left = last - first;
    for (int r = first; r <= last; r++) // the lines each row overlaps
    {
        const uintptr_t begin = (uintptr_t)image.data + (size_t)r * image.stride;
        ahead.lines += (begin + ahead.bytes + 63) / 64 - begin / 64;
    }
    return ahead;
}

namespace {

// One load from every 4 KB page of source rows [first, last] before they are read. A
// frame from memory costs a page walk per page (577 on a 1024x768 BGR frame, a row
// every 3 KB; nested walks in a virtual machine); read in order, each walk stalls the
// row that needs it, while these independent loads let the walks overlap and leave the
// translations in the second-level TLB (on a 1024x768 frame here: preprocessing 0.29
// instead of 0.34 ms median; 0.25-0.28 with the frame in 2 MB pages). Each thread of a
// parallel pass touches only the rows its own output rows read. x86 only, like
// rows_between.
void touch_pages(const ImageView& image, int first, int last)
{
#if defined(__x86_64__)
    const uint8_t* begin = image.data + (size_t)first * image.stride;
    const size_t bytes = (size_t)(last - first) * image.stride + (size_t)image.width * channels_of(image.format);
    const volatile uint8_t* data = begin;
    for (size_t i = 0; i < bytes; i += 4096)
        (void)data[i];
#else
    (void)image, (void)first, (void)last;
#endif
}

// Where one output row goes: the three planes' row y of `out`, fp32 or bf16, the
// padding right of the image filled with what a black pixel becomes, (0 - mean) * norm.
// The kernels write floats; they write straight into an fp32 output, or into this
// thread's row buffer, which is then stored plane by plane:
//  - bf16 output: each value rounded as ncnn's cast_float32_to_bfloat16 rounds it
//    ((bits + 0x8000) >> 16), so the network sees the bytes ncnn's own cast of the fp32
//    input would give it, without that extra pass over the input;
//  - fp32 planes a multiple of 4 KB apart (YuNet's padded inputs, 640x480: w x h a
//    multiple of 1024 floats): written side by side, the three planes' rows fall in the
//    same sets of a 2-way L1 (the Cortex-A72's 32 KB: 16 KB per way), where each store
//    evicts the line another plane is filling (on the A72 model, 45 k more L1 misses
//    for a 160x128 input). ARM only: x86 L1s have 8 or more ways, and there the copy
//    only costs (RFB-320 from a 1024x768 frame: 0.27 -> 0.34 ms on a Zen 4).
#if defined(__aarch64__) || defined(__arm__)
const bool kPlanesAliasInL1 = true;
#else
const bool kPlanesAliasInL1 = false;
#endif

class RowStore
{
public:
    RowStore(ncnn::Mat& out, int width, const float offset[3])
        : out_(out), width_(width), offset_(offset), bf16_(out.elemsize == 2),
          buffered_(bf16_ || (kPlanesAliasInL1 && (out.cstep * out.elemsize) % 4096 == 0))
    {
        thread_local std::vector<float> buffer;
        if (buffered_ && buffer.size() < (size_t)3 * width)
            buffer.resize((size_t)3 * width);
        for (int k = 0; k < 3; k++)
            buffer_[k] = buffer.data() + (size_t)k * width;
    }

    // where the kernels write row y
    float* const* row(int y)
    {
        if (buffered_)
            return buffer_;
        for (int k = 0; k < 3; k++)
            direct_[k] = (float*)out_.channel(k) + (size_t)y * out_.w;
        return direct_;
    }

    // row y written: store it (buffered) and fill its padding
    void done(int y)
    {
        for (int k = 0; k < 3; k++)
        {
            if (bf16_)
            {
                unsigned short* dst = (unsigned short*)out_.channel(k) + (size_t)y * out_.w;
                const float* src = buffer_[k];
                for (int x = 0; x < width_; x++)
                    dst[x] = ncnn::float32_to_bfloat16(src[x]);
                std::fill(dst + width_, dst + out_.w, ncnn::float32_to_bfloat16(offset_[k]));
            }
            else
            {
                float* dst = (float*)out_.channel(k) + (size_t)y * out_.w;
                if (buffered_)
                    std::memcpy(dst, buffer_[k], sizeof(float) * width_);
                std::fill(dst + width_, dst + out_.w, offset_[k]);
            }
        }
    }

private:
    ncnn::Mat& out_;
    const int width_;
    const float* offset_;
    const bool bf16_, buffered_;
    float* buffer_[3];
    float* direct_[3];
};

// Output rows [begin, end) of the resampling, with this thread's own scratch row.
void resample_rows(const resample::Plan& plan, const ImageView& image, const float norm[3], const float offset[3], int begin, int end,
                   ncnn::Mat& out)
{
    if (begin >= end)
        return;
    thread_local std::vector<int16_t> scratch;
    if (scratch.size() < plan.scratch_values)
        scratch.assign(plan.scratch_values, 0); // zeros past the row: the padding taps read them (at weight 0)
    int first = image.height, last = 0; // the source rows this block reads
    for (int k = plan.y_begin[begin]; k < plan.y_begin[end]; k++)
    {
        first = std::min(first, plan.y_row[k]);
        last = std::max(last, plan.y_row[k]);
    }
    touch_pages(image, first, last);
    RowStore store(out, plan.width, offset);
    // the last source row of output row y (rows are listed in order)
    auto last_row = [&](int y) { return plan.y_row[plan.y_begin[y + 1] - 1]; };
    int asked = last_row(begin); // the rows asked for so far (row begin's are read at once)
    for (int y = begin; y < end; y++)
    {
        plan.kernels->vertical(plan, image.data, image.stride, y, scratch.data());
        RowPrefetch ahead;
        if (kAskRowsAhead)
        {
            const int until = last_row(std::min(y + kRowsAhead, end - 1));
            ahead = resample::rows_between(image, asked + 1, until);
            asked = std::max(asked, until);
        }
        plan.kernels->horizontal(plan, scratch.data(), store.row(y), norm, offset, kAskRowsAhead ? &ahead : nullptr);
        store.done(y);
    }
}

// Output rows [begin, end) at the network's own size: each pixel converted once.
void convert_rows(const ImageView& image, int channels, const int pick[3], const float norm[3], const float offset[3], int begin, int end,
                  ncnn::Mat& out)
{
    const int width = image.width;
    RowStore store(out, width, offset);
    for (int y = begin; y < end; y++)
    {
        const uint8_t* row = image.data + (size_t)y * image.stride;
        float* const* planes = store.row(y);
        if (channels == 1)
            to_planes<1>(row, width, pick, norm, offset, planes);
        else if (channels == 3)
            to_planes<3>(row, width, pick, norm, offset, planes);
        else
            to_planes<4>(row, width, pick, norm, offset, planes);
        store.done(y);
    }
}

// rows(begin, end) over [0, height): on this thread alone (threads 1), or split into
// `threads` contiguous blocks run by an OpenMP team started from this thread. With
// GCC's OpenMP a thread keeps one team for all its parallel regions, so called from a
// Detector's inference thread this is the very team ncnn's layers run on: no thread
// beyond the Detector's budget. Every output row is computed alone (its own vertical
// pass into its own thread's scratch), so the result does not depend on the split.
template<class Rows>
void for_row_blocks(int height, int threads, const Rows& rows)
{
#if defined(_OPENMP)
    if (threads > 1 && height >= 2 * threads)
    {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int t = 0; t < threads; t++)
            rows((int)((long long)height * t / threads), (int)((long long)height * (t + 1) / threads));
        return;
    }
#endif
    (void)threads;
    rows(0, height);
}

void resample_normalize(const ImageView& image, int channels, const int pick[3], const float norm[3], const float offset[3], int width,
                        int height, ResizeFilter filter, ncnn::Mat& out, int threads)
{
    // made on this thread (its kernels as forced here), read by every thread of the team
    const resample::Plan& plan = plan_for(image.width, image.height, width, height, filter, channels, pick);
    for_row_blocks(height, threads, [&](int begin, int end) { resample_rows(plan, image, norm, offset, begin, end, out); });
}

} // namespace

void resize_normalize(const ImageView& image, PixelOrder order, const float mean[3], const float norm[3], int width, int height, ncnn::Mat& out,
                      ncnn::Allocator* allocator, ResizeFilter filter, int threads, int padded_width, int padded_height, bool bf16)
{
    padded_width = padded_width ? padded_width : width;
    padded_height = padded_height ? padded_height : height;
    if (padded_width < width || padded_height < height)
        throw Error("cannot pad a " + std::to_string(width) + "x" + std::to_string(height) + " input to the smaller " + std::to_string(padded_width)
                    + "x" + std::to_string(padded_height));
    if (image.width < 2 || image.height < 2) // bilinear needs two source pixels per axis
        throw Error("image must be at least 2x2 pixels, got " + std::to_string(image.width) + "x" + std::to_string(image.height));
    const int channels = channels_of(image.format);

    out.create(padded_width, padded_height, 3, bf16 ? (size_t)2u : (size_t)4u, allocator);
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
        for_row_blocks(height, threads, [&](int begin, int end) { convert_rows(image, channels, pick, norm, offset, begin, end, out); });
    }
    else
        resample_normalize(image, channels, pick, norm, offset, width, height, filter, out, threads);
    for (int k = 0; k < 3; k++) // the padding below the image
    {
        const size_t from = (size_t)height * padded_width, to = (size_t)padded_height * padded_width;
        if (bf16)
            std::fill((unsigned short*)out.channel(k) + from, (unsigned short*)out.channel(k) + to, ncnn::float32_to_bfloat16(offset[k]));
        else
            std::fill((float*)out.channel(k) + from, (float*)out.channel(k) + to, offset[k]);
    }
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
