// AVX2 row kernels (x86-64, chosen at run time: the wheel's baseline is SSE2, so only
// these functions are compiled for AVX2, by target attribute, and they run only on
// CPUs that report AVX2 and FMA).
//
// Vertical: two source rows at a time, their bytes interleaved and blended by one
// vpmaddubsw (unsigned 8-bit weights x signed pixels): the pixels are offset by -128
// to fit a signed byte, so the row holds value - 128 * 256 = value - 32768, which is
// the int16 the horizontal pass wants (the offset is added back as an integer).
// Horizontal: output pixels are made from neighbouring source pixels, whose channels
// are adjacent in the interleaved row. Per output pixel and pair of taps one 16-byte
// load holds both pixels, one vpshufb orders them (channel k of both taps into lanes
// 2k, 2k + 1, in the network's channel order) and one vpmaddwd multiplies and sums
// the pair: 4 int32 sums per pixel (3 channels and a spare), two pixels per register.
// Eight output pixels are then transposed into three planes (unpacks) and converted.
#include "facedge/resample_kernels.h"

#if defined(FACEDGE_HAVE_AVX2_KERNELS)

#include <immintrin.h>

#define FACEDGE_AVX2 __attribute__((target("avx2,fma")))

namespace facedge {
namespace resample {
namespace {


// int32s per (group of 8 outputs, accumulator): 8 for the two pixels' byte offsets,
// then 8 per tap pair: the pair's weights (w0 | w1 << 16) for 4 lanes of each pixel
int record_size(const Plan& p)
{
    return 8 * (1 + p.x_taps / 2);
}

bool usable(const Plan& p)
{
    if (!simd_can_run(p))
        return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void prepare(Plan& p)
{
    const int C = p.channels, T = p.x_taps, R = record_size(p), groups = p.width / 8;
    p.table.assign((size_t)groups * 4 * R, 0);
    for (int g = 0; g < groups; g++)
        for (int j = 0; j < 4; j++)
        {
            // accumulator j holds outputs 8g + j (low lane) and 8g + j + 4 (high lane), so
            // that the transpose puts the eight in order
            int32_t* r = p.table.data() + ((size_t)g * 4 + j) * R;
            const int x[2] = {8 * g + j, 8 * g + j + 4};
            for (int h = 0; h < 2; h++)
            {
                r[h] = p.x_first[x[h]] * C * (int)sizeof(int16_t);
                for (int q = 0; q < T / 2; q++)
                {
                    const int16_t* w = p.x_weight.data() + (size_t)x[h] * T + 2 * q;
                    const uint32_t pair = (uint16_t)w[0] | (uint32_t)(uint16_t)w[1] << 16;
                    for (int lane = 0; lane < 4; lane++)
                        r[8 * (1 + q) + 4 * h + lane] = (int32_t)pair;
                }
            }
        }
    // the row, the padding taps of the last outputs, and the 16-byte loads' overrun
    p.scratch_values = (size_t)(p.src_width + T) * C + 16;
}

// The blend of `pairs` pairs of rows (ra[q], rb[q], weights w[q]) over values [0, n32),
// 32 at a time. Pairs > 0: that many, known at compile time, so that the row pointers
// and weights stay in registers (the generic loop reloads them from the stack for
// every 32 values: 1024x768 -> 320x240 on a Zen 4, the 240 vertical passes with their
// rows in cache took 0.051 ms generic, 0.033 ms with Pairs = 2).
template<int Pairs>
FACEDGE_AVX2 void blend_pairs(const uint8_t* const* ra, const uint8_t* const* rb, const __m256i* w, int pairs, int n32, int16_t* out)
{
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    const int count = Pairs ? Pairs : pairs;
    const uint8_t* a_rows[Pairs ? Pairs : 1];
    const uint8_t* b_rows[Pairs ? Pairs : 1];
    __m256i weights[Pairs ? Pairs : 1];
    if (Pairs)
        for (int q = 0; q < Pairs; q++)
        {
            a_rows[q] = ra[q];
            b_rows[q] = rb[q];
            weights[q] = w[q];
        }
    for (int i = 0; i < n32; i += 32)
    {
        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
        for (int q = 0; q < count; q++)
        {
            const uint8_t* pa = Pairs ? a_rows[q] : ra[q];
            const uint8_t* pc = Pairs ? b_rows[q] : rb[q];
            const __m256i wq = Pairs ? weights[q] : w[q];
            const __m256i a = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(pa + i)), flip);
            const __m256i c = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(pc + i)), flip);
            // a pair's sum is within -128 * 256 .. 127 * 256: no saturation, and neither has the total
            lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(wq, _mm256_unpacklo_epi8(a, c)));
            hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(wq, _mm256_unpackhi_epi8(a, c)));
        }
        _mm256_storeu_si256((__m256i*)(out + i), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i*)(out + i + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

FACEDGE_AVX2 void vertical(const Plan& p, const uint8_t* image, size_t stride, int y, int16_t* out)
{
    const int n = p.src_width * p.channels;
    const int b = p.y_begin[y], count = p.y_begin[y + 1] - b;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    const int n32 = n / 32 * 32;
    if (count == 1)
    {
        // the weight is 256: (pixel - 128) << 8, a zero byte below each pixel
        const uint8_t* row = image + (size_t)p.y_row[b] * stride;
        const __m256i zero = _mm256_setzero_si256();
        for (int i = 0; i < n32; i += 32)
        {
            const __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(row + i)), flip);
            const __m256i lo = _mm256_unpacklo_epi8(zero, x), hi = _mm256_unpackhi_epi8(zero, x); // [0-7 | 16-23], [8-15 | 24-31]
            _mm256_storeu_si256((__m256i*)(out + i), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_storeu_si256((__m256i*)(out + i + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
        }
        for (int i = n32; i < n; i++)
            out[i] = (int16_t)((row[i] - 128) * 256);
        return;
    }
    // pairs of rows; an odd last row pairs with itself at weight 0
    const uint8_t* ra[kMaxSimdVerticalTaps / 2];
    const uint8_t* rb[kMaxSimdVerticalTaps / 2];
    __m256i w[kMaxSimdVerticalTaps / 2];
    const int pairs = (count + 1) / 2;
    for (int q = 0; q < pairs; q++)
    {
        const int k = b + 2 * q;
        const bool odd = 2 * q + 1 == count;
        ra[q] = image + (size_t)p.y_row[k] * stride;
        rb[q] = odd ? ra[q] : image + (size_t)p.y_row[k + 1] * stride;
        const int wa = p.y_weight[k], wb = odd ? 0 : p.y_weight[k + 1]; // each < 256: there are two or more
        w[q] = _mm256_set1_epi16((short)(wa | wb << 8));
    }
    switch (pairs)
    {
    case 1: blend_pairs<1>(ra, rb, w, pairs, n32, out); break; // bilinear, 2x area
    case 2: blend_pairs<2>(ra, rb, w, pairs, n32, out); break; // area 2-3x and 3-4x (3-4 rows)
    case 3: blend_pairs<3>(ra, rb, w, pairs, n32, out); break;
    default: blend_pairs<0>(ra, rb, w, pairs, n32, out); break;
    }
    for (int i = n32; i < n; i++)
    {
        int s = 0;
        for (int k = b; k < b + count; k++)
            s += p.y_weight[k] * (image[(size_t)p.y_row[k] * stride + i] - 128);
        out[i] = (int16_t)s;
    }
}

// The shuffle of one tap pair: lanes 2k, 2k + 1 = channel pick[k] of the pair's first
// and second pixel; lanes 6, 7 zero.
FACEDGE_AVX2 __m256i pair_shuffle(const Plan& p)
{
    alignas(16) int8_t b[16];
    for (int k = 0; k < 3; k++)
        for (int h = 0; h < 2; h++)
        {
            const int value = h * p.channels + p.pick[k];
            b[4 * k + 2 * h] = (int8_t)(2 * value);
            b[4 * k + 2 * h + 1] = (int8_t)(2 * value + 1);
        }
    for (int i = 12; i < 16; i++)
        b[i] = -1;
    const __m128i x = _mm_load_si128((const __m128i*)b);
    return _mm256_broadcastsi128_si256(x);
}

template<int Pairs>
FACEDGE_AVX2 __m256i two_pixels(const char* row, const int32_t* r, int pairs, int step, __m256i shuffle)
{
    const char* lo = row + r[0];
    const char* hi = row + r[1];
    __m256i acc = _mm256_setzero_si256();
    const int n = Pairs ? Pairs : pairs;
    for (int q = 0; q < n; q++)
    {
        const __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)(lo + q * step))),
                                                  _mm_loadu_si128((const __m128i*)(hi + q * step)), 1);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(x, shuffle), _mm256_loadu_si256((const __m256i*)(r + 8 * (1 + q)))));
    }
    return acc;
}

template<int Pairs>
FACEDGE_AVX2 void horizontal_taps(const Plan& p, const int16_t* v, float* const* out, const float* scale, const float* bias, RowPrefetch* ahead)
{
    const int C = p.channels, T = p.x_taps, R = record_size(p), groups = p.width / 8;
    const char* row = (const char*)v;
    const int step = 2 * C * (int)sizeof(int16_t); // bytes from one tap pair to the next
    const __m256i shuffle = pair_shuffle(p);
    const __m256i offset = _mm256_set1_epi32(32768 * kHorizontalOne); // the vertical pass's -32768, times the weights' sum
    const float one = (float)kVerticalOne * kHorizontalOne;
    const __m256 s[3] = {_mm256_set1_ps(scale[0] / one), _mm256_set1_ps(scale[1] / one), _mm256_set1_ps(scale[2] / one)};
    const __m256 b[3] = {_mm256_set1_ps(bias[0]), _mm256_set1_ps(bias[1]), _mm256_set1_ps(bias[2])};
    // locals, so that the compiler keeps them in registers across the stores below
    RowPrefetch pf = ahead ? *ahead : RowPrefetch();
    const int asks = pf.per_group(groups);
    const int32_t* table = p.table.data();
    float* const planes_out[3] = {out[0], out[1], out[2]};
    for (int g = 0; g < groups; g++)
    {
        pf.ask(asks);
        const int32_t* r = table + (size_t)g * 4 * R;
        const __m256i a0 = two_pixels<Pairs>(row, r, T / 2, step, shuffle);         // outputs 0, 4: [c0 c1 c2 - | c0 c1 c2 -]
        const __m256i a1 = two_pixels<Pairs>(row, r + R, T / 2, step, shuffle);     // 1, 5
        const __m256i a2 = two_pixels<Pairs>(row, r + 2 * R, T / 2, step, shuffle); // 2, 6
        const __m256i a3 = two_pixels<Pairs>(row, r + 3 * R, T / 2, step, shuffle); // 3, 7
        const __m256i t0 = _mm256_unpacklo_epi32(a0, a1);                            // [0c0 1c0 0c1 1c1 | 4c0 5c0 4c1 5c1]
        const __m256i t1 = _mm256_unpacklo_epi32(a2, a3);                            // [2c0 3c0 2c1 3c1 | 6c0 7c0 6c1 7c1]
        const __m256i t2 = _mm256_unpackhi_epi32(a0, a1);                            // [0c2 1c2 .. | 4c2 5c2 ..]
        const __m256i t3 = _mm256_unpackhi_epi32(a2, a3);
        const __m256i planes[3] = {_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1), _mm256_unpacklo_epi64(t2, t3)};
        for (int k = 0; k < 3; k++)
        {
            const __m256 value = _mm256_cvtepi32_ps(_mm256_add_epi32(planes[k], offset));
            _mm256_storeu_ps(planes_out[k] + 8 * g, _mm256_fmadd_ps(value, s[k], b[k]));
        }
    }
    pf.ask((int)pf.lines); // the rest (narrow rows: fewer groups than lines asked for)
    for (int x = groups * 8; x < p.width; x++) // the last width % 8 outputs
    {
        const int16_t* px = v + (size_t)p.x_first[x] * C;
        const int16_t* w = p.x_weight.data() + (size_t)x * T;
        for (int k = 0; k < 3; k++)
        {
            int32_t sum = 32768 * kHorizontalOne;
            for (int t = 0; t < T; t++)
                sum += w[t] * px[t * C + p.pick[k]];
            out[k][x] = (float)sum * (scale[k] / one) + bias[k];
        }
    }
}

FACEDGE_AVX2 void horizontal(const Plan& p, const int16_t* v, float* const* out, const float* scale, const float* bias, RowPrefetch* ahead)
{
    switch (p.x_taps)
    {
    case 2: return horizontal_taps<1>(p, v, out, scale, bias, ahead);
    case 4: return horizontal_taps<2>(p, v, out, scale, bias, ahead);
    case 6: return horizontal_taps<3>(p, v, out, scale, bias, ahead);
    default: return horizontal_taps<0>(p, v, out, scale, bias, ahead);
    }
}

} // namespace

const KernelSet kAvx2Kernels = {"avx2", usable, prepare, vertical, horizontal};

} // namespace resample
} // namespace facedge

#endif
