// NEON row kernels (aarch64, where NEON is baseline: the Pi 4's Cortex-A72).
//
// Vertical: vld3/vld4 split 16 interleaved pixels into channel registers for free, so
// the blended row is stored as three planes of uint16 (in the network's channel order),
// widening multiply-adds (umlal) of 8-bit weights.
// Horizontal, 8 outputs at a time: their source values lie within a window of 32
// neighbouring uint16 of each plane (up to about 3.5x downscale), which one 4-register
// table lookup (tbl) per tap and plane gathers into the 8 lanes, with each tap's
// indices and weights from the plan's table; umlal widens and sums into uint32. Beyond
// that (up to about 7.5x: a 640x480 frame to 160x120 or a 1280x720 one to 320x240)
// lanes 0-3 and 4-7 each gather from a window of their own and the two lookups are
// or-ed (a lane's index into the other window is 255, which tbl reads as zero).
// Plans that fit neither, and gray images, use the scalar kernels.
#include "facedge/resample_kernels.h"

#if defined(FACEDGE_HAVE_NEON_KERNELS)

#include <algorithm>

#include <arm_neon.h>

namespace facedge {
namespace resample {
namespace {

const int kWindow = 32;          // uint16 values one table lookup reaches (4 registers)

// taps that carry weight for some output (x_taps may add a zero one)
int used_taps(const Plan& p)
{
    int used = 1;
    for (int x = 0; x < p.width; x++)
        for (int t = 0; t < p.x_taps; t++)
            if (p.x_weight[(size_t)x * p.x_taps + t])
                used = std::max(used, t + 1);
    return used;
}

// the uint16 values of one plane row, with room for the last window's overrun
size_t plane_stride(const Plan& p)
{
    return (size_t)(p.src_width + kWindow + 7) / 8 * 8;
}

// Whether outputs x0 .. x1 - 1 take their weighted taps from within one window
// starting at x0's first tap.
bool fit_one_window(const Plan& p, int x0, int x1)
{
    const int base = p.x_first[x0];
    for (int x = x0; x < x1; x++)
        for (int t = 0; t < p.x_taps; t++)
            if (p.x_weight[(size_t)x * p.x_taps + t] && p.x_first[x] + t - base >= kWindow)
                return false;
    return true;
}

// Windows per group of 8 outputs: 1 where every group fits one, 2 where every half
// group fits one, else 0 (the scalar kernels).
int windows_per_group(const Plan& p)
{
    bool one = true, two = true;
    for (int g = 0; g < p.width / 8 && two; g++)
    {
        one = one && fit_one_window(p, 8 * g, 8 * g + 8);
        two = fit_one_window(p, 8 * g, 8 * g + 4) && fit_one_window(p, 8 * g + 4, 8 * g + 8); // the loop stops once false
    }
    return one ? 1 : two ? 2 : 0;
}

bool usable(const Plan& p)
{
    return simd_can_run(p) && windows_per_group(p) > 0;
}

// The table: a header (the tap count, the windows per group W, 2 spare), then per
// group of 8 outputs the windows' first values (W of 4 slots), and per tap W x 16
// index bytes (the lanes' values in each window, 2 bytes each; 255 for a lane the
// window does not serve) and 8 uint16 weights.
const int kHeader = 4;

int record_size(int taps, int windows)
{
    return 4 + (4 * windows + 4) * taps;
}

void prepare(Plan& p)
{
    const int T = used_taps(p), W = windows_per_group(p), R = record_size(T, W), groups = p.width / 8;
    p.table.assign(kHeader + (size_t)groups * R, 0);
    p.table[0] = T;
    p.table[1] = W;
    for (int g = 0; g < groups; g++)
    {
        int32_t* r = p.table.data() + kHeader + (size_t)g * R;
        for (int k = 0; k < W; k++)
            r[k] = p.x_first[8 * g + 8 / W * k]; // window k serves lanes 8 / W * k onwards
        for (int t = 0; t < T; t++)
        {
            int32_t* tap = r + 4 + (4 * W + 4) * t;
            uint16_t* weight = (uint16_t*)(tap + 4 * W);
            for (int lane = 0; lane < 8; lane++)
            {
                const int x = 8 * g + lane, window = lane / (8 / W);
                const int16_t w = p.x_weight[(size_t)x * p.x_taps + t];
                for (int k = 0; k < W; k++)
                {
                    uint8_t* index = (uint8_t*)(tap + 4 * k);
                    const int v = p.x_first[x] + t - r[k];
                    // another window's lane, or a weightless tap out of the window: index 255 gathers a zero
                    const bool gather = w && k == window;
                    index[2 * lane] = gather ? (uint8_t)(2 * v) : 255;
                    index[2 * lane + 1] = gather ? (uint8_t)(2 * v + 1) : 255;
                }
                weight[lane] = (uint16_t)w;
            }
        }
    }
    p.scratch_values = 3 * plane_stride(p);
}

// 16 pixels of one source row, split into the planes' channels
template<int C, bool Swap>
inline void load_channels(const uint8_t* src, uint8x16_t* ch)
{
    const int c0 = Swap ? 2 : 0, c2 = Swap ? 0 : 2; // plane 0 takes source channel c0
    if (C == 3)
    {
        const uint8x16x3_t v = vld3q_u8(src);
        ch[0] = v.val[c0], ch[1] = v.val[1], ch[2] = v.val[c2];
    }
    else
    {
        const uint8x16x4_t v = vld4q_u8(src);
        ch[0] = v.val[c0], ch[1] = v.val[1], ch[2] = v.val[c2];
    }
}

// Taps (Taps > 0: that many, unrolled; 0: `count`) each below 256: umull, then umlal.
template<int C, bool Swap, int Taps>
void vertical_taps(const uint8_t* const* rows, const uint8_t* weights, int count, int n16, uint16_t* const* planes)
{
    const int n = Taps ? Taps : count;
    uint16_t* __restrict p0 = planes[0]; // locals: stores through planes[k] could alias planes[]
    uint16_t* __restrict p1 = planes[1];
    uint16_t* __restrict p2 = planes[2];
    for (int i = 0; i < n16; i += 16)
    {
        uint16x8_t acc[3][2];
        for (int k = 0; k < n; k++)
        {
            uint8x16_t ch[3];
            load_channels<C, Swap>(rows[k] + (size_t)i * C, ch);
            const uint8x8_t w = vdup_n_u8(weights[k]);
            const uint8x16_t wq = vdupq_n_u8(weights[k]);
            for (int c = 0; c < 3; c++)
            {
                acc[c][0] = k ? vmlal_u8(acc[c][0], vget_low_u8(ch[c]), w) : vmull_u8(vget_low_u8(ch[c]), w);
                acc[c][1] = k ? vmlal_high_u8(acc[c][1], ch[c], wq) : vmull_high_u8(ch[c], wq);
            }
        }
        vst1q_u16(p0 + i, acc[0][0]);
        vst1q_u16(p0 + i + 8, acc[0][1]);
        vst1q_u16(p1 + i, acc[1][0]);
        vst1q_u16(p1 + i + 8, acc[1][1]);
        vst1q_u16(p2 + i, acc[2][0]);
        vst1q_u16(p2 + i + 8, acc[2][1]);
    }
}

// One tap of weight 256: the pixel shifted left by 8.
template<int C, bool Swap>
void vertical_copy(const uint8_t* row, int n16, uint16_t* const* planes)
{
    for (int i = 0; i < n16; i += 16)
    {
        uint8x16_t ch[3];
        load_channels<C, Swap>(row + (size_t)i * C, ch);
        for (int c = 0; c < 3; c++)
        {
            vst1q_u16(planes[c] + i, vshll_n_u8(vget_low_u8(ch[c]), 8));
            vst1q_u16(planes[c] + i + 8, vshll_high_n_u8(ch[c], 8));
        }
    }
}

template<int C, bool Swap>
void vertical(const Plan& p, const uint8_t* image, size_t stride, int y, uint16_t* const* planes)
{
    const int b = p.y_begin[y], count = p.y_begin[y + 1] - b;
    const int n16 = p.src_width / 16 * 16;
    const uint8_t* rows[kMaxSimdVerticalTaps];
    uint8_t weights[kMaxSimdVerticalTaps];
    for (int k = 0; k < count; k++)
    {
        rows[k] = image + (size_t)p.y_row[b + k] * stride;
        weights[k] = (uint8_t)p.y_weight[b + k]; // below 256 when there are several
    }
    switch (count)
    {
    case 1: vertical_copy<C, Swap>(rows[0], n16, planes); break;
    case 2: vertical_taps<C, Swap, 2>(rows, weights, count, n16, planes); break;
    case 3: vertical_taps<C, Swap, 3>(rows, weights, count, n16, planes); break;
    case 4: vertical_taps<C, Swap, 4>(rows, weights, count, n16, planes); break;
    case 5: vertical_taps<C, Swap, 5>(rows, weights, count, n16, planes); break;
    default: vertical_taps<C, Swap, 0>(rows, weights, count, n16, planes); break;
    }
    for (int i = n16; i < p.src_width; i++) // the last src_width % 16 pixels
        for (int c = 0; c < 3; c++)
        {
            int s = 0;
            for (int k = 0; k < count; k++)
                s += p.y_weight[b + k] * rows[k][(size_t)i * C + p.pick[c]];
            planes[c][i] = (uint16_t)s;
        }
}

// Per group of 8 outputs, plane by plane: one plane's windows (4 registers each, which
// tbl needs consecutive) at a time keeps everything in registers; with all three
// planes' windows at once the compiler ran out of consecutive registers and copied
// them around. Taps > 0: that many, unrolled; 0: `count`. Windows: 1 or 2 per group.
template<int Taps, int Windows>
void horizontal_groups(const int32_t* table, int count, int groups, const uint16_t* const* planes, float* const* out, const float32x4_t* s,
                       const float32x4_t* b)
{
    const int T = Taps ? Taps : count, R = record_size(T, Windows);
    for (int g = 0; g < groups; g++)
    {
        const int32_t* r = table + (size_t)g * R;
        for (int k = 0; k < 3; k++)
        {
            const uint8x16x4_t window = vld1q_u8_x4((const uint8_t*)(planes[k] + r[0]));
            uint8x16x4_t second;
            if (Windows == 2)
                second = vld1q_u8_x4((const uint8_t*)(planes[k] + r[1]));
            uint32x4_t lo = vdupq_n_u32(0), hi = vdupq_n_u32(0);
            for (int t = 0; t < T; t++)
            {
                const int32_t* tap = r + 4 + (4 * Windows + 4) * t;
                uint8x16_t gathered = vqtbl4q_u8(window, vld1q_u8((const uint8_t*)tap));
                if (Windows == 2)
                    gathered = vorrq_u8(gathered, vqtbl4q_u8(second, vld1q_u8((const uint8_t*)(tap + 4))));
                const uint16x8_t w = vld1q_u16((const uint16_t*)(tap + 4 * Windows));
                const uint16x8_t v = vreinterpretq_u16_u8(gathered);
                lo = vmlal_u16(lo, vget_low_u16(v), vget_low_u16(w));
                hi = vmlal_high_u16(hi, v, w);
            }
            vst1q_f32(out[k] + 8 * g, vfmaq_f32(b[k], vcvtq_f32_u32(lo), s[k]));
            vst1q_f32(out[k] + 8 * g + 4, vfmaq_f32(b[k], vcvtq_f32_u32(hi), s[k]));
        }
    }
}

void planes_of(const Plan& p, const int16_t* scratch, uint16_t** planes)
{
    const size_t ps = plane_stride(p);
    for (int k = 0; k < 3; k++)
        planes[k] = (uint16_t*)scratch + k * ps;
}

void vertical_planes(const Plan& p, const uint8_t* image, size_t stride, int y, int16_t* scratch)
{
    uint16_t* planes[3];
    planes_of(p, scratch, planes);
    const bool swap = p.pick[0] == 2;
    if (p.channels == 3)
        swap ? vertical<3, true>(p, image, stride, y, planes) : vertical<3, false>(p, image, stride, y, planes);
    else
        swap ? vertical<4, true>(p, image, stride, y, planes) : vertical<4, false>(p, image, stride, y, planes);
}

void horizontal(const Plan& p, const int16_t* scratch, float* const* out, const float* scale, const float* bias, RowPrefetch*)
{
    uint16_t* planes[3];
    planes_of(p, scratch, planes);
    const float one = (float)kVerticalOne * kHorizontalOne;
    const float32x4_t s[3] = {vdupq_n_f32(scale[0] / one), vdupq_n_f32(scale[1] / one), vdupq_n_f32(scale[2] / one)};
    const float32x4_t b[3] = {vdupq_n_f32(bias[0]), vdupq_n_f32(bias[1]), vdupq_n_f32(bias[2])};
    const int T = p.table[0], W = p.table[1], groups = p.width / 8;
    const int32_t* table = p.table.data() + kHeader;
    if (W == 1)
        switch (T)
        {
        case 2: horizontal_groups<2, 1>(table, T, groups, planes, out, s, b); break;
        case 3: horizontal_groups<3, 1>(table, T, groups, planes, out, s, b); break;
        case 4: horizontal_groups<4, 1>(table, T, groups, planes, out, s, b); break;
        case 5: horizontal_groups<5, 1>(table, T, groups, planes, out, s, b); break;
        default: horizontal_groups<0, 1>(table, T, groups, planes, out, s, b); break;
        }
    else // 4x-7.5x downscales: area filtering's 5-9 taps
        switch (T)
        {
        case 5: horizontal_groups<5, 2>(table, T, groups, planes, out, s, b); break;
        case 6: horizontal_groups<6, 2>(table, T, groups, planes, out, s, b); break;
        case 7: horizontal_groups<7, 2>(table, T, groups, planes, out, s, b); break;
        default: horizontal_groups<0, 2>(table, T, groups, planes, out, s, b); break;
        }
    for (int x = groups * 8; x < p.width; x++) // the last width % 8 outputs
    {
        const int16_t* w = p.x_weight.data() + (size_t)x * p.x_taps;
        for (int k = 0; k < 3; k++)
        {
            const uint16_t* px = planes[k] + p.x_first[x];
            uint32_t sum = 0;
            for (int t = 0; t < p.x_taps; t++)
                sum += (uint32_t)w[t] * px[t];
            out[k][x] = (float)sum * (scale[k] / one) + bias[k];
        }
    }
}

} // namespace

const KernelSet kNeonKernels = {"neon", usable, prepare, vertical_planes, horizontal};

} // namespace resample
} // namespace facedge

#endif
