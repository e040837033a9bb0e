// The fused resampling's row kernels (internal: preprocess.cpp and the C++ tests).
//
// Each output row is made in two passes over fixed-point data:
//   vertical    the source rows the row's filter needs, blended with 8-bit weights
//               that sum to 256: a 16-bit value per source pixel and channel, in
//               units of 1/256 pixel level (exact: 255 * 256 fits);
//   horizontal  those values blended with 16-bit weights that sum to 2^14: a 32-bit
//               sum per output pixel and channel (exact), then one float multiply-add
//               (scale = norm / 2^22, plus the bias) writes the network's planes.
// The scalar kernels are the reference and the fallback (x86 CPUs without AVX2,
// other architectures); AVX2 (x86, chosen at run time) and NEON (aarch64) compute
// the same integers. Each keeps its own layout of the vertical pass's row (the scalar
// and AVX2 kernels keep the pixels interleaved, NEON splits them into planes), so
// only the float epilogue may differ between them, by float rounding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "facedge/image.h"
#include "facedge/resample.h"

namespace facedge {
namespace resample {

const int kVerticalOne = 256;        // vertical weights: 8-bit fixed point
const int kHorizontalOne = 1 << 14;  // horizontal weights: 14-bit (a weight of 1 still fits int16)

struct KernelSet;

// Source rows the caller wants in L2 by the next output row's vertical pass. The
// x86 horizontal kernels ask for a few of their cache lines per group of outputs, so
// that the requests are spread over the row's computation: asked all at once, they
// fill the core's miss queues and stall the kernel behind them (on a 1024x768 frame
// from memory, Zen 4: preprocessing 0.20 ms spread against 0.27 at once). Other
// kernels ignore it.
struct RowPrefetch
{
    const char* next = nullptr; // the next cache line to ask for
    const char* row_end = nullptr;
    size_t stride = 0, bytes = 0; // rows' distance and length
    int rows_left = 0;            // whole rows after the current one
    size_t lines = 0;             // lines left to ask for, over all rows

    // lines per group, for a pass of `groups` groups
    int per_group(int groups) const { return groups > 0 ? (int)((lines + groups - 1) / groups) : (int)lines; }

    // the next line's address, and the cursor moved past it (the caller checks lines > 0)
    const char* take()
    {
        const char* line = next;
        lines--;
        next += 64;
        if (next >= row_end && rows_left > 0)
        {
            next = (const char*)((uintptr_t)(row_end - bytes + stride) & ~(uintptr_t)63); // the next row's first line
            row_end += stride;
            rows_left--;
        }
        return line;
    }

    // ask for the next n lines (prefetcht1: into L2)
    void ask(int n)
    {
        for (; n > 0 && lines > 0; n--)
        {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
            __builtin_prefetch(take(), 0, 2);
#else
            take();
#endif
        }
    }
};

// Everything about one (source size, output size, filter, channels, channel order)
// that does not depend on the pixels: built once, reused for every frame of that size.
struct Plan
{
    int src_width = 0, src_height = 0, width = 0, height = 0;
    ResizeFilter filter = ResizeFilter::Auto;
    int channels = 0;
    int pick[3] = {0, 0, 0}; // plane k takes source channel pick[k]

    // Vertical: output row y blends source rows y_row[y_begin[y] .. y_begin[y + 1]),
    // only the taps with a non-zero weight (so a weight of 256 is always alone).
    std::vector<int> y_begin, y_row;
    std::vector<uint16_t> y_weight;

    // Horizontal: output pixel x blends source pixels x_first[x] + t, t < x_taps, with
    // x_weight[x * x_taps + t] (int16, summing to kHorizontalOne). x_taps is even
    // (a zero weight pads it), for the kernels that take taps in pairs.
    int x_taps = 0;
    std::vector<int> x_first;
    std::vector<int16_t> x_weight;

    // The kernels chosen for this plan, and their own tables (made by their prepare()).
    const KernelSet* kernels = nullptr;
    std::vector<int32_t> table;
    // int16 values a thread needs as scratch for one row (layout: the kernels')
    size_t scratch_values = 0;
};

// The cache lines of `image`'s rows [first, last] in order (none when last < first),
// for a horizontal kernel to ask for (defined in preprocess.cpp, which asks for the rows
// a few output rows ahead).
RowPrefetch rows_between(const ImageView& image, int first, int last);

// One instruction set's kernels.
struct KernelSet
{
    const char* name;
    // whether this CPU runs them and they handle this plan (channels, footprint sizes)
    bool (*usable)(const Plan& plan);
    // builds plan.table and sets plan.scratch_values
    void (*prepare)(Plan& plan);
    // output row y's vertical pass: the source rows it needs (row i of the image at
    // image + i * stride) blended into `scratch`
    void (*vertical)(const Plan& plan, const uint8_t* image, size_t stride, int y, int16_t* scratch);
    // its horizontal pass: `scratch` (as vertical left it) into out[k] (k < 3, `width`
    // floats each) = value * scale[k] + bias[k], value in pixel levels; asking for
    // `ahead`'s lines on the way (null: none)
    void (*horizontal)(const Plan& plan, const int16_t* scratch, float* const* out, const float* scale, const float* bias,
                       RowPrefetch* ahead);
};

// The SIMD kernel sets take 3- or 4-channel pixels and vertical footprints of at most
// this many rows (longer ones, downscales beyond 60x, go to the scalar kernels).
const int kMaxSimdVerticalTaps = 64;
bool simd_can_run(const Plan& plan);

// The kernel sets built into this binary, best first; the scalar set is always last.
const std::vector<const KernelSet*>& kernel_sets();

// The plan for these sizes with the best usable kernels, or the set named `kernels`
// (tests: "scalar", "avx2", "neon") where it can run the plan, else the scalar set.
Plan make_plan(int src_width, int src_height, int width, int height, ResizeFilter filter, int channels, const int pick[3],
               const std::string& kernels = "");

// Tests only: make every later plan of this thread use the named set where it can
// ("" = the best).
void force_kernels(const std::string& name);
const std::string& forced_kernels();

// The kernel sets (defined in resample_scalar.cpp, resample_avx2.cpp, resample_neon.cpp).
extern const KernelSet kScalarKernels;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FACEDGE_HAVE_AVX2_KERNELS 1
extern const KernelSet kAvx2Kernels;
#endif
#if defined(__aarch64__)
#define FACEDGE_HAVE_NEON_KERNELS 1
extern const KernelSet kNeonKernels;
#endif

} // namespace resample
} // namespace facedge
